// Ranking quality of a small supernet: the architectures differ in depth and kernel, so stand-alone
// accuracy varies and a trained supernet should order them alike (positive Kendall tau). Two
// stand-alone seeds give the noise ceiling (how well the seeds rank alike).

dataset fmnist = fashion_mnist {
  split train: 4000, val: 1000
  batch 100
}

space net = chain(input: [1, 28, 28], classes: 10) {
  stem conv(3, out: 16, stride: 2) bn relu
  layers out: 16, stride: 1, repeat: 3, choose [conv(3) bn relu, skip]
  layers out: 32, stride: 2, repeat: 2, choose [conv(3) bn relu, skip]
  head global_avg_pool linear(out: classes)
}

stage supernet = train(net) {
  sampler uniform
  epochs 10
  optimizer sgd(lr: 0.1, momentum: 0.9, wd: 1e-4)
  schedule cosine
}

stage ranking = rank(supernet) {
  samples 8
  epochs 2
  seeds [0, 1]
  optimizer sgd(lr: 0.1, momentum: 0.9, wd: 1e-4)
  schedule cosine
  recalibrate bn(images: 500)
}
