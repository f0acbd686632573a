//! The IDX format of MNIST and Fashion-MNIST (gzip or not): readers, writers for tests, and the dataset.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{DataError, Dataset, DatasetSource, RawImages, read_maybe_gz, require_dir};

/// Which IDX dataset a folder holds (they differ only in their class names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdxDataset {
    Mnist,
    FashionMnist,
}

impl IdxDataset {
    fn name(self) -> &'static str {
        match self {
            IdxDataset::Mnist => "mnist",
            IdxDataset::FashionMnist => "fashion_mnist",
        }
    }

    fn classes(self) -> Vec<String> {
        match self {
            IdxDataset::Mnist => (0..10).map(|d| d.to_string()).collect(),
            IdxDataset::FashionMnist => [
                "T-shirt/top",
                "Trouser",
                "Pullover",
                "Dress",
                "Coat",
                "Sandal",
                "Shirt",
                "Sneaker",
                "Bag",
                "Ankle boot",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        }
    }
}

/// A folder with the four IDX files (`train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
/// `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`, each possibly `.gz`).
#[derive(Debug, Clone)]
pub struct Idx {
    kind: IdxDataset,
    dir: PathBuf,
}

impl Idx {
    pub fn new(kind: IdxDataset, dir: impl Into<PathBuf>) -> Self {
        Idx {
            kind,
            dir: dir.into(),
        }
    }

    /// The file for `stem` (e.g. `train-images-idx3-ubyte`), plain or gzipped; the gzipped name when
    /// neither exists, so the error names a real expectation.
    fn file(&self, stem: &str) -> PathBuf {
        let dotted = stem.replacen("-idx", ".idx", 1);
        for name in [
            stem.to_string(),
            format!("{stem}.gz"),
            dotted.clone(),
            format!("{dotted}.gz"),
        ] {
            let p = self.dir.join(name);
            if p.is_file() {
                return p;
            }
        }
        self.dir.join(format!("{stem}.gz"))
    }
}

impl DatasetSource for Idx {
    fn name(&self) -> &str {
        self.kind.name()
    }

    fn load(&self) -> Result<Dataset, DataError> {
        require_dir(&self.dir, &format!("{} folder", self.kind.name()))?;
        let split = |images: &str, labels: &str| -> Result<RawImages, DataError> {
            let (ipath, lpath) = (self.file(images), self.file(labels));
            let mut raw = read_idx_images(&ipath)?;
            raw.labels = read_idx_labels(&lpath)?;
            let n = raw.pixels.len() / raw.image_size().max(1);
            if raw.labels.len() != n {
                return Err(DataError::Corrupt {
                    path: lpath,
                    reason: format!(
                        "{} labels for {n} images in {}",
                        raw.labels.len(),
                        ipath.display()
                    ),
                });
            }
            Ok(raw)
        };
        let dataset = Dataset {
            name: self.kind.name().into(),
            classes: self.kind.classes(),
            train: split("train-images-idx3-ubyte", "train-labels-idx1-ubyte")?,
            test: split("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")?,
        };
        dataset.validate(&self.dir)?;
        Ok(dataset)
    }
}

/// Parses an IDX header of unsigned bytes with `ndims` dimensions; returns the dimensions and the data.
fn parse_idx<'a>(
    path: &Path,
    bytes: &'a [u8],
    ndims: u8,
) -> Result<(Vec<usize>, &'a [u8]), DataError> {
    let corrupt = |reason: String| DataError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    let header = 4 + 4 * ndims as usize;
    if bytes.len() < header {
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            expected: header as u64,
            found: bytes.len() as u64,
        });
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(corrupt(format!(
            "bad magic number {:02x}{:02x}{:02x}{:02x}",
            bytes[0], bytes[1], bytes[2], bytes[3]
        )));
    }
    if bytes[2] != 0x08 {
        return Err(corrupt(format!(
            "element type 0x{:02x}, expected unsigned bytes (0x08)",
            bytes[2]
        )));
    }
    if bytes[3] != ndims {
        return Err(corrupt(format!(
            "{} dimensions, expected {ndims}",
            bytes[3]
        )));
    }
    let dims: Vec<usize> = (0..ndims as usize)
        .map(|i| {
            u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().expect("4 bytes")) as usize
        })
        .collect();
    let expected = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| corrupt("dimensions overflow".into()))?;
    let data = &bytes[header..];
    if data.len() < expected {
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            expected: (header + expected) as u64,
            found: bytes.len() as u64,
        });
    }
    if data.len() > expected {
        return Err(corrupt(format!(
            "{} bytes after the data the header announces",
            data.len() - expected
        )));
    }
    Ok((dims, data))
}

/// Reads an IDX3 image file (N x H x W unsigned bytes) into single-channel images without labels.
pub fn read_idx_images(path: &Path) -> Result<RawImages, DataError> {
    let bytes = read_maybe_gz(path)?;
    let (dims, data) = parse_idx(path, &bytes, 3)?;
    Ok(RawImages {
        channels: 1,
        height: dims[1],
        width: dims[2],
        pixels: data.to_vec(),
        labels: Vec::new(),
    })
}

/// Reads an IDX1 label file.
pub fn read_idx_labels(path: &Path) -> Result<Vec<u16>, DataError> {
    let bytes = read_maybe_gz(path)?;
    let (_, data) = parse_idx(path, &bytes, 1)?;
    Ok(data.iter().map(|&b| b as u16).collect())
}

fn write_maybe_gz(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let file = std::fs::File::create(path)?;
    if path.extension().is_some_and(|e| e == "gz") {
        let mut enc = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
        enc.write_all(bytes)?;
        enc.finish()?;
    } else {
        let mut file = file;
        file.write_all(bytes)?;
    }
    Ok(())
}

/// Writes single-channel images as an IDX3 file (gzipped when the name ends in `.gz`).
pub fn write_idx_images(path: &Path, images: &RawImages) -> std::io::Result<()> {
    let mut bytes = vec![0, 0, 0x08, 3];
    for d in [images.len(), images.height, images.width] {
        bytes.extend_from_slice(&(d as u32).to_be_bytes());
    }
    bytes.extend_from_slice(&images.pixels);
    write_maybe_gz(path, &bytes)
}

/// Writes labels as an IDX1 file (gzipped when the name ends in `.gz`).
pub fn write_idx_labels(path: &Path, labels: &[u16]) -> std::io::Result<()> {
    let mut bytes = vec![0, 0, 0x08, 1];
    bytes.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    bytes.extend(labels.iter().map(|&l| l as u8));
    write_maybe_gz(path, &bytes)
}
