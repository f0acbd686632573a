// cell_ranking.nas - how well do weight-sharing supernets rank the architectures of a small DARTS-style
// cell space, and how close do they come to the benchmark's own noise ceiling? Six supernets of one
// space are ranked on the same 24 sampled architectures, each trained stand-alone with two seeds: the
// `rank` stage reports Kendall tau and Spearman rho of every supernet against the stand-alone mean,
// the seed-to-seed agreement (the ceiling), and 95% bootstrap intervals over the architectures.
//
// Compute is matched in "path-epochs" (one epoch of one sampled path): uniform single path 10 epochs;
// strict fairness (FairNAS, per edge: the 5 ops of every edge each trained once per step, 5 paths
// per step) 2 epochs, so every op gets the same number of updates as under uniform sampling; few-shot
// (split on the operation of the first edge of the normal cell: 5 sub-supernets, each inheriting the
// parent's weights) 10 more path-epochs, against `uniform_long`, the same 20 path-epochs without the
// split. Scaled to a shared 2-core CPU: 2,000 training and 1,000 validation images, 2 stand-alone
// epochs.

dataset fmnist = fashion_mnist {
  split train: 2000, val: 1000
  batch 32
}

space cells = cell(nodes: 3, inputs: 2) {
  ops [relu_conv_bn(3), relu_conv_bn(1), avg_pool(3), skip, none]
  network cells: 3, channels: 8, reduce_at: [1/3, 2/3], input: [1, 28, 28], classes: 10
}

stage uniform = train(cells) {
  sampler uniform
  epochs 10
  optimizer sgd(lr: 0.05, momentum: 0.9, wd: 3e-4)
  schedule cosine
}

stage uniform_long = train(cells) {
  sampler uniform
  epochs 20
  optimizer sgd(lr: 0.05, momentum: 0.9, wd: 3e-4)
  schedule cosine
}

stage fair = train(cells) {
  sampler fair
  epochs 2
  optimizer sgd(lr: 0.05, momentum: 0.9, wd: 3e-4)
  schedule cosine
}

stage uniform_noaffine = train(cells) {
  sampler uniform
  affine false
  epochs 10
  optimizer sgd(lr: 0.05, momentum: 0.9, wd: 3e-4)
  schedule cosine
}

stage fewshot = few_shot(uniform) {
  split_on 1
  finetune 2
  sampler uniform
  optimizer sgd(lr: 0.01, momentum: 0.9, wd: 3e-4)
  schedule cosine
}

stage fair_noaffine = train(cells) {
  sampler fair
  affine false
  epochs 2
  optimizer sgd(lr: 0.05, momentum: 0.9, wd: 3e-4)
  schedule cosine
}

stage combo = few_shot(fair_noaffine) {
  split_on 1
  finetune 2
  sampler uniform
  optimizer sgd(lr: 0.01, momentum: 0.9, wd: 3e-4)
  schedule cosine
}

stage ranking = rank(uniform, fair, uniform_noaffine, uniform_long, fewshot, combo) {
  samples 24
  epochs 2
  seeds [0, 1]
  optimizer sgd(lr: 0.05, momentum: 0.9, wd: 3e-4)
  schedule cosine
  recalibrate bn(images: 500)
}
