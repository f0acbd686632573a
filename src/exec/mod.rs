//! The staged executor behind `nasl run`: runs a checked pipeline's stages in declaration (data-flow)
//! order inside a run directory, hands each stage's result to the stages that read it, and makes
//! every piece of work durable (stage results, training checkpoints, evaluated candidates) so that a
//! killed run resumes where it stopped. Stage kinds live in `supernet` (supernet training, few-shot),
//! `search` (evolution, random, NSGA-II, successive halving), `model` (retraining, evaluation, the
//! exported model) and `rank` (supernet ranking quality). This file holds the run loop (pre-flight,
//! resume, one stage after another) and `Ctx`; `data` loads datasets for stages, `journal` records
//! finished pieces and reads earlier results, `result` is what each stage kind produces (typed),
//! `summary` writes `summary.json`, `rundir` owns the run directory's files and naming, `latency`
//! the stage's latency table, `pool` runs a stage's independent pieces on worker processes and
//! `slurm` as Slurm job arrays.

pub mod controller;
pub mod data;
pub mod diff;
pub mod error;
pub mod hypernet;
mod journal;
pub mod latency;
pub mod malloc;
pub mod masked;
pub mod model;
pub mod optim;
pub mod piece;
pub mod plot;
pub mod pool;
pub mod predict;
pub mod progress;
pub mod rank;
pub mod relax;
pub mod result;
pub mod rl;
pub mod rundir;
pub mod search;
pub mod shrink;
pub mod slurm;
mod summary;
pub mod superkernel;
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
pub use data::{StageData, evaluate_set, require_val};
pub use error::ExecError;
use journal::durable_metrics_len;
use progress::Mode;
pub use result::StageResult;
use rundir::{DoneStage, RunDir, RunInfo, RunState, default_out};
use summary::{summary_of, write_summary};

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
    /// Where independent pieces run (`--workers`, `--devices`, `--executor`).
    pub scale: pool::Scale,
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
    pub results: BTreeMap<String, StageResult>,
    /// The run's local worker processes once a stage handed them pieces (kept for later stages).
    pool: Option<pool::LocalPool>,
    /// Supernets loaded to score one stage's candidates (`Ctx::scoring_net`).
    scoring: std::cell::RefCell<search::ScoringNets>,
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
}

/// The training settings of a stage that trains (sema lowers every training kind with them).
pub fn training(stage: &Stage) -> Result<&crate::sema::spec::Training, ExecError> {
    stage.spec.training().ok_or_else(|| {
        ExecError::setting(
            &stage.name,
            "this stage kind does not train weights",
            "report this: sema lowered the stage without training settings",
        )
    })
}

/// The error of a stage whose typed settings are not of its kind (sema lowers each stage by its
/// kind, so this is a bug, reported rather than panicked on).
pub fn wrong_kind(stage: &Stage) -> ExecError {
    ExecError::setting(
        &stage.name,
        format!(
            "the stage's settings are not those of a {:?} stage",
            stage.kind
        ),
        "report this: sema lowered the stage as another kind",
    )
}

/// Result of a whole run.
pub struct RunOutcome {
    pub dir: PathBuf,
    pub summary: Json,
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
    let mut opts = opts;
    let (dir, info, state) = match &opts.resume {
        Some(root) => {
            let info: RunInfo = RunDir::read_json(root, "run.json")?;
            let mut paths = info.data_paths.clone();
            paths.append(&mut opts.data_paths);
            opts.data_paths = paths;
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
                data_paths: opts.data_paths.clone(),
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
        pool: None,
        scoring: Default::default(),
    };
    let mut state = state;
    ctx.results = decode_results(&ctx.dir.root, &ctx.program, &state)?;
    let stages = ctx.program.stages.clone();
    for stage in &stages {
        if ctx.results.contains_key(&stage.name) {
            eprintln!("stage {}: done earlier, skipped", stage.name);
            continue;
        }
        let t0 = Instant::now();
        eprintln!("stage {} ({:?})", stage.name, stage.kind);
        stage.spec.take_applied(&stage.settings);
        let (file, root) = (ctx.info.file.clone(), ctx.dir.root.clone());
        let result = error::guard(&stage.name, &file, &root, || run_stage(&mut ctx, stage))?;
        let record = json!(result::Record {
            result: &result,
            seconds: t0.elapsed().as_secs_f64(),
            settings: stage.spec.take_applied(&stage.settings),
        });
        ctx.dir.log(
            json!({"stage": stage.name, "event": "done", "result": summary_of(stage, &record)}),
        )?;
        state.done.push(DoneStage {
            name: stage.name.clone(),
            result: record,
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

fn run_stage(ctx: &mut Ctx, stage: &Stage) -> Result<StageResult, ExecError> {
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
        StageKind::ProgressiveShrinking => shrink::progressive_shrinking(ctx, stage)?,
    };
    Ok(out)
}

/// The typed results of a run's finished stages, read back from `state.json`.
pub(crate) fn decode_results(
    root: &Path,
    program: &Program,
    state: &RunState,
) -> Result<BTreeMap<String, StageResult>, ExecError> {
    let damaged = |message: String| ExecError::Resume {
        dir: root.to_path_buf(),
        message,
        help: "the run directory was written by another nasl version or edited; start a new run"
            .into(),
    };
    let mut out = BTreeMap::new();
    for d in &state.done {
        let stage = program
            .stages
            .iter()
            .find(|s| s.name == d.name)
            .ok_or_else(|| {
                damaged(format!(
                    "state.json records stage `{}`, which the pipeline lacks",
                    d.name
                ))
            })?;
        let result = StageResult::decode(stage, &d.result).map_err(|e| {
            damaged(format!(
                "the recorded result of stage `{}` cannot be read: {e}",
                d.name
            ))
        })?;
        out.insert(d.name.clone(), result);
    }
    Ok(out)
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
