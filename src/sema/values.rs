//! Typed values: converts expressions into HIR values by the types of sema's tables, checking table
//! calls (unknown names and arguments with suggestions, positional counts, flags, defaults).

use super::Cx;
use super::hir::{Call, Schedule, Value};
use super::tables::{Dv, METRICS, Sig, Ty};
use crate::diag::{Code, Diagnostic, did_you_mean, one_of};
use crate::syntax::ast::{Expr, ExprKind, Term, Unit};
use std::collections::BTreeMap;

/// Names bound to expressions: block parameters and space arguments.
pub(crate) type Env = std::collections::HashMap<String, Expr>;

/// The joined text of a path expression (`val.accuracy`).
pub(crate) fn path_text(e: &Expr) -> Option<String> {
    match &e.kind {
        ExprKind::Path(p) => Some(
            p.iter()
                .map(|i| i.name.as_str())
                .collect::<Vec<_>>()
                .join("."),
        ),
        _ => None,
    }
}

impl Cx<'_> {
    /// Replaces a bound name by its value.
    pub fn resolve<'e>(&self, e: &'e Expr, env: &'e Env) -> &'e Expr {
        match e.as_name() {
            Some(n) => env.get(&n.name).unwrap_or(e),
            None => e,
        }
    }

    pub fn wrong_type(&mut self, e: &Expr, expected: &str, what: &str) {
        self.err(
            Diagnostic::new(
                Code::SemaWrongType,
                e.span,
                format!("{what} must be {expected}"),
            )
            .label(format!("this is {}", e.describe()))
            .help(format!("write {expected} here")),
        );
    }

    pub fn out_of_range(&mut self, e: &Expr, what: &str, why: &str) {
        self.err(
            Diagnostic::new(
                Code::SemaOutOfRange,
                e.span,
                format!("{what} is out of range"),
            )
            .label(why.to_string())
            .help(format!("{what}: {why}")),
        );
    }

    fn number(&mut self, e: &Expr, what: &str, expected: &str) -> Option<(f64, bool, Unit)> {
        match &e.kind {
            ExprKind::Number(n) => Some((n.value, n.integral, n.unit)),
            _ => {
                self.wrong_type(e, expected, what);
                None
            }
        }
    }

    /// A whole number >= `min`.
    pub fn int(&mut self, e: &Expr, min: i64, what: &str) -> Option<i64> {
        let expected = if min >= 1 {
            "a positive whole number"
        } else {
            "a whole number"
        };
        let (v, integral, _) = self.number(e, what, expected)?;
        if !integral {
            self.wrong_type(e, expected, what);
            return None;
        }
        let v = v as i64;
        if v < min {
            self.out_of_range(e, what, &format!("must be at least {min}"));
            return None;
        }
        Some(v)
    }

    pub fn float(&mut self, e: &Expr, what: &str) -> Option<f64> {
        self.number(e, what, "a number").map(|n| n.0)
    }

    /// Converts an expression to a value of a type.
    pub fn value(&mut self, e: &Expr, ty: Ty, what: &str) -> Option<Value> {
        match ty {
            Ty::Int => self.int(e, 0, what).map(Value::Int),
            Ty::Nat => self.int(e, 1, what).map(Value::Int),
            Ty::Float => self.float(e, what).map(Value::Float),
            Ty::Prob => {
                let v = self.float(e, what)?;
                if !(0.0..=1.0).contains(&v) {
                    self.out_of_range(e, what, "must be between 0 and 1");
                    return None;
                }
                Some(Value::Float(v))
            }
            Ty::Bool => match e.kind {
                ExprKind::Bool(b) => Some(Value::Bool(b)),
                _ => {
                    self.wrong_type(e, "`true` or `false`", what);
                    None
                }
            },
            Ty::Str => match &e.kind {
                ExprKind::Str { value, .. } => Some(Value::Str(value.clone())),
                _ => {
                    self.wrong_type(e, "a string", what);
                    None
                }
            },
            Ty::Dur => {
                let (v, _, unit) = self.number(e, what, "a duration like `80ms`")?;
                if unit == Unit::Count {
                    self.wrong_type(e, "a duration like `80ms`", what);
                    return None;
                }
                Some(Value::Float(v))
            }
            Ty::Sched => match &e.kind {
                ExprKind::Sched { from, to, shape } => {
                    let f = self.float(from, what);
                    let t = self.float(to, what);
                    if let Some(sh) = shape
                        && !Schedule::SHAPES.contains(&sh.name.as_str())
                    {
                        let help = did_you_mean(&sh.name, Schedule::SHAPES.iter().copied())
                            .unwrap_or_else(|| {
                                format!(
                                    "a schedule is {}",
                                    one_of(Schedule::SHAPES.iter().copied())
                                )
                            });
                        self.err(
                            Diagnostic::new(
                                Code::SemaUnknownValue,
                                sh.span,
                                format!("unknown schedule shape `{}`", sh.name),
                            )
                            .label("not a schedule shape")
                            .help(help),
                        );
                        return None;
                    }
                    if shape.as_ref().is_some_and(|sh| sh.name == "exponential")
                        && let (Some(a), Some(b)) = (f, t)
                        && (a <= 0.0 || b <= 0.0)
                    {
                        self.err(
                            Diagnostic::new(
                                Code::SemaOutOfRange,
                                e.span,
                                "an exponential schedule needs both ends above 0",
                            )
                            .label("geometric interpolation")
                            .help("use `linear` or `cosine` to reach 0"),
                        );
                        return None;
                    }
                    Some(Value::Schedule(Schedule {
                        from: f?,
                        to: t?,
                        shape: shape
                            .as_ref()
                            .map(|s| s.name.clone())
                            .unwrap_or_else(|| "linear".into()),
                    }))
                }
                _ => self.float(e, what).map(Value::Float),
            },
            Ty::Range | Ty::DurRange => match &e.kind {
                ExprKind::Range(a, b) => {
                    // Durations bound latency; counts bound FLOPs and parameters.
                    for end in [a, b] {
                        if let ExprKind::Number(n) = &end.kind
                            && matches!(ty, Ty::DurRange) != (n.unit == Unit::Duration)
                        {
                            self.wrong_type(end, &ty.describe(), what);
                            return None;
                        }
                    }
                    let lo = self.float(a, what);
                    let hi = self.float(b, what);
                    let (lo, hi) = (lo?, hi?);
                    if lo > hi {
                        self.out_of_range(e, what, "the lower end is above the upper end");
                        return None;
                    }
                    Some(Value::Range(lo, hi))
                }
                _ => {
                    self.wrong_type(e, "a range like `5M..20M`", what);
                    None
                }
            },
            Ty::Pair => match &e.kind {
                ExprKind::Tuple(items) if items.len() == 2 => {
                    let a = self.float(&items[0], what);
                    let b = self.float(&items[1], what);
                    Some(Value::Tuple(vec![Value::Float(a?), Value::Float(b?)]))
                }
                _ => {
                    self.wrong_type(e, "a pair like `(0.5, 0.999)`", what);
                    None
                }
            },
            Ty::Name(names) => match e.as_name() {
                Some(n) if names.contains(&n.name.as_str()) => Some(Value::Name(n.name.clone())),
                Some(n) => {
                    let help = did_you_mean(&n.name, names.iter().copied())
                        .unwrap_or_else(|| format!("use {}", one_of(names.iter().copied())));
                    self.err(
                        Diagnostic::new(
                            Code::SemaUnknownValue,
                            n.span,
                            format!("unknown {what} `{}`", n.name),
                        )
                        .label(format!("not one of {}", one_of(names.iter().copied())))
                        .help(help),
                    );
                    None
                }
                None => {
                    self.wrong_type(e, &one_of(names.iter().copied()), what);
                    None
                }
            },
            Ty::IntList => match &e.kind {
                ExprKind::List(items) => {
                    let v: Vec<Option<i64>> = items.iter().map(|i| self.int(i, 0, what)).collect();
                    v.into_iter()
                        .map(|x| x.map(Value::Int))
                        .collect::<Option<Vec<_>>>()
                        .map(Value::List)
                }
                ExprKind::Range(a, b) => {
                    let lo = self.int(a, 0, what);
                    let hi = self.int(b, 0, what);
                    let (lo, hi) = (lo?, hi?);
                    if hi < lo || hi - lo > 10_000 {
                        self.out_of_range(
                            e,
                            what,
                            "a range must go up and hold at most 10000 values",
                        );
                        return None;
                    }
                    Some(Value::List((lo..=hi).map(Value::Int).collect()))
                }
                _ => {
                    self.wrong_type(e, "a list of whole numbers or a range", what);
                    None
                }
            },
            Ty::Metric => self.metric(e, what).map(Value::Name),
            Ty::Metrics => match &e.kind {
                ExprKind::List(items) if items.len() >= 2 => {
                    let v: Vec<Option<String>> =
                        items.iter().map(|i| self.metric(i, what)).collect();
                    v.into_iter()
                        .map(|x| x.map(Value::Name))
                        .collect::<Option<Vec<_>>>()
                        .map(Value::List)
                }
                _ => {
                    self.wrong_type(e, "a list of two or more metrics", what);
                    None
                }
            },
            Ty::Constraint => match &e.kind {
                ExprKind::Compare { lhs, op, rhs } => {
                    let m = self.metric(lhs, what);
                    // Latency is bounded by a duration, the other metrics by plain numbers.
                    if let (Some(m), ExprKind::Number(n)) = (&m, &rhs.kind)
                        && (m == "latency") != (n.unit == Unit::Duration)
                    {
                        let expected = if m == "latency" {
                            "a duration like `5ms`"
                        } else {
                            "a number like `12M` (not a duration)"
                        };
                        self.wrong_type(rhs, expected, what);
                        return None;
                    }
                    let v = self.float(rhs, what);
                    Some(Value::Tuple(vec![
                        Value::Name(m?),
                        Value::Name(op.clone()),
                        Value::Float(v?),
                    ]))
                }
                _ => {
                    self.wrong_type(e, "a comparison like `flops <= 12M`", what);
                    None
                }
            },
            Ty::Call(sigs) => self.call(e, sigs, what).map(Value::Call),
        }
    }

    /// A metric name.
    pub fn metric(&mut self, e: &Expr, what: &str) -> Option<String> {
        let Some(text) = path_text(e) else {
            self.wrong_type(e, "a metric such as `val.accuracy` or `flops`", what);
            return None;
        };
        if METRICS.contains(&text.as_str()) {
            return Some(text);
        }
        let help = did_you_mean(&text, METRICS.iter().copied())
            .unwrap_or_else(|| format!("metrics: {}", one_of(METRICS.iter().copied())));
        self.err(
            Diagnostic::new(
                Code::SemaUnknownValue,
                e.span,
                format!("unknown metric `{text}`"),
            )
            .label("not a metric")
            .help(help),
        );
        None
    }

    /// Checks a call against a table of signatures; a bare name is a call without arguments.
    pub fn call(&mut self, e: &Expr, sigs: &[Sig], what: &str) -> Option<Call> {
        let Some((name, args)) = e.as_callish() else {
            self.wrong_type(e, &one_of(sigs.iter().map(|s| s.name)), what);
            return None;
        };
        let Some(sig) = sigs.iter().find(|s| s.name == name.name) else {
            let help = did_you_mean(&name.name, sigs.iter().map(|s| s.name))
                .unwrap_or_else(|| format!("known: {}", one_of(sigs.iter().map(|s| s.name))));
            self.err(
                Diagnostic::new(
                    Code::SemaUnknownValue,
                    name.span,
                    format!("unknown {what} `{}`", name.name),
                )
                .label(format!("not a known {what}"))
                .help(help),
            );
            return None;
        };
        let mut out: BTreeMap<String, Value> = BTreeMap::new();
        let mut given: Vec<&str> = Vec::new();
        let mut ok = true;
        let mut pos = 0;
        for t in args {
            let (param, value) = match t {
                Term::Named(n, v) => match sig.params.iter().find(|p| p.name == n.name) {
                    Some(p) => (p, v),
                    None => {
                        let help = did_you_mean(&n.name, sig.params.iter().map(|p| p.name))
                            .unwrap_or_else(|| {
                                format!(
                                    "`{}` takes {}",
                                    sig.name,
                                    if sig.params.is_empty() {
                                        "no arguments".into()
                                    } else {
                                        one_of(sig.params.iter().map(|p| p.name))
                                    }
                                )
                            });
                        self.err(
                            Diagnostic::new(
                                Code::SemaUnknownArgument,
                                n.span,
                                format!("`{}` has no argument `{}`", sig.name, n.name),
                            )
                            .label("unknown argument")
                            .help(help),
                        );
                        ok = false;
                        continue;
                    }
                },
                Term::Pos(v) => {
                    // A bare name of a boolean parameter is a flag.
                    if let Some(flag) = v.as_name().and_then(|n| {
                        sig.params
                            .iter()
                            .find(|p| p.name == n.name && matches!(p.ty, Ty::Bool))
                    }) {
                        given.push(flag.name);
                        out.insert(flag.name.into(), Value::Bool(true));
                        continue;
                    }
                    if pos >= sig.positional {
                        self.err(
                            Diagnostic::new(
                                Code::SemaBadArguments,
                                v.span,
                                format!(
                                    "`{}` takes {} positional argument{}",
                                    sig.name,
                                    sig.positional,
                                    if sig.positional == 1 { "" } else { "s" }
                                ),
                            )
                            .label("one too many")
                            .help(
                                match sig.params.get(sig.positional) {
                                    Some(p) => format!("name it, e.g. `{}: ...`", p.name),
                                    None => format!(
                                        "remove it: `{}` takes no further arguments",
                                        sig.name
                                    ),
                                },
                            ),
                        );
                        ok = false;
                        continue;
                    }
                    pos += 1;
                    (&sig.params[pos - 1], v)
                }
            };
            if given.contains(&param.name) {
                self.err(
                    Diagnostic::new(
                        Code::SemaBadArguments,
                        t.span(),
                        format!("argument `{}` is given twice", param.name),
                    )
                    .label("again here")
                    .help("give each argument once"),
                );
                ok = false;
                continue;
            }
            given.push(param.name);
            match self.value(
                value,
                param.ty,
                &format!("`{}` of `{}`", param.name, sig.name),
            ) {
                Some(v) => {
                    out.insert(param.name.into(), v);
                }
                None => ok = false,
            }
        }
        for p in sig.params {
            if out.contains_key(p.name) || given.contains(&p.name) {
                continue;
            }
            let v = match p.default {
                Dv::Required => {
                    self.err(
                        Diagnostic::new(
                            Code::SemaMissing,
                            e.span,
                            format!("`{}` needs `{}`", sig.name, p.name),
                        )
                        .label(format!("`{}` missing", p.name))
                        .help(format!(
                            "add `{}: ...` ({})",
                            p.name,
                            p.ty.describe()
                        )),
                    );
                    ok = false;
                    continue;
                }
                Dv::Absent => continue,
                Dv::Int(i) => Value::Int(i),
                Dv::Float(f) => Value::Float(f),
                Dv::Bool(b) => Value::Bool(b),
                Dv::Name(n) => Value::Name(n.into()),
                Dv::Pair(a, b) => Value::Tuple(vec![Value::Float(a), Value::Float(b)]),
                Dv::Call(..) => continue,
            };
            out.insert(p.name.into(), v);
        }
        ok.then(|| Call {
            name: sig.name.to_string(),
            args: out,
        })
    }
}
