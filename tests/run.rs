//! `nasl run` end to end: smoke runs of every pipeline of the one-shot family, a run killed with
//! SIGKILL and resumed giving the same artifacts as a clean run, Ctrl-C checkpointing, divergence,
//! the rank stage's Kendall tau, `nasl eval` and `nasl export` on a finished run, the run's report in
//! a headless browser, and a clear refusal of methods the executor does not run yet.

#![cfg(feature = "torch")]

mod common;
#[path = "run/contract.rs"]
mod contract;
#[path = "run/input_choice.rs"]
mod input_choice;
#[path = "run/rl.rs"]
mod rl;
#[path = "run/shrink.rs"]
mod shrink;
#[path = "run/workers.rs"]
mod workers;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{fake_cifar, nasl, read_json, root, smoke_run, smoke_text, wait_for};
use serde_json::Value as Json;

/// The result a finished stage left in a run's `state.json`.
fn stage_result(out: &Path, name: &str) -> Json {
    let state = read_json(&out.join("state.json"));
    state["done"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == name)
        .unwrap_or_else(|| panic!("no stage {name} in {state}"))["result"]
        .clone()
}

/// `nasl run FILE --smoke --device cpu --out OUT`, which must succeed.
fn smoke_ok(file: &Path, out: &Path) {
    run_ok(&[
        "run",
        file.to_str().unwrap(),
        "--smoke",
        "--device",
        "cpu",
        "--out",
        out.to_str().unwrap(),
    ]);
}

fn run_ok(args: &[&str]) -> std::process::Output {
    let out = nasl().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "nasl {} failed:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Every pipeline of the one-shot family runs every stage in a smoke run and leaves the artifacts
/// the issue lists.
#[test]
fn every_one_shot_pipeline_passes_a_smoke_run() {
    let tmp = tempfile::tempdir().unwrap();
    let cifar = tmp.path().join("cifar");
    fake_cifar(&cifar);
    for name in [
        "quickstart",
        "spos",
        "fairnas",
        "fewshot",
        "oneshot",
        "randomnas_ws",
        "randomnas_es",
        "nb201_spos",
    ] {
        let (out, _) = smoke_run(tmp.path(), name, &cifar);
        let summary = read_json(&out.join("summary.json"));
        assert_eq!(summary["complete"], true, "{name}: {summary}");
        let stages = summary["stages"].as_array().unwrap();
        assert!(stages.len() >= 3, "{name}");
        for f in [
            "pipeline.yaml",
            "pipeline.nas",
            "metrics.jsonl",
            "best.arch.yaml",
            "state.json",
        ] {
            assert!(out.join(f).is_file(), "{name}: {f} missing");
        }
        for f in [
            "weights.safetensors",
            "arch.yaml",
            "space.json",
            "model.pt",
            "preprocess.json",
        ] {
            assert!(
                out.join("model").join(f).is_file(),
                "{name}: model/{f} missing"
            );
        }
        let report = stages.iter().find(|s| s["kind"] == "evaluate").unwrap();
        let acc = report["test_accuracy"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&acc), "{name}: {acc}");
        let search = stages
            .iter()
            .find(|s| s.get("best").is_some())
            .unwrap_or_else(|| panic!("{name}: no search result"));
        assert!(search["evaluated"].as_u64().unwrap() >= 1, "{name}");
        assert!(search["params"].as_u64().unwrap() > 0, "{name}");
        // Every metric line is JSON with a stage name.
        let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
        assert!(metrics.lines().count() >= 3);
        for line in metrics.lines() {
            let v: Json = serde_json::from_str(line).unwrap();
            assert!(v["stage"].is_string());
        }
        // Every run ends with its report, searches included.
        let page = std::fs::read_to_string(out.join("report.html"))
            .unwrap_or_else(|e| panic!("{name}: report.html: {e}"));
        assert!(page.contains("<section id=\"search\">"), "{name}");
    }
}

/// The chromium binary (`NASL_CHROMIUM` or `chromium` on PATH); scripts/test.sh installs it.
fn chromium() -> String {
    let bin = std::env::var("NASL_CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let found = Command::new(&bin)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "`{bin}` not found: run scripts/test.sh (it installs Debian's chromium) or set NASL_CHROMIUM"
    );
    bin
}

/// Headless Chromium on a local page with a fresh profile; (status ok, stdout, stderr).
fn headless(bin: &str, profile: &Path, args: &[String]) -> (bool, String, String) {
    let o = Command::new("timeout")
        .arg("120")
        .arg(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn pct(f: f64) -> String {
    format!("{:.2}%", 100.0 * f)
}

/// The report a smoke run writes loads in a headless browser without errors, shows every section
/// of the run with the run's own numbers, and renders to a non-blank screenshot; `nasl report`
/// writes the same page again, and compares two runs.
#[test]
fn the_report_of_a_smoke_run_renders_in_chromium() {
    let bin = chromium();
    let tmp = tempfile::tempdir().unwrap();
    let cifar = tmp.path().join("cifar");
    let (out, _) = smoke_run(tmp.path(), "quickstart", &cifar);
    let page = out.join("report.html");
    assert!(page.is_file(), "nasl run writes report.html");
    let url = format!("file://{}", page.canonicalize().unwrap().display());
    let profile = tmp.path().join("profile");

    let (ok, dom, err) = headless(&bin, &profile, &["--dump-dom".into(), url.clone()]);
    assert!(ok, "chromium --dump-dom failed:\n{err}");
    assert!(
        dom.contains("<meta name=\"generator\" content=\"nasl report\">"),
        "the page did not load:\n{dom:.2000}"
    );
    for bad in ["ERR_", "Uncaught", "This page isn"] {
        assert!(!dom.contains(bad), "{bad} in the page");
    }
    for line in err.lines() {
        assert!(
            !(line.contains(":CONSOLE") || line.contains("Uncaught")),
            "console error: {line}"
        );
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
            dom.contains(&format!("<section id=\"{id}\">")),
            "section {id} missing"
        );
        assert!(
            dom.contains(&format!("<a href=\"#{id}\">")),
            "{id} not linked"
        );
    }
    // The run's own numbers, as summary.json has them.
    let s = read_json(&out.join("summary.json"));
    let stages = s["stages"].as_array().unwrap();
    let by_kind = |k: &str| stages.iter().find(|s| s["kind"] == k).unwrap();
    let test = by_kind("evaluate")["test_accuracy"].as_f64().unwrap();
    let search = by_kind("evolution");
    assert!(dom.contains(&pct(test)), "test accuracy {}", pct(test));
    assert!(dom.contains(&pct(search["accuracy"].as_f64().unwrap())));
    assert!(
        dom.contains(&format!(
            "<td class=\"num\">{}</td>",
            search["evaluated"].as_u64().unwrap()
        )) || dom.contains(&format!(
            "<div class=\"big\">{}</div>",
            search["evaluated"].as_u64().unwrap()
        ))
    );
    for st in stages {
        assert!(
            dom.contains(&format!("<b>{}</b>", st["stage"].as_str().unwrap())),
            "stage {} not listed",
            st["stage"]
        );
    }
    // Charts are inline SVG the browser parsed: curves, scatter plots, the architecture.
    assert!(dom.matches("<svg").count() >= 6, "too few charts");
    assert!(dom.contains("class=\"layer\""), "no architecture drawing");
    assert!(!dom.contains("<script"), "the page needs no scripts");

    let shot = tmp.path().join("report.png");
    let (ok, _, err) = headless(
        &bin,
        &profile,
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1280,2000".into(),
            url,
        ],
    );
    assert!(ok && shot.is_file(), "no screenshot:\n{err}");
    let img = image::open(&shot).unwrap().to_rgb8();
    assert_eq!((img.width(), img.height()), (1280, 2000));
    // Not a blank page: text, boxes and plot lines cover a fair share of the pixels.
    let inked = img
        .pixels()
        .filter(|p| p.0.iter().any(|&c| c < 200))
        .count();
    let share = inked as f64 / (1280.0 * 2000.0);
    assert!(share > 0.01, "the screenshot is nearly blank ({share:.4})");
    // Some pixels are the report's blue (headings' rule, links, searched layers).
    assert!(img.pixels().any(|p| p.0[2] > 180 && p.0[0] < 90));

    // `nasl report` writes the page again, to --out; two runs make a comparison.
    let again = tmp.path().join("again.html");
    run_ok(&[
        "report",
        out.to_str().unwrap(),
        "--out",
        again.to_str().unwrap(),
    ]);
    let a = std::fs::read_to_string(&again).unwrap();
    assert!(a.contains(&pct(test)));
    let both = tmp.path().join("both.html");
    run_ok(&[
        "report",
        out.to_str().unwrap(),
        out.to_str().unwrap(),
        "--out",
        both.to_str().unwrap(),
    ]);
    let b = std::fs::read_to_string(&both).unwrap();
    assert!(b.contains("<section id=\"metrics\">"));
    // A folder that is not a run: a diagnostic with its code.
    let o = nasl()
        .args(["report", tmp.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("nasl::report::missing"));
}

/// Removes wall-clock fields, which differ between any two runs.
fn strip_times(v: &mut Json) {
    match v {
        Json::Object(m) => {
            m.retain(|k, _| !k.contains("seconds"));
            for x in m.values_mut() {
                strip_times(x);
            }
        }
        Json::Array(a) => a.iter_mut().for_each(strip_times),
        _ => {}
    }
}

fn metrics_without_times(dir: &Path) -> Vec<Json> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: Json = serde_json::from_str(l).unwrap();
            strip_times(&mut v);
            v
        })
        .collect()
}

/// SIGKILL in the middle of supernet training, then `--resume`: the run completes without redoing
/// finished epochs and leaves exactly the artifacts of a clean run.
#[test]
fn a_killed_run_resumes_to_the_same_artifacts() {
    let tmp = tempfile::tempdir().unwrap();
    let file = root().join("tests/run/resume.nas");
    let clean = tmp.path().join("clean");
    let killed = tmp.path().join("killed");
    // The same command for both runs, only the folder differs.
    let run_into = |out: &Path| common::run_into(&file, out, 3);
    let out = run_into(&clean).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut child = run_into(&killed).stderr(Stdio::null()).spawn().unwrap();
    // Kill after the first epoch's checkpoint, in the middle of the second epoch.
    wait_for(
        &killed.join("stages/supernet/supernet.e1b0.safetensors"),
        &mut child,
        Duration::from_secs(120),
    );
    std::thread::sleep(Duration::from_millis(150));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !killed.join("summary.json").exists() || {
            let s = read_json(&killed.join("summary.json"));
            s["complete"] == false
        }
    );

    let out = nasl()
        .args([
            "run",
            "--resume",
            killed.to_str().unwrap(),
            "--device",
            "cpu",
            "--threads",
            "1",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    // The first epoch was not trained again.
    assert!(!err.contains("supernet epoch 1/4"), "{err}");

    assert_same_run(
        &clean,
        &killed,
        &[
            "best.arch.yaml",
            "model/arch.yaml",
            "model/weights.safetensors",
        ],
    );
}

/// A resumed run left the same files, summary and metrics as a clean run, and no temporary files.
fn assert_same_run(clean: &Path, killed: &Path, files: &[&str]) {
    for f in files {
        assert_eq!(
            std::fs::read(clean.join(f)).unwrap(),
            std::fs::read(killed.join(f)).unwrap(),
            "{f} differs"
        );
    }
    let mut a = read_json(&clean.join("summary.json"));
    let mut b = read_json(&killed.join("summary.json"));
    strip_times(&mut a);
    strip_times(&mut b);
    a["file"] = Json::Null;
    b["file"] = Json::Null;
    assert_eq!(a, b);
    assert_eq!(metrics_without_times(clean), metrics_without_times(killed));
    for e in walk(killed) {
        assert!(!e.to_string_lossy().ends_with(".tmp"), "{}", e.display());
    }
}

/// Strict fairness (with non-affine supernet norms) and few-shot splits on a cell space: a smoke
/// run killed with SIGKILL during the few-shot fine-tuning resumes to the artifacts of a clean run,
/// without training the finished sub-supernets again.
#[test]
fn fair_and_few_shot_on_cells_run_and_resume_after_sigkill() {
    let tmp = tempfile::tempdir().unwrap();
    let file = root().join("tests/run/cells.nas");
    let clean = tmp.path().join("clean");
    let killed = tmp.path().join("killed");
    let run_into = |out: &Path| {
        let mut c = common::run_into(&file, out, 2);
        c.arg("--smoke");
        c
    };
    let out = run_into(&clean).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = read_json(&clean.join("summary.json"));
    let stage = |name: &str| common::stage_of(&summary, name);
    let fair = stage("fair");
    assert_eq!(fair["sampler"], "fair");
    assert_eq!(fair["affine"], false);
    assert!(fair["settings"].get("affine").is_some(), "{fair}");
    // Split on the first edge's 5 ops: 5 sub-supernets, each fine-tuned.
    let split = stage("split");
    assert_eq!(split["sub_supernets"], 5);
    assert_eq!(split["affine"], false);
    for p in 0..5 {
        assert!(
            clean
                .join(format!("stages/split/part{p}.safetensors"))
                .is_file()
        );
    }
    // `affine false`: the norms of the cell edges have running statistics but no scale and shift;
    // the stem's norm keeps them.
    let names = safetensors_names(&clean.join("stages/fair/supernet.safetensors"));
    let norms: Vec<&String> = names
        .iter()
        .filter(|n| n.ends_with(".running_var"))
        .collect();
    let affine = |n: &&String| names.contains(&n.replace(".running_var", ".weight"));
    assert!(norms.iter().any(affine), "{names:?}");
    assert!(
        norms.iter().filter(|n| !affine(n)).count() > 10,
        "{names:?}"
    );
    let best = std::fs::read_to_string(clean.join("best.arch.yaml")).unwrap();
    assert!(best.contains("normal"), "{best}");
    assert!(stage("ranking")["supernets"].as_array().unwrap().len() == 2);

    let mut child = run_into(&killed).stderr(Stdio::null()).spawn().unwrap();
    wait_for(
        &killed.join("stages/split/part1.e1b0.safetensors"),
        &mut child,
        Duration::from_secs(300),
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let out = nasl()
        .args(["run", "--resume", killed.to_str().unwrap()])
        .args(["--device", "cpu", "--threads", "1"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    // The supernet and the first sub-supernet were not trained again.
    assert!(!err.contains("fair epoch"), "{err}");
    assert!(!err.contains("split part0 epoch"), "{err}");
    assert_same_run(&clean, &killed, &["best.arch.yaml"]);
}

/// The cell sampling rules (`sample_over live`, `classes`) and the sandwich rule (with in-place
/// distillation, and in few-shot parts) run on a small cell space and report what they applied; a
/// run killed by SIGKILL in the first supernet's training resumes to the same results.
#[test]
fn cell_sampling_rules_and_sandwich_run_and_resume_after_sigkill() {
    let tmp = tempfile::tempdir().unwrap();
    let file = root().join("tests/run/cells_sampling.nas");
    let clean = tmp.path().join("clean");
    let killed = tmp.path().join("killed");
    let err = common::clean_then_killed_and_resumed(
        &file,
        &clean,
        &killed,
        "stages/live/live.ckpt.json",
        2,
    );
    // The first epoch of `live` was not trained again.
    assert!(!err.contains("live epoch 1/2"), "{err}");
    let summary = read_json(&clean.join("summary.json"));
    let stage = |name: &str| common::stage_of(&summary, name);
    for (name, over, sampler) in [
        ("live", "live", "uniform"),
        ("classes", "classes", "uniform"),
        ("sandwich", "classes", "sandwich"),
        ("split", "live", "sandwich"),
    ] {
        let s = stage(name);
        assert_eq!(s["sampler"], sampler, "{s}");
        assert_eq!(s["settings"]["sample_over"]["name"], over, "{s}");
    }
    let sandwich = &stage("sandwich")["settings"]["sampler"]["call"]["args"];
    assert_eq!(sandwich["distill"]["bool"], true, "{sandwich}");
    assert_eq!(stage("split")["sub_supernets"], 4);
    assert_eq!(stage("ranking")["supernets"].as_array().unwrap().len(), 4);
    assert_same_run(&clean, &killed, &[]);
}

/// The tensor names of a safetensors file (its JSON header).
fn safetensors_names(path: &Path) -> Vec<String> {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: Json = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    header
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| *k != "__metadata__")
        .cloned()
        .collect()
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Ctrl-C (SIGINT) saves a checkpoint and exits with 130; `--resume` finishes the run.
#[test]
fn ctrl_c_checkpoints_and_resume_finishes() {
    let tmp = tempfile::tempdir().unwrap();
    let file = root().join("tests/run/resume.nas");
    let dir = tmp.path().join("run");
    let mut child = nasl()
        .args([
            "run",
            file.to_str().unwrap(),
            "--out",
            dir.to_str().unwrap(),
            "--device",
            "cpu",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(
        &dir.join("stages/supernet/supernet.e1b0.safetensors"),
        &mut child,
        Duration::from_secs(120),
    );
    let pid = child.id().to_string();
    Command::new("kill").args(["-INT", &pid]).status().unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("nasl::run::interrupted"), "{err}");
    assert!(err.contains("--resume"), "{err}");
    let record = read_json(&dir.join("stages/supernet/supernet.ckpt.json"));
    assert!(record["epoch"].as_u64().unwrap() >= 1);
    run_ok(&["run", "--resume", dir.to_str().unwrap(), "--device", "cpu"]);
    assert_eq!(read_json(&dir.join("summary.json"))["complete"], true);
}

/// An exploding loss stops the stage with a clear error and keeps the last good checkpoint.
#[test]
fn a_diverging_loss_stops_with_a_diagnostic() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let file = root().join("tests/run/diverge.nas");
    let out = nasl()
        .args([
            "run",
            file.to_str().unwrap(),
            "--out",
            dir.to_str().unwrap(),
            "--device",
            "cpu",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("nasl::run::diverged"), "{err}");
    assert!(err.contains("grad_clip"), "{err}");
}

/// The rank stage gives a positive Kendall tau on a small space, the same for the same seed.
#[test]
fn rank_stage_gives_a_positive_reproducible_kendall_tau() {
    let tmp = tempfile::tempdir().unwrap();
    let file = root().join("tests/run/rank.nas");
    // Two runs with the same seed, side by side.
    let runs: Vec<_> = (0..2)
        .map(|k| {
            let dir = tmp.path().join(format!("r{k}"));
            let child = nasl()
                .args([
                    "run",
                    file.to_str().unwrap(),
                    "--out",
                    dir.to_str().unwrap(),
                ])
                .args(["--device", "cpu", "--threads", "1", "--seed", "1"])
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            (dir, child)
        })
        .collect();
    let mut taus = vec![];
    for (dir, child) in runs {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let s = read_json(&dir.join("summary.json"));
        let rank = s["stages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["kind"] == "rank")
            .unwrap()
            .clone();
        assert_eq!(rank["architectures"], 8);
        taus.push(rank["kendall_tau"].as_f64().unwrap());
        check_ceiling_and_intervals(&dir, &rank);
        // The report shows the ranking with the run's tau and the ceiling.
        let page = std::fs::read_to_string(dir.join("report.html")).unwrap();
        assert!(page.contains("<section id=\"rank\">"));
        assert!(page.contains(&format!("{:.3}", taus.last().unwrap())));
        assert!(page.contains("seed-to-seed"), "no ceiling in the report");
        let ceiling = rank["ceiling"]["kendall_tau"]["value"].as_f64().unwrap();
        assert!(page.contains(&format!("{ceiling:.3}")));
    }
    assert!(taus[0] > 0.0, "tau {}", taus[0]);
    assert_eq!(taus[0], taus[1]);
}

/// The rank stage's figures against its own samples (state.json): the supernet's tau and rho
/// against the mean over seeds, the seed-to-seed ceiling, each with a 95% bootstrap interval.
fn check_ceiling_and_intervals(dir: &Path, rank: &Json) {
    use nasl::search::rank::{kendall_tau, spearman};
    let state = read_json(&dir.join("state.json"));
    let result = &state["done"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "ranking")
        .unwrap()["result"];
    let samples = result["samples"].as_array().unwrap();
    let col = |f: &dyn Fn(&Json) -> f64| samples.iter().map(f).collect::<Vec<f64>>();
    let seed0 = col(&|s| s["standalone_accuracies"][0].as_f64().unwrap());
    let seed1 = col(&|s| s["standalone_accuracies"][1].as_f64().unwrap());
    let mean = col(&|s| s["standalone_accuracy"].as_f64().unwrap());
    let sup = col(&|s| s["supernet_accuracy"].as_f64().unwrap());
    for i in 0..samples.len() {
        assert!((mean[i] - (seed0[i] + seed1[i]) / 2.0).abs() < 1e-12);
        assert_eq!(samples[i]["supernet_accuracies"][0].as_f64(), Some(sup[i]));
    }
    // The two seeds trained different networks.
    assert_ne!(seed0, seed1);
    let close = |a: &Json, b: Option<f64>| {
        let (a, b) = (a.as_f64().unwrap(), b.unwrap());
        assert!((a - b).abs() < 1e-12, "{a} != {b}");
    };
    close(&rank["kendall_tau"], kendall_tau(&sup, &mean));
    close(&rank["spearman_rho"], spearman(&sup, &mean));
    let ceiling = &rank["ceiling"];
    close(
        &ceiling["kendall_tau"]["value"],
        kendall_tau(&seed0, &seed1),
    );
    close(&ceiling["spearman_rho"]["value"], spearman(&seed0, &seed1));
    assert_eq!(rank["seeds"], serde_json::json!([0, 1]));
    assert_eq!(rank["bootstrap_resamples"], 1000);
    let supernets = rank["supernets"].as_array().unwrap();
    assert_eq!(supernets.len(), 1);
    assert_eq!(supernets[0]["supernet"], "supernet");
    // Every interval holds its estimate, inside [-1, 1].
    for m in [
        &supernets[0]["kendall_tau"],
        &supernets[0]["spearman_rho"],
        &ceiling["kendall_tau"],
        &ceiling["spearman_rho"],
    ] {
        let v = m["value"].as_f64().unwrap();
        let (lo, hi) = (m["ci"][0].as_f64().unwrap(), m["ci"][1].as_f64().unwrap());
        assert!(-1.0 <= lo && lo <= v && v <= hi && hi <= 1.0, "{m}");
    }
    assert_eq!(rank["kendall_tau_ci"], supernets[0]["kendall_tau"]["ci"]);
}

/// `nasl eval` re-evaluates a finished run and agrees with the run's own evaluation; `nasl export`
/// rewrites the TorchScript model; a folder without a model is a clear error.
#[test]
fn eval_and_export_work_on_a_finished_run() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let file = root().join("tests/run/resume.nas");
    run_ok(&[
        "run",
        file.to_str().unwrap(),
        "--out",
        dir.to_str().unwrap(),
        "--device",
        "cpu",
    ]);
    let s = read_json(&dir.join("summary.json"));
    let acc = s["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "evaluate")
        .unwrap()["test_accuracy"]
        .as_f64()
        .unwrap();
    let out = run_ok(&["eval", dir.to_str().unwrap(), "--json", "--device", "cpu"]);
    let r: Json = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["images"], 10000);
    assert!(
        (r["accuracy"].as_f64().unwrap() - acc).abs() < 1e-9,
        "{r} vs {acc}"
    );
    let pt = dir.join("model/model.pt");
    std::fs::remove_file(&pt).unwrap();
    run_ok(&["export", dir.to_str().unwrap()]);
    assert!(pt.is_file());
    let o = nasl()
        .args(["eval", tmp.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("nasl::model::missing"));
}

/// `--data` must name a dataset of the pipeline.
#[test]
fn data_overrides_name_a_declared_dataset() {
    let file = root().join("tests/run/diverge.nas");
    let o = nasl()
        .args([
            "run",
            file.to_str().unwrap(),
            "--smoke",
            "--data",
            "cifar=/nowhere",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("nasl::cli::data") && err.contains("fmnist"),
        "{err}"
    );
}

/// Starting a run in a folder that holds one is refused; resuming with a changed pipeline too.
#[test]
fn existing_runs_are_protected() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let file = tmp.path().join("p.nas");
    let text = std::fs::read_to_string(root().join("tests/run/diverge.nas"))
        .unwrap()
        .replace("lr: 1e15", "lr: 0.05")
        .replace("epochs 3", "epochs 1");
    std::fs::write(&file, &text).unwrap();
    let args = [
        "run",
        file.to_str().unwrap(),
        "--out",
        dir.to_str().unwrap(),
        "--device",
        "cpu",
    ];
    run_ok(&args);
    let o = nasl().args(args).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("nasl::run::exists"));
    std::fs::write(&file, text.replace("epochs 1", "epochs 2")).unwrap();
    let o = nasl()
        .args([
            "run",
            file.to_str().unwrap(),
            "--resume",
            dir.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("nasl::run::resume"));
}

/// `nasl eval` on a dataset with another class count than the model's is an error naming both, not a
/// crash inside the loss; an evaluation split with no images is an error, not 0%.
#[test]
fn eval_refuses_a_dataset_the_model_does_not_fit() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("three.nas");
    std::fs::write(
        &file,
        "dataset d = synthetic {\n  classes 3\n  split train: 200, val: 50\n  batch 25\n}\n\
         space net = chain(input: [1, 28, 28], classes: 3) {\n  stem conv(3, out: 4, stride: 2) bn relu\n  \
         head global_avg_pool linear(out: classes)\n}\n\
         stage final = train(net) { epochs 1 }\nstage report = evaluate(final, d.test)\n",
    )
    .unwrap();
    let dir = tmp.path().join("run");
    run_ok(&[
        "run",
        file.to_str().unwrap(),
        "--smoke",
        "--device",
        "cpu",
        "--out",
        dir.to_str().unwrap(),
    ]);
    // The model's own dataset (the declared 3-class generator): fine.
    let out = run_ok(&["eval", dir.to_str().unwrap(), "--device", "cpu", "--json"]);
    let r: Json = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["dataset"], "synthetic");
    // Fashion-MNIST has the model's image shape but 10 classes.
    let o = nasl()
        .args([
            "eval",
            dir.to_str().unwrap(),
            "--data",
            "fashion_mnist",
            "--device",
            "cpu",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("nasl::run::setting") && err.contains("predicts 3 classes"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

/// A folder dataset is known only when it is read: images that do not fit the space stop the run with
/// a diagnostic naming both before any stage works, and a folder without a test split makes
/// `evaluate(.., d.test)` an error (not 0%) that keeps the finished stages.
#[test]
fn a_folder_dataset_that_does_not_fit_or_has_no_test_split_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let images = tmp.path().join("imgs");
    for class in ["cat", "dog"] {
        std::fs::create_dir_all(images.join(class)).unwrap();
        for i in 0..6u8 {
            let img = image::RgbImage::from_fn(8, 8, |x, y| {
                image::Rgb([
                    x as u8 * 30,
                    y as u8 * 30,
                    i * 20 + (class == "dog") as u8 * 100,
                ])
            });
            img.save(images.join(class).join(format!("{i}.png")))
                .unwrap();
        }
    }
    let pipeline = |input: &str| {
        format!(
            "dataset d = folder {{\n  path \"{}\"\n  split train: 8, val: 4\n  batch 4\n}}\n\
             space net = chain(input: {input}, classes: 2) {{\n  stem conv(3, out: 4) bn relu\n  \
             head global_avg_pool linear(out: classes)\n}}\n\
             stage final = train(net) {{ epochs 1 }}\nstage report = evaluate(final, d.test)\n",
            images.display()
        )
    };
    let run = |name: &str, input: &str| smoke_text(tmp.path(), name, &pipeline(input));
    let (out, o) = run("misfit", "[1, 28, 28]");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("nasl::run::setting")
            && err.contains("does not fit the space")
            && err.contains("input: [3, 8, 8], classes: 2"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        !out.join("state.json").exists(),
        "no stage should have finished"
    );
    let (out, o) = run("no_test", "[3, 8, 8]");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("the `test` split of dataset `d` has no images"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(stage_result(&out, "final")["models"].is_array());
}

/// `retrain(x.pareto)` retrains every member of NSGA-II's front and `retrain(x.top)` the top list,
/// each member once per seed in its own model folder with a summary row; `evaluate` reports each
/// member. `.pareto` of a single-objective search is refused up front.
#[test]
fn retrain_of_a_front_or_top_list_trains_every_member() {
    let tmp = tempfile::tempdir().unwrap();
    let head = r#"
dataset d = synthetic {
  split train: 200, val: 100
  batch 50
}

space net = chain(input: [1, 28, 28], classes: 10) {
  stem conv(3, out: 8, stride: 2) bn relu
  layers out: [4, 8], stride: 1, repeat: 2, choose [conv(3) bn relu, conv(5) bn relu]
  head global_avg_pool linear(out: classes)
}

stage sup = train(net) { epochs 1 }
"#;
    let text = format!(
        "{head}stage found = nsga2(sup) {{\n  population 6\n  generations 2\n  pareto [val.accuracy, params]\n}}\n\
         stage front = retrain(found.pareto) {{\n  epochs 1\n  seeds [3, 4]\n}}\n\
         stage tops = retrain(found.top) {{ epochs 1 }}\n\
         stage ev = evaluate(front, d.test)\n"
    );
    let file = tmp.path().join("members.nas");
    std::fs::write(&file, &text).unwrap();
    let out = tmp.path().join("out");
    run_ok(&[
        "run",
        file.to_str().unwrap(),
        "--smoke",
        "--device",
        "cpu",
        "--out",
        out.to_str().unwrap(),
    ]);
    let summary = read_json(&out.join("summary.json"));
    let stage = |n: &str| {
        summary["stages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["stage"] == n)
            .unwrap()
            .clone()
    };
    let state = read_json(&out.join("state.json"));
    let found = state["done"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "found")
        .unwrap()["result"]
        .clone();
    for (name, list, seeds) in [("front", "pareto", 2), ("tops", "top", 1)] {
        let s = stage(name);
        let members = s["members"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: {s}"));
        // Smoke runs take the first two members of the list.
        let want = found[list].as_array().unwrap().len().min(2);
        assert!(want == 2, "{name}: the search's {list} has {want} members");
        assert_eq!(members.len(), want, "{name}: {s}");
        for (i, m) in members.iter().enumerate() {
            assert_eq!(m["arch"], found[list][i]["arch"], "{name}: member {i}");
            let dirs = m["dirs"].as_array().unwrap();
            assert_eq!(dirs.len(), seeds, "{name}: {m}");
            for d in dirs {
                let d = out.join(d.as_str().unwrap());
                assert!(d.join("weights.safetensors").is_file(), "{}", d.display());
                let arch = std::fs::read_to_string(d.join("arch.yaml")).unwrap();
                assert!(!arch.is_empty());
            }
            assert!(m["params"].as_u64().unwrap() > 0);
        }
        // The two members are different architectures.
        assert_ne!(members[0]["arch"], members[1]["arch"], "{name}");
    }
    let ev = stage("ev");
    let rows = ev["members"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{ev}");
    assert_eq!(
        ev["accuracies"].as_array().unwrap().len(),
        2,
        "member 0's two seeds: {ev}"
    );
    assert_eq!(ev["test_accuracy"], rows[0]["test_accuracy"]);

    // A single-objective search has no front to retrain.
    let bad = format!(
        "{head}stage found = evolution(sup) {{\n  population 4\n  generations 1\n}}\n\
         stage front = retrain(found.pareto) {{ epochs 1 }}\n"
    );
    let file = tmp.path().join("bad.nas");
    std::fs::write(&file, &bad).unwrap();
    let o = nasl()
        .args(["check", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("nasl::sema::not_run") && err.contains("nsga2"),
        "{err}"
    );
}

/// A space with a resolution decision trains a supernet over both sizes, searches them (different
/// MACs per resolution), retrains and evaluates the best at its resolution from full-size images.
#[test]
fn a_resolution_decision_runs_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let text = r#"
dataset d = synthetic {
  split train: 200, val: 100
  batch 50
}

space net = chain(input: [1, 28, 28], classes: 10) {
  resolution [20, 28]
  stem conv(3, out: 8, stride: 2) bn relu
  layers out: 8, stride: 1, repeat: 1, choose [conv(3) bn relu, conv(5) bn relu]
  head global_avg_pool linear(out: classes)
}

stage sup = train(net) { epochs 1 }
stage found = random_search(sup) {
  samples 4
  recalibrate bn(images: 100)
}
stage fin = retrain(found.best) { epochs 1 }
stage ev = evaluate(fin, d.test)
"#;
    let file = tmp.path().join("res.nas");
    std::fs::write(&file, text).unwrap();
    let out = tmp.path().join("out");
    run_ok(&[
        "run",
        file.to_str().unwrap(),
        "--smoke",
        "--device",
        "cpu",
        "--out",
        out.to_str().unwrap(),
    ]);
    let state = read_json(&out.join("state.json"));
    let found = state["done"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "found")
        .unwrap()["result"]
        .clone();
    let cands = found["candidates"].as_array().unwrap();
    let resolutions: std::collections::BTreeSet<String> = cands
        .iter()
        .map(|c| c["arch"]["resolution"].to_string())
        .collect();
    let macs: std::collections::BTreeSet<u64> =
        cands.iter().map(|c| c["macs"].as_u64().unwrap()).collect();
    assert!(resolutions.len() == 2 && macs.len() >= 2, "{found}");
    let summary = read_json(&out.join("summary.json"));
    assert_eq!(summary["complete"], true);
    // The saved model takes dataset-sized images and resizes them itself.
    let o = nasl()
        .args(["eval", out.to_str().unwrap(), "--device", "cpu"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// A synthetic dataset `d` (300 training, 100 validation images) and a small chain space `net` over
/// it (two layers of three candidates), for runs that take seconds.
const SYNTHETIC_CHAIN: &str = r#"
dataset d = synthetic {
  split train: 300, val: 100
  batch 50
}

space net = chain(input: [1, 28, 28], classes: 10) {
  stem conv(3, out: 8, stride: 2) bn relu
  layers out: 8, stride: 1, repeat: 2, choose [conv(3) bn relu, conv(5) bn relu, skip]
  head global_avg_pool linear(out: classes)
}
"#;

/// `evaluate(supernet, split)` scores `samples` distinct sampled paths on the supernet's weights and
/// reports their mean, spread and range; `evaluate(search.best)` of a differentiable search and of
/// ENAS uses the weights those searches trained themselves; `samples` elsewhere, and the `.best` of
/// a search that keeps no weights, are refused by `nasl check`.
#[test]
fn evaluate_reads_supernets_and_searches_that_hold_weights() {
    let tmp = tempfile::tempdir().unwrap();
    let head = SYNTHETIC_CHAIN;
    let text = format!(
        "{head}stage sup = train(net) {{ epochs 1 }}\n\
         stage paths = evaluate(sup, d.test) {{\n  samples 3\n  recalibrate bn(images: 64)\n}}\n\
         stage dd = differentiable(net) {{ epochs 1 }}\n\
         stage ddbest = evaluate(dd.best, d.test)\n\
         stage en = rl(net) {{\n  epochs 1\n  steps 1\n}}\n\
         stage enbest = evaluate(en.best, d.test)\n"
    );
    let file = tmp.path().join("evals.nas");
    std::fs::write(&file, &text).unwrap();
    let out = tmp.path().join("out");
    smoke_ok(&file, &out);
    let result = |n: &str| stage_result(&out, n);
    let paths = result("paths");
    let accs: Vec<f64> = paths["accuracies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_f64().unwrap())
        .collect();
    assert_eq!(accs.len(), 3, "{paths}");
    let archs: std::collections::BTreeSet<String> = paths["paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["arch"].to_string())
        .collect();
    assert_eq!(archs.len(), 3, "the sampled paths are distinct: {paths}");
    let mean = accs.iter().sum::<f64>() / 3.0;
    assert!((paths["accuracy"].as_f64().unwrap() - mean).abs() < 1e-12);
    let (min, max) = (
        paths["min"].as_f64().unwrap(),
        paths["max"].as_f64().unwrap(),
    );
    assert!(min <= mean + 1e-12 && mean <= max + 1e-12, "{paths}");
    assert_eq!(min, accs.iter().copied().fold(f64::INFINITY, f64::min));
    assert_eq!(paths["settings"]["samples"]["int"], 3, "{paths}");
    for n in ["ddbest", "enbest"] {
        let r = result(n);
        assert_eq!(r["weights"], "supernet", "{n}: {r}");
        let a = r["accuracy"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&a), "{n}: {r}");
    }
    // The searches recorded the weights evaluate read.
    for n in ["dd", "en"] {
        let w = result(n)["supernet_weights"]["parts"][0]["weights"].clone();
        assert!(out.join(w.as_str().unwrap()).exists(), "{n}: {w}");
    }

    // Refused up front: `samples` on one architecture, the `.best` of successive halving.
    for (tail, words) in [
        (
            "stage sup = train(net) { epochs 1 }\nstage found = random_search(sup) { samples 2 }\nstage ev = evaluate(found.best, d.test) { samples 3 }\n",
            "`samples`",
        ),
        (
            "stage sh = successive_halving(net) { candidates 3 }\nstage ev = evaluate(sh.best, d.test)\n",
            "keep no weights",
        ),
    ] {
        let bad = tmp.path().join("bad.nas");
        std::fs::write(&bad, format!("{head}{tail}")).unwrap();
        let o = nasl()
            .args(["check", bad.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("nasl::sema::not_run") && err.contains(words),
            "{err}"
        );
    }
}

/// With two searches, the run's `best.arch.yaml` is the architecture the retrain reads, not the one
/// of the search that happened to finish last.
#[test]
fn the_runs_best_arch_is_the_one_its_retrain_reads() {
    let tmp = tempfile::tempdir().unwrap();
    let text = SYNTHETIC_CHAIN.to_string()
        + r#"
space other = chain(input: [1, 28, 28], classes: 10) {
  stem conv(3, out: 8, stride: 2) bn relu
  layers out: 16, stride: 2, repeat: 1, choose [conv(3) bn relu, skip]
  head global_avg_pool linear(out: classes)
}

stage sup = train(net) { epochs 1 }
stage found = random_search(sup) { samples 3 }
stage final = retrain(found.best) { epochs 1 }
stage later = successive_halving(other) { candidates 2 }
"#;
    let file = tmp.path().join("two_searches.nas");
    std::fs::write(&file, text).unwrap();
    let out = tmp.path().join("out");
    smoke_ok(&file, &out);
    let read = |p: &str| std::fs::read_to_string(out.join(p)).unwrap();
    let run_best = read("best.arch.yaml");
    assert_eq!(run_best, read("stages/found/best.arch.yaml"));
    assert_eq!(run_best, read("model/arch.yaml"));
    assert_ne!(run_best, read("stages/later/best.arch.yaml"));
}

/// `objective train.loss` (or `train.accuracy`) scores candidates on a fixed slice of the training
/// split: every candidate records it and the search's best is the candidate that minimises it, in a
/// supernet search and in successive halving. `test.accuracy` is refused with the reason.
#[test]
fn train_objectives_score_candidates_on_the_training_split() {
    let tmp = tempfile::tempdir().unwrap();
    let head = SYNTHETIC_CHAIN;
    let text = format!(
        "{head}stage sup = train(net) {{ epochs 1 }}\n\
         stage found = random_search(sup) {{\n  samples 4\n  objective train.loss\n}}\n\
         stage sh = successive_halving(net) {{\n  candidates 3\n  objective train.accuracy\n}}\n"
    );
    let file = tmp.path().join("train_obj.nas");
    std::fs::write(&file, &text).unwrap();
    let out = tmp.path().join("out");
    smoke_ok(&file, &out);
    let result = |n: &str| stage_result(&out, n);
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    for (stage, key, lower_is_better) in [
        ("found", "train_loss", true),
        ("sh", "train_accuracy", false),
    ] {
        let events: Vec<Json> = metrics
            .lines()
            .filter_map(|l| serde_json::from_str::<Json>(l).ok())
            .filter(|v| v["stage"] == stage && v["event"] == "candidate")
            .collect();
        // Successive halving picks among its last rung.
        let last = events.iter().filter_map(|v| v["rung"].as_u64()).max();
        let seen: Vec<(String, f64)> = events
            .iter()
            .filter(|v| last.is_none() || v["rung"].as_u64() == last)
            .map(|v| {
                let x = v[key]
                    .as_f64()
                    .unwrap_or_else(|| panic!("{stage}: no {key} in {v}"));
                (v["arch"].to_string(), x)
            })
            .collect();
        assert!(!seen.is_empty(), "{stage}: {events:?}");
        let best = result(stage)["best"].to_string();
        let best_value = seen.iter().find(|(a, _)| *a == best).unwrap().1;
        for (_, x) in &seen {
            assert!(
                if lower_is_better {
                    best_value <= *x
                } else {
                    best_value >= *x
                },
                "{stage}: best {best_value} vs {x}"
            );
        }
    }
    let bad = tmp.path().join("bad.nas");
    std::fs::write(
        &bad,
        format!("{head}stage sup = train(net) {{ epochs 1 }}\nstage found = random_search(sup) {{ objective test.accuracy }}\n"),
    )
    .unwrap();
    let o = nasl()
        .args(["check", bad.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("leaks the test split"),
        "{err}"
    );
}
