//! Lowering of a `SpaceSpec` into the IR: a petgraph DAG of the space (stem, stage layers or cell
//! edges with their candidates, sums, concats, head) with every decision named and counted, and the
//! concrete network (`Net`) of one architecture, of a mix (several candidates of a layer or edge
//! summed), or of every candidate at once (the supernet's instances). Graph invariants (acyclic, all
//! nodes reach the output, consistent shapes for every reachable configuration) are checked when a
//! `SearchSpace` is built. This file holds the space's types, decisions and graph checks;
//! `lowering` builds the space graph of chains and cells, `networks` the concrete networks, `net` the
//! network type, `walk` cardinality and chain walks.

use super::IrError;
use super::ops::{Ctx, Op, Shape, out_shape};
use super::spec::{CellSpec, ChainSpec, Genotype, LayerSpec, OpCall, SpaceSpec, seq_label};
use crate::catalog::{OpKind, signature};
use num_bigint::BigUint;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::{Dfs, Reversed};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

mod cover;
mod elastic;
mod lowering;
mod net;
mod networks;
mod walk;

pub use elastic::kernel_transform_params;
pub use net::{Net, NetKind, NetNode};
pub use walk::ChainWalk;

/// What a decision chooses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionKind {
    Resolution,
    Channels,
    Depth,
    Layer,
    Elastic,
    Edge,
    /// Which earlier node a cell node reads (ENAS's input choice, `node_inputs`).
    Input,
}

/// How a decision kind reads in messages.
pub fn kind_name(kind: DecisionKind) -> &'static str {
    match kind {
        DecisionKind::Resolution => "resolution",
        DecisionKind::Channels => "channels",
        DecisionKind::Depth => "depth",
        DecisionKind::Layer => "layer",
        DecisionKind::Elastic => "elastic",
        DecisionKind::Edge => "edge",
        DecisionKind::Input => "input",
    }
}

/// One decision: a stable path name and its options' labels.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub path: String,
    pub kind: DecisionKind,
    pub labels: Vec<String>,
}

impl Decision {
    /// The options as whole numbers (elastic sizes, depths, channels, resolutions), in their order;
    /// `None` when an option is not one (a layer or edge choice).
    pub fn sizes(&self) -> Option<Vec<usize>> {
        self.labels.iter().map(|l| l.parse().ok()).collect()
    }
}

/// A node of the space graph.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum SpaceNode {
    Input {
        shape: Shape,
    },
    /// A fixed op (stem, head, cell preprocessing, a fixed genotype edge).
    Op {
        path: String,
        label: String,
    },
    /// A chain layer: fixed or chosen (`decision`); `optional` when a depth decision may drop it.
    Layer {
        path: String,
        decision: Option<usize>,
        labels: Vec<String>,
        optional: bool,
    },
    /// A searchable cell edge.
    Edge {
        path: String,
        decision: usize,
        labels: Vec<String>,
    },
    Sum {
        path: String,
    },
    Concat {
        path: String,
    },
    Output {
        classes: usize,
    },
}

impl SpaceNode {
    pub fn path(&self) -> String {
        match self {
            SpaceNode::Input { .. } => "input".into(),
            SpaceNode::Output { .. } => "output".into(),
            SpaceNode::Op { path, .. }
            | SpaceNode::Layer { path, .. }
            | SpaceNode::Edge { path, .. }
            | SpaceNode::Sum { path }
            | SpaceNode::Concat { path } => path.clone(),
        }
    }
}

struct ElasticDec {
    cand: usize,
    op: usize,
    arg: String,
    decision: usize,
    values: Vec<i64>,
}

struct LayerInfo {
    cand_dec: Option<usize>,
    elastic: Vec<ElasticDec>,
}

struct StageInfo {
    name: String,
    outs: Vec<usize>,
    depths: Vec<usize>,
    out_dec: Option<usize>,
    depth_dec: Option<usize>,
    stride: usize,
    cands: Vec<Vec<OpCall>>,
    choose: bool,
    layers: Vec<LayerInfo>,
    /// Layer 0's (in, out) channels vary, so its weights are per channel pair.
    tag0: bool,
    /// Later layers' channels vary.
    tagn: bool,
}

struct ChainInfo {
    res: Vec<usize>,
    res_dec: Option<usize>,
    stages: Vec<StageInfo>,
    head_tag: bool,
}

enum CellType {
    /// Per intermediate node, per source node: the edge's decision.
    Search(Vec<Vec<usize>>),
    Fixed(Genotype),
    /// ENAS's input choice: per intermediate node, its slots (see `NodePick`).
    Pick(Vec<NodePick>),
}

/// One intermediate node of an input-choice cell: per slot, the decision of the earlier node it reads
/// and the decision of the op applied to it.
pub(super) struct NodePick {
    pub(super) inputs: Vec<usize>,
    pub(super) ops: Vec<usize>,
}

struct CellInfo {
    normal: CellType,
    reduce: CellType,
    reductions: Vec<usize>,
}

enum Lowered {
    Chain(ChainInfo),
    Cell(CellInfo),
}

/// One searchable edge of a cell space (see `SearchSpace::cell_edges`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CellEdge {
    pub cell: &'static str,
    pub node: usize,
    pub from: usize,
    pub decision: usize,
}

/// One input-choice cell type of a cell space (see `SearchSpace::pick_cells`). In cell `i`'s network,
/// slot `s` of node `n` reading node `f` with op `j` is the op `pick_edge_path(i, n, s, f, j)`, and the
/// loose end `m`'s projection the ops under `pick_out_path(i, m)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PickCell {
    pub cell: &'static str,
    /// The indices of the network's cells of this type.
    pub cells: Vec<usize>,
    /// The cell inputs (node indices `0..inputs`).
    pub inputs: usize,
    /// Per intermediate node: its slots' input decisions and op decisions.
    pub nodes: Vec<(Vec<usize>, Vec<usize>)>,
}

/// The path of the op of a slot of an input-choice cell (see `PickCell`).
pub fn pick_edge_path(cell: usize, node: usize, slot: usize, from: usize, cand: usize) -> String {
    format!("cell{cell}.node{node}.in{slot}.from{from}.cand{cand}")
}

/// The path prefix of the ops projecting loose end `m` of an input-choice cell (see `PickCell`).
pub fn pick_out_path(cell: usize, m: usize) -> String {
    format!("cell{cell}.out.node{m}")
}

/// A lowered search space.
pub struct SearchSpace {
    pub spec: SpaceSpec,
    pub decisions: Vec<Decision>,
    pub graph: DiGraph<SpaceNode, String>,
    index: HashMap<String, usize>,
    lowered: Lowered,
}

fn spec_err(path: &str, message: impl Into<String>, help: impl Into<String>) -> IrError {
    IrError::Spec {
        path: path.to_string(),
        message: message.into(),
        help: help.into(),
    }
}

fn has_param(kind: OpKind, name: &str) -> bool {
    signature(kind).params.iter().any(|p| p.name == name)
}

/// Every combination of the given option lists (the cartesian product), in order.
pub fn combos<T: Clone>(lists: &[Vec<T>]) -> Vec<Vec<T>> {
    let mut out: Vec<Vec<T>> = vec![vec![]];
    for l in lists {
        let mut next = Vec::with_capacity(out.len() * l.len());
        for prefix in &out {
            for v in l {
                let mut p = prefix.clone();
                p.push(v.clone());
                next.push(p);
            }
        }
        out = next;
    }
    out
}

/// Gives the options a network takes of a decision: exactly one, except that a mixed network
/// (`net_from_mix`) may take several of a layer or edge decision.
type Picker<'a> = dyn FnMut(usize) -> Result<Vec<usize>, IrError> + 'a;

/// The single option of a decision that cannot be mixed.
fn pick_one(pick: &mut Picker, d: usize) -> Result<usize, IrError> {
    match pick(d)?.as_slice() {
        [o] => Ok(*o),
        _ => Err(spec_err(
            "mix",
            format!("decision {d} needs exactly one option"),
            "only layer and edge decisions take several options",
        )),
    }
}

impl SearchSpace {
    /// Lowers a spec and checks its invariants for every reachable configuration.
    pub fn new(spec: SpaceSpec) -> Result<SearchSpace, IrError> {
        let mut space = SearchSpace {
            spec: spec.clone(),
            decisions: vec![],
            graph: DiGraph::new(),
            index: HashMap::new(),
            lowered: Lowered::Cell(CellInfo {
                normal: CellType::Search(vec![]),
                reduce: CellType::Search(vec![]),
                reductions: vec![],
            }),
        };
        match &spec {
            SpaceSpec::Chain(c) => {
                let info = space.lower_chain(c)?;
                space.lowered = Lowered::Chain(info);
                space.validate_chain()?;
            }
            SpaceSpec::Cell(c) => {
                let info = space.lower_cell(c)?;
                space.lowered = Lowered::Cell(info);
                // Building every candidate at once checks every edge's shapes.
                space.supernet_net()?;
            }
        }
        space.check_graph()?;
        Ok(space)
    }

    /// "chain" or "cell".
    pub fn kind(&self) -> &'static str {
        match self.spec {
            SpaceSpec::Chain(_) => "chain",
            SpaceSpec::Cell(_) => "cell",
        }
    }

    /// The decision named `path`.
    pub fn decision_index(&self, path: &str) -> Option<usize> {
        self.index.get(path).copied()
    }

    fn add_decision(
        &mut self,
        path: String,
        kind: DecisionKind,
        labels: Vec<String>,
    ) -> Result<usize, IrError> {
        if self.index.contains_key(&path) {
            return Err(spec_err(
                &path,
                "two decisions have this name",
                "give stages distinct names",
            ));
        }
        self.index.insert(path.clone(), self.decisions.len());
        self.decisions.push(Decision { path, kind, labels });
        Ok(self.decisions.len() - 1)
    }

    /// Acyclic, and every node reaches the output.
    fn check_graph(&self) -> Result<(), IrError> {
        if let Err(cycle) = petgraph::algo::toposort(&self.graph, None) {
            return Err(IrError::Cycle {
                path: self.graph[cycle.node_id()].path(),
            });
        }
        let Some(out) = self
            .graph
            .node_indices()
            .find(|n| matches!(self.graph[*n], SpaceNode::Output { .. }))
        else {
            return Err(IrError::Unreachable {
                path: "output".into(),
            });
        };
        let rev = Reversed(&self.graph);
        let mut dfs = Dfs::new(rev, out);
        let mut seen = BTreeSet::new();
        while let Some(n) = dfs.next(rev) {
            seen.insert(n);
        }
        for n in self.graph.node_indices() {
            if !seen.contains(&n) {
                return Err(IrError::Unreachable {
                    path: self.graph[n].path(),
                });
            }
        }
        Ok(())
    }

    /// The searchable edges of a cell space (empty for chains and fixed cells), in decision order:
    /// which cell type, which intermediate node (0-based) and which source node (0 and 1 are the
    /// cell inputs, 2.. the intermediate nodes) each edge decision belongs to.
    pub fn cell_edges(&self) -> Vec<CellEdge> {
        let Some((_, info)) = self.cell() else {
            return vec![];
        };
        let mut out = vec![];
        for (cell, t) in [("normal", &info.normal), ("reduce", &info.reduce)] {
            if let CellType::Search(nodes) = t {
                for (node, froms) in nodes.iter().enumerate() {
                    for (from, &decision) in froms.iter().enumerate() {
                        out.push(CellEdge {
                            cell,
                            node,
                            from,
                            decision,
                        });
                    }
                }
            }
        }
        out.sort_by_key(|e| e.decision);
        out
    }

    /// The input-choice cell types of a cell space (`node_inputs`; empty otherwise), for cost bounds:
    /// which cells of the network are of the type and, per intermediate node, its slots' decisions.
    pub fn pick_cells(&self) -> Vec<PickCell> {
        let Some((spec, info)) = self.cell() else {
            return vec![];
        };
        let mut out = vec![];
        for (cell, red, t) in [
            ("normal", false, &info.normal),
            ("reduce", true, &info.reduce),
        ] {
            if let CellType::Pick(nodes) = t {
                out.push(PickCell {
                    cell,
                    cells: (0..spec.cells)
                        .filter(|i| info.reductions.contains(i) == red)
                        .collect(),
                    inputs: spec.inputs,
                    nodes: nodes
                        .iter()
                        .map(|n| (n.inputs.clone(), n.ops.clone()))
                        .collect(),
                });
            }
        }
        out
    }

    fn chain(&self) -> Option<(&ChainSpec, &ChainInfo)> {
        match (&self.spec, &self.lowered) {
            (SpaceSpec::Chain(s), Lowered::Chain(i)) => Some((s, i)),
            _ => None,
        }
    }

    fn cell(&self) -> Option<(&CellSpec, &CellInfo)> {
        match (&self.spec, &self.lowered) {
            (SpaceSpec::Cell(s), Lowered::Cell(i)) => Some((s, i)),
            _ => None,
        }
    }
}

fn check_not_elastic(call: &OpCall, path: &str) -> Result<(), IrError> {
    if let Some((arg, _)) = call.elastic_args().first() {
        return Err(spec_err(
            path,
            format!("`{arg}` is elastic outside a stage layer"),
            "elastic arguments belong to searchable chain layers",
        ));
    }
    Ok(())
}

type ShapeKey = (usize, usize, usize, bool);

fn shape_key(s: Shape) -> ShapeKey {
    match s {
        Shape::Map { c, h, w } => (c, h, w, true),
        Shape::Vec { n } => (n, 0, 0, false),
    }
}

fn unkey(k: ShapeKey) -> Shape {
    if k.3 {
        Shape::Map {
            c: k.0,
            h: k.1,
            w: k.2,
        }
    } else {
        Shape::Vec { n: k.0 }
    }
}
