//! The server's handlers over random text and positions: no input makes one panic.

use super::exercise;
use proptest::prelude::*;

const SAMPLE: &str = "\
include \"lib.nas\"
dataset d = mnist { split train: 50000, val: 10000 }
block mb(k) = mbconv(kernel: k, expand: 3)
space s = chain(input: [1, 28, 28], classes: 10) {
  stem conv(3, out: 8) bn relu
  layers out: [16, 24], stride: 2, repeat: [1, 2], choose [mb(3), conv(3) bn relu, skip]
  head global_avg_pool linear(out: classes)
}
stage t = train(s) { sampler uniform; epochs 1; optimizer sgd(lr: 0.1) }
stage e = evolution(t) { population 10; constraint params <= 5M; objective val.accuracy }
stage r = retrain(e.best) { epochs 1; optimizer sgd(lr: 0.1) }
stage ev = evaluate(r, d.test)
";

/// The sample with a random cut replaced by random text.
fn mutated() -> impl Strategy<Value = String> {
    (0..SAMPLE.len(), 0..40usize, "\\PC{0,12}").prop_map(|(at, len, ins)| {
        let mut at = at;
        while !SAMPLE.is_char_boundary(at) {
            at -= 1;
        }
        let mut end = (at + len).min(SAMPLE.len());
        while !SAMPLE.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}{ins}{}", &SAMPLE[..at], &SAMPLE[end..])
    })
}

#[test]
fn the_sample_is_answered_everywhere() {
    for (line, l) in SAMPLE.lines().enumerate() {
        for col in 0..=l.len() as u32 + 1 {
            assert_eq!(
                exercise(SAMPLE, SAMPLE, (line as u32, col)),
                Ok(()),
                "{line}:{col}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,300}", changed in "\\PC{0,300}", line in 0u32..12, col in 0u32..80) {
        prop_assert_eq!(exercise(&text, &changed, (line, col)), Ok(()));
    }

    #[test]
    fn edited_pipelines_never_panic(text in mutated(), changed in mutated(), line in 0u32..14, col in 0u32..90) {
        prop_assert_eq!(exercise(&text, &changed, (line, col)), Ok(()));
    }
}

/// A session over a folder on disk: `main.nas` open, `lib.nas` (included, not open) read from disk.
#[test]
fn included_files_get_their_diagnostics_and_navigation_crosses_files() {
    use super::Server;
    use lsp_server::{Notification, Request, RequestId};
    use serde_json::json;
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().canonicalize().expect("canonical");
    let lib = root.join("lib.nas");
    std::fs::write(&lib, "block mb(k) = mbconvv(kernel: k)\n").expect("write");
    let main = SAMPLE.replace("block mb(k) = mbconv(kernel: k, expand: 3)\n", "");
    let uri = url::Url::from_file_path(root.join("main.nas")).expect("uri");
    let lib_uri = url::Url::from_file_path(&lib).expect("uri");
    let mut s = Server::new(Some(root.clone()), false);
    let out = s.handle_notification(Notification::new(
        "textDocument/didOpen".into(),
        json!({ "textDocument": { "uri": uri, "languageId": "nasl", "version": 1, "text": main } }),
    ));
    let for_lib = out
        .iter()
        .find(|n| n.params["uri"] == json!(lib_uri))
        .expect("diagnostics published for the included file");
    assert_eq!(
        for_lib.params["diagnostics"][0]["code"],
        "nasl::sema::unknown_op"
    );
    // Fix the library on disk and touch main: the library's diagnostics are cleared.
    std::fs::write(&lib, "block mb(k) = mbconv(kernel: k, expand: 3)\n").expect("write");
    let out = s.handle_notification(Notification::new(
        "textDocument/didChange".into(),
        json!({ "textDocument": { "uri": uri, "version": 2 }, "contentChanges": [{ "text": main }] }),
    ));
    let for_lib = out
        .iter()
        .find(|n| n.params["uri"] == json!(lib_uri))
        .expect("cleared");
    assert_eq!(for_lib.params["diagnostics"], json!([]));
    // Definition of `mb` in main goes to lib.nas.
    let off = main.find("mb(3)").expect("use");
    let line = main[..off].matches('\n').count();
    let col = off - main[..off].rfind('\n').map_or(0, |i| i + 1);
    let r = s.handle_request(Request::new(
        RequestId::from(1),
        "textDocument/definition".into(),
        json!({ "textDocument": { "uri": uri }, "position": { "line": line, "character": col } }),
    ));
    let loc = r.result.expect("a location");
    assert_eq!(loc["uri"], json!(lib_uri));
    assert_eq!(loc["range"]["start"], json!({ "line": 0, "character": 6 }));
    // Hover on the space: its size and cost range.
    let off = main.find("train(s)").expect("use") + 6;
    let line = main[..off].matches('\n').count();
    let col = off - main[..off].rfind('\n').map_or(0, |i| i + 1);
    let r = s.handle_request(Request::new(
        RequestId::from(2),
        "textDocument/hover".into(),
        json!({ "textDocument": { "uri": uri }, "position": { "line": line, "character": col } }),
    ));
    let shown = r.result.expect("hover")["contents"]["value"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let front = crate::driver::check_file(
        &root.join("main.nas"),
        &crate::source::MemLoader {
            files: [
                (root.join("main.nas"), main.clone()),
                (lib.clone(), std::fs::read_to_string(&lib).expect("lib")),
            ]
            .into(),
        },
    );
    let (_, space) = front.spaces.first().expect("a built space");
    let report = crate::cost::inspect(space, None).expect("report");
    assert!(
        shown.contains(&format!("{} architectures", report.cardinality)),
        "{shown}"
    );
    assert!(
        shown.contains(&format!(
            "MACs {} .. {}",
            report.cost.macs.min, report.cost.macs.max
        )),
        "{shown}"
    );
}
