// A learning rate that makes the loss explode: the run must stop with `nasl::run::diverged`.

dataset fmnist = fashion_mnist {
  split train: 1000, val: 200
  batch 100
}

space net = chain(input: [1, 28, 28], classes: 10) {
  stem conv(3, out: 8, stride: 2) bn relu
  layers out: 8, stride: 1, repeat: 1, choose [conv(3) bn relu, skip]
  head global_avg_pool linear(out: classes)
}

stage supernet = train(net) {
  sampler uniform
  epochs 3
  optimizer sgd(lr: 1e15)
}
