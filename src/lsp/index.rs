//! What the editor features look things up in: one check of a root document through
//! `driver::check_file` (its sources, diagnostics and built spaces), and per file of that check an
//! index of its syntax tree: declarations, name uses, statement keys and includes, by byte span.

use std::path::{Path, PathBuf};

use crate::driver::{self, Front};
use crate::source::{FileId, LoadError, Loader};
use crate::syntax::ast::{Decl, DeclKind, Expr, ExprKind, Item, Stmt, Term};

/// A byte range in one file.
pub type Range = (usize, usize);

fn covers(r: Range, offset: usize) -> bool {
    r.0 <= offset && offset <= r.1
}

/// A declaration.
#[derive(Debug, Clone)]
pub struct DeclInfo {
    pub kind: DeclKind,
    pub name: String,
    pub name_span: Range,
    pub span: Range,
    /// The callee of its value (`train`, `chain`, `mbconv`, `fashion_mnist`), if it has one.
    pub value: Option<String>,
}

/// A name used in a value: a call's name or the first segment of a path.
#[derive(Debug, Clone)]
pub struct Use {
    pub name: String,
    pub span: Range,
    /// The enclosing declaration (index into `decls`).
    pub decl: usize,
    /// The key of the enclosing statement; `None` in the declaration's own value.
    pub key: Option<String>,
}

/// A statement key.
#[derive(Debug, Clone)]
pub struct Key {
    pub name: String,
    pub span: Range,
    pub decl: usize,
    /// The whole statement.
    pub stmt: Range,
    /// For a `stage` statement of a chain space, its index among the chain's stages.
    pub chain_stage: Option<usize>,
    /// Whether it is a statement of the declaration's body (not nested deeper).
    pub top: bool,
}

/// An `include`.
#[derive(Debug, Clone)]
pub struct Include {
    pub rel: String,
    pub span: Range,
    /// The path it names, joined to the including file's folder.
    pub target: PathBuf,
}

/// The index of one file.
#[derive(Debug, Clone, Default)]
pub struct FileIndex {
    pub path: PathBuf,
    /// Whether the file parsed (otherwise everything below is empty).
    pub parsed: bool,
    pub decls: Vec<DeclInfo>,
    pub uses: Vec<Use>,
    pub keys: Vec<Key>,
    pub includes: Vec<Include>,
    /// The statement keys of `executor` blocks, with their spans.
    pub executor_keys: Vec<(String, Range)>,
}

impl FileIndex {
    pub fn build(id: FileId, path: &Path, text: &str) -> FileIndex {
        let mut ix = FileIndex {
            path: path.to_path_buf(),
            ..Default::default()
        };
        let Ok((ast, _)) = crate::syntax::parse(id, text) else {
            return ix;
        };
        ix.parsed = true;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        for item in &ast.items {
            match item {
                Item::Include { path, span } => ix.includes.push(Include {
                    rel: path.clone(),
                    span: (span.start, span.end),
                    target: dir.join(path),
                }),
                Item::Decl(d) => ix.decl(d),
                Item::Executor(e) => ix.executor_keys.extend(
                    e.body
                        .iter()
                        .map(|s| (s.key.name.clone(), (s.key.span.start, s.key.span.end))),
                ),
            }
        }
        ix
    }

    fn decl(&mut self, d: &Decl) {
        let i = self.decls.len();
        let value = d.value.iter().find_map(|t| match t {
            Term::Pos(e) => e.as_callish().map(|(n, _)| n.name.clone()),
            Term::Named(..) => None,
        });
        let chain = value.as_deref() == Some("chain");
        self.decls.push(DeclInfo {
            kind: d.kind,
            name: d.name.name.clone(),
            name_span: (d.name.span.start, d.name.span.end),
            span: (d.span.start, d.span.end),
            value,
        });
        let params: Vec<String> = d.params.iter().flatten().map(|p| p.name.clone()).collect();
        let mut w = Walk {
            ix: self,
            decl: i,
            params: &params,
        };
        for t in &d.value {
            w.term(t, None);
        }
        if let Some(body) = &d.body {
            w.stmts(body, chain, true);
        }
    }

    /// The declaration whose name is at `offset`.
    pub fn decl_name_at(&self, offset: usize) -> Option<&DeclInfo> {
        self.decls.iter().find(|d| covers(d.name_span, offset))
    }
    /// The innermost declaration around `offset`.
    pub fn decl_at(&self, offset: usize) -> Option<(usize, &DeclInfo)> {
        self.decls
            .iter()
            .enumerate()
            .find(|(_, d)| covers(d.span, offset))
    }
    pub fn use_at(&self, offset: usize) -> Option<&Use> {
        self.uses.iter().find(|u| covers(u.span, offset))
    }
    /// The `executor` block key at `offset`.
    pub fn executor_key_at(&self, offset: usize) -> Option<&(String, Range)> {
        self.executor_keys.iter().find(|(_, r)| covers(*r, offset))
    }
    pub fn key_at(&self, offset: usize) -> Option<&Key> {
        self.keys.iter().find(|k| covers(k.span, offset))
    }
    pub fn include_at(&self, offset: usize) -> Option<&Include> {
        self.includes.iter().find(|i| covers(i.span, offset))
    }
    /// The chain `stage` statement around `offset`.
    pub fn chain_stage_at(&self, offset: usize) -> Option<&Key> {
        self.keys
            .iter()
            .find(|k| k.chain_stage.is_some() && covers(k.stmt, offset))
    }
}

struct Walk<'a> {
    ix: &'a mut FileIndex,
    decl: usize,
    params: &'a [String],
}

impl Walk<'_> {
    fn stmts(&mut self, body: &[Stmt], chain: bool, top: bool) {
        let mut stage = 0;
        for st in body {
            let chain_stage = (chain && top && st.key.name == "layers").then(|| {
                stage += 1;
                stage - 1
            });
            self.ix.keys.push(Key {
                name: st.key.name.clone(),
                span: (st.key.span.start, st.key.span.end),
                decl: self.decl,
                stmt: (st.span.start, st.span.end),
                chain_stage,
                top,
            });
            for t in &st.terms {
                self.term(t, Some(&st.key.name));
            }
            if let Some(b) = &st.body {
                self.stmts(b, false, false);
            }
        }
    }

    fn term(&mut self, t: &Term, key: Option<&str>) {
        match t {
            Term::Pos(e) | Term::Named(_, e) => self.expr(e, key),
        }
    }

    fn push(&mut self, name: &str, span: crate::source::Span, key: Option<&str>) {
        if self.params.iter().any(|p| p == name) {
            return;
        }
        self.ix.uses.push(Use {
            name: name.to_string(),
            span: (span.start, span.end),
            decl: self.decl,
            key: key.map(str::to_string),
        });
    }

    fn expr(&mut self, e: &Expr, key: Option<&str>) {
        match &e.kind {
            ExprKind::Number(_) | ExprKind::Str { .. } | ExprKind::Bool(_) => {}
            ExprKind::Path(p) => {
                if let Some(first) = p.first() {
                    self.push(&first.name, first.span, key);
                }
            }
            ExprKind::Call { name, args } => {
                self.push(&name.name, name.span, key);
                for a in args {
                    self.term(a, key);
                }
            }
            ExprKind::List(es) | ExprKind::Seq(es) | ExprKind::Tuple(es) | ExprKind::Choose(es) => {
                for x in es {
                    self.expr(x, key);
                }
            }
            ExprKind::Range(a, b) => {
                self.expr(a, key);
                self.expr(b, key);
            }
            ExprKind::Sched { from, to, .. } => {
                self.expr(from, key);
                self.expr(to, key);
            }
            ExprKind::Compare { lhs, rhs, .. } => {
                self.expr(lhs, key);
                self.expr(rhs, key);
            }
        }
    }
}

/// Serves open documents from memory and everything else from the file system, with the include
/// policy of the session.
pub struct DocLoader<'a> {
    pub docs: &'a dyn Fn(&Path) -> Option<&'a str>,
    pub root: Option<&'a Path>,
    pub allow_outside: bool,
}

impl Loader for DocLoader<'_> {
    fn load(&self, path: &Path) -> Result<String, LoadError> {
        match (self.docs)(path) {
            Some(t) => Ok(t.to_string()),
            None => crate::source::FsLoader.load(path),
        }
    }
    fn exists(&self, path: &Path) -> bool {
        (self.docs)(path).is_some() || path.exists()
    }
    fn include_root(&self) -> Option<&Path> {
        self.root
    }
    fn include_outside(&self) -> bool {
        self.allow_outside
    }
}

/// One check of a root document and the index of each of its files (by `FileId`). The index is
/// built on the first request that needs it, not on every change: diagnostics do not wait for it.
pub struct Analysis {
    pub root: PathBuf,
    pub front: Front,
    files: std::cell::OnceCell<Vec<FileIndex>>,
}

impl Analysis {
    pub fn new(root: &Path, loader: &dyn Loader) -> Analysis {
        Analysis {
            root: root.to_path_buf(),
            front: driver::check_file(root, loader),
            files: std::cell::OnceCell::new(),
        }
    }

    /// The index of every file of the check, by `FileId`.
    pub fn files(&self) -> &[FileIndex] {
        self.files.get_or_init(|| {
            self.front
                .checked
                .sources
                .files()
                .map(|(id, f)| FileIndex::build(id, &f.path, &f.text))
                .collect()
        })
    }

    /// The file of the check loaded from `path`.
    pub fn file(&self, path: &Path) -> Option<(FileId, &FileIndex)> {
        let id = self.front.checked.sources.find(path)?;
        Some((id, self.files().get(id.0 as usize)?))
    }

    pub fn text(&self, id: FileId) -> &str {
        self.front
            .checked
            .sources
            .get(id)
            .map(|f| f.text.as_str())
            .unwrap_or("")
    }

    /// The declaration of a name in any file of the check: its file and info.
    pub fn decl(&self, name: &str) -> Option<(FileId, &DeclInfo)> {
        self.files().iter().enumerate().find_map(|(i, f)| {
            f.decls
                .iter()
                .find(|d| d.name == name)
                .map(|d| (FileId(i as u32), d))
        })
    }

    /// Every declared name with its kind.
    pub fn names(&self) -> impl Iterator<Item = (&str, DeclKind)> {
        self.files()
            .iter()
            .flat_map(|f| f.decls.iter().map(|d| (d.name.as_str(), d.kind)))
    }
}
