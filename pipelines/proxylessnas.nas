// proxylessnas.nas - ProxylessNAS (Cai et al., "ProxylessNAS: Direct Neural Architecture Search on
// Target Task and Hardware", ICLR 2019), scaled to a CPU and Fashion-MNIST. Path-level binarisation:
// each weight step trains one path sampled from softmax(alpha); each architecture step samples two
// candidates per layer and updates their logits through binary gates (straight-through over the
// pair), then shifts them so the other candidates keep their probability mass; weights-only warm-up;
// the architecture loss adds the expected latency from a lookup table measured on this machine
// (`proxyless_latency.yaml`). `estimator: reinforce` learns from the reward of one sampled path
// instead. Paper: MobileNetV2-like backbone on ImageNet, 6 MBConv candidates (kernel 3/5/7, expansion
// 3/6) plus zero for the layers that have a residual (a skipped block), 120 epochs with 40 of warm-up;
// Adam lr 1e-3, betas (0, 0.999), no decay for the architecture. Here: 8 searched layers, 8 epochs.

dataset fmnist = fashion_mnist {
  split train: 10000, val: 5000
  batch 128
}

space net = chain(input: [1, 28, 28], classes: 10) {
  stem conv(3, out: 16, stride: 2) bn relu6
  layers out: 16, stride: 1, repeat: 1, mbconv(3, 1)
  layers out: 24, stride: 2, repeat: 1, choose [mbconv(3, 3), mbconv(5, 3), mbconv(7, 3), mbconv(3, 6), mbconv(5, 6), mbconv(7, 6)]
  layers out: 24, stride: 1, repeat: 2, choose [mbconv(3, 3), mbconv(5, 3), mbconv(7, 3), mbconv(3, 6), mbconv(5, 6), mbconv(7, 6), skip]
  layers out: 48, stride: 2, repeat: 1, choose [mbconv(3, 3), mbconv(5, 3), mbconv(7, 3), mbconv(3, 6), mbconv(5, 6), mbconv(7, 6)]
  layers out: 48, stride: 1, repeat: 2, choose [mbconv(3, 3), mbconv(5, 3), mbconv(7, 3), mbconv(3, 6), mbconv(5, 6), mbconv(7, 6), skip]
  layers out: 64, stride: 1, repeat: 1, choose [mbconv(3, 3), mbconv(5, 3), mbconv(7, 3), mbconv(3, 6), mbconv(5, 6), mbconv(7, 6)]
  head conv(1, out: 256) bn relu6 global_avg_pool linear(out: classes)
}

stage search = differentiable(net) {
  relax binary_gates(paths: 2, estimator: grad)
  level bilevel(order: 1, split: 0.8)
  epochs 8
  warmup 2
  weights sgd(lr: 0.05, momentum: 0.9, nesterov, wd: 4e-5)
  schedule cosine
  arch adam(lr: 1e-3, betas: (0, 0.999), wd: 0)
  latency lut("proxyless_latency.yaml")
  penalty latency(form: log, weight: 0.1, exponent: 1)
  derive argmax
}

stage final = retrain(search.best) {
  epochs 10
  optimizer sgd(lr: 0.05, momentum: 0.9, nesterov, wd: 4e-5)
  schedule cosine
  label_smoothing 0.1
}

stage report = evaluate(final, fmnist.test)
