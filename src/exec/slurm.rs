//! The Slurm executor (`nasl run --executor slurm`): a stage's batch of pieces as one `sbatch --array`
//! job whose tasks run `nasl worker --batch` over the shared run directory; the jobs submitted are
//! recorded in `stages/<stage>/pieces/slurm.json` before they are followed (a resumed coordinator
//! follows them instead of submitting again); tasks are followed with `squeue`, a task that ended
//! without a result and without an error of its own (node failure, preemption, time limit, `scancel`)
//! is resubmitted up to `max_retries` times (the `executor slurm` block's, default 3), a task's own error is reported with its log, and Ctrl-C
//! cancels the stage's jobs.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::piece::{Piece, PieceFiles, device_text, piece_failure};
use super::{Ctx, ExecError, rundir};

/// One `sbatch` submission: array task `i` does the piece tagged `tags[i]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    pub id: String,
    pub tags: Vec<String>,
}

/// Every submission of a stage, oldest first (`slurm.json`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Jobs {
    pub jobs: Vec<Job>,
}

fn slurm_err(stage: &str, message: String, help: &str) -> ExecError {
    ExecError::Slurm {
        stage: stage.to_string(),
        message,
        help: help.to_string(),
    }
}

/// Runs a Slurm command, returning its stdout, or the stage's error naming the command.
fn slurm_cmd(stage: &str, cmd: &mut Command) -> Result<String, ExecError> {
    let name = format!("{:?}", cmd.get_program());
    let out = cmd.output().map_err(|e| {
        slurm_err(
            stage,
            format!("cannot run {name}: {e}"),
            "install Slurm's client commands (sbatch, squeue, scancel) on this machine, or use local workers (`--executor local`)",
        )
    })?;
    if !out.status.success() {
        return Err(slurm_err(
            stage,
            format!(
                "{name} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            "check that the cluster answers (`sinfo`) and that the `--sbatch` options fit it",
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).to_string())
}

/// Array tasks of `jobs` still queued or running (`JOB_TASK` ids).
fn active(stage: &str, jobs: &Jobs) -> Result<BTreeSet<String>, ExecError> {
    if jobs.jobs.is_empty() {
        return Ok(BTreeSet::new());
    }
    let ids: Vec<&str> = jobs.jobs.iter().map(|j| j.id.as_str()).collect();
    let out = Command::new("squeue")
        .args(["-h", "-r", "-o", "%i|%T", "-j", &ids.join(",")])
        .output()
        .map_err(|e| {
            slurm_err(
                stage,
                format!("cannot run squeue: {e}"),
                "install Slurm's client commands, or use `--executor local`",
            )
        })?;
    // squeue fails for job ids the controller forgot (long finished): none of them is active.
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text
        .lines()
        .filter_map(|l| l.split('|').next())
        .map(|id| id.trim().to_string())
        .collect())
}

/// How an array task ended, as Slurm says (`sacct`, else `scontrol`), or `unknown`. A cluster with job
/// accounting may record a task's end a moment after `squeue` forgets it: `sacct` is asked again for
/// up to ten seconds (while it has no record, or one that still says the task runs) before `scontrol`
/// is read; without accounting `sacct` fails at once.
fn ended_state(task: &str) -> String {
    for _ in 0..50 {
        let Ok(o) = Command::new("sacct")
            .args(["-n", "-X", "-P", "-o", "State", "-j", task])
            .output()
        else {
            break;
        };
        if !o.status.success() {
            break;
        }
        // A record still saying the task runs is one whose end has not reached the database yet.
        if let Some(s) = String::from_utf8_lossy(&o.stdout).lines().next()
            && !s.trim().is_empty()
            && !["PENDING", "RUNNING", "REQUEUED", "SUSPENDED"].contains(&s.trim())
        {
            return s.trim().to_string();
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let show = Command::new("scontrol")
        .args(["-o", "show", "job", task])
        .output();
    if let Ok(o) = show {
        let text = String::from_utf8_lossy(&o.stdout).to_string();
        if let Some(state) = text
            .split_whitespace()
            .find_map(|w| w.strip_prefix("JobState="))
        {
            return state.to_string();
        }
    }
    "unknown".into()
}

/// Submits `tags` (pieces of `stage`) as one array job; returns its id.
fn submit(
    ctx: &Ctx,
    stage: &str,
    dir: &Path,
    seq: usize,
    tags: &[String],
) -> Result<String, ExecError> {
    let root = &ctx.dir.root;
    let batch = dir.join(format!("slurm-{seq}.batch"));
    let lines: Vec<String> = tags
        .iter()
        .map(|t| PieceFiles::of(root, stage, t).spec.display().to_string())
        .collect();
    rundir::atomic_write(&batch, (lines.join("\n") + "\n").as_bytes())?;
    let exe = std::env::current_exe().map_err(|e| ExecError::io(Path::new("nasl"), e))?;
    let device = match ctx.opts.device {
        tch::Device::Cpu => "cpu".to_string(),
        d => device_text(d)
            .split(':')
            .next()
            .unwrap_or("cuda")
            .to_string(),
    };
    let quote = |p: &Path| format!("'{}'", p.display().to_string().replace('\'', r"'\''"));
    let script = dir.join(format!("slurm-{seq}.sh"));
    let text = format!(
        "#!/bin/sh\n# Array task $SLURM_ARRAY_TASK_ID does line $SLURM_ARRAY_TASK_ID (from 0) of the batch.\nexec {} worker {} --batch {} --device {device} --threads \"${{SLURM_CPUS_PER_TASK:-1}}\"\n",
        quote(&exe),
        quote(root),
        quote(&batch),
    );
    rundir::atomic_write(&script, text.as_bytes())?;
    let cwd = std::env::current_dir().map_err(|e| ExecError::io(Path::new("."), e))?;
    let mut cmd = Command::new("sbatch");
    cmd.arg("--parsable")
        .arg(format!("--array=0-{}", tags.len() - 1))
        .arg(format!("--job-name=nasl-{stage}"))
        .arg(format!(
            "--output={}",
            dir.join(format!("slurm-{seq}-%a.out")).display()
        ))
        .arg(format!("--chdir={}", cwd.display()))
        // The file's `executor slurm` block, then `--sbatch=` options (sbatch keeps the last).
        .args(ctx.opts.scale.slurm.sbatch_options())
        .args(&ctx.opts.scale.sbatch)
        .arg(&script);
    let out = slurm_cmd(stage, &mut cmd)?;
    let id = out.trim().split(';').next().unwrap_or_default().to_string();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        return Err(slurm_err(
            stage,
            format!("sbatch answered `{}`, not a job id", out.trim()),
            "check the `--sbatch` options",
        ));
    }
    Ok(id)
}

/// Runs `pieces` of `stage` as Slurm array jobs and waits until each has its result; see the module
/// documentation for resubmission, errors, Ctrl-C and resume.
pub fn run_array(ctx: &mut Ctx, stage: &str, pieces: &[Piece]) -> Result<(), ExecError> {
    let root = ctx.dir.root.clone();
    let dir = root.join("stages").join(stage).join("pieces");
    let record: PathBuf = dir.join("slurm.json");
    let mut jobs: Jobs = fs::read_to_string(&record)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let mut retries: BTreeMap<String, usize> = BTreeMap::new();
    let limit = ctx.opts.scale.slurm.max_retries;
    let poll = std::env::var("NASL_SLURM_POLL_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500u64);
    let mut said = false;
    loop {
        let running = active(stage, &jobs)?;
        if ctx.interrupted.load(Ordering::SeqCst) {
            cancel(&running);
            return Err(ctx.interrupted_error(stage));
        }
        let mut submit_now: Vec<String> = Vec::new();
        let mut waiting = 0;
        for piece in pieces {
            let files = PieceFiles::of(&root, stage, &piece.tag);
            if files.result.exists() {
                continue;
            }
            // The latest submission of this piece, and its task id.
            let last = jobs.jobs.iter().rev().find_map(|j| {
                let i = j.tags.iter().position(|t| t == &piece.tag)?;
                Some(format!("{}_{i}", j.id))
            });
            let Some(task) = last else {
                submit_now.push(piece.tag.clone());
                continue;
            };
            if running.contains(&task) {
                waiting += 1;
                continue;
            }
            // Ended without a result.
            if files.result.exists() {
                continue;
            }
            if files.error.exists() {
                cancel(&running);
                let mut e = piece_failure(&root, piece, "ended");
                if let ExecError::Worker { message, .. } = &mut e {
                    message.push_str(&format!(" (Slurm task {task})"));
                }
                return Err(e);
            }
            let state = ended_state(&task);
            let n = retries.entry(piece.tag.clone()).or_default();
            if *n >= limit {
                cancel(&running);
                return Err(piece_failure(
                    &root,
                    piece,
                    &format!(
                        "ran as Slurm task {task} and ended {state} {} times over",
                        limit + 1
                    ),
                ));
            }
            *n += 1;
            eprintln!(
                "{stage}: Slurm task {task} (piece {}) ended {state} without a result; resubmitting ({}/{limit})",
                piece.tag, n
            );
            submit_now.push(piece.tag.clone());
        }
        if submit_now.is_empty() && waiting == 0 {
            return Ok(());
        }
        if !said {
            eprintln!(
                "{stage}: {} pieces on Slurm ({} already submitted)",
                pieces.len(),
                waiting
            );
            said = true;
        }
        if !submit_now.is_empty() {
            let id = submit(ctx, stage, &dir, jobs.jobs.len(), &submit_now)?;
            eprintln!(
                "{stage}: submitted Slurm job {id} ({} array tasks)",
                submit_now.len()
            );
            jobs.jobs.push(Job {
                id,
                tags: submit_now,
            });
            let text = serde_json::to_string_pretty(&jobs).unwrap_or_default();
            rundir::atomic_write(&record, text.as_bytes())?;
            continue;
        }
        std::thread::sleep(Duration::from_millis(poll));
    }
}

/// Cancels array tasks (Ctrl-C, or a task's own error stops the stage).
fn cancel(tasks: &BTreeSet<String>) {
    if tasks.is_empty() {
        return;
    }
    let _ = Command::new("scancel")
        .args(tasks.iter().map(String::as_str))
        .output();
}
