// Issue 13: few_shot split_on over a cell enumerated the whole product of its options first.
dataset d = fashion_mnist { split train: 1000, val: 200 }
space c = cell(nodes: 4, inputs: 2) {
  ops [sep_conv(3), sep_conv(5), dil_conv(3), dil_conv(5), max_pool(3), avg_pool(3), skip, none]
  network cells: 3, channels: 8, input: [1, 28, 28], classes: 10
}
stage sup = train(c) { epochs 1 }
stage parts = few_shot(sup) { split_on 14  finetune 1 }
