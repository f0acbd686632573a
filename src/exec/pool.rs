//! Independent pieces of a stage (successive-halving candidates, retrained seeds and members, `rank`
//! samples) as
//! units of work that a separate `nasl worker` process does from the run directory alone: the piece
//! file it reads, the result, metrics, error and log files it writes, the local executor that runs up
//! to `--workers N` of them at once, and the worker's side. `slurm` submits the same pieces as a job
//! array. With one local worker (the default) pieces run in this process, as they always did.

use std::process::{Child, Command, Stdio};

use std::time::Duration;

use miette::Diagnostic;

use super::*;
use crate::ir::Arch;

/// What one piece does. Every piece carries what it needs besides the run directory; its seeds come
/// from the run's seed, the stage's name and the piece's identity, never from the order pieces run in.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Work {
    /// A successive-halving candidate trained to `epochs` of a `horizon`-epoch schedule (continuing
    /// from its checkpoint of the previous rung), then scored on the validation split.
    Halving {
        arch: Arch,
        epochs: usize,
        horizon: usize,
        rung: usize,
    },
    /// Sample `index` of a `rank` stage: its accuracy on the input supernets and stand-alone.
    RankSample { index: usize },
    /// One trained model of a `retrain` (or fixed-network `train`) stage: member `member` of
    /// `members` with seed `seed`.
    Model {
        arch: Arch,
        member: usize,
        members: usize,
        seed: i64,
    },
}

/// A piece as written for a worker (`stages/<stage>/pieces/<name>.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Piece {
    pub stage: String,
    /// The piece's tag in the stage's `parts.jsonl`.
    pub tag: String,
    pub work: Work,
    /// `--data NAME=PATH` of the coordinating run.
    #[serde(default)]
    pub data_paths: BTreeMap<String, PathBuf>,
}

/// What a worker leaves for the coordinator (`<name>.result.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PieceResult {
    pub result: Json,
    /// The stage settings the piece applied (the stage's result lists them).
    pub settings_read: Vec<String>,
}

/// A worker's own error (`<name>.error.json`), turned into the coordinator's diagnostic.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PieceError {
    pub code: String,
    pub message: String,
    pub help: String,
}

/// Where pieces run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Executor {
    /// Worker processes on this machine (`--workers N`).
    #[default]
    Local,
    /// A Slurm job array per batch of pieces (`--executor slurm`).
    Slurm,
}

/// How widely `nasl run` spreads independent pieces.
#[derive(Debug, Clone)]
pub struct Scale {
    /// Pieces at once (local executor); 1 runs them in this process.
    pub workers: usize,
    /// Devices handed to local workers in turn (`--devices cuda:0,cuda:1`); empty: the run's device.
    pub devices: Vec<Device>,
    /// CPU threads of the whole run, split between local workers (default: the cores).
    pub threads: Option<i32>,
    pub executor: Executor,
    /// Options added to every `sbatch` (`--sbatch=--partition=gpu`), Slurm executor only.
    pub sbatch: Vec<String>,
}

impl Default for Scale {
    fn default() -> Scale {
        Scale {
            workers: 1,
            devices: vec![],
            threads: None,
            executor: Executor::Local,
            sbatch: vec![],
        }
    }
}

impl Scale {
    /// Whether pieces run in the coordinating process (one local worker).
    pub fn in_process(&self) -> bool {
        self.executor == Executor::Local && self.workers <= 1
    }

    /// libtorch threads of each local worker: the run's threads split evenly, at least one.
    pub fn threads_per_worker(&self) -> i32 {
        let total = self
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get() as i32));
        (total / self.workers.max(1) as i32).max(1)
    }
}

/// `--device` text of a device (what `nasl worker --device` parses back).
pub fn device_text(d: Device) -> String {
    match d {
        Device::Cuda(n) => format!("cuda:{n}"),
        _ => "cpu".into(),
    }
}

/// The files of one piece, all in `stages/<stage>/pieces/`.
pub struct PieceFiles {
    pub spec: PathBuf,
    pub result: PathBuf,
    pub error: PathBuf,
    pub metrics: PathBuf,
    pub log: PathBuf,
    pub lock: PathBuf,
}

impl PieceFiles {
    pub fn of(root: &Path, stage: &str, tag: &str) -> PieceFiles {
        let name: String = tag
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-@".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let dir = root.join("stages").join(stage).join("pieces");
        let f = |ext: &str| dir.join(format!("{name}.{ext}"));
        PieceFiles {
            spec: f("json"),
            result: f("result.json"),
            error: f("error.json"),
            metrics: f("metrics.jsonl"),
            log: f("log"),
            lock: f("lock"),
        }
    }
}

impl Ctx {
    /// Does a stage's independent pieces, returning each one's result in the order given. Pieces an
    /// earlier (interrupted) run finished are read back from `parts.jsonl`; with one local worker the
    /// rest run here one after another, otherwise they are written as piece files, handed to the
    /// executor (local workers or Slurm), and collected in the order given: each worker's metrics
    /// lines are appended to `metrics.jsonl` then, so the file does not depend on which finished first.
    pub fn pieces(
        &mut self,
        stage: &Stage,
        work: Vec<(String, Work)>,
    ) -> Result<Vec<Json>, ExecError> {
        let in_process = self.opts.scale.in_process();
        if !in_process {
            let path = self.dir.stage_dir(&stage.name)?.join("parts.jsonl");
            let done = self
                .parts
                .entry(stage.name.clone())
                .or_insert_with(|| journal::read_parts(&path))
                .clone();
            let mut todo = Vec::new();
            for (tag, w) in &work {
                if done.contains_key(tag) {
                    continue;
                }
                let files = PieceFiles::of(&self.dir.root, &stage.name, tag);
                if files.result.exists() {
                    continue;
                }
                let piece = Piece {
                    stage: stage.name.clone(),
                    tag: tag.clone(),
                    work: w.clone(),
                    data_paths: self.opts.data_paths.clone(),
                };
                if let Some(dir) = files.spec.parent() {
                    fs::create_dir_all(dir).map_err(|e| ExecError::io(dir, e))?;
                }
                let text = serde_json::to_string_pretty(&piece).unwrap_or_default();
                rundir::atomic_write(&files.spec, text.as_bytes())?;
                let _ = fs::remove_file(&files.error);
                todo.push(piece);
            }
            if !todo.is_empty() {
                match self.opts.scale.executor {
                    Executor::Local => run_local(self, &stage.name, &todo)?,
                    Executor::Slurm => super::slurm::run_array(self, &stage.name, &todo)?,
                }
            }
        }
        let mut out = Vec::with_capacity(work.len());
        for (tag, w) in work {
            let v: Json = self.part(&stage.name, &tag, |ctx| {
                if in_process {
                    compute(ctx, stage, &w)
                } else {
                    collect(ctx, stage, &tag)
                }
            })?;
            if self.interrupted.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(self.interrupted_error(&stage.name));
            }
            out.push(v);
        }
        Ok(out)
    }
}

/// Does one piece in this process.
fn compute(ctx: &mut Ctx, stage: &Stage, work: &Work) -> Result<Json, ExecError> {
    let v = match work {
        Work::Halving {
            arch,
            epochs,
            horizon,
            rung,
        } => json!(search::halving_piece(
            ctx, stage, arch, *epochs, *horizon, *rung
        )?),
        Work::Model {
            arch,
            member,
            members,
            seed,
        } => json!(model::model_piece(
            ctx, stage, arch, *member, *members, *seed
        )?),
        Work::RankSample { index } => json!(rank::rank_sample(ctx, stage, *index)?),
    };
    Ok(v)
}

/// Reads a finished worker's result, appends its metrics lines to the run's and marks the settings
/// it applied as read.
fn collect(ctx: &mut Ctx, stage: &Stage, tag: &str) -> Result<Json, ExecError> {
    let files = PieceFiles::of(&ctx.dir.root, &stage.name, tag);
    let text = fs::read_to_string(&files.result).map_err(|e| ExecError::io(&files.result, e))?;
    let done: PieceResult =
        serde_json::from_str(&text).map_err(|e| ExecError::io(&files.result, e))?;
    for k in &done.settings_read {
        stage.spec.mark_applied(k);
    }
    let metrics = fs::read_to_string(&files.metrics).unwrap_or_default();
    for line in metrics.lines() {
        if let Ok(v) = serde_json::from_str::<Json>(line) {
            ctx.dir.log(v)?;
        }
    }
    Ok(done.result)
}

/// The error of a piece whose worker left no result: its own error if it wrote one, else how it ended.
pub fn piece_failure(root: &Path, piece: &Piece, ended: &str) -> ExecError {
    let files = PieceFiles::of(root, &piece.stage, &piece.tag);
    let own: Option<PieceError> = fs::read_to_string(&files.error)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    let (message, help) = match own {
        Some(e) => (format!("{} [{}]", e.message, e.code), e.help),
        None => (
            format!("the worker {ended} without a result"),
            "read the end of the log for the cause".into(),
        ),
    };
    ExecError::Worker {
        stage: piece.stage.clone(),
        piece: piece.tag.clone(),
        message,
        help,
        log: files.log,
    }
}

/// Sends this process's stderr (progress lines, the final diagnostic) to a piece's log, appended.
fn redirect_stderr(log: &Path) -> Result<(), ExecError> {
    use std::os::fd::AsRawFd;
    let f = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| ExecError::io(log, e))?;
    // SAFETY: dup2 on two open descriptors; fd 2 is replaced atomically and `f` is closed after.
    if unsafe { libc::dup2(f.as_raw_fd(), 2) } < 0 {
        return Err(ExecError::io(log, std::io::Error::last_os_error()));
    }
    Ok(())
}

/// A local worker process (`nasl worker --serve`): piece files go to its stdin one a line, it
/// answers each with a line on stdout once the piece's result (or error) is written.
struct Local<'a> {
    child: Child,
    stdin: Option<std::process::ChildStdin>,
    busy: Option<&'a Piece>,
}

/// Runs pieces on up to `--workers` local worker processes, each with its share of the threads and
/// the next device of `--devices`, handing each the next piece when it finishes one. Closing a
/// worker's stdin (this process stops, or dies) stops it. After a failure no new
/// piece starts; the running ones finish (their results are kept for a resume) and the first
/// failure is returned.
fn run_local(ctx: &mut Ctx, stage: &str, pieces: &[Piece]) -> Result<(), ExecError> {
    use std::io::{BufReader, Write as _};
    use std::sync::atomic::Ordering;
    use std::sync::mpsc;
    let scale = ctx.opts.scale.clone();
    let threads = scale.threads_per_worker();
    let exe = std::env::current_exe().map_err(|e| ExecError::io(Path::new("nasl"), e))?;
    let root = ctx.dir.root.clone();
    let n = scale.workers.min(pieces.len()).max(1);
    eprintln!(
        "{stage}: {} pieces on {n} local workers ({threads} threads each)",
        pieces.len()
    );
    let logs = root.join("stages").join(stage).join("pieces");
    let (tx, rx) = mpsc::channel::<(usize, Option<String>)>();
    let mut workers: Vec<Local> = Vec::new();
    for k in 0..n {
        let device = scale
            .devices
            .get(k % scale.devices.len().max(1))
            .copied()
            .unwrap_or(ctx.opts.device);
        let log_path = logs.join(format!("worker{k}.log"));
        let log = fs::File::create(&log_path).map_err(|e| ExecError::io(&log_path, e))?;
        let mut child = Command::new(&exe)
            .arg("worker")
            .arg(&root)
            .arg("--serve")
            .args(["--threads", &threads.to_string()])
            .args(["--device", &device_text(device)])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .map_err(|e| ExecError::io(&exe, e))?;
        let out = child.stdout.take();
        let tx = tx.clone();
        std::thread::spawn(move || {
            if let Some(out) = out {
                for line in BufReader::new(out).lines() {
                    match line {
                        Ok(l) => {
                            let _ = tx.send((k, Some(l)));
                        }
                        Err(_) => break,
                    }
                }
            }
            let _ = tx.send((k, None));
        });
        workers.push(Local {
            stdin: child.stdin.take(),
            child,
            busy: None,
        });
    }
    drop(tx);
    let mut queue = pieces.iter();
    let mut failure: Option<ExecError> = None;
    let mut stopping = false;
    let mut alive = n;
    let give = |w: &mut Local<'_>, piece: &Piece| -> bool {
        let files = PieceFiles::of(&root, &piece.stage, &piece.tag);
        let line = format!("{}\n", files.spec.display());
        matches!(
            w.stdin
                .as_mut()
                .map(|s| s.write_all(line.as_bytes()).and_then(|_| s.flush())),
            Some(Ok(()))
        )
    };
    // Every worker starts with a piece.
    for w in workers.iter_mut() {
        match queue.next() {
            Some(p) if give(w, p) => w.busy = Some(p),
            Some(p) => {
                failure.get_or_insert_with(|| piece_failure(&root, p, "did not start"));
            }
            None => drop(w.stdin.take()),
        }
    }
    while alive > 0 {
        if ctx.interrupted.load(Ordering::SeqCst) && !stopping {
            stopping = true;
            // Ctrl-C: each worker checkpoints its piece and stops, as this process would.
            for w in workers.iter_mut() {
                // SAFETY: signals a child process of ours by its id.
                unsafe { libc::kill(w.child.id() as i32, libc::SIGINT) };
            }
        }
        let (k, line) = match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(m) => m,
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let w = &mut workers[k];
        let finished = w.busy.take();
        if line.is_none() {
            alive -= 1;
            let status = w.child.wait().map_err(|e| ExecError::io(&exe, e))?;
            if let Some(p) = finished
                && !stopping
                && failure.is_none()
            {
                failure = Some(piece_failure(&root, p, &format!("ended ({status})")));
            }
            continue;
        }
        if let Some(p) = finished {
            let files = PieceFiles::of(&root, &p.stage, &p.tag);
            if !files.result.exists() && !stopping && failure.is_none() {
                failure = Some(piece_failure(&root, p, "stopped"));
            }
        }
        let next = if failure.is_none() && !stopping {
            queue.next()
        } else {
            None
        };
        match next {
            Some(p) if give(w, p) => w.busy = Some(p),
            Some(p) => {
                failure.get_or_insert_with(|| piece_failure(&root, p, "did not start"));
                drop(w.stdin.take());
            }
            None => drop(w.stdin.take()),
        }
    }
    for w in workers.iter_mut() {
        drop(w.stdin.take());
        let _ = w.child.wait();
    }
    if let Some(e) = failure {
        return Err(e);
    }
    if stopping {
        return Err(ctx.interrupted_error(stage));
    }
    Ok(())
}

/// `nasl worker`'s side: the run's checked pipeline, and once a first piece opened it, a context
/// kept across pieces (loaded datasets stay loaded).
pub struct Worker {
    root: PathBuf,
    device: Device,
    interrupted: Arc<AtomicBool>,
    info: RunInfo,
    start: Option<(Program, Vec<(String, SearchSpace)>)>,
    ctx: Option<Ctx>,
}

impl Worker {
    /// A worker for the run in `root`, whose pipeline checked to `program` and `spaces` (refused if
    /// the pipeline changed since the run started).
    pub fn open(
        program: Program,
        spaces: Vec<(String, SearchSpace)>,
        root: &Path,
        device: Device,
        interrupted: Arc<AtomicBool>,
    ) -> Result<Worker, ExecError> {
        let info: RunInfo = RunDir::read_json(root, "run.json")?;
        let resolved = serde_yaml::to_string(&program).unwrap_or_default();
        if format!("{:016x}", hash_str(&resolved)) != info.pipeline_hash {
            return Err(ExecError::Resume {
                dir: root.to_path_buf(),
                message: "the pipeline changed since the run started".into(),
                help: format!(
                    "restore {} as it was (a copy is in {})",
                    info.file.display(),
                    root.join("pipeline.nas").display()
                ),
            });
        }
        Ok(Worker {
            root: root.to_path_buf(),
            device,
            interrupted,
            info,
            start: Some((program, spaces)),
            ctx: None,
        })
    }

    /// Does the piece `piece_path` unless it is done, and writes its result atomically (or its error
    /// beside it). Two workers of one piece (a resumed run's and a leftover one) take turns on the
    /// piece's lock; the second finds the result and stops.
    pub fn piece(&mut self, piece_path: &Path) -> Result<(), ExecError> {
        let root = self.root.clone();
        let text = fs::read_to_string(piece_path).map_err(|e| ExecError::io(piece_path, e))?;
        let piece: Piece = serde_json::from_str(&text).map_err(|e| ExecError::Resume {
            dir: root.clone(),
            message: format!("{} is not a piece file: {e}", piece_path.display()),
            help: "`nasl worker` takes the piece files `nasl run` writes under stages/*/pieces/"
                .into(),
        })?;
        let files = PieceFiles::of(&root, &piece.stage, &piece.tag);
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&files.lock)
            .map_err(|e| ExecError::io(&files.lock, e))?;
        lock.lock().map_err(|e| ExecError::io(&files.lock, e))?;
        if files.result.exists() {
            return Ok(());
        }
        redirect_stderr(&files.log)?;
        let dir = RunDir::for_piece(&root, &files.metrics, &piece.tag, lock)?;
        let ctx = match (self.ctx.take(), self.start.take()) {
            (Some(mut ctx), _) => {
                ctx.dir = dir;
                if ctx.opts.data_paths != piece.data_paths {
                    ctx.data.clear();
                    ctx.opts.data_paths = piece.data_paths.clone();
                }
                ctx
            }
            (None, Some((program, spaces))) => {
                let state: RunState = if root.join("state.json").exists() {
                    RunDir::read_json(&root, "state.json")?
                } else {
                    RunState::default()
                };
                Ctx {
                    opts: RunOptions {
                        file: self.info.file.clone(),
                        out: None,
                        resume: Some(root.clone()),
                        seed: self.info.seed,
                        smoke: self.info.smoke,
                        device: self.device,
                        data_paths: piece.data_paths.clone(),
                        progress: Mode::Lines,
                        scale: Scale::default(),
                    },
                    program,
                    spaces,
                    dir,
                    info: self.info.clone(),
                    interrupted: self.interrupted.clone(),
                    data: HashMap::new(),
                    parts: HashMap::new(),
                    results: state.done.into_iter().map(|d| (d.name, d.result)).collect(),
                }
            }
            (None, None) => unreachable!("a worker keeps its pipeline until its context holds it"),
        };
        let ctx = self.ctx.insert(ctx);
        let Some(stage) = ctx
            .program
            .stages
            .iter()
            .find(|s| s.name == piece.stage)
            .cloned()
        else {
            return Err(ExecError::setting(
                &piece.stage,
                "the pipeline has no such stage",
                "the piece file belongs to another run",
            ));
        };
        eprintln!("worker: piece {} of stage {}", piece.tag, piece.stage);
        stage.spec.take_applied(&stage.settings);
        let (file, dir_root) = (ctx.info.file.clone(), ctx.dir.root.clone());
        let out = error::guard(&stage.name, &file, &dir_root, || {
            compute(ctx, &stage, &piece.work)
        });
        match out {
            Ok(result) => {
                let done = PieceResult {
                    result,
                    settings_read: stage
                        .spec
                        .take_applied(&stage.settings)
                        .into_keys()
                        .collect(),
                };
                let text =
                    serde_json::to_string(&done).map_err(|e| ExecError::io(&files.result, e))?;
                rundir::atomic_write(&files.result, text.as_bytes())
            }
            Err(e) => {
                if !matches!(e, ExecError::Interrupted { .. }) {
                    let own = PieceError {
                        code: e.code().map(|c| c.to_string()).unwrap_or_default(),
                        message: e.to_string(),
                        help: e.help().map(|h| h.to_string()).unwrap_or_default(),
                    };
                    let text = serde_json::to_string(&own).unwrap_or_default();
                    let _ = rundir::atomic_write(&files.error, text.as_bytes());
                }
                Err(e)
            }
        }
    }
}
