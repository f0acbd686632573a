// A NAS-Bench-201-style cell (one input node): the language can say it, the graph IR cannot build it yet.
dataset d = cifar10 { split train: 25000, val: 25000 }
space nb201 = cell(nodes: 3, inputs: 1) {
  ops [nor_conv(3), nor_conv(1), avg_pool(3), skip, none]
  network cells: 5, channels: 16, reduce_at: [1/3, 2/3], input: [3, 32, 32], classes: 10
}
stage s = differentiable(nb201) { relax softmax; level bilevel(order: 1, split: 0.5); epochs 1 }
