//! The `nasl` binary: `check` on every pipeline and example (success), on malformed input (exit 1, no
//! panic), JSON output, and `fmt` (idempotent, keeps comments, `--check`).

use assert_cmd::Command;
use predicates::prelude::*;
use std::path::{Path, PathBuf};

fn nasl() -> Command {
    Command::cargo_bin("nasl").expect("the nasl binary builds")
}

fn nas_files(dir: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("folder exists")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "nas"))
        .collect();
    v.sort();
    v
}

#[test]
fn every_pipeline_and_example_checks() {
    let (pipelines, examples) = (nas_files("pipelines"), nas_files("examples"));
    assert!(pipelines.len() >= 19, "18 methods + quickstart");
    assert!(examples.len() >= 3, "MobileNetV2, DARTS V2, a small chain");
    let files: Vec<PathBuf> = pipelines.into_iter().chain(examples).collect();
    // Every method runs: `nasl check` accepts each pipeline as it is.
    for f in files {
        nasl()
            .arg("check")
            .arg(&f)
            .assert()
            .success()
            .stderr(predicate::str::contains("ok ("));
    }
}

#[test]
fn every_method_has_a_pipeline() {
    for m in [
        "randomnas_ws",
        "randomnas_es",
        "oneshot",
        "spos",
        "fairnas",
        "fewshot",
        "ofa",
        "darts_1st",
        "darts_2nd",
        "snas",
        "gdas",
        "fbnet",
        "proxylessnas",
        "single_path_nas",
        "fbnetv2",
        "enas",
        "mnasnet",
        "smash",
        "quickstart",
    ] {
        assert!(Path::new(&format!("pipelines/{m}.nas")).exists(), "{m}");
    }
}

fn check_bytes(bytes: &[u8]) -> assert_cmd::assert::Assert {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("input.nas");
    std::fs::write(&p, bytes).expect("write");
    let a = nasl().arg("check").arg(&p).assert();
    drop(dir);
    a
}

#[test]
fn malformed_inputs_exit_1_without_panicking() {
    let huge = format!("stage s = train(n) {{ epochs {} }}", "9".repeat(400));
    let deep = format!("space s = chain(input: {}) {{}}", "[".repeat(10_000));
    // 20 levels of blocks, each using the one below 8 times: 8^20 ops if expanded naively.
    let mut explode = String::from(
        "block b0 = conv(3) conv(3) conv(3) conv(3) conv(3) conv(3) conv(3) conv(3)\n",
    );
    for i in 1..20 {
        explode.push_str(&format!(
            "block b{i} = {}\n",
            vec![format!("b{}", i - 1); 8].join(" ")
        ));
    }
    explode.push_str("dataset d = mnist\nspace s = chain(input: [1, 28, 28], classes: 10) {\n  stem b19\n  head global_avg_pool linear(out: 10)\n}\nstage t = train(s)\n");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("binary", (0u8..=255).cycle().take(2000).collect()),
        ("empty", Vec::new()),
        ("unterminated string", b"include \"abc\n".to_vec()),
        ("unterminated comment", b"/* never closed".to_vec()),
        ("deep nesting", deep.into_bytes()),
        ("huge number", huge.into_bytes()),
        ("unknown names", b"stage s = trian(nett)".to_vec()),
        (
            "wrong types",
            b"dataset d = mnist { batch \"big\" }".to_vec(),
        ),
        ("only comments", b"// hello\n/* world */\n".to_vec()),
        ("nul bytes", b"dataset d = mnist\0".to_vec()),
        ("exponential blocks", explode.into_bytes()),
    ];
    for (what, bytes) in cases {
        let _ = check_bytes(&bytes)
            .failure()
            .code(1)
            .stderr(predicate::str::contains("panicked").not())
            .stderr(predicate::str::contains("nasl::"))
            .append_context("case", what);
    }
}

#[test]
fn include_cycles_exit_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("a.nas"), "include \"b.nas\"\n").expect("write");
    std::fs::write(dir.path().join("b.nas"), "include \"a.nas\"\n").expect("write");
    nasl()
        .arg("check")
        .arg(dir.path().join("a.nas"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("nasl::source::include_cycle"));
}

/// A project folder whose `main.nas` is the quickstart with its block taken from `include_path`, and
/// beside it a folder `outside/` holding that block under a recognisable comment.
fn project_including(include_path: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("outside")).expect("mkdir");
    std::fs::create_dir(dir.path().join("proj")).expect("mkdir");
    std::fs::write(
        dir.path().join("outside/shared.nas"),
        "// OUTSIDE-CONTENT\nblock mb(k) = mbconv(kernel: k, expand: 3)\n",
    )
    .expect("write");
    let main = quickstart_using_mb(&format!("include \"{include_path}\""));
    std::fs::write(dir.path().join("proj/main.nas"), main).expect("write");
    dir
}

/// The quickstart pipeline with `first` as its first line and a block `mb(k)` (that it does not
/// declare) among the candidates of its first stage.
fn quickstart_using_mb(first: &str) -> String {
    let q = std::fs::read_to_string("pipelines/quickstart.nas").expect("quickstart");
    let used = q.replacen(
        "choose [conv(3) bn relu,",
        "choose [mb(3), conv(3) bn relu,",
        1,
    );
    assert_ne!(
        q, used,
        "the quickstart's first stage changed; update this test"
    );
    format!("{first}\n{used}")
}

#[test]
fn includes_outside_the_folder_are_refused_unless_allowed() {
    let dir = project_including("../outside/shared.nas");
    let main = dir.path().join("proj/main.nas");
    nasl()
        .arg("check")
        .arg(&main)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("nasl::source::include_outside"))
        .stderr(predicate::str::contains("OUTSIDE-CONTENT").not());
    nasl()
        .args(["check", "--allow-include-outside"])
        .arg(&main)
        .assert()
        .success();
}

#[cfg(unix)]
#[test]
fn a_symbolic_link_out_of_the_folder_is_refused() {
    let dir = project_including("shared.nas");
    std::os::unix::fs::symlink(
        dir.path().join("outside/shared.nas"),
        dir.path().join("proj/shared.nas"),
    )
    .expect("symlink");
    nasl()
        .arg("check")
        .arg(dir.path().join("proj/main.nas"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("nasl::source::include_outside"));
}

#[test]
fn includes_of_other_files_are_refused_without_reading_them() {
    let dir = project_including("../outside/shared.nas");
    let secret = dir.path().join("proj/secret.txt");
    std::fs::write(&secret, "SECRET-FIRST-LINE\n").expect("write");
    let main = dir.path().join("proj/main.nas");
    let text = std::fs::read_to_string(&main)
        .expect("main")
        .replace("../outside/shared.nas", "secret.txt");
    std::fs::write(&main, text).expect("write");
    for allow in [false, true] {
        let mut cmd = nasl();
        cmd.arg("check").arg(&main);
        if allow {
            cmd.arg("--allow-include-outside");
        }
        cmd.assert()
            .code(1)
            .stderr(predicate::str::contains("nasl::source::include_not_nas"))
            .stderr(predicate::str::contains("SECRET-FIRST-LINE").not());
    }
}

#[test]
fn includes_resolve_relative_to_the_including_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("lib")).expect("mkdir");
    std::fs::write(
        dir.path().join("lib/blocks.nas"),
        "block mb(k) = mbconv(kernel: k, expand: 3)\n",
    )
    .expect("write");
    let main = quickstart_using_mb("include \"lib/blocks.nas\"");
    std::fs::write(dir.path().join("main.nas"), main).expect("write");
    nasl()
        .arg("check")
        .arg(dir.path().join("main.nas"))
        .assert()
        .success();
    // Without the include, `mb` is unknown: the include is what made it check.
    std::fs::write(dir.path().join("main.nas"), quickstart_using_mb("")).expect("write");
    nasl()
        .arg("check")
        .arg(dir.path().join("main.nas"))
        .assert()
        .code(1);
}

#[test]
fn json_output_is_one_array() {
    let out = nasl()
        .args([
            "check",
            "--format",
            "json",
            "tests/ui/sema/unknown_op.nas",
            "tests/ui/sema/zero_epochs.nas",
        ])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).expect("one JSON document");
    let arr = v.as_array().expect("an array");
    assert!(
        arr.iter()
            .any(|d| d["code"] == "nasl::sema::unknown_op" && d["severity"] == "error")
    );
    assert!(
        arr.iter()
            .any(|d| d["code"] == "nasl::sema::zero_epochs" && d["severity"] == "warning")
    );
    for d in arr {
        for k in [
            "file", "line", "column", "offset", "length", "message", "help",
        ] {
            assert!(d.get(k).is_some(), "{k} missing");
        }
    }
}

#[test]
fn warnings_alone_exit_0() {
    nasl()
        .args(["check", "tests/ui/sema/zero_epochs.nas"])
        .assert()
        .success()
        .stderr(predicate::str::contains("nasl::sema::zero_epochs"));
}

#[test]
fn fmt_check_reports_and_fmt_rewrites() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("x.nas");
    let messy = std::fs::read_to_string("pipelines/quickstart.nas")
        .expect("file")
        .replace(
            "stage supernet = train(net) {",
            "stage   supernet=train( net ){ // the supernet",
        );
    std::fs::write(&p, &messy).expect("write");
    nasl()
        .args(["fmt", "--check"])
        .arg(&p)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("would be reformatted"));
    assert_eq!(
        std::fs::read_to_string(&p).expect("read"),
        messy,
        "--check changes nothing"
    );
    nasl().arg("fmt").arg(&p).assert().success();
    let formatted = std::fs::read_to_string(&p).expect("read");
    assert!(formatted.contains("stage supernet = train(net) { // the supernet"));
    nasl().args(["fmt", "--check"]).arg(&p).assert().success();
    nasl().arg("check").arg(&p).assert().success();
}

#[test]
fn fmt_refuses_unparsable_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("x.nas");
    std::fs::write(&p, "space = = =").expect("write");
    nasl()
        .arg("fmt")
        .arg(&p)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("nasl::syntax::unexpected"));
    assert_eq!(std::fs::read_to_string(&p).expect("read"), "space = = =");
}
