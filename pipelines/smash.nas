// smash.nas - SMASH (Brock et al., "SMASH: One-Shot Model Architecture Search through HyperNetworks",
// ICLR 2018). A hypernetwork maps an encoding of an architecture to the weights of its layers; it is
// trained with one random architecture per batch; then random architectures get generated weights and
// are ranked by validation accuracy, and the best is trained from scratch. nasl's hypernetwork
// generates every conv and linear weight as an affine function of a shared tanh layer over the
// architecture's one-hot encoding (docs/language.md); SMASH's own space (variable-width DenseNet-like
// blocks with a memory bank) is replaced by a chain of op and depth choices on Fashion-MNIST.

dataset fmnist = fashion_mnist {
  split train: 50000, val: 10000
  batch 128
}

space net = chain(input: [1, 28, 28], classes: 10) {
  stem conv(3, out: 32, stride: 2) bn relu
  layers out: 32, stride: 1, repeat: [1, 2, 3], choose [conv(3) bn relu, conv(5) bn relu, sep_conv(3), sep_conv(5), dil_conv(3)]
  layers out: 64, stride: 2, repeat: 1, conv(3) bn relu
  layers out: 64, stride: 1, repeat: [1, 2, 3], choose [conv(3) bn relu, conv(5) bn relu, sep_conv(3), sep_conv(5), dil_conv(3)]
  head global_avg_pool linear(out: classes)
}

stage search = hypernet(net) {
  epochs 30
  optimizer sgd(lr: 0.05, momentum: 0.9, nesterov, wd: 1e-4)
  schedule cosine
  samples 500
}

stage final = retrain(search.best) {
  epochs 100
  optimizer sgd(lr: 0.05, momentum: 0.9, nesterov, wd: 5e-4)
  schedule cosine
}

stage report = evaluate(final, fmnist.test)
