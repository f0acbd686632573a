//! Typed stage settings: sema lowers every checked stage to one [`StageSpec`], a struct per stage
//! kind with every default of the settings table filled in, and the executor reads a stage's settings
//! through it alone. The typed values the executor needs (optimizer rule and schedule, relaxation,
//! sampler, level, derivation, constraints, objectives, controller, reward) live here, built once.
//!
//! Each field is a [`Tracked`] value that remembers whether the executor read it: after a stage has
//! run, [`StageSpec::applied`] lists the settings the file gave that the executor applied. The
//! contract test checks that every setting `nasl check` accepts shows up there, so a setting made a
//! no-op fails it, and `spec_fields_cover_every_accepted_setting` fails for a setting that the table
//! accepts but no struct field carries.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Deref;
use std::rc::Rc;

use serde::{Serialize, Serializer};

use super::hir::value::{Call, Schedule, Settings, StageKind, Value};
use super::tables::{self, Dv, Ty};
use crate::search::cells::Over;

/// The settings of one stage the executor has read (shared by the stage's tracked fields).
#[derive(Debug, Clone, Default)]
pub struct Applied(Rc<RefCell<BTreeSet<&'static str>>>);

/// One setting's typed value. Reading it (through `Deref`) records the setting as applied when the
/// file gave it; a default is never recorded.
#[derive(Clone)]
pub struct Tracked<T> {
    value: T,
    key: &'static str,
    given: bool,
    applied: Applied,
}

impl<T> Deref for Tracked<T> {
    type Target = T;
    fn deref(&self) -> &T {
        if self.given {
            self.applied.0.borrow_mut().insert(self.key);
        }
        &self.value
    }
}

impl<T> Tracked<T> {
    /// Whether the file gave this setting (not counted as a read).
    pub fn given(&self) -> bool {
        self.given
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Tracked<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.value.fmt(f)
    }
}

impl<T: PartialEq> PartialEq for Tracked<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<T: Serialize> Serialize for Tracked<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(s)
    }
}

// ---------------------------------------------------------------------------------------------
// Typed values.

/// An optimizer's update rule and its hyperparameters.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Rule {
    Sgd {
        momentum: f64,
        nesterov: bool,
        wd: f64,
    },
    Adam {
        b1: f64,
        b2: f64,
        eps: f64,
        wd: f64,
        decoupled: bool,
    },
    RmsProp {
        alpha: f64,
        momentum: f64,
        wd: f64,
    },
}

impl Rule {
    /// The weight decay of any rule.
    pub fn wd(&self) -> f64 {
        match self {
            Rule::Sgd { wd, .. } | Rule::Adam { wd, .. } | Rule::RmsProp { wd, .. } => *wd,
        }
    }
}

/// An optimizer setting (`sgd(lr: 0.1, momentum: 0.9)`): the rule and the learning rate, a number or
/// a schedule of its own (`lr: 0.1 -> 0.001 cosine`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Optim {
    pub rule: Rule,
    pub lr: Schedule,
}

/// A learning-rate schedule over training progress `t` in [0, 1] (epoch + fraction / epochs).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum LrSchedule {
    Constant,
    Linear {
        to: f64,
    },
    Cosine {
        min: f64,
        /// Warm-up epochs of `cosine(warmup: N)`.
        warmup_epochs: f64,
    },
    Exponential {
        gamma: f64,
    },
    Step {
        every_epochs: f64,
        gamma: f64,
    },
}

/// A resolved learning rate: the base rate and how it changes, warm-up included.
#[derive(Debug, Clone, PartialEq)]
pub enum LrPlan {
    Constant,
    Linear {
        to: f64,
    },
    Cosine {
        min: f64,
        warmup: f64,
    },
    Exponential {
        gamma: f64,
    },
    Step {
        every: f64,
        gamma: f64,
    },
    /// The learning rate itself is a schedule (`lr: 0.1 -> 0.001 cosine`): the base rate is ignored.
    Scheduled(Schedule),
    /// `warmup N`: the rate of `then` ramps up linearly over the first `warmup` of training (a
    /// fraction of it), from 1/1000 of its value.
    WarmedUp {
        warmup: f64,
        then: Box<LrPlan>,
    },
}

impl LrPlan {
    /// The rate at progress `t` (0 at the start, 1 at the end) for a base rate `lr` over `epochs`.
    pub fn lr(&self, lr: f64, t: f64, epochs: usize) -> f64 {
        let t = t.clamp(0.0, 1.0);
        match self {
            LrPlan::Constant => lr,
            &LrPlan::Linear { to } => lr + (to - lr) * t,
            &LrPlan::Cosine { min, warmup } => {
                if warmup > 0.0 && t < warmup {
                    return lr * (t / warmup).max(1e-3);
                }
                let u = if warmup > 0.0 {
                    (t - warmup) / (1.0 - warmup)
                } else {
                    t
                };
                min + 0.5 * (lr - min) * (1.0 + (std::f64::consts::PI * u).cos())
            }
            &LrPlan::Exponential { gamma } => lr * gamma.powf((t * epochs as f64).floor()),
            &LrPlan::Step { every, gamma } => lr * gamma.powf((t / every.max(1e-9)).floor()),
            LrPlan::Scheduled(s) => s.at(t),
            LrPlan::WarmedUp { warmup, then } => {
                then.lr(lr, t, epochs) * (t / warmup.max(1e-12)).clamp(1e-3, 1.0)
            }
        }
    }
}

/// How a supernet's paths are drawn each step (`sampler`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Sampler {
    Uniform,
    /// Uniform, redrawn until the costs fall in the ranges (latency in milliseconds).
    Constrained {
        flops: Option<(f64, f64)>,
        params: Option<(f64, f64)>,
        latency_ms: Option<(f64, f64)>,
        tries: usize,
    },
    Fair,
    /// OneShot (Bender et al. 2018): every candidate of a layer dropped independently with a rate that
    /// follows a schedule over training, at least `keep` kept; kept candidates are summed.
    PathDropout {
        rate: Schedule,
        keep: usize,
    },
    /// The sandwich rule (BigNAS): per step the largest and the smallest architecture of the space
    /// (by MACs, then parameters; the smallest without `none`) and `random` uniform ones, gradients
    /// accumulated, one update; with `distill` the others learn the largest's softened output
    /// (in-place distillation) instead of the labels.
    Sandwich {
        random: usize,
        distill: bool,
    },
}

impl Sampler {
    pub fn name(&self) -> &'static str {
        match self {
            Sampler::Uniform => "uniform",
            Sampler::Constrained { .. } => "constrained",
            Sampler::Fair => "fair",
            Sampler::PathDropout { .. } => "path_dropout",
            Sampler::Sandwich { .. } => "sandwich",
        }
    }
}

/// How decisions are relaxed for gradient-based search (`relax`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Relax {
    /// DARTS: every candidate runs, weighted by softmax(alpha).
    Softmax,
    /// SNAS, FBNet: every candidate runs, weighted by softmax((alpha + Gumbel noise) / tau).
    Gumbel { tau: Schedule },
    /// GDAS: only the argmax of alpha + Gumbel noise runs; its weight is one in the forward pass and
    /// carries the Gumbel-softmax gradient (straight-through).
    GumbelHard { tau: Schedule },
    /// ProxylessNAS: the weights see one path sampled from softmax(alpha); an architecture update
    /// samples `paths` candidates per decision and learns through binary gates over them (`grad`) or
    /// by REINFORCE with the reward of one sampled path (`reinforce`).
    BinaryGates { paths: usize, reinforce: bool },
    /// Single-Path NAS: one superkernel per elastic MBConv layer whose kernel and expansion are
    /// chosen by norm-threshold indicators; the thresholds (one per option beyond the first, starting
    /// at `threshold_init`) are the architecture parameters.
    Superkernel { threshold_init: f64 },
    /// FBNetV2 (DMaskingNAS): layer choices relaxed as `Gumbel`; channel decisions by one max-width
    /// network whose layer outputs are multiplied by a Gumbel-weighted sum of channel masks, and the
    /// input resolution by a Gumbel-weighted sum over the resolutions (`compile::masked`).
    MaskedGumbel { tau: Schedule },
}

impl Relax {
    /// Whether every candidate runs in a step (all weights are active).
    pub fn runs_every_candidate(&self) -> bool {
        matches!(
            self,
            Relax::Softmax
                | Relax::Gumbel { .. }
                | Relax::Superkernel { .. }
                | Relax::MaskedGumbel { .. }
        )
    }

    /// The temperature at progress `t`, for relaxations that have one.
    pub fn tau(&self, t: f64) -> Option<f64> {
        match self {
            Relax::Gumbel { tau } | Relax::GumbelHard { tau } | Relax::MaskedGumbel { tau } => {
                Some(tau.at(t))
            }
            _ => None,
        }
    }
}

/// Optimisation level of a differentiable search.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum Level {
    Single,
    Bilevel { order: usize, split: f64 },
}

/// How the final architecture is read off a learned distribution (`derive`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Derive {
    Argmax,
    TopK(usize),
    Sample(usize),
}

/// A comparison of a hard constraint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Cmp {
    Le,
    Lt,
    Ge,
    Gt,
    Eq,
    Ne,
}

impl Cmp {
    /// How the comparison is written.
    pub fn symbol(self) -> &'static str {
        match self {
            Cmp::Le => "<=",
            Cmp::Lt => "<",
            Cmp::Ge => ">=",
            Cmp::Gt => ">",
            Cmp::Eq => "==",
            Cmp::Ne => "!=",
        }
    }

    pub fn holds(self, v: f64, bound: f64) -> bool {
        match self {
            Cmp::Le => v <= bound,
            Cmp::Lt => v < bound,
            Cmp::Ge => v >= bound,
            Cmp::Gt => v > bound,
            Cmp::Eq => v == bound,
            Cmp::Ne => v != bound,
        }
    }
}

/// A hard constraint `metric op bound` (latency bounds in milliseconds).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Constraint {
    pub metric: String,
    pub op: Cmp,
    pub bound: f64,
}

/// A soft constraint (`penalty flops(weight: .., exponent: .., target: .., form: ..)`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PenaltySpec {
    pub metric: String,
    pub form: String,
    pub weight: f64,
    pub exponent: f64,
    pub target: Option<f64>,
}

/// `mutate N, p: P`: mutants per generation and per-gene resampling probability.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Mutate {
    pub count: usize,
    pub p: f64,
}

/// The policy-gradient estimator of a controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    Reinforce,
    Ppo,
}

/// `controller lstm(hidden, lr, entropy, baseline, tanh, temperature, algorithm)`.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct ControllerConfig {
    pub hidden: usize,
    pub lr: f64,
    /// Weight of the entropy bonus.
    pub entropy: f64,
    /// Decay of the moving-average baseline (`b <- decay * b + (1 - decay) * reward`).
    pub baseline: f64,
    /// `tanh_constant`: logits become `tanh * tanh(logits)` (0: no squashing).
    pub tanh: f64,
    /// Logits are divided by it first (0: no division).
    pub temperature: f64,
    pub algorithm: Algorithm,
    /// PPO: the clipping range and the passes over each batch.
    pub clip: f64,
    pub ppo_epochs: usize,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        ControllerConfig {
            hidden: 100,
            lr: 3.5e-4,
            entropy: 1e-4,
            baseline: 0.99,
            tanh: 2.5,
            temperature: 5.0,
            algorithm: Algorithm::Reinforce,
            clip: 0.2,
            ppo_epochs: 4,
        }
    }
}

/// A controller's reward: validation accuracy, or MnasNet's `ACC * (LAT / target)^w`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Reward {
    Accuracy,
    Mnas { target_ms: f64, w: f64 },
}

/// Where a stage's latency table lives: `lut("file")` or measured (`measure(runs)`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum LatencySource {
    Lut(String),
    Measure { runs: usize },
}

/// `network cells: .., channels: ..` of a retraining.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Network {
    pub cells: Option<u32>,
    pub channels: Option<u32>,
}

// ---------------------------------------------------------------------------------------------
// Per-kind structs.

/// Settings every stage kind has.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Common {
    /// Batch size (default: the dataset's).
    pub batch: Tracked<Option<usize>>,
    /// Seeds the stage repeats over (`None`: one seed derived from the run's).
    pub seeds: Tracked<Option<Vec<i64>>>,
    pub latency: Tracked<LatencySource>,
}

/// Settings of a stage that trains weights.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Training {
    pub epochs: Tracked<usize>,
    pub optimizer: Tracked<Optim>,
    pub schedule: Tracked<LrSchedule>,
    pub grad_clip: Tracked<Option<f64>>,
    pub label_smoothing: Tracked<f64>,
    /// Warm-up epochs (learning-rate ramp; weight-only epochs in differentiable search).
    pub warmup: Tracked<usize>,
    /// Classifier dropout override.
    pub dropout: Tracked<Option<f64>>,
}

impl Training {
    /// The rule, base learning rate and plan of `opt` (this stage's `optimizer`, or a coupled
    /// search's `weights`) over `epochs`: a learning rate written as a schedule is its own plan (sema
    /// refuses a `schedule` beside it), else the `schedule` setting; `warm` ramps it up over the
    /// `warmup` epochs.
    pub fn plan(&self, opt: &Optim, epochs: usize, warm: bool) -> (Rule, f64, LrPlan) {
        let per = epochs.max(1) as f64;
        let plan = if opt.lr.shape != "constant" || opt.lr.from != opt.lr.to {
            LrPlan::Scheduled(opt.lr.clone())
        } else {
            match &*self.schedule {
                LrSchedule::Constant => LrPlan::Constant,
                &LrSchedule::Linear { to } => LrPlan::Linear { to },
                &LrSchedule::Cosine { min, warmup_epochs } => LrPlan::Cosine {
                    min,
                    warmup: warmup_epochs / per,
                },
                &LrSchedule::Exponential { gamma } => LrPlan::Exponential { gamma },
                &LrSchedule::Step {
                    every_epochs,
                    gamma,
                } => LrPlan::Step {
                    every: every_epochs / per,
                    gamma,
                },
            }
        };
        let warmup = if warm { *self.warmup } else { 0 };
        let plan = if warmup > 0 && epochs > 0 {
            LrPlan::WarmedUp {
                warmup: warmup as f64 / epochs as f64,
                then: Box::new(plan),
            }
        } else {
            plan
        };
        (opt.rule.clone(), opt.lr.from, plan)
    }

    /// [`Training::plan`] of the stage's `optimizer`.
    pub fn optimizer_plan(&self, epochs: usize) -> (Rule, f64, LrPlan) {
        self.plan(&self.optimizer, epochs, true)
    }
}

/// What a search maximises (`objective`) or keeps a front of (`pareto`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Objectives {
    pub objective: Tracked<String>,
    /// Empty without `pareto`.
    pub pareto: Tracked<Vec<String>>,
    pub constraint: Tracked<Vec<Constraint>>,
}

/// `train`: a fixed network or a supernet.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainSpec {
    pub common: Common,
    pub training: Training,
    pub sampler: Tracked<Sampler>,
    pub drop_path: Tracked<Option<Schedule>>,
    pub auxiliary: Tracked<Option<f64>>,
    pub cutout: Tracked<Option<usize>>,
    pub affine: Tracked<bool>,
    pub sample_over: Tracked<Over>,
}

/// `few_shot(supernet)`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FewShotSpec {
    pub common: Common,
    pub training: Training,
    pub sampler: Tracked<Sampler>,
    pub sample_over: Tracked<Over>,
    pub split_on: Tracked<usize>,
    pub finetune: Tracked<usize>,
}

/// `evolution`, `random_search`, `nsga2` over a trained supernet.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SupernetSearchSpec {
    pub common: Common,
    pub objectives: Objectives,
    pub population: Tracked<usize>,
    pub generations: Tracked<usize>,
    pub keep: Tracked<usize>,
    pub mutate: Tracked<Mutate>,
    pub crossover: Tracked<usize>,
    pub samples: Tracked<usize>,
    /// BN recalibration images per candidate.
    pub recalibrate: Tracked<Option<usize>>,
    /// OFA's accuracy predictor (`evolution` only; `nasl check` refuses it elsewhere).
    pub predictor: Tracked<Option<PredictorSpec>>,
}

/// `predictor mlp(hidden, layers, samples)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PredictorSpec {
    pub hidden: usize,
    pub layers: usize,
    pub samples: usize,
}

/// `successive_halving(space)`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HalvingSpec {
    pub common: Common,
    pub training: Training,
    pub objectives: Objectives,
    pub candidates: Tracked<usize>,
    pub eta: Tracked<usize>,
    pub min_epochs: Tracked<usize>,
    pub max_epochs: Tracked<usize>,
}

/// `differentiable(space)`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DifferentiableSpec {
    pub common: Common,
    pub training: Training,
    /// The weight optimizer (`weights`, else `optimizer`).
    pub weights: Tracked<Option<Optim>>,
    pub arch: Tracked<Optim>,
    pub relax: Tracked<Relax>,
    pub level: Tracked<Level>,
    pub derive: Tracked<Derive>,
    pub penalty: Tracked<Vec<PenaltySpec>>,
    pub objective: Tracked<String>,
}

/// `rl(space)`: ENAS (`shared true`) or MnasNet (`shared false`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RlSpec {
    pub common: Common,
    pub training: Training,
    pub weights: Tracked<Option<Optim>>,
    pub controller: Tracked<ControllerConfig>,
    pub reward: Tracked<Reward>,
    pub steps: Tracked<usize>,
    pub proxy_epochs: Tracked<usize>,
    pub shared: Tracked<bool>,
    pub samples: Tracked<usize>,
    /// `None`: sample 100 and keep the best (ENAS); `Argmax`: the controller's greedy choice.
    pub derive: Tracked<Option<Derive>>,
}

/// `hypernet(space)` (SMASH).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HypernetSpec {
    pub common: Common,
    pub training: Training,
    pub samples: Tracked<usize>,
}

/// `retrain(arch)`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RetrainSpec {
    pub common: Common,
    pub training: Training,
    pub drop_path: Tracked<Option<Schedule>>,
    pub auxiliary: Tracked<Option<f64>>,
    pub cutout: Tracked<Option<usize>>,
    pub network: Tracked<Option<Network>>,
}

/// `evaluate(model, split)`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvaluateSpec {
    pub common: Common,
    pub recalibrate: Tracked<Option<usize>>,
    /// Sampled paths of `evaluate(supernet)`.
    pub samples: Tracked<usize>,
}

/// `rank(supernet)`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RankSpec {
    pub common: Common,
    pub training: Training,
    pub samples: Tracked<usize>,
    pub recalibrate: Tracked<Option<usize>>,
    /// `extremes true`: the largest and the smallest architecture are ranked too.
    pub extremes: Tracked<bool>,
}

/// What a progressive-shrinking phase releases (OFA's order: full, kernel, depth, width).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PhaseKind {
    /// The largest network only.
    Full,
    /// Elastic kernel sizes.
    Kernel,
    /// Elastic depth (in two sub-steps: the two largest depths, then all).
    Depth,
    /// Elastic expand ratios and channel counts (in two sub-steps, after channel sorting).
    Width,
}

impl PhaseKind {
    /// Every phase kind, in OFA's order.
    pub const ALL: [PhaseKind; 4] = [
        PhaseKind::Full,
        PhaseKind::Kernel,
        PhaseKind::Depth,
        PhaseKind::Width,
    ];

    /// The phase's name in a `phase` line.
    pub fn name(self) -> &'static str {
        match self {
            PhaseKind::Full => "full",
            PhaseKind::Kernel => "kernel",
            PhaseKind::Depth => "depth",
            PhaseKind::Width => "width",
        }
    }

    /// Sub-networks per step where the `phase` line does not say (the settings table's default).
    pub fn default_subnets(self) -> usize {
        tables::PHASES
            .iter()
            .find(|s| s.name == self.name())
            .and_then(|s| s.params.iter().find(|p| p.name == "subnets"))
            .and_then(|p| match p.default {
                Dv::Int(n) => usize::try_from(n).ok(),
                _ => None,
            })
            .unwrap_or(1)
    }
}

/// One `phase KIND(epochs: N, lr: X, subnets: K)` of `progressive_shrinking`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Phase {
    pub kind: PhaseKind,
    pub epochs: usize,
    /// The phase's base learning rate (`None`: the optimizer's).
    pub lr: Option<f64>,
    /// Sub-networks sampled per training step, their gradients summed into one update (OFA's
    /// `dynamic_batch_size`: 1 in the full and kernel phases, 2 in depth and width).
    pub subnets: usize,
}

/// `progressive_shrinking(space)` (OFA).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShrinkSpec {
    pub common: Common,
    pub training: Training,
    /// The phases in the order written; none written: full, kernel, depth, width of `epochs` each.
    pub phases: Tracked<Vec<Phase>>,
    /// Weight of the soft-target distillation loss from the full network.
    pub distill: Tracked<Option<f64>>,
}

/// A stage's typed settings, by kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StageSpec {
    Train(TrainSpec),
    ProgressiveShrinking(ShrinkSpec),
    FewShot(FewShotSpec),
    Evolution(SupernetSearchSpec),
    RandomSearch(SupernetSearchSpec),
    Nsga2(SupernetSearchSpec),
    SuccessiveHalving(HalvingSpec),
    Differentiable(DifferentiableSpec),
    Rl(RlSpec),
    Hypernet(HypernetSpec),
    Retrain(RetrainSpec),
    Evaluate(EvaluateSpec),
    Rank(RankSpec),
}

impl StageSpec {
    pub fn common(&self) -> &Common {
        match self {
            StageSpec::Train(s) => &s.common,
            StageSpec::ProgressiveShrinking(s) => &s.common,
            StageSpec::FewShot(s) => &s.common,
            StageSpec::Evolution(s) | StageSpec::RandomSearch(s) | StageSpec::Nsga2(s) => &s.common,
            StageSpec::SuccessiveHalving(s) => &s.common,
            StageSpec::Differentiable(s) => &s.common,
            StageSpec::Rl(s) => &s.common,
            StageSpec::Hypernet(s) => &s.common,
            StageSpec::Retrain(s) => &s.common,
            StageSpec::Evaluate(s) => &s.common,
            StageSpec::Rank(s) => &s.common,
        }
    }

    /// The training settings of a kind that trains weights.
    pub fn training(&self) -> Option<&Training> {
        match self {
            StageSpec::Train(s) => Some(&s.training),
            StageSpec::FewShot(s) => Some(&s.training),
            StageSpec::ProgressiveShrinking(s) => Some(&s.training),
            StageSpec::SuccessiveHalving(s) => Some(&s.training),
            StageSpec::Differentiable(s) => Some(&s.training),
            StageSpec::Rl(s) => Some(&s.training),
            StageSpec::Hypernet(s) => Some(&s.training),
            StageSpec::Retrain(s) => Some(&s.training),
            StageSpec::Rank(s) => Some(&s.training),
            _ => None,
        }
    }

    /// BN recalibration images of a kind that recalibrates, if it does.
    pub fn recalibrate(&self) -> Option<usize> {
        match self {
            StageSpec::Evolution(s) | StageSpec::RandomSearch(s) | StageSpec::Nsga2(s) => {
                *s.recalibrate
            }
            StageSpec::Evaluate(s) => *s.recalibrate,
            StageSpec::Rank(s) => *s.recalibrate,
            _ => None,
        }
    }

    /// The hard constraints of a searching kind (checks read them too; not counted as applied).
    pub fn constraints(&self) -> &[Constraint] {
        match self {
            StageSpec::Evolution(s) | StageSpec::RandomSearch(s) | StageSpec::Nsga2(s) => {
                &s.objectives.constraint.value
            }
            StageSpec::SuccessiveHalving(s) => &s.objectives.constraint.value,
            _ => &[],
        }
    }

    /// The stage's cutout setting, for kinds that take one.
    pub fn cutout(&self) -> Option<usize> {
        match self {
            StageSpec::Train(s) => *s.cutout,
            StageSpec::Retrain(s) => *s.cutout,
            _ => None,
        }
    }

    /// The auxiliary head weight and drop-path schedule of a stand-alone training, where the kind
    /// takes them.
    pub fn standalone(&self) -> (Option<f64>, Option<Schedule>) {
        match self {
            StageSpec::Train(s) => (*s.auxiliary, s.drop_path.clone_value()),
            StageSpec::Retrain(s) => (*s.auxiliary, s.drop_path.clone_value()),
            _ => (None, None),
        }
    }
}

impl<T: Clone> Tracked<T> {
    /// The value, cloned (a read).
    pub fn clone_value(&self) -> T {
        (**self).clone()
    }
}

// ---------------------------------------------------------------------------------------------
// Lowering.

/// Reads a stage's checked settings with the table's defaults, one tracked field at a time.
struct Reader<'a> {
    kind: StageKind,
    settings: &'a Settings,
    applied: Applied,
    consumed: RefCell<BTreeSet<&'static str>>,
}

impl<'a> Reader<'a> {
    /// The setting's value as written, or the table's default for it (`None` for `Dv::Absent`).
    fn value(&self, key: &'static str) -> (Option<Value>, bool) {
        self.consumed.borrow_mut().insert(key);
        if let Some(v) = self.settings.get(key) {
            return (Some(v.clone()), true);
        }
        let setting = tables::SETTINGS.iter().find(|s| s.key == key);
        let default = setting.and_then(|s| default_value(s.default, s.ty));
        (default, false)
    }

    fn field<T>(&self, key: &'static str, f: impl FnOnce(Option<&Value>) -> T) -> Tracked<T> {
        let (v, given) = self.value(key);
        Tracked {
            value: f(v.as_ref()),
            key,
            given,
            applied: self.applied.clone(),
        }
    }

    /// A whole-number setting whose default is in the settings table.
    fn nat(&self, key: &'static str) -> Tracked<usize> {
        self.nat_or(key, 0)
    }

    /// A whole-number setting whose default depends on the stage kind (`samples`): `kind_default`
    /// when neither the file nor the table gives one.
    fn nat_or(&self, key: &'static str, kind_default: usize) -> Tracked<usize> {
        self.field(key, |v| {
            v.and_then(Value::as_f64)
                .map(|f| f.max(0.0) as usize)
                .unwrap_or(kind_default)
        })
    }

    /// An optimizer setting; its default is the table's.
    fn optimizer(&self, key: &'static str) -> Tracked<Optim> {
        self.field(key, |v| match v.and_then(as_call) {
            Some(c) => optim(c),
            None => optim(&table_call(key)),
        })
    }

    fn opt_nat(&self, key: &'static str) -> Tracked<Option<usize>> {
        self.field(key, |v| {
            v.and_then(Value::as_f64).map(|f| f.max(0.0) as usize)
        })
    }

    fn float(&self, key: &'static str) -> Tracked<Option<f64>> {
        self.field(key, |v| v.and_then(Value::as_f64))
    }

    fn common(&self) -> Common {
        Common {
            batch: self.opt_nat("batch"),
            seeds: self.field("seeds", |v| match v {
                Some(Value::List(l)) if !l.is_empty() => Some(
                    l.iter()
                        .filter_map(|v| v.as_f64().map(|f| f as i64))
                        .collect(),
                ),
                _ => None,
            }),
            latency: self.field("latency", |v| match v {
                Some(Value::Call(c)) if c.name == "lut" => {
                    LatencySource::Lut(match c.get("path") {
                        Some(Value::Str(s)) => s.clone(),
                        _ => "latency.yaml".into(),
                    })
                }
                Some(Value::Call(c)) => LatencySource::Measure {
                    runs: num(c, "runs", 20.0).max(1.0) as usize,
                },
                _ => LatencySource::Measure { runs: 20 },
            }),
        }
    }

    fn training(&self) -> Training {
        Training {
            epochs: self.nat("epochs"),
            optimizer: self.optimizer("optimizer"),
            schedule: self.field("schedule", |v| lr_schedule(v.and_then(as_call))),
            grad_clip: self.float("grad_clip"),
            label_smoothing: self.field("label_smoothing", |v| {
                v.and_then(Value::as_f64).unwrap_or(0.0)
            }),
            warmup: self.nat("warmup"),
            dropout: self.float("dropout"),
        }
    }

    fn objectives(&self) -> Objectives {
        Objectives {
            objective: self.objective(),
            pareto: self.field("pareto", |v| {
                v.map(|v| v.names().into_iter().map(String::from).collect())
                    .unwrap_or_default()
            }),
            constraint: self.field("constraint", constraints),
        }
    }

    fn objective(&self) -> Tracked<String> {
        self.field("objective", |v| match v {
            Some(Value::Name(m)) => m.clone(),
            _ => "val.accuracy".into(),
        })
    }

    fn sampler(&self) -> Tracked<Sampler> {
        self.field("sampler", |v| sampler(v.and_then(as_call)))
    }

    fn sample_over(&self) -> Tracked<Over> {
        self.field("sample_over", |v| match v {
            Some(Value::Name(n)) => Over::parse(n).unwrap_or(Over::Edges),
            _ => Over::Edges,
        })
    }

    fn recalibrate(&self) -> Tracked<Option<usize>> {
        self.field("recalibrate", |v| {
            v.and_then(as_call)
                .map(|c| num(c, "images", 2000.0).max(0.0) as usize)
        })
    }

    fn drop_path(&self) -> Tracked<Option<Schedule>> {
        self.field("drop_path", |v| v.map(|v| Schedule::of(Some(v), 0.0)))
    }

    fn weights(&self) -> Tracked<Option<Optim>> {
        self.field("weights", |v| v.and_then(as_call).map(optim))
    }

    fn lower(&self, cell: bool) -> StageSpec {
        use StageKind as K;
        let supernet_search = || SupernetSearchSpec {
            common: self.common(),
            objectives: self.objectives(),
            population: self.nat("population"),
            generations: self.nat("generations"),
            keep: self.nat("keep"),
            mutate: self.field("mutate", |v| match v.and_then(as_call) {
                Some(c) => Mutate {
                    count: num(c, "count", 10.0).max(0.0) as usize,
                    p: num(c, "p", 0.1),
                },
                None => Mutate { count: 10, p: 0.1 },
            }),
            crossover: self.nat("crossover"),
            samples: self.nat_or("samples", 100),
            recalibrate: self.recalibrate(),
            predictor: self.field("predictor", |v| {
                v.and_then(as_call).map(|c| PredictorSpec {
                    hidden: num(c, "hidden", 400.0).max(1.0) as usize,
                    layers: num(c, "layers", 3.0).max(1.0) as usize,
                    samples: num(c, "samples", 16000.0).max(1.0) as usize,
                })
            }),
        };
        match self.kind {
            K::Train => StageSpec::Train(TrainSpec {
                common: self.common(),
                training: self.training(),
                sampler: self.sampler(),
                drop_path: self.drop_path(),
                auxiliary: self.float("auxiliary"),
                cutout: self.opt_nat("cutout"),
                affine: self.field("affine", |v| !matches!(v, Some(Value::Bool(false)))),
                sample_over: self.sample_over(),
            }),
            K::ProgressiveShrinking => StageSpec::ProgressiveShrinking(ShrinkSpec {
                common: self.common(),
                training: self.training(),
                phases: self.field("phase", phases),
                distill: self.float("distill"),
            }),
            K::FewShot => StageSpec::FewShot(FewShotSpec {
                common: self.common(),
                training: self.training(),
                sampler: self.sampler(),
                sample_over: self.sample_over(),
                split_on: self.nat("split_on"),
                finetune: self.nat("finetune"),
            }),
            K::Evolution => StageSpec::Evolution(supernet_search()),
            K::RandomSearch => StageSpec::RandomSearch(supernet_search()),
            K::Nsga2 => StageSpec::Nsga2(supernet_search()),
            K::SuccessiveHalving => StageSpec::SuccessiveHalving(HalvingSpec {
                common: self.common(),
                training: self.training(),
                objectives: self.objectives(),
                candidates: self.nat("candidates"),
                // Keeping 1/eta per rung needs eta >= 2.
                eta: self.field("eta", |v| {
                    v.and_then(Value::as_f64).unwrap_or(0.0).max(2.0) as usize
                }),
                min_epochs: self.nat("min_epochs"),
                max_epochs: self.nat("max_epochs"),
            }),
            K::Differentiable => StageSpec::Differentiable(DifferentiableSpec {
                common: self.common(),
                training: self.training(),
                weights: self.weights(),
                arch: self.optimizer("arch"),
                relax: self.field("relax", |v| relax(v.and_then(as_call))),
                level: self.field("level", |v| match v.and_then(as_call) {
                    Some(c) if c.name == "bilevel" => Level::Bilevel {
                        order: num(c, "order", 1.0) as usize,
                        split: num(c, "split", 0.5),
                    },
                    Some(_) => Level::Single,
                    None => Level::Bilevel {
                        order: 1,
                        split: 0.5,
                    },
                }),
                derive: self.field("derive", |v| match v.and_then(as_call) {
                    Some(c) => derive(c),
                    None if cell => Derive::TopK(2),
                    None => Derive::Argmax,
                }),
                penalty: self.field("penalty", penalties),
                objective: self.objective(),
            }),
            K::Rl => StageSpec::Rl(RlSpec {
                common: self.common(),
                training: self.training(),
                weights: self.weights(),
                controller: self.field("controller", |v| controller(v.and_then(as_call))),
                reward: self.field("reward", |v| match v.and_then(as_call) {
                    // A duration is in seconds (`80ms` is 0.08).
                    Some(c) if c.name == "mnas" => Reward::Mnas {
                        target_ms: num(c, "target", 0.08) * 1e3,
                        w: num(c, "w", -0.07),
                    },
                    _ => Reward::Accuracy,
                }),
                steps: self.nat("steps"),
                proxy_epochs: self.nat("proxy_epochs"),
                shared: self.field("shared", |v| !matches!(v, Some(Value::Bool(false)))),
                samples: self.nat_or("samples", 100),
                derive: self.field("derive", |v| v.and_then(as_call).map(derive)),
            }),
            K::Hypernet => StageSpec::Hypernet(HypernetSpec {
                common: self.common(),
                training: self.training(),
                samples: self.nat_or("samples", 100),
            }),
            K::Retrain => StageSpec::Retrain(RetrainSpec {
                common: self.common(),
                training: self.training(),
                drop_path: self.drop_path(),
                auxiliary: self.float("auxiliary"),
                cutout: self.opt_nat("cutout"),
                network: self.field("network", |v| {
                    v.and_then(as_call).map(|c| Network {
                        cells: c.get("cells").and_then(Value::as_f64).map(|v| v as u32),
                        channels: c.get("channels").and_then(Value::as_f64).map(|v| v as u32),
                    })
                }),
            }),
            K::Evaluate => StageSpec::Evaluate(EvaluateSpec {
                common: self.common(),
                recalibrate: self.recalibrate(),
                samples: self.field("samples", |v| {
                    v.and_then(Value::as_f64).unwrap_or(10.0).max(1.0) as usize
                }),
            }),
            K::Rank => StageSpec::Rank(RankSpec {
                common: self.common(),
                training: self.training(),
                samples: self.field("samples", |v| {
                    v.and_then(Value::as_f64).unwrap_or(10.0).max(2.0) as usize
                }),
                recalibrate: self.recalibrate(),
                extremes: self.field("extremes", |v| matches!(v, Some(Value::Bool(true)))),
            }),
        }
    }
}

/// Lowers a checked stage's settings to its kind's struct (`cell`: the stage's space is a cell space,
/// which changes derivation's default). Settings the kind does not carry are refused by sema before.
pub fn lower(kind: StageKind, settings: &Settings, cell: bool) -> StageSpec {
    lower_with_keys(kind, settings, cell).0
}

/// [`lower`], with the setting keys the kind's struct reads (for the coverage test).
pub fn lower_with_keys(
    kind: StageKind,
    settings: &Settings,
    cell: bool,
) -> (StageSpec, BTreeSet<&'static str>) {
    let reader = Reader {
        kind,
        settings,
        applied: Applied::default(),
        consumed: RefCell::new(BTreeSet::new()),
    };
    let spec = reader.lower(cell);
    (spec, reader.consumed.into_inner())
}

impl StageSpec {
    /// Records `key` as applied (a worker process applied it for this stage).
    pub fn mark_applied(&self, key: &str) {
        if let Some(s) = tables::SETTINGS.iter().find(|s| s.key == key) {
            self.common().batch.applied.0.borrow_mut().insert(s.key);
        }
    }

    /// The settings the file gave that the executor has read since the last call, with their
    /// values; forgets them.
    pub fn take_applied(&self, settings: &Settings) -> BTreeMap<String, Value> {
        let keys = std::mem::take(&mut *self.common().batch.applied.0.borrow_mut());
        keys.into_iter()
            .filter_map(|k| settings.get(k).map(|v| (k.to_string(), v.clone())))
            .collect()
    }
}

/// A table default as a value (`None` for settings absent unless given).
fn default_value(d: Dv, ty: Ty) -> Option<Value> {
    Some(match d {
        Dv::Required | Dv::Absent => return None,
        Dv::Int(i) => Value::Int(i),
        Dv::Float(f) => Value::Float(f),
        Dv::Bool(b) => Value::Bool(b),
        Dv::Pair(a, b) => Value::Tuple(vec![Value::Float(a), Value::Float(b)]),
        Dv::Name(n) => match ty {
            Ty::Call(sigs) => Value::Call(call_with_defaults(sigs, n, &[])),
            _ => Value::Name(n.into()),
        },
        Dv::Call(n, args) => match ty {
            Ty::Call(sigs) => Value::Call(call_with_defaults(sigs, n, args)),
            _ => return None,
        },
    })
}

/// A call of `sigs` named `name` with `args`, every other parameter at its default.
fn call_with_defaults(sigs: &[tables::Sig], name: &str, args: &[(&str, Dv)]) -> Call {
    let mut out = BTreeMap::new();
    for (k, v) in args {
        if let Some(v) = default_value(*v, Ty::Float) {
            out.insert(k.to_string(), v);
        }
    }
    if let Some(sig) = sigs.iter().find(|s| s.name == name) {
        for p in sig.params {
            if !out.contains_key(p.name)
                && let Some(v) = default_value(p.default, p.ty)
            {
                out.insert(p.name.to_string(), v);
            }
        }
    }
    Call {
        name: name.to_string(),
        args: out,
    }
}

fn as_call(v: &Value) -> Option<&Call> {
    match v {
        Value::Call(c) => Some(c),
        _ => None,
    }
}

fn num(c: &Call, key: &str, default: f64) -> f64 {
    c.get(key).and_then(Value::as_f64).unwrap_or(default)
}

/// The settings table's default of a call-valued setting (an empty call if it has none).
fn table_call(key: &str) -> Call {
    let default = tables::SETTINGS
        .iter()
        .find(|s| s.key == key)
        .and_then(|s| default_value(s.default, s.ty));
    match default {
        Some(Value::Call(c)) => c,
        _ => Call {
            name: String::new(),
            args: BTreeMap::new(),
        },
    }
}

fn optim(c: &Call) -> Optim {
    let betas = match c.get("betas") {
        Some(Value::Tuple(v)) if v.len() == 2 => {
            (v[0].as_f64().unwrap_or(0.9), v[1].as_f64().unwrap_or(0.999))
        }
        _ => (0.9, 0.999),
    };
    let rule = match c.name.as_str() {
        "adam" | "adamw" => Rule::Adam {
            b1: betas.0,
            b2: betas.1,
            eps: num(c, "eps", 1e-8),
            wd: num(c, "wd", if c.name == "adamw" { 0.01 } else { 0.0 }),
            decoupled: c.name == "adamw",
        },
        "rmsprop" => Rule::RmsProp {
            alpha: num(c, "alpha", 0.99),
            momentum: num(c, "momentum", 0.0),
            wd: num(c, "wd", 0.0),
        },
        _ => Rule::Sgd {
            momentum: num(c, "momentum", 0.0),
            nesterov: matches!(c.get("nesterov"), Some(Value::Bool(true))),
            wd: num(c, "wd", 0.0),
        },
    };
    Optim {
        rule,
        lr: Schedule::of(c.get("lr"), 0.1),
    }
}

fn lr_schedule(c: Option<&Call>) -> LrSchedule {
    let Some(c) = c else {
        return LrSchedule::Constant;
    };
    match c.name.as_str() {
        "linear" => LrSchedule::Linear {
            to: num(c, "to", 0.0),
        },
        "cosine" => LrSchedule::Cosine {
            min: num(c, "min", 0.0),
            warmup_epochs: num(c, "warmup", 0.0),
        },
        "exponential" => LrSchedule::Exponential {
            gamma: num(c, "gamma", 0.97),
        },
        "step" => LrSchedule::Step {
            every_epochs: num(c, "every", 1.0),
            gamma: num(c, "gamma", 0.1),
        },
        _ => LrSchedule::Constant,
    }
}

fn sampler(c: Option<&Call>) -> Sampler {
    let Some(c) = c else {
        return Sampler::Uniform;
    };
    let range = |k: &str| match c.get(k) {
        Some(Value::Range(a, b)) => Some((*a, *b)),
        _ => None,
    };
    match c.name.as_str() {
        "constrained" => Sampler::Constrained {
            flops: range("flops"),
            params: range("params"),
            // Durations are seconds in the language, milliseconds in latency tables.
            latency_ms: range("latency").map(|(a, b)| (a * 1e3, b * 1e3)),
            tries: num(c, "tries", 100.0).max(1.0) as usize,
        },
        "fair" => Sampler::Fair,
        "path_dropout" => Sampler::PathDropout {
            rate: Schedule::of(c.get("rate"), 0.0),
            keep: num(c, "keep", 1.0).max(1.0) as usize,
        },
        "sandwich" => Sampler::Sandwich {
            random: num(c, "random", 2.0).max(0.0) as usize,
            distill: matches!(c.get("distill"), Some(Value::Bool(true))),
        },
        _ => Sampler::Uniform,
    }
}

fn relax(c: Option<&Call>) -> Relax {
    let Some(c) = c else {
        return Relax::Softmax;
    };
    match c.name.as_str() {
        "gumbel" => Relax::Gumbel {
            tau: Schedule::of(c.get("tau"), 1.0),
        },
        "gumbel_hard" => Relax::GumbelHard {
            tau: Schedule::of(c.get("tau"), 10.0),
        },
        "binary_gates" => Relax::BinaryGates {
            paths: num(c, "paths", 2.0).max(1.0) as usize,
            reinforce: matches!(c.get("estimator"), Some(Value::Name(n)) if n == "reinforce"),
        },
        "superkernel" => Relax::Superkernel {
            threshold_init: num(c, "threshold_init", 0.0),
        },
        "masked_gumbel" => Relax::MaskedGumbel {
            tau: Schedule::of(c.get("tau"), 5.0),
        },
        _ => Relax::Softmax,
    }
}

fn derive(c: &Call) -> Derive {
    match c.name.as_str() {
        "top_k_edges" => Derive::TopK(num(c, "k", 2.0) as usize),
        "sample" => Derive::Sample((num(c, "n", 8.0) as usize).max(1)),
        _ => Derive::Argmax,
    }
}

fn controller(c: Option<&Call>) -> ControllerConfig {
    let d = ControllerConfig::default();
    let Some(c) = c else { return d };
    ControllerConfig {
        hidden: num(c, "hidden", d.hidden as f64).max(1.0) as usize,
        lr: num(c, "lr", d.lr),
        entropy: num(c, "entropy", d.entropy),
        baseline: num(c, "baseline", d.baseline),
        tanh: num(c, "tanh", d.tanh),
        temperature: num(c, "temperature", d.temperature),
        algorithm: match c.get("algorithm") {
            Some(Value::Name(n)) if n == "ppo" => Algorithm::Ppo,
            _ => Algorithm::Reinforce,
        },
        ..d
    }
}

/// The `phase` lines of `progressive_shrinking`, in the order written.
fn phases(v: Option<&Value>) -> Vec<Phase> {
    let Some(Value::List(list)) = v else {
        return vec![];
    };
    list.iter()
        .filter_map(as_call)
        .filter_map(|c| {
            let kind = PhaseKind::ALL.into_iter().find(|k| k.name() == c.name)?;
            Some(Phase {
                kind,
                epochs: num(c, "epochs", 1.0).max(0.0) as usize,
                lr: c.get("lr").and_then(Value::as_f64),
                subnets: num(c, "subnets", kind.default_subnets() as f64).max(1.0) as usize,
            })
        })
        .collect()
}

fn constraints(v: Option<&Value>) -> Vec<Constraint> {
    let Some(Value::List(list)) = v else {
        return vec![];
    };
    list.iter()
        .filter_map(|c| match c {
            Value::Tuple(t) => match (t.first(), t.get(1), t.get(2).and_then(Value::as_f64)) {
                (Some(Value::Name(m)), Some(Value::Name(op)), Some(b)) => Some(Constraint {
                    metric: m.clone(),
                    op: match op.as_str() {
                        "<=" => Cmp::Le,
                        "<" => Cmp::Lt,
                        ">=" => Cmp::Ge,
                        ">" => Cmp::Gt,
                        "==" => Cmp::Eq,
                        _ => Cmp::Ne,
                    },
                    // Latency bounds are durations (seconds), compared in the tables' milliseconds.
                    bound: if m == "latency" { b * 1e3 } else { b },
                }),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

fn penalties(v: Option<&Value>) -> Vec<PenaltySpec> {
    let calls: Vec<&Call> = match v {
        Some(Value::Call(c)) => vec![c],
        Some(Value::List(l)) => l.iter().filter_map(as_call).collect(),
        _ => vec![],
    };
    calls
        .into_iter()
        .map(|c| PenaltySpec {
            metric: c.name.clone(),
            form: match c.get("form") {
                Some(Value::Name(n)) => n.clone(),
                _ => "linear".into(),
            },
            weight: num(c, "weight", 1.0),
            exponent: num(c, "exponent", 1.0),
            target: c.get("target").and_then(Value::as_f64),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sema::contract::NOT_RUN;
    use crate::sema::tables::{STAGES, settings_for};

    /// Every (kind, setting) pair the table accepts and the contract does not refuse has a field in
    /// the kind's struct: a new setting without one fails here.
    #[test]
    fn spec_fields_cover_every_accepted_setting() {
        let mut missing = vec![];
        for &(name, kind) in STAGES {
            let (_, keys) = lower_with_keys(kind, &Settings::default(), false);
            for s in settings_for(kind) {
                let refused = NOT_RUN
                    .iter()
                    .any(|r| r.key == s.key && r.kinds.contains(&kind));
                if !refused && !keys.contains(s.key) {
                    missing.push(format!("{name}.{}", s.key));
                }
            }
        }
        assert!(
            missing.is_empty(),
            "settings without a spec field: {missing:?}"
        );
    }

    /// Reading a given setting records it; reading a default does not.
    #[test]
    fn reads_of_given_settings_are_recorded() {
        let settings: Settings = BTreeMap::from([
            ("epochs".to_string(), Value::Int(3)),
            ("grad_clip".to_string(), Value::Float(5.0)),
        ])
        .into();
        let spec = lower(StageKind::Retrain, &settings, false);
        let t = spec.training().unwrap();
        assert_eq!(*t.epochs, 3);
        assert_eq!(*t.label_smoothing, 0.0);
        let applied = spec.take_applied(&settings);
        assert_eq!(applied.keys().collect::<Vec<_>>(), ["epochs"]);
        assert!(spec.take_applied(&settings).is_empty());
    }

    /// The table's defaults are the executor's: `sgd(lr: 0.05)`, `cosine` warm-up in epochs.
    #[test]
    fn defaults_come_from_the_table() {
        let spec = lower(StageKind::Retrain, &Settings::default(), false);
        let t = spec.training().unwrap();
        assert_eq!(t.optimizer.lr.from, 0.05);
        assert_eq!(*t.epochs, 1);
        let StageSpec::Evolution(e) = lower(StageKind::Evolution, &Settings::default(), false)
        else {
            panic!("kind")
        };
        assert_eq!(
            (*e.population, *e.generations, *e.keep, *e.crossover),
            (50, 20, 10, 10)
        );
        let StageSpec::SuccessiveHalving(h) =
            lower(StageKind::SuccessiveHalving, &Settings::default(), false)
        else {
            panic!("kind")
        };
        assert_eq!(
            (*h.candidates, *h.eta, *h.min_epochs, *h.max_epochs),
            (27, 3, 1, 27)
        );
        assert!(matches!(t.optimizer.rule, Rule::Sgd { momentum, .. } if momentum == 0.0));
        let spec = lower(StageKind::Differentiable, &Settings::default(), true);
        let StageSpec::Differentiable(d) = spec else {
            panic!("kind")
        };
        assert_eq!(*d.derive, Derive::TopK(2));
        assert!(matches!(d.arch.rule, Rule::Adam { b1, wd, .. } if b1 == 0.5 && wd == 1e-3));
    }
}

/// The checked `executor slurm { ... }` block: the `sbatch` options it gives and the retry limit,
/// every default from `tables::SLURM_SETTINGS`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SlurmSpec {
    pub partition: Option<String>,
    /// Each task's time limit in seconds.
    pub time_s: Option<f64>,
    pub gpus_per_task: Option<i64>,
    pub cpus_per_task: Option<i64>,
    pub account: Option<String>,
    pub max_retries: usize,
}

impl Default for SlurmSpec {
    fn default() -> SlurmSpec {
        let retries = tables::SLURM_SETTINGS
            .iter()
            .find(|s| s.key == "max_retries")
            .and_then(|s| match s.default {
                Dv::Int(n) => usize::try_from(n).ok(),
                _ => None,
            })
            .unwrap_or(0);
        SlurmSpec {
            partition: None,
            time_s: None,
            gpus_per_task: None,
            cpus_per_task: None,
            account: None,
            max_retries: retries,
        }
    }
}

impl SlurmSpec {
    /// The block's values as `sbatch` options (`--time` in whole minutes, rounded up).
    pub fn sbatch_options(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(p) = &self.partition {
            out.push(format!("--partition={p}"));
        }
        if let Some(t) = self.time_s {
            let minutes = (t / 60.0).ceil().max(1.0) as u64;
            out.push(format!("--time={minutes}"));
        }
        if let Some(n) = self.gpus_per_task {
            out.push(format!("--gpus-per-task={n}"));
        }
        if let Some(n) = self.cpus_per_task {
            out.push(format!("--cpus-per-task={n}"));
        }
        if let Some(a) = &self.account {
            out.push(format!("--account={a}"));
        }
        out
    }
}
