//! CIFAR-10 and CIFAR-100 in their binary versions (`cifar-10-batches-bin`, `cifar-100-binary`).

use std::path::{Path, PathBuf};

use super::{DataError, Dataset, DatasetSource, RawImages, require_dir};

const PIXELS: usize = 3 * 32 * 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CifarVariant {
    /// 10 classes; records are 1 label byte + 3072 pixel bytes.
    Cifar10,
    /// 100 fine classes; records are coarse label, fine label, 3072 pixel bytes.
    Cifar100,
}

impl CifarVariant {
    fn label_bytes(self) -> usize {
        match self {
            CifarVariant::Cifar10 => 1,
            CifarVariant::Cifar100 => 2,
        }
    }

    fn inner_dir(self) -> &'static str {
        match self {
            CifarVariant::Cifar10 => "cifar-10-batches-bin",
            CifarVariant::Cifar100 => "cifar-100-binary",
        }
    }

    fn files(self) -> (Vec<&'static str>, &'static str) {
        match self {
            CifarVariant::Cifar10 => (
                vec![
                    "data_batch_1.bin",
                    "data_batch_2.bin",
                    "data_batch_3.bin",
                    "data_batch_4.bin",
                    "data_batch_5.bin",
                ],
                "test_batch.bin",
            ),
            CifarVariant::Cifar100 => (vec!["train.bin"], "test.bin"),
        }
    }

    fn names_file(self) -> &'static str {
        match self {
            CifarVariant::Cifar10 => "batches.meta.txt",
            CifarVariant::Cifar100 => "fine_label_names.txt",
        }
    }

    fn num_classes(self) -> usize {
        match self {
            CifarVariant::Cifar10 => 10,
            CifarVariant::Cifar100 => 100,
        }
    }
}

/// A CIFAR folder: either the extracted `cifar-10-batches-bin`/`cifar-100-binary` or its parent.
#[derive(Debug, Clone)]
pub struct Cifar {
    variant: CifarVariant,
    dir: PathBuf,
}

impl Cifar {
    pub fn new(variant: CifarVariant, dir: impl Into<PathBuf>) -> Self {
        Cifar {
            variant,
            dir: dir.into(),
        }
    }

    fn root(&self) -> PathBuf {
        let inner = self.dir.join(self.variant.inner_dir());
        if inner.is_dir() {
            inner
        } else {
            self.dir.clone()
        }
    }

    /// Writes images in the binary record format of `variant` (CIFAR-100 gets coarse label 0).
    pub fn write_batch(
        variant: CifarVariant,
        path: &Path,
        images: &RawImages,
    ) -> std::io::Result<()> {
        let mut bytes = Vec::with_capacity(images.len() * (PIXELS + 2));
        for i in 0..images.len() {
            if variant == CifarVariant::Cifar100 {
                bytes.push(0);
            }
            bytes.push(images.labels[i] as u8);
            bytes.extend_from_slice(images.image(i));
        }
        std::fs::write(path, bytes)
    }
}

fn read_records(variant: CifarVariant, path: &Path, out: &mut RawImages) -> Result<(), DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    let record = variant.label_bytes() + PIXELS;
    if bytes.is_empty() || bytes.len() % record != 0 {
        let whole = bytes.len().div_ceil(record).max(1) * record;
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            expected: whole as u64,
            found: bytes.len() as u64,
        });
    }
    out.pixels.reserve(bytes.len() / record * PIXELS);
    for rec in bytes.chunks_exact(record) {
        let label = rec[variant.label_bytes() - 1];
        if label as usize >= variant.num_classes() {
            return Err(DataError::Corrupt {
                path: path.to_path_buf(),
                reason: format!(
                    "label {label} at record {} is out of range",
                    out.labels.len()
                ),
            });
        }
        out.labels.push(label as u16);
        out.pixels.extend_from_slice(&rec[variant.label_bytes()..]);
    }
    Ok(())
}

impl DatasetSource for Cifar {
    fn name(&self) -> &str {
        match self.variant {
            CifarVariant::Cifar10 => "cifar10",
            CifarVariant::Cifar100 => "cifar100",
        }
    }

    fn load(&self) -> Result<Dataset, DataError> {
        require_dir(&self.dir, &format!("{} folder", self.name()))?;
        let root = self.root();
        let (train_files, test_file) = self.variant.files();
        let mut train = RawImages::empty(3, 32, 32);
        for f in train_files {
            read_records(self.variant, &root.join(f), &mut train)?;
        }
        let mut test = RawImages::empty(3, 32, 32);
        read_records(self.variant, &root.join(test_file), &mut test)?;
        let classes = match std::fs::read_to_string(root.join(self.variant.names_file())) {
            Ok(text) => text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect(),
            Err(_) => default_names(self.variant),
        };
        let dataset = Dataset {
            name: self.name().into(),
            classes,
            train,
            test,
        };
        dataset.validate(&root)?;
        Ok(dataset)
    }
}

fn default_names(variant: CifarVariant) -> Vec<String> {
    match variant {
        CifarVariant::Cifar10 => [
            "airplane",
            "automobile",
            "bird",
            "cat",
            "deer",
            "dog",
            "frog",
            "horse",
            "ship",
            "truck",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        CifarVariant::Cifar100 => (0..100).map(|i| format!("class_{i}")).collect(),
    }
}
