//! The contract between the language and the executor: what `nasl check` accepts but `nasl run` does
//! not execute (yet) is refused here, at check time, with a diagnostic on the setting, value or input
//! at fault. Everything a checked pipeline holds then runs with its documented meaning; the executor
//! trusts this and has no run-time refusals of its own. One table ([`NOT_RUN`]) for settings, one
//! function per kind of value for the rest.

use crate::diag::{Code, Diagnostic, one_of};
use crate::ir::{DecisionKind, SearchSpace, SpaceSpec};
use crate::sema::hir::{Input, Program, SplitSize, Stage, StageKind, Value};
use crate::sema::tables::DATASET_SHAPES;
use crate::source::Span;

use StageKind as K;

/// A setting that some stage kinds accept in the grammar but whose meaning the executor does not
/// implement for them; `help` says what to do instead.
pub struct NotRun {
    pub key: &'static str,
    pub kinds: &'static [K],
    pub help: &'static str,
}

/// Settings refused per stage kind. `seeds` on a supernet `train` is refused apart (a fixed
/// network's `train` repeats over seeds).
pub const NOT_RUN: &[NotRun] = &[
    NotRun {
        key: "seeds",
        kinds: &[
            K::FewShot,
            K::Evolution,
            K::RandomSearch,
            K::Nsga2,
            K::SuccessiveHalving,
            K::Differentiable,
            K::Rl,
            K::Hypernet,
            K::ProgressiveShrinking,
        ],
        help: "stages that train models (`retrain`, `train` of a fixed network, the stand-alone side of `rank`) repeat over seeds; repeat a whole search with `nasl run --seed N`",
    },
    NotRun {
        key: "seeds",
        kinds: &[K::Evaluate],
        help: "`evaluate` evaluates every model of its input: put `seeds [...]` on the `retrain` stage it reads",
    },
    NotRun {
        key: "distill",
        kinds: &[K::Train, K::Retrain],
        help: "knowledge distillation from the full network is part of progressive shrinking (OFA): put `distill w` on a `progressive_shrinking` stage",
    },
    NotRun {
        key: "predictor",
        kinds: &[K::Nsga2],
        help: "OFA's accuracy predictor drives `evolution` (one objective: validation accuracy); NSGA-II scores each candidate on the supernet",
    },
    NotRun {
        key: "penalty",
        kinds: &[
            K::Evolution,
            K::RandomSearch,
            K::Nsga2,
            K::SuccessiveHalving,
        ],
        help: "penalties are loss terms of `differentiable` search; a supernet search takes a hard `constraint` or a `pareto` front instead",
    },
    NotRun {
        key: "penalty",
        kinds: &[K::Rl],
        help: "the controller maximises its `reward`; for a latency-aware search write `reward mnas(target: 80ms, w: -0.07)`",
    },
    NotRun {
        key: "constraint",
        kinds: &[K::Rl],
        help: "the controller samples every architecture of the space; steer it with `reward mnas(target: 80ms, w: -0.07)`",
    },
    NotRun {
        key: "objective",
        kinds: &[K::Rl],
        help: "the controller maximises its `reward` (`reward accuracy` or `reward mnas(...)`); remove `objective`",
    },
    NotRun {
        key: "constraint",
        kinds: &[K::Differentiable],
        help: "differentiable search cannot skip candidates; use `penalty flops(...)` or `penalty latency(...)` to steer it",
    },
    NotRun {
        key: "epochs",
        kinds: &[K::FewShot],
        help: "a `few_shot` stage fine-tunes each sub-supernet for `finetune` epochs; write `finetune N`",
    },
    NotRun {
        key: "epochs",
        kinds: &[K::SuccessiveHalving],
        help: "successive halving trains from `min_epochs` at the first rung to `max_epochs` at the last; set those",
    },
    NotRun {
        key: "dropout",
        kinds: &[K::ProgressiveShrinking, K::Rl, K::Hypernet],
        help: "these stage kinds do not apply a classifier dropout override; put `dropout(p)` before the classifier in the space's `head`",
    },
];

/// Metrics a search can maximise or put on a Pareto front.
pub const RUN_OBJECTIVES: &[&str] = &[
    "val.accuracy",
    "accuracy",
    "val.loss",
    "train.accuracy",
    "train.loss",
    "flops",
    "params",
    "latency",
];
/// Metrics a hard constraint can bound (known before a candidate is evaluated: exact costs, and
/// latency predicted by the stage's table).
pub const RUN_CONSTRAINTS: &[&str] = &["flops", "params", "latency"];

/// Every refusal of `program`, whose spaces are built as graphs in `spaces`.
pub fn check(program: &Program, spaces: &[(String, SearchSpace)]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for stage in &program.stages {
        let space = spaces
            .iter()
            .find(|(n, _)| Some(n) == stage.space.as_ref())
            .map(|(_, s)| s);
        check_stage(program, spaces, stage, space, &mut out);
    }
    out
}

fn refuse(span: Span, message: String, label: &str, help: impl Into<String>) -> Diagnostic {
    Diagnostic::new(Code::SemaNotRun, span, message)
        .label(label)
        .help(help)
}

/// `relax superkernel` (Single-Path NAS): a chain of elastic mbconv layers (`compile::superkernel::plan`),
/// single-level, derived by argmax over the indicators.
fn check_superkernel(stage: &Stage, space: &SearchSpace, out: &mut Vec<Diagnostic>) {
    let span_of = |key: &str| stage.setting_spans.get(key).copied().unwrap_or(stage.span);
    if let Err(e) = crate::ir::superkernel::plan(space) {
        let (message, help) = match e {
            crate::ir::IrError::Spec { message, help, .. } => (message, help),
            other => (
                other.to_string(),
                "check the space with `nasl inspect`".into(),
            ),
        };
        out.push(refuse(span_of("relax"), message, "no superkernel", help));
    }
    let name = |key: &str| match stage.settings.peek(key) {
        Some(Value::Call(c)) => Some(c.name.clone()),
        Some(Value::Name(n)) => Some(n.clone()),
        _ => None,
    };
    if name("level").as_deref() != Some("single") {
        out.push(refuse(
            span_of("level"),
            "Single-Path NAS learns the weights and the thresholds together on one loss; a bi-level superkernel search is not executed".into(),
            "needs `level single`",
            "write `level single`",
        ));
    }
    if let Some(rule) = name("derive")
        && rule != "argmax"
    {
        out.push(refuse(
            span_of("derive"),
            format!("a superkernel search derives its architecture from the thresholds, not by `{rule}`"),
            "not a distribution to sample",
            "write `derive argmax`: each threshold against its kernel ring's or channel group's norm",
        ));
    }
}

fn check_stage(
    program: &Program,
    spaces: &[(String, SearchSpace)],
    stage: &Stage,
    space: Option<&SearchSpace>,
    out: &mut Vec<Diagnostic>,
) {
    let span_of = |key: &str| stage.setting_spans.get(key).copied().unwrap_or(stage.span);
    if stage.kind == K::ProgressiveShrinking {
        check_shrinking(stage, space, out);
    }
    // A latency table holds every op of the space at every shape (`cost::latency::table_cover`).
    if stage.uses_latency()
        && let Some(space) = space
        && let Err(e) = crate::cost::latency::table_cover(space)
    {
        let key = ["latency", "constraint", "objective", "pareto", "sampler"]
            .into_iter()
            .find(|k| stage.settings.peek(k).is_some())
            .unwrap_or("latency");
        out.push(refuse(
            span_of(key),
            format!("`nasl run` cannot predict latency on `{}`: {e}", space_name(stage)),
            "no latency table for this space",
            "a latency table holds every op of the space at every input shape it can see; bound `flops` or `params` instead (`constraint flops <= 300M`)",
        ));
    }
    if stage.kind == K::Evolution && stage.settings.peek("predictor").is_some() {
        let objective: Vec<&str> = stage
            .settings
            .peek("objective")
            .map(Value::names)
            .unwrap_or_default();
        if objective
            .iter()
            .any(|m| !matches!(*m, "val.accuracy" | "accuracy"))
        {
            out.push(refuse(
                span_of("objective"),
                "the accuracy predictor predicts validation accuracy; this objective is another metric".into(),
                "not predicted",
                "write `objective val.accuracy` with `predictor`, or remove `predictor` to score candidates on the supernet",
            ));
        }
    }
    let supernet = space.is_some_and(|s| !s.decisions.is_empty());
    let mnas_reward =
        matches!(stage.settings.peek("reward"), Some(Value::Call(c)) if c.name == "mnas");
    for (key, _) in stage.settings.iter() {
        let rule = NOT_RUN
            .iter()
            .find(|r| r.key == key && r.kinds.contains(&stage.kind));
        let help = match rule {
            Some(r) => r.help,
            None if key == "seeds" && stage.kind == K::Train && supernet => {
                "a supernet is trained once; repeat the whole search with `nasl run --seed N`, or put `seeds [...]` on `retrain`"
            }
            None if key == "latency"
                && stage.kind != K::Differentiable
                && !stage.uses_latency()
                && !(stage.kind == K::Rl && mnas_reward) =>
            {
                "a latency table feeds a `penalty latency(...)` of `differentiable` search, MnasNet's `reward mnas(...)`, a `latency` objective or Pareto axis, a `constraint latency <= ..`, or `sampler constrained(latency: ..)`; here nothing reads it"
            }
            None => continue,
        };
        out.push(refuse(
            span_of(key),
            format!(
                "`nasl run` does not apply `{key}` in `{}` stages",
                kind_name(stage.kind)
            ),
            "not executed here",
            help,
        ));
    }
    let call_name = |key: &str| match stage.settings.peek(key) {
        Some(Value::Call(c)) => Some((c.name.as_str(), c)),
        _ => None,
    };
    for key in ["optimizer", "weights"] {
        if let Some((_, c)) = call_name(key)
            && matches!(c.get("lr"), Some(Value::Schedule(_)))
            && stage.settings.peek("schedule").is_some()
        {
            out.push(
                Diagnostic::new(
                    Code::SemaBadArguments,
                    span_of("schedule"),
                    "two learning-rate schedules: `lr` is a schedule and so is `schedule`",
                )
                .label("second schedule")
                .note(span_of(key), "the learning rate is scheduled here")
                .help("keep one: `lr: 0.1 -> 0.001 cosine`, or a number with `schedule cosine(min: 0.001)`"),
            );
        }
    }
    for key in ["objective", "pareto"] {
        let Some(metrics) = stage.settings.peek(key).map(Value::names) else {
            continue;
        };
        let objectives: &[&str] = if stage.kind == K::Differentiable {
            &[]
        } else {
            RUN_OBJECTIVES
        };
        for m in metrics {
            if !objectives.contains(&m) {
                out.push(refuse(
                    span_of(key),
                    format!("`nasl run` cannot use `{m}` as the `{key}` of `{}` stages", kind_name(stage.kind)),
                    "not executed",
                    if objectives.is_empty() {
                        "differentiable search minimises the training loss (plus its penalties); remove it".to_string()
                    } else if m == "test.accuracy" {
                        "choosing an architecture by its test accuracy leaks the test split into the search: search on `val.accuracy` and `evaluate` the result on the test split".to_string()
                    } else {
                        format!("searches score candidates by {}", one_of(objectives.iter().copied()))
                    },
                ));
            }
        }
    }
    let latency_penalty = matches!(stage.settings.peek("penalty"), Some(Value::List(ps))
        if ps.iter().any(|p| matches!(p, Value::Call(c) if c.name == "latency")));
    if stage.kind == K::Differentiable
        && stage.settings.peek("latency").is_some()
        && !latency_penalty
    {
        out.push(refuse(
            span_of("latency"),
            "a latency table that no `penalty latency(...)` reads".into(),
            "unused here",
            "add `penalty latency(...)`, or remove `latency`",
        ));
    }
    {
        for c in stage.spec.constraints() {
            let m = &c.metric;
            if !RUN_CONSTRAINTS.contains(&m.as_str()) {
                out.push(refuse(
                    span_of("constraint"),
                    format!("`nasl run` cannot check a hard constraint on `{m}`"),
                    "not executed",
                    format!(
                        "hard constraints bound exact costs: {}",
                        one_of(RUN_CONSTRAINTS.iter().copied())
                    ),
                ));
            }
        }
    }
    if stage.kind == K::Rl {
        check_rl(stage, &span_of, out);
    }
    check_inputs(program, spaces, stage, out);
    check_data(program, stage, space, out);
    if let Some(space) = space {
        check_space(stage, space, &span_of, out);
    }
}

/// Settings of one `rl` mode that the other does not read: `shared true` (ENAS, the default) trains
/// shared weights for `epochs` with `steps` controller updates each and derives with `derive`;
/// `shared false` (MnasNet) trains `samples` children for `proxy_epochs` each.
/// `progressive_shrinking`: a chain whose decisions are all elastic dimensions (each has a largest
/// option, the full network), and a `phase full` before any phase that `distill` distils into (the
/// teacher is the full phase's network).
fn check_shrinking(stage: &Stage, space: Option<&SearchSpace>, out: &mut Vec<Diagnostic>) {
    if let Some(space) = space {
        let other: Vec<&str> = space
            .decisions
            .iter()
            .filter(|d| {
                !matches!(
                    d.kind,
                    DecisionKind::Resolution
                        | DecisionKind::Depth
                        | DecisionKind::Channels
                        | DecisionKind::Elastic
                )
            })
            .map(|d| d.path.as_str())
            .collect();
        if let Some(first) = other.first() {
            out.push(refuse(
                stage.span,
                format!(
                    "progressive shrinking needs elastic dimensions only; `{first}` (and {} more) chooses between candidates",
                    other.len() - 1
                ),
                "not executed",
                "write the layers as one elastic op (`mbconv(kernel: [3, 5, 7], expand: [3, 4, 6])`, `repeat: [2, 3, 4]`, `out: [..]`, `resolution [..]`); search over candidates with `train(space)` and a supernet search",
            ));
        }
    }
    let span_of = |key: &str| stage.setting_spans.get(key).copied().unwrap_or(stage.span);
    let phases: &[Value] = match stage.settings.peek("phase") {
        Some(Value::List(l)) => l,
        _ => &[],
    };
    if !phases.is_empty() && stage.settings.peek("epochs").is_some() {
        out.push(refuse(
            span_of("epochs"),
            "`epochs` beside `phase` lines: each phase has its own epochs".into(),
            "not executed here",
            "remove `epochs`; without `phase` lines it gives each of the four default phases (full, kernel, depth, width) its epochs",
        ));
    }
    let scheduled = matches!(
        stage.settings.peek("optimizer"),
        Some(Value::Call(c)) if matches!(c.get("lr"), Some(Value::Schedule(_)))
    );
    let phase_lr = phases
        .iter()
        .any(|v| matches!(v, Value::Call(c) if c.get("lr").is_some()));
    if scheduled && phase_lr {
        out.push(refuse(
            span_of("phase"),
            "a phase's `lr` beside an optimizer whose `lr` is a schedule".into(),
            "two learning rates",
            "give the optimizer a number (`sgd(lr: 0.026)`) and each phase its `lr`, with `schedule cosine` for the shape",
        ));
    }
    if stage.settings.peek("distill").is_some() && !phases.is_empty() {
        let names: Vec<&str> = phases
            .iter()
            .filter_map(|v| match v {
                Value::Call(c) => Some(c.name.as_str()),
                _ => None,
            })
            .collect();
        if names.first().is_some_and(|n| *n != "full") {
            out.push(refuse(
                stage.setting_spans.get("distill").copied().unwrap_or(stage.span),
                "`distill` needs a teacher: the first phase must be `phase full(..)`".into(),
                "no full network to distil from",
                "start with `phase full(epochs: N)` (OFA trains the full network first and distils from it), or remove `distill`",
            ));
        }
    }
}

fn check_rl(stage: &Stage, span_of: &dyn Fn(&str) -> Span, out: &mut Vec<Diagnostic>) {
    let shared = !matches!(stage.settings.peek("shared"), Some(Value::Bool(false)));
    let (other, keys, help): (&str, &[&str], &str) = if shared {
        (
            "shared true",
            &["proxy_epochs", "samples"],
            "with shared weights (ENAS) the controller learns from the supernet for `epochs`, `steps` updates per epoch, and `derive sample(n)` picks the result; write `shared false` to train `samples` children for `proxy_epochs` each (MnasNet)",
        )
    } else {
        (
            "shared false",
            &["epochs", "steps", "weights", "derive"],
            "without shared weights (MnasNet) each of `samples` children trains for `proxy_epochs` and the best reward is `.best`; remove it, or write `shared true` (ENAS)",
        )
    };
    for key in keys {
        if stage.settings.peek(key).is_some() {
            out.push(refuse(
                span_of(key),
                format!("`nasl run` does not read `{key}` in an `rl` stage with `{other}`"),
                "not read in this mode",
                help,
            ));
        }
    }
    if let Some(Value::Call(c)) = stage.settings.peek("derive")
        && c.name == "top_k_edges"
    {
        out.push(refuse(
            span_of("derive"),
            "`top_k_edges` derives from architecture weights, which a controller does not have".into(),
            "not a controller derivation",
            "write `derive sample(n)` (the best of n sampled architectures) or `derive argmax` (the controller's most likely one)",
        ));
    }
    if let Some(Value::Call(c)) = stage.settings.peek("reward")
        && c.name == "mnas"
        && matches!(c.get("metric"), Some(Value::Name(m)) if m == "flops")
    {
        out.push(refuse(
            span_of("reward"),
            "`reward mnas(metric: flops)` is not executed: its target is a duration".into(),
            "not executed",
            "the MnasNet reward reads latency from the stage's `latency` table; remove `metric: flops`",
        ));
    }
}

/// The dataset a stage reads against the space it builds: channels, image size and classes, for the
/// built-in datasets whose shape is known (a `folder` dataset is checked when it is loaded).
fn check_data(
    program: &Program,
    stage: &Stage,
    space: Option<&SearchSpace>,
    out: &mut Vec<Diagnostic>,
) {
    let Some(space) = space else { return };
    let (input, classes) = (space.spec.input(), space.spec.classes());
    let mut names: Vec<&str> = stage.data.iter().map(String::as_str).collect();
    names.extend(stage.inputs.iter().filter_map(|i| match i {
        Input::Data { dataset, .. } => Some(dataset.as_str()),
        _ => None,
    }));
    names.dedup();
    for name in names {
        let Some(data) = program.datasets.iter().find(|d| d.name == name) else {
            continue;
        };
        let (shape, n) = match (
            &data.synthetic,
            DATASET_SHAPES.iter().find(|(s, _, _)| *s == data.source),
        ) {
            (Some(g), _) => ([1, g.size, g.size], g.classes),
            (None, Some((_, shape, n))) => (*shape, *n),
            (None, None) => continue,
        };
        if let Some(m) = data_mismatch(input, classes, shape, n) {
            let decl = program
                .spaces
                .iter()
                .find(|s| Some(&s.name) == stage.space.as_ref());
            let mut d = Diagnostic::new(
                Code::SemaDataMismatch,
                data.span,
                format!("dataset `{name}` does not fit the space `{}` that stage `{}` builds: {m}", space_name(stage), stage.name),
            )
            .label(format!(
                "{} images {}x{}x{}, {n} classes",
                data.source, shape[0], shape[1], shape[2]
            ))
            .help(format!(
                "declare the space with `input: [{}, {}, {}], classes: {n}`, or use a dataset of that shape",
                shape[0], shape[1], shape[2]
            ));
            if let Some(decl) = decl {
                d = d.note(
                    decl.span,
                    format!(
                        "the space reads {}x{}x{} images into {classes} classes",
                        input[0], input[1], input[2]
                    ),
                );
            }
            out.push(d);
        }
    }
}

/// What differs between a space's input and a dataset, if anything.
pub fn data_mismatch(
    input: [usize; 3],
    classes: usize,
    shape: [usize; 3],
    n: usize,
) -> Option<String> {
    let mut what = Vec::new();
    if input[0] != shape[0] {
        what.push(format!("{} channels, not {}", shape[0], input[0]));
    }
    if input[1..] != shape[1..] {
        what.push(format!(
            "{}x{} pixels, not {}x{}",
            shape[1], shape[2], input[1], input[2]
        ));
    }
    if classes != n {
        what.push(format!("{n} classes, not {classes}"));
    }
    (!what.is_empty()).then(|| what.join(", "))
}

fn space_name(stage: &Stage) -> &str {
    stage.space.as_deref().unwrap_or("?")
}

/// Input forms the executor reads: `retrain(x.best)`, `evaluate` of trained models.
fn check_inputs(
    program: &Program,
    spaces: &[(String, SearchSpace)],
    stage: &Stage,
    out: &mut Vec<Diagnostic>,
) {
    for i in &stage.inputs {
        if let Input::Data { dataset, split } = i
            && split == "val"
            && let Some(d) = program.datasets.iter().find(|d| &d.name == dataset)
            && matches!(d.val, None | Some(SplitSize::Count(0)))
        {
            out.push(
                Diagnostic::new(
                    Code::SemaMissing,
                    stage.span,
                    format!("`{dataset}.val` is empty: `{dataset}` declares no validation split"),
                )
                .label("evaluates nothing")
                .note(d.span, "declared here")
                .help(format!(
                    "carve one (`split train: 50000, val: 10000`), or evaluate `{dataset}.test`"
                )),
            );
        }
    }
    let Some(Input::Stage {
        stage: input,
        field,
    }) = stage.inputs.first()
    else {
        return;
    };
    let source = program.stages.iter().find(|s| &s.name == input);
    match stage.kind {
        K::Retrain if field.as_deref().is_some_and(|f| f != "best") => {
            let f = field.as_deref().unwrap_or_default();
            let kind = source.map(|s| s.kind);
            let holds = match f {
                "top" => matches!(
                    kind,
                    Some(K::Evolution | K::RandomSearch | K::Nsga2 | K::SuccessiveHalving)
                ),
                "pareto" => kind == Some(K::Nsga2),
                _ => false,
            };
            if !holds {
                out.push(refuse(
                    stage.span,
                    format!("`nasl run` cannot retrain `{input}.{f}`"),
                    "not executed",
                    if f == "pareto" {
                        format!("a Pareto front comes from `nsga2`; retrain `{input}.best` or `{input}.top`")
                    } else {
                        format!("only evolution, random search, NSGA-II and successive halving keep a top list; retrain `{input}.best`")
                    },
                ));
            }
        }
        K::Evaluate => {
            let trained_models = source.is_some_and(|s| {
                s.kind == K::Retrain
                    || (s.kind == K::Train && field.is_none() && is_fixed(s, spaces))
            });
            // `.best` with the weights the search scored it with: a supernet search's input
            // supernet, or the supernet a differentiable search or ENAS trained itself.
            let on_supernet = source.is_some_and(|s| {
                let own_weights = s.kind == K::Differentiable
                    || (s.kind == K::Rl
                        && !matches!(s.settings.peek("shared"), Some(Value::Bool(false))));
                (matches!(s.kind, K::Evolution | K::RandomSearch | K::Nsga2) || own_weights)
                    && field.as_deref() == Some("best")
            });
            // `evaluate(supernet)`: sampled paths of a trained supernet (or few-shot parts).
            let supernet = field.is_none()
                && source.is_some_and(|s| {
                    matches!(s.kind, K::FewShot | K::ProgressiveShrinking)
                        || (s.kind == K::Train && !is_fixed(s, spaces))
                });
            if !supernet && stage.settings.peek("samples").is_some() {
                out.push(refuse(
                    stage
                        .setting_spans
                        .get("samples")
                        .copied()
                        .unwrap_or(stage.span),
                    "`samples` on an evaluation of one architecture".into(),
                    "nothing to sample",
                    "`samples` sets how many paths `evaluate(supernet, ...)` scores; remove it here",
                ));
            }
            if trained_models && stage.settings.peek("recalibrate").is_some() {
                out.push(refuse(
                    stage
                        .setting_spans
                        .get("recalibrate")
                        .copied()
                        .unwrap_or(stage.span),
                    "`recalibrate` on trained models".into(),
                    "nothing to recalibrate",
                    "trained models keep the BatchNorm statistics of their training; `recalibrate` applies to `evaluate(search.best)` on a supernet",
                ));
            }
            if !trained_models && !on_supernet && !supernet {
                let what = match field {
                    Some(f) => format!("`{input}.{f}`"),
                    None => format!("`{input}`"),
                };
                out.push(refuse(
                    stage.span,
                    format!("`nasl run` does not evaluate {what}: it evaluates trained models, a supernet's sampled paths, and the `.best` of a search that holds supernet weights"),
                    "not executed",
                    if field.is_some() {
                        format!(
                            "successive halving, MnasNet and SMASH keep no weights of their best: retrain it first (`stage final = retrain({input}.best) {{ ... }}`) and evaluate `final`"
                        )
                    } else {
                        format!(
                            "search it first (`stage search = evolution({input}) {{ ... }}`) and evaluate `search.best`"
                        )
                    },
                ));
            }
        }
        _ => {}
    }
}

/// Whether a stage works on a fixed network (a space without decisions).
fn is_fixed(stage: &Stage, spaces: &[(String, SearchSpace)]) -> bool {
    spaces
        .iter()
        .find(|(n, _)| Some(n) == stage.space.as_ref())
        .is_some_and(|(_, s)| s.decisions.is_empty())
}

/// What the stage does with its space's decisions.
fn check_space(
    stage: &Stage,
    space: &SearchSpace,
    span_of: &dyn Fn(&str) -> Span,
    out: &mut Vec<Diagnostic>,
) {
    if stage.settings.peek("network").is_some() && matches!(space.spec, SpaceSpec::Chain(_)) {
        out.push(refuse(
            span_of("network"),
            format!("`nasl run` does not rescale the chain `{}` yet", space_name(stage)),
            "a chain",
            "`network cells: .., channels: ..` restacks the cells of a cell space; write a chain at the size to train",
        ));
    }
    if stage.settings.peek("affine").is_some() {
        let refusal = if space.decisions.is_empty() {
            Some(
                "a fixed network trains with the batch norms its ops declare (`bn(affine: false)`)",
            )
        } else if !matches!(space.spec, SpaceSpec::Cell(_)) {
            Some(
                "`affine` switches the batch norms of a cell supernet's edges; a chain's blocks declare their own (`bn(affine: false)`)",
            )
        } else {
            None
        };
        if let Some(help) = refusal {
            out.push(refuse(
                span_of("affine"),
                format!(
                    "`nasl run` does not apply `affine` to `{}`",
                    space_name(stage)
                ),
                "not a cell supernet",
                help,
            ));
        }
    }
    if stage.settings.peek("auxiliary").is_some() {
        let refusal = if !space.decisions.is_empty() && stage.kind == K::Train {
            Some(
                "an auxiliary head regularises stand-alone training (`retrain`, `train` of a fixed network), not a supernet",
            )
        } else if matches!(space.spec, SpaceSpec::Chain(_)) {
            Some(
                "the auxiliary head reads the cell at two thirds of a cell network's depth (DARTS); a chain has no cells",
            )
        } else {
            None
        };
        if let Some(help) = refusal {
            out.push(refuse(
                span_of("auxiliary"),
                format!(
                    "`nasl run` does not build an auxiliary head on `{}` here",
                    space_name(stage)
                ),
                "no place for it",
                help,
            ));
        }
    }
    if stage.settings.peek("drop_path").is_some() {
        let refusal = if !space.decisions.is_empty() && stage.kind == K::Train {
            Some(
                "drop-path regularises stand-alone training (`retrain`, `train` of a fixed network), not a supernet",
            )
        } else if matches!(space.spec, SpaceSpec::Chain(_)) {
            Some(
                "drop-path drops the edges of cells; a chain network has none (its blocks keep their own residuals)",
            )
        } else {
            None
        };
        if let Some(help) = refusal {
            out.push(refuse(
                span_of("drop_path"),
                format!(
                    "`nasl run` does not apply `drop_path` to `{}`",
                    space_name(stage)
                ),
                "nothing to drop",
                help,
            ));
        }
    }
    if matches!(stage.settings.peek("sample_over"), Some(Value::Name(n)) if n == "classes") {
        let too_big = crate::search::cells::cell_shapes(space)
            .into_iter()
            .find(|(s, _)| {
                s.assignments()
                    .is_none_or(|n| n > crate::search::cells::MAX_CLASS_ENUMERATION)
            });
        if let Some((shape, _)) = too_big {
            out.push(refuse(
                span_of("sample_over"),
                format!(
                    "`nasl run` enumerates a cell's {} ops on {} edges for `sample_over classes`: more than {} assignments",
                    shape.ops,
                    shape.edges.len(),
                    crate::search::cells::MAX_CLASS_ENUMERATION
                ),
                "too many cells to enumerate",
                "use `sample_over live` (no enumeration), or fewer nodes or ops",
            ));
        }
    }
    if stage.kind == K::FewShot {
        let split_on = match stage.settings.peek("split_on") {
            Some(Value::Int(n)) => *n as usize,
            _ => 1,
        };
        if let Err(message) = few_shot_parts(space, split_on) {
            out.push(refuse(
                span_of("split_on"),
                message,
                "too many sub-supernets",
                "split on fewer decisions (few-shot NAS uses a handful of sub-supernets)",
            ));
        }
    }
    let superkernel =
        matches!(stage.settings.peek("relax"), Some(Value::Call(c)) if c.name == "superkernel");
    if stage.kind == K::Differentiable && superkernel {
        check_superkernel(stage, space, out);
    } else if stage.kind == K::Differentiable {
        let masked = matches!(stage.settings.peek("relax"), Some(Value::Call(c)) if c.name == "masked_gumbel");
        if masked {
            if let Err(e) = crate::ir::masked::plan(space) {
                let (message, help) = match e {
                    crate::ir::IrError::Spec { message, help, .. } => (message, help),
                    other => (
                        other.to_string(),
                        "check the space with `nasl inspect`".into(),
                    ),
                };
                out.push(refuse(span_of("relax"), message, "cannot be masked", help));
            }
        } else if let Some(d) = space
            .decisions
            .iter()
            .find(|d| d.kind == DecisionKind::Input)
        {
            out.push(refuse(
                span_of("relax"),
                format!(
                    "differentiable search over `{}`, which earlier node a cell node reads, is not defined",
                    d.path
                ),
                "an input choice (`node_inputs`)",
                "a relaxation weights the ops of fixed edges; sample input choices with `rl(space)` (ENAS) or train the space as a supernet (`train`, then `evolution`), or drop `node_inputs` to search every edge DARTS-style",
            ));
        } else if let Some(d) = space
            .decisions
            .iter()
            .find(|d| !matches!(d.kind, DecisionKind::Layer | DecisionKind::Edge))
        {
            out.push(refuse(
                span_of("relax"),
                format!(
                    "differentiable search over `{}`, a {} decision, is not executed yet",
                    d.path,
                    crate::ir::graph::kind_name(d.kind)
                ),
                "not a layer or edge choice",
                if d.kind == DecisionKind::Elastic {
                    "elastic mbconv kernel and expand decisions are searched by `relax superkernel` (Single-Path NAS) with `level single`; or train the space as a supernet and search it with `evolution`"
                } else {
                    "softmax, Gumbel and binary-gate relaxations weight the candidates of layer and edge decisions; search channels and resolution with `relax masked_gumbel(tau)` (FBNetV2), depth with a supernet and `evolution`"
                },
            ));
        }
        let relax = match stage.settings.peek("relax") {
            Some(Value::Call(c)) => c.name.as_str(),
            _ => "softmax",
        };
        let (bilevel, order) = match stage.settings.peek("level") {
            Some(Value::Call(c)) if c.name == "bilevel" => (
                true,
                c.get("order").and_then(Value::as_f64).unwrap_or(1.0) as i64,
            ),
            Some(Value::Call(_)) => (false, 1),
            _ => (true, 1),
        };
        if relax == "binary_gates" && !bilevel {
            out.push(refuse(
                span_of("level"),
                "single-level binary gates are not executed".into(),
                "single level",
                "binary gates learn the architecture on separate steps; use `level bilevel(split: 0.8)`",
            ));
        }
        if relax == "binary_gates" && order == 2 {
            out.push(refuse(
                span_of("level"),
                "second-order binary gates are not executed".into(),
                "second order",
                "binary gates learn from sampled paths; use `level bilevel(order: 1)`",
            ));
        }
        if let Some(Value::Call(c)) = stage.settings.peek("derive")
            && c.name == "top_k_edges"
            && matches!(&space.spec, SpaceSpec::Cell(c) if c.inputs == 1)
        {
            out.push(refuse(
                span_of("derive"),
                "`top_k_edges` prunes the edges of DARTS cells; single-input (NAS-Bench-201) cells keep every edge".into(),
                "every edge is kept",
                "write `derive argmax`: each edge keeps its strongest op (`none` included)",
            ));
        }
        if let Some(Value::Call(c)) = stage.settings.peek("derive")
            && c.name == "top_k_edges"
            && space.cell_edges().is_empty()
            && !space
                .decisions
                .iter()
                .any(|d| d.kind == DecisionKind::Input)
        {
            out.push(refuse(
                span_of("derive"),
                "`top_k_edges` derives cells, and this space is a chain".into(),
                "no cell edges",
                "write `derive argmax` for chains",
            ));
        }
    }
}

/// The most sub-supernets a `few_shot` stage may make.
pub const MAX_FEW_SHOT_PARTS: usize = 64;

/// The number of sub-supernets of splitting `space` on its first `split_on` decisions, counted
/// without enumerating them; an error past [`MAX_FEW_SHOT_PARTS`] or the number of decisions.
pub fn few_shot_parts(space: &SearchSpace, split_on: usize) -> Result<usize, String> {
    if split_on > space.decisions.len() {
        return Err(format!(
            "`split_on {split_on}` but the space has {} decisions",
            space.decisions.len()
        ));
    }
    let mut n = 1usize;
    for d in &space.decisions[..split_on] {
        n = n.saturating_mul(d.labels.len());
        if n > MAX_FEW_SHOT_PARTS {
            return Err(format!(
                "`split_on {split_on}` makes more than {MAX_FEW_SHOT_PARTS} sub-supernets"
            ));
        }
    }
    Ok(n)
}

fn kind_name(kind: K) -> &'static str {
    crate::sema::tables::STAGES
        .iter()
        .find(|(_, k)| *k == kind)
        .map(|(n, _)| *n)
        .unwrap_or("?")
}
