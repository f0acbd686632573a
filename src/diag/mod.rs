//! Diagnostics: the one place that defines every diagnostic kind (its stable code, severity and
//! meaning), the [`Diagnostic`] value the front end collects, "did you mean" suggestions, and the
//! renderers (human via miette, JSON) in [`render`].

pub mod render;

use crate::source::Span;
use serde::Serialize;

/// How bad a diagnostic is: errors make `nasl check` exit 1, warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

macro_rules! codes {
    ($( $(#[doc = $doc:literal])* $variant:ident => $code:literal, $sev:ident; )*) => {
        /// Every kind of diagnostic, each with a stable code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code {
            $( $(#[doc = $doc])* $variant, )*
        }
        impl Code {
            /// Every code, in documentation order.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];
            /// The stable code string, e.g. `nasl::sema::unknown_op`.
            pub fn as_str(self) -> &'static str {
                match self { $( Code::$variant => $code, )* }
            }
            /// The severity of this kind.
            pub fn severity(self) -> Severity {
                match self { $( Code::$variant => Severity::$sev, )* }
            }
            /// One line saying what the kind means (for docs and `--explain`-like output).
            pub fn meaning(self) -> &'static str {
                match self { $( Code::$variant => concat!($($doc),*), )* }
            }
        }
    };
}

codes! {
    /// The text does not follow the grammar.
    SyntaxUnexpected => "nasl::syntax::unexpected", Error;
    /// A string is not closed before the end of the line.
    SyntaxUnterminatedString => "nasl::syntax::unterminated_string", Error;
    /// A block comment is not closed before the end of the file.
    SyntaxUnterminatedComment => "nasl::syntax::unterminated_comment", Error;
    /// Brackets are nested deeper than the parser allows.
    SyntaxTooDeep => "nasl::syntax::too_deep", Error;
    /// The file is not UTF-8 text.
    SyntaxNotUtf8 => "nasl::syntax::not_utf8", Error;
    /// A number is too large or malformed.
    SyntaxBadNumber => "nasl::syntax::bad_number", Error;
    /// A file (given or included) cannot be read.
    SourceUnreadable => "nasl::source::unreadable", Error;
    /// Files include each other in a cycle.
    SourceIncludeCycle => "nasl::source::include_cycle", Error;
    /// An include names a file that is not a `.nas` file (it is not read).
    SourceIncludeNotNas => "nasl::source::include_not_nas", Error;
    /// An include resolves outside the folder being checked (it is not read) and leaving it was not
    /// allowed.
    SourceIncludeOutside => "nasl::source::include_outside", Error;
    /// The file declares nothing.
    SemaEmptyFile => "nasl::sema::empty_file", Error;
    /// Two declarations share a name.
    SemaDuplicate => "nasl::sema::duplicate_definition", Error;
    /// A call names no known op or block.
    SemaUnknownOp => "nasl::sema::unknown_op", Error;
    /// A block expands into itself.
    SemaRecursiveBlock => "nasl::sema::recursive_block", Error;
    /// A name refers to no declaration.
    SemaUnknownName => "nasl::sema::unknown_name", Error;
    /// A statement key is not allowed here.
    SemaUnknownSetting => "nasl::sema::unknown_setting", Error;
    /// A value names no known kind (dataset, stage, sampler, optimizer, schedule...).
    SemaUnknownValue => "nasl::sema::unknown_value", Error;
    /// A named argument is not a parameter of the callee.
    SemaUnknownArgument => "nasl::sema::unknown_argument", Error;
    /// An argument or setting has the wrong type.
    SemaWrongType => "nasl::sema::wrong_type", Error;
    /// A required argument or setting is missing.
    SemaMissing => "nasl::sema::missing", Error;
    /// More positional arguments than the callee takes, or an argument given twice.
    SemaBadArguments => "nasl::sema::bad_arguments", Error;
    /// A value is outside its allowed range (stride 0, negative epochs, probability above 1...).
    SemaOutOfRange => "nasl::sema::out_of_range", Error;
    /// Strides shrink the feature map below 1 pixel.
    SemaSpatialTooSmall => "nasl::sema::spatial_too_small", Error;
    /// Channel counts or tensor shapes do not fit (channel mismatch, linear on a feature map...).
    SemaShapeMismatch => "nasl::sema::shape_mismatch", Error;
    /// An edge of a fixed cell comes from a node that is not earlier (a cycle or forward edge).
    SemaDagCycle => "nasl::sema::dag_cycle", Error;
    /// A node of a fixed cell cannot reach the cell output.
    SemaDagUnreachable => "nasl::sema::dag_unreachable", Error;
    /// An input of a fixed cell is never used.
    SemaDagUnusedInput => "nasl::sema::dag_unused_input", Error;
    /// A stage uses a stage declared after it.
    SemaStageOrder => "nasl::sema::stage_order", Error;
    /// A stage gets an input of the wrong kind (searching a fixed net, retraining a supernet...).
    SemaWrongInput => "nasl::sema::wrong_input", Error;
    /// A sampler or relaxation does not fit the space.
    SemaSamplerMismatch => "nasl::sema::sampler_mismatch", Error;
    /// No architecture of the space can satisfy a hard constraint.
    SemaUnsatisfiable => "nasl::sema::unsatisfiable_constraint", Error;
    /// Train and validation splits need more images than the dataset has.
    SemaImpossibleSplit => "nasl::sema::impossible_split", Error;
    /// A dataset path does not exist.
    SemaPathNotFound => "nasl::sema::path_not_found", Error;
    /// The pipeline uses a stage kind, setting, value or input form that `nasl run` does not execute
    /// (yet); the help line says what runs instead.
    SemaNotRun => "nasl::sema::not_run", Error;
    /// A dataset does not fit the space that reads it (channels, image size, classes, normalisation).
    SemaDataMismatch => "nasl::sema::data_mismatch", Error;
    /// A declaration is never used.
    SemaUnused => "nasl::sema::unused", Warning;
    /// A stage trains for zero epochs.
    SemaZeroEpochs => "nasl::sema::zero_epochs", Warning;
    /// A value is legal but unusual (learning rate above 1, dropout near 1...).
    SemaSuspicious => "nasl::sema::suspicious_value", Warning;
    /// A space has a form the graph IR cannot build (e.g. cells with other than two inputs).
    IrSpec => "nasl::ir::spec", Error;
    /// A shape does not fit when the space is built: a spatial size below 1, an odd size halved by a
    /// factorized reduce, channels that disagree.
    IrShape => "nasl::ir::shape", Error;
}

/// One diagnostic: a kind, a message, a primary span with its label, extra labels, a help line.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub code: Code,
    pub message: String,
    pub span: Span,
    pub label: String,
    pub help: Option<String>,
    /// Secondary labels in the same file ("first defined here").
    pub notes: Vec<(Span, String)>,
}

impl Diagnostic {
    pub fn new(code: Code, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            message: message.into(),
            span,
            label: String::new(),
            help: None,
            notes: Vec::new(),
        }
    }
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
    pub fn maybe_help(mut self, help: Option<String>) -> Self {
        if help.is_some() {
            self.help = help;
        }
        self
    }
    pub fn note(mut self, span: Span, label: impl Into<String>) -> Self {
        self.notes.push((span, label.into()));
        self
    }
    pub fn severity(&self) -> Severity {
        self.code.severity()
    }
    pub fn is_error(&self) -> bool {
        self.severity() == Severity::Error
    }
}

/// The closest candidate to a misspelt name, if one is close enough.
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let mut best: Option<(f64, &str)> = None;
    for c in candidates {
        if c == name {
            continue;
        }
        let score = strsim::jaro_winkler(name, c);
        let close = score >= 0.8 || strsim::levenshtein(name, c) <= name.len().min(c.len()) / 3;
        if close && best.is_none_or(|(s, _)| score > s) {
            best = Some((score, c));
        }
    }
    best.map(|(_, c)| c)
}

/// "did you mean `x`?" for a help line, or a fallback listing.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    suggest(name, candidates).map(|s| format!("did you mean `{s}`?"))
}

/// A readable enumeration of choices: "`a`, `b` or `c`".
pub fn one_of<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let v: Vec<String> = items.into_iter().map(|s| format!("`{s}`")).collect();
    match v.len() {
        0 => String::from("nothing"),
        1 => v[0].clone(),
        n => format!("{} or {}", v[..n - 1].join(", "), v[n - 1]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_namespaced() {
        let mut seen = std::collections::HashSet::new();
        for c in Code::ALL {
            assert!(seen.insert(c.as_str()), "{}", c.as_str());
            assert!(c.as_str().starts_with("nasl::"));
            assert!(!c.meaning().is_empty());
        }
    }

    #[test]
    fn suggestions_find_close_names() {
        assert_eq!(suggest("mbconvv", ["conv", "mbconv"]), Some("mbconv"));
        assert_eq!(
            suggest("sep_cnv", ["sep_conv", "dil_conv"]),
            Some("sep_conv")
        );
        assert_eq!(suggest("zzzz", ["mbconv", "skip"]), None);
    }
}
