// Issue 13: a 3x32x32 space over Fashion-MNIST panicked in Conv::fwd at run time.
dataset d = fashion_mnist { split train: 1000, val: 200 }
space net = chain(input: [3, 32, 32], classes: 10) {
  stem conv(3, out: 8) bn relu
  stage out: 8, stride: 2, repeat: 1, choose [conv(3) bn relu, skip]
  head global_avg_pool linear(out: classes)
}
stage s = train(net) { epochs 1 }
