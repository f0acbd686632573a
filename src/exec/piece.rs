//! What a piece of independent work is, on disk: the work it does ([`Work`]), the piece file a
//! `nasl worker` reads, the result, error, metrics and log files it writes beside it, and how a piece
//! that left no result is reported. The local executor (`pool`) and the Slurm executor (`slurm`)
//! both hand out pieces in these terms.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use tch::Device;

use super::ExecError;
use crate::ir::Arch;

/// What one piece does. Every piece carries what it needs besides the run directory; its seeds come
/// from the run's seed, the stage's name and the piece's identity, never from the order pieces run in.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Work {
    /// A successive-halving candidate trained to `epochs` of a `horizon`-epoch schedule (continuing
    /// from its checkpoint of the previous rung), then scored on the validation split.
    Halving {
        arch: Arch,
        epochs: usize,
        horizon: usize,
        rung: usize,
    },
    /// A candidate of a supernet search (evolution, random search, NSGA-II): `arch` extracted from
    /// the input supernet and scored on the validation split.
    Candidate { arch: Arch },
    /// Sample `index` of a `rank` stage: its accuracy on the input supernets and stand-alone.
    RankSample { index: usize },
    /// A MnasNet child (`rl(space) { shared false }`): `arch` trained stand-alone for `epochs`, then
    /// scored on the validation split.
    MnasChild { arch: Arch, epochs: usize },
    /// Sub-supernet `index` of a `few_shot` stage: the input supernet's weights trained for
    /// `epochs` on the architectures whose first decisions are `prefix`.
    FewShotPart {
        index: usize,
        prefix: Vec<usize>,
        epochs: usize,
    },
    /// One trained model of a `retrain` (or fixed-network `train`) stage: member `member` of
    /// `members` with seed `seed`.
    Model {
        arch: Arch,
        member: usize,
        members: usize,
        seed: i64,
    },
}

/// A piece as written for a worker (`stages/<stage>/pieces/<name>.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Piece {
    pub stage: String,
    /// The piece's tag in the stage's `parts.jsonl`.
    pub tag: String,
    pub work: Work,
    /// `--data NAME=PATH` of the coordinating run.
    #[serde(default)]
    pub data_paths: BTreeMap<String, PathBuf>,
}

/// What a worker leaves for the coordinator (`<name>.result.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PieceResult {
    pub result: Json,
    /// The stage settings the piece applied (the stage's result lists them).
    pub settings_read: Vec<String>,
}

/// A worker's own error (`<name>.error.json`), turned into the coordinator's diagnostic.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PieceError {
    pub code: String,
    pub message: String,
    pub help: String,
}

/// `--device` text of a device (what `nasl worker --device` parses back).
pub fn device_text(d: Device) -> String {
    match d {
        Device::Cuda(n) => format!("cuda:{n}"),
        _ => "cpu".into(),
    }
}

/// The files of one piece, all in `stages/<stage>/pieces/`.
pub struct PieceFiles {
    pub spec: PathBuf,
    pub result: PathBuf,
    pub error: PathBuf,
    pub metrics: PathBuf,
    pub log: PathBuf,
    pub lock: PathBuf,
}

impl PieceFiles {
    pub fn of(root: &Path, stage: &str, tag: &str) -> PieceFiles {
        let name: String = tag
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-@".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let dir = root.join("stages").join(stage).join("pieces");
        let f = |ext: &str| dir.join(format!("{name}.{ext}"));
        PieceFiles {
            spec: f("json"),
            result: f("result.json"),
            error: f("error.json"),
            metrics: f("metrics.jsonl"),
            log: f("log"),
            lock: f("lock"),
        }
    }
}

/// The error of a piece whose worker left no result: its own error if it wrote one, else how it ended.
pub fn piece_failure(root: &Path, piece: &Piece, ended: &str) -> ExecError {
    let files = PieceFiles::of(root, &piece.stage, &piece.tag);
    let own: Option<PieceError> = fs::read_to_string(&files.error)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    let (message, help) = match own {
        Some(e) => (format!("{} [{}]", e.message, e.code), e.help),
        None => (
            format!("the worker {ended} without a result"),
            "read the end of the log for the cause".into(),
        ),
    };
    ExecError::Worker {
        stage: piece.stage.clone(),
        piece: piece.tag.clone(),
        message,
        help,
        log: files.log,
    }
}
