//! Compiled supernets and subnets against the IR's analytic counts, over random architectures of
//! Rust-built spaces and of every space written in `pipelines/` and `examples/`; OFA's elastic ops
//! (`compile/elastic.rs`).
#![cfg(feature = "torch")]

#[path = "compile/elastic.rs"]
mod elastic;

use nasl::compile::{Subnet, Supernet};
use nasl::cost::{arch_cost, space_cost};
use nasl::driver;
use nasl::ir::examples::*;
use nasl::ir::{Arch, SearchSpace};
use nasl::source::FsLoader;
use rand::SeedableRng;
use tch::{Device, Kind, Tensor};

fn input_for(space: &SearchSpace, arch: &Arch) -> Tensor {
    let net = space.net(arch).unwrap();
    let nasl::ir::Shape::Map { c, h, w } = net.nodes[0].shape else {
        panic!("the input of a network is a feature map")
    };
    Tensor::randn(
        [2, c as i64, h as i64, w as i64],
        (Kind::Float, Device::Cpu),
    )
}

#[test]
fn mobilenet_v2_compiled_has_exact_params() {
    let space = SearchSpace::new(mobilenet_v2()).unwrap();
    let sub = Subnet::new(&space, &Arch::default(), Device::Cpu).unwrap();
    println!("compiled MobileNetV2 params: {}", sub.num_params());
    assert_eq!(sub.num_params(), 3_504_872);
    let y = sub.forward_t(
        &Tensor::randn([1, 3, 224, 224], (Kind::Float, Device::Cpu)),
        false,
    );
    assert_eq!(y.size(), [1, 1000]);
}

#[test]
fn darts_v2_compiled_has_exact_params() {
    let space = SearchSpace::new(darts_v2()).unwrap();
    let sub = Subnet::new(&space, &Arch::default(), Device::Cpu).unwrap();
    assert_eq!(sub.num_params(), 3_349_342);
    let y = sub.forward_t(
        &Tensor::randn([2, 3, 32, 32], (Kind::Float, Device::Cpu)),
        false,
    );
    assert_eq!(y.size(), [2, 10]);
}

/// The supernet of `space` holds exactly the analytic supernet count; for `archs` random architectures
/// the extracted subnet holds the architecture's analytic count and computes what the supernet path
/// computes in eval mode, after a train-mode pass has moved the running statistics.
fn check_space(space: &SearchSpace, archs: usize, rng: &mut rand_chacha::ChaCha8Rng, what: &str) {
    let sup = Supernet::new(space, Device::Cpu).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(
        sup.num_params() as u64,
        space_cost(space).unwrap().supernet_params,
        "{what}"
    );
    for _ in 0..archs {
        let arch = Arch::random(space, rng).unwrap();
        let x = input_for(space, &arch);
        let _ = tch::no_grad(|| sup.forward_t(&x, &arch, true).unwrap());
        let sub = sup.extract(&arch).unwrap();
        assert_eq!(
            sub.num_params() as u64,
            arch_cost(space, &arch).unwrap().params,
            "{what}\n{}",
            arch.to_yaml()
        );
        let a = tch::no_grad(|| sup.forward_t(&x, &arch, false).unwrap());
        let b = tch::no_grad(|| sub.forward_t(&x, false));
        let diff = (a - b).abs().max().double_value(&[]);
        assert!(
            diff < 1e-4,
            "{what}: outputs differ by {diff} for\n{}",
            arch.to_yaml()
        );
    }
}

#[test]
fn supernet_and_subnets_agree_with_the_ir_over_random_archs() {
    tch::manual_seed(0);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    for (name, spec) in [
        ("small_chain", small_chain()),
        ("elastic_chain", elastic_chain()),
        ("small_cells", small_cells()),
    ] {
        let space = SearchSpace::new(spec).unwrap();
        check_space(&space, 6, &mut rng, name);
    }
}

/// Every space written in `pipelines/` and `examples/`, through the whole front end.
#[test]
fn every_written_space_compiles_to_its_analytic_counts() {
    tch::manual_seed(0);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let mut files: Vec<_> = ["pipelines", "examples"]
        .iter()
        .flat_map(|d| std::fs::read_dir(d).unwrap().map(|e| e.unwrap().path()))
        .filter(|p| p.extension().is_some_and(|e| e == "nas"))
        .collect();
    files.sort();
    let mut spaces = 0;
    for file in &files {
        let front = driver::check_file(file, &FsLoader);
        assert!(
            !front.checked.has_fatal_errors(),
            "{} does not check",
            file.display()
        );
        for (name, space) in &front.spaces {
            spaces += 1;
            check_space(
                space,
                2,
                &mut rng,
                &format!("{} space {name}", file.display()),
            );
        }
    }
    assert!(spaces >= 20, "only {spaces} spaces compiled");
}

/// Drop-path zeroes whole samples of the non-identity summands of cell nodes: at rate 0 it is the
/// plain training forward, at a positive rate it changes the output.
#[test]
fn drop_path_drops_cell_edges_in_training_only() {
    let front = driver::check_text(
        "cell.nas",
        "space c = cell(nodes: 2, inputs: 2) {\n  ops [conv(3), skip]\n  network cells: 2, channels: 4, input: [1, 12, 12], classes: 3\n}\n",
    );
    assert!(!front.checked.has_errors(), "{:?}", front.checked.diags);
    let space = &front.spaces[0].1;
    // Every edge takes its convolution: nothing is an identity, so everything can be dropped.
    let arch = Arch::from_indices(space, &vec![0; space.decisions.len()]).unwrap();
    tch::manual_seed(0);
    let net = Subnet::new(space, &arch, Device::Cpu).unwrap();
    let x = Tensor::randn([8, 1, 12, 12], (Kind::Float, Device::Cpu));
    let plain = net.forward_t(&x, true);
    let no_drop = net.forward_train(&x, 0.0).0;
    assert!(plain.allclose(&no_drop, 1e-6, 1e-6, false));
    // (No seeded reproducibility check here: tests run in parallel threads that share libtorch's
    // global generator.)
    let dropped = net.forward_train(&x, 0.5).0;
    let diff = (&dropped - &plain).abs().max().double_value(&[]);
    assert!(diff > 1e-3, "drop-path changed nothing ({diff})");
}

/// DARTS's auxiliary head reads the cell at two thirds of the depth, gives logits for every class in
/// training, and is neither counted in the network's parameters nor saved with the model.
#[test]
fn auxiliary_head_trains_beside_the_network_and_is_not_part_of_the_model() {
    let front = driver::check_text(
        "cell.nas",
        "space c = cell(nodes: 2, inputs: 2) {\n  ops [conv(3), skip]\n  network cells: 3, channels: 4, reduce_at: [1/3, 2/3], input: [1, 28, 28], classes: 7\n}\n",
    );
    assert!(!front.checked.has_errors(), "{:?}", front.checked.diags);
    let space = &front.spaces[0].1;
    let arch = Arch::from_indices(space, &vec![0; space.decisions.len()]).unwrap();
    let plain = Subnet::new(space, &arch, Device::Cpu).unwrap();
    let mut net = Subnet::new(space, &arch, Device::Cpu).unwrap();
    net.add_auxiliary().unwrap();
    assert_eq!(net.num_params(), plain.num_params());
    // Cell 2 of 3 (the second reduction): 2 nodes x 16 channels = 32 channels at 7x7.
    let c = 32;
    let want = c * 128 + 2 * 128 + 128 * 768 * 2 * 2 + 2 * 768 + 768 * 7 + 7;
    assert_eq!(net.auxiliary_params(), want);
    let x = Tensor::randn([4, 1, 28, 28], (Kind::Float, Device::Cpu));
    let (logits, aux) = net.forward_train(&x, 0.0);
    assert_eq!(logits.size(), [4, 7]);
    assert_eq!(aux.expect("auxiliary logits").size(), [4, 7]);
    assert!(plain.forward_train(&x, 0.0).1.is_none());
    // The saved model holds the network alone and loads into a network without the head.
    let dir = tempfile::tempdir().unwrap();
    nasl::compile::model::save(dir.path(), space, &arch, &net).unwrap();
    let loaded = nasl::compile::model::load(dir.path(), Device::Cpu).unwrap();
    let a = net.forward_t(&x, false);
    let b = loaded.net.forward_t(&x, false);
    assert!(a.allclose(&b, 1e-6, 1e-6, false));
    // A chain has no cell to read.
    let mut m = Subnet::new(&chain_with_dropout(), &Arch::default(), Device::Cpu).unwrap();
    assert!(m.add_auxiliary().unwrap_err().contains("no cells"));
}

/// A fixed chain whose head has its own dropout before the classifier.
fn chain_with_dropout() -> SearchSpace {
    let front = driver::check_text(
        "chain.nas",
        "space c = chain(input: [1, 12, 12], classes: 5) {\n  stem conv(3, out: 8) bn relu\n  head global_avg_pool dropout(0.2) linear(out: classes)\n}\n",
    );
    assert!(!front.checked.has_errors(), "{:?}", front.checked.diags);
    SearchSpace::new(front.spaces[0].1.spec.clone()).unwrap()
}

/// `dropout p` on a stage overrides the classifier's dropout in training and is off in evaluation.
#[test]
fn classifier_dropout_override_applies_in_training_only() {
    let space = chain_with_dropout();
    tch::manual_seed(1);
    let mut net = Subnet::new(&space, &Arch::default(), Device::Cpu).unwrap();
    let x = Tensor::randn([16, 1, 12, 12], (Kind::Float, Device::Cpu));
    let eval = net.forward_t(&x, false);
    net.dropout = Some(0.9);
    assert!(eval.allclose(&net.forward_t(&x, false), 1e-6, 1e-6, false));
    // The override replaces the head's own dropout (0.2): at 0 two training forwards are equal, at
    // 0.9 they differ.
    let spread = |n: &Subnet| {
        let a = n.forward_t(&x, true);
        let b = n.forward_t(&x, true);
        (&a - &b).abs().mean(Kind::Float).double_value(&[])
    };
    let high = spread(&net);
    net.dropout = Some(0.0);
    let none = spread(&net);
    assert!(
        none < 1e-5,
        "dropout 0 should make training forwards equal ({none})"
    );
    assert!(high > 1e-3, "dropout 0.9 changed nothing ({high})");
}

/// A resolution decision resizes the images (bilinear) to the chosen size at the network's input, so
/// the same batch of dataset-sized images trains, searches and evaluates every resolution.
#[test]
fn a_chosen_resolution_resizes_the_input_inside_the_network() {
    let front = driver::check_text(
        "res.nas",
        "space r = chain(input: [1, 28, 28], classes: 4) {\n  resolution [20, 28]\n  stem conv(3, out: 4, stride: 2) bn relu\n  head global_avg_pool linear(out: classes)\n}\n",
    );
    assert!(!front.checked.has_errors(), "{:?}", front.checked.diags);
    let space = &front.spaces[0].1;
    let small = Arch::from_indices(space, &[0]).unwrap();
    let full = Arch::from_indices(space, &[1]).unwrap();
    tch::manual_seed(3);
    let net = Supernet::new(space, Device::Cpu).unwrap();
    let x = Tensor::randn([3, 1, 28, 28], (Kind::Float, Device::Cpu));
    let resized = x.upsample_bilinear2d([20, 20], false, None, None);
    let a = net.forward_t(&x, &small, false).unwrap();
    let b = net.forward_t(&resized, &small, false).unwrap();
    assert!(
        a.allclose(&b, 1e-6, 1e-6, false),
        "resized inside = resized outside"
    );
    let c = net.forward_t(&x, &full, false).unwrap();
    assert!(
        !a.allclose(&c, 1e-4, 1e-4, false),
        "20x20 and 28x28 give different outputs"
    );
    let sub = net.extract(&small).unwrap();
    assert!(sub.forward_t(&x, false).allclose(&a, 1e-6, 1e-6, false));
}

/// Evaluation mode as a compiler does it: after BN recalibration, folding every batch norm that
/// follows a convolution into it keeps the evaluation outputs on every op
/// kind with a convolution-batch-norm pair (conv -> bn nodes, MBConv with SE and elastic slices,
/// ShuffleNet blocks, basic blocks, DARTS sep/dil convs, skip projections). In double precision,
/// so that the bound (1e-9 of the output's scale, far below the 1e-5 asked of single precision)
/// tells a changed computation from rounding, which 20 cells of DARTS V2 amplify to 1e-4 in single
/// precision with the perturbed weights below.
#[test]
fn folding_batch_norms_keeps_evaluation_outputs() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    tch::manual_seed(5);
    let cases: Vec<(&str, SearchSpace, usize)> = vec![
        ("small_chain", SearchSpace::new(small_chain()).unwrap(), 4),
        (
            "elastic_chain",
            SearchSpace::new(elastic_chain()).unwrap(),
            2,
        ),
        ("small_cells", SearchSpace::new(small_cells()).unwrap(), 2),
        ("darts_v2", SearchSpace::new(darts_v2()).unwrap(), 1),
    ];
    for (what, space, archs) in cases {
        for _ in 0..archs {
            let arch = Arch::random(&space, &mut rng).unwrap();
            let mut sub = Subnet::new(&space, &arch, Device::Cpu).unwrap();
            sub.vs.double();
            // Weights away from their initialisation (batch norms' scales and shifts included), then
            // running statistics from a few training-mode batches.
            tch::no_grad(|| {
                for mut v in sub.vs.trainable_variables() {
                    let noise = v.randn_like() * 0.2;
                    let _ = v.g_add_(&noise);
                }
            });
            let x = input_for(&space, &arch).to_kind(Kind::Double);
            let batches: Vec<Tensor> = (0..3).map(|_| x.randn_like() * 1.5 + 0.3).collect();
            sub.recalibrate_bn(batches);
            let before = tch::no_grad(|| sub.forward_t(&x, false));
            let folded = sub.fold_bn();
            assert!(folded > 0, "{what}: no batch norm folded");
            let after = tch::no_grad(|| sub.forward_t(&x, false));
            let scale = before.abs().max().double_value(&[]).max(1.0);
            let diff = (&after - &before).abs().max().double_value(&[]) / scale;
            assert!(
                diff <= 1e-9,
                "{what}: folding {folded} batch norms changed the output by {diff}\n{}",
                arch.to_yaml()
            );
        }
    }
}

/// An ENAS input-choice cell space: 3 cells (a reduction at 1), 3 nodes reading 2 chosen nodes each.
fn input_choice_cells() -> SearchSpace {
    let yaml = "kind: cell\ninput: [3, 8, 8]\nclasses: 10\ncells: 3\nchannels: 4\nstem_multiplier: 2\n\
                nodes: 3\nreduce_at: [1]\nnode_inputs: 2\ncandidates:\n\
                - {kind: sep_conv, args: {kernel: 3}}\n- {kind: avg_pool, args: {kernel: 3}}\n\
                - {kind: max_pool, args: {kernel: 3}}\n- {kind: skip}\n";
    SearchSpace::new(nasl::ir::SpaceSpec::from_yaml(yaml).unwrap()).unwrap()
}

/// An architecture of `input_choice_cells` with the given first input of the normal cell's last node.
fn input_choice_arch(last_reads: usize) -> Arch {
    let mut text = String::new();
    // (input0, input1, op0, op1) per node; a node may read the same node twice (ENAS).
    let normal = [(1, 1, 0, 3), (0, 2, 1, 0), (last_reads, 3, 0, 2)];
    let reduce = [(0, 1, 2, 0), (2, 2, 0, 3), (1, 3, 3, 1)];
    for (cell, nodes) in [("normal", normal), ("reduce", reduce)] {
        for (n, (a, b, p, q)) in nodes.iter().enumerate() {
            text += &format!(
                "{cell}.node{n}.input0: {a}\n{cell}.node{n}.input1: {b}\n{cell}.node{n}.op0: {p}\n{cell}.node{n}.op1: {q}\n"
            );
        }
    }
    Arch::from_yaml(&text).unwrap()
}

/// The supernet of an input-choice space runs only the chosen edges of an architecture: a subnet
/// built with that architecture's inputs computes the supernet's single path to 1e-6 and holds its
/// analytic parameter count; another input choice computes something else.
#[test]
fn an_input_choice_subnet_equals_the_supernet_single_path() {
    tch::manual_seed(0);
    let space = input_choice_cells();
    let sup = Supernet::new(&space, Device::Cpu).unwrap();
    assert_eq!(
        sup.num_params() as u64,
        space_cost(&space).unwrap().supernet_params
    );
    let x = Tensor::randn([4, 3, 8, 8], (Kind::Float, Device::Cpu));
    let arch = input_choice_arch(0);
    // A training pass moves the running statistics of the path's batch norms.
    let _ = tch::no_grad(|| sup.forward_t(&x, &arch, true).unwrap());
    let sub = sup.extract(&arch).unwrap();
    assert_eq!(
        sub.num_params() as u64,
        arch_cost(&space, &arch).unwrap().params
    );
    let a = tch::no_grad(|| sup.forward_t(&x, &arch, false).unwrap());
    let b = tch::no_grad(|| sub.forward_t(&x, false));
    let diff = (&a - &b).abs().max().double_value(&[]);
    assert!(diff < 1e-6, "outputs differ by {diff}");
    // Node 2 of the normal cells reading node 1 instead of cell input 0 changes the output.
    let other = input_choice_arch(3);
    let c = tch::no_grad(|| sup.forward_t(&x, &other, false).unwrap());
    let moved = (&a - &c).abs().max().double_value(&[]);
    assert!(moved > 1e-4, "the input choice changed nothing ({moved})");
    // In each normal cell the edges are the chosen ones: 2 per node, from the chosen nodes.
    let net = space.net(&arch).unwrap();
    let edges: Vec<&str> = net
        .nodes
        .iter()
        .map(|n| n.path.as_str())
        .filter(|p| p.starts_with("cell0.node") && p.contains(".in"))
        .collect();
    assert_eq!(
        edges,
        [
            "cell0.node0.in0.from1.cand0",
            "cell0.node0.in1.from1.cand3",
            "cell0.node1.in0.from0.cand1",
            "cell0.node1.in1.from2.cand0",
            "cell0.node2.in0.from0.cand0",
            "cell0.node2.in1.from3.cand2",
        ]
    );
    // DARTS's auxiliary head reads the output of cell 2 of 3: after the loose ends' BN.
    let (at, _) = nasl::compile::auxiliary::tap(&net).unwrap();
    assert_eq!(net.nodes[at].path, "cell2.out.bn");
    // Loose ends: node 0 (index 2) and node 1 (index 3) are read, node 2 alone is projected.
    assert!(net.nodes.iter().any(|n| n.path == "cell0.out.node2.1"));
    assert!(
        !net.nodes
            .iter()
            .any(|n| n.path.starts_with("cell0.out.node0"))
    );
    assert!(
        !net.nodes
            .iter()
            .any(|n| n.path.starts_with("cell0.out.node1"))
    );
}

/// Drop-path leaves an input-choice cell's output alone: it drops the summands of cell nodes, and
/// the output's sum of loose-end projections is ENAS's 1x1 convolution over their concatenation, not
/// a node. With every slot an identity `skip` (no reduction cell), nothing is dropped.
#[test]
fn drop_path_keeps_the_loose_end_projections_of_input_choice_cells() {
    let yaml = "kind: cell\ninput: [1, 8, 8]\nclasses: 3\ncells: 2\nchannels: 4\nstem_multiplier: 1\n\
                nodes: 3\nreduce_at: []\nnode_inputs: 2\ncandidates:\n\
                - {kind: sep_conv, args: {kernel: 3}}\n- {kind: skip}\n";
    let space = SearchSpace::new(nasl::ir::SpaceSpec::from_yaml(yaml).unwrap()).unwrap();
    // Every node reads cell input 0 twice through `skip`: nodes 0, 1, 2 are all loose ends.
    let mut text = String::new();
    for n in 0..3 {
        text += &format!(
            "normal.node{n}.input0: 0\nnormal.node{n}.input1: 0\nnormal.node{n}.op0: skip\nnormal.node{n}.op1: skip\n"
        );
    }
    let arch = Arch::from_yaml(&text).unwrap();
    tch::manual_seed(0);
    let net = Subnet::new(&space, &arch, Device::Cpu).unwrap();
    let x = Tensor::randn([8, 1, 8, 8], (Kind::Float, Device::Cpu));
    let plain = net.forward_train(&x, 0.0).0;
    let dropped = net.forward_train(&x, 0.9).0;
    let diff = (&dropped - &plain).abs().max().double_value(&[]);
    assert!(diff < 1e-6, "drop-path dropped a loose end ({diff})");
    // A `sep_conv` slot is dropped as in any cell.
    let conv = Arch::from_yaml(&text.replacen("op0: skip", "op0: 0", 1)).unwrap();
    let net = Subnet::new(&space, &conv, Device::Cpu).unwrap();
    let plain = net.forward_train(&x, 0.0).0;
    let dropped = net.forward_train(&x, 0.9).0;
    let diff = (&dropped - &plain).abs().max().double_value(&[]);
    assert!(diff > 1e-4, "drop-path changed nothing ({diff})");
}
