//! `nasl report`: one self-contained HTML page (inline SVG and CSS, no scripts, no network) of a
//! finished run directory, or a side-by-side comparison of several. Reads only the run directory's
//! files (`run.json`, `summary.json`, `state.json`, `metrics.jsonl`, `pipeline.yaml`, `pipeline.nas`
//! re-checked for its spaces, `best.arch.yaml`, `model/`, trajectory plots), so it builds and runs
//! without libtorch. Charts come from plotters (`plot`), the architecture drawing from the IR
//! (`arch`), the page from small escaping builders (`html`).

pub mod arch;
pub mod error;
pub mod html;
pub mod load;
pub mod plot;
pub mod render;

use std::path::{Path, PathBuf};

pub use error::ReportError;
use load::Run;

/// The report of `dirs`: one run's page, or the comparison of several.
pub fn render(dirs: &[PathBuf]) -> Result<String, ReportError> {
    if dirs.is_empty() {
        return Err(ReportError::Usage {
            message: "no run directory given".into(),
            help: "write `nasl report runs/quickstart` (or several folders to compare them)".into(),
        });
    }
    let runs = dirs
        .iter()
        .map(|d| Run::load(d))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(if runs.len() == 1 {
        render::single(&runs[0])
    } else {
        render::compare(&runs)
    })
}

/// Writes the report of `dirs` to `out` (atomically: a reader never sees half a page).
pub fn write_to(dirs: &[PathBuf], out: &Path) -> Result<(), ReportError> {
    let html = render(dirs)?;
    let err = |e: std::io::Error| ReportError::Write {
        path: out.to_path_buf(),
        message: e.to_string(),
    };
    if out.is_dir() {
        return Err(ReportError::Write {
            path: out.to_path_buf(),
            message: "it is a folder".into(),
        });
    }
    crate::atomic::write(out, html.as_bytes()).map_err(err)
}

/// Writes `RUN_DIR/report.html` (what `nasl run` does at the end of a run) and returns its path.
pub fn write(run_dir: &Path) -> Result<PathBuf, ReportError> {
    let out = run_dir.join("report.html");
    write_to(&[run_dir.to_path_buf()], &out)?;
    Ok(out)
}

#[cfg(test)]
mod tests;
