//! Fuzz target: the language server's handlers (open, change, hover, completion, definition,
//! references, rename, symbols, formatting) over arbitrary text at an arbitrary position must never
//! panic. Run: `RUSTC_BOOTSTRAP=1 cargo fuzz run lsp -- -max_total_time=120`. The first four bytes
//! choose the position, the rest split at the first 0xff byte into the opened and the changed text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (head, rest) = data.split_at(data.len().min(4));
    let mut h = [0u8; 4];
    h[..head.len()].copy_from_slice(head);
    let at = (u32::from(h[0]) | u32::from(h[1]) << 8, u32::from(h[2]) | u32::from(h[3]) << 8);
    let (a, b) = match rest.iter().position(|&x| x == 0xff) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, rest),
    };
    let (a, b) = (String::from_utf8_lossy(a), String::from_utf8_lossy(b));
    if let Err(method) = nasl::lsp::exercise(&a, &b, at) {
        panic!("{method} panicked");
    }
});
