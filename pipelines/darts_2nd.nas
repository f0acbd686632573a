// darts_2nd.nas - DARTS, second order (Liu et al., "DARTS: Differentiable Architecture Search", ICLR
// 2019). DAG cell: 2 inputs, 4 intermediate nodes, 8 candidate ops per edge; continuous relaxation
// (softmax over ops, every op runs); bi-level: weights on the train half, alphas on the validation half,
// alternating; second order unrolls one weight step (finite-difference Hessian-vector product). CIFAR-10 search: 8 cells, 16 channels, 50 epochs,
// batch 64, SGD 0.025 cosine, momentum 0.9, wd 3e-4; Adam 3e-4, betas (0.5, 0.999), wd 1e-3 for alphas.
// Derive: per node the 2 strongest incoming edges, argmax non-none op. Evaluate: 20 cells, 36 channels,
// 600 epochs, cutout, drop-path 0.2, auxiliary 0.4; 4 seeds.

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
  relax softmax
  level bilevel(order: 2, split: 0.5)
  epochs 50
  weights sgd(lr: 0.025, momentum: 0.9, wd: 3e-4)
  schedule cosine(min: 0.001)
  arch adam(lr: 3e-4, betas: (0.5, 0.999), wd: 1e-3)
  derive top_k_edges(2)
  grad_clip 5
  seeds [0, 1, 2, 3]
}

stage final = retrain(search.best) {
  epochs 600
  batch 96
  optimizer sgd(lr: 0.025, momentum: 0.9, wd: 3e-4)
  schedule cosine
  cutout 16
  drop_path 0.2
  auxiliary 0.4
  grad_clip 5
}

stage report = evaluate(final, cifar.test)
