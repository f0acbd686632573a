//! `nasl check FILE...`: parses and checks files, prints every diagnostic (human or JSON); exit 1 on
//! any error, 0 otherwise (warnings allowed).

use crate::diag::render;
use crate::driver;
use crate::source::{FsLoader, Scoped};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The `.nas` files to check.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Output format of the diagnostics.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Let `include` read `.nas` files outside the folder of the checked file.
    #[arg(long)]
    pub allow_include_outside: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
}

/// Width of human output.
pub const WIDTH: usize = 100;

pub fn run(args: CheckArgs) -> miette::Result<ExitCode> {
    let mut failed = false;
    let mut json = Vec::new();
    for file in &args.files {
        let loader = Scoped {
            inner: &FsLoader,
            root: None,
            allow_outside: args.allow_include_outside,
        };
        let checked = driver::check_file(file, &loader).checked;
        failed |= checked.has_errors();
        match args.format {
            Format::Human => {
                eprint!(
                    "{}",
                    render::human_all(&checked.diags, &checked.sources, WIDTH)
                );
                let errors = checked.diags.iter().filter(|d| d.is_error()).count();
                let warnings = checked.diags.len() - errors;
                if errors == 0 {
                    eprintln!(
                        "{}: ok ({warnings} warning{})",
                        file.display(),
                        if warnings == 1 { "" } else { "s" }
                    );
                } else {
                    eprintln!(
                        "{}: {errors} error{}, {warnings} warning{}",
                        file.display(),
                        if errors == 1 { "" } else { "s" },
                        if warnings == 1 { "" } else { "s" }
                    );
                }
            }
            Format::Json => json.extend(render::json_values(&checked.diags, &checked.sources)),
        }
    }
    if args.format == Format::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json).unwrap_or_else(|_| "[]".into())
        );
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
