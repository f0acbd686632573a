//! Mixed (multi-path) supernet forwards: one path per decision is exactly `forward_t`, several
//! candidates of a layer or edge are summed with their weights, the weights get gradients, bad mixes
//! are errors, and path-dropout sampling keeps what it promises.
#![cfg(feature = "torch")]

use nasl::catalog::OpKind;
use nasl::compile::{Mix, Supernet, drop_paths};
use nasl::ir::examples::*;
use nasl::ir::{
    Arch, ChainSpec, DecisionKind, LayerSpec, NetKind, OneOrMany, OpCall, SearchSpace, Shape,
    SpaceSpec, StageSpec,
};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::{Mutex, MutexGuard};
use tch::{Device, Kind, Tensor};

/// libtorch's random generator is global and dropout draws from it: the tests take turns so a seeded
/// comparison is not disturbed by another test's draws.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn input(net_input: Shape) -> Tensor {
    let Shape::Map { c, h, w } = net_input else {
        panic!("the input of a network is a feature map")
    };
    Tensor::randn(
        [2, c as i64, h as i64, w as i64],
        (Kind::Float, Device::Cpu),
    )
}

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

/// One searched layer of 4 candidates (3x3 conv, 1x1 conv-bn-relu, identity skip, zero) on a 4-channel input,
/// then a head that is linear (global average pool, linear without bias), so the network's output is
/// linear in the layer's output.
fn linear_head_chain() -> SearchSpace {
    let conv = |k: i64| vec![OpCall::new(OpKind::Conv).arg("kernel", k)];
    SearchSpace::new(SpaceSpec::Chain(ChainSpec {
        input: [4, 6, 6],
        classes: 3,
        resolutions: vec![],
        stem: vec![],
        stages: vec![StageSpec {
            name: Some("s".into()),
            out: OneOrMany::One(4),
            stride: 1,
            repeat: OneOrMany::One(1),
            layer: LayerSpec::Choose(vec![
                conv(3),
                vec![
                    OpCall::new(OpKind::Conv).arg("kernel", 1),
                    OpCall::new(OpKind::BatchNorm),
                    OpCall::new(OpKind::Relu),
                ],
                vec![OpCall::new(OpKind::Skip)],
                vec![OpCall::new(OpKind::Zero)],
            ]),
        }],
        head: vec![
            OpCall::new(OpKind::GlobalAvgPool),
            OpCall::new(OpKind::Linear).arg("bias", false),
        ],
    }))
    .unwrap()
}

fn random_indices(space: &SearchSpace, rng: &mut ChaCha8Rng) -> Vec<usize> {
    space
        .decisions
        .iter()
        .map(|d| rng.random_range(0..d.labels.len()))
        .collect()
}

#[test]
fn one_option_per_decision_is_exactly_forward_t() {
    let _serial = serial();
    tch::manual_seed(0);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for (name, spec) in [
        ("small_chain", small_chain()),
        ("elastic_chain", elastic_chain()),
        ("small_cells", small_cells()),
    ] {
        let space = SearchSpace::new(spec).unwrap();
        let sup = Supernet::new(&space, Device::Cpu).unwrap();
        for _ in 0..6 {
            let idx = random_indices(&space, &mut rng);
            let arch = Arch::from_indices(&space, &idx).unwrap();
            let net = space.net(&arch).unwrap();
            let choices: Vec<Option<usize>> = idx.iter().map(|&i| Some(i)).collect();
            let by_choice = space.net_from_choices(&choices).unwrap();
            for mix in [Mix::single(&idx), Mix::from_arch(&space, &arch).unwrap()] {
                // The same network, node for node.
                let (mixed, used) = space.net_from_mix(&mix.options()).unwrap();
                assert_eq!(mixed, net, "{name}");
                assert_eq!(mixed, by_choice.0, "{name}");
                assert_eq!(used, by_choice.1, "{name}");
                let x = input(net.nodes[0].shape);
                for train in [true, false] {
                    // The same seed before each, so dropout drops the same units.
                    tch::manual_seed(1);
                    let a = tch::no_grad(|| sup.forward_t(&x, &arch, train).unwrap());
                    tch::manual_seed(1);
                    let b = tch::no_grad(|| sup.forward_mix(&x, &mix, train).unwrap());
                    assert_eq!(a.size(), b.size(), "{name}");
                    assert_eq!(
                        max_diff(&a, &b),
                        0.0,
                        "{name} train={train}\n{}",
                        arch.to_yaml()
                    );
                }
            }
        }
    }
}

#[test]
fn several_candidates_are_summed_with_their_weights() {
    let _serial = serial();
    tch::manual_seed(0);
    let space = linear_head_chain();
    assert_eq!(space.decisions.len(), 1);
    assert_eq!(space.decisions[0].kind, DecisionKind::Layer);
    let sup = Supernet::new(&space, Device::Cpu).unwrap();
    let x = Tensor::randn([2, 4, 6, 6], (Kind::Float, Device::Cpu));
    let single: Vec<Tensor> = (0..4)
        .map(|o| tch::no_grad(|| sup.forward_mix(&x, &Mix::single(&[o]), false).unwrap()))
        .collect();
    // The zero candidate gives zeros, the others do not.
    assert_eq!(single[3].abs().max().double_value(&[]), 0.0);
    for y in &single[..3] {
        assert!(y.abs().max().double_value(&[]) > 1e-3);
    }
    let weights = [0.3, -1.7, 0.9, 2.5];
    for a in 0..4 {
        for b in a + 1..4 {
            // Unweighted: the plain sum.
            let y = tch::no_grad(|| {
                sup.forward_mix(&x, &Mix::from_options(&[vec![b, a]]), false)
                    .unwrap()
            });
            let want = &single[a] + &single[b];
            assert!(max_diff(&y, &want) < 1e-5, "{a}+{b}");
            // Weighted.
            let mut mix = Mix::new(1);
            mix.push(0, a, Some(Tensor::from(weights[a]))).push(
                0,
                b,
                Some(Tensor::from(weights[b])),
            );
            let y = tch::no_grad(|| sup.forward_mix(&x, &mix, false).unwrap());
            let want = &single[a] * weights[a] + &single[b] * weights[b];
            assert!(max_diff(&y, &want) < 1e-5, "{a}*w+{b}*w");
        }
    }
    // Every candidate at once, some weighted (None = 1).
    let mut mix = Mix::new(1);
    mix.push(0, 0, None)
        .push(0, 1, Some(Tensor::from(weights[1] as f32)))
        .push(0, 2, None)
        .push(0, 3, Some(Tensor::from(weights[3] as f32)));
    let y = tch::no_grad(|| sup.forward_mix(&x, &mix, false).unwrap());
    let want = &single[0] + &single[1] * weights[1] + &single[2] + &single[3] * weights[3];
    assert!(max_diff(&y, &want) < 1e-5);
    // A weight scales a lone candidate too.
    let mut mix = Mix::new(1);
    mix.push(0, 1, Some(Tensor::from(-2.0f32)));
    let y = tch::no_grad(|| sup.forward_mix(&x, &mix, false).unwrap());
    assert!(max_diff(&y, &(&single[1] * -2.0)) < 1e-5);

    // The IR: parallel branches from the same input into one sum node named after the layer, each
    // branch's nodes carrying its (decision, option).
    let (net, _) = space.net_from_mix(&[vec![2, 0]]).unwrap();
    let sum = net
        .nodes
        .iter()
        .find(|n| n.kind == NetKind::Sum)
        .expect("a sum node");
    assert_eq!(sum.path, "s.layer0");
    let choices: Vec<_> = sum.inputs.iter().map(|&i| net.nodes[i].choice).collect();
    assert_eq!(choices, [Some((0, 0)), Some((0, 2))]);
    for &i in &sum.inputs {
        assert_eq!(
            net.nodes[i].inputs,
            [0],
            "each branch reads the layer's input"
        );
    }
}

#[test]
fn a_cell_mix_of_every_option_is_the_supernet_network() {
    let _serial = serial();
    tch::manual_seed(0);
    let space = SearchSpace::new(small_cells()).unwrap();
    let all: Vec<Vec<usize>> = space
        .decisions
        .iter()
        .map(|d| (0..d.labels.len()).collect())
        .collect();
    let (net, used) = space.net_from_mix(&all).unwrap();
    assert_eq!(net, space.supernet_net().unwrap());
    assert!(used.iter().all(|u| *u));
    let sup = Supernet::new(&space, Device::Cpu).unwrap();
    let x = input(net.nodes[0].shape);
    let plain = tch::no_grad(|| {
        sup.forward_mix(&x, &Mix::from_options(&all), false)
            .unwrap()
    });
    assert_eq!(plain.size(), [2, 10]);
    // Weights of 1 change nothing.
    let mut ones = Mix::new(space.decisions.len());
    for (d, opts) in all.iter().enumerate() {
        for &o in opts {
            ones.push(d, o, Some(Tensor::from(1.0f32)));
        }
    }
    let weighted = tch::no_grad(|| sup.forward_mix(&x, &ones, false).unwrap());
    assert_eq!(max_diff(&plain, &weighted), 0.0);
}

/// DARTS-style: weights are a softmax of architecture parameters; every decision's row gets gradient.
fn check_gradients(space: &SearchSpace, mixed: &[Vec<usize>], what: &str) {
    let sup = Supernet::new(space, Device::Cpu).unwrap();
    let n = space.decisions.len() as i64;
    let width = space
        .decisions
        .iter()
        .map(|d| d.labels.len())
        .max()
        .unwrap() as i64;
    let alphas =
        (Tensor::randn([n, width], (Kind::Float, Device::Cpu)) * 0.1).set_requires_grad(true);
    let w = alphas.softmax(-1, Kind::Float);
    let mut mix = Mix::new(space.decisions.len());
    for (d, opts) in mixed.iter().enumerate() {
        for &o in opts {
            mix.push(d, o, Some(w.get(d as i64).get(o as i64)));
        }
    }
    let (net, _) = space.net_from_mix(&mix.options()).unwrap();
    let x = input(net.nodes[0].shape);
    let y = sup.forward_mix(&x, &mix, true).unwrap();
    y.square().sum(Kind::Float).backward();
    let g = alphas.grad();
    for (d, opts) in mixed.iter().enumerate() {
        if opts.len() > 1 {
            let row = g.get(d as i64).abs().sum(Kind::Float).double_value(&[]);
            assert!(
                row > 0.0,
                "{what}: no gradient for {}",
                space.decisions[d].path
            );
        }
    }
    // The supernet's weights get gradients too.
    let some = sup
        .vs
        .trainable_variables()
        .iter()
        .filter(|v| v.grad().defined() && v.grad().abs().sum(Kind::Float).double_value(&[]) > 0.0)
        .count();
    assert!(some > 0, "{what}");
}

#[test]
fn mix_weights_get_gradients() {
    let _serial = serial();
    tch::manual_seed(0);
    // Cells: every option of every edge.
    let cells = SearchSpace::new(small_cells()).unwrap();
    let all: Vec<Vec<usize>> = cells
        .decisions
        .iter()
        .map(|d| (0..d.labels.len()).collect())
        .collect();
    check_gradients(&cells, &all, "small_cells");
    // A chain: two candidates of each layer, one option elsewhere.
    let chain = SearchSpace::new(small_chain()).unwrap();
    let mixed: Vec<Vec<usize>> = chain
        .decisions
        .iter()
        .map(|d| match d.kind {
            DecisionKind::Layer => vec![0, 1],
            DecisionKind::Depth => vec![1],
            _ => vec![0],
        })
        .collect();
    check_gradients(&chain, &mixed, "small_chain");
    // A lone scalar leaf weight.
    let space = linear_head_chain();
    let sup = Supernet::new(&space, Device::Cpu).unwrap();
    let w = Tensor::from(0.5f32).set_requires_grad(true);
    let mut mix = Mix::new(1);
    mix.push(0, 0, Some(w.shallow_clone())).push(0, 2, None);
    let x = Tensor::randn([2, 4, 6, 6], (Kind::Float, Device::Cpu));
    sup.forward_mix(&x, &mix, true)
        .unwrap()
        .square()
        .sum(Kind::Float)
        .backward();
    assert!(w.grad().abs().double_value(&[]) > 0.0);
}

#[test]
fn bad_mixes_are_errors() {
    let _serial = serial();
    let space = SearchSpace::new(small_chain()).unwrap();
    let sup = Supernet::new(&space, Device::Cpu).unwrap();
    let d = |p: &str| space.decision_index(p).unwrap();
    // Depth 2 everywhere so every layer decision is used.
    let mut base: Vec<Vec<usize>> = space.decisions.iter().map(|_| vec![0]).collect();
    base[d("stage0.depth")] = vec![1];
    base[d("stage1.depth")] = vec![1];
    let x = Tensor::randn([2, 3, 16, 16], (Kind::Float, Device::Cpu));
    assert!(
        sup.forward_mix(&x, &Mix::from_options(&base), false)
            .is_ok()
    );
    let code = |opts: &[Vec<usize>]| {
        let by_ir = space.net_from_mix(opts).unwrap_err().code_str();
        let by_forward = sup
            .forward_mix(&x, &Mix::from_options(opts), false)
            .unwrap_err()
            .code_str();
        assert_eq!(by_ir, by_forward);
        by_ir
    };
    let with = |dec: &str, opts: Vec<usize>| {
        let mut m = base.clone();
        m[d(dec)] = opts;
        m
    };
    // Several options where only one is allowed.
    assert_eq!(
        code(&with("stage0.out", vec![0, 1])),
        "nasl::ir::arch_range"
    );
    assert_eq!(
        code(&with("stage1.depth", vec![0, 1])),
        "nasl::ir::arch_range"
    );
    // Out of range, or listed twice.
    assert_eq!(
        code(&with("stage1.layer1", vec![0, 4])),
        "nasl::ir::arch_range"
    );
    assert_eq!(
        code(&with("stage1.layer1", vec![1, 1])),
        "nasl::ir::arch_range"
    );
    // Missing: an empty list, or a list too short for the space.
    assert_eq!(
        code(&with("stage0.layer0", vec![])),
        "nasl::ir::arch_missing"
    );
    assert_eq!(code(&base[..2]), "nasl::ir::arch_missing");
    // A decision the space does not have.
    let mut extra = base.clone();
    extra.push(vec![0]);
    assert_eq!(code(&extra), "nasl::ir::arch_unknown");
    // A layer past the chosen depth is unused, so anything listed for it is not checked.
    let mut shallow = with("stage1.depth", vec![0]);
    shallow[d("stage1.layer1")] = vec![];
    assert!(space.net_from_mix(&shallow).is_ok());
    // A weight must be one number.
    let mut mix = Mix::from_options(&base);
    mix.picks[d("stage0.layer0")] = vec![(0, Some(Tensor::ones([2], (Kind::Float, Device::Cpu))))];
    let e = sup.forward_mix(&x, &mix, false).unwrap_err();
    assert_eq!(e.code_str(), "nasl::ir::shape", "{e}");
    // Mixing a layer is fine.
    assert!(
        sup.forward_mix(
            &x,
            &Mix::from_options(&with("stage1.layer1", vec![0, 1, 2, 3])),
            false
        )
        .is_ok()
    );
}

#[test]
fn drop_paths_keeps_what_it_promises() {
    let _serial = serial();
    tch::manual_seed(0);
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for (name, spec) in [
        ("small_chain", small_chain()),
        ("elastic_chain", elastic_chain()),
        ("small_cells", small_cells()),
    ] {
        let space = SearchSpace::new(spec).unwrap();
        let mixable = |k: DecisionKind| matches!(k, DecisionKind::Layer | DecisionKind::Edge);
        let check = |lists: &[Vec<usize>], rate: f64, keep: usize| {
            assert_eq!(lists.len(), space.decisions.len());
            for (dec, l) in space.decisions.iter().zip(lists) {
                let n = dec.labels.len();
                assert!(
                    l.windows(2).all(|w| w[0] < w[1]),
                    "{name}: sorted, distinct"
                );
                assert!(l.iter().all(|&o| o < n), "{name}: in range");
                if !mixable(dec.kind) {
                    assert_eq!(l.len(), 1, "{name} {}", dec.path);
                } else if rate == 0.0 {
                    assert_eq!(*l, (0..n).collect::<Vec<_>>(), "{name} {}", dec.path);
                } else if rate == 1.0 {
                    assert_eq!(l.len(), keep.clamp(1, n), "{name} {}", dec.path);
                } else {
                    assert!(l.len() >= keep.clamp(1, n), "{name} {}", dec.path);
                }
            }
        };
        for keep in [0, 1, 2, 100] {
            check(&drop_paths(&space, 0.0, keep, &mut rng), 0.0, keep);
            check(&drop_paths(&space, 1.0, keep, &mut rng), 1.0, keep);
        }
        // Rate 0.5: about half the options survive; every sample runs on the supernet.
        let sup = Supernet::new(&space, Device::Cpu).unwrap();
        let (mut kept, mut total) = (0usize, 0usize);
        for i in 0..200 {
            let lists = drop_paths(&space, 0.5, 1, &mut rng);
            check(&lists, 0.5, 1);
            for (dec, l) in space.decisions.iter().zip(&lists) {
                if mixable(dec.kind) {
                    kept += l.len();
                    total += dec.labels.len();
                }
            }
            if i < 4 {
                let mix = Mix::from_options(&lists);
                let (net, _) = space.net_from_mix(&lists).unwrap();
                let x = input(net.nodes[0].shape);
                let y = tch::no_grad(|| sup.forward_mix(&x, &mix, true).unwrap());
                assert_eq!(y.size()[0], 2);
            }
        }
        if total > 0 {
            let frac = kept as f64 / total as f64;
            // At least `keep` = 1 raises the expected fraction above 0.5 a little.
            assert!((0.45..0.65).contains(&frac), "{name}: kept fraction {frac}");
        }
    }
}

/// A cell space whose edges choose among every op a cell edge can take (DARTS' eight, and
/// `relu_conv_bn`), two nodes per cell so that nodes read several edges.
fn every_edge_op_cells() -> SearchSpace {
    use nasl::ir::CellSpec;
    let op = OpCall::new;
    SearchSpace::new(SpaceSpec::Cell(CellSpec {
        input: [3, 8, 8],
        classes: 5,
        cells: 3,
        channels: 4,
        stem_multiplier: 2,
        nodes: 2,
        inputs: 2,
        reduce_at: Some(vec![1]),
        candidates: vec![
            op(OpKind::SepConv).arg("kernel", 3),
            op(OpKind::SepConv).arg("kernel", 5),
            op(OpKind::DilConv).arg("kernel", 3),
            op(OpKind::DilConv).arg("kernel", 5),
            op(OpKind::MaxPool).arg("kernel", 3),
            op(OpKind::AvgPool).arg("kernel", 3),
            op(OpKind::Skip),
            op(OpKind::Zero),
            op(OpKind::ReluConvBn).arg("kernel", 1),
        ],
        node_inputs: None,
        normal: None,
        reduce: None,
        affine: false,
    }))
    .unwrap()
}

/// Output and every gradient (trainable supernet weights, then architecture logits; `None` where
/// the loss does not reach it) of one forward; `reference` runs the unoptimised forward. Gradients
/// are taken without accumulating (`run_backward`), keeping the graph of the mix's weights.
fn forward_and_grads(
    sup: &Supernet,
    arch: &nasl::exec::relax::ArchParams,
    x: &Tensor,
    mix: &Mix,
    train: bool,
    reference: bool,
) -> (Tensor, Vec<(String, Option<Tensor>)>) {
    tch::manual_seed(7);
    let y = if reference {
        sup.forward_mix_reference(x, mix, train).unwrap()
    } else {
        sup.forward_mix(x, mix, train).unwrap()
    };
    // A loss whose gradient differs per output element.
    let proj = Tensor::arange(y.numel() as i64, (y.kind(), Device::Cpu))
        .reshape(y.size())
        .sin();
    let loss = (&y * proj).sum(Kind::Float);
    let mut names: Vec<(String, Tensor)> = sup
        .vs
        .variables()
        .into_iter()
        .filter(|(_, v)| v.requires_grad())
        .collect();
    names.sort_by(|a, b| a.0.cmp(&b.0));
    for (d, a) in arch.alphas.iter().enumerate() {
        names.push((format!("alpha.{d}"), a.shallow_clone()));
    }
    let inputs: Vec<&Tensor> = names.iter().map(|(_, t)| t).collect();
    let grads = Tensor::run_backward(&[&loss], &inputs, true, false);
    let out = names
        .iter()
        .zip(grads)
        .map(|((n, _), g)| (n.clone(), g.defined().then_some(g)))
        .collect();
    (y.detach(), out)
}

/// |a - b| relative to the scale of `b` (at least 1).
fn rel_diff(a: &Tensor, b: &Tensor) -> f64 {
    let scale = b.abs().max().double_value(&[]).max(1.0);
    max_diff(a, b) / scale
}

#[test]
fn the_optimised_forward_equals_the_unoptimised_one_on_every_op_and_relaxation() {
    use nasl::exec::relax::{ArchParams, For, Relax, Sched, relaxed};
    let _serial = serial();
    tch::manual_seed(0);
    // (name, relaxation, purpose, draws): stochastic ones are drawn twice.
    let relaxations = [
        ("softmax", Relax::Softmax, For::Arch, 1),
        (
            "gumbel",
            Relax::Gumbel {
                tau: Sched::constant(1.0),
            },
            For::Arch,
            1,
        ),
        (
            "gumbel_hard",
            Relax::GumbelHard {
                tau: Sched::constant(1.0),
            },
            For::Arch,
            2,
        ),
        (
            "binary_gates arch",
            Relax::BinaryGates {
                paths: 2,
                reinforce: false,
            },
            For::Arch,
            2,
        ),
        (
            "binary_gates weights",
            Relax::BinaryGates {
                paths: 2,
                reinforce: false,
            },
            For::Weights,
            1,
        ),
    ];
    let spaces = [
        ("cells, every edge op", every_edge_op_cells()),
        ("small_cells", SearchSpace::new(small_cells()).unwrap()),
        ("small_chain", SearchSpace::new(small_chain()).unwrap()),
        ("linear_head_chain", linear_head_chain()),
    ];
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut compared = 0;
    for (name, space) in &spaces {
        // In double precision, so that 1e-6 tells a changed computation from a changed rounding
        // order (gradients summed in another order differ by about 1e-6 in single precision).
        let mut sup = Supernet::new(space, Device::Cpu).unwrap();
        sup.vs.double();
        let arch = ArchParams::new(space, Device::Cpu, &mut rng);
        let multi = |d: usize| {
            matches!(
                space.decisions[d].kind,
                DecisionKind::Layer | DecisionKind::Edge
            )
        };
        let mut mixes: Vec<(String, Mix)> = vec![];
        for (rname, relax, purpose, draws) in &relaxations {
            for rep in 0..*draws {
                let r = relaxed(relax, &arch, 0.0, *purpose, &mut rng);
                // Decisions that take one option (depth, channels) get their first, unweighted.
                let mut mix = Mix::new(space.decisions.len());
                for (d, list) in r.mix.picks.iter().enumerate() {
                    if multi(d) {
                        for (o, w) in list {
                            mix.push(d, *o, w.as_ref().map(Tensor::shallow_clone));
                        }
                    } else {
                        mix.push(d, 0, None);
                    }
                }
                mixes.push((format!("{rname} #{rep}"), mix));
            }
        }
        // Unweighted: every candidate (path dropout keeping all); and weights of exactly zero, with
        // and without a gradient: such a candidate must still run (its batch norms' statistics and
        // its weights' zero gradients are part of the training).
        let all = Mix::from_options(
            &space
                .decisions
                .iter()
                .enumerate()
                .map(|(d, dec)| {
                    if multi(d) {
                        (0..dec.labels.len()).collect()
                    } else {
                        vec![0]
                    }
                })
                .collect::<Vec<_>>(),
        );
        let mut zero_w = Mix::new(space.decisions.len());
        for (d, dec) in space.decisions.iter().enumerate() {
            if !multi(d) {
                zero_w.push(d, 0, None);
                continue;
            }
            for o in 0..dec.labels.len() {
                let w = match (o + d) % 3 {
                    0 => Tensor::from(0.0f32),
                    1 => arch.alphas[d].get(o as i64) * 0.0,
                    _ => arch.alphas[d].get(o as i64).sigmoid(),
                };
                zero_w.push(d, o, Some(w));
            }
        }
        mixes.push(("every candidate, unweighted".into(), all));
        mixes.push(("zero weights".into(), zero_w));
        let shape = space.net_from_mix(&mixes[0].1.options()).unwrap().0.nodes[0].shape;
        let x = input(shape).to_kind(Kind::Double);
        for (mname, mix) in &mixes {
            // Evaluation: outputs.
            let eval = |reference: bool| {
                tch::no_grad(|| {
                    if reference {
                        sup.forward_mix_reference(&x, mix, false).unwrap()
                    } else {
                        sup.forward_mix(&x, mix, false).unwrap()
                    }
                })
            };
            let (y0, y1) = (eval(true), eval(false));
            let d = rel_diff(&y1, &y0);
            assert!(
                d <= 1e-6,
                "{name}, {mname}, evaluation: output differs by {d}"
            );
            // Training: outputs and gradients.
            {
                let (y0, g0) = forward_and_grads(&sup, &arch, &x, mix, true, true);
                let (y1, g1) = forward_and_grads(&sup, &arch, &x, mix, true, false);
                let what = format!("{name}, {mname}, training");
                assert!(
                    rel_diff(&y1, &y0) <= 1e-6,
                    "{what}: output differs by {}",
                    rel_diff(&y1, &y0)
                );
                for ((n0, a), (n1, b)) in g0.iter().zip(&g1) {
                    assert_eq!(n0, n1);
                    match (a, b) {
                        (Some(a), Some(b)) => assert!(
                            rel_diff(b, a) <= 1e-6,
                            "{what}: gradient of {n0} differs by {}",
                            rel_diff(b, a)
                        ),
                        (None, None) => {}
                        _ => panic!(
                            "{what}: gradient of {n0} defined in one forward only (reference: {})",
                            a.is_some()
                        ),
                    }
                }
                compared += 1;
            }
        }
    }
    let draws: usize = relaxations.iter().map(|r| r.3).sum();
    assert_eq!(compared, spaces.len() * (draws + 2));
}

/// `exec::diff`'s first-order architecture step runs with the weights not requiring gradients
/// (`arch_only`), and a bi-level weight step with a mix that carries no architecture gradient
/// (`weights_mix`): the architecture gradients of the one and the weight gradients of the other are
/// those of the full backward (double precision, to 1e-9 of their scale); the architecture step
/// leaves no weight gradient and restores `requires_grad`; the weight step leaves no architecture
/// gradient.
#[test]
fn skipping_the_gradients_a_step_discards_keeps_the_ones_it_uses() {
    use nasl::exec::diff::{arch_only, weights_mix};
    use nasl::exec::relax::{ArchParams, For, Relax, Sched, relaxed};
    let _serial = serial();
    let relaxations = [
        ("softmax", Relax::Softmax),
        (
            "gumbel_hard",
            Relax::GumbelHard {
                tau: Sched::constant(1.0),
            },
        ),
        (
            "binary_gates",
            Relax::BinaryGates {
                paths: 2,
                reinforce: false,
            },
        ),
    ];
    // Spaces whose every decision mixes (a differentiable stage refuses relaxing channel and
    // depth decisions without `masked_gumbel`).
    let spaces = [
        ("cells, every edge op", every_edge_op_cells()),
        ("small_cells", SearchSpace::new(small_cells()).unwrap()),
        ("linear_head_chain", linear_head_chain()),
    ];
    let trainable = |sup: &Supernet| -> Vec<(String, Tensor)> {
        let mut v: Vec<(String, Tensor)> = sup
            .vs
            .variables()
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    let grads_of = |ts: &[Tensor]| -> Vec<Option<Tensor>> {
        ts.iter()
            .map(|t| {
                let g = t.grad();
                g.defined().then(|| g.copy())
            })
            .collect()
    };
    let same = |what: &str, a: &[Option<Tensor>], b: &[Option<Tensor>]| {
        assert_eq!(a.len(), b.len());
        for (i, (a, b)) in a.iter().zip(b).enumerate() {
            match (a, b) {
                (Some(a), Some(b)) => {
                    let d = rel_diff(a, b);
                    assert!(d < 1e-9, "{what}: gradient {i} differs by {d}");
                }
                (None, None) => {}
                (Some(a), None) | (None, Some(a)) => assert!(
                    a.abs().max().double_value(&[]) == 0.0,
                    "{what}: gradient {i} defined on one side only, and not zero"
                ),
            }
        }
    };
    let mut checked = 0;
    for (sname, space) in &spaces {
        for (rname, relax) in &relaxations {
            let what = format!("{sname}, {rname}");
            // Two identical supernets and architectures: one for each way of taking the step.
            let build = || {
                tch::manual_seed(3);
                let mut sup = Supernet::new(space, Device::Cpu).unwrap();
                sup.vs.double();
                let arch = ArchParams::new(space, Device::Cpu, &mut ChaCha8Rng::seed_from_u64(5));
                for a in &arch.alphas {
                    tch::no_grad(|| a.shallow_clone().copy_(&a.randn_like()));
                }
                (sup, arch)
            };
            tch::manual_seed(4);
            let first = space.decisions.iter().map(|_| vec![0]).collect::<Vec<_>>();
            let shape = space.net_from_mix(&first).unwrap().0.nodes[0].shape;
            let x = input(shape).to_kind(Kind::Double);
            let step = |sup: &Supernet, arch: &ArchParams, purpose: For, fast: bool| {
                let mut rng = ChaCha8Rng::seed_from_u64(9);
                tch::manual_seed(6);
                let r = match (purpose, fast) {
                    (For::Weights, true) => weights_mix(relax, arch, 0.0, false, &mut rng),
                    _ => relaxed(relax, arch, 0.0, purpose, &mut rng),
                };
                let backward = || {
                    let y = sup.forward_mix(&x, &r.mix, true).unwrap();
                    let proj = Tensor::arange(y.numel() as i64, (y.kind(), Device::Cpu))
                        .reshape(y.size())
                        .sin();
                    (&y * proj).sum(Kind::Float).backward();
                };
                if purpose == For::Arch && fast {
                    arch_only(&sup.vs, backward);
                } else {
                    backward();
                }
            };
            // The architecture step.
            let (full, full_arch) = build();
            let (fast, fast_arch) = build();
            let before = trainable(&fast).len();
            step(&full, &full_arch, For::Arch, false);
            step(&fast, &fast_arch, For::Arch, true);
            same(
                &format!("{what}: architecture"),
                &grads_of(&fast_arch.alphas),
                &grads_of(&full_arch.alphas),
            );
            assert!(
                grads_of(&full_arch.alphas).iter().any(Option::is_some),
                "{what}: no architecture gradient to compare"
            );
            let weights: Vec<Tensor> = trainable(&fast).into_iter().map(|(_, t)| t).collect();
            assert_eq!(weights.len(), before, "{what}: requires_grad not restored");
            assert!(
                grads_of(&weights).iter().all(Option::is_none),
                "{what}: the architecture step computed weight gradients"
            );
            // The weight step.
            let (full, full_arch) = build();
            let (fast, fast_arch) = build();
            step(&full, &full_arch, For::Weights, false);
            step(&fast, &fast_arch, For::Weights, true);
            let w = |s: &Supernet| {
                grads_of(&trainable(s).into_iter().map(|(_, t)| t).collect::<Vec<_>>())
            };
            let (wf, ws) = (w(&full), w(&fast));
            assert!(
                wf.iter().any(Option::is_some),
                "{what}: no weight gradient to compare"
            );
            same(&format!("{what}: weights"), &ws, &wf);
            assert!(
                grads_of(&fast_arch.alphas).iter().all(Option::is_none),
                "{what}: the weight step computed architecture gradients"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 9);
}
