// fbnetv2.nas - FBNetV2 / DMaskingNAS (Wan et al., "FBNetV2: Differentiable Neural Architecture Search
// for Spatial and Channel Dimensions", CVPR 2020). Channel and input-resolution search by masks: one
// widest convolution whose output is multiplied by a Gumbel-softmax-weighted sum of channel masks (one
// per candidate width, shared by a stage's layers); each input resolution runs that network on the
// resized input, weighted by its own Gumbel weight (the sum taken after global pooling, see
// docs/language.md). Bi-level 80/20; temperature 5.0 decaying by e^-0.045 per epoch.

dataset cifar = cifar10 {
  split train: 0.8, val: 0.2
  batch 128
  augment [random_crop(pad: 4), hflip]
}

space net = chain(input: [3, 32, 32], classes: 10) {
  resolution [24, 28, 32]
  stem conv(3, out: 16) bn relu
  layers out: [12, 16, 20, 24], stride: 2, repeat: 2, choose [mbconv(3, 3), mbconv(5, 3), mbconv(3, 6)]
  layers out: [24, 28, 32, 36, 40], stride: 2, repeat: 3, choose [mbconv(3, 3), mbconv(5, 3), mbconv(3, 6)]
  layers out: [48, 56, 64, 72, 80], stride: 2, repeat: 3, choose [mbconv(3, 3), mbconv(5, 3), mbconv(3, 6)]
  layers out: [112, 128, 144, 160], stride: 1, repeat: 3, choose [mbconv(3, 3), mbconv(5, 3), mbconv(3, 6)]
  head conv(1, out: 1280) bn relu global_avg_pool linear(out: classes)
}

stage search = differentiable(net) {
  relax masked_gumbel(tau: 5.0 -> 0.5 exponential) // x e^-0.045 per epoch over 50 epochs
  level bilevel(order: 1, split: 0.8)
  epochs 50
  weights sgd(lr: 0.1, momentum: 0.9, wd: 4e-5)
  schedule cosine
  arch adam(lr: 0.01, wd: 5e-4)
  penalty flops(form: log, weight: 0.2, exponent: 0.6)
  derive sample(6)
}

stage final = retrain(search.best) {
  epochs 300
  optimizer sgd(lr: 0.1, momentum: 0.9, wd: 4e-5)
  schedule cosine
}

stage report = evaluate(final, cifar.test)
