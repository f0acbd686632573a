// A small DARTS pipeline for the differentiable resume test: a tiny cell space, several short
// epochs, so a run can be killed between checkpoints and resumed.

dataset fmnist = fashion_mnist {
  split train: 1024, val: 256
  batch 64
}

space cells = cell(nodes: 2, inputs: 2) {
  ops [sep_conv(3), max_pool(3), skip, none]
  network cells: 3, channels: 4, reduce_at: [1/3, 2/3], input: [1, 28, 28], classes: 10
}

stage search = differentiable(cells) {
  relax softmax
  level bilevel(order: 1, split: 0.5)
  epochs 4
  weights sgd(lr: 0.05, momentum: 0.9, wd: 3e-4)
  schedule cosine
  arch adam(lr: 0.01, betas: (0.5, 0.999), wd: 1e-3)
  derive top_k_edges(2)
}

stage final = retrain(search.best) {
  epochs 1
  optimizer sgd(lr: 0.05, momentum: 0.9)
}

stage report = evaluate(final, fmnist.test)
