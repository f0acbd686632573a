// chain.nas - the Fashion-MNIST chain space of benchmark rows 1, 2, 4 and 5 (bench/run.py): the
// quickstart's space (pipelines/quickstart.nas), 4 layers choosing among conv3, conv5 and skip.

space chain = chain(input: [1, 28, 28], classes: 10) {
  stem conv(3, out: 32, stride: 2) bn relu
  layers out: 32, stride: 1, repeat: 2, choose [conv(3) bn relu, conv(5) bn relu, skip]
  layers out: 64, stride: 2, repeat: 2, choose [conv(3) bn relu, conv(5) bn relu, skip]
  head conv(1, out: 256) bn relu global_avg_pool linear(out: classes)
}
