//! The syntax tree of one `.nas` file: a direct, span-carrying image of the grammar. No meaning is
//! attached here; sema interprets keys and values.

use crate::source::Span;

/// A name with its span.
#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// A parsed file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct File {
    pub items: Vec<Item>,
}

/// A top-level item.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// `include "path"`: the path as written (unescaped) and its span.
    Include {
        path: String,
        span: Span,
    },
    Decl(Decl),
    /// `executor KIND { BODY }`.
    Executor(Executor),
}

impl Item {
    pub fn span(&self) -> Span {
        match self {
            Item::Include { span, .. } => *span,
            Item::Decl(d) => d.span,
            Item::Executor(e) => e.span,
        }
    }
}

/// `executor KIND { BODY }`: where `nasl run` sends independent pieces (`slurm`), with its settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Executor {
    pub kind: Ident,
    pub body: Vec<Stmt>,
    pub span: Span,
}

/// The kind of a declaration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeclKind {
    Dataset,
    Block,
    Space,
    Stage,
}

impl DeclKind {
    pub fn keyword(self) -> &'static str {
        match self {
            DeclKind::Dataset => "dataset",
            DeclKind::Block => "block",
            DeclKind::Space => "space",
            DeclKind::Stage => "stage",
        }
    }
}

/// `KIND NAME [(PARAMS)] = TERMS [{ BODY }]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Decl {
    pub kind: DeclKind,
    pub name: Ident,
    pub params: Option<Vec<Ident>>,
    pub value: Vec<Term>,
    pub body: Option<Vec<Stmt>>,
    pub span: Span,
}

/// `KEY TERMS [{ BODY }]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Stmt {
    pub key: Ident,
    pub terms: Vec<Term>,
    pub body: Option<Vec<Stmt>>,
    pub span: Span,
}

/// A value, or a `name: value` argument.
#[derive(Debug, Clone, PartialEq)]
pub enum Term {
    Pos(Expr),
    Named(Ident, Expr),
}

impl Term {
    pub fn span(&self) -> Span {
        match self {
            Term::Pos(e) => e.span,
            Term::Named(n, e) => n.span.to(e.span),
        }
    }
}

/// A unit suffix of a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    None,
    /// K, M, G: a count multiplied by 1e3, 1e6, 1e9.
    Count,
    /// ms, s, min, h: a duration (value normalised to seconds).
    Duration,
}

/// A number literal: its value after units, whether it is whole, and its text as written.
#[derive(Debug, Clone, PartialEq)]
pub struct Number {
    pub value: f64,
    pub integral: bool,
    pub unit: Unit,
    pub text: String,
}

/// An expression with its span.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

/// The shapes an expression can take.
#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Number(Number),
    /// A string, unescaped, and its raw text between the quotes.
    Str {
        value: String,
        raw: String,
    },
    Bool(bool),
    /// `a` or `a.b.c`.
    Path(Vec<Ident>),
    Call {
        name: Ident,
        args: Vec<Term>,
    },
    List(Vec<Expr>),
    /// Several values one after another (a list element like `conv(3) bn relu`).
    Seq(Vec<Expr>),
    Tuple(Vec<Expr>),
    Choose(Vec<Expr>),
    Range(Box<Expr>, Box<Expr>),
    Sched {
        from: Box<Expr>,
        to: Box<Expr>,
        shape: Option<Ident>,
    },
    Compare {
        lhs: Box<Expr>,
        op: String,
        rhs: Box<Expr>,
    },
}

impl Expr {
    /// The single name of a one-segment path.
    pub fn as_name(&self) -> Option<&Ident> {
        match &self.kind {
            ExprKind::Path(p) if p.len() == 1 => p.first(),
            _ => None,
        }
    }
    /// The callee name of a call or of a bare name (`skip` is a call with no arguments).
    pub fn as_callish(&self) -> Option<(&Ident, &[Term])> {
        match &self.kind {
            ExprKind::Call { name, args } => Some((name, args)),
            ExprKind::Path(p) if p.len() == 1 => p.first().map(|i| (i, &[][..])),
            _ => None,
        }
    }
    /// What kind of value this is, for type errors.
    pub fn describe(&self) -> &'static str {
        match &self.kind {
            ExprKind::Number(n) if n.integral => "a whole number",
            ExprKind::Number(_) => "a number",
            ExprKind::Str { .. } => "a string",
            ExprKind::Bool(_) => "a boolean",
            ExprKind::Path(_) => "a name",
            ExprKind::Call { .. } => "a call",
            ExprKind::List(_) => "a list",
            ExprKind::Seq(_) => "a sequence",
            ExprKind::Tuple(_) => "a tuple",
            ExprKind::Choose(_) => "a choice",
            ExprKind::Range(..) => "a range",
            ExprKind::Sched { .. } => "a schedule",
            ExprKind::Compare { .. } => "a comparison",
        }
    }
}
