//! nasl: a language for neural architecture search pipelines. The modules follow the pipeline:
//! source text → syntax → sema → ir → cost/search → compile → exec, with `data` feeding the executor
//! and `cli` on top. Everything that links libtorch sits behind the `torch` feature.

pub mod atomic;
pub mod catalog;
pub mod cli;
pub mod cost;
pub mod data;
pub mod diag;
pub mod driver;
pub mod ir;
pub mod lsp;
pub mod report;
pub mod search;
pub mod sema;
pub mod source;
pub mod syntax;

#[cfg(feature = "torch")]
pub mod compile;
#[cfg(feature = "torch")]
pub mod exec;
