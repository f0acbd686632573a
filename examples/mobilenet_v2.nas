// mobilenet_v2.nas - torchvision MobileNetV2 1.0 (Sandler et al., CVPR 2018) as a fixed chain: no
// decisions, so it compiles to exactly one network. Inverted residual settings (t, c, n, s):
// (1,16,1,1) (6,24,2,2) (6,32,3,2) (6,64,4,2) (6,96,3,1) (6,160,3,2) (6,320,1,1).

dataset images = folder {
  path "." // point this at an ImageNet-style folder (one sub-folder per class)
  batch 256
  augment [random_crop(pad: 4), hflip]
}

space mobilenet_v2 = chain(input: [3, 224, 224], classes: 1000) {
  stem conv(3, out: 32, stride: 2) bn relu6
  layers out: 16, stride: 1, repeat: 1, mbconv(3, 1)
  layers out: 24, stride: 2, repeat: 2, mbconv(3, 6)
  layers out: 32, stride: 2, repeat: 3, mbconv(3, 6)
  layers out: 64, stride: 2, repeat: 4, mbconv(3, 6)
  layers out: 96, stride: 1, repeat: 3, mbconv(3, 6)
  layers out: 160, stride: 2, repeat: 3, mbconv(3, 6)
  layers out: 320, stride: 1, repeat: 1, mbconv(3, 6)
  head conv(1, out: 1280) bn relu6 global_avg_pool dropout(0.2) linear(out: classes)
}

stage train_it = train(mobilenet_v2) {
  epochs 150
  optimizer sgd(lr: 0.045, momentum: 0.9, wd: 4e-5)
  schedule exponential(0.98)
}

stage report = evaluate(train_it, images.test) // the folder's test/ (or val/) sub-folder
