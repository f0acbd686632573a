// A CIFAR-shaped space over Fashion-MNIST (1x28x28, 10 classes): found by `nasl check`, pointing at both
// declarations, instead of a crash inside the first convolution at run time.
dataset fmnist = fashion_mnist { split train: 1000, val: 500 }

space net = chain(input: [3, 32, 32], classes: 100) {
  stem conv(3, out: 8) bn relu
  layers out: 16, stride: 2, repeat: 1, conv(3) bn relu
  head global_avg_pool linear(out: classes)
}

stage final = train(net) { epochs 1 }
