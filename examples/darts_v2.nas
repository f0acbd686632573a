// darts_v2.nas - the DARTS V2 genotype (Liu et al., ICLR 2019, second-order search on CIFAR-10) as a
// fixed network, retrained with the paper's evaluation settings: 20 cells, 36 channels, 600 epochs,
// cutout 16, drop-path 0.2 (ramped up from 0 as DARTS does), auxiliary head weighted 0.4. Edges are `(op, from)`; nodes 0 and 1 are the cell
// inputs, intermediate nodes are 2..5 and all of them are concatenated.

dataset cifar = cifar10 {
  split train: 50000, val: 0
  batch 96
  augment [random_crop(pad: 4), hflip, cutout(16)]
}

space darts_v2 = genotype(inputs: 2) {
  normal {
    node (sep_conv(3), 0), (sep_conv(3), 1)
    node (sep_conv(3), 0), (sep_conv(3), 1)
    node (sep_conv(3), 1), (skip, 0)
    node (skip, 0), (dil_conv(3), 2)
    concat [2, 3, 4, 5]
  }
  reduce {
    node (max_pool(3), 0), (max_pool(3), 1)
    node (skip, 2), (max_pool(3), 1)
    node (max_pool(3), 0), (skip, 2)
    node (skip, 2), (max_pool(3), 1)
    concat [2, 3, 4, 5]
  }
  network cells: 20, channels: 36, reduce_at: [1/3, 2/3], input: [3, 32, 32], classes: 10
}

stage final = retrain(darts_v2) {
  epochs 600
  optimizer sgd(lr: 0.025, momentum: 0.9, wd: 3e-4)
  schedule cosine
  drop_path 0 -> 0.2 linear
  auxiliary 0.4
  grad_clip 5
}

stage report = evaluate(final, cifar.test)
