// cell_ranking.nas - how well do weight-sharing supernets rank the architectures of a small DARTS-style
// cell space, and how close do they come to the benchmark's own noise ceiling? Eight supernets of one
// space are ranked on the same 30 sampled architectures, each trained stand-alone for 3 epochs with
// two seeds: the `rank` stage reports Kendall tau and Spearman rho of every supernet against the
// stand-alone mean, the seed-to-seed agreement (the ceiling), and 95% bootstrap intervals over the
// architectures.
//
// Compute is matched in "path-epochs" (one epoch of one sampled path), about 10 per supernet:
// - `uniform`: uniform single path (SPOS), each edge's op drawn independently, 10 epochs;
// - `fair`: strict fairness per edge (FairNAS: the 5 ops of every edge each once per step, 5 paths
//   per step), 2 epochs;
// - `fewshot`: `uniform` split on the op of the first normal-cell edge into 5 sub-supernets, each
//   inheriting the parent's weights and fine-tuned 2 epochs (10 more path-epochs);
// - `live`: uniform over architectures without dead nodes (`sample_over live`), 10 epochs;
// - `classes`: uniform over isomorphism classes of cells, then a member of the class (`sample_over
//   classes`, the de-isomorphic sampling of Ning et al. 2021), 10 epochs;
// - `sandwich`: the sandwich rule (BigNAS: the largest, the smallest and 2 random paths per step),
//   3 epochs (12 path-epochs; the largest path is the costliest);
// - `sandwich_kd`: the same with in-place distillation from the largest path;
// - `combo`: `sample_over classes` with `affine false` (the best remedy of the earlier, smaller run).
// Scaled to a shared 2-core CPU: 3,000 training and 1,000 validation images.

dataset fmnist = fashion_mnist {
  split train: 3000, val: 1000
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

stage fair = train(cells) {
  sampler fair
  epochs 2
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

stage live = train(cells) {
  sampler uniform
  sample_over live
  epochs 10
  optimizer sgd(lr: 0.05, momentum: 0.9, wd: 3e-4)
  schedule cosine
}

stage classes = train(cells) {
  sampler uniform
  sample_over classes
  epochs 10
  optimizer sgd(lr: 0.05, momentum: 0.9, wd: 3e-4)
  schedule cosine
}

stage sandwich = train(cells) {
  sampler sandwich(random: 2)
  epochs 3
  optimizer sgd(lr: 0.05, momentum: 0.9, wd: 3e-4)
  schedule cosine
}

stage sandwich_kd = train(cells) {
  sampler sandwich(random: 2, distill: true)
  epochs 3
  optimizer sgd(lr: 0.05, momentum: 0.9, wd: 3e-4)
  schedule cosine
}

stage combo = train(cells) {
  sampler uniform
  sample_over classes
  affine false
  epochs 10
  optimizer sgd(lr: 0.05, momentum: 0.9, wd: 3e-4)
  schedule cosine
}

stage ranking = rank(uniform, fair, fewshot, live, classes, sandwich, sandwich_kd, combo) {
  samples 30
  epochs 3
  seeds [0, 1]
  optimizer sgd(lr: 0.05, momentum: 0.9, wd: 3e-4)
  schedule cosine
  recalibrate bn(images: 500)
}
