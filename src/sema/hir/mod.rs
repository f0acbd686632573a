//! The HIR: a validated pipeline. Every name is resolved, blocks are expanded into op calls, ops are
//! `catalog::OpKind`s with typed argument values, and stages point at their inputs by name in
//! declaration order. Spaces follow `SPACE_MODEL.md`; an op argument whose catalogue default is
//! `Context` and that the file does not give is [`Arg::Context`], left for the IR to fill from the
//! stage (`out`, `stride`) or cell edge. Arguments the file omits that have a fixed default are
//! filled with that default, so the IR never consults defaults twice.

pub mod value;

pub use value::{Call, Schedule, Settings, StageKind, Value};

use super::spec::StageSpec;
use crate::catalog::OpKind;
use crate::source::Span;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A checked pipeline: the declarations of a file and its includes.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Program {
    pub datasets: Vec<Dataset>,
    pub spaces: Vec<Space>,
    pub stages: Vec<Stage>,
    /// The `executor slurm { ... }` block, if any. Not part of the pipeline's fingerprint (left out
    /// of `pipeline.yaml`): a run may resume on another partition or with another time limit.
    #[serde(skip)]
    pub executor: Option<super::spec::SlurmSpec>,
}

/// A dataset declaration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dataset {
    pub name: String,
    /// fashion_mnist, mnist, cifar10, cifar100, folder, synthetic.
    pub source: String,
    /// Resolved relative to the declaring file; `None` uses the built-in location.
    pub path: Option<PathBuf>,
    pub train: Option<SplitSize>,
    pub val: Option<SplitSize>,
    pub batch: u32,
    pub augment: Vec<Call>,
    /// `None`: no normalisation; `Some` with empty lists: per-dataset statistics (`normalize auto`).
    pub normalize: Option<(Vec<f64>, Vec<f64>)>,
    /// A `synthetic` dataset's generator: classes, square image size, seed (defaults when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub synthetic: Option<SyntheticSpec>,
    #[serde(skip)]
    pub span: Span,
}

/// What a `synthetic` dataset generates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct SyntheticSpec {
    pub classes: usize,
    pub size: usize,
    pub seed: u64,
}

impl Default for SyntheticSpec {
    fn default() -> Self {
        SyntheticSpec {
            classes: 10,
            size: 28,
            seed: 0,
        }
    }
}

/// A split size: a count of images or a fraction of the official training set.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SplitSize {
    Count(u64),
    Fraction(f64),
}

/// One op with resolved arguments, in catalogue parameter order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpCall {
    pub kind: OpKind,
    pub args: Vec<(String, Arg)>,
    #[serde(skip)]
    pub span: Span,
}

impl OpCall {
    pub fn arg(&self, name: &str) -> Option<&Arg> {
        self.args.iter().find(|(n, _)| n == name).map(|(_, a)| a)
    }
}

/// An op argument value.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Arg {
    Int(i64),
    Float(f64),
    Bool(bool),
    Name(String),
    /// An elastic argument (OFA, Single-Path NAS): one decision per layer over these values.
    Choices(Vec<Arg>),
    /// Not given; the IR fills it from the stage or edge (catalogue default `Context`).
    Context,
}

/// A search space or fixed network.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Space {
    pub name: String,
    pub body: SpaceBody,
    #[serde(skip)]
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SpaceBody {
    Chain(Chain),
    Cell(CellSpace),
    Genotype(Genotype),
}

impl Space {
    /// Whether the space has at least one decision (otherwise it is a fixed network).
    pub fn has_decisions(&self) -> bool {
        match &self.body {
            SpaceBody::Chain(c) => c.has_decisions(),
            SpaceBody::Cell(c) => c.ops.len() > 1 || c.node_inputs.is_some(),
            SpaceBody::Genotype(_) => false,
        }
    }
}

/// A layer-wise chain space (SPACE_MODEL.md, "Chain").
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Chain {
    /// `[C, H, W]`.
    pub input: [u32; 3],
    /// Elastic input resolutions (empty: only `input`'s).
    pub resolutions: Vec<u32>,
    pub classes: u32,
    pub stem: Vec<OpCall>,
    pub stages: Vec<ChainStage>,
    pub head: Vec<OpCall>,
}

impl Chain {
    pub fn has_decisions(&self) -> bool {
        self.resolutions.len() > 1
            || self.stages.iter().any(|s| {
                s.out.len() > 1
                    || s.repeat.len() > 1
                    || match &s.layer {
                        Layer::Choose(c) => c.len() > 1 || c.iter().flatten().any(is_elastic),
                        Layer::Fixed(ops) => ops.iter().any(is_elastic),
                    }
            })
    }
}

fn is_elastic(op: &OpCall) -> bool {
    op.args.iter().any(|(_, a)| matches!(a, Arg::Choices(_)))
}

/// One stage of a chain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChainStage {
    /// Output channels; more than one value is a channel-count decision.
    pub out: Vec<u32>,
    /// Stride of the first layer.
    pub stride: u32,
    /// Number of layers; more than one value is an elastic depth decision.
    pub repeat: Vec<u32>,
    pub layer: Layer,
}

/// What each layer of a stage is.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    Fixed(Vec<OpCall>),
    /// One decision per layer; each candidate is a sequence of ops.
    Choose(Vec<Vec<OpCall>>),
}

/// How cells are stacked into a network.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CellNetwork {
    pub cells: u32,
    pub channels: u32,
    pub reduce_at: Vec<f64>,
    pub input: [u32; 3],
    pub classes: u32,
    pub stem_multiplier: u32,
    pub auxiliary: Option<f64>,
}

/// A DAG cell space (SPACE_MODEL.md, "Cell").
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CellSpace {
    pub nodes: u32,
    pub inputs: u32,
    /// The candidate ops of every edge.
    pub ops: Vec<OpCall>,
    /// `node_inputs k`: each node reads `k` chosen earlier nodes (ENAS); `None`: every earlier node.
    pub node_inputs: Option<u32>,
    pub network: CellNetwork,
}

/// One incoming edge of a fixed cell's node: an op and the index of the node it reads
/// (0..inputs are the cell inputs, then the intermediate nodes).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Edge {
    pub op: OpCall,
    pub from: u32,
}

/// A fixed cell: per intermediate node, its incoming edges; and which nodes are concatenated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FixedCell {
    pub nodes: Vec<Vec<Edge>>,
    pub concat: Vec<u32>,
}

/// A DARTS-style genotype: fixed normal and reduction cells stacked into a network.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Genotype {
    pub inputs: u32,
    pub normal: FixedCell,
    pub reduce: FixedCell,
    pub network: CellNetwork,
}

/// What a stage reads.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Input {
    Space(String),
    /// Another stage's result, with an optional field (`search.best`).
    Stage {
        stage: String,
        field: Option<String>,
    },
    /// A dataset split, e.g. `fmnist.test`.
    Data {
        dataset: String,
        split: String,
    },
}

/// A stage with its inputs and settings (`key -> value`, keys from sema's stage table).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stage {
    pub name: String,
    pub kind: StageKind,
    pub inputs: Vec<Input>,
    /// The dataset it trains or searches on.
    pub data: Option<String>,
    pub settings: Settings,
    /// The settings typed, per kind, with every default filled: what the executor reads.
    #[serde(skip)]
    pub spec: StageSpec,
    /// The space the stage works on, traced through its inputs (`search.best` -> the searched space).
    pub space: Option<String>,
    /// Where each setting is written, for diagnostics found after sema (exact cost constraints).
    #[serde(skip)]
    pub setting_spans: BTreeMap<String, Span>,
    #[serde(skip)]
    pub span: Span,
}

impl Stage {
    /// Whether the stage reads latency other than through a differentiable penalty: a `latency`
    /// objective or Pareto axis, a hard constraint on latency, or `constrained(latency: ..)`.
    pub fn uses_latency(&self) -> bool {
        let names = |k: &str| {
            self.settings
                .peek(k)
                .is_some_and(|v| v.names().contains(&"latency"))
        };
        let sampler = matches!(self.settings.peek("sampler"),
            Some(Value::Call(c)) if c.get("latency").is_some());
        let constraint = matches!(self.settings.peek("constraint"), Some(Value::List(cs))
            if cs.iter().any(|c| matches!(c, Value::Tuple(t)
                if matches!(t.first(), Some(Value::Name(m)) if m == "latency"))));
        names("objective") || names("pareto") || sampler || constraint
    }
}
