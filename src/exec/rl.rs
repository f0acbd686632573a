//! `rl(space)`: an LSTM controller (`controller`) proposes architectures and learns from their reward.
//!
//! - `shared true` (ENAS, the default): every epoch trains the shared weights of the space's supernet
//!   on the train split, one controller-sampled architecture per batch, then takes `steps` controller
//!   updates, each rewarded with the accuracy of a sampled architecture on a validation batch with the
//!   shared weights. `derive sample(n)` samples n architectures, scores each on validation images
//!   with the shared weights (BN re-estimated) and keeps the best; `derive argmax` keeps the
//!   controller's most likely architecture. The weights, the controller and their optimizers are
//!   checkpointed every epoch.
//! - `shared false` (MnasNet): `samples` children in rounds of [`ROUND`]; every child is trained
//!   stand-alone for `proxy_epochs`, rewarded with its validation accuracy (times
//!   `(latency / target)^w` under `reward mnas(...)`), and recorded in the stage's parts journal, so a
//!   resumed run never trains it again; the controller learns from each round and is checkpointed
//!   after it. The child with the best reward is `.best`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};
use tch::Tensor;

use super::controller::{Controller, ControllerConfig, UpdateStats};
use super::error::ExecError;
use super::piece::Work;
use super::result::{Candidate, Part, SupernetOut};
use super::result::{ChildRow, Enas, Method, Mnas, Round, Searched, StageResult, Trained};
use super::search::{Scorer, finish_search, train_standalone};
use super::supernet::{choices, save_weights, smoke_epochs, supernet_step};
use super::train::{Fit, StepOut, named_trainable};
use super::{Ctx, evaluate_set, hash_str, mix, require_val, space_of};
use crate::compile::latency::{MeasureOpts, measure_missing, open_table};
use crate::compile::{Mix, Supernet};
use crate::cost::arch_cost;
use crate::cost::latency::{LatencyTable, op_key};
use crate::ir::{Arch, Net, SearchSpace};
use crate::sema::hir::Stage;
use crate::sema::spec::{Derive, Reward as RewardSpec, RlSpec, StageSpec};

/// Children per controller update when `shared false`.
pub const ROUND: usize = 4;

fn cap(ctx: &Ctx, n: usize, smoke: usize) -> usize {
    if ctx.info.smoke { n.min(smoke) } else { n }
}

/// `rl(space)`.
pub fn search(ctx: &mut Ctx, stage: &Stage) -> Result<StageResult, ExecError> {
    let StageSpec::Rl(spec) = &stage.spec else {
        return Err(super::wrong_kind(stage));
    };
    match *spec.shared {
        false => mnas(ctx, stage, spec),
        true => enas(ctx, stage, spec),
    }
}

/// Per-op latencies measured on this device as sampled networks need them, kept in a table file
/// (`latency lut("file")`, or `latency.yaml` in the stage's folder; smoke runs keep it there too).
pub struct Latencies {
    table: LatencyTable,
    path: PathBuf,
    opts: MeasureOpts,
    device: tch::Device,
}

impl Latencies {
    fn open(ctx: &Ctx, stage: &Stage) -> Result<Latencies, ExecError> {
        let (path, opts) = super::latency::source(ctx, stage)?;
        let table = open_table(&path, ctx.device(), &opts)?;
        eprintln!("latency table {}", path.display());
        Ok(Latencies {
            table,
            path,
            opts,
            device: ctx.device(),
        })
    }

    /// The network's latency in ms: the sum of its ops' entries, ops the table lacks measured now
    /// and saved. The sum reads the entries as saved (the table is read back after a measurement: a
    /// number's text need not parse back to the very same bits), so a resumed run, which reads the
    /// file, sums the same numbers.
    fn ms(&mut self, net: &Net) -> Result<f64, ExecError> {
        let ops = net.ops().map(|(_, op, input)| (op, input));
        let added = measure_missing(ops, self.device, &self.opts, &mut self.table)? > 0;
        if added {
            self.table.save(&self.path)?;
            self.table = LatencyTable::load(&self.path)?;
        }
        Ok(net
            .ops()
            .map(|(_, op, input)| {
                self.table
                    .entries
                    .get(&op_key(op, input))
                    .copied()
                    .unwrap_or(0.0)
            })
            .sum())
    }
}

/// The controller's reward: validation accuracy, or MnasNet's `ACC * (LAT / target)^w`.
enum Reward {
    Accuracy,
    Mnas {
        target_ms: f64,
        w: f64,
        latencies: Box<Latencies>,
    },
}

impl Reward {
    fn of(ctx: &Ctx, stage: &Stage, spec: &RlSpec) -> Result<Reward, ExecError> {
        match *spec.reward {
            RewardSpec::Mnas { target_ms, w } => Ok(Reward::Mnas {
                target_ms,
                w,
                latencies: Box::new(Latencies::open(ctx, stage)?),
            }),
            RewardSpec::Accuracy => Ok(Reward::Accuracy),
        }
    }

    /// (reward, latency in ms if measured) of an architecture of `accuracy`.
    fn of_arch(
        &mut self,
        space: &SearchSpace,
        arch: &Arch,
        accuracy: f64,
    ) -> Result<(f64, Option<f64>), ExecError> {
        match self {
            Reward::Accuracy => Ok((accuracy, None)),
            Reward::Mnas {
                target_ms,
                w,
                latencies,
            } => {
                let ms = latencies.ms(&space.net(arch)?)?;
                Ok((accuracy * (ms / target_ms.max(1e-12)).powf(*w), Some(ms)))
            }
        }
    }
}

/// A controller checkpoint record (`controller.ckpt.json`): how far the controller got.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ControllerRecord {
    /// Epochs (ENAS) or rounds (MnasNet) done.
    done: usize,
    metrics_len: u64,
}

fn save_controller(
    ctx: &Ctx,
    dir: &Path,
    controller: &Controller,
    done: usize,
) -> Result<(), ExecError> {
    controller.save(&dir.join("controller.safetensors"))?;
    ctx.write_record(
        &dir.join("controller.ckpt.json"),
        &ControllerRecord {
            done,
            metrics_len: ctx.dir.metrics_len(),
        },
    )
}

/// Restores the controller's last checkpoint; returns the epochs or rounds it covers.
fn load_controller(
    dir: &Path,
    controller: &mut Controller,
    stage: &str,
) -> Result<usize, ExecError> {
    let record = dir.join("controller.ckpt.json");
    if !record.exists() {
        return Ok(0);
    }
    let text = std::fs::read_to_string(&record).map_err(|e| ExecError::io(&record, e))?;
    let r: ControllerRecord = serde_json::from_str(&text).map_err(|e| ExecError::Resume {
        dir: dir.to_path_buf(),
        message: format!("{} is damaged: {e}", record.display()),
        help: "delete the stage's folder under stages/ to redo the stage".into(),
    })?;
    controller.load(&dir.join("controller.safetensors"), stage)?;
    Ok(r.done)
}

/// The controller's distribution per decision, greedily along its most likely path (for the log).
fn controller_line(
    stage: &str,
    space: &SearchSpace,
    controller: &Controller,
    what: &str,
    n: usize,
    stats: &[UpdateStats],
) -> Json {
    let mean = |f: &dyn Fn(&UpdateStats) -> f64| {
        stats.iter().map(f).sum::<f64>() / stats.len().max(1) as f64
    };
    let greedy = controller.greedy();
    let arch = Arch::from_indices(space, &greedy).ok();
    json!({
        "stage": stage, "event": "controller", what: n, "updates": controller.updates,
        "reward": mean(&|s| s.reward), "baseline": controller.baseline(),
        "entropy": mean(&|s| s.entropy), "greedy": arch,
        "greedy_prob": controller.prob(&greedy),
    })
}

/// One child of a `shared false` search.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Child {
    genome: Vec<usize>,
    candidate: Candidate,
    reward: f64,
    latency_ms: Option<f64>,
    train_loss: f64,
}

/// MnasNet: children trained stand-alone, PPO (or REINFORCE) on their rewards.
fn mnas(ctx: &mut Ctx, stage: &Stage, spec: &RlSpec) -> Result<StageResult, ExecError> {
    let t0 = Instant::now();
    let space = SearchSpace::new(space_of(ctx, stage)?.spec.clone())?;
    let data = ctx.data(stage)?;
    require_val(stage, &data)?;
    let ch = choices(&space);
    let cfg: ControllerConfig = spec.controller.clone_value();
    let seed = ctx.stage_seed(&stage.name);
    let mut controller = Controller::new(&ch, cfg.clone(), mix(seed, 1));
    let samples = cap(ctx, (*spec.samples).max(1), 8);
    let proxy = smoke_epochs(ctx, *spec.proxy_epochs).max(1);
    let mut reward = Reward::of(ctx, stage, spec)?;
    let dir = ctx.dir.stage_dir(&stage.name)?;
    let start = load_controller(&dir, &mut controller, &stage.name)?;
    let rounds = samples.div_ceil(ROUND);
    let name = stage.name.clone();
    let mut children: Vec<Child> = Vec::new();
    let mut history = Vec::new();
    for r in 0..rounds {
        let n = ROUND.min(samples - r * ROUND);
        let round: Vec<Child> = ctx.part(&name, &format!("round{r}"), |ctx| {
            let mut rng = ChaCha8Rng::seed_from_u64(mix(seed, 100 + r as u64));
            let genomes = controller.sample(n, &mut rng);
            let mut archs = Vec::new();
            let mut work = Vec::new();
            for g in &genomes {
                let arch = Arch::from_indices(&space, g)?;
                let work_of = Work::MnasChild {
                    arch: arch.clone(),
                    epochs: proxy,
                };
                work.push((child_tag(&arch), work_of));
                archs.push(arch);
            }
            // The round's children are independent pieces (local workers or Slurm tasks); the
            // rewards, which read the latency table, are computed here, in the children's order.
            let trained = ctx.pieces(stage, work)?;
            let mut out = Vec::new();
            for ((g, arch), t) in genomes.into_iter().zip(archs).zip(trained) {
                let tag = child_tag(&arch);
                let t: TrainedChild = serde_json::from_value(t).map_err(|e| ExecError::Resume {
                    dir: dir.clone(),
                    message: format!("the record of {tag} is not a trained child: {e}"),
                    help: "delete the stage's folder under stages/ to redo the stage".into(),
                })?;
                remove_checkpoints(&dir, &tag);
                let (rw, latency_ms) = reward.of_arch(&space, &arch, t.accuracy)?;
                let cost = arch_cost(&space, &arch)?;
                ctx.dir.log(json!({
                    "stage": name, "event": "candidate", "arch": arch, "accuracy": t.accuracy,
                    "loss": t.loss, "reward": rw, "latency_ms": latency_ms,
                    "train_loss": t.train_loss, "epochs": proxy,
                }))?;
                out.push(Child {
                    genome: g,
                    candidate: Candidate {
                        score: rw,
                        latency_ms,
                        ..Candidate::new(arch, &cost, t.loss, t.accuracy)
                    },
                    reward: rw,
                    latency_ms,
                    train_loss: t.train_loss,
                });
            }
            Ok(out)
        })?;
        if r >= start {
            let genomes: Vec<Vec<usize>> = round.iter().map(|c| c.genome.clone()).collect();
            let rewards: Vec<f64> = round.iter().map(|c| c.reward).collect();
            let stats = controller.update(&genomes, &rewards);
            let line = controller_line(&name, &space, &controller, "round", r + 1, &[stats]);
            ctx.dir.log(line)?;
            save_controller(ctx, &dir, &controller, r + 1)?;
        }
        history.push(Round {
            round: r + 1,
            reward: round.iter().map(|c| c.reward).sum::<f64>() / round.len().max(1) as f64,
            best_reward: round
                .iter()
                .map(|c| c.reward)
                .fold(f64::NEG_INFINITY, f64::max),
        });
        children.extend(round);
    }
    let best = children
        .iter()
        .max_by(|a, b| a.reward.total_cmp(&b.reward))
        .cloned();
    let evaluated: Vec<Candidate> = children.iter().map(|c| c.candidate.clone()).collect();
    let out = finish_search(
        ctx,
        stage,
        best.as_ref().map(|b| b.candidate.arch.clone()),
        evaluated,
        vec![],
        "val.accuracy",
        t0,
        |_, _| Ok(None),
    )?;
    let method = Mnas {
        mode: "stand-alone children (MnasNet)".into(),
        algorithm: cfg.algorithm,
        children: children.len(),
        proxy_epochs: proxy,
        reward: best.as_ref().map(|b| b.reward),
        latency_ms: best.as_ref().map(|b| b.latency_ms),
        rounds: history,
        samples: children
            .iter()
            .map(|c| ChildRow {
                arch: c.candidate.arch.clone(),
                accuracy: c.candidate.accuracy,
                reward: c.reward,
                latency_ms: c.latency_ms,
            })
            .collect(),
    };
    Ok(StageResult::Search(Searched {
        out,
        method: Method::Mnas(method),
    }))
}

/// The parts-journal tag of a MnasNet child (its piece's name), from its architecture alone.
fn child_tag(arch: &Arch) -> String {
    let key = serde_json::to_string(arch).unwrap_or_default();
    format!("child{:016x}", hash_str(&key))
}

/// What training a MnasNet child leaves: a piece's result (its reward is the search's to compute,
/// as the search holds the latency table).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainedChild {
    loss: f64,
    accuracy: f64,
    train_loss: f64,
}

/// One MnasNet child as a piece: `arch` trained stand-alone for `epochs` with a seed of the stage
/// and the architecture (never of the order children run in), then scored on the validation split.
pub fn mnas_child(
    ctx: &mut Ctx,
    stage: &Stage,
    arch: &Arch,
    epochs: usize,
) -> Result<TrainedChild, ExecError> {
    let space = SearchSpace::new(space_of(ctx, stage)?.spec.clone())?;
    let data = ctx.data(stage)?;
    require_val(stage, &data)?;
    let key = serde_json::to_string(arch).unwrap_or_default();
    let tag = child_tag(arch);
    let cseed = mix(ctx.stage_seed(&stage.name), hash_str(&key));
    tch::manual_seed(cseed as i64 & i64::MAX);
    let net = super::search::standalone_net(ctx, stage, &space, arch)?;
    let summary = train_standalone(ctx, stage, &space, arch, &net, &tag, epochs, epochs, cseed)?;
    let (loss, accuracy) = evaluate_set(
        &|x| net.forward_t(x, false),
        &data.splits.val,
        &ctx.eval_loader(&data),
        ctx.eval_batches(),
    );
    Ok(TrainedChild {
        loss,
        accuracy,
        train_loss: summary.final_loss,
    })
}

/// Removes a finished child's training checkpoints (its result is in the parts journal).
fn remove_checkpoints(dir: &Path, tag: &str) {
    let _ = std::fs::remove_file(dir.join(format!("{tag}.ckpt.json")));
    if let Ok(entries) = std::fs::read_dir(dir) {
        let prefix = format!("{tag}.e");
        for e in entries.flatten() {
            let n = e.file_name().to_string_lossy().to_string();
            if n.starts_with(&prefix) && n.ends_with(".safetensors") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// ENAS: shared weights and the controller trained in alternation.
fn enas(ctx: &mut Ctx, stage: &Stage, spec: &RlSpec) -> Result<StageResult, ExecError> {
    let t0 = Instant::now();
    let space_name = stage.space.clone().unwrap_or_default();
    let space = SearchSpace::new(space_of(ctx, stage)?.spec.clone())?;
    let data = ctx.data(stage)?;
    require_val(stage, &data)?;
    let ch = choices(&space);
    let epochs = smoke_epochs(ctx, *spec.training.epochs);
    let steps = cap(ctx, (*spec.steps).max(1), 2);
    let seed = ctx.stage_seed(&stage.name);
    let cfg: ControllerConfig = spec.controller.clone_value();
    let mut controller = Controller::new(&ch, cfg.clone(), mix(seed, 1));
    let mut reward = Reward::of(ctx, stage, spec)?;
    let dir = ctx.dir.stage_dir(&stage.name)?;
    let start = load_controller(&dir, &mut controller, &stage.name)?;
    tch::manual_seed(seed as i64 & i64::MAX);
    let net = Supernet::new(&space, ctx.device())?;
    let smoothing = *spec.training.label_smoothing;
    // The shared weights' optimizer: `weights`, else `optimizer`.
    let weights = spec
        .weights
        .clone_value()
        .unwrap_or_else(|| spec.training.optimizer.clone_value());
    let batch = ctx.batch(stage, &data);
    let mut val_loader = ctx.eval_loader(&data);
    val_loader.batch = batch;
    val_loader.shuffle = true;
    val_loader.seed = mix(seed, 2);
    let name = stage.name.clone();
    let mut summary = None;
    for e in 0..epochs {
        // The shared weights: epoch e of the whole schedule (a no-op past the last checkpoint).
        let mut fit = Fit::for_stage(ctx, stage, &data, &net.vs, &name, e + 1, epochs, seed)?;
        let (rule, lr, schedule) = spec.training.plan(&weights, epochs, true);
        fit.optimizer = super::optim::Optimizer::new(rule, named_trainable(&net.vs));
        fit.lr = lr;
        fit.schedule = schedule;
        let policy = &controller;
        let mut step =
            |x: &Tensor, y: &Tensor, rng: &mut ChaCha8Rng, _t: f64| -> Result<StepOut, ExecError> {
                let g = policy.sample(1, rng).remove(0);
                let options: Vec<Vec<usize>> = g.into_iter().map(|o| vec![o]).collect();
                supernet_step(&net, &space, &[options], x, y, smoothing)
            };
        summary = Some(super::train::fit(
            ctx,
            &name,
            fit,
            &net.vs,
            &data.splits.train,
            &mut step,
        )?);
        if e < start {
            continue;
        }
        // The controller: `steps` updates, each on one architecture and one validation batch.
        let mut stats = Vec::with_capacity(steps);
        for s in 0..steps {
            let k = (e * steps + s) as u64;
            let mut rng = ChaCha8Rng::seed_from_u64(mix(seed, 1_000_000 + k));
            let g = controller.sample(1, &mut rng).remove(0);
            let (x, y) = val_loader
                .epoch(&data.splits.val, k)
                .next()
                .ok_or_else(|| {
                    ExecError::setting(
                        &name,
                        "the validation split has no batch",
                        "carve a larger one: `split train: 50000, val: 10000`",
                    )
                })?;
            let options: Vec<Vec<usize>> = g.iter().map(|&o| vec![o]).collect();
            let accuracy = tch::no_grad(|| -> Result<f64, ExecError> {
                let logits = net.forward_mix(&x, &Mix::from_options(&options), true)?;
                let (_, correct) = super::train::loss_and_correct(&logits, &y, 0.0);
                Ok(correct as f64 / y.size()[0].max(1) as f64)
            })?;
            let arch = Arch::from_indices(&space, &g)?;
            let (r, _) = reward.of_arch(&space, &arch, accuracy)?;
            stats.push(controller.update(&[g], &[r]));
            if ctx.interrupted.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(ctx.interrupted_error(&name));
            }
        }
        let line = controller_line(&name, &space, &controller, "epoch", e + 1, &stats);
        ctx.dir.log(line)?;
        save_controller(ctx, &dir, &controller, e + 1)?;
    }
    // The shared weights as the last epoch left them (the controller's batches ran in training mode
    // and moved the BatchNorm statistics; the checkpoint has them as training left them).
    let weights = save_weights(ctx, &name, "supernet.safetensors", &net)?;
    let supernet = SupernetOut {
        space: space_name,
        parts: vec![Part {
            prefix: vec![],
            weights,
        }],
        sampler: "controller".into(),
        train: summary.clone(),
        finetune: vec![],
        affine: true,
        ..SupernetOut::default()
    };
    let derive = spec.derive.clone_value();
    let (genomes, winner_is_first) = match &derive {
        Some(Derive::Argmax) => (vec![controller.greedy()], true),
        Some(Derive::Sample(n)) => {
            let n = cap(ctx, (*n).max(1), 4);
            let mut rng = ChaCha8Rng::seed_from_u64(mix(seed, 3));
            (controller.sample(n, &mut rng), false)
        }
        Some(Derive::TopK(_)) | None => {
            let mut rng = ChaCha8Rng::seed_from_u64(mix(seed, 3));
            (controller.sample(cap(ctx, 100, 4), &mut rng), false)
        }
    };
    // Scored on (at most) 1024 validation images with the shared weights, BN re-estimated.
    let n_val = data.splits.val.len().min(1024);
    let idx: Vec<i64> = (0..n_val as i64).collect();
    let val = data.splits.val.select(&idx);
    let recal = Some(if ctx.info.smoke { 64 } else { 512 });
    let scorer = Scorer::new(&space, &supernet, recal, &name);
    let mut evaluated = Vec::new();
    for g in &genomes {
        let mut c = scorer.score_on(ctx, &data, g, recal, &val)?;
        let (r, _) = reward.of_arch(&space, &c.arch, c.accuracy)?;
        c.score = r;
        evaluated.push(c);
    }
    let winner = if winner_is_first {
        evaluated.first().map(|c| c.arch.clone())
    } else {
        evaluated
            .iter()
            .max_by(|a, b| a.score.total_cmp(&b.score))
            .map(|c| c.arch.clone())
    };
    let out = finish_search(
        ctx,
        stage,
        winner,
        evaluated,
        vec![],
        "val.accuracy",
        t0,
        |_, _| Ok(None),
    )?;
    controller.save(&dir.join("controller.safetensors"))?;
    let method = Enas {
        mode: "shared weights (ENAS)".into(),
        algorithm: cfg.algorithm,
        controller_updates: controller.updates,
        derived_from: genomes.len(),
        trained: summary.as_ref().map(Trained::of),
        supernet: supernet.parts[0].weights.clone(),
        supernet_weights: supernet,
    };
    Ok(StageResult::Search(Searched {
        out,
        method: Method::Enas(Box::new(method)),
    }))
}
