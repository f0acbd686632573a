//! Tests of the IR: lowering, decisions, architectures, invariants, cardinality against brute force.

use super::examples::*;
use super::graph::SearchSpace;
use super::*;
use crate::catalog::OpKind;
use std::collections::BTreeSet;

/// Every full assignment of option indices, canonicalised to the decisions the network uses.
pub(crate) fn brute_force(space: &SearchSpace) -> Vec<(Vec<Option<usize>>, Net)> {
    let counts: Vec<usize> = space.decisions.iter().map(|d| d.labels.len()).collect();
    let mut idx = vec![0usize; counts.len()];
    let mut seen = BTreeSet::new();
    let mut out = vec![];
    loop {
        let choices: Vec<Option<usize>> = idx.iter().map(|i| Some(*i)).collect();
        let (net, used) = space.net_from_choices(&choices).expect("valid arch");
        let canon: Vec<Option<usize>> = idx
            .iter()
            .zip(&used)
            .map(|(i, u)| u.then_some(*i))
            .collect();
        if seen.insert(canon.clone()) {
            out.push((canon, net));
        }
        let mut k = 0;
        loop {
            if k == idx.len() {
                return out;
            }
            idx[k] += 1;
            if idx[k] < counts[k] {
                break;
            }
            idx[k] = 0;
            k += 1;
        }
    }
}

#[test]
fn cardinality_matches_brute_force_on_small_spaces() {
    for spec in [small_chain(), elastic_chain(), small_cells()] {
        let space = SearchSpace::new(spec).unwrap();
        let n = brute_force(&space).len();
        assert_eq!(space.cardinality().to_string(), n.to_string());
        assert!(n > 10);
    }
}

#[test]
fn darts_space_has_28_edge_decisions_of_8_ops() {
    let space = SearchSpace::new(darts_search()).unwrap();
    assert_eq!(space.decisions.len(), 28);
    assert!(space.decisions.iter().all(|d| d.labels.len() == 8));
    let expected = num_bigint::BigUint::from(8u32).pow(28);
    assert_eq!(space.cardinality(), expected);
    assert!(space.cardinality().to_string().len() > 20);
    assert!(space.decision_index("normal.node3.edge4").is_some());
    assert!(space.decision_index("reduce.node0.edge1").is_some());
}

#[test]
fn chain_decisions_have_stable_names() {
    let space = SearchSpace::new(small_chain()).unwrap();
    let names: Vec<&str> = space.decisions.iter().map(|d| d.path.as_str()).collect();
    assert_eq!(
        names,
        [
            "stage0.out",
            "stage0.depth",
            "stage0.layer0",
            "stage0.layer1",
            "stage1.depth",
            "stage1.layer0",
            "stage1.layer1"
        ]
    );
    let e = SearchSpace::new(elastic_chain()).unwrap();
    assert!(e.decision_index("stage1.layer1.kernel").is_some());
    assert!(e.decision_index("resolution").is_some());
}

#[test]
fn arch_round_trips_through_yaml_and_json() {
    let space = SearchSpace::new(small_chain()).unwrap();
    let idx = vec![1, 1, 2, 0, 1, 3, 1];
    let arch = Arch::from_indices(&space, &idx).unwrap();
    let y = Arch::from_yaml(&arch.to_yaml()).unwrap();
    let j = Arch::from_json(&arch.to_json()).unwrap();
    assert_eq!(space.net(&y).unwrap(), space.net(&arch).unwrap());
    assert_eq!(space.net(&j).unwrap(), space.net(&arch).unwrap());
    assert!(
        arch.to_yaml().contains("stage0.layer0: skip"),
        "{}",
        arch.to_yaml()
    );
    // Indices work too.
    let by_index = Arch::from_yaml("stage0.out: 1\nstage0.depth: 1\nstage0.layer0: 2\nstage0.layer1: 0\nstage1.depth: 1\nstage1.layer0: 3\nstage1.layer1: 1\n").unwrap();
    assert_eq!(space.net(&by_index).unwrap(), space.net(&arch).unwrap());
}

#[test]
fn bad_archs_are_errors_not_panics() {
    let space = SearchSpace::new(small_chain()).unwrap();
    let unknown = Arch::from_yaml("stage9.layer0: 0").unwrap();
    assert_eq!(
        space.net(&unknown).unwrap_err().code_str(),
        "nasl::ir::arch_unknown"
    );
    let range = Arch::from_yaml("stage0.out: 7").unwrap();
    assert_eq!(
        space.net(&range).unwrap_err().code_str(),
        "nasl::ir::arch_range"
    );
    let label = Arch::from_yaml("stage0.out: '13'").unwrap();
    assert_eq!(
        space.net(&label).unwrap_err().code_str(),
        "nasl::ir::arch_range"
    );
    let missing = Arch::from_yaml("stage0.out: 0").unwrap();
    assert_eq!(
        space.net(&missing).unwrap_err().code_str(),
        "nasl::ir::arch_missing"
    );
    assert_eq!(
        Arch::from_yaml("[1, 2]").unwrap_err().code_str(),
        "nasl::ir::arch_format"
    );
}

#[test]
fn depth_makes_later_layers_optional() {
    let space = SearchSpace::new(small_chain()).unwrap();
    // depth 1 in both stages: layer1 decisions may be left out.
    let arch = Arch::from_yaml("stage0.out: '12'\nstage0.depth: '1'\nstage0.layer0: 0\nstage1.depth: '1'\nstage1.layer0: 1\n").unwrap();
    let net = space.net(&arch).unwrap();
    assert!(
        net.nodes
            .iter()
            .any(|n| n.path == "stage0.layer0.cand0.c8_12.0")
    );
    assert!(
        !net.nodes
            .iter()
            .any(|n| n.path.starts_with("stage0.layer1"))
    );
    assert_eq!(net.nodes.last().unwrap().shape, Shape::Vec { n: 10 });
}

#[test]
fn mobilenet_v2_lowers_with_no_decisions() {
    let space = SearchSpace::new(mobilenet_v2()).unwrap();
    assert!(space.decisions.is_empty());
    assert_eq!(space.cardinality().to_string(), "1");
    let net = space.net(&Arch::default()).unwrap();
    let ops = net.ops().count();
    assert_eq!(ops, 3 + 17 + 6);
    let last_map = net
        .nodes
        .iter()
        .rev()
        .find(|n| matches!(n.shape, Shape::Map { .. }))
        .unwrap();
    assert_eq!(
        last_map.shape,
        Shape::Map {
            c: 1280,
            h: 7,
            w: 7
        }
    );
}

#[test]
fn shape_violations_are_errors() {
    // Too many stride-2 layers for a 2x2 input with factorized-reduce skips.
    let SpaceSpec::Chain(mut c) = small_chain() else {
        unreachable!()
    };
    c.input = [3, 3, 3];
    let err = SearchSpace::new(SpaceSpec::Chain(c.clone()))
        .err()
        .expect("odd size must fail");
    assert_eq!(err.code_str(), "nasl::ir::shape");
    // Candidates disagreeing on channels.
    c.input = [3, 16, 16];
    c.stages[1].layer = LayerSpec::Choose(vec![
        vec![OpCall::new(OpKind::Conv).arg("out", 16)],
        vec![OpCall::new(OpKind::Conv).arg("out", 20)],
    ]);
    let err = SearchSpace::new(SpaceSpec::Chain(c.clone()))
        .err()
        .expect("must fail");
    assert_eq!(err.code_str(), "nasl::ir::shape");
    assert!(err.to_string().contains("stage1.layer0"), "{err}");
    // Head without a linear to classes.
    c = match small_chain() {
        SpaceSpec::Chain(c) => c,
        _ => unreachable!(),
    };
    c.head.pop();
    assert_eq!(
        SearchSpace::new(SpaceSpec::Chain(c))
            .err()
            .unwrap()
            .code_str(),
        "nasl::ir::shape"
    );
}

#[test]
fn bad_specs_are_errors() {
    let SpaceSpec::Chain(mut c) = small_chain() else {
        unreachable!()
    };
    c.stages[0].layer = LayerSpec::Fixed(vec![OpCall::new(OpKind::MbConv).arg("kernal", 3)]);
    assert_eq!(
        SearchSpace::new(SpaceSpec::Chain(c.clone()))
            .err()
            .unwrap()
            .code_str(),
        "nasl::ir::spec"
    );
    c.stages[0].layer = LayerSpec::Fixed(vec![OpCall::new(OpKind::Conv).arg("kernel", vec![3, 5])]);
    assert_eq!(
        SearchSpace::new(SpaceSpec::Chain(c.clone()))
            .err()
            .unwrap()
            .code_str(),
        "nasl::ir::spec"
    );
    c.stages[0].repeat = OneOrMany::Many(vec![]);
    assert_eq!(
        SearchSpace::new(SpaceSpec::Chain(c))
            .err()
            .unwrap()
            .code_str(),
        "nasl::ir::spec"
    );
}

#[test]
fn genotype_edge_from_a_later_node_is_a_cycle() {
    let SpaceSpec::Cell(mut c) = darts_v2() else {
        unreachable!()
    };
    if let Some(g) = c.normal.as_mut() {
        g.nodes[1][0].from = 3; // node 1 (index 3) reading itself
    }
    let err = SearchSpace::new(SpaceSpec::Cell(c)).err().unwrap();
    assert_eq!(err.code_str(), "nasl::ir::cycle");
}

#[test]
fn spec_yaml_round_trip() {
    for spec in [small_chain(), elastic_chain(), darts_v2(), small_cells()] {
        let y = spec.to_yaml();
        let back = SpaceSpec::from_yaml(&y).unwrap();
        assert_eq!(back, spec, "{y}");
    }
    let text = "kind: chain\ninput: [3, 32, 32]\nclasses: 10\nstem: [{kind: conv, args: {out: 16}}, {kind: batch_norm}]\nstages:\n  - out: [16, 24]\n    stride: 2\n    repeat: [1, 2]\n    layer: {choose: [[{kind: mbconv, args: {kernel: 3, expand: 6}}], [{kind: skip}]]}\nhead: [{kind: global_avg_pool}, {kind: linear}]\n";
    let space = SearchSpace::new(SpaceSpec::from_yaml(text).unwrap()).unwrap();
    assert_eq!(space.cardinality().to_string(), ((2 + 4) * 2).to_string());
}

#[test]
fn dot_export_names_nodes_and_decisions() {
    let space = SearchSpace::new(small_chain()).unwrap();
    let d = dot::dot(&space, None).unwrap();
    assert!(d.starts_with("digraph space"));
    assert!(d.contains("stage0.layer1 (choose)"));
    assert!(d.contains("depth=1"));
    let arch = Arch::from_indices(&space, &[0, 0, 0, 0, 0, 0, 0]).unwrap();
    let a = dot::dot(&space, Some(&arch)).unwrap();
    assert!(a.contains("stage1.layer0.cand0.c8_16.0"));
    let cells = SearchSpace::new(small_cells()).unwrap();
    assert!(
        dot::dot(&cells, None)
            .unwrap()
            .contains("cell2.node0.edge1")
    );
}
