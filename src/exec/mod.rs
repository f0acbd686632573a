//! The staged executor behind `nasl run`: runs a checked pipeline's stages in declaration (data-flow)
//! order inside a run directory, hands each stage's result to the stages that read it, and makes
//! every piece of work durable (stage results, training checkpoints, evaluated candidates) so that a
//! killed run resumes where it stopped. Stage kinds live in `supernet` (supernet training, few-shot),
//! `search` (evolution, random, NSGA-II, successive halving), `model` (retraining, evaluation, the
//! exported model) and `rank` (supernet ranking quality).

pub mod controller;
pub mod diff;
pub mod error;
pub mod hypernet;
pub mod malloc;
pub mod model;
pub mod optim;
pub mod plot;
pub mod progress;
pub mod rank;
pub mod relax;
pub mod rl;
pub mod rundir;
pub mod search;
pub mod supernet;
pub mod train;

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};
use tch::Device;

use crate::data::loader::{self, Augment, Loader, Normalize, Splits, TensorSet};
use crate::ir::SearchSpace;
use crate::sema::hir::{Call, Program, SplitSize, Stage, StageKind, Value};
pub use error::ExecError;
use progress::Mode;
use rundir::{DoneStage, RunDir, RunInfo, RunState};

/// How `nasl run` was asked to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The pipeline file.
    pub file: PathBuf,
    /// The run directory (new run) or `None` for `runs/<file stem>[-N]`.
    pub out: Option<PathBuf>,
    /// Resume this run directory.
    pub resume: Option<PathBuf>,
    pub seed: u64,
    /// Every stage on a few batches, small searches (tests).
    pub smoke: bool,
    pub device: Device,
    /// Dataset folders given on the command line (`--data NAME=PATH`), by dataset declaration name.
    pub data_paths: BTreeMap<String, PathBuf>,
    pub progress: Mode,
}

/// Mixes a seed with a counter into a new seed (SplitMix64 finaliser).
pub fn mix(seed: u64, n: u64) -> u64 {
    let mut z = seed ^ n.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A stable hash of a string (FNV-1a), for seeds and pipeline fingerprints.
pub fn hash_str(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

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

/// Everything a stage can reach: the program, the spaces, the run directory, loaded data, the
/// results of finished stages.
pub struct Ctx {
    pub program: Program,
    pub spaces: Vec<(String, SearchSpace)>,
    pub dir: RunDir,
    pub opts: RunOptions,
    pub info: RunInfo,
    pub interrupted: Arc<AtomicBool>,
    data: HashMap<String, Rc<StageData>>,
    /// Each stage's `parts.jsonl`, read once per run and kept in step with the file.
    parts: HashMap<String, BTreeMap<String, Json>>,
    pub results: BTreeMap<String, Json>,
}

impl Ctx {
    pub fn device(&self) -> Device {
        self.opts.device
    }

    pub fn progress_mode(&self) -> Mode {
        self.opts.progress
    }

    pub fn space(&self, name: &str) -> Option<&SearchSpace> {
        self.spaces.iter().find(|(n, _)| n == name).map(|(_, s)| s)
    }

    pub fn stage_seed(&self, stage: &str) -> u64 {
        mix(self.info.seed, hash_str(stage))
    }

    /// Writes a JSON record atomically (a checkpoint record, which carries its `metrics_len`).
    pub fn write_record(&self, path: &Path, value: &impl Serialize) -> Result<(), ExecError> {
        let text = serde_json::to_string_pretty(value).map_err(|e| ExecError::io(path, e))?;
        rundir::atomic_write(path, text.as_bytes())
    }

    pub fn interrupted_error(&self, stage: &str) -> ExecError {
        ExecError::Interrupted {
            stage: stage.to_string(),
            dir: self.dir.root.clone(),
            file: self.info.file.clone(),
        }
    }

    /// A piece of a stage done once: returns the recorded result if an earlier (interrupted) run
    /// finished it, otherwise computes it and records it in the stage's `parts.jsonl`.
    pub fn part<T: Serialize + for<'de> Deserialize<'de>>(
        &mut self,
        stage: &str,
        tag: &str,
        compute: impl FnOnce(&mut Ctx) -> Result<T, ExecError>,
    ) -> Result<T, ExecError> {
        let dir = self.dir.stage_dir(stage)?;
        let path = dir.join("parts.jsonl");
        let done = self
            .parts
            .entry(stage.to_string())
            .or_insert_with(|| read_parts(&path));
        if let Some(v) = done.get(tag)
            && let Ok(t) = serde_json::from_value(v.clone())
        {
            return Ok(t);
        }
        let value = compute(self)?;
        let result = serde_json::to_value(&value).map_err(|e| ExecError::io(&path, e))?;
        let line = json!({
            "tag": tag,
            "result": result,
            "metrics_len": self.dir.metrics_len(),
        });
        let mut f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| ExecError::io(&path, e))?;
        writeln!(f, "{line}")
            .and_then(|_| f.sync_data())
            .map_err(|e| ExecError::io(&path, e))?;
        if let Some(done) = self.parts.get_mut(stage) {
            done.insert(tag.to_string(), line["result"].clone());
        }
        Ok(value)
    }

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
        if let Some(size) = int(stage, "cutout") {
            augment.push(Augment::Cutout { size });
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
        let b = int(stage, "batch")
            .map(|b| b as usize)
            .unwrap_or(data.batch);
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

    /// The result of an earlier stage.
    pub fn result<T: for<'de> Deserialize<'de>>(
        &self,
        stage: &str,
        reader: &str,
    ) -> Result<T, ExecError> {
        let v = self.results.get(stage).ok_or_else(|| {
            ExecError::setting(
                reader,
                format!("stage `{stage}` has no result"),
                "stages run in order; the input must be an earlier stage",
            )
        })?;
        serde_json::from_value(v.clone()).map_err(|e| {
            ExecError::setting(
                reader,
                format!("cannot read the result of `{stage}` as its input: {e}"),
                "this input kind is not accepted here",
            )
        })
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

/// An integer setting of a stage.
pub fn int(stage: &Stage, key: &str) -> Option<i64> {
    match stage.settings.get(key)? {
        Value::Int(i) => Some(*i),
        v => v.as_f64().map(|f| f as i64),
    }
}

/// A numeric setting of a stage.
pub fn float(stage: &Stage, key: &str) -> Option<f64> {
    stage.settings.get(key)?.as_f64()
}

/// A call setting of a stage (`optimizer`, `sampler`, ...).
pub fn call<'a>(stage: &'a Stage, key: &str) -> Option<&'a Call> {
    match stage.settings.get(key)? {
        Value::Call(c) => Some(c),
        _ => None,
    }
}

/// Parts recorded in a stage's `parts.jsonl` (a torn last line is ignored).
fn read_parts(path: &Path) -> BTreeMap<String, Json> {
    let mut out = BTreeMap::new();
    if let Ok(f) = fs::File::open(path) {
        for line in std::io::BufReader::new(f).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<Json>(&line)
                && let (Some(tag), Some(result)) =
                    (v.get("tag").and_then(Json::as_str), v.get("result"))
            {
                out.insert(tag.to_string(), result.clone());
            }
        }
    }
    out
}

/// The length of `metrics.jsonl` at the last durable event of a run: the largest `metrics_len` of
/// the state, checkpoint records and part records.
fn durable_metrics_len(root: &Path, state: &RunState) -> u64 {
    let mut len = state.done.iter().map(|d| d.metrics_len).max().unwrap_or(0);
    let Ok(stages) = fs::read_dir(root.join("stages")) else {
        return len;
    };
    for stage in stages.flatten() {
        let Ok(files) = fs::read_dir(stage.path()) else {
            continue;
        };
        for f in files.flatten() {
            let p = f.path();
            let name = p
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .to_string();
            let text = if name.ends_with(".ckpt.json") || name == "parts.jsonl" {
                fs::read_to_string(&p).unwrap_or_default()
            } else {
                continue;
            };
            let values: Vec<Json> = if name == "parts.jsonl" {
                text.lines()
                    .filter_map(|l| serde_json::from_str(l).ok())
                    .collect()
            } else {
                serde_json::from_str(&text).into_iter().collect()
            };
            for v in values {
                if let Some(n) = v.get("metrics_len").and_then(Json::as_u64) {
                    len = len.max(n);
                }
            }
        }
    }
    len
}

/// Result of a whole run.
pub struct RunOutcome {
    pub dir: PathBuf,
    pub summary: Json,
}

/// A fresh run directory name: `runs/<stem>`, then `runs/<stem>-2`, ...
fn default_out(file: &Path) -> PathBuf {
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "run".into());
    let base = PathBuf::from("runs");
    let mut n = 1;
    loop {
        let name = if n == 1 {
            stem.clone()
        } else {
            format!("{stem}-{n}")
        };
        let dir = base.join(name);
        if !dir.join("run.json").exists() {
            return dir;
        }
        n += 1;
    }
}

/// Runs (or resumes) a checked pipeline.
pub fn run(
    program: Program,
    spaces: Vec<(String, SearchSpace)>,
    source_text: &str,
    opts: RunOptions,
    interrupted: Arc<AtomicBool>,
) -> Result<RunOutcome, ExecError> {
    let resolved = serde_yaml::to_string(&program).unwrap_or_default();
    let hash = format!("{:016x}", hash_str(&resolved));
    let (dir, info, state) = match &opts.resume {
        Some(root) => {
            let info: RunInfo = RunDir::read_json(root, "run.json")?;
            if info.pipeline_hash != hash {
                return Err(ExecError::Resume {
                    dir: root.clone(),
                    message: "the pipeline changed since the run started".into(),
                    help: format!(
                        "restore the file as it was (a copy is in {}), or start a new run",
                        root.join("pipeline.nas").display()
                    ),
                });
            }
            let state: RunState = if root.join("state.json").exists() {
                RunDir::read_json(root, "state.json")?
            } else {
                RunState::default()
            };
            let len = durable_metrics_len(root, &state);
            (RunDir::reopen(root, len)?, info, state)
        }
        None => {
            let root = opts.out.clone().unwrap_or_else(|| default_out(&opts.file));
            let dir = RunDir::create(&root)?;
            let info = RunInfo {
                file: opts.file.clone(),
                pipeline_hash: hash,
                seed: opts.seed,
                smoke: opts.smoke,
            };
            rundir::atomic_write(&root.join("pipeline.nas"), source_text.as_bytes())?;
            rundir::atomic_write(&root.join("pipeline.yaml"), resolved.as_bytes())?;
            dir.write_json("run.json", &info)?;
            (dir, info, RunState::default())
        }
    };
    eprintln!(
        "run {} ({} stages, seed {}{})",
        dir.root.display(),
        program.stages.len(),
        info.seed,
        if info.smoke { ", smoke" } else { "" }
    );
    let mut ctx = Ctx {
        program,
        spaces,
        dir,
        opts,
        info,
        interrupted,
        data: HashMap::new(),
        parts: HashMap::new(),
        results: BTreeMap::new(),
    };
    let mut state = state;
    for d in &state.done {
        ctx.results.insert(d.name.clone(), d.result.clone());
    }
    let stages = ctx.program.stages.clone();
    for stage in &stages {
        if ctx.results.contains_key(&stage.name) {
            eprintln!("stage {}: done earlier, skipped", stage.name);
            continue;
        }
        let t0 = Instant::now();
        eprintln!("stage {} ({:?})", stage.name, stage.kind);
        stage.settings.take_read();
        let (file, root) = (ctx.info.file.clone(), ctx.dir.root.clone());
        let mut result = error::guard(&stage.name, &file, &root, || run_stage(&mut ctx, stage))?;
        if let Json::Object(m) = &mut result {
            m.insert("seconds".into(), json!(t0.elapsed().as_secs_f64()));
            // What the executor applied: every setting the stage read (the contract test checks
            // that each setting `nasl check` accepts shows up here).
            m.insert("settings".into(), json!(stage.settings.take_read()));
        }
        ctx.dir.log(
            json!({"stage": stage.name, "event": "done", "result": summary_of(stage, &result)}),
        )?;
        state.done.push(DoneStage {
            name: stage.name.clone(),
            result: result.clone(),
            metrics_len: ctx.dir.metrics_len(),
        });
        ctx.dir.write_json("state.json", &state)?;
        ctx.results.insert(stage.name.clone(), result);
        write_summary(&ctx, &state)?;
    }
    let summary = write_summary(&ctx, &state)?;
    // The report is a view of the files above: failing to write it is said, and the run stands.
    if let Err(e) = crate::report::write(&ctx.dir.root) {
        eprintln!("warning: {}: report.html not written: {e}", e.code_str());
    }
    Ok(RunOutcome {
        dir: ctx.dir.root.clone(),
        summary,
    })
}

fn run_stage(ctx: &mut Ctx, stage: &Stage) -> Result<Json, ExecError> {
    let out = match stage.kind {
        StageKind::Train => {
            let space = space_of(ctx, stage)?;
            if space.decisions.is_empty() {
                model::train_fixed(ctx, stage)?
            } else {
                supernet::train(ctx, stage)?
            }
        }
        StageKind::FewShot => supernet::few_shot(ctx, stage)?,
        StageKind::Evolution | StageKind::RandomSearch | StageKind::Nsga2 => {
            search::supernet_search(ctx, stage)?
        }
        StageKind::SuccessiveHalving => search::halving(ctx, stage)?,
        StageKind::Retrain => model::retrain(ctx, stage)?,
        StageKind::Evaluate => model::evaluate(ctx, stage)?,
        StageKind::Rank => rank::rank(ctx, stage)?,
        StageKind::Differentiable => diff::search(ctx, stage)?,
        StageKind::Rl => rl::search(ctx, stage)?,
        StageKind::Hypernet => hypernet::search(ctx, stage)?,
        StageKind::ProgressiveShrinking => {
            unreachable!("refused by `nasl check` (sema::contract)")
        }
    };
    Ok(out)
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

fn space_name(stage: &Stage) -> &str {
    stage.space.as_deref().unwrap_or_default()
}

/// The space a stage works on (traced by sema through its inputs).
pub fn space_of<'a>(ctx: &'a Ctx, stage: &Stage) -> Result<&'a SearchSpace, ExecError> {
    let name = stage.space.as_deref().unwrap_or_default();
    ctx.space(name).ok_or_else(|| {
        ExecError::setting(
            &stage.name,
            "the stage has no search space",
            "give it a space or a stage that has one as input",
        )
    })
}

/// The stage input that is another stage: (stage name, field).
pub fn stage_input(stage: &Stage) -> Option<(&str, Option<&str>)> {
    stage.inputs.iter().find_map(|i| match i {
        crate::sema::hir::Input::Stage { stage, field } => Some((stage.as_str(), field.as_deref())),
        _ => None,
    })
}

/// The one-object-per-stage view of a result for `summary.json`.
fn summary_of(stage: &Stage, result: &Json) -> Json {
    let mut m = serde_json::Map::new();
    m.insert("stage".into(), json!(stage.name));
    m.insert(
        "kind".into(),
        serde_json::to_value(stage.kind).unwrap_or(Json::Null),
    );
    if let Json::Object(r) = result {
        for (k, v) in r {
            // Long lists stay in state.json; the summary keeps the headline figures.
            if matches!(
                k.as_str(),
                "history"
                    | "candidates"
                    | "samples"
                    | "train"
                    | "finetune"
                    | "parts"
                    | "models"
                    | "final_probs"
            ) {
                continue;
            }
            m.insert(k.clone(), v.clone());
        }
    }
    Json::Object(m)
}

fn write_summary(ctx: &Ctx, state: &RunState) -> Result<Json, ExecError> {
    let stages: Vec<Json> = state
        .done
        .iter()
        .filter_map(|d| {
            let stage = ctx.program.stages.iter().find(|s| s.name == d.name)?;
            Some(summary_of(stage, &d.result))
        })
        .collect();
    let summary = json!({
        "file": ctx.info.file,
        "seed": ctx.info.seed,
        "smoke": ctx.info.smoke,
        "device": format!("{:?}", ctx.device()),
        "threads": tch::get_num_threads(),
        "complete": state.done.len() == ctx.program.stages.len(),
        "stages": stages,
    });
    ctx.dir.write_json("summary.json", &summary)?;
    Ok(summary)
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
