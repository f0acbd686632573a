// spos.nas - Single Path One-Shot NAS with uniform sampling (Guo et al., ECCV 2020).
// ShuffleNetV2-based chain: per layer Shuffle3x3 / 5x5 / 7x7 / Xception-like. Supernet: one uniformly
// sampled path per step. Search: evolution, P = 50, 20 generations, top-k = 10, 25 mutations (gene
// resampled with p = 0.1) + 25 crossovers; hard FLOPs constraint; BN statistics recomputed for every
// candidate (20,000 images on ImageNet, scaled here). Scaled to Fashion-MNIST.

dataset fmnist = fashion_mnist {
  split train: 50000, val: 10000
  batch 256
  augment [random_crop(pad: 2)]
}

space net = chain(input: [1, 28, 28], classes: 10) {
  stem conv(3, out: 16, stride: 1) bn relu
  layers out: 64, stride: 2, repeat: 4, choose [shuffle(3), shuffle(5), shuffle(7), shuffle_xception]
  layers out: 160, stride: 2, repeat: 4, choose [shuffle(3), shuffle(5), shuffle(7), shuffle_xception]
  layers out: 320, stride: 2, repeat: 8, choose [shuffle(3), shuffle(5), shuffle(7), shuffle_xception]
  layers out: 640, stride: 2, repeat: 4, choose [shuffle(3), shuffle(5), shuffle(7), shuffle_xception]
  head conv(1, out: 1024) bn relu global_avg_pool linear(out: classes)
}

stage supernet = train(net) {
  sampler uniform // | constrained(flops: 20M..60M) for uniform constraint sampling
  epochs 30
  optimizer sgd(lr: 0.5, momentum: 0.9, wd: 4e-5)
  schedule linear
  label_smoothing 0.1
}

stage search = evolution(supernet) {
  population 50
  generations 20
  keep 10
  mutate 25, p: 0.1
  crossover 25
  constraint flops <= 25M
  recalibrate bn(images: 20000)
  objective val.accuracy
}

stage final = retrain(search.best) {
  epochs 60
  optimizer sgd(lr: 0.5, momentum: 0.9, wd: 4e-5)
  schedule linear
  label_smoothing 0.1
}

stage report = evaluate(final, fmnist.test)
