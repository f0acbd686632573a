// ofa_fmnist.nas - OFA's claim, scaled to Fashion-MNIST on a 2-core CPU: after progressive shrinking
// (full -> kernel -> depth -> width, distilled from the full network), sub-networks extracted with
// BatchNorm recalibration and no retraining are about as accurate as the same architectures trained
// stand-alone. The `rank` stage scores the largest, the smallest and three random sub-networks on
// the shrunk supernet and trains each from scratch for as many epochs as the whole shrinking took
// (10), so the two accuracies of each architecture can be compared directly.

dataset fmnist = fashion_mnist {
  split train: 8000, val: 2000
  batch 64
}

space ofa = chain(input: [1, 28, 28], classes: 10) {
  resolution [20, 24, 28]
  stem conv(3, out: 16, stride: 2) bn hswish
  layers out: 16, stride: 1, repeat: [1, 2, 3], mbconv(kernel: [3, 5, 7], expand: [2, 3, 4])
  layers out: 32, stride: 2, repeat: [1, 2, 3], mbconv(kernel: [3, 5, 7], expand: [2, 3, 4])
  head conv(1, out: 128) bn hswish global_avg_pool linear(out: classes)
}

stage sup = progressive_shrinking(ofa) {
  phase full(epochs: 4, lr: 0.05)
  phase kernel(epochs: 2, lr: 0.01)
  phase depth(epochs: 2, lr: 0.01)
  phase width(epochs: 2, lr: 0.01)
  distill 1.0
  optimizer sgd(lr: 0.05, momentum: 0.9, nesterov, wd: 3e-5)
  schedule cosine
}

stage compare = rank(sup) {
  samples 3
  extremes true
  epochs 10
  recalibrate bn(images: 2000)
  optimizer sgd(lr: 0.05, momentum: 0.9, nesterov, wd: 3e-5)
  schedule cosine
}
