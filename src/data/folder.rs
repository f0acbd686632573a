//! Image folders: one sub-folder per class holding PNG/JPEG files, optionally under `train/` and
//! `test/` (or `val/`). Images are resized to one size; grayscale when every image is.

use std::path::{Path, PathBuf};

use image::{DynamicImage, imageops::FilterType};

use super::{DataError, Dataset, DatasetSource, RawImages, require_dir};

#[derive(Debug, Clone)]
pub struct ImageFolder {
    dir: PathBuf,
    /// (height, width) every image is resized to; the first image's size when `None`.
    size: Option<(u32, u32)>,
}

impl ImageFolder {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        ImageFolder {
            dir: dir.into(),
            size: None,
        }
    }

    pub fn with_size(mut self, height: u32, width: u32) -> Self {
        self.size = Some((height, width));
        self
    }
}

/// Sorted sub-folder names of `dir` (the classes).
fn class_dirs(dir: &Path) -> Result<Vec<String>, DataError> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))? {
        let entry = entry.map_err(|e| DataError::io(dir, e))?;
        if entry.path().is_dir() {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// Image files of one class folder, sorted by name.
fn image_files(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))? {
        let path = entry.map_err(|e| DataError::io(dir, e))?.path();
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        if matches!(ext.as_deref(), Some("png" | "jpg" | "jpeg")) {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn decode(path: &Path) -> Result<DynamicImage, DataError> {
    image::open(path).map_err(|e| DataError::Corrupt {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Decodes every image of the split folder `dir` labelled by `classes`.
fn load_split(
    dir: &Path,
    classes: &[String],
    size: &mut Option<(u32, u32)>,
) -> Result<Vec<(DynamicImage, u16)>, DataError> {
    let mut out = Vec::new();
    for (label, class) in classes.iter().enumerate() {
        let class_dir = dir.join(class);
        if !class_dir.is_dir() {
            continue;
        }
        for file in image_files(&class_dir)? {
            let img = decode(&file)?;
            let (h, w) = *size.get_or_insert((img.height(), img.width()));
            let img = if (img.height(), img.width()) == (h, w) {
                img
            } else {
                img.resize_exact(w, h, FilterType::Triangle)
            };
            out.push((img, label as u16));
        }
    }
    Ok(out)
}

fn to_raw(images: &[(DynamicImage, u16)], gray: bool, (h, w): (u32, u32)) -> RawImages {
    let channels = if gray { 1 } else { 3 };
    let mut raw = RawImages::empty(channels, h as usize, w as usize);
    let plane = (h * w) as usize;
    for (img, label) in images {
        if gray {
            raw.pixels.extend_from_slice(img.to_luma8().as_raw());
        } else {
            let rgb = img.to_rgb8();
            let hwc = rgb.as_raw();
            for c in 0..3 {
                raw.pixels.extend((0..plane).map(|i| hwc[i * 3 + c]));
            }
        }
        raw.labels.push(*label);
    }
    raw
}

impl DatasetSource for ImageFolder {
    fn name(&self) -> &str {
        "folder"
    }

    fn load(&self) -> Result<Dataset, DataError> {
        require_dir(&self.dir, "image folder")?;
        let train_dir = self.dir.join("train");
        let (train_dir, test_dir) = if train_dir.is_dir() {
            let test = ["test", "val"]
                .iter()
                .map(|t| self.dir.join(t))
                .find(|p| p.is_dir());
            (train_dir, test)
        } else {
            (self.dir.clone(), None)
        };
        let classes = class_dirs(&train_dir)?;
        let mut size = self.size;
        let train = load_split(&train_dir, &classes, &mut size)?;
        if train.is_empty() {
            return Err(DataError::Empty { path: train_dir });
        }
        let test = match &test_dir {
            Some(d) => load_split(d, &classes, &mut size)?,
            None => Vec::new(),
        };
        let gray = train
            .iter()
            .chain(&test)
            .all(|(img, _)| !img.color().has_color());
        let size = size.expect("set by the first image");
        let dataset = Dataset {
            name: "folder".into(),
            classes,
            train: to_raw(&train, gray, size),
            test: to_raw(&test, gray, size),
        };
        dataset.validate(&self.dir)?;
        Ok(dataset)
    }
}
