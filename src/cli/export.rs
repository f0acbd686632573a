//! `nasl export RUN_DIR`: (re)writes the TorchScript `model.pt` of a run's final model from its
//! safetensors weights, space and architecture.

use std::path::PathBuf;
use std::process::ExitCode;

use tch::Device;

use crate::compile::export;
use crate::exec::model::model_dir;

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// A run directory (its `model/` is exported) or a model folder.
    pub dir: PathBuf,
}

pub fn run(args: ExportArgs) -> miette::Result<ExitCode> {
    let dir = model_dir(&args.dir);
    let path = export::export_dir(&dir, Device::Cpu)?;
    println!("{}", path.display());
    Ok(ExitCode::SUCCESS)
}
