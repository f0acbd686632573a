// gdas.nas - GDAS (Dong & Yang, "Searching for a Robust Neural Architecture in Four GPU Hours", CVPR
// 2019), scaled to a CPU and Fashion-MNIST. Gumbel-max picks one op per edge, whose weight is one in
// the forward pass and carries the Gumbel-softmax gradient backward (straight-through), so only the
// sampled op of each edge runs and only its weights learn; temperature annealed 10 -> 0.1; bi-level
// like DARTS; derive like DARTS. Paper (CIFAR-10): 8 cells, 16 channels, 240 epochs. Here: 5 cells,
// 8 channels, 10 epochs on 10,000 images.

dataset fmnist = fashion_mnist {
  split train: 10000, val: 5000
  batch 64
}

space darts = cell(nodes: 4, inputs: 2) {
  ops [sep_conv(3), sep_conv(5), dil_conv(3), dil_conv(5), max_pool(3), avg_pool(3), skip, none]
  network cells: 5, channels: 8, reduce_at: [1/3, 2/3], input: [1, 28, 28], classes: 10
}

stage search = differentiable(darts) {
  relax gumbel_hard(tau: 10 -> 0.1 linear)
  level bilevel(order: 1, split: 0.5)
  epochs 10
  weights sgd(lr: 0.025, momentum: 0.9, wd: 3e-4)
  schedule cosine(min: 0.001)
  arch adam(lr: 3e-4, betas: (0.5, 0.999), wd: 1e-3)
  derive top_k_edges(2)
}

stage final = retrain(search.best) {
  epochs 10
  batch 96
  optimizer sgd(lr: 0.025, momentum: 0.9, wd: 3e-4)
  schedule cosine
  cutout 8
}

stage report = evaluate(final, fmnist.test)
