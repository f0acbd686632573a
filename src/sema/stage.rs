//! Datasets and stages: dataset sources, splits, augmentation and paths; stage kinds, their inputs
//! (data flow in declaration order, kinds that fit), settings against the stage table, and the
//! cross-checks between a stage and its space (samplers, derivations, constraints).

use super::Cx;
use super::hir::*;
use super::tables::{self, DATASETS, METRICS, STAGES, Ty};
use crate::catalog::OpKind;
use crate::diag::{Code, Diagnostic, did_you_mean, one_of};
use crate::syntax::ast::{Decl, DeclKind, Expr, ExprKind, Stmt, Term};
use std::collections::BTreeMap;
use std::path::Path;

/// The most supernets one `rank` stage compares.
pub const MAX_RANKED: usize = 8;

impl Cx<'_> {
    pub(super) fn dataset(&mut self, d: &Decl, dir: &Path) -> Option<Dataset> {
        let names: Vec<&str> = DATASETS.iter().map(|(n, _)| *n).collect();
        let Some(Term::Pos(head)) = d.value.first() else {
            self.err(
                Diagnostic::new(
                    Code::SemaWrongType,
                    d.name.span,
                    "a dataset is a built-in source",
                )
                .label("missing source")
                .help(format!(
                    "write `dataset {} = fashion_mnist {{ ... }}`",
                    d.name.name
                )),
            );
            return None;
        };
        let Some((src, args)) = head.as_callish() else {
            self.wrong_type(head, &one_of(names.iter().copied()), "a dataset source");
            return None;
        };
        let Some((_, size)) = DATASETS.iter().find(|(n, _)| *n == src.name).copied() else {
            let help = did_you_mean(&src.name, names.iter().copied())
                .unwrap_or_else(|| format!("built-in datasets: {}", one_of(names.iter().copied())));
            self.err(
                Diagnostic::new(
                    Code::SemaUnknownValue,
                    src.span,
                    format!("unknown dataset `{}`", src.name),
                )
                .label("not a built-in dataset")
                .help(help),
            );
            return None;
        };
        let mut ds = Dataset {
            name: d.name.name.clone(),
            source: src.name.clone(),
            path: None,
            train: None,
            val: None,
            batch: 128,
            augment: Vec::new(),
            normalize: Some((Vec::new(), Vec::new())),
            synthetic: (src.name == "synthetic").then(SyntheticSpec::default),
            span: d.span,
        };
        // Arguments of the source and the body share one vocabulary.
        let mut stmts: Vec<Stmt> = args
            .iter()
            .map(|t| match t {
                Term::Named(n, v) => Stmt {
                    key: n.clone(),
                    terms: vec![Term::Pos(v.clone())],
                    body: None,
                    span: t.span(),
                },
                Term::Pos(v) => Stmt {
                    key: crate::syntax::ast::Ident {
                        name: "path".into(),
                        span: v.span,
                    },
                    terms: vec![Term::Pos(v.clone())],
                    body: None,
                    span: v.span,
                },
            })
            .collect();
        stmts.extend(d.body.clone().unwrap_or_default());
        let keys = [
            "path",
            "split",
            "batch",
            "augment",
            "normalize",
            "classes",
            "size",
            "seed",
        ];
        let mut split_span = None;
        let mut path_span = None;
        for s in &stmts {
            let first = match s.terms.first() {
                Some(Term::Pos(e)) => Some(e),
                _ => None,
            };
            match s.key.name.as_str() {
                "path" => {
                    if let Some(Value::Str(p)) =
                        first.and_then(|e| self.value(e, Ty::Str, "`path`"))
                    {
                        ds.path = Some(dir.join(p));
                        path_span = first.map(|e| e.span);
                    }
                }
                "batch" => {
                    if let Some(v) = first.and_then(|e| self.int(e, 1, "`batch`")) {
                        ds.batch = u32::try_from(v).unwrap_or(u32::MAX);
                    } else if first.is_none() {
                        self.missing_value(s);
                    }
                }
                "split" => {
                    split_span = Some(s.span);
                    for t in &s.terms {
                        match t {
                            Term::Named(n, v) if n.name == "train" || n.name == "val" => {
                                let sz = match &v.kind {
                                    ExprKind::Number(num) if num.integral && num.value >= 0.0 => {
                                        Some(SplitSize::Count(num.value as u64))
                                    }
                                    ExprKind::Number(num) if num.value > 0.0 && num.value < 1.0 => {
                                        Some(SplitSize::Fraction(num.value))
                                    }
                                    ExprKind::Number(_) => {
                                        self.out_of_range(
                                            v,
                                            &format!("the `{}` split", n.name),
                                            "a count of images or a fraction between 0 and 1",
                                        );
                                        None
                                    }
                                    _ => {
                                        self.wrong_type(
                                            v,
                                            "a count like `50000` or a fraction like `0.8`",
                                            &format!("the `{}` split", n.name),
                                        );
                                        None
                                    }
                                };
                                if n.name == "train" {
                                    ds.train = sz
                                } else {
                                    ds.val = sz
                                }
                            }
                            Term::Named(n, _) => {
                                let help = did_you_mean(&n.name, ["train", "val"]).unwrap_or_else(|| "splits are `train` and `val`; the test set is the official one".into());
                                self.err(
                                    Diagnostic::new(
                                        Code::SemaUnknownArgument,
                                        n.span,
                                        format!("unknown split `{}`", n.name),
                                    )
                                    .label("not a split")
                                    .help(help),
                                );
                            }
                            Term::Pos(v) => self.wrong_type(v, "`train: N, val: M`", "a split"),
                        }
                    }
                }
                "augment" => match first.map(|e| &e.kind) {
                    Some(ExprKind::List(items)) => {
                        for i in items {
                            if let Some(c) = self.call(i, tables::AUGMENTS, "augmentation") {
                                ds.augment.push(c);
                            }
                        }
                    }
                    _ => {
                        if let Some(e) = first {
                            self.wrong_type(
                                e,
                                "a list like `[random_crop(pad: 4), hflip]`",
                                "`augment`",
                            );
                        } else {
                            self.missing_value(s);
                        }
                    }
                },
                "normalize" => match first.map(|e| &e.kind) {
                    Some(ExprKind::Tuple(parts)) if parts.len() == 2 => {
                        let mut lists = Vec::new();
                        for p in parts {
                            match &p.kind {
                                ExprKind::List(xs) => lists.push(
                                    xs.iter()
                                        .filter_map(|x| self.float(x, "a normalisation value"))
                                        .collect::<Vec<_>>(),
                                ),
                                _ => self.wrong_type(
                                    p,
                                    "a list of per-channel values",
                                    "`normalize`",
                                ),
                            }
                        }
                        if lists.len() == 2 {
                            let channels = tables::DATASET_SHAPES
                                .iter()
                                .find(|(n, _, _)| *n == ds.source)
                                .map(|(_, shape, _)| shape[0]);
                            let fits = |n: usize| channels.is_none_or(|c| n == c);
                            if lists[0].len() != lists[1].len()
                                || !fits(lists[0].len())
                                || lists[0].is_empty()
                            {
                                let want = channels
                                    .map(|c| {
                                        format!("one value per channel: {c} for `{}`", ds.source)
                                    })
                                    .unwrap_or_else(|| {
                                        "one value per channel, as many means as deviations".into()
                                    });
                                self.err(
                                    Diagnostic::new(
                                        Code::SemaDataMismatch,
                                        first.map(|e| e.span).unwrap_or(s.span),
                                        format!(
                                            "`normalize` gives {} means and {} standard deviations",
                                            lists[0].len(),
                                            lists[1].len()
                                        ),
                                    )
                                    .label("wrong number of values")
                                    .help(format!("give {want}, or write `normalize auto`")),
                                );
                            }
                            if lists[1].contains(&0.0) {
                                self.out_of_range(
                                    first.unwrap_or(head),
                                    "`normalize`",
                                    "a standard deviation of 0 divides by zero",
                                );
                            }
                            ds.normalize = Some((lists[0].clone(), lists[1].clone()));
                        }
                    }
                    _ => match first
                        .and_then(|e| self.value(e, Ty::Name(&["auto", "none"]), "`normalize`"))
                    {
                        Some(Value::Name(n)) if n == "none" => ds.normalize = None,
                        Some(_) => {}
                        None => {
                            if first.is_none() {
                                self.missing_value(s);
                            }
                        }
                    },
                },
                "classes" | "size" | "seed" => {
                    if ds.source != "synthetic" {
                        self.err(
                            Diagnostic::new(
                                Code::SemaUnknownSetting,
                                s.key.span,
                                format!("`{}` only applies to `synthetic` datasets", s.key.name),
                            )
                            .label("not for this source")
                            .help("built-in datasets know their sizes and classes"),
                        );
                    } else if let Some(e) = first {
                        let v = self.int(
                            e,
                            if s.key.name == "seed" { 0 } else { 1 },
                            &format!("`{}`", s.key.name),
                        );
                        if let (Some(v), Some(g)) = (v, ds.synthetic.as_mut()) {
                            match s.key.name.as_str() {
                                "classes" => g.classes = v as usize,
                                "size" => g.size = v as usize,
                                _ => g.seed = v as u64,
                            }
                        }
                    } else {
                        self.missing_value(s);
                    }
                }
                _ => {
                    let help = did_you_mean(&s.key.name, keys)
                        .unwrap_or_else(|| format!("a dataset takes {}", one_of(keys)));
                    self.err(
                        Diagnostic::new(
                            Code::SemaUnknownSetting,
                            s.key.span,
                            format!("`{}` is not a dataset setting", s.key.name),
                        )
                        .label("unknown here")
                        .help(help),
                    );
                }
            }
        }
        if let Some(span) = split_span {
            let total = |s: Option<SplitSize>, n: Option<u64>| match s {
                Some(SplitSize::Count(c)) => Some(c as f64),
                Some(SplitSize::Fraction(f)) => n.map(|n| f * n as f64),
                None => Some(0.0),
            };
            let fr = |s: Option<SplitSize>| match s {
                Some(SplitSize::Fraction(f)) => f,
                _ => 0.0,
            };
            if fr(ds.train) + fr(ds.val) > 1.0 + 1e-9 {
                self.err(
                    Diagnostic::new(
                        Code::SemaImpossibleSplit,
                        span,
                        "the train and val fractions add up to more than 1",
                    )
                    .label("over 100% of the data")
                    .help("make `train` + `val` at most 1"),
                );
            } else if let (Some(n), Some(a), Some(b)) =
                (size, total(ds.train, size), total(ds.val, size))
                && a + b > n as f64
            {
                self.err(
                    Diagnostic::new(
                        Code::SemaImpossibleSplit,
                        span,
                        format!(
                            "train + val = {} images, but `{}` has {n} training images",
                            (a + b) as u64,
                            ds.source
                        ),
                    )
                    .label("more images than the dataset has")
                    .help(format!(
                        "lower the counts so that train + val <= {n}; the test set is separate"
                    )),
                );
            }
        }
        if ds.source == "folder" && ds.path.is_none() {
            self.err(
                Diagnostic::new(
                    Code::SemaMissing,
                    d.name.span,
                    "a `folder` dataset needs a `path`",
                )
                .label("no path")
                .help("add `path \"data/my_images\"` (one sub-folder per class)"),
            );
        }
        if let (Some(p), Some(span)) = (&ds.path, path_span)
            && !self.loader.exists(p)
        {
            self.err(Diagnostic::new(Code::SemaPathNotFound, span, format!("dataset path `{}` does not exist", p.display())).label("no such file or folder").help(format!("create it (e.g. `mkdir -p {}` and put the dataset there), fix the path (it is relative to this file), or remove `path` to use the built-in location", p.display())));
        }
        Some(ds)
    }

    fn missing_value(&mut self, s: &Stmt) {
        self.err(
            Diagnostic::new(
                Code::SemaMissing,
                s.span,
                format!("`{}` needs a value", s.key.name),
            )
            .label("no value")
            .help("see docs/language.md for this setting"),
        );
    }

    /// Checks a stage declaration (the `index`-th declaration of the file).
    pub(super) fn stage(&mut self, d: &Decl, index: usize) -> Option<Stage> {
        let kinds: Vec<&str> = STAGES.iter().map(|(n, _)| *n).collect();
        let Some(Term::Pos(head)) = d.value.first() else {
            self.err(
                Diagnostic::new(
                    Code::SemaWrongType,
                    d.name.span,
                    "a stage is a kind applied to inputs",
                )
                .label("missing kind")
                .help("write e.g. `stage supernet = train(net) { ... }`"),
            );
            return None;
        };
        let Some((kname, args)) = head.as_callish() else {
            self.wrong_type(head, "a stage kind like `train(net)`", "a stage");
            return None;
        };
        let Some((_, kind)) = STAGES.iter().find(|(n, _)| *n == kname.name).copied() else {
            let help = did_you_mean(&kname.name, kinds.iter().copied())
                .unwrap_or_else(|| format!("stage kinds: {}", one_of(kinds.iter().copied())));
            self.err(
                Diagnostic::new(
                    Code::SemaUnknownValue,
                    kname.span,
                    format!("unknown stage kind `{}`", kname.name),
                )
                .label("not a stage kind")
                .help(help),
            );
            return None;
        };
        let mut ok = true;
        let mut inputs = Vec::new();
        let mut input_spans = Vec::new();
        let mut stmts: Vec<Stmt> = Vec::new();
        for t in args {
            match t {
                Term::Pos(e) => {
                    if let Some(i) = self.input(e, index) {
                        inputs.push(i);
                        input_spans.push(e.span);
                    } else {
                        ok = false;
                    }
                }
                Term::Named(n, v) => stmts.push(Stmt {
                    key: n.clone(),
                    terms: vec![Term::Pos(v.clone())],
                    body: None,
                    span: t.span(),
                }),
            }
        }
        stmts.extend(d.body.clone().unwrap_or_default());
        // The kinds of the inputs.
        let space_of = |cx: &Self, i: &Input| -> Option<String> {
            match i {
                Input::Space(s) => Some(s.clone()),
                Input::Stage { stage, .. } => cx.stage_space.get(stage).cloned(),
                Input::Data { .. } => None,
            }
        };
        let root = inputs.first().and_then(|i| space_of(self, i));
        if ok && !self.inputs_fit(d, kind, &inputs, &input_spans) {
            ok = false;
        }
        // Settings.
        let mut settings: BTreeMap<String, Value> = BTreeMap::new();
        let mut data = None;
        let mut spans: BTreeMap<String, crate::source::Span> = BTreeMap::new();
        for s in &stmts {
            let key = s.key.name.as_str();
            if key == "data" {
                match s.terms.first() {
                    Some(Term::Pos(e)) => match e.as_name() {
                        Some(n) if self.datasets.contains_key(&n.name) => {
                            self.used.insert(n.name.clone());
                            data = Some(n.name.clone());
                        }
                        Some(n) => {
                            let (name, span) = (n.name.clone(), n.span);
                            self.unknown_name(&name, span, &[DeclKind::Dataset], "dataset");
                            ok = false;
                        }
                        None => self.wrong_type(e, "a dataset name", "`data`"),
                    },
                    _ => self.missing_value(s),
                }
                continue;
            }
            let Some(setting) = tables::SETTINGS.iter().find(|x| x.key == key) else {
                let allowed: Vec<&str> = std::iter::once("data")
                    .chain(tables::settings_for(kind).map(|x| x.key))
                    .collect();
                self.err(super::unknown_setting(
                    key,
                    s.key.span,
                    "not a stage setting",
                    &format!("a `{}` stage", kname.name),
                    allowed.iter().copied(),
                ));
                ok = false;
                continue;
            };
            if !setting.kinds.contains(&kind) {
                let owners: Vec<&str> = STAGES
                    .iter()
                    .filter(|(_, k)| setting.kinds.contains(k))
                    .map(|(n, _)| *n)
                    .collect();
                self.err(
                    Diagnostic::new(
                        Code::SemaUnknownSetting,
                        s.key.span,
                        format!("`{key}` is not a setting of a `{}` stage", kname.name),
                    )
                    .label("not here")
                    .help(format!(
                        "`{key}` ({}) belongs to {} stages",
                        setting.doc,
                        one_of(owners.iter().copied())
                    )),
                );
                ok = false;
                continue;
            }
            let v = self.setting_value(s, setting.ty, key);
            let Some(v) = v else {
                ok = false;
                continue;
            };
            let repeatable = matches!(key, "constraint" | "penalty" | "phase");
            match settings.get_mut(key) {
                Some(Value::List(list)) if repeatable => list.push(v),
                Some(_) => {
                    let first = spans.get(key).copied().unwrap_or(s.span);
                    self.err(super::set_twice(key, s.key.span, first));
                    ok = false;
                }
                None => {
                    spans.insert(key.to_string(), s.span);
                    settings.insert(
                        key.to_string(),
                        if repeatable { Value::List(vec![v]) } else { v },
                    );
                }
            }
        }
        // The dataset.
        let needs_data = !matches!(kind, StageKind::Evaluate)
            || !inputs.iter().any(|i| matches!(i, Input::Data { .. }));
        if data.is_none() && needs_data {
            if self.datasets.len() == 1 {
                data = self.datasets.keys().next().cloned();
                if let Some(n) = &data {
                    self.used.insert(n.clone());
                }
            } else if self.datasets.is_empty() {
                if self.names.values().all(|n| n.kind != DeclKind::Dataset) {
                    self.err(Diagnostic::new(Code::SemaMissing, d.name.span, format!("stage `{}` has no dataset", d.name.name)).label("trains or evaluates on nothing").help("declare one: `dataset fmnist = fashion_mnist { split train: 50000, val: 10000 }`"));
                    ok = false;
                }
            } else {
                let mut names: Vec<&str> = self.datasets.keys().map(String::as_str).collect();
                names.sort();
                self.err(
                    Diagnostic::new(
                        Code::SemaMissing,
                        d.name.span,
                        format!("stage `{}` does not say which dataset it uses", d.name.name),
                    )
                    .label("several datasets are declared")
                    .help(format!(
                        "add `data NAME` with one of {}",
                        one_of(names.iter().copied())
                    )),
                );
                ok = false;
            }
        }
        self.stage_warnings(kind, &settings, &spans);
        let upstream: Vec<(String, f64, f64)> = match inputs.first() {
            Some(Input::Stage { stage, .. }) => {
                self.sampler_ranges.get(stage).cloned().unwrap_or_default()
            }
            _ => Vec::new(),
        };
        if let Some(space) = root.as_ref().and_then(|r| self.spaces.get(r)).cloned() {
            ok &= self.stage_fits_space(kind, &space, &settings, &spans, d, &upstream);
        }
        if let Some(r) = &root {
            self.stage_space.insert(d.name.name.clone(), r.clone());
            if kind == StageKind::Train && self.spaces.get(r).is_some_and(|s| !s.has_decisions()) {
                self.fixed_training.insert(d.name.name.clone());
            }
        }
        let cell = root
            .as_ref()
            .and_then(|r| self.spaces.get(r))
            .is_some_and(|s| matches!(s.body, crate::sema::hir::SpaceBody::Cell(_)));
        let settings: crate::sema::hir::Settings = settings.into();
        ok.then(|| Stage {
            name: d.name.name.clone(),
            kind,
            inputs,
            data,
            spec: crate::sema::spec::lower(kind, &settings, cell),
            settings,
            space: root.clone(),
            setting_spans: spans.clone(),
            span: d.span,
        })
    }

    fn setting_value(&mut self, s: &Stmt, ty: Ty, key: &str) -> Option<Value> {
        let what = format!("`{key}`");
        if key == "mutate" {
            // `mutate 25, p: 0.1`: a count and the per-gene probability.
            let mut args = BTreeMap::new();
            for t in &s.terms {
                match t {
                    Term::Pos(e) => {
                        args.insert("count".to_string(), Value::Int(self.int(e, 0, "`mutate`")?));
                    }
                    Term::Named(n, e) if n.name == "p" => {
                        args.insert("p".to_string(), self.value(e, Ty::Prob, "`p` of `mutate`")?);
                    }
                    Term::Named(n, _) => {
                        self.err(
                            Diagnostic::new(
                                Code::SemaUnknownArgument,
                                n.span,
                                format!("`mutate` has no argument `{}`", n.name),
                            )
                            .label("unknown argument")
                            .help("write `mutate 25, p: 0.1`"),
                        );
                        return None;
                    }
                }
            }
            if !args.contains_key("count") {
                self.missing_value(s);
                return None;
            }
            args.entry("p".into()).or_insert(Value::Float(0.1));
            return Some(Value::Call(Call {
                name: "mutate".into(),
                args,
            }));
        }
        if key == "network" {
            // `network cells: 20, channels: 36`: the evaluation network of a cell space.
            let mut args = BTreeMap::new();
            for t in &s.terms {
                match t {
                    Term::Named(n, e) if matches!(n.name.as_str(), "cells" | "channels") => {
                        let what = format!("`{}` of `network`", n.name);
                        args.insert(n.name.clone(), self.value(e, Ty::Nat, &what)?);
                    }
                    _ => {
                        self.err(
                            Diagnostic::new(
                                Code::SemaUnknownArgument,
                                t.span(),
                                "`network` takes `cells:` and `channels:`",
                            )
                            .label("not a network size")
                            .help("write `network cells: 20, channels: 36`"),
                        );
                        return None;
                    }
                }
            }
            if args.is_empty() {
                self.missing_value(s);
                return None;
            }
            return Some(Value::Call(Call {
                name: "network".into(),
                args,
            }));
        }
        match s.terms.as_slice() {
            [Term::Pos(e)] => self.value(e, ty, &what),
            [] => {
                self.missing_value(s);
                None
            }
            [first, rest @ ..] => {
                let span = rest.first().map(|t| t.span()).unwrap_or(first.span());
                self.err(
                    Diagnostic::new(
                        Code::SemaBadArguments,
                        span,
                        format!("{what} takes one value"),
                    )
                    .label("extra value")
                    .help(format!("{what} is {}", ty.describe())),
                );
                None
            }
        }
    }

    /// Resolves one stage input: a space, a stage (optionally `.field`), or `dataset.split`.
    fn input(&mut self, e: &Expr, index: usize) -> Option<Input> {
        let ExprKind::Path(parts) = &e.kind else {
            self.wrong_type(e, "a space, stage or dataset name", "a stage input");
            return None;
        };
        let first = parts.first()?;
        let Some(n) = self.names.get(&first.name).copied() else {
            self.unknown_name(
                &first.name,
                first.span,
                &[DeclKind::Stage, DeclKind::Space, DeclKind::Dataset],
                "stage, space or dataset",
            );
            return None;
        };
        self.used.insert(first.name.clone());
        let field = parts.get(1).map(|f| (f.name.clone(), f.span));
        if parts.len() > 2 {
            self.wrong_type(e, "`name` or `name.field`", "a stage input");
            return None;
        }
        match n.kind {
            DeclKind::Stage => {
                if n.index >= index {
                    let what = if n.index == index {
                        "itself"
                    } else {
                        "a stage declared later"
                    };
                    self.err(Diagnostic::new(Code::SemaStageOrder, first.span, format!("this stage uses {what}: `{}`", first.name)).label("not yet computed here").note(n.span, "declared here").help("stages run in the order they are declared; move this stage after its inputs"));
                    return None;
                }
                let Some((kind, _)) = self.stages.get(&first.name).copied() else {
                    return None; // the input stage had errors, already reported
                };
                if let Some((f, span)) = field {
                    let fields = tables::fields(kind);
                    if !fields.contains(&f.as_str()) {
                        let help = did_you_mean(&f, fields.iter().copied()).unwrap_or_else(|| {
                            if fields.is_empty() {
                                format!("use `{}` without a field", first.name)
                            } else {
                                format!("fields: {}", one_of(fields.iter().copied()))
                            }
                        });
                        self.err(
                            Diagnostic::new(
                                Code::SemaUnknownName,
                                span,
                                format!("stage `{}` has no result `{f}`", first.name),
                            )
                            .label("unknown field")
                            .help(help),
                        );
                        return None;
                    }
                    Some(Input::Stage {
                        stage: first.name.clone(),
                        field: Some(f),
                    })
                } else {
                    Some(Input::Stage {
                        stage: first.name.clone(),
                        field: None,
                    })
                }
            }
            DeclKind::Space => {
                if let Some((_, span)) = field {
                    self.err(
                        Diagnostic::new(Code::SemaUnknownName, span, "a space has no fields")
                            .label("unexpected field")
                            .help(format!("use `{}`", first.name)),
                    );
                    return None;
                }
                self.spaces
                    .contains_key(&first.name)
                    .then(|| Input::Space(first.name.clone()))
            }
            DeclKind::Dataset => {
                let splits = ["train", "val", "test"];
                match field {
                    Some((f, _)) if splits.contains(&f.as_str()) => Some(Input::Data {
                        dataset: first.name.clone(),
                        split: f,
                    }),
                    Some((f, span)) => {
                        let help = did_you_mean(&f, splits)
                            .unwrap_or_else(|| "splits: `train`, `val`, `test`".into());
                        self.err(
                            Diagnostic::new(
                                Code::SemaUnknownName,
                                span,
                                format!("dataset `{}` has no split `{f}`", first.name),
                            )
                            .label("unknown split")
                            .help(help),
                        );
                        None
                    }
                    None => Some(Input::Data {
                        dataset: first.name.clone(),
                        split: "test".into(),
                    }),
                }
            }
            DeclKind::Block => {
                self.err(
                    Diagnostic::new(
                        Code::SemaWrongInput,
                        first.span,
                        format!("`{}` is a block, not a space or stage", first.name),
                    )
                    .label("a block")
                    .help("stages read spaces, stages and datasets; use the block inside a space"),
                );
                None
            }
        }
    }

    fn wrong_input(&mut self, span: crate::source::Span, msg: String, label: &str, help: String) {
        self.err(
            Diagnostic::new(Code::SemaWrongInput, span, msg)
                .label(label.to_string())
                .help(help),
        );
    }

    /// Whether the inputs have the kinds the stage needs; reports when not.
    fn inputs_fit(
        &mut self,
        d: &Decl,
        kind: StageKind,
        inputs: &[Input],
        spans: &[crate::source::Span],
    ) -> bool {
        use StageKind as K;
        let name = STAGES
            .iter()
            .find(|(_, k)| *k == kind)
            .map(|(n, _)| *n)
            .unwrap_or("stage");
        let Some(first) = inputs.first() else {
            let what = match kind {
                K::Retrain => {
                    "retraining nothing: `retrain` needs an architecture, e.g. `retrain(search.best)`"
                }
                K::Evaluate => {
                    "evaluating nothing: `evaluate` needs a model, e.g. `evaluate(final, data.test)`"
                }
                _ => "the stage has no input",
            };
            self.err(
                Diagnostic::new(Code::SemaMissing, d.name.span, what.to_string())
                    .label("no input")
                    .help(format!("give `{name}(...)` its input")),
            );
            return false;
        };
        let span = spans.first().copied().unwrap_or(d.name.span);
        let max_inputs = match kind {
            K::Evaluate => 2,
            // Several supernets of one space, ranked on the same architectures.
            K::Rank => MAX_RANKED,
            _ => 1,
        };
        if inputs.len() > max_inputs {
            self.err(
                Diagnostic::new(
                    Code::SemaBadArguments,
                    spans.get(max_inputs).copied().unwrap_or(span),
                    format!(
                        "`{name}` takes {max_inputs} input{}",
                        if max_inputs == 1 { "" } else { "s" }
                    ),
                )
                .label("extra input")
                .help("remove it"),
            );
            return false;
        }
        let space_fixed =
            |cx: &Self, s: &str| cx.spaces.get(s).is_some_and(|sp| !sp.has_decisions());
        let stage_kind = |cx: &Self, s: &str| cx.stages.get(s).map(|x| x.0);
        let is_supernet = |cx: &Self, s: &str| {
            matches!(
                stage_kind(cx, s),
                Some(K::Train | K::ProgressiveShrinking | K::FewShot)
            ) && !cx.fixed_training.contains(s)
        };
        let is_search = |cx: &Self, s: &str| {
            matches!(
                stage_kind(cx, s),
                Some(
                    K::Evolution
                        | K::RandomSearch
                        | K::Nsga2
                        | K::SuccessiveHalving
                        | K::Differentiable
                        | K::Rl
                        | K::Hypernet
                )
            )
        };
        match kind {
            K::Train
            | K::ProgressiveShrinking
            | K::SuccessiveHalving
            | K::Differentiable
            | K::Rl
            | K::Hypernet => match first {
                Input::Space(s) if kind != K::Train && space_fixed(self, s) => {
                    self.wrong_input(span, format!("searching a fixed network: `{s}` has no decisions"), "nothing to search", format!("give `{s}` a `choose [...]`, a list-valued `out`/`repeat`, or candidate `ops`; or `train({s})` it directly"));
                    false
                }
                Input::Space(_) => true,
                _ => {
                    self.wrong_input(
                        span,
                        format!("`{name}` needs a space"),
                        "not a space",
                        format!("write `{name}(SPACE)`"),
                    );
                    false
                }
            },
            K::Rank if inputs.len() > 1 => {
                // Each input is a supernet; all of the first one's space.
                let root = |cx: &Self, i: &Input| match i {
                    Input::Stage { stage, .. } => cx.stage_space.get(stage).cloned(),
                    _ => None,
                };
                let want = root(self, first);
                for (i, input) in inputs.iter().enumerate() {
                    let at = spans.get(i).copied().unwrap_or(span);
                    if !self.inputs_fit(d, kind, std::slice::from_ref(input), &[at]) {
                        return false;
                    }
                    if i > 0 && root(self, input) != want {
                        self.wrong_input(
                            at,
                            format!(
                                "`rank` compares supernets of one space, but this one trained `{}`, not `{}`",
                                root(self, input).unwrap_or_default(),
                                want.clone().unwrap_or_default()
                            ),
                            "another space",
                            "rank each space in its own `rank` stage".into(),
                        );
                        return false;
                    }
                }
                true
            }
            K::FewShot | K::Evolution | K::RandomSearch | K::Nsga2 | K::Rank => {
                match first {
                    Input::Stage { stage, .. } if is_supernet(self, stage) => true,
                    // A hypernetwork is ranked with the weights it generates.
                    Input::Stage { stage, field: None }
                        if kind == K::Rank && stage_kind(self, stage) == Some(K::Hypernet) =>
                    {
                        true
                    }
                    Input::Stage { stage, .. } if self.fixed_training.contains(stage) => {
                        self.wrong_input(span, format!("searching a fixed network: `{stage}` trained a space with no decisions"), "nothing to search", "a search needs a supernet trained on a space with choices".into());
                        false
                    }
                    Input::Space(s) if space_fixed(self, s) => {
                        self.wrong_input(
                            span,
                            format!("searching a fixed network: `{s}` has no decisions"),
                            "nothing to search",
                            "a search needs a space with choices, trained as a supernet".into(),
                        );
                        false
                    }
                    Input::Space(s) => {
                        self.wrong_input(span, format!("`{name}` needs a trained supernet, not the space `{s}`"), "an untrained space", format!("add `stage supernet = train({s}) {{ sampler uniform ... }}` and use `{name}(supernet)`"));
                        false
                    }
                    _ => {
                        self.wrong_input(span, format!("`{name}` needs a trained supernet"), "not a supernet", "use the result of a `train`, `progressive_shrinking` or `few_shot` stage".into());
                        false
                    }
                }
            }
            K::Retrain => match first {
                Input::Stage { stage, .. } if is_search(self, stage) => true,
                Input::Space(s) if space_fixed(self, s) => true,
                Input::Space(s) => {
                    self.wrong_input(
                        span,
                        format!("retraining a space with open decisions: `{s}`"),
                        "not one architecture",
                        format!("search `{s}` first and retrain `search.best`"),
                    );
                    false
                }
                _ => {
                    self.wrong_input(
                        span,
                        "`retrain` needs an architecture".into(),
                        "not an architecture",
                        "retrain a search result (`search.best`) or a fixed space".into(),
                    );
                    false
                }
            },
            K::Evaluate => {
                let model_ok = match first {
                    Input::Stage { stage, field } => {
                        matches!(stage_kind(self, stage), Some(K::Retrain | K::Train))
                            || (is_search(self, stage) && field.is_some())
                            || is_supernet(self, stage)
                    }
                    _ => false,
                };
                if !model_ok {
                    self.wrong_input(
                        span,
                        "`evaluate` needs a trained model".into(),
                        "not a trained model",
                        "evaluate a `retrain` or `train` stage, or a search result `search.best`"
                            .into(),
                    );
                    return false;
                }
                if let Some(second) = inputs.get(1)
                    && !matches!(second, Input::Data { .. })
                {
                    self.wrong_input(
                        spans.get(1).copied().unwrap_or(span),
                        "the second input of `evaluate` is a dataset split".into(),
                        "not a dataset split",
                        "write e.g. `fmnist.test`".into(),
                    );
                    return false;
                }
                true
            }
        }
    }

    fn stage_warnings(
        &mut self,
        kind: StageKind,
        settings: &BTreeMap<String, Value>,
        spans: &BTreeMap<String, crate::source::Span>,
    ) {
        // A differentiable search of 0 epochs derives from the untrained (random) architecture
        // parameters: the random baseline of the DARTS paper.
        if let (Some(Value::Int(0)), Some(span)) = (settings.get("epochs"), spans.get("epochs"))
            && kind != StageKind::Differentiable
        {
            self.err(
                Diagnostic::new(
                    Code::SemaZeroEpochs,
                    *span,
                    "this stage trains for 0 epochs",
                )
                .label("nothing is trained")
                .help("give it at least 1 epoch, or remove the stage"),
            );
        }
        for key in ["optimizer", "weights", "arch"] {
            if let (Some(Value::Call(c)), Some(span)) = (settings.get(key), spans.get(key))
                && let Some(lr) = c.get("lr").and_then(Value::as_f64)
                && lr > 1.0
            {
                self.err(
                    Diagnostic::new(
                        Code::SemaSuspicious,
                        *span,
                        format!("learning rate {lr} is above 1"),
                    )
                    .label("suspicious")
                    .help("typical learning rates are 1e-4 to 0.5; training will likely diverge"),
                );
            }
        }
        // The controller's numbers: a learning rate above 0, non-negative shaping and bonus.
        if let (Some(Value::Call(c)), Some(span)) =
            (settings.get("controller"), spans.get("controller"))
        {
            for (arg, bad, why) in [
                (
                    "lr",
                    c.get("lr")
                        .and_then(Value::as_f64)
                        .is_some_and(|v| v <= 0.0),
                    "the controller's learning rate must be above 0",
                ),
                (
                    "entropy",
                    c.get("entropy")
                        .and_then(Value::as_f64)
                        .is_some_and(|v| v < 0.0),
                    "the entropy bonus must be 0 or more",
                ),
                (
                    "tanh",
                    c.get("tanh")
                        .and_then(Value::as_f64)
                        .is_some_and(|v| v < 0.0),
                    "the tanh constant must be 0 (off) or more",
                ),
                (
                    "temperature",
                    c.get("temperature")
                        .and_then(Value::as_f64)
                        .is_some_and(|v| v < 0.0),
                    "the temperature must be 0 (off) or more",
                ),
            ] {
                if bad {
                    self.err(
                        Diagnostic::new(Code::SemaOutOfRange, *span, format!("controller `{arg}` is out of range"))
                            .label(why)
                            .help(format!("{why}; ENAS uses `lstm(lr: 3.5e-4, entropy: 1e-4, tanh: 2.5, temperature: 5.0)`")),
                    );
                }
            }
        }
        if let (Some(Value::Call(c)), Some(span)) = (settings.get("reward"), spans.get("reward"))
            && c.name == "mnas"
        {
            if c.get("target")
                .and_then(Value::as_f64)
                .is_some_and(|t| t <= 0.0)
            {
                self.err(
                    Diagnostic::new(
                        Code::SemaOutOfRange,
                        *span,
                        "the latency target must be above 0",
                    )
                    .label("target of 0")
                    .help("give the target latency, e.g. `reward mnas(target: 80ms, w: -0.07)`"),
                );
            }
            if c.get("w").and_then(Value::as_f64).is_some_and(|w| w > 0.0) {
                self.err(
                    Diagnostic::new(
                        Code::SemaSuspicious,
                        *span,
                        "a positive `w` rewards slower architectures",
                    )
                    .label("suspicious")
                    .help("MnasNet uses w = -0.07 (soft) or w = -1 past the target (hard)"),
                );
            }
        }
        for key in ["drop_path", "dropout"] {
            if let (Some(v), Some(span)) = (settings.get(key), spans.get(key))
                && v.as_f64().is_some_and(|p| p >= 1.0)
            {
                self.err(
                    Diagnostic::new(
                        Code::SemaSuspicious,
                        *span,
                        format!("`{key}` of 1 or more drops everything"),
                    )
                    .label("suspicious")
                    .help("use a value below 1, e.g. 0.2"),
                );
            }
        }
    }

    /// Cross-checks a stage with its space: samplers, derivations, constraints.
    #[allow(clippy::too_many_arguments)]
    fn stage_fits_space(
        &mut self,
        kind: StageKind,
        space: &Space,
        settings: &BTreeMap<String, Value>,
        spans: &BTreeMap<String, crate::source::Span>,
        d: &Decl,
        upstream: &[(String, f64, f64)],
    ) -> bool {
        let mut ok = true;
        let span_of = |k: &str| spans.get(k).copied().unwrap_or(d.name.span);
        let call = |k: &str| match settings.get(k) {
            Some(Value::Call(c)) => Some(c.clone()),
            _ => None,
        };
        if let Some(s) = call("sampler") {
            if !tables::TRAIN_SAMPLERS.contains(&s.name.as_str()) {
                self.err(Diagnostic::new(Code::SemaSamplerMismatch, span_of("sampler"), format!("`{}` is a relaxation of gradient search, not a supernet-training sampler", s.name)).label("not a training sampler").help(format!("use it as `relax {}` in a `differentiable` stage; training samplers: {}", s.name, one_of(tables::TRAIN_SAMPLERS.iter().copied()))));
                ok = false;
            } else if !space.has_decisions() {
                self.err(
                    Diagnostic::new(
                        Code::SemaSamplerMismatch,
                        span_of("sampler"),
                        format!("`sampler {}` on the fixed network `{}`", s.name, space.name),
                    )
                    .label("nothing to sample")
                    .help("remove the sampler to train the network plainly"),
                );
                ok = false;
            } else if s.name == "fair"
                && let SpaceBody::Cell(c) = &space.body
                && c.node_inputs.is_some()
            {
                self.err(Diagnostic::new(Code::SemaSamplerMismatch, span_of("sampler"), format!("fair sampling needs the same number of choices in every decision, but `{}` chooses node inputs among 2 to {} earlier nodes and ops among {}", space.name, c.inputs + c.nodes - 1, c.ops.len())).label("strict fairness impossible").help("use `sampler uniform` (SPOS), or drop `node_inputs` so that every edge chooses among the same ops"));
                ok = false;
            } else if s.name == "fair"
                // Every edge of a cell chooses among the same `ops`: strict fairness per edge
                // holds there; a chain's `choose` lists must have equal lengths.
                && let SpaceBody::Chain(c) = &space.body
            {
                let counts: Vec<usize> = c
                    .stages
                    .iter()
                    .filter_map(|st| match &st.layer {
                        Layer::Choose(v) => Some(v.len()),
                        _ => None,
                    })
                    .collect();
                if let (Some(min), Some(max)) = (counts.iter().min(), counts.iter().max())
                    && min != max
                {
                    self.err(Diagnostic::new(Code::SemaSamplerMismatch, span_of("sampler"), format!("fair sampling needs the same number of choices in every layer, but `{}` has between {min} and {max}", space.name)).label("strict fairness impossible").help("give every `choose` the same number of candidates (FairNAS), or use `sampler uniform`"));
                    ok = false;
                }
            }
        }
        if let Some(Value::Name(over)) = settings.get("sample_over")
            && over != "edges"
        {
            let sampler = call("sampler")
                .map(|c| c.name)
                .unwrap_or_else(|| "uniform".into());
            let problem = match &space.body {
                SpaceBody::Cell(c) if c.node_inputs.is_some() => Some((
                    format!(
                        "`sample_over {over}` reads the edges of every cell node, but `{}` chooses node inputs",
                        space.name
                    ),
                    "drop `node_inputs`, or leave `sample_over` at `edges`".to_string(),
                )),
                SpaceBody::Cell(_) => None,
                _ => Some((
                    format!(
                        "`sample_over {over}` draws the edges of cells, but `{}` is not a cell space",
                        space.name
                    ),
                    "leave `sample_over` at `edges` (its default) on chains".to_string(),
                )),
            };
            let problem = problem.or_else(|| {
                (!matches!(sampler.as_str(), "uniform" | "sandwich")).then(|| {
                    (
                        format!("`sample_over {over}` shapes uniform draws, but `sampler {sampler}` draws its own way"),
                        "use `sampler uniform` or `sampler sandwich(...)` with it".to_string(),
                    )
                })
            });
            if let Some((message, help)) = problem {
                self.err(
                    Diagnostic::new(Code::SemaSamplerMismatch, span_of("sample_over"), message)
                        .label("no such draw here")
                        .help(help),
                );
                ok = false;
            }
        }
        if let Some(r) = call("relax") {
            if !tables::RELAXATIONS.contains(&r.name.as_str()) {
                self.err(
                    Diagnostic::new(
                        Code::SemaSamplerMismatch,
                        span_of("relax"),
                        format!(
                            "`{}` is a supernet-training sampler, not a relaxation",
                            r.name
                        ),
                    )
                    .label("not a relaxation")
                    .help(format!(
                        "relaxations: {}",
                        one_of(tables::RELAXATIONS.iter().copied())
                    )),
                );
                ok = false;
            }
            if r.name == "binary_gates" {
                if let SpaceBody::Cell(c) = &space.body
                    && c.ops.iter().any(|o| o.kind == OpKind::Zero)
                {
                    self.err(Diagnostic::new(Code::SemaSamplerMismatch, span_of("relax"), format!("binary gates on the cell space `{}` whose edges include `none`", space.name)).label("a node can lose all its inputs").help("binary gates keep one active path per edge; remove `none` from `ops`, or use `relax softmax`/`gumbel`"));
                    ok = false;
                }
                let min_choices = match &space.body {
                    SpaceBody::Chain(c) => c
                        .stages
                        .iter()
                        .filter_map(|st| match &st.layer {
                            Layer::Choose(v) => Some(v.len()),
                            _ => None,
                        })
                        .min(),
                    SpaceBody::Cell(c) => Some(c.ops.len()),
                    SpaceBody::Genotype(_) => None,
                };
                if let (Some(Value::Int(p)), Some(m)) = (r.get("paths"), min_choices)
                    && *p as usize > m
                {
                    self.err(
                        Diagnostic::new(
                            Code::SemaSamplerMismatch,
                            span_of("relax"),
                            format!(
                                "binary gates sample {p} paths but a layer has only {m} choices"
                            ),
                        )
                        .label("too many paths")
                        .help(format!("use `paths: {}` or fewer", m)),
                    );
                    ok = false;
                }
            }
        }
        if let Some(dv) = call("derive")
            && dv.name == "top_k_edges"
            && !matches!(space.body, SpaceBody::Cell(_))
        {
            self.err(
                Diagnostic::new(
                    Code::SemaSamplerMismatch,
                    span_of("derive"),
                    "`top_k_edges` derives DAG cells, but the space is a chain",
                )
                .label("no edges to keep")
                .help("use `derive argmax` (or `sample(n)`) for a chain space"),
            );
            ok = false;
        }
        if kind == StageKind::Differentiable && call("relax").is_none() {
            // Default relaxation is softmax; nothing to check.
        }
        // Hard constraints no architecture can satisfy; bounds from the exact cost model are checked
        // after the space is built (driver::check_file).
        // A supernet trained with a constrained sampler only knows archs in its cost ranges.
        let mut ranges: BTreeMap<String, (f64, f64)> = upstream
            .iter()
            .map(|(m, lo, hi)| (m.clone(), (*lo, *hi)))
            .collect();
        if let Some(s) = call("sampler") {
            let mut own = Vec::new();
            for m in ["flops", "params", "latency"] {
                if let Some(Value::Range(lo, hi)) = s.get(m) {
                    ranges.insert(m.into(), (*lo, *hi));
                    own.push((m.to_string(), *lo, *hi));
                }
            }
            self.sampler_ranges.insert(d.name.name.clone(), own);
        } else if !upstream.is_empty() {
            self.sampler_ranges
                .insert(d.name.name.clone(), upstream.to_vec());
        }
        if let Some(Value::List(cs)) = settings.get("constraint") {
            for c in cs {
                let Value::Tuple(parts) = c else { continue };
                let (Some(Value::Name(m)), Some(Value::Name(op)), Some(Value::Float(v))) =
                    (parts.first(), parts.get(1), parts.get(2))
                else {
                    continue;
                };
                let upper = matches!(op.as_str(), "<=" | "<" | "==");
                let lower = matches!(op.as_str(), ">=" | ">" | "==");
                let is_acc = m.ends_with("accuracy");
                let why = if is_acc && lower && *v > 1.0 {
                    Some(format!(
                        "accuracy is at most 1, but the constraint asks {m} {op} {v}"
                    ))
                } else if !is_acc
                    && METRICS.contains(&m.as_str())
                    && upper
                    && (*v < 0.0 || (*v == 0.0 && op != "==") || (op == "<" && *v <= 0.0))
                {
                    Some(format!(
                        "{m} is positive, but the constraint asks {m} {op} {v}"
                    ))
                } else if let Some((lo, hi)) = ranges
                    .get(m.as_str())
                    .copied()
                    .filter(|(lo, hi)| (upper && *v < *lo) || (lower && *v > *hi))
                {
                    // Latency is written (and shown) as a duration; sema holds seconds.
                    let show = |x: f64| {
                        if m == "latency" {
                            format!("{}ms", x * 1e3)
                        } else {
                            fmt_count(x)
                        }
                    };
                    Some(format!(
                        "the sampler only draws {m} in {}..{}, but the constraint asks {m} {op} {}",
                        show(lo),
                        show(hi),
                        show(*v)
                    ))
                } else {
                    None
                };
                if let Some(why) = why {
                    self.err(
                        Diagnostic::new(
                            Code::SemaUnsatisfiable,
                            span_of("constraint"),
                            "no architecture can satisfy this constraint",
                        )
                        .label(why)
                        .help("relax the bound, or change the space"),
                    );
                    ok = false;
                }
            }
        }
        ok
    }
}

fn fmt_count(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}K", v / 1e3)
    } else {
        format!("{v}")
    }
}
