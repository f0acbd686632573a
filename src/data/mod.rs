//! Datasets: readers for the image formats NAS papers use (IDX, CIFAR binary, image folders, a synthetic
//! set), behind one trait, decoding into raw `u8` images; splitting, batching and augmentation on
//! tensors live in `loader` (torch feature).

mod cifar;
mod error;
mod folder;
mod idx;
#[cfg(feature = "torch")]
pub mod loader;
mod synthetic;

use std::path::{Path, PathBuf};

pub use cifar::{Cifar, CifarVariant};
pub use error::DataError;
pub use folder::ImageFolder;
pub use idx::{
    Idx, IdxDataset, read_idx_images, read_idx_labels, write_idx_images, write_idx_labels,
};
pub use synthetic::Synthetic;

/// Images of one split, decoded: `pixels` holds `len * channels * height * width` bytes in NCHW order.
#[derive(Debug, Clone, PartialEq)]
pub struct RawImages {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub pixels: Vec<u8>,
    pub labels: Vec<u16>,
}

impl RawImages {
    /// An empty split of the given image shape.
    pub fn empty(channels: usize, height: usize, width: usize) -> Self {
        RawImages {
            channels,
            height,
            width,
            pixels: Vec::new(),
            labels: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Bytes in one image.
    pub fn image_size(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// The pixels of image `i` (CHW).
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.image_size();
        &self.pixels[i * n..(i + 1) * n]
    }

    /// How many images each class has, indexed by label.
    pub fn class_counts(&self, classes: usize) -> Vec<usize> {
        let mut counts = vec![0; classes];
        for &l in &self.labels {
            if let Some(c) = counts.get_mut(l as usize) {
                *c += 1;
            }
        }
        counts
    }

    /// Per-channel mean and standard deviation of the pixels scaled to [0, 1].
    pub fn channel_stats(&self) -> Vec<(f64, f64)> {
        let plane = self.height * self.width;
        let mut sums = vec![(0f64, 0f64); self.channels];
        for image in self.pixels.chunks_exact(self.image_size().max(1)) {
            for (c, sum) in sums.iter_mut().enumerate() {
                let (mut s, mut s2) = (0u64, 0u64);
                for &p in &image[c * plane..(c + 1) * plane] {
                    s += p as u64;
                    s2 += (p as u64) * (p as u64);
                }
                sum.0 += s as f64;
                sum.1 += s2 as f64;
            }
        }
        let count = (self.len() * plane).max(1) as f64;
        sums.into_iter()
            .map(|(s, s2)| {
                let mean = s / count / 255.0;
                let var = (s2 / count / (255.0 * 255.0) - mean * mean).max(0.0);
                (mean, var.sqrt())
            })
            .collect()
    }
}

/// A whole dataset: the official train and test splits and the class names.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub name: String,
    pub classes: Vec<String>,
    pub train: RawImages,
    pub test: RawImages,
}

impl Dataset {
    /// Checks that labels are in range and both splits share the image shape.
    pub fn validate(&self, origin: &Path) -> Result<(), DataError> {
        let shape = |r: &RawImages| (r.channels, r.height, r.width);
        if !self.test.is_empty() && shape(&self.train) != shape(&self.test) {
            return Err(DataError::Corrupt {
                path: origin.to_path_buf(),
                reason: format!(
                    "train images are {:?} but test images are {:?}",
                    shape(&self.train),
                    shape(&self.test)
                ),
            });
        }
        for split in [&self.train, &self.test] {
            if let Some(&bad) = split
                .labels
                .iter()
                .find(|&&l| l as usize >= self.classes.len())
            {
                return Err(DataError::Corrupt {
                    path: origin.to_path_buf(),
                    reason: format!(
                        "label {bad} is out of range for {} classes",
                        self.classes.len()
                    ),
                });
            }
        }
        Ok(())
    }
}

/// Anything that can produce a dataset: every format implements this one trait.
pub trait DatasetSource {
    /// A short name for messages (`fashion_mnist`, `cifar10`, ...).
    fn name(&self) -> &str;
    /// Reads and decodes both splits.
    fn load(&self) -> Result<Dataset, DataError>;
}

/// The built-in dataset names, as written in `.nas` files and on the command line.
pub const BUILTIN: &[&str] = &[
    "fashion_mnist",
    "mnist",
    "cifar10",
    "cifar100",
    "folder",
    "synthetic",
];

/// Where Debian's `dataset-fashion-mnist` package puts its files.
pub const DEBIAN_FASHION_MNIST: &str = "/usr/share/datasets/fashion-mnist";

/// The default folder of a built-in dataset when no path is given: `$NASL_<NAME>` if set, then the
/// system location where one exists (Fashion-MNIST from Debian's package), then `$NASL_DATA/<name>`.
pub fn default_path(name: &str) -> Option<PathBuf> {
    let var = format!("NASL_{}", name.to_ascii_uppercase());
    if let Some(p) = std::env::var_os(&var) {
        return Some(PathBuf::from(p));
    }
    if name == "fashion_mnist" {
        return Some(PathBuf::from(DEBIAN_FASHION_MNIST));
    }
    std::env::var_os("NASL_DATA").map(|d| PathBuf::from(d).join(name))
}

/// Opens a built-in dataset by name, at `path` or its default location.
pub fn open(name: &str, path: Option<&Path>) -> Result<Box<dyn DatasetSource>, DataError> {
    let path = path.map(Path::to_path_buf).or_else(|| default_path(name));
    let need_path = |path: Option<PathBuf>| {
        path.ok_or_else(|| DataError::NoPath {
            name: name.to_string(),
        })
    };
    Ok(match name {
        "fashion_mnist" => Box::new(Idx::new(IdxDataset::FashionMnist, need_path(path)?)),
        "mnist" => Box::new(Idx::new(IdxDataset::Mnist, need_path(path)?)),
        "cifar10" => Box::new(Cifar::new(CifarVariant::Cifar10, need_path(path)?)),
        "cifar100" => Box::new(Cifar::new(CifarVariant::Cifar100, need_path(path)?)),
        "folder" => Box::new(ImageFolder::new(need_path(path)?)),
        "synthetic" => Box::new(Synthetic::default()),
        other => {
            return Err(DataError::UnknownDataset {
                name: other.to_string(),
                known: BUILTIN.join(", "),
            });
        }
    })
}

/// The `synthetic` dataset a pipeline declares (classes, image size, seed).
pub fn synthetic(spec: crate::sema::hir::SyntheticSpec) -> Result<Dataset, DataError> {
    Synthetic {
        classes: spec.classes,
        size: spec.size,
        seed: spec.seed,
        ..Default::default()
    }
    .load()
}

/// Checks that `dir` is an existing directory, with an error that names it and the fix.
pub(crate) fn require_dir(dir: &Path, what: &str) -> Result<(), DataError> {
    if dir.is_dir() {
        Ok(())
    } else {
        Err(DataError::Missing {
            path: dir.to_path_buf(),
            what: what.to_string(),
        })
    }
}

/// Reads a whole file, decompressing it when its name ends in `.gz`.
pub(crate) fn read_maybe_gz(path: &Path) -> Result<Vec<u8>, DataError> {
    use std::io::Read;
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    if path.extension().is_some_and(|e| e == "gz") {
        let mut out = Vec::with_capacity(bytes.len() * 2);
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_end(&mut out)
            .map_err(|e| DataError::Corrupt {
                path: path.to_path_buf(),
                reason: format!("gzip: {e}"),
            })?;
        Ok(out)
    } else {
        Ok(bytes)
    }
}
