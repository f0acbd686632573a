//! Exact cost model: parameters and MACs of every op (one exhaustive `match` over `OpKind`), of an
//! architecture's network, and min/max over a whole space (dynamic programming over chains with the
//! channel count as state; per-edge minimisation for cells) plus the supernet's parameter count.
//!
//! Conventions: MACs count convolutions (k*k*(Cin/groups)*Cout*Hout*Wout) and linear layers (in*out);
//! batch norm, activations, pooling, additions and biases are not counted. Parameters count every
//! learnable tensor, including batch-norm affine weight and bias and conv/linear biases; running
//! statistics are not parameters.

pub mod expected;
pub mod inspect;
pub mod latency;

pub use inspect::{Report, inspect};

use crate::catalog::OpKind;
use crate::ir::graph::{ChainWalk, Net, PickCell, SearchSpace, pick_edge_path, pick_out_path};
use crate::ir::ops::{Op, Shape, SkipImpl, se_channels, skip_impl};
use crate::ir::{Arch, IrError};
use serde::Serialize;
use std::collections::BTreeMap;
use std::ops::{Add, AddAssign};

/// Parameters and multiply-accumulates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Cost {
    pub params: u64,
    pub macs: u64,
}

impl Add for Cost {
    type Output = Cost;
    fn add(self, o: Cost) -> Cost {
        Cost {
            params: self.params + o.params,
            macs: self.macs + o.macs,
        }
    }
}
impl AddAssign for Cost {
    fn add_assign(&mut self, o: Cost) {
        *self = *self + o;
    }
}

fn u(x: usize) -> u64 {
    x as u64
}

/// A k x k convolution `cin -> cout` with `groups`, producing `ho x wo`.
pub fn conv(
    cin: usize,
    cout: usize,
    k: usize,
    groups: usize,
    ho: usize,
    wo: usize,
    bias: bool,
) -> Cost {
    let w = u(k * k * (cin / groups.max(1)) * cout);
    Cost {
        params: w + if bias { u(cout) } else { 0 },
        macs: w * u(ho * wo),
    }
}

/// A batch norm over `c` channels.
pub fn bn(c: usize, affine: bool) -> Cost {
    Cost {
        params: if affine { u(2 * c) } else { 0 },
        macs: 0,
    }
}

fn hw(s: Shape) -> (usize, usize, usize) {
    match s {
        Shape::Map { c, h, w } => (c, h, w),
        Shape::Vec { n } => (n, 1, 1),
    }
}

/// Exact cost of one op from its input and output shapes.
pub fn op_cost(op: &Op, input: Shape, output: Shape) -> Cost {
    let (cin, hi, wi) = hw(input);
    let (cout, ho, wo) = hw(output);
    let a = op.affine;
    match op.kind {
        OpKind::Conv => conv(cin, cout, op.kernel, op.groups, ho, wo, op.bias),
        OpKind::DwConv => conv(cin, cin, op.kernel, cin, ho, wo, false),
        OpKind::SepConv => {
            conv(cin, cin, op.kernel, cin, ho, wo, false)
                + conv(cin, cin, 1, 1, ho, wo, false)
                + bn(cin, a)
                + conv(cin, cin, op.kernel, cin, ho, wo, false)
                + conv(cin, cout, 1, 1, ho, wo, false)
                + bn(cout, a)
        }
        OpKind::DilConv => {
            conv(cin, cin, op.kernel, cin, ho, wo, false)
                + conv(cin, cout, 1, 1, ho, wo, false)
                + bn(cout, a)
        }
        OpKind::ReluConvBn => conv(cin, cout, op.kernel, 1, ho, wo, false) + bn(cout, a),
        OpKind::MbConv => {
            let hidden = op.hidden(cin);
            let mut c = Cost::default();
            if op.expand != 1 {
                c += conv(cin, hidden, 1, op.groups, hi, wi, false) + bn(hidden, true);
            }
            c += conv(hidden, hidden, op.kernel, hidden, ho, wo, false) + bn(hidden, true);
            if op.se {
                let sq = se_channels(hidden);
                c += conv(hidden, sq, 1, 1, 1, 1, true) + conv(sq, hidden, 1, 1, 1, 1, true);
            }
            c + conv(hidden, cout, 1, op.groups, ho, wo, false) + bn(cout, true)
        }
        OpKind::Shuffle | OpKind::ShuffleXception => {
            let k = if op.kind == OpKind::Shuffle {
                op.kernel
            } else {
                3
            };
            let inp = if op.stride == 1 { cin / 2 } else { cin };
            let mid = cout / 2;
            let outputs = cout - inp;
            let mut c = if op.kind == OpKind::Shuffle {
                conv(inp, mid, 1, 1, hi, wi, false)
                    + bn(mid, true)
                    + conv(mid, mid, k, mid, ho, wo, false)
                    + bn(mid, true)
                    + conv(mid, outputs, 1, 1, ho, wo, false)
                    + bn(outputs, true)
            } else {
                conv(inp, inp, 3, inp, ho, wo, false)
                    + bn(inp, true)
                    + conv(inp, mid, 1, 1, ho, wo, false)
                    + bn(mid, true)
                    + conv(mid, mid, 3, mid, ho, wo, false)
                    + bn(mid, true)
                    + conv(mid, mid, 1, 1, ho, wo, false)
                    + bn(mid, true)
                    + conv(mid, mid, 3, mid, ho, wo, false)
                    + bn(mid, true)
                    + conv(mid, outputs, 1, 1, ho, wo, false)
                    + bn(outputs, true)
            };
            if op.stride > 1 {
                c += conv(inp, inp, k, inp, ho, wo, false)
                    + bn(inp, true)
                    + conv(inp, inp, 1, 1, ho, wo, false)
                    + bn(inp, true);
            }
            c
        }
        OpKind::BasicBlock => {
            let mut c = conv(cin, cout, 3, 1, ho, wo, false)
                + bn(cout, a)
                + conv(cout, cout, 3, 1, ho, wo, false)
                + bn(cout, a);
            if op.stride == 2 {
                c += conv(cin, cout, 1, 1, ho, wo, false);
            } else if cin != cout {
                c += conv(cin, cout, 1, 1, ho, wo, false) + bn(cout, a);
            }
            c
        }
        OpKind::Skip => match skip_impl(op, cin) {
            SkipImpl::Identity => Cost::default(),
            SkipImpl::FactorizedReduce => factorized_reduce(cin, cout, ho, wo, a),
            SkipImpl::Project => conv(cin, cout, 1, 1, ho, wo, false) + bn(cout, a),
        },
        OpKind::FactorizedReduce => factorized_reduce(cin, cout, ho, wo, a),
        OpKind::Linear => Cost {
            params: u(cin * cout) + if op.bias { u(cout) } else { 0 },
            macs: u(cin * cout),
        },
        OpKind::BatchNorm => bn(cin, op.affine),
        OpKind::MaxPool
        | OpKind::AvgPool
        | OpKind::Zero
        | OpKind::GlobalAvgPool
        | OpKind::Dropout
        | OpKind::Relu
        | OpKind::Relu6
        | OpKind::HSwish
        | OpKind::Swish
        | OpKind::Sigmoid => Cost::default(),
    }
}

fn factorized_reduce(cin: usize, cout: usize, ho: usize, wo: usize, affine: bool) -> Cost {
    conv(cin, cout / 2, 1, 1, ho, wo, false)
        + conv(cin, cout / 2, 1, 1, ho, wo, false)
        + bn(cout, affine)
}

/// The total cost of a concrete network.
pub fn net_cost(net: &Net) -> Cost {
    net.ops()
        .map(|(n, op, input)| op_cost(op, input, n.shape))
        .sum()
}

impl std::iter::Sum for Cost {
    fn sum<I: Iterator<Item = Cost>>(iter: I) -> Cost {
        iter.fold(Cost::default(), |a, b| a + b)
    }
}

/// Exact params and MACs of an architecture.
pub fn arch_cost(space: &SearchSpace, arch: &Arch) -> Result<Cost, IrError> {
    Ok(net_cost(&space.net(arch)?))
}

/// A closed range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Range {
    pub min: u64,
    pub max: u64,
}

/// Min/max params and MACs over all architectures of a space, and the supernet's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SpaceCost {
    pub params: Range,
    pub macs: Range,
    pub supernet_params: u64,
}

/// [min params, max params, min macs, max macs]
type Bounds = [u64; 4];

fn merge(
    into: &mut BTreeMap<(usize, usize, usize, bool), Bounds>,
    key: (usize, usize, usize, bool),
    b: Bounds,
) {
    let e = into.entry(key).or_insert(b);
    e[0] = e[0].min(b[0]);
    e[1] = e[1].max(b[1]);
    e[2] = e[2].min(b[2]);
    e[3] = e[3].max(b[3]);
}

fn key(s: Shape) -> (usize, usize, usize, bool) {
    match s {
        Shape::Map { c, h, w } => (c, h, w, true),
        Shape::Vec { n } => (n, 0, 0, false),
    }
}
fn unkey(k: (usize, usize, usize, bool)) -> Shape {
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

fn add(b: Bounds, lo: Cost, hi_p: u64, hi_m: u64) -> Bounds {
    [b[0] + lo.params, b[1] + hi_p, b[2] + lo.macs, b[3] + hi_m]
}

fn chain_bounds(walk: &ChainWalk) -> Result<Bounds, IrError> {
    let mut result: Option<Bounds> = None;
    for input in walk.inputs() {
        let stem = walk.stem(input)?;
        let c = net_cost(&stem);
        let mut states = BTreeMap::new();
        merge(
            &mut states,
            key(stem.nodes.last().map(|n| n.shape).unwrap_or(input)),
            [c.params, c.params, c.macs, c.macs],
        );
        for s in 0..walk.stages() {
            let mut next = BTreeMap::new();
            let max_depth = walk.depths(s).iter().copied().max().unwrap_or(1);
            for (&k, &acc) in &states {
                for &cout in walk.outs(s) {
                    let mut shape = unkey(k);
                    let mut acc = acc;
                    for l in 0..max_depth {
                        let opts = walk.layer_options(s, l, shape, cout)?;
                        let costs: Vec<Cost> = opts.iter().map(net_cost).collect();
                        let lo = Cost {
                            params: costs.iter().map(|c| c.params).min().unwrap_or(0),
                            macs: costs.iter().map(|c| c.macs).min().unwrap_or(0),
                        };
                        let hp = costs.iter().map(|c| c.params).max().unwrap_or(0);
                        let hm = costs.iter().map(|c| c.macs).max().unwrap_or(0);
                        acc = add(acc, lo, hp, hm);
                        if let Some(last) = opts.first().and_then(|n| n.nodes.last()) {
                            shape = last.shape;
                        }
                        if walk.depths(s).contains(&(l + 1)) {
                            merge(&mut next, key(shape), acc);
                        }
                    }
                }
            }
            states = next;
        }
        for (&k, &acc) in &states {
            let c = net_cost(&walk.head(unkey(k))?);
            let b = add(acc, c, c.params, c.macs);
            match &mut result {
                None => result = Some(b),
                Some(r) => {
                    r[0] = r[0].min(b[0]);
                    r[1] = r[1].max(b[1]);
                    r[2] = r[2].min(b[2]);
                    r[3] = r[3].max(b[3]);
                }
            }
        }
    }
    result.ok_or_else(|| IrError::Spec {
        path: "space".into(),
        message: "the space has no architecture".into(),
        help: "give every stage at least one option".into(),
    })
}

fn cell_bounds(space: &SearchSpace, all: &Net) -> Bounds {
    let mut base = Cost::default();
    let mut per: BTreeMap<usize, BTreeMap<usize, Cost>> = BTreeMap::new();
    let picks = space.pick_cells();
    let mut by_path: BTreeMap<&str, Cost> = BTreeMap::new();
    for (n, op, input) in all.ops() {
        let c = op_cost(op, input, n.shape);
        if !picks.is_empty() {
            // Input-choice cells: their slots and loose ends are bounded by `pick_bounds`.
            by_path.insert(n.path.as_str(), c);
            continue;
        }
        match n.choice {
            None => base += c,
            Some((d, j)) => *per.entry(d).or_default().entry(j).or_default() += c,
        }
    }
    let mut b = [0; 4];
    for pc in &picks {
        for (k, v) in pick_bounds(pc, &mut by_path).into_iter().enumerate() {
            b[k] += v;
        }
    }
    for c in by_path.values() {
        base += *c;
    }
    b[0] += base.params;
    b[1] += base.params;
    b[2] += base.macs;
    b[3] += base.macs;
    for opts in per.values() {
        b[0] += opts.values().map(|c| c.params).min().unwrap_or(0);
        b[1] += opts.values().map(|c| c.params).max().unwrap_or(0);
        b[2] += opts.values().map(|c| c.macs).min().unwrap_or(0);
        b[3] += opts.values().map(|c| c.macs).max().unwrap_or(0);
    }
    let _ = space;
    b
}

/// The most intermediate nodes an input-choice cell may have for exact bounds (the search keeps a
/// set of read nodes as its state); larger cells get a looser bound.
const PICK_EXACT_NODES: usize = 16;

/// Min/max params and MACs of the input-choice cells of one type (`pc`), summed over the network's
/// cells of that type; takes their ops out of `by_path` (op path -> cost). Exact by dynamic
/// programming over the nodes in order, the state being the set of intermediate nodes read so far
/// (a node's edges cost the same whatever reads it; its projection counts if it stays unread).
fn pick_bounds(pc: &PickCell, by_path: &mut BTreeMap<&str, Cost>) -> Bounds {
    let n_nodes = pc.nodes.len();
    // edge[n][s][f][j]: slot s of node n reading node f with op j, over every cell of the type.
    let mut edge: Vec<Vec<Vec<Vec<Cost>>>> = vec![];
    for (n, (ins, ops)) in pc.nodes.iter().enumerate() {
        let mut slots = vec![];
        for s in 0..ins.len() {
            let mut froms = vec![];
            for f in 0..pc.inputs + n {
                let mut cands = vec![];
                for j in 0.. {
                    let paths: Vec<String> = pc
                        .cells
                        .iter()
                        .map(|&i| pick_edge_path(i, n, s, f, j))
                        .collect();
                    if !paths.is_empty() && !by_path.contains_key(paths[0].as_str()) {
                        break;
                    }
                    let c: Cost = paths
                        .iter()
                        .map(|p| by_path.remove(p.as_str()).unwrap_or_default())
                        .sum();
                    cands.push(c);
                    if paths.is_empty() {
                        break;
                    }
                }
                froms.push(cands);
            }
            slots.push(froms);
        }
        debug_assert_eq!(ins.len(), ops.len());
        edge.push(slots);
    }
    let mut proj = vec![Cost::default(); n_nodes];
    for (m, p) in proj.iter_mut().enumerate() {
        for &i in &pc.cells {
            let prefix = format!("{}.", pick_out_path(i, m));
            let keys: Vec<&str> = by_path
                .keys()
                .copied()
                .filter(|k| k.starts_with(&prefix))
                .collect();
            for k in keys {
                *p += by_path.remove(k).unwrap_or_default();
            }
        }
    }
    let metric = |c: &Cost, macs: bool| if macs { c.macs } else { c.params };
    let mut out = [0u64; 4];
    for (k, (macs, max)) in [(false, false), (false, true), (true, false), (true, true)]
        .into_iter()
        .enumerate()
    {
        let best = |a: u64, b: u64| if max { a.max(b) } else { a.min(b) };
        // slot[n][s][f]: the best op of the slot reading f.
        let slot: Vec<Vec<Vec<u64>>> = edge
            .iter()
            .map(|ss| {
                ss.iter()
                    .map(|fs| {
                        fs.iter()
                            .map(|js| js.iter().map(|c| metric(c, macs)).reduce(best).unwrap_or(0))
                            .collect()
                    })
                    .collect()
            })
            .collect();
        let projs: Vec<u64> = proj.iter().map(|c| metric(c, macs)).collect();
        out[k] = if n_nodes <= PICK_EXACT_NODES {
            pick_dp(pc.inputs, &slot, &projs, best)
        } else {
            // Every slot at its best source, and every projection counted (max) or only the last
            // node's (min): a bound, not the exact extreme.
            let edges: u64 = slot
                .iter()
                .flatten()
                .map(|fs| fs.iter().copied().reduce(best).unwrap_or(0))
                .sum();
            let ends = if max {
                projs.iter().sum()
            } else {
                projs.last().copied().unwrap_or(0)
            };
            edges + ends
        };
    }
    out
}

/// The best (per `best`) total over every choice of sources: `slot[n][s][f]` is slot `s` of node `n`
/// reading node `f` at its best op, `projs[m]` the projection of node `m` if no slot reads it.
fn pick_dp(
    inputs: usize,
    slot: &[Vec<Vec<u64>>],
    projs: &[u64],
    best: impl Fn(u64, u64) -> u64,
) -> u64 {
    // State: the set of intermediate nodes read so far -> the best cost of the nodes so far.
    let mut states: BTreeMap<u32, u64> = BTreeMap::from([(0, 0)]);
    for ss in slot {
        let mut next: BTreeMap<u32, u64> = BTreeMap::new();
        for (&mask, &cost) in &states {
            // Every tuple of sources, one per slot.
            let lists: Vec<Vec<usize>> = ss.iter().map(|fs| (0..fs.len()).collect()).collect();
            for froms in crate::ir::graph::combos(&lists) {
                let mut m = mask;
                let mut c = cost;
                for (s, &f) in froms.iter().enumerate() {
                    c += ss[s][f];
                    if f >= inputs {
                        m |= 1 << (f - inputs);
                    }
                }
                next.entry(m).and_modify(|v| *v = best(*v, c)).or_insert(c);
            }
        }
        states = next;
    }
    states
        .into_iter()
        .map(|(mask, c)| {
            c + projs
                .iter()
                .enumerate()
                .filter(|(m, _)| mask & (1 << m) == 0)
                .map(|(_, p)| *p)
                .sum::<u64>()
        })
        .reduce(best)
        .unwrap_or(0)
}

/// Exact min/max params and MACs over every architecture of `space`, and the supernet's parameters.
pub fn space_cost(space: &SearchSpace) -> Result<SpaceCost, IrError> {
    let all = space.supernet_net()?;
    let b = match space.chain_walk() {
        Some(walk) => chain_bounds(&walk)?,
        None => cell_bounds(space, &all),
    };
    // The weights of every instance, and OFA's kernel transformation matrices of elastic kernels.
    let supernet_params = all
        .ops()
        .map(|(n, op, input)| {
            op_cost(op, input, n.shape).params
                + space
                    .elastic_values(&n.path, "kernel")
                    .map_or(0, |k| crate::ir::graph::kernel_transform_params(&k))
        })
        .sum();
    Ok(SpaceCost {
        params: Range {
            min: b[0],
            max: b[1],
        },
        macs: Range {
            min: b[2],
            max: b[3],
        },
        supernet_params,
    })
}

#[cfg(test)]
mod tests;
