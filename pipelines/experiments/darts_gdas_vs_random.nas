// darts_gdas_vs_random.nas - does a short gradient-based search beat chance on Fashion-MNIST? DARTS
// (first order) and GDAS search the same small DARTS cell space; a third "search" with zero epochs
// derives an architecture from the untrained, random architecture parameters (DARTS' derivation
// rule on random weights: two random incoming edges per node, random non-none ops), which is the
// random baseline of the DARTS paper. All three architectures are retrained from scratch with the same
// budget and seeds and evaluated on the test set; two random architectures (two 0-epoch stages, each
// with its own seed) make the baseline. Architecture learning rates are raised from the papers' 3e-4
// because these searches take a hundred-odd steps instead of tens of thousands, and the first epochs
// train only the weights (`warmup`): architecture gradients taken through untrained weights favour
// the parameter-free ops (pooling, skip), which is how a two-epoch DARTS without warm-up ended here.

dataset fmnist = fashion_mnist {
  split train: 4000, val: 2000
  batch 64
}

space cells = cell(nodes: 4, inputs: 2) {
  ops [sep_conv(3), sep_conv(5), dil_conv(3), dil_conv(5), max_pool(3), avg_pool(3), skip, none]
  network cells: 3, channels: 8, reduce_at: [1/3, 2/3], input: [1, 28, 28], classes: 10
}

stage darts_search = differentiable(cells) {
  relax softmax
  level bilevel(order: 1, split: 0.5)
  epochs 3
  warmup 1
  weights sgd(lr: 0.025, momentum: 0.9, wd: 3e-4)
  schedule cosine(min: 0.001)
  arch adam(lr: 3e-3, betas: (0.5, 0.999), wd: 1e-3)
  derive top_k_edges(2)
  grad_clip 5
}

stage gdas_search = differentiable(cells) {
  relax gumbel_hard(tau: 10 -> 0.1 linear)
  level bilevel(order: 1, split: 0.5)
  epochs 8
  warmup 2
  weights sgd(lr: 0.025, momentum: 0.9, wd: 3e-4)
  schedule cosine(min: 0.001)
  arch adam(lr: 3e-3, betas: (0.5, 0.999), wd: 1e-3)
  derive top_k_edges(2)
  grad_clip 5
}

stage random_a = differentiable(cells) {
  relax softmax
  epochs 0
  derive top_k_edges(2)
}

stage random_b = differentiable(cells) {
  relax softmax
  epochs 0
  derive top_k_edges(2)
}

stage darts_final = retrain(darts_search.best) {
  epochs 4
  optimizer sgd(lr: 0.025, momentum: 0.9, wd: 3e-4)
  schedule cosine
  grad_clip 5
  seeds [0, 1]
}

stage gdas_final = retrain(gdas_search.best) {
  epochs 4
  optimizer sgd(lr: 0.025, momentum: 0.9, wd: 3e-4)
  schedule cosine
  grad_clip 5
  seeds [0, 1]
}

stage random_a_final = retrain(random_a.best) {
  epochs 4
  optimizer sgd(lr: 0.025, momentum: 0.9, wd: 3e-4)
  schedule cosine
  grad_clip 5
  seeds [0, 1]
}

stage random_b_final = retrain(random_b.best) {
  epochs 4
  optimizer sgd(lr: 0.025, momentum: 0.9, wd: 3e-4)
  schedule cosine
  grad_clip 5
  seeds [0, 1]
}

stage darts_test = evaluate(darts_final, fmnist.test)
stage gdas_test = evaluate(gdas_final, fmnist.test)
stage random_a_test = evaluate(random_a_final, fmnist.test)
stage random_b_test = evaluate(random_b_final, fmnist.test)
