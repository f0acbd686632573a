//! `nasl report RUN_DIR... [--out FILE]`: writes the HTML report of a run directory (by default
//! `RUN_DIR/report.html`), or the comparison of several (by default `./report.html`).

use std::path::PathBuf;
use std::process::ExitCode;

use crate::report::{self, ReportError};

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Run directories (as printed by `nasl run`); several are compared side by side.
    #[arg(required = true, value_name = "RUN_DIR")]
    pub dirs: Vec<PathBuf>,
    /// Where to write the page (default: RUN_DIR/report.html for one run, ./report.html for several).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

pub fn run(args: ReportArgs) -> miette::Result<ExitCode> {
    let out = match (&args.out, args.dirs.as_slice()) {
        (Some(o), _) => o.clone(),
        (None, [one]) => one.join("report.html"),
        (None, _) => PathBuf::from("report.html"),
    };
    if let Some(o) = &args.out
        && o.extension().is_some_and(|e| e != "html" && e != "htm")
    {
        return Err(ReportError::Usage {
            message: format!("`--out {}` is not an .html file", o.display()),
            help: "name the page with .html, e.g. `--out report.html`".into(),
        }
        .into());
    }
    report::write_to(&args.dirs, &out)?;
    println!("{}", out.display());
    Ok(ExitCode::SUCCESS)
}
