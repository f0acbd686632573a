// ofa.nas - Once-for-All (Cai et al., ICLR 2020). Chain of 5 units; elastic depth {2, 3, 4} per unit,
// elastic kernel {3, 5, 7} and expand ratio {3, 4, 6} per layer, elastic input resolution. Trained by
// progressive shrinking (full -> kernel -> depth -> width) with knowledge distillation from the full
// network; searched with an accuracy predictor + latency table + evolution; no retraining (BN
// recalibrated). Scaled to CIFAR-10 format (resolution 24..32 instead of 128..224).

dataset cifar = cifar10 {
  split train: 45000, val: 5000
  batch 128
  augment [random_crop(pad: 4), hflip]
}

block elastic = mbconv(kernel: [3, 5, 7], expand: [3, 4, 6])

space net = chain(input: [3, 32, 32], classes: 10) {
  resolution [24, 28, 32]
  stem conv(3, out: 16) bn hswish
  layers out: 24, stride: 1, repeat: [2, 3, 4], elastic
  layers out: 40, stride: 2, repeat: [2, 3, 4], elastic
  layers out: 80, stride: 2, repeat: [2, 3, 4], elastic
  layers out: 112, stride: 1, repeat: [2, 3, 4], elastic
  layers out: 160, stride: 2, repeat: [2, 3, 4], elastic
  head conv(1, out: 960) bn hswish global_avg_pool linear(out: classes)
}

stage supernet = progressive_shrinking(net) {
  phase full(epochs: 180, lr: 0.026)
  phase kernel(epochs: 120, lr: 0.003)
  phase depth(epochs: 125, lr: 0.0025)
  phase width(epochs: 125, lr: 0.0025)
  distill 1.0
  optimizer sgd(lr: 0.026, momentum: 0.9, nesterov, wd: 3e-5)
  schedule cosine
}

stage search = evolution(supernet) {
  population 100
  generations 500
  keep 25
  mutate 50, p: 0.1
  crossover 50
  predictor mlp(hidden: 400, layers: 3, samples: 16000)
  latency lut("ofa_latency.json")
  constraint latency <= 20ms
  recalibrate bn(images: 2000)
  objective val.accuracy
}

stage report = evaluate(search.best, cifar.test)
