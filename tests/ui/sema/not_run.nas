// Accepted by the grammar and the stage table, but not executed by `nasl run`: refused here, with the
// setting underlined and what runs instead.
dataset fmnist = fashion_mnist { split train: 1000, val: 500 }

space net = chain(input: [1, 28, 28], classes: 10) {
  stem conv(3, out: 8) bn relu
  layers out: 16, stride: 2, repeat: 2, choose [conv(3) bn relu, conv(5) bn relu]
  head global_avg_pool linear(out: classes)
}

stage supernet = train(net) { epochs 1 }

stage search = evolution(supernet) {
  population 8
  generations 2
  seeds [0, 1]
  penalty flops(weight: 0.1)
  objective test.accuracy
}

stage sh = successive_halving(net) { candidates 4 }

stage report = evaluate(sh.best, fmnist.test)
