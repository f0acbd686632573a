// nb201_darts.nas - DARTS (first order) in the NAS-Bench-201 search space, as the benchmark's paper
// runs it among its baselines (Dong & Yang, ICLR 2020). Same cell as nb201_spos.nas: one input, three
// nodes, 6 edges, ops {none, skip, ReLU-conv1x1-BN, ReLU-conv3x3-BN, avg pool 3x3}; each edge keeps
// its strongest op (`derive argmax`: NAS-Bench-201 cells keep every edge, so `none` can win, and the
// paper reports DARTS collapsing to skip connections on this space). Benchmark scale: N = 5, 16
// channels, CIFAR-10, 50 search epochs, batch 64, SGD 0.025 cosine to 0.001, Adam 3e-4 for the
// alphas. Here: N = 2, 8 channels, Fashion-MNIST, a few epochs.

dataset fmnist = fashion_mnist {
  split train: 10000, val: 5000
  batch 64
}

space nb201 = cell(nodes: 3, inputs: 1) {
  ops [none, skip, relu_conv_bn(1), relu_conv_bn(3), avg_pool(3)]
  network cells: 6, channels: 8, reduce_at: [1/3, 2/3], input: [1, 28, 28], classes: 10
}

stage search = differentiable(nb201) {
  relax softmax
  level bilevel(order: 1, split: 0.5)
  epochs 4
  weights sgd(lr: 0.025, momentum: 0.9, wd: 3e-4)
  schedule cosine(min: 0.001)
  arch adam(lr: 3e-4, betas: (0.5, 0.999), wd: 1e-3)
  derive argmax
  grad_clip 5
}

stage final = retrain(search.best) {
  epochs 6
  optimizer sgd(lr: 0.1, momentum: 0.9, nesterov, wd: 5e-4)
  schedule cosine
}

stage report = evaluate(final, fmnist.test)
