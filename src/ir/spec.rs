//! Search-space specifications: plain serde data (chain and cell spaces, op calls) that fully describe a
//! space. Built in Rust, read from YAML/JSON, or lowered from the language's HIR; `graph` lowers them.

use crate::catalog::{OpKind, signature};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// An op argument as written in a spec. A list of integers makes the argument elastic (one decision).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ArgValue {
    Bool(bool),
    Int(i64),
    Float(f64),
    Name(String),
    List(Vec<i64>),
}

impl From<i64> for ArgValue {
    fn from(v: i64) -> Self {
        ArgValue::Int(v)
    }
}
impl From<bool> for ArgValue {
    fn from(v: bool) -> Self {
        ArgValue::Bool(v)
    }
}
impl From<f64> for ArgValue {
    fn from(v: f64) -> Self {
        ArgValue::Float(v)
    }
}
impl From<&str> for ArgValue {
    fn from(v: &str) -> Self {
        ArgValue::Name(v.to_string())
    }
}
impl From<Vec<i64>> for ArgValue {
    fn from(v: Vec<i64>) -> Self {
        ArgValue::List(v)
    }
}

impl fmt::Display for ArgValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgValue::Bool(b) => write!(f, "{b}"),
            ArgValue::Int(i) => write!(f, "{i}"),
            ArgValue::Float(x) => write!(f, "{x}"),
            ArgValue::Name(n) => write!(f, "{n}"),
            ArgValue::List(l) => {
                let parts: Vec<String> = l.iter().map(|v| v.to_string()).collect();
                write!(f, "[{}]", parts.join(", "))
            }
        }
    }
}

/// One call of a catalogue op with named arguments (positional ones are named by the catalogue's order
/// before they reach a spec). Arguments not given take the catalogue default or the context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpCall {
    /// Written as the catalogue name or an alias (`mbconv`, `skip_connect`, ...).
    #[serde(with = "op_name")]
    pub kind: OpKind,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub args: BTreeMap<String, ArgValue>,
}

mod op_name {
    use crate::catalog::{OpKind, all_names, lookup, signature};
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(k: &OpKind, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(signature(*k).name)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OpKind, D::Error> {
        let name = String::deserialize(d)?;
        lookup(&name).map(|s| s.kind).ok_or_else(|| {
            let names: Vec<&str> = all_names().collect();
            D::Error::custom(format!(
                "unknown op `{name}`; ops are: {}",
                names.join(", ")
            ))
        })
    }
}

impl OpCall {
    pub fn new(kind: OpKind) -> Self {
        OpCall {
            kind,
            args: BTreeMap::new(),
        }
    }
    /// Adds (or replaces) an argument, builder style.
    pub fn arg(mut self, name: &str, value: impl Into<ArgValue>) -> Self {
        self.args.insert(name.to_string(), value.into());
        self
    }
    /// The elastic (list-valued) arguments, in name order.
    pub fn elastic_args(&self) -> Vec<(&str, &[i64])> {
        self.args
            .iter()
            .filter_map(|(k, v)| match v {
                ArgValue::List(l) => Some((k.as_str(), l.as_slice())),
                _ => None,
            })
            .collect()
    }
}

impl fmt::Display for OpCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = signature(self.kind).name;
        if self.args.is_empty() {
            return write!(f, "{name}");
        }
        let parts: Vec<String> = self.args.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        write!(f, "{name}({})", parts.join(", "))
    }
}

/// The text of a sequence of op calls, e.g. `conv(kernel: 1) bn relu`.
pub fn seq_label(seq: &[OpCall]) -> String {
    let parts: Vec<String> = seq.iter().map(|c| c.to_string()).collect();
    parts.join(" ")
}

/// A single value or a list of options (a decision when the list has more than one element).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(usize),
    Many(Vec<usize>),
}

impl OneOrMany {
    pub fn options(&self) -> Vec<usize> {
        match self {
            OneOrMany::One(v) => vec![*v],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// A search space: a chain of stages or a stack of DAG cells.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SpaceSpec {
    Chain(ChainSpec),
    Cell(CellSpec),
}

impl SpaceSpec {
    pub fn from_yaml(text: &str) -> Result<Self, serde_yaml::Error> {
        serde_yaml::from_str(text)
    }
    pub fn to_yaml(&self) -> String {
        serde_yaml::to_string(self).unwrap_or_default()
    }
    /// `[channels, height, width]` of the input.
    pub fn input(&self) -> [usize; 3] {
        match self {
            SpaceSpec::Chain(c) => c.input,
            SpaceSpec::Cell(c) => c.input,
        }
    }
    /// The number of classes the network scores.
    pub fn classes(&self) -> usize {
        match self {
            SpaceSpec::Chain(c) => c.classes,
            SpaceSpec::Cell(c) => c.classes,
        }
    }
}

/// A layer-wise chain space (MobileNetV2, ProxylessNAS, FBNet, SPOS, OFA).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainSpec {
    /// `[channels, height, width]` of the input.
    pub input: [usize; 3],
    pub classes: usize,
    /// Elastic input resolution (square sizes); empty = the input's size only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resolutions: Vec<usize>,
    pub stem: Vec<OpCall>,
    pub stages: Vec<StageSpec>,
    pub head: Vec<OpCall>,
}

fn one() -> usize {
    1
}
fn one_or_many_one() -> OneOrMany {
    OneOrMany::One(1)
}

/// One stage of a chain: `repeat` layers producing `out` channels, the first with `stride`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageSpec {
    /// Path prefix of the stage's decisions and weights; default `stage{i}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Output channels; a list is a channel decision (`{stage}.out`).
    pub out: OneOrMany,
    #[serde(default = "one")]
    pub stride: usize,
    /// Number of layers; a list is an elastic depth decision (`{stage}.depth`, the first D layers run).
    #[serde(default = "one_or_many_one")]
    pub repeat: OneOrMany,
    pub layer: LayerSpec,
}

/// What each layer of a stage is. Serialised as `{fixed: [...]}` or `{choose: [[...], ...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "LayerRepr", into = "LayerRepr")]
pub enum LayerSpec {
    /// The same op sequence in every layer.
    Fixed(Vec<OpCall>),
    /// Each layer chooses one candidate sequence (`{stage}.layer{l}`).
    Choose(Vec<Vec<OpCall>>),
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LayerRepr {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fixed: Option<Vec<OpCall>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    choose: Option<Vec<Vec<OpCall>>>,
}

impl TryFrom<LayerRepr> for LayerSpec {
    type Error = String;
    fn try_from(r: LayerRepr) -> Result<Self, String> {
        match (r.fixed, r.choose) {
            (Some(f), None) => Ok(LayerSpec::Fixed(f)),
            (None, Some(c)) => Ok(LayerSpec::Choose(c)),
            _ => Err("a layer is either `fixed: [ops]` or `choose: [[ops], ...]`".into()),
        }
    }
}

impl From<LayerSpec> for LayerRepr {
    fn from(l: LayerSpec) -> Self {
        match l {
            LayerSpec::Fixed(f) => LayerRepr {
                fixed: Some(f),
                choose: None,
            },
            LayerSpec::Choose(c) => LayerRepr {
                fixed: None,
                choose: Some(c),
            },
        }
    }
}

impl LayerSpec {
    pub fn candidates(&self) -> Vec<&[OpCall]> {
        match self {
            LayerSpec::Fixed(s) => vec![s.as_slice()],
            LayerSpec::Choose(c) => c.iter().map(|s| s.as_slice()).collect(),
        }
    }
}

fn three() -> usize {
    3
}
fn four() -> usize {
    4
}
fn two() -> usize {
    2
}
fn is_two(n: &usize) -> bool {
    *n == 2
}
fn yes() -> bool {
    true
}

/// A cell space. With two inputs (DARTS, the default): `cells` cells, each reading the previous two
/// cells through 1x1 preprocessing, `nodes` intermediate nodes summing one edge from every earlier node,
/// output = concat of the intermediate nodes, reduction cells at `reduce_at`. With one input
/// (NAS-Bench-201): each cell reads the previous cell, every node sums one edge from every earlier node,
/// output = the last node; at each `reduce_at` index a residual `basic_block` of stride 2 (doubling the
/// channels) comes before the cell; the stem is a 3x3 conv and BN, the head BN, ReLU, global pooling and
/// the classifier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellSpec {
    pub input: [usize; 3],
    pub classes: usize,
    pub cells: usize,
    /// Initial channels C (the first cells' per-node channels).
    pub channels: usize,
    #[serde(default = "three")]
    pub stem_multiplier: usize,
    #[serde(default = "four")]
    pub nodes: usize,
    /// Cell inputs: 2 (DARTS skeleton) or 1 (NAS-Bench-201 skeleton).
    #[serde(default = "two", skip_serializing_if = "is_two")]
    pub inputs: usize,
    /// Indices of reduction cells; default `[cells/3, 2*cells/3]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reduce_at: Option<Vec<usize>>,
    /// Candidate ops of every searchable edge.
    #[serde(default)]
    pub candidates: Vec<OpCall>,
    /// ENAS's input choice (two-input cells): each intermediate node reads this many earlier nodes,
    /// each picked by an `input` decision (repeats allowed, as in ENAS) with its own op decision, and
    /// the cell's output is its loose ends (the intermediate nodes no node reads), each through ReLU
    /// and a 1x1 convolution, summed, then BN. `None`: every node sums an edge from every earlier node
    /// and the output concatenates the intermediate nodes (DARTS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_inputs: Option<usize>,
    /// A fixed normal cell (no decisions for normal cells).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normal: Option<Genotype>,
    /// A fixed reduction cell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reduce: Option<Genotype>,
    /// Affine batch norms in preprocessing and edge ops (DARTS search uses false, evaluation true);
    /// false overrides an op's own `affine` argument.
    #[serde(default = "yes")]
    pub affine: bool,
}

impl CellSpec {
    pub fn reduction_cells(&self) -> Vec<usize> {
        self.reduce_at
            .clone()
            .unwrap_or_else(|| vec![self.cells / 3, 2 * self.cells / 3])
    }
}

/// A fixed cell: per intermediate node, its incoming edges. Node indices: 0 and 1 are the cell's inputs,
/// 2.. the intermediate nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Genotype {
    pub nodes: Vec<Vec<GenoEdge>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenoEdge {
    pub from: usize,
    pub op: OpCall,
}
