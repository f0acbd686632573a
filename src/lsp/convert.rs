//! Conversions between nasl's byte offsets, paths and diagnostics and the protocol's UTF-16
//! positions, URIs and diagnostics.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use lsp_types::{
    Diagnostic as LspDiagnostic, DiagnosticRelatedInformation, DiagnosticSeverity, Location,
    NumberOrString, Position, Range, Url,
};

use crate::diag::{Diagnostic, Severity};
use crate::source::{FileId, SourceMap, Span};

/// Line starts of a text, for offset <-> position conversion (positions count UTF-16 code units,
/// the protocol's default encoding).
pub struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { text, starts }
    }

    /// The position of a byte offset (clamped to the text, and back to a character boundary).
    pub fn position(&self, offset: usize) -> Position {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = match self.starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let start = self.starts.get(line).copied().unwrap_or(0);
        let character = self
            .text
            .get(start..offset)
            .map(|s| s.encode_utf16().count())
            .unwrap_or(0);
        Position::new(line as u32, character as u32)
    }

    /// The byte offset of a position; a position past the end of its line is the line's end, a line
    /// past the end of the text is the text's end.
    pub fn offset(&self, pos: Position) -> usize {
        let Some(&start) = self.starts.get(pos.line as usize) else {
            return self.text.len();
        };
        let end = self
            .starts
            .get(pos.line as usize + 1)
            .copied()
            .unwrap_or(self.text.len());
        let line = &self.text[start..end];
        let mut units = 0usize;
        for (i, c) in line.char_indices() {
            if units >= pos.character as usize || c == '\n' || c == '\r' {
                return start + i;
            }
            units += c.len_utf16();
        }
        end
    }

    pub fn range(&self, start: usize, end: usize) -> Range {
        Range::new(self.position(start), self.position(end))
    }

    /// The range of the whole text.
    pub fn whole(&self) -> Range {
        self.range(0, self.text.len())
    }
}

/// The path a document URI stands for: its file path, or (for `untitled:` and other schemes) the URI
/// text itself, which is then served from memory only.
pub fn uri_to_path(uri: &Url) -> PathBuf {
    if uri.scheme() == "file"
        && let Ok(p) = uri.to_file_path()
    {
        return p;
    }
    PathBuf::from(uri.as_str())
}

/// The URI of a path that is not an open document.
pub fn path_to_uri(path: &Path) -> Option<Url> {
    Url::from_file_path(path)
        .ok()
        .or_else(|| Url::parse(&path.to_string_lossy()).ok())
}

/// Line indexes of the files of one check, built on first use.
pub struct Lines<'a> {
    sources: &'a SourceMap,
    cache: HashMap<FileId, LineIndex<'a>>,
}

impl<'a> Lines<'a> {
    pub fn new(sources: &'a SourceMap) -> Self {
        Lines {
            sources,
            cache: HashMap::new(),
        }
    }
    /// The range of a span.
    pub fn range(&mut self, span: Span) -> Option<Range> {
        let f = self.sources.get(span.file)?;
        let ix = self
            .cache
            .entry(span.file)
            .or_insert_with(|| LineIndex::new(&f.text));
        Some(ix.range(span.start, span.end))
    }
}

/// A nasl diagnostic as the protocol's: the same code, range, message, label and help (appended to
/// the message), and the notes as related locations. `uri_of` gives the URI of a file of the check.
pub fn diagnostic(
    d: &Diagnostic,
    lines: &mut Lines,
    uri_of: &dyn Fn(FileId) -> Option<Url>,
) -> Option<LspDiagnostic> {
    let range = lines.range(d.span)?;
    let mut message = d.message.clone();
    if !d.label.is_empty() && d.label != d.message {
        message.push_str(&format!(" ({})", d.label));
    }
    if let Some(help) = &d.help {
        message.push_str(&format!("\nhelp: {help}"));
    }
    let related: Vec<DiagnosticRelatedInformation> = d
        .notes
        .iter()
        .filter_map(|(span, label)| {
            Some(DiagnosticRelatedInformation {
                location: Location::new(uri_of(span.file)?, lines.range(*span)?),
                message: label.clone(),
            })
        })
        .collect();
    Some(LspDiagnostic {
        range,
        severity: Some(match d.severity() {
            Severity::Error => DiagnosticSeverity::ERROR,
            Severity::Warning => DiagnosticSeverity::WARNING,
        }),
        code: Some(NumberOrString::String(d.code.as_str().to_string())),
        source: Some("nasl".into()),
        message,
        related_information: (!related.is_empty()).then_some(related),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_utf16_units_and_round_trip() {
        let text = "ab\né😀x\n";
        let ix = LineIndex::new(text);
        assert_eq!(ix.position(0), Position::new(0, 0));
        assert_eq!(ix.position(3), Position::new(1, 0));
        // é is 2 bytes, 1 unit; 😀 is 4 bytes, 2 units
        let x = text.find('x').unwrap();
        assert_eq!(ix.position(x), Position::new(1, 3));
        assert_eq!(ix.offset(Position::new(1, 3)), x);
        // inside a character: back to its start
        assert_eq!(ix.position(x - 1), Position::new(1, 1));
        assert_eq!(ix.offset(Position::new(1, 99)), text.len() - 1);
        assert_eq!(ix.offset(Position::new(9, 0)), text.len());
    }
}
