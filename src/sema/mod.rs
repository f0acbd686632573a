//! Semantic analysis: loads a file and its includes, resolves every name, checks values against the
//! op catalogue and sema's tables, checks shapes, DAGs, stage data flow, samplers, constraints and
//! dataset splits, and produces the [`hir::Program`]. It collects every diagnostic of a file; it
//! never stops at the first.

pub mod contract;
mod executor;
pub mod hir;
mod space;
pub mod spec;
mod stage;
pub mod tables;
mod values;

use crate::diag::{Code, Diagnostic, did_you_mean};
use crate::source::{FileId, IncludeRefusal, LoadError, Loader, SourceMap, Span, judge_include};
use crate::syntax::ast::{Decl, DeclKind, Executor, Item};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// The outcome of checking one file: its sources, every diagnostic, and the HIR when there is no error.
#[derive(Debug)]
pub struct Checked {
    pub sources: SourceMap,
    pub diags: Vec<Diagnostic>,
    pub program: Option<hir::Program>,
}

impl Checked {
    pub fn has_errors(&self) -> bool {
        self.diags.iter().any(|d| d.is_error())
    }

    /// Errors in the pipeline itself, besides `nasl run` refusals (`nasl::sema::not_run`): a file
    /// whose only errors are refusals is well formed, so its spaces are built and can be inspected,
    /// drawn and measured, though `nasl check` fails and `nasl run` refuses it.
    pub fn has_fatal_errors(&self) -> bool {
        self.diags
            .iter()
            .any(|d| d.is_error() && d.code != Code::SemaNotRun)
    }
}

/// A declaration with the folder of the file that declared it.
pub(crate) struct Declared {
    pub decl: Decl,
    pub dir: PathBuf,
}

/// Checks a file read through `loader`.
pub fn check_file(path: &Path, loader: &dyn Loader) -> Checked {
    let mut sources = SourceMap::new();
    let mut diags = Vec::new();
    let mut decls = Vec::new();
    let mut executors = Vec::new();
    let mut stack = Vec::new();
    let root = match loader.include_root() {
        Some(r) => r.to_path_buf(),
        None => match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        },
    };
    load(
        path,
        None,
        (loader, &root),
        &mut sources,
        &mut diags,
        (&mut decls, &mut executors),
        &mut stack,
    );
    let had_syntax_errors = diags.iter().any(|d| d.is_error());
    let root_empty = decls.is_empty();
    if root_empty && !had_syntax_errors {
        let file = sources.find(path).unwrap_or_default();
        diags.push(
            Diagnostic::new(
                Code::SemaEmptyFile,
                Span::new(file, 0, 0),
                "the file declares nothing",
            )
            .label("empty")
            .help("declare a dataset, a space and stages; see pipelines/quickstart.nas"),
        );
    }
    let program = if had_syntax_errors || root_empty {
        None
    } else {
        let mut cx = Cx::new(loader);
        let mut program = cx.check(&decls);
        program.executor = cx.executor(&executors);
        diags.extend(cx.diags);
        Some(program)
    };
    diags.sort_by_key(|d| (d.span.file, d.span.start));
    // A block used twice reports its errors once.
    diags.dedup_by(|a, b| a.code == b.code && a.span == b.span && a.message == b.message);
    let program = if diags.iter().any(|d| d.is_error()) {
        None
    } else {
        program
    };
    Checked {
        sources,
        diags,
        program,
    }
}

/// Checks text held in memory under a file name (tests, fuzzing).
pub fn check_text(name: &str, text: &str) -> Checked {
    let mut loader = crate::source::MemLoader::default();
    loader.files.insert(PathBuf::from(name), text.to_string());
    check_file(Path::new(name), &loader)
}

#[allow(clippy::too_many_arguments)]
fn load(
    path: &Path,
    from: Option<Span>,
    (loader, root): (&dyn Loader, &Path),
    sources: &mut SourceMap,
    diags: &mut Vec<Diagnostic>,
    (decls, executors): (&mut Vec<Declared>, &mut Vec<Executor>),
    stack: &mut Vec<PathBuf>,
) {
    let key = normalize(path);
    if let Some(pos) = stack.iter().position(|p| *p == key) {
        let cycle: Vec<String> = stack[pos..]
            .iter()
            .chain(std::iter::once(&key))
            .map(|p| p.display().to_string())
            .collect();
        if let Some(span) = from {
            diags.push(
                Diagnostic::new(
                    Code::SourceIncludeCycle,
                    span,
                    "files include each other in a cycle",
                )
                .label("this include closes the cycle")
                .help(format!(
                    "cycle: {}; move the shared declarations into a file that includes nothing",
                    cycle.join(" -> ")
                )),
            );
        }
        return;
    }
    if sources.find(path).is_some() {
        return; // already loaded through another include
    }
    let text = match loader.load(path) {
        Ok(t) => t,
        Err(LoadError::NotUtf8 { offset, lossy }) => {
            let id = sources.add(path.to_path_buf(), lossy);
            diags.push(
                Diagnostic::new(
                    Code::SyntaxNotUtf8,
                    Span::new(id, offset, offset + 1),
                    "the file is not UTF-8 text",
                )
                .label("invalid byte here")
                .help("`.nas` files are UTF-8 text; is this the right file?"),
            );
            return;
        }
        Err(LoadError::Io(e)) => {
            let id = sources.add(path.to_path_buf(), String::new());
            let span = from.unwrap_or(Span::new(id, 0, 0));
            diags.push(
                Diagnostic::new(
                    Code::SourceUnreadable,
                    span,
                    format!("cannot read `{}`: {e}", path.display()),
                )
                .label("cannot read this file")
                .help("check the path; an include is relative to the file that includes it"),
            );
            return;
        }
    };
    let id: FileId = sources.add(path.to_path_buf(), text);
    let text = sources.get(id).map(|f| f.text.clone()).unwrap_or_default();
    let ast = match crate::syntax::parse(id, &text) {
        Ok((ast, errs)) => {
            diags.extend(errs);
            ast
        }
        Err(errs) => {
            diags.extend(errs);
            return;
        }
    };
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    stack.push(key);
    for item in ast.items {
        match item {
            Item::Include { path: rel, span } => {
                let target = dir.join(&rel);
                match judge_include(&target, root, loader.include_outside()) {
                    Ok(()) => load(
                        &target,
                        Some(span),
                        (loader, root),
                        sources,
                        diags,
                        (decls, executors),
                        stack,
                    ),
                    Err(refusal) => diags.push(include_refused(&rel, span, refusal)),
                }
            }
            Item::Decl(decl) => decls.push(Declared {
                decl,
                dir: dir.clone(),
            }),
            Item::Executor(e) => executors.push(e),
        }
    }
    stack.pop();
}

/// `unknown setting KEY` at `span` (labelled `label`): the help names the closest of `allowed`, or
/// says that `owner` takes them all. Stage bodies and the `executor` block share it.
fn unknown_setting<'a>(
    key: &str,
    span: Span,
    label: &str,
    owner: &str,
    allowed: impl Iterator<Item = &'a str> + Clone,
) -> Diagnostic {
    let help = did_you_mean(key, allowed.clone())
        .unwrap_or_else(|| format!("{owner} takes {}", crate::diag::one_of(allowed)));
    Diagnostic::new(
        Code::SemaUnknownSetting,
        span,
        format!("unknown setting `{key}`"),
    )
    .label(label)
    .help(help)
}

/// `KEY is set twice` at `again`, pointing at where it was `first` set.
fn set_twice(key: &str, again: Span, first: Span) -> Diagnostic {
    Diagnostic::new(
        Code::SemaBadArguments,
        again,
        format!("`{key}` is set twice"),
    )
    .label("set again here")
    .note(first, "first set here")
    .help("keep one")
}

/// The diagnostic of an include refused before reading: it names the path as written, never the
/// file's contents.
fn include_refused(rel: &str, span: Span, refusal: IncludeRefusal) -> Diagnostic {
    match refusal {
        IncludeRefusal::NotNas => Diagnostic::new(
            Code::SourceIncludeNotNas,
            span,
            format!("`{rel}` is not a `.nas` file"),
        )
        .label("only `.nas` files can be included")
        .help("include a `.nas` file; other files are never read"),
        IncludeRefusal::Outside => Diagnostic::new(
            Code::SourceIncludeOutside,
            span,
            format!("`{rel}` is outside the folder being checked"),
        )
        .label("this include leaves the root folder")
        .help("move the file inside the folder, or allow it: `nasl check --allow-include-outside` (editors: the `allowIncludeOutside` server option)"),
    }
}

/// A path with `.` and `..` components resolved lexically, for cycle detection.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// A declared name: its kind, index in declaration order and span.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Name {
    pub kind: DeclKind,
    pub index: usize,
    pub span: Span,
}

/// Sema's working state.
pub(crate) struct Cx<'a> {
    pub diags: Vec<Diagnostic>,
    pub names: HashMap<String, Name>,
    pub used: HashSet<String>,
    pub loader: &'a dyn Loader,
    pub blocks: HashMap<String, Decl>,
    pub spaces: HashMap<String, hir::Space>,
    pub datasets: HashMap<String, hir::Dataset>,
    pub stages: HashMap<String, (hir::StageKind, usize)>,
    /// Stages whose input space has no decisions.
    pub fixed_training: HashSet<String>,
    /// The space a stage's result comes from, following inputs.
    pub stage_space: HashMap<String, String>,
    /// Cost ranges a supernet stage's constrained sampler draws from (metric -> (lo, hi)).
    pub sampler_ranges: HashMap<String, Vec<(String, f64, f64)>>,
    /// How many more ops block expansion may produce (guards against exponential blocks).
    pub op_budget: usize,
}

/// The most ops the spaces of one file may expand into.
pub const MAX_OPS: usize = 200_000;

impl<'a> Cx<'a> {
    fn new(loader: &'a dyn Loader) -> Self {
        Cx {
            diags: Vec::new(),
            names: HashMap::new(),
            used: HashSet::new(),
            loader,
            blocks: HashMap::new(),
            spaces: HashMap::new(),
            datasets: HashMap::new(),
            stages: HashMap::new(),
            fixed_training: HashSet::new(),
            stage_space: HashMap::new(),
            sampler_ranges: HashMap::new(),
            op_budget: MAX_OPS,
        }
    }

    pub fn err(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn check(&mut self, decls: &[Declared]) -> hir::Program {
        for (i, d) in decls.iter().enumerate() {
            let n = &d.decl.name;
            if let Some(prev) = self.names.get(&n.name) {
                let prev_span = prev.span;
                self.err(
                    Diagnostic::new(Code::SemaDuplicate, n.span, format!("`{}` is declared twice", n.name))
                        .label("declared again here")
                        .note(prev_span, "first declared here")
                        .help("rename one of them; every dataset, block, space and stage shares one namespace"),
                );
                continue;
            }
            self.names.insert(
                n.name.clone(),
                Name {
                    kind: d.decl.kind,
                    index: i,
                    span: n.span,
                },
            );
            if d.decl.kind == DeclKind::Block {
                self.blocks.insert(n.name.clone(), d.decl.clone());
            }
        }
        let mut program = hir::Program::default();
        for d in decls.iter().filter(|d| d.decl.kind == DeclKind::Dataset) {
            if let Some(ds) = self.dataset(&d.decl, &d.dir) {
                self.datasets.insert(ds.name.clone(), ds.clone());
                program.datasets.push(ds);
            }
        }
        for d in decls.iter().filter(|d| d.decl.kind == DeclKind::Block) {
            self.check_block(&d.decl);
        }
        for d in decls.iter().filter(|d| d.decl.kind == DeclKind::Space) {
            if let Some(sp) = self.space(&d.decl) {
                self.spaces.insert(sp.name.clone(), sp.clone());
                program.spaces.push(sp);
            }
        }
        for (i, d) in decls.iter().enumerate() {
            if d.decl.kind == DeclKind::Stage
                && let Some(st) = self.stage(&d.decl, i)
            {
                self.stages.insert(st.name.clone(), (st.kind, i));
                program.stages.push(st);
            }
        }
        for d in decls {
            let n = &d.decl.name;
            if d.decl.kind != DeclKind::Stage
                && !self.used.contains(&n.name)
                && self.names.get(&n.name).is_some_and(|x| x.span == n.span)
            {
                self.err(
                    Diagnostic::new(
                        Code::SemaUnused,
                        n.span,
                        format!("{} `{}` is never used", d.decl.kind.keyword(), n.name),
                    )
                    .label("declared here, used nowhere")
                    .help("remove it, or use it in a space or stage"),
                );
            }
        }
        program
    }

    /// Reports an unknown name with a suggestion among the declared names of some kinds.
    pub fn unknown_name(&mut self, name: &str, span: Span, kinds: &[DeclKind], what: &str) {
        let candidates: Vec<&str> = self
            .names
            .iter()
            .filter(|(_, n)| kinds.contains(&n.kind))
            .map(|(k, _)| k.as_str())
            .collect();
        let help = did_you_mean(name, candidates.iter().copied()).unwrap_or_else(|| {
            format!(
                "declare it first, e.g. `{} {name} = ...`",
                kinds.first().map(|k| k.keyword()).unwrap_or("space")
            )
        });
        self.err(
            Diagnostic::new(
                Code::SemaUnknownName,
                span,
                format!("unknown {what} `{name}`"),
            )
            .label(format!("no {what} of this name"))
            .help(help),
        );
    }
}
