//! Unit tests of the grammar rules and the AST builder.

use super::ast::*;
use super::parser::{NaslParser, Rule};
use super::*;
use pest::Parser;

fn ok(rule: Rule, s: &str) -> bool {
    NaslParser::parse(rule, s).is_ok_and(|mut p| p.next().is_some_and(|x| x.as_str() == s))
}

fn file(s: &str) -> File {
    match parse(crate::source::FileId(0), s) {
        Ok((f, errs)) if errs.is_empty() => f,
        other => panic!("{s:?}: {other:?}"),
    }
}

#[test]
fn numbers_with_units() {
    for s in [
        "12", "12M", "3.5e6", "300K", "1/3", "10s", "80ms", "2h", "-0.07", "4e-5", "5min",
    ] {
        assert!(ok(Rule::number, s), "{s}");
    }
    for s in ["12Mx", "1.", "e5", "2e"] {
        assert!(!ok(Rule::number, s), "{s}");
    }
    let n = parser::parse_number("12M").unwrap();
    assert_eq!((n.value, n.integral, n.unit), (12e6, true, Unit::Count));
    let n = parser::parse_number("1/3").unwrap();
    assert!((n.value - 1.0 / 3.0).abs() < 1e-12 && !n.integral);
    assert_eq!(parser::parse_number("80ms").unwrap().value, 0.08);
    assert!(parser::parse_number("1/0").is_err());
    assert!(parser::parse_number("99999999999999999999999").is_err());
}

#[test]
fn expressions() {
    for s in [
        "5M..20M",
        "1.0 -> 0.33 linear",
        "10 -> 0.1",
        "flops <= 12M",
        "[mb(3, 3), skip]",
        "[conv(3) bn relu, skip]",
        "(0.5, 0.999)",
        "choose [a, b]",
        "search.best",
        "sgd(lr: 0.1, nesterov)",
        "\"a \\\" b\"",
        "true",
    ] {
        assert!(ok(Rule::expr, s), "{s}");
    }
    assert!(
        !ok(Rule::expr, "conv (3)"),
        "a blank before ( is not a call"
    );
}

#[test]
fn statements_end_at_newlines_and_semicolons() {
    let f = file("stage s = train(net) {\n  epochs 5; schedule cosine\n  sampler uniform\n}\n");
    let Item::Decl(d) = &f.items[0] else { panic!() };
    let keys: Vec<&str> = d
        .body
        .as_ref()
        .unwrap()
        .iter()
        .map(|s| s.key.name.as_str())
        .collect();
    assert_eq!(keys, ["epochs", "schedule", "sampler"]);
}

#[test]
fn lists_span_lines_and_keep_sequences() {
    let f = file("space n = chain(classes: 10) {\n  head [\n    conv(3) bn,\n    skip,\n  ]\n}");
    let Item::Decl(d) = &f.items[0] else { panic!() };
    let st = &d.body.as_ref().unwrap()[0];
    let Term::Pos(e) = &st.terms[0] else { panic!() };
    let ExprKind::List(items) = &e.kind else {
        panic!()
    };
    assert!(matches!(items[0].kind, ExprKind::Seq(ref v) if v.len() == 2));
}

#[test]
fn spans_are_byte_offsets() {
    let f = file("block b(k) = conv(kernel: k)");
    let Item::Decl(d) = &f.items[0] else { panic!() };
    assert_eq!((d.name.span.start, d.name.span.end), (6, 7));
    assert_eq!(d.params.as_ref().unwrap()[0].name, "k");
}

#[test]
fn keywords_need_a_boundary() {
    assert!(parse(crate::source::FileId(0), "datasetx = mnist").is_err());
    assert!(ok(Rule::include, "include \"a.nas\""));
}

#[test]
fn prescan_catches_deep_and_unterminated() {
    let deep = format!(
        "space s = chain(input: {}1{})",
        "[".repeat(40),
        "]".repeat(40)
    );
    let e = parse(crate::source::FileId(0), &deep).unwrap_err();
    assert_eq!(e[0].code, crate::diag::Code::SyntaxTooDeep);
    let e = parse(crate::source::FileId(0), "include \"a.nas\nspace").unwrap_err();
    assert_eq!(e[0].code, crate::diag::Code::SyntaxUnterminatedString);
    let e = parse(crate::source::FileId(0), "/* open").unwrap_err();
    assert_eq!(e[0].code, crate::diag::Code::SyntaxUnterminatedComment);
}

#[test]
fn syntax_errors_name_what_was_expected() {
    let e = parse(crate::source::FileId(0), "space s = \n").unwrap_err();
    assert_eq!(e[0].code, crate::diag::Code::SyntaxUnexpected);
    assert!(e[0].label.contains("a value"), "{}", e[0].label);
}

#[test]
fn format_is_canonical_and_keeps_comments() {
    let src =
        "// head\nstage  s=train(net){ // trailing\n epochs 5 ;schedule cosine\n\n\n // inner\n}\n";
    let f = file(src);
    let out = format::format_file(&f, src);
    assert_eq!(
        out,
        "// head\nstage s = train(net) { // trailing\n  epochs 5\n  schedule cosine\n\n  // inner\n}\n"
    );
    let again = format::format_file(&file(&out), &out);
    assert_eq!(again, out);
}

#[test]
fn the_executor_block_parses_and_formats() {
    let src = "executor  slurm{ // cluster\n partition \"gpu\" ;time 4h\n}\nstage s = train(net)\n";
    let f = file(src);
    let Item::Executor(e) = &f.items[0] else {
        panic!("{:?}", f.items[0])
    };
    assert_eq!(e.kind.name, "slurm");
    assert_eq!(e.body.len(), 2);
    assert_eq!(
        &src[e.span.start..e.span.end],
        &src[..src.find("}\n").unwrap() + 1]
    );
    let out = format::format_file(&f, src);
    assert_eq!(
        out,
        "executor slurm { // cluster\n  partition \"gpu\"\n  time 4h\n}\nstage s = train(net)\n"
    );
    assert_eq!(format::format_file(&file(&out), &out), out);
    assert!(parse(crate::source::FileId(0), "executorx slurm {}").is_err());
}
