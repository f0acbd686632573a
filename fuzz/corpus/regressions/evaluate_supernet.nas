// Issue 13: evaluate(search.best) and evaluate(supernet) passed check and failed after the earlier
// stages had run; the first now runs on the supernet's weights, the second is refused by check.
dataset d = fashion_mnist { split train: 1000, val: 200 }
space net = chain(input: [1, 28, 28], classes: 10) {
  stem conv(3, out: 8) bn relu
  stage out: 8, stride: 2, repeat: 1, choose [conv(3) bn relu, skip]
  head global_avg_pool linear(out: classes)
}
stage sup = train(net) { epochs 1 }
stage search = evolution(sup) { population 4  generations 2 }
stage report = evaluate(sup, d.test)
