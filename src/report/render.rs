//! The report's sections, built from a read run directory (`load::Run`): overview, pipeline,
//! training curves, searches, differentiable searches, ranking, the final architecture and the
//! exported model; and the comparison page of several runs. Sections a run has no data for are left
//! out (and out of the navigation).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::fs;

use serde_json::Value as Json;

use super::arch::{cell_edges, cell_svg, chain_layers, chain_svg};
use super::html::{
    base64, esc, figure, group, kv, note, num, page, pct, secs, section, short_label, si, table,
};
use super::load::Run;
use super::plot::{Axes, Series, lines, pareto_front, scatter};
use crate::cost::{inspect::inspect, net_cost};
use crate::ir::{Arch, SearchSpace, Shape, SpaceSpec};

fn f(v: &Json) -> Option<f64> {
    v.as_f64()
}

fn kind(s: &Json) -> &str {
    s["kind"].as_str().unwrap_or("")
}

fn name(s: &Json) -> &str {
    s["stage"].as_str().unwrap_or("?")
}

const TRAINING: &[&str] = &["train", "few_shot", "retrain", "differentiable"];
const SEARCH: &[&str] = &[
    "evolution",
    "random_search",
    "nsga2",
    "successive_halving",
    "rl",
    "hypernet",
];

/// A YAML value of `pipeline.yaml` as one line: tags of the resolved pipeline (`!int 4`,
/// `!call {name, args}`) are shown as written in a `.nas` file.
pub fn yaml_inline(v: &serde_yaml::Value) -> String {
    use serde_yaml::Value as Y;
    match v {
        Y::Null => "none".into(),
        Y::Bool(b) => b.to_string(),
        Y::Number(n) => match n.as_f64() {
            Some(v) if n.is_f64() && v == v.trunc() && v.abs() >= 1e4 => si(v),
            _ => n.to_string(),
        },
        Y::String(s) => s.clone(),
        Y::Sequence(items) => format!(
            "[{}]",
            items.iter().map(yaml_inline).collect::<Vec<_>>().join(", ")
        ),
        Y::Mapping(m) => {
            let parts: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{}: {}", yaml_inline(k), yaml_inline(v)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
        Y::Tagged(t) => {
            let tag = t.tag.to_string();
            let tag = tag.trim_start_matches('!');
            match (tag, &t.value) {
                ("call", Y::Mapping(m)) => {
                    let name = m.get("name").map(yaml_inline).unwrap_or_default();
                    let args: Vec<String> = match m.get("args") {
                        Some(Y::Mapping(a)) => a
                            .iter()
                            .map(|(k, v)| match v {
                                Y::Tagged(b)
                                    if b.tag.to_string().trim_start_matches('!') == "bool"
                                        && b.value == Y::Bool(true) =>
                                {
                                    yaml_inline(k)
                                }
                                _ => format!("{}: {}", yaml_inline(k), yaml_inline(v)),
                            })
                            .collect(),
                        _ => vec![],
                    };
                    if args.is_empty() {
                        name
                    } else {
                        format!("{name}({})", args.join(", "))
                    }
                }
                ("range", Y::Sequence(s)) if s.len() == 2 => {
                    format!("{}..{}", yaml_inline(&s[0]), yaml_inline(&s[1]))
                }
                // A comparison (`flops <= 8M`) reads as written.
                ("tuple", Y::Sequence(s))
                    if s.len() == 3
                        && matches!(s[1].as_str(), Some("<=" | "<" | ">=" | ">" | "==")) =>
                {
                    s.iter().map(yaml_inline).collect::<Vec<_>>().join(" ")
                }
                ("tuple", Y::Sequence(s)) => format!(
                    "({})",
                    s.iter().map(yaml_inline).collect::<Vec<_>>().join(", ")
                ),
                _ => yaml_inline(&t.value),
            }
        }
    }
}

/// One setting as written in a `.nas` file: `mutate 5, p: 0.25` rather than `mutate mutate(...)`,
/// `constraint flops <= 8M` rather than a list of one tuple.
fn setting_line(key: &str, v: &serde_yaml::Value) -> String {
    let text = match v.as_sequence() {
        Some(items) if !items.is_empty() && items.iter().all(|i| matches!(i, serde_yaml::Value::Tagged(t) if t.tag.to_string().trim_start_matches('!') == "tuple")) => {
            items.iter().map(yaml_inline).collect::<Vec<_>>().join(", ")
        }
        _ => yaml_inline(v),
    };
    match text
        .strip_prefix(key)
        .and_then(|t| t.strip_prefix('('))
        .and_then(|t| t.strip_suffix(')'))
    {
        Some(args) => format!("{key} {args}"),
        None => format!("{key} {text}"),
    }
}

/// Per stage name: its resolved settings as `key value` lines (from `pipeline.yaml`).
fn stage_settings(run: &Run) -> BTreeMap<String, Vec<String>> {
    use serde_yaml::Value as Y;
    let mut out = BTreeMap::new();
    let Some(p) = &run.pipeline else {
        return out;
    };
    for st in p
        .get("stages")
        .and_then(Y::as_sequence)
        .into_iter()
        .flatten()
    {
        let Some(n) = st.get("name").and_then(Y::as_str) else {
            continue;
        };
        let mut lines = Vec::new();
        if let Some(Y::Mapping(m)) = st.get("settings") {
            for (k, v) in m {
                lines.push(setting_line(&yaml_inline(k), v));
            }
        }
        // Other fields a stage may carry (typed settings), shown the same way.
        if let Y::Mapping(m) = st {
            for (k, v) in m {
                let key = yaml_inline(k);
                if matches!(
                    key.as_str(),
                    "name" | "kind" | "settings" | "inputs" | "data" | "space"
                ) || v.is_null()
                {
                    continue;
                }
                lines.push(format!("{key} {}", yaml_inline(v)));
            }
        }
        out.insert(n.to_string(), lines);
    }
    out
}

/// A stage input of `pipeline.yaml` as written in the file: `net`, `search.best`, `fmnist.test`.
fn input_text(v: &serde_yaml::Value) -> String {
    use serde_yaml::Value as Y;
    let Y::Tagged(t) = v else {
        return yaml_inline(v);
    };
    let field = |k: &str| t.value.get(k).and_then(Y::as_str).map(str::to_string);
    match t.tag.to_string().trim_start_matches('!') {
        "stage" => match (field("stage"), field("field")) {
            (Some(s), Some(f)) => format!("{s}.{f}"),
            (Some(s), None) => s,
            _ => yaml_inline(&t.value),
        },
        "data" => match (field("dataset"), field("split")) {
            (Some(d), Some(s)) => format!("{d}.{s}"),
            _ => yaml_inline(&t.value),
        },
        _ => yaml_inline(&t.value),
    }
}

/// Per stage name: its inputs as written (`search.best, fmnist.test`).
fn stage_inputs(run: &Run) -> BTreeMap<String, String> {
    use serde_yaml::Value as Y;
    let Some(p) = &run.pipeline else {
        return BTreeMap::new();
    };
    p.get("stages")
        .and_then(Y::as_sequence)
        .into_iter()
        .flatten()
        .filter_map(|s| {
            let ins: Vec<String> = s
                .get("inputs")?
                .as_sequence()?
                .iter()
                .map(input_text)
                .collect();
            Some((s.get("name")?.as_str()?.to_string(), ins.join(", ")))
        })
        .collect()
}

/// The resolved stages in declaration order: (name, kind), from `pipeline.yaml`.
fn declared_stages(run: &Run) -> Vec<(String, String)> {
    use serde_yaml::Value as Y;
    let Some(p) = &run.pipeline else {
        return vec![];
    };
    p.get("stages")
        .and_then(Y::as_sequence)
        .into_iter()
        .flatten()
        .filter_map(|s| {
            Some((
                s.get("name")?.as_str()?.to_string(),
                s.get("kind").map(yaml_inline).unwrap_or_default(),
            ))
        })
        .collect()
}

fn card(label: &str, value: &str) -> String {
    format!(
        "<div class=\"card\"><div class=\"label\">{}</div><div class=\"big\">{}</div></div>",
        esc(label),
        esc(value)
    )
}

fn total_seconds(run: &Run) -> f64 {
    run.stages().iter().filter_map(|s| f(&s["seconds"])).sum()
}

/// The test accuracy of the run (the last `evaluate` stage).
fn test_accuracy(run: &Run) -> Option<f64> {
    run.stages()
        .iter()
        .rev()
        .find(|s| kind(s) == "evaluate")
        .and_then(|s| f(&s["test_accuracy"]).or_else(|| f(&s["accuracy"])))
}

/// The last search (or differentiable) stage.
fn last_search(run: &Run) -> Option<&Json> {
    run.stages()
        .into_iter()
        .rev()
        .find(|s| SEARCH.contains(&kind(s)) || kind(s) == "differentiable")
}

fn device_text(run: &Run) -> String {
    let d = run.summary["device"].as_str().unwrap_or("unknown");
    let mut s = d
        .to_lowercase()
        .replace(['(', ')'], " ")
        .trim()
        .replace(' ', ":");
    if let Some(t) = run.summary["threads"].as_u64() {
        let _ = write!(s, ", {t} thread{}", if t == 1 { "" } else { "s" });
    }
    s
}

fn overview(run: &Run) -> String {
    let mut b = String::from("<div class=\"cards\">");
    if let Some(a) = test_accuracy(run) {
        b.push_str(&card("test accuracy", &pct(a)));
    }
    if let Some(s) = last_search(run) {
        if let Some(a) = f(&s["accuracy"]) {
            b.push_str(&card(&format!("best val accuracy ({})", name(s)), &pct(a)));
        }
        if let Some(p) = s["params"].as_u64() {
            b.push_str(&card("params", &si(p as f64)));
        }
        if let Some(m) = s["macs"].as_u64() {
            b.push_str(&card("MACs", &si(m as f64)));
        }
    }
    b.push_str(&card("wall time", &secs(total_seconds(run))));
    b.push_str("</div>");
    let complete = run.summary["complete"].as_bool().unwrap_or(false);
    let done = run.stages().len();
    let declared = declared_stages(run).len().max(done);
    b.push_str(&kv(&[
        (
            "pipeline",
            format!(
                "<code>{}</code>",
                esc(run.info["file"].as_str().unwrap_or("?"))
            ),
        ),
        (
            "run directory",
            format!("<code>{}</code>", esc(&run.dir.display().to_string())),
        ),
        ("seed", esc(&run.info["seed"].to_string())),
        ("device", esc(&device_text(run))),
        (
            "mode",
            if run.info["smoke"] == true {
                "smoke run (a few batches per stage, tiny searches)".into()
            } else {
                "full run".into()
            },
        ),
        (
            "stages",
            format!(
                "{done} of {declared} finished{}",
                if complete { "" } else { " (incomplete)" }
            ),
        ),
    ]));
    for n in &run.notes {
        b.push_str(&note("warn", &esc(n)));
    }
    section("overview", "Overview", &b)
}

fn pipeline(run: &Run) -> String {
    let settings = stage_settings(run);
    let inputs = stage_inputs(run);
    let finished: BTreeMap<&str, &Json> = run.stages().into_iter().map(|s| (name(s), s)).collect();
    let mut order = declared_stages(run);
    for s in run.stages() {
        if !order.iter().any(|(n, _)| n == name(s)) {
            order.push((name(s).to_string(), kind(s).to_string()));
        }
    }
    let mut rows = Vec::new();
    for (i, (n, k)) in order.iter().enumerate() {
        let set = settings
            .get(n)
            .map(|l| {
                let items: String = l
                    .iter()
                    .map(|x| format!("<li><code>{}</code></li>", esc(x)))
                    .collect();
                format!("<ul class=\"settings\">{items}</ul>")
            })
            .unwrap_or_default();
        let (time, status) = match finished.get(n.as_str()) {
            Some(s) => (
                f(&s["seconds"]).map(secs).unwrap_or_default(),
                match s["ignored_settings"].as_array() {
                    Some(ig) if !ig.is_empty() => format!(
                        "done; not applied: {}",
                        esc(&ig
                            .iter()
                            .filter_map(Json::as_str)
                            .collect::<Vec<_>>()
                            .join(", "))
                    ),
                    _ => "done".into(),
                },
            ),
            None => (String::new(), "not run".into()),
        };
        rows.push(vec![
            (i + 1).to_string(),
            format!("<b>{}</b>", esc(n)),
            match inputs.get(n) {
                Some(ins) if !ins.is_empty() => format!("{}({})", esc(k), esc(ins)),
                _ => esc(k),
            },
            set,
            time,
            status,
        ]);
    }
    let mut b = table(
        &[
            "#",
            "stage",
            "kind (inputs)",
            "settings (resolved)",
            "wall time",
            "status",
        ],
        &rows,
    );
    let _ = write!(
        b,
        "<p>Seed {}, device {}; total wall time {}.</p>",
        esc(&run.info["seed"].to_string()),
        esc(&device_text(run)),
        secs(total_seconds(run))
    );
    if !run.spaces.is_empty() {
        b.push_str("<h3>Search spaces</h3>");
        let mut rows = Vec::new();
        for (n, sp) in &run.spaces {
            match inspect(sp, None) {
                Ok(r) => rows.push(vec![
                    format!("<b>{}</b>", esc(n)),
                    esc(&r.kind),
                    format!("{}x{}x{}", r.input[0], r.input[1], r.input[2]),
                    r.decisions.to_string(),
                    esc(&r.cardinality),
                    format!(
                        "{} .. {}",
                        group(r.cost.params.min),
                        group(r.cost.params.max)
                    ),
                    group(r.cost.supernet_params),
                    format!("{} .. {}", group(r.cost.macs.min), group(r.cost.macs.max)),
                ]),
                Err(e) => rows.push(vec![esc(n), esc(&e.to_string())]),
            }
        }
        b.push_str(&table(
            &[
                "space",
                "kind",
                "input",
                "decisions",
                "architectures",
                "params",
                "supernet params",
                "MACs",
            ],
            &rows,
        ));
    }
    section("pipeline", "Pipeline", &b)
}

/// Per-epoch series of a training stage: (tag, [(epoch, line)]).
fn epoch_series<'a>(run: &'a Run, stage: &'a str) -> Vec<(String, Vec<&'a Json>)> {
    let mut by_tag: Vec<(String, Vec<&Json>)> = Vec::new();
    for e in run.events(stage, "epoch") {
        let tag = e["tag"].as_str().unwrap_or("").to_string();
        match by_tag.iter_mut().find(|(t, _)| *t == tag) {
            Some((_, v)) => v.push(e),
            None => by_tag.push((tag, vec![e])),
        }
    }
    by_tag
}

fn curve_series(tags: &[(String, Vec<&Json>)], key: &str, suffix: &str) -> Vec<Series> {
    tags.iter()
        .filter_map(|(tag, lines)| {
            let pts: Vec<(f64, f64)> = lines
                .iter()
                .filter_map(|l| Some((f(&l["epoch"])?, f(&l[key])?)))
                .collect();
            if pts.is_empty() {
                return None;
            }
            let label = if tags.len() == 1 || tag.is_empty() {
                suffix.trim().to_string()
            } else {
                format!("{tag}{suffix}")
            };
            Some(Series::new(label, pts))
        })
        .collect()
}

fn training(run: &Run) -> Option<String> {
    let mut b = String::new();
    for s in run.stages() {
        if !TRAINING.contains(&kind(s)) {
            continue;
        }
        let n = name(s);
        let tags = epoch_series(run, n);
        if tags.is_empty() {
            continue;
        }
        let _ = write!(
            b,
            "<h3 id=\"train-{}\">{} <small>({})</small></h3>",
            esc(n),
            esc(n),
            esc(kind(s))
        );
        let mut loss = curve_series(&tags, "loss", " train");
        loss.extend(curve_series(&tags, "val_loss", " val"));
        let mut acc = curve_series(&tags, "accuracy", " train");
        acc.extend(curve_series(&tags, "val_accuracy", " val"));
        b.push_str("<div class=\"figs\">");
        let epochs = tags.iter().map(|(_, l)| l.len()).max().unwrap_or(0);
        b.push_str(&figure(
            &lines(
                &Axes {
                    title: &format!("{n}: loss per epoch"),
                    x: "epoch",
                    y: "cross-entropy",
                    x_si: false,
                    y_pct: false,
                },
                &loss,
            ),
            &format!(
                "Mean training loss of each epoch ({epochs} epoch{}{}).",
                if epochs == 1 { "" } else { "s" },
                if tags.len() > 1 {
                    format!(", {} runs", tags.len())
                } else {
                    String::new()
                }
            ),
        ));
        b.push_str(&figure(
            &lines(
                &Axes { title: &format!("{n}: accuracy per epoch"), x: "epoch", y: "accuracy", x_si: false, y_pct: true },
                &acc,
            ),
            "Training accuracy of each epoch (on the augmented training batches, while the weights change).",
        ));
        b.push_str("</div>");
        let r = run.result(s);
        let mut rows: Vec<(&str, String)> = vec![];
        if let Some(v) = f(&s["final_loss"]) {
            rows.push(("final training loss", num(v)));
        }
        if let Some(v) = f(&s["final_accuracy"]) {
            rows.push(("final training accuracy", pct(v)));
        }
        let vals: Vec<String> = r["models"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| {
                Some(format!(
                    "seed {}: {}",
                    m["seed"],
                    pct(f(&m["val_accuracy"])?)
                ))
            })
            .collect();
        if !vals.is_empty() {
            rows.push(("validation accuracy (end)", esc(&vals.join(", "))));
        }
        if let Some(p) = s["supernet_params"].as_u64().or(s["params"].as_u64()) {
            rows.push(("params", group(p)));
        }
        if let Some(v) = f(&s["train_seconds"])
            .or(f(&s["search_seconds"]))
            .or(f(&s["seconds"]))
        {
            rows.push(("training time", secs(v)));
        }
        b.push_str(&kv(&rows));
    }
    (!b.is_empty()).then(|| section("training", "Training", &b))
}

/// A search's candidates: (accuracy, params, macs, latency) from `state.json`, else the metrics.
fn candidates(run: &Run, s: &Json) -> Vec<(f64, f64, f64, Option<f64>)> {
    let r = run.result(s);
    let row = |c: &Json| -> Option<(f64, f64, f64, Option<f64>)> {
        Some((
            f(&c["accuracy"])?,
            f(&c["params"])?,
            f(&c["macs"])?,
            f(&c["latency"]).or_else(|| f(&c["latency_ms"])),
        ))
    };
    if let Some(list) = r["candidates"].as_array() {
        return list.iter().filter_map(row).collect();
    }
    // From the metrics: the last line of each architecture (successive halving re-scores survivors).
    let mut by_arch: BTreeMap<String, &Json> = BTreeMap::new();
    for e in run.events(name(s), "candidate") {
        by_arch.insert(e["arch"].to_string(), e);
    }
    by_arch.values().filter_map(|c| row(c)).collect()
}

fn arch_html(a: &Json) -> String {
    match a.as_object() {
        Some(m) if !m.is_empty() => {
            let absent = |v: &Json| matches!(v.as_str(), Some("none" | "zero"));
            let dropped = m.values().filter(|v| absent(v)).count();
            let mut items: Vec<String> = m
                .iter()
                .filter(|(_, v)| !absent(v))
                .map(|(k, v)| {
                    let v = v
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string());
                    format!(
                        "{}: <b title=\"{}\">{}</b>",
                        esc(k),
                        esc(&v),
                        esc(&short_label(&v))
                    )
                })
                .collect();
            if dropped > 0 {
                items.push(format!("<i>({dropped} edges chose none)</i>"));
            }
            format!("<code>{}</code>", items.join("<br>"))
        }
        _ => "<i>(fixed network)</i>".into(),
    }
}

fn search(run: &Run) -> Option<String> {
    let mut b = String::new();
    for s in run.stages() {
        if !SEARCH.contains(&kind(s)) {
            continue;
        }
        let n = name(s);
        let r = run.result(s);
        let _ = write!(
            b,
            "<h3 id=\"search-{}\">{} <small>({})</small></h3>",
            esc(n),
            esc(n),
            esc(kind(s))
        );
        b.push_str("<div class=\"cards\">");
        if let Some(a) = f(&s["accuracy"]) {
            b.push_str(&card("best val accuracy", &pct(a)));
        }
        if let Some(p) = f(&s["params"]) {
            b.push_str(&card("its params", &si(p)));
        }
        if let Some(m) = f(&s["macs"]) {
            b.push_str(&card("its MACs", &si(m)));
        }
        if let Some(e) = s["evaluated"].as_u64() {
            b.push_str(&card("candidates evaluated", &e.to_string()));
        }
        b.push_str("</div>");
        let cands = candidates(run, s);
        let best = match (f(&s["macs"]), f(&s["accuracy"])) {
            (Some(m), Some(a)) => Some((m, a)),
            _ => None,
        };
        b.push_str("<div class=\"figs\">");
        if !cands.is_empty() {
            let pts: Vec<(f64, f64)> = cands.iter().map(|c| (c.2, c.0)).collect();
            let front = Series::new("Pareto front", pareto_front(&pts));
            b.push_str(&figure(
                &scatter(
                    &Axes { title: &format!("{n}: accuracy vs MACs"), x: "MACs", y: "val accuracy", x_si: true, y_pct: true },
                    &[Series::new("candidates", pts)],
                    Some(&front),
                    best,
                ),
                &format!("Each of the {} distinct candidates evaluated (validation accuracy {}); the red line joins the Pareto front (no candidate is both smaller and more accurate), the ring marks the chosen one.", cands.len(), match (kind(s), s["mode"].as_str()) { ("successive_halving", _) => "at its last rung", ("rl", Some(m)) if m.starts_with("stand-alone") => "after its proxy training", ("hypernet", _) => "with generated weights", _ => "on the supernet" }),
            ));
            let pts: Vec<(f64, f64)> = cands.iter().map(|c| (c.1, c.0)).collect();
            let best_p = match (f(&s["params"]), f(&s["accuracy"])) {
                (Some(p), Some(a)) => Some((p, a)),
                _ => None,
            };
            b.push_str(&figure(
                &scatter(
                    &Axes {
                        title: &format!("{n}: accuracy vs params"),
                        x: "params",
                        y: "val accuracy",
                        x_si: true,
                        y_pct: true,
                    },
                    &[Series::new("candidates", pts.clone())],
                    Some(&Series::new("Pareto front", pareto_front(&pts))),
                    best_p,
                ),
                "The same candidates against their parameter count.",
            ));
            let lat: Vec<(f64, f64)> = cands.iter().filter_map(|c| Some((c.3?, c.0))).collect();
            if !lat.is_empty() {
                b.push_str(&figure(
                    &scatter(
                        &Axes {
                            title: &format!("{n}: accuracy vs latency"),
                            x: "latency (ms)",
                            y: "val accuracy",
                            x_si: false,
                            y_pct: true,
                        },
                        &[Series::new("candidates", lat.clone())],
                        Some(&Series::new("Pareto front", pareto_front(&lat))),
                        None,
                    ),
                    "Candidates against their measured or predicted latency.",
                ));
            }
        }
        if let Some(gens) = r["generations"].as_array().filter(|g| !g.is_empty()) {
            let pick = |k: &str| -> Vec<(f64, f64)> {
                gens.iter()
                    .filter_map(|g| Some((f(&g["generation"])?, f(&g[k])?)))
                    .collect()
            };
            b.push_str(&figure(
                &lines(
                    &Axes { title: &format!("{n}: best per generation"), x: "generation", y: "score", x_si: false, y_pct: r["objective"].as_str().is_some_and(|o| o.ends_with("accuracy")) },
                    &[Series::new("best so far", pick("best_so_far")), Series::new("best of the generation", pick("best"))],
                ),
                &format!("Evolution over {} generations: the best score ({}) among the new candidates of each generation, and the best seen so far.", gens.len(), esc(r["objective"].as_str().unwrap_or("objective"))),
            ));
        }
        let rung_lines: Vec<&Json> = run
            .events(n, "candidate")
            .filter(|e| e["rung"].is_number())
            .collect();
        if !rung_lines.is_empty() {
            let mut rungs: BTreeMap<u64, Vec<&Json>> = BTreeMap::new();
            for e in &rung_lines {
                rungs
                    .entry(e["rung"].as_u64().unwrap_or(0))
                    .or_default()
                    .push(e);
            }
            let groups: Vec<Series> = rungs
                .iter()
                .map(|(r, es)| {
                    let ep = es.first().and_then(|e| e["epochs"].as_u64()).unwrap_or(0);
                    Series::new(
                        format!("rung {r} ({ep} epoch{})", if ep == 1 { "" } else { "s" }),
                        es.iter()
                            .filter_map(|e| Some((f(&e["epochs"])?, f(&e["accuracy"])?)))
                            .collect(),
                    )
                })
                .collect();
            b.push_str(&figure(
                &scatter(
                    &Axes { title: &format!("{n}: rungs of successive halving"), x: "training epochs", y: "val accuracy", x_si: false, y_pct: true },
                    &groups,
                    None,
                    None,
                ),
                "Each rung trains the survivors of the previous one for more epochs; the best fraction survives.",
            ));
            b.push_str("</div>");
            let keys: Vec<u64> = rungs.keys().copied().collect();
            let rows: Vec<Vec<String>> = keys
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let es = &rungs[r];
                    let survivors = keys
                        .get(i + 1)
                        .map(|k| rungs[k].len().to_string())
                        .unwrap_or_else(|| "winner: 1".into());
                    let best = es
                        .iter()
                        .filter_map(|e| f(&e["accuracy"]))
                        .fold(f64::NAN, f64::max);
                    vec![
                        r.to_string(),
                        es.first()
                            .map(|e| e["epochs"].to_string())
                            .unwrap_or_default(),
                        es.len().to_string(),
                        survivors,
                        pct(best),
                    ]
                })
                .collect();
            b.push_str(&table(
                &[
                    "rung",
                    "epochs",
                    "candidates",
                    "survivors",
                    "best val accuracy",
                ],
                &rows,
            ));
        } else {
            b.push_str("</div>");
        }
        b.push_str("<p>Chosen architecture:</p>");
        b.push_str(&arch_html(&s["best"]));
        if let Some(rc) = s["recalibration"].as_object() {
            b.push_str(&kv(&[
                (
                    "BN recalibration",
                    format!(
                        "{} images",
                        esc(&rc.get("images").map(|v| v.to_string()).unwrap_or_default())
                    ),
                ),
                (
                    "best, without recalibration",
                    rc.get("best_accuracy_without")
                        .and_then(Json::as_f64)
                        .map(pct)
                        .unwrap_or_default(),
                ),
                (
                    "best, with recalibration",
                    rc.get("best_accuracy_with")
                        .and_then(Json::as_f64)
                        .map(pct)
                        .unwrap_or_default(),
                ),
            ]));
        }
        if let Some(top) = s["top"].as_array().filter(|t| !t.is_empty()) {
            let rows: Vec<Vec<String>> = top
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    vec![
                        (i + 1).to_string(),
                        arch_html(&c["arch"]),
                        f(&c["accuracy"]).map(pct).unwrap_or_default(),
                        f(&c["params"]).map(|p| group(p as u64)).unwrap_or_default(),
                        f(&c["macs"]).map(|m| group(m as u64)).unwrap_or_default(),
                    ]
                })
                .collect();
            b.push_str("<details><summary>Top candidates</summary>");
            b.push_str(&table(
                &["#", "architecture", "val accuracy", "params", "MACs"],
                &rows,
            ));
            b.push_str("</details>");
        }
        if let Some(front) = s["pareto"].as_array().filter(|p| !p.is_empty()) {
            let rows: Vec<Vec<String>> = front
                .iter()
                .map(|c| {
                    vec![
                        arch_html(&c["arch"]),
                        f(&c["accuracy"]).map(pct).unwrap_or_default(),
                        f(&c["params"]).map(|p| group(p as u64)).unwrap_or_default(),
                        f(&c["macs"]).map(|m| group(m as u64)).unwrap_or_default(),
                    ]
                })
                .collect();
            b.push_str("<p>NSGA-II's final front:</p>");
            b.push_str(&table(
                &["architecture", "val accuracy", "params", "MACs"],
                &rows,
            ));
        }
    }
    (!b.is_empty()).then(|| section("search", "Search", &b))
}

fn differentiable(run: &Run) -> Option<String> {
    let mut b = String::new();
    for s in run.stages() {
        if kind(s) != "differentiable" {
            continue;
        }
        let n = name(s);
        let _ = write!(b, "<h3 id=\"diff-{}\">{}</h3>", esc(n), esc(n));
        b.push_str(&kv(&[
            ("relaxation", esc(s["relax"].as_str().unwrap_or("?"))),
            ("level", esc(s["level"].as_str().unwrap_or("?"))),
            ("derivation", esc(s["derive"].as_str().unwrap_or("?"))),
            (
                "search time",
                f(&s["search_seconds"]).map(secs).unwrap_or_default(),
            ),
        ]));
        match s["trajectory"]["svg"].as_str() {
            Some(rel) if !rel.contains("..") => match fs::read(run.dir.join(rel)) {
                Ok(bytes) => b.push_str(&figure(
                    &format!("<img alt=\"architecture distribution of {}\" src=\"data:image/svg+xml;base64,{}\">", esc(n), base64(&bytes)),
                    &format!("The probability of each option of each decision after every epoch (<code>{}</code>).", esc(rel)),
                )),
                Err(e) => b.push_str(&note("warn", &esc(&format!("{rel}: {e}")))),
            },
            _ => b.push_str(&note("warn", "the stage recorded no trajectory plot")),
        }
        let r = run.result(s);
        if let Some(probs) = r["final_probs"].as_object() {
            let sp = run.space(s["space"].as_str());
            let rows: Vec<Vec<String>> = probs
                .iter()
                .map(|(path, ps)| {
                    let ps: Vec<f64> = ps
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Json::as_f64)
                        .collect();
                    let labels = sp
                        .and_then(|sp| sp.decisions.iter().find(|d| &d.path == path))
                        .map(|d| d.labels.clone())
                        .unwrap_or_default();
                    let cells: Vec<String> = ps
                        .iter()
                        .enumerate()
                        .map(|(i, p)| {
                            format!(
                                "{} {:.2}",
                                labels
                                    .get(i)
                                    .map(|l| short_label(l))
                                    .unwrap_or_else(|| format!("#{i}")),
                                p
                            )
                        })
                        .collect();
                    vec![esc(path), esc(&cells.join(", "))]
                })
                .collect();
            b.push_str("<details><summary>Final distribution per decision</summary>");
            b.push_str(&table(&["decision", "options"], &rows));
            b.push_str("</details>");
        }
        b.push_str("<p>Derived architecture:</p>");
        b.push_str(&arch_html(&s["best"]));
    }
    (!b.is_empty()).then(|| section("differentiable", "Differentiable search", &b))
}

fn rank(run: &Run) -> Option<String> {
    let mut b = String::new();
    for s in run.stages() {
        if kind(s) != "rank" {
            continue;
        }
        let n = name(s);
        let r = run.result(s);
        let mut pts: Vec<(f64, f64)> = r["samples"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| Some((f(&x["supernet_accuracy"])?, f(&x["standalone_accuracy"])?)))
            .collect();
        if pts.is_empty() {
            pts = run
                .events(n, "rank_sample")
                .filter_map(|x| Some((f(&x["supernet_accuracy"])?, f(&x["standalone_accuracy"])?)))
                .collect();
        }
        let _ = write!(b, "<h3 id=\"rank-{}\">{}</h3>", esc(n), esc(n));
        let show = |v: &Json| {
            f(v).map(|x| format!("{x:.3}"))
                .unwrap_or_else(|| "undefined".into())
        };
        // A figure with its 95% bootstrap interval, when the stage measured one.
        let with_ci = |v: &Json, ci: &Json| match (f(&ci[0]), f(&ci[1])) {
            (Some(lo), Some(hi)) => format!("{} [{lo:.2}, {hi:.2}]", show(v)),
            _ => show(v),
        };
        b.push_str("<div class=\"cards\">");
        b.push_str(&card(
            "Kendall tau",
            &with_ci(&s["kendall_tau"], &s["kendall_tau_ci"]),
        ));
        b.push_str(&card(
            "Spearman rho",
            &with_ci(&s["spearman_rho"], &s["spearman_rho_ci"]),
        ));
        let ceiling = &s["ceiling"];
        if ceiling.is_object() {
            b.push_str(&card(
                "seed-to-seed tau (ceiling)",
                &with_ci(
                    &ceiling["kendall_tau"]["value"],
                    &ceiling["kendall_tau"]["ci"],
                ),
            ));
        }
        b.push_str(&card(
            "architectures",
            &s["architectures"]
                .as_u64()
                .map(|a| a.to_string())
                .unwrap_or_else(|| pts.len().to_string()),
        ));
        b.push_str("</div>");
        // Every supernet ranked on the same architectures, next to the seed-to-seed ceiling.
        let row = |who: String, m: &Json| {
            vec![
                esc(&who),
                with_ci(&m["kendall_tau"]["value"], &m["kendall_tau"]["ci"]),
                with_ci(&m["spearman_rho"]["value"], &m["spearman_rho"]["ci"]),
            ]
        };
        let mut rows: Vec<Vec<String>> = s["supernets"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| row(m["supernet"].as_str().unwrap_or("?").to_string(), m))
            .collect();
        if ceiling.is_object() {
            let seeds = s["seeds"].as_array().map_or(0, Vec::len);
            rows.push(row(
                format!("seed-to-seed, {seeds} seeds (ceiling)"),
                ceiling,
            ));
        }
        if !rows.is_empty() {
            b.push_str(&table(
                &[
                    "against stand-alone",
                    "Kendall tau [95% CI]",
                    "Spearman rho [95% CI]",
                ],
                &rows,
            ));
        }
        b.push_str(&figure(
            &scatter(
                &Axes { title: &format!("{n}: supernet vs stand-alone"), x: "supernet val accuracy", y: "stand-alone val accuracy", x_si: false, y_pct: false },
                &[Series::new("architectures", pts)],
                None,
                None,
            ),
            &format!(
                "Each sampled architecture's validation accuracy with the (first) supernet's shared weights against the same architecture trained alone ({} epochs, mean over seeds); a good supernet ranks them alike. Intervals: 95% bootstrap over the architectures.",
                esc(&s["standalone_epochs"].to_string())
            ),
        ));
    }
    (!b.is_empty()).then(|| section("rank", "Supernet ranking", &b))
}

/// The final architecture: `model/space.json` + `model/arch.yaml`, else the last search's best in
/// its space.
fn final_arch(run: &Run) -> Result<(SearchSpace, Arch, String), String> {
    let m = run.dir.join("model");
    if let (Ok(space), Ok(arch)) = (
        fs::read_to_string(m.join("space.json")),
        fs::read_to_string(m.join("arch.yaml")),
    ) {
        let spec: SpaceSpec = serde_json::from_str(&space)
            .map_err(|e| format!("model/space.json is damaged: {e}"))?;
        let sp = SearchSpace::new(spec).map_err(|e| format!("model/space.json: {e}"))?;
        let arch = Arch::from_yaml(&arch).map_err(|e| format!("model/arch.yaml: {e}"))?;
        return Ok((sp, arch, "model/".into()));
    }
    let s = last_search(run).ok_or("the run has no exported model and no search")?;
    let text = fs::read_to_string(run.dir.join("best.arch.yaml"))
        .map_err(|e| format!("best.arch.yaml: {e}"))?;
    let arch = Arch::from_yaml(&text).map_err(|e| format!("best.arch.yaml: {e}"))?;
    let sp = run
        .space(s["space"].as_str())
        .ok_or("the search's space could not be rebuilt from pipeline.nas")?;
    let sp = SearchSpace::new(sp.spec.clone()).map_err(|e| e.to_string())?;
    Ok((sp, arch, "best.arch.yaml".into()))
}

fn architecture(run: &Run) -> Option<String> {
    let (sp, arch, from) = match final_arch(run) {
        Ok(x) => x,
        Err(e) => {
            return Some(section(
                "architecture",
                "Final architecture",
                &note("warn", &esc(&e)),
            ));
        }
    };
    let mut b = String::new();
    let net = match sp.net(&arch) {
        Ok(n) => n,
        Err(e) => {
            return Some(section(
                "architecture",
                "Final architecture",
                &note("warn", &esc(&format!("{from}: {e}"))),
            ));
        }
    };
    let cost = net_cost(&net);
    let _ = write!(
        b,
        "<p>From <code>{}</code>: {} params, {} MACs.</p>",
        esc(&from),
        group(cost.params),
        group(cost.macs),
    );
    match &sp.spec {
        SpaceSpec::Chain(c) => {
            let input = Shape::Map {
                c: c.input[0],
                h: c.input[1],
                w: c.input[2],
            };
            let layers = chain_layers(&sp, &net);
            b.push_str("<div class=\"figs\">");
            b.push_str(&figure(
                &chain_svg(input, &layers),
                "Each box is a layer (stem, each stage's layers, head) with its ops, output shape, parameters and multiply-accumulates; blue boxes are searched layers with the option chosen.",
            ));
            b.push_str("</div>");
        }
        SpaceSpec::Cell(c) => {
            b.push_str("<div>");
            for (cell, nodes, edges, outputs) in cell_edges(&sp, &arch) {
                let output = if c.node_inputs.is_some() {
                    "the output sums a ReLU and 1x1 convolution of each loose end (the nodes no node reads), then BN"
                } else {
                    "the output concatenates the intermediate nodes"
                };
                b.push_str(&figure(
                    &cell_svg(&format!("{cell} cell"), nodes, &edges, &outputs),
                    &format!("The {cell} cell: each intermediate node sums its incoming edges' ops; {output}. {} cells, {} initial channels.", c.cells, c.channels),
                ));
            }
            b.push_str("</div>");
        }
    }
    Some(section("architecture", "Final architecture", &b))
}

fn model(run: &Run) -> Option<String> {
    let m = run.dir.join("model");
    let entries = fs::read_dir(&m).ok()?;
    let mut files: Vec<(String, u64)> = entries
        .flatten()
        .filter_map(|e| {
            Some((
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().ok()?.len(),
            ))
        })
        .collect();
    files.sort();
    let mut b = String::new();
    if let Some(a) = test_accuracy(run) {
        b.push_str("<div class=\"cards\">");
        b.push_str(&card("test accuracy", &pct(a)));
        if let Some(e) = run
            .stages()
            .into_iter()
            .rev()
            .find(|s| kind(s) == "evaluate")
        {
            let accs: Vec<f64> = e["accuracies"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Json::as_f64)
                .collect();
            if accs.len() > 1 {
                b.push_str(&card(
                    "spread over seeds (std)",
                    &pct(f(&e["std"]).unwrap_or(f64::NAN)),
                ));
            }
            if let Some(i) = e["images"].as_u64() {
                b.push_str(&card(
                    &format!("{} images", e["split"].as_str().unwrap_or("test")),
                    &group(i),
                ));
            }
        }
        b.push_str("</div>");
    }
    let rows: Vec<Vec<String>> = files
        .iter()
        .map(|(n, size)| {
            vec![
                format!("<code>model/{}</code>", esc(n)),
                format!("{} bytes", group(*size)),
            ]
        })
        .collect();
    b.push_str(&table(&["file", "size"], &rows));
    match fs::read_to_string(m.join("preprocess.json"))
        .ok()
        .map(|t| serde_json::from_str::<Json>(&t))
    {
        Some(Ok(p)) => {
            let list = |v: &Json| -> String {
                v.as_array()
                    .map(|a| {
                        a.iter()
                            .map(|x| {
                                x.as_f64()
                                    .map(|f| format!("{f:.4}"))
                                    .unwrap_or_else(|| x.to_string())
                            })
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default()
            };
            b.push_str("<h3>Input preprocessing</h3>");
            b.push_str(&kv(&[
                (
                    "input (C x H x W)",
                    esc(&list(&p["input"]).replace(".0000", "").replace(", ", " x ")),
                ),
                (
                    "pixels",
                    "scaled to [0, 1], then normalised per channel".into(),
                ),
                ("mean", esc(&list(&p["normalize"]["mean"]))),
                ("std", esc(&list(&p["normalize"]["std"]))),
                (
                    "dataset",
                    esc(&format!(
                        "{} ({})",
                        p["dataset"].as_str().unwrap_or("?"),
                        p["source"].as_str().unwrap_or("?")
                    )),
                ),
                ("classes", esc(&p["classes"].to_string())),
            ]));
        }
        Some(Err(e)) => b.push_str(&note(
            "warn",
            &esc(&format!("model/preprocess.json is damaged: {e}")),
        )),
        None => {}
    }
    if files.iter().any(|(n, _)| n == "model.pt") {
        let _ = write!(
            b,
            "<p>Load the TorchScript model in Python:</p><pre><code>import torch\nm = torch.jit.load(\"{}\")\nlogits = m(images)  # batch first, preprocessed as above</code></pre>",
            esc(&m.join("model.pt").display().to_string())
        );
    }
    Some(section("model", "Exported model", &b))
}

/// The report of one run.
pub fn single(run: &Run) -> String {
    let parts: Vec<String> = [
        Some(overview(run)),
        Some(pipeline(run)),
        training(run),
        search(run),
        differentiable(run),
        rank(run),
        architecture(run),
        model(run),
    ]
    .into_iter()
    .flatten()
    .collect();
    let body = parts.concat();
    let sub = format!(
        "{} \u{b7} seed {} \u{b7} {}",
        esc(run.info["file"].as_str().unwrap_or("?")),
        esc(&run.info["seed"].to_string()),
        esc(&device_text(run))
    );
    page(
        &format!("nasl run report: {}", run.label()),
        &sub,
        &nav_of(&body),
        &body,
    )
}

/// The navigation: every `<section id=...><h2>...` of the body, in order.
fn nav_of(body: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for part in body.split("<section id=\"").skip(1) {
        let Some((id, rest)) = part.split_once('"') else {
            continue;
        };
        let h = rest
            .split_once("<h2>")
            .and_then(|(_, r)| r.split_once("</h2>"))
            .map(|(h, _)| h.to_string())
            .unwrap_or_default();
        // Both were escaped when written; the navigation escapes again, so undo it here.
        let un = |s: &str| {
            s.replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&#39;", "'")
                .replace("&amp;", "&")
        };
        out.push((un(id), un(&h)));
    }
    out
}

/// Distinct labels for runs (folder names, or whole paths when two folders share a name).
fn labels(runs: &[Run]) -> Vec<String> {
    let short: Vec<String> = runs.iter().map(Run::label).collect();
    short
        .iter()
        .zip(runs)
        .map(|(s, r)| {
            if short.iter().filter(|x| *x == s).count() > 1 {
                r.dir.display().to_string()
            } else {
                s.clone()
            }
        })
        .collect()
}

/// The comparison of several runs: final metrics side by side, curves and candidates overlaid.
pub fn compare(runs: &[Run]) -> String {
    let names = labels(runs);
    let mut body = String::new();
    // Overview.
    let rows: Vec<Vec<String>> = runs
        .iter()
        .zip(&names)
        .map(|(r, n)| {
            let s = last_search(r);
            vec![
                format!("<b>{}</b>", esc(n)),
                format!(
                    "<code>{}</code>",
                    esc(r.info["file"].as_str().unwrap_or("?"))
                ),
                esc(&r.info["seed"].to_string()),
                esc(&device_text(r)),
                if r.summary["complete"] == true {
                    "yes".into()
                } else {
                    "no".into()
                },
                test_accuracy(r).map(pct).unwrap_or_default(),
                s.and_then(|s| f(&s["accuracy"]))
                    .map(pct)
                    .unwrap_or_default(),
                s.and_then(|s| s["params"].as_u64())
                    .map(group)
                    .unwrap_or_default(),
                s.and_then(|s| s["macs"].as_u64())
                    .map(group)
                    .unwrap_or_default(),
                secs(total_seconds(r)),
            ]
        })
        .collect();
    let mut b = table(
        &[
            "run",
            "pipeline",
            "seed",
            "device",
            "complete",
            "test accuracy",
            "best val accuracy",
            "params",
            "MACs",
            "wall time",
        ],
        &rows,
    );
    let accs: Vec<f64> = runs.iter().filter_map(test_accuracy).collect();
    if accs.len() > 1 {
        let n = accs.len() as f64;
        let mean = accs.iter().sum::<f64>() / n;
        let std = (accs.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
        let _ = write!(
            b,
            "<p>Test accuracy over the {} runs: mean {}, standard deviation {} (sample), min {}, max {}.</p>",
            accs.len(),
            pct(mean),
            pct(std),
            pct(accs.iter().copied().fold(f64::MAX, f64::min)),
            pct(accs.iter().copied().fold(f64::MIN, f64::max))
        );
    }
    for (r, n) in runs.iter().zip(&names) {
        for msg in &r.notes {
            b.push_str(&note("warn", &esc(&format!("{n}: {msg}"))));
        }
    }
    body.push_str(&section("overview", "Overview", &b));
    // Final metrics per stage.
    let mut stage_names: Vec<(String, String)> = Vec::new();
    for r in runs {
        for s in r.stages() {
            if !stage_names.iter().any(|(n, _)| n == name(s)) {
                stage_names.push((name(s).to_string(), kind(s).to_string()));
            }
        }
    }
    let mut b = String::new();
    const KEYS: &[(&str, &str)] = &[
        ("final_loss", "final train loss"),
        ("final_accuracy", "final train accuracy"),
        ("accuracy", "accuracy"),
        ("test_accuracy", "test accuracy"),
        ("std", "std over seeds"),
        ("params", "params"),
        ("macs", "MACs"),
        ("evaluated", "candidates"),
        ("kendall_tau", "Kendall tau"),
        ("spearman_rho", "Spearman rho"),
        ("seconds", "wall time"),
    ];
    for (sn, sk) in &stage_names {
        let found: Vec<Option<&Json>> = runs
            .iter()
            .map(|r| r.stages().into_iter().find(|s| name(s) == sn))
            .collect();
        let keys: Vec<&(&str, &str)> = KEYS
            .iter()
            .filter(|(k, _)| found.iter().flatten().any(|s| !s[*k].is_null()))
            .collect();
        let mut head = vec!["run"];
        head.extend(keys.iter().map(|(_, h)| *h));
        let rows: Vec<Vec<String>> = found
            .iter()
            .zip(&names)
            .map(|(s, n)| {
                let mut row = vec![esc(n)];
                for (k, _) in &keys {
                    let v = s.map(|s| &s[*k]).unwrap_or(&Json::Null);
                    row.push(match (*k, f(v)) {
                        (_, None) => String::new(),
                        ("seconds", Some(x)) => secs(x),
                        ("params" | "macs" | "evaluated", Some(x)) => group(x as u64),
                        ("final_loss" | "kendall_tau" | "spearman_rho", Some(x)) => num(x),
                        (_, Some(x)) => pct(x),
                    });
                }
                row
            })
            .collect();
        let _ = write!(b, "<h3>{} <small>({})</small></h3>", esc(sn), esc(sk));
        b.push_str(&table(&head, &rows));
    }
    body.push_str(&section("metrics", "Final metrics by stage", &b));
    // Curves overlaid.
    let mut b = String::new();
    for (sn, sk) in &stage_names {
        if !TRAINING.contains(&sk.as_str()) {
            continue;
        }
        let mut loss = Vec::new();
        let mut acc = Vec::new();
        for (r, n) in runs.iter().zip(&names) {
            let tags = epoch_series(r, sn);
            // The first model's curve of each run (the supernet, or the first seed).
            let Some(first) = tags.first() else { continue };
            let one = std::slice::from_ref(first);
            for mut s in curve_series(one, "loss", "") {
                s.name = n.clone();
                loss.push(s);
            }
            for mut s in curve_series(one, "accuracy", "") {
                s.name = n.clone();
                acc.push(s);
            }
        }
        if loss.is_empty() {
            continue;
        }
        let _ = write!(b, "<h3>{}</h3><div class=\"figs\">", esc(sn));
        b.push_str(&figure(
            &lines(
                &Axes {
                    title: &format!("{sn}: loss per epoch"),
                    x: "epoch",
                    y: "cross-entropy",
                    x_si: false,
                    y_pct: false,
                },
                &loss,
            ),
            "Training loss, one line per run.",
        ));
        b.push_str(&figure(
            &lines(
                &Axes {
                    title: &format!("{sn}: accuracy per epoch"),
                    x: "epoch",
                    y: "accuracy",
                    x_si: false,
                    y_pct: true,
                },
                &acc,
            ),
            "Training accuracy, one line per run.",
        ));
        b.push_str("</div>");
    }
    for (sn, sk) in &stage_names {
        if !SEARCH.contains(&sk.as_str()) {
            continue;
        }
        let groups: Vec<Series> = runs
            .iter()
            .zip(&names)
            .filter_map(|(r, n)| {
                let s = r.stages().into_iter().find(|s| name(s) == sn)?;
                Some(Series::new(
                    n.clone(),
                    candidates(r, s).iter().map(|c| (c.2, c.0)).collect(),
                ))
            })
            .collect();
        let _ = write!(b, "<h3>{} candidates</h3>", esc(sn));
        b.push_str(&figure(
            &scatter(
                &Axes {
                    title: &format!("{sn}: accuracy vs MACs"),
                    x: "MACs",
                    y: "val accuracy",
                    x_si: true,
                    y_pct: true,
                },
                &groups,
                None,
                None,
            ),
            "Every evaluated candidate, one colour per run.",
        ));
    }
    if !b.is_empty() {
        body.push_str(&section("curves", "Curves overlaid", &b));
    }
    let sub = format!("{} runs: {}", runs.len(), esc(&names.join(", ")));
    page("nasl comparison report", &sub, &nav_of(&body), &body)
}
