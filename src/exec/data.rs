//! Data for stages: a dataset declaration loaded once per run into split tensors (with its
//! augmentation and normalisation), the training and evaluation loaders a stage gets, and evaluation of
//! a network on a split.

use super::*;

/// A dataset ready for a stage: splits as tensors and how to batch them.
pub struct StageData {
    /// The declaration's name (`fmnist`).
    pub name: String,
    /// The built-in source (`fashion_mnist`) and folder it was read from.
    pub source: String,
    pub path: Option<PathBuf>,
    pub splits: Splits,
    pub batch: usize,
    pub augment: Vec<Augment>,
    pub normalize: Normalize,
    pub classes: usize,
    /// Channels, height, width of its images.
    pub shape: [usize; 3],
    pub synthetic: Option<crate::sema::hir::SyntheticSpec>,
}

impl Ctx {
    /// The dataset a stage trains or searches on (loaded once).
    pub fn data(&mut self, stage: &Stage) -> Result<Rc<StageData>, ExecError> {
        let name = stage
            .data
            .clone()
            .or_else(|| self.program.datasets.first().map(|d| d.name.clone()))
            .ok_or_else(|| {
                ExecError::setting(
                    &stage.name,
                    "no dataset to train on",
                    "declare one: `dataset fmnist = fashion_mnist { split train: 50000, val: 10000 }`",
                )
            })?;
        let data = self.dataset(&name)?;
        // Built-in datasets were compared with the space by `nasl check`; a folder is known only now,
        // before the stage does any work.
        if let Some(space) = stage.space.as_deref().and_then(|s| self.space(s))
            && let Some(m) = crate::sema::contract::data_mismatch(
                space.spec.input(),
                space.spec.classes(),
                data.shape,
                data.classes,
            )
        {
            return Err(ExecError::setting(
                &stage.name,
                format!(
                    "dataset `{name}` does not fit the space `{}`: {m}",
                    space_name(stage)
                ),
                format!(
                    "declare the space with `input: [{}, {}, {}], classes: {}`, or use a dataset of that shape",
                    data.shape[0], data.shape[1], data.shape[2], data.classes
                ),
            ));
        }
        Ok(data)
    }

    pub fn dataset(&mut self, name: &str) -> Result<Rc<StageData>, ExecError> {
        if let Some(d) = self.data.get(name) {
            return Ok(d.clone());
        }
        let decl = self
            .program
            .datasets
            .iter()
            .find(|d| d.name == name)
            .cloned()
            .ok_or_else(|| {
                ExecError::setting(name, "unknown dataset", "declare it with `dataset`")
            })?;
        let path = self
            .opts
            .data_paths
            .get(name)
            .cloned()
            .or(decl.path.clone());
        let t0 = Instant::now();
        let ds = match decl.synthetic {
            Some(g) => crate::data::synthetic(g)?,
            None => crate::data::open(&decl.source, path.as_deref())?.load()?,
        };
        let total = ds.train.len();
        let count = |s: Option<SplitSize>| match s {
            Some(SplitSize::Count(n)) => Some(n as usize),
            Some(SplitSize::Fraction(f)) => Some((f * total as f64).round() as usize),
            None => None,
        };
        let val = count(decl.val).unwrap_or(0);
        let mut train = count(decl.train).unwrap_or(total.saturating_sub(val));
        let mut val = val;
        if self.info.smoke {
            train = train.min(512);
            val = val.min(256);
        }
        let mut splits = loader::split(&ds, train, val, mix(self.info.seed, 7))?;
        if self.info.smoke && splits.test.len() > 256 {
            let idx: Vec<i64> = (0..256).collect();
            splits.test = splits.test.select(&idx);
        }
        let channels = ds.train.channels;
        if let Some((m, s)) = &decl.normalize
            && !m.is_empty()
            && (m.len() != channels || s.len() != channels)
        {
            return Err(ExecError::setting(
                name,
                format!(
                    "`normalize` gives {} means and {} deviations for images with {channels} channels",
                    m.len(),
                    s.len()
                ),
                "give one value per channel, or write `normalize auto`",
            ));
        }
        let normalize = match &decl.normalize {
            None => Normalize::identity(channels),
            Some((m, s)) if m.is_empty() => splits.normalize.clone(),
            Some((m, s)) => Normalize {
                mean: m.clone(),
                std: s.clone(),
            },
        };
        let augment = decl.augment.iter().filter_map(augment_of).collect();
        eprintln!(
            "data {name}: {} train, {} val, {} test images ({:.1}s)",
            splits.train.len(),
            splits.val.len(),
            splits.test.len(),
            t0.elapsed().as_secs_f64()
        );
        let data = Rc::new(StageData {
            name: name.to_string(),
            source: decl.source.clone(),
            path: path.clone(),
            splits,
            batch: if self.info.smoke {
                (decl.batch as usize).min(32)
            } else {
                decl.batch as usize
            },
            augment,
            normalize,
            classes: ds.classes.len(),
            shape: [ds.train.channels, ds.train.height, ds.train.width],
            synthetic: decl.synthetic,
        });
        self.data.insert(name.to_string(), data.clone());
        Ok(data)
    }

    /// The training loader of a stage: the dataset's batch and augmentations, the stage's `batch`
    /// and `cutout` settings.
    pub fn train_loader(&self, stage: &Stage, data: &StageData, seed: u64) -> Loader {
        let mut augment = data.augment.clone();
        if let Some(size) = stage.spec.cutout() {
            augment.push(Augment::Cutout { size: size as i64 });
        }
        Loader {
            batch: self.batch(stage, data),
            shuffle: true,
            drop_last: true,
            augment,
            normalize: data.normalize.clone(),
            device: self.device(),
            seed,
        }
    }

    pub fn batch(&self, stage: &Stage, data: &StageData) -> usize {
        let b = stage.spec.common().batch.unwrap_or(data.batch);
        if self.info.smoke { b.min(32) } else { b }
    }

    /// An evaluation loader (no augmentation).
    pub fn eval_loader(&self, data: &StageData) -> Loader {
        Loader::eval(256, data.normalize.clone(), self.device())
    }

    /// Batches an evaluation may use (all, or two in smoke runs).
    pub fn eval_batches(&self) -> Option<usize> {
        self.info.smoke.then_some(2)
    }
}

fn augment_of(c: &Call) -> Option<Augment> {
    let int = |k: &str, d: i64| match c.get(k) {
        Some(Value::Int(i)) => *i,
        Some(v) => v.as_f64().map(|f| f as i64).unwrap_or(d),
        None => d,
    };
    match c.name.as_str() {
        "random_crop" => Some(Augment::RandomCrop { pad: int("pad", 4) }),
        "hflip" => Some(Augment::HFlip {
            p: c.get("p").and_then(Value::as_f64).unwrap_or(0.5),
        }),
        "cutout" => Some(Augment::Cutout {
            size: int("size", 16),
        }),
        _ => None,
    }
}

/// The validation split, or an error saying the stage needs one.
pub fn require_val(stage: &Stage, data: &StageData) -> Result<(), ExecError> {
    if data.splits.val.is_empty() {
        return Err(ExecError::setting(
            &stage.name,
            format!(
                "dataset `{}` has no validation split to score architectures on",
                data.name
            ),
            "carve one: `split train: 50000, val: 10000`",
        ));
    }
    Ok(())
}

/// Evaluates a forward function on a set: (mean loss, accuracy).
pub fn evaluate_set(
    forward: &dyn Fn(&tch::Tensor) -> tch::Tensor,
    set: &TensorSet,
    loader: &Loader,
    max_batches: Option<usize>,
) -> (f64, f64) {
    let (mut loss, mut correct, mut n) = (0.0, 0i64, 0i64);
    tch::no_grad(|| {
        for (x, y) in loader.epoch(set, 0).take(max_batches.unwrap_or(usize::MAX)) {
            let logits = forward(&x);
            let b = y.size()[0];
            let (l, c) = train::loss_and_correct(&logits, &y, 0.0);
            loss += l.double_value(&[]) * b as f64;
            correct += c;
            n += b;
        }
    });
    (loss / n.max(1) as f64, correct as f64 / n.max(1) as f64)
}
