//! Dataset readers: real facts of the real Fashion-MNIST files, round trips of files written here, and
//! clear errors for missing, corrupt and truncated files.

use std::path::Path;

use nasl::data::{
    self, Cifar, CifarVariant, DataError, DatasetSource, Idx, IdxDataset, ImageFolder, RawImages,
    Synthetic, write_idx_images, write_idx_labels,
};

fn small_images(n: usize, c: usize, h: usize, w: usize, classes: u16) -> RawImages {
    RawImages {
        channels: c,
        height: h,
        width: w,
        pixels: (0..n * c * h * w).map(|i| (i * 7 % 251) as u8).collect(),
        labels: (0..n).map(|i| (i as u16 * 3) % classes).collect(),
    }
}

fn write_idx_dir(dir: &Path, train: &RawImages, test: &RawImages, gz: bool) {
    let ext = if gz { ".gz" } else { "" };
    write_idx_images(&dir.join(format!("train-images-idx3-ubyte{ext}")), train).unwrap();
    write_idx_labels(
        &dir.join(format!("train-labels-idx1-ubyte{ext}")),
        &train.labels,
    )
    .unwrap();
    write_idx_images(&dir.join(format!("t10k-images-idx3-ubyte{ext}")), test).unwrap();
    write_idx_labels(
        &dir.join(format!("t10k-labels-idx1-ubyte{ext}")),
        &test.labels,
    )
    .unwrap();
}

#[test]
fn fashion_mnist_is_the_real_dataset() {
    // The test script installs Debian's dataset-fashion-mnist; without it this must fail, not skip.
    let ds = data::open("fashion_mnist", None)
        .unwrap()
        .load()
        .expect("Fashion-MNIST installed by scripts/test.sh");
    assert_eq!((ds.train.len(), ds.test.len()), (60_000, 10_000));
    assert_eq!(
        (ds.train.channels, ds.train.height, ds.train.width),
        (1, 28, 28)
    );
    assert_eq!(ds.train.pixels.len(), 60_000 * 28 * 28);
    assert_eq!(ds.train.class_counts(10), vec![6_000; 10]);
    assert_eq!(ds.test.class_counts(10), vec![1_000; 10]);
    assert_eq!(ds.classes[9], "Ankle boot");
    // The published training-set statistics of Fashion-MNIST.
    let (mean, std) = ds.train.channel_stats()[0];
    assert!(
        (mean - 0.2860).abs() < 1e-3 && (std - 0.3530).abs() < 1e-3,
        "{mean} {std}"
    );
}

#[test]
fn idx_round_trips_plain_and_gzipped() {
    for gz in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let train = small_images(12, 1, 5, 4, 10);
        let test = small_images(3, 1, 5, 4, 10);
        write_idx_dir(dir.path(), &train, &test, gz);
        let ds = Idx::new(IdxDataset::Mnist, dir.path()).load().unwrap();
        assert_eq!(ds.train, train, "gz={gz}");
        assert_eq!(ds.test, test, "gz={gz}");
        assert_eq!(ds.classes.len(), 10);
    }
}

#[test]
fn cifar10_and_cifar100_round_trip() {
    for variant in [CifarVariant::Cifar10, CifarVariant::Cifar100] {
        let dir = tempfile::tempdir().unwrap();
        let inner = dir.path().join(match variant {
            CifarVariant::Cifar10 => "cifar-10-batches-bin",
            CifarVariant::Cifar100 => "cifar-100-binary",
        });
        std::fs::create_dir(&inner).unwrap();
        let classes = if variant == CifarVariant::Cifar10 {
            10
        } else {
            100
        };
        let batches: Vec<RawImages> = (0..5)
            .map(|i| small_images(2 + i, 3, 32, 32, classes))
            .collect();
        let test = small_images(4, 3, 32, 32, classes);
        match variant {
            CifarVariant::Cifar10 => {
                for (i, b) in batches.iter().enumerate() {
                    Cifar::write_batch(
                        variant,
                        &inner.join(format!("data_batch_{}.bin", i + 1)),
                        b,
                    )
                    .unwrap();
                }
                Cifar::write_batch(variant, &inner.join("test_batch.bin"), &test).unwrap();
            }
            CifarVariant::Cifar100 => {
                let mut all = RawImages::empty(3, 32, 32);
                for b in &batches {
                    all.pixels.extend_from_slice(&b.pixels);
                    all.labels.extend_from_slice(&b.labels);
                }
                Cifar::write_batch(variant, &inner.join("train.bin"), &all).unwrap();
                Cifar::write_batch(variant, &inner.join("test.bin"), &test).unwrap();
            }
        }
        // Both the extracted folder and its parent are accepted.
        for root in [dir.path(), inner.as_path()] {
            let ds = Cifar::new(variant, root).load().unwrap();
            assert_eq!(ds.train.len(), 2 + 3 + 4 + 5 + 6);
            assert_eq!(ds.train.image(0), batches[0].image(0));
            assert_eq!(ds.train.labels[2..5], batches[1].labels[..]);
            assert_eq!(ds.test, test);
            assert_eq!(ds.classes.len(), classes as usize);
        }
    }
}

#[test]
fn image_folder_reads_classes_and_splits() {
    let dir = tempfile::tempdir().unwrap();
    for (split, n) in [("train", 3u8), ("test", 1u8)] {
        for class in ["cat", "dog"] {
            let d = dir.path().join(split).join(class);
            std::fs::create_dir_all(&d).unwrap();
            for i in 0..n {
                let v = if class == "cat" { 10 * i } else { 200 };
                let img = image::GrayImage::from_pixel(6, 5, image::Luma([v]));
                img.save(d.join(format!("{i}.png"))).unwrap();
            }
        }
    }
    let ds = ImageFolder::new(dir.path()).load().unwrap();
    assert_eq!(ds.classes, vec!["cat", "dog"]);
    assert_eq!((ds.train.len(), ds.test.len()), (6, 2));
    assert_eq!(
        (ds.train.channels, ds.train.height, ds.train.width),
        (1, 5, 6)
    );
    assert_eq!(ds.train.labels, vec![0, 0, 0, 1, 1, 1]);
    assert_eq!(ds.train.image(1)[0], 10);
    assert_eq!(ds.train.image(3)[0], 200);
    // A colour image makes the whole set RGB, and sizes are unified.
    let rgb = image::RgbImage::from_pixel(12, 10, image::Rgb([255, 0, 0]));
    rgb.save(dir.path().join("train/dog/red.png")).unwrap();
    let ds = ImageFolder::new(dir.path()).load().unwrap();
    assert_eq!(
        (ds.train.channels, ds.train.height, ds.train.width),
        (3, 5, 6)
    );
    let red = ds.train.image(6);
    assert_eq!((red[0], red[30], red[60]), (255, 0, 0));
}

#[test]
fn synthetic_is_reproducible_and_balanced() {
    let s = Synthetic {
        train: 100,
        test: 20,
        ..Synthetic::default()
    };
    let a = s.load().unwrap();
    assert_eq!(a, s.load().unwrap());
    assert_eq!(a.train.class_counts(10), vec![10; 10]);
    let other = Synthetic { seed: 1, ..s }.load().unwrap();
    assert_ne!(a.train.pixels, other.train.pixels);
}

#[test]
fn corrupt_idx_header_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    write_idx_dir(
        dir.path(),
        &small_images(4, 1, 3, 3, 10),
        &small_images(2, 1, 3, 3, 10),
        false,
    );
    let bad = dir.path().join("train-images-idx3-ubyte");
    let mut bytes = std::fs::read(&bad).unwrap();
    bytes[0] = 0x12;
    std::fs::write(&bad, &bytes).unwrap();
    let err = Idx::new(IdxDataset::FashionMnist, dir.path())
        .load()
        .unwrap_err();
    assert!(
        matches!(&err, DataError::Corrupt { path, .. } if *path == bad),
        "{err:?}"
    );
    assert!(err.to_string().contains("magic"), "{err}");
    // A label count that disagrees with the image count is caught too.
    bytes[0] = 0;
    std::fs::write(&bad, &bytes).unwrap();
    write_idx_labels(&dir.path().join("train-labels-idx1-ubyte"), &[1, 2, 3]).unwrap();
    let err = Idx::new(IdxDataset::FashionMnist, dir.path())
        .load()
        .unwrap_err();
    assert!(matches!(err, DataError::Corrupt { .. }), "{err:?}");
}

#[test]
fn truncated_files_say_how_much_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    write_idx_dir(
        dir.path(),
        &small_images(4, 1, 3, 3, 10),
        &small_images(2, 1, 3, 3, 10),
        false,
    );
    let file = dir.path().join("t10k-images-idx3-ubyte");
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() - 5]).unwrap();
    match Idx::new(IdxDataset::Mnist, dir.path()).load().unwrap_err() {
        DataError::Truncated {
            path,
            expected,
            found,
        } => {
            assert_eq!(path, file);
            assert_eq!(
                (expected, found),
                (bytes.len() as u64, bytes.len() as u64 - 5)
            );
        }
        other => panic!("expected Truncated, got {other:?}"),
    }
    // A CIFAR batch cut mid-record.
    let cdir = tempfile::tempdir().unwrap();
    std::fs::write(cdir.path().join("data_batch_1.bin"), vec![0u8; 3073 + 100]).unwrap();
    let err = Cifar::new(CifarVariant::Cifar10, cdir.path())
        .load()
        .unwrap_err();
    assert!(
        matches!(
            err,
            DataError::Truncated {
                found: 3173,
                expected: 6146,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn missing_directory_and_files_give_the_fix() {
    let err = data::open("fashion_mnist", Some(Path::new("/no/such/dir")))
        .unwrap()
        .load()
        .unwrap_err();
    assert!(matches!(&err, DataError::Missing { path, .. } if path == Path::new("/no/such/dir")));
    let diag: &dyn miette::Diagnostic = &err;
    assert_eq!(diag.code().unwrap().to_string(), "nasl::data::missing");
    assert!(diag.help().is_some());
    // An existing folder without the files names the first file it needs.
    let dir = tempfile::tempdir().unwrap();
    let err = Idx::new(IdxDataset::Mnist, dir.path()).load().unwrap_err();
    assert!(err.to_string().contains("train-images-idx3-ubyte"), "{err}");
    // The Debian location's error tells how to install the package.
    let err = DataError::Missing {
        path: data::DEBIAN_FASHION_MNIST.into(),
        what: "folder".into(),
    };
    let help = (&err as &dyn miette::Diagnostic)
        .help()
        .unwrap()
        .to_string();
    assert!(
        help.contains("apt-get install dataset-fashion-mnist"),
        "{help}"
    );
    // Unknown names and datasets without a default location.
    assert!(matches!(
        data::open("imagenet", None).err().unwrap(),
        DataError::UnknownDataset { .. }
    ));
    let empty = tempfile::tempdir().unwrap();
    assert!(matches!(
        ImageFolder::new(empty.path()).load().unwrap_err(),
        DataError::Empty { .. }
    ));
}
