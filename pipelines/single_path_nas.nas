// single_path_nas.nas - Single-Path NAS (Stamoulis et al., "Single-Path NAS: Designing Hardware-
// Efficient ConvNets in less than 4 Hours", ECML-PKDD 2019). One superkernel per layer: the 3x3 kernel
// is the centre of the 5x5, expand ratio 3 the first half of ratio 6's channels; decisions are
// indicator functions 1(||w_part|| > t) with trainable thresholds (sigmoid relaxation); the layers after
// the first of each unit can be dropped (the smallest expansion's indicator leaves the identity, `skip`);
// single-level; latency term in the loss.

dataset cifar = cifar10 {
  split train: 0.8, val: 0.2
  batch 128
  augment [random_crop(pad: 4), hflip]
}

block superkernel = mbconv(kernel: [3, 5], expand: [3, 6])

space net = chain(input: [3, 32, 32], classes: 10) {
  stem conv(3, out: 32) bn relu6
  layers out: 16, stride: 1, repeat: 1, mbconv(3, 1)
  layers out: 24, stride: 2, repeat: 1, superkernel
  layers out: 24, stride: 1, repeat: 3, choose [superkernel, skip] // droppable: 1(||w_e3|| > t)
  layers out: 40, stride: 2, repeat: 1, superkernel
  layers out: 40, stride: 1, repeat: 3, choose [superkernel, skip]
  layers out: 80, stride: 2, repeat: 1, superkernel
  layers out: 80, stride: 1, repeat: 3, choose [superkernel, skip]
  layers out: 96, stride: 1, repeat: 1, superkernel
  layers out: 96, stride: 1, repeat: 3, choose [superkernel, skip]
  layers out: 192, stride: 1, repeat: 1, superkernel
  layers out: 192, stride: 1, repeat: 3, choose [superkernel, skip]
  layers out: 320, stride: 1, repeat: 1, superkernel
  head conv(1, out: 1280) bn relu6 global_avg_pool linear(out: classes)
}

stage search = differentiable(net) {
  relax superkernel(threshold_init: 0)
  level single
  epochs 10
  weights rmsprop(lr: 0.064, momentum: 0.9, wd: 1e-5)
  schedule exponential(0.97)
  arch adam(lr: 0.01)
  latency lut("single_path_latency.json")
  penalty latency(form: log, weight: 0.02, exponent: 1)
  derive argmax
}

stage final = retrain(search.best) {
  epochs 350
  optimizer rmsprop(lr: 0.064, momentum: 0.9, wd: 1e-5)
  schedule exponential(0.97)
}

stage report = evaluate(final, cifar.test)
