//! Errors of `nasl run`: each has a code under `nasl::run::*`, names the stage or file at fault and
//! says what to do next.

use std::path::{Path, PathBuf};

use miette::Diagnostic;
use thiserror::Error;

use crate::data::DataError;
use crate::data::loader::SplitError;
use crate::ir::IrError;

#[derive(Debug, Error, Diagnostic)]
pub enum ExecError {
    #[error("stage `{stage}` is a `{kind}` stage, which `nasl run` does not execute yet")]
    #[diagnostic(code(nasl::run::unsupported), help("{help}"))]
    Unsupported {
        stage: String,
        kind: String,
        help: String,
    },

    #[error("stage `{stage}`: {message}")]
    #[diagnostic(code(nasl::run::setting), help("{help}"))]
    Setting {
        stage: String,
        message: String,
        help: String,
    },

    #[error(
        "stage `{stage}`: the loss became {value} at epoch {epoch}, batch {batch}; the stage stopped"
    )]
    #[diagnostic(
        code(nasl::run::diverged),
        help(
            "lower the learning rate or add `grad_clip`; the last good checkpoint is kept, so `--resume` restarts from it once the pipeline is fixed"
        )
    )]
    Diverged {
        stage: String,
        epoch: usize,
        batch: usize,
        value: String,
    },

    #[error("interrupted; a checkpoint of stage `{stage}` was saved in {}", dir.display())]
    #[diagnostic(
        code(nasl::run::interrupted),
        help("continue with `nasl run {} --resume {}`", file.display(), dir.display())
    )]
    Interrupted {
        stage: String,
        dir: PathBuf,
        file: PathBuf,
    },

    #[error("cannot resume from {}: {message}", dir.display())]
    #[diagnostic(code(nasl::run::resume), help("{help}"))]
    Resume {
        dir: PathBuf,
        message: String,
        help: String,
    },

    #[error("the output folder {} already holds a run", dir.display())]
    #[diagnostic(
        code(nasl::run::exists),
        help(
            "resume it with `--resume {}`, or choose another folder with `--out`",
            dir.display()
        )
    )]
    Exists { dir: PathBuf },

    #[error("another `nasl run` is using {}", dir.display())]
    #[diagnostic(
        code(nasl::run::busy),
        help("wait for it to finish (or stop it with Ctrl-C), or use another `--out` folder")
    )]
    Busy { dir: PathBuf },

    #[error("cannot write {}: {message}", path.display())]
    #[diagnostic(
        code(nasl::run::io),
        help("check free disk space and that the folder is writable")
    )]
    Io { path: PathBuf, message: String },

    #[error("stage `{stage}`: {message}")]
    #[diagnostic(code(nasl::run::search), help("{help}"))]
    Search {
        stage: String,
        message: String,
        help: String,
    },

    #[error("unknown device `{text}`")]
    #[diagnostic(
        code(nasl::run::device),
        help("use `auto`, `cpu`, `cuda` or `cuda:N` (N below the number of visible GPUs: {gpus})")
    )]
    Device { text: String, gpus: i64 },

    #[error("libtorch failed in stage `{stage}`: {message}")]
    #[diagnostic(
        code(nasl::run::torch),
        help(
            "this is an error inside libtorch (out of memory, a device problem); try a smaller batch or `--device cpu`"
        )
    )]
    Torch { stage: String, message: String },

    #[error(transparent)]
    #[diagnostic(transparent)]
    Data(#[from] DataError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Split(#[from] SplitError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Ir(#[from] IrError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Latency(#[from] crate::compile::latency::LatencyError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Model(#[from] crate::compile::model::ModelError),
}

impl ExecError {
    pub fn io(path: &Path, e: impl std::fmt::Display) -> ExecError {
        ExecError::Io {
            path: path.to_path_buf(),
            message: e.to_string(),
        }
    }
    pub fn setting(stage: &str, message: impl Into<String>, help: impl Into<String>) -> ExecError {
        ExecError::Setting {
            stage: stage.to_string(),
            message: message.into(),
            help: help.into(),
        }
    }
    pub fn torch(stage: &str, e: impl std::fmt::Display) -> ExecError {
        ExecError::Torch {
            stage: stage.to_string(),
            message: e.to_string(),
        }
    }
}
