//! The durable record of finished work inside a stage (`parts.jsonl`: one line per finished piece,
//! synced before it counts) and of finished stages' results, which is what makes a killed run resume
//! where it stopped.

use super::result::{ModelsOut, SearchOut, StageResult, SupernetOut};
use super::*;

impl Ctx {
    /// A piece of a stage done once: returns the recorded result if an earlier (interrupted) run
    /// finished it, otherwise computes it and records it in the stage's `parts.jsonl`.
    pub fn part<T: Serialize + for<'de> Deserialize<'de>>(
        &mut self,
        stage: &str,
        tag: &str,
        compute: impl FnOnce(&mut Ctx) -> Result<T, ExecError>,
    ) -> Result<T, ExecError> {
        let dir = self.dir.stage_dir(stage)?;
        let path = dir.join("parts.jsonl");
        let done = self
            .parts
            .entry(stage.to_string())
            .or_insert_with(|| read_parts(&path));
        if let Some(v) = done.get(tag)
            && let Ok(t) = serde_json::from_value(v.clone())
        {
            return Ok(t);
        }
        let value = compute(self)?;
        let result = serde_json::to_value(&value).map_err(|e| ExecError::io(&path, e))?;
        let line = json!({
            "tag": tag,
            "result": result,
            "metrics_len": self.dir.metrics_len(),
        });
        let mut f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| ExecError::io(&path, e))?;
        writeln!(f, "{line}")
            .and_then(|_| f.sync_data())
            .map_err(|e| ExecError::io(&path, e))?;
        if let Some(done) = self.parts.get_mut(stage) {
            done.insert(tag.to_string(), line["result"].clone());
        }
        Ok(value)
    }

    /// The result of an earlier stage.
    pub fn result_of(&self, stage: &str, reader: &str) -> Result<&StageResult, ExecError> {
        self.results.get(stage).ok_or_else(|| {
            ExecError::setting(
                reader,
                format!("stage `{stage}` has no result"),
                "stages run in order; the input must be an earlier stage",
            )
        })
    }

    /// The supernet weights an earlier stage holds (a trained supernet, or a differentiable or ENAS
    /// search's own).
    pub fn supernet_of(&self, stage: &str, reader: &str) -> Result<&SupernetOut, ExecError> {
        self.result_of(stage, reader)?
            .supernet()
            .ok_or_else(|| not_input(stage, reader, "a trained supernet"))
    }

    /// An earlier search's result.
    pub fn search_of(&self, stage: &str, reader: &str) -> Result<&SearchOut, ExecError> {
        self.result_of(stage, reader)?
            .search()
            .ok_or_else(|| not_input(stage, reader, "a search"))
    }

    /// An earlier stage's trained models.
    pub fn models_of(&self, stage: &str, reader: &str) -> Result<&ModelsOut, ExecError> {
        self.result_of(stage, reader)?
            .models()
            .ok_or_else(|| not_input(stage, reader, "trained models"))
    }
}

/// An input stage whose result is not what the reader takes (`nasl check` admits matching inputs
/// alone, so this is a bug reported rather than panicked on).
fn not_input(stage: &str, reader: &str, wanted: &str) -> ExecError {
    ExecError::setting(
        reader,
        format!("the result of `{stage}` is not {wanted}"),
        "report this: `nasl check` admitted an input this stage cannot read",
    )
}

/// Parts recorded in a stage's `parts.jsonl` (a torn last line is ignored).
pub(super) fn read_parts(path: &Path) -> BTreeMap<String, Json> {
    let mut out = BTreeMap::new();
    if let Ok(f) = fs::File::open(path) {
        for line in std::io::BufReader::new(f).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<Json>(&line)
                && let (Some(tag), Some(result)) =
                    (v.get("tag").and_then(Json::as_str), v.get("result"))
            {
                out.insert(tag.to_string(), result.clone());
            }
        }
    }
    out
}

/// The length of `metrics.jsonl` at the last durable event of a run: the largest `metrics_len` of
/// the state, checkpoint records and part records.
pub(super) fn durable_metrics_len(root: &Path, state: &RunState) -> u64 {
    let mut len = state.done.iter().map(|d| d.metrics_len).max().unwrap_or(0);
    let Ok(stages) = fs::read_dir(root.join("stages")) else {
        return len;
    };
    for stage in stages.flatten() {
        let Ok(files) = fs::read_dir(stage.path()) else {
            continue;
        };
        for f in files.flatten() {
            let p = f.path();
            let name = p
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .to_string();
            let text = if name.ends_with(".ckpt.json") || name == "parts.jsonl" {
                fs::read_to_string(&p).unwrap_or_default()
            } else {
                continue;
            };
            let values: Vec<Json> = if name == "parts.jsonl" {
                text.lines()
                    .filter_map(|l| serde_json::from_str(l).ok())
                    .collect()
            } else {
                serde_json::from_str(&text).into_iter().collect()
            };
            for v in values {
                if let Some(n) = v.get("metrics_len").and_then(Json::as_u64) {
                    len = len.max(n);
                }
            }
        }
    }
    len
}
