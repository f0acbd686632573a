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

    #[error("stage `{stage}`: piece `{piece}` failed in its worker: {message}")]
    #[diagnostic(
        code(nasl::run::worker),
        help(
            "the worker's log is {}; {help}. Finished pieces are kept: `nasl run --resume` redoes only the rest",
            log.display()
        )
    )]
    Worker {
        stage: String,
        piece: String,
        message: String,
        help: String,
        log: PathBuf,
    },

    #[error("stage `{stage}`: {message}")]
    #[diagnostic(code(nasl::run::slurm), help("{help}"))]
    Slurm {
        stage: String,
        message: String,
        help: String,
    },

    #[error("libtorch failed in stage `{stage}`: {message}")]
    #[diagnostic(
        code(nasl::run::torch),
        help(
            "an error inside libtorch (out of memory, a device problem); the last checkpoint is kept: after a fix (a smaller `batch`, `--device cpu`) continue with `nasl run {} --resume {}`",
            file.display(), dir.display()
        )
    )]
    Torch {
        stage: String,
        message: String,
        file: PathBuf,
        dir: PathBuf,
    },

    #[error("internal error in stage `{stage}`: {message}")]
    #[diagnostic(
        code(nasl::run::internal),
        help(
            "this is a bug in nasl; please report it with the pipeline. The last checkpoint is kept: `nasl run {} --resume {}` continues from it",
            file.display(), dir.display()
        )
    )]
    Internal {
        stage: String,
        message: String,
        file: PathBuf,
        dir: PathBuf,
    },

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
}

/// Runs one stage, turning a panic inside it into an error that keeps the run resumable. tch reports
/// libtorch's errors (a shape that does not fit, CUDA out of memory) by panicking in its infallible
/// calls; those become [`ExecError::Torch`], any other panic [`ExecError::Internal`]. The panic's
/// message is kept for the diagnostic instead of being printed with a backtrace.
pub fn guard<T>(
    stage: &str,
    file: &Path,
    dir: &Path,
    f: impl FnOnce() -> Result<T, ExecError>,
) -> Result<T, ExecError> {
    use std::sync::{Arc, Mutex};
    let caught: Arc<Mutex<Option<String>>> = Arc::default();
    let previous = std::panic::take_hook();
    {
        let caught = caught.clone();
        let main = std::thread::current().id();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current().id() != main {
                eprintln!("{info}");
                return;
            }
            if let Ok(mut c) = caught.lock() {
                *c = Some(panic_text(info.payload()));
            }
        }));
    }
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    std::panic::set_hook(previous);
    out.unwrap_or_else(|payload| {
        let message = caught
            .lock()
            .ok()
            .and_then(|mut c| c.take())
            .unwrap_or_else(|| panic_text(payload.as_ref()));
        let (stage, file, dir) = (stage.to_string(), file.to_path_buf(), dir.to_path_buf());
        Err(match torch_message(&message) {
            Some(message) => ExecError::Torch {
                stage,
                message,
                file,
                dir,
            },
            None => ExecError::Internal {
                stage,
                message,
                file,
                dir,
            },
        })
    })
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a panic without a message".into())
}

/// The first line of libtorch's error inside a tch panic message (`...: Torch("what\nException
/// raised from ...")`, newlines escaped by `Debug`), or `None` for other panics.
fn torch_message(text: &str) -> Option<String> {
    let at = text.find("Torch(")?;
    let inner = text[at + "Torch(".len()..].trim_start_matches('"');
    let first = inner.split("\\n").next().unwrap_or(inner).trim();
    Some(first.trim_end_matches([')', '"']).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_libtorch_panic_becomes_a_torch_error_and_others_internal() {
        let p = Path::new("p.nas");
        let d = Path::new("runs/p");
        let e = guard::<()>("s", p, d, || {
            let a = tch::Tensor::zeros([2, 3], (tch::Kind::Float, tch::Device::Cpu));
            let b = tch::Tensor::zeros([4, 5], (tch::Kind::Float, tch::Device::Cpu));
            let _ = a.matmul(&b);
            Ok(())
        })
        .unwrap_err();
        match e {
            ExecError::Torch { message, .. } => {
                assert!(message.contains("shapes cannot be multiplied"), "{message}")
            }
            other => panic!("not a torch error: {other:?}"),
        }
        let e = guard::<()>("s", p, d, || panic!("boom")).unwrap_err();
        assert!(matches!(e, ExecError::Internal { ref message, .. } if message == "boom"));
        // The hook is restored: a result passes through unchanged.
        assert_eq!(guard("s", p, d, || Ok(7)).unwrap(), 7);
    }
}
