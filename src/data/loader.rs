//! Datasets as tensors: train/validation splits carved from the training set, seeded shuffling,
//! batching, normalisation and the augmentations NAS papers use (random crop with padding, horizontal
//! flip, cutout). Randomness comes from a ChaCha stream keyed by (seed, epoch), so an epoch can be
//! replayed exactly when a run resumes.

use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use super::{Dataset, RawImages};

/// An augmentation applied per image of a training batch.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Augment {
    /// Zero-pad by `pad` pixels on each side, then crop back to the original size at a random offset.
    RandomCrop { pad: i64 },
    /// Mirror left-right with probability `p`.
    HFlip { p: f64 },
    /// Zero a `size` x `size` square at a random centre (clipped at the borders), after normalisation.
    Cutout { size: i64 },
}

/// Per-channel normalisation: (x - mean) / std on pixels scaled to [0, 1].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Normalize {
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
}

impl Normalize {
    /// The statistics of a set of images (computed on the training split, as is usual).
    pub fn of(images: &RawImages) -> Self {
        let stats = images.channel_stats();
        Normalize {
            mean: stats.iter().map(|s| s.0).collect(),
            std: stats.iter().map(|s| s.1.max(1e-6)).collect(),
        }
    }

    /// No change.
    pub fn identity(channels: usize) -> Self {
        Normalize {
            mean: vec![0.0; channels],
            std: vec![1.0; channels],
        }
    }
}

/// Images (`u8`, N x C x H x W) and labels (`i64`, N) on one device.
#[derive(Debug)]
pub struct TensorSet {
    pub images: Tensor,
    pub labels: Tensor,
}

impl TensorSet {
    pub fn from_raw(raw: &RawImages) -> Self {
        let n = raw.len() as i64;
        let images = Tensor::from_slice(&raw.pixels).view([
            n,
            raw.channels as i64,
            raw.height as i64,
            raw.width as i64,
        ]);
        let labels = Tensor::from_slice(&raw.labels.iter().map(|&l| l as i64).collect::<Vec<_>>());
        TensorSet { images, labels }
    }

    pub fn len(&self) -> usize {
        self.labels.size()[0] as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The images at `indices`, in that order.
    pub fn select(&self, indices: &[i64]) -> TensorSet {
        let idx = Tensor::from_slice(indices).to_device(self.images.device());
        TensorSet {
            images: self.images.index_select(0, &idx),
            labels: self.labels.index_select(0, &idx),
        }
    }

    pub fn to_device(&self, device: Device) -> TensorSet {
        TensorSet {
            images: self.images.to_device(device),
            labels: self.labels.to_device(device),
        }
    }
}

/// The three sets a pipeline uses: train and validation carved from the official training set, and
/// the official test set.
#[derive(Debug)]
pub struct Splits {
    pub train: TensorSet,
    pub val: TensorSet,
    pub test: TensorSet,
    /// Normalisation computed on the train split.
    pub normalize: Normalize,
}

/// A requested split that the dataset cannot hold.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error(
    "cannot carve {train} train + {val} validation images from the {available} training images of {dataset}"
)]
#[diagnostic(
    code(nasl::data::split),
    help("lower `train` or `val` so that together they are at most {available}")
)]
pub struct SplitError {
    pub dataset: String,
    pub train: usize,
    pub val: usize,
    pub available: usize,
}

/// Carves `train` and `val` disjoint images from the training set after a shuffle seeded by `seed`.
pub fn split(dataset: &Dataset, train: usize, val: usize, seed: u64) -> Result<Splits, SplitError> {
    let available = dataset.train.len();
    if train.checked_add(val).is_none_or(|total| total > available) {
        return Err(SplitError {
            dataset: dataset.name.clone(),
            train,
            val,
            available,
        });
    }
    let mut order: Vec<i64> = (0..available as i64).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let all = TensorSet::from_raw(&dataset.train);
    let mut train_idx = order[..train].to_vec();
    let mut val_idx = order[train..train + val].to_vec();
    // Sorted indices keep memory access sequential; batches are shuffled per epoch anyway.
    train_idx.sort_unstable();
    val_idx.sort_unstable();
    Ok(Splits {
        train: all.select(&train_idx),
        val: all.select(&val_idx),
        test: TensorSet::from_raw(&dataset.test),
        normalize: Normalize::of(&dataset.train),
    })
}

/// How batches are drawn from a set.
#[derive(Debug, Clone)]
pub struct Loader {
    pub batch: usize,
    pub shuffle: bool,
    pub drop_last: bool,
    pub augment: Vec<Augment>,
    pub normalize: Normalize,
    pub device: Device,
    pub seed: u64,
}

impl Loader {
    /// Batches in order, no augmentation: for evaluation.
    pub fn eval(batch: usize, normalize: Normalize, device: Device) -> Self {
        Loader {
            batch,
            shuffle: false,
            drop_last: false,
            augment: Vec::new(),
            normalize,
            device,
            seed: 0,
        }
    }

    /// Number of batches in one epoch over `set`.
    pub fn batches_per_epoch(&self, set: &TensorSet) -> usize {
        let n = set.len();
        let b = self.batch.max(1);
        if self.drop_last { n / b } else { n.div_ceil(b) }
    }

    /// The batches of epoch `epoch`; the same (seed, epoch) always gives the same batches.
    pub fn epoch<'a>(&'a self, set: &'a TensorSet, epoch: u64) -> Batches<'a> {
        let epoch_seed = mix(self.seed, epoch);
        let mut order: Vec<i64> = (0..set.len() as i64).collect();
        if self.shuffle {
            order.shuffle(&mut ChaCha8Rng::seed_from_u64(epoch_seed));
        }
        Batches {
            loader: self,
            set,
            order,
            next: 0,
            epoch_seed,
            total: self.batches_per_epoch(set),
        }
    }

    /// Turns `u8` images into a normalised, augmented float batch on the loader's device.
    pub fn prepare(&self, images: &Tensor, rng: &mut ChaCha8Rng) -> Tensor {
        let mut x = images.to_device(self.device).to_kind(Kind::Float) / 255.0;
        let (b, c, h, w) = x.size4().expect("images are 4-d");
        for aug in &self.augment {
            x = match *aug {
                Augment::RandomCrop { pad } if pad > 0 => {
                    let padded = x.constant_pad_nd([pad, pad, pad, pad]);
                    let crops: Vec<Tensor> = (0..b)
                        .map(|i| {
                            let dy = rng.random_range(0..=2 * pad);
                            let dx = rng.random_range(0..=2 * pad);
                            padded.get(i).narrow(1, dy, h).narrow(2, dx, w)
                        })
                        .collect();
                    Tensor::stack(&crops, 0)
                }
                Augment::HFlip { p } => {
                    let flips: Vec<bool> = (0..b).map(|_| rng.random_bool(p)).collect();
                    let mask = Tensor::from_slice(&flips)
                        .to_device(self.device)
                        .view([b, 1, 1, 1]);
                    x.flip([3]).where_self(&mask, &x)
                }
                _ => x,
            };
        }
        let mean = Tensor::from_slice(&self.normalize.mean)
            .to_kind(Kind::Float)
            .to_device(self.device)
            .view([1, c, 1, 1]);
        let std = Tensor::from_slice(&self.normalize.std)
            .to_kind(Kind::Float)
            .to_device(self.device)
            .view([1, c, 1, 1]);
        x = (x - mean) / std;
        for aug in &self.augment {
            if let Augment::Cutout { size } = *aug
                && size > 0
            {
                let cy: Vec<i64> = (0..b).map(|_| rng.random_range(0..h)).collect();
                let cx: Vec<i64> = (0..b).map(|_| rng.random_range(0..w)).collect();
                let cy = Tensor::from_slice(&cy)
                    .to_device(self.device)
                    .view([b, 1, 1, 1]);
                let cx = Tensor::from_slice(&cx)
                    .to_device(self.device)
                    .view([b, 1, 1, 1]);
                let ys = Tensor::arange(h, (Kind::Int64, self.device)).view([1, 1, h, 1]);
                let xs = Tensor::arange(w, (Kind::Int64, self.device)).view([1, 1, 1, w]);
                // The square [c - size/2, c - size/2 + size) clipped to the image, as in DARTS' cutout.
                let lo_y = &cy - size / 2;
                let lo_x = &cx - size / 2;
                let inside = ys
                    .ge_tensor(&lo_y)
                    .logical_and(&ys.lt_tensor(&(lo_y + size)))
                    .logical_and(&xs.ge_tensor(&lo_x))
                    .logical_and(&xs.lt_tensor(&(lo_x + size)));
                x = x.masked_fill(&inside, 0.0);
            }
        }
        x
    }
}

/// One epoch of batches: (images float B x C x H x W, labels i64 B).
pub struct Batches<'a> {
    loader: &'a Loader,
    set: &'a TensorSet,
    order: Vec<i64>,
    next: usize,
    epoch_seed: u64,
    total: usize,
}

impl Batches<'_> {
    /// Number of batches this epoch yields in all.
    pub fn total(&self) -> usize {
        self.total
    }

    /// Skips to batch `k` without preparing the ones before it (each batch has its own random
    /// stream), so a resumed epoch continues with exactly the batches it would have seen.
    pub fn start_at(mut self, k: usize) -> Self {
        self.next = k.min(self.total);
        self
    }
}

/// Mixes a seed with a counter into a new seed (SplitMix64 finaliser).
fn mix(seed: u64, n: u64) -> u64 {
    let mut z = seed ^ n.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Iterator for Batches<'_> {
    type Item = (Tensor, Tensor);

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.total {
            return None;
        }
        let b = self.loader.batch.max(1);
        let start = self.next * b;
        let end = (start + b).min(self.order.len());
        self.next += 1;
        let idx = Tensor::from_slice(&self.order[start..end]).to_device(self.set.images.device());
        let images = self.set.images.index_select(0, &idx);
        let labels = self
            .set
            .labels
            .index_select(0, &idx)
            .to_device(self.loader.device);
        let mut rng = ChaCha8Rng::seed_from_u64(mix(self.epoch_seed, self.next as u64));
        Some((self.loader.prepare(&images, &mut rng), labels))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.total - self.next;
        (left, Some(left))
    }
}
