//! The command line: clap definitions and dispatch to one file per subcommand; no pipeline logic here.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod check;
mod dataset;
#[cfg(feature = "torch")]
mod eval;
#[cfg(feature = "torch")]
mod export;
pub mod fmt;
mod graph;
mod inspect;
#[cfg(feature = "torch")]
mod latency;
mod lsp;
mod report;
#[cfg(feature = "torch")]
mod run;
mod spaces;
#[cfg(feature = "torch")]
mod worker;

/// nasl: declare a neural architecture search in a `.nas` file, check it, and run it.
#[derive(Debug, Parser)]
#[command(name = "nasl", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Inspect the built-in datasets: sizes, classes, per-class counts, pixel statistics.
    Dataset(dataset::DatasetArgs),
    /// Check `.nas` files: syntax, names, types, shapes, data flow. Exit 1 on any error.
    Check(check::CheckArgs),
    /// Format `.nas` files in the canonical layout (in place, or `--check`).
    Fmt(fmt::FmtArgs),
    /// Exact size and cost of each search space: decisions, number of architectures, params and MACs
    /// (min, max, supernet), or of one architecture with --arch.
    Inspect(inspect::InspectArgs),
    /// Measure each op of a space on a device into a latency lookup table and check how well the
    /// table's sums predict measured whole-network latency.
    #[cfg(feature = "torch")]
    Latency(latency::LatencyArgs),
    /// A search space, or one architecture of it, as Graphviz DOT.
    Graph(graph::GraphArgs),
    /// The language server for editors (Language Server Protocol over stdin/stdout).
    Lsp(lsp::LspArgs),
    /// Write a run directory's report as one self-contained HTML page (several runs: a comparison).
    Report(report::ReportArgs),
    /// Run a pipeline: train, search, retrain, evaluate, in a run directory (resumable).
    #[cfg(feature = "torch")]
    Run(run::RunArgs),
    /// Do one independent piece of a run (what `nasl run --workers N` and `--executor slurm` start):
    /// reads the piece from the run directory, writes its result there.
    #[cfg(feature = "torch")]
    Worker(worker::WorkerArgs),
    /// Write the TorchScript model of a finished run again (from its safetensors weights).
    #[cfg(feature = "torch")]
    Export(export::ExportArgs),
    /// Evaluate a finished run's model on a dataset split.
    #[cfg(feature = "torch")]
    Eval(eval::EvalArgs),
}

/// Parses the arguments, runs the subcommand, prints any error as a diagnostic; returns the exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    #[cfg(feature = "torch")]
    crate::exec::malloc::tune();
    let outcome = match cli.command {
        Command::Dataset(args) => dataset::run(args),
        Command::Check(args) => check::run(args),
        Command::Fmt(args) => fmt::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Graph(args) => graph::run(args),
        Command::Lsp(args) => lsp::run(args),
        Command::Report(args) => report::run(args),
        #[cfg(feature = "torch")]
        Command::Latency(args) => latency::run(args),
        #[cfg(feature = "torch")]
        Command::Run(args) => run::run(args),
        #[cfg(feature = "torch")]
        Command::Worker(args) => worker::run(args),
        #[cfg(feature = "torch")]
        Command::Export(args) => export::run(args),
        #[cfg(feature = "torch")]
        Command::Eval(args) => eval::run(args),
    };
    match outcome {
        Ok(code) => code,
        Err(report) => {
            eprintln!("{report:?}");
            ExitCode::FAILURE
        }
    }
}
