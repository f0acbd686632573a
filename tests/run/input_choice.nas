// ENAS's input choice (`node_inputs 2`) under single-path one-shot NAS: a uniform supernet (SPOS),
// few-shot sub-supernets split on the first input decision, an evolutionary search over them, a
// seeded `rank`, and the best architecture retrained stand-alone with drop-path and an auxiliary
// head; MnasNet-mode `rl` children and SMASH's generated weights on the same space.

dataset d = synthetic {
  classes 10
  size 28
  split train: 400, val: 200
  batch 50
}

space cells = cell(nodes: 3, inputs: 2) {
  ops [sep_conv(3), avg_pool(3), max_pool(3), skip]
  node_inputs 2
  network cells: 3, channels: 8, reduce_at: [1/3, 2/3], input: [1, 28, 28], classes: 10
}

stage sup = train(cells) {
  sampler uniform
  epochs 1
  optimizer sgd(lr: 0.05, momentum: 0.9)
}

stage split = few_shot(sup) {
  split_on 1
  finetune 1
  optimizer sgd(lr: 0.01, momentum: 0.9)
}

stage search = evolution(split) {
  population 4
  generations 2
  keep 2
  mutate 2, p: 0.3
  crossover 2
}

stage ranking = rank(sup) {
  samples 4
  epochs 1
  seeds [0]
}

stage mnas = rl(cells) {
  shared false
  samples 4
  proxy_epochs 1
  optimizer sgd(lr: 0.05, momentum: 0.9)
}

stage smash = hypernet(cells) {
  epochs 1
  samples 4
}

stage final = retrain(search.best) {
  epochs 1
  drop_path 0.2
  auxiliary 0.4
  optimizer sgd(lr: 0.05, momentum: 0.9)
}

stage test = evaluate(final, d.test)
