// nas_bench_201.nas - a small cell space in the style of NAS-Bench-201 (Dong & Yang, ICLR 2020):
// 3 intermediate nodes, one input, 5 candidate ops per edge, searched with GDAS-style hard Gumbel.

dataset cifar = cifar10 {
  split train: 25000, val: 25000
  batch 64
}

space nb201 = cell(nodes: 3, inputs: 1) {
  ops [nor_conv(3), nor_conv(1), avg_pool(3), skip, none]
  network cells: 5, channels: 16, reduce_at: [1/3, 2/3], input: [3, 32, 32], classes: 10
}

stage search = differentiable(nb201) {
  relax gumbel_hard(tau: 10 -> 0.1 linear)
  level bilevel(order: 1, split: 0.5)
  epochs 50
  weights sgd(lr: 0.025, momentum: 0.9, wd: 5e-4)
  schedule cosine
  arch adam(lr: 3e-4, betas: (0.5, 0.999), wd: 1e-3)
  derive argmax
}

stage final = retrain(search.best) {
  epochs 200
  optimizer sgd(lr: 0.1, momentum: 0.9, nesterov, wd: 5e-4)
  schedule cosine
}

stage report = evaluate(final, cifar.test)
