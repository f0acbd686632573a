//! The `nasl` binary: all logic lives in the library; this only maps the outcome to an exit code.
fn main() -> std::process::ExitCode {
    nasl::cli::main()
}
