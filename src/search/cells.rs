//! How supernet training draws the edges of a cell space (`sample_over`): independently per edge
//! (SPOS), only architectures without dead nodes (`live`), or uniformly over isomorphism classes
//! (`classes`, the de-isomorphic sampling of Ning et al., NeurIPS 2021), and the extremes of a space
//! for the sandwich rule (BigNAS).
//!
//! A cell is a DAG: its inputs (1 or 2), then intermediate nodes, each summing one op per earlier
//! node. An edge whose op is `none` (or `zero`) carries nothing. A node is *useful* when it receives
//! a non-`none` edge from an input or a useful node and its value reaches the cell's output (two-input
//! cells concatenate every intermediate node; one-input cells output the last). Two cells are
//! *isomorphic* when their useful edges, with ops, are the same labelled graph up to a relabelling of
//! the intermediate nodes: they compute the same function family up to the order of the output's
//! channels (and a constant where a normalised op reads a dead node). A cell without a useful output
//! node is *dead*: its output does not depend on its input.

use std::collections::HashMap;

use rand::Rng;

use super::Genome;
use super::sample::gene;
use crate::ir::SearchSpace;

/// At most this many edge assignments per cell type are enumerated for `sample_over classes`.
pub const MAX_CLASS_ENUMERATION: usize = 1 << 22;

/// Tries of `sample_over live` before it gives up on a cell type.
const LIVE_TRIES: usize = 10_000;

/// What `sample_over` draws uniformly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Over {
    /// Every edge's op independently (SPOS, RandomNAS).
    Edges,
    /// Every edge independently, redrawn while a node of the cell is not useful.
    Live,
    /// An isomorphism class of non-dead cells, then one of its members.
    Classes,
}

impl Over {
    pub fn name(self) -> &'static str {
        match self {
            Over::Edges => "edges",
            Over::Live => "live",
            Over::Classes => "classes",
        }
    }

    pub fn parse(s: &str) -> Option<Over> {
        match s {
            "edges" => Some(Over::Edges),
            "live" => Some(Over::Live),
            "classes" => Some(Over::Classes),
            _ => None,
        }
    }
}

/// The shape of one searched cell type: its edges in decision order as (node, from) (node 0-based
/// among the intermediate nodes, `from` counting the cell inputs first), and which option is `none`.
#[derive(Debug, Clone, PartialEq)]
pub struct CellShape {
    pub inputs: usize,
    pub nodes: usize,
    pub ops: usize,
    pub none: Option<usize>,
    pub edges: Vec<(usize, usize)>,
}

impl CellShape {
    /// Whether the cell's output is the concatenation of its intermediate nodes (two-input cells) or
    /// its last node (one-input cells, NAS-Bench-201).
    fn concat(&self) -> bool {
        self.inputs != 1
    }

    /// Per intermediate node, whether it is useful under `ops` (one op per edge).
    pub fn useful(&self, ops: &[usize]) -> Vec<bool> {
        let carries = |e: usize| Some(ops[e]) != self.none;
        let mut fwd = vec![false; self.nodes];
        for n in 0..self.nodes {
            fwd[n] = self.edges.iter().enumerate().any(|(e, &(to, from))| {
                to == n && carries(e) && (from < self.inputs || fwd[from - self.inputs])
            });
        }
        let mut back = vec![false; self.nodes];
        for n in (0..self.nodes).rev() {
            let output = self.concat() || n + 1 == self.nodes;
            back[n] = output
                || self.edges.iter().enumerate().any(|(e, &(to, from))| {
                    from == n + self.inputs && carries(e) && back[to] && fwd[to]
                });
        }
        fwd.iter().zip(&back).map(|(f, b)| *f && *b).collect()
    }

    /// Whether the cell's output depends on its input.
    pub fn alive(&self, ops: &[usize]) -> bool {
        self.useful(ops).iter().any(|&u| u)
    }

    /// The canonical code of the cell's isomorphism class: its useful edges as (from, to, op) under
    /// the relabelling of intermediate nodes that gives the smallest sorted list.
    pub fn canonical(&self, ops: &[usize]) -> Vec<u8> {
        let useful = self.useful(ops);
        let kept: Vec<(usize, usize, usize)> = self
            .edges
            .iter()
            .enumerate()
            .filter(|&(e, &(to, from))| {
                Some(ops[e]) != self.none
                    && useful[to]
                    && (from < self.inputs || useful[from - self.inputs])
            })
            .map(|(e, &(to, from))| (from, to + self.inputs, ops[e]))
            .collect();
        let mut best: Option<Vec<u8>> = None;
        let mut perm: Vec<usize> = (0..self.nodes).collect();
        loop {
            let relabel = |v: usize| {
                if v < self.inputs {
                    v
                } else {
                    perm[v - self.inputs] + self.inputs
                }
            };
            let mut code: Vec<[u8; 3]> = kept
                .iter()
                .map(|&(f, t, o)| [relabel(f) as u8, relabel(t) as u8, o as u8])
                .collect();
            code.sort_unstable();
            let flat: Vec<u8> = code.concat();
            if best.as_ref().is_none_or(|b| flat < *b) {
                best = Some(flat);
            }
            if !next_permutation(&mut perm) {
                break;
            }
        }
        best.unwrap_or_default()
    }

    /// Number of edge assignments of the cell, `None` past `usize`.
    pub fn assignments(&self) -> Option<usize> {
        self.edges
            .iter()
            .try_fold(1usize, |acc, _| acc.checked_mul(self.ops.max(1)))
    }
}

/// The next lexicographic permutation in place; false (and unchanged) after the last.
fn next_permutation(p: &mut [usize]) -> bool {
    let n = p.len();
    if n < 2 {
        return false;
    }
    let mut i = n - 1;
    while i > 0 && p[i - 1] >= p[i] {
        i -= 1;
    }
    if i == 0 {
        return false;
    }
    let mut j = n - 1;
    while p[j] <= p[i - 1] {
        j -= 1;
    }
    p.swap(i - 1, j);
    p[i..].reverse();
    true
}

/// The isomorphism classes of a cell type's non-dead assignments that agree with fixed edges: per
/// class its members (assignments as mixed-radix indices), grouped in the order first met.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassTable {
    offsets: Vec<usize>,
    members: Vec<u32>,
}

impl ClassTable {
    /// Enumerates every assignment of `shape` whose edge `e` is `fixed[e]` where given; `None` past
    /// [`MAX_CLASS_ENUMERATION`] assignments.
    pub fn build(shape: &CellShape, fixed: &[Option<usize>]) -> Option<ClassTable> {
        let total = shape.assignments()?;
        if total > MAX_CLASS_ENUMERATION {
            return None;
        }
        let mut ids: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut lists: Vec<Vec<u32>> = Vec::new();
        let mut ops = vec![0usize; shape.edges.len()];
        for index in 0..total {
            decode(index, shape.ops, &mut ops);
            if fixed
                .iter()
                .zip(&ops)
                .any(|(f, &o)| f.is_some_and(|f| f != o))
                || !shape.alive(&ops)
            {
                continue;
            }
            let next = lists.len();
            let id = *ids.entry(shape.canonical(&ops)).or_insert(next);
            if id == next {
                lists.push(Vec::new());
            }
            lists[id].push(index as u32);
        }
        let mut offsets = vec![0];
        let mut members = Vec::with_capacity(lists.iter().map(Vec::len).sum());
        for l in lists {
            members.extend(l);
            offsets.push(members.len());
        }
        Some(ClassTable { offsets, members })
    }

    pub fn classes(&self) -> usize {
        self.offsets.len() - 1
    }

    /// The members of class `c` (mixed-radix assignment indices).
    pub fn members(&self, c: usize) -> &[u32] {
        &self.members[self.offsets[c]..self.offsets[c + 1]]
    }

    /// A uniformly random class, then a uniformly random member of it; `None` if there is no class.
    pub fn draw<R: Rng + ?Sized>(&self, rng: &mut R) -> Option<usize> {
        if self.classes() == 0 {
            return None;
        }
        let c = gene(self.classes(), rng);
        let m = self.members(c);
        Some(m[gene(m.len(), rng)] as usize)
    }
}

/// The ops of assignment `index` (edge 0 the least significant digit).
pub fn decode(mut index: usize, ops: usize, out: &mut [usize]) {
    for o in out.iter_mut() {
        *o = index % ops.max(1);
        index /= ops.max(1);
    }
}

/// One searched cell type of a space: its shape, its edges' decisions, and the class table.
#[derive(Debug, Clone)]
struct CellGroup {
    shape: CellShape,
    decisions: Vec<usize>,
    table: Option<ClassTable>,
}

/// The searched cell types of a cell space (empty for other spaces), in decision order.
pub fn cell_shapes(space: &SearchSpace) -> Vec<(CellShape, Vec<usize>)> {
    let inputs = match &space.spec {
        crate::ir::SpaceSpec::Cell(c) => c.inputs,
        _ => return vec![],
    };
    let mut out: Vec<(&str, CellShape, Vec<usize>)> = Vec::new();
    for e in space.cell_edges() {
        let labels = &space.decisions[e.decision].labels;
        let at = match out.iter().position(|(c, ..)| *c == e.cell) {
            Some(i) => i,
            None => {
                let shape = CellShape {
                    inputs,
                    nodes: 0,
                    ops: labels.len(),
                    none: labels.iter().position(|l| is_none(l)),
                    edges: vec![],
                };
                out.push((e.cell, shape, vec![]));
                out.len() - 1
            }
        };
        let (_, shape, decisions) = &mut out[at];
        shape.nodes = shape.nodes.max(e.node + 1);
        shape.edges.push((e.node, e.from));
        decisions.push(e.decision);
    }
    out.into_iter().map(|(_, s, d)| (s, d)).collect()
}

/// Whether an option label is the zero op.
pub fn is_none(label: &str) -> bool {
    matches!(label, "none" | "zero" | "none()" | "zero()")
}

/// A supernet's draws under `sample_over`: uniform per decision outside the cells, each cell type
/// by its rule, the leading decisions fixed to a few-shot part's prefix.
#[derive(Debug, Clone)]
pub struct CellDraw {
    over: Over,
    choices: Vec<usize>,
    prefix: Vec<usize>,
    groups: Vec<CellGroup>,
}

impl CellDraw {
    /// The draws of `space` with the first decisions fixed to `prefix`; an error (a sentence) when a
    /// cell type has too many assignments to enumerate, or none that the rule admits.
    pub fn new(space: &SearchSpace, over: Over, prefix: &[usize]) -> Result<CellDraw, String> {
        let choices: Vec<usize> = space.decisions.iter().map(|d| d.labels.len()).collect();
        let mut groups: Vec<CellGroup> = Vec::new();
        // Built tables by shape and fixed edges: the normal and the reduction cell share one.
        let mut built: Vec<(CellShape, Vec<Option<usize>>, ClassTable)> = Vec::new();
        for (shape, decisions) in cell_shapes(space) {
            let fixed: Vec<Option<usize>> =
                decisions.iter().map(|&d| prefix.get(d).copied()).collect();
            let known = built
                .iter()
                .find(|(s, f, _)| *s == shape && *f == fixed)
                .map(|(.., t)| t.clone());
            let table = match over {
                Over::Classes if known.is_some() => known,
                Over::Classes => {
                    let t = ClassTable::build(&shape, &fixed).ok_or_else(|| {
                        format!(
                            "`sample_over classes` enumerates every cell, but one cell type has {} ops on {} edges (more than {MAX_CLASS_ENUMERATION} assignments)",
                            shape.ops,
                            shape.edges.len()
                        )
                    })?;
                    if t.classes() == 0 {
                        return Err("no cell of the space (with the few-shot part's fixed edges) computes anything".into());
                    }
                    built.push((shape.clone(), fixed.clone(), t.clone()));
                    Some(t)
                }
                _ => None,
            };
            groups.push(CellGroup {
                shape,
                decisions,
                table,
            });
        }
        Ok(CellDraw {
            over,
            choices,
            prefix: prefix.to_vec(),
            groups,
        })
    }

    /// One genome: the prefix, uniform outside the cells, each cell type by the rule. `None` when
    /// `live` found no cell without dead nodes in its tries.
    pub fn draw<R: Rng + ?Sized>(&self, rng: &mut R) -> Option<Genome> {
        let mut g: Genome = self
            .choices
            .iter()
            .enumerate()
            .map(|(d, &n)| match self.prefix.get(d) {
                Some(&p) => p,
                None => gene(n, rng),
            })
            .collect();
        if self.over == Over::Edges {
            return Some(g);
        }
        for group in &self.groups {
            let mut ops: Vec<usize> = group.decisions.iter().map(|&d| g[d]).collect();
            match &group.table {
                Some(t) => decode(t.draw(rng)?, group.shape.ops, &mut ops),
                None => {
                    let mut tries = 0;
                    while !group.shape.useful(&ops).iter().all(|&u| u) {
                        tries += 1;
                        if tries > LIVE_TRIES {
                            return None;
                        }
                        for (o, &d) in ops.iter_mut().zip(&group.decisions) {
                            *o = match self.prefix.get(d) {
                                Some(&p) => p,
                                None => gene(self.choices[d], rng),
                            };
                        }
                    }
                }
            }
            for (&d, &o) in group.decisions.iter().zip(&ops) {
                g[d] = o;
            }
        }
        Some(g)
    }
}

/// The sandwich rule's extremes (BigNAS): the genome of the largest and of the smallest cost,
/// `cost` ordering genomes (compared as a tuple, e.g. MACs then parameters), found decision by
/// decision (two sweeps, so that interacting decisions such as depth and width settle), with the
/// leading decisions fixed to `prefix` and the options `skip(d, o)` refuses left out of the
/// smallest (`none`, which would disconnect a cell).
pub fn extremes<C: PartialOrd + Copy>(
    choices: &[usize],
    prefix: &[usize],
    skip: impl Fn(usize, usize) -> bool,
    cost: impl Fn(&Genome) -> C,
) -> (Genome, Genome) {
    let start = |smallest: bool| -> Genome {
        choices
            .iter()
            .enumerate()
            .map(|(d, &n)| match prefix.get(d) {
                Some(&p) => p,
                None if smallest => (0..n).find(|&o| !skip(d, o)).unwrap_or(0),
                None => 0,
            })
            .collect()
    };
    let sweep = |smallest: bool| -> Genome {
        let mut g = start(smallest);
        for _ in 0..2 {
            for d in prefix.len().min(choices.len())..choices.len() {
                let mut best = (g[d], cost(&g));
                for o in 0..choices[d] {
                    if o == g[d] || (smallest && skip(d, o)) {
                        continue;
                    }
                    let mut h = g.clone();
                    h[d] = o;
                    let c = cost(&h);
                    let better = if smallest { c < best.1 } else { c > best.1 };
                    if better {
                        best = (o, c);
                    }
                }
                g[d] = best.0;
            }
        }
        g
    };
    (sweep(false), sweep(true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// Two inputs, two intermediate nodes (edges 0->n0, 1->n0, 0->n1, 1->n1, n0->n1), 3 ops of which
    /// op 2 is `none`.
    fn small() -> CellShape {
        CellShape {
            inputs: 2,
            nodes: 2,
            ops: 3,
            none: Some(2),
            edges: vec![(0, 0), (0, 1), (1, 0), (1, 1), (1, 2)],
        }
    }

    #[test]
    fn dead_nodes_and_dead_cells() {
        let s = small();
        // Node 0 reads nothing; node 1 reads input 0.
        assert_eq!(s.useful(&[2, 2, 0, 2, 2]), vec![false, true]);
        assert!(s.alive(&[2, 2, 0, 2, 2]));
        // An edge from a dead node does not make its target useful.
        assert_eq!(s.useful(&[2, 2, 2, 2, 0]), vec![false, false]);
        assert!(!s.alive(&[2, 2, 2, 2, 0]));
        // One-input cells output their last node: a node that does not reach it is not useful.
        let nb = CellShape {
            inputs: 1,
            nodes: 2,
            ops: 3,
            none: Some(2),
            edges: vec![(0, 0), (1, 0), (1, 1)],
        };
        assert_eq!(nb.useful(&[0, 1, 2]), vec![false, true]);
        assert_eq!(nb.useful(&[0, 2, 1]), vec![true, true]);
        assert!(!nb.alive(&[0, 2, 2]));
    }

    #[test]
    fn isomorphic_cells_share_a_code() {
        let s = small();
        // Swapping the two nodes (each reads one input, no edge between them) is an isomorphism.
        assert_eq!(s.canonical(&[0, 2, 2, 1, 2]), s.canonical(&[2, 1, 0, 2, 2]));
        // `none` edges and the edges of dead nodes do not count.
        assert_eq!(s.canonical(&[2, 2, 0, 2, 2]), s.canonical(&[2, 2, 0, 2, 1]));
        // Different ops are different classes.
        assert_ne!(s.canonical(&[0, 2, 2, 1, 2]), s.canonical(&[0, 2, 2, 0, 2]));
        // A chain n0 -> n1 is not the same as two parallel nodes.
        assert_ne!(s.canonical(&[0, 2, 2, 2, 0]), s.canonical(&[0, 2, 0, 2, 2]));
    }

    /// Brute-force classes: every assignment's code, by set.
    fn brute(s: &CellShape) -> HashMap<Vec<u8>, usize> {
        let mut out = HashMap::new();
        let mut ops = vec![0; s.edges.len()];
        for i in 0..s.assignments().unwrap() {
            decode(i, s.ops, &mut ops);
            if s.alive(&ops) {
                *out.entry(s.canonical(&ops)).or_insert(0) += 1;
            }
        }
        out
    }

    #[test]
    fn class_draws_are_uniform_over_classes_and_never_dead() {
        let s = small();
        let t = ClassTable::build(&s, &[None; 5]).unwrap();
        let b = brute(&s);
        assert_eq!(t.classes(), b.len());
        // Fewer classes than live assignments: some classes have several members.
        let live: usize = b.values().sum();
        assert!(t.classes() < live && live < 243, "{} {live}", t.classes());
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut per_class: HashMap<Vec<u8>, usize> = HashMap::new();
        let draws = 200 * t.classes();
        let mut ops = vec![0; 5];
        for _ in 0..draws {
            decode(t.draw(&mut rng).unwrap(), s.ops, &mut ops);
            assert!(s.alive(&ops), "a dead cell was drawn: {ops:?}");
            *per_class.entry(s.canonical(&ops)).or_insert(0) += 1;
        }
        assert_eq!(per_class.len(), t.classes());
        // Each class about 200 times (binomial sd ~14): within 5 sd, while per-edge sampling would
        // draw a class in proportion to its size (sizes differ several-fold).
        for (c, n) in &per_class {
            assert!((130..=270).contains(n), "class {c:?} drawn {n} times");
        }
        let biggest = b.values().max().unwrap();
        let smallest = b.values().min().unwrap();
        assert!(biggest >= &(3 * smallest), "{biggest} {smallest}");
    }

    #[test]
    fn fixed_edges_restrict_the_table() {
        let s = small();
        let t = ClassTable::build(&s, &[Some(1), None, None, None, None]).unwrap();
        let mut ops = vec![0; 5];
        for c in 0..t.classes() {
            for &m in t.members(c) {
                decode(m as usize, s.ops, &mut ops);
                assert_eq!(ops[0], 1);
            }
        }
        let big = CellShape {
            ops: 5,
            edges: vec![(0, 0); 14],
            ..small()
        };
        assert!(ClassTable::build(&big, &[None; 14]).is_none());
    }

    #[test]
    fn extremes_take_the_costliest_and_the_cheapest_connected_options() {
        // Three decisions; option costs per decision, option 2 of each is `none` (cost 0).
        let costs = [[5, 1, 0], [3, 4, 0], [2, 2, 0]];
        let cost = |g: &Genome| g.iter().enumerate().map(|(d, &o)| costs[d][o]).sum::<i32>();
        let (large, small) = extremes(&[3, 3, 3], &[], |_, o| o == 2, cost);
        assert_eq!(large, vec![0, 1, 0]);
        assert_eq!(small, vec![1, 0, 0]);
        // A prefix stays fixed.
        let (large, small) = extremes(&[3, 3, 3], &[1], |_, o| o == 2, cost);
        assert_eq!((large[0], small[0]), (1, 1));
    }

    /// A two-node cell space whose ops are `sep_conv(3)`, `avg_pool(3)`, `none`.
    fn space() -> SearchSpace {
        use crate::catalog::OpKind;
        use crate::ir::{OpCall, SpaceSpec};
        let SpaceSpec::Cell(mut c) = crate::ir::examples::small_cells() else {
            unreachable!()
        };
        c.nodes = 2;
        c.candidates = vec![
            OpCall::new(OpKind::SepConv).arg("kernel", 3),
            OpCall::new(OpKind::AvgPool).arg("kernel", 3),
            OpCall::new(OpKind::Zero),
        ];
        SearchSpace::new(SpaceSpec::Cell(c)).unwrap()
    }

    #[test]
    fn space_draws_follow_the_rule_in_every_cell_type() {
        let space = space();
        let shapes = cell_shapes(&space);
        assert_eq!(shapes.len(), 2, "a normal and a reduction cell");
        assert_eq!(shapes[0].0, small());
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let cell_ops = |g: &Genome, d: &[usize]| d.iter().map(|&d| g[d]).collect::<Vec<_>>();
        // `edges`: per-edge uniform draws have dead nodes now and then.
        let edges = CellDraw::new(&space, Over::Edges, &[]).unwrap();
        let dead = (0..500)
            .filter(|_| {
                let g = edges.draw(&mut rng).unwrap();
                shapes
                    .iter()
                    .any(|(s, d)| !s.useful(&cell_ops(&g, d)).iter().all(|&u| u))
            })
            .count();
        assert!(dead > 50, "{dead}");
        // `live`: never; `classes`: never a dead cell; both keep a few-shot prefix.
        for over in [Over::Live, Over::Classes] {
            let draw = CellDraw::new(&space, over, &[1]).unwrap();
            for _ in 0..500 {
                let g = draw.draw(&mut rng).unwrap();
                assert_eq!(g[0], 1);
                for (s, d) in &shapes {
                    let ops = cell_ops(&g, d);
                    assert!(s.alive(&ops), "{over:?} drew a dead cell {ops:?}");
                    if over == Over::Live {
                        assert!(s.useful(&ops).iter().all(|&u| u), "{ops:?}");
                    }
                }
            }
        }
        // The DARTS space (14 edges of 8 ops) is too big to enumerate.
        let darts = SearchSpace::new(crate::ir::examples::darts_search()).unwrap();
        assert!(CellDraw::new(&darts, Over::Classes, &[]).is_err());
        assert!(CellDraw::new(&darts, Over::Live, &[]).is_ok());
    }
}
