// The pieces of MnasNet rounds, few-shot sub-supernets and an evolution's candidates: each child and
// each sub-supernet trains on its own, each candidate is scored on its own, so `--workers 2` spreads
// them out (tests/run/workers.rs checks it gives the files of one
// process).

dataset d = fashion_mnist {
  split train: 600, val: 300
  batch 50
}

space net = chain(input: [1, 28, 28], classes: 10) {
  stem conv(3, out: 8, stride: 2) bn relu
  layers out: 8, stride: 1, repeat: 2, choose [conv(3) bn relu, conv(5) bn relu, skip]
  layers out: [8, 16], stride: 2, repeat: 1, choose [conv(3) bn relu, conv(5) bn relu]
  head global_avg_pool linear(out: classes)
}

stage search = rl(net) {
  shared false
  samples 6
  proxy_epochs 1
  controller lstm(hidden: 16, lr: 0.01, algorithm: ppo)
  optimizer sgd(lr: 0.1, momentum: 0.9)
}

stage supernet = train(net) {
  sampler uniform
  epochs 1
  optimizer sgd(lr: 0.1, momentum: 0.9)
}

stage subnets = few_shot(supernet) {
  split_on 1
  finetune 1
  sampler uniform
  optimizer sgd(lr: 0.01, momentum: 0.9)
}

stage evo = evolution(subnets) {
  population 4
  generations 2
  keep 2
  mutate 2, p: 0.5
  crossover 1
  recalibrate bn(images: 100)
}
