//! Small HTML builders for the report: escaping, tables, number formats, the page frame and its CSS
//! (screen and print), short op labels. Every text that comes from a file goes through [`esc`].

use std::fmt::Write;

/// Escapes text for HTML element content and double- or single-quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A table; `head` and `rows` are HTML (escape text first). Numeric-looking cells align right.
pub fn table(head: &[&str], rows: &[Vec<String>]) -> String {
    let mut s = String::from("<table><thead><tr>");
    for h in head {
        let _ = write!(s, "<th>{h}</th>");
    }
    s.push_str("</tr></thead><tbody>");
    for r in rows {
        s.push_str("<tr>");
        for c in r {
            if looks_numeric(c) {
                let _ = write!(s, "<td class=\"num\">{c}</td>");
            } else {
                let _ = write!(s, "<td>{c}</td>");
            }
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table>");
    s
}

fn looks_numeric(c: &str) -> bool {
    let c = c.trim();
    !c.is_empty()
        && c.chars()
            .next()
            .is_some_and(|x| x.is_ascii_digit() || x == '-')
        && c.chars()
            .all(|x| x.is_ascii_digit() || ",.-+%eE sMkGT".contains(x))
}

/// A two-column key/value table (`key` is text, `value` HTML).
pub fn kv(rows: &[(&str, String)]) -> String {
    let mut s = String::from("<table class=\"kv\"><tbody>");
    for (k, v) in rows {
        let _ = write!(s, "<tr><th>{}</th><td>{v}</td></tr>", esc(k));
    }
    s.push_str("</tbody></table>");
    s
}

pub use crate::cost::inspect::group;

/// `7_200_000` → `7.2M`, `12_345` → `12.3k`.
pub fn si(n: f64) -> String {
    let a = n.abs();
    let (v, unit) = if a >= 1e9 {
        (n / 1e9, "G")
    } else if a >= 1e6 {
        (n / 1e6, "M")
    } else if a >= 1e3 {
        (n / 1e3, "k")
    } else {
        return format!("{n:.0}");
    };
    let text = if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    };
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    };
    format!("{text}{unit}")
}

/// A fraction as a percentage with two decimals.
pub fn pct(f: f64) -> String {
    if f.is_finite() {
        format!("{:.2}%", 100.0 * f)
    } else {
        "n/a".into()
    }
}

/// Seconds as `12.3 s`, `4 min 05 s` or `1 h 02 min`.
pub fn secs(s: f64) -> String {
    if !s.is_finite() || s < 0.0 {
        return "n/a".into();
    }
    if s < 60.0 {
        format!("{s:.1} s")
    } else if s < 3600.0 {
        let m = (s / 60.0).floor();
        format!("{m:.0} min {:02.0} s", s - 60.0 * m)
    } else {
        let h = (s / 3600.0).floor();
        format!("{h:.0} h {:02.0} min", (s - 3600.0 * h) / 60.0)
    }
}

/// A float with 4 significant decimals.
pub fn num(f: f64) -> String {
    if f.is_finite() {
        format!("{f:.4}")
    } else {
        "n/a".into()
    }
}

/// Standard base64 (for embedding files as `data:` URIs).
pub fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A note box (`kind`: `warn` or `info`); `html` is already escaped.
pub fn note(kind: &str, html: &str) -> String {
    format!("<p class=\"note {kind}\">{html}</p>")
}

/// The whole page: title, navigation over `(id, heading)`, the sections' HTML.
pub fn page(title: &str, subtitle: &str, nav: &[(String, String)], body: &str) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"nasl report\">\n<title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n\
         <header><h1>{}</h1><p class=\"sub\">{}</p>",
        esc(title),
        esc(title),
        subtitle
    );
    s.push_str("<nav><ul>");
    for (id, h) in nav {
        let _ = write!(s, "<li><a href=\"#{}\">{}</a></li>", esc(id), esc(h));
    }
    s.push_str("</ul></nav></header>\n<main>\n");
    s.push_str(body);
    s.push_str("</main>\n<footer>Written by <code>nasl report</code>; self-contained: no scripts, no network.</footer>\n</body>\n</html>\n");
    s
}

/// A section with an id (for the navigation and tests) and a heading.
pub fn section(id: &str, heading: &str, body: &str) -> String {
    format!(
        "<section id=\"{}\">\n<h2>{}</h2>\n{body}\n</section>\n",
        esc(id),
        esc(heading)
    )
}

/// A figure holding inline SVG (trusted: made by this module) with a caption (HTML).
pub fn figure(svg: &str, caption: &str) -> String {
    format!("<figure>{svg}<figcaption>{caption}</figcaption></figure>")
}

const CSS: &str = r#"
:root { --fg: #1d2330; --muted: #5b6476; --line: #d9dde5; --bg: #ffffff; --accent: #2f6fde; --soft: #f4f6fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--fg); background: var(--bg); }
header { padding: 18px 28px 8px; border-bottom: 1px solid var(--line); background: var(--soft); }
h1 { margin: 0 0 2px; font-size: 24px; }
.sub { margin: 0 0 8px; color: var(--muted); }
nav ul { list-style: none; margin: 0; padding: 0; display: flex; flex-wrap: wrap; gap: 4px 14px; }
nav a { color: var(--accent); text-decoration: none; font-size: 14px; }
main { padding: 8px 28px 24px; max-width: 1280px; }
section { margin: 18px 0 26px; }
h2 { font-size: 20px; border-bottom: 2px solid var(--accent); padding-bottom: 3px; margin: 0 0 10px; }
h3 { font-size: 16px; margin: 16px 0 6px; }
table { border-collapse: collapse; margin: 6px 0 12px; font-size: 13.5px; }
th, td { border: 1px solid var(--line); padding: 3px 8px; text-align: left; vertical-align: top; }
thead th { background: var(--soft); }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.kv th { background: var(--soft); font-weight: 600; white-space: nowrap; }
code, .mono { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, monospace; font-size: 12.5px; }
.settings { margin: 0; padding: 0; list-style: none; }
.settings li { margin: 0; }
.figs { display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start; }
.figs figure { flex: 0 1 580px; }
figure { margin: 0 0 10px; border: 1px solid var(--line); border-radius: 4px; padding: 6px; background: #fff; max-width: 100%; }
figure svg, figure img { display: block; max-width: 100%; height: auto; }
figcaption { color: var(--muted); font-size: 13px; margin-top: 4px; max-width: 640px; }
.note { padding: 6px 10px; border-left: 4px solid var(--accent); background: var(--soft); }
.note.warn { border-color: #d08a00; background: #fff6e5; }
.big { font-size: 28px; font-weight: 700; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; margin: 8px 0 14px; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 8px 14px; min-width: 150px; background: var(--soft); }
.card .label { color: var(--muted); font-size: 12.5px; }
footer { color: var(--muted); font-size: 12px; padding: 12px 28px; border-top: 1px solid var(--line); }
@media print {
  body { font-size: 11pt; }
  header { background: none; }
  nav { display: none; }
  main { padding: 0 10px; max-width: none; }
  section { break-inside: auto; }
  figure, table, .card { break-inside: avoid; }
  h2, h3 { break-after: avoid; }
  a { color: inherit; text-decoration: none; }
}
"#;

/// Splits at `sep` outside brackets and parentheses.
fn split_top(s: &str, sep: char) -> Vec<&str> {
    let (mut depth, mut start, mut out) = (0i32, 0usize, Vec::new());
    for (i, c) in s.char_indices() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            c if c == sep && depth == 0 => {
                out.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// An option label without the arguments every op has at its default
/// (`conv(bias: false, dilation: 1, groups: 1, kernel: 3) bn(affine: true, ...)` → `conv(3) bn`).
pub fn short_label(label: &str) -> String {
    const NOISE: &[&str] = &[
        "bias: false",
        "dilation: 1",
        "groups: 1",
        "affine: true",
        "eps: 0.00001",
        "eps: 1e-5",
        "momentum: 0.1",
    ];
    split_top(label, ' ')
        .into_iter()
        .filter(|t| !t.is_empty())
        .map(|tok| {
            let Some((name, rest)) = tok.split_once('(') else {
                return tok.to_string();
            };
            let Some(args) = rest.strip_suffix(')') else {
                return tok.to_string();
            };
            let kept: Vec<&str> = split_top(args, ',')
                .into_iter()
                .map(str::trim)
                .filter(|a| !a.is_empty() && !NOISE.contains(a))
                .collect();
            match kept.as_slice() {
                [] => name.to_string(),
                [k] if k.starts_with("kernel: ") => format!("{name}({})", &k[8..]),
                _ => format!("{name}({})", kept.join(", ")),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_every_special_character() {
        assert_eq!(
            esc(r#"<script>alert("x") & 'y'</script>"#),
            "&lt;script&gt;alert(&quot;x&quot;) &amp; &#39;y&#39;&lt;/script&gt;"
        );
        assert_eq!(esc("plain"), "plain");
    }

    #[test]
    fn formats_numbers() {
        assert_eq!(group(7_200_000), "7,200,000");
        assert_eq!(group(12), "12");
        assert_eq!(si(7_200_000.0), "7.2M");
        assert_eq!(si(12_345.0), "12.35k");
        assert_eq!(si(512.0), "512");
        assert_eq!(pct(0.91234), "91.23%");
        assert_eq!(pct(f64::NAN), "n/a");
        assert_eq!(secs(5.26), "5.3 s");
        assert_eq!(secs(215.0), "3 min 35 s");
        assert_eq!(secs(3720.0), "1 h 02 min");
    }

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o, "{i}");
        }
    }

    #[test]
    fn tables_align_numbers_and_keep_html() {
        let t = table(
            &["name", "acc"],
            &[vec!["<b>x</b>".into(), "91.30%".into()]],
        );
        assert!(t.contains("<td><b>x</b></td>"));
        assert!(t.contains("<td class=\"num\">91.30%</td>"));
        assert!(t.starts_with("<table><thead><tr><th>name</th><th>acc</th>"));
    }

    #[test]
    fn page_has_nav_and_escaped_title() {
        let p = page(
            "a<b",
            "sub",
            &[("pipeline".into(), "Pipeline".into())],
            "<section id=\"pipeline\"></section>",
        );
        assert!(p.contains("<title>a&lt;b</title>"));
        assert!(p.contains("<a href=\"#pipeline\">Pipeline</a>"));
        assert!(p.contains("@media print"));
        assert!(!p.contains("<script"));
    }
}
