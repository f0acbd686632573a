// randomnas_ws.nas - RandomNAS with weight sharing (Li & Talwalkar, "Random Search and Reproducibility
// for Neural Architecture Search", 2019). Supernet training samples one uniform random architecture per
// minibatch and backpropagates only through its ops; then N random archs are scored with the shared
// weights on validation data; the best is retrained. DARTS cell space on CIFAR-10 format.

dataset cifar = cifar10 {
  split train: 25000, val: 25000 // half of the train set for search, as in DARTS
  batch 64
  augment [random_crop(pad: 4), hflip]
}

space darts = cell(nodes: 4, inputs: 2) {
  ops [sep_conv(3), sep_conv(5), dil_conv(3), dil_conv(5), max_pool(3), avg_pool(3), skip, none]
  network cells: 8, channels: 16, reduce_at: [1/3, 2/3], input: [3, 32, 32], classes: 10
}

stage supernet = train(darts) {
  sampler uniform
  epochs 50
  optimizer sgd(lr: 0.025, momentum: 0.9, wd: 3e-4)
  schedule cosine
  grad_clip 5
}

stage search = random_search(supernet) {
  samples 1000
  objective val.accuracy
}

stage final = retrain(search.best) {
  epochs 600
  batch 96
  optimizer sgd(lr: 0.025, momentum: 0.9, wd: 3e-4)
  schedule cosine
  cutout 16
  drop_path 0 -> 0.2 linear // DARTS's ramp
  auxiliary 0.4 // DARTS's auxiliary head and loss weight
  seeds [0, 1, 2, 3]
}

stage report = evaluate(final, cifar.test)
