//! `progressive_shrinking` (OFA) end to end: a smoke run whose phases release the elastic dimensions
//! in the written order (depth and width in sub-steps), whose distillation changes the training, and
//! whose supernet a search and an evaluation read; and a run killed with SIGKILL in a middle phase,
//! resumed, ending with the files of a clean run without training the finished phases again.

use std::path::Path;

use serde_json::Value as Json;

use super::common::{clean_then_killed_and_resumed, read_json, smoke_text};

const SPACE: &str = r#"
dataset d = synthetic {
  split train: 300, val: 100
  batch 50
}

space ofa = chain(input: [1, 28, 28], classes: 10) {
  resolution [20, 28]
  stem conv(3, out: 8, stride: 2) bn relu
  layers out: 8, stride: 1, repeat: [1, 2, 3], mbconv(kernel: [3, 5, 7], expand: [2, 3, 4])
  layers out: 16, stride: 2, repeat: [1, 2], mbconv(kernel: [3, 5], expand: [2, 3])
  head global_avg_pool linear(out: classes)
}
"#;

fn pipeline(phases: &str, distill: &str) -> String {
    format!(
        "{SPACE}
stage sup = progressive_shrinking(ofa) {{
{phases}{distill}  optimizer sgd(lr: 0.05, momentum: 0.9)
}}

stage search = evolution(sup) {{
  population 4
  generations 2
  keep 2
  recalibrate bn(images: 100)
}}

stage report = evaluate(search.best, d.test)
"
    )
}

const PHASES: &str = "  phase full(epochs: 1, lr: 0.05)
  phase kernel(epochs: 1, lr: 0.01)
  phase depth(epochs: 2, lr: 0.01)
  phase width(epochs: 2, lr: 0.01)
";

use super::common::stage_of as stage;

/// The phases of the smoke run: in the written order, each sampling the options released so far
/// (the resolution in every phase; full: one per other decision; kernel: kernel sizes; depth: two
/// depths, then three; width: two expand ratios, then three, after kernel and depth), one sub-network
/// per step in full and kernel and two in depth and width, with `phase` and `distill` applied, the
/// supernet read by the search, and the best sub-network evaluated on the supernet's weights.
/// Distillation changes the training after the full phase, and only after it; `subnets` changes the
/// phase it is given to, and only from it on.
#[test]
fn progressive_shrinking_releases_dimensions_in_phase_order() {
    let tmp = tempfile::tempdir().unwrap();
    let (out, o) = smoke_text(tmp.path(), "ps", &pipeline(PHASES, "  distill 1.0\n"));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let summary = read_json(&out.join("summary.json"));
    let sup = stage(&summary, "sup");
    assert_eq!(sup["kind"], "progressive_shrinking");
    for key in ["phase", "distill", "optimizer"] {
        assert!(
            sup["settings"].get(key).is_some(),
            "{key} not applied: {sup}"
        );
    }
    let front = nasl::driver::check_text("ps.nas", &pipeline(PHASES, ""));
    let space = &front.spaces[0].1;
    let phases = sup["phases"].as_array().unwrap();
    let tags: Vec<&str> = phases.iter().map(|p| p["tag"].as_str().unwrap()).collect();
    assert_eq!(
        tags,
        [
            "p0.full",
            "p1.kernel",
            "p2.depth.1",
            "p2.depth.2",
            "p3.width.1",
            "p3.width.2"
        ]
    );
    use nasl::ir::DecisionKind as K;
    for p in phases {
        let tag = p["tag"].as_str().unwrap();
        let released: Vec<usize> = p["released"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(released.len(), space.decisions.len());
        for (d, dec) in space.decisions.iter().enumerate() {
            let n = dec.labels.len();
            let kernel = dec.kind == K::Elastic && dec.path.ends_with(".kernel");
            let width = dec.kind == K::Elastic && dec.path.ends_with(".expand");
            let want = match tag {
                // OFA's image size is elastic in every phase, the full network's included.
                _ if dec.kind == K::Resolution => n,
                "p0.full" => 1,
                "p1.kernel" => {
                    if kernel {
                        n
                    } else {
                        1
                    }
                }
                "p2.depth.1" | "p2.depth.2" if dec.kind == K::Depth => {
                    n.min(if tag.ends_with('1') { 2 } else { 3 })
                }
                "p2.depth.1" | "p2.depth.2" => {
                    if kernel {
                        n
                    } else {
                        1
                    }
                }
                _ if width => n.min(if tag.ends_with('1') { 2 } else { 3 }),
                _ => n,
            };
            assert_eq!(released[d], want, "{tag}: {}", dec.path);
        }
        assert_eq!(
            p["train"]["epochs"], 1,
            "{tag}: smoke runs train one epoch per step"
        );
        // OFA's sub-networks per step: one in the full and kernel phases, two in depth and width.
        let subnets = if tag.starts_with("p2") || tag.starts_with("p3") {
            2
        } else {
            1
        };
        assert_eq!(p["subnets"], subnets, "{tag}");
    }
    let search = stage(&summary, "search");
    assert!(search["best"].is_object(), "{search}");
    assert!(out.join("best.arch.yaml").is_file());
    // The best sub-network is evaluated on the supernet's weights, without retraining, at the
    // architecture's exact cost.
    let report = stage(&summary, "report");
    assert_eq!(report["weights"], "supernet", "{report}");
    assert_eq!(report["params"], search["params"]);
    assert!(report["test_accuracy"].as_f64().is_some(), "{report}");

    // Without `distill`: the same full phase, a different kernel phase.
    let (plain, o) = smoke_text(tmp.path(), "plain", &pipeline(PHASES, ""));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let other = stage(&read_json(&plain.join("summary.json")), "sup");
    let loss = |s: &Json, i: usize| s["phases"][i]["train"]["final_loss"].as_f64().unwrap();
    assert_eq!(loss(&sup, 0), loss(&other, 0));
    assert!(
        (loss(&sup, 1) - loss(&other, 1)).abs() > 1e-6,
        "distill changed nothing"
    );

    // One sub-network per depth step instead of two: the same phases before depth, another depth
    // phase.
    let one = PHASES.replace(
        "phase depth(epochs: 2, lr: 0.01)",
        "phase depth(epochs: 2, lr: 0.01, subnets: 1)",
    );
    let (single, o) = smoke_text(tmp.path(), "single", &pipeline(&one, ""));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let single = stage(&read_json(&single.join("summary.json")), "sup");
    assert_eq!(single["phases"][2]["subnets"], 1);
    assert_eq!(loss(&single, 1), loss(&other, 1));
    assert!(
        (loss(&single, 2) - loss(&other, 2)).abs() > 1e-6,
        "`subnets` changed nothing"
    );
}

/// Killed with SIGKILL in the middle of the depth phase's second sub-step and resumed: the finished
/// phases are not trained again, and the run ends with the supernet, best architecture, summary and
/// metrics of a clean run.
#[test]
fn a_killed_progressive_shrinking_resumes_mid_phase_to_the_same_files() {
    let tmp = tempfile::tempdir().unwrap();
    let phases = "  phase full(epochs: 2, lr: 0.05)
  phase kernel(epochs: 1, lr: 0.01)
  phase depth(epochs: 6, lr: 0.01)
  phase width(epochs: 2, lr: 0.01)
";
    let file = tmp.path().join("p.nas");
    std::fs::write(&file, pipeline(phases, "  distill 0.5\n")).unwrap();
    let clean = tmp.path().join("clean");
    let killed = tmp.path().join("killed");
    // Depth: 1 epoch with two depths, then 5 with all three; killed once the latter's first epoch
    // is checkpointed.
    let err =
        clean_then_killed_and_resumed(&file, &clean, &killed, "stages/sup/p2.depth.2.ckpt.json", 4);
    assert!(
        !err.contains("p0.full epoch"),
        "the full phase trained again:\n{err}"
    );
    assert!(
        !err.contains("p2.depth.1 epoch"),
        "a finished sub-step trained again:\n{err}"
    );
    super::assert_same_run(
        &clean,
        &killed,
        &["best.arch.yaml", "stages/sup/supernet.safetensors"],
    );
}

/// `evolution` with OFA's accuracy predictor on a progressive-shrinking supernet: the predictor is
/// fitted on measured samples (smoke runs: at most 12, the last fifth held out, at least two) and
/// judged on the held-out ones; the evolution ranks by prediction and measures the `keep` best on
/// the supernet, whose best is evaluated without retraining.
#[test]
fn evolution_with_an_accuracy_predictor_reports_its_fit() {
    let tmp = tempfile::tempdir().unwrap();
    let text = pipeline(PHASES, "").replace(
        "  recalibrate bn(images: 100)\n",
        "  recalibrate bn(images: 100)\n  predictor mlp(hidden: 16, layers: 2, samples: 20)\n",
    );
    assert!(text.contains("predictor mlp"));
    let (out, o) = smoke_text(tmp.path(), "pred", &text);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let summary = read_json(&out.join("summary.json"));
    let search = stage(&summary, "search");
    assert!(search["settings"].get("predictor").is_some(), "{search}");
    let p = &search["predictor"];
    assert_eq!(p["samples"], 12, "{p}");
    assert_eq!(p["train_pairs"], 10);
    assert_eq!(p["heldout_pairs"], 2);
    assert_eq!(
        (p["hidden"].as_u64(), p["layers"].as_u64()),
        (Some(16), Some(2))
    );
    assert!(p["rmse"].as_f64().is_some_and(|r| r >= 0.0), "{p}");
    // Smoke evolution: keep 2, so two candidates measured, the rest only predicted.
    assert_eq!(p["measured"], 2);
    assert_eq!(search["evaluated"], 2);
    assert!(p["predicted"].as_u64().unwrap() >= 2);
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    assert!(metrics.contains("\"event\":\"predictor\""));
    let report = stage(&summary, "report");
    assert_eq!(report["weights"], "supernet");
    assert_eq!(report["params"], search["params"]);
}

/// `pipelines/ofa.nas` runs end to end under `--smoke`: progressive shrinking, then evolution with
/// the accuracy predictor under its latency constraint, read off a lookup table that holds every op
/// of the elastic space at every resolution (`cost::latency::space_ops` over the space's op cover),
/// then the best sub-network evaluated without retraining. Killed with SIGKILL in the depth phase
/// and resumed (with the clean run's latency table, since measured latencies differ between any two
/// measurements), it ends with the files of the clean run; the resume is given no `--data`: the run
/// recorded the dataset folder it started with.
#[test]
fn ofa_pipeline_runs_and_resumes_mid_shrinking_to_the_same_files() {
    let tmp = tempfile::tempdir().unwrap();
    let cifar = tmp.path().join("cifar");
    super::common::fake_cifar(&cifar);
    let file = super::common::root().join("pipelines/ofa.nas");
    let run = |out: &Path| {
        let mut c = super::common::run_into(&file, out, 0);
        c.arg("--smoke")
            .arg("--data")
            .arg(format!("cifar={}", cifar.display()));
        c
    };
    let clean = tmp.path().join("clean");
    let o = run(&clean).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let summary = read_json(&clean.join("summary.json"));
    assert_eq!(summary["complete"], true);
    let sup = stage(&summary, "supernet");
    assert_eq!(sup["kind"], "progressive_shrinking");
    let search = stage(&summary, "search");
    assert!(search["settings"].get("latency").is_some(), "{search}");
    assert!(search["settings"].get("constraint").is_some(), "{search}");
    // The table: exactly the ops of the space's architectures (279 keys), one per key.
    let front = nasl::driver::check_file(&file, &nasl::source::FsLoader);
    assert!(!front.checked.has_errors(), "{:?}", front.checked.diags);
    let space = &front.spaces[0].1;
    let table_path = clean.join("stages/search/ofa_latency.json");
    let table = nasl::cost::latency::LatencyTable::load(&table_path).unwrap();
    let ops = nasl::cost::latency::space_ops(space).unwrap();
    assert_eq!(
        table.entries.keys().collect::<Vec<_>>(),
        ops.keys().collect::<Vec<_>>()
    );
    // Every measured candidate's latency is the table's sum over its network, within the bound.
    let state = read_json(&clean.join("state.json"));
    let result = &state["done"][1]["result"];
    let candidates = result["candidates"].as_array().unwrap();
    assert!(!candidates.is_empty());
    for c in candidates {
        let arch = nasl::ir::Arch::from_json(&c["arch"].to_string()).unwrap();
        let (net, _) = space
            .net_from_choices(&space.arch_indices(&arch).unwrap())
            .unwrap();
        let ms = table.net_ms(&net).unwrap();
        let got = c["latency_ms"].as_f64().unwrap();
        assert!((got - ms).abs() < 1e-9, "{got} against {ms}");
        assert!(got <= 20.0, "{got} ms breaks `constraint latency <= 20ms`");
    }
    let report = stage(&summary, "report");
    assert_eq!(report["weights"], "supernet", "{report}");
    assert!(clean.join("best.arch.yaml").is_file());

    let killed = tmp.path().join("killed");
    super::common::run_and_kill(
        run(&killed),
        &killed,
        "stages/supernet/p2.depth.1.ckpt.json",
    );
    let dir = killed.join("stages/search");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(&table_path, dir.join("ofa_latency.json")).unwrap();
    let err = super::common::resume(&killed);
    assert!(
        !err.contains("p0.full epoch"),
        "the full phase trained again:\n{err}"
    );
    super::assert_same_run(
        &clean,
        &killed,
        &[
            "best.arch.yaml",
            "stages/supernet/supernet.safetensors",
            "stages/search/ofa_latency.json",
        ],
    );
}

/// `rank(sup) { extremes true }` on a progressive-shrinking supernet ranks the largest and the
/// smallest sub-network first (every decision at its greatest, then its least size), then the
/// `samples` random ones, each extracted with BN recalibration and trained stand-alone.
#[test]
fn rank_with_extremes_ranks_the_largest_and_the_smallest_first() {
    let tmp = tempfile::tempdir().unwrap();
    let text = format!(
        "{SPACE}
stage sup = progressive_shrinking(ofa) {{
{PHASES}  optimizer sgd(lr: 0.05, momentum: 0.9)
}}

stage r = rank(sup) {{
  samples 2
  extremes true
  epochs 1
}}
"
    );
    let (out, o) = smoke_text(tmp.path(), "extremes", &text);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let state = read_json(&out.join("state.json"));
    let samples = state["done"][1]["result"]["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 4, "2 extremes + 2 random");
    // Every decision at its greatest option, then at its least (the smallest has one layer per
    // stage, so its other layers' decisions are absent).
    let front = nasl::driver::check_text("extremes.nas", &text);
    let space = &front.spaces[0].1;
    for (sample, largest) in [(&samples[0], true), (&samples[1], false)] {
        let arch = sample["arch"].as_object().unwrap();
        for d in &space.decisions {
            let sizes: Vec<u64> = d.labels.iter().map(|l| l.parse().unwrap()).collect();
            let want = if largest {
                sizes.iter().max()
            } else {
                sizes.iter().min()
            };
            match arch.get(&d.path) {
                Some(v) => assert_eq!(v.as_str().unwrap(), want.unwrap().to_string(), "{}", d.path),
                None => assert!(!largest, "the largest lacks {}", d.path),
            }
        }
    }
    assert_eq!(samples[1]["arch"]["stage0.depth"], "1");
    let distinct: std::collections::BTreeSet<String> =
        samples.iter().map(|s| s["arch"].to_string()).collect();
    assert_eq!(distinct.len(), 4);
    for s in samples {
        assert!(s["supernet_accuracy"].as_f64().is_some(), "{s}");
        assert!(s["standalone_accuracy"].as_f64().is_some(), "{s}");
    }
}
