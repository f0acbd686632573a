//! The one place the front-end stages are wired: parse and check a file (sema), then lower each of its
//! spaces to the graph IR, so that shape and graph errors found while building a space are diagnostics
//! of `nasl check` like any other, pointing at the space.

use std::path::Path;

use miette::Diagnostic as _;

use crate::diag::{Code, Diagnostic};
use crate::ir::{IrError, SearchSpace, lower};
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
    }
    if checked.has_errors() {
        checked.program = None;
        spaces.clear();
    }
    Front { checked, spaces }
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
