//! Runs a stage's independent pieces (successive-halving candidates, retrained seeds and members,
//! `rank` samples; what a piece is lives in `piece`): in this process with one local worker (the
//! default, as always), else on up to `--workers N` local `nasl worker` processes or, through `slurm`,
//! as a job array; collects their results in the order given. Also the worker's side of a piece.

use std::process::{Child, Command, Stdio};

use std::time::Duration;

use miette::Diagnostic;

pub use super::piece::{
    Piece, PieceError, PieceFiles, PieceResult, Work, device_text, piece_failure,
};
use super::*;

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
                let results = super::decode_results(&root, &program, &state)?;
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
                    results,
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
