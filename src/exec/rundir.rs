//! The run directory: atomic file writes, the append-only `metrics.jsonl` (truncated back to the last
//! checkpoint on resume, so a resumed run leaves the same lines as a clean one), the run state that
//! records finished stages, and per-stage folders.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Seek, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::error::ExecError;

/// Writes `bytes` to `path` so that a reader (or a resumed run) sees the old file or the new one,
/// never a part: write a temporary file beside it, flush it to disk, rename it over `path`.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<(), ExecError> {
    crate::atomic::write(path, bytes).map_err(|e| ExecError::io(path, e))
}

/// What a run was started with; a resumed run keeps it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunInfo {
    /// The `.nas` file as given.
    pub file: PathBuf,
    /// Hash of the resolved pipeline: resuming with a changed pipeline is refused.
    pub pipeline_hash: String,
    pub seed: u64,
    pub smoke: bool,
    /// The dataset folders given with `--data` when the run started; a resumed run reads them too
    /// (a `--data` given to the resume overrides one of them).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data_paths: BTreeMap<String, PathBuf>,
}

/// The state of a run: the stages finished, with their results, in order.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunState {
    pub done: Vec<DoneStage>,
}

/// A finished stage: its result (what later stages read) and the length of `metrics.jsonl` when it
/// finished.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DoneStage {
    pub name: String,
    pub result: Json,
    pub metrics_len: u64,
}

/// An open run directory.
pub struct RunDir {
    pub root: PathBuf,
    metrics: File,
    /// Whether `metrics` is the run's `metrics.jsonl` (a worker's piece file is not: the checkpoints
    /// it writes record length 0, so they never hold back the cut of the run's file on resume).
    run_metrics: bool,
    /// A worker's piece: its tag (checkpoints record it with the piece file's length).
    piece: Option<String>,
    /// Held while this process uses the directory, so two runs never write into one folder.
    _lock: File,
}

/// The length of a piece's metrics file at the piece's last checkpoint: the largest
/// `piece_metrics_len` among the checkpoint records of `stage_dir` that the piece `tag` wrote.
fn piece_durable_len(stage_dir: &Path, tag: &str) -> u64 {
    let Ok(entries) = fs::read_dir(stage_dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".ckpt.json"))
        .filter_map(|e| fs::read_to_string(e.path()).ok())
        .filter_map(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .filter(|v| v["piece"].as_str() == Some(tag))
        .filter_map(|v| v["piece_metrics_len"].as_u64())
        .max()
        .unwrap_or(0)
}

/// Takes the run directory's lock (`run.lock`), or says which folder is busy.
fn lock(root: &Path) -> Result<File, ExecError> {
    let path = root.join("run.lock");
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| ExecError::io(&path, e))?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(std::fs::TryLockError::WouldBlock) => Err(ExecError::Busy {
            dir: root.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(ExecError::io(&path, e)),
    }
}

impl RunDir {
    /// Creates a new run directory; refuses one that already holds a run.
    pub fn create(root: &Path) -> Result<RunDir, ExecError> {
        if root.join("run.json").exists() {
            return Err(ExecError::Exists {
                dir: root.to_path_buf(),
            });
        }
        fs::create_dir_all(root.join("stages")).map_err(|e| ExecError::io(root, e))?;
        let lock = lock(root)?;
        if root.join("run.json").exists() {
            return Err(ExecError::Exists {
                dir: root.to_path_buf(),
            });
        }
        Self::open_metrics(root, Some(0), lock)
    }

    /// Opens an existing run directory, cutting `metrics.jsonl` back to `metrics_len` bytes.
    pub fn reopen(root: &Path, metrics_len: u64) -> Result<RunDir, ExecError> {
        let lock = lock(root)?;
        Self::open_metrics(root, Some(metrics_len), lock)
    }

    /// A worker's view of a run directory (`exec::pool`): metrics lines go to the piece's own file
    /// `metrics`, started afresh, which the coordinator appends to `metrics.jsonl` when it collects
    /// the piece; `lock` is the piece's lock (the coordinator holds the run's).
    pub fn for_piece(
        root: &Path,
        metrics: &Path,
        tag: &str,
        lock: File,
    ) -> Result<RunDir, ExecError> {
        // A restarted piece keeps the lines up to its last checkpoint (which continues from there)
        // and drops the rest, as a resumed run cuts `metrics.jsonl`; a piece never checkpointed
        // starts an empty file.
        let stage_dir = metrics.parent().and_then(Path::parent).unwrap_or(root);
        let durable = piece_durable_len(stage_dir, tag);
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(metrics)
            .map_err(|e| ExecError::io(metrics, e))?;
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        file.set_len(durable.min(len))
            .and_then(|_| file.seek(std::io::SeekFrom::End(0)))
            .map_err(|e| ExecError::io(metrics, e))?;
        Ok(RunDir {
            root: root.to_path_buf(),
            metrics: file,
            run_metrics: false,
            piece: Some(tag.to_string()),
            _lock: lock,
        })
    }

    /// The piece this directory writes for, and its metrics file's current length.
    pub fn piece_metrics(&self) -> Option<(String, u64)> {
        let tag = self.piece.clone()?;
        Some((tag, self.metrics.metadata().map(|m| m.len()).unwrap_or(0)))
    }

    fn open_metrics(
        root: &Path,
        truncate_to: Option<u64>,
        lock: File,
    ) -> Result<RunDir, ExecError> {
        let path = root.join("metrics.jsonl");
        let metrics = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| ExecError::io(&path, e))?;
        if let Some(len) = truncate_to {
            let have = metrics.metadata().map(|m| m.len()).unwrap_or(0);
            if have > len {
                metrics.set_len(len).map_err(|e| ExecError::io(&path, e))?;
            }
        }
        Ok(RunDir {
            root: root.to_path_buf(),
            metrics,
            run_metrics: true,
            piece: None,
            _lock: lock,
        })
    }

    /// Appends one JSON object as a line of `metrics.jsonl`.
    pub fn log(&mut self, line: Json) -> Result<(), ExecError> {
        let mut text = line.to_string();
        text.push('\n');
        let path = self.root.join("metrics.jsonl");
        self.metrics
            .write_all(text.as_bytes())
            .and_then(|_| self.metrics.flush())
            .map_err(|e| ExecError::io(&path, e))
    }

    /// Current length of `metrics.jsonl` in bytes (recorded by checkpoints).
    pub fn metrics_len(&self) -> u64 {
        if !self.run_metrics {
            return 0;
        }
        self.metrics.metadata().map(|m| m.len()).unwrap_or(0)
    }

    /// The folder of a stage, created if needed.
    pub fn stage_dir(&self, stage: &str) -> Result<PathBuf, ExecError> {
        let dir = self.root.join("stages").join(stage);
        fs::create_dir_all(&dir).map_err(|e| ExecError::io(&dir, e))?;
        Ok(dir)
    }

    pub fn write_json(&self, rel: &str, value: &impl Serialize) -> Result<(), ExecError> {
        let path = self.root.join(rel);
        let text = serde_json::to_string_pretty(value).map_err(|e| ExecError::io(&path, e))?;
        atomic_write(&path, text.as_bytes())
    }

    pub fn read_json<T: for<'de> Deserialize<'de>>(root: &Path, rel: &str) -> Result<T, ExecError> {
        let path = root.join(rel);
        let text = fs::read_to_string(&path).map_err(|e| ExecError::Resume {
            dir: root.to_path_buf(),
            message: format!("cannot read {}: {e}", path.display()),
            help: "point `--resume` at a folder made by `nasl run`".into(),
        })?;
        serde_json::from_str(&text).map_err(|e| ExecError::Resume {
            dir: root.to_path_buf(),
            message: format!("{} is damaged: {e}", path.display()),
            help: "start a new run; this one cannot be trusted".into(),
        })
    }
}

/// A fresh run directory name: `runs/<stem>`, then `runs/<stem>-2`, ...
pub fn default_out(file: &Path) -> PathBuf {
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "run".into());
    let base = PathBuf::from("runs");
    let mut n = 1;
    loop {
        let name = if n == 1 {
            stem.clone()
        } else {
            format!("{stem}-{n}")
        };
        let dir = base.join(name);
        if !dir.join("run.json").exists() {
            return dir;
        }
        n += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A restarted piece keeps its metrics lines up to its own last checkpoint and drops the rest; a
    /// piece whose fit checkpoint another piece wrote (an earlier rung) starts an empty file.
    #[test]
    fn a_restarted_piece_cuts_its_metrics_back_to_its_last_checkpoint() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let pieces = root.join("stages/s/pieces");
        fs::create_dir_all(&pieces).unwrap();
        let metrics = pieces.join("c@2.metrics.jsonl");
        let first = "{\"event\":\"step\",\"batch\":1}\n";
        fs::write(
            &metrics,
            format!("{first}{{\"event\":\"step\",\"batch\":2}}\n"),
        )
        .unwrap();
        let lock = || File::create(root.join("l")).unwrap();
        let record = |piece: &str, len: usize| {
            let v = serde_json::json!({"piece": piece, "piece_metrics_len": len, "metrics_len": 0});
            fs::write(root.join("stages/s/c.ckpt.json"), v.to_string()).unwrap();
        };

        record("c@2", first.len());
        let mut dir = RunDir::for_piece(root, &metrics, "c@2", lock()).unwrap();
        assert_eq!(fs::read_to_string(&metrics).unwrap(), first);
        dir.log(serde_json::json!({"event": "epoch"})).unwrap();
        assert_eq!(
            fs::read_to_string(&metrics).unwrap(),
            format!("{first}{{\"event\":\"epoch\"}}\n"),
            "appends after the kept lines"
        );
        assert_eq!(dir.piece_metrics().unwrap().0, "c@2");
        assert_eq!(dir.metrics_len(), 0, "the run's metrics are not this file");
        drop(dir);

        record("c@1", 1000);
        RunDir::for_piece(root, &metrics, "c@2", lock()).unwrap();
        assert_eq!(fs::read_to_string(&metrics).unwrap(), "");
    }
}
