//! Robustness: random bytes and mutated pipelines through parse + check never panic; the canonical
//! layout is idempotent on every pipeline and keeps its meaning (same HIR); crash inputs found by
//! fuzzing (`fuzz/corpus/regressions/`) are replayed.

use nasl::driver;
use nasl::syntax;
use proptest::prelude::*;
use std::path::PathBuf;

/// Every front-end stage, the IR included.
fn check_text(name: &str, text: &str) -> nasl::sema::Checked {
    driver::check_text(name, text).checked
}

fn nas_files() -> Vec<PathBuf> {
    let mut v = Vec::new();
    for dir in ["pipelines", "examples"] {
        for e in std::fs::read_dir(dir).expect("folder") {
            let p = e.expect("entry").path();
            if p.extension().is_some_and(|x| x == "nas") {
                v.push(p);
            }
        }
    }
    v.sort();
    v
}

fn fmt(name: &str, text: &str) -> String {
    let (ast, errs) =
        syntax::parse(nasl::source::FileId(0), text).unwrap_or_else(|e| panic!("{name}: {e:?}"));
    assert!(errs.is_empty(), "{name}: {errs:?}");
    syntax::format::format_file(&ast, text)
}

fn comments(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.find("//").map(|i| l[i..].trim_end().to_string()))
        .collect()
}

#[test]
fn fmt_is_idempotent_keeps_comments_and_meaning() {
    for p in nas_files() {
        let name = p.display().to_string();
        let text = std::fs::read_to_string(&p).expect("read");
        let once = fmt(&name, &text);
        let twice = fmt(&name, &once);
        assert_eq!(once, twice, "{name}: fmt is not idempotent");
        assert_eq!(comments(&text), comments(&once), "{name}: comments changed");
        // Same meaning: the HIR (spans aside, as serialised) is unchanged.
        let a = hir_json(&name, &text);
        let b = hir_json(&name, &once);
        assert!(a != serde_json::Value::Null, "{name} checks");
        assert_eq!(a, b, "{name}: formatting changed the HIR");
    }
}

/// A loader over one in-memory file, for which every dataset path exists.
struct OneFile(String);

impl nasl::source::Loader for OneFile {
    fn load(&self, _: &std::path::Path) -> Result<String, nasl::source::LoadError> {
        Ok(self.0.clone())
    }
    fn exists(&self, _: &std::path::Path) -> bool {
        true
    }
}

fn hir_json(name: &str, text: &str) -> serde_json::Value {
    let c = nasl::sema::check_file(std::path::Path::new(name), &OneFile(text.to_string()));
    serde_json::to_value(&c.program).expect("serialisable")
}

#[test]
fn regressions_replay_without_panic() {
    let dir = std::path::Path::new("fuzz/corpus/regressions");
    let entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e}; the regression corpus is part of the suite",
                dir.display()
            )
        })
        .map(|e| e.expect("entry").path())
        .collect();
    assert!(
        entries.len() >= 5,
        "{} holds {} inputs; it must keep the regressions found so far",
        dir.display(),
        entries.len()
    );
    for p in entries {
        let bytes = std::fs::read(&p).expect("read");
        let text = String::from_utf8_lossy(&bytes);
        let checked = check_text("regression.nas", &text);
        // Each regression is a pipeline that once crashed something; it now gets diagnostics.
        assert!(
            checked.has_errors(),
            "{}: no error reported for a known-bad input",
            p.display()
        );
    }
}

fn mutate(text: &str, at: usize, insert: &str, cut: usize) -> String {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let mut end = (at + cut).min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{}{}", &text[..at], insert, &text[end..])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn random_strings_never_panic(s in "\\PC{0,200}") {
        let _ = check_text("random.nas", &s);
    }

    #[test]
    fn random_token_soup_never_panics(parts in proptest::collection::vec(prop::sample::select(vec![
        "space", "stage", "dataset", "block", "include", "=", "{", "}", "(", ")", "[", "]", ",", ":", ";", "\n",
        "chain", "cell", "genotype", "train", "evolution", "retrain", "evaluate", "choose", "conv", "skip", "none",
        "3", "12M", "1/3", "0.5", "->", "..", "<=", "\"x\"", "a", "b.c", "out", "stride", "repeat", "node", "(skip, 0)",
    ]), 0..60)) {
        let s = parts.join(" ");
        let _ = check_text("soup.nas", &s);
    }

    #[test]
    fn mutated_pipelines_never_panic(file in 0usize..22, at in 0usize..4000, cut in 0usize..40,
                                     insert in prop::sample::select(vec!["", "[", "(", "}", "\"", "/*", "0", "-", "x", ", ", "\n", "choose [", ".."])) {
        let files = nas_files();
        let p = &files[file % files.len()];
        let text = std::fs::read_to_string(p).expect("read");
        let m = mutate(&text, at, insert, cut);
        let _ = check_text("mutated.nas", &m);
        if let Ok((ast, _)) = syntax::parse(nasl::source::FileId(0), &m) {
            let once = syntax::format::format_file(&ast, &m);
            let (ast2, _) = syntax::parse(nasl::source::FileId(0), &once).expect("formatted text parses");
            prop_assert_eq!(syntax::format::format_file(&ast2, &once), once);
        }
    }
}
