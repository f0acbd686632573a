dataset d = mnist { split train: 50000, val: 10000 }
space s = chain(input: [1, 28, 28], classes: 10) {
  stem conv(3, out: 8) bn relu
  layers out: 16, stride: 2, repeat: 2, choose [conv(3) bn relu, skip]
  head global_avg_pool linear(out: classes)
}
stage t = train(s) { sampler uniform; epochs 1; optimizer sgd(lr: 0.1) }
stage e = evolution(tt) { population 10 }
stage r = retrain(e.best) { epochs 1; optimizer sgd(lr: 0.1) }
stage ev = evaluate(r, d.test)
