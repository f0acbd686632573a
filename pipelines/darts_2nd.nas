// darts_2nd.nas - DARTS, second order (Liu et al., ICLR 2019), on CIFAR-10 (give the folder with
// `--data cifar=PATH`), scaled to a CPU. The architecture gradient follows one unrolled weight step,
// w' = w - xi (grad_w L_train + wd w) with xi the current weight rate, and subtracts
// xi * Hessian-vector product, computed by central differences with eps = 0.01 / |grad_w' L_val|.
// Paper: 8 cells, 16 channels, 50 epochs, batch 64 (second order is about 2.5x slower per step than
// first order). Here: 5 cells, 8 channels, 4 epochs on 10,000 images; the paper's optimizers.

dataset cifar = cifar10 {
  split train: 10000, val: 5000
  batch 64
  augment [random_crop(pad: 4), hflip]
}

space darts = cell(nodes: 4, inputs: 2) {
  ops [sep_conv(3), sep_conv(5), dil_conv(3), dil_conv(5), max_pool(3), avg_pool(3), skip, none]
  network cells: 5, channels: 8, reduce_at: [1/3, 2/3], input: [3, 32, 32], classes: 10
}

stage search = differentiable(darts) {
  relax softmax
  level bilevel(order: 2, split: 0.5)
  epochs 4
  weights sgd(lr: 0.025, momentum: 0.9, wd: 3e-4)
  schedule cosine(min: 0.001)
  arch adam(lr: 3e-4, betas: (0.5, 0.999), wd: 1e-3)
  derive top_k_edges(2)
  grad_clip 5
}

stage final = retrain(search.best) {
  // The papers' protocol: the derived cells in a larger network (paper: 20 cells x 36 channels from an
  // 8 x 16 search; here 8 x 16 from 5 x 8), with drop-path ramped up over training (paper: 0.2) and the
  // auxiliary head on the cell at 2/3 of the depth, its loss weighted 0.4 (the paper's).
  network cells: 8, channels: 16
  drop_path 0 -> 0.2 linear
  auxiliary 0.4
  epochs 10
  batch 96
  optimizer sgd(lr: 0.025, momentum: 0.9, wd: 3e-4)
  schedule cosine
  cutout 16
  grad_clip 5
}

stage report = evaluate(final, cifar.test)
