// darts_1st.nas - DARTS, first order (Liu et al., "DARTS: Differentiable Architecture Search", ICLR
// 2019), scaled to a CPU and Fashion-MNIST. DAG cell: 2 inputs, 4 intermediate nodes, the paper's 8
// candidate ops on every edge; continuous relaxation (softmax over ops, every op runs); bi-level: the
// weights learn on one half of the training split, the alphas on the other, alternating; first order
// ignores the inner update. Paper (CIFAR-10): 8 cells, 16 channels, 50 epochs, batch 64, SGD 0.025
// cosine to 0.001, momentum 0.9, wd 3e-4, grad clip 5; Adam 3e-4, betas (0.5, 0.999), wd 1e-3 for
// the alphas. Here: 5 cells, 8 channels, 6 epochs on 10,000 images. Derive: per node the 2 strongest
// incoming edges, each with its strongest non-none op. Evaluation (paper: 20 cells, 36 channels, 600
// epochs, cutout, drop-path, auxiliary head): the derived cells retrained from scratch in a larger
// network (8 cells, 16 channels here), with cutout, drop-path and the auxiliary head.

dataset fmnist = fashion_mnist {
  split train: 10000, val: 5000
  batch 64
}

space darts = cell(nodes: 4, inputs: 2) {
  ops [sep_conv(3), sep_conv(5), dil_conv(3), dil_conv(5), max_pool(3), avg_pool(3), skip, none]
  network cells: 5, channels: 8, reduce_at: [1/3, 2/3], input: [1, 28, 28], classes: 10
}

stage search = differentiable(darts) {
  relax softmax
  level bilevel(order: 1, split: 0.5)
  epochs 6
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
  cutout 8
  grad_clip 5
  seeds [0, 1]
}

stage report = evaluate(final, fmnist.test)
