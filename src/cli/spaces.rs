//! Loading the search spaces of a `.nas` file for the commands that work on spaces (`inspect`,
//! `graph`): check the file, lower each space to the IR, read an optional architecture.

use std::path::{Path, PathBuf};

use miette::{IntoDiagnostic, WrapErr, miette};

use crate::diag::render;
use crate::driver;
use crate::ir::{Arch, SearchSpace};
use crate::source::FsLoader;

/// A space of the file, built as a graph.
pub struct LoadedSpace {
    pub name: String,
    pub space: SearchSpace,
}

/// Checks `file` and builds its spaces (only `only` when given), printing any diagnostics; `None`
/// when the file has errors (already printed).
pub fn load(file: &Path, only: Option<&str>) -> miette::Result<Option<Vec<LoadedSpace>>> {
    let front = driver::check_file(file, &FsLoader);
    let mut checked = front.checked;
    // Refusals of `nasl run` say nothing about the spaces, which are what this command reads.
    checked
        .diags
        .retain(|d| d.code != crate::diag::Code::SemaNotRun);
    if !checked.diags.is_empty() {
        eprint!(
            "{}",
            render::human_all(&checked.diags, &checked.sources, super::check::WIDTH)
        );
    }
    if checked.has_errors() {
        return Ok(None);
    }
    let names: Vec<&str> = front.spaces.iter().map(|(n, _)| n.as_str()).collect();
    if let Some(want) = only
        && !names.contains(&want)
    {
        return Err(miette!(
            code = "nasl::cli::unknown_space",
            help = format!("the spaces of {} are: {}", file.display(), names.join(", ")),
            "no space named `{want}`"
        ));
    }
    if front.spaces.is_empty() {
        return Err(miette!(
            code = "nasl::cli::no_space",
            help = "declare one with `space NAME = chain(...) { ... }` or `cell(...)`",
            "{} declares no search space or network",
            file.display()
        ));
    }
    Ok(Some(
        front
            .spaces
            .into_iter()
            .filter(|(name, _)| only.is_none_or(|w| w == name))
            .map(|(name, space)| LoadedSpace { name, space })
            .collect(),
    ))
}

/// Reads an architecture (YAML, or JSON for `.json` files) and checks it against `space`.
pub fn read_arch(path: &PathBuf, space: &SearchSpace) -> miette::Result<Arch> {
    let text = std::fs::read_to_string(path)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot read the architecture file {}", path.display()))?;
    let arch = if path.extension().is_some_and(|e| e == "json") {
        Arch::from_json(&text)
    } else {
        Arch::from_yaml(&text)
    }
    .map_err(miette::Report::new)
    .wrap_err_with(|| path.display().to_string())?;
    space
        .arch_indices(&arch)
        .map_err(miette::Report::new)
        .wrap_err_with(|| path.display().to_string())?;
    Ok(arch)
}
