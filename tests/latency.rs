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
  stage out: 8, stride: 1, repeat: 2, choose [conv(3) bn relu, conv(5) bn relu, skip]
  stage out: 16, stride: 2, repeat: 1, choose [conv(3) bn relu, skip]
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

#[test]
fn spaces_without_a_linear_cost_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("wide.nas");
    std::fs::write(&file, TINY.replace("out: 16", "out: [12, 16]")).unwrap();
    let out = latency(&file, 4, &[]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("nasl::ir::spec"), "{all}");
    assert!(all.contains("per-option cost table"), "{all}");
    assert!(all.contains("layer/edge"), "{all}");
    assert!(!tmp.path().join("wide.latency.yaml").exists());
}
