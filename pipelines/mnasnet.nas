// mnasnet.nas - MnasNet (Tan et al., "MnasNet: Platform-Aware Neural Architecture Search for Mobile",
// CVPR 2019). An RL controller (PPO) over a factorised hierarchical chain space; each sampled arch is
// trained briefly from scratch (5-epoch proxy); reward = ACC(m) * (LAT(m) / T)^w with w = -0.07 and
// latency from a measured table. Expensive: nasl supports it with short proxy training.

dataset fmnist = fashion_mnist {
  split train: 50000, val: 10000
  batch 256
}

// Scaled to 28x28 inputs: two stride-2 stages (28 -> 14 -> 7) where the paper, at 224, has more.
space net = chain(input: [1, 28, 28], classes: 10) {
  stem conv(3, out: 32) bn relu
  layers out: 16, stride: 1, repeat: 1, mbconv(3, 1)
  layers out: [16, 24, 32], stride: 2, repeat: [1, 2, 3], choose [mbconv(3, 3), mbconv(5, 3), mbconv(3, 6), mbconv(5, 6), mbconv(3, 6, se), skip]
  layers out: [32, 40, 48], stride: 2, repeat: [1, 2, 3], choose [mbconv(3, 3), mbconv(5, 3), mbconv(3, 6), mbconv(5, 6), mbconv(3, 6, se), skip]
  layers out: [64, 80, 96], stride: 1, repeat: [1, 2, 3], choose [mbconv(3, 3), mbconv(5, 3), mbconv(3, 6), mbconv(5, 6), mbconv(3, 6, se), skip]
  layers out: [96, 112, 128], stride: 1, repeat: [1, 2, 3], choose [mbconv(3, 3), mbconv(5, 3), mbconv(3, 6), mbconv(5, 6), mbconv(3, 6, se), skip]
  head conv(1, out: 1280) bn relu global_avg_pool linear(out: classes)
}

stage search = rl(net) {
  shared false
  proxy_epochs 5
  samples 8000
  controller lstm(hidden: 100, lr: 3.5e-4, algorithm: ppo)
  reward mnas(target: 80ms, w: -0.07)
  latency lut("mnas_latency.json")
  optimizer sgd(lr: 0.1, momentum: 0.9, wd: 4e-5)
  schedule cosine
}

stage final = retrain(search.best) {
  epochs 100
  optimizer rmsprop(lr: 0.016, momentum: 0.9, wd: 1e-5)
  schedule exponential(0.97)
}

stage report = evaluate(final, fmnist.test)
