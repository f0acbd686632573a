//! Reading a run directory for the report: `run.json` and `summary.json` (required), `state.json`
//! (full stage results), `metrics.jsonl` (torn or damaged lines are skipped and counted),
//! `pipeline.yaml`, and the pipeline re-checked from `pipeline.nas` for its spaces. What is missing
//! or damaged in optional files becomes a note on the page, never a panic.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use super::error::ReportError;
use crate::driver;
use crate::ir::SearchSpace;
use crate::source::FsLoader;

/// One run directory, read.
pub struct Run {
    pub dir: PathBuf,
    /// `run.json`: file, seed, smoke, pipeline hash.
    pub info: Json,
    /// `summary.json`: one object per finished stage, and the run's device, threads, seed.
    pub summary: Json,
    /// Full results by stage (`state.json`), with histories and candidate lists.
    pub results: BTreeMap<String, Json>,
    /// `metrics.jsonl`, line by line.
    pub metrics: Vec<Json>,
    /// `pipeline.yaml`, the resolved pipeline.
    pub pipeline: Option<serde_yaml::Value>,
    /// The pipeline's spaces, re-checked from `pipeline.nas`.
    pub spaces: Vec<(String, SearchSpace)>,
    /// Problems that did not stop the report (shown on the page).
    pub notes: Vec<String>,
}

fn read(path: &Path) -> Result<Option<String>, ReportError> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ReportError::Read {
            path: path.to_path_buf(),
            message: e.to_string(),
        }),
    }
}

fn parse_json(path: &Path, text: &str, help: &str) -> Result<Json, ReportError> {
    serde_json::from_str(text).map_err(|e| ReportError::Corrupt {
        path: path.to_path_buf(),
        message: format!("not valid JSON ({e})"),
        help: help.to_string(),
    })
}

const RERUN: &str = "the file was cut or edited; re-create it by resuming the run (`nasl run --resume DIR`) or start a new run";

impl Run {
    pub fn load(dir: &Path) -> Result<Run, ReportError> {
        if !dir.is_dir() {
            return Err(ReportError::Missing {
                dir: dir.to_path_buf(),
                file: "the folder".into(),
                help: "give the folder `nasl run` printed last (e.g. runs/quickstart)".into(),
            });
        }
        let info_path = dir.join("run.json");
        let info = match read(&info_path)? {
            Some(t) => parse_json(&info_path, &t, RERUN)?,
            None => {
                return Err(ReportError::Missing {
                    dir: dir.to_path_buf(),
                    file: "run.json".into(),
                    help: "`nasl run` writes run.json into every run directory; give the folder it printed (e.g. runs/quickstart)".into(),
                });
            }
        };
        if !info.is_object() {
            return Err(ReportError::Corrupt {
                path: info_path,
                message: "not a JSON object".into(),
                help: RERUN.into(),
            });
        }
        let summary_path = dir.join("summary.json");
        let summary = match read(&summary_path)? {
            Some(t) => parse_json(&summary_path, &t, RERUN)?,
            None => {
                return Err(ReportError::Missing {
                    dir: dir.to_path_buf(),
                    file: "summary.json".into(),
                    help: "the run has not finished a stage yet; let it finish, or continue it with `nasl run --resume DIR`".into(),
                });
            }
        };
        if !summary["stages"].is_array() {
            return Err(ReportError::Corrupt {
                path: summary_path,
                message: "it has no `stages` list".into(),
                help: RERUN.into(),
            });
        }
        let mut notes = Vec::new();
        let state_path = dir.join("state.json");
        let mut results = BTreeMap::new();
        if let Some(t) = read(&state_path)? {
            let state = parse_json(&state_path, &t, RERUN)?;
            for d in state["done"].as_array().into_iter().flatten() {
                if let Some(name) = d["name"].as_str() {
                    results.insert(name.to_string(), d["result"].clone());
                }
            }
        } else {
            notes.push("state.json is missing: candidate lists and per-epoch histories come from metrics.jsonl only".into());
        }
        let mut metrics = Vec::new();
        let mut damaged = 0usize;
        if let Some(t) = read(&dir.join("metrics.jsonl"))? {
            for line in t.lines().filter(|l| !l.trim().is_empty()) {
                match serde_json::from_str::<Json>(line) {
                    Ok(v) if v.is_object() => metrics.push(v),
                    _ => damaged += 1,
                }
            }
        } else {
            notes.push("metrics.jsonl is missing: no curves can be drawn".into());
        }
        if damaged > 0 {
            notes.push(format!(
                "{damaged} damaged line{} of metrics.jsonl skipped",
                if damaged == 1 { "" } else { "s" }
            ));
        }
        let pipeline = match read(&dir.join("pipeline.yaml"))? {
            Some(t) => match serde_yaml::from_str::<serde_yaml::Value>(&t) {
                Ok(v) => Some(v),
                Err(e) => {
                    notes.push(format!(
                        "pipeline.yaml is damaged ({e}); settings are not shown"
                    ));
                    None
                }
            },
            None => {
                notes.push("pipeline.yaml is missing; settings are not shown".into());
                None
            }
        };
        let mut spaces = Vec::new();
        let mut tried = vec![dir.join("pipeline.nas")];
        if let Some(f) = info["file"].as_str() {
            tried.push(PathBuf::from(f));
        }
        let mut why = String::new();
        for f in &tried {
            if !f.is_file() {
                continue;
            }
            let front = driver::check_file(f, &FsLoader);
            if !front.spaces.is_empty() {
                spaces = front.spaces;
                break;
            }
            why = format!("{} did not check cleanly", f.display());
        }
        if spaces.is_empty() {
            notes.push(if why.is_empty() {
                "pipeline.nas is missing: the search spaces' sizes are not shown".into()
            } else {
                format!("{why}: the search spaces' sizes are not shown")
            });
        }
        Ok(Run {
            dir: dir.to_path_buf(),
            info,
            summary,
            results,
            metrics,
            pipeline,
            spaces,
            notes,
        })
    }

    /// The finished stages' summary objects, in order.
    pub fn stages(&self) -> Vec<&Json> {
        self.summary["stages"]
            .as_array()
            .map(|a| a.iter().filter(|s| s.is_object()).collect())
            .unwrap_or_default()
    }

    /// A stage's full result (`state.json`), or its summary object when the state is missing.
    pub fn result<'a>(&'a self, stage: &'a Json) -> &'a Json {
        stage["stage"]
            .as_str()
            .and_then(|n| self.results.get(n))
            .unwrap_or(stage)
    }

    /// The metric lines of a stage with the given event.
    pub fn events<'a>(&'a self, stage: &'a str, event: &'a str) -> impl Iterator<Item = &'a Json> {
        self.metrics
            .iter()
            .filter(move |m| m["stage"] == stage && m["event"] == event)
    }

    /// A short name for the run: its folder's name.
    pub fn label(&self) -> String {
        self.dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.dir.display().to_string())
    }

    /// The space named `name` (or the only one).
    pub fn space(&self, name: Option<&str>) -> Option<&SearchSpace> {
        match name {
            Some(n) => self.spaces.iter().find(|(s, _)| s == n).map(|(_, s)| s),
            None if self.spaces.len() == 1 => Some(&self.spaces[0].1),
            None => None,
        }
    }
}
