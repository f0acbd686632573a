// A small SPOS pipeline for the resume tests: several short epochs, so a run can be killed between
// checkpoints and resumed.

dataset fmnist = fashion_mnist {
  split train: 2000, val: 500
  batch 100
}

space net = chain(input: [1, 28, 28], classes: 10) {
  stem conv(3, out: 8, stride: 2) bn relu
  layers out: 8, stride: 1, repeat: 2, choose [conv(3) bn relu, conv(5) bn relu, skip]
  layers out: 16, stride: 2, repeat: 1, choose [conv(3) bn relu, conv(5) bn relu]
  head global_avg_pool linear(out: classes)
}

stage supernet = train(net) {
  sampler uniform
  epochs 4
  optimizer sgd(lr: 0.1, momentum: 0.9, wd: 1e-4)
  schedule cosine
}

stage search = evolution(supernet) {
  population 4
  generations 2
  keep 2
  mutate 2, p: 0.3
  crossover 2
  recalibrate bn(images: 200)
  objective val.accuracy
}

stage final = retrain(search.best) {
  epochs 3
  optimizer sgd(lr: 0.1, momentum: 0.9, wd: 1e-4)
  schedule cosine
}

stage report = evaluate(final, fmnist.test)
