// proxylessnas.nas - ProxylessNAS (Cai et al., "ProxylessNAS: Direct Neural Architecture Search on
// Target Task and Hardware", ICLR 2019). MobileNetV2-like chain, 21 searchable layers, MBConv k{3,5,7} x
// expand{3,6} plus zero/skip. Path-level binarisation: binary gates sampled from softmax(alpha), one
// active path in memory; two paths sampled per layer for the alpha update and renormalised; latency as
// a differentiable expected-latency term from a lookup table. Alternates weight and alpha steps.

dataset cifar = cifar10 {
  split train: 0.8, val: 0.2
  batch 128
  augment [random_crop(pad: 4), hflip]
}

space net = chain(input: [3, 32, 32], classes: 10) {
  stem conv(3, out: 32) bn relu6
  stage out: 16, stride: 1, repeat: 1, mbconv(3, 1)
  stage out: 24, stride: 2, repeat: 4, choose [mbconv(3, 3), mbconv(5, 3), mbconv(7, 3), mbconv(3, 6), mbconv(5, 6), mbconv(7, 6), none]
  stage out: 40, stride: 2, repeat: 4, choose [mbconv(3, 3), mbconv(5, 3), mbconv(7, 3), mbconv(3, 6), mbconv(5, 6), mbconv(7, 6), none]
  stage out: 80, stride: 2, repeat: 4, choose [mbconv(3, 3), mbconv(5, 3), mbconv(7, 3), mbconv(3, 6), mbconv(5, 6), mbconv(7, 6), none]
  stage out: 96, stride: 1, repeat: 4, choose [mbconv(3, 3), mbconv(5, 3), mbconv(7, 3), mbconv(3, 6), mbconv(5, 6), mbconv(7, 6), none]
  stage out: 192, stride: 1, repeat: 4, choose [mbconv(3, 3), mbconv(5, 3), mbconv(7, 3), mbconv(3, 6), mbconv(5, 6), mbconv(7, 6), none]
  stage out: 320, stride: 1, repeat: 1, choose [mbconv(3, 3), mbconv(5, 3), mbconv(7, 3), mbconv(3, 6), mbconv(5, 6), mbconv(7, 6)]
  head conv(1, out: 1280) bn relu6 global_avg_pool linear(out: classes)
}

stage search = differentiable(net) {
  relax binary_gates(paths: 2, estimator: grad) // estimator: reinforce for a non-differentiable reward
  level bilevel(order: 1, split: 0.8)
  epochs 120
  warmup 40
  weights sgd(lr: 0.05, momentum: 0.9, nesterov, wd: 4e-5)
  schedule cosine
  arch adam(lr: 1e-3, betas: (0, 0.999), wd: 0)
  latency lut("proxyless_latency.json")
  penalty latency(form: log, weight: 0.1, exponent: 1)
  derive argmax
}

stage final = retrain(search.best) {
  epochs 300
  optimizer sgd(lr: 0.05, momentum: 0.9, nesterov, wd: 4e-5)
  schedule cosine
  label_smoothing 0.1
}

stage report = evaluate(final, cifar.test)
