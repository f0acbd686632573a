//! Diagnostic snapshots: every `tests/ui/**/*.nas` is checked and its rendered diagnostics (fixed
//! no-colour theme, width 100) are compared with an insta snapshot. The file's name is the code it
//! must produce (`tests/ui/sema/unknown_op.nas` → `nasl::sema::unknown_op`), and every code has a file.

use nasl::diag::{Code, render};
use nasl::driver;
use nasl::source::FsLoader;
use std::path::{Path, PathBuf};

fn ui_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for group in ["syntax", "source", "sema", "ir"] {
        let dir = Path::new("tests/ui").join(group);
        for entry in std::fs::read_dir(&dir).expect("tests/ui exists") {
            let p = entry.expect("readable dir").path();
            if p.extension().is_some_and(|e| e == "nas") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn expected_code(p: &Path) -> String {
    let group = p
        .parent()
        .and_then(|d| d.file_name())
        .and_then(|s| s.to_str())
        .unwrap_or("");
    let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    format!("nasl::{group}::{stem}")
}

#[test]
fn every_ui_file_produces_its_code_and_matches_its_snapshot() {
    let files = ui_files();
    assert!(files.len() >= Code::ALL.len(), "one ui file per code");
    for p in files {
        let checked = driver::check_file(&p, &FsLoader).checked;
        let want = expected_code(&p);
        assert!(
            checked.diags.iter().any(|d| d.code.as_str() == want),
            "{} should report {want}, got {:?}",
            p.display(),
            checked
                .diags
                .iter()
                .map(|d| d.code.as_str())
                .collect::<Vec<_>>()
        );
        let text = render::human_all(&checked.diags, &checked.sources, 100);
        let name = format!("{}", p.display())
            .replace(['/', '\\'], "__")
            .replace(".nas", "");
        insta::assert_snapshot!(name, text);
    }
}

#[test]
fn every_code_has_a_ui_file() {
    let files: Vec<String> = ui_files().iter().map(|p| expected_code(p)).collect();
    for code in Code::ALL {
        assert!(
            files.iter().any(|f| f == code.as_str()),
            "no tests/ui file for {}",
            code.as_str()
        );
    }
}

#[test]
fn json_has_positions() {
    let p = Path::new("tests/ui/sema/unknown_op.nas");
    let checked = driver::check_file(p, &FsLoader).checked;
    let v: serde_json::Value =
        serde_json::from_str(&render::json(&checked.diags, &checked.sources)).expect("valid json");
    let d = &v[0];
    assert_eq!(d["code"], "nasl::sema::unknown_op");
    assert_eq!(d["severity"], "error");
    assert_eq!(d["line"], 4);
    let text = std::fs::read_to_string(p).expect("file");
    let off = d["offset"].as_u64().expect("offset") as usize;
    let len = d["length"].as_u64().expect("length") as usize;
    assert_eq!(&text[off..off + len], "skp");
    assert_eq!(d["help"], "did you mean `skip`?");
}
