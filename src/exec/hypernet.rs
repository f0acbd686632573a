//! `hypernet(space)` (SMASH, Brock et al. 2018): a hypernetwork maps an encoding of an architecture
//! to the weights of that architecture's layers. The encoding is the one-hot option of every decision;
//! a hidden layer `z = tanh(E c)` of [`RANK`] units is shared, and every conv or linear weight `W` of
//! the space's supernet is generated as `W(c) = B + reshape(U z) / RANK` (`B` and `U` learned per
//! weight; the `1 / RANK` keeps a step of `U` from moving `W` more than a step of `B` does, so the
//! optimizer's learning rate means what it means for a supernet;
//! BatchNorm scales and biases are learned directly, as shared weights). Training draws a uniformly
//! random architecture per batch, generates its weights and backpropagates the loss into the
//! hypernetwork; then `samples` distinct random architectures get generated weights, BatchNorm
//! statistics re-estimated on training images, and are ranked by validation accuracy: the best is
//! `.best`, for `retrain`. Training checkpoints every epoch; every ranked architecture is recorded in
//! the parts journal.

use std::collections::BTreeSet;
use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use tch::Tensor;

use super::error::ExecError;
use super::result::Candidate;
use super::result::{Hypernet, Method, Searched, StageResult, Trained};
use super::search::finish_search;
use super::supernet::{choices, save_weights, smoke_epochs, supernet_step};
use super::train::{Fit, StepOut};
use super::{Ctx, evaluate_set, hash_str, mix, require_val, space_of};
use crate::compile::Supernet;
use crate::cost::arch_cost;
use crate::data::loader::Loader;
use crate::ir::{Arch, SearchSpace};
use crate::search::sample;
use crate::sema::hir::Stage;
use crate::sema::spec::StageSpec;

/// Units of the hypernetwork's hidden layer.
pub const RANK: i64 = 16;

/// The hypernetwork over a supernet's weights.
pub struct Hyper {
    enc: Tensor,
    /// Per generated weight: the supernet's variable, its base `B`, its `U`.
    gens: Vec<(Tensor, Tensor, Tensor)>,
    offsets: Vec<usize>,
    width: usize,
}

impl Hyper {
    /// Adds the hypernetwork's parameters to the supernet's VarStore (under `hyper.`) and turns
    /// the supernet's conv and linear weights into generated ones (not trained directly).
    pub fn new(net: &Supernet, choices: &[usize]) -> Hyper {
        let width: usize = choices.iter().sum();
        let mut offsets = Vec::with_capacity(choices.len());
        let mut at = 0;
        for &n in choices {
            offsets.push(at);
            at += n;
        }
        let mut weights: Vec<(String, Tensor)> = net
            .vs
            .variables()
            .into_iter()
            .filter(|(n, t)| t.requires_grad() && t.dim() >= 2 && !n.starts_with("hyper."))
            .collect();
        weights.sort_by(|a, b| a.0.cmp(&b.0));
        // `hyper.enc.weight`, and `hyper.<weight>.base`, `hyper.<weight>.u` under the generated
        // weight's own path, so that a step updates the hypernetwork's parameters of the ops it ran
        // only, as it does the supernet's (`train::is_active`).
        let root = net.vs.root() / "hyper";
        let enc = (&root / "enc").randn(
            "weight",
            &[RANK, width.max(1) as i64],
            0.0,
            1.0 / (choices.len().max(1) as f64).sqrt(),
        );
        let gens = weights
            .into_iter()
            .map(|(name, var)| {
                let path = name.split('.').fold(root.clone(), |p, c| p / c);
                let base = path.var_copy("base", &var);
                let u = path.zeros("u", &[var.numel() as i64, RANK]);
                let var = var.set_requires_grad(false);
                (var, base, u)
            })
            .collect();
        Hyper {
            enc,
            gens,
            offsets,
            width,
        }
    }

    /// Writes the weights the hypernetwork generates for `genome` into the supernet's variables
    /// (with gradients to the hypernetwork unless under `no_grad`).
    pub fn generate(&self, genome: &[usize]) {
        let mut onehot = vec![0f32; self.width.max(1)];
        for (d, &o) in genome.iter().enumerate() {
            if let Some(off) = self.offsets.get(d) {
                onehot[off + o] = 1.0;
            }
        }
        let c = Tensor::from_slice(&onehot).to_device(self.enc.device());
        let z = self.enc.mv(&c).tanh();
        for (var, base, u) in &self.gens {
            let w = base + (u.mv(&z) / RANK as f64).view_as(base);
            // Forget the previous step's graph, then take the generated values with theirs.
            let mut v = var.shallow_clone();
            let _ = v.detach_();
            v.copy_(&w);
        }
    }
}

/// A trained hypernetwork with its supernet, as a later stage reads it.
pub struct Generated {
    pub net: Supernet,
    pub hyper: Hyper,
}

impl Generated {
    /// Loads the weights a `hypernet` stage saved (`weights`, relative to the run directory).
    pub fn load(
        ctx: &Ctx,
        space: &SearchSpace,
        weights: &str,
        stage: &str,
    ) -> Result<Generated, ExecError> {
        let net = Supernet::new(space, ctx.device())?;
        let hyper = Hyper::new(&net, &choices(space));
        let path = ctx.dir.root.join(weights);
        let saved: std::collections::HashMap<String, Tensor> = Tensor::read_safetensors(&path)
            .map_err(|e| ExecError::Resume {
                dir: ctx.dir.root.clone(),
                message: format!("cannot read {}: {e}", path.display()),
                help: "the run directory is damaged; start a new run".into(),
            })?
            .into_iter()
            .collect();
        super::train::copy_into(&net.vs, &saved, stage)?;
        Ok(Generated { net, hyper })
    }

    /// Validation loss and accuracy of `genome` with generated weights, BatchNorm statistics
    /// re-estimated on `images` training images first.
    pub fn score(
        &self,
        ctx: &Ctx,
        data: &super::StageData,
        space: &SearchSpace,
        genome: &[usize],
        images: usize,
    ) -> Result<(f64, f64), ExecError> {
        let arch = Arch::from_indices(space, genome)?;
        tch::no_grad(|| self.hyper.generate(genome));
        let sub = self.net.extract(&arch)?;
        let loader = Loader::eval(64, data.normalize.clone(), ctx.device());
        sub.recalibrate_bn(
            loader
                .epoch(&data.splits.train, 0)
                .take(images.div_ceil(64))
                .map(|(x, _)| x),
        );
        Ok(evaluate_set(
            &|x| sub.forward_t(x, false),
            &data.splits.val,
            &ctx.eval_loader(data),
            ctx.eval_batches(),
        ))
    }
}

/// BatchNorm re-estimation images per architecture scored with generated weights.
pub fn recal_images(ctx: &Ctx) -> usize {
    if ctx.info.smoke { 64 } else { 500 }
}

fn cap(ctx: &Ctx, n: usize, smoke: usize) -> usize {
    if ctx.info.smoke { n.min(smoke) } else { n }
}

/// `hypernet(space)`: train the hypernetwork, rank random architectures with generated weights.
pub fn search(ctx: &mut Ctx, stage: &Stage) -> Result<StageResult, ExecError> {
    let t0 = Instant::now();
    let name = stage.name.clone();
    let space = SearchSpace::new(space_of(ctx, stage)?.spec.clone())?;
    let data = ctx.data(stage)?;
    require_val(stage, &data)?;
    let StageSpec::Hypernet(spec) = &stage.spec else {
        return Err(super::wrong_kind(stage));
    };
    let ch = choices(&space);
    let epochs = smoke_epochs(ctx, *spec.training.epochs);
    let seed = ctx.stage_seed(&name);
    tch::manual_seed(seed as i64 & i64::MAX);
    let net = Supernet::new(&space, ctx.device())?;
    let hyper = Hyper::new(&net, &ch);
    let fit = Fit::for_stage(ctx, stage, &data, &net.vs, &name, epochs, epochs, seed)?;
    let smoothing = *spec.training.label_smoothing;
    let mut step =
        |x: &Tensor, y: &Tensor, rng: &mut ChaCha8Rng, _t: f64| -> Result<StepOut, ExecError> {
            let g = sample::uniform(&ch, rng);
            hyper.generate(&g);
            let options: Vec<Vec<usize>> = g.into_iter().map(|o| vec![o]).collect();
            let mut out = supernet_step(&net, &space, &[options], x, y, smoothing)?;
            if let Some(a) = &mut out.active {
                let hyper: Vec<String> = a.iter().map(|p| format!("hyper.{p}")).collect();
                a.extend(hyper);
                a.push("hyper.enc".into());
            }
            Ok(out)
        };
    let summary = super::train::fit(ctx, &name, fit, &net.vs, &data.splits.train, &mut step)?;
    let weights = save_weights(ctx, &name, "hypernet.safetensors", &net)?;
    // Rank distinct random architectures with generated weights.
    let n = cap(ctx, (*spec.samples).max(1), 4);
    let mut rng = ChaCha8Rng::seed_from_u64(mix(seed, 5));
    let mut genomes: Vec<Vec<usize>> = Vec::new();
    let mut seen = BTreeSet::new();
    for _ in 0..n.saturating_mul(100) {
        if genomes.len() == n {
            break;
        }
        let g = sample::uniform(&ch, &mut rng);
        let arch = Arch::from_indices(&space, &g)?;
        if seen.insert(serde_json::to_string(&arch).unwrap_or_default()) {
            genomes.push(g);
        }
    }
    let images = recal_images(ctx);
    let generated = Generated { net, hyper };
    let mut evaluated = Vec::new();
    for g in &genomes {
        let arch = Arch::from_indices(&space, g)?;
        let key = serde_json::to_string(&arch).unwrap_or_default();
        let tag = format!("arch{:016x}", hash_str(&key));
        let c: Candidate = ctx.part(&name, &tag, |ctx| {
            let (loss, accuracy) = generated.score(ctx, &data, &space, g, images)?;
            let cost = arch_cost(&space, &arch)?;
            ctx.dir.log(json!({
                "stage": name, "event": "candidate", "arch": arch, "accuracy": accuracy,
                "loss": loss, "params": cost.params, "macs": cost.macs,
            }))?;
            Ok(Candidate::new(arch.clone(), &cost, loss, accuracy))
        })?;
        if ctx.interrupted.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(ctx.interrupted_error(&name));
        }
        evaluated.push(c);
    }
    let out = finish_search(
        ctx,
        stage,
        None,
        evaluated,
        vec![],
        "val.accuracy",
        t0,
        |_, _| Ok(None),
    )?;
    let method = Hypernet {
        hypernet: weights,
        hidden: RANK,
        generated_params: generated
            .hyper
            .gens
            .iter()
            .map(|(w, _, _)| w.numel() as u64)
            .sum::<u64>(),
        trained: Trained::of(&summary),
    };
    Ok(StageResult::Search(Searched {
        out,
        method: Method::Hypernet(method),
    }))
}
