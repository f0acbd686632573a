// snas.nas - SNAS (Xie et al., "SNAS: Stochastic Neural Architecture Search", ICLR 2019), on CIFAR-10
// (`--data cifar=PATH`), scaled to a CPU. Gumbel-softmax relaxed one-hot over the ops of every edge
// with the temperature annealed 1.0 -> 0.33; single level: weights and architecture parameters take
// the same loss on the same batch in one backward pass; a resource constraint on the expected
// MACs (in millions, under softmax(alpha)) is added to the loss. Derive: argmax per edge, an edge
// whose argmax is `none` is dropped. Paper: 8 cells, 16 channels, 150 epochs, batch 64.

dataset cifar = cifar10 {
  split train: 10000, val: 5000
  batch 64
  augment [random_crop(pad: 4), hflip]
}

space darts = cell(nodes: 4, inputs: 2) {
  ops [sep_conv(3), sep_conv(5), dil_conv(3), dil_conv(5), max_pool(3), avg_pool(3), skip, none]
  network cells: 5, channels: 8, reduce_at: [1/3, 2/3], input: [3, 32, 32], classes: 10
}

stage search = differentiable(darts) {
  relax gumbel(tau: 1.0 -> 0.33 linear)
  level single
  epochs 6
  weights sgd(lr: 0.025, momentum: 0.9, wd: 3e-4)
  schedule cosine
  arch adam(lr: 3e-4, betas: (0.5, 0.999), wd: 1e-3)
  penalty flops(weight: 0.01)
  derive argmax
}

stage final = retrain(search.best) {
  epochs 10
  batch 96
  optimizer sgd(lr: 0.025, momentum: 0.9, wd: 3e-4)
  schedule cosine
  cutout 16
}

stage report = evaluate(final, cifar.test)
