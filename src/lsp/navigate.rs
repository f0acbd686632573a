//! Navigation over the index: what the cursor names (a declaration or an included file), its
//! definition, its references across every check that sees it, and the edits of a rename.

use std::path::{Component, Path, PathBuf};

use super::index::{Analysis, Range};
use crate::source::FileId;

/// What a cursor position names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A declared dataset, block, space or stage, by name.
    Decl(String),
    /// An included file.
    File(PathBuf),
}

/// A place in a file.
pub type Place = (PathBuf, Range);

/// `.` and `..` resolved lexically, so that two includes of one file compare equal.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

pub fn target_at(a: &Analysis, file: FileId, offset: usize) -> Option<Target> {
    let ix = a.files().get(file.0 as usize)?;
    if let Some(inc) = ix.include_at(offset) {
        return Some(Target::File(normalize(&inc.target)));
    }
    if let Some(d) = ix.decl_name_at(offset) {
        return Some(Target::Decl(d.name.clone()));
    }
    let u = ix.use_at(offset)?;
    a.decl(&u.name).map(|_| Target::Decl(u.name.clone()))
}

/// Where a target is defined: a declaration's name, or the start of an included file.
pub fn definition(a: &Analysis, target: &Target) -> Option<Place> {
    match target {
        Target::Decl(name) => {
            let (file, d) = a.decl(name)?;
            Some((a.files().get(file.0 as usize)?.path.clone(), d.name_span))
        }
        Target::File(p) => Some((p.clone(), (0, 0))),
    }
}

/// Every place that names the target in the checks that see the same definition (`with_decl`: the
/// declaration's name too), without duplicates.
pub fn references(
    analyses: &[&Analysis],
    def: &Place,
    target: &Target,
    with_decl: bool,
) -> Vec<Place> {
    let mut out: Vec<Place> = Vec::new();
    for a in analyses {
        match target {
            Target::Decl(name) => {
                if definition(a, target).as_ref() != Some(def) {
                    continue;
                }
                for f in a.files() {
                    for u in f.uses.iter().filter(|u| &u.name == name) {
                        out.push((f.path.clone(), u.span));
                    }
                }
                if with_decl {
                    out.push(def.clone());
                }
            }
            Target::File(p) => {
                for f in a.files() {
                    for inc in &f.includes {
                        if &normalize(&inc.target) == p {
                            out.push((f.path.clone(), inc.span));
                        }
                    }
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Whether `name` can name a declaration: an identifier that is no keyword of the grammar.
pub fn valid_name(name: &str) -> bool {
    let mut cs = name.chars();
    cs.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && cs.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !matches!(
            name,
            "dataset" | "block" | "space" | "stage" | "include" | "choose" | "true" | "false"
        )
}

/// The places a rename of the declaration at the cursor rewrites, or why it cannot be done.
pub fn rename(
    analyses: &[&Analysis],
    a: &Analysis,
    file: FileId,
    offset: usize,
    new_name: &str,
) -> Result<Vec<Place>, String> {
    let target = target_at(a, file, offset);
    let Some(Target::Decl(old)) = &target else {
        return Err("only a dataset, block, space or stage can be renamed".into());
    };
    if !valid_name(new_name) {
        return Err(format!("`{new_name}` is not a valid name"));
    }
    if new_name != old.as_str() && a.decl(new_name).is_some() {
        return Err(format!("`{new_name}` is already declared"));
    }
    let target = Target::Decl(old.clone());
    let def = definition(a, &target).ok_or("the declaration is not found")?;
    Ok(references(analyses, &def, &target, true))
}
