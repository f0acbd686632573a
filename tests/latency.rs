//! `nasl latency` end to end on a tiny space: the table holds one entry per distinct op key of the
//! space, the report gives the correlation figures, a second run reuses the table (nothing measured),
//! and a damaged table is a `nasl::latency::format` diagnostic with exit code 1.

#![cfg(feature = "torch")]

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

use assert_cmd::cargo::CommandCargoExt;
use nasl::compile::latency::{LatencyTable, space_ops};
use nasl::source::FsLoader;

const TINY: &str = "\
space tiny = chain(input: [1, 8, 8], classes: 4) {
  stem conv(3, out: 8) bn relu
  layers out: 8, stride: 1, repeat: 2, choose [conv(3) bn relu, conv(5) bn relu, skip]
  layers out: 16, stride: 2, repeat: 1, choose [conv(3) bn relu, skip]
  head global_avg_pool linear(out: classes)
}
";

fn nasl() -> Command {
    let mut c = Command::cargo_bin("nasl").unwrap();
    // One libtorch thread: the harness runs tests side by side.
    c.env("CI", "1").env("OMP_NUM_THREADS", "1");
    c
}

fn latency(file: &Path, samples: usize, extra: &[&str]) -> Output {
    nasl()
        .arg("latency")
        .arg(file)
        .args(["--device", "cpu", "--repeats", "3", "--warmup", "1"])
        .args(["--samples", &samples.to_string()])
        .args(extra)
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn measures_reuses_and_refuses_damaged_tables() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("tiny.nas");
    std::fs::write(&file, TINY).unwrap();

    let out = latency(&file, 4, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let report = String::from_utf8_lossy(&out.stdout).to_string();
    let table_path = tmp.path().join("tiny.latency.yaml");
    assert!(table_path.exists(), "{report}");
    let table = LatencyTable::load(&table_path).unwrap();

    // One entry per distinct op key of the space.
    let front = nasl::driver::check_file(&file, &FsLoader);
    let space = &front.spaces[0].1;
    let keys: BTreeSet<String> = space_ops(space).unwrap().into_keys().collect();
    let have: BTreeSet<String> = table.entries.keys().cloned().collect();
    assert_eq!(have, keys);
    assert!(table.entries.values().all(|v| v.is_finite() && *v >= 0.0));
    assert_eq!((table.batch, table.repeats, table.warmup), (1, 3, 1));
    assert!(table.device.starts_with("cpu ("), "{}", table.device);
    let n = keys.len();
    assert!(
        report.contains(&format!("{n} ({n} measured now)")),
        "{report}"
    );
    for word in ["pearson", "spearman", "MAPE", "4 architectures"] {
        assert!(report.contains(word), "no {word} in:\n{report}");
    }

    // A second run reuses the table.
    let out = latency(&file, 0, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let report = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        report.contains(&format!("{n} (0 measured now)")),
        "{report}"
    );
    assert!(!report.contains("pearson"), "{report}");

    // JSON output, to another (JSON) table.
    let json_table = tmp.path().join("t.json");
    let out = latency(&file, 2, &["--json", "--out", json_table.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["entries"], n);
    assert_eq!(v["validation"]["rows"].as_array().unwrap().len(), 2);
    assert!(LatencyTable::load(&json_table).is_ok());

    // A damaged table is a diagnostic, not a panic.
    std::fs::write(&table_path, "device: [cpu\nentries: 3\n").unwrap();
    let out = latency(&file, 4, &[]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("nasl::latency::format"), "{all}");
    assert!(!all.contains("panicked"), "{all}");
}

/// A chain with channel decisions is measured over its op cover: the table holds the ops of every
/// width at every input width. An input-choice cell space (ENAS) has no table and is refused before
/// anything is measured.
#[test]
fn channel_decisions_are_measured_and_input_choice_cells_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("wide.nas");
    let wide = TINY.replace("out: 16", "out: [12, 16]");
    std::fs::write(&file, &wide).unwrap();
    let out = latency(&file, 2, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let table = LatencyTable::load(&tmp.path().join("tiny.latency.yaml")).unwrap();
    let front = nasl::driver::check_text("wide.nas", &wide);
    let space = &front.spaces[0].1;
    let keys: BTreeSet<&String> = table.entries.keys().collect();
    assert_eq!(keys, space_ops(space).unwrap().keys().collect());
    // Both widths of the last stage's convs (12 and 16 out channels).
    for w in ["out12", "out16"] {
        assert!(keys.iter().any(|k| k.contains(w)), "{w}: {keys:?}");
    }

    let file = tmp.path().join("enas.nas");
    std::fs::write(
        &file,
        "space cells = cell(nodes: 2, inputs: 2) {
  ops [sep_conv(3), skip]
  node_inputs 2
  network cells: 1, channels: 4, input: [1, 8, 8], classes: 3
}
",
    )
    .unwrap();
    let out = latency(&file, 2, &[]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("nasl::ir::spec"), "{all}");
    assert!(all.contains("per-option cost table"), "{all}");
    assert!(!tmp.path().join("cells.latency.yaml").exists());
}

/// Latency in searches and supernet training, from the stage's table (`latency lut(...)`): a hard
/// constraint keeps only the architectures the table says are fast enough, a Pareto axis and every
/// candidate carry the table's prediction, and `constrained(latency: ..)` draws only paths inside its
/// range (a range no path meets stops the run with a diagnostic). The table is measured once, then
/// its entries are set by hand so that every op costs 1 ms except the 5x5 convolution (10 ms): the
/// two searchable layers give 11, 20 or 29 ms.
#[test]
fn latency_objectives_constraints_and_sampler_read_the_stage_table() {
    let dir = tempfile::tempdir().unwrap();
    let space = "dataset d = synthetic {\n  split train: 200, val: 100\n  batch 50\n}\n\n\
        space net = chain(input: [1, 28, 28], classes: 10) {\n  stem conv(3, out: 8, stride: 2) bn relu\n  \
        layers out: 8, stride: 1, repeat: 2, choose [conv(3) bn relu, conv(5) bn relu]\n  \
        head global_avg_pool linear(out: classes)\n}\n";
    let pipeline = |range: &str| {
        format!(
            "{space}\nstage sup = train(net) {{\n  epochs 1\n  sampler constrained(latency: {range})\n  latency lut(\"t.yaml\")\n}}\n\
             stage fast = random_search(sup) {{\n  samples 12\n  constraint latency <= 15ms\n  latency lut(\"t.yaml\")\n}}\n\
             stage front = nsga2(sup) {{\n  population 6\n  generations 2\n  pareto [val.accuracy, latency]\n  latency lut(\"t.yaml\")\n}}\n"
        )
    };
    let file = dir.path().join("p.nas");
    std::fs::write(&file, pipeline("0ms..25ms")).unwrap();
    let table = dir.path().join("t.yaml");
    let o = latency(&file, 0, &["--out", table.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let mut t = LatencyTable::load(&table).unwrap();
    for (key, v) in t.entries.iter_mut() {
        *v = if key.starts_with("conv(k5") {
            10.0
        } else {
            1.0
        };
    }
    t.save(&table).unwrap();

    let out = dir.path().join("run");
    let o = nasl()
        .args(["run", file.to_str().unwrap(), "--device", "cpu", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("state.json")).unwrap()).unwrap();
    let result = |n: &str| {
        state["done"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["name"] == n)
            .unwrap()["result"]
            .clone()
    };
    let fast = result("fast");
    for c in fast["candidates"].as_array().unwrap() {
        assert_eq!(c["latency_ms"], 11.0, "only two 3x3 layers fit 15 ms: {c}");
    }
    let front = result("front");
    let seen: BTreeSet<String> = front["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["latency_ms"].to_string())
        .collect();
    assert!(
        seen.iter()
            .all(|l| ["11.0", "20.0", "29.0"].contains(&l.as_str())),
        "{seen:?}"
    );
    assert!(seen.len() >= 2, "NSGA-II saw several latencies: {seen:?}");
    // The table the stages read is the one written by hand, not a new measurement.
    assert_eq!(LatencyTable::load(&table).unwrap(), t);

    // No path costs 100..200 ms: the constrained sampler finds none and says so.
    std::fs::write(
        &file,
        format!(
            "{space}\nstage sup = train(net) {{\n  epochs 1\n  sampler constrained(latency: 100ms..200ms)\n  latency lut(\"t.yaml\")\n}}\n"
        ),
    )
    .unwrap();
    let o = nasl()
        .args(["run", file.to_str().unwrap(), "--device", "cpu", "--out"])
        .arg(dir.path().join("run2"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        text(&o).contains("inside the sampler's range"),
        "{}",
        text(&o)
    );

    // A latency bound is a duration.
    std::fs::write(&file, format!("{space}\nstage sup = train(net) {{ epochs 1 }}\nstage s = random_search(sup) {{\n  constraint latency <= 15\n}}\n")).unwrap();
    let o = nasl()
        .args(["check", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(text(&o).contains("a duration like `5ms`"), "{}", text(&o));
}
