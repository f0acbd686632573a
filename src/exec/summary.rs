//! `summary.json`: one object per finished stage with its headline figures (long lists stay in
//! `state.json`).

use super::*;

/// The one-object-per-stage view of a result for `summary.json`.
pub(super) fn summary_of(stage: &Stage, result: &Json) -> Json {
    let mut m = serde_json::Map::new();
    m.insert("stage".into(), json!(stage.name));
    m.insert(
        "kind".into(),
        serde_json::to_value(stage.kind).unwrap_or(Json::Null),
    );
    if let Json::Object(r) = result {
        for (k, v) in r {
            // Long lists stay in state.json; the summary keeps the headline figures.
            if matches!(
                k.as_str(),
                "history"
                    | "candidates"
                    | "samples"
                    | "train"
                    | "finetune"
                    | "parts"
                    | "models"
                    | "final_probs"
            ) {
                continue;
            }
            m.insert(k.clone(), v.clone());
        }
    }
    Json::Object(m)
}

pub(super) fn write_summary(ctx: &Ctx, state: &RunState) -> Result<Json, ExecError> {
    let stages: Vec<Json> = state
        .done
        .iter()
        .filter_map(|d| {
            let stage = ctx.program.stages.iter().find(|s| s.name == d.name)?;
            Some(summary_of(stage, &d.result))
        })
        .collect();
    let summary = json!({
        "file": ctx.info.file,
        "seed": ctx.info.seed,
        "smoke": ctx.info.smoke,
        "device": format!("{:?}", ctx.device()),
        "threads": tch::get_num_threads(),
        "complete": state.done.len() == ctx.program.stages.len(),
        "stages": stages,
    });
    ctx.dir.write_json("summary.json", &summary)?;
    Ok(summary)
}
