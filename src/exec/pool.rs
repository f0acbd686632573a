//! Runs a stage's independent pieces (successive-halving candidates, retrained seeds and members,
//! `rank` samples; what a piece is lives in `piece`): in this process with one local worker (the
//! default, as always), else on up to `--workers N` local `nasl worker` processes or, through `slurm`,
//! as a job array; collects their results in the order given. Also the worker's side of a piece.

use std::io::BufReader;
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
    /// Options added to every `sbatch` (`--sbatch=--partition=gpu`), Slurm executor only; they
    /// come after those of the file's `executor slurm` block, so they win.
    pub sbatch: Vec<String>,
    /// The file's `executor slurm` block (its defaults when there is none).
    pub slurm: crate::sema::spec::SlurmSpec,
}

impl Default for Scale {
    fn default() -> Scale {
        Scale {
            workers: 1,
            devices: vec![],
            threads: None,
            executor: Executor::Local,
            sbatch: vec![],
            slurm: Default::default(),
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
                // Done earlier, or twice in the list (a search may propose an architecture twice).
                if done.contains_key(tag) || todo.iter().any(|p: &Piece| &p.tag == tag) {
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
        Work::Candidate { arch } => json!(search::candidate_piece(ctx, stage, arch)?),
        Work::RankSample { index } => json!(rank::rank_sample(ctx, stage, *index)?),
        Work::MnasChild { arch, epochs } => json!(rl::mnas_child(ctx, stage, arch, *epochs)?),
        Work::FewShotPart {
            index,
            prefix,
            epochs,
        } => json!(supernet::few_shot_part(
            ctx, stage, *index, prefix, *epochs
        )?),
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
struct Local {
    child: Child,
    stdin: Option<std::process::ChildStdin>,
    /// Still answering (its stdout has not closed).
    alive: bool,
}

/// The run's local worker processes, started at the first batch of pieces and kept until the run
/// ends, so that each pays its start (libtorch, checking the pipeline, loading datasets) once per
/// run, not once per batch. Each has its share of the threads and the next device of `--devices`;
/// its start-up output goes to `workers/worker<k>.log`, each piece's to the piece's log. Dropping
/// the pool closes the workers' stdin, which stops them (so does this process dying).
pub struct LocalPool {
    workers: Vec<Local>,
    /// (worker, answer line or `None` once its stdout closed).
    answers: std::sync::mpsc::Receiver<(usize, Option<String>)>,
    threads: i32,
}

impl LocalPool {
    fn start(ctx: &Ctx) -> Result<LocalPool, ExecError> {
        use std::sync::mpsc;
        let scale = &ctx.opts.scale;
        let threads = scale.threads_per_worker();
        let exe = std::env::current_exe().map_err(|e| ExecError::io(Path::new("nasl"), e))?;
        let root = &ctx.dir.root;
        let logs = root.join("workers");
        fs::create_dir_all(&logs).map_err(|e| ExecError::io(&logs, e))?;
        let (tx, answers) = mpsc::channel::<(usize, Option<String>)>();
        let mut workers = Vec::new();
        for k in 0..scale.workers.max(1) {
            let device = scale
                .devices
                .get(k % scale.devices.len().max(1))
                .copied()
                .unwrap_or(ctx.opts.device);
            let log_path = logs.join(format!("worker{k}.log"));
            let log = fs::File::create(&log_path).map_err(|e| ExecError::io(&log_path, e))?;
            let mut child = Command::new(&exe)
                .arg("worker")
                .arg(root)
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
                alive: true,
            });
        }
        Ok(LocalPool {
            workers,
            answers,
            threads,
        })
    }

    /// Hands worker `k` the piece file of `piece`; false if the worker is gone.
    fn give(&mut self, k: usize, root: &Path, piece: &Piece) -> bool {
        use std::io::Write as _;
        let files = PieceFiles::of(root, &piece.stage, &piece.tag);
        let line = format!("{}\n", files.spec.display());
        matches!(
            self.workers[k]
                .stdin
                .as_mut()
                .map(|s| s.write_all(line.as_bytes()).and_then(|_| s.flush())),
            Some(Ok(()))
        )
    }
}

impl Drop for LocalPool {
    fn drop(&mut self) {
        for w in &mut self.workers {
            drop(w.stdin.take());
        }
        for w in &mut self.workers {
            let _ = w.child.wait();
        }
    }
}

/// Runs pieces on the run's local worker pool (started here the first time), handing each worker
/// the next piece when it finishes one. After a failure no new piece starts; the running ones
/// finish (their results are kept for a resume), the pool is stopped and the first failure is
/// returned. A worker that dies fails the piece it had.
fn run_local(ctx: &mut Ctx, stage: &str, pieces: &[Piece]) -> Result<(), ExecError> {
    use std::sync::atomic::Ordering;
    use std::sync::mpsc;
    let mut pool = match ctx.pool.take() {
        Some(p) => p,
        None => LocalPool::start(ctx)?,
    };
    let root = ctx.dir.root.clone();
    let n = pool.workers.len();
    eprintln!(
        "{stage}: {} pieces on {} local workers ({} threads each)",
        pieces.len(),
        n.min(pieces.len()),
        pool.threads
    );
    let mut busy: Vec<Option<&Piece>> = vec![None; n];
    let mut queue = pieces.iter();
    let mut failure: Option<ExecError> = None;
    let mut stopping = false;
    // Every live worker starts with a piece.
    let live: Vec<usize> = (0..n).filter(|&k| pool.workers[k].alive).collect();
    for k in live {
        let Some(p) = queue.next() else { break };
        if pool.give(k, &root, p) {
            busy[k] = Some(p);
        } else {
            failure.get_or_insert_with(|| piece_failure(&root, p, "did not start"));
            break;
        }
    }
    while busy.iter().any(Option::is_some) {
        if ctx.interrupted.load(Ordering::SeqCst) && !stopping {
            stopping = true;
            // Ctrl-C: each worker checkpoints its piece and stops, as this process would.
            for w in pool.workers.iter() {
                // SAFETY: signals a child process of ours by its id.
                unsafe { libc::kill(w.child.id() as i32, libc::SIGINT) };
            }
        }
        let (k, line) = match pool.answers.recv_timeout(Duration::from_millis(50)) {
            Ok(m) => m,
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let finished = busy[k].take();
        if line.is_none() {
            pool.workers[k].alive = false;
            let status = pool.workers[k].child.wait();
            if let Some(p) = finished
                && !stopping
                && failure.is_none()
            {
                let how = status.map_or_else(|e| e.to_string(), |s| s.to_string());
                failure = Some(piece_failure(&root, p, &format!("ended ({how})")));
            }
            continue;
        }
        if let Some(p) = finished {
            let files = PieceFiles::of(&root, &p.stage, &p.tag);
            if !files.result.exists() && !stopping && failure.is_none() {
                failure = Some(piece_failure(&root, p, "stopped"));
            }
        }
        if failure.is_some() || stopping {
            continue;
        }
        if let Some(p) = queue.next() {
            if pool.give(k, &root, p) {
                busy[k] = Some(p);
            } else {
                failure = Some(piece_failure(&root, p, "did not start"));
            }
        }
    }
    // A piece no live worker took (the others died) fails the batch.
    if failure.is_none()
        && !stopping
        && let Some(p) = queue.next()
    {
        failure = Some(piece_failure(
            &root,
            p,
            "did not start (no local worker left)",
        ));
    }
    if let Some(e) = failure {
        return Err(e);
    }
    if stopping {
        return Err(ctx.interrupted_error(stage));
    }
    ctx.pool = Some(pool);
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
                // A worker of the run's pool serves later stages too: the stages finished since.
                if root.join("state.json").exists() {
                    let state: RunState = RunDir::read_json(&root, "state.json")?;
                    ctx.results = super::decode_results(&root, &ctx.program, &state)?;
                }
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
                    pool: None,
                    scoring: Default::default(),
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
