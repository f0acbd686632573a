// randomnas_es.nas - Random search with early stopping (Li & Talwalkar 2019): many random
// architectures are trained briefly from scratch, the best fraction is kept and trained longer
// (successive halving, hyperband-style), and the survivor is retrained.

dataset cifar = cifar10 {
  split train: 25000, val: 25000
  batch 64
  augment [random_crop(pad: 4), hflip]
}

space darts = cell(nodes: 4, inputs: 2) {
  ops [sep_conv(3), sep_conv(5), dil_conv(3), dil_conv(5), max_pool(3), avg_pool(3), skip, none]
  network cells: 8, channels: 16, reduce_at: [1/3, 2/3], input: [3, 32, 32], classes: 10
}

stage search = successive_halving(darts) {
  candidates 81
  eta 3
  min_epochs 1
  max_epochs 27
  optimizer sgd(lr: 0.025, momentum: 0.9, wd: 3e-4)
  schedule cosine
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
}

stage report = evaluate(final, cifar.test)
