//! The report of a synthetic run directory (the quickstart pipeline with made-up but consistent
//! results): every section with its numbers, escaping, comparisons, and damaged directories that
//! must give a diagnostic or a note, never a panic.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Value as Json, json};

use super::{ReportError, render, write, write_to};
use crate::driver;
use crate::ir::Arch;

const PIPELINE: &str = include_str!("../../pipelines/quickstart.nas");

/// Writes a run directory of the quickstart pipeline with test accuracy `test_acc`.
fn fixture(dir: &Path, test_acc: f64) {
    fs::create_dir_all(dir.join("model")).unwrap();
    let front = driver::check_text("quickstart.nas", PIPELINE);
    assert!(!front.checked.has_errors());
    let program = front.checked.program.clone().unwrap();
    let space = &front.spaces[0].1;
    let best = Arch::from_indices(space, &[1, 0, 2, 0]).unwrap();
    let other = Arch::from_indices(space, &[0, 0, 0, 0]).unwrap();
    let cost = crate::cost::arch_cost(space, &best).unwrap();
    let cost2 = crate::cost::arch_cost(space, &other).unwrap();
    fs::write(dir.join("pipeline.nas"), PIPELINE).unwrap();
    fs::write(
        dir.join("pipeline.yaml"),
        serde_yaml::to_string(&program).unwrap(),
    )
    .unwrap();
    fs::write(
        dir.join("run.json"),
        json!({"file": "pipelines/quickstart.nas", "pipeline_hash": "0", "seed": 7, "smoke": false}).to_string(),
    )
    .unwrap();
    let cand = |a: &Arch, acc: f64, c: &crate::cost::Cost| json!({"arch": a, "accuracy": acc, "loss": 0.4, "params": c.params, "macs": c.macs, "score": acc});
    let candidates = vec![cand(&best, 0.8125, &cost), cand(&other, 0.7831, &cost2)];
    let stages = vec![
        json!({"stage": "supernet", "kind": "train", "final_loss": 0.61, "final_accuracy": 0.771, "train_seconds": 90.5, "seconds": 91.0, "supernet_params": 123456}),
        json!({"stage": "search", "kind": "evolution", "space": "net", "best": best, "objective": "val.accuracy",
               "score": 0.8125, "accuracy": 0.8125, "params": cost.params, "macs": cost.macs, "evaluated": 2,
               "top": candidates, "pareto": [], "seconds": 25.0,
               "recalibration": {"images": 1024, "best_accuracy_without": 0.70, "best_accuracy_with": 0.8125},
               "generations": [{"generation": 0, "evaluated": 1, "best": 0.7831, "best_so_far": 0.7831},
                               {"generation": 1, "evaluated": 1, "best": 0.8125, "best_so_far": 0.8125}]}),
        json!({"stage": "final", "kind": "retrain", "space": "net", "arch": best, "final_loss": 0.3, "final_accuracy": 0.9, "params": cost.params, "macs": cost.macs, "seconds": 215.0}),
        json!({"stage": "report", "kind": "evaluate", "test_accuracy": test_acc, "accuracy": test_acc, "accuracies": [test_acc], "std": 0.0, "images": 10000, "split": "test", "seconds": 2.0}),
    ];
    fs::write(
        dir.join("summary.json"),
        json!({"file": "pipelines/quickstart.nas", "seed": 7, "smoke": false, "device": "Cpu", "threads": 2, "complete": true, "stages": stages}).to_string(),
    )
    .unwrap();
    let mut search_result = stages[1].clone();
    search_result["candidates"] = json!(candidates);
    let done: Vec<Json> = stages
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let r = if i == 1 {
                search_result.clone()
            } else {
                s.clone()
            };
            json!({"name": s["stage"], "result": r, "metrics_len": 0})
        })
        .collect();
    fs::write(dir.join("state.json"), json!({"done": done}).to_string()).unwrap();
    let mut metrics = String::new();
    for e in 1..=4 {
        metrics.push_str(&format!(
            "{}\n",
            json!({"stage": "supernet", "event": "epoch", "tag": "supernet", "epoch": e, "loss": 1.5 / e as f64, "accuracy": 0.5 + 0.06 * e as f64, "lr": 0.1})
        ));
    }
    for e in 1..=3 {
        metrics.push_str(&format!(
            "{}\n",
            json!({"stage": "final", "event": "epoch", "tag": "seed0", "epoch": e, "loss": 1.0 / e as f64, "accuracy": 0.7 + 0.05 * e as f64, "lr": 0.1})
        ));
    }
    fs::write(dir.join("metrics.jsonl"), metrics).unwrap();
    fs::write(dir.join("best.arch.yaml"), best.to_yaml()).unwrap();
    fs::write(dir.join("model/arch.yaml"), best.to_yaml()).unwrap();
    fs::write(
        dir.join("model/space.json"),
        serde_json::to_string(&space.spec).unwrap(),
    )
    .unwrap();
    fs::write(dir.join("model/weights.safetensors"), [0u8; 100]).unwrap();
    fs::write(
        dir.join("model/preprocess.json"),
        json!({"input": [1, 28, 28], "normalize": {"mean": [0.286], "std": [0.353]}, "dataset": "fmnist", "source": "fashion_mnist", "path": null, "classes": 10}).to_string(),
    )
    .unwrap();
}

fn section<'a>(page: &'a str, id: &str) -> &'a str {
    let start = page
        .find(&format!("<section id=\"{id}\">"))
        .unwrap_or_else(|| panic!("no section {id}"));
    let end = page[start..].find("</section>").unwrap() + start;
    &page[start..end]
}

#[test]
fn a_run_report_has_every_section_with_the_run_numbers() {
    let tmp = tempfile::tempdir().unwrap();
    fixture(tmp.path(), 0.9134);
    let out = write(tmp.path()).unwrap();
    assert_eq!(out, tmp.path().join("report.html"));
    let page = fs::read_to_string(&out).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(!page.contains("<script"), "no scripts");
    // No resource from the network (SVG namespaces are `http://www.w3.org/...` identifiers, not loads).
    for load in ["src=\"http", "href=\"http", "url(http", "@import"] {
        assert!(!page.contains(load), "the page loads `{load}...`");
    }
    for id in [
        "overview",
        "pipeline",
        "training",
        "search",
        "architecture",
        "model",
    ] {
        assert!(
            page.contains(&format!("<a href=\"#{id}\">")),
            "{id} not in the navigation"
        );
        section(&page, id);
    }
    assert!(
        !page.contains("<section id=\"rank\">"),
        "no rank stage, no rank section"
    );
    assert!(section(&page, "overview").contains("91.34%"));
    assert!(section(&page, "overview").contains("cpu, 2 threads"));
    let p = section(&page, "pipeline");
    // Every stage with a resolved setting and its time; the space's exact size.
    for s in ["supernet", "search", "final", "report"] {
        assert!(p.contains(&format!("<b>{s}</b>")), "{s}");
    }
    assert!(p.contains("population 10"), "{p}");
    assert!(p.contains("<code>constraint flops &lt;= 8M</code>"), "{p}");
    assert!(p.contains("<code>mutate count: 5, p: 0.25</code>"), "{p}");
    assert!(p.contains("retrain(search.best)"), "{p}");
    assert!(p.contains("sgd("), "{p}");
    assert!(p.contains("1 min 31 s"), "supernet wall time");
    let front = driver::check_text("q.nas", PIPELINE);
    let card = front.spaces[0].1.cardinality().to_string();
    assert!(
        p.contains(&format!("<td class=\"num\">{card}</td>")),
        "cardinality {card}"
    );
    let t = section(&page, "training");
    assert_eq!(
        t.matches("<svg").count(),
        4,
        "loss and accuracy for supernet and final"
    );
    let s = section(&page, "search");
    assert!(s.contains("81.25%"));
    assert!(s.contains("best per generation"));
    assert!(s.contains("Pareto front"));
    assert!(s.contains("70.00%"), "recalibration");
    let a = section(&page, "architecture");
    assert_eq!(
        a.matches("<g class=\"layer\">").count(),
        6,
        "stem, 4 layers, head"
    );
    let m = section(&page, "model");
    assert!(m.contains("model/weights.safetensors"));
    assert!(
        m.contains("0.2860") && m.contains("0.3530"),
        "normalisation"
    );
    assert!(m.contains("1 x 28 x 28"), "{m}");
}

#[test]
fn text_from_files_is_escaped() {
    let tmp = tempfile::tempdir().unwrap();
    fixture(tmp.path(), 0.5);
    let mut info: Json =
        serde_json::from_str(&fs::read_to_string(tmp.path().join("run.json")).unwrap()).unwrap();
    info["file"] = json!("<script>alert('x')</script>.nas");
    fs::write(tmp.path().join("run.json"), info.to_string()).unwrap();
    let mut s: Json =
        serde_json::from_str(&fs::read_to_string(tmp.path().join("summary.json")).unwrap())
            .unwrap();
    s["stages"][0]["stage"] = json!("<img src=x onerror=alert(1)>");
    s["device"] = json!("\"><b>");
    fs::write(tmp.path().join("summary.json"), s.to_string()).unwrap();
    let page = render(&[tmp.path().to_path_buf()]).unwrap();
    assert!(!page.contains("<script>alert"), "raw script");
    assert!(!page.contains("<img src=x"), "raw tag");
    assert!(!page.contains("\"><b>"), "raw attribute break-out");
    assert!(page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;.nas"));
    assert!(page.contains("&lt;img src=x onerror=alert(1)&gt;"));
}

#[test]
fn several_runs_are_compared_side_by_side() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("seed1"), tmp.path().join("seed2"));
    fixture(&a, 0.90);
    fixture(&b, 0.92);
    let out = tmp.path().join("cmp.html");
    write_to(&[a, b], &out).unwrap();
    let page = fs::read_to_string(out).unwrap();
    for id in ["overview", "metrics", "curves"] {
        section(&page, id);
    }
    let o = section(&page, "overview");
    assert!(o.contains("<b>seed1</b>") && o.contains("<b>seed2</b>"));
    assert!(o.contains("90.00%") && o.contains("92.00%"));
    // Mean 91%, sample std sqrt(2 * 0.01^2) = 1.41%.
    assert!(o.contains("mean 91.00%, standard deviation 1.41%"), "{o}");
    let c = section(&page, "curves");
    // Each run is a line in the overlaid curves.
    assert!(
        c.contains("\nseed1\n</text>") && c.contains("\nseed2\n</text>"),
        "{c}"
    );
}

fn code_of(r: Result<String, ReportError>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => {
            // Every error is a diagnostic with a help line.
            assert!(miette::Diagnostic::help(&e).is_some(), "{e}: no help");
            e.code_str()
        }
    }
}

#[test]
fn damaged_run_directories_give_diagnostics() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let go = |d: &Path| code_of(render(&[d.to_path_buf()]));
    assert_eq!(go(&tmp.path().join("nope")), "nasl::report::missing");
    fs::create_dir_all(&dir).unwrap();
    assert_eq!(go(&dir), "nasl::report::missing", "empty folder");
    fixture(&dir, 0.5);
    assert_eq!(go(&dir), "ok");
    let full = fs::read_to_string(dir.join("summary.json")).unwrap();
    fs::write(dir.join("summary.json"), &full[..full.len() / 2]).unwrap();
    assert_eq!(go(&dir), "nasl::report::corrupt", "truncated summary");
    fs::write(dir.join("summary.json"), "[1, 2]").unwrap();
    assert_eq!(go(&dir), "nasl::report::corrupt", "summary without stages");
    fs::remove_file(dir.join("summary.json")).unwrap();
    assert_eq!(go(&dir), "nasl::report::missing");
    fs::write(dir.join("summary.json"), &full).unwrap();
    fs::write(dir.join("state.json"), "{\"done\": [").unwrap();
    assert_eq!(go(&dir), "nasl::report::corrupt", "torn state");
    fs::remove_file(dir.join("state.json")).unwrap();
    assert_eq!(go(&dir), "ok", "state.json is optional");
    assert_eq!(code_of(render(&[])), "nasl::report::usage");
    let err = write_to(std::slice::from_ref(&dir), tmp.path()).unwrap_err();
    assert_eq!(err.code_str(), "nasl::report::write", "a folder as --out");
}

#[test]
fn damaged_optional_files_become_notes() {
    let tmp = tempfile::tempdir().unwrap();
    fixture(tmp.path(), 0.5);
    let mut m = fs::read_to_string(tmp.path().join("metrics.jsonl")).unwrap();
    m.push_str("{\"stage\": \"final\", \"ev\n\u{0}\u{1}garbage\n");
    fs::write(tmp.path().join("metrics.jsonl"), m).unwrap();
    fs::write(tmp.path().join("model/space.json"), "{not json").unwrap();
    fs::write(tmp.path().join("model/preprocess.json"), "[").unwrap();
    fs::write(tmp.path().join("pipeline.yaml"), ": : :\n  - [").unwrap();
    let page = render(&[tmp.path().to_path_buf()]).unwrap();
    assert!(page.contains("2 damaged lines of metrics.jsonl skipped"));
    assert!(page.contains("model/space.json is damaged"));
    assert!(page.contains("model/preprocess.json is damaged"));
    assert!(page.contains("pipeline.yaml is damaged"));
    // The curves still come from the good lines.
    assert!(section(&page, "training").contains("<svg"));
}

/// Every file of the run replaced by garbage, truncated or emptied, one at a time: the report is a
/// page or a diagnostic, never a panic.
#[test]
fn no_damage_makes_the_report_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    fixture(&dir, 0.5);
    let files: Vec<PathBuf> = [
        "run.json",
        "summary.json",
        "state.json",
        "metrics.jsonl",
        "pipeline.yaml",
        "pipeline.nas",
        "best.arch.yaml",
        "model/arch.yaml",
        "model/space.json",
        "model/preprocess.json",
    ]
    .iter()
    .map(|f| dir.join(f))
    .collect();
    for f in &files {
        let good = fs::read(f).unwrap();
        let variants: Vec<Vec<u8>> = vec![
            vec![],
            good[..good.len() / 3].to_vec(),
            b"\xff\xfe\x00garbage<>&".to_vec(),
            b"{\"stages\": [{\"stage\": 1, \"kind\": [], \"accuracy\": \"x\", \"best\": 5}], \"done\": {}, \"file\": 3}".to_vec(),
            b"null".to_vec(),
        ];
        for v in variants {
            fs::write(f, &v).unwrap();
            let r = std::panic::catch_unwind(|| render(std::slice::from_ref(&dir)).map(|_| ()));
            assert!(
                r.is_ok(),
                "{} = {:?} panicked",
                f.display(),
                String::from_utf8_lossy(&v)
            );
        }
        fs::write(f, good).unwrap();
    }
}

#[test]
fn option_labels_drop_default_arguments() {
    use super::html::short_label;
    assert_eq!(
        short_label(
            "conv(bias: false, dilation: 1, groups: 1, kernel: 5) bn(affine: true, eps: 0.00001, momentum: 0.1) relu"
        ),
        "conv(5) bn relu"
    );
    assert_eq!(short_label("skip"), "skip");
    assert_eq!(
        short_label("mbconv(expand: 6, kernel: 3, groups: 2)"),
        "mbconv(expand: 6, kernel: 3, groups: 2)"
    );
    assert_eq!(short_label("conv(kernel: [3, 5])"), "conv([3, 5])");
}
