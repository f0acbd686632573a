//! The graph IR of search spaces: specs (`spec`) lowered to a petgraph DAG with named decisions
//! (`graph`), concrete per-architecture networks, op shape rules (`ops`), architectures (`arch`),
//! exact cardinality and DOT export (`dot`). Builds without libtorch.

pub mod arch;
pub mod dot;
pub mod examples;
pub mod graph;
pub mod lower;
pub mod masked;
pub mod ops;
pub mod spec;
pub mod superkernel;

pub use arch::{Arch, Pick};
pub use graph::{CellEdge, Decision, DecisionKind, Net, NetKind, NetNode, SearchSpace, SpaceNode};
pub use ops::{Op, Shape};
pub use spec::{
    ArgValue, CellSpec, ChainSpec, GenoEdge, Genotype, LayerSpec, OneOrMany, OpCall, SpaceSpec,
    StageSpec,
};

use miette::Diagnostic;
use thiserror::Error;

/// Every error the IR reports: bad specs, violated graph invariants, bad architectures.
#[derive(Debug, Clone, PartialEq, Error, Diagnostic)]
pub enum IrError {
    #[error("bad search space at `{path}`: {message}")]
    #[diagnostic(code(nasl::ir::spec))]
    Spec {
        path: String,
        message: String,
        #[help]
        help: String,
    },
    #[error("shape error at `{path}`: {message}")]
    #[diagnostic(code(nasl::ir::shape))]
    Shape {
        path: String,
        message: String,
        #[help]
        help: String,
    },
    #[error("the graph has a cycle through `{path}`")]
    #[diagnostic(
        code(nasl::ir::cycle),
        help("an edge of a cell may only come from an input or an earlier node")
    )]
    Cycle { path: String },
    #[error("`{path}` does not reach the output")]
    #[diagnostic(
        code(nasl::ir::unreachable),
        help("every node must feed the network's output; remove it or connect it")
    )]
    Unreachable { path: String },
    #[error("unknown decision `{name}`")]
    #[diagnostic(code(nasl::ir::arch_unknown))]
    UnknownDecision {
        name: String,
        #[help]
        help: String,
    },
    #[error("decision `{name}` has no option {pick}")]
    #[diagnostic(code(nasl::ir::arch_range))]
    BadOption {
        name: String,
        pick: String,
        #[help]
        help: String,
    },
    #[error("the architecture does not choose `{name}`")]
    #[diagnostic(code(nasl::ir::arch_missing))]
    MissingDecision {
        name: String,
        #[help]
        help: String,
    },
    #[error("cannot read the architecture: {message}")]
    #[diagnostic(
        code(nasl::ir::arch_format),
        help("an architecture is a map from decision name to an option index or a quoted label")
    )]
    ArchFormat { message: String },
}

impl IrError {
    /// The diagnostic code, e.g. `nasl::ir::shape`.
    pub fn code_str(&self) -> String {
        self.code().map(|c| c.to_string()).unwrap_or_default()
    }
}

#[cfg(test)]
pub(crate) mod tests;
