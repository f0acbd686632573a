//! Benchmark (not a test): generates a valid 10,000-line `.nas` file and prints how long parsing and
//! checking take (everything `nasl check` does: sema, building each space as a graph, cost checks).
//! Then the language server's figure: the time from a `didChange` of that file (the whole text, as
//! `nasl lsp` synchronises) to its published diagnostics.
//! Run: `cargo bench --no-default-features --bench check_large`.

use std::time::Instant;

#[path = "support/large_nas.rs"]
mod large_nas;

fn main() {
    let text = large_nas::generate(10_000);
    let lines = text.lines().count();
    // Warm up once, then time several runs.
    let first = nasl::driver::check_text("large.nas", &text).checked;
    assert!(
        !first.has_errors(),
        "the generated file must be valid: {:?}",
        first.diags.first()
    );
    let runs = 5;
    let mut best = f64::MAX;
    let start_all = Instant::now();
    for _ in 0..runs {
        let t = Instant::now();
        let c = nasl::driver::check_text("large.nas", &text);
        std::hint::black_box(&c);
        best = best.min(t.elapsed().as_secs_f64());
    }
    let mean = start_all.elapsed().as_secs_f64() / runs as f64;
    let t = Instant::now();
    let parsed = nasl::syntax::parse(nasl::source::FileId(0), &text);
    let parse_s = t.elapsed().as_secs_f64();
    std::hint::black_box(&parsed);
    println!(
        "check_large: {lines} lines, {} bytes: check best {:.1} ms, mean {:.1} ms over {runs} runs ({:.0} lines/s); parse alone {:.1} ms",
        text.len(),
        best * 1e3,
        mean * 1e3,
        lines as f64 / best,
        parse_s * 1e3
    );
    lsp_did_change(&text, runs);
}

/// Opens the text in a server session, then times `didChange` → `publishDiagnostics`, alternating
/// between the valid text and one with an error (so that every change publishes).
fn lsp_did_change(text: &str, runs: usize) {
    use lsp_server::Notification;
    use serde_json::json;
    let uri = "file:///bench/large.nas";
    let mut server = nasl::lsp::Server::new(Some("/bench".into()), false);
    let open = Notification::new(
        "textDocument/didOpen".into(),
        json!({ "textDocument": { "uri": uri, "languageId": "nasl", "version": 0, "text": text } }),
    );
    let _ = server.handle_notification(open);
    let broken = text.replacen("epochs 5", "epochs -5", 1);
    let mut times = Vec::new();
    for i in 0..runs * 2 {
        let now = if i % 2 == 0 { &broken } else { text };
        let change = Notification::new(
            "textDocument/didChange".into(),
            json!({ "textDocument": { "uri": uri, "version": i + 1 }, "contentChanges": [{ "text": now }] }),
        );
        let t = Instant::now();
        let out = server.handle_notification(change);
        times.push(t.elapsed().as_secs_f64());
        let errors = out
            .iter()
            .find(|n| n.method == "textDocument/publishDiagnostics")
            .and_then(|n| n.params["diagnostics"].as_array().cloned())
            .map(|ds| ds.iter().filter(|d| d["severity"] == 1).count());
        assert_eq!(errors, Some(usize::from(i % 2 == 0)), "change {i}");
    }
    times.sort_by(f64::total_cmp);
    println!(
        "lsp didChange -> publishDiagnostics: median {:.1} ms, worst {:.1} ms over {} changes (goal <= 300 ms)",
        times[times.len() / 2] * 1e3,
        times[times.len() - 1] * 1e3,
        times.len()
    );
}
