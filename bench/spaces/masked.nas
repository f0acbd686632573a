// masked.nas - the Fashion-MNIST space of the `masked` benchmark row (benches/nasl.rs): FBNetV2's
// channel search, four output-width options per stage (`relax masked_gumbel` masks one max-width
// network), one mbconv candidate per layer so that the row measures the masks alone.

space masked = chain(input: [1, 28, 28], classes: 10) {
  stem conv(3, out: 16, stride: 2) bn relu6
  layers out: [20, 24, 28, 32], stride: 1, repeat: 2, mbconv(3, 6)
  layers out: [32, 40, 48, 56], stride: 2, repeat: 2, mbconv(3, 6)
  layers out: [56, 64, 72, 80], stride: 2, repeat: 2, mbconv(3, 6)
  head conv(1, out: 256) bn relu6 global_avg_pool linear(out: classes)
}
