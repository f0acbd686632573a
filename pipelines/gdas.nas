// gdas.nas - GDAS (Dong & Yang, "Searching for a Robust Neural Architecture in Four GPU Hours", CVPR
// 2019). Gumbel-max hard one-hot forward, soft-sample gradient backward (straight-through), so only the
// sampled op of each edge runs; temperature annealed 10 -> 0.1; bi-level like DARTS; derive like DARTS.

dataset cifar = cifar10 {
  split train: 0.5, val: 0.5
  batch 64
  augment [random_crop(pad: 4), hflip]
}

space darts = cell(nodes: 4, inputs: 2) {
  ops [sep_conv(3), sep_conv(5), dil_conv(3), dil_conv(5), max_pool(3), avg_pool(3), skip, none]
  network cells: 8, channels: 16, reduce_at: [1/3, 2/3], input: [3, 32, 32], classes: 10
}

stage search = differentiable(darts) {
  relax gumbel_hard(tau: 10 -> 0.1 linear)
  level bilevel(order: 1, split: 0.5)
  epochs 240
  weights sgd(lr: 0.025, momentum: 0.9, wd: 3e-4)
  schedule cosine(min: 0.001)
  arch adam(lr: 3e-4, betas: (0.5, 0.999), wd: 1e-3)
  derive top_k_edges(2)
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
