// enas.nas - ENAS (Pham et al., "Efficient Neural Architecture Search via Parameter Sharing", ICML
// 2018). An LSTM controller samples an architecture (per node: which previous nodes, which op); shared
// weights are trained with one sampled arch per minibatch for a full pass over the train split; then
// the controller is trained with REINFORCE (reward = validation accuracy on a minibatch, moving-average
// baseline, entropy bonus) for ~2000 steps; alternate. Derive: sample archs, score them on a
// validation minibatch, retrain the best. ENAS micro search space (5 ops) on CIFAR-10 format.

dataset cifar = cifar10 {
  split train: 45000, val: 5000
  batch 128
  augment [random_crop(pad: 4), hflip]
}

// Each of the 5 nodes reads 2 earlier nodes the controller picks (either cell input or an earlier
// node; both may be the same, as in ENAS), each through its own op; the cell outputs its loose ends.
space micro = cell(nodes: 5, inputs: 2) {
  ops [sep_conv(3), sep_conv(5), avg_pool(3), max_pool(3), skip]
  node_inputs 2
  network cells: 8, channels: 20, reduce_at: [1/3, 2/3], input: [3, 32, 32], classes: 10
}

stage search = rl(micro) {
  shared true
  epochs 150
  weights sgd(lr: 0.05, momentum: 0.9, nesterov, wd: 1e-4)
  schedule cosine(min: 0.0005)
  controller lstm(hidden: 100, lr: 3.5e-4, entropy: 1e-4, baseline: 0.99, tanh: 2.5, temperature: 5.0)
  reward accuracy
  steps 2000
  derive sample(100)
}

stage final = retrain(search.best) {
  epochs 630
  optimizer sgd(lr: 0.05, momentum: 0.9, nesterov, wd: 1e-4)
  schedule cosine
  cutout 16
  auxiliary 0.4
}

stage report = evaluate(final, cifar.test)
