dataset d = cifar10 { split train: 50000, val: 0 }
space g = genotype(inputs: 2) {
  normal {
    node (sep_conv(3), 0), (sep_conv(3), 1)
    node (skip, 0), (sep_conv(3), 4)
  }
  reduce {
    node (max_pool(3), 0), (max_pool(3), 1)
    node (skip, 2), (max_pool(3), 1)
  }
  network cells: 8, channels: 16, input: [3, 32, 32], classes: 10
}
stage r = retrain(g) { epochs 1; optimizer sgd(lr: 0.1) }
stage ev = evaluate(r, d.test)
