//! Lowering of a `SpaceSpec` into the IR: a petgraph DAG of the space (stem, stage layers or cell
//! edges with their candidates, sums, concats, head) with every decision named and counted, and the
//! concrete network (`Net`) of one architecture, of a mix (several candidates of a layer or edge
//! summed), or of every candidate at once (the supernet's instances). Graph invariants (acyclic, all
//! nodes reach the output, consistent shapes for every reachable configuration) are checked when a
//! `SearchSpace` is built.

use super::IrError;
use super::ops::{Ctx, Op, Shape, out_shape};
use super::spec::{CellSpec, ChainSpec, Genotype, LayerSpec, OpCall, SpaceSpec, seq_label};
use crate::catalog::{OpKind, signature};
use num_bigint::BigUint;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::{Dfs, Reversed};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

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
    }
}

/// One decision: a stable path name and its options' labels.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub path: String,
    pub kind: DecisionKind,
    pub labels: Vec<String>,
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

/// A node of a concrete network.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum NetKind {
    Input,
    Op(Op),
    Sum,
    Concat,
    Output,
}

/// One node of a concrete network; `path` names the weights of an op node (a supernet's instance path),
/// `choice` the (decision, option) that put it there, if any.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NetNode {
    pub path: String,
    pub kind: NetKind,
    pub inputs: Vec<usize>,
    pub shape: Shape,
    pub choice: Option<(usize, usize)>,
}

/// A concrete network in topological order (node 0 is the input, the last the output).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Net {
    pub nodes: Vec<NetNode>,
}

impl Net {
    fn new(input: Shape) -> Net {
        Net {
            nodes: vec![NetNode {
                path: "input".into(),
                kind: NetKind::Input,
                inputs: vec![],
                shape: input,
                choice: None,
            }],
        }
    }
    fn last(&self) -> usize {
        self.nodes.len() - 1
    }
    fn push_op(
        &mut self,
        path: String,
        op: Op,
        from: usize,
        choice: Option<(usize, usize)>,
    ) -> Result<usize, IrError> {
        let shape = out_shape(&op, self.nodes[from].shape, &path)?;
        self.nodes.push(NetNode {
            path,
            kind: NetKind::Op(op),
            inputs: vec![from],
            shape,
            choice,
        });
        Ok(self.last())
    }
    fn push_sum(&mut self, path: String, inputs: Vec<usize>) -> Result<usize, IrError> {
        let shape = self.nodes[inputs[0]].shape;
        for &i in &inputs {
            if self.nodes[i].shape != shape {
                return Err(IrError::Shape {
                    path,
                    message: format!(
                        "summed inputs disagree: `{}` is {} but `{}` is {}",
                        self.nodes[inputs[0]].path, shape, self.nodes[i].path, self.nodes[i].shape
                    ),
                    help: "every edge into a node must give the same shape (reduction edges from the cell inputs have stride 2)".into(),
                });
            }
        }
        self.nodes.push(NetNode {
            path,
            kind: NetKind::Sum,
            inputs,
            shape,
            choice: None,
        });
        Ok(self.last())
    }
    fn push_concat(&mut self, path: String, inputs: Vec<usize>) -> Result<usize, IrError> {
        let mut c = 0;
        let first = self.nodes[inputs[0]].shape;
        let (h0, w0) = match first {
            Shape::Map { h, w, .. } => (h, w),
            Shape::Vec { .. } => (0, 0),
        };
        for &i in &inputs {
            match self.nodes[i].shape {
                Shape::Map { c: ci, h, w } if h == h0 && w == w0 => c += ci,
                s => {
                    return Err(IrError::Shape {
                        path,
                        message: format!("cannot concatenate {s} with {first}"),
                        help: "concatenated nodes must have the same spatial size".into(),
                    });
                }
            }
        }
        self.nodes.push(NetNode {
            path,
            kind: NetKind::Concat,
            inputs,
            shape: Shape::Map { c, h: h0, w: w0 },
            choice: None,
        });
        Ok(self.last())
    }
    fn push_output(&mut self, from: usize) -> usize {
        let shape = self.nodes[from].shape;
        self.nodes.push(NetNode {
            path: "output".into(),
            kind: NetKind::Output,
            inputs: vec![from],
            shape,
            choice: None,
        });
        self.last()
    }
    /// A network of one op on `input` (input -> op `path` -> output), e.g. to time an op alone; a shape
    /// error if the op does not fit the input.
    pub fn single_op(path: &str, op: Op, input: Shape) -> Result<Net, IrError> {
        let mut net = Net::new(input);
        let end = net.push_op(path.to_string(), op, 0, None)?;
        net.push_output(end);
        Ok(net)
    }
    /// The op nodes with their input shapes.
    pub fn ops(&self) -> impl Iterator<Item = (&NetNode, &Op, Shape)> {
        self.nodes.iter().filter_map(|n| match &n.kind {
            NetKind::Op(op) => Some((n, op, self.nodes[n.inputs[0]].shape)),
            _ => None,
        })
    }
    /// The network as a petgraph DAG (edges from inputs to nodes).
    pub fn to_graph(&self) -> DiGraph<&NetNode, ()> {
        let mut g = DiGraph::new();
        let idx: Vec<NodeIndex> = self.nodes.iter().map(|n| g.add_node(n)).collect();
        for (i, n) in self.nodes.iter().enumerate() {
            for &j in &n.inputs {
                g.add_edge(idx[j], idx[i], ());
            }
        }
        g
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

    fn lower_chain(&mut self, c: &ChainSpec) -> Result<ChainInfo, IrError> {
        if c.input.contains(&0) || c.classes == 0 {
            return Err(spec_err(
                "input",
                "input sizes and classes must be >= 1",
                "e.g. input: [3, 32, 32]",
            ));
        }
        let res = if c.resolutions.is_empty() {
            if c.input[1] != c.input[2] {
                // Non-square inputs are fine; resolution stays the declared one.
            }
            vec![c.input[1]]
        } else {
            c.resolutions.clone()
        };
        if res.contains(&0) {
            return Err(spec_err(
                "resolutions",
                "a resolution of 0",
                "use sizes >= 1",
            ));
        }
        let res_dec = if res.len() > 1 {
            Some(self.add_decision(
                "resolution".into(),
                DecisionKind::Resolution,
                res.iter().map(|r| r.to_string()).collect(),
            )?)
        } else {
            None
        };
        let g = &mut self.graph;
        let input = g.add_node(SpaceNode::Input {
            shape: Shape::Map {
                c: c.input[0],
                h: c.input[1],
                w: c.input[2],
            },
        });
        let mut prev = vec![(input, String::new())];
        let link = |g: &mut DiGraph<SpaceNode, String>,
                    prev: &mut Vec<(NodeIndex, String)>,
                    n: NodeIndex| {
            for (p, label) in prev.drain(..) {
                g.add_edge(p, n, label);
            }
            prev.push((n, String::new()));
        };
        for (i, call) in c.stem.iter().enumerate() {
            check_not_elastic(call, &format!("stem.{i}"))?;
            let n = self.graph.add_node(SpaceNode::Op {
                path: format!("stem.{i}"),
                label: call.to_string(),
            });
            link(&mut self.graph, &mut prev, n);
        }
        let mut stages = vec![];
        let mut prev_outs = 1usize;
        let mut names = BTreeSet::new();
        for (si, st) in c.stages.iter().enumerate() {
            let name = st.name.clone().unwrap_or_else(|| format!("stage{si}"));
            if name.is_empty()
                || name.contains('.')
                || ["stem", "head", "resolution", "input", "output"].contains(&name.as_str())
                || !names.insert(name.clone())
            {
                return Err(spec_err(
                    &name,
                    "a stage name must be unique, non-empty, without '.', and not stem/head/resolution",
                    "rename the stage",
                ));
            }
            let outs = st.out.options();
            let depths = st.repeat.options();
            if outs.is_empty() || outs.contains(&0) {
                return Err(spec_err(
                    &name,
                    "`out` needs channel counts >= 1",
                    "e.g. out: 24 or out: [16, 24]",
                ));
            }
            if depths.is_empty() || depths.contains(&0) {
                return Err(spec_err(
                    &name,
                    "`repeat` needs layer counts >= 1",
                    "e.g. repeat: 2 or repeat: [2, 3, 4]",
                ));
            }
            if st.stride == 0 {
                return Err(spec_err(&name, "stride 0", "use stride 1 or 2"));
            }
            let (cands, choose) = match &st.layer {
                LayerSpec::Fixed(s) => (vec![s.clone()], false),
                LayerSpec::Choose(cs) => (cs.clone(), cs.len() > 1),
            };
            if cands.is_empty() || cands.iter().any(|c| c.is_empty()) {
                return Err(spec_err(
                    &name,
                    "a layer needs at least one candidate, each with at least one op",
                    "give each candidate an op, e.g. [skip]",
                ));
            }
            let out_dec = if outs.len() > 1 {
                Some(self.add_decision(
                    format!("{name}.out"),
                    DecisionKind::Channels,
                    outs.iter().map(|o| o.to_string()).collect(),
                )?)
            } else {
                None
            };
            let depth_dec = if depths.len() > 1 {
                Some(self.add_decision(
                    format!("{name}.depth"),
                    DecisionKind::Depth,
                    depths.iter().map(|o| o.to_string()).collect(),
                )?)
            } else {
                None
            };
            let max_depth = *depths.iter().max().unwrap_or(&1);
            let min_depth = *depths.iter().min().unwrap_or(&1);
            let labels: Vec<String> = cands.iter().map(|s| seq_label(s)).collect();
            let mut layers = vec![];
            let mut layer_nodes = vec![];
            for l in 0..max_depth {
                let lpath = format!("{name}.layer{l}");
                let cand_dec = if choose {
                    Some(self.add_decision(lpath.clone(), DecisionKind::Layer, labels.clone())?)
                } else {
                    None
                };
                let mut elastic = vec![];
                for (j, seq) in cands.iter().enumerate() {
                    for (k, call) in seq.iter().enumerate() {
                        for (arg, values) in call.elastic_args() {
                            if !(matches!(call.kind, OpKind::MbConv)
                                && (arg == "kernel" || arg == "expand"))
                            {
                                return Err(spec_err(
                                    &lpath,
                                    format!(
                                        "`{arg}` of `{}` cannot be elastic",
                                        signature(call.kind).name
                                    ),
                                    "elastic arguments are mbconv's kernel and expand",
                                ));
                            }
                            if values.is_empty()
                                || values.iter().any(|v| *v < 1)
                                || BTreeSet::from_iter(values.iter()).len() != values.len()
                            {
                                return Err(spec_err(
                                    &lpath,
                                    format!("elastic `{arg}` needs distinct values >= 1"),
                                    "e.g. kernel: [3, 5, 7]",
                                ));
                            }
                            if arg == "expand"
                                && call
                                    .args
                                    .get("groups")
                                    .is_some_and(|g| *g != super::spec::ArgValue::Int(1))
                            {
                                return Err(spec_err(
                                    &lpath,
                                    "elastic expand with grouped 1x1 convs",
                                    "use groups: 1 with an elastic expand",
                                ));
                            }
                            let mut p = lpath.clone();
                            if choose {
                                p.push_str(&format!(".cand{j}"));
                            }
                            if seq.len() > 1 {
                                p.push_str(&format!(".op{k}"));
                            }
                            p.push_str(&format!(".{arg}"));
                            let d = self.add_decision(
                                p,
                                DecisionKind::Elastic,
                                values.iter().map(|v| v.to_string()).collect(),
                            )?;
                            elastic.push(ElasticDec {
                                cand: j,
                                op: k,
                                arg: arg.to_string(),
                                decision: d,
                                values: values.to_vec(),
                            });
                        }
                    }
                }
                let n = self.graph.add_node(SpaceNode::Layer {
                    path: lpath,
                    decision: cand_dec,
                    labels: labels.clone(),
                    optional: l >= min_depth,
                });
                link(&mut self.graph, &mut prev, n);
                layer_nodes.push(n);
                layers.push(LayerInfo { cand_dec, elastic });
            }
            // Depth skips: the stage may end after layer d-1.
            for &d in &depths {
                if d < max_depth {
                    prev.push((layer_nodes[d - 1], format!("depth={d}")));
                }
            }
            stages.push(StageInfo {
                name,
                tag0: prev_outs > 1 || outs.len() > 1,
                tagn: outs.len() > 1,
                outs: outs.clone(),
                depths,
                out_dec,
                depth_dec,
                stride: st.stride,
                cands,
                choose,
                layers,
            });
            prev_outs = outs.len();
        }
        for (i, call) in c.head.iter().enumerate() {
            check_not_elastic(call, &format!("head.{i}"))?;
            let n = self.graph.add_node(SpaceNode::Op {
                path: format!("head.{i}"),
                label: call.to_string(),
            });
            link(&mut self.graph, &mut prev, n);
        }
        let out = self
            .graph
            .add_node(SpaceNode::Output { classes: c.classes });
        link(&mut self.graph, &mut prev, out);
        Ok(ChainInfo {
            res,
            res_dec,
            stages,
            head_tag: prev_outs > 1,
        })
    }

    fn lower_cell(&mut self, c: &CellSpec) -> Result<CellInfo, IrError> {
        if c.input.contains(&0)
            || c.classes == 0
            || c.cells == 0
            || c.channels == 0
            || c.stem_multiplier == 0
        {
            return Err(spec_err(
                "cell",
                "input, classes, cells, channels and stem_multiplier must be >= 1",
                "e.g. cells: 8, channels: 16",
            ));
        }
        let reductions = c.reduction_cells();
        if let Some(r) = reductions.iter().find(|r| **r >= c.cells) {
            return Err(spec_err(
                "reduce_at",
                format!("reduction cell {r} is beyond the {} cells", c.cells),
                "use cell indices below `cells`",
            ));
        }
        if !(1..=2).contains(&c.inputs) {
            return Err(spec_err(
                "inputs",
                format!("cells with {} inputs", c.inputs),
                "2 (DARTS) or 1 (NAS-Bench-201)",
            ));
        }
        if c.inputs == 1 && (c.normal.is_some() || c.reduce.is_some()) {
            return Err(spec_err(
                "inputs",
                "fixed genotypes of single-input cells",
                "search the cell, or declare a two-input genotype",
            ));
        }
        let mut types = vec![];
        for (tname, fixed) in [("normal", &c.normal), ("reduce", &c.reduce)] {
            // Single-input (NAS-Bench-201) networks reduce with residual blocks: no reduction cell.
            if c.inputs == 1 && tname == "reduce" {
                types.push(CellType::Search(vec![]));
                continue;
            }
            let t = match fixed {
                Some(g) => {
                    if g.nodes.is_empty() || g.nodes.iter().any(|n| n.is_empty()) {
                        return Err(spec_err(
                            tname,
                            "a fixed cell needs nodes, each with at least one edge",
                            "list each node's (from, op) edges",
                        ));
                    }
                    for (n, edges) in g.nodes.iter().enumerate() {
                        for e in edges {
                            check_not_elastic(&e.op, tname)?;
                            if e.from >= 2 + g.nodes.len() {
                                return Err(spec_err(
                                    &format!("{tname}.node{n}"),
                                    format!("edge from node {} which does not exist", e.from),
                                    "nodes 0 and 1 are the cell inputs, 2.. the intermediate nodes",
                                ));
                            }
                            if e.from >= 2 + n {
                                return Err(IrError::Cycle {
                                    path: format!("{tname}.node{n} <- node {}", e.from),
                                });
                            }
                        }
                    }
                    CellType::Fixed(g.clone())
                }
                None => {
                    if c.candidates.is_empty() {
                        return Err(spec_err(
                            tname,
                            "a searched cell needs candidate ops",
                            "give `candidates` or a fixed genotype",
                        ));
                    }
                    for call in &c.candidates {
                        check_not_elastic(call, "candidates")?;
                    }
                    let labels: Vec<String> = c.candidates.iter().map(|x| x.to_string()).collect();
                    let mut nodes = vec![];
                    for n in 0..c.nodes {
                        let mut edges = vec![];
                        for from in 0..c.inputs + n {
                            edges.push(self.add_decision(
                                format!("{tname}.node{n}.edge{from}"),
                                DecisionKind::Edge,
                                labels.clone(),
                            )?);
                        }
                        nodes.push(edges);
                    }
                    if c.nodes == 0 {
                        return Err(spec_err(
                            tname,
                            "a cell needs at least one intermediate node",
                            "e.g. nodes: 4",
                        ));
                    }
                    CellType::Search(nodes)
                }
            };
            types.push(t);
        }
        let reduce = types.pop().unwrap_or(CellType::Search(vec![]));
        let normal = types.pop().unwrap_or(CellType::Search(vec![]));
        let info = CellInfo {
            normal,
            reduce,
            reductions,
        };
        // The space graph.
        let g = &mut self.graph;
        let input = g.add_node(SpaceNode::Input {
            shape: Shape::Map {
                c: c.input[0],
                h: c.input[1],
                w: c.input[2],
            },
        });
        if c.inputs == 1 {
            Self::single_input_graph(g, input, c, &self.decisions, &info);
            return Ok(info);
        }
        let s0 = g.add_node(SpaceNode::Op {
            path: "stem.0".into(),
            label: "conv(kernel: 3)".into(),
        });
        g.add_edge(input, s0, String::new());
        let stem = g.add_node(SpaceNode::Op {
            path: "stem.1".into(),
            label: "bn".into(),
        });
        g.add_edge(s0, stem, String::new());
        let (mut p0, mut p1) = (stem, stem);
        let mut red_prev = false;
        for i in 0..c.cells {
            let red = info.reductions.contains(&i);
            let ct = if red { &info.reduce } else { &info.normal };
            let pre0 = g.add_node(SpaceNode::Op {
                path: format!("cell{i}.pre0"),
                label: if red_prev {
                    "factorized_reduce".into()
                } else {
                    "relu_conv_bn(kernel: 1)".into()
                },
            });
            g.add_edge(p0, pre0, String::new());
            let pre1 = g.add_node(SpaceNode::Op {
                path: format!("cell{i}.pre1"),
                label: "relu_conv_bn(kernel: 1)".into(),
            });
            g.add_edge(p1, pre1, String::new());
            let mut states = vec![pre0, pre1];
            let edges: Vec<Vec<(usize, Option<usize>, String)>> = match ct {
                CellType::Search(nodes) => nodes
                    .iter()
                    .map(|es| {
                        es.iter()
                            .enumerate()
                            .map(|(f, d)| (f, Some(*d), String::new()))
                            .collect()
                    })
                    .collect(),
                CellType::Fixed(geno) => geno
                    .nodes
                    .iter()
                    .map(|es| {
                        es.iter()
                            .map(|e| (e.from, None, e.op.to_string()))
                            .collect()
                    })
                    .collect(),
            };
            let concat = g.add_node(SpaceNode::Concat {
                path: format!("cell{i}.out"),
            });
            for (n, es) in edges.iter().enumerate() {
                let sum = g.add_node(SpaceNode::Sum {
                    path: format!("cell{i}.node{n}"),
                });
                for (e, (from, dec, label)) in es.iter().enumerate() {
                    let en = match dec {
                        Some(d) => g.add_node(SpaceNode::Edge {
                            path: format!("cell{i}.node{n}.edge{from}"),
                            decision: *d,
                            labels: self.decisions[*d].labels.clone(),
                        }),
                        None => g.add_node(SpaceNode::Op {
                            path: format!("cell{i}.node{n}.edge{e}"),
                            label: label.clone(),
                        }),
                    };
                    g.add_edge(states[*from], en, String::new());
                    g.add_edge(en, sum, String::new());
                }
                g.add_edge(sum, concat, String::new());
                states.push(sum);
            }
            p0 = p1;
            p1 = concat;
            red_prev = red;
        }
        let gap = g.add_node(SpaceNode::Op {
            path: "head.0".into(),
            label: "global_avg_pool".into(),
        });
        g.add_edge(p1, gap, String::new());
        let lin = g.add_node(SpaceNode::Op {
            path: "head.1".into(),
            label: "linear".into(),
        });
        g.add_edge(gap, lin, String::new());
        let out = g.add_node(SpaceNode::Output { classes: c.classes });
        g.add_edge(lin, out, String::new());
        Ok(info)
    }

    /// The space graph of a single-input (NAS-Bench-201) cell network: stem, cells (a residual block
    /// before each reduction index), head.
    fn single_input_graph(
        g: &mut DiGraph<SpaceNode, String>,
        input: NodeIndex,
        c: &CellSpec,
        decisions: &[Decision],
        info: &CellInfo,
    ) {
        let op =
            |g: &mut DiGraph<SpaceNode, String>, from: NodeIndex, path: String, label: &str| {
                let n = g.add_node(SpaceNode::Op {
                    path,
                    label: label.into(),
                });
                g.add_edge(from, n, String::new());
                n
            };
        let s0 = op(g, input, "stem.0".into(), "conv(kernel: 3)");
        let mut prev = op(g, s0, "stem.1".into(), "bn");
        for i in 0..c.cells {
            if info.reductions.contains(&i) {
                prev = op(g, prev, format!("cell{i}.reduce"), "basic_block(stride: 2)");
            }
            let mut states = vec![prev];
            if let CellType::Search(nodes) = &info.normal {
                for (n, froms) in nodes.iter().enumerate() {
                    let sum = g.add_node(SpaceNode::Sum {
                        path: format!("cell{i}.node{n}"),
                    });
                    for (from, &d) in froms.iter().enumerate() {
                        let e = g.add_node(SpaceNode::Edge {
                            path: format!("cell{i}.node{n}.edge{from}"),
                            decision: d,
                            labels: decisions[d].labels.clone(),
                        });
                        g.add_edge(states[from], e, String::new());
                        g.add_edge(e, sum, String::new());
                    }
                    states.push(sum);
                }
            }
            prev = *states.last().unwrap_or(&prev);
        }
        let mut last = prev;
        for (k, label) in ["bn", "relu", "global_avg_pool", "linear"]
            .iter()
            .enumerate()
        {
            last = op(g, last, format!("head.{k}"), label);
        }
        let out = g.add_node(SpaceNode::Output { classes: c.classes });
        g.add_edge(last, out, String::new());
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

    /// Pushes one op sequence (a layer's candidate) onto `net`; the context stride goes to the first op
    /// that takes a stride.
    #[allow(clippy::too_many_arguments)]
    fn push_seq(
        net: &mut Net,
        base: &str,
        seq: &[OpCall],
        from: usize,
        out: usize,
        stride: usize,
        picks: &[BTreeMap<String, i64>],
        choice: Option<(usize, usize)>,
    ) -> Result<usize, IrError> {
        let mut cur = from;
        let mut stride_left = stride;
        for (k, call) in seq.iter().enumerate() {
            let s = if has_param(call.kind, "stride") {
                let s = stride_left;
                stride_left = 1;
                s
            } else {
                1
            };
            let path = format!("{base}.{k}");
            let op = Op::resolve(
                call,
                Ctx {
                    out,
                    stride: s,
                    affine: None,
                },
                &picks[k],
                &path,
            )?;
            cur = net.push_op(path, op, cur, choice)?;
        }
        if stride_left > 1 {
            return Err(spec_err(
                base,
                format!(
                    "stride {stride} but no op of `{}` takes a stride",
                    seq_label(seq)
                ),
                "start the candidate with an op that has a stride (conv, mbconv, skip, ...)",
            ));
        }
        Ok(cur)
    }

    fn layer_base(st: &StageInfo, l: usize, j: usize, cin: usize, cout: usize) -> String {
        let mut base = format!("{}.layer{l}", st.name);
        if st.choose {
            base.push_str(&format!(".cand{j}"));
        }
        if (l == 0 && st.tag0) || (l > 0 && st.tagn) {
            base.push_str(&format!(".c{cin}_{cout}"));
        }
        base
    }

    fn stem_head(
        net: &mut Net,
        calls: &[OpCall],
        prefix: &str,
        classes: usize,
        from: usize,
    ) -> Result<usize, IrError> {
        let mut cur = from;
        for (i, call) in calls.iter().enumerate() {
            let c = net.nodes[cur].shape.channels();
            let out = if call.kind == OpKind::Linear {
                classes
            } else {
                c
            };
            let path = format!("{prefix}.{i}");
            let op = Op::resolve(
                call,
                Ctx {
                    out,
                    stride: 1,
                    affine: None,
                },
                &BTreeMap::new(),
                &path,
            )?;
            cur = net.push_op(path, op, cur, None)?;
        }
        Ok(cur)
    }

    fn head_prefix(info: &ChainInfo, cin: usize) -> String {
        if info.head_tag {
            format!("head.c{cin}")
        } else {
            "head".into()
        }
    }

    /// Runs one chain layer (candidate `j` with elastic picks) from `from`.
    #[allow(clippy::too_many_arguments)]
    fn push_layer(
        net: &mut Net,
        st: &StageInfo,
        l: usize,
        j: usize,
        from: usize,
        cout: usize,
        elastic_vals: &[(usize, usize, String, i64)],
        choice: Option<(usize, usize)>,
    ) -> Result<usize, IrError> {
        let cin = net.nodes[from].shape.channels();
        let seq = &st.cands[j];
        let mut picks = vec![BTreeMap::new(); seq.len()];
        for (c, k, arg, v) in elastic_vals {
            if *c == j {
                picks[*k].insert(arg.clone(), *v);
            }
        }
        let base = Self::layer_base(st, l, j, cin, cout);
        let stride = if l == 0 { st.stride } else { 1 };
        Self::push_seq(net, &base, seq, from, cout, stride, &picks, choice)
    }

    fn chain_net(&self, pick: &mut Picker) -> Result<Net, IrError> {
        let (spec, info) = self
            .chain()
            .ok_or_else(|| spec_err("space", "not a chain", ""))?;
        let (h, w) = match info.res_dec {
            Some(d) => {
                let r = info.res[pick_one(pick, d)?];
                (r, r)
            }
            None if spec.resolutions.len() == 1 => (info.res[0], info.res[0]),
            None => (spec.input[1], spec.input[2]),
        };
        let mut net = Net::new(Shape::Map {
            c: spec.input[0],
            h,
            w,
        });
        let mut cur = Self::stem_head(&mut net, &spec.stem, "stem", spec.classes, 0)?;
        for st in &info.stages {
            let cout = match st.out_dec {
                Some(d) => st.outs[pick_one(pick, d)?],
                None => st.outs[0],
            };
            let depth = match st.depth_dec {
                Some(d) => st.depths[pick_one(pick, d)?],
                None => st.depths[0],
            };
            for l in 0..depth {
                let layer = &st.layers[l];
                let cands: Vec<(usize, Option<(usize, usize)>)> = match layer.cand_dec {
                    Some(d) => pick(d)?.into_iter().map(|j| (j, Some((d, j)))).collect(),
                    None => vec![(0, None)],
                };
                // Several candidates (a mixed network) run on the same input into a sum; their output
                // shapes agree (`validate_chain`).
                let from = cur;
                let mut ends = vec![];
                for (j, choice) in cands {
                    let mut vals = vec![];
                    for e in layer.elastic.iter().filter(|e| e.cand == j) {
                        let v = e.values[pick_one(pick, e.decision)?];
                        vals.push((e.cand, e.op, e.arg.clone(), v));
                    }
                    ends.push(Self::push_layer(
                        &mut net, st, l, j, from, cout, &vals, choice,
                    )?);
                }
                cur = match ends.as_slice() {
                    [one] => *one,
                    _ => net.push_sum(format!("{}.layer{l}", st.name), ends)?,
                };
            }
        }
        let cin = net.nodes[cur].shape.channels();
        cur = Self::stem_head(
            &mut net,
            &spec.head,
            &Self::head_prefix(info, cin),
            spec.classes,
            cur,
        )?;
        let out = net.push_output(cur);
        Self::check_output(&net, out, spec.classes)?;
        Ok(net)
    }

    fn check_output(net: &Net, out: usize, classes: usize) -> Result<(), IrError> {
        if net.nodes[out].shape != (Shape::Vec { n: classes }) {
            return Err(IrError::Shape {
                path: "output".into(),
                message: format!(
                    "the network ends in {} instead of {classes} class scores",
                    net.nodes[out].shape
                ),
                help: "end the head with global_avg_pool and linear (out: classes)".into(),
            });
        }
        Ok(())
    }

    /// Checks every reachable (resolution, channels, depth, candidate, elastic value) configuration of a
    /// chain: candidates of a layer must agree on the output shape and the head must give class scores.
    fn validate_chain(&self) -> Result<(), IrError> {
        let (spec, info) = self
            .chain()
            .ok_or_else(|| spec_err("space", "not a chain", ""))?;
        let sizes: Vec<(usize, usize)> = if spec.resolutions.is_empty() {
            vec![(spec.input[1], spec.input[2])]
        } else {
            info.res.iter().map(|r| (*r, *r)).collect()
        };
        for (h, w) in sizes {
            let mut net = Net::new(Shape::Map {
                c: spec.input[0],
                h,
                w,
            });
            let stem_end = Self::stem_head(&mut net, &spec.stem, "stem", spec.classes, 0)?;
            let mut states = BTreeSet::from([shape_key(net.nodes[stem_end].shape)]);
            for st in &info.stages {
                let mut next = BTreeSet::new();
                for &state in &states {
                    for &cout in &st.outs {
                        let mut shape = unkey(state);
                        for (l, layer) in st.layers.iter().enumerate() {
                            let mut results = BTreeSet::new();
                            for j in 0..st.cands.len() {
                                let es: Vec<&ElasticDec> =
                                    layer.elastic.iter().filter(|e| e.cand == j).collect();
                                let lists: Vec<Vec<i64>> =
                                    es.iter().map(|e| e.values.clone()).collect();
                                for combo in combos(&lists) {
                                    let vals: Vec<(usize, usize, String, i64)> = es
                                        .iter()
                                        .zip(combo)
                                        .map(|(e, v)| (e.cand, e.op, e.arg.clone(), v))
                                        .collect();
                                    let mut scratch = Net::new(shape);
                                    let end = Self::push_layer(
                                        &mut scratch,
                                        st,
                                        l,
                                        j,
                                        0,
                                        cout,
                                        &vals,
                                        None,
                                    )?;
                                    results.insert((shape_key(scratch.nodes[end].shape), j));
                                }
                            }
                            let distinct: BTreeSet<_> = results.iter().map(|r| r.0).collect();
                            if distinct.len() > 1 {
                                let desc: Vec<String> = results
                                    .iter()
                                    .map(|(s, j)| format!("candidate {j} gives {}", unkey(*s)))
                                    .collect();
                                return Err(IrError::Shape {
                                    path: format!("{}.layer{l}", st.name),
                                    message: format!("the candidates disagree on the output shape: {}", desc.join(", ")),
                                    help: "every candidate of a layer must produce the stage's channels and stride".into(),
                                });
                            }
                            shape = unkey(*distinct.iter().next().unwrap_or(&state));
                            if st.depths.contains(&(l + 1)) {
                                next.insert(shape_key(shape));
                            }
                        }
                    }
                }
                states = next;
            }
            for state in states {
                let shape = unkey(state);
                let mut net = Net::new(shape);
                let end = Self::stem_head(
                    &mut net,
                    &spec.head,
                    &Self::head_prefix(info, shape.channels()),
                    spec.classes,
                    0,
                )?;
                Self::check_output(&net, end, spec.classes)?;
            }
        }
        Ok(())
    }

    fn cell_net(&self, pick: Option<&mut Picker>) -> Result<Net, IrError> {
        let (spec, info) = self
            .cell()
            .ok_or_else(|| spec_err("space", "not a cell space", ""))?;
        let mut pick = pick;
        let c = spec.channels;
        let mut net = Net::new(Shape::Map {
            c: spec.input[0],
            h: spec.input[1],
            w: spec.input[2],
        });
        let conv = OpCall::new(OpKind::Conv)
            .arg("kernel", 3)
            .arg("out", (spec.stem_multiplier * c) as i64);
        let bn = OpCall::new(OpKind::BatchNorm);
        let s = Self::stem_head(&mut net, &[conv, bn], "stem", spec.classes, 0)?;
        if spec.inputs == 1 {
            return Self::single_input_net(net, s, spec, info, pick);
        }
        let (mut s0, mut s1) = (s, s);
        let mut cur = c;
        let mut red_prev = false;
        let ctx = |out: usize, stride: usize| Ctx {
            out,
            stride,
            affine: Some(spec.affine),
        };
        let none = BTreeMap::new();
        for i in 0..spec.cells {
            let red = info.reductions.contains(&i);
            if red {
                cur *= 2;
            }
            let pre0_call = if red_prev {
                OpCall::new(OpKind::FactorizedReduce)
            } else {
                OpCall::new(OpKind::ReluConvBn).arg("kernel", 1)
            };
            let p = format!("cell{i}.pre0");
            let pre0 = net.push_op(
                p.clone(),
                Op::resolve(&pre0_call, ctx(cur, 1), &none, &p)?,
                s0,
                None,
            )?;
            let p = format!("cell{i}.pre1");
            let pre1 = net.push_op(
                p.clone(),
                Op::resolve(
                    &OpCall::new(OpKind::ReluConvBn).arg("kernel", 1),
                    ctx(cur, 1),
                    &none,
                    &p,
                )?,
                s1,
                None,
            )?;
            let mut states = vec![pre0, pre1];
            let ct = if red { &info.reduce } else { &info.normal };
            let n_nodes = match ct {
                CellType::Search(n) => n.len(),
                CellType::Fixed(g) => g.nodes.len(),
            };
            for n in 0..n_nodes {
                let mut ins = vec![];
                match ct {
                    CellType::Search(nodes) => {
                        for (from, &d) in nodes[n].iter().enumerate() {
                            let stride = if red && from < 2 { 2 } else { 1 };
                            // Several options of an edge (every one for the supernet) all feed the
                            // node's sum.
                            let opts: Vec<usize> = match pick.as_mut() {
                                Some(pk) => pk(d)?,
                                None => (0..spec.candidates.len()).collect(),
                            };
                            for j in opts {
                                let path = format!("cell{i}.node{n}.edge{from}.cand{j}");
                                let op = Op::resolve(
                                    &spec.candidates[j],
                                    ctx(cur, stride),
                                    &none,
                                    &path,
                                )?;
                                ins.push(net.push_op(path, op, states[from], Some((d, j)))?);
                            }
                        }
                    }
                    CellType::Fixed(g) => {
                        for (e, edge) in g.nodes[n].iter().enumerate() {
                            let stride = if red && edge.from < 2 { 2 } else { 1 };
                            let path = format!("cell{i}.node{n}.edge{e}");
                            let op = Op::resolve(&edge.op, ctx(cur, stride), &none, &path)?;
                            ins.push(net.push_op(path, op, states[edge.from], None)?);
                        }
                    }
                }
                states.push(net.push_sum(format!("cell{i}.node{n}"), ins)?);
            }
            let out = net.push_concat(format!("cell{i}.out"), states[2..].to_vec())?;
            s0 = s1;
            s1 = out;
            red_prev = red;
        }
        let gap = OpCall::new(OpKind::GlobalAvgPool);
        let lin = OpCall::new(OpKind::Linear);
        let end = Self::stem_head(&mut net, &[gap, lin], "head", spec.classes, s1)?;
        let out = net.push_output(end);
        Self::check_output(&net, out, spec.classes)?;
        Ok(net)
    }

    /// The network of a single-input (NAS-Bench-201) cell space after its stem `s`: cells whose nodes
    /// sum one edge from every earlier node and whose output is the last node, a residual
    /// `basic_block` of stride 2 doubling the channels before each reduction index, then BN, ReLU,
    /// global pooling and the classifier.
    fn single_input_net(
        mut net: Net,
        s: usize,
        spec: &CellSpec,
        info: &CellInfo,
        mut pick: Option<&mut Picker>,
    ) -> Result<Net, IrError> {
        let ctx = |out: usize, stride: usize| Ctx {
            out,
            stride,
            affine: Some(spec.affine),
        };
        let none = BTreeMap::new();
        let mut cur = spec.channels;
        let mut prev = s;
        let CellType::Search(nodes) = &info.normal else {
            return Err(spec_err(
                "inputs",
                "a fixed single-input cell",
                "search the cell",
            ));
        };
        for i in 0..spec.cells {
            if info.reductions.contains(&i) {
                cur *= 2;
                let p = format!("cell{i}.reduce");
                let call = OpCall::new(OpKind::BasicBlock);
                prev = net.push_op(
                    p.clone(),
                    Op::resolve(&call, ctx(cur, 2), &none, &p)?,
                    prev,
                    None,
                )?;
            }
            let mut states = vec![prev];
            for (n, froms) in nodes.iter().enumerate() {
                let mut ins = vec![];
                for (from, &d) in froms.iter().enumerate() {
                    let opts: Vec<usize> = match pick.as_mut() {
                        Some(pk) => pk(d)?,
                        None => (0..spec.candidates.len()).collect(),
                    };
                    for j in opts {
                        let path = format!("cell{i}.node{n}.edge{from}.cand{j}");
                        let op = Op::resolve(&spec.candidates[j], ctx(cur, 1), &none, &path)?;
                        ins.push(net.push_op(path, op, states[from], Some((d, j)))?);
                    }
                }
                states.push(net.push_sum(format!("cell{i}.node{n}"), ins)?);
            }
            prev = *states.last().unwrap_or(&prev);
        }
        let head = [
            OpCall::new(OpKind::BatchNorm),
            OpCall::new(OpKind::Relu),
            OpCall::new(OpKind::GlobalAvgPool),
            OpCall::new(OpKind::Linear),
        ];
        let end = Self::stem_head(&mut net, &head, "head", spec.classes, prev)?;
        let out = net.push_output(end);
        Self::check_output(&net, out, spec.classes)?;
        Ok(net)
    }

    /// The concrete network of an architecture given as option indices (`None` = not chosen; an error
    /// if the network needs it). Also returns which decisions the network used.
    pub fn net_from_choices(&self, choices: &[Option<usize>]) -> Result<(Net, Vec<bool>), IrError> {
        let mut used = vec![false; self.decisions.len()];
        let mut pick = |d: usize| -> Result<Vec<usize>, IrError> {
            used[d] = true;
            let dec = &self.decisions[d];
            match choices.get(d).copied().flatten() {
                Some(o) if o < dec.labels.len() => Ok(vec![o]),
                Some(o) => Err(IrError::BadOption {
                    name: dec.path.clone(),
                    pick: o.to_string(),
                    help: format!(
                        "options are 0..{} ({})",
                        dec.labels.len(),
                        dec.labels.join(" | ")
                    ),
                }),
                None => Err(IrError::MissingDecision {
                    name: dec.path.clone(),
                    help: format!("choose one of: {}", dec.labels.join(" | ")),
                }),
            }
        };
        let net = self.build_net(&mut pick)?;
        Ok((net, used))
    }

    fn build_net(&self, pick: &mut Picker) -> Result<Net, IrError> {
        match self.spec {
            SpaceSpec::Chain(_) => self.chain_net(pick),
            SpaceSpec::Cell(_) => self.cell_net(Some(pick)),
        }
    }

    /// The concrete network of a mix: per decision the options it takes (empty = not chosen; an error
    /// if the network needs it). A layer or edge decision may take several options: each candidate
    /// runs on the layer's (edge's) input and their outputs are summed (chains: one `Sum` node named
    /// after the layer; cells: the candidates feed the node's sum). Each candidate's op nodes carry
    /// `choice: Some((decision, option))`. Every other decision takes exactly one option. With one
    /// option everywhere the network is `net_from_choices`'s. Also returns which decisions were used.
    pub fn net_from_mix(&self, options: &[Vec<usize>]) -> Result<(Net, Vec<bool>), IrError> {
        if let Some(d) = (self.decisions.len()..options.len()).find(|&d| !options[d].is_empty()) {
            return Err(IrError::UnknownDecision {
                name: format!("#{d}"),
                help: format!(
                    "this space has {} decisions (0..{})",
                    self.decisions.len(),
                    self.decisions.len()
                ),
            });
        }
        let mut used = vec![false; self.decisions.len()];
        let mut pick = |d: usize| -> Result<Vec<usize>, IrError> {
            used[d] = true;
            let dec = &self.decisions[d];
            let given = options.get(d).map(Vec::as_slice).unwrap_or(&[]);
            if given.is_empty() {
                return Err(IrError::MissingDecision {
                    name: dec.path.clone(),
                    help: format!("take at least one of: {}", dec.labels.join(" | ")),
                });
            }
            let mut opts = given.to_vec();
            opts.sort_unstable();
            if let Some(&o) = opts.iter().find(|&&o| o >= dec.labels.len()) {
                return Err(IrError::BadOption {
                    name: dec.path.clone(),
                    pick: o.to_string(),
                    help: format!(
                        "options are 0..{} ({})",
                        dec.labels.len(),
                        dec.labels.join(" | ")
                    ),
                });
            }
            if let Some(w) = opts.windows(2).find(|w| w[0] == w[1]) {
                return Err(IrError::BadOption {
                    name: dec.path.clone(),
                    pick: format!("{} twice", w[0]),
                    help: "list each option of a decision once".into(),
                });
            }
            let mixable = matches!(dec.kind, DecisionKind::Layer | DecisionKind::Edge);
            if opts.len() > 1 && !mixable {
                let list: Vec<String> = opts.iter().map(|o| o.to_string()).collect();
                return Err(IrError::BadOption {
                    name: dec.path.clone(),
                    pick: format!("{{{}}}", list.join(", ")),
                    help: format!(
                        "a {} decision takes exactly one option; only layer and edge decisions mix several",
                        kind_name(dec.kind)
                    ),
                });
            }
            Ok(opts)
        };
        let net = self.build_net(&mut pick)?;
        Ok((net, used))
    }

    /// The supernet's weight instances: every candidate's ops at their largest (elastic) size, once per
    /// weight path. Cell spaces give one network with every candidate on every edge.
    pub fn supernet_net(&self) -> Result<Net, IrError> {
        match self.spec {
            SpaceSpec::Cell(_) => self.cell_net(None),
            SpaceSpec::Chain(_) => self.chain_instances(),
        }
    }

    /// Chains: a flat list of every weight instance (inputs point at scratch input nodes).
    fn chain_instances(&self) -> Result<Net, IrError> {
        let (spec, info) = self
            .chain()
            .ok_or_else(|| spec_err("space", "not a chain", ""))?;
        let r = *info.res.iter().max().unwrap_or(&spec.input[1]);
        let (h, w) = if spec.resolutions.is_empty() {
            (spec.input[1], spec.input[2])
        } else {
            (r, r)
        };
        let mut net = Net::new(Shape::Map {
            c: spec.input[0],
            h,
            w,
        });
        let mut cur = Self::stem_head(&mut net, &spec.stem, "stem", spec.classes, 0)?;
        let mut seen = BTreeSet::new();
        // Shapes entering each stage, per channel count.
        let mut entries: BTreeMap<usize, usize> =
            BTreeMap::from([(net.nodes[cur].shape.channels(), cur)]);
        for st in &info.stages {
            let mut next = BTreeMap::new();
            for (_, &from) in entries.iter() {
                for &cout in &st.outs {
                    let mut x = from;
                    for (l, layer) in st.layers.iter().enumerate() {
                        let mut first = None;
                        for j in 0..st.cands.len() {
                            let choice = layer.cand_dec.map(|d| (d, j));
                            let end = Self::push_layer(&mut net, st, l, j, x, cout, &[], choice)?;
                            first.get_or_insert(end);
                        }
                        x = first.unwrap_or(x);
                    }
                    next.insert(cout, x);
                }
            }
            entries = next;
        }
        for (_, &from) in entries.iter() {
            let cin = net.nodes[from].shape.channels();
            cur = Self::stem_head(
                &mut net,
                &spec.head,
                &Self::head_prefix(info, cin),
                spec.classes,
                from,
            )?;
        }
        // Keep each weight path once (layers > 0 repeat per entry channel); each instance gets its
        // own input node so the list stays a valid network.
        let mut flat = Net { nodes: vec![] };
        for n in &net.nodes {
            if let NetKind::Op(_) = n.kind {
                if !seen.insert(n.path.clone()) {
                    continue;
                }
                let input = net.nodes[n.inputs[0]].shape;
                flat.nodes.push(NetNode {
                    path: format!("{}#in", n.path),
                    kind: NetKind::Input,
                    inputs: vec![],
                    shape: input,
                    choice: None,
                });
                let mut m = n.clone();
                m.inputs = vec![flat.nodes.len() - 1];
                flat.nodes.push(m);
            }
        }
        let _ = cur;
        Ok(flat)
    }

    /// The exact number of distinct architectures (decisions a choice makes irrelevant are not counted).
    pub fn cardinality(&self) -> BigUint {
        match (&self.spec, &self.lowered) {
            (SpaceSpec::Chain(_), Lowered::Chain(info)) => {
                let mut total = BigUint::from(info.res.len());
                for st in &info.stages {
                    // Options of one layer: candidates times their elastic combinations.
                    let layer = &st.layers[0];
                    let mut m = BigUint::from(0u32);
                    for j in 0..st.cands.len() {
                        let mut p = BigUint::from(1u32);
                        for e in layer.elastic.iter().filter(|e| e.cand == j) {
                            p *= e.values.len();
                        }
                        m += p;
                    }
                    let mut stage = BigUint::from(0u32);
                    for &d in &st.depths {
                        stage += m.pow(d as u32);
                    }
                    total *= stage * st.outs.len();
                }
                total
            }
            (SpaceSpec::Cell(_), _) => {
                let mut total = BigUint::from(1u32);
                for d in &self.decisions {
                    total *= d.labels.len();
                }
                total
            }
            _ => BigUint::from(0u32),
        }
    }

    /// For cost: the chain's pieces (stem/head calls, stages), in a form the DP can walk.
    pub fn chain_walk(&self) -> Option<ChainWalk<'_>> {
        let (spec, info) = self.chain()?;
        Some(ChainWalk {
            space: self,
            spec,
            info,
        })
    }
}

/// Read access to a chain space's structure for dynamic programming over it (cost min/max).
pub struct ChainWalk<'a> {
    space: &'a SearchSpace,
    pub spec: &'a ChainSpec,
    info: &'a ChainInfo,
}

impl ChainWalk<'_> {
    /// Input shapes, one per resolution option.
    pub fn inputs(&self) -> Vec<Shape> {
        if self.spec.resolutions.is_empty() {
            vec![Shape::Map {
                c: self.spec.input[0],
                h: self.spec.input[1],
                w: self.spec.input[2],
            }]
        } else {
            self.info
                .res
                .iter()
                .map(|r| Shape::Map {
                    c: self.spec.input[0],
                    h: *r,
                    w: *r,
                })
                .collect()
        }
    }
    pub fn stages(&self) -> usize {
        self.info.stages.len()
    }
    pub fn outs(&self, s: usize) -> &[usize] {
        &self.info.stages[s].outs
    }
    pub fn depths(&self, s: usize) -> &[usize] {
        &self.info.stages[s].depths
    }
    /// The stem as a network on `input`.
    pub fn stem(&self, input: Shape) -> Result<Net, IrError> {
        let mut net = Net::new(input);
        SearchSpace::stem_head(&mut net, &self.spec.stem, "stem", self.spec.classes, 0)?;
        Ok(net)
    }
    /// The head as a network on `input`.
    pub fn head(&self, input: Shape) -> Result<Net, IrError> {
        let mut net = Net::new(input);
        let prefix = SearchSpace::head_prefix(self.info, input.channels());
        SearchSpace::stem_head(&mut net, &self.spec.head, &prefix, self.spec.classes, 0)?;
        Ok(net)
    }
    /// Every option of layer `l` of stage `s` (candidate x elastic values) as a network on `input`.
    pub fn layer_options(
        &self,
        s: usize,
        l: usize,
        input: Shape,
        cout: usize,
    ) -> Result<Vec<Net>, IrError> {
        let st = &self.info.stages[s];
        let layer = &st.layers[l];
        let mut out = vec![];
        for j in 0..st.cands.len() {
            let es: Vec<&ElasticDec> = layer.elastic.iter().filter(|e| e.cand == j).collect();
            let lists: Vec<Vec<i64>> = es.iter().map(|e| e.values.clone()).collect();
            for combo in combos(&lists) {
                let vals: Vec<(usize, usize, String, i64)> = es
                    .iter()
                    .zip(combo)
                    .map(|(e, v)| (e.cand, e.op, e.arg.clone(), v))
                    .collect();
                let mut net = Net::new(input);
                SearchSpace::push_layer(&mut net, st, l, j, 0, cout, &vals, None)?;
                out.push(net);
            }
        }
        let _ = self.space;
        Ok(out)
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
