//! `nasl run --workers N`: independent pieces (successive-halving candidates, retrained seeds) done
//! by worker processes give the results of one process, a run killed while its workers train resumes
//! to them, a piece's own error names its log, and bad `--workers`/`--executor` values are refused.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::common::{nasl, read_json, root};
use super::{assert_same_run, walk};
use serde_json::Value as Json;

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
        &["--threads", "1", "--workers", "2"],
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
    assert_same_run(&one, &two, &files);
    let summary = read_json(&two.join("summary.json"));
    assert_eq!(summary["complete"], true);

    let err = kill_after_a_piece_and_resume(&file, &killed, "search");
    // The finished piece was not handed to a worker again.
    assert!(!err.contains("search: 4 pieces"), "{err}");
    assert_same_run(&two, &killed, &files);
}

/// Runs `file` on two workers into `out`, kills the coordinator with SIGKILL once a piece of `stage`
/// has finished, checks that the run is not complete, and resumes it on two workers; returns the
/// resumed run's stderr.
fn kill_after_a_piece_and_resume(file: &Path, out: &Path, stage: &str) -> String {
    let mut child = workers_run(file, out, &["--threads", "1", "--workers", "2"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pieces = out.join("stages").join(stage).join("pieces");
    let t0 = Instant::now();
    while files_ending(&pieces, ".result.json").is_empty() {
        assert!(child.try_wait().unwrap().is_none(), "the run ended first");
        assert!(t0.elapsed() < Duration::from_secs(120), "no piece finished");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !out.join("summary.json").exists() || {
            read_json(&out.join("summary.json"))["complete"] == false
        }
    );
    ok({
        let mut c = nasl();
        c.args(["run", "--resume", out.to_str().unwrap()]).args([
            "--device",
            "cpu",
            "--threads",
            "1",
            "--workers",
            "2",
        ]);
        c
    })
}

/// The samples of a `rank` stage (supernet scores and stand-alone trainings) on two workers give the
/// Kendall tau, samples and metrics of one process.
#[test]
fn rank_samples_on_workers_match_one_process() {
    let tmp = tempfile::tempdir().unwrap();
    let (one, two) = (tmp.path().join("one"), tmp.path().join("two"));
    let file = root().join("tests/run/rank.nas");
    ok(workers_run(&file, &one, &["--threads", "1", "--smoke"]));
    let err = ok(workers_run(
        &file,
        &two,
        &["--threads", "1", "--smoke", "--workers", "2"],
    ));
    assert!(
        err.contains("ranking: 3 pieces on 2 local workers"),
        "{err}"
    );
    assert_same_run(&one, &two, &["stages/supernet/supernet.safetensors"]);
}

/// What a run of tests/run/pieces.nas leaves that must not depend on where its pieces ran.
const PIECES_FILES: &[&str] = &[
    "best.arch.yaml",
    "stages/search/best.arch.yaml",
    "stages/evo/best.arch.yaml",
    "stages/search/controller.safetensors",
    "stages/subnets/part0.safetensors",
    "stages/subnets/part1.safetensors",
    "stages/subnets/part2.safetensors",
];

/// MnasNet children (two rounds: 4 then 2 children, one of them a repeat), few-shot sub-supernets
/// (3) and an evolution's candidates over them (a generation of 4, then the new ones of the second)
/// on two workers give the best architectures, rewards, sub-supernet weights, candidates, summary and
/// metrics lines of one process, also when the run is killed with SIGKILL mid-round and resumed.
#[test]
fn mnasnet_children_few_shot_parts_and_search_candidates_on_workers_match_one_process_and_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let (one, two) = (tmp.path().join("one"), tmp.path().join("two"));
    let file = root().join("tests/run/pieces.nas");
    let err = ok(workers_run(&file, &one, &["--threads", "1"]));
    assert!(!err.contains("local workers"), "{err}");
    let err = ok(workers_run(
        &file,
        &two,
        &["--threads", "1", "--workers", "2"],
    ));
    assert!(err.contains("search: 4 pieces on 2 local workers"), "{err}");
    // The second round proposes one architecture of the first again (seed 5): only one new piece.
    assert!(err.contains("search: 1 pieces on 1 local workers"), "{err}");
    assert!(
        err.contains("subnets: 3 pieces on 2 local workers"),
        "{err}"
    );
    assert!(err.contains("evo: 4 pieces on 2 local workers"), "{err}");
    let evo = super::stage_result(&two, "evo");
    let evaluated = evo["evaluated"].as_u64().unwrap() as usize;
    assert!(
        evaluated > 4,
        "the second generation scored new candidates: {evo}"
    );
    assert_eq!(
        files_ending(&two.join("stages/evo/pieces"), ".result.json").len(),
        evaluated
    );
    // One pool for the run: two workers started, whatever the number of batches.
    assert_eq!(files_ending(&two.join("workers"), ".log").len(), 2);
    assert_eq!(
        files_ending(&two.join("stages/search/pieces"), ".result.json").len(),
        5
    );
    assert_same_run(&one, &two, PIECES_FILES);
    let summary = read_json(&two.join("summary.json"));
    assert_eq!(summary["complete"], true);
    // Killed while the workers train MnasNet's first children, then resumed: the same files, and the
    // finished children are not handed out again.
    let killed = tmp.path().join("killed");
    let err = kill_after_a_piece_and_resume(&file, &killed, "search");
    assert!(!err.contains("search: 4 pieces"), "{err}");
    assert_same_run(&two, &killed, PIECES_FILES);
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
        &["--workers", "2", "--threads", "1"],
    )
    .output()
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("nasl::run::worker"), "{err}");
    assert!(err.contains("nasl::run::diverged"), "{err}");
    assert_names_the_failed_log(&tmp.path().join("run"), &err);
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

/// The test cluster (`nasl_slurm_start` in scripts/env.sh, which scripts/test.sh runs) answers.
fn slurm_up() {
    let ok = Command::new("sinfo")
        .args(["-h", "-o", "%T"])
        .output()
        .map(|o| o.status.success() && !o.stdout.is_empty())
        .unwrap_or(false);
    assert!(
        ok,
        "no Slurm cluster answers: run scripts/test.sh, or `source scripts/env.sh && nasl_slurm_start` first"
    );
}

fn slurm_run(file: &Path, out: &Path) -> Command {
    let mut c = workers_run(file, out, &["--threads", "1", "--executor", "slurm"]);
    c.env("NASL_SLURM_POLL_MS", "100");
    c
}

/// Adds `account` to the test cluster's accounting database, with this user in it (idempotent).
fn slurm_account(account: &str) {
    let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap();
    for args in [
        vec!["-i", "add", "account", account],
        vec![
            "-i",
            "add",
            "user",
            user.trim(),
            &format!("account={account}"),
        ],
    ] {
        let out = Command::new("sacctmgr").args(&args).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        // sacctmgr answers "Nothing new added" (status 1) for what exists already.
        assert!(
            out.status.success() || text.contains("Nothing new added"),
            "sacctmgr {args:?}: {text}"
        );
    }
}

/// The Slurm jobs a stage's coordinator recorded.
fn slurm_jobs(run: &Path, stage: &str) -> Vec<Json> {
    let p = run.join(format!("stages/{stage}/pieces/slurm.json"));
    if !p.exists() {
        return vec![];
    }
    read_json(&p)["jobs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// MnasNet children, few-shot sub-supernets and an evolution's candidates through Slurm give the
/// files of local workers: one array job per MnasNet round, one for the sub-supernets, one per
/// generation with new candidates.
#[test]
fn mnasnet_few_shot_and_search_pieces_through_slurm_match_local_workers() {
    slurm_up();
    let tmp = tempfile::tempdir().unwrap();
    let (local, slurm) = (tmp.path().join("local"), tmp.path().join("slurm"));
    let file = root().join("tests/run/pieces.nas");
    ok(workers_run(
        &file,
        &local,
        &["--threads", "1", "--workers", "2"],
    ));
    let err = ok(slurm_run(&file, &slurm));
    assert_eq!(slurm_jobs(&slurm, "search").len(), 2, "{err}");
    assert_eq!(slurm_jobs(&slurm, "subnets").len(), 1, "{err}");
    let evo = slurm_jobs(&slurm, "evo");
    assert_eq!(evo.len(), 2, "{err}");
    assert_eq!(evo[0]["tags"].as_array().unwrap().len(), 4, "{err}");
    assert_same_run(&local, &slurm, PIECES_FILES);
}

/// Successive halving and retrained seeds through Slurm array jobs, one task cancelled with `scancel`
/// while it trains: the task is resubmitted and the run ends with the results of local workers.
#[test]
fn slurm_resubmits_a_cancelled_task_and_gives_the_results_of_local_workers() {
    slurm_up();
    let tmp = tempfile::tempdir().unwrap();
    let (local, slurm) = (tmp.path().join("local"), tmp.path().join("slurm"));
    let file = pipeline();
    ok(workers_run(
        &file,
        &local,
        &["--threads", "1", "--workers", "2"],
    ));
    let mut child = slurm_run(&file, &slurm)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Cancel the first rung's task 1 once its worker has started on its piece.
    let t0 = Instant::now();
    let task = loop {
        assert!(t0.elapsed() < Duration::from_secs(120), "no task started");
        assert!(child.try_wait().unwrap().is_none(), "the run ended first");
        if let Some(job) = slurm_jobs(&slurm, "search").first() {
            let tag = job["tags"][1].as_str().unwrap();
            let log = slurm.join(format!("stages/search/pieces/{tag}.log"));
            if log.exists() {
                break format!("{}_1", job["id"].as_str().unwrap());
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let cancelled = Command::new("scancel").arg(&task).status().unwrap();
    assert!(cancelled.success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(&format!("Slurm task {task} ")) && err.contains("resubmitting"),
        "{err}"
    );
    // The state comes from job accounting (`sacct` says who cancelled; `scontrol` would not).
    assert!(err.contains("ended CANCELLED by "), "{err}");
    // First rung, its resubmitted task, second rung.
    assert_eq!(slurm_jobs(&slurm, "search").len(), 3, "{err}");
    assert_same_run(
        &local,
        &slurm,
        &[
            "best.arch.yaml",
            "model/arch.yaml",
            "model/weights.safetensors",
        ],
    );
}

/// A coordinator killed with SIGKILL while its Slurm tasks run, resumed: it follows the recorded jobs
/// instead of submitting them again, and the run completes.
#[test]
fn a_resumed_slurm_run_follows_its_jobs_instead_of_resubmitting() {
    slurm_up();
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let mut child = slurm_run(&pipeline(), &run)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while slurm_jobs(&run, "search").is_empty() {
        assert!(t0.elapsed() < Duration::from_secs(120), "nothing submitted");
        assert!(child.try_wait().unwrap().is_none(), "the run ended first");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let first = slurm_jobs(&run, "search")[0]["id"].clone();
    let err = ok({
        let mut c = nasl();
        c.args(["run", "--resume", run.to_str().unwrap()])
            .args(["--device", "cpu", "--threads", "1", "--executor", "slurm"])
            .env("NASL_SLURM_POLL_MS", "100");
        c
    });
    let jobs = slurm_jobs(&run, "search");
    // The first rung's job was followed, not submitted again: one job per rung.
    assert_eq!(jobs.len(), 2, "{err}");
    assert_eq!(jobs[0]["id"], first);
    assert_eq!(read_json(&run.join("summary.json"))["complete"], true);
}

/// The file's `executor slurm { ... }` block chooses Slurm without `--executor` and its values reach
/// `sbatch` (seen by `scontrol show job`), `--sbatch=` options override them, and `--executor local`
/// overrides the block's choice.
#[test]
fn the_executor_block_reaches_sbatch_and_the_command_line_overrides_it() {
    slurm_up();
    // The test cluster keeps job accounting: a job's account must exist there (as on a real cluster).
    for account in ["from_file", "from_cli"] {
        slurm_account(account);
    }
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("p.nas");
    let block = "executor slurm {\n  partition \"nasl\"\n  time 10min\n  account \"from_file\"\n  max_retries 1\n}\n";
    std::fs::write(
        &file,
        format!("{block}{}", std::fs::read_to_string(pipeline()).unwrap()),
    )
    .unwrap();
    let out = tmp.path().join("slurm");
    let mut c = workers_run(
        &file,
        &out,
        &["--threads", "1", "--sbatch=--account=from_cli"],
    );
    c.env("NASL_SLURM_POLL_MS", "100");
    let err = ok(c);
    assert!(err.contains("search: 4 pieces on Slurm"), "{err}");
    let jobs = slurm_jobs(&out, "search");
    assert!(!jobs.is_empty(), "{err}");
    for job in jobs.iter().chain(&slurm_jobs(&out, "final")) {
        let id = job["id"].as_str().unwrap();
        let show = Command::new("scontrol")
            .args(["-o", "show", "job", id])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&show.stdout);
        for want in ["Partition=nasl", "TimeLimit=00:10:00", "Account=from_cli"] {
            assert!(text.contains(want), "job {id}: no {want} in {text}");
        }
    }
    assert_eq!(read_json(&out.join("summary.json"))["complete"], true);
    let local = tmp.path().join("local");
    let err = ok(workers_run(
        &file,
        &local,
        &["--threads", "1", "--workers", "2", "--executor", "local"],
    ));
    assert!(err.contains("search: 4 pieces on 2 local workers"), "{err}");
    assert!(slurm_jobs(&local, "search").is_empty());
}

/// A Slurm task whose training diverges stops the run with its own error and its log.
#[test]
fn a_failing_slurm_task_names_its_log() {
    slurm_up();
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("diverge.nas");
    let text = std::fs::read_to_string(pipeline()).unwrap();
    std::fs::write(&file, text.replace("lr: 0.1", "lr: 1e15")).unwrap();
    let out = slurm_run(&file, &tmp.path().join("run")).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("nasl::run::worker"), "{err}");
    assert!(err.contains("nasl::run::diverged"), "{err}");
    assert!(err.contains("Slurm task"), "{err}");
    assert_names_the_failed_log(&tmp.path().join("run"), &err);
}

/// The diagnostic `err` (wrapped to the terminal) names the log of a piece of `run` that failed, and
/// that log holds the divergence message.
fn assert_names_the_failed_log(run: &Path, err: &str) {
    let flat: String = err.split_whitespace().collect();
    let failed = files_ending(&run.join("stages/search/pieces"), ".error.json");
    let log = failed
        .iter()
        .map(|e| PathBuf::from(e.to_string_lossy().replace(".error.json", ".log")))
        .find(|log| flat.contains(&format!("log is {}", log.display()).replace(' ', "")))
        .unwrap_or_else(|| panic!("no failed piece's log in: {err}"));
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("the loss became"), "{log}");
}
