//! Deriving discrete architectures from learned architecture distributions (one probability vector
//! per decision, e.g. the softmax of DARTS' alphas): argmax per decision (chains; cells where an edge
//! whose argmax is `none` is dropped, SNAS), DARTS' top-k incoming edges per node with the strongest
//! non-`none` op, and sampling architectures from the distribution (FBNet).

use rand::RngExt;

use super::{ConfigError, Genome};
use crate::ir::SearchSpace;

/// The index of the largest value (the first on ties; NaN never wins).
fn arg_best(values: impl Iterator<Item = (usize, f64)>) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for (i, v) in values {
        if v.is_nan() {
            continue;
        }
        if best.is_none_or(|(_, b)| v > b) {
            best = Some((i, v));
        }
    }
    best.map(|(i, _)| i)
}

fn check_shapes(space: &SearchSpace, probs: &[Vec<f64>]) -> Result<(), ConfigError> {
    if probs.len() != space.decisions.len() {
        return Err(ConfigError::Invalid(format!(
            "{} probability vectors for {} decisions",
            probs.len(),
            space.decisions.len()
        )));
    }
    for (d, (p, dec)) in probs.iter().zip(&space.decisions).enumerate() {
        if p.len() != dec.labels.len() {
            return Err(ConfigError::Invalid(format!(
                "decision {d} (`{}`) has {} options but {} probabilities",
                dec.path,
                dec.labels.len(),
                p.len()
            )));
        }
    }
    Ok(())
}

/// The most probable option of every decision. In a cell space an edge whose most probable op is
/// `none` is thereby dropped (SNAS' derivation).
pub fn argmax(space: &SearchSpace, probs: &[Vec<f64>]) -> Result<Genome, ConfigError> {
    check_shapes(space, probs)?;
    Ok(probs
        .iter()
        .map(|p| arg_best(p.iter().copied().enumerate()).unwrap_or(0))
        .collect())
}

/// DARTS' derivation: for every intermediate node of every searched cell, the `k` incoming edges
/// whose strongest non-`none` op is most probable are kept, each with that op; the other edges get
/// `none`. Needs a cell space whose ops include `none`.
pub fn top_k_edges(
    space: &SearchSpace,
    probs: &[Vec<f64>],
    k: usize,
) -> Result<Genome, ConfigError> {
    check_shapes(space, probs)?;
    let edges = space.cell_edges();
    if edges.is_empty() {
        return Err(ConfigError::Invalid(
            "top_k_edges derives cell architectures; this space has no searchable cell edges (use `derive argmax`)".into(),
        ));
    }
    let mut genome = argmax(space, probs)?;
    let none_of = |d: usize| space.decisions[d].labels.iter().position(|l| l == "none");
    // Per (cell, node): its edges as (decision, best non-none op, that op's probability).
    type Edges = Vec<(usize, usize, f64)>;
    let mut groups: Vec<((&str, usize), Edges)> = Vec::new();
    for e in &edges {
        let Some(none) = none_of(e.decision) else {
            return Err(ConfigError::Invalid(format!(
                "top_k_edges drops edges by choosing `none`, but edge `{}` has no `none` op (add `none` to the cell's ops, or use `derive argmax`)",
                space.decisions[e.decision].path
            )));
        };
        let p = &probs[e.decision];
        let best = arg_best(p.iter().copied().enumerate().filter(|(i, _)| *i != none));
        let (op, strength) = match best {
            Some(i) => (i, p[i]),
            None => (none, f64::NEG_INFINITY),
        };
        let key = (e.cell, e.node);
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push((e.decision, op, strength)),
            None => groups.push((key, vec![(e.decision, op, strength)])),
        }
        genome[e.decision] = none;
    }
    for (_, mut list) in groups {
        // Stable sort: equal strengths keep the earlier source node.
        list.sort_by(|a, b| b.2.total_cmp(&a.2));
        for &(d, op, _) in list.iter().take(k) {
            genome[d] = op;
        }
    }
    Ok(genome)
}

/// Draws `n` architectures from the distribution (each decision independently), distinct, in the
/// order first drawn; gives up after `50 * n` draws when the distribution has fewer distinct ones.
pub fn sample(
    space: &SearchSpace,
    probs: &[Vec<f64>],
    n: usize,
    rng: &mut impl RngExt,
) -> Result<Vec<Genome>, ConfigError> {
    check_shapes(space, probs)?;
    let mut out: Vec<Genome> = Vec::new();
    for _ in 0..50 * n.max(1) {
        if out.len() >= n {
            break;
        }
        let g: Genome = probs
            .iter()
            .map(|p| {
                let total: f64 = p.iter().filter(|v| v.is_finite() && **v > 0.0).sum();
                let mut u = rng.random::<f64>() * total;
                for (i, &v) in p.iter().enumerate() {
                    if !(v.is_finite() && v > 0.0) {
                        continue;
                    }
                    if u < v {
                        return i;
                    }
                    u -= v;
                }
                arg_best(p.iter().copied().enumerate()).unwrap_or(0)
            })
            .collect();
        if !out.contains(&g) {
            out.push(g);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::examples;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn uniform(space: &SearchSpace) -> Vec<Vec<f64>> {
        space
            .decisions
            .iter()
            .map(|d| vec![1.0 / d.labels.len() as f64; d.labels.len()])
            .collect()
    }

    #[test]
    fn argmax_takes_the_largest_and_the_first_on_ties() {
        let space = SearchSpace::new(examples::small_chain()).unwrap();
        let mut probs = uniform(&space);
        probs[0] = vec![0.1; probs[0].len()];
        let last = probs[0].len() - 1;
        probs[0][last] = 0.9;
        let g = argmax(&space, &probs).unwrap();
        assert_eq!(g[0], last);
        assert!(
            g[1..].iter().all(|&o| o == 0),
            "ties go to the first option"
        );
    }

    #[test]
    fn argmax_of_a_cell_drops_edges_whose_best_op_is_none() {
        let space = SearchSpace::new(examples::darts_search()).unwrap();
        let none = space.decisions[0]
            .labels
            .iter()
            .position(|l| l == "none")
            .unwrap();
        let mut probs = uniform(&space);
        probs[3] = vec![0.0; probs[3].len()];
        probs[3][none] = 1.0;
        let g = argmax(&space, &probs).unwrap();
        assert_eq!(g[3], none);
    }

    #[test]
    fn top_k_edges_keeps_the_two_strongest_non_none_edges_per_node() {
        let space = SearchSpace::new(examples::darts_search()).unwrap();
        let edges = space.cell_edges();
        // DARTS: 4 nodes with 2, 3, 4, 5 incoming edges, in normal and reduce cells.
        assert_eq!(edges.len(), 28);
        let labels = &space.decisions[0].labels;
        let none = labels.iter().position(|l| l == "none").unwrap();
        let sep3 = labels
            .iter()
            .position(|l| l.starts_with("sep_conv"))
            .unwrap();
        let skip = labels.iter().position(|l| l == "skip").unwrap();
        let mut probs = uniform(&space);
        // Node 3 of the normal cell (edges from nodes 0..5): `none` dominates every edge, which must
        // not count; edge from 4 favours sep_conv (0.3), from 1 skip (0.25), the rest are flat.
        let node3: Vec<_> = edges
            .iter()
            .filter(|e| e.cell == "normal" && e.node == 3)
            .collect();
        assert_eq!(node3.len(), 5);
        for e in &node3 {
            let p = &mut probs[e.decision];
            let n = p.len();
            p.iter_mut().for_each(|v| *v = 0.05 / (n - 1) as f64);
            p[none] = 0.9;
        }
        let by_from = |f: usize| node3.iter().find(|e| e.from == f).unwrap().decision;
        probs[by_from(4)][sep3] = 0.3;
        probs[by_from(1)][skip] = 0.25;
        let g = top_k_edges(&space, &probs, 2).unwrap();
        for e in &node3 {
            let want = match e.from {
                4 => sep3,
                1 => skip,
                _ => none,
            };
            assert_eq!(g[e.decision], want, "edge from {}", e.from);
        }
        // Every node keeps exactly k = 2 edges (node 0 has only 2), none of them `none`.
        for cell in ["normal", "reduce"] {
            for node in 0..4 {
                let kept = edges
                    .iter()
                    .filter(|e| e.cell == cell && e.node == node && g[e.decision] != none)
                    .count();
                assert_eq!(kept, 2, "{cell} node {node}");
            }
        }
        // k larger than a node's in-degree keeps all its edges.
        let all = top_k_edges(&space, &probs, 9).unwrap();
        assert!(all.iter().all(|&o| o != none));
    }

    #[test]
    fn top_k_edges_needs_a_cell_with_none() {
        let chain = SearchSpace::new(examples::small_chain()).unwrap();
        let e = top_k_edges(&chain, &uniform(&chain), 2).unwrap_err();
        assert!(e.to_string().contains("argmax"), "{e}");
    }

    #[test]
    fn sampling_follows_the_distribution_and_is_distinct() {
        let space = SearchSpace::new(examples::small_chain()).unwrap();
        let mut probs = uniform(&space);
        for p in probs.iter_mut() {
            p.iter_mut().for_each(|v| *v = 0.0);
            p[1] = 1.0;
        }
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let one = sample(&space, &probs, 5, &mut rng).unwrap();
        assert_eq!(one.len(), 1, "a point mass has one architecture");
        assert!(one[0].iter().all(|&o| o == 1));
        let flat = uniform(&space);
        let many = sample(&space, &flat, 6, &mut rng).unwrap();
        assert_eq!(many.len(), 6);
        for (i, a) in many.iter().enumerate() {
            assert!(!many[i + 1..].contains(a));
        }
    }

    #[test]
    fn wrong_table_shapes_are_errors() {
        let space = SearchSpace::new(examples::small_chain()).unwrap();
        assert!(argmax(&space, &[vec![1.0]]).is_err());
    }
}
