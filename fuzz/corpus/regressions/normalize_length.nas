// Issue 13: a normalize list of the wrong length panicked when batches were prepared.
dataset d = fashion_mnist { split train: 1000, val: 200  normalize ([0.5, 0.5, 0.5], [0.2, 0.2]) }
space net = chain(input: [1, 28, 28], classes: 10) {
  stem conv(3, out: 8) bn relu
  stage out: 8, stride: 2, repeat: 1, choose [conv(3) bn relu, skip]
  head global_avg_pool linear(out: classes)
}
stage s = train(net) { epochs 1 }
