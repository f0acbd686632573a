//! `nasl dataset`: loads a dataset and prints what it holds.

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct DatasetArgs {
    /// Dataset name (fashion_mnist, mnist, cifar10, cifar100, folder, synthetic).
    pub name: String,
}

pub fn run(_args: DatasetArgs) -> miette::Result<ExitCode> {
    Ok(ExitCode::SUCCESS)
}
