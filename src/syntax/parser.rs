//! The pest parser generated from `grammar/nasl.pest`, and the conversion of its pairs into the
//! span-carrying AST. Numbers get their units applied here; pest errors become diagnostics in
//! [`super::errors`].

use super::ast::*;
use crate::diag::{Code, Diagnostic};
use crate::source::{FileId, Span};
use pest::iterators::Pair;

/// The generated parser.
#[derive(pest_derive::Parser)]
#[grammar = "../grammar/nasl.pest"]
pub struct NaslParser;

/// Turns a `file` pair into the AST, collecting number errors.
pub(super) struct Builder {
    pub file: FileId,
    pub errors: Vec<Diagnostic>,
}

impl Builder {
    fn span(&self, p: &Pair<'_, Rule>) -> Span {
        let s = p.as_span();
        Span::new(self.file, s.start(), s.end())
    }

    fn ident(&self, p: Pair<'_, Rule>) -> Ident {
        Ident {
            name: p.as_str().to_string(),
            span: self.span(&p),
        }
    }

    pub fn file(&mut self, p: Pair<'_, Rule>) -> File {
        let mut items = Vec::new();
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::include => {
                    let span = self.span(&c);
                    let path = c
                        .into_inner()
                        .find(|x| x.as_rule() == Rule::string)
                        .map(|s| unescape(string_raw(s).as_str()))
                        .unwrap_or_default();
                    items.push(Item::Include { path, span });
                }
                Rule::decl => items.push(Item::Decl(self.decl(c))),
                Rule::executor => {
                    let span = self.span(&c);
                    let mut kind = Ident {
                        name: String::new(),
                        span,
                    };
                    let mut body = Vec::new();
                    for x in c.into_inner() {
                        match x.as_rule() {
                            Rule::ident => kind = self.ident(x),
                            Rule::body => body = self.body(x),
                            _ => {}
                        }
                    }
                    items.push(Item::Executor(Executor { kind, body, span }));
                }
                _ => {}
            }
        }
        File { items }
    }

    fn decl(&mut self, p: Pair<'_, Rule>) -> Decl {
        let span = self.span(&p);
        let mut kind = DeclKind::Stage;
        let mut name = None;
        let mut params = None;
        let mut value = Vec::new();
        let mut body = None;
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::decl_kw => {
                    kind = match c.as_str() {
                        "dataset" => DeclKind::Dataset,
                        "block" => DeclKind::Block,
                        "space" => DeclKind::Space,
                        _ => DeclKind::Stage,
                    }
                }
                Rule::ident => name = Some(self.ident(c)),
                Rule::params => {
                    params = Some(
                        c.into_inner()
                            .filter(|x| x.as_rule() == Rule::ident)
                            .map(|x| self.ident(x))
                            .collect(),
                    )
                }
                Rule::terms => value = self.terms(c),
                Rule::body => body = Some(self.body(c)),
                _ => {}
            }
        }
        let name = name.unwrap_or(Ident {
            name: String::new(),
            span,
        });
        let span = trim_span(span, &value, body.is_some(), name.span);
        Decl {
            kind,
            name,
            params,
            value,
            body,
            span,
        }
    }

    fn body(&mut self, p: Pair<'_, Rule>) -> Vec<Stmt> {
        p.into_inner()
            .filter(|c| c.as_rule() == Rule::stmt)
            .map(|c| self.stmt(c))
            .collect()
    }

    fn stmt(&mut self, p: Pair<'_, Rule>) -> Stmt {
        let span = self.span(&p);
        let mut key = Ident {
            name: String::new(),
            span,
        };
        let mut terms = Vec::new();
        let mut body = None;
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::key => key = self.ident(c),
                Rule::terms => terms = self.terms(c),
                Rule::body => body = Some(self.body(c)),
                _ => {}
            }
        }
        let span = trim_span(span, &terms, body.is_some(), key.span);
        Stmt {
            key,
            terms,
            body,
            span,
        }
    }

    fn terms(&mut self, p: Pair<'_, Rule>) -> Vec<Term> {
        p.into_inner().filter_map(|c| self.term(c)).collect()
    }

    fn term(&mut self, c: Pair<'_, Rule>) -> Option<Term> {
        match c.as_rule() {
            Rule::named => {
                let mut it = c.into_inner();
                let name = self.ident(it.next()?);
                let value = self.expr(it.next()?);
                Some(Term::Named(name, value))
            }
            Rule::expr => Some(Term::Pos(self.expr(c))),
            _ => None,
        }
    }

    fn expr(&mut self, p: Pair<'_, Rule>) -> Expr {
        let span = self.span(&p);
        let mut it = p.into_inner();
        let Some(first) = it.next() else {
            return Expr {
                kind: ExprKind::Seq(Vec::new()),
                span,
            };
        };
        let atom = self.atom(first);
        let Some(tail) = it.next() else {
            return atom;
        };
        let rule = tail.as_rule();
        let mut parts = tail.into_inner();
        let kind = match rule {
            Rule::sched_tail => {
                let to = parts.next().map(|x| self.atom(x));
                let shape = parts.next().map(|x| self.ident(x));
                ExprKind::Sched {
                    from: Box::new(atom),
                    to: Box::new(to.unwrap_or_else(|| empty(span))),
                    shape,
                }
            }
            Rule::range_tail => {
                let to = parts.next().map(|x| self.atom(x));
                ExprKind::Range(Box::new(atom), Box::new(to.unwrap_or_else(|| empty(span))))
            }
            _ => {
                let op = parts
                    .next()
                    .map(|x| x.as_str().to_string())
                    .unwrap_or_default();
                let rhs = parts.next().map(|x| self.atom(x));
                ExprKind::Compare {
                    lhs: Box::new(atom),
                    op,
                    rhs: Box::new(rhs.unwrap_or_else(|| empty(span))),
                }
            }
        };
        Expr { kind, span }
    }

    fn atom(&mut self, p: Pair<'_, Rule>) -> Expr {
        let span = self.span(&p);
        let kind = match p.as_rule() {
            Rule::number => match parse_number(p.as_str()) {
                Ok(n) => ExprKind::Number(n),
                Err(why) => {
                    self.errors.push(
                        Diagnostic::new(
                            Code::SyntaxBadNumber,
                            span,
                            format!("invalid number `{}`", p.as_str()),
                        )
                        .label(why)
                        .help("numbers must be finite and at most 1e18 in size; write large counts with units (`12M`, `3G`)"),
                    );
                    ExprKind::Number(Number {
                        value: 0.0,
                        integral: true,
                        unit: Unit::None,
                        text: p.as_str().to_string(),
                    })
                }
            },
            Rule::string => {
                let raw = string_raw(p);
                ExprKind::Str {
                    value: unescape(&raw),
                    raw,
                }
            }
            Rule::boolean => ExprKind::Bool(p.as_str() == "true"),
            Rule::path => ExprKind::Path(p.into_inner().map(|i| self.ident(i)).collect()),
            Rule::list => ExprKind::List(self.list(p)),
            Rule::tuple => ExprKind::Tuple(
                p.into_inner()
                    .filter(|c| c.as_rule() == Rule::expr)
                    .map(|c| self.expr(c))
                    .collect(),
            ),
            Rule::choose => {
                let items = p
                    .into_inner()
                    .find(|c| c.as_rule() == Rule::list)
                    .map(|l| self.list(l))
                    .unwrap_or_default();
                ExprKind::Choose(items)
            }
            Rule::call => {
                let mut name = Ident {
                    name: String::new(),
                    span,
                };
                let mut args = Vec::new();
                for c in p.into_inner() {
                    match c.as_rule() {
                        Rule::callee => name = self.ident(c),
                        Rule::args => args = c.into_inner().filter_map(|a| self.term(a)).collect(),
                        _ => {}
                    }
                }
                ExprKind::Call { name, args }
            }
            Rule::expr => return self.expr(p),
            _ => ExprKind::Seq(Vec::new()),
        };
        Expr { kind, span }
    }

    fn list(&mut self, p: Pair<'_, Rule>) -> Vec<Expr> {
        p.into_inner()
            .filter(|c| c.as_rule() == Rule::seq)
            .map(|s| {
                let span = self.span(&s);
                let mut v: Vec<Expr> = s.into_inner().map(|e| self.expr(e)).collect();
                if v.len() == 1 {
                    v.pop().unwrap_or_else(|| empty(span))
                } else {
                    Expr {
                        kind: ExprKind::Seq(v),
                        span,
                    }
                }
            })
            .collect()
    }
}

/// Pest counts blanks and comments skipped before a failed optional part as part of a rule; a
/// statement or declaration without a body ends at its last value instead.
fn trim_span(span: Span, terms: &[Term], has_body: bool, name: Span) -> Span {
    if has_body {
        return span;
    }
    let end = terms.last().map(|t| t.span().end).unwrap_or(name.end);
    Span::new(span.file, span.start, end.min(span.end).max(span.start))
}

fn empty(span: Span) -> Expr {
    Expr {
        kind: ExprKind::Seq(Vec::new()),
        span,
    }
}

fn string_raw(p: Pair<'_, Rule>) -> String {
    p.into_inner()
        .find(|c| c.as_rule() == Rule::string_text)
        .map(|c| c.as_str().to_string())
        .unwrap_or_default()
}

/// Resolves `\"`, `\\`, `\n`, `\t`; any other escaped character stands for itself.
pub fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(o) => out.push(o),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The largest magnitude a literal may have.
pub const MAX_NUMBER: f64 = 1e18;

/// Parses a number token (`12M`, `3.5e6`, `1/3`, `80ms`, `-0.07`) into its value after units.
pub fn parse_number(text: &str) -> Result<Number, String> {
    let (neg, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let units: &[(&str, f64, Unit)] = &[
        ("ms", 1e-3, Unit::Duration),
        ("min", 60.0, Unit::Duration),
        ("K", 1e3, Unit::Count),
        ("M", 1e6, Unit::Count),
        ("G", 1e9, Unit::Count),
        ("s", 1.0, Unit::Duration),
        ("h", 3600.0, Unit::Duration),
    ];
    let (digits, scale, unit) = units
        .iter()
        .find_map(|(suffix, scale, unit)| body.strip_suffix(suffix).map(|d| (d, *scale, *unit)))
        .unwrap_or((body, 1.0, Unit::None));
    let (raw, integral) = if let Some((a, b)) = digits.split_once('/') {
        let a: f64 = a.parse().map_err(|_| "not a fraction".to_string())?;
        let b: f64 = b.parse().map_err(|_| "not a fraction".to_string())?;
        if b == 0.0 {
            return Err("division by zero".into());
        }
        (a / b, false)
    } else {
        let v: f64 = digits.parse().map_err(|_| "not a number".to_string())?;
        let plain = !digits.contains(['.', 'e', 'E']);
        (v, plain || (v * scale).fract() == 0.0)
    };
    let value = raw * scale * if neg { -1.0 } else { 1.0 };
    if !value.is_finite() || value.abs() > MAX_NUMBER {
        return Err("too large".into());
    }
    Ok(Number {
        value,
        integral: integral && value.fract() == 0.0,
        unit,
        text: text.to_string(),
    })
}
