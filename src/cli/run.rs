//! `nasl run FILE`: checks the pipeline, then hands it to the executor (`exec`) with the device,
//! threads, seed and run directory from the command line; Ctrl-C asks the executor to checkpoint and
//! stop.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use miette::miette;
use tch::Device;

use crate::diag::render;
use crate::driver;
use crate::exec::{self, ExecError, RunOptions, progress::Mode, rundir::RunInfo};
use crate::source::FsLoader;

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The pipeline (`.nas`); optional with `--resume`, which knows its file.
    pub file: Option<PathBuf>,
    /// The run directory to create (default: `runs/<file name>`, numbered if it exists).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Seed of everything random: splits, sampling, initialisation, search.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Run every stage on a few batches with tiny searches (to test a pipeline end to end).
    #[arg(long)]
    pub smoke: bool,
    /// Continue an interrupted run in DIR (finished stages and epochs are not redone).
    #[arg(long, value_name = "DIR")]
    pub resume: Option<PathBuf>,
    /// `auto` (a GPU if visible, else the CPU), `cpu`, `cuda` or `cuda:N`.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// CPU threads libtorch uses (default: its own choice, the number of cores).
    #[arg(long)]
    pub threads: Option<i32>,
    /// A dataset's folder, overriding the file and the built-in location: `--data NAME=PATH`.
    #[arg(long = "data", value_name = "NAME=PATH")]
    pub data: Vec<String>,
    /// Plain progress lines even on a terminal.
    #[arg(long)]
    pub plain: bool,
    /// Independent pieces (successive-halving candidates, retrained seeds and members) run at once,
    /// each in its own worker process with its share of `--threads`; 1 runs them in this process.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub workers: usize,
    /// Devices handed to local workers in turn: `--devices cuda:0,cuda:1`.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub devices: Vec<String>,
    /// Where independent pieces run: `local` worker processes, or `slurm` job arrays over the run
    /// directory (which must be on a filesystem the cluster's nodes share). Default: `slurm` when
    /// the file has an `executor slurm { ... }` block, else `local`.
    #[arg(long, value_name = "KIND")]
    pub executor: Option<String>,
    /// An option for every `sbatch` of the Slurm executor (repeatable):
    /// `--sbatch=--partition=gpu --sbatch=--time=2:00:00 --sbatch=--gpus-per-task=1`.
    #[arg(long, value_name = "OPTION", allow_hyphen_values = true)]
    pub sbatch: Vec<String>,
}

/// Parses `--device`.
pub fn device(text: &str) -> Result<Device, ExecError> {
    let gpus = tch::Cuda::device_count();
    let bad = || ExecError::Device {
        text: text.to_string(),
        gpus,
    };
    match text {
        "auto" => Ok(Device::cuda_if_available()),
        "cpu" => Ok(Device::Cpu),
        "cuda" if gpus > 0 => Ok(Device::Cuda(0)),
        t => match t
            .strip_prefix("cuda:")
            .and_then(|n| n.parse::<usize>().ok())
        {
            Some(n) if (n as i64) < gpus => Ok(Device::Cuda(n)),
            _ => Err(bad()),
        },
    }
}

/// Applies `--threads` (libtorch's CPU threads), refusing counts below 1.
pub fn set_threads(threads: Option<i32>) -> miette::Result<()> {
    if let Some(n) = threads {
        if n < 1 {
            return Err(miette!(
                code = "nasl::cli::threads",
                help = "give a positive number of threads",
                "`--threads {n}` is not a thread count"
            ));
        }
        tch::set_num_threads(n);
    }
    Ok(())
}

/// `--workers`, `--devices`, `--threads` and `--executor`, checked, with the file's `executor slurm`
/// block (`--executor` overrides its choice of Slurm, `--sbatch=` options its values).
fn scale(
    args: &RunArgs,
    block: Option<&crate::sema::spec::SlurmSpec>,
) -> miette::Result<exec::pool::Scale> {
    if args.workers < 1 {
        return Err(miette!(
            code = "nasl::cli::workers",
            help = "give at least one worker (`--workers 1` runs pieces in this process)",
            "`--workers 0` runs nothing"
        ));
    }
    let kind = match (&args.executor, block) {
        (Some(k), _) => k.as_str(),
        (None, Some(_)) => "slurm",
        (None, None) => "local",
    };
    let executor = match kind {
        "local" => exec::pool::Executor::Local,
        "slurm" => exec::pool::Executor::Slurm,
        other => {
            return Err(miette!(
                code = "nasl::cli::executor",
                help = "use `--executor local` (worker processes here) or `--executor slurm`",
                "unknown executor `{other}`"
            ));
        }
    };
    if !args.sbatch.is_empty() && executor != exec::pool::Executor::Slurm {
        return Err(miette!(
            code = "nasl::cli::executor",
            help = "add `--executor slurm`, or drop the `--sbatch` options",
            "`--sbatch` options are for the Slurm executor"
        ));
    }
    let devices = args
        .devices
        .iter()
        .map(|d| device(d))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(exec::pool::Scale {
        workers: args.workers,
        devices,
        threads: args.threads,
        executor,
        sbatch: args.sbatch.clone(),
        slurm: block.cloned().unwrap_or_default(),
    })
}

pub fn run(args: RunArgs) -> miette::Result<ExitCode> {
    let file = match (&args.file, &args.resume) {
        (Some(f), _) => f.clone(),
        (None, Some(dir)) => {
            let info: RunInfo = exec::rundir::RunDir::read_json(dir, "run.json")?;
            info.file
        }
        (None, None) => {
            return Err(miette!(
                code = "nasl::cli::no_file",
                help =
                    "write `nasl run pipelines/quickstart.nas`, or `nasl run --resume runs/NAME`",
                "no pipeline file given"
            ));
        }
    };
    let mut data_paths = BTreeMap::new();
    for d in &args.data {
        let Some((name, path)) = d.split_once('=') else {
            return Err(miette!(
                code = "nasl::cli::data",
                help = "write `--data fmnist=/path/to/folder` (the dataset's name in the file)",
                "`--data {d}` is not NAME=PATH"
            ));
        };
        // Absolute, so that a resume from another folder finds it (the run records it).
        let path = PathBuf::from(path);
        data_paths.insert(name.to_string(), std::path::absolute(&path).unwrap_or(path));
    }
    let device = device(&args.device)?;
    set_threads(args.threads)?;
    let front = driver::check_file(&file, &FsLoader);
    let checked = front.checked;
    if !checked.diags.is_empty() {
        eprint!(
            "{}",
            render::human_all(&checked.diags, &checked.sources, super::check::WIDTH)
        );
    }
    let Some(program) = checked.program.clone().filter(|_| !checked.has_errors()) else {
        eprintln!("{}: not run, the pipeline has errors", file.display());
        return Ok(ExitCode::FAILURE);
    };
    let scale = scale(&args, program.executor.as_ref())?;
    if let Some(name) = data_paths
        .keys()
        .find(|n| !program.datasets.iter().any(|d| &d.name == *n))
    {
        let names: Vec<&str> = program.datasets.iter().map(|d| d.name.as_str()).collect();
        return Err(miette!(
            code = "nasl::cli::data",
            help = format!(
                "the datasets of {} are: {}",
                file.display(),
                names.join(", ")
            ),
            "`--data {name}=...` names no dataset of the pipeline"
        ));
    }
    let text = std::fs::read_to_string(&file).unwrap_or_default();
    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let flag = interrupted.clone();
        // A second Ctrl-C stops at once; the first lets the current step finish and checkpoint.
        let _ = ctrlc::set_handler(move || {
            if flag.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
            eprintln!(
                "\ninterrupt: saving a checkpoint after this step (Ctrl-C again to stop now)"
            );
        });
    }
    let opts = RunOptions {
        file: file.clone(),
        out: args.out.clone(),
        resume: args.resume.clone(),
        seed: args.seed,
        smoke: args.smoke,
        device,
        data_paths,
        progress: if args.plain {
            Mode::Lines
        } else {
            Mode::detect()
        },
        scale,
    };
    match exec::run(program, front.spaces, &text, opts, interrupted) {
        Ok(outcome) => {
            for s in outcome.summary["stages"].as_array().into_iter().flatten() {
                let name = s["stage"].as_str().unwrap_or("?");
                if let Some(acc) = s.get("test_accuracy").and_then(|v| v.as_f64()) {
                    eprintln!("{name}: test accuracy {:.2}%", 100.0 * acc);
                }
            }
            println!("{}", outcome.dir.display());
            Ok(ExitCode::SUCCESS)
        }
        Err(e @ ExecError::Interrupted { .. }) => {
            eprintln!("{:?}", miette::Report::new(e));
            Ok(ExitCode::from(130))
        }
        Err(e) => Err(e.into()),
    }
}
