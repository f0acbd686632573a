// quickstart.nas - a small SPOS-style search on Fashion-MNIST (Guo et al., "Single Path One-Shot NAS
// with Uniform Sampling", scaled down): uniform single-path supernet training, evolutionary search
// with BN recalibration, retraining of the best architecture, test evaluation. Sized for 2 CPU cores.

dataset fmnist = fashion_mnist {
  split train: 55000, val: 5000 // carved from the official train set; test = official test set
  batch 128
  augment [random_crop(pad: 2)]
}

block mb(k, e) = mbconv(kernel: k, expand: e)

space net = chain(input: [1, 28, 28], classes: 10) {
  stem conv(3, out: 16) bn relu
  stage out: 16, stride: 1, repeat: 1, choose [conv(3) bn relu, mb(3, 2), skip]
  stage out: 32, stride: 2, repeat: 2, choose [conv(3) bn relu, mb(3, 2), mb(5, 2)]
  stage out: 64, stride: 2, repeat: 2, choose [conv(3) bn relu, mb(3, 2), mb(5, 2)]
  head global_avg_pool linear(out: classes)
}

stage supernet = train(net) {
  sampler uniform
  epochs 3
  optimizer sgd(lr: 0.1, momentum: 0.9, nesterov, wd: 4e-5)
  schedule cosine
}

stage search = evolution(supernet) {
  population 12
  generations 4
  keep 4
  mutate 6, p: 0.1
  crossover 6
  constraint params <= 60K
  recalibrate bn(images: 1000)
  objective val.accuracy
}

stage final = retrain(search.best) {
  epochs 5
  optimizer sgd(lr: 0.1, momentum: 0.9, nesterov, wd: 4e-5)
  schedule cosine
}

stage report = evaluate(final, fmnist.test)
