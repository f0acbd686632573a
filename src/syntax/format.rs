//! The canonical layout (`nasl fmt`): prints an AST back to text with two-space indentation, one
//! statement per line, fixed spacing inside values, comments kept (a comment inside a multi-line
//! value moves to the line before its statement), and at most one blank line where the source had one.

use super::ast::*;

/// A comment found in the source: its byte range.
#[derive(Debug, Clone, Copy)]
struct Comment {
    start: usize,
    end: usize,
}

/// Every comment of a text, skipping strings.
fn comments(text: &str) -> Vec<Comment> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                let start = i;
                while i < b.len() && b[i] != b'\n' && b[i] != b'\r' {
                    i += 1;
                }
                out.push(Comment { start, end: i });
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let start = i;
                let end = text[i + 2..]
                    .find("*/")
                    .map(|e| i + 2 + e + 2)
                    .unwrap_or(b.len());
                out.push(Comment { start, end });
                i = end;
                continue;
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' && b[i] != b'\n' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    out
}

struct Printer<'a> {
    text: &'a str,
    comments: Vec<Comment>,
    next: usize,
    out: String,
    /// The source offset of the last thing printed, to carry blank lines over.
    last: Option<usize>,
}

/// Formats a parsed file; `text` is the source it came from (for comments and blank lines).
pub fn format_file(file: &File, text: &str) -> String {
    let mut p = Printer {
        text,
        comments: comments(text),
        next: 0,
        out: String::new(),
        last: None,
    };
    for item in &file.items {
        let span = item.span();
        p.leading(span.start, 0);
        p.blank_before(span.start);
        match item {
            Item::Include { path, .. } => {
                let raw = text
                    .get(span.start..span.end)
                    .and_then(|s| s.find('"').map(|q| &s[q..]))
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("{path:?}"));
                p.out.push_str(&format!("include {raw}"));
                p.finish_line(span.end);
            }
            Item::Decl(d) => p.decl(d),
            Item::Executor(e) => {
                p.leading(e.kind.span.end, 0);
                p.out.push_str(&format!("executor {}", e.kind.name));
                p.body(&e.body, e.kind.span.end, e.span.end, 0);
            }
        }
    }
    p.leading(text.len(), 0);
    let mut out = p.out;
    while out.ends_with("\n\n") {
        out.pop();
    }
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

impl Printer<'_> {
    fn indent(&mut self, level: usize) {
        for _ in 0..level {
            self.out.push_str("  ");
        }
    }

    /// Inserts one blank line if the source had one between the last printed thing and `at`.
    fn blank_before(&mut self, at: usize) {
        if let Some(last) = self.last
            && last < at
            && let Some(gap) = self.text.get(last..at)
            && gap.matches('\n').count() >= 2
            && !self.out.is_empty()
            && !self.out.ends_with("\n\n")
            && !self.out.ends_with("{\n")
        {
            self.out.push('\n');
        }
        self.last = Some(at);
    }

    /// Prints every comment before `before` on its own line.
    fn leading(&mut self, before: usize, level: usize) {
        while let Some(c) = self.comments.get(self.next).copied() {
            if c.start >= before {
                break;
            }
            self.next += 1;
            self.blank_before(c.start);
            self.indent(level);
            let t = self
                .text
                .get(c.start..c.end)
                .unwrap_or("")
                .trim_end()
                .to_string();
            self.out.push_str(&t);
            self.out.push('\n');
            self.last = Some(c.end);
        }
    }

    /// Ends the current line, attaching a comment that follows `end` on the same source line.
    fn finish_line(&mut self, end: usize) {
        if let Some(c) = self.comments.get(self.next).copied()
            && c.start >= end
            && self
                .text
                .get(end..c.start)
                .is_some_and(|g| !g.contains('\n'))
        {
            self.next += 1;
            let t = self
                .text
                .get(c.start..c.end)
                .unwrap_or("")
                .trim_end()
                .to_string();
            self.out.push(' ');
            self.out.push_str(&t);
            self.last = Some(c.end);
        } else {
            self.last = Some(end);
        }
        self.out.push('\n');
    }

    fn decl(&mut self, d: &Decl) {
        let header_end = d
            .value
            .last()
            .map(|t| t.span().end)
            .unwrap_or(d.name.span.end);
        // Comments inside the header move before it.
        self.leading(header_end, 0);
        let mut line = format!("{} {}", d.kind.keyword(), d.name.name);
        if let Some(ps) = &d.params {
            let names: Vec<&str> = ps.iter().map(|p| p.name.as_str()).collect();
            line.push_str(&format!("({})", names.join(", ")));
        }
        line.push_str(" = ");
        line.push_str(&terms(&d.value));
        self.out.push_str(&line);
        match &d.body {
            None => self.finish_line(d.span.end),
            Some(body) => self.body(body, header_end, d.span.end, 0),
        }
    }

    fn body(&mut self, body: &[Stmt], header_end: usize, end: usize, level: usize) {
        if body.is_empty() && self.comments.get(self.next).is_none_or(|c| c.start >= end) {
            self.out.push_str(" {}");
            self.finish_line(end);
            return;
        }
        self.out.push_str(" {");
        let open = self
            .text
            .get(header_end..end)
            .and_then(|s| s.find('{'))
            .map(|i| header_end + i + 1)
            .unwrap_or(header_end);
        self.finish_line(open);
        for s in body {
            self.stmt(s, level + 1);
        }
        let close = end.saturating_sub(1);
        self.leading(close, level + 1);
        self.indent(level);
        self.out.push('}');
        self.finish_line(end);
    }

    fn stmt(&mut self, s: &Stmt, level: usize) {
        let header_end = s
            .terms
            .last()
            .map(|t| t.span().end)
            .unwrap_or(s.key.span.end);
        self.leading(s.span.start, level);
        self.blank_before(s.span.start);
        self.leading(header_end, level);
        self.indent(level);
        let mut line = s.key.name.clone();
        if !s.terms.is_empty() {
            line.push(' ');
            line.push_str(&terms(&s.terms));
        }
        self.out.push_str(&line);
        match &s.body {
            None => self.finish_line(s.span.end),
            Some(b) => self.body(b, header_end, s.span.end, level),
        }
    }
}

/// The terms of a statement: a blank between two ops (`conv(3) bn relu`), `, ` otherwise.
pub fn terms(ts: &[Term]) -> String {
    let mut out = String::new();
    for (i, t) in ts.iter().enumerate() {
        if i > 0 {
            let op_like = |t: &Term| matches!(t, Term::Pos(e) if matches!(e.kind, ExprKind::Call { .. } | ExprKind::Path(_) | ExprKind::Choose(_)));
            out.push_str(if op_like(&ts[i - 1]) && op_like(t) {
                " "
            } else {
                ", "
            });
        }
        out.push_str(&term(t));
    }
    out
}

fn term(t: &Term) -> String {
    match t {
        Term::Pos(e) => expr(e),
        Term::Named(n, e) => format!("{}: {}", n.name, expr(e)),
    }
}

fn join(es: &[Expr]) -> String {
    es.iter().map(expr).collect::<Vec<_>>().join(", ")
}

/// One expression in canonical spacing.
pub fn expr(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Number(n) => n.text.clone(),
        ExprKind::Str { raw, .. } => format!("\"{raw}\""),
        ExprKind::Bool(b) => b.to_string(),
        ExprKind::Path(p) => p
            .iter()
            .map(|i| i.name.as_str())
            .collect::<Vec<_>>()
            .join("."),
        ExprKind::Call { name, args } => {
            let a: Vec<String> = args.iter().map(term).collect();
            format!("{}({})", name.name, a.join(", "))
        }
        ExprKind::List(items) => format!("[{}]", join(items)),
        ExprKind::Seq(items) => items.iter().map(expr).collect::<Vec<_>>().join(" "),
        ExprKind::Tuple(items) => format!("({})", join(items)),
        ExprKind::Choose(items) => format!("choose [{}]", join(items)),
        ExprKind::Range(a, b) => format!("{}..{}", expr(a), expr(b)),
        ExprKind::Sched { from, to, shape } => match shape {
            Some(s) => format!("{} -> {} {}", expr(from), expr(to), s.name),
            None => format!("{} -> {}", expr(from), expr(to)),
        },
        ExprKind::Compare { lhs, op, rhs } => format!("{} {} {}", expr(lhs), op, expr(rhs)),
    }
}
