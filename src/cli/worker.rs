//! `nasl worker RUN_DIR --piece FILE`: checks the run's pipeline and does one independent piece of it
//! (`exec::pool::Worker`); `--batch FILE` picks the piece of a Slurm array task from a list of them;
//! `--serve` does the pieces named on stdin one after another (the local executor's workers).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use miette::miette;

use crate::driver;
use crate::exec::{self, ExecError, rundir::RunInfo};
use crate::source::FsLoader;

#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    /// The run directory (shared with the coordinating `nasl run`).
    pub run_dir: PathBuf,
    /// The piece file to do (under `stages/<stage>/pieces/`).
    #[arg(long, value_name = "FILE", required_unless_present_any = ["batch", "serve"])]
    pub piece: Option<PathBuf>,
    /// A list of piece files (one a line); the piece done is line `$SLURM_ARRAY_TASK_ID` (from 0).
    #[arg(long, value_name = "FILE", conflicts_with = "piece")]
    pub batch: Option<PathBuf>,
    /// `cpu`, `cuda` or `cuda:N` (`auto`: a GPU if visible).
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// CPU threads libtorch uses.
    #[arg(long)]
    pub threads: Option<i32>,
    /// Do the piece files named on stdin, one a line, answering each on stdout with `ok` or `failed`;
    /// stop when stdin closes (the coordinating process is done or gone).
    #[arg(long, conflicts_with_all = ["piece", "batch"])]
    pub serve: bool,
}

/// The piece file of a Slurm array task: line `SLURM_ARRAY_TASK_ID` of `batch`.
fn batch_piece(batch: &std::path::Path) -> miette::Result<PathBuf> {
    let index: usize = std::env::var("SLURM_ARRAY_TASK_ID")
        .ok()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| {
            miette!(
                code = "nasl::cli::worker",
                help = "`--batch` is for Slurm array tasks; give one piece with `--piece FILE`",
                "SLURM_ARRAY_TASK_ID is not set"
            )
        })?;
    let text = std::fs::read_to_string(batch).map_err(|e| ExecError::io(batch, e))?;
    let line = text.lines().nth(index).ok_or_else(|| {
        miette!(
            code = "nasl::cli::worker",
            help = "the batch file belongs to another submission",
            "{} has no line {index}",
            batch.display()
        )
    })?;
    Ok(PathBuf::from(line))
}

pub fn run(args: WorkerArgs) -> miette::Result<ExitCode> {
    let device = super::run::device(&args.device)?;
    super::run::set_threads(args.threads)?;
    let info: RunInfo = exec::rundir::RunDir::read_json(&args.run_dir, "run.json")?;
    let front = driver::check_file(&info.file, &FsLoader);
    let checked = front.checked;
    let Some(program) = checked.program.clone().filter(|_| !checked.has_errors()) else {
        return Err(miette!(
            code = "nasl::cli::worker",
            help = "the worker reads the pipeline file the run started with; restore it",
            "{}: the pipeline has errors",
            info.file.display()
        ));
    };
    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let flag = interrupted.clone();
        let _ = ctrlc::set_handler(move || {
            if flag.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
        });
    }
    let mut worker = exec::pool::Worker::open(
        program,
        front.spaces,
        &args.run_dir,
        device,
        interrupted.clone(),
    )?;
    let outcome = if args.serve {
        serve(&mut worker, interrupted)
    } else {
        let piece = match (&args.piece, &args.batch) {
            (Some(p), _) => p.clone(),
            (None, Some(b)) => batch_piece(b)?,
            (None, None) => unreachable!("clap requires --piece, --batch or --serve"),
        };
        worker.piece(&piece)
    };
    match outcome {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e @ ExecError::Interrupted { .. }) => {
            eprintln!("{:?}", miette::Report::new(e));
            Ok(ExitCode::from(130))
        }
        Err(e) => Err(e.into()),
    }
}

/// `--serve`: pieces from stdin until it closes; a piece's own error is in its files and answered
/// `failed`, an interruption ends the loop.
fn serve(worker: &mut exec::pool::Worker, interrupted: Arc<AtomicBool>) -> Result<(), ExecError> {
    use std::io::{BufRead, Write};
    let (tx, rx) = std::sync::mpsc::channel::<PathBuf>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            if tx.send(PathBuf::from(line)).is_err() {
                break;
            }
        }
        // The coordinator is done with this worker, or gone (killed): stop now, as a killed run
        // would; the piece resumes from its last epoch checkpoint. (A Ctrl-C on the terminal reaches
        // the workers too and checkpoints mid-epoch.)
        if !interrupted.load(Ordering::SeqCst) {
            std::process::exit(0);
        }
    });
    for piece in rx {
        let answer = match worker.piece(&piece) {
            Ok(()) => "ok",
            Err(e @ ExecError::Interrupted { .. }) => return Err(e),
            Err(e) => {
                eprintln!("{:?}", miette::Report::new(e));
                "failed"
            }
        };
        let mut out = std::io::stdout().lock();
        if writeln!(out, "{answer}").and_then(|_| out.flush()).is_err() {
            break;
        }
    }
    Ok(())
}
