//! Completion from the text around the cursor (it works while the file does not parse): inside a
//! call, the callee's parameters; at the start of a statement of a stage, the settings its kind
//! accepts; elsewhere in a stage, declared names, metric names and the values the setting takes; in
//! a space or block, op and block names. Names come from the catalogue and sema's tables.

use lsp_types::{CompletionItem, CompletionItemKind};

use crate::catalog;
use crate::sema::tables::{self, Ty};
use crate::syntax::ast::DeclKind;

const DECL_KEYWORDS: &[&str] = &["dataset", "block", "space", "stage", "include", "executor"];

fn item(label: &str, kind: CompletionItemKind, detail: &str) -> CompletionItem {
    CompletionItem {
        label: label.to_string(),
        kind: Some(kind),
        detail: (!detail.is_empty()).then(|| detail.to_string()),
        ..Default::default()
    }
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The declaration the cursor is in, from the nearest header line above it: its kind and the
/// callee of its value (`stage t = train(s)` gives `(Stage, "train")`).
fn header(before: &str) -> Option<(DeclKind, String)> {
    for line in before.lines().rev() {
        let mut words = line.split(|c: char| !is_word(c)).filter(|w| !w.is_empty());
        let kind = match words.next() {
            Some("dataset") if !line.starts_with(' ') => DeclKind::Dataset,
            Some("block") if !line.starts_with(' ') => DeclKind::Block,
            Some("space") if !line.starts_with(' ') => DeclKind::Space,
            Some("stage") if !line.starts_with(' ') && line.contains('=') => DeclKind::Stage,
            _ => continue,
        };
        let value = line
            .split_once('=')
            .map(|(_, v)| {
                v.trim_start()
                    .chars()
                    .take_while(|c| is_word(*c))
                    .collect::<String>()
            })
            .unwrap_or_default();
        return Some((kind, value));
    }
    None
}

/// Whether the cursor is inside an `executor` block: the nearest top-level header above it is one.
fn in_executor(before: &str) -> bool {
    for line in before.lines().rev() {
        if line.starts_with([' ', '\t']) {
            continue;
        }
        match line.split(|c: char| !is_word(c)).find(|w| !w.is_empty()) {
            Some("executor") => return true,
            Some("dataset" | "block" | "space" | "stage" | "include") => return false,
            _ => {}
        }
    }
    false
}

/// The callee of the innermost unclosed `(` before the cursor on its statement, if any.
fn open_call(stmt: &str) -> Option<&str> {
    let mut depth = 0i32;
    for (i, c) in stmt.char_indices().rev() {
        match c {
            ')' | ']' => depth += 1,
            '[' => depth -= 1,
            '(' => {
                if depth == 0 {
                    let head = &stmt[..i];
                    let start = head
                        .char_indices()
                        .rev()
                        .find(|(_, c)| !is_word(*c))
                        .map(|(j, c)| j + c.len_utf8())
                        .unwrap_or(0);
                    return Some(&head[start..]).filter(|s| !s.is_empty());
                }
                depth -= 1;
            }
            _ => {}
        }
    }
    None
}

/// Completion items at byte `offset` of `text`; `names` are the declared names known to the last
/// check (those of included files among them).
pub fn complete<'a>(
    text: &str,
    offset: usize,
    names: impl Iterator<Item = (&'a str, DeclKind)>,
) -> Vec<CompletionItem> {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let line = &before[line_start..];
    // The current statement: after the last `{` or `;` of the line.
    let stmt_start = line.rfind(['{', ';']).map(|i| i + 1).unwrap_or(0);
    let stmt = &line[stmt_start..];
    let word_start = stmt
        .char_indices()
        .rev()
        .find(|(_, c)| !is_word(*c))
        .map(|(j, c)| j + c.len_utf8())
        .unwrap_or(0);
    let at_stmt_start = stmt[..word_start].trim().is_empty();
    let mut names: Vec<(String, DeclKind)> = names.map(|(n, k)| (n.to_string(), k)).collect();
    names.extend(header_names(text));
    names.sort_by(|a, b| a.0.cmp(&b.0));
    names.dedup_by(|a, b| a.0 == b.0);
    let mut out = Vec::new();

    if at_stmt_start && !line.starts_with([' ', '\t']) && stmt_start == 0 {
        for k in DECL_KEYWORDS {
            out.push(item(k, CompletionItemKind::KEYWORD, "declaration"));
        }
        return out;
    }
    if in_executor(before) {
        if at_stmt_start {
            for st in tables::SLURM_SETTINGS {
                out.push(item(st.key, CompletionItemKind::PROPERTY, st.doc));
            }
        }
        return out;
    }
    let Some((kind, value)) = header(before) else {
        return out;
    };
    if let Some(callee) = open_call(stmt) {
        if let Some(op) = catalog::lookup(callee) {
            for p in op.params {
                out.push(item(p.name, CompletionItemKind::FIELD, p.doc));
            }
        }
        if let Some(sig) = all_sigs().find(|s| s.name == callee) {
            for p in sig.params {
                out.push(item(p.name, CompletionItemKind::FIELD, &p.ty.describe()));
            }
        }
    }
    let stage_kind = tables::STAGES
        .iter()
        .find(|(n, _)| *n == value)
        .map(|(_, k)| *k);
    match kind {
        DeclKind::Stage => {
            let in_header = stmt_start == 0 && !line.starts_with([' ', '\t']);
            let names_here = |out: &mut Vec<CompletionItem>| {
                for (n, k) in &names {
                    if *k != DeclKind::Block {
                        out.push(item(n, decl_item_kind(*k), k.keyword()));
                    }
                }
            };
            if in_header {
                if open_call(stmt).is_some() {
                    names_here(&mut out);
                } else {
                    for (n, _) in tables::STAGES {
                        out.push(item(n, CompletionItemKind::CLASS, "stage kind"));
                    }
                }
                return out;
            }
            if at_stmt_start {
                if let Some(k) = stage_kind {
                    for s in tables::settings_for(k) {
                        out.push(item(s.key, CompletionItemKind::PROPERTY, s.doc));
                    }
                    out.push(item("data", CompletionItemKind::PROPERTY, "the dataset"));
                }
                return out;
            }
            let key = stmt.split_whitespace().next().unwrap_or("");
            match tables::SETTINGS.iter().find(|s| s.key == key).map(|s| s.ty) {
                Some(Ty::Call(sigs)) => {
                    for s in sigs {
                        out.push(item(s.name, CompletionItemKind::FUNCTION, s.doc));
                    }
                }
                Some(Ty::Name(ns)) => {
                    for n in ns {
                        out.push(item(n, CompletionItemKind::ENUM_MEMBER, ""));
                    }
                }
                _ => {
                    names_here(&mut out);
                    for m in tables::METRICS {
                        out.push(item(m, CompletionItemKind::VALUE, "metric"));
                    }
                }
            }
        }
        DeclKind::Space
            if value == "cell"
                && at_stmt_start
                && (stmt_start > 0 || line.starts_with([' ', '\t'])) =>
        {
            for s in tables::CELL_SETTINGS {
                out.push(item(s.key, CompletionItemKind::PROPERTY, s.doc));
            }
        }
        DeclKind::Space | DeclKind::Block => {
            for op in catalog::OPS {
                out.push(item(op.name, CompletionItemKind::FUNCTION, op.doc));
            }
            for (n, k) in &names {
                if *k == DeclKind::Block {
                    out.push(item(n, CompletionItemKind::FUNCTION, "block"));
                }
            }
        }
        DeclKind::Dataset => {
            for (n, _) in tables::DATASETS {
                out.push(item(n, CompletionItemKind::CONSTANT, "dataset"));
            }
        }
    }
    out
}

fn decl_item_kind(k: DeclKind) -> CompletionItemKind {
    match k {
        DeclKind::Dataset => CompletionItemKind::STRUCT,
        DeclKind::Block => CompletionItemKind::FUNCTION,
        DeclKind::Space => CompletionItemKind::CLASS,
        DeclKind::Stage => CompletionItemKind::EVENT,
    }
}

/// Names declared by header lines of the text (the current, possibly unparsable, version).
fn header_names(text: &str) -> Vec<(String, DeclKind)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut words = line.split(|c: char| !is_word(c)).filter(|w| !w.is_empty());
        let kind = match words.next() {
            Some("dataset") => DeclKind::Dataset,
            Some("block") => DeclKind::Block,
            Some("space") => DeclKind::Space,
            Some("stage") if line.contains('=') && !line.starts_with(' ') => DeclKind::Stage,
            _ => continue,
        };
        if line.starts_with([' ', '\t']) {
            continue;
        }
        if let Some(name) = words.next() {
            out.push((name.to_string(), kind));
        }
    }
    out
}

/// Every table signature (optimizers, samplers, schedules...), through the settings that take them.
fn all_sigs() -> impl Iterator<Item = &'static tables::Sig> {
    tables::SETTINGS.iter().flat_map(|s| match s.ty {
        Ty::Call(sigs) => sigs.iter(),
        _ => [].iter(),
    })
}
