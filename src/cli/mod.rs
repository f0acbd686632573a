//! The command line: clap definitions and dispatch to one file per subcommand; no pipeline logic here.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod dataset;

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
}

/// Parses the arguments, runs the subcommand, prints any error as a diagnostic; returns the exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Dataset(args) => dataset::run(args),
    };
    match outcome {
        Ok(code) => code,
        Err(report) => {
            eprintln!("{report:?}");
            ExitCode::FAILURE
        }
    }
}
