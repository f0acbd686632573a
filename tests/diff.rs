//! `nasl run` on the differentiable family: smoke runs of the DARTS (first and second order), SNAS,
//! GDAS, FBNet and ProxylessNAS pipelines (search, derive, retrain, evaluate) with their artifacts
//! (architecture-parameter trajectory as JSON and SVG, derived architecture, latency table), and a
//! differentiable search killed with SIGKILL and resumed to exactly the clean run's result; Single-Path
//! NAS's superkernel relaxation (`diff/superkernel.rs`); FBNetV2's masked Gumbel relaxation
//! (`diff/masked.rs`).

#![cfg(feature = "torch")]

mod common;
#[path = "diff/masked.rs"]
mod masked;
#[path = "diff/superkernel.rs"]
mod superkernel;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::{fake_cifar, nasl, read_json, root, smoke_run, wait_for};
use serde_json::Value as Json;

/// The labels of a derived cell architecture that are not `none`, per (cell, node).
fn kept_edges(best: &Json) -> std::collections::BTreeMap<String, usize> {
    let mut kept = std::collections::BTreeMap::new();
    for (path, label) in best.as_object().unwrap() {
        let node = path.rsplit_once('.').unwrap().0.to_string();
        let e = kept.entry(node).or_insert(0);
        if label != "none" {
            *e += 1;
        }
    }
    kept
}

#[test]
fn every_differentiable_pipeline_passes_a_smoke_run() {
    let tmp = tempfile::tempdir().unwrap();
    let cifar = tmp.path().join("cifar");
    fake_cifar(&cifar);
    for name in [
        "darts_1st",
        "darts_2nd",
        "snas",
        "gdas",
        "fbnet",
        "proxylessnas",
        "nb201_darts",
    ] {
        let (out, o) = smoke_run(tmp.path(), name, &cifar);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            !err.contains("not implemented"),
            "{name}: a setting was ignored:\n{err}"
        );
        let summary = read_json(&out.join("summary.json"));
        assert_eq!(summary["complete"], true, "{name}");
        let stages = summary["stages"].as_array().unwrap();
        let search = stages
            .iter()
            .find(|s| s["kind"] == "differentiable")
            .unwrap();
        assert!(
            search["settings"].get("relax").is_some(),
            "{name}: {search}"
        );
        // DARTS' protocol: the derived cells are retrained in a larger network than the search's
        // (`network cells: .., channels: ..`, with drop-path), and the parameter count says so.
        if name.starts_with("darts") {
            let fin = stages.iter().find(|s| s["kind"] == "retrain").unwrap();
            assert!(fin["settings"].get("network").is_some(), "{name}: {fin}");
            assert!(fin["settings"].get("drop_path").is_some(), "{name}: {fin}");
            assert!(fin["settings"].get("auxiliary").is_some(), "{name}: {fin}");
            // The auxiliary head is trained (its parameters counted apart), not part of the model.
            assert!(
                fin["auxiliary_params"].as_u64().unwrap_or(0) > 100_000,
                "{name}: {fin}"
            );
            let file = root().join(format!("pipelines/{name}.nas"));
            let o = nasl()
                .args(["inspect", file.to_str().unwrap(), "--json", "--arch"])
                .arg(out.join("best.arch.yaml"))
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            let report: Json = serde_json::from_slice(&o.stdout).unwrap();
            let searched = report[0]["arch"]["params"]
                .as_u64()
                .unwrap_or_else(|| panic!("no arch params in {report}"));
            let evaluated = fin["params"].as_u64().unwrap();
            assert!(
                evaluated > 2 * searched,
                "{name}: evaluation network {evaluated} params, search network {searched}"
            );
        }
        let report = stages.iter().find(|s| s["kind"] == "evaluate").unwrap();
        let acc = report["test_accuracy"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&acc), "{name}: {acc}");
        assert!(out.join("best.arch.yaml").is_file(), "{name}");
        assert!(out.join("model/weights.safetensors").is_file(), "{name}");

        // The trajectory: one line per epoch with a distribution over every decision's options.
        let dir = out.join("stages/search");
        let traj = read_json(&dir.join("arch_trajectory.json"));
        let traj = traj.as_array().unwrap();
        assert_eq!(traj.len(), 1, "{name}: one smoke epoch");
        let probs = traj[0]["probs"].as_object().unwrap();
        let best = &search["best"];
        assert!(!probs.is_empty());
        for (path, p) in probs {
            let s: f64 = p
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .sum();
            assert!((s - 1.0).abs() < 1e-6, "{name}: {path} sums to {s}");
        }
        let svg = std::fs::read_to_string(dir.join("arch_trajectory.svg")).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains("polyline"),
            "{name}"
        );
        assert!(dir.join("alphas.safetensors").is_file(), "{name}");
        // The run's report embeds the trajectory plot and draws the derived architecture.
        let page = std::fs::read_to_string(out.join("report.html")).unwrap();
        assert!(page.contains("<section id=\"differentiable\">"), "{name}");
        assert!(page.contains("src=\"data:image/svg+xml;base64,"), "{name}");
        assert!(page.contains("<section id=\"architecture\">"), "{name}");
        if name.starts_with("darts") {
            assert!(
                page.contains("normal cell") && page.contains("reduce cell"),
                "{name}"
            );
        }
        let state = read_json(&out.join("state.json"));
        let result = &state["done"][0]["result"];
        assert_eq!(
            result["final_probs"].as_object().unwrap().len(),
            probs.len(),
            "{name}"
        );

        match name {
            // DARTS' rule: exactly two incoming edges per intermediate node survive.
            "darts_1st" | "darts_2nd" | "gdas" => {
                for (node, n) in kept_edges(best) {
                    assert_eq!(n, 2, "{name}: {node} keeps {n} edges");
                }
            }
            // The temperature is logged and annealed from its start value.
            "snas" => {
                let tau = traj[0]["tau"].as_f64().unwrap();
                assert!((0.33..1.0).contains(&tau), "{name}: tau {tau}");
            }
            // Latency tables are measured into the run folder by smoke runs.
            "fbnet" | "proxylessnas" => {
                let lut = std::fs::read_dir(&dir)
                    .unwrap()
                    .flatten()
                    .find(|e| e.file_name().to_string_lossy().contains("latency"))
                    .unwrap_or_else(|| panic!("{name}: no latency table in {}", dir.display()));
                let text = std::fs::read_to_string(lut.path()).unwrap();
                assert!(text.contains("entries"), "{name}");
                assert!(
                    result["penalties"][0]["expected"].as_f64().unwrap() > 0.0,
                    "{name}"
                );
            }
            _ => {}
        }
        if name == "fbnet" {
            assert!(
                search["evaluated"].as_u64().unwrap() >= 2,
                "sample(6) scores several"
            );
        }
    }
}

/// The architecture parameters and their optimizer are checkpointed with the weights: a search
/// killed in its second epoch and resumed ends with the clean run's parameters, bit for bit.
#[test]
fn a_killed_differentiable_search_resumes_to_the_same_result() {
    let tmp = tempfile::tempdir().unwrap();
    let file = root().join("tests/run/diff_resume.nas");
    let clean = tmp.path().join("clean");
    let killed = tmp.path().join("killed");
    let run_into = |out: &Path| common::run_into(&file, out, 5);
    let o = run_into(&clean).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let mut child = run_into(&killed).stderr(Stdio::null()).spawn().unwrap();
    wait_for(
        &killed.join("stages/search/search.e1b0.safetensors"),
        &mut child,
        Duration::from_secs(300),
    );
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap();
    child.wait().unwrap();
    let o = nasl()
        .args(["run", "--resume", killed.to_str().unwrap()])
        .args(["--device", "cpu", "--threads", "1"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        !err.contains("search epoch 1/4"),
        "epoch 1 was redone:\n{err}"
    );
    common::assert_same_files(
        &clean,
        &killed,
        &[
            "stages/search/alphas.safetensors",
            "stages/search/arch_trajectory.json",
            "best.arch.yaml",
            "model/weights.safetensors",
        ],
    );
    // The distribution moved away from its near-uniform start.
    let traj = read_json(&clean.join("stages/search/arch_trajectory.json"));
    let last = traj.as_array().unwrap().last().unwrap()["probs"].clone();
    let spread = last
        .as_object()
        .unwrap()
        .values()
        .flat_map(|p| p.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()))
        .fold(0.0f64, |m, v| m.max((v - 0.25).abs()));
    assert!(spread > 0.01, "alphas barely moved: {spread}");
}

/// Combinations the executor cannot run faithfully are refused by `nasl check`, so before any work,
/// with a code: binary gates at a single level (their architecture steps need held-out batches),
/// DARTS' top-k rule on a chain.
#[test]
fn impossible_differentiable_settings_are_refused_up_front() {
    let tmp = tempfile::tempdir().unwrap();
    let base = std::fs::read_to_string(root().join("pipelines/proxylessnas.nas")).unwrap();
    for (name, from, to, code) in [
        (
            "single_gates",
            "level bilevel(order: 1, split: 0.8)",
            "level single",
            "nasl::sema::not_run",
        ),
        (
            "topk_chain",
            "derive argmax",
            "derive top_k_edges(2)",
            "nasl::sema::sampler_mismatch",
        ),
    ] {
        assert!(base.contains(from));
        let file = tmp.path().join(format!("{name}.nas"));
        std::fs::write(&file, base.replace(from, to)).unwrap();
        let out = tmp.path().join(name);
        let o = nasl()
            .args(["run", file.to_str().unwrap(), "--smoke", "--out"])
            .arg(&out)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{name}: {err}");
        assert!(err.contains(code), "{name}: {err}");
        assert!(!out.exists(), "{name}: a run folder was created");
    }
}
