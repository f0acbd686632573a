// fewshot.nas - Few-shot NAS (Zhao et al., "Few-shot Neural Architecture Search", ICML 2021).
// The trained supernet is split into sub-supernets by enumerating the choices of its first decision;
// each sub-supernet starts from the supernet's weights and is fine-tuned; a candidate is evaluated by
// the sub-supernet containing it. Improves ranking correlation. SPOS-style space on Fashion-MNIST.

dataset fmnist = fashion_mnist {
  split train: 50000, val: 10000
  batch 256
}

space net = chain(input: [1, 28, 28], classes: 10) {
  stem conv(3, out: 16) bn relu
  layers out: 32, stride: 2, repeat: 2, choose [mbconv(3, 3), mbconv(5, 3), mbconv(3, 6), skip]
  layers out: 64, stride: 2, repeat: 3, choose [mbconv(3, 3), mbconv(5, 3), mbconv(3, 6), skip]
  head global_avg_pool linear(out: classes)
}

stage supernet = train(net) {
  sampler uniform
  epochs 20
  optimizer sgd(lr: 0.1, momentum: 0.9, wd: 4e-5)
  schedule cosine
}

stage subnets = few_shot(supernet) {
  split_on 1 // enumerate the 4 choices of the first decision: 4 sub-supernets
  finetune 5
  sampler uniform
  optimizer sgd(lr: 0.01, momentum: 0.9, wd: 4e-5)
  schedule cosine
}

stage search = evolution(subnets) {
  population 50
  generations 20
  keep 10
  mutate 25, p: 0.1
  crossover 25
  recalibrate bn(images: 2000)
  objective val.accuracy
}

stage final = retrain(search.best) {
  epochs 30
  optimizer sgd(lr: 0.1, momentum: 0.9, wd: 4e-5)
  schedule cosine
}

stage report = evaluate(final, fmnist.test)

// Ranking quality of the sub-supernets against stand-alone training (Kendall tau).
stage ranking = rank(subnets) {
  samples 20
  epochs 5
}
