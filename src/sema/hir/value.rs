//! The HIR's values, which the settings table and the typed stage settings are written in: setting
//! values (scalars, schedules, table calls), a stage's kind, and a stage's settings as written.

use serde::Serialize;
use std::collections::BTreeMap;

/// A scalar or structured setting value.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Value {
    Int(i64),
    Float(f64),
    Bool(bool),
    Name(String),
    Str(String),
    /// An inclusive range `lo..hi`.
    Range(f64, f64),
    /// A scalar changing over training.
    Schedule(Schedule),
    List(Vec<Value>),
    Tuple(Vec<Value>),
    /// A call from one of sema's tables (optimizer, sampler, ...), arguments with defaults filled.
    Call(Call),
}

impl Value {
    /// The names of a name or a list of names (metrics of `objective`, `pareto`).
    pub fn names(&self) -> Vec<&str> {
        match self {
            Value::Name(n) => vec![n.as_str()],
            Value::List(l) => l.iter().flat_map(Value::names).collect(),
            _ => vec![],
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            Value::Schedule(s) => Some(s.from),
            _ => None,
        }
    }
}

/// `from -> to shape`: a scalar over training progress. The one evaluator of every scheduled value
/// (learning rates written as schedules, Gumbel temperatures, path-dropout rates).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Schedule {
    pub from: f64,
    pub to: f64,
    /// One of [`Schedule::SHAPES`].
    pub shape: String,
}

impl Schedule {
    /// How a schedule goes from `from` to `to`.
    pub const SHAPES: &'static [&'static str] = &["linear", "cosine", "exponential", "constant"];

    pub fn constant(v: f64) -> Schedule {
        Schedule {
            from: v,
            to: v,
            shape: "constant".into(),
        }
    }

    /// From a setting value: a schedule `a -> b shape`, a number (constant), or `default`.
    pub fn of(v: Option<&Value>, default: f64) -> Schedule {
        match v {
            Some(Value::Schedule(s)) => s.clone(),
            Some(v) => Schedule::constant(v.as_f64().unwrap_or(default)),
            None => Schedule::constant(default),
        }
    }

    /// The value at training progress `t` in [0, 1]: linear interpolation, half a cosine, geometric
    /// interpolation (`exponential`, both ends positive; sema refuses others), or `from` throughout.
    pub fn at(&self, t: f64) -> f64 {
        let t = t.clamp(0.0, 1.0);
        let (a, b) = (self.from, self.to);
        match self.shape.as_str() {
            "constant" => a,
            "cosine" => b + (a - b) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos()),
            "exponential" if a > 0.0 && b > 0.0 => a * (b / a).powf(t),
            _ => a + (b - a) * t,
        }
    }
}

/// A named call with its arguments, e.g. `sgd(lr: 0.1, momentum: 0.9)`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Call {
    pub name: String,
    pub args: BTreeMap<String, Value>,
}

impl Call {
    pub fn get(&self, k: &str) -> Option<&Value> {
        self.args.get(k)
    }
}

/// What a stage does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StageKind {
    /// Train a network or a supernet (with a sampler) on a space.
    Train,
    /// OFA progressive shrinking of a supernet over phases.
    ProgressiveShrinking,
    /// Split a trained supernet into sub-supernets and fine-tune them.
    FewShot,
    /// Evolutionary search over a trained supernet.
    Evolution,
    /// Random search over a trained supernet.
    RandomSearch,
    /// NSGA-II multi-objective search over a trained supernet.
    Nsga2,
    /// Random search with early stopping (successive halving) on a space, training from scratch.
    SuccessiveHalving,
    /// Gradient-based search (DARTS, SNAS, GDAS, FBNet, ProxylessNAS, ...) on a space.
    Differentiable,
    /// Reinforcement-learning controller search (ENAS, MnasNet) on a space.
    Rl,
    /// A hypernetwork generating the weights of sampled architectures (SMASH) on a space.
    Hypernet,
    /// Train an architecture from scratch.
    Retrain,
    /// Evaluate a trained model on a dataset split.
    Evaluate,
    /// Rank sampled architectures by supernet score against stand-alone training (Kendall tau).
    Rank,
}

/// A stage's settings as written (`key -> value`, keys from sema's stage table, defaults not filled).
/// Checks, reports and editors read them; the executor reads the typed [`StageSpec`] sema lowers
/// them to.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Settings {
    values: BTreeMap<String, Value>,
}

impl From<BTreeMap<String, Value>> for Settings {
    fn from(values: BTreeMap<String, Value>) -> Self {
        Settings { values }
    }
}

impl Settings {
    /// The value of `key`, if the file sets it.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.values.get(key)
    }

    /// Same as [`Settings::get`] (kept for the checks' wording: a look, not an application).
    pub fn peek(&self, key: &str) -> Option<&Value> {
        self.values.get(key)
    }

    /// Every setting the file gives, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.values.iter()
    }
}
