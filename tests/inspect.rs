//! `nasl inspect` and `nasl graph` on `.nas` files: exact published counts, architecture files, and
//! errors as diagnostics.

use assert_cmd::Command;
use nasl::cost::arch_cost;
use nasl::driver;
use nasl::ir::Arch;
use nasl::source::FsLoader;
use rand::SeedableRng;
use std::path::Path;

fn nasl() -> Command {
    Command::cargo_bin("nasl").expect("the nasl binary builds")
}

fn inspect_json(args: &[&str]) -> serde_json::Value {
    let out = nasl()
        .arg("inspect")
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

#[test]
fn mobilenet_v2_has_torchvisions_exact_counts() {
    let v = inspect_json(&["examples/mobilenet_v2.nas"]);
    let r = &v[0];
    assert_eq!(r["space"], "mobilenet_v2");
    assert_eq!(r["decisions"], 0);
    assert_eq!(r["cardinality"], "1");
    assert_eq!(r["cost"]["params"]["min"], 3_504_872);
    assert_eq!(r["cost"]["params"]["max"], 3_504_872);
    assert_eq!(r["cost"]["macs"]["min"], 300_774_272);
    assert_eq!(r["input"], serde_json::json!([3, 224, 224]));
}

#[test]
fn darts_v2_genotype_network_has_the_published_param_count() {
    // DARTS V2 on CIFAR-10, 20 cells, 36 channels, without the auxiliary head: 3,349,342 params in
    // the reference implementation (the paper rounds it to 3.3M).
    let v = inspect_json(&["examples/darts_v2.nas"]);
    assert_eq!(v[0]["cost"]["params"]["min"], 3_349_342);
}

#[test]
fn search_space_cardinality_is_exact() {
    // quickstart: 4 searchable layers with 3 candidates each.
    let v = inspect_json(&["pipelines/quickstart.nas"]);
    assert_eq!(v[0]["cardinality"], "81");
    // DARTS: 14 edges per cell, normal and reduction, 8 ops each: 8^28, beyond u64.
    let v = inspect_json(&["pipelines/darts_1st.nas"]);
    assert_eq!(v[0]["decisions"], 28);
    assert_eq!(v[0]["cardinality"], "19342813113834066795298816");
    let min = v[0]["cost"]["params"]["min"].as_u64().unwrap();
    let max = v[0]["cost"]["params"]["max"].as_u64().unwrap();
    let supernet = v[0]["cost"]["supernet_params"].as_u64().unwrap();
    assert!(min < max && max < supernet, "{min} {max} {supernet}");
}

#[test]
fn an_architecture_file_gets_its_exact_cost() {
    let file = Path::new("pipelines/quickstart.nas");
    let front = driver::check_file(file, &FsLoader);
    let (_, space) = &front.spaces[0];
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    for i in 0..3 {
        let arch = Arch::random(space, &mut rng).unwrap();
        let expect = arch_cost(space, &arch).unwrap();
        let (path, text) = if i == 0 {
            (dir.path().join("a.json"), arch.to_json())
        } else {
            (dir.path().join(format!("a{i}.yaml")), arch.to_yaml())
        };
        std::fs::write(&path, text).unwrap();
        let v = inspect_json(&[file.to_str().unwrap(), "--arch", path.to_str().unwrap()]);
        assert_eq!(v[0]["arch"]["params"], expect.params);
        assert_eq!(v[0]["arch"]["macs"], expect.macs);
    }
    // An architecture that names a decision the space does not have is refused with a code.
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "stage9.layer0: 0\n").unwrap();
    let out = nasl()
        .args(["inspect", "pipelines/quickstart.nas", "--arch"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("nasl::ir::arch"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn graph_prints_dot_for_a_space_and_an_architecture() {
    let out = nasl()
        .args(["graph", "examples/tiny_chain.nas"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let dot = String::from_utf8(out.stdout).unwrap();
    assert!(
        dot.starts_with("digraph") && dot.trim_end().ends_with('}'),
        "{dot}"
    );
    let front = driver::check_file(Path::new("examples/tiny_chain.nas"), &FsLoader);
    let (_, space) = &front.spaces[0];
    let arch = Arch::random(space, &mut rand_chacha::ChaCha8Rng::seed_from_u64(1)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("arch.yaml");
    std::fs::write(&path, arch.to_yaml()).unwrap();
    let out = nasl()
        .args(["graph", "examples/tiny_chain.nas", "--arch"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success());
    let one = String::from_utf8(out.stdout).unwrap();
    assert!(
        one.starts_with("digraph") && one != dot,
        "an architecture draws differently from its space"
    );
}

#[test]
fn errors_are_diagnostics_with_codes() {
    let out = nasl()
        .args(["inspect", "pipelines/quickstart.nas", "--space", "nett"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("nasl::cli::unknown_space") && err.contains("net"),
        "{err}"
    );
    // A file with a shape error reports it as `nasl check` does, and exits 1.
    let out = nasl()
        .args(["inspect", "tests/ui/ir/shape.nas"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nasl::ir::shape"));
}

#[test]
fn hard_constraints_are_judged_by_the_exact_cost_range() {
    // quickstart's architectures have 21,994 to 225,002 params (see `nasl inspect`).
    let base = std::fs::read_to_string("pipelines/quickstart.nas").unwrap();
    let line = base
        .lines()
        .find(|l| l.trim_start().starts_with("constraint "))
        .expect("quickstart has a hard constraint")
        .to_string();
    let check = |constraint: &str| {
        let text = base.replace(&line, &format!("  {constraint}"));
        let front = driver::check_text("quickstart.nas", &text);
        front
            .checked
            .diags
            .iter()
            .map(|d| (d.code.as_str(), d.label.clone()))
            .collect::<Vec<_>>()
    };
    assert!(
        check(line.trim()).is_empty(),
        "the pipeline's own constraint"
    );
    assert!(check("constraint params <= 60K").is_empty());
    assert!(
        check("constraint params <= 21994").is_empty(),
        "the smallest architecture meets it exactly"
    );
    let below = check("constraint params <= 21993");
    assert_eq!(below.len(), 1);
    assert_eq!(below[0].0, "nasl::sema::unsatisfiable_constraint");
    assert!(
        below[0].1.contains("from 21994 to 225002"),
        "{}",
        below[0].1
    );
    assert_eq!(
        check("constraint params > 225002")[0].0,
        "nasl::sema::unsatisfiable_constraint"
    );
    assert_eq!(
        check("constraint params <= 225002")[0].0,
        "nasl::sema::suspicious_value"
    );
    assert_eq!(
        check("constraint flops <= 1K")[0].0,
        "nasl::sema::unsatisfiable_constraint"
    );
}

#[test]
fn several_spaces_need_a_choice() {
    // A second space (unused, so only a warning) makes `graph` and `inspect --arch` ambiguous.
    let base = std::fs::read_to_string("examples/tiny_chain.nas").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("two.nas");
    let extra = "\nspace other = chain(input: [1, 28, 28], classes: 10) {\n  stem conv(3, out: 8) bn relu\n  head global_avg_pool linear(out: classes)\n}\n";
    std::fs::write(&file, format!("{base}{extra}")).unwrap();
    let out = nasl().arg("graph").arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("nasl::cli::which_space") && err.contains("tiny, other"),
        "{err}"
    );
    // Naming it works, and `inspect` without --arch reports both.
    let out = nasl()
        .arg("graph")
        .arg(&file)
        .args(["--space", "other"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v = inspect_json(&[file.to_str().unwrap()]);
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert_eq!(v[1]["space"], "other");
    assert_eq!(v[1]["cardinality"], "1");
}

/// NAS-Bench-201's skeleton: 15,625 cells, and for any cell the parameter count of the benchmark's own
/// network (N = 5, C = 16, CIFAR-10). The expected counts are those of a PyTorch model built from
/// NAS-Bench-201's reference definitions (xautodl's `TinyNetwork`, `InferCell`, `ResNetBasicblock`,
/// `ReLUConvBN`), counted with `sum(p.numel() for p in net.parameters())`; the first two are also the
/// benchmark's published extremes (0.073 MB and 1.53 MB).
#[test]
fn nas_bench_201_cells_have_the_benchmark_cardinality_and_parameter_counts() {
    for file in ["pipelines/nb201_spos.nas", "pipelines/nb201_darts.nas"] {
        let v = inspect_json(&[file]);
        assert_eq!(v[0]["decisions"], 6, "{file}");
        assert_eq!(v[0]["cardinality"], "15625", "{file}");
    }
    let front = driver::check_text(
        "nb201.nas",
        "space nb201 = cell(nodes: 3, inputs: 1) {\n  ops [none, skip, relu_conv_bn(1), relu_conv_bn(3), avg_pool(3)]\n  network cells: 15, channels: 16, reduce_at: [1/3, 2/3], input: [3, 32, 32], classes: 10\n}\n",
    );
    assert!(!front.checked.has_errors(), "{:?}", front.checked.diags);
    let space = &front.spaces[0].1;
    assert_eq!(space.decisions.len(), 6);
    // Edge order: node 1 <- 0; node 2 <- 0, 1; node 3 <- 0, 1, 2. Ops: 0 none, 1 skip, 2 conv 1x1,
    // 3 conv 3x3, 4 avg pool.
    for (cell, ops, params) in [
        ("all none", [0, 0, 0, 0, 0, 0], 73_306u64),
        ("all conv 3x3", [3, 3, 3, 3, 3, 3], 1_531_546),
        ("the best CIFAR-10 cell", [3, 3, 3, 1, 3, 3], 1_288_506),
        ("mixed", [2, 4, 3, 1, 2, 0], 372_346),
    ] {
        let arch = Arch::from_indices(space, &ops).unwrap();
        let cost = nasl::cost::arch_cost(space, &arch).unwrap();
        assert_eq!(cost.params, params, "{cell}");
    }
}

/// ENAS's micro space (`pipelines/enas.nas`, `node_inputs 2`): per cell type, node n (0..5) has two
/// input decisions of 2+n options and two op decisions of 5 ops, so (2·3·4·5·6)^2 · 5^10 =
/// 5,062,500,000,000 cells; normal and reduction cells: its square.
#[test]
fn input_choice_decisions_are_counted_in_the_cardinality() {
    let v = inspect_json(&["pipelines/enas.nas"]);
    assert_eq!(v[0]["decisions"], 40);
    assert_eq!(v[0]["cardinality"], "25628906250000000000000000");
}

/// A one-cell input-choice space small enough to count by hand: a 1x8x8 input, 2 channels, two
/// nodes reading two chosen nodes each, ops `relu_conv_bn(1)` and `skip`.
fn tiny_input_choice(reduce_at: &str, cells: usize, k: usize, ops: &str) -> nasl::ir::SearchSpace {
    let yaml = format!(
        "kind: cell\ninput: [1, 8, 8]\nclasses: 2\ncells: {cells}\nchannels: 2\nstem_multiplier: 1\n\
         nodes: 2\nreduce_at: {reduce_at}\ncandidates: {ops}\nnode_inputs: {k}\n"
    );
    nasl::ir::SearchSpace::new(nasl::ir::SpaceSpec::from_yaml(&yaml).unwrap()).unwrap()
}

/// The cost of an architecture counts its chosen edges and its loose ends only, as counted by hand.
#[test]
fn an_input_choice_architecture_costs_its_chosen_edges_and_loose_ends() {
    let ops = "[{kind: relu_conv_bn, args: {kernel: 1}}, {kind: skip}]";
    let space = tiny_input_choice("[]", 1, 2, ops);
    // node 0 (index 2) reads cell input 1 twice (relu_conv_bn, skip); node 1 reads cell input 0
    // (skip) and node 0 (relu_conv_bn): node 0 is read, so node 1 is the only loose end.
    let arch = Arch::from_yaml(
        "normal.node0.input0: '1'\nnormal.node0.input1: '1'\nnormal.node0.op0: 0\nnormal.node0.op1: skip\n\
         normal.node1.input0: '0'\nnormal.node1.input1: '2'\nnormal.node1.op0: skip\nnormal.node1.op1: 0\n",
    )
    .unwrap();
    // Params: stem conv 3x3 1->2 (18) + BN (4); pre0, pre1: relu_conv_bn(1) 2->2 (4 + 4 each);
    // the two chosen relu_conv_bn edges (8 each); the loose end's 1x1 projection (4) and the
    // output BN (4); the classifier 2->2 with bias (6). MACs: the stem 9·1·2·64, six 1x1 2->2
    // convolutions on 8x8 (pre0, pre1, two edges, the projection: 5 x 256) and the classifier (4).
    let c = arch_cost(&space, &arch).unwrap();
    assert_eq!(c.params, 22 + 16 + 16 + 4 + 4 + 6);
    assert_eq!(c.macs, 1152 + 5 * 256 + 4);
    // Node 1 reading cell input 1 instead of node 0 (same ops, same shapes) leaves node 0 loose
    // too: one more 1x1 projection (4 params, 256 MACs).
    let arch2 = Arch::from_yaml(
        "normal.node0.input0: '1'\nnormal.node0.input1: '1'\nnormal.node0.op0: 0\nnormal.node0.op1: skip\n\
         normal.node1.input0: '0'\nnormal.node1.input1: '1'\nnormal.node1.op0: skip\nnormal.node1.op1: 0\n",
    )
    .unwrap();
    let c2 = arch_cost(&space, &arch2).unwrap();
    assert_eq!((c2.params, c2.macs), (c.params + 4, c.macs + 256));
    // The network holds exactly the chosen edges: two per node, none of the others.
    let net = space.net(&arch).unwrap();
    let mut edges: Vec<&str> = net
        .nodes
        .iter()
        .map(|n| n.path.as_str())
        .filter(|p| p.contains(".in"))
        .collect();
    edges.sort();
    assert_eq!(
        edges,
        [
            "cell0.node0.in0.from1.cand0",
            "cell0.node0.in1.from1.cand1",
            "cell0.node1.in0.from0.cand1",
            "cell0.node1.in1.from2.cand0",
        ]
    );
}

/// `nasl inspect`'s min/max over an input-choice space are the exact extremes: every architecture of
/// a small space with a reduction cell (where a skip from a cell input is a factorized reduce with
/// weights, and from a node an identity) is enumerated.
#[test]
fn input_choice_cost_bounds_are_the_exact_extremes() {
    let ops = "[{kind: relu_conv_bn, args: {kernel: 3}}, {kind: skip}, {kind: max_pool, args: {kernel: 3}}]";
    let space = tiny_input_choice("[1]", 2, 1, ops);
    let lists: Vec<Vec<usize>> = space
        .decisions
        .iter()
        .map(|d| (0..d.labels.len()).collect())
        .collect();
    let all = nasl::ir::graph::combos(&lists);
    assert_eq!(all.len(), 54 * 54);
    assert_eq!(space.cardinality().to_string(), "2916");
    let (mut lo, mut hi) = ([u64::MAX; 2], [0u64; 2]);
    for g in &all {
        let choices: Vec<Option<usize>> = g.iter().map(|&o| Some(o)).collect();
        let c = nasl::cost::net_cost(&space.net_from_choices(&choices).unwrap().0);
        for (k, v) in [c.params, c.macs].into_iter().enumerate() {
            lo[k] = lo[k].min(v);
            hi[k] = hi[k].max(v);
        }
    }
    let b = nasl::cost::space_cost(&space).unwrap();
    assert_eq!([b.params.min, b.macs.min], lo);
    assert_eq!([b.params.max, b.macs.max], hi);
    assert!(lo[0] < hi[0] && lo[1] < hi[1]);
}
