//! Source files and spans: the text of every loaded `.nas` file, byte spans into it, line/column
//! lookup, file loading behind a trait (so tests and the language server can load from memory), and
//! the include policy: an include names a `.nas` file inside the root (the folder of the checked file,
//! or the editor's workspace folder) unless the loader allows leaving it.

use std::path::{Path, PathBuf};

/// Index of a file in a [`SourceMap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FileId(pub u32);

/// A byte range `[start, end)` in one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub file: FileId,
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(file: FileId, start: usize, end: usize) -> Self {
        Span { file, start, end }
    }
    /// The number of bytes covered.
    pub fn len(&self) -> usize {
        self.end.saturating_sub(self.start)
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The smallest span covering both (same file assumed).
    pub fn to(self, other: Span) -> Span {
        Span::new(
            self.file,
            self.start.min(other.start),
            self.end.max(other.end),
        )
    }
}

/// One loaded file.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
    /// Byte offset of the start of every line.
    line_starts: Vec<usize>,
}

impl SourceFile {
    pub fn new(path: PathBuf, text: String) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        SourceFile {
            path,
            text,
            line_starts,
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let start = self.line_starts.get(line).copied().unwrap_or(0);
        let col = self
            .text
            .get(start..offset)
            .map(|s| s.chars().count())
            .unwrap_or(0);
        (line + 1, col + 1)
    }
}

/// Every file of one check, addressed by [`FileId`].
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn add(&mut self, path: PathBuf, text: String) -> FileId {
        self.files.push(SourceFile::new(path, text));
        FileId(self.files.len() as u32 - 1)
    }
    pub fn get(&self, id: FileId) -> Option<&SourceFile> {
        self.files.get(id.0 as usize)
    }
    pub fn files(&self) -> impl Iterator<Item = (FileId, &SourceFile)> {
        self.files
            .iter()
            .enumerate()
            .map(|(i, f)| (FileId(i as u32), f))
    }
    /// The file already loaded from this path, if any.
    pub fn find(&self, path: &Path) -> Option<FileId> {
        self.files().find(|(_, f)| f.path == path).map(|(id, _)| id)
    }
}

/// Why a file's bytes could not become source text.
#[derive(Debug)]
pub enum LoadError {
    /// The file could not be read.
    Io(std::io::Error),
    /// The bytes are not UTF-8; the offset of the first bad byte and the text read lossily.
    NotUtf8 { offset: usize, lossy: String },
}

/// Where source text comes from: the file system, or memory in tests.
pub trait Loader {
    fn load(&self, path: &Path) -> Result<String, LoadError>;
    /// Whether a path names an existing file or folder (for dataset paths).
    fn exists(&self, path: &Path) -> bool;
    /// The folder includes must stay inside; `None`: the folder of the file being checked.
    fn include_root(&self) -> Option<&Path> {
        None
    }
    /// Whether includes may resolve outside the root (`nasl check --allow-include-outside`).
    fn include_outside(&self) -> bool {
        false
    }
}

/// Another loader with its include policy set: the root includes must stay inside, and whether they
/// may leave it.
pub struct Scoped<'a> {
    pub inner: &'a dyn Loader,
    pub root: Option<PathBuf>,
    pub allow_outside: bool,
}

impl Loader for Scoped<'_> {
    fn load(&self, path: &Path) -> Result<String, LoadError> {
        self.inner.load(path)
    }
    fn exists(&self, path: &Path) -> bool {
        self.inner.exists(path)
    }
    fn include_root(&self) -> Option<&Path> {
        self.root.as_deref()
    }
    fn include_outside(&self) -> bool {
        self.allow_outside
    }
}

/// Why an include is refused before anything is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IncludeRefusal {
    /// The path does not end in `.nas`.
    NotNas,
    /// The path resolves outside the root.
    Outside,
}

/// Judges an include of `target` (already joined to the including file's folder) under `root`:
/// the file must end in `.nas` and, unless `allow_outside`, lie inside `root` once `.`, `..` and
/// symbolic links are resolved (links only where the path exists).
pub fn judge_include(
    target: &Path,
    root: &Path,
    allow_outside: bool,
) -> Result<(), IncludeRefusal> {
    if target.extension().is_none_or(|e| e != "nas") {
        return Err(IncludeRefusal::NotNas);
    }
    if allow_outside {
        return Ok(());
    }
    let root = resolved(root);
    if resolved(target).starts_with(&root) {
        Ok(())
    } else {
        Err(IncludeRefusal::Outside)
    }
}

/// An absolute path: canonical where it exists, else made absolute and normalised lexically.
fn resolved(path: &Path) -> PathBuf {
    if let Ok(p) = std::fs::canonicalize(path) {
        return p;
    }
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    };
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Loads from the file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct FsLoader;

impl Loader for FsLoader {
    fn load(&self, path: &Path) -> Result<String, LoadError> {
        let bytes = std::fs::read(path).map_err(LoadError::Io)?;
        decode(bytes)
    }
    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }
}

/// Turns bytes into text, reporting where they stop being UTF-8.
pub fn decode(bytes: Vec<u8>) -> Result<String, LoadError> {
    match String::from_utf8(bytes) {
        Ok(s) => Ok(s),
        Err(e) => {
            let offset = e.utf8_error().valid_up_to();
            let lossy = String::from_utf8_lossy(e.as_bytes()).into_owned();
            Err(LoadError::NotUtf8 { offset, lossy })
        }
    }
}

/// Loads from a map of paths to texts (tests).
#[derive(Debug, Default, Clone)]
pub struct MemLoader {
    pub files: std::collections::HashMap<PathBuf, String>,
}

impl Loader for MemLoader {
    fn load(&self, path: &Path) -> Result<String, LoadError> {
        self.files.get(path).cloned().ok_or_else(|| {
            LoadError::Io(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no such file",
            ))
        })
    }
    fn exists(&self, path: &Path) -> bool {
        self.files.contains_key(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        let f = SourceFile::new("a".into(), "ab\ncd\n".into());
        assert_eq!(f.line_col(0), (1, 1));
        assert_eq!(f.line_col(4), (2, 2));
        assert_eq!(f.line_col(6), (3, 1));
    }

    #[test]
    fn includes_must_be_nas_files_inside_the_root() {
        let root = Path::new("/work/project");
        let ok = judge_include(Path::new("/work/project/sub/a.nas"), root, false);
        assert_eq!(ok, Ok(()));
        let txt = judge_include(Path::new("/work/project/a.txt"), root, false);
        assert_eq!(txt, Err(IncludeRefusal::NotNas));
        assert_eq!(
            judge_include(Path::new("/etc/passwd"), root, true),
            Err(IncludeRefusal::NotNas)
        );
        let up = judge_include(
            Path::new("/work/project/sub/../../other/a.nas"),
            root,
            false,
        );
        assert!(up == Err(IncludeRefusal::Outside), "{up:?}");
        let sibling = judge_include(Path::new("/work/project2/a.nas"), root, false);
        assert!(sibling == Err(IncludeRefusal::Outside));
        assert_eq!(
            judge_include(Path::new("/work/other/a.nas"), root, true),
            Ok(())
        );
    }

    #[test]
    fn decode_reports_first_bad_byte() {
        match decode(vec![b'a', 0xff, b'b']) {
            Err(LoadError::NotUtf8 { offset, .. }) => assert_eq!(offset, 1),
            other => panic!("{other:?}"),
        }
    }
}
