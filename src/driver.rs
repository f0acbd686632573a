//! The one place the front-end stages are wired: parse and check a file (sema), then lower each of its
//! spaces to the graph IR, so that shape and graph errors found while building a space are diagnostics
//! of `nasl check` like any other, pointing at the space.

use std::path::Path;

use miette::Diagnostic as _;

use crate::cost::space_cost;
use crate::diag::{Code, Diagnostic};
use crate::ir::{IrError, SearchSpace, lower};
use crate::sema::hir::Program;
use crate::sema::{self, Checked};
use crate::source::Loader;

/// A checked file and, when it has no error, its spaces built as graphs (in declaration order).
pub struct Front {
    pub checked: Checked,
    pub spaces: Vec<(String, SearchSpace)>,
}

/// Checks `path` through every front-end stage.
pub fn check_file(path: &Path, loader: &dyn Loader) -> Front {
    let mut checked = sema::check_file(path, loader);
    let mut spaces = Vec::new();
    if let Some(program) = &checked.program {
        for space in &program.spaces {
            match lower::space_spec(space).and_then(SearchSpace::new) {
                Ok(built) => spaces.push((space.name.clone(), built)),
                Err(e) => checked.diags.push(ir_diagnostic(&e, space)),
            }
        }
        checked
            .diags
            .extend(unsatisfiable_constraints(program, &spaces));
        checked
            .diags
            .extend(sema::contract::check(program, &spaces));
    }
    if checked.has_fatal_errors() {
        checked.program = None;
        spaces.clear();
    }
    Front { checked, spaces }
}

/// Hard `params`/`flops` constraints that no architecture of the stage's space meets, judged by the
/// exact minimum and maximum over the space (`flops` counts multiply-accumulates, as NAS papers do).
fn unsatisfiable_constraints(
    program: &Program,
    spaces: &[(String, SearchSpace)],
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for stage in &program.stages {
        let constraints = stage.spec.constraints();
        if constraints.is_empty() {
            continue;
        }
        let Some((name, space)) = spaces.iter().find(|(n, _)| Some(n) == stage.space.as_ref())
        else {
            continue;
        };
        let Ok(cost) = space_cost(space) else {
            continue;
        };
        for c in constraints {
            let (metric, op, bound) = (&c.metric, c.op.symbol(), c.bound);
            let range = match metric.as_str() {
                "params" => cost.params,
                "flops" => cost.macs,
                _ => continue,
            };
            let (min, max) = (range.min as f64, range.max as f64);
            let impossible = match op {
                "<=" => bound < min,
                "<" => bound <= min,
                ">=" => bound > max,
                ">" => bound >= max,
                "==" => bound < min || bound > max,
                _ => false,
            };
            let always = match op {
                "<=" => bound >= max,
                "<" => bound > max,
                ">=" => bound <= min,
                ">" => bound < min,
                _ => false,
            };
            let span = stage
                .setting_spans
                .get("constraint")
                .copied()
                .unwrap_or(stage.span);
            if always {
                out.push(
                    Diagnostic::new(Code::SemaSuspicious, span, "this constraint removes no architecture")
                        .label(format!(
                            "every architecture of `{name}` has {metric} from {} to {}, so {metric} {op} {bound} always holds",
                            range.min, range.max
                        ))
                        .help("tighten the bound to where it matters, or remove it"),
                );
            }
            if impossible {
                out.push(
                    Diagnostic::new(Code::SemaUnsatisfiable, span, "no architecture can satisfy this constraint")
                        .label(format!(
                            "the architectures of `{name}` have {metric} from {} to {}, but the constraint asks {metric} {op} {bound}",
                            range.min, range.max
                        ))
                        .help("relax the bound, or change the space"),
                );
            }
        }
    }
    out
}

fn ir_diagnostic(e: &IrError, space: &sema::hir::Space) -> Diagnostic {
    let code = match e {
        IrError::Shape { .. } => Code::IrShape,
        _ => Code::IrSpec,
    };
    let help = e
        .help()
        .map(|h| h.to_string())
        .unwrap_or_else(|| "see docs/language.md".into());
    Diagnostic::new(code, space.span, e.to_string())
        .label(format!("while building space `{}`", space.name))
        .help(help)
}

/// Checks text held in memory under a file name through every front-end stage (tests, fuzzing).
pub fn check_text(name: &str, text: &str) -> Front {
    let mut loader = crate::source::MemLoader::default();
    loader
        .files
        .insert(std::path::PathBuf::from(name), text.to_string());
    check_file(Path::new(name), &loader)
}
