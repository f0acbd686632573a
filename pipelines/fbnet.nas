// fbnet.nas - FBNet (Wu et al., "FBNet: Hardware-Aware Efficient ConvNet Design via Differentiable
// Neural Architecture Search", CVPR 2019), scaled to a CPU and Fashion-MNIST. Layer-wise search over
// the paper's 9 candidates (MBConv kernel 3/5, expansion 1/3/6, grouped 1x1 variants, skip); every
// candidate runs, weighted by a Gumbel-softmax whose temperature decays exponentially 5.0 -> 0.15;
// bi-level on an 80/20 split of the training set with weights-only warm-up epochs; the architecture
// loss is CE * alpha * log(LAT)^beta (alpha 0.2, beta 0.6) with LAT the expected latency from a
// per-op lookup table measured on this machine (`fbnet_latency.yaml` next to this file, measured on
// first use; `nasl latency` measures and checks it). Derive: sample 6 architectures from the learned
// distribution and keep the best on validation. Paper: 22 layers on ImageNet, 90 epochs, batch 192,
// SGD 0.1 cosine, Adam 0.01 wd 5e-4 for the architecture. Here: 8 searched layers, 6 epochs.

dataset fmnist = fashion_mnist {
  split train: 10000, val: 5000
  batch 128
}

block k3e1 = mbconv(3, 1)
block k3e1g = mbconv(3, 1, groups: 2)
block k3e3 = mbconv(3, 3)
block k3e6 = mbconv(3, 6)
block k5e1 = mbconv(5, 1)
block k5e1g = mbconv(5, 1, groups: 2)
block k5e3 = mbconv(5, 3)
block k5e6 = mbconv(5, 6)

space net = chain(input: [1, 28, 28], classes: 10) {
  stem conv(3, out: 16, stride: 1) bn relu
  layers out: 16, stride: 1, repeat: 1, choose [k3e1, k3e1g, k3e3, k3e6, k5e1, k5e1g, k5e3, k5e6, skip]
  layers out: 24, stride: 2, repeat: 3, choose [k3e1, k3e1g, k3e3, k3e6, k5e1, k5e1g, k5e3, k5e6, skip]
  layers out: 48, stride: 2, repeat: 3, choose [k3e1, k3e1g, k3e3, k3e6, k5e1, k5e1g, k5e3, k5e6, skip]
  layers out: 64, stride: 1, repeat: 1, choose [k3e1, k3e1g, k3e3, k3e6, k5e1, k5e1g, k5e3, k5e6, skip]
  head conv(1, out: 256) bn relu global_avg_pool linear(out: classes)
}

stage search = differentiable(net) {
  relax gumbel(tau: 5.0 -> 0.15 exponential)
  level bilevel(order: 1, split: 0.8)
  epochs 6
  warmup 1
  weights sgd(lr: 0.1, momentum: 0.9, wd: 1e-4)
  schedule cosine
  arch adam(lr: 0.01, wd: 5e-4)
  latency lut("fbnet_latency.yaml")
  penalty latency(form: log, weight: 0.2, exponent: 0.6)
  derive sample(6)
}

stage final = retrain(search.best) {
  epochs 10
  optimizer sgd(lr: 0.1, momentum: 0.9, wd: 4e-5)
  schedule cosine
}

stage report = evaluate(final, fmnist.test)
