//! The one training loop every stage uses (supernets with any sampler, standalone networks, few-shot
//! parts, successive-halving candidates): epochs of batches, a caller-given step that runs forward and
//! backward, gradient clipping, the optimizer update of the active weights, the learning-rate
//! schedule, progress, NaN detection, metric lines, and a checkpoint (weights + optimizer state, and a
//! second parameter group such as architecture parameters with its own optimizer) after every epoch
//! and on Ctrl-C, from which an interrupted training resumes at the exact batch.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};
use tch::{Kind, Tensor, nn};

use super::error::ExecError;
use super::optim::{LrPlan, Optimizer};
use super::progress::Progress;
use super::{Ctx, mix};
use crate::data::loader::{Loader, TensorSet};

/// What one training step did: summed loss and correct predictions over `n` examples (over every path
/// of the step), and which weights it used (`None`: all).
pub struct StepOut {
    pub loss: f64,
    pub correct: i64,
    pub n: i64,
    pub active: Option<Vec<String>>,
}

/// A training step: batch images, labels, the batch's random stream, training progress in [0, 1].
pub type StepFn<'a> =
    dyn FnMut(&Tensor, &Tensor, &mut ChaCha8Rng, f64) -> Result<StepOut, ExecError> + 'a;

/// How a training runs.
pub struct Fit {
    /// Names this training in checkpoints and metric lines (`supernet`, `final.seed1`, ...).
    pub tag: String,
    /// Train until this many epochs are done.
    pub epochs: usize,
    /// The schedule's length in epochs (usually `epochs`; longer when successive halving continues
    /// a training later).
    pub horizon: usize,
    pub optimizer: Optimizer,
    pub lr: f64,
    pub schedule: LrPlan,
    pub grad_clip: Option<f64>,
    pub loader: Loader,
    /// Smoke runs: at most this many batches per epoch.
    pub max_batches: Option<usize>,
    /// Folder of the checkpoints.
    pub dir: PathBuf,
    pub seed: u64,
    /// A second parameter group the step updates itself (architecture parameters and their
    /// optimizer), saved in and restored from the same checkpoints.
    pub extra: Option<ParamGroup>,
    /// Called after every epoch (1-based); what it returns is logged as an `arch` metric line.
    pub on_epoch: Option<Box<dyn FnMut(usize) -> Json>>,
}

/// Parameters outside the VarStore with their own optimizer (shared with the step that updates them).
pub struct ParamGroup {
    pub params: Vec<(String, Tensor)>,
    pub optimizer: Rc<RefCell<Optimizer>>,
}

impl Fit {
    /// A training of stage `stage` with its optimizer, schedule, clipping and loader, over the
    /// trainable variables of `vs`, for `epochs` of a `horizon`-epoch schedule.
    #[allow(clippy::too_many_arguments)]
    pub fn for_stage(
        ctx: &Ctx,
        stage: &crate::sema::hir::Stage,
        data: &super::StageData,
        vs: &nn::VarStore,
        tag: &str,
        epochs: usize,
        horizon: usize,
        seed: u64,
    ) -> Result<Fit, ExecError> {
        let training = super::training(stage)?;
        let (rule, lr, schedule) = training.optimizer_plan(horizon);
        Ok(Fit {
            tag: tag.to_string(),
            epochs,
            horizon,
            optimizer: Optimizer::new(rule, named_trainable(vs)),
            lr,
            schedule,
            grad_clip: *training.grad_clip,
            loader: ctx.train_loader(stage, data, seed),
            max_batches: ctx.info.smoke.then_some(2),
            dir: ctx.dir.stage_dir(&stage.name)?,
            seed,
            extra: None,
            on_epoch: None,
        })
    }
}

/// Per-epoch figures.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EpochLog {
    pub epoch: usize,
    pub loss: f64,
    pub accuracy: f64,
    pub lr: f64,
    pub seconds: f64,
}

/// A training's checkpoint record (`<tag>.ckpt.json`), pointing at its safetensors file.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Checkpoint {
    epoch: usize,
    batch: usize,
    file: String,
    history: Vec<EpochLog>,
    metrics_len: u64,
    /// Seconds of training before this checkpoint (wall time survives a resume).
    seconds: f64,
    /// Written by a worker's piece: its tag and its metrics file's length (a restarted piece cuts
    /// its file back to it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    piece: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    piece_metrics_len: Option<u64>,
}

/// The result of a finished training.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TrainSummary {
    pub epochs: usize,
    pub final_loss: f64,
    pub final_accuracy: f64,
    pub seconds: f64,
    pub history: Vec<EpochLog>,
}

fn ckpt_json(dir: &Path, tag: &str) -> PathBuf {
    dir.join(format!("{tag}.ckpt.json"))
}

/// Writes weights and optimizer state, then the record pointing at them (atomically), then removes
/// older checkpoint files of this training.
fn save_checkpoint(
    fit: &Fit,
    vs: &nn::VarStore,
    ck: &Checkpoint,
    ctx: &Ctx,
) -> Result<(), ExecError> {
    let path = fit.dir.join(&ck.file);
    let mut named: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .map(|(k, v)| (format!("w:{k}"), v))
        .collect();
    named.extend(
        fit.optimizer
            .state()
            .into_iter()
            .map(|(k, v)| (format!("o:{k}"), v)),
    );
    if let Some(g) = &fit.extra {
        named.extend(
            g.params
                .iter()
                .map(|(k, v)| (format!("x:{k}"), v.detach().copy())),
        );
        named.extend(
            g.optimizer
                .borrow()
                .state()
                .into_iter()
                .map(|(k, v)| (format!("xo:{k}"), v)),
        );
    }
    named.sort_by(|a, b| a.0.cmp(&b.0));
    crate::atomic::write_with(&path, |tmp| {
        Tensor::write_safetensors(&named, tmp).map_err(|e| std::io::Error::other(e.to_string()))
    })
    .map_err(|e| ExecError::io(&path, e))?;
    ctx.write_record(&ckpt_json(&fit.dir, &fit.tag), ck)?;
    if let Ok(entries) = fs::read_dir(&fit.dir) {
        let prefix = format!("{}.e", fit.tag);
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if name.starts_with(&prefix) && name.ends_with(".safetensors") && name != ck.file {
                let _ = fs::remove_file(e.path());
            }
        }
    }
    Ok(())
}

/// Restores weights and optimizer state from the training's last checkpoint, if any.
fn load_checkpoint(
    fit: &mut Fit,
    vs: &nn::VarStore,
    stage: &str,
) -> Result<Option<Checkpoint>, ExecError> {
    let record = ckpt_json(&fit.dir, &fit.tag);
    if !record.exists() {
        return Ok(None);
    }
    let text = fs::read_to_string(&record).map_err(|e| ExecError::io(&record, e))?;
    let ck: Checkpoint = serde_json::from_str(&text).map_err(|e| ExecError::Resume {
        dir: fit.dir.clone(),
        message: format!("{} is damaged: {e}", record.display()),
        help: "delete the stage's folder under stages/ to redo the stage".into(),
    })?;
    let file = fit.dir.join(&ck.file);
    let tensors = Tensor::read_safetensors(&file).map_err(|e| ExecError::Resume {
        dir: fit.dir.clone(),
        message: format!("cannot read checkpoint {}: {e}", file.display()),
        help: "delete the stage's folder under stages/ to redo the stage".into(),
    })?;
    let mut weights: HashMap<String, Tensor> = HashMap::new();
    let mut opt = Vec::new();
    let mut extra: HashMap<String, Tensor> = HashMap::new();
    let mut extra_opt = Vec::new();
    for (k, v) in tensors {
        if let Some(w) = k.strip_prefix("w:") {
            weights.insert(w.to_string(), v);
        } else if let Some(o) = k.strip_prefix("o:") {
            opt.push((o.to_string(), v));
        } else if let Some(x) = k.strip_prefix("x:") {
            extra.insert(x.to_string(), v);
        } else if let Some(o) = k.strip_prefix("xo:") {
            extra_opt.push((o.to_string(), v));
        }
    }
    copy_into(vs, &weights, stage)?;
    fit.optimizer.load_state(opt);
    if let Some(g) = &fit.extra {
        tch::no_grad(|| {
            for (name, t) in &g.params {
                let Some(src) = extra.get(name) else {
                    return Err(ExecError::setting(
                        stage,
                        format!("the checkpoint has no tensor `{name}`"),
                        "the checkpoint belongs to another search; delete the stage's folder to redo it",
                    ));
                };
                t.shallow_clone().copy_(&src.to_device(t.device()));
            }
            Ok(())
        })?;
        g.optimizer.borrow_mut().load_state(extra_opt);
    }
    Ok(Some(ck))
}

/// Copies saved tensors into a VarStore's variables of the same names and shapes.
pub fn copy_into(
    vs: &nn::VarStore,
    saved: &HashMap<String, Tensor>,
    stage: &str,
) -> Result<(), ExecError> {
    tch::no_grad(|| {
        for (name, mut var) in vs.variables() {
            let Some(src) = saved.get(&name) else {
                return Err(ExecError::setting(
                    stage,
                    format!("the checkpoint has no tensor `{name}`"),
                    "the checkpoint belongs to another network; delete the stage's folder to redo it",
                ));
            };
            if src.size() != var.size() {
                return Err(ExecError::setting(
                    stage,
                    format!(
                        "checkpoint tensor `{name}` is {:?}, the network needs {:?}",
                        src.size(),
                        var.size()
                    ),
                    "the checkpoint belongs to another network; delete the stage's folder to redo it",
                ));
            }
            var.copy_(&src.to_device(var.device()));
        }
        Ok(())
    })
}

/// The trainable variables of a VarStore by name, sorted (a stable optimizer order).
pub fn named_trainable(vs: &nn::VarStore) -> Vec<(String, Tensor)> {
    let mut v: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .filter(|(_, t)| t.requires_grad())
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// Whether parameter `name` belongs to one of the op paths in `active` (the optimizer's filter in a
/// supernet step).
pub fn is_active(active: &[String], name: &str) -> bool {
    active.iter().any(|p| {
        name == p
            || (name.len() > p.len()
                && name.starts_with(p.as_str())
                && name.as_bytes()[p.len()] == b'.')
    })
}

/// Trains: runs `step` on every batch of every epoch from the last checkpoint on.
pub fn fit(
    ctx: &mut Ctx,
    stage: &str,
    mut fit: Fit,
    vs: &nn::VarStore,
    train: &TensorSet,
    step: &mut StepFn,
) -> Result<TrainSummary, ExecError> {
    let mut start = (0usize, 0usize);
    let mut history = Vec::new();
    let mut seconds = 0.0;
    if let Some(ck) = load_checkpoint(&mut fit, vs, stage)? {
        start = (ck.epoch, ck.batch);
        history = ck.history;
        seconds = ck.seconds;
    }
    let per_epoch = fit
        .loader
        .batches_per_epoch(train)
        .min(fit.max_batches.unwrap_or(usize::MAX));
    let log_every = (per_epoch / 4).max(1);
    // Progress counts epochs of the whole schedule: a training continued in steps (ENAS's shared
    // weights between controller phases, successive-halving rungs) shows where it is in it.
    let of = fit.horizon.max(fit.epochs);
    for epoch in start.0..fit.epochs {
        let first = if epoch == start.0 { start.1 } else { 0 };
        let t0 = Instant::now();
        let mut bar = Progress::new(
            &ctx.progress_mode(),
            &if fit.tag == stage {
                format!("{stage} epoch {}/{of}", epoch + 1)
            } else {
                format!("{stage} {} epoch {}/{of}", fit.tag, epoch + 1)
            },
            per_epoch,
            first,
        );
        let (mut loss_sum, mut correct, mut n) = (0.0, 0i64, 0i64);
        let mut lr = fit.lr;
        let batches = fit.loader.epoch(train, epoch as u64).start_at(first);
        for (b, (x, y)) in batches.take(per_epoch - first).enumerate() {
            let b = b + first;
            let t = (epoch as f64 + b as f64 / per_epoch as f64) / fit.horizon.max(1) as f64;
            lr = fit.schedule.lr(fit.lr, t, fit.horizon);
            let key = mix(fit.seed, (epoch * 1_000_003 + b) as u64);
            tch::manual_seed(key as i64 & i64::MAX);
            let mut rng = ChaCha8Rng::seed_from_u64(key);
            fit.optimizer.zero_grad();
            let out = step(&x, &y, &mut rng, t)?;
            if !out.loss.is_finite() {
                return Err(ExecError::Diverged {
                    stage: stage.to_string(),
                    epoch: epoch + 1,
                    batch: b + 1,
                    value: format!("{}", out.loss),
                });
            }
            if let Some(max) = fit.grad_clip {
                fit.optimizer.clip_grad_norm(max);
            }
            match &out.active {
                Some(a) => fit
                    .optimizer
                    .step(lr, Some(&|name: &str| is_active(a, name))),
                None => fit.optimizer.step(lr, None),
            }
            loss_sum += out.loss;
            correct += out.correct;
            n += out.n;
            bar.advance(b + 1, out.n as usize, out.loss / out.n.max(1) as f64);
            if (b + 1) % log_every == 0 && b + 1 < per_epoch {
                ctx.dir.log(json!({
                    "stage": stage, "event": "step", "tag": fit.tag, "epoch": epoch + 1,
                    "batch": b + 1, "loss": out.loss / out.n.max(1) as f64, "lr": lr,
                }))?;
            }
            if ctx.interrupted.load(Ordering::SeqCst) {
                bar.finish("interrupted");
                seconds += t0.elapsed().as_secs_f64();
                let ck = Checkpoint {
                    epoch,
                    batch: b + 1,
                    file: format!("{}.e{epoch}b{}.safetensors", fit.tag, b + 1),
                    history: history.clone(),
                    metrics_len: ctx.dir.metrics_len(),
                    seconds,
                    piece: ctx.dir.piece_metrics().map(|p| p.0),
                    piece_metrics_len: ctx.dir.piece_metrics().map(|p| p.1),
                };
                save_checkpoint(&fit, vs, &ck, ctx)?;
                return Err(ctx.interrupted_error(stage));
            }
        }
        let secs = t0.elapsed().as_secs_f64();
        seconds += secs;
        let log = EpochLog {
            epoch: epoch + 1,
            loss: loss_sum / n.max(1) as f64,
            accuracy: correct as f64 / n.max(1) as f64,
            lr,
            seconds: secs,
        };
        bar.finish(&format!(
            "loss {:.4} acc {:.2}% {:.0} img/s",
            log.loss,
            100.0 * log.accuracy,
            n as f64 / secs.max(1e-9)
        ));
        ctx.dir.log(json!({
            "stage": stage, "event": "epoch", "tag": fit.tag, "epoch": log.epoch,
            "loss": log.loss, "accuracy": log.accuracy, "lr": lr,
        }))?;
        if let Some(hook) = fit.on_epoch.as_mut() {
            let mut line =
                json!({"stage": stage, "event": "arch", "tag": fit.tag, "epoch": log.epoch});
            if let (Json::Object(m), Json::Object(extra)) = (&mut line, hook(log.epoch)) {
                m.extend(extra);
            }
            ctx.dir.log(line)?;
        }
        history.push(log);
        let ck = Checkpoint {
            epoch: epoch + 1,
            batch: 0,
            file: format!("{}.e{}b0.safetensors", fit.tag, epoch + 1),
            history: history.clone(),
            metrics_len: ctx.dir.metrics_len(),
            seconds,
            piece: ctx.dir.piece_metrics().map(|p| p.0),
            piece_metrics_len: ctx.dir.piece_metrics().map(|p| p.1),
        };
        save_checkpoint(&fit, vs, &ck, ctx)?;
    }
    let last = history.last().cloned();
    Ok(TrainSummary {
        epochs: fit.epochs,
        final_loss: last.as_ref().map(|l| l.loss).unwrap_or(f64::NAN),
        final_accuracy: last.as_ref().map(|l| l.accuracy).unwrap_or(f64::NAN),
        seconds,
        history,
    })
}

/// Cross-entropy loss (summed over the batch, so the caller divides once) and correct predictions.
pub fn loss_and_correct(logits: &Tensor, y: &Tensor, smoothing: f64) -> (Tensor, i64) {
    let loss = logits.cross_entropy_loss::<Tensor>(y, None, tch::Reduction::Mean, -100, smoothing);
    let correct = logits
        .argmax(-1, false)
        .eq_tensor(y)
        .to_kind(Kind::Int64)
        .sum(Kind::Int64)
        .int64_value(&[]);
    (loss, correct)
}
