// snas.nas - SNAS (Xie et al., "SNAS: Stochastic Neural Architecture Search", ICLR 2019). DARTS cell
// space; Gumbel-softmax samples (relaxed one-hot) on every edge including `none`, so the topology is
// sampled too; single-level (one loss, one backward for weights and alphas); temperature annealed
// linearly 1.0 -> 0.33; resource constraint as a per-op cost term; derive = argmax per edge, an edge
// whose argmax is `none` is dropped (no top-2 rule).

dataset cifar = cifar10 {
  split train: 50000, val: 0
  batch 64
  augment [random_crop(pad: 4), hflip]
}

space darts = cell(nodes: 4, inputs: 2) {
  ops [sep_conv(3), sep_conv(5), dil_conv(3), dil_conv(5), max_pool(3), avg_pool(3), skip, none]
  network cells: 8, channels: 16, reduce_at: [1/3, 2/3], input: [3, 32, 32], classes: 10
}

stage search = differentiable(darts) {
  relax gumbel(tau: 1.0 -> 0.33 linear)
  level single
  epochs 150
  weights sgd(lr: 0.025, momentum: 0.9, wd: 3e-4)
  schedule cosine
  arch adam(lr: 3e-4, betas: (0.5, 0.999), wd: 1e-3)
  penalty flops(weight: 1e-8)
  derive argmax
}

stage final = retrain(search.best) {
  epochs 600
  batch 96
  optimizer sgd(lr: 0.025, momentum: 0.9, wd: 3e-4)
  schedule cosine
  cutout 16
  drop_path 0.2
  auxiliary 0.4
}

stage report = evaluate(final, cifar.test)
