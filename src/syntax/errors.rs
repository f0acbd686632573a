//! Pest errors as diagnostics: the expected rules in readable words, located at the failure.

use super::parser::Rule;
use crate::diag::{Code, Diagnostic};
use crate::source::{FileId, Span};
use pest::error::{Error, ErrorVariant, InputLocation};

/// A phrase for a grammar rule, as it reads in "expected ...".
pub fn rule_name(rule: Rule) -> &'static str {
    match rule {
        Rule::EOI => "end of file",
        Rule::file | Rule::decl | Rule::decl_kw => {
            "a declaration (`dataset`, `block`, `space`, `stage`) or `include`"
        }
        Rule::include | Rule::kw_include => "`include`",
        Rule::eol => "end of line",
        Rule::params => "parameters `(a, b)`",
        Rule::body => "`{`",
        Rule::stmt | Rule::key => "a setting name",
        Rule::terms | Rule::expr => "a value",
        Rule::named => "an argument `name: value`",
        Rule::sched_tail => "`->`",
        Rule::sched_kind => "a schedule shape (`linear`, `cosine`, `exponential`, `step`)",
        Rule::range_tail => "`..`",
        Rule::cmp_tail | Rule::cmp_op => "a comparison (`<=`, `>=`, `<`, `>`)",
        Rule::number => "a number",
        Rule::string | Rule::string_text => "a string",
        Rule::list => "a list `[...]`",
        Rule::seq => "a list element",
        Rule::tuple => "a tuple `(a, b)`",
        Rule::choose | Rule::kw_choose => "`choose [...]`",
        Rule::call | Rule::callee => "a call `name(...)`",
        Rule::args => "arguments `(...)`",
        Rule::boolean => "`true` or `false`",
        Rule::path | Rule::ident => "a name",
        _ => "a token",
    }
}

/// Converts a pest error into a `nasl::syntax::unexpected` diagnostic.
pub fn from_pest(file: FileId, text: &str, e: &Error<Rule>) -> Diagnostic {
    let pos = match e.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let pos = pos.min(text.len());
    let found = text[pos..].chars().next();
    let end = pos + found.map(|c| c.len_utf8()).unwrap_or(0);
    let found_desc = match found {
        None => "end of file".to_string(),
        Some('\n') | Some('\r') => "end of line".to_string(),
        Some(c) if c.is_control() => format!("control character U+{:04X}", c as u32),
        Some(c) => format!("`{c}`"),
    };
    let mut expected: Vec<&str> = Vec::new();
    if let ErrorVariant::ParsingError { positives, .. } = &e.variant {
        for r in positives {
            let n = rule_name(*r);
            if !expected.contains(&n) {
                expected.push(n);
            }
        }
    }
    let label = if expected.is_empty() {
        format!("unexpected {found_desc}")
    } else {
        let n = expected.len();
        let list = if n == 1 {
            expected[0].to_string()
        } else {
            format!("{} or {}", expected[..n - 1].join(", "), expected[n - 1])
        };
        format!("expected {list}")
    };
    let mut d = Diagnostic::new(
        Code::SyntaxUnexpected,
        Span::new(file, pos, end),
        format!("unexpected {found_desc}"),
    )
    .label(label);
    d.help = Some(help_for(&expected, found));
    d
}

fn help_for(expected: &[&str], found: Option<char>) -> String {
    if found == Some('(') {
        return "a call is written without a blank before `(`: `conv(3)`".into();
    }
    if expected.iter().any(|e| e.starts_with("a declaration")) {
        return "a file holds `include \"f.nas\"` and declarations like `space NAME = chain(...) { ... }`"
            .into();
    }
    "see docs/language.md for the syntax".into()
}
