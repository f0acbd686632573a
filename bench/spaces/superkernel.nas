// superkernel.nas - the Fashion-MNIST space of the `superkernel` benchmark row (benches/nasl.rs):
// Single-Path NAS' layers, mbconv with kernel 3 or 5 and expansion 3 or 6, one superkernel each.

space superkernel = chain(input: [1, 28, 28], classes: 10) {
  stem conv(3, out: 16, stride: 2) bn relu6
  layers out: 24, stride: 1, repeat: 2, mbconv(kernel: [3, 5], expand: [3, 6])
  layers out: 40, stride: 2, repeat: 2, mbconv(kernel: [3, 5], expand: [3, 6])
  layers out: 80, stride: 2, repeat: 2, mbconv(kernel: [3, 5], expand: [3, 6])
  head conv(1, out: 256) bn relu6 global_avg_pool linear(out: classes)
}
