// nb201_spos.nas - single-path one-shot search (uniform sampling, evolution, BN recalibration) in the
// NAS-Bench-201 search space (Dong & Yang, "NAS-Bench-201: Extending the Scope of Reproducible Neural
// Architecture Search", ICLR 2020). The cell has one input and three nodes; every node sums one edge
// from each earlier node (6 edges), each edge one of {none, skip, ReLU-conv1x1-BN, ReLU-conv3x3-BN,
// avg pool 3x3}: 5^6 = 15,625 cells. The macro network (`inputs: 1`): a 3x3 conv + BN stem, three
// stages of N cells, a residual basic block of stride 2 before the second and third stage (channels
// doubling), then BN, ReLU, global pooling and the classifier. Benchmark scale: N = 5 (`cells: 15`),
// 16 channels, CIFAR-10 32x32, 200 epochs. Here: N = 2, 8 channels, Fashion-MNIST, a few epochs.

dataset fmnist = fashion_mnist {
  split train: 10000, val: 5000
  batch 128
}

space nb201 = cell(nodes: 3, inputs: 1) {
  ops [none, skip, relu_conv_bn(1), relu_conv_bn(3), avg_pool(3)]
  network cells: 6, channels: 8, reduce_at: [1/3, 2/3], input: [1, 28, 28], classes: 10
}

stage supernet = train(nb201) {
  sampler uniform
  epochs 6
  optimizer sgd(lr: 0.05, momentum: 0.9, nesterov, wd: 5e-4)
  schedule cosine
}

stage search = evolution(supernet) {
  population 20
  generations 5
  keep 5
  mutate 10, p: 0.2
  crossover 10
  recalibrate bn(images: 2000)
  objective val.accuracy
}

stage final = retrain(search.best) {
  epochs 6
  optimizer sgd(lr: 0.1, momentum: 0.9, nesterov, wd: 5e-4)
  schedule cosine
}

stage report = evaluate(final, fmnist.test)
