//! Fuzz target: arbitrary bytes through decoding, parsing, checking, rendering and formatting must
//! never panic. Run: `RUSTC_BOOTSTRAP=1 cargo fuzz run parse_check -- -max_total_time=120`.
//! Every crash input goes into `fuzz/corpus/regressions/`, which a normal test replays.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let checked = nasl::driver::check_text("fuzz.nas", &text).checked;
    let _ = nasl::diag::render::json(&checked.diags, &checked.sources);
    let _ = nasl::diag::render::human_all(&checked.diags, &checked.sources, 100);
    if let Ok((ast, _)) = nasl::syntax::parse(nasl::source::FileId(0), &text) {
        let _ = nasl::syntax::format::format_file(&ast, &text);
    }
});
