//! Lowering of the checked language (sema's HIR spaces) into space specs: names positional and
//! defaulted arguments, leaves context arguments (`out`, `stride`) to the IR, turns DARTS-style
//! reduction fractions into cell indices.

use std::collections::BTreeMap;

use crate::sema::hir;

use super::IrError;
use super::spec::{
    ArgValue, CellSpec, ChainSpec, GenoEdge, Genotype, LayerSpec, OneOrMany, OpCall, SpaceSpec,
    StageSpec,
};

/// The spec of a checked space (chain, cell space or fixed genotype network).
pub fn space_spec(space: &hir::Space) -> Result<SpaceSpec, IrError> {
    let unsupported = |message: String| IrError::Spec {
        path: space.name.clone(),
        message: format!("the IR does not support {message}"),
        help: "write the space as a DARTS-style cell space or a chain (see docs/language.md)"
            .into(),
    };
    match &space.body {
        hir::SpaceBody::Chain(c) => Ok(SpaceSpec::Chain(ChainSpec {
            input: c.input.map(|v| v as usize),
            classes: c.classes as usize,
            resolutions: c.resolutions.iter().map(|&r| r as usize).collect(),
            stem: ops(&c.stem).map_err(unsupported)?,
            stages: c
                .stages
                .iter()
                .map(|s| {
                    Ok(StageSpec {
                        name: None,
                        out: one_or_many(&s.out),
                        stride: s.stride as usize,
                        repeat: one_or_many(&s.repeat),
                        layer: match &s.layer {
                            hir::Layer::Fixed(seq) => LayerSpec::Fixed(ops(seq)?),
                            hir::Layer::Choose(cands) => LayerSpec::Choose(
                                cands.iter().map(|c| ops(c)).collect::<Result<_, _>>()?,
                            ),
                        },
                    })
                })
                .collect::<Result<_, String>>()
                .map_err(unsupported)?,
            head: ops(&c.head).map_err(unsupported)?,
        })),
        hir::SpaceBody::Cell(c) => {
            if !(1..=2).contains(&c.inputs) {
                return Err(unsupported(format!(
                    "cells with {} inputs (the IR stacks DARTS-style cells with 2 and NAS-Bench-201 cells with 1)",
                    c.inputs
                )));
            }
            let mut spec = cell_network(&c.network);
            spec.nodes = c.nodes as usize;
            spec.inputs = c.inputs as usize;
            spec.candidates = ops(&c.ops).map_err(unsupported)?;
            spec.node_inputs = c.node_inputs.map(|k| k as usize);
            Ok(SpaceSpec::Cell(spec))
        }
        hir::SpaceBody::Genotype(g) => {
            if g.inputs != 2 {
                return Err(unsupported(format!(
                    "genotypes with {} inputs (the IR stacks DARTS-style cells with 2)",
                    g.inputs
                )));
            }
            let mut spec = cell_network(&g.network);
            spec.nodes = g.normal.nodes.len();
            if g.reduce.nodes.len() != spec.nodes {
                return Err(unsupported(
                    "normal and reduction cells with different node counts".into(),
                ));
            }
            spec.normal = Some(genotype(&g.normal).map_err(unsupported)?);
            spec.reduce = Some(genotype(&g.reduce).map_err(unsupported)?);
            Ok(SpaceSpec::Cell(spec))
        }
    }
}

fn one_or_many(values: &[u32]) -> OneOrMany {
    match values {
        [one] => OneOrMany::One(*one as usize),
        many => OneOrMany::Many(many.iter().map(|&v| v as usize).collect()),
    }
}

fn cell_network(n: &hir::CellNetwork) -> CellSpec {
    let cells = n.cells as usize;
    CellSpec {
        input: n.input.map(|v| v as usize),
        classes: n.classes as usize,
        cells,
        channels: n.channels as usize,
        stem_multiplier: n.stem_multiplier as usize,
        nodes: 4,
        inputs: 2,
        // DARTS places reductions at cells//3 and 2*cells//3: the fraction of the depth, rounded down.
        reduce_at: Some(
            n.reduce_at
                .iter()
                .map(|f| (f * cells as f64 + 1e-9).floor() as usize)
                .collect(),
        ),
        candidates: Vec::new(),
        node_inputs: None,
        normal: None,
        reduce: None,
        affine: true,
    }
}

fn genotype(cell: &hir::FixedCell) -> Result<Genotype, String> {
    let intermediates: Vec<u32> = (2..2 + cell.nodes.len() as u32).collect();
    if !cell.concat.is_empty() && cell.concat != intermediates {
        return Err(format!(
            "a cell output concatenating nodes {:?} (the IR concatenates every intermediate node, {intermediates:?})",
            cell.concat
        ));
    }
    let nodes = cell
        .nodes
        .iter()
        .map(|edges| {
            edges
                .iter()
                .map(|e| {
                    Ok(GenoEdge {
                        from: e.from as usize,
                        op: op(&e.op)?,
                    })
                })
                .collect()
        })
        .collect::<Result<Vec<Vec<GenoEdge>>, String>>()?;
    Ok(Genotype { nodes })
}

fn ops(seq: &[hir::OpCall]) -> Result<Vec<OpCall>, String> {
    seq.iter().map(op).collect()
}

fn op(call: &hir::OpCall) -> Result<OpCall, String> {
    let mut args = BTreeMap::new();
    for (name, arg) in &call.args {
        let value = match arg {
            hir::Arg::Context => continue,
            hir::Arg::Int(i) => ArgValue::Int(*i),
            hir::Arg::Float(f) => ArgValue::Float(*f),
            hir::Arg::Bool(b) => ArgValue::Bool(*b),
            hir::Arg::Name(n) => ArgValue::Name(n.clone()),
            hir::Arg::Choices(options) => ArgValue::List(
                options
                    .iter()
                    .map(|o| match o {
                        hir::Arg::Int(i) => Ok(*i),
                        other => Err(format!(
                            "elastic argument `{name}` with a non-integer option {other:?}"
                        )),
                    })
                    .collect::<Result<_, _>>()?,
            ),
        };
        args.insert(name.clone(), value);
    }
    Ok(OpCall {
        kind: call.kind,
        args,
    })
}
