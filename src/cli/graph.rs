//! `nasl graph`: a search space or one architecture as Graphviz DOT.

use std::path::PathBuf;
use std::process::ExitCode;

use super::spaces;
use crate::ir::dot::dot;

#[derive(Debug, clap::Args)]
pub struct GraphArgs {
    /// The `.nas` file.
    pub file: PathBuf,
    /// The space to draw (needed when the file has several).
    #[arg(long)]
    pub space: Option<String>,
    /// Draw this architecture (YAML, or JSON by extension) instead of the whole space.
    #[arg(long)]
    pub arch: Option<PathBuf>,
}

pub fn run(args: GraphArgs) -> miette::Result<ExitCode> {
    let Some(loaded) = spaces::load(&args.file, args.space.as_deref())? else {
        return Ok(ExitCode::FAILURE);
    };
    let [one] = loaded.as_slice() else {
        let names: Vec<&str> = loaded.iter().map(|l| l.name.as_str()).collect();
        return Err(miette::miette!(
            code = "nasl::cli::which_space",
            help = format!("choose one with --space: {}", names.join(", ")),
            "{} has {} spaces",
            args.file.display(),
            loaded.len()
        ));
    };
    let arch = args
        .arch
        .as_ref()
        .map(|p| spaces::read_arch(p, &one.space))
        .transpose()?;
    print!(
        "{}",
        dot(&one.space, arch.as_ref()).map_err(miette::Report::new)?
    );
    Ok(ExitCode::SUCCESS)
}
