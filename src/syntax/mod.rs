//! Syntax: turns the text of one file into an [`ast::File`], or into diagnostics. A pre-scan finds
//! unterminated strings and comments and over-deep nesting (so nothing downstream recurses without
//! bound); pest does the rest; [`format`] prints an AST back in the one canonical layout.

pub mod ast;
pub mod errors;
pub mod format;
pub mod parser;

use crate::diag::{Code, Diagnostic};
use crate::source::{FileId, Span};
use parser::{Builder, NaslParser, Rule};
use pest::Parser;

/// How deeply brackets may nest; deeper input is rejected before parsing.
pub const MAX_DEPTH: usize = 32;

/// Parses one file. On success the AST comes with any non-fatal errors (bad numbers).
pub fn parse(file: FileId, text: &str) -> Result<(ast::File, Vec<Diagnostic>), Vec<Diagnostic>> {
    let pre = prescan(file, text);
    if !pre.is_empty() {
        return Err(pre);
    }
    match NaslParser::parse(Rule::file, text) {
        Ok(mut pairs) => {
            let mut b = Builder {
                file,
                errors: Vec::new(),
            };
            let ast = match pairs.next() {
                Some(p) => b.file(p),
                None => ast::File::default(),
            };
            Ok((ast, b.errors))
        }
        Err(e) => Err(vec![errors::from_pest(file, text, &e)]),
    }
}

/// Finds what pest would report badly: unterminated strings and block comments, and nesting
/// deeper than [`MAX_DEPTH`].
pub fn prescan(file: FileId, text: &str) -> Vec<Diagnostic> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => match text[i + 2..].find("*/") {
                Some(end) => {
                    i += 2 + end + 2;
                    continue;
                }
                None => {
                    out.push(
                        Diagnostic::new(
                            Code::SyntaxUnterminatedComment,
                            Span::new(file, i, i + 2),
                            "unterminated block comment",
                        )
                        .label("this comment is never closed")
                        .help("close it with `*/`"),
                    );
                    return out;
                }
            },
            b'"' => {
                let start = i;
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                if i >= bytes.len() || bytes[i] != b'"' {
                    let end = i.min(bytes.len());
                    out.push(
                        Diagnostic::new(
                            Code::SyntaxUnterminatedString,
                            Span::new(file, start, end),
                            "unterminated string",
                        )
                        .label("this string is not closed on its line")
                        .help("add the closing `\"`"),
                    );
                    // Continue on the next line to find more.
                }
            }
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    out.push(
                        Diagnostic::new(
                            Code::SyntaxTooDeep,
                            Span::new(file, i, i + 1),
                            format!("brackets nested deeper than {MAX_DEPTH} levels"),
                        )
                        .label("too deep here")
                        .help("flatten the expression; no nasl construct needs this much nesting"),
                    );
                    return out;
                }
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests;
