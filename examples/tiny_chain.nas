// tiny_chain.nas - a tiny chain space with channel and depth choices on MNIST, trained with the
// constrained-uniform sampler of SPOS and searched by random search under a params budget.

dataset digits = mnist {
  split train: 55000, val: 5000
  batch 128
}

block dws(k) = dw_conv(k) bn relu conv(1) bn relu

space tiny = chain(input: [1, 28, 28], classes: 10) {
  stem conv(3, out: 8) bn relu
  layers out: [8, 16], stride: 2, repeat: 1..2, choose [dws(3), dws(5), skip]
  layers out: [16, 32], stride: 2, repeat: 1..2, choose [dws(3), dws(5), skip]
  head global_avg_pool linear(out: classes)
}

stage supernet = train(tiny) {
  sampler constrained(params: 1K..20K)
  epochs 2
  optimizer adam(lr: 1e-3)
  schedule cosine
}

stage search = random_search(supernet) {
  samples 100
  constraint params <= 3K
  recalibrate bn(images: 1000)
  objective val.accuracy
}

stage final = retrain(search.best) {
  epochs 3
  optimizer adam(lr: 1e-3)
  schedule cosine
  seeds 0..2
}

stage report = evaluate(final, digits.test)
