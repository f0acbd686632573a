//! Helpers shared by the `nasl run` integration tests: the binary with test-friendly settings, the
//! repository root, JSON files, a small CIFAR-10 folder, and waiting for a file a running child writes.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use nasl::data::{Cifar, CifarVariant, RawImages};
use serde_json::Value as Json;

/// The nasl binary, with one libtorch thread: the harness already runs tests side by side, and
/// oversubscribed cores make libtorch's thread pool crawl.
pub fn nasl() -> Command {
    let mut c = Command::cargo_bin("nasl").unwrap();
    c.env("CI", "1").env("OMP_NUM_THREADS", "1");
    c
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn read_json(p: &Path) -> Json {
    serde_json::from_str(
        &std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
    )
    .unwrap()
}

/// A small CIFAR-10 folder (800 train, 100 test images) for the CIFAR pipelines' smoke runs.
pub fn fake_cifar(dir: &Path) {
    let inner = dir.join("cifar-10-batches-bin");
    std::fs::create_dir_all(&inner).unwrap();
    let images = |n: usize, salt: usize| RawImages {
        channels: 3,
        height: 32,
        width: 32,
        pixels: (0..n * 3 * 32 * 32)
            .map(|i| ((i * 31 + salt) % 253) as u8)
            .collect(),
        labels: (0..n).map(|i| (i % 10) as u16).collect(),
    };
    for i in 0..5 {
        Cifar::write_batch(
            CifarVariant::Cifar10,
            &inner.join(format!("data_batch_{}.bin", i + 1)),
            &images(160, i),
        )
        .unwrap();
    }
    Cifar::write_batch(
        CifarVariant::Cifar10,
        &inner.join("test_batch.bin"),
        &images(100, 9),
    )
    .unwrap();
}

/// Runs `nasl run pipelines/<name>.nas --smoke` into `tmp/<name>` on the CPU (with the small CIFAR-10
/// folder `cifar` where the pipeline reads CIFAR-10), asserts it succeeded, and returns the run
/// folder and the process output.
pub fn smoke_run(tmp: &Path, name: &str, cifar: &Path) -> (PathBuf, std::process::Output) {
    let out = tmp.join(name);
    let file = root().join(format!("pipelines/{name}.nas"));
    let mut cmd = nasl();
    cmd.arg("run")
        .arg(&file)
        .arg("--smoke")
        .arg("--out")
        .arg(&out)
        .args(["--device", "cpu"]);
    if std::fs::read_to_string(&file).unwrap().contains("cifar10") {
        cmd.arg("--data").arg(format!("cifar={}", cifar.display()));
    }
    let o = cmd.output().unwrap();
    assert!(
        o.status.success(),
        "{name}:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    (out, o)
}

/// Writes `text` to `dir/<name>.nas` and runs it with `--smoke` on the CPU into `dir/<name>`; returns
/// the run folder and the process output, whatever the exit status.
pub fn smoke_text(dir: &Path, name: &str, text: &str) -> (PathBuf, std::process::Output) {
    let file = dir.join(format!("{name}.nas"));
    std::fs::write(&file, text).unwrap();
    let out = dir.join(name);
    let o = nasl()
        .args(["run", file.to_str().unwrap(), "--smoke", "--device", "cpu"])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    (out, o)
}

/// Waits until `path` exists, failing if the child ends first or `limit` passes.
pub fn wait_for(path: &Path, child: &mut std::process::Child, limit: Duration) {
    let t0 = Instant::now();
    while !path.exists() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "the run ended ({status}) before {} appeared",
                path.display()
            );
        }
        assert!(t0.elapsed() < limit, "{} never appeared", path.display());
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// `nasl run FILE --out OUT` on the CPU, one thread, seed `seed`.
pub fn run_into(file: &Path, out: &Path, seed: u64) -> Command {
    let mut c = nasl();
    c.args([
        "run",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ])
    .args([
        "--device",
        "cpu",
        "--threads",
        "1",
        "--seed",
        &seed.to_string(),
    ]);
    c
}

/// Runs `file` into `killed` and kills it with SIGKILL as soon as `marker` (a checkpoint record of
/// the pipeline's first stage, relative to the run folder) exists; checks that the kill landed
/// before that stage finished.
pub fn run_and_kill_at(file: &Path, killed: &Path, marker: &str, seed: u64) {
    run_and_kill(run_into(file, killed, seed), killed, marker);
}

/// Spawns `cmd` (a run into `killed`) and kills it as [`run_and_kill_at`] does.
pub fn run_and_kill(mut cmd: Command, killed: &Path, marker: &str) {
    let mut child = cmd.stderr(std::process::Stdio::null()).spawn().unwrap();
    wait_for(&killed.join(marker), &mut child, Duration::from_secs(300));
    child.kill().unwrap();
    child.wait().unwrap();
    let state = killed.join("state.json");
    assert!(
        !state.exists() || read_json(&state)["done"].as_array().unwrap().is_empty(),
        "killed after the first stage had finished; the marker came too late"
    );
}

/// `nasl run --resume RUN` on the CPU, one thread, which must succeed; its stderr.
pub fn resume(run: &Path) -> String {
    let o = nasl()
        .args(["run", "--resume", run.to_str().unwrap()])
        .args(["--device", "cpu", "--threads", "1"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(o.status.success(), "{err}");
    err
}

/// Runs `file` clean into `clean`, then into `killed` killed at `marker` ([`run_and_kill_at`]),
/// and resumes `killed`. Returns the resumed run's stderr.
pub fn clean_then_killed_and_resumed(
    file: &Path,
    clean: &Path,
    killed: &Path,
    marker: &str,
    seed: u64,
) -> String {
    let o = run_into(file, clean, seed).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    run_and_kill_at(file, killed, marker, seed);
    resume(killed)
}

/// The summary's row of stage `name` (panics naming the stage when it is absent).
pub fn stage_of(summary: &Json, name: &str) -> Json {
    summary["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == name)
        .unwrap_or_else(|| panic!("no stage {name}: {summary}"))
        .clone()
}

/// Asserts that each of `files` (paths relative to the run folders) has the same bytes in `a` and
/// `b`.
pub fn assert_same_files(a: &Path, b: &Path, files: &[&str]) {
    for f in files {
        assert_eq!(
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
            "{f} differs"
        );
    }
}

/// The error diagnostics of `nasl check` on a pipeline text (as file `p.nas`).
pub fn check_error_diags(text: &str) -> Vec<nasl::diag::Diagnostic> {
    let mut loader = nasl::source::MemLoader::default();
    loader.files.insert("p.nas".into(), text.to_string());
    let front = nasl::driver::check_file(Path::new("p.nas"), &loader);
    front
        .checked
        .diags
        .into_iter()
        .filter(|d| d.is_error())
        .collect()
}

/// The errors of `nasl check` on a pipeline text: code, message and help line of each.
pub fn check_errors(text: &str) -> Vec<(String, String, String)> {
    check_error_diags(text)
        .iter()
        .map(|d| {
            (
                d.code.as_str().to_string(),
                d.message.clone(),
                d.help.clone().unwrap_or_default(),
            )
        })
        .collect()
}
