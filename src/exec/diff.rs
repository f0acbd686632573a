//! `differentiable` stages (DARTS, SNAS, GDAS, FBNet, FBNetV2, ProxylessNAS, Single-Path NAS): architecture parameters learned
//! together with the supernet's weights — single-level (one loss, one backward) or bi-level on a
//! weights/architecture split of the training set with alternating updates, first or second order
//! (one unrolled step, Hessian-vector product by central differences); warm-up epochs of weights
//! only; FLOPs/params/latency penalties; derivation of the final architecture; the trajectory of
//! the architecture distribution per epoch (JSON and SVG).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::Path;
use std::rc::Rc;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value as Json, json};
use tch::{Kind, Tensor};

use super::error::ExecError;
use super::masked::FactorCost;
use super::optim::Optimizer;
use super::relax::{ArchParams, For, Relax, Sched, log_prob, relaxed, rescale_drawn};
use super::result::{Candidate, Part, SupernetOut};
use super::result::{
    Differentiable, Method, PenaltyRow, Searched, StageResult, Trained, Trajectory,
};
use super::search::{Scorer, finish_search};
use super::superkernel::LayerCost;
use super::supernet::{op_paths, save_weights, smoke_epochs};
use super::train::{Fit, ParamGroup, StepOut, loss_and_correct, named_trainable};
use super::{Ctx, space_of};
use crate::compile::masked::MaskedPlan;
use crate::compile::superkernel::SkPlan;
use crate::compile::{Mix, Supernet};
use crate::data::loader::{Loader, TensorSet};
use crate::ir::{Arch, SearchSpace};
use crate::sema::hir::Stage;
use crate::sema::spec::{Derive, Level, PenaltySpec, StageSpec};

/// A soft constraint: `metric` (flops, params, latency) in a loss term of the expected cost.
pub struct Penalty {
    pub metric: String,
    pub form: String,
    pub weight: f64,
    pub exponent: f64,
    pub target: Option<f64>,
    /// Fixed part and per (decision, option) cost, in the metric's unit (MACs and parameters in
    /// millions, latency in milliseconds).
    pub fixed: f64,
    pub options: Vec<Vec<f64>>,
    /// Superkernel layers' costs per (kernel, expansion) pair (`relax superkernel`; else empty).
    pub layers: Vec<LayerCost>,
    /// Costs over resolution, width and candidate options (`relax masked_gumbel`; else empty).
    pub factors: Vec<FactorCost>,
}

impl Penalty {
    /// The expected cost under softmax(alpha): differentiable in alpha.
    pub fn expected(&self, arch: &ArchParams) -> Tensor {
        let probs: Vec<Tensor> = arch
            .alphas
            .iter()
            .map(|a| a.softmax(0, Kind::Float))
            .collect();
        self.expected_of(&probs)
    }

    /// The expected cost under per-decision option probabilities (differentiable in them): the
    /// per-option costs, plus each superkernel layer's costs weighted by its pair's probability.
    pub fn expected_of(&self, probs: &[Tensor]) -> Tensor {
        let device = probs.first().map_or(tch::Device::Cpu, Tensor::device);
        let mut total = Tensor::from(self.fixed)
            .to_kind(Kind::Float)
            .to_device(device);
        for (p, c) in probs.iter().zip(&self.options) {
            if c.is_empty() {
                continue;
            }
            let c = Tensor::from_slice(c).to_kind(Kind::Float).to_device(device);
            total += (p * c).sum(Kind::Float);
        }
        for l in &self.layers {
            total += l.expected(probs, &total);
        }
        for f in &self.factors {
            total += f.expected(probs, &total);
        }
        total
    }

    /// The cost of one architecture (option per decision; `None` counts nothing).
    pub fn of(&self, choices: &[Option<usize>]) -> f64 {
        self.fixed
            + choices
                .iter()
                .zip(&self.options)
                .map(|(i, c)| i.and_then(|i| c.get(i).copied()).unwrap_or(0.0))
                .sum::<f64>()
            + self.layers.iter().map(|l| l.of(choices)).sum::<f64>()
            + self.factors.iter().map(|f| f.of(choices)).sum::<f64>()
    }

    /// A REINFORCE reward with this penalty on a sampled architecture of cost `cost`: `linear`
    /// subtracts weight * (cost / target)^exponent; `log` divides by weight * ln(1 + cost)^exponent;
    /// `mnas` multiplies by (cost / target)^-exponent (MnasNet's soft constraint).
    pub fn reward(&self, reward: f64, cost: f64) -> f64 {
        let t = self.target.unwrap_or(1.0);
        match self.form.as_str() {
            "log" => reward / (self.weight * (1.0 + cost).ln().powf(self.exponent)).max(1e-12),
            "mnas" => reward * (cost / t).powf(-self.exponent),
            _ => reward - self.weight * (cost / t).powf(self.exponent),
        }
    }

    /// The loss with the penalty: `linear` adds weight * (E / target)^exponent (E^exponent without a
    /// target); `log` multiplies by weight * ln(1 + E)^exponent (FBNet's CE * a * log(LAT)^b, with
    /// 1 + E so that the factor stays positive for costs below one unit); `mnas` multiplies by
    /// (E / target)^exponent.
    pub fn apply(&self, ce: Tensor, arch: &ArchParams) -> Tensor {
        self.apply_expected(ce, self.expected(arch))
    }

    /// `apply` with the expected cost `e` given.
    pub fn apply_expected(&self, ce: Tensor, e: Tensor) -> Tensor {
        match self.form.as_str() {
            "log" => ce * ((e + 1.0).log().pow_tensor_scalar(self.exponent) * self.weight),
            "mnas" => ce * (e / self.target.unwrap_or(1.0)).pow_tensor_scalar(self.exponent),
            _ => {
                ce + (e / self.target.unwrap_or(1.0)).pow_tensor_scalar(self.exponent) * self.weight
            }
        }
    }
}

/// The stage's penalties (one per metric), each with the cost table of its metric.
fn penalties_of(
    ctx: &Ctx,
    stage: &Stage,
    space: &SearchSpace,
    specs: &[PenaltySpec],
    sk: Option<&SkPlan>,
    masked: Option<&MaskedPlan>,
) -> Result<Vec<Penalty>, ExecError> {
    let mut out = vec![];
    for p in specs {
        let (costs, layers, factors) = match (sk, masked) {
            (Some(plan), _) => {
                let (fixed, layers) =
                    super::superkernel::costs(ctx, stage, space, plan, &p.metric)?;
                ((fixed, vec![]), layers, vec![])
            }
            (_, Some(plan)) => {
                let (fixed, factors) = super::masked::costs(ctx, stage, space, plan, &p.metric)?;
                ((fixed, vec![]), vec![], factors)
            }
            _ => (option_costs(ctx, stage, space, &p.metric)?, vec![], vec![]),
        };
        out.push(Penalty {
            metric: p.metric.clone(),
            form: p.form.clone(),
            weight: p.weight,
            exponent: p.exponent,
            target: p.target,
            fixed: costs.0,
            options: costs.1,
            layers,
            factors,
        });
    }
    Ok(out)
}

/// One batch of `batch` images drawn at random from `set`, prepared like training batches.
fn random_batch(loader: &Loader, set: &TensorSet, rng: &mut ChaCha8Rng) -> (Tensor, Tensor) {
    let n = set.len();
    let b = loader.batch.min(n).max(1);
    let idx: Vec<i64> = rand::seq::index::sample(rng, n, b)
        .into_iter()
        .map(|i| i as i64)
        .collect();
    let sel = set.select(&idx);
    let x = loader.prepare(&sel.images, rng);
    (x, sel.labels.to_device(loader.device))
}

/// Runs `f` (an architecture forward and backward) with the supernet's trainable weights not
/// requiring gradients, restored afterwards: a first-order architecture step discards the weights'
/// gradients, and this way libtorch computes none of them (no weight-gradient kernels, no backward
/// through anything before the first architecture-weighted op, fewer tensors kept for it). The
/// architecture's gradients are those of the full backward (tests/mix.rs).
pub fn arch_only<T>(vs: &tch::nn::VarStore, f: impl FnOnce() -> T) -> T {
    let frozen: Vec<Tensor> = vs
        .trainable_variables()
        .into_iter()
        .filter(Tensor::requires_grad)
        .collect();
    for w in &frozen {
        let _ = w.set_requires_grad(false);
    }
    let out = f();
    for w in &frozen {
        let _ = w.set_requires_grad(true);
    }
    out
}

/// The relaxation of a weight step: with `arch_grad` false (bi-level, or warm-up) the mix weights are
/// computed without a graph, so the weights' backward computes no architecture gradient that the
/// next architecture step would zero anyway; forward values and weight gradients are unchanged.
pub fn weights_mix(
    relax: &Relax,
    arch: &ArchParams,
    t: f64,
    arch_grad: bool,
    rng: &mut ChaCha8Rng,
) -> super::relax::Relaxed {
    if arch_grad {
        relaxed(relax, arch, t, For::Weights, rng)
    } else {
        tch::no_grad(|| relaxed(relax, arch, t, For::Weights, rng))
    }
}

/// Gradients of `loss` with respect to `inputs` (zeros where the input was not used).
fn grads(loss: &Tensor, inputs: &[Tensor]) -> Vec<Tensor> {
    Tensor::run_backward(&[loss], inputs, false, false)
        .into_iter()
        .zip(inputs)
        .map(|(g, x)| if g.defined() { g } else { x.zeros_like() })
        .collect()
}

/// The mixed second derivative `∇_a ∇_w L · v` by central differences (DARTS, eq. 8):
/// `(∇_a L(w + eps v) - ∇_a L(w - eps v)) / (2 eps)`, where `grad_a` computes `∇_a L` at the current
/// `w`. `w` is restored afterwards.
pub fn hvp_central(
    w: &[Tensor],
    v: &[Tensor],
    eps: f64,
    grad_a: &mut dyn FnMut() -> Vec<Tensor>,
) -> Vec<Tensor> {
    let backup: Vec<Tensor> = w.iter().map(|p| p.detach().copy()).collect();
    let set = |s: f64| {
        tch::no_grad(|| {
            for ((p, b), d) in w.iter().zip(&backup).zip(v) {
                p.shallow_clone().copy_(&(b + d * s));
            }
        })
    };
    set(eps);
    let plus = grad_a();
    set(-eps);
    let minus = grad_a();
    set(0.0);
    plus.iter()
        .zip(&minus)
        .map(|(p, m)| (p - m) / (2.0 * eps))
        .collect()
}

/// What the step closure needs.
struct Search<'a> {
    net: &'a Supernet,
    space: &'a SearchSpace,
    arch: Rc<ArchParams>,
    arch_opt: Rc<RefCell<Optimizer>>,
    arch_lr: Sched,
    relax: Relax,
    level: Level,
    /// Progress (fraction of training) before which only the weights learn.
    warmup: f64,
    penalties: Vec<Penalty>,
    smoothing: f64,
    /// The architecture half of a bi-level split and how its batches are prepared.
    arch_set: Option<TensorSet>,
    loader: Loader,
    /// The weight optimizer's base rate, schedule and decay (second order's virtual step).
    weight_lr: (f64, super::optim::LrPlan, usize, f64),
    /// REINFORCE's moving-average baseline (NaN until the first reward), checkpointed with the
    /// architecture parameters.
    baseline: Tensor,
    /// `relax superkernel`: the superkernel layers (the architecture parameters are thresholds).
    sk: Option<SkPlan>,
    /// `relax masked_gumbel`: the masked nodes (FBNetV2's channel and resolution masks).
    masked: Option<MaskedPlan>,
}

impl Search<'_> {
    fn ce(&self, x: &Tensor, y: &Tensor, mix: &Mix) -> Result<(Tensor, i64), ExecError> {
        let logits = match &self.masked {
            Some(plan) => self.net.forward_masked(x, plan, mix, true)?,
            None => self.net.forward_mix(x, mix, true)?,
        };
        Ok(loss_and_correct(&logits, y, self.smoothing))
    }

    fn with_penalty(&self, ce: Tensor) -> Tensor {
        self.penalties
            .iter()
            .fold(ce, |loss, p| p.apply(loss, &self.arch))
    }

    fn weights(&self) -> Vec<Tensor> {
        named_trainable(&self.net.vs)
            .into_iter()
            .map(|(_, t)| t)
            .collect()
    }

    /// One architecture update on an architecture batch (bi-level).
    fn arch_step(
        &self,
        train: (&Tensor, &Tensor),
        rng: &mut ChaCha8Rng,
        t: f64,
    ) -> Result<(), ExecError> {
        let set = self
            .arch_set
            .as_ref()
            .expect("bi-level has an architecture split");
        let (xv, yv) = random_batch(&self.loader, set, rng);
        self.arch.zero_grad();
        let before: Vec<Tensor> = self.arch.alphas.iter().map(|a| a.detach().copy()).collect();
        let mut drawn = vec![];
        match (&self.relax, self.level) {
            (
                Relax::BinaryGates {
                    reinforce: true, ..
                },
                _,
            ) => {
                let r = relaxed(&self.relax, &self.arch, t, For::Arch, rng);
                let logits = tch::no_grad(|| self.net.forward_mix(&xv, &r.mix, false))?;
                let acc = logits
                    .argmax(-1, false)
                    .eq_tensor(&yv)
                    .to_kind(Kind::Float)
                    .mean(Kind::Float)
                    .double_value(&[]);
                // Reward: accuracy with every penalty on the sampled path's cost.
                let choices: Vec<Option<usize>> =
                    r.drawn.iter().map(|s| s.first().copied()).collect();
                let reward = self
                    .penalties
                    .iter()
                    .fold(acc, |rw, p| p.reward(rw, p.of(&choices)));
                let b = match self.baseline.double_value(&[]) {
                    b if b.is_nan() => reward,
                    b => b,
                };
                let advantage = reward - b;
                let _ = self.baseline.shallow_clone().fill_(0.9 * b + 0.1 * reward);
                (log_prob(&self.arch, &r.drawn) * (-advantage)).backward();
            }
            (_, Level::Bilevel { order: 2, .. }) => {
                let g = self.unrolled_grads(train, (&xv, &yv), rng, t)?;
                for (a, g) in self.arch.alphas.iter().zip(g) {
                    let mut ag = a.grad();
                    if ag.defined() {
                        ag.copy_(&g);
                    } else {
                        // Define the gradient by a backward of <a, g>, which is exactly g.
                        (a * g.detach()).sum(Kind::Float).backward();
                    }
                }
            }
            _ => {
                let r = relaxed(&self.relax, &self.arch, t, For::Arch, rng);
                arch_only(&self.net.vs, || -> Result<(), ExecError> {
                    let (ce, _) = self.ce(&xv, &yv, &r.mix)?;
                    self.with_penalty(ce).backward();
                    Ok(())
                })?;
                drawn = r.drawn;
            }
        }
        self.arch_opt.borrow_mut().step(self.arch_lr.at(t), None);
        if let Relax::BinaryGates {
            reinforce: false, ..
        } = self.relax
        {
            rescale_drawn(&self.arch, &before, &drawn);
        }
        // The weights' gradients are still the zeros `train::fit` left before the step: every
        // branch above takes architecture gradients only (`arch_only`, `run_backward`).
        Ok(())
    }

    /// DARTS' second-order architecture gradient: `∇_a L_val(w', a) - xi ∇²_{a,w} L_train(w, a)
    /// ∇_w' L_val(w', a)` with `w' = w - xi (∇_w L_train(w, a) + wd w)` one virtual SGD step at the
    /// current weight rate `xi`.
    fn unrolled_grads(
        &self,
        (xt, yt): (&Tensor, &Tensor),
        (xv, yv): (&Tensor, &Tensor),
        rng: &mut ChaCha8Rng,
        t: f64,
    ) -> Result<Vec<Tensor>, ExecError> {
        let (lr, schedule, horizon, wd) = &self.weight_lr;
        let xi = schedule.lr(*lr, t, *horizon);
        let w = self.weights();
        let alphas: Vec<Tensor> = self.arch.alphas.iter().map(Tensor::shallow_clone).collect();
        // The same relaxation noise for every evaluation of the training loss.
        let noise = rng.clone();
        let train_mix = || relaxed(&self.relax, &self.arch, t, For::Arch, &mut noise.clone());
        let (lt, _) = self.ce(xt, yt, &train_mix().mix)?;
        let gw = grads(&lt, &w);
        let backup: Vec<Tensor> = w.iter().map(|p| p.detach().copy()).collect();
        tch::no_grad(|| {
            for (p, g) in w.iter().zip(&gw) {
                let step = g + p * *wd;
                let _ = p.shallow_clone().g_sub_(&(step * xi));
            }
        });
        let r = relaxed(&self.relax, &self.arch, t, For::Arch, rng);
        let (lv, _) = self.ce(xv, yv, &r.mix)?;
        let lv = self.with_penalty(lv);
        let mut inputs: Vec<Tensor> = alphas.iter().map(Tensor::shallow_clone).collect();
        inputs.extend(w.iter().map(Tensor::shallow_clone));
        let all = grads(&lv, &inputs);
        let (da, dw) = all.split_at(alphas.len());
        // Back to w, then the finite-difference Hessian-vector product around it.
        tch::no_grad(|| {
            for (p, b) in w.iter().zip(&backup) {
                p.shallow_clone().copy_(b);
            }
        });
        let norm = dw
            .iter()
            .map(|g| g.square().sum(Kind::Double).double_value(&[]))
            .sum::<f64>()
            .sqrt();
        let eps = 0.01 / norm.max(1e-12);
        let mut err = None;
        let hvp = hvp_central(
            &w,
            dw,
            eps,
            &mut || match self.ce(xt, yt, &train_mix().mix) {
                Ok((l, _)) => grads(&l, &alphas),
                Err(e) => {
                    err = Some(e);
                    alphas.iter().map(Tensor::zeros_like).collect()
                }
            },
        );
        if let Some(e) = err {
            return Err(e);
        }
        Ok(da.iter().zip(&hvp).map(|(a, h)| a - h * xi).collect())
    }

    /// One Single-Path NAS step: the superkernel forward under the thresholds, cross-entropy with the
    /// penalties on the indicator-weighted costs, one backward for weights and thresholds together.
    fn superkernel_step(
        &self,
        plan: &SkPlan,
        x: &Tensor,
        y: &Tensor,
        t: f64,
        learn_arch: bool,
    ) -> Result<StepOut, ExecError> {
        self.arch.zero_grad();
        let (logits, probs) = self
            .net
            .forward_superkernel(x, plan, &self.arch.alphas, true)?;
        let (ce, correct) = loss_and_correct(&logits, y, self.smoothing);
        let b = y.size()[0];
        let value = ce.double_value(&[]);
        let loss = if learn_arch {
            self.penalties
                .iter()
                .fold(ce, |l, p| p.apply_expected(l, p.expected_of(&probs)))
        } else {
            ce
        };
        loss.backward();
        if learn_arch {
            self.arch_opt.borrow_mut().step(self.arch_lr.at(t), None);
        }
        Ok(StepOut {
            loss: value * b as f64,
            correct,
            n: b,
            active: None,
        })
    }

    fn step(
        &self,
        x: &Tensor,
        y: &Tensor,
        rng: &mut ChaCha8Rng,
        t: f64,
    ) -> Result<StepOut, ExecError> {
        let learn_arch = t >= self.warmup;
        if let Some(plan) = &self.sk {
            return self.superkernel_step(plan, x, y, t, learn_arch);
        }
        if learn_arch && let Level::Bilevel { .. } = self.level {
            self.arch_step((x, y), rng, t)?;
        }
        self.arch.zero_grad();
        let single = self.level == Level::Single && learn_arch;
        let r = weights_mix(&self.relax, &self.arch, t, single, rng);
        let (ce, correct) = self.ce(x, y, &r.mix)?;
        let b = y.size()[0];
        let value = ce.double_value(&[]);
        let loss = if single { self.with_penalty(ce) } else { ce };
        loss.backward();
        if single {
            self.arch_opt.borrow_mut().step(self.arch_lr.at(t), None);
        }
        let active = if self.relax.runs_every_candidate() {
            None
        } else {
            Some(op_paths(&self.space.net_from_mix(&r.mix.options())?.0))
        };
        Ok(StepOut {
            loss: value * b as f64,
            correct,
            n: b,
            active,
        })
    }
}

/// A superkernel search's option probabilities per decision: the indicators' values (`hard`, one-hot:
/// what the thresholds decide against the norms) or their sigmoid relaxation.
fn superkernel_probs(plan: &SkPlan, ws: &[Tensor], arch: &ArchParams, hard: bool) -> Vec<Vec<f64>> {
    tch::no_grad(|| {
        let gates: Vec<_> = plan
            .layers
            .iter()
            .zip(ws)
            .map(|(l, w)| crate::compile::superkernel::gates(l, w, &arch.alphas, hard))
            .collect();
        crate::compile::superkernel::decision_probs(plan, &gates, arch.alphas.len())
            .iter()
            .map(|p| {
                // `+ 0.0`: a dropped option's `1 - 1` may be -0.0.
                Vec::<f64>::try_from(p.to_kind(Kind::Double).to_device(tch::Device::Cpu))
                    .unwrap_or_default()
                    .into_iter()
                    .map(|v| v + 0.0)
                    .collect()
            })
            .collect()
    })
}

/// The architecture distribution per decision path.
fn probs_by_path(space: &SearchSpace, probs: &[Vec<f64>]) -> BTreeMap<String, Vec<f64>> {
    space
        .decisions
        .iter()
        .zip(probs)
        .map(|(d, p)| (d.path.clone(), p.clone()))
        .collect()
}

/// `differentiable(space)`: search, then derive and score the architecture.
pub fn search(ctx: &mut Ctx, stage: &Stage) -> Result<StageResult, ExecError> {
    let StageSpec::Differentiable(spec) = &stage.spec else {
        return Err(super::wrong_kind(stage));
    };
    let t0 = std::time::Instant::now();
    let space_name = stage.space.clone().unwrap_or_default();
    let space = SearchSpace::new(space_of(ctx, stage)?.spec.clone())?;
    let data = ctx.data(stage)?;
    let epochs = smoke_epochs(ctx, *spec.training.epochs);
    let seed = ctx.stage_seed(&stage.name);
    tch::manual_seed(seed as i64 & i64::MAX);
    let mut net = Supernet::new(&space, ctx.device())?;
    net.dropout = *spec.training.dropout;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let relax = spec.relax.clone_value();
    let sk = match relax {
        Relax::Superkernel { .. } => Some(crate::compile::superkernel::plan(&space)?),
        _ => None,
    };
    let masked = match relax {
        Relax::MaskedGumbel { .. } => Some(crate::compile::masked::plan(&space)?),
        _ => None,
    };
    let arch = Rc::new(match relax {
        Relax::Superkernel { threshold_init } => {
            ArchParams::thresholds(&space, threshold_init, ctx.device())
        }
        _ => ArchParams::new(&space, ctx.device(), &mut rng),
    });
    let level = *spec.level;
    // Bi-level: the weights learn on the first part of the training split, the architecture on the
    // rest.
    let (w_set, arch_set) = match level {
        Level::Bilevel { split, .. } => {
            let n = data.splits.train.len();
            let k = ((split * n as f64).round() as usize).clamp(1, n.saturating_sub(1).max(1));
            let first: Vec<i64> = (0..k as i64).collect();
            let rest: Vec<i64> = (k as i64..n as i64).collect();
            if rest.is_empty() {
                return Err(ExecError::setting(
                    &stage.name,
                    "the bi-level split leaves no images for the architecture",
                    "use a split below 1, e.g. `level bilevel(split: 0.5)`",
                ));
            }
            (
                Some(data.splits.train.select(&first)),
                Some(data.splits.train.select(&rest)),
            )
        }
        Level::Single => (None, None),
    };
    // The weight optimizer: `weights`, else `optimizer`; differentiable search reads `warmup` as
    // weight-only epochs before architecture updates, not as a learning-rate ramp.
    let weights = spec
        .weights
        .clone_value()
        .unwrap_or_else(|| spec.training.optimizer.clone_value());
    let (rule, lr, schedule) = spec.training.plan(&weights, epochs, false);
    let wd = rule.wd();
    let arch_spec = spec.arch.clone_value();
    let arch_opt = Rc::new(RefCell::new(Optimizer::new(
        arch_spec.rule.clone(),
        arch.named(),
    )));
    let mut fit = Fit::for_stage(
        ctx,
        stage,
        &data,
        &net.vs,
        &stage.name,
        epochs,
        epochs,
        seed,
    )?;
    fit.optimizer = Optimizer::new(rule, named_trainable(&net.vs));
    fit.lr = lr;
    fit.schedule = schedule.clone();
    let baseline = Tensor::from(f64::NAN);
    let mut group = arch.named();
    group.push(("reinforce.baseline".into(), baseline.shallow_clone()));
    fit.extra = Some(ParamGroup {
        params: group,
        optimizer: arch_opt.clone(),
    });
    let hook_arch = arch.clone();
    let hook_relax = relax.clone();
    let paths: Vec<String> = space.decisions.iter().map(|d| d.path.clone()).collect();
    let hook_sk = match &sk {
        Some(plan) => Some((plan.clone(), net.superkernels(plan)?)),
        None => None,
    };
    fit.on_epoch = Some(Box::new(move |e| {
        let probs = match &hook_sk {
            Some((plan, ws)) => superkernel_probs(plan, ws, &hook_arch, false),
            None => hook_arch.probs(),
        };
        let map: BTreeMap<&String, &Vec<f64>> = paths.iter().zip(&probs).collect();
        let mut line = json!({ "probs": map });
        if let Some(tau) = hook_relax.tau(e as f64 / epochs.max(1) as f64) {
            line["tau"] = json!(tau);
        }
        line
    }));
    let warmup = *spec.training.warmup as f64 / epochs.max(1) as f64;
    let penalties = penalties_of(
        ctx,
        stage,
        &space,
        &spec.penalty,
        sk.as_ref(),
        masked.as_ref(),
    )?;
    let loader = fit.loader.clone();
    let search = Search {
        net: &net,
        space: &space,
        arch: arch.clone(),
        arch_opt,
        arch_lr: arch_spec.lr.clone(),
        relax: relax.clone(),
        level,
        warmup: if ctx.info.smoke { 0.0 } else { warmup },
        penalties,
        smoothing: *spec.training.label_smoothing,
        arch_set,
        loader,
        weight_lr: (lr, schedule, epochs, wd),
        baseline,
        sk: sk.clone(),
        masked: masked.clone(),
    };
    let mut step = |x: &Tensor, y: &Tensor, rng: &mut ChaCha8Rng, t: f64| search.step(x, y, rng, t);
    let name = stage.name.clone();
    let summary = super::train::fit(
        ctx,
        &name,
        fit,
        &net.vs,
        w_set.as_ref().unwrap_or(&data.splits.train),
        &mut step,
    )?;
    // A superkernel search reports the sigmoid relaxation of its indicators and derives from the
    // indicators themselves (each threshold against its norm).
    let (probs, decide) = match &sk {
        Some(plan) => {
            let ws = net.superkernels(plan)?;
            (
                superkernel_probs(plan, &ws, &arch, false),
                superkernel_probs(plan, &ws, &arch, true),
            )
        }
        None => (arch.probs(), arch.probs()),
    };
    let stage_dir = ctx.dir.stage_dir(&stage.name)?;
    tch::no_grad(|| {
        let named: Vec<(String, Tensor)> = arch
            .named()
            .into_iter()
            .map(|(k, v)| (k, v.detach()))
            .collect();
        Tensor::write_safetensors(&named, stage_dir.join("alphas.safetensors"))
    })
    .map_err(|e| ExecError::io(&stage_dir.join("alphas.safetensors"), e))?;
    let trajectory = write_trajectory(ctx, stage, &space, &stage_dir)?;
    // A masked search trained the widest blocks: every narrower width takes their leading channels.
    if let Some(plan) = &masked {
        net.bake_masked(plan)?;
    }
    // Derive and score on the validation split with the trained supernet (BN re-estimated).
    let weights = save_weights(ctx, &stage.name, "supernet.safetensors", &net)?;
    let supernet = SupernetOut {
        space: space_name.clone(),
        parts: vec![Part {
            prefix: vec![],
            weights,
        }],
        sampler: format!("{relax:?}"),
        train: Some(summary.clone()),
        finetune: vec![],
        affine: true,
        ..SupernetOut::default()
    };
    let rule = spec.derive.clone_value();
    let genomes: Vec<Vec<usize>> = match &rule {
        Derive::Argmax => crate::search::derive::argmax(&space, &decide).map(|g| vec![g]),
        Derive::TopK(k) => crate::search::derive::top_k_edges(&space, &probs, *k).map(|g| vec![g]),
        Derive::Sample(n) => crate::search::derive::sample(&space, &probs, *n, &mut rng),
    }
    .map_err(|e| ExecError::setting(&stage.name, e.to_string(), "check the stage's `derive`"))?;
    let recal = Some(if ctx.info.smoke { 64 } else { 2000 });
    let scorer = Scorer::new(&space, &supernet, recal, &stage.name);
    let mut evaluated: Vec<Candidate> = vec![];
    let has_val = !data.splits.val.is_empty();
    for g in &genomes {
        let c = if has_val {
            scorer.score(ctx, &data, g, recal)?
        } else {
            let arch = Arch::from_indices(&space, g)?;
            let cost = crate::cost::arch_cost(&space, &arch)?;
            Candidate::new(arch, &cost, f64::NAN, f64::NAN)
        };
        evaluated.push(c);
    }
    let winner = match rule {
        Derive::Sample(_) => None,
        _ => evaluated.first().map(|c| c.arch.clone()),
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
    let derived = space.arch_indices(&out.best).ok();
    let penalties = search
        .penalties
        .iter()
        .map(|p| PenaltyRow {
            metric: p.metric.clone(),
            form: p.form.clone(),
            weight: p.weight,
            exponent: p.exponent,
            unit: if p.metric == "latency" {
                "ms"
            } else {
                "millions"
            }
            .into(),
            expected: match &sk {
                Some(_) => derived.as_ref().map_or(f64::NAN, |d| p.of(d)),
                None => p.expected(&arch).double_value(&[]),
            },
            derived: derived.as_ref().map(|d| p.of(d)),
        })
        .collect();
    let method = Differentiable {
        penalties,
        supernet_weights: supernet,
        relax: format!("{relax:?}"),
        level: format!("{level:?}"),
        derive: format!("{rule:?}"),
        final_probs: probs_by_path(&space, &probs),
        trajectory,
        search_seconds: summary.seconds,
        trained: Trained::of(&summary),
    };
    Ok(StageResult::Search(Searched {
        out,
        method: Method::Differentiable(Box::new(method)),
    }))
}

/// Collects the stage's `arch` metric lines into `arch_trajectory.json` and draws them in
/// `arch_trajectory.svg`; returns the two paths relative to the run directory.
fn write_trajectory(
    ctx: &Ctx,
    stage: &Stage,
    space: &SearchSpace,
    dir: &Path,
) -> Result<Trajectory, ExecError> {
    let metrics = ctx.dir.root.join("metrics.jsonl");
    let text = std::fs::read_to_string(&metrics).map_err(|e| ExecError::io(&metrics, e))?;
    let mut epochs: BTreeMap<u64, Json> = BTreeMap::new();
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<Json>(line) else {
            continue;
        };
        if v["stage"] == json!(stage.name)
            && v["event"] == "arch"
            && let Some(e) = v["epoch"].as_u64()
        {
            epochs.insert(e, v);
        }
    }
    let series: Vec<Json> = epochs.into_values().collect();
    let json_path = dir.join("arch_trajectory.json");
    super::rundir::atomic_write(
        &json_path,
        serde_json::to_string_pretty(&series)
            .unwrap_or_default()
            .as_bytes(),
    )?;
    let svg_path = dir.join("arch_trajectory.svg");
    let svg = super::plot::trajectory_svg(space, &series, &stage.name);
    super::rundir::atomic_write(&svg_path, svg.as_bytes())?;
    let rel = |p: &Path| {
        p.strip_prefix(&ctx.dir.root)
            .unwrap_or(p)
            .display()
            .to_string()
    };
    Ok(Trajectory {
        json: rel(&json_path),
        svg: rel(&svg_path),
    })
}

/// Per-(decision, option) costs of a penalty's metric: (fixed, options), in millions of MACs
/// (`flops`) or parameters, or milliseconds of latency from the stage's lookup table.
fn option_costs(
    ctx: &Ctx,
    stage: &Stage,
    space: &SearchSpace,
    metric: &str,
) -> Result<(f64, Vec<Vec<f64>>), ExecError> {
    let (table, scale) = match metric {
        "flops" => (crate::cost::expected::macs_costs(space)?, 1e-6),
        "params" => (crate::cost::expected::params_costs(space)?, 1e-6),
        _ => (
            super::latency::table(ctx, stage, space)?.option_costs(space)?,
            1.0,
        ),
    };
    Ok((
        table.fixed * scale,
        table
            .options
            .iter()
            .map(|o| o.iter().map(|c| c * scale).collect())
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// L(w, a) = sum_i a_i^2 * sum_j sin(w_ij) x_j + (a . (w x))^2, in double precision.
    fn loss(w: &Tensor, a: &Tensor) -> Tensor {
        let x = Tensor::from_slice(&[0.5f64, -1.0, 2.0, 0.25]);
        let wx = w.matmul(&x);
        (a.square() * w.sin().matmul(&x)).sum(Kind::Double) + (a * wx).sum(Kind::Double).square()
    }

    #[test]
    fn central_difference_hvp_matches_autograd() {
        let w = Tensor::from_slice(&[
            0.1f64, -0.3, 0.7, 0.2, 1.1, -0.5, 0.05, 0.4, -0.9, 0.6, 0.3, -0.2,
        ])
        .view([3, 4])
        .set_requires_grad(true);
        let a = Tensor::from_slice(&[0.4f64, -0.8, 1.3]).set_requires_grad(true);
        let v = Tensor::from_slice(&[
            0.2f64, -0.1, 0.5, 0.3, -0.4, 0.1, 0.9, -0.2, 0.05, 0.3, -0.6, 0.7,
        ])
        .view([3, 4]);
        // Autograd: d/da (grad_w L . v), through a graph of the first gradient.
        let gw = Tensor::run_backward(&[loss(&w, &a)], &[&w], true, true);
        let dot = (&gw[0] * &v).sum(Kind::Double);
        let exact = Tensor::run_backward(&[dot], &[&a], false, false).remove(0);
        let w_before = w.detach().copy();
        let mut grad_a = || Tensor::run_backward(&[loss(&w, &a)], &[&a], false, false);
        let fd = hvp_central(
            &[w.shallow_clone()],
            &[v.shallow_clone()],
            1e-4,
            &mut grad_a,
        )
        .remove(0);
        let (e, f) = (
            Vec::<f64>::try_from(&exact).unwrap(),
            Vec::<f64>::try_from(&fd).unwrap(),
        );
        for (e, f) in e.iter().zip(&f) {
            assert!((e - f).abs() < 1e-6 * (1.0 + e.abs()), "{e} vs {f}");
        }
        assert!(
            e.iter().any(|x| x.abs() > 0.1),
            "a non-trivial product: {e:?}"
        );
        assert!(
            w.detach().allclose(&w_before, 0.0, 0.0, false),
            "w is restored"
        );
    }

    #[test]
    fn penalties_follow_their_forms() {
        let arch = ArchParams {
            alphas: vec![Tensor::from_slice(&[0.0f32, 0.0]).set_requires_grad(true)],
        };
        let p = |form: &str, target| Penalty {
            metric: "latency".into(),
            form: form.into(),
            weight: 0.2,
            exponent: 0.5,
            target,
            fixed: 1.0,
            options: vec![vec![2.0, 4.0]],
            layers: vec![],
            factors: vec![],
        };
        // E = 1 + 0.5 * 2 + 0.5 * 4 = 4.
        let ce = || Tensor::from(2.0f32);
        let e = p("linear", None).expected(&arch).double_value(&[]);
        assert!((e - 4.0).abs() < 1e-6);
        let lin = p("linear", Some(16.0)).apply(ce(), &arch).double_value(&[]);
        assert!((lin - (2.0 + 0.2 * 0.5)).abs() < 1e-6, "{lin}");
        let log = p("log", None).apply(ce(), &arch).double_value(&[]);
        assert!((log - 2.0 * 0.2 * 5f64.ln().sqrt()).abs() < 1e-5, "{log}");
        // The penalty pushes probability towards the cheaper option.
        p("linear", None).apply(ce(), &arch).backward();
        let g = Vec::<f32>::try_from(arch.alphas[0].grad()).unwrap();
        assert!(g[1] > 0.0 && g[0] < 0.0, "{g:?}");
    }
}
