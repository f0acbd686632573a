//! The tables sema checks against, besides the op catalogue: datasets, augmentations, samplers,
//! optimizers, schedules, levels, derivations, controllers, rewards, penalties, and every stage kind
//! with its settings. Each entry is a signature with typed, defaulted parameters.

use super::hir::value::StageKind;

/// The type of a setting or call parameter.
#[derive(Debug, Clone, Copy)]
pub enum Ty {
    /// A whole number >= 0.
    Int,
    /// A whole number >= 1.
    Nat,
    /// A real number.
    Float,
    /// A real number in [0, 1].
    Prob,
    Bool,
    Str,
    /// A duration (`80ms`) or a plain number of seconds.
    Dur,
    /// A real number or a schedule `a -> b shape`.
    Sched,
    /// A range `lo..hi` of numbers.
    Range,
    /// A range of durations (`4ms..6ms`, normalised to seconds).
    DurRange,
    /// A tuple of two real numbers.
    Pair,
    /// One of these names.
    Name(&'static [&'static str]),
    /// A list of whole numbers, or a range of them.
    IntList,
    /// A metric name (`val.accuracy`, `flops`, ...).
    Metric,
    /// A list of metrics.
    Metrics,
    /// A comparison `metric <= value`.
    Constraint,
    /// A call from the given table (a bare name is a call with no arguments).
    Call(&'static [Sig]),
}

impl Ty {
    /// How the type reads in an error.
    pub fn describe(self) -> String {
        match self {
            Ty::Int => "a whole number".into(),
            Ty::Nat => "a positive whole number".into(),
            Ty::Float => "a number".into(),
            Ty::Prob => "a number between 0 and 1".into(),
            Ty::Bool => "`true` or `false`".into(),
            Ty::Str => "a string".into(),
            Ty::Dur => "a duration like `80ms`".into(),
            Ty::Sched => "a number or a schedule like `1.0 -> 0.1 linear`".into(),
            Ty::Range => "a range like `5M..20M`".into(),
            Ty::DurRange => "a range of durations like `4ms..6ms`".into(),
            Ty::Pair => "a pair like `(0.5, 0.999)`".into(),
            Ty::Name(ns) => crate::diag::one_of(ns.iter().copied()),
            Ty::IntList => "a list of whole numbers or a range".into(),
            Ty::Metric => format!(
                "a metric ({})",
                crate::diag::one_of(METRICS.iter().copied())
            ),
            Ty::Metrics => "a list of metrics".into(),
            Ty::Constraint => "a comparison like `flops <= 12M`".into(),
            Ty::Call(sigs) => crate::diag::one_of(sigs.iter().map(|s| s.name)),
        }
    }
}

/// A parameter default.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Dv {
    Required,
    /// Absent unless given.
    Absent,
    Int(i64),
    Float(f64),
    Bool(bool),
    Name(&'static str),
    /// A pair of numbers (`betas`).
    Pair(f64, f64),
    /// A table call with these arguments, every other parameter at its default.
    Call(&'static str, &'static [(&'static str, Dv)]),
}

impl std::fmt::Display for Dv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dv::Required => write!(f, "required"),
            Dv::Absent => write!(f, "absent unless given"),
            Dv::Int(v) => write!(f, "{v}"),
            Dv::Float(v) => write!(f, "{v}"),
            Dv::Bool(v) => write!(f, "{v}"),
            Dv::Name(v) => write!(f, "{v}"),
            Dv::Pair(a, b) => write!(f, "({a}, {b})"),
            Dv::Call(name, args) => {
                write!(f, "{name}(")?;
                for (i, (k, v)) in args.iter().enumerate() {
                    write!(f, "{}{k}: {v}", if i > 0 { ", " } else { "" })?;
                }
                write!(f, ")")
            }
        }
    }
}

/// One parameter of a table call.
#[derive(Debug, Clone, Copy)]
pub struct P {
    pub name: &'static str,
    pub ty: Ty,
    pub default: Dv,
}

const fn p(name: &'static str, ty: Ty, default: Dv) -> P {
    P { name, ty, default }
}

/// A table call signature: `name(params)`; the first `positional` params may be given by position.
#[derive(Debug, Clone, Copy)]
pub struct Sig {
    pub name: &'static str,
    pub positional: usize,
    pub params: &'static [P],
    pub doc: &'static str,
}

const fn sig(
    name: &'static str,
    positional: usize,
    params: &'static [P],
    doc: &'static str,
) -> Sig {
    Sig {
        name,
        positional,
        params,
        doc,
    }
}

/// Metrics usable in objectives and constraints.
pub const METRICS: &[&str] = &[
    "val.accuracy",
    "val.loss",
    "train.accuracy",
    "train.loss",
    "test.accuracy",
    "accuracy",
    "flops",
    "params",
    "latency",
];

/// Built-in datasets: name, images in the official training set (None: unknown until loaded).
pub const DATASETS: &[(&str, Option<u64>)] = &[
    ("fashion_mnist", Some(60000)),
    ("mnist", Some(60000)),
    ("cifar10", Some(50000)),
    ("cifar100", Some(50000)),
    ("folder", None),
    ("synthetic", None),
];

/// The image shape (channels, height, width) and class count of the built-in datasets whose shape is
/// fixed (`synthetic` as generated by default); `folder` is known only once loaded.
pub const DATASET_SHAPES: &[(&str, [usize; 3], usize)] = &[
    ("fashion_mnist", [1, 28, 28], 10),
    ("mnist", [1, 28, 28], 10),
    ("cifar10", [3, 32, 32], 10),
    ("cifar100", [3, 32, 32], 100),
    ("synthetic", [1, 28, 28], 10),
];

pub const AUGMENTS: &[Sig] = &[
    sig(
        "random_crop",
        1,
        &[p("pad", Ty::Int, Dv::Int(4))],
        "random crop after zero padding",
    ),
    sig(
        "hflip",
        1,
        &[p("p", Ty::Prob, Dv::Float(0.5))],
        "random horizontal flip",
    ),
    sig(
        "cutout",
        1,
        &[p("size", Ty::Nat, Dv::Int(16))],
        "cutout of a square patch (DeVries & Taylor)",
    ),
];

const RANGE_CONSTRAINT: &[P] = &[
    p("flops", Ty::Range, Dv::Absent),
    p("params", Ty::Range, Dv::Absent),
    p("latency", Ty::DurRange, Dv::Absent),
    p("tries", Ty::Nat, Dv::Int(100)),
];

/// Sampling policies of supernet training (`sampler`) and relaxations of gradient search (`relax`).
pub const SAMPLERS: &[Sig] = &[
    sig(
        "uniform",
        0,
        &[],
        "one uniformly random path per step (SPOS, RandomNAS)",
    ),
    sig(
        "constrained",
        0,
        RANGE_CONSTRAINT,
        "uniform, resampled until the cost falls in a range (SPOS)",
    ),
    sig(
        "fair",
        0,
        &[],
        "strict fairness: m paths without replacement per step, one update (FairNAS)",
    ),
    sig(
        "path_dropout",
        1,
        &[
            p("rate", Ty::Sched, Dv::Required),
            p("keep", Ty::Nat, Dv::Int(1)),
        ],
        "drop each path with a (scheduled) rate, keep at least one (OneShot)",
    ),
    sig(
        "sandwich",
        0,
        &[
            p("random", Ty::Nat, Dv::Int(2)),
            p("distill", Ty::Bool, Dv::Bool(false)),
        ],
        "sandwich rule: the largest, the smallest and `random` uniform paths per step, one update; `distill` teaches the others the largest's output (BigNAS)",
    ),
    sig(
        "softmax",
        0,
        &[],
        "continuous relaxation: softmax-weighted sum of all ops (DARTS)",
    ),
    sig(
        "gumbel",
        1,
        &[p("tau", Ty::Sched, Dv::Float(1.0))],
        "Gumbel-softmax relaxed one-hot (SNAS, FBNet)",
    ),
    sig(
        "gumbel_hard",
        1,
        &[p("tau", Ty::Sched, Dv::Float(10.0))],
        "hard Gumbel-max, straight-through gradient (GDAS)",
    ),
    sig(
        "binary_gates",
        0,
        &[
            p("paths", Ty::Nat, Dv::Int(2)),
            p(
                "estimator",
                Ty::Name(&["grad", "reinforce"]),
                Dv::Name("grad"),
            ),
        ],
        "path-level binarisation, sampled paths per arch update (ProxylessNAS)",
    ),
    sig(
        "superkernel",
        0,
        &[p("threshold_init", Ty::Float, Dv::Float(0.0))],
        "one superkernel, indicator decisions with trainable thresholds (Single-Path NAS)",
    ),
    sig(
        "masked_gumbel",
        1,
        &[p("tau", Ty::Sched, Dv::Float(5.0))],
        "Gumbel-weighted channel and resolution masks (FBNetV2)",
    ),
];

/// Samplers usable in `sampler` (supernet training) and in `relax` (gradient search).
pub const TRAIN_SAMPLERS: &[&str] = &["uniform", "constrained", "fair", "path_dropout", "sandwich"];
pub const RELAXATIONS: &[&str] = &[
    "softmax",
    "gumbel",
    "gumbel_hard",
    "binary_gates",
    "superkernel",
    "masked_gumbel",
];

pub const OPTIMIZERS: &[Sig] = &[
    sig(
        "sgd",
        0,
        &[
            p("lr", Ty::Sched, Dv::Required),
            p("momentum", Ty::Prob, Dv::Float(0.0)),
            p("nesterov", Ty::Bool, Dv::Bool(false)),
            p("wd", Ty::Float, Dv::Float(0.0)),
        ],
        "stochastic gradient descent",
    ),
    sig(
        "adam",
        0,
        &[
            p("lr", Ty::Sched, Dv::Required),
            p("betas", Ty::Pair, Dv::Absent),
            p("wd", Ty::Float, Dv::Float(0.0)),
            p("eps", Ty::Float, Dv::Float(1e-8)),
        ],
        "Adam",
    ),
    sig(
        "adamw",
        0,
        &[
            p("lr", Ty::Sched, Dv::Required),
            p("betas", Ty::Pair, Dv::Absent),
            p("wd", Ty::Float, Dv::Float(0.01)),
        ],
        "AdamW",
    ),
    sig(
        "rmsprop",
        0,
        &[
            p("lr", Ty::Sched, Dv::Required),
            p("momentum", Ty::Prob, Dv::Float(0.0)),
            p("alpha", Ty::Prob, Dv::Float(0.99)),
            p("wd", Ty::Float, Dv::Float(0.0)),
        ],
        "RMSProp",
    ),
];

pub const SCHEDULES: &[Sig] = &[
    sig("constant", 0, &[], "no change"),
    sig(
        "linear",
        0,
        &[p("to", Ty::Float, Dv::Float(0.0))],
        "linear decay to `to`",
    ),
    sig(
        "exponential",
        1,
        &[p("gamma", Ty::Float, Dv::Required)],
        "multiply by gamma every epoch",
    ),
    sig(
        "cosine",
        0,
        &[
            p("min", Ty::Float, Dv::Float(0.0)),
            p("warmup", Ty::Int, Dv::Int(0)),
        ],
        "cosine annealing to `min`",
    ),
    sig(
        "step",
        0,
        &[
            p("every", Ty::Nat, Dv::Required),
            p("gamma", Ty::Float, Dv::Float(0.1)),
        ],
        "multiply by gamma every `every` epochs",
    ),
];

pub const LEVELS: &[Sig] = &[
    sig(
        "single",
        0,
        &[],
        "weights and architecture from the same batch and loss",
    ),
    sig(
        "bilevel",
        0,
        &[
            p("order", Ty::Nat, Dv::Int(1)),
            p("split", Ty::Prob, Dv::Float(0.5)),
        ],
        "weights on the train part, architecture on the held-out part",
    ),
];

pub const DERIVES: &[Sig] = &[
    sig(
        "argmax",
        0,
        &[],
        "argmax op per decision; an edge whose argmax is none is dropped",
    ),
    sig(
        "top_k_edges",
        1,
        &[p("k", Ty::Nat, Dv::Int(2))],
        "per node keep the k strongest incoming edges, argmax non-none op (DARTS)",
    ),
    sig(
        "sample",
        1,
        &[p("n", Ty::Nat, Dv::Required)],
        "sample n archs from the learned distribution, keep the best on validation",
    ),
];

pub const CONTROLLERS: &[Sig] = &[sig(
    "lstm",
    0,
    &[
        p("hidden", Ty::Nat, Dv::Int(100)),
        p("lr", Ty::Float, Dv::Float(3.5e-4)),
        p("entropy", Ty::Float, Dv::Float(1e-4)),
        p("baseline", Ty::Prob, Dv::Float(0.99)),
        p("tanh", Ty::Float, Dv::Float(2.5)),
        p("temperature", Ty::Float, Dv::Float(5.0)),
        p(
            "algorithm",
            Ty::Name(&["reinforce", "ppo"]),
            Dv::Name("reinforce"),
        ),
    ],
    "LSTM controller trained by policy gradient (ENAS, MnasNet)",
)];

pub const REWARDS: &[Sig] = &[
    sig("accuracy", 0, &[], "validation accuracy"),
    sig(
        "mnas",
        0,
        &[
            p("target", Ty::Dur, Dv::Required),
            p("w", Ty::Float, Dv::Float(-0.07)),
            p(
                "metric",
                Ty::Name(&["latency", "flops"]),
                Dv::Name("latency"),
            ),
        ],
        "ACC * (LAT / target)^w (MnasNet)",
    ),
];

const PENALTY_PARAMS: &[P] = &[
    p("weight", Ty::Float, Dv::Float(1.0)),
    p("exponent", Ty::Float, Dv::Float(1.0)),
    p("target", Ty::Float, Dv::Absent),
    p(
        "form",
        Ty::Name(&["linear", "log", "mnas"]),
        Dv::Name("linear"),
    ),
];

/// Soft constraints (loss terms), one per cost metric.
pub const PENALTIES: &[Sig] = &[
    sig("flops", 0, PENALTY_PARAMS, "expected FLOPs as a loss term"),
    sig(
        "params",
        0,
        PENALTY_PARAMS,
        "expected parameter count as a loss term",
    ),
    sig(
        "latency",
        0,
        PENALTY_PARAMS,
        "expected latency from the lookup table as a loss term (FBNet: form log, weight alpha, exponent beta)",
    ),
];

pub const RECALIBRATIONS: &[Sig] = &[sig(
    "bn",
    0,
    &[p("images", Ty::Nat, Dv::Int(2000))],
    "re-estimate BatchNorm statistics on training images",
)];

pub const LATENCIES: &[Sig] = &[
    sig(
        "lut",
        1,
        &[p("path", Ty::Str, Dv::Required)],
        "per-op latency lookup table (measured and saved if missing)",
    ),
    sig(
        "measure",
        0,
        &[p("runs", Ty::Nat, Dv::Int(20))],
        "measure per-op latency on this device",
    ),
];

pub const PREDICTORS: &[Sig] = &[sig(
    "mlp",
    0,
    &[
        p("hidden", Ty::Nat, Dv::Int(400)),
        p("layers", Ty::Nat, Dv::Int(3)),
        p("samples", Ty::Nat, Dv::Int(16000)),
    ],
    "accuracy predictor over arch encodings (OFA)",
)];

/// The evaluation network of `retrain`: the searched cells stacked to another depth and width.
pub const NETWORKS: &[Sig] = &[sig(
    "network",
    0,
    &[
        p("cells", Ty::Nat, Dv::Absent),
        p("channels", Ty::Nat, Dv::Absent),
    ],
    "the network a cell architecture is evaluated in (DARTS: search 8 cells x 16, evaluate 20 x 36)",
)];

pub const PHASES: &[Sig] = &[
    sig(
        "full",
        0,
        &[
            p("epochs", Ty::Int, Dv::Required),
            p("lr", Ty::Float, Dv::Absent),
            p("subnets", Ty::Nat, Dv::Int(1)),
        ],
        "train the largest network",
    ),
    sig(
        "kernel",
        0,
        &[
            p("epochs", Ty::Int, Dv::Required),
            p("lr", Ty::Float, Dv::Absent),
            p("subnets", Ty::Nat, Dv::Int(1)),
        ],
        "sample elastic kernel sizes",
    ),
    sig(
        "depth",
        0,
        &[
            p("epochs", Ty::Int, Dv::Required),
            p("lr", Ty::Float, Dv::Absent),
            p("subnets", Ty::Nat, Dv::Int(2)),
        ],
        "sample elastic depth (and kernel)",
    ),
    sig(
        "width",
        0,
        &[
            p("epochs", Ty::Int, Dv::Required),
            p("lr", Ty::Float, Dv::Absent),
            p("subnets", Ty::Nat, Dv::Int(2)),
        ],
        "sample elastic width (and depth, kernel)",
    ),
];

/// Stage kinds: their name, what they read, and what a reference to their result may select.
pub const STAGES: &[(&str, StageKind)] = &[
    ("train", StageKind::Train),
    ("progressive_shrinking", StageKind::ProgressiveShrinking),
    ("few_shot", StageKind::FewShot),
    ("evolution", StageKind::Evolution),
    ("random_search", StageKind::RandomSearch),
    ("nsga2", StageKind::Nsga2),
    ("successive_halving", StageKind::SuccessiveHalving),
    ("differentiable", StageKind::Differentiable),
    ("rl", StageKind::Rl),
    ("hypernet", StageKind::Hypernet),
    ("retrain", StageKind::Retrain),
    ("evaluate", StageKind::Evaluate),
    ("rank", StageKind::Rank),
];

use StageKind as K;
const TRAINING: &[K] = &[
    K::Train,
    K::ProgressiveShrinking,
    K::FewShot,
    K::SuccessiveHalving,
    K::Differentiable,
    K::Rl,
    K::Hypernet,
    K::Retrain,
    K::Rank,
];
const SEARCHES: &[K] = &[
    K::Evolution,
    K::RandomSearch,
    K::Nsga2,
    K::SuccessiveHalving,
    K::Differentiable,
    K::Rl,
];
const SUPERNET_SEARCHES: &[K] = &[K::Evolution, K::RandomSearch, K::Nsga2];
const ALL: &[K] = &[
    K::Train,
    K::ProgressiveShrinking,
    K::FewShot,
    K::Evolution,
    K::RandomSearch,
    K::Nsga2,
    K::SuccessiveHalving,
    K::Differentiable,
    K::Rl,
    K::Hypernet,
    K::Retrain,
    K::Evaluate,
    K::Rank,
];

/// A stage setting: its key, type, and the stage kinds that accept it.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    pub key: &'static str,
    pub ty: Ty,
    pub kinds: &'static [K],
    pub doc: &'static str,
    /// The value a stage runs with when the file does not give the setting (sema's lowering to
    /// typed stage settings, `sema::spec`, fills it in; `Dv::Absent`: off unless given).
    pub default: Dv,
}

const fn s(key: &'static str, ty: Ty, kinds: &'static [K], doc: &'static str) -> Setting {
    Setting {
        key,
        ty,
        kinds,
        doc,
        default: Dv::Absent,
    }
}

impl Setting {
    const fn or(self, default: Dv) -> Setting {
        Setting { default, ..self }
    }
}

/// Every stage setting. `data` (a dataset name) is handled apart.
pub const SETTINGS: &[Setting] = &[
    s(
        "epochs",
        Ty::Int,
        TRAINING,
        "epochs of training (per phase, per candidate...)",
    )
    .or(Dv::Int(1)),
    s("batch", Ty::Nat, ALL, "batch size (default: the dataset's)"),
    s(
        "optimizer",
        Ty::Call(OPTIMIZERS),
        TRAINING,
        "weight optimizer",
    )
    .or(Dv::Call("sgd", &[("lr", Dv::Float(0.05))])),
    s(
        "weights",
        Ty::Call(OPTIMIZERS),
        &[K::Differentiable, K::Rl],
        "weight optimizer of a coupled search",
    ),
    s(
        "arch",
        Ty::Call(OPTIMIZERS),
        &[K::Differentiable],
        "architecture-parameter optimizer",
    )
    .or(Dv::Call(
        "adam",
        &[
            ("lr", Dv::Float(3e-4)),
            ("betas", Dv::Pair(0.5, 0.999)),
            ("wd", Dv::Float(1e-3)),
        ],
    )),
    s(
        "schedule",
        Ty::Call(SCHEDULES),
        TRAINING,
        "learning-rate schedule",
    ),
    s(
        "sampler",
        Ty::Call(SAMPLERS),
        &[K::Train, K::FewShot],
        "sampling policy of supernet training",
    )
    .or(Dv::Name("uniform")),
    s(
        "relax",
        Ty::Call(SAMPLERS),
        &[K::Differentiable],
        "relaxation of the decisions",
    )
    .or(Dv::Name("softmax")),
    s(
        "level",
        Ty::Call(LEVELS),
        &[K::Differentiable],
        "optimisation level",
    )
    .or(Dv::Name("bilevel")),
    s(
        "derive",
        Ty::Call(DERIVES),
        &[K::Differentiable, K::Rl],
        "how the final architecture is derived",
    ),
    s(
        "population",
        Ty::Nat,
        &[K::Evolution, K::Nsga2],
        "population size",
    )
    .or(Dv::Int(50)),
    s(
        "generations",
        Ty::Nat,
        &[K::Evolution, K::Nsga2],
        "number of generations",
    )
    .or(Dv::Int(20)),
    s("keep", Ty::Nat, &[K::Evolution], "parents kept (top-k)").or(Dv::Int(10)),
    s(
        "mutate",
        Ty::Int,
        &[K::Evolution, K::Nsga2],
        "mutations per generation; `p:` gene resampling probability",
    ),
    s(
        "crossover",
        Ty::Int,
        &[K::Evolution, K::Nsga2],
        "crossovers per generation",
    )
    .or(Dv::Int(10)),
    s(
        "samples",
        Ty::Nat,
        &[K::RandomSearch, K::Rank, K::Rl, K::Hypernet, K::Evaluate],
        "architectures sampled (`evaluate(supernet)`: paths evaluated, default 10; `rank`: default 10)",
    ),
    s(
        "candidates",
        Ty::Nat,
        &[K::SuccessiveHalving],
        "architectures at the first rung",
    )
    .or(Dv::Int(27)),
    s(
        "eta",
        Ty::Nat,
        &[K::SuccessiveHalving],
        "keep 1/eta per rung",
    )
    .or(Dv::Int(3)),
    s(
        "min_epochs",
        Ty::Nat,
        &[K::SuccessiveHalving],
        "epochs at the first rung",
    )
    .or(Dv::Int(1)),
    s(
        "max_epochs",
        Ty::Nat,
        &[K::SuccessiveHalving],
        "epochs at the last rung",
    )
    .or(Dv::Int(27)),
    s(
        "constraint",
        Ty::Constraint,
        SEARCHES,
        "hard constraint: candidates outside are never evaluated",
    ),
    s(
        "penalty",
        Ty::Call(PENALTIES),
        SEARCHES,
        "soft constraint: a loss or reward term",
    ),
    s(
        "objective",
        Ty::Metric,
        SEARCHES,
        "what the search maximises (accuracy) or minimises (cost)",
    ),
    s(
        "pareto",
        Ty::Metrics,
        SUPERNET_SEARCHES,
        "multi-objective search: keep the Pareto front",
    ),
    s(
        "recalibrate",
        Ty::Call(RECALIBRATIONS),
        &[
            K::Evolution,
            K::RandomSearch,
            K::Nsga2,
            K::Rank,
            K::Evaluate,
        ],
        "BN recalibration per candidate",
    ),
    s(
        "seeds",
        Ty::IntList,
        ALL,
        "repeat the stage over seeds, report mean and spread",
    ),
    s(
        "controller",
        Ty::Call(CONTROLLERS),
        &[K::Rl],
        "the RL controller",
    )
    .or(Dv::Name("lstm")),
    s(
        "reward",
        Ty::Call(REWARDS),
        &[K::Rl],
        "the controller's reward",
    )
    .or(Dv::Name("accuracy")),
    s("steps", Ty::Nat, &[K::Rl], "controller steps per round").or(Dv::Int(2000)),
    s(
        "proxy_epochs",
        Ty::Int,
        &[K::Rl],
        "epochs each sampled arch trains (no weight sharing)",
    )
    .or(Dv::Int(5)),
    s(
        "shared",
        Ty::Bool,
        &[K::Rl],
        "share weights between sampled archs (ENAS)",
    )
    .or(Dv::Bool(true)),
    s(
        "phase",
        Ty::Call(PHASES),
        &[K::ProgressiveShrinking],
        "one progressive-shrinking phase (repeatable)",
    ),
    s(
        "extremes",
        Ty::Bool,
        &[K::Rank],
        "also rank the largest and the smallest architecture (by MACs, then parameters, as the sandwich rule finds them; the smallest never `none`), as OFA and BigNAS report them",
    )
    .or(Dv::Bool(false)),
    s(
        "affine",
        Ty::Bool,
        &[K::Train],
        "affine batch norms in a cell supernet (false: no scale and shift, as DARTS searches)",
    )
    .or(Dv::Bool(true)),
    s(
        "sample_over",
        Ty::Name(&["edges", "live", "classes"]),
        &[K::Train, K::FewShot],
        "what a cell supernet's random paths are uniform over: `edges` (each edge's op), `live` (cells without dead nodes), `classes` (isomorphism classes of cells, de-isomorphic sampling)",
    )
    .or(Dv::Name("edges")),
    s(
        "split_on",
        Ty::Nat,
        &[K::FewShot],
        "how many leading decisions are enumerated into sub-supernets",
    )
    .or(Dv::Int(1)),
    s(
        "finetune",
        Ty::Int,
        &[K::FewShot],
        "fine-tuning epochs per sub-supernet",
    )
    .or(Dv::Int(1)),
    s(
        "drop_path",
        Ty::Sched,
        &[K::Retrain, K::Train],
        "drop-path probability",
    ),
    s(
        "auxiliary",
        Ty::Float,
        &[K::Retrain, K::Train],
        "auxiliary head loss weight",
    ),
    s("cutout", Ty::Nat, &[K::Retrain, K::Train], "cutout size"),
    s("grad_clip", Ty::Float, TRAINING, "gradient norm clip"),
    s("label_smoothing", Ty::Prob, TRAINING, "label smoothing").or(Dv::Float(0.0)),
    s(
        "warmup",
        Ty::Int,
        TRAINING,
        "warm-up epochs (weights only before arch updates)",
    )
    .or(Dv::Int(0)),
    s(
        "distill",
        Ty::Float,
        &[K::Train, K::ProgressiveShrinking, K::Retrain],
        "knowledge-distillation weight from the full network",
    ),
    s(
        "latency",
        Ty::Call(LATENCIES),
        ALL,
        "where per-op latencies come from",
    )
    .or(Dv::Name("measure")),
    s(
        "predictor",
        Ty::Call(PREDICTORS),
        &[K::Evolution, K::Nsga2],
        "accuracy predictor instead of supernet evaluation",
    ),
    s("dropout", Ty::Prob, TRAINING, "classifier dropout override"),
    s(
        "network",
        Ty::Call(NETWORKS),
        &[K::Retrain],
        "retrain in a larger cell network: `network cells: 20, channels: 36`",
    ),
];

/// Executor kinds of an `executor KIND { ... }` block.
pub const EXECUTORS: &[&str] = &["slurm"];

/// A setting of a declaration's body (a `cell(...)` space's, the `executor slurm { ... }` block's):
/// its key, type, meaning and the value it has when not given (`Dv::Absent`: the behaviour the doc
/// names). `sema::spec::SlurmSpec` carries the executor's checked values; `--sbatch=` options come
/// after them, so the command line wins.
#[derive(Debug, Clone, Copy)]
pub struct BlockSetting {
    pub key: &'static str,
    pub ty: Ty,
    pub doc: &'static str,
    pub default: Dv,
}

/// Every setting of a `cell(...)` space's body.
pub const CELL_SETTINGS: &[BlockSetting] = &[
    BlockSetting {
        key: "ops",
        ty: Ty::Str,
        doc: "the candidate ops of every edge: `ops [sep_conv(3), skip, none]`",
        default: Dv::Required,
    },
    BlockSetting {
        key: "node_inputs",
        ty: Ty::Nat,
        doc: "ENAS's input choice: each node reads this many chosen earlier nodes (repeats allowed), each with its chosen op, and the cell outputs its loose ends; without it every node sums an edge from every earlier node (DARTS)",
        default: Dv::Absent,
    },
    BlockSetting {
        key: "network",
        ty: Ty::Str,
        doc: "the network the cells are stacked in: `network cells: 8, channels: 16, reduce_at: [1/3, 2/3], input: [3, 32, 32], classes: 10`",
        default: Dv::Required,
    },
];

const fn x(key: &'static str, ty: Ty, default: Dv, doc: &'static str) -> BlockSetting {
    BlockSetting {
        key,
        ty,
        doc,
        default,
    }
}

/// Every setting of `executor slurm { ... }`.
pub const SLURM_SETTINGS: &[BlockSetting] = &[
    x(
        "partition",
        Ty::Str,
        Dv::Absent,
        "the partition the tasks run in (`sbatch --partition`; default: the cluster's)",
    ),
    x(
        "time",
        Ty::Dur,
        Dv::Absent,
        "each task's time limit, a duration like `4h` or `90min` (`sbatch --time`; default: the partition's)",
    ),
    x(
        "gpus_per_task",
        Ty::Int,
        Dv::Absent,
        "GPUs of each task (`sbatch --gpus-per-task`); a task sees its GPU as `cuda:0`",
    ),
    x(
        "cpus_per_task",
        Ty::Nat,
        Dv::Absent,
        "CPU cores of each task (`sbatch --cpus-per-task`), also its libtorch threads (default: 1)",
    ),
    x(
        "account",
        Ty::Str,
        Dv::Absent,
        "the account the tasks are charged to (`sbatch --account`)",
    ),
    x(
        "max_retries",
        Ty::Int,
        Dv::Int(3),
        "resubmissions of a piece whose task ended without a result for a reason outside nasl (node failure, preemption, time limit, `scancel`), per `nasl run`",
    ),
];

/// Settings a stage kind accepts.
pub fn settings_for(kind: K) -> impl Iterator<Item = &'static Setting> {
    SETTINGS.iter().filter(move |s| s.kinds.contains(&kind))
}

/// Result fields a reference to a stage may select.
pub fn fields(kind: K) -> &'static [&'static str] {
    match kind {
        K::Evolution
        | K::RandomSearch
        | K::Nsga2
        | K::SuccessiveHalving
        | K::Differentiable
        | K::Rl
        | K::Hypernet => &["best", "pareto", "top"],
        _ => &[],
    }
}
