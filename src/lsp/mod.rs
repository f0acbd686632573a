//! `nasl lsp`: a Language Server Protocol server over stdio. It owns the session (open documents,
//! the check of each, what was published) and the dispatch of requests and notifications to the
//! features in the sibling modules.
//!
//! Built on `lsp-server` (JSON-RPC framing and the initialize/shutdown handshake) and `lsp-types`
//! (the protocol's types), the crates rust-analyzer uses: maintained, synchronous, no async runtime.
//! A check of a 10,000-line file takes milliseconds, so requests are answered in order on one thread.
//! `lsp-types` is pinned at 0.95 (as rust-analyzer does), whose `Url` converts to and from paths.
//!
//! Diagnostics come only from [`crate::driver::check_file`], with a loader that serves open
//! documents from memory, so they are those of `nasl check`. Each open document is checked as a
//! root; a file that is not open gets the diagnostics the checks of the open files that include it
//! find in it. The include policy: includes stay inside the workspace folder (or the document's
//! folder when it lies outside the workspace) unless the initialization option
//! `allowIncludeOutside` is `true`.

pub mod complete;
pub mod convert;
pub mod hover;
pub mod index;
pub mod navigate;

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use lsp_server::{Connection, ErrorCode, Message, Notification, Request, RequestId, Response};
use lsp_types::{
    CompletionOptions, Diagnostic as LspDiagnostic, DidChangeTextDocumentParams,
    DidCloseTextDocumentParams, DidOpenTextDocumentParams, DocumentFormattingParams,
    DocumentSymbol, DocumentSymbolParams, GotoDefinitionParams, Hover, HoverContents, HoverParams,
    HoverProviderCapability, InitializeParams, Location, MarkupContent, MarkupKind, OneOf,
    PublishDiagnosticsParams, ReferenceParams, RenameParams, ServerCapabilities, SymbolKind,
    TextDocumentPositionParams, TextDocumentSyncCapability, TextDocumentSyncKind, TextEdit, Url,
    WorkspaceEdit,
};
use serde::de::DeserializeOwned;
use serde_json::Value;

use convert::{LineIndex, Lines, path_to_uri, uri_to_path};
use index::{Analysis, DocLoader};
use navigate::Place;

use crate::source::FileId;
use crate::syntax::ast::DeclKind;

/// An open document.
struct Doc {
    uri: Url,
    text: String,
}

/// The state of one session.
pub struct Server {
    docs: HashMap<PathBuf, Doc>,
    /// The workspace folder: includes stay inside it.
    root: Option<PathBuf>,
    allow_outside: bool,
    /// The check of each open document, by its path.
    analyses: HashMap<PathBuf, Analysis>,
    /// What was last published for each URI.
    published: HashMap<Url, Vec<LspDiagnostic>>,
}

/// The capabilities this server announces.
pub fn capabilities() -> ServerCapabilities {
    ServerCapabilities {
        text_document_sync: Some(TextDocumentSyncCapability::Kind(TextDocumentSyncKind::FULL)),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        completion_provider: Some(CompletionOptions {
            trigger_characters: Some(vec!["(".into(), " ".into(), ".".into()]),
            ..Default::default()
        }),
        definition_provider: Some(OneOf::Left(true)),
        references_provider: Some(OneOf::Left(true)),
        document_symbol_provider: Some(OneOf::Left(true)),
        document_formatting_provider: Some(OneOf::Left(true)),
        rename_provider: Some(OneOf::Left(true)),
        ..Default::default()
    }
}

type Outcome = Result<Value, (ErrorCode, String)>;

fn parse<P: DeserializeOwned>(params: Value) -> Result<P, (ErrorCode, String)> {
    serde_json::from_value(params).map_err(|e| (ErrorCode::InvalidParams, e.to_string()))
}

fn to_json(v: impl serde::Serialize) -> Outcome {
    serde_json::to_value(v).map_err(|e| (ErrorCode::InternalError, e.to_string()))
}

impl Server {
    /// A session whose includes stay inside `root` (when given) unless `allow_outside`.
    pub fn new(root: Option<PathBuf>, allow_outside: bool) -> Server {
        Server {
            docs: HashMap::new(),
            root,
            allow_outside,
            analyses: HashMap::new(),
            published: HashMap::new(),
        }
    }

    /// A session set up from the client's `initialize` parameters: the first workspace folder (or
    /// the root URI) as root, and the `allowIncludeOutside` initialization option.
    #[allow(deprecated)]
    pub fn from_init(params: &InitializeParams) -> Server {
        let root = params
            .workspace_folders
            .as_ref()
            .and_then(|f| f.first())
            .map(|f| f.uri.clone())
            .or_else(|| params.root_uri.clone())
            .filter(|u| u.scheme() == "file")
            .map(|u| uri_to_path(&u));
        let allow = params
            .initialization_options
            .as_ref()
            .and_then(|o| o.get("allowIncludeOutside"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        Server::new(root, allow)
    }

    /// Answers a request; a panic in a handler becomes an internal-error response.
    pub fn handle_request(&mut self, req: Request) -> Response {
        let id = req.id.clone();
        let method = req.method.clone();
        let outcome = catch_unwind(AssertUnwindSafe(|| self.request(&req.method, req.params)))
            .unwrap_or_else(|_| {
                Err((
                    ErrorCode::InternalError,
                    format!("nasl lsp: internal error while answering `{method}`"),
                ))
            });
        response(id, outcome)
    }

    /// Takes a notification; returns the notifications to send (published diagnostics).
    pub fn handle_notification(&mut self, n: Notification) -> Vec<Notification> {
        catch_unwind(AssertUnwindSafe(|| self.notification(&n.method, n.params))).unwrap_or_else(
            |_| {
                vec![Notification::new(
                    "window/logMessage".into(),
                    serde_json::json!({
                        "type": 1,
                        "message": format!("nasl lsp: internal error while handling `{}`", n.method)
                    }),
                )]
            },
        )
    }

    fn notification(&mut self, method: &str, params: Value) -> Vec<Notification> {
        match method {
            "textDocument/didOpen" => {
                let Ok(p) = parse::<DidOpenTextDocumentParams>(params) else {
                    return vec![];
                };
                let path = uri_to_path(&p.text_document.uri);
                self.docs.insert(
                    path.clone(),
                    Doc {
                        uri: p.text_document.uri,
                        text: p.text_document.text,
                    },
                );
                self.changed(&path)
            }
            "textDocument/didChange" => {
                let Ok(p) = parse::<DidChangeTextDocumentParams>(params) else {
                    return vec![];
                };
                let path = uri_to_path(&p.text_document.uri);
                // Full synchronisation: the last change holds the whole text.
                let (Some(doc), Some(change)) = (
                    self.docs.get_mut(&path),
                    p.content_changes.into_iter().last(),
                ) else {
                    return vec![];
                };
                doc.text = change.text;
                self.changed(&path)
            }
            "textDocument/didClose" => {
                let Ok(p) = parse::<DidCloseTextDocumentParams>(params) else {
                    return vec![];
                };
                let path = uri_to_path(&p.text_document.uri);
                self.docs.remove(&path);
                self.analyses.remove(&path);
                self.changed(&path)
            }
            _ => vec![],
        }
    }

    /// Checks again every open document that is or includes `path`, and publishes what changed.
    fn changed(&mut self, path: &Path) -> Vec<Notification> {
        let mut roots: Vec<PathBuf> = self
            .analyses
            .iter()
            .filter(|(root, a)| root.as_path() != path && a.file(path).is_some())
            .map(|(root, _)| root.clone())
            .collect();
        if self.docs.contains_key(path) {
            roots.push(path.to_path_buf());
        }
        for root in roots {
            let a = self.analyze(&root);
            self.analyses.insert(root, a);
        }
        self.publish()
    }

    fn analyze(&self, path: &Path) -> Analysis {
        let docs = |p: &Path| self.docs.get(p).map(|d| d.text.as_str());
        let root = self.root.as_deref().filter(|r| path.starts_with(r));
        let loader = DocLoader {
            docs: &docs,
            root,
            allow_outside: self.allow_outside,
        };
        Analysis::new(path, &loader)
    }

    fn uri(&self, path: &Path) -> Option<Url> {
        match self.docs.get(path) {
            Some(d) => Some(d.uri.clone()),
            None => path_to_uri(path),
        }
    }

    /// The diagnostics of every file now, compared with what was published: one notification per
    /// URI whose diagnostics changed (an empty list clears them).
    fn publish(&mut self) -> Vec<Notification> {
        let mut want: HashMap<Url, Vec<LspDiagnostic>> = HashMap::new();
        for d in self.docs.values() {
            want.entry(d.uri.clone()).or_default();
        }
        for (root, a) in &self.analyses {
            let sources = &a.front.checked.sources;
            let uri_of = |id: FileId| sources.get(id).and_then(|f| self.uri(&f.path));
            let mut lines = Lines::new(sources);
            for d in &a.front.checked.diags {
                let Some(f) = sources.get(d.span.file) else {
                    continue;
                };
                // An open file's own check speaks for it.
                if f.path != *root && self.docs.contains_key(&f.path) {
                    continue;
                }
                let (Some(uri), Some(diag)) = (
                    self.uri(&f.path),
                    convert::diagnostic(d, &mut lines, &uri_of),
                ) else {
                    continue;
                };
                let list = want.entry(uri).or_default();
                if !list.contains(&diag) {
                    list.push(diag);
                }
            }
        }
        for uri in self.published.keys() {
            want.entry(uri.clone()).or_default();
        }
        let mut out = Vec::new();
        let mut uris: Vec<&Url> = want.keys().collect();
        uris.sort();
        for uri in uris {
            let list = &want[uri];
            if self.published.get(uri) == Some(list)
                || list.is_empty() && !self.published.contains_key(uri) && !self.is_open(uri)
            {
                continue;
            }
            out.push(Notification::new(
                "textDocument/publishDiagnostics".into(),
                PublishDiagnosticsParams {
                    uri: uri.clone(),
                    diagnostics: list.clone(),
                    version: None,
                },
            ));
        }
        self.published = want.into_iter().filter(|(_, l)| !l.is_empty()).collect();
        for d in self.docs.values() {
            self.published.entry(d.uri.clone()).or_default();
        }
        out
    }

    fn is_open(&self, uri: &Url) -> bool {
        self.docs.values().any(|d| &d.uri == uri)
    }

    /// The check of an open document, the file of it, and the byte offset of a position.
    fn at(&self, pos: &TextDocumentPositionParams) -> Option<(&Analysis, FileId, usize)> {
        let path = uri_to_path(&pos.text_document.uri);
        let a = self.analyses.get(&path)?;
        let (id, _) = a.file(&path)?;
        let offset = LineIndex::new(a.text(id)).offset(pos.position);
        Some((a, id, offset))
    }

    fn location(
        &self,
        a_text: &dyn Fn(&Path) -> Option<String>,
        place: &Place,
    ) -> Option<Location> {
        let (path, (start, end)) = place;
        let text = a_text(path).unwrap_or_default();
        let ix = LineIndex::new(&text);
        Some(Location::new(self.uri(path)?, ix.range(*start, *end)))
    }

    /// The text of a file as the checks saw it.
    fn file_text(&self, path: &Path) -> Option<String> {
        if let Some(d) = self.docs.get(path) {
            return Some(d.text.clone());
        }
        self.analyses.values().find_map(|a| {
            let (id, _) = a.file(path)?;
            Some(a.text(id).to_string())
        })
    }

    fn locations(&self, places: &[Place]) -> Vec<Location> {
        let text = |p: &Path| self.file_text(p);
        places
            .iter()
            .filter_map(|p| self.location(&text, p))
            .collect()
    }

    fn request(&mut self, method: &str, params: Value) -> Outcome {
        match method {
            "textDocument/hover" => {
                let p: HoverParams = parse(params)?;
                let Some((a, id, offset)) = self.at(&p.text_document_position_params) else {
                    return Ok(Value::Null);
                };
                let Some((text, (start, end))) = hover::hover(a, id, offset) else {
                    return Ok(Value::Null);
                };
                let ix = LineIndex::new(a.text(id));
                to_json(Hover {
                    contents: HoverContents::Markup(MarkupContent {
                        kind: MarkupKind::Markdown,
                        value: text,
                    }),
                    range: Some(ix.range(start, end)),
                })
            }
            "textDocument/completion" => {
                let p: lsp_types::CompletionParams = parse(params)?;
                let path = uri_to_path(&p.text_document_position.text_document.uri);
                let Some(doc) = self.docs.get(&path) else {
                    return Ok(Value::Null);
                };
                let offset = LineIndex::new(&doc.text).offset(p.text_document_position.position);
                let names: Vec<(&str, DeclKind)> = self
                    .analyses
                    .get(&path)
                    .map(|a| a.names().collect())
                    .unwrap_or_default();
                to_json(complete::complete(&doc.text, offset, names.into_iter()))
            }
            "textDocument/definition" => {
                let p: GotoDefinitionParams = parse(params)?;
                let Some((a, id, offset)) = self.at(&p.text_document_position_params) else {
                    return Ok(Value::Null);
                };
                let Some(place) =
                    navigate::target_at(a, id, offset).and_then(|t| navigate::definition(a, &t))
                else {
                    return Ok(Value::Null);
                };
                to_json(self.locations(&[place]).first())
            }
            "textDocument/references" => {
                let p: ReferenceParams = parse(params)?;
                let Some((a, id, offset)) = self.at(&p.text_document_position) else {
                    return Ok(Value::Null);
                };
                let Some(target) = navigate::target_at(a, id, offset) else {
                    return Ok(Value::Null);
                };
                let Some(def) = navigate::definition(a, &target) else {
                    return Ok(Value::Null);
                };
                let all: Vec<&Analysis> = self.analyses.values().collect();
                let places =
                    navigate::references(&all, &def, &target, p.context.include_declaration);
                to_json(self.locations(&places))
            }
            "textDocument/rename" => {
                let p: RenameParams = parse(params)?;
                let Some((a, id, offset)) = self.at(&p.text_document_position) else {
                    return Err((ErrorCode::RequestFailed, "the document is not open".into()));
                };
                let all: Vec<&Analysis> = self.analyses.values().collect();
                let places = navigate::rename(&all, a, id, offset, &p.new_name)
                    .map_err(|e| (ErrorCode::RequestFailed, e))?;
                let mut changes: HashMap<Url, Vec<TextEdit>> = HashMap::new();
                for loc in self.locations(&places) {
                    changes
                        .entry(loc.uri)
                        .or_default()
                        .push(TextEdit::new(loc.range, p.new_name.clone()));
                }
                to_json(WorkspaceEdit::new(changes))
            }
            "textDocument/documentSymbol" => {
                let p: DocumentSymbolParams = parse(params)?;
                let path = uri_to_path(&p.text_document.uri);
                let Some((a, id)) = self
                    .analyses
                    .get(&path)
                    .and_then(|a| a.file(&path).map(|(id, _)| (a, id)))
                else {
                    return Ok(Value::Null);
                };
                to_json(symbols(a, id))
            }
            "textDocument/formatting" => {
                let p: DocumentFormattingParams = parse(params)?;
                let path = uri_to_path(&p.text_document.uri);
                let Some(doc) = self.docs.get(&path) else {
                    return Ok(Value::Null);
                };
                match crate::cli::fmt::format_text(&path, &doc.text) {
                    Ok(out) if out == doc.text => to_json(Vec::<TextEdit>::new()),
                    Ok(out) => to_json(vec![TextEdit::new(LineIndex::new(&doc.text).whole(), out)]),
                    // A file that does not parse is left as it is; its diagnostics say why.
                    Err(_) => Ok(Value::Null),
                }
            }
            _ => Err((
                ErrorCode::MethodNotFound,
                format!("nasl lsp does not handle `{method}`"),
            )),
        }
    }
}

fn response(id: RequestId, outcome: Outcome) -> Response {
    match outcome {
        Ok(v) => Response::new_ok(id, v),
        Err((code, message)) => Response::new_err(id, code as i32, message),
    }
}

/// The outline of a file: its includes and declarations.
#[allow(deprecated)]
fn symbols(a: &Analysis, id: FileId) -> Vec<DocumentSymbol> {
    let Some(ix) = a.files().get(id.0 as usize) else {
        return vec![];
    };
    let lines = LineIndex::new(a.text(id));
    let mut out = Vec::new();
    for inc in &ix.includes {
        out.push(DocumentSymbol {
            name: inc.rel.clone(),
            detail: Some("include".into()),
            kind: SymbolKind::FILE,
            tags: None,
            deprecated: None,
            range: lines.range(inc.span.0, inc.span.1),
            selection_range: lines.range(inc.span.0, inc.span.1),
            children: None,
        });
    }
    for d in &ix.decls {
        out.push(DocumentSymbol {
            name: d.name.clone(),
            detail: Some(match &d.value {
                Some(v) => format!("{} = {v}", d.kind.keyword()),
                None => d.kind.keyword().to_string(),
            }),
            kind: match d.kind {
                DeclKind::Dataset => SymbolKind::STRUCT,
                DeclKind::Block => SymbolKind::FUNCTION,
                DeclKind::Space => SymbolKind::CLASS,
                DeclKind::Stage => SymbolKind::EVENT,
            },
            tags: None,
            deprecated: None,
            range: lines.range(d.span.0, d.span.1),
            selection_range: lines.range(d.name_span.0, d.name_span.1),
            children: None,
        });
    }
    out
}

/// Serves the protocol over stdin/stdout until the client's `exit`. Returns whether the session
/// ended properly (a `shutdown` request before `exit`).
pub fn run_stdio() -> Result<bool, Box<dyn std::error::Error + Send + Sync>> {
    let (conn, io) = Connection::stdio();
    let clean = serve(&conn)?;
    drop(conn);
    io.join()?;
    Ok(clean)
}

/// Serves one session over a connection.
pub fn serve(conn: &Connection) -> Result<bool, Box<dyn std::error::Error + Send + Sync>> {
    let (id, params) = conn.initialize_start()?;
    let init: InitializeParams = serde_json::from_value(params).unwrap_or_default();
    conn.initialize_finish(
        id,
        serde_json::json!({
            "capabilities": capabilities(),
            "serverInfo": { "name": "nasl", "version": env!("CARGO_PKG_VERSION") },
        }),
    )?;
    let mut server = Server::from_init(&init);
    for msg in &conn.receiver {
        match msg {
            Message::Request(req) => {
                if conn.handle_shutdown(&req)? {
                    return Ok(true);
                }
                let resp = server.handle_request(req);
                conn.sender.send(resp.into())?;
            }
            Message::Notification(n) => {
                if n.method == "exit" {
                    return Ok(false);
                }
                for out in server.handle_notification(n) {
                    conn.sender.send(out.into())?;
                }
            }
            Message::Response(_) => {}
        }
    }
    Ok(false)
}

/// Opens `text` as a document, changes it to `changed`, and sends every request the server answers
/// at position `at` of it (fuzzing and tests). Returns the method whose handling panicked, if any
/// (a panic becomes an internal-error response or a logged message; it must never happen).
pub fn exercise(text: &str, changed: &str, at: (u32, u32)) -> Result<(), String> {
    let mut s = Server::new(Some(PathBuf::from("/fuzz")), false);
    let uri = "file:///fuzz/fuzz.nas";
    let doc = serde_json::json!({ "uri": uri });
    let pos = serde_json::json!({ "line": at.0, "character": at.1 });
    let notes = [
        (
            "textDocument/didOpen",
            serde_json::json!({ "textDocument": { "uri": uri, "languageId": "nasl", "version": 1, "text": text } }),
        ),
        (
            "textDocument/didChange",
            serde_json::json!({ "textDocument": { "uri": uri, "version": 2 }, "contentChanges": [{ "text": changed }] }),
        ),
    ];
    for (method, params) in notes {
        let out = s.handle_notification(Notification::new(method.into(), params));
        if out.iter().any(|n| n.method == "window/logMessage") {
            return Err(method.into());
        }
    }
    let requests = [
        (
            "textDocument/hover",
            serde_json::json!({ "textDocument": doc, "position": pos }),
        ),
        (
            "textDocument/completion",
            serde_json::json!({ "textDocument": doc, "position": pos }),
        ),
        (
            "textDocument/definition",
            serde_json::json!({ "textDocument": doc, "position": pos }),
        ),
        (
            "textDocument/references",
            serde_json::json!({ "textDocument": doc, "position": pos, "context": { "includeDeclaration": true } }),
        ),
        (
            "textDocument/rename",
            serde_json::json!({ "textDocument": doc, "position": pos, "newName": "renamed" }),
        ),
        (
            "textDocument/documentSymbol",
            serde_json::json!({ "textDocument": doc }),
        ),
        (
            "textDocument/formatting",
            serde_json::json!({ "textDocument": doc, "options": { "tabSize": 2, "insertSpaces": true } }),
        ),
    ];
    for (i, (method, params)) in requests.into_iter().enumerate() {
        let r = s.handle_request(Request::new(
            RequestId::from(i as i32),
            method.into(),
            params,
        ));
        if r.error
            .is_some_and(|e| e.code == ErrorCode::InternalError as i32)
        {
            return Err(method.into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
