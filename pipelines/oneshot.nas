// oneshot.nas - One-shot with path dropout (Bender et al., "Understanding and Simplifying One-Shot
// Architecture Search", ICML 2018). The supernet holds all ops; each path is dropped with a rate that
// grows over training (at least one kept per choice); random archs are evaluated with shared weights;
// the best is retrained. Four steps: space -> one-shot training -> candidate evaluation -> retraining.

dataset cifar = cifar10 {
  split train: 45000, val: 5000
  batch 128
  augment [random_crop(pad: 4), hflip]
}

space net = chain(input: [3, 32, 32], classes: 10) {
  stem conv(3, out: 32) bn relu
  layers out: 32, stride: 1, repeat: 2, choose [sep_conv(3), sep_conv(5), dil_conv(3), max_pool(3), avg_pool(3), skip]
  // pools keep their channels, so the channel-changing layers choose among convs and skip
  layers out: 64, stride: 2, repeat: 1, choose [sep_conv(3), sep_conv(5), dil_conv(3), skip]
  layers out: 64, stride: 1, repeat: 2, choose [sep_conv(3), sep_conv(5), dil_conv(3), max_pool(3), avg_pool(3), skip]
  layers out: 128, stride: 2, repeat: 1, choose [sep_conv(3), sep_conv(5), dil_conv(3), skip]
  layers out: 128, stride: 1, repeat: 2, choose [sep_conv(3), sep_conv(5), dil_conv(3), max_pool(3), avg_pool(3), skip]
  head global_avg_pool linear(out: classes)
}

stage supernet = train(net) {
  sampler path_dropout(rate: 0.0 -> 0.5 linear) // drop rate grows over training
  epochs 100
  optimizer sgd(lr: 0.1, momentum: 0.9, wd: 1e-4)
  schedule cosine
}

stage search = random_search(supernet) {
  samples 20000
  objective val.accuracy
}

stage final = retrain(search.best) {
  epochs 300
  optimizer sgd(lr: 0.1, momentum: 0.9, wd: 1e-4)
  schedule cosine
}

stage report = evaluate(final, cifar.test)
