//! Keeps the editor support in `editors/` in step with the language: the keyword literals of
//! `grammar/nasl.pest`, the op names of `nasl::catalog` and the names of `nasl::sema::tables`.
//!
//! Every editor file keeps its words in named lists, one list per category (TextMate: repository
//! entries; Vim: `let s:NAME = [...]`; Sublime: `variables`). For keyword categories a list must
//! equal the grammar's words exactly (a new keyword in the grammar fails this test until every
//! editor lists it, and an editor may not invent one); built-in lists must equal the tables.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use nasl::sema::tables;

/// The language server, driven over stdio (`tests/editors/lsp.rs`).
#[path = "editors/lsp.rs"]
mod lsp;

type Words = BTreeSet<String>;

fn read(rel: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn words<'a>(it: impl IntoIterator<Item = &'a str>) -> Words {
    it.into_iter().map(str::to_string).collect()
}

fn is_word(s: &str) -> bool {
    let mut cs = s.chars();
    cs.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && cs.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

// ---------------------------------------------------------------------------------------------
// The grammar.

#[derive(Debug, PartialEq)]
enum Tok {
    Word(String),
    Lit(String),
    Punct(char),
}

/// Tokens of a pest file: names, string literals (`"..."` and `'.'`) and punctuation; comments dropped.
fn pest_tokens(src: &str) -> Vec<Tok> {
    let cs: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < cs.len() {
        let c = cs[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '/' && cs.get(i + 1) == Some(&'/') {
            while i < cs.len() && cs[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && cs.get(i + 1) == Some(&'*') {
            i += 2;
            while i + 1 < cs.len() && !(cs[i] == '*' && cs[i + 1] == '/') {
                i += 1;
            }
            i += 2;
        } else if c == '"' || c == '\'' {
            let mut lit = String::new();
            i += 1;
            while i < cs.len() && cs[i] != c {
                if cs[i] == '\\' {
                    // kept escaped: `"\t"` is no word
                    lit.push(cs[i]);
                    i += 1;
                }
                lit.push(cs[i]);
                i += 1;
            }
            i += 1;
            out.push(Tok::Lit(lit));
        } else if c.is_ascii_alphanumeric() || c == '_' {
            let start = i;
            while i < cs.len() && (cs[i].is_ascii_alphanumeric() || cs[i] == '_') {
                i += 1;
            }
            out.push(Tok::Word(cs[start..i].iter().collect()));
        } else {
            out.push(Tok::Punct(c));
            i += 1;
        }
    }
    out
}

/// Every rule of a pest grammar with the word-like literals of its body (`"linear"`, not `"->"`).
fn pest_rule_words(src: &str) -> BTreeMap<String, Words> {
    let toks = pest_tokens(src);
    let mut rules = BTreeMap::new();
    let mut i = 0;
    while i < toks.len() {
        // NAME = [_@$!] { BODY }
        let Tok::Word(name) = &toks[i] else {
            panic!("grammar: expected a rule name, found {:?}", toks[i]);
        };
        assert_eq!(
            toks.get(i + 1),
            Some(&Tok::Punct('=')),
            "grammar: rule {name}"
        );
        i += 2;
        if matches!(&toks[i], Tok::Punct('@' | '$' | '!')) || toks[i] == Tok::Word("_".into()) {
            i += 1;
        }
        assert_eq!(toks.get(i), Some(&Tok::Punct('{')), "grammar: rule {name}");
        let mut depth = 0;
        let mut lits = Words::new();
        loop {
            match &toks[i] {
                Tok::Punct('{') => depth += 1,
                Tok::Punct('}') => depth -= 1,
                // a word, not `"_"` (a character of a name) nor `"->"`
                Tok::Lit(l) if is_word(l) && l.chars().any(|c| c.is_ascii_alphabetic()) => {
                    lits.insert(l.clone());
                }
                _ => {}
            }
            i += 1;
            if depth == 0 {
                break;
            }
        }
        assert!(
            rules.insert(name.clone(), lits).is_none(),
            "grammar: rule {name} twice"
        );
    }
    rules
}

/// The word categories of the grammar, by editor category name.
fn grammar_categories(src: &str) -> BTreeMap<&'static str, Words> {
    let rules = pest_rule_words(src);
    let mut cats: BTreeMap<&'static str, Words> = BTreeMap::new();
    for (rule, lits) in &rules {
        let cat = match rule.as_str() {
            "decl_kw" => "decl",
            r if r.starts_with("kw_") => "keywords",
            "setting_kw" => "keys",
            "sched_kind" => "schedule_kinds",
            "boolean" => "booleans",
            "unit" => "units",
            // The exponent marker of `3e-4` (`^"e"`) is no keyword.
            "number" => continue,
            _ if lits.is_empty() => continue,
            r => panic!(
                "grammar rule `{r}` has word literals {lits:?}: give it an editor category in tests/editors.rs \
                 and list its words in every editor file"
            ),
        };
        cats.entry(cat).or_default().extend(lits.iter().cloned());
    }
    for cat in KEYWORD_CATEGORIES {
        assert!(
            cats.get(cat).is_some_and(|w| !w.is_empty()),
            "the grammar has no words for category {cat}: was a keyword rule renamed?"
        );
    }
    cats
}

/// Categories whose words come from the grammar: the editors list exactly these words.
const KEYWORD_CATEGORIES: [&str; 6] = [
    "decl",
    "keywords",
    "keys",
    "schedule_kinds",
    "booleans",
    "units",
];

// ---------------------------------------------------------------------------------------------
// The Rust tables.

/// Space kinds are decided in the private `sema::space` module (`chain(...)`, `cell(...)`,
/// `genotype(...)`), so they are spelled here.
const SPACE_KINDS: [&str; 3] = ["chain", "cell", "genotype"];

fn sig_names(sigs: &[tables::Sig]) -> impl Iterator<Item = &'static str> + '_ {
    sigs.iter().map(|s| s.name)
}

/// The built-in categories: exact word sets expected from the catalog and sema's tables.
fn builtin_categories() -> BTreeMap<&'static str, Words> {
    let ops = words(nasl::catalog::all_names());
    let stage_kinds = words(tables::STAGES.iter().map(|(n, _)| *n));
    let mut others = words(SPACE_KINDS);
    others.extend(words(tables::DATASETS.iter().map(|(n, _)| *n)));
    for table in [
        tables::AUGMENTS,
        tables::SAMPLERS,
        tables::OPTIMIZERS,
        tables::SCHEDULES,
        tables::LEVELS,
        tables::DERIVES,
        tables::CONTROLLERS,
        tables::REWARDS,
        tables::PENALTIES,
        tables::RECALIBRATIONS,
        tables::LATENCIES,
        tables::PREDICTORS,
        tables::PHASES,
    ] {
        others.extend(words(sig_names(table)));
    }
    others.extend(words(tables::TRAIN_SAMPLERS.iter().copied()));
    others.extend(words(tables::RELAXATIONS.iter().copied()));
    let mut metrics = Words::new();
    for m in tables::METRICS {
        match m.split_once('.') {
            // `val.accuracy`: highlighted as a dotted metric.
            Some((a, b)) => metrics.extend([a.to_string(), b.to_string()]),
            // `flops`: a bare metric is also a penalty/reward name.
            None => {
                others.insert(m.to_string());
            }
        }
    }
    // A name is in one category: ops first, then stage kinds.
    let others: Words = others
        .into_iter()
        .filter(|n| !ops.contains(n) && !stage_kinds.contains(n))
        .collect();
    BTreeMap::from([
        ("ops", ops),
        ("stage_kinds", stage_kinds),
        ("builtins", others),
        ("metrics", metrics),
    ])
}

fn expected() -> BTreeMap<&'static str, Words> {
    let mut all = grammar_categories(&read("grammar/nasl.pest"));
    all.extend(builtin_categories());
    all
}

// ---------------------------------------------------------------------------------------------
// Reading the editor files.

/// The words of a regex made of alternations of literal words: escapes (`\b`, `\s`, `\.`) and
/// character classes are dropped first so that `[A-Za-z_]` or `\w` add nothing.
fn regex_words(re: &str) -> Words {
    let mut plain = String::new();
    let mut cs = re.chars();
    while let Some(c) = cs.next() {
        match c {
            '\\' => {
                cs.next();
                plain.push(' ');
            }
            '[' => {
                while let Some(c) = cs.next() {
                    match c {
                        '\\' => {
                            cs.next();
                        }
                        ']' => break,
                        _ => {}
                    }
                }
                plain.push(' ');
            }
            '{' => {
                // a Sublime `{{variable}}` reference: not a word of the pattern
                for c in cs.by_ref() {
                    if c == '}' {
                        break;
                    }
                }
                plain.push(' ');
            }
            c if c.is_ascii_alphanumeric() || c == '_' => plain.push(c),
            _ => plain.push(' '),
        }
    }
    plain
        .split_whitespace()
        .filter(|w| is_word(w))
        .map(str::to_string)
        .collect()
}

/// Every string under the given keys, anywhere in a JSON or YAML tree.
fn json_strings<'a>(v: &'a serde_json::Value, keys: &[&str], out: &mut Vec<&'a str>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                match v {
                    serde_json::Value::String(s) if keys.contains(&k.as_str()) => out.push(s),
                    _ => json_strings(v, keys, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| json_strings(v, keys, out)),
        _ => {}
    }
}

/// The TextMate repository entry of each category.
const TEXTMATE_ENTRIES: [(&str, &str); 10] = [
    ("decl", "declarations"),
    ("keywords", "keywords"),
    ("keys", "statement-keys"),
    ("schedule_kinds", "schedule-kinds"),
    ("booleans", "booleans"),
    ("units", "numbers"),
    ("ops", "ops"),
    ("stage_kinds", "stage-kinds"),
    ("builtins", "builtins"),
    ("metrics", "metrics"),
];

const TEXTMATE: &str = "editors/vscode/syntaxes/nasl.tmLanguage.json";

fn textmate() -> serde_json::Value {
    serde_json::from_str(&read(TEXTMATE)).unwrap_or_else(|e| panic!("{TEXTMATE}: {e}"))
}

fn textmate_categories(tm: &serde_json::Value) -> BTreeMap<&'static str, Words> {
    TEXTMATE_ENTRIES
        .iter()
        .map(|(cat, entry)| {
            let e = tm
                .pointer(&format!("/repository/{entry}"))
                .unwrap_or_else(|| panic!("{TEXTMATE}: no repository entry {entry}"));
            let mut res = Vec::new();
            json_strings(e, &["match"], &mut res);
            assert!(!res.is_empty(), "{TEXTMATE}: entry {entry} has no match");
            (*cat, res.iter().flat_map(|r| regex_words(r)).collect())
        })
        .collect()
}

const VIM: &str = "editors/vim/syntax/nas.vim";

/// The `let s:NAME = [...]` lists of a Vim script, with `\` continuation lines.
fn vim_lists(src: &str) -> BTreeMap<String, Words> {
    let mut lists = BTreeMap::new();
    let mut lines = src.lines();
    while let Some(line) = lines.next() {
        let Some(rest) = line.trim().strip_prefix("let s:") else {
            continue;
        };
        let Some((name, value)) = rest.split_once('=') else {
            continue;
        };
        let mut text = value.trim().to_string();
        if !text.starts_with('[') {
            continue;
        }
        while !text.trim_end().ends_with(']') {
            let next = lines
                .next()
                .unwrap_or_else(|| panic!("{VIM}: list {name} unclosed"));
            let next = next.trim_start();
            let next = next.strip_prefix('\\').unwrap_or_else(|| {
                panic!("{VIM}: list {name}: continuation line without `\\`: {next}")
            });
            text.push_str(next);
        }
        let items: Words = text
            .split('\'')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect();
        lists.insert(name.trim().to_string(), items);
    }
    lists
}

/// The Vim list(s) of each category.
const VIM_LISTS: [(&str, &[&str]); 10] = [
    ("decl", &["decl_kw"]),
    ("keywords", &["keywords"]),
    ("keys", &["setting_kw"]),
    ("schedule_kinds", &["sched_kind"]),
    ("booleans", &["boolean"]),
    ("units", &["units"]),
    ("ops", &["ops"]),
    ("stage_kinds", &["stage_kinds"]),
    ("builtins", &["builtins"]),
    ("metrics", &["metric_prefix", "metric_suffix"]),
];

fn vim_categories(src: &str) -> BTreeMap<&'static str, Words> {
    let lists = vim_lists(src);
    VIM_LISTS
        .iter()
        .map(|(cat, names)| {
            let mut ws = Words::new();
            for name in *names {
                let list = lists
                    .get(*name)
                    .unwrap_or_else(|| panic!("{VIM}: no list s:{name}"));
                // The list must be used by a syntax command, not only declared.
                assert!(
                    src.matches(&format!("s:{name}")).count() >= 2,
                    "{VIM}: list s:{name} is never used"
                );
                ws.extend(list.iter().cloned());
            }
            (*cat, ws)
        })
        .collect()
}

const SUBLIME: &str = "editors/sublime/nasl.sublime-syntax";

/// The Sublime variable of each category.
const SUBLIME_VARS: [(&str, &str); 10] = [
    ("decl", "decl_kw"),
    ("keywords", "keywords"),
    ("keys", "setting_kw"),
    ("schedule_kinds", "sched_kind"),
    ("booleans", "boolean"),
    ("units", "unit"),
    ("ops", "ops"),
    ("stage_kinds", "stage_kinds"),
    ("builtins", "builtins"),
    ("metrics", "metrics"),
];

fn sublime() -> serde_json::Value {
    // serde_yaml reads the file; converting to JSON values lets one walker serve both formats.
    let y: serde_yaml::Value =
        serde_yaml::from_str(&read(SUBLIME)).unwrap_or_else(|e| panic!("{SUBLIME}: {e}"));
    serde_json::to_value(y).unwrap_or_else(|e| panic!("{SUBLIME}: {e}"))
}

fn sublime_variables(syn: &serde_json::Value) -> BTreeMap<String, String> {
    syn["variables"]
        .as_object()
        .unwrap_or_else(|| panic!("{SUBLIME}: no variables"))
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_str().expect("variable is a string").to_string(),
            )
        })
        .collect()
}

fn sublime_categories(syn: &serde_json::Value) -> BTreeMap<&'static str, Words> {
    let vars = sublime_variables(syn);
    let mut matches = Vec::new();
    json_strings(&syn["contexts"], &["match"], &mut matches);
    SUBLIME_VARS
        .iter()
        .map(|(cat, var)| {
            let re = vars
                .get(*var)
                .unwrap_or_else(|| panic!("{SUBLIME}: no variable {var}"));
            let used = format!("{{{{{var}}}}}");
            assert!(
                matches.iter().any(|m| m.contains(&used)),
                "{SUBLIME}: variable {var} is never used"
            );
            (*cat, regex_words(re))
        })
        .collect()
}

/// Sublime patterns with their `{{variables}}` substituted.
fn sublime_patterns(syn: &serde_json::Value) -> Vec<String> {
    let vars = sublime_variables(syn);
    let mut matches = Vec::new();
    json_strings(&syn["contexts"], &["match"], &mut matches);
    matches
        .iter()
        .map(|m| {
            let mut m = m.to_string();
            for _ in 0..4 {
                for (k, v) in &vars {
                    m = m.replace(&format!("{{{{{k}}}}}"), v);
                }
            }
            assert!(!m.contains("{{"), "{SUBLIME}: unknown variable in {m}");
            m
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Comparison.

/// What differs between an editor's categories and the expected ones, one line per problem.
fn differences(
    file: &str,
    got: &BTreeMap<&'static str, Words>,
    want: &BTreeMap<&'static str, Words>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (cat, want) in want {
        let Some(got) = got.get(cat) else {
            out.push(format!("{file}: no `{cat}` list"));
            continue;
        };
        let missing: Vec<_> = want.difference(got).collect();
        let unknown: Vec<_> = got.difference(want).collect();
        if !missing.is_empty() {
            out.push(format!("{file}: `{cat}` lacks {missing:?}"));
        }
        if !unknown.is_empty() {
            out.push(format!(
                "{file}: `{cat}` lists {unknown:?}, which the grammar/tables do not define there"
            ));
        }
    }
    out
}

fn assert_same(file: &str, got: &BTreeMap<&'static str, Words>) {
    let diffs = differences(file, got, &expected());
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

#[test]
fn textmate_grammar_lists_every_keyword_and_builtin() {
    assert_same(TEXTMATE, &textmate_categories(&textmate()));
}

#[test]
fn vim_syntax_lists_every_keyword_and_builtin() {
    assert_same(VIM, &vim_categories(&read(VIM)));
}

#[test]
fn sublime_syntax_lists_every_keyword_and_builtin() {
    assert_same(SUBLIME, &sublime_categories(&sublime()));
}

#[test]
fn every_sema_setting_is_a_grammar_statement_key() {
    // Editors highlight keys from `setting_kw`; a stage setting missing there would show as a name.
    let keys = &grammar_categories(&read("grammar/nasl.pest"))["keys"];
    let missing: Vec<_> = tables::SETTINGS
        .iter()
        .map(|s| s.key)
        .filter(|k| !keys.contains(*k))
        .collect();
    assert!(
        missing.is_empty(),
        "stage settings not in grammar rule setting_kw: {missing:?}"
    );
}

/// The comparison itself must catch a keyword the grammar gains or an editor invents.
#[test]
fn a_new_grammar_keyword_or_an_invented_one_is_caught() {
    let grammar = read("grammar/nasl.pest");
    let tm = textmate_categories(&textmate());
    assert!(differences(TEXTMATE, &tm, &expected()).is_empty());

    let grown = grammar.replacen(
        "sched_kind = @{ (\"constant\"",
        "sched_kind = @{ (\"zigzag\" | \"constant\"",
        1,
    );
    assert_ne!(
        grown, grammar,
        "the test's edit no longer applies to the grammar"
    );
    let mut want = grammar_categories(&grown);
    want.extend(builtin_categories());
    let diffs = differences(TEXTMATE, &tm, &want);
    assert!(
        diffs.len() == 1 && diffs[0].contains("zigzag") && diffs[0].contains("lacks"),
        "{diffs:?}"
    );

    let mut invented = tm.clone();
    invented.get_mut("booleans").unwrap().insert("maybe".into());
    let diffs = differences(TEXTMATE, &invented, &expected());
    assert!(diffs.len() == 1 && diffs[0].contains("maybe"), "{diffs:?}");

    let new_rule = format!("{grammar}\nkw_import = @{{ \"import\" ~ !ident_char }}\n");
    assert!(grammar_categories(&new_rule)["keywords"].contains("import"));
    let unclassified = format!("{grammar}\nmodifier = @{{ \"frozen\" | \"shared\" }}\n");
    assert!(std::panic::catch_unwind(|| grammar_categories(&unclassified)).is_err());
}

#[test]
fn regex_words_ignores_escapes_classes_and_variables() {
    assert_eq!(
        regex_words(r"^\s*\b(dataset|block)\s+([A-Za-z_]\w*)\s*(=|\()"),
        words(["dataset", "block"])
    );
    assert_eq!(
        regex_words(r"\b{{ops}}(?:a1|b_c)\b[^\s,)\]]+"),
        words(["a1", "b_c"])
    );
}

// ---------------------------------------------------------------------------------------------
// Well-formedness.

fn compile_all(file: &str, patterns: &[&str]) {
    assert!(!patterns.is_empty(), "{file}: no patterns");
    let errors: Vec<String> = patterns
        .iter()
        .filter_map(|p| regex::Regex::new(p).err().map(|e| format!("{p}\n{e}")))
        .collect();
    assert!(
        errors.is_empty(),
        "{file}: bad regexes:\n{}",
        errors.join("\n\n")
    );
}

#[test]
fn textmate_regexes_compile() {
    // The `regex` crate knows less than Oniguruma (no look-around), so the grammar keeps to the
    // common subset and every pattern must compile here.
    let tm = textmate();
    let mut res = Vec::new();
    json_strings(&tm, &["match", "begin", "end"], &mut res);
    compile_all(TEXTMATE, &res);
}

#[test]
fn textmate_includes_resolve() {
    let tm = textmate();
    let mut incs = Vec::new();
    json_strings(&tm, &["include"], &mut incs);
    for inc in incs {
        let name = inc.strip_prefix('#').expect("local include");
        assert!(
            tm.pointer(&format!("/repository/{name}")).is_some(),
            "{TEXTMATE}: include {inc} has no repository entry"
        );
    }
    assert_eq!(tm["scopeName"], "source.nasl");
}

#[test]
fn sublime_regexes_compile() {
    let syn = sublime();
    assert_eq!(syn["scope"], "source.nasl");
    assert_eq!(syn["file_extensions"][0], "nas");
    let pats = sublime_patterns(&syn);
    compile_all(
        SUBLIME,
        &pats.iter().map(String::as_str).collect::<Vec<_>>(),
    );
}

#[test]
fn vscode_extension_manifest_is_consistent() {
    let pkg: serde_json::Value =
        serde_json::from_str(&read("editors/vscode/package.json")).expect("package.json parses");
    let lang = &pkg["contributes"]["languages"][0];
    assert_eq!(lang["id"], "nasl");
    assert!(
        lang["extensions"]
            .as_array()
            .expect("extensions")
            .contains(&".nas".into())
    );
    let conf = lang["configuration"].as_str().expect("configuration");
    let conf: serde_json::Value =
        serde_json::from_str(&read(&format!("editors/vscode/{conf}"))).expect("config parses");
    assert_eq!(conf["comments"]["lineComment"], "//");
    assert_eq!(
        conf["comments"]["blockComment"],
        serde_json::json!(["/*", "*/"])
    );

    let gram = &pkg["contributes"]["grammars"][0];
    assert_eq!(gram["language"], "nasl");
    let path = gram["path"].as_str().expect("grammar path");
    let tm: serde_json::Value =
        serde_json::from_str(&read(&format!("editors/vscode/{path}"))).expect("grammar parses");
    assert_eq!(gram["scopeName"], tm["scopeName"]);
}

#[test]
fn vscode_extension_starts_the_language_server() {
    let pkg: serde_json::Value =
        serde_json::from_str(&read("editors/vscode/package.json")).expect("package.json parses");
    let props = &pkg["contributes"]["configuration"]["properties"];
    assert_eq!(props["nasl.server.path"]["default"], "nasl");
    assert!(pkg["dependencies"]["vscode-languageclient"].is_string());
    let main = pkg["main"].as_str().expect("main");
    let client = read(&format!("editors/vscode/{main}"));
    assert!(client.contains("vscode-languageclient/node"), "{client}");
    assert!(client.contains("'server.path'") && client.contains("['lsp']"));
    assert!(client.contains("allowIncludeOutside"));
    let script = read("editors/vscode/package.sh");
    assert!(script.contains("npm run package"), "{script}");
    assert!(
        pkg["scripts"]["package"]
            .as_str()
            .is_some_and(|s| s.starts_with("vsce package"))
    );
}

#[test]
fn vim_detects_nas_files() {
    let ft = read("editors/vim/ftdetect/nas.vim");
    assert!(ft.contains("*.nas") && ft.contains("filetype=nas"), "{ft}");
    assert!(read(VIM).contains("let b:current_syntax = 'nas'"));
}

/// Every pipeline and example highlights its statement keys: each first word of a line inside a
/// body is either a key the editors list or a user name, never a misspelt built-in key.
#[test]
fn sample_pipelines_use_only_listed_statement_keys() {
    let keys = &grammar_categories(&read("grammar/nasl.pest"))["keys"];
    let mut n = 0;
    for dir in ["pipelines", "examples"] {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(dir);
        for entry in std::fs::read_dir(&root).expect("dir") {
            let path = entry.expect("entry").path();
            if path.extension().is_none_or(|e| e != "nas") {
                continue;
            }
            let src = std::fs::read_to_string(&path).expect("read");
            for line in src.lines() {
                // An indented line that starts a statement (not a continuation or a comment).
                if !line.starts_with("  ") || line.starts_with("   ") {
                    continue;
                }
                let first: String = line
                    .trim_start()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                let rest = line.trim_start()[first.len()..].trim_start();
                if first.is_empty() || rest.starts_with(':') || rest.starts_with('(') {
                    continue;
                }
                n += 1;
                assert!(
                    keys.contains(&first),
                    "{}: statement key `{first}` is not in setting_kw, editors will not highlight it",
                    path.display()
                );
            }
        }
    }
    assert!(
        n > 50,
        "only {n} statements found in pipelines/ and examples/"
    );
}
