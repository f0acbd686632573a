// enas_smash_vs_random.nas - do short ENAS and SMASH searches beat chance on Fashion-MNIST? ENAS
// (shared weights, LSTM controller, REINFORCE) and SMASH (a hypernetwork generating each sampled
// architecture's weights) search a small macro-like chain space (one op per searched layer, six
// searched layers with ENAS's six macro ops, a fixed strided conv between the two groups of three);
// two random architectures of the same space come from two 0-epoch `differentiable` stages deriving
// `argmax` from random architecture parameters (a uniformly random op per layer). The four are
// retrained from scratch with the same budget and seeds and evaluated on the test set; `rank` measures
// how well SMASH's generated weights rank architectures against stand-alone training. Scaled to a
// shared 2-core CPU: 4,000 training images; ENAS and SMASH each train 10 epochs of shared or generated
// weights; ENAS takes 50 controller steps per epoch (the paper: 310 epochs of 2,000 steps on
// CIFAR-10), its controller's learning rate raised from 3.5e-4 to 3e-3 because it takes 500 steps
// instead of 600,000; SMASH ranks 100 random architectures.

dataset fmnist = fashion_mnist {
  split train: 4000, val: 2000
  batch 64
}

space macro = chain(input: [1, 28, 28], classes: 10) {
  stem conv(3, out: 16, stride: 2) bn relu
  layers out: 16, stride: 1, repeat: 3, choose [conv(3) bn relu, conv(5) bn relu, sep_conv(3), sep_conv(5), max_pool(3), avg_pool(3)]
  layers out: 32, stride: 2, repeat: 1, conv(3) bn relu
  layers out: 32, stride: 1, repeat: 3, choose [conv(3) bn relu, conv(5) bn relu, sep_conv(3), sep_conv(5), max_pool(3), avg_pool(3)]
  head global_avg_pool linear(out: classes)
}

stage enas_search = rl(macro) {
  shared true
  epochs 10
  steps 50
  weights sgd(lr: 0.1, momentum: 0.9, wd: 1e-4)
  schedule cosine(min: 0.0005)
  controller lstm(hidden: 64, lr: 3e-3, entropy: 1e-4, baseline: 0.95, tanh: 2.5, temperature: 5.0)
  reward accuracy
  derive sample(20)
}

stage smash_search = hypernet(macro) {
  epochs 10
  optimizer sgd(lr: 0.05, momentum: 0.9, wd: 1e-4)
  schedule cosine(min: 0.0005)
  samples 100
}

stage smash_rank = rank(smash_search) {
  samples 8
  epochs 3
  optimizer sgd(lr: 0.05, momentum: 0.9, wd: 1e-4)
  schedule cosine
}

stage random_a = differentiable(macro) {
  relax softmax
  epochs 0
  derive argmax
}

stage random_b = differentiable(macro) {
  relax softmax
  epochs 0
  derive argmax
}

stage enas_final = retrain(enas_search.best) {
  epochs 3
  optimizer sgd(lr: 0.05, momentum: 0.9, wd: 1e-4)
  schedule cosine
  seeds [0, 1]
}

stage smash_final = retrain(smash_search.best) {
  epochs 3
  optimizer sgd(lr: 0.05, momentum: 0.9, wd: 1e-4)
  schedule cosine
  seeds [0, 1]
}

stage random_a_final = retrain(random_a.best) {
  epochs 3
  optimizer sgd(lr: 0.05, momentum: 0.9, wd: 1e-4)
  schedule cosine
  seeds [0, 1]
}

stage random_b_final = retrain(random_b.best) {
  epochs 3
  optimizer sgd(lr: 0.05, momentum: 0.9, wd: 1e-4)
  schedule cosine
  seeds [0, 1]
}

stage enas_test = evaluate(enas_final, fmnist.test)
stage smash_test = evaluate(smash_final, fmnist.test)
stage random_a_test = evaluate(random_a_final, fmnist.test)
stage random_b_test = evaluate(random_b_final, fmnist.test)
