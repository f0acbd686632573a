// Successive halving of small stand-alone networks, then two retrained seeds: the independent pieces
// that `--workers` and `--executor slurm` spread out (tests/run/workers.rs).

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

stage search = successive_halving(net) {
  candidates 4
  eta 2
  min_epochs 1
  max_epochs 2
  optimizer sgd(lr: 0.1, momentum: 0.9, wd: 1e-4)
  schedule cosine
}

stage final = retrain(search.best) {
  epochs 1
  seeds [0, 1]
  optimizer sgd(lr: 0.1, momentum: 0.9, wd: 1e-4)
}
