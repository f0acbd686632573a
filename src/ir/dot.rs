//! Graphviz DOT export of a search space (decisions shown with their options) or of one
//! architecture's concrete network (ops with shapes).

use super::IrError;
use super::arch::Arch;
use super::graph::{NetKind, SearchSpace, SpaceNode};
use crate::catalog::signature;
use petgraph::visit::EdgeRef;
use std::fmt::Write;

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// DOT text of `space`, or of the network `arch` picks from it.
pub fn dot(space: &SearchSpace, arch: Option<&Arch>) -> Result<String, IrError> {
    let mut s = String::new();
    match arch {
        None => {
            let _ = writeln!(
                s,
                "digraph space {{\n  rankdir=TB;\n  node [shape=box, fontname=\"Helvetica\"];"
            );
            for n in space.graph.node_indices() {
                let (label, style) = match &space.graph[n] {
                    SpaceNode::Input { shape } => (format!("input {shape}"), "shape=oval"),
                    SpaceNode::Output { classes } => (format!("output {classes}"), "shape=oval"),
                    SpaceNode::Op { path, label } => (format!("{path}\\n{label}"), ""),
                    SpaceNode::Layer {
                        path,
                        decision,
                        labels,
                        optional,
                    } => {
                        let head = if decision.is_some() {
                            format!("{path} (choose)")
                        } else {
                            path.clone()
                        };
                        let style = if *optional {
                            "style=dashed"
                        } else if decision.is_some() {
                            "style=filled, fillcolor=lightyellow"
                        } else {
                            ""
                        };
                        (format!("{head}\\n{}", labels.join("\\n")), style)
                    }
                    SpaceNode::Edge { path, labels, .. } => (
                        format!("{path}\\n{}", labels.join(" | ")),
                        "style=filled, fillcolor=lightyellow",
                    ),
                    SpaceNode::Sum { path } => (format!("{path} (+)"), "shape=circle"),
                    SpaceNode::Concat { path } => (format!("{path} (concat)"), "shape=invhouse"),
                };
                let _ = writeln!(
                    s,
                    "  n{} [label=\"{}\"{}{}];",
                    n.index(),
                    esc(&label).replace("\\\\n", "\\n"),
                    if style.is_empty() { "" } else { ", " },
                    style
                );
            }
            for e in space.graph.edge_references() {
                let w = e.weight();
                if w.is_empty() {
                    let _ = writeln!(s, "  n{} -> n{};", e.source().index(), e.target().index());
                } else {
                    let _ = writeln!(
                        s,
                        "  n{} -> n{} [label=\"{}\", style=dashed];",
                        e.source().index(),
                        e.target().index(),
                        esc(w)
                    );
                }
            }
        }
        Some(a) => {
            let net = space.net(a)?;
            let _ = writeln!(
                s,
                "digraph arch {{\n  rankdir=TB;\n  node [shape=box, fontname=\"Helvetica\"];"
            );
            for (i, n) in net.nodes.iter().enumerate() {
                let label = match &n.kind {
                    NetKind::Input => format!("input {}", n.shape),
                    NetKind::Output => format!("output {}", n.shape),
                    NetKind::Op(op) => {
                        format!("{}\\n{} -> {}", n.path, signature(op.kind).name, n.shape)
                    }
                    NetKind::Sum => format!("{} (+) {}", n.path, n.shape),
                    NetKind::Concat => format!("{} (concat) {}", n.path, n.shape),
                };
                let _ = writeln!(
                    s,
                    "  n{i} [label=\"{}\"];",
                    esc(&label).replace("\\\\n", "\\n")
                );
            }
            for (i, n) in net.nodes.iter().enumerate() {
                for j in &n.inputs {
                    let _ = writeln!(s, "  n{j} -> n{i};");
                }
            }
        }
    }
    s.push_str("}\n");
    Ok(s)
}
