// A cell reading three earlier cells: the language can say it, the graph IR stacks cells with two
// inputs (DARTS) or one (NAS-Bench-201) only.
dataset d = cifar10 { split train: 25000, val: 25000 }
space c3 = cell(nodes: 3, inputs: 3) {
  ops [nor_conv(3), nor_conv(1), avg_pool(3), skip, none]
  network cells: 5, channels: 16, reduce_at: [1/3, 2/3], input: [3, 32, 32], classes: 10
}
stage s = differentiable(c3) { relax softmax; level bilevel(order: 1, split: 0.5); epochs 1 }
