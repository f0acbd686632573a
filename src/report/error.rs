//! What `nasl report` can fail on: a folder that is not a run directory, a damaged file in it, a
//! report that cannot be written, wrong arguments.

use std::path::PathBuf;

use miette::Diagnostic;
use thiserror::Error;

#[derive(Debug, Error, Diagnostic)]
pub enum ReportError {
    #[error("{} is not a run directory: {} is missing", dir.display(), file)]
    #[diagnostic(code(nasl::report::missing))]
    Missing {
        dir: PathBuf,
        file: String,
        #[help]
        help: String,
    },
    #[error("{} is damaged: {message}", path.display())]
    #[diagnostic(code(nasl::report::corrupt))]
    Corrupt {
        path: PathBuf,
        message: String,
        #[help]
        help: String,
    },
    #[error("cannot read {}: {message}", path.display())]
    #[diagnostic(
        code(nasl::report::io),
        help("check that the folder exists and is readable")
    )]
    Read { path: PathBuf, message: String },
    #[error("cannot write the report to {}: {message}", path.display())]
    #[diagnostic(
        code(nasl::report::write),
        help("give a writable file with `--out FILE`")
    )]
    Write { path: PathBuf, message: String },
    #[error("{message}")]
    #[diagnostic(code(nasl::report::usage))]
    Usage {
        message: String,
        #[help]
        help: String,
    },
}

impl ReportError {
    /// The diagnostic code, e.g. `nasl::report::corrupt`.
    pub fn code_str(&self) -> String {
        self.code().map(|c| c.to_string()).unwrap_or_default()
    }
}
