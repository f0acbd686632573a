//! Single-Path NAS (`relax superkernel`): the indicators keep and drop kernel rings and channel groups
//! as their norms and thresholds say, the forward at the indicators is the chosen sub-network, the
//! thresholds get gradients from the loss and the latency term, and the pipeline runs, derives from
//! its thresholds and resumes after SIGKILL to the files of a clean run.

use super::common::check_errors as refusals;
use std::path::Path;

use super::common::{clean_then_killed_and_resumed, fake_cifar, read_json, smoke_run, smoke_text};
use nasl::compile::Supernet;
use nasl::compile::superkernel::{SkPlan, decision_probs, gates, plan};
use nasl::exec::superkernel::LayerCost;
use nasl::ir::{Arch, SearchSpace};
use nasl::source::MemLoader;
use serde_json::Value as Json;
use tch::{Device, Kind, Tensor};

const SPACE: &str = r#"
space net = chain(input: [3, 8, 8], classes: 3) {
  stem conv(3, out: 8) bn relu
  layers out: 8, stride: 1, repeat: 1, mbconv(kernel: [3, 5], expand: [2, 4])
  head global_avg_pool linear(out: classes)
}
"#;

/// Squeeze-and-excitation and grouped 1x1 convolutions (with a channel shuffle) under an elastic
/// kernel: every part of the mbconv the superkernel forward must keep.
const SE_SPACE: &str = r#"
space net = chain(input: [3, 8, 8], classes: 3) {
  stem conv(3, out: 8) bn relu
  layers out: 8, stride: 1, repeat: 1, mbconv(kernel: [3, 5, 7], expand: 4, se: true)
  layers out: 16, stride: 2, repeat: 1, mbconv(kernel: [3, 5], expand: 2, groups: 2, act: hswish)
  head global_avg_pool linear(out: classes)
}
"#;

fn space_of(text: &str) -> SearchSpace {
    let mut loader = MemLoader::default();
    loader.files.insert("s.nas".into(), text.to_string());
    let front = nasl::driver::check_file(Path::new("s.nas"), &loader);
    front.spaces.into_iter().next().expect("the space checks").1
}

fn space() -> SearchSpace {
    space_of(SPACE)
}

/// Thresholds per decision: kernel `tk`, expansion `te` (each decision has one threshold).
fn thresholds(p: &SkPlan, tk: f64, te: f64) -> Vec<Tensor> {
    let l = &p.layers[0];
    let (dk, de) = (l.kernel.as_ref().unwrap().0, l.expand.as_ref().unwrap().0);
    let mut t: Vec<Tensor> = (0..2).map(|_| Tensor::new()).collect();
    t[dk] = Tensor::from_slice(&[tk as f32]).set_requires_grad(true);
    t[de] = Tensor::from_slice(&[te as f32]).set_requires_grad(true);
    t
}

fn values(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.detach().to_kind(Kind::Double)).unwrap()
}

#[test]
fn indicator_thresholds_drop_and_keep_as_the_norms_say() {
    tch::manual_seed(1);
    let space = space();
    let p = plan(&space).unwrap();
    assert_eq!(p.layers.len(), 1);
    let l = &p.layers[0];
    assert_eq!(l.kernel.as_ref().unwrap().1, vec![3, 5]);
    assert_eq!(l.expand.as_ref().unwrap().1, vec![2, 4]);
    let net = Supernet::new(&space, Device::Cpu).unwrap();
    let w = net.superkernels(&p).unwrap().remove(0);
    assert_eq!(
        w.size(),
        vec![32, 1, 5, 5],
        "the largest kernel at the largest expansion"
    );
    // The outer ring's norm, and the second channel group's norm with and without that ring.
    let ring = tch::no_grad(|| {
        let inner = w.narrow(2, 1, 3).narrow(3, 1, 3).square().sum(Kind::Double);
        (w.square().sum(Kind::Double) - inner)
            .sqrt()
            .double_value(&[])
    });
    let group5 = tch::no_grad(|| w.narrow(0, 16, 16).norm().double_value(&[]));
    let group3 = tch::no_grad(|| {
        w.narrow(0, 16, 16)
            .narrow(2, 1, 3)
            .narrow(3, 1, 3)
            .norm()
            .double_value(&[])
    });
    assert!(group3 < group5);
    let d = |tk: f64, te: f64| {
        let t = thresholds(&p, tk, te);
        let g = gates(l, &w, &t, true);
        let probs = decision_probs(&p, &[g], 2);
        let (dk, de) = (l.kernel.as_ref().unwrap().0, l.expand.as_ref().unwrap().0);
        (values(&probs[dk]), values(&probs[de]))
    };
    // Thresholds just below the norms keep, just above drop.
    assert_eq!(
        d(ring - 1e-3, group5 - 1e-3),
        (vec![0.0, 1.0], vec![0.0, 1.0])
    );
    assert_eq!(
        d(ring + 1e-3, group3 - 1e-3),
        (vec![1.0, 0.0], vec![0.0, 1.0])
    );
    assert_eq!(
        d(ring - 1e-3, group5 + 1e-3),
        (vec![0.0, 1.0], vec![1.0, 0.0])
    );
    // Without the outer ring the group's norm is the 3x3 one: a threshold between the two norms
    // keeps the group with the 5x5 kernel and drops it with the 3x3 kernel.
    let mid = (group3 + group5) / 2.0;
    assert_eq!(d(ring - 1e-3, mid).1, vec![0.0, 1.0]);
    assert_eq!(d(ring + 1e-3, mid).1, vec![1.0, 0.0]);
    // The masked kernel: the ring zeroed when dropped, the weights kept otherwise.
    let g = gates(l, &w, &thresholds(&p, ring + 1e-3, 0.0), true);
    assert_eq!(
        tch::no_grad(|| g
            .dw
            .narrow(2, 0, 1)
            .abs()
            .sum(Kind::Double)
            .double_value(&[])),
        0.0,
        "the outer ring is masked"
    );
    let mask = values(&g.channels.unwrap().flatten(0, -1));
    assert_eq!(mask.iter().filter(|v| **v == 1.0).count(), 32);
    let g = gates(l, &w, &thresholds(&p, -1.0, 1e6), true);
    let mask = values(&g.channels.unwrap().flatten(0, -1));
    assert_eq!(mask[..16], [1.0; 16]);
    assert_eq!(mask[16..], [0.0; 16]);
}

#[test]
fn the_superkernel_forward_at_the_indicators_is_the_chosen_subnetwork() {
    tch::manual_seed(2);
    let space = space();
    let p = plan(&space).unwrap();
    let net = Supernet::new(&space, Device::Cpu).unwrap();
    let x = Tensor::randn([4, 3, 8, 8], (Kind::Float, Device::Cpu));
    let l = &p.layers[0];
    let (dk, de) = (l.kernel.as_ref().unwrap().0, l.expand.as_ref().unwrap().0);
    for (k, e) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
        let t = thresholds(
            &p,
            if k == 1 { -1e6 } else { 1e6 },
            if e == 1 { -1e6 } else { 1e6 },
        );
        let mut idx = vec![0; 2];
        idx[dk] = k;
        idx[de] = e;
        let arch = Arch::from_indices(&space, &idx).unwrap();
        for train in [false, true] {
            let (a, probs) = net.forward_superkernel(&x, &p, &t, train).unwrap();
            let b = net.forward_t(&x, &arch, train).unwrap();
            let diff = (&a - &b).abs().max().double_value(&[]);
            assert!(diff < 1e-5, "kernel {k} expand {e} train {train}: {diff}");
            assert_eq!(values(&probs[dk])[k], 1.0);
            assert_eq!(values(&probs[de])[e], 1.0);
        }
    }
}

#[test]
fn the_superkernel_forward_keeps_squeeze_excitation_and_groups() {
    tch::manual_seed(4);
    let space = space_of(SE_SPACE);
    let p = plan(&space).unwrap();
    assert_eq!(p.layers.len(), 2);
    let net = Supernet::new(&space, Device::Cpu).unwrap();
    let x = Tensor::randn([4, 3, 8, 8], (Kind::Float, Device::Cpu));
    let kernels: Vec<usize> = p
        .layers
        .iter()
        .map(|l| l.kernel.as_ref().unwrap().1.len())
        .collect();
    for k0 in 0..kernels[0] {
        for k1 in 0..kernels[1] {
            let mut t: Vec<Tensor> = (0..2).map(|_| Tensor::new()).collect();
            let mut idx = vec![0; 2];
            for (l, k) in p.layers.iter().zip([k0, k1]) {
                let (d, ks) = l.kernel.as_ref().unwrap();
                // Keep the first k rings, drop the rest.
                let v: Vec<f32> = (1..ks.len())
                    .map(|i| if i <= k { -1e6 } else { 1e6 })
                    .collect();
                t[*d] = Tensor::from_slice(&v);
                idx[*d] = k;
            }
            let arch = Arch::from_indices(&space, &idx).unwrap();
            for train in [false, true] {
                let (a, _) = net.forward_superkernel(&x, &p, &t, train).unwrap();
                let b = net.forward_t(&x, &arch, train).unwrap();
                let diff = (&a - &b).abs().max().double_value(&[]);
                assert!(diff < 1e-5, "kernels {k0} {k1} train {train}: {diff}");
            }
        }
    }
}

#[test]
fn gradients_reach_the_thresholds_from_the_loss_and_the_latency_term() {
    tch::manual_seed(3);
    let space = space();
    let p = plan(&space).unwrap();
    let net = Supernet::new(&space, Device::Cpu).unwrap();
    let w = net.superkernels(&p).unwrap().remove(0);
    let ring = tch::no_grad(|| {
        let inner = w.narrow(2, 1, 3).narrow(3, 1, 3).square().sum(Kind::Double);
        (w.square().sum(Kind::Double) - inner)
            .sqrt()
            .double_value(&[])
    });
    let group = tch::no_grad(|| w.narrow(0, 16, 16).norm().double_value(&[]));
    let l = &p.layers[0];
    let (dk, de) = (l.kernel.as_ref().unwrap().0, l.expand.as_ref().unwrap().0);
    // Both kept, thresholds near the norms (where the sigmoid's slope is felt).
    let t = thresholds(&p, ring - 0.5, group - 0.5);
    let x = Tensor::randn([4, 3, 8, 8], (Kind::Float, Device::Cpu));
    let y = Tensor::from_slice(&[0i64, 1, 2, 0]);
    let (logits, _) = net.forward_superkernel(&x, &p, &t, true).unwrap();
    logits.cross_entropy_for_logits(&y).backward();
    for d in [dk, de] {
        let g = values(&t[d].grad());
        assert!(g[0] != 0.0 && g[0].is_finite(), "decision {d}: {g:?}");
    }
    assert!(w.grad().abs().sum(Kind::Double).double_value(&[]) > 0.0);
    // The latency term: at the indicators' values the chosen pair's cost; a larger option costs more,
    // so raising a threshold lowers the expected cost (a negative gradient).
    for t in &t {
        let _ = t.grad().zero_();
    }
    let cost = LayerCost {
        kernel: Some(dk),
        expand: Some(de),
        table: vec![vec![1.0, 2.0], vec![3.0, 5.0]],
        drop: None,
    };
    let mut kept = vec![None; 2];
    kept[dk] = Some(1);
    kept[de] = Some(1);
    assert_eq!(cost.of(&kept), 5.0);
    // A fresh graph (the loss's backward freed the forward's).
    let probs = decision_probs(&p, &[gates(l, &w, &t, true)], 2);
    let e = cost.expected(&probs, &probs[dk]);
    assert!((e.double_value(&[]) - 5.0).abs() < 1e-6);
    e.backward();
    for d in [dk, de] {
        let g = values(&t[d].grad());
        assert!(g[0] < 0.0, "decision {d}: {g:?}");
    }
}

fn pipeline(threshold_init: f64, epochs: usize, penalty: &str) -> String {
    format!(
        r#"
dataset d = synthetic {{
  split train: 256, val: 64
  batch 32
}}

space net = chain(input: [1, 28, 28], classes: 10) {{
  stem conv(3, out: 8, stride: 2) bn relu
  layers out: 8, stride: 1, repeat: 2, mbconv(kernel: [3, 5], expand: [2, 4])
  layers out: 16, stride: 2, repeat: 1, mbconv(kernel: [3, 5, 7], expand: [1, 3])
  head global_avg_pool linear(out: classes)
}}

stage search = differentiable(net) {{
  relax superkernel(threshold_init: {threshold_init})
  level single
  epochs {epochs}
  weights sgd(lr: 0.05, momentum: 0.9)
  arch adam(lr: 0.01)
  {penalty}
  derive argmax
}}

stage final = retrain(search.best) {{
  epochs 1
  optimizer sgd(lr: 0.05, momentum: 0.9)
}}

stage report = evaluate(final, d.test)
"#
    )
}

/// The derived architecture is what the thresholds say against the norms: thresholds far above every
/// norm drop every ring and group (the smallest network), far below keep them all (the largest).
#[test]
fn derive_argmax_reads_the_thresholds_against_the_norms() {
    let tmp = tempfile::tempdir().unwrap();
    let mut macs = vec![];
    for (init, want) in [(1e4, 0), (-1e4, usize::MAX)] {
        let text = pipeline(init, 1, "penalty flops(weight: 0.1)");
        let (out, o) = smoke_text(tmp.path(), &format!("t{}", init > 0.0), &text);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let state = read_json(&out.join("state.json"));
        let result = &state["done"][0]["result"];
        let best = result["best"].as_object().unwrap();
        assert_eq!(best.len(), 6, "{best:?}");
        for (path, v) in best {
            let v: usize = v.as_str().unwrap().parse().unwrap();
            let smallest = if path.ends_with("kernel") {
                3
            } else if path.starts_with("stage1") {
                1
            } else {
                2
            };
            let largest = if path.ends_with("kernel") {
                if path.starts_with("stage1") { 7 } else { 5 }
            } else if path.starts_with("stage1") {
                3
            } else {
                4
            };
            assert_eq!(v, if want == 0 { smallest } else { largest }, "{path}");
        }
        // The penalty row is the derived architecture's MACs (millions).
        macs.push(result["penalties"][0]["derived"].as_f64().unwrap());
    }
    assert!(0.0 < macs[0] && macs[0] < macs[1], "{macs:?}");
}

/// `pipelines/single_path_nas.nas` runs end to end under `--smoke` (latency table measured into the
/// run folder, the thresholds checkpointed, the trajectory written).
#[test]
fn single_path_nas_passes_a_smoke_run() {
    let tmp = tempfile::tempdir().unwrap();
    let cifar = tmp.path().join("cifar");
    fake_cifar(&cifar);
    let (out, _) = smoke_run(tmp.path(), "single_path_nas", &cifar);
    let summary = read_json(&out.join("summary.json"));
    assert_eq!(summary["complete"], true);
    let stages = summary["stages"].as_array().unwrap();
    let search = stages
        .iter()
        .find(|s| s["kind"] == "differentiable")
        .unwrap();
    assert!(search["settings"].get("relax").is_some(), "{search}");
    let dir = out.join("stages/search");
    assert!(dir.join("single_path_latency.json").is_file());
    assert!(dir.join("alphas.safetensors").is_file());
    let state = read_json(&out.join("state.json"));
    let result = &state["done"][0]["result"];
    assert_eq!(result["final_probs"].as_object().unwrap().len(), 57);
    let row = &result["penalties"][0];
    assert_eq!(row["metric"], "latency");
    assert!(row["derived"].as_f64().unwrap() > 0.0, "{row}");
    assert!(out.join("best.arch.yaml").is_file());
    assert!(out.join("model/weights.safetensors").is_file());
}

/// Thresholds and their optimizer are checkpointed with the weights: a superkernel search killed
/// mid-search and resumed ends with the files of a clean run.
#[test]
fn a_killed_superkernel_search_resumes_to_the_same_result() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("sk.nas");
    std::fs::write(&file, pipeline(0.0, 16, "penalty params(weight: 0.1)")).unwrap();
    let clean = tmp.path().join("clean");
    let killed = tmp.path().join("killed");
    let err =
        clean_then_killed_and_resumed(&file, &clean, &killed, "stages/search/search.ckpt.json", 5);
    assert!(
        !err.contains("search epoch 1/16"),
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

/// What a superkernel search does not define is refused by `nasl check` with `not_run` and a help
/// line: a bi-level level, a derivation other than argmax, a space with a layer choice, channel
/// decisions or options not in ascending order; other relaxations refuse elastic decisions and name
/// `superkernel`; `masked_gumbel` refuses elastic decisions and names `superkernel`.
#[test]
fn what_a_superkernel_search_does_not_define_is_refused_up_front() {
    let ok = pipeline(0.0, 1, "penalty flops(weight: 0.1)");
    assert_eq!(refusals(&ok), vec![]);
    let cases: Vec<(String, &str, &str)> = vec![
        (
            ok.replace("level single", "level bilevel(split: 0.5)"),
            "bi-level superkernel search",
            "level single",
        ),
        (
            ok.replace("derive argmax", "derive sample(3)"),
            "derives its architecture from the thresholds",
            "derive argmax",
        ),
        (
            ok.replace(
                "repeat: 2, mbconv(kernel: [3, 5], expand: [2, 4])",
                "repeat: 2, choose [mbconv(3, 3), mbconv(5, 6)]",
            ),
            "searches a layer choice only as a block that can be dropped",
            "mbconv(kernel: [3, 5], expand: [3, 6])",
        ),
        (
            ok.replace(
                "layers out: 16, stride: 2, repeat: 1, mbconv(kernel: [3, 5, 7], expand: [1, 3])",
                "layers out: 16, stride: 2, repeat: 1, choose [mbconv(kernel: [3, 5, 7], expand: [1, 3]), skip]",
            ),
            "can be dropped only where its block is one mbconv that adds its input",
            "stride: 1",
        ),
        (
            ok.replace("layers out: 8,", "layers out: [8, 12],"),
            "is a channels decision",
            "fix `out`",
        ),
        (
            ok.replace("kernel: [3, 5, 7]", "kernel: [5, 3]"),
            "ascending",
            "smallest first",
        ),
        (
            ok.replace(
                "relax superkernel(threshold_init: 0)",
                "relax gumbel(tau: 1.0)",
            )
            .replace("level single", "level bilevel(split: 0.5)"),
            "elastic decision",
            "relax superkernel",
        ),
        (
            ok.replace(
                "relax superkernel(threshold_init: 0)",
                "relax masked_gumbel(tau: 5.0)",
            ),
            "`relax masked_gumbel` masks channels and resolution",
            "relax superkernel",
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
        assert!(
            r.iter().all(|(c, _, _)| c == "nasl::sema::not_run"),
            "{r:?}"
        );
    }
}

/// The cost term moves the thresholds: with a strong MACs penalty (and a threshold rate that can
/// cross the norms within the run) the search drops kernel rings and channel groups, and the derived
/// architecture is cheaper than the largest one.
#[test]
fn a_cost_penalty_drives_the_thresholds_to_smaller_options() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("cost.nas");
    let text = pipeline(0.0, 16, "penalty flops(weight: 5.0)")
        .replace("arch adam(lr: 0.01)", "arch adam(lr: 0.3)");
    std::fs::write(&file, text).unwrap();
    let out = tmp.path().join("out");
    let o = super::common::run_into(&file, &out, 1).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let state = read_json(&out.join("state.json"));
    let result = &state["done"][0]["result"];
    let best = result["best"].as_object().unwrap();
    let smallest = best
        .iter()
        .filter(|(path, v)| {
            let v = v.as_str().unwrap();
            match (path.ends_with("kernel"), path.starts_with("stage1")) {
                (true, _) => v == "3",
                (false, true) => v == "1",
                (false, false) => v == "2",
            }
        })
        .count();
    assert!(smallest >= 4, "{best:?}");
    // The trajectory: the largest options lose probability from the first epoch to the last.
    let traj = read_json(&out.join("stages/search/arch_trajectory.json"));
    let traj = traj.as_array().unwrap();
    let (first, last) = (&traj[0]["probs"], &traj[traj.len() - 1]["probs"]);
    for (path, p) in first.as_object().unwrap() {
        let top = |p: &Json| p.as_array().unwrap().last().unwrap().as_f64().unwrap();
        assert!(top(&last[path]) < top(p), "{path}: {p} -> {}", last[path]);
    }
}

/// A layer that can be dropped (Single-Path NAS's smallest expansion as a skip).
const DROP_SPACE: &str = r#"
space net = chain(input: [3, 8, 8], classes: 3) {
  stem conv(3, out: 8) bn relu
  layers out: 8, stride: 1, repeat: 1, choose [mbconv(kernel: [3, 5], expand: [2, 4]), skip]
  head global_avg_pool linear(out: classes)
}
"#;

/// `choose [mbconv(..), skip]` under `relax superkernel`: the drop indicator on the first
/// expansion group's norm keeps the block or leaves the identity. At its values the forward equals
/// the sub-network with the block (at the kernel and expansion the other indicators chose) or with
/// `skip`, in training and evaluation; the layer decision's probabilities are one-hot on the chosen
/// option (what `derive argmax` reads); a dropped layer costs nothing; the drop threshold gets a
/// gradient from the loss.
#[test]
fn a_dropped_layer_is_the_identity_that_skip_stands_for() {
    tch::manual_seed(5);
    let space = space_of(DROP_SPACE);
    let p = plan(&space).unwrap();
    assert_eq!(p.layers.len(), 1);
    let l = &p.layers[0];
    let (dl, skip) = l.drop.unwrap();
    assert_eq!(space.decisions[dl].labels[skip], "skip");
    assert_eq!(p.largest[dl], 1 - skip, "the block is the largest option");
    let (dk, de) = (l.kernel.as_ref().unwrap().0, l.expand.as_ref().unwrap().0);
    let net = Supernet::new(&space, Device::Cpu).unwrap();
    let x = Tensor::randn([4, 3, 8, 8], (Kind::Float, Device::Cpu));
    let n = space.decisions.len();
    let at = |td: f64, tk: f64, te: f64| -> Vec<Tensor> {
        let mut t: Vec<Tensor> = (0..n).map(|_| Tensor::new()).collect();
        t[dl] = Tensor::from_slice(&[td as f32]).set_requires_grad(true);
        t[dk] = Tensor::from_slice(&[tk as f32]).set_requires_grad(true);
        t[de] = Tensor::from_slice(&[te as f32]).set_requires_grad(true);
        t
    };
    for (dropped, k, e) in [(true, 0, 0), (false, 1, 0), (false, 0, 1)] {
        let t = at(
            if dropped { 1e6 } else { -1e6 },
            if k == 1 { -1e6 } else { 1e6 },
            if e == 1 { -1e6 } else { 1e6 },
        );
        let mut idx = vec![0; n];
        idx[dl] = if dropped { skip } else { 1 - skip };
        idx[dk] = k;
        idx[de] = e;
        let arch = Arch::from_indices(&space, &idx).unwrap();
        for train in [false, true] {
            let (a, probs) = net.forward_superkernel(&x, &p, &t, train).unwrap();
            let b = net.forward_t(&x, &arch, train).unwrap();
            let diff = (&a - &b).abs().max().double_value(&[]);
            assert!(
                diff < 1e-5,
                "dropped {dropped} k {k} e {e} train {train}: {diff}"
            );
            assert_eq!(values(&probs[dl])[idx[dl]], 1.0, "dropped {dropped}");
        }
    }
    // A dropped layer costs nothing, in the expectation and for the chosen architecture.
    let cost = LayerCost {
        kernel: Some(dk),
        expand: Some(de),
        table: vec![vec![1.0, 2.0], vec![3.0, 5.0]],
        drop: Some((dl, skip)),
    };
    let mut chosen = vec![Some(1); n];
    chosen[dl] = Some(1 - skip);
    assert_eq!(cost.of(&chosen), 5.0);
    chosen[dl] = Some(skip);
    assert_eq!(cost.of(&chosen), 0.0);
    let w = net.superkernels(&p).unwrap().remove(0);
    let probs = decision_probs(&p, &[gates(l, &w, &at(1e6, -1e6, -1e6), true)], n);
    assert_eq!(cost.expected(&probs, &w).double_value(&[]), 0.0);
    let probs = decision_probs(&p, &[gates(l, &w, &at(-1e6, -1e6, -1e6), true)], n);
    assert_eq!(cost.expected(&probs, &w).double_value(&[]), 5.0);
    // The drop threshold learns from the loss near the first group's norm.
    let first = tch::no_grad(|| w.narrow(0, 0, 16).narrow(2, 1, 3).narrow(3, 1, 3).norm());
    let t = at(first.double_value(&[]) - 0.5, 1e6, 1e6);
    let y = Tensor::from_slice(&[0i64, 1, 2, 0]);
    let (logits, _) = net.forward_superkernel(&x, &p, &t, true).unwrap();
    logits.cross_entropy_for_logits(&y).backward();
    let g = values(&t[dl].grad());
    assert!(g[0] != 0.0 && g[0].is_finite(), "{g:?}");
}

/// A search whose indicators all start far above the norms drops every droppable layer: the
/// derived architecture chooses `skip` there, end to end.
#[test]
fn a_search_that_drops_every_layer_derives_skips() {
    let tmp = tempfile::tempdir().unwrap();
    let text = pipeline(1000.0, 1, "penalty params(weight: 0.1)").replace(
        "layers out: 8, stride: 1, repeat: 2, mbconv(kernel: [3, 5], expand: [2, 4])",
        "layers out: 8, stride: 1, repeat: 2, choose [mbconv(kernel: [3, 5], expand: [2, 4]), skip]",
    );
    assert!(text.contains("skip]"));
    let (out, o) = smoke_text(tmp.path(), "drop", &text);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let best = std::fs::read_to_string(out.join("best.arch.yaml")).unwrap();
    assert!(best.contains("stage0.layer0: skip"), "{best}");
    assert!(best.contains("stage0.layer1: skip"), "{best}");
}
