//! The `executor slurm { ... }` block: its kind and settings checked against
//! `tables::SLURM_SETTINGS`, lowered to a typed [`SlurmSpec`] for `nasl run`.

use super::Cx;
use super::hir::Value;
use super::spec::SlurmSpec;
use super::tables::{EXECUTORS, SLURM_SETTINGS};
use crate::diag::{Code, Diagnostic, did_you_mean, one_of};
use crate::syntax::ast::{Executor, Term};

impl Cx<'_> {
    /// Checks the file's executor blocks (at most one); `None` when there is none or it has errors.
    pub(super) fn executor(&mut self, blocks: &[Executor]) -> Option<SlurmSpec> {
        let first = blocks.first()?;
        for again in &blocks[1..] {
            self.err(
                Diagnostic::new(
                    Code::SemaDuplicate,
                    again.kind.span,
                    "a second `executor` block",
                )
                .label("declared again here")
                .note(first.kind.span, "first declared here")
                .help("keep one `executor` block per pipeline (includes count)"),
            );
        }
        if !EXECUTORS.contains(&first.kind.name.as_str()) {
            let help = did_you_mean(&first.kind.name, EXECUTORS.iter().copied()).unwrap_or_else(
                || {
                    format!(
                        "the executor kinds are {}; local workers need no block (`nasl run --workers N`)",
                        one_of(EXECUTORS.iter().copied())
                    )
                },
            );
            self.err(
                Diagnostic::new(
                    Code::SemaUnknownValue,
                    first.kind.span,
                    format!("unknown executor `{}`", first.kind.name),
                )
                .label("not an executor kind")
                .help(help),
            );
            return None;
        }
        let mut spec = SlurmSpec::default();
        let mut seen: Vec<(&str, crate::source::Span)> = Vec::new();
        let mut ok = true;
        for s in &first.body {
            let key = s.key.name.as_str();
            let Some(setting) = SLURM_SETTINGS.iter().find(|x| x.key == key) else {
                self.err(super::unknown_setting(
                    key,
                    s.key.span,
                    "not a setting of `executor slurm`",
                    "an `executor slurm` block",
                    SLURM_SETTINGS.iter().map(|x| x.key),
                ));
                ok = false;
                continue;
            };
            if let Some((_, span)) = seen.iter().find(|(k, _)| *k == key) {
                self.err(super::set_twice(key, s.key.span, *span));
                ok = false;
                continue;
            }
            seen.push((setting.key, s.key.span));
            let what = format!("`{key}`");
            let value = match (s.terms.as_slice(), &s.body) {
                ([Term::Pos(e)], None) => self.value(e, setting.ty, &what),
                _ => {
                    self.err(
                        Diagnostic::new(
                            Code::SemaBadArguments,
                            s.span,
                            format!("`{key}` takes one value"),
                        )
                        .label("not one value")
                        .help(format!(
                            "write `{key}` and {} ({})",
                            setting.ty.describe(),
                            setting.doc
                        )),
                    );
                    None
                }
            };
            let Some(value) = value else {
                ok = false;
                continue;
            };
            if let (Value::Float(t), [Term::Pos(e)]) = (&value, s.terms.as_slice())
                && *t <= 0.0
            {
                self.out_of_range(e, &what, "a time limit must be longer than zero");
                ok = false;
                continue;
            }
            match (key, value) {
                ("partition", Value::Str(v)) => spec.partition = Some(v),
                ("account", Value::Str(v)) => spec.account = Some(v),
                ("time", Value::Float(v)) => spec.time_s = Some(v),
                ("gpus_per_task", Value::Int(v)) => spec.gpus_per_task = Some(v),
                ("cpus_per_task", Value::Int(v)) => spec.cpus_per_task = Some(v),
                ("max_retries", Value::Int(v)) => spec.max_retries = v as usize,
                _ => ok = false,
            }
        }
        ok.then_some(spec)
    }
}
