//! `nasl fmt FILE... [--check]`: rewrites files in the canonical layout, or with `--check` only says
//! which would change (exit 1). A file that does not parse is reported and left alone.

use crate::diag::render;
use crate::source::{FileId, SourceMap, decode};
use crate::syntax;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct FmtArgs {
    /// The `.nas` files to format.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Change nothing; exit 1 and name the files that are not formatted.
    #[arg(long)]
    pub check: bool,
}

/// The canonical layout of a text, or the diagnostics that prevent formatting it.
pub fn format_text(
    path: &Path,
    text: &str,
) -> Result<String, (SourceMap, Vec<crate::diag::Diagnostic>)> {
    let mut sources = SourceMap::new();
    let id: FileId = sources.add(path.to_path_buf(), text.to_string());
    match syntax::parse(id, text) {
        Ok((ast, errs)) if errs.is_empty() => Ok(syntax::format::format_file(&ast, text)),
        Ok((_, errs)) | Err(errs) => Err((sources, errs)),
    }
}

pub fn run(args: FmtArgs) -> miette::Result<ExitCode> {
    let mut failed = false;
    for file in &args.files {
        let text = match std::fs::read(file)
            .map_err(|e| e.to_string())
            .and_then(|b| decode(b).map_err(|_| "not UTF-8 text".to_string()))
        {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: cannot format {}: {e}", file.display());
                failed = true;
                continue;
            }
        };
        match format_text(file, &text) {
            Ok(out) if out == text => {}
            Ok(out) => {
                if args.check {
                    println!("{} would be reformatted", file.display());
                    failed = true;
                } else if let Err(e) = std::fs::write(file, out) {
                    eprintln!("error: cannot write {}: {e}", file.display());
                    failed = true;
                }
            }
            Err((sources, diags)) => {
                eprint!(
                    "{}",
                    render::human_all(&diags, &sources, super::check::WIDTH)
                );
                failed = true;
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
