//! Benchmark (not a test): generates a valid 10,000-line `.nas` file and prints how long parsing and
//! checking take (everything `nasl check` does: sema, building each space as a graph, cost checks).
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
}
