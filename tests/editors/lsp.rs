//! Drives the real `nasl lsp` binary as an editor would: JSON-RPC over its stdin/stdout with
//! Content-Length framing (lsp-server's `Message` reads and writes the frames).

use std::io::{BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use lsp_server::{Message, Notification, Request, RequestId, Response};
use lsp_types::Url;
use serde_json::{Value, json};

use nasl::sema::hir::StageKind;
use nasl::sema::tables;

const BROKEN: &str = "\
dataset d = mnist { split train: 50000, val: 10000 }
block mb(k) = mbconv(kernel: k, expand: 3)
space s = chain(input: [1, 28, 28], classes: 10) {
  stem conv(3, out: 8) bn relu
  layers out: 16, stride: 2, repeat: 2, choose [mb(3), convv(3) bn relu, skip]
  head global_avg_pool linear(out: classes)
}
stage t = train(s) { sampler uniform; epochs 1; optimizer sgd(lr: 0.1) }
stage e = evolution(t) { population 10 }
stage r = retrain(e.best) { epochs 1; optimizer sgd(lr: 0.1) }
stage ev = evaluate( r ,d.test )
";

struct Client {
    child: Child,
    stdin: ChildStdin,
    rx: Receiver<Message>,
    next: i32,
}

impl Client {
    fn start(root: &Path) -> Client {
        let mut child = Command::new(env!("CARGO_BIN_EXE_nasl"))
            .arg("lsp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("nasl lsp starts");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            while let Ok(Some(m)) = Message::read(&mut r) {
                if tx.send(m).is_err() {
                    break;
                }
            }
        });
        let mut c = Client {
            child,
            stdin,
            rx,
            next: 0,
        };
        let root_uri = Url::from_directory_path(root).expect("absolute root");
        let init = c.request(
            "initialize",
            json!({ "processId": null, "rootUri": root_uri, "capabilities": {},
                    "workspaceFolders": [{ "uri": root_uri, "name": "w" }] }),
        );
        assert!(
            init["capabilities"]["hoverProvider"].as_bool() == Some(true),
            "{init}"
        );
        c.notify("initialized", json!({}));
        c
    }

    fn send(&mut self, m: Message) {
        m.write(&mut self.stdin).expect("write to the server");
        self.stdin.flush().expect("flush");
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(Notification::new(method.into(), params).into());
    }

    /// Sends a request and returns its result (panics on an error response).
    fn request(&mut self, method: &str, params: Value) -> Value {
        let r = self.try_request(method, params);
        if let Some(e) = r.error {
            panic!("{method} failed: {} {}", e.code, e.message);
        }
        r.result.unwrap_or(Value::Null)
    }

    fn try_request(&mut self, method: &str, params: Value) -> Response {
        self.next += 1;
        let id = RequestId::from(self.next);
        self.send(Request::new(id.clone(), method.into(), params).into());
        loop {
            match self.recv() {
                Message::Response(r) if r.id == id => return r,
                _ => {}
            }
        }
    }

    fn recv(&mut self) -> Message {
        self.rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the server answers within a minute")
    }

    /// The next diagnostics published for `uri`.
    fn diagnostics(&mut self, uri: &Url) -> Vec<Value> {
        loop {
            if let Message::Notification(n) = self.recv()
                && n.method == "textDocument/publishDiagnostics"
                && n.params["uri"] == json!(uri)
            {
                return n.params["diagnostics"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
            }
        }
    }
}

/// The LSP position (line, UTF-16 column; ASCII here) of the `nth` occurrence of `needle`.
fn pos(text: &str, needle: &str, nth: usize) -> (u32, u32) {
    let off = text
        .match_indices(needle)
        .nth(nth)
        .unwrap_or_else(|| panic!("{needle} #{nth}"))
        .0;
    let line = text[..off].matches('\n').count();
    let col = off - text[..off].rfind('\n').map(|i| i + 1).unwrap_or(0);
    (line as u32, col as u32)
}

fn at(uri: &Url, (line, character): (u32, u32)) -> Value {
    json!({ "textDocument": { "uri": uri }, "position": { "line": line, "character": character } })
}

fn range(start: (u32, u32), len: u32) -> Value {
    json!({ "start": { "line": start.0, "character": start.1 },
            "end": { "line": start.0, "character": start.1 + len } })
}

#[test]
fn a_session_with_the_real_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().canonicalize().expect("canonical");
    let file = root.join("pipeline.nas");
    let uri = Url::from_file_path(&file).expect("uri");
    let mut c = Client::start(&root);

    // An error is published with nasl check's code and span.
    c.notify(
        "textDocument/didOpen",
        json!({ "textDocument": { "uri": uri, "languageId": "nasl", "version": 1, "text": BROKEN } }),
    );
    let diags = c.diagnostics(&uri);
    let bad: Vec<&Value> = diags
        .iter()
        .filter(|d| d["code"] == "nasl::sema::unknown_op")
        .collect();
    assert_eq!(bad.len(), 1, "{diags:?}");
    assert_eq!(bad[0]["range"], range(pos(BROKEN, "convv", 0), 5));
    assert_eq!(bad[0]["severity"], 1);
    assert!(
        bad[0]["message"].as_str().unwrap_or("").contains("help:"),
        "{}",
        bad[0]
    );

    // Fixing it clears the diagnostics.
    let fixed = BROKEN.replace("convv", "conv");
    c.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": uri, "version": 2 }, "contentChanges": [{ "text": fixed }] }),
    );
    assert_eq!(c.diagnostics(&uri), Vec::<Value>::new());

    // Hover on an op: the catalogue's documentation and parameters.
    let h = c.request("textDocument/hover", at(&uri, pos(&fixed, "mbconv", 0)));
    let shown = h["contents"]["value"].as_str().unwrap_or("");
    let mbconv = nasl::catalog::lookup("mbconv").expect("mbconv");
    assert!(shown.contains(mbconv.doc), "{shown}");
    assert!(shown.contains("`expand`"), "{shown}");

    // Hover on a chain `layers` line: its shapes.
    let h = c.request("textDocument/hover", at(&uri, pos(&fixed, "stride: 2", 0)));
    let shown = h["contents"]["value"].as_str().unwrap_or("");
    assert!(shown.contains("input 8×28×28"), "{shown}");
    assert!(shown.contains("output 16×14×14"), "{shown}");

    // Completion at the start of a statement of a `train` stage: the settings train accepts.
    let (l, ch) = pos(&fixed, "sampler uniform", 0);
    let items = c.request("textDocument/completion", at(&uri, (l, ch)));
    let labels: Vec<&str> = items
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|i| i["label"].as_str())
        .collect();
    for s in tables::settings_for(StageKind::Train) {
        assert!(labels.contains(&s.key), "{} missing in {labels:?}", s.key);
    }
    let foreign = tables::SETTINGS
        .iter()
        .find(|s| !s.kinds.contains(&StageKind::Train))
        .expect("a setting train does not take");
    assert!(!labels.contains(&foreign.key), "{}", foreign.key);

    // Definition of a block used in a space.
    let d = c.request("textDocument/definition", at(&uri, pos(&fixed, "mb(3)", 0)));
    assert_eq!(d["uri"], json!(uri));
    assert_eq!(d["range"], range(pos(&fixed, "mb", 0), 2));

    // Formatting: one edit giving `nasl fmt`'s layout.
    let want = nasl::cli::fmt::format_text(&file, &fixed).expect("formattable");
    assert_ne!(want, fixed);
    let edits = c.request(
        "textDocument/formatting",
        json!({ "textDocument": { "uri": uri }, "options": { "tabSize": 2, "insertSpaces": true } }),
    );
    assert_eq!(edits.as_array().map(Vec::len), Some(1), "{edits}");
    assert_eq!(edits[0]["newText"], json!(want));

    // Rename the space: its declaration and its use.
    let e = c.request(
        "textDocument/rename",
        json!({ "textDocument": { "uri": uri }, "position": { "line": pos(&fixed, "space s", 0).0, "character": 6 },
                "newName": "net" }),
    );
    let mut edits: Vec<Value> = e["changes"][uri.as_str()]
        .as_array()
        .cloned()
        .unwrap_or_default();
    edits.sort_by_key(|e| e["range"]["start"]["line"].as_u64());
    let decl = pos(&fixed, "space s", 0);
    let train = pos(&fixed, "train(s)", 0);
    let use_of_s = (train.0, train.1 + 6);
    assert_eq!(
        edits,
        vec![
            json!({ "range": range((decl.0, 6), 1), "newText": "net" }),
            json!({ "range": range(use_of_s, 1), "newText": "net" }),
        ]
    );
    // A rename to a taken name is refused.
    let taken = c.try_request(
        "textDocument/rename",
        json!({ "textDocument": { "uri": uri }, "position": { "line": decl.0, "character": 6 },
                "newName": "t" }),
    );
    assert!(taken.error.is_some(), "{taken:?}");

    // Shutdown, exit: status 0.
    let r = c.request("shutdown", Value::Null);
    assert_eq!(r, Value::Null);
    c.notify("exit", Value::Null);
    let status = c.child.wait().expect("the server exits");
    assert!(status.success(), "{status:?}");
}

/// Hover on a cell space's `node_inputs` shows the setting's documentation from `sema::tables`.
#[test]
fn hover_on_a_cell_setting_shows_its_table_doc() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().canonicalize().expect("canonical");
    let file = root.join("enas.nas");
    let uri = Url::from_file_path(&file).expect("uri");
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/enas.nas"),
    )
    .expect("enas.nas");
    let mut c = Client::start(&root);
    c.notify(
        "textDocument/didOpen",
        json!({ "textDocument": { "uri": uri, "languageId": "nasl", "version": 1, "text": text } }),
    );
    let _ = c.diagnostics(&uri);
    let doc = tables::CELL_SETTINGS
        .iter()
        .find(|s| s.key == "node_inputs")
        .expect("node_inputs is in the table")
        .doc;
    let (line, col) = pos(&text, "node_inputs 2", 0);
    let h = c.request("textDocument/hover", at(&uri, (line, col + 2)));
    let shown = h["contents"]["value"].as_str().unwrap_or("");
    assert!(shown.contains(doc), "{shown}");
    // Completion at the start of a statement of the cell space: its settings.
    let items = c.request("textDocument/completion", at(&uri, (line, col)));
    let labels: Vec<&str> = items
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|i| i["label"].as_str())
        .collect();
    for s in tables::CELL_SETTINGS {
        assert!(labels.contains(&s.key), "{} missing in {labels:?}", s.key);
    }
}

/// Hover on a key of an `executor slurm` block shows its table doc and default, and completion at the
/// start of a statement inside the block offers the block's settings, not a stage's.
#[test]
fn executor_block_keys_have_hover_and_completion() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().canonicalize().expect("canonical");
    let file = root.join("slurm.nas");
    let uri = Url::from_file_path(&file).expect("uri");
    let text = "executor slurm {\n  partition \"gpu\"\n  max_retries 2\n  \n}\n\n\
                dataset d = synthetic {\n  split train: 100, val: 50\n}\n\n\
                space net = chain(input: [1, 28, 28], classes: 10) {\n  stem conv(3, out: 4) bn relu\n  \
                head global_avg_pool linear(out: classes)\n}\n\n\
                stage s = train(net) {\n  epochs 1\n}\n";
    let mut c = Client::start(&root);
    c.notify(
        "textDocument/didOpen",
        json!({ "textDocument": { "uri": uri, "languageId": "nasl", "version": 1, "text": text } }),
    );
    let _ = c.diagnostics(&uri);
    let setting = tables::SLURM_SETTINGS
        .iter()
        .find(|s| s.key == "max_retries")
        .expect("max_retries is in the table");
    let (line, col) = pos(text, "max_retries 2", 0);
    let h = c.request("textDocument/hover", at(&uri, (line, col + 3)));
    let shown = h["contents"]["value"].as_str().unwrap_or("");
    assert!(
        shown.contains(setting.doc) && shown.contains("default: 3"),
        "{shown}"
    );
    // The empty line inside the block: the block's settings, and no stage setting.
    let items = c.request("textDocument/completion", at(&uri, (line + 1, 2)));
    let labels: Vec<&str> = items
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|i| i["label"].as_str())
        .collect();
    for s in tables::SLURM_SETTINGS {
        assert!(labels.contains(&s.key), "{} missing in {labels:?}", s.key);
    }
    assert!(!labels.contains(&"epochs"), "{labels:?}");
    // Inside the stage, stage settings again.
    let (line, _) = pos(text, "epochs 1", 0);
    let items = c.request("textDocument/completion", at(&uri, (line, 2)));
    assert!(
        items
            .as_array()
            .expect("a list")
            .iter()
            .any(|i| i["label"] == "epochs"),
        "{items}"
    );
}
