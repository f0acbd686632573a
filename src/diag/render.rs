//! Rendering diagnostics: human-readable through miette (a fixed no-colour theme and width, so
//! output is stable for snapshots) and JSON (one array, one object per diagnostic).

use super::{Diagnostic, Severity};
use crate::source::SourceMap;
use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceSpan};
use serde::Serialize;
use std::fmt;

/// A diagnostic bound to its source text, as miette wants it.
struct Bound<'a> {
    diag: &'a Diagnostic,
    source: NamedSource<String>,
}

impl fmt::Debug for Bound<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diag.message)
    }
}
impl fmt::Display for Bound<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diag.message)
    }
}
impl std::error::Error for Bound<'_> {}

impl miette::Diagnostic for Bound<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(self.diag.code.as_str()))
    }
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diag.severity() {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }
    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.diag
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let len = self.source.inner().len();
        let clamp = move |s: usize, e: usize| -> SourceSpan {
            let s = s.min(len);
            (s, e.min(len).saturating_sub(s)).into()
        };
        let d = self.diag;
        let primary = LabeledSpan::new_primary_with_span(
            (!d.label.is_empty()).then(|| d.label.clone()),
            clamp(d.span.start, d.span.end),
        );
        let notes = d
            .notes
            .iter()
            .filter(|(s, _)| s.file == d.span.file)
            .map(move |(s, l)| LabeledSpan::new_with_span(Some(l.clone()), clamp(s.start, s.end)));
        Some(Box::new(std::iter::once(primary).chain(notes)))
    }
}

/// Renders one diagnostic for people: no colours, `width` columns.
pub fn human(diag: &Diagnostic, sources: &SourceMap, width: usize) -> String {
    let (name, text) = match sources.get(diag.span.file) {
        Some(f) => (f.path.display().to_string(), f.text.clone()),
        None => (String::from("<unknown>"), String::new()),
    };
    let bound = Bound {
        diag,
        source: NamedSource::new(name, text),
    };
    let handler = GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor())
        .with_width(width)
        .with_links(false);
    let mut out = String::new();
    if handler.render_report(&mut out, &bound).is_err() {
        out = format!("{}: {}\n", diag.code.as_str(), diag.message);
    }
    out
}

/// Renders many diagnostics for people, one after another.
pub fn human_all(diags: &[Diagnostic], sources: &SourceMap, width: usize) -> String {
    diags.iter().map(|d| human(d, sources, width)).collect()
}

/// The JSON form of one diagnostic.
#[derive(Debug, Serialize)]
pub struct JsonDiag {
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub offset: usize,
    pub length: usize,
    pub label: String,
    pub help: Option<String>,
}

/// The JSON objects of some diagnostics.
pub fn json_values(diags: &[Diagnostic], sources: &SourceMap) -> Vec<JsonDiag> {
    diags
        .iter()
        .map(|d| {
            let (file, (line, column)) = match sources.get(d.span.file) {
                Some(f) => (f.path.display().to_string(), f.line_col(d.span.start)),
                None => (String::new(), (0, 0)),
            };
            JsonDiag {
                code: d.code.as_str(),
                severity: d.severity(),
                message: d.message.clone(),
                file,
                line,
                column,
                offset: d.span.start,
                length: d.span.len(),
                label: d.label.clone(),
                help: d.help.clone(),
            }
        })
        .collect()
}

/// One JSON array of all the diagnostics.
pub fn json(diags: &[Diagnostic], sources: &SourceMap) -> String {
    serde_json::to_string_pretty(&json_values(diags, sources)).unwrap_or_else(|_| "[]".into())
}
