//! The contract between `nasl check` and `nasl run`, generated from sema's own tables: every (stage
//! kind, setting) pair that sema accepts is either refused by `nasl check` (`nasl::sema::not_run`) or
//! applied by a smoke run, where the stage's `settings` in summary.json lists it. A setting made a
//! no-op (its read removed from the executor) or a new setting with neither fails here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use nasl::diag::Code;
use nasl::sema::hir::StageKind;
use nasl::sema::tables::{STAGES, settings_for};
use nasl::source::MemLoader;

use super::common::{check_error_diags, read_json, smoke_text};

/// A value for every stage setting, as a user would write it. A setting missing here fails the test.
const SAMPLES: &[(&str, &str)] = &[
    ("epochs", "1"),
    ("batch", "16"),
    ("optimizer", "sgd(lr: 0.05, momentum: 0.9, wd: 1e-4)"),
    ("weights", "sgd(lr: 0.05, momentum: 0.9)"),
    ("arch", "adam(lr: 3e-4, betas: (0.5, 0.999))"),
    ("schedule", "cosine(min: 0.001)"),
    ("sampler", "fair"),
    ("relax", "gumbel(tau: 5 -> 0.5)"),
    ("level", "bilevel(order: 1, split: 0.5)"),
    ("derive", "sample(2)"),
    ("population", "4"),
    ("generations", "2"),
    ("keep", "2"),
    ("mutate", "2, p: 0.2"),
    ("crossover", "2"),
    ("samples", "3"),
    ("candidates", "3"),
    ("eta", "3"),
    ("min_epochs", "1"),
    ("max_epochs", "2"),
    ("constraint", "params != 1"),
    ("penalty", "flops(weight: 0.1)"),
    ("objective", "val.accuracy"),
    ("pareto", "[val.accuracy, params]"),
    ("recalibrate", "bn(images: 64)"),
    ("seeds", "[0, 1]"),
    ("controller", "lstm"),
    ("reward", "accuracy"),
    ("steps", "2"),
    ("proxy_epochs", "1"),
    ("shared", "true"),
    ("phase", "full(epochs: 1)"),
    ("split_on", "1"),
    ("finetune", "1"),
    ("drop_path", "0.1"),
    ("auxiliary", "0.4"),
    ("cutout", "8"),
    ("grad_clip", "5"),
    ("label_smoothing", "0.1"),
    ("warmup", "1"),
    ("distill", "1.0"),
    ("latency", "measure"),
    ("predictor", "mlp"),
    ("dropout", "0.2"),
    ("network", "cells: 3, channels: 8"),
    ("affine", "false"),
    ("extremes", "true"),
    ("sample_over", "classes"),
];

/// Settings that exclude one another within a stage (`pareto` replaces `objective`, `phase` lines
/// replace `epochs`): run apart.
const APART: &[&str] = &["pareto", "phase"];

const HEADER: &str = r#"
dataset d = synthetic {
  split train: 300, val: 100
  batch 50
}

space net = chain(input: [1, 28, 28], classes: 10) {
  stem conv(3, out: 8, stride: 2) bn relu
  layers out: 8, stride: 1, repeat: 2, choose [conv(3) bn relu, conv(5) bn relu]
  head global_avg_pool linear(out: classes)
}

space cells = cell(nodes: 2, inputs: 2) {
  ops [sep_conv(3), avg_pool(3), skip]
  network cells: 3, channels: 4, reduce_at: [1/3, 2/3], input: [1, 28, 28], classes: 10
}

space sk = chain(input: [1, 28, 28], classes: 10) {
  stem conv(3, out: 8, stride: 2) bn relu
  layers out: 8, stride: 1, repeat: 1, mbconv(kernel: [3, 5], expand: [2, 4])
  head global_avg_pool linear(out: classes)
}

space ofa = chain(input: [1, 28, 28], classes: 10) {
  resolution [20, 28]
  stem conv(3, out: 8, stride: 2) bn relu
  layers out: 8, stride: 1, repeat: [1, 2], mbconv(kernel: [3, 5], expand: [2, 3])
  head global_avg_pool linear(out: classes)
}

space fixed = chain(input: [1, 28, 28], classes: 10) {
  stem conv(3, out: 8, stride: 2) bn relu
  layers out: 8, stride: 1, repeat: 1, conv(3) bn relu
  head global_avg_pool linear(out: classes)
}
"#;

/// A stage head: variant name, the stages before it, `KIND(INPUT)`, and settings every pipeline of
/// the variant has (a mode the others are tried in).
type Scaffold = (
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

/// The stages before the stage under test, and its head (`s = KIND(INPUT)`), per kind. `train` is
/// tried on a supernet and on a fixed network, `rl` with shared weights (ENAS) and without (MnasNet).
fn scaffolds(kind: StageKind) -> Vec<Scaffold> {
    use StageKind as K;
    let sup = "stage sup = train(net) { epochs 1 }\n";
    let searched =
        "stage sup = train(net) { epochs 1 }\nstage found = random_search(sup) { samples 2 }\n";
    let retrained = "stage fin = retrain(fixed) { epochs 1 }\n";
    let searched_cell = "stage csup = train(cells) { epochs 1 }\nstage cfound = random_search(csup) { samples 2 }\n";
    match kind {
        K::Train => vec![
            ("supernet", "", "train(net)", &[]),
            ("fixed", "", "train(fixed)", &[]),
            // A cell supernet under the sandwich rule: `sample_over` and `affine` apply there.
            (
                "cell",
                "",
                "train(cells)",
                &[("sampler", "sandwich(random: 1, distill: true)")],
            ),
        ],
        K::ProgressiveShrinking => vec![("", "", "progressive_shrinking(ofa)", &[])],
        K::FewShot => vec![("", sup, "few_shot(sup)", &[])],
        K::Evolution => vec![("", sup, "evolution(sup)", &[])],
        K::RandomSearch => vec![("", sup, "random_search(sup)", &[])],
        K::Nsga2 => vec![("", sup, "nsga2(sup)", &[])],
        K::SuccessiveHalving => vec![("", "", "successive_halving(net)", &[])],
        K::Differentiable => vec![
            ("", "", "differentiable(net)", &[]),
            (
                "superkernel",
                "",
                "differentiable(sk)",
                &[
                    ("relax", "superkernel(threshold_init: 0)"),
                    ("level", "single"),
                ],
            ),
        ],
        K::Rl => vec![
            ("enas", "", "rl(net)", &[]),
            ("mnas", "", "rl(net)", &[("shared", "false")]),
        ],
        K::Hypernet => vec![("", "", "hypernet(net)", &[])],
        K::Retrain => vec![
            ("", searched, "retrain(found.best)", &[]),
            ("cell", searched_cell, "retrain(cfound.best)", &[]),
        ],
        K::Evaluate => vec![
            ("trained", retrained, "evaluate(fin, d.test)", &[]),
            ("searched", searched, "evaluate(found.best, d.test)", &[]),
            ("supernet", sup, "evaluate(sup, d.test)", &[]),
            (
                "differentiable",
                "stage dd = differentiable(net) { epochs 1 }\n",
                "evaluate(dd.best, d.test)",
                &[],
            ),
        ],
        K::Rank => vec![
            ("", sup, "rank(sup)", &[]),
            (
                "elastic",
                "stage osup = progressive_shrinking(ofa) { phase full(epochs: 1, lr: 0.05) }\n",
                "rank(osup)",
                &[],
            ),
        ],
    }
}

fn pipeline(
    before: &str,
    head: &str,
    preset: &[(&str, &str)],
    settings: &[(&str, &str)],
) -> String {
    let body: String = preset
        .iter()
        .chain(settings)
        .map(|(k, v)| format!("  {k} {v}\n"))
        .collect();
    format!("{HEADER}\n{before}stage s = {head} {{\n{body}}}\n")
}

/// The codes of `nasl check` on a pipeline text, and whether it has errors.
fn check(text: &str) -> Vec<(Code, String)> {
    check_error_diags(text)
        .into_iter()
        .map(|d| (d.code, d.message))
        .collect()
}

fn smoke(dir: &Path, name: &str, text: &str) -> serde_json::Value {
    let (out, o) = smoke_text(dir, name, text);
    assert!(
        o.status.success(),
        "{name}: nasl run failed:\n{}\n{text}",
        String::from_utf8_lossy(&o.stderr)
    );
    results_read_back(&out, text);
    let summary = read_json(&out.join("summary.json"));
    summary["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == "s")
        .unwrap_or_else(|| panic!("{name}: no stage `s` in {summary}"))
        .clone()
}

/// Every stage result a run kept in `state.json` reads back (by its stage's kind) to the typed value
/// that wrote it: what a resumed run hands to later stages is what the clean run handed them.
fn results_read_back(out: &Path, text: &str) {
    let mut loader = MemLoader::default();
    loader.files.insert("p.nas".into(), text.to_string());
    let front = nasl::driver::check_file(Path::new("p.nas"), &loader);
    let program = front.checked.program.expect("the pipeline checked");
    let state = read_json(&out.join("state.json"));
    let done = state["done"].as_array().unwrap();
    assert_eq!(done.len(), program.stages.len(), "{text}");
    for d in done {
        let stage = program.stages.iter().find(|s| s.name == d["name"]).unwrap();
        let mut written = d["result"].clone();
        let m = written.as_object_mut().unwrap();
        assert!(m.remove("seconds").is_some() && m.remove("settings").is_some());
        let typed = nasl::exec::StageResult::decode(stage, &d["result"])
            .unwrap_or_else(|e| panic!("stage {}: {e}\n{text}", stage.name));
        assert_eq!(
            typed.to_json(),
            written,
            "stage {} ({:?}) does not read back to what it wrote",
            stage.name,
            stage.kind
        );
    }
}

#[test]
fn every_setting_check_accepts_is_applied_by_run_or_refused_by_check() {
    let samples: BTreeMap<&str, &str> = SAMPLES.iter().copied().collect();
    let tmp = tempfile::tempdir().unwrap();
    let mut refused = BTreeSet::new();
    let mut applied = BTreeSet::new();
    let mut ignored = Vec::new();
    for (kind_name, kind) in STAGES {
        for (variant, before, head, preset) in scaffolds(*kind) {
            let label = format!(
                "{kind_name}{}{variant}",
                if variant.is_empty() { "" } else { "-" }
            );
            // The scaffold alone runs, or the stage kind is refused as a whole.
            let bare = pipeline(before, head, preset, &[]);
            let errors = check(&bare);
            if !errors.is_empty() {
                assert!(
                    errors.iter().all(|(c, _)| *c == Code::SemaNotRun),
                    "{label}: the scaffold has errors other than refusals: {errors:?}\n{bare}"
                );
                refused.insert(label);
                continue;
            }
            let mut runs: Vec<Vec<(&str, &str)>> = vec![vec![]];
            for setting in settings_for(*kind) {
                let key = setting.key;
                if preset.iter().any(|(k, _)| *k == key) {
                    applied.insert(format!("{label}.{key}"));
                    continue;
                }
                let value = samples.get(key).unwrap_or_else(|| {
                    panic!("no sample value for setting `{key}`: add one to SAMPLES")
                });
                let text = pipeline(before, head, preset, &[(key, value)]);
                let errors = check(&text);
                if errors.is_empty() {
                    if APART.contains(&key) {
                        runs.push(vec![(key, value)]);
                    } else {
                        runs[0].push((key, value));
                    }
                } else {
                    // Refused up front: `not_run`, or a check of its own (a sampler on a fixed
                    // network is a `sampler_mismatch`); either way no run starts on it.
                    refused.insert(format!("{label}.{key}"));
                }
            }
            for (i, settings) in runs.iter().enumerate() {
                let text = pipeline(before, head, preset, settings);
                let errors = check(&text);
                assert!(errors.is_empty(), "{label}: together: {errors:?}\n{text}");
                let stage = smoke(tmp.path(), &format!("{label}-{i}"), &text);
                let used = &stage["settings"];
                for (key, _) in settings {
                    if used.get(key).is_some() {
                        applied.insert(format!("{label}.{key}"));
                    } else {
                        ignored.push(format!("{label}.{key}"));
                    }
                }
            }
        }
    }
    eprintln!("applied: {applied:?}\nrefused: {refused:?}");
    assert!(
        ignored.is_empty(),
        "`nasl check` accepts these (stage kind.setting) but `nasl run` did not apply them: {ignored:?}"
    );
    // Both sides are exercised: the core settings run, and what does not run yet is refused.
    for pair in [
        "train-supernet.sampler",
        "train-cell.sample_over",
        "train-cell.affine",
        "train-fixed.seeds",
        "differentiable.relax",
        "differentiable-superkernel.penalty",
        "differentiable-superkernel.weights",
        "differentiable-superkernel.arch",
        "evolution.population",
        "retrain.optimizer",
        "retrain.dropout",
        "retrain-cell.auxiliary",
        "retrain-cell.drop_path",
        "retrain-cell.network",
        "rl-enas.controller",
        "rl-enas.steps",
        "rl-enas.derive",
        "rl-mnas.proxy_epochs",
        "rl-mnas.samples",
        "rl-mnas.reward",
        "hypernet.samples",
        "hypernet.epochs",
        "progressive_shrinking.phase",
        "progressive_shrinking.distill",
        "progressive_shrinking.epochs",
        "progressive_shrinking.optimizer",
        "evolution.predictor",
    ] {
        assert!(applied.contains(pair), "{pair} not applied: {applied:?}");
    }
    assert!(
        applied.contains("evaluate-searched.recalibrate"),
        "{applied:?}"
    );
    for refusal in [
        "train-supernet.sample_over",
        "few_shot.sample_over",
        "rl-enas.proxy_epochs",
        "rl-mnas.steps",
        "differentiable-superkernel.derive",
        "progressive_shrinking.dropout",
        "progressive_shrinking.seeds",
        "nsga2.predictor",
        "evaluate-trained.seeds",
        "evaluate-trained.recalibrate",
    ] {
        assert!(
            refused.contains(refusal),
            "{refusal} not refused: {refused:?}"
        );
    }
}
