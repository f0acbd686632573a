// fbnet.nas - FBNet / DNAS (Wu et al., "FBNet: Hardware-Aware Efficient ConvNet Design via
// Differentiable Neural Architecture Search", CVPR 2019). Chain of 22 searchable layers, 9 candidates
// (MBConv k3/k5 x expand 1/3/6, group-conv variants, skip). Gumbel-softmax over blocks per layer;
// loss = CE * alpha * log(LAT)^beta with LAT the expected latency from a per-op lookup table; bi-level
// with an 80/20 split (SGD for weights, Adam for theta); temperature 5.0 decaying by e^-0.045 per epoch;
// afterwards several archs are sampled from the learned distribution and the best is retrained.

dataset fmnist = fashion_mnist {
  split train: 0.8, val: 0.2
  batch 256
}

block k3e1 = mbconv(3, 1)
block k3e1g = mbconv(3, 1, groups: 2)
block k3e3 = mbconv(3, 3)
block k3e6 = mbconv(3, 6)
block k5e1 = mbconv(5, 1)
block k5e1g = mbconv(5, 1, groups: 2)
block k5e3 = mbconv(5, 3)
block k5e6 = mbconv(5, 6)

// Scaled to 28x28 inputs: two stride-2 stages (28 -> 14 -> 7) where the paper, at 224, has more.
space net = chain(input: [1, 28, 28], classes: 10) {
  stem conv(3, out: 16, stride: 1) bn relu
  stage out: 16, stride: 1, repeat: 1, choose [k3e1, k3e1g, k3e3, k3e6, k5e1, k5e1g, k5e3, k5e6, skip]
  stage out: 24, stride: 2, repeat: 4, choose [k3e1, k3e1g, k3e3, k3e6, k5e1, k5e1g, k5e3, k5e6, skip]
  stage out: 32, stride: 2, repeat: 4, choose [k3e1, k3e1g, k3e3, k3e6, k5e1, k5e1g, k5e3, k5e6, skip]
  stage out: 64, stride: 1, repeat: 4, choose [k3e1, k3e1g, k3e3, k3e6, k5e1, k5e1g, k5e3, k5e6, skip]
  stage out: 112, stride: 1, repeat: 4, choose [k3e1, k3e1g, k3e3, k3e6, k5e1, k5e1g, k5e3, k5e6, skip]
  stage out: 184, stride: 1, repeat: 4, choose [k3e1, k3e1g, k3e3, k3e6, k5e1, k5e1g, k5e3, k5e6, skip]
  stage out: 352, stride: 1, repeat: 1, choose [k3e1, k3e1g, k3e3, k3e6, k5e1, k5e1g, k5e3, k5e6, skip]
  head conv(1, out: 1504) bn relu global_avg_pool linear(out: classes)
}

stage search = differentiable(net) {
  relax gumbel(tau: 5.0 -> 0.15 exponential) // x e^-0.045 per epoch over 90 epochs
  level bilevel(order: 1, split: 0.8)
  epochs 90
  warmup 10
  weights sgd(lr: 0.1, momentum: 0.9, wd: 1e-4)
  schedule cosine
  arch adam(lr: 0.01, wd: 5e-4)
  latency lut("fbnet_latency.json")
  penalty latency(form: log, weight: 0.2, exponent: 0.6)
  derive sample(6)
}

stage final = retrain(search.best) {
  epochs 90
  optimizer sgd(lr: 0.1, momentum: 0.9, wd: 4e-5)
  schedule cosine
}

stage report = evaluate(final, fmnist.test)
