//! `nasl inspect`: the exact size and cost of each search space (or of one architecture).

use std::path::PathBuf;
use std::process::ExitCode;

use serde::Serialize;

use super::spaces;
use crate::cost::inspect::{Report, inspect};

#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// The `.nas` file.
    pub file: PathBuf,
    /// Only this space (default: every space of the file).
    #[arg(long)]
    pub space: Option<String>,
    /// Also report this architecture's exact params and MACs (YAML, or JSON by extension).
    #[arg(long)]
    pub arch: Option<PathBuf>,
    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Named<'a> {
    space: &'a str,
    #[serde(flatten)]
    report: &'a Report,
}

pub fn run(args: InspectArgs) -> miette::Result<ExitCode> {
    let Some(loaded) = spaces::load(&args.file, args.space.as_deref())? else {
        return Ok(ExitCode::FAILURE);
    };
    if args.arch.is_some() && loaded.len() > 1 {
        return Err(miette::miette!(
            code = "nasl::cli::which_space",
            help = "name the space the architecture belongs to with --space",
            "{} has {} spaces",
            args.file.display(),
            loaded.len()
        ));
    }
    let mut reports = Vec::new();
    for l in &loaded {
        let arch = args
            .arch
            .as_ref()
            .map(|p| spaces::read_arch(p, &l.space))
            .transpose()?;
        reports.push((
            l.name.as_str(),
            inspect(&l.space, arch.as_ref()).map_err(miette::Report::new)?,
        ));
    }
    if args.json {
        let out: Vec<Named> = reports
            .iter()
            .map(|(space, report)| Named { space, report })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&out).expect("plain data serialises")
        );
    } else {
        for (i, (name, report)) in reports.iter().enumerate() {
            if i > 0 {
                println!();
            }
            println!("{:<18} {name}", "space");
            print!("{report}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
