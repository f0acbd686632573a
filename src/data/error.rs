//! Dataset errors: each names the file or folder at fault and says how to fix it.

use std::path::{Path, PathBuf};

use miette::Diagnostic;
use thiserror::Error;

#[derive(Debug, Error, Diagnostic)]
pub enum DataError {
    #[error("{what} not found: {}", path.display())]
    #[diagnostic(code(nasl::data::missing), help("{}", missing_help(path)))]
    Missing { path: PathBuf, what: String },

    #[error("{} is not a valid dataset file: {reason}", path.display())]
    #[diagnostic(
        code(nasl::data::corrupt),
        help(
            "the file is damaged or of another format; restore it (reinstall the package or copy it again)"
        )
    )]
    Corrupt { path: PathBuf, reason: String },

    #[error("{} is truncated: expected {expected} bytes, found {found}", path.display())]
    #[diagnostic(
        code(nasl::data::truncated),
        help("the file was cut short (an interrupted copy or download?); restore a complete copy")
    )]
    Truncated {
        path: PathBuf,
        expected: u64,
        found: u64,
    },

    #[error("cannot read {}: {source}", path.display())]
    #[diagnostic(
        code(nasl::data::io),
        help("check that the file exists and is readable by this user")
    )]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("unknown dataset `{name}`")]
    #[diagnostic(code(nasl::data::unknown), help("the built-in datasets are: {known}"))]
    UnknownDataset { name: String, known: String },

    #[error("dataset `{name}` has no default location")]
    #[diagnostic(
        code(nasl::data::no_path),
        help(
            "give its folder: `path: \"...\"` in the dataset, --path on the command line, or set NASL_DATA to a folder holding `{name}/`"
        )
    )]
    NoPath { name: String },

    #[error("{} holds no images", path.display())]
    #[diagnostic(
        code(nasl::data::empty),
        help(
            "an image folder needs one sub-folder per class (optionally under train/ and test/) holding .png or .jpg files"
        )
    )]
    Empty { path: PathBuf },
}

impl DataError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        if source.kind() == std::io::ErrorKind::NotFound {
            DataError::Missing {
                path: path.to_path_buf(),
                what: "dataset file".into(),
            }
        } else {
            DataError::Io {
                path: path.to_path_buf(),
                source,
            }
        }
    }
}

fn missing_help(path: &Path) -> String {
    if path.starts_with(super::DEBIAN_FASHION_MNIST) {
        "Fashion-MNIST comes from Debian's package: run `apt-get install dataset-fashion-mnist` (the \
         scripts/nasl and scripts/test.sh set-up does it for you), or point NASL_FASHION_MNIST at a folder \
         holding the four IDX files"
            .into()
    } else {
        "check the path given in the dataset (`path: \"...\"`) or on the command line; relative paths are \
         taken from the current directory"
            .into()
    }
}
