//! `nasl run --workers N`: independent pieces (successive-halving candidates, retrained seeds) done
//! by worker processes give the results of one process, a run killed while its workers train resumes
//! to them, a piece's own error names its log, and bad `--workers`/`--executor` values are refused.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::common::{nasl, read_json, root};
use super::{assert_same_run, metrics_without_times, strip_times, walk};
use serde_json::Value as Json;

/// Two runs left the same `files`, summary (but for the coordinator's thread count: pieces ran on
/// one thread in both) and metrics lines.
pub fn assert_same_results(a: &Path, b: &Path, files: &[&str]) {
    for f in files {
        assert_eq!(
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
            "{f} differs"
        );
    }
    let summary = |d: &Path| {
        let mut s = read_json(&d.join("summary.json"));
        strip_times(&mut s);
        s["file"] = Json::Null;
        s["threads"] = Json::Null;
        s
    };
    assert_eq!(summary(a), summary(b));
    assert_eq!(metrics_without_times(a), metrics_without_times(b));
}

/// `nasl run tests/run/workers.nas` into `out` with `args` (CPU, seed 5).
pub fn workers_run(file: &Path, out: &Path, args: &[&str]) -> Command {
    let mut c = nasl();
    c.args([
        "run",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ])
    .args(["--device", "cpu", "--seed", "5"])
    .args(args);
    c
}

pub fn pipeline() -> PathBuf {
    root().join("tests/run/workers.nas")
}

fn ok(mut c: Command) -> String {
    let out = c.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{err}");
    err
}

/// Files under `dir` whose name ends with `suffix`.
pub fn files_ending(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    if !dir.exists() {
        return vec![];
    }
    walk(dir)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect()
}

/// One process, two workers, and two workers killed with SIGKILL mid-search then resumed: the same
/// best architecture, accuracies, model weights, summary and metrics lines.
#[test]
fn two_workers_give_the_results_of_one_process_and_resume_after_sigkill() {
    let tmp = tempfile::tempdir().unwrap();
    let (one, two, killed) = (
        tmp.path().join("one"),
        tmp.path().join("two"),
        tmp.path().join("killed"),
    );
    let file = pipeline();
    let err = ok(workers_run(&file, &one, &["--threads", "1"]));
    assert!(!err.contains("local workers"), "{err}");
    let err = ok(workers_run(
        &file,
        &two,
        &["--threads", "2", "--workers", "2"],
    ));
    // The pieces ran in worker processes: 4 candidates, then 2, then 2 seeds.
    assert!(
        err.contains("search: 4 pieces on 2 local workers (1 threads each)"),
        "{err}"
    );
    assert!(err.contains("final: 2 pieces on 2 local workers"), "{err}");
    assert_eq!(
        files_ending(&two.join("stages/search/pieces"), ".result.json").len(),
        6
    );
    assert!(files_ending(&one.join("stages"), ".result.json").is_empty());
    let files = [
        "best.arch.yaml",
        "model/arch.yaml",
        "model/weights.safetensors",
    ];
    assert_same_results(&one, &two, &files);
    let summary = read_json(&two.join("summary.json"));
    assert_eq!(summary["complete"], true);

    let mut child = workers_run(&file, &killed, &["--threads", "2", "--workers", "2"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pieces = killed.join("stages/search/pieces");
    let t0 = Instant::now();
    while files_ending(&pieces, ".result.json").is_empty() {
        assert!(child.try_wait().unwrap().is_none(), "the run ended first");
        assert!(t0.elapsed() < Duration::from_secs(120), "no piece finished");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !killed.join("summary.json").exists() || {
            read_json(&killed.join("summary.json"))["complete"] == false
        }
    );
    let err = ok({
        let mut c = nasl();
        c.args(["run", "--resume", killed.to_str().unwrap()]).args([
            "--device",
            "cpu",
            "--threads",
            "2",
            "--workers",
            "2",
        ]);
        c
    });
    // The finished piece was not handed to a worker again.
    assert!(!err.contains("search: 4 pieces"), "{err}");
    assert_same_run(&two, &killed, &files);
}

/// A piece whose training diverges in its worker stops the run with the worker's diagnostic, its
/// own error and the path of its log, which holds the worker's account.
#[test]
fn a_failing_piece_names_its_log() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("diverge.nas");
    let text = std::fs::read_to_string(pipeline()).unwrap();
    std::fs::write(&file, text.replace("lr: 0.1", "lr: 1e15")).unwrap();
    let out = workers_run(
        &file,
        &tmp.path().join("run"),
        &["--workers", "2", "--threads", "2"],
    )
    .output()
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("nasl::run::worker"), "{err}");
    assert!(err.contains("nasl::run::diverged"), "{err}");
    // The diagnostic (wrapped to the terminal) names the log of a piece that failed.
    let flat: String = err.split_whitespace().collect();
    let failed = files_ending(&tmp.path().join("run/stages/search/pieces"), ".error.json");
    let log = failed
        .iter()
        .map(|e| PathBuf::from(e.to_string_lossy().replace(".error.json", ".log")))
        .find(|log| flat.contains(&format!("log is {}", log.display()).replace(' ', "")))
        .unwrap_or_else(|| panic!("no failed piece's log in: {err}"));
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("the loss became"), "{log}");
}

/// `--workers 0` and an unknown executor are refused with a diagnostic before anything runs.
#[test]
fn bad_worker_options_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    for (args, code) in [
        (&["--workers", "0"][..], "nasl::cli::workers"),
        (&["--executor", "kubernetes"][..], "nasl::cli::executor"),
        (&["--devices", "gpu7"][..], "nasl::run::device"),
    ] {
        let out = workers_run(&pipeline(), &tmp.path().join("r"), args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains(code), "{args:?}: {err}");
        assert!(!tmp.path().join("r").exists(), "{args:?} created the run");
    }
}
