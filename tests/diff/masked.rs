//! FBNetV2 (`relax masked_gumbel`): the masked forward at a one-hot sample is the chosen network
//! (channels and resolution), the architecture parameters get gradients through the masks and the
//! cost tables, the cost tables are the exact cost at one-hot probabilities and a strong penalty drives
//! widths and resolution to their smallest options, what cannot be masked is
//! refused up front, and the pipeline runs, derives from its distribution and resumes after SIGKILL to
//! the files of a clean run.

use super::common::check_errors as refusals;
use std::path::Path;

use super::common::{clean_then_killed_and_resumed, fake_cifar, read_json, smoke_run, smoke_text};
use nasl::compile::masked::{MaskedPlan, plan};
use nasl::compile::{Mix, Supernet};
use nasl::exec::masked::exact_costs;
use nasl::exec::relax::{ArchParams, For, Relax, Sched, relaxed};
use nasl::ir::{Arch, SearchSpace};
use nasl::source::MemLoader;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor};

/// Searched widths in a strided stage (a layer choice with an expansion of 1 and a plain
/// convolution) and in a stride-1 stage with residuals and a projecting or identity skip, a searched
/// input resolution, a head convolution reading the searched width.
const SPACE: &str = r#"
space net = chain(input: [3, 16, 16], classes: 4) {
  resolution [12, 16]
  stem conv(3, out: 8) bn relu
  layers out: [4, 8], stride: 2, repeat: 2, choose [mbconv(3, 2), mbconv(5, 1), conv(3)]
  layers out: [12, 16, 20], stride: 1, repeat: 2, choose [mbconv(3, 3), skip]
  head conv(1, out: 16) bn relu global_avg_pool linear(out: classes)
}
"#;

fn space_of(text: &str) -> SearchSpace {
    let mut loader = MemLoader::default();
    loader.files.insert("s.nas".into(), text.to_string());
    let front = nasl::driver::check_file(Path::new("s.nas"), &loader);
    front.spaces.into_iter().next().expect("the space checks").1
}

/// The mix of architecture `idx` as a Gumbel sample that came out one-hot: every option of every
/// decision listed, weight 1 on the chosen one and 0 on the others.
fn one_hot(space: &SearchSpace, idx: &[usize]) -> Mix {
    let mut mix = Mix::new(space.decisions.len());
    for (d, dec) in space.decisions.iter().enumerate() {
        for o in 0..dec.labels.len() {
            let w = if o == idx[d] { 1.0f32 } else { 0.0 };
            mix.push(d, o, Some(Tensor::from(w)));
        }
    }
    mix
}

/// Asserts that the masked forward at the one-hot sample of each of `archs` equals the stand-alone
/// network of that architecture (the widest blocks' leading channels), in evaluation and training.
fn assert_one_hot_is_the_network(space: &SearchSpace, p: &MaskedPlan, archs: &[Vec<usize>]) {
    let net = Supernet::new(space, Device::Cpu).unwrap();
    let x = Tensor::randn([4, 3, 16, 16], (Kind::Float, Device::Cpu));
    for idx in archs {
        let arch = Arch::from_indices(space, idx).unwrap();
        for train in [false, true] {
            let a = net
                .forward_masked(&x, p, &one_hot(space, idx), train)
                .unwrap();
            net.bake_masked(p).unwrap();
            let sub = net.extract(&arch).unwrap();
            let b = sub.forward_t(&x, train);
            assert_eq!(a.size(), b.size());
            let diff = (&a - &b).abs().max().double_value(&[]);
            assert!(diff < 1e-5, "{idx:?} train {train}: {diff}");
        }
    }
}

/// The decision index of `path` in `space`.
fn decision(space: &SearchSpace, path: &str) -> usize {
    space.decisions.iter().position(|d| d.path == path).unwrap()
}

/// The largest option everywhere, then each channel decision at each width (the others largest, and
/// the layer choices varied): each one-hot sample is that width's network.
#[test]
fn masked_channels_at_a_one_hot_sample_are_the_narrower_network() {
    tch::manual_seed(3);
    let space = space_of(SPACE);
    let p = plan(&space).unwrap();
    let largest: Vec<usize> = space.decisions.iter().map(|d| d.labels.len() - 1).collect();
    let mut archs = vec![largest.clone()];
    for path in ["stage0.out", "stage1.out"] {
        let d = decision(&space, path);
        for k in 0..space.decisions[d].labels.len() {
            for cand in 0..2 {
                let mut idx = largest.clone();
                idx[d] = k;
                for (j, dec) in space.decisions.iter().enumerate() {
                    if dec.path.contains(".layer") {
                        idx[j] = (cand + j) % dec.labels.len();
                    }
                }
                archs.push(idx);
            }
        }
    }
    assert_one_hot_is_the_network(&space, &p, &archs);
}

/// Each resolution at the smallest and at the largest widths: each one-hot sample is the network at
/// that input resolution.
#[test]
fn masked_resolution_at_a_one_hot_sample_is_the_network_at_that_resolution() {
    tch::manual_seed(4);
    let space = space_of(SPACE);
    let p = plan(&space).unwrap();
    let r = decision(&space, "resolution");
    let mut archs = vec![];
    for res in 0..2 {
        for wide in [false, true] {
            let idx: Vec<usize> = space
                .decisions
                .iter()
                .enumerate()
                .map(|(d, dec)| match d == r {
                    true => res,
                    false if wide => dec.labels.len() - 1,
                    false => 0,
                })
                .collect();
            archs.push(idx);
        }
    }
    assert_one_hot_is_the_network(&space, &p, &archs);
}

/// One Gumbel-softmax step through the masks: every architecture parameter (layer choices, widths,
/// resolution) gets a gradient from the loss, and from the expected-MACs term alone.
#[test]
fn gradients_reach_every_architecture_parameter() {
    tch::manual_seed(5);
    let space = space_of(SPACE);
    let p = plan(&space).unwrap();
    let net = Supernet::new(&space, Device::Cpu).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let arch = ArchParams::new(&space, Device::Cpu, &mut rng);
    let relax = Relax::MaskedGumbel {
        tau: Sched::constant(1.0),
    };
    let r = relaxed(&relax, &arch, 0.0, For::Arch, &mut rng);
    let x = Tensor::randn([4, 3, 16, 16], (Kind::Float, Device::Cpu));
    let y = Tensor::from_slice(&[0i64, 1, 2, 3]);
    let logits = net.forward_masked(&x, &p, &r.mix, true).unwrap();
    logits.cross_entropy_for_logits(&y).backward();
    for (a, d) in arch.alphas.iter().zip(&space.decisions) {
        let g = a.grad().abs().sum(Kind::Float).double_value(&[]);
        assert!(g > 0.0, "{}: no gradient from the loss", d.path);
    }
    arch.zero_grad();
    let (fixed, factors) = exact_costs(&space, &p, "flops").unwrap();
    let probs: Vec<Tensor> = arch
        .alphas
        .iter()
        .map(|a| a.softmax(0, Kind::Float))
        .collect();
    let mut e = Tensor::from(fixed as f32);
    for f in &factors {
        e += f.expected(&probs, &e);
    }
    e.backward();
    for (a, d) in arch.alphas.iter().zip(&space.decisions) {
        let g = a.grad().abs().sum(Kind::Float).double_value(&[]);
        assert!(g > 0.0, "{}: no gradient from the expected MACs", d.path);
    }
}

/// The factor tables are the exact MACs and parameters of every architecture at one-hot
/// probabilities (the fixed part plus each table at the chosen options).
#[test]
fn the_cost_tables_are_exact_at_one_hot_probabilities() {
    let space = space_of(SPACE);
    let p = plan(&space).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for metric in ["flops", "params"] {
        let (fixed, factors) = exact_costs(&space, &p, metric).unwrap();
        for _ in 0..12 {
            let idx: Vec<usize> = space
                .decisions
                .iter()
                .map(|d| rand::RngExt::random_range(&mut rng, 0..d.labels.len()))
                .collect();
            let arch = Arch::from_indices(&space, &idx).unwrap();
            let c = nasl::cost::arch_cost(&space, &arch).unwrap();
            let want = match metric {
                "flops" => c.macs,
                _ => c.params,
            } as f64
                * 1e-6;
            let choices: Vec<Option<usize>> = idx.iter().map(|&i| Some(i)).collect();
            let got = fixed + factors.iter().map(|f| f.of(&choices)).sum::<f64>();
            assert!(
                (got - want).abs() < 1e-9,
                "{metric} {idx:?}: {got} vs {want}"
            );
            let probs: Vec<Tensor> = space
                .decisions
                .iter()
                .zip(&idx)
                .map(|(d, &i)| {
                    let v: Vec<f32> = (0..d.labels.len())
                        .map(|o| if o == i { 1.0 } else { 0.0 })
                        .collect();
                    Tensor::from_slice(&v)
                })
                .collect();
            let like = Tensor::from(0.0f32);
            let e: f64 = fixed
                + factors
                    .iter()
                    .map(|f| f.expected(&probs, &like).double_value(&[]))
                    .sum::<f64>();
            assert!(
                (e - want).abs() < 1e-4 * want.max(1.0),
                "{metric}: {e} vs {want}"
            );
        }
    }
}

fn pipeline(epochs: usize, penalty: &str, derive: &str) -> String {
    format!(
        r#"
dataset d = synthetic {{
  split train: 256, val: 64
  batch 32
}}

space net = chain(input: [1, 28, 28], classes: 10) {{
  resolution [20, 28]
  stem conv(3, out: 8, stride: 2) bn relu
  layers out: [4, 8], stride: 2, repeat: 2, choose [mbconv(3, 2), mbconv(5, 1)]
  layers out: [12, 16], stride: 1, repeat: 2, choose [mbconv(3, 3), skip]
  head global_avg_pool linear(out: classes)
}}

stage search = differentiable(net) {{
  relax masked_gumbel(tau: 5.0 -> 0.5 exponential)
  level bilevel(order: 1, split: 0.8)
  epochs {epochs}
  weights sgd(lr: 0.05, momentum: 0.9)
  arch adam(lr: 0.01)
  {penalty}
  derive {derive}
}}

stage final = retrain(search.best) {{
  epochs 1
  optimizer sgd(lr: 0.05, momentum: 0.9)
}}

stage report = evaluate(final, d.test)
"#
    )
}

/// `derive argmax` takes, per decision, the most probable option of the final distribution (channel
/// and resolution decisions included), and the derived model is that architecture at its resolution.
#[test]
fn derive_argmax_reads_the_final_distribution() {
    let tmp = tempfile::tempdir().unwrap();
    let text = pipeline(2, "penalty flops(weight: 0.5)", "argmax");
    let space = space_of(&text);
    let (out, o) = smoke_text(tmp.path(), "argmax", &text);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let state = read_json(&out.join("state.json"));
    let result = &state["done"][0]["result"];
    let probs = result["final_probs"].as_object().unwrap();
    let best = result["best"].as_object().unwrap();
    assert_eq!(probs.len(), space.decisions.len());
    for d in &space.decisions {
        let p: Vec<f64> = probs[&d.path]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let k = (0..p.len()).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap();
        assert_eq!(best[&d.path], d.labels[k].as_str(), "{}: {p:?}", d.path);
    }
    let row = &result["penalties"][0];
    assert_eq!(row["metric"], "flops");
    assert!(row["expected"].as_f64().unwrap() > 0.0, "{row}");
    assert!(row["derived"].as_f64().unwrap() > 0.0, "{row}");
    assert!(out.join("model/weights.safetensors").is_file());
}

/// The expected-cost term reaches the width and resolution decisions: a strong MACs penalty drives
/// every stage width and the resolution to their smallest options, and the derived architecture is
/// cheaper than the widest one.
#[test]
fn a_cost_penalty_drives_widths_and_resolution_to_the_smallest() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("cost.nas");
    let text = pipeline(12, "penalty flops(weight: 5.0)", "argmax")
        .replace("arch adam(lr: 0.01)", "arch adam(lr: 0.3)");
    std::fs::write(&file, &text).unwrap();
    let out = tmp.path().join("out");
    let o = super::common::run_into(&file, &out, 1).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let state = read_json(&out.join("state.json"));
    let best = state["done"][0]["result"]["best"]
        .as_object()
        .unwrap()
        .clone();
    for (path, smallest) in [
        ("resolution", "20"),
        ("stage0.out", "4"),
        ("stage1.out", "12"),
    ] {
        assert_eq!(best[path], smallest, "{path}: {best:?}");
    }
    let space = space_of(&text);
    let cost = |idx: &[usize]| {
        let arch = Arch::from_indices(&space, idx).unwrap();
        nasl::cost::arch_cost(&space, &arch).unwrap().macs
    };
    let chosen: Vec<usize> = space
        .decisions
        .iter()
        .map(|d| {
            d.labels
                .iter()
                .position(|l| best[&d.path] == l.as_str())
                .unwrap()
        })
        .collect();
    let widest: Vec<usize> = space.decisions.iter().map(|d| d.labels.len() - 1).collect();
    assert!(cost(&chosen) < cost(&widest));
}

/// `pipelines/fbnetv2.nas` runs end to end under `--smoke`: search (bi-level, masks, FLOPs penalty,
/// six sampled candidates), retrain, evaluate, with the usual run folder.
#[test]
fn fbnetv2_passes_a_smoke_run() {
    let tmp = tempfile::tempdir().unwrap();
    let cifar = tmp.path().join("cifar");
    fake_cifar(&cifar);
    let (out, _) = smoke_run(tmp.path(), "fbnetv2", &cifar);
    let summary = read_json(&out.join("summary.json"));
    assert_eq!(summary["complete"], true);
    let dir = out.join("stages/search");
    for f in [
        "alphas.safetensors",
        "supernet.safetensors",
        "arch_trajectory.json",
        "arch_trajectory.svg",
    ] {
        assert!(dir.join(f).is_file(), "{f}");
    }
    let state = read_json(&out.join("state.json"));
    let result = &state["done"][0]["result"];
    assert_eq!(result["final_probs"].as_object().unwrap().len(), 16);
    assert!(result["relax"].as_str().unwrap().contains("MaskedGumbel"));
    let row = &result["penalties"][0];
    assert_eq!(row["metric"], "flops");
    assert!(row["expected"].as_f64().unwrap() > 0.0, "{row}");
    for f in [
        "best.arch.yaml",
        "model/weights.safetensors",
        "report.html",
        "metrics.jsonl",
    ] {
        assert!(out.join(f).is_file(), "{f}");
    }
}

/// The architecture parameters, the Gumbel noise and the weights are checkpointed: a masked search
/// killed mid-search and resumed ends with the files of a clean run.
#[test]
fn a_killed_masked_search_resumes_to_the_same_result() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("masked.nas");
    std::fs::write(
        &file,
        pipeline(12, "penalty flops(weight: 0.1)", "sample(3)"),
    )
    .unwrap();
    let clean = tmp.path().join("clean");
    let killed = tmp.path().join("killed");
    let err =
        clean_then_killed_and_resumed(&file, &clean, &killed, "stages/search/search.ckpt.json", 5);
    assert!(
        !err.contains("search epoch 1/12"),
        "epoch 1 was redone:\n{err}"
    );
    super::common::assert_same_files(
        &clean,
        &killed,
        &[
            "stages/search/alphas.safetensors",
            "stages/search/supernet.safetensors",
            "stages/search/arch_trajectory.json",
            "best.arch.yaml",
            "model/weights.safetensors",
        ],
    );
}

/// `pipelines/fbnetv2.nas` checks; what masks cannot stand for is refused by `nasl check` with
/// `not_run` and a help line: a depth or elastic decision, an op whose inner width follows its input
/// (separable convolution), squeeze-and-excitation, a residual that exists at some widths only.
#[test]
fn what_masking_cannot_search_is_refused_up_front() {
    let fbnetv2 = std::fs::read_to_string(super::common::root().join("pipelines/fbnetv2.nas"));
    assert_eq!(refusals(&fbnetv2.unwrap()), vec![]);
    let ok = pipeline(1, "penalty flops(weight: 0.1)", "argmax");
    assert_eq!(refusals(&ok), vec![]);
    let layer = "layers out: [12, 16], stride: 1, repeat: 2, choose [mbconv(3, 3), skip]";
    let cases: Vec<(String, &str, &str)> = vec![
        (
            ok.replace(
                "repeat: 2, choose [mbconv(3, 3), skip]",
                "repeat: [1, 2], choose [mbconv(3, 3), skip]",
            ),
            "is a depth decision",
            "skip",
        ),
        (
            ok.replace(
                layer,
                "layers out: [12, 16], stride: 1, repeat: 1, mbconv(kernel: [3, 5], expand: 3)",
            ),
            "is a elastic decision",
            "relax superkernel",
        ),
        (
            ok.replace(
                layer,
                "layers out: [12, 16], stride: 1, repeat: 2, choose [mbconv(3, 3), sep_conv(3)]",
            ),
            "inner channels",
            "relax masked_gumbel",
        ),
        (
            ok.replace(
                layer,
                "layers out: [12, 16], stride: 1, repeat: 2, choose [mbconv(3, 3, se: true), skip]",
            ),
            "squeeze-and-excitation",
            "relax masked_gumbel",
        ),
        (
            ok.replace(
                layer,
                "layers out: [8, 16], stride: 1, repeat: 2, choose [mbconv(3, 3), skip]",
            ),
            "shortcut",
            "different widths",
        ),
    ];
    for (text, message, help) in cases {
        let r = refusals(&text);
        assert!(
            r.iter().any(|(c, m, h)| c == "nasl::sema::not_run"
                && m.contains(message)
                && h.contains(help)),
            "{message} / {help}: {r:?}"
        );
    }
}

/// `penalty latency` under masks reads the stage's latency table (measured into the stage's folder):
/// the penalty row's derived latency is the table's sum over the derived architecture's network.
#[test]
fn a_latency_penalty_reads_the_stage_table() {
    let tmp = tempfile::tempdir().unwrap();
    let text = pipeline(
        1,
        "penalty latency(weight: 0.1)\n  latency measure(runs: 3)",
        "argmax",
    );
    let (out, o) = smoke_text(tmp.path(), "lat", &text);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let state = read_json(&out.join("state.json"));
    let row = &state["done"][0]["result"]["penalties"][0];
    assert_eq!(row["metric"], "latency", "{row}");
    assert!(row["expected"].as_f64().unwrap() > 0.0, "{row}");
    let table =
        nasl::cost::latency::LatencyTable::load(&out.join("stages/search/latency.yaml")).unwrap();
    let front = nasl::driver::check_text("lat.nas", &text);
    let space = &front.spaces[0].1;
    let best =
        Arch::from_yaml(&std::fs::read_to_string(out.join("best.arch.yaml")).unwrap()).unwrap();
    let (net, _) = space
        .net_from_choices(&space.arch_indices(&best).unwrap())
        .unwrap();
    let ms = table.net_ms(&net).unwrap();
    let derived = row["derived"].as_f64().unwrap();
    assert!(
        (derived - ms).abs() <= 1e-6 * ms.max(1.0),
        "derived {derived} ms, the table says {ms} ms"
    );
}
