//! `rl(space)` end to end: the ENAS and MnasNet pipelines in smoke runs, and each mode killed with
//! SIGKILL mid-search and resumed, ending with the files of a clean run without redoing finished
//! epochs or children.

use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use super::common::{fake_cifar, read_json, resume, run_and_kill_at, run_into, smoke_run};
use super::{metrics_without_times, strip_times};

/// The methods' own pipelines run every stage in a smoke run.
#[test]
fn controller_and_hypernet_pipelines_pass_a_smoke_run() {
    let tmp = tempfile::tempdir().unwrap();
    let cifar = tmp.path().join("cifar");
    fake_cifar(&cifar);
    for name in ["smash", "mnasnet", "enas"] {
        let (out, _) = smoke_run(tmp.path(), name, &cifar);
        let summary = read_json(&out.join("summary.json"));
        assert_eq!(summary["complete"], true, "{name}: {summary}");
        let search = summary["stages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["kind"] == "rl" || s["kind"] == "hypernet")
            .unwrap_or_else(|| panic!("{name}: no search stage"))
            .clone();
        assert!(search["evaluated"].as_u64().unwrap() >= 1, "{name}");
        assert!(search["params"].as_u64().unwrap() > 0, "{name}");
        assert!(out.join("best.arch.yaml").is_file(), "{name}");
        assert!(out.join("model/weights.safetensors").is_file(), "{name}");
        let page = std::fs::read_to_string(out.join("report.html")).unwrap();
        assert!(page.contains("<section id=\"search\">"), "{name}");
        if name == "smash" {
            assert!(out.join("stages/search/hypernet.safetensors").is_file());
            assert_eq!(search["evaluated"], 4, "smoke: samples 500 capped at 4");
            assert!(search["generated_params"].as_u64().unwrap() > 0);
            continue;
        }
        assert!(
            out.join("stages/search/controller.safetensors").is_file(),
            "{name}"
        );
        // The controller learned: one line per round (MnasNet) or epoch (ENAS).
        let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
        let lines: Vec<Json> = metrics
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .filter(|v: &Json| v["event"] == "controller")
            .collect();
        assert!(!lines.is_empty(), "{name}");
        assert!(lines.last().unwrap()["updates"].as_u64().unwrap() >= 1);
        if name == "mnasnet" {
            assert_eq!(search["algorithm"], "ppo");
            assert_eq!(search["children"], 8, "smoke runs sample 8 children");
            // ACC * (LAT / 80ms)^-0.07 with the measured latency.
            let (acc, lat, reward) = (
                search["top"][0]["accuracy"].as_f64().unwrap(),
                search["latency_ms"].as_f64().unwrap(),
                search["reward"].as_f64().unwrap(),
            );
            assert!(lat > 0.0);
            assert!(
                (reward - acc * (lat / 80.0).powf(-0.07)).abs() < 1e-9,
                "{reward} {acc} {lat}"
            );
            assert!(out.join("stages/search/mnas_latency.json").is_file());
        } else {
            assert_eq!(search["algorithm"], "reinforce");
            assert_eq!(search["controller_updates"], 2, "smoke: 1 epoch x 2 steps");
            assert_eq!(
                search["derived_from"], 4,
                "smoke: derive sample(100) capped"
            );
            // The derived architecture chose which nodes each cell node reads (`node_inputs 2`).
            let best = std::fs::read_to_string(out.join("best.arch.yaml")).unwrap();
            for d in [
                "normal.node0.input1",
                "normal.node4.input0",
                "reduce.node4.op1",
            ] {
                assert!(best.contains(d), "{d} not in\n{best}");
            }
        }
    }
}

const HEADER: &str = r#"
dataset d = fashion_mnist {
  split train: 600, val: 300
  batch 50
}

space net = chain(input: [1, 28, 28], classes: 10) {
  stem conv(3, out: 8, stride: 2) bn relu
  layers out: 8, stride: 1, repeat: 2, choose [conv(3) bn relu, conv(5) bn relu, skip]
  layers out: [8, 16], stride: 2, repeat: 1, choose [conv(3) bn relu, conv(5) bn relu]
  head global_avg_pool linear(out: classes)
}
"#;

const RETRAIN: &str = r#"
stage final = retrain(search.best) {
  epochs 1
  optimizer sgd(lr: 0.1, momentum: 0.9)
}
"#;

/// Runs `text` clean, and again killed with SIGKILL as soon as `marker` (a checkpoint record,
/// relative to the run folder) exists, then resumed; asserts both end with the same files; returns
/// the killed run's folder, the resumed run's stderr and the stage's parts journal as it was at the
/// kill.
fn kill_and_resume(
    tmp: &Path,
    text: &str,
    marker: &str,
    weights: &str,
) -> (PathBuf, String, String) {
    let file = tmp.join("p.nas");
    std::fs::write(&file, text).unwrap();
    let clean = tmp.join("clean");
    let killed = tmp.join("killed");
    let out = run_into(&file, &clean, 5).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    run_and_kill_at(&file, &killed, marker, 5);
    let parts =
        std::fs::read_to_string(killed.join("stages/search/parts.jsonl")).unwrap_or_default();
    let err = resume(&killed);
    for f in [
        "best.arch.yaml",
        "model/arch.yaml",
        "model/weights.safetensors",
        weights,
    ] {
        let (a, b) = (
            std::fs::read(clean.join(f)).unwrap(),
            std::fs::read(killed.join(f)).unwrap(),
        );
        // Text files are shown as text when they differ.
        match (std::str::from_utf8(&a), std::str::from_utf8(&b)) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{f} differs"),
            _ => assert!(a == b, "{f} differs"),
        }
    }
    let mut a = read_json(&clean.join("summary.json"));
    let mut b = read_json(&killed.join("summary.json"));
    strip_times(&mut a);
    strip_times(&mut b);
    assert_eq!(a, b);
    assert_eq!(
        metrics_without_times(&clean),
        metrics_without_times(&killed)
    );
    (killed, err, parts)
}

/// MnasNet mode: killed after the first round's controller update, resumed: no child that had
/// finished trains again, and the run ends as a clean one (reward with a latency table the clean
/// run measured, so both read the same latencies).
#[test]
fn a_killed_mnasnet_search_resumes_without_retraining_children() {
    let tmp = tempfile::tempdir().unwrap();
    let text = format!(
        "{HEADER}
stage search = rl(net) {{
  shared false
  samples 12
  proxy_epochs 2
  controller lstm(hidden: 16, lr: 0.01, algorithm: ppo)
  reward mnas(target: 1ms, w: -0.07)
  latency lut(\"lat.json\")
  optimizer sgd(lr: 0.1, momentum: 0.9)
}}
{RETRAIN}"
    );
    let (_, err, parts) = kill_and_resume(
        tmp.path(),
        &text,
        "stages/search/controller.ckpt.json",
        "stages/search/controller.safetensors",
    );
    let finished: Vec<String> = parts
        .lines()
        .filter_map(|l| serde_json::from_str::<Json>(l).ok())
        .filter_map(|v| v["tag"].as_str().map(String::from))
        .filter(|t| t.starts_with("child"))
        .collect();
    assert!(!finished.is_empty(), "no child had finished: {parts}");
    for tag in &finished {
        assert!(
            !err.contains(&format!("search {tag} epoch")),
            "{tag} trained again:\n{err}"
        );
    }
    assert!(tmp.path().join("lat.json").is_file());
}

/// ENAS mode: killed after the first epoch's weight checkpoint, resumed: the first epoch is not
/// trained again and the run ends as a clean one.
/// (16 epochs: the search must still be running when the kill lands, 300 ms after the first
/// epoch's checkpoint; with 3 it once finished first under CI load.)
#[test]
fn a_killed_enas_search_resumes_to_the_same_artifacts() {
    let tmp = tempfile::tempdir().unwrap();
    let text = format!(
        "{HEADER}
stage search = rl(net) {{
  shared true
  epochs 16
  steps 10
  weights sgd(lr: 0.05, momentum: 0.9)
  controller lstm(hidden: 16, lr: 0.01)
  derive sample(4)
}}
{RETRAIN}"
    );
    let (killed, err, _) = kill_and_resume(
        tmp.path(),
        &text,
        "stages/search/search.ckpt.json",
        "stages/search/controller.safetensors",
    );
    assert!(!err.contains("search epoch 1/16"), "{err}");
    let record = read_json(&killed.join("stages/search/controller.ckpt.json"));
    assert_eq!(record["done"], 16);
}

/// SMASH: killed after the hypernetwork's first epoch, resumed: the epoch is not trained again and the
/// run ends as a clean one; `rank` of the hypernetwork compares generated-weight and stand-alone
/// accuracy.
#[test]
fn a_killed_hypernet_search_resumes_to_the_same_artifacts() {
    let tmp = tempfile::tempdir().unwrap();
    let text = format!(
        "{HEADER}
stage search = hypernet(net) {{
  epochs 8
  optimizer sgd(lr: 0.05, momentum: 0.9)
  samples 6
}}
stage quality = rank(search) {{
  samples 3
  epochs 1
}}
{RETRAIN}"
    );
    let (killed, err, _) = kill_and_resume(
        tmp.path(),
        &text,
        "stages/search/search.ckpt.json",
        "stages/search/hypernet.safetensors",
    );
    assert!(!err.contains("search epoch 1/8"), "{err}");
    let summary = read_json(&killed.join("summary.json"));
    let quality = summary["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == "quality")
        .unwrap()
        .clone();
    assert_eq!(quality["architectures"], 3);
    assert_eq!(quality["weights"], "generated by the hypernetwork");
    assert!(quality["kendall_tau"].is_number(), "{quality}");
}

/// The controller emits ENAS's input decisions (`pipelines/enas.nas`, `node_inputs 2`) in the
/// space's order, node by node (its two inputs, then their two ops): every sampled genome has an
/// option per decision, each input among the node's earlier nodes, and is a valid architecture that
/// keeps every input decision; the inputs vary from sample to sample.
#[test]
fn the_controller_emits_the_input_decisions_of_enas_cells() {
    use nasl::exec::controller::Controller;
    use nasl::ir::{Arch, DecisionKind};
    use rand::SeedableRng;
    let front = nasl::driver::check_file(Path::new("pipelines/enas.nas"), &nasl::source::FsLoader);
    let (_, space) = &front.spaces[0];
    let names: Vec<&str> = space.decisions[..8]
        .iter()
        .map(|d| d.path.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "normal.node0.input0",
            "normal.node0.input1",
            "normal.node0.op0",
            "normal.node0.op1",
            "normal.node1.input0",
            "normal.node1.input1",
            "normal.node1.op0",
            "normal.node1.op1",
        ]
    );
    let inputs: Vec<usize> = (0..space.decisions.len())
        .filter(|&d| space.decisions[d].kind == DecisionKind::Input)
        .collect();
    assert_eq!(inputs.len(), 20, "2 per node, 5 nodes, 2 cell types");
    let ch = nasl::exec::supernet::choices(space);
    let c = Controller::new(&ch, Default::default(), 3);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let genomes = c.sample(16, &mut rng);
    for g in &genomes {
        assert_eq!(g.len(), 40);
        for &d in &inputs {
            let n: usize = space.decisions[d].path["normal.node".len()..][..1]
                .parse()
                .unwrap();
            assert!(g[d] < 2 + n, "{} = {}", space.decisions[d].path, g[d]);
        }
        let arch = Arch::from_indices(space, g).unwrap();
        for &d in &inputs {
            assert!(arch.choices.contains_key(&space.decisions[d].path));
        }
    }
    let last = space.decision_index("normal.node4.input0").unwrap();
    let seen: std::collections::BTreeSet<usize> = genomes.iter().map(|g| g[last]).collect();
    assert!(seen.len() > 1, "{seen:?}");
}

/// ENAS on its input-choice cells (`node_inputs 2`), killed after the first epoch's weight checkpoint
/// and resumed: the first epoch is not trained again, the run ends as a clean one, and the derived
/// architecture chose the nodes' inputs. (A cell input that no chosen edge reads keeps its
/// preprocessing op in the network; that op gets no gradient and must not count as trained, or
/// momentum moves it in the clean process and not in the resumed one: `supernet::op_paths`.)
#[test]
fn a_killed_enas_search_over_input_choice_cells_resumes_to_the_same_artifacts() {
    let tmp = tempfile::tempdir().unwrap();
    let text = format!(
        "dataset d = fashion_mnist {{
  split train: 600, val: 300
  batch 50
}}

space cells = cell(nodes: 3, inputs: 2) {{
  ops [sep_conv(3), avg_pool(3), max_pool(3), skip]
  node_inputs 2
  network cells: 3, channels: 8, reduce_at: [1/3, 2/3], input: [1, 28, 28], classes: 10
}}

stage search = rl(cells) {{
  shared true
  epochs 3
  steps 10
  weights sgd(lr: 0.05, momentum: 0.9)
  controller lstm(hidden: 16, lr: 0.01)
  derive sample(4)
}}
{RETRAIN}"
    );
    let (killed, err, _) = kill_and_resume(
        tmp.path(),
        &text,
        "stages/search/search.ckpt.json",
        "stages/search/controller.safetensors",
    );
    assert!(!err.contains("search epoch 1/3"), "{err}");
    let record = read_json(&killed.join("stages/search/controller.ckpt.json"));
    assert_eq!(record["done"], 3);
    let best = std::fs::read_to_string(killed.join("best.arch.yaml")).unwrap();
    assert!(best.contains("normal.node2.input1"), "{best}");
}
