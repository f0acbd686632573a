// fairnas.nas - FairNAS (Chu et al., "FairNAS: Rethinking Evaluation Fairness of Weight Sharing NAS",
// ICCV 2021). Strict fairness: each step samples m archs without replacement per layer (every choice of
// every layer trained exactly once), accumulates the m gradients, then one optimizer update. Search:
// NSGA-II over (accuracy, FLOPs); supernet ranking holds without BN recalibration.
// MobileNetV2-like chain, 6 choices per layer (MBConv k3/5/7 x expand 3/6), scaled to Fashion-MNIST.

dataset fmnist = fashion_mnist {
  split train: 50000, val: 10000
  batch 256
}

space net = chain(input: [1, 28, 28], classes: 10) {
  stem conv(3, out: 32) bn relu6
  layers out: 16, stride: 1, repeat: 1, mbconv(3, 1)
  layers out: 24, stride: 2, repeat: 2, choose [mbconv(3, 3), mbconv(5, 3), mbconv(7, 3), mbconv(3, 6), mbconv(5, 6), mbconv(7, 6)]
  layers out: 40, stride: 2, repeat: 4, choose [mbconv(3, 3), mbconv(5, 3), mbconv(7, 3), mbconv(3, 6), mbconv(5, 6), mbconv(7, 6)]
  layers out: 80, stride: 1, repeat: 4, choose [mbconv(3, 3), mbconv(5, 3), mbconv(7, 3), mbconv(3, 6), mbconv(5, 6), mbconv(7, 6)]
  layers out: 96, stride: 1, repeat: 4, choose [mbconv(3, 3), mbconv(5, 3), mbconv(7, 3), mbconv(3, 6), mbconv(5, 6), mbconv(7, 6)]
  layers out: 192, stride: 2, repeat: 4, choose [mbconv(3, 3), mbconv(5, 3), mbconv(7, 3), mbconv(3, 6), mbconv(5, 6), mbconv(7, 6)]
  layers out: 320, stride: 1, repeat: 1, choose [mbconv(3, 3), mbconv(5, 3), mbconv(7, 3), mbconv(3, 6), mbconv(5, 6), mbconv(7, 6)]
  head conv(1, out: 1280) bn relu6 global_avg_pool linear(out: classes)
}

stage supernet = train(net) {
  sampler fair
  epochs 150
  optimizer sgd(lr: 0.045, momentum: 0.9, wd: 4e-5)
  schedule cosine
}

stage search = nsga2(supernet) {
  population 70
  generations 20
  mutate 35, p: 0.1
  crossover 35
  pareto [val.accuracy, flops]
  objective val.accuracy
}

stage final = retrain(search.best) {
  epochs 60
  optimizer sgd(lr: 0.045, momentum: 0.9, wd: 4e-5)
  schedule cosine
}

stage report = evaluate(final, fmnist.test)
