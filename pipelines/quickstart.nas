// quickstart.nas - a small SPOS-style search on Fashion-MNIST (Guo et al., "Single Path One-Shot NAS
// with Uniform Sampling", scaled down): uniform single-path supernet training, evolutionary search
// under a parameter budget with BN recalibration, retraining of the best architecture from scratch,
// test evaluation. Sized for 2 CPU cores: plain convolutions (depthwise ops are slow on CPU), a
// stride-2 stem so that every layer works on 14x14 or 7x7 maps; about 6 minutes in all.

dataset fmnist = fashion_mnist {
  split train: 55000, val: 5000 // carved from the official train set; test = official test set
  batch 128
  augment [hflip] // mirrored clothes are still the same class; narrows the train/test gap
}

space net = chain(input: [1, 28, 28], classes: 10) {
  stem conv(3, out: 32, stride: 2) bn relu
  layers out: 32, stride: 1, repeat: 2, choose [conv(3) bn relu, conv(5) bn relu, skip]
  layers out: 64, stride: 2, repeat: 2, choose [conv(3) bn relu, conv(5) bn relu, skip]
  head conv(1, out: 256) bn relu global_avg_pool linear(out: classes) // a wide 1x1 before pooling, as MobileNets
}

stage supernet = train(net) {
  sampler uniform
  epochs 4
  optimizer sgd(lr: 0.1, momentum: 0.9, nesterov, wd: 4e-5)
  schedule cosine
}

stage search = evolution(supernet) {
  population 10
  generations 4
  keep 4
  mutate 5, p: 0.25
  crossover 5
  constraint flops <= 8M // multiply-accumulates; all-3x3 is 7.2M, so a 5x5 layer must be paid for with a skip
  recalibrate bn(images: 1024)
  objective val.accuracy
}

stage final = retrain(search.best) {
  epochs 10
  optimizer sgd(lr: 0.1, momentum: 0.9, nesterov, wd: 5e-4)
  schedule cosine
}

stage report = evaluate(final, fmnist.test)
