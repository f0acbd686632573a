// Cell-space sampling rules on a small DARTS-style cell space, for the smoke and resume tests:
// uniform paths without dead nodes (`sample_over live`), uniform over isomorphism classes
// (`sample_over classes`), the sandwich rule with in-place distillation, few-shot parts trained
// with the sandwich rule, and a seeded `rank` of them all.

dataset d = synthetic {
  classes 10
  size 28
  split train: 400, val: 200
  batch 50
}

space cells = cell(nodes: 2, inputs: 2) {
  ops [relu_conv_bn(3), avg_pool(3), skip, none]
  network cells: 3, channels: 8, reduce_at: [1/3, 2/3], input: [1, 28, 28], classes: 10
}

stage live = train(cells) {
  sample_over live
  epochs 2
  optimizer sgd(lr: 0.05, momentum: 0.9)
}

stage classes = train(cells) {
  sample_over classes
  affine false
  epochs 1
  optimizer sgd(lr: 0.05, momentum: 0.9)
}

stage sandwich = train(cells) {
  sampler sandwich(random: 1, distill: true)
  sample_over classes
  epochs 1
  optimizer sgd(lr: 0.05, momentum: 0.9)
}

stage split = few_shot(sandwich) {
  split_on 1
  finetune 1
  sampler sandwich(random: 1)
  sample_over live
  optimizer sgd(lr: 0.01, momentum: 0.9)
}

stage ranking = rank(live, classes, sandwich, split) {
  samples 3
  epochs 1
  seeds [0, 1]
  recalibrate bn(images: 100)
}
