// One-shot remedies on a small DARTS-style cell space, for the smoke and resume tests: strict
// fairness per edge with non-affine supernet norms, few-shot sub-supernets split on the first edge,
// a search over them, and a seeded `rank` of both supernets.

dataset d = synthetic {
  classes 10
  size 28
  split train: 400, val: 200
  batch 50
}

space cells = cell(nodes: 3, inputs: 2) {
  ops [relu_conv_bn(3), relu_conv_bn(1), avg_pool(3), skip, none]
  network cells: 3, channels: 8, reduce_at: [1/3, 2/3], input: [1, 28, 28], classes: 10
}

stage fair = train(cells) {
  sampler fair
  affine false
  epochs 2
  optimizer sgd(lr: 0.05, momentum: 0.9)
}

stage split = few_shot(fair) {
  split_on 1
  finetune 1
  sampler fair
  optimizer sgd(lr: 0.01, momentum: 0.9)
}

stage search = evolution(split) {
  population 4
  generations 2
  keep 2
  mutate 2, p: 0.3
  crossover 2
  recalibrate bn(images: 100)
}

stage ranking = rank(fair, split) {
  samples 4
  epochs 1
  seeds [0, 1]
  recalibrate bn(images: 100)
}
