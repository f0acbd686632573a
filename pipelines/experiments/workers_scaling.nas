// workers_scaling.nas - how much `nasl run --workers N` speeds up a stage of independent pieces
// (issue 16): successive halving of 8 stand-alone networks (eta 2: rungs of 8, 4, 2 candidates; 1, 2,
// 4 epochs) on 6000 Fashion-MNIST images. Run it with `--threads 1` and with `--threads 1 --workers 2`
// and compare wall times; both give the same best architecture (docs/scaling.md).

dataset fmnist = fashion_mnist {
  split train: 6000, val: 1000
  batch 100
}

space net = chain(input: [1, 28, 28], classes: 10) {
  stem conv(3, out: 16, stride: 2) bn relu
  layers out: 16, stride: 1, repeat: 2, choose [conv(3) bn relu, conv(5) bn relu, skip]
  layers out: 32, stride: 2, repeat: 2, choose [conv(3) bn relu, conv(5) bn relu, skip]
  head global_avg_pool linear(out: classes)
}

stage search = successive_halving(net) {
  candidates 8
  eta 2
  min_epochs 1
  max_epochs 4
  optimizer sgd(lr: 0.1, momentum: 0.9, wd: 1e-4)
  schedule cosine
}
