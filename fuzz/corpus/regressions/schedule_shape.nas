// Issue 13: `step` as the shape of an `a -> b` schedule was accepted and silently read as linear.
dataset d = fashion_mnist { split train: 1000, val: 200 }
space net = chain(input: [1, 28, 28], classes: 10) {
  stem conv(3, out: 8) bn relu
  stage out: 8, stride: 2, repeat: 1, conv(3) bn relu
  head global_avg_pool linear(out: classes)
}
stage s = train(net) { epochs 1  optimizer sgd(lr: 0.1 -> 0.01 step) }
