dataset d = cifar10 { split train: 25000, val: 25000 }
space c = cell(nodes: 4, inputs: 2) {
  ops [sep_conv(3), skip, none]
  network cells: 8, channels: 16, input: [3, 32, 32], classes: 10
}
stage search = differentiable(c) { relax binary_gates(paths: 2); epochs 1; weights sgd(lr: 0.025) }
stage r = retrain(search.best) { epochs 1; optimizer sgd(lr: 0.1) }
stage ev = evaluate(r, d.test)
