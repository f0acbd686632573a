//! Tensor side of the datasets (libtorch): splits, batching, seeded shuffling, normalisation and the
//! augmentations, each checked against what it must do to known pixels.
#![cfg(feature = "torch")]

use nasl::data::loader::{Augment, Loader, Normalize, TensorSet, split};
use nasl::data::{Dataset, DatasetSource, RawImages, Synthetic};
use tch::{Device, Kind, Tensor};

fn synthetic(train: usize) -> Dataset {
    Synthetic {
        train,
        test: 10,
        ..Synthetic::default()
    }
    .load()
    .unwrap()
}

fn ramp(n: usize, h: usize, w: usize) -> TensorSet {
    // Image i has pixel value i everywhere but a marker column: x = 0 is 255.
    let mut raw = RawImages::empty(1, h, w);
    for i in 0..n {
        for _y in 0..h {
            raw.pixels.push(255);
            raw.pixels.extend(std::iter::repeat_n(i as u8, w - 1));
        }
        raw.labels.push(i as u16);
    }
    TensorSet::from_raw(&raw)
}

fn loader(batch: usize, augment: Vec<Augment>) -> Loader {
    Loader {
        batch,
        shuffle: true,
        drop_last: false,
        augment,
        normalize: Normalize::identity(1),
        device: Device::Cpu,
        seed: 7,
    }
}

#[test]
fn splits_are_disjoint_sized_and_seeded() {
    let ds = synthetic(200);
    let s = split(&ds, 150, 50, 3).unwrap();
    assert_eq!((s.train.len(), s.val.len(), s.test.len()), (150, 50, 10));
    // Disjoint: together they are every training image exactly once (each image is unique here).
    let key = |t: &TensorSet| -> Vec<Vec<u8>> {
        let flat = t.images.view([t.len() as i64, -1]);
        (0..t.len() as i64)
            .map(|i| Vec::<u8>::try_from(flat.get(i)).unwrap())
            .collect()
    };
    let mut all: Vec<_> = key(&s.train).into_iter().chain(key(&s.val)).collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 200);
    let again = split(&ds, 150, 50, 3).unwrap();
    assert!(again.val.images.equal(&s.val.images));
    let other = split(&ds, 150, 50, 4).unwrap();
    assert!(!other.val.images.equal(&s.val.images));
    let err = split(&ds, 150, 51, 3).unwrap_err();
    assert_eq!(err.available, 200);
}

#[test]
fn batches_cover_an_epoch_once_and_replay_exactly() {
    let set = ramp(10, 4, 4);
    let l = loader(3, vec![]);
    let batches: Vec<(Tensor, Tensor)> = l.epoch(&set, 0).collect();
    assert_eq!(batches.len(), 4);
    assert_eq!(batches[3].1.size(), vec![1]);
    let mut seen: Vec<i64> = batches
        .iter()
        .flat_map(|(_, y)| Vec::<i64>::try_from(y).unwrap())
        .collect();
    let order = seen.clone();
    seen.sort();
    assert_eq!(seen, (0..10).collect::<Vec<_>>());
    assert_ne!(order, seen, "shuffled");
    // Images travel with their labels: image i is filled with i / 255.
    for (x, y) in &batches {
        let centre = x.select(3, 1).select(2, 0).select(1, 0) * 255.0;
        assert!(centre.round().to_kind(Kind::Int64).equal(y));
    }
    // Same epoch replays identically; resuming at batch 2 yields batches 2.. of the same epoch.
    let replay: Vec<(Tensor, Tensor)> = l.epoch(&set, 0).start_at(2).collect();
    assert_eq!(replay.len(), 2);
    assert!(replay[0].1.equal(&batches[2].1) && replay[0].0.equal(&batches[2].0));
    let next: Vec<i64> = l
        .epoch(&set, 1)
        .flat_map(|(_, y)| Vec::<i64>::try_from(&y).unwrap())
        .collect();
    assert_ne!(next, order, "a new epoch reshuffles");
    let dropped = Loader {
        drop_last: true,
        ..l
    };
    assert_eq!(dropped.epoch(&set, 0).count(), 3);
}

#[test]
fn normalisation_uses_the_given_statistics() {
    let set = ramp(4, 2, 2);
    let l = Loader {
        normalize: Normalize {
            mean: vec![0.5],
            std: vec![0.25],
        },
        shuffle: false,
        ..loader(4, vec![])
    };
    let (x, _) = l.epoch(&set, 0).next().unwrap();
    let expect = (Tensor::from(255.0f32) / 255.0 - 0.5) / 0.25;
    assert!(
        x.get(0)
            .get(0)
            .get(0)
            .get(0)
            .allclose(&expect, 1e-6, 1e-6, false)
    );
    // Statistics of a real split: training images normalised by their own stats have mean 0, std 1.
    let ds = synthetic(300);
    let s = split(&ds, 300, 0, 0).unwrap();
    let l = Loader::eval(300, s.normalize.clone(), Device::Cpu);
    let (x, _) = l.epoch(&s.train, 0).next().unwrap();
    assert!(x.mean(Kind::Float).double_value(&[]).abs() < 1e-4);
    assert!((x.std(true).double_value(&[]) - 1.0).abs() < 1e-3);
}

#[test]
fn hflip_mirrors_about_half_the_images() {
    let set = ramp(200, 3, 5);
    let (x, _) = loader(200, vec![Augment::HFlip { p: 0.5 }])
        .epoch(&set, 0)
        .next()
        .unwrap();
    let left = x.select(3, 0).select(2, 0).select(1, 0);
    let right = x.select(3, 4).select(2, 0).select(1, 0);
    // A flipped image has its marker column on the right; nothing else changes.
    let flipped = right.eq(1.0).sum(Kind::Int64).int64_value(&[]);
    assert_eq!(
        flipped + left.eq(1.0).sum(Kind::Int64).int64_value(&[]),
        200
    );
    assert!((70..=130).contains(&flipped), "{flipped} of 200 flipped");
}

#[test]
fn hflip_honours_its_probability() {
    // 250 images: pixel values stay below the marker's 255.
    let set = ramp(250, 3, 5);
    let flipped = |p: f64| {
        let (x, _) = loader(250, vec![Augment::HFlip { p }])
            .epoch(&set, 0)
            .next()
            .unwrap();
        x.select(3, 4)
            .select(2, 0)
            .select(1, 0)
            .eq(1.0)
            .sum(Kind::Int64)
            .int64_value(&[])
    };
    assert_eq!(flipped(0.0), 0);
    assert_eq!(flipped(1.0), 250);
    let some = flipped(0.1);
    assert!((8..=50).contains(&some), "{some} of 250 flipped at p = 0.1");
}

#[test]
fn random_crop_shifts_within_the_padding() {
    let set = ramp(100, 6, 6);
    let (x, _) = loader(100, vec![Augment::RandomCrop { pad: 2 }])
        .epoch(&set, 0)
        .next()
        .unwrap();
    assert_eq!(x.size(), vec![100, 1, 6, 6]);
    // The marker column (x = 0 in the source) lands at column 0..=2 or is cropped away (shift -1, -2).
    let marker_cols: Vec<i64> = (0..100)
        .map(|i| {
            let row = x.get(i).get(0).get(3);
            (0..6)
                .find(|&c| row.double_value(&[c]) == 1.0)
                .map_or(-1, |c| c)
        })
        .collect();
    assert!(
        marker_cols.iter().all(|&c| (-1..=2).contains(&c)),
        "{marker_cols:?}"
    );
    for c in -1..=2 {
        assert!(
            marker_cols.contains(&c),
            "offset {c} never drawn in 100 crops"
        );
    }
    // Padding is zero; no pixel value other than 0, the marker and the image's own value appears.
    let none = loader(100, vec![Augment::RandomCrop { pad: 0 }])
        .epoch(&set, 0)
        .next()
        .unwrap()
        .0;
    assert_eq!(none.size(), vec![100, 1, 6, 6]);
}

#[test]
fn cutout_zeroes_one_clipped_square() {
    let mut raw = RawImages::empty(1, 16, 16);
    raw.pixels = vec![255; 64 * 256];
    raw.labels = vec![0; 64];
    let set = TensorSet::from_raw(&raw);
    let (x, _) = loader(64, vec![Augment::Cutout { size: 4 }])
        .epoch(&set, 0)
        .next()
        .unwrap();
    let zeros = x
        .eq(0.0)
        .sum_dim_intlist([1i64, 2, 3].as_slice(), false, Kind::Int64);
    let zeros = Vec::<i64>::try_from(zeros).unwrap();
    // At most a full 4x4 square, at least a corner-clipped 2x2 one, and the full square is usual.
    assert!(zeros.iter().all(|&z| (4..=16).contains(&z)), "{zeros:?}");
    assert!(zeros.iter().filter(|&&z| z == 16).count() > 32);
}
