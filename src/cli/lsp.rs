//! `nasl lsp`: runs the language server on stdin/stdout (see `crate::lsp`) until the editor exits it.

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct LspArgs {
    /// Talk over stdin/stdout (the only transport; accepted because editors pass it).
    #[arg(long)]
    pub stdio: bool,
}

pub fn run(_args: LspArgs) -> miette::Result<ExitCode> {
    match crate::lsp::run_stdio() {
        Ok(true) => Ok(ExitCode::SUCCESS),
        // `exit` without `shutdown`, or the client went away: the protocol asks for status 1.
        Ok(false) => Ok(ExitCode::FAILURE),
        Err(e) => Err(miette::miette!(
            code = "nasl::lsp::protocol",
            help = "`nasl lsp` is started by an editor, which speaks the Language Server Protocol on its stdin",
            "the language server stopped: {e}"
        )),
    }
}
