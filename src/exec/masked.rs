//! The cost model of an FBNetV2 search (`relax masked_gumbel`): an op's cost depends on the input
//! resolution, its input and output widths and (inside a layer choice) on its candidate being chosen,
//! so each op of the masked network gets a table over the options of those decisions (exact MACs or
//! parameters, or the stage's latency table, measured where missing). The expected cost is the sum of
//! the tables weighted by the product of the decisions' probabilities: the exact expectation under
//! independent decisions, and the chosen architecture's cost at one-hot probabilities (where FBNetV2
//! propagates expected channel counts, this takes the expectation of the cost itself).

use std::collections::{BTreeMap, HashMap};

use tch::{Kind, Tensor};

use super::error::ExecError;
use super::{Ctx, superkernel};
use crate::compile::masked::MaskedPlan;
use crate::cost::op_cost;
use crate::ir::graph::{Net, NetKind};
use crate::ir::ops::{Op, Shape};
use crate::ir::{IrError, SearchSpace};
use crate::sema::hir::Stage;

/// Cost over the options of `decisions` (row-major over their option counts `dims`), counted only
/// when `gate` (a layer decision and its candidate) is chosen.
#[derive(Debug, Clone, PartialEq)]
pub struct FactorCost {
    pub decisions: Vec<usize>,
    pub dims: Vec<usize>,
    pub gate: Option<(usize, usize)>,
    pub table: Vec<f64>,
}

impl FactorCost {
    /// `sum over options of p_gate * prod_i p_{d_i}[o_i] * table[o]`, differentiable in `probs`.
    pub fn expected(&self, probs: &[Tensor], like: &Tensor) -> Tensor {
        let t: Vec<f32> = self.table.iter().map(|&c| c as f32).collect();
        let dims: Vec<i64> = self.dims.iter().map(|&n| n as i64).collect();
        let mut t = Tensor::from_slice(&t).to_device(like.device());
        if !dims.is_empty() {
            t = t.reshape(dims.as_slice());
        }
        for (axis, &d) in self.decisions.iter().enumerate() {
            let mut shape = vec![1i64; dims.len()];
            shape[axis] = dims[axis];
            // Not `*=`: the product keeps `t` for the gradient of the probabilities.
            #[allow(clippy::assign_op_pattern)]
            {
                t = t * probs[d].to_kind(Kind::Float).reshape(shape.as_slice());
            }
        }
        let mut total = t.sum(Kind::Float);
        if let Some((d, o)) = self.gate {
            #[allow(clippy::assign_op_pattern)]
            {
                total = total * probs[d].to_kind(Kind::Float).get(o as i64);
            }
        }
        total
    }

    /// The cost at one option per decision.
    pub fn of(&self, choices: &[Option<usize>]) -> f64 {
        if let Some((d, o)) = self.gate
            && choices.get(d).copied().flatten() != Some(o)
        {
            return 0.0;
        }
        let mut idx = 0;
        for (&d, &n) in self.decisions.iter().zip(&self.dims) {
            idx = idx * n + choices.get(d).copied().flatten().unwrap_or(0).min(n - 1);
        }
        self.table.get(idx).copied().unwrap_or(0.0)
    }
}

/// Per op node of the masked network: its decisions, their option counts, its candidate gate, and
/// per combination of their options (row-major) the op with its input and output shapes.
type NodeOps = (
    Vec<usize>,
    Vec<usize>,
    Option<(usize, usize)>,
    Vec<(Op, Shape, Shape)>,
);

/// Every op node of the masked network with the ops it is at each option of its decisions.
fn node_ops(space: &SearchSpace, plan: &MaskedPlan) -> Result<Vec<NodeOps>, IrError> {
    let base_opts = plan.options(plan.largest_resolution());
    let (base, _) = space.net_from_mix(&base_opts)?;
    let mut nets: HashMap<Vec<Vec<usize>>, Net> = HashMap::new();
    let mut per_node: Vec<NodeOps> = vec![];
    for (i, n) in base.nodes.iter().enumerate() {
        let NetKind::Op(_) = n.kind else { continue };
        let mut decisions: Vec<usize> = vec![];
        if let Some((d, _)) = &plan.resolution {
            decisions.push(*d);
        }
        // The plan lists every node whose input or output width is searched (the head's first
        // convolution too); any other op costs the same at every width.
        if let Some(m) = plan.node(&n.path) {
            for d in [m.input, m.out.as_ref().map(|o| o.decision)]
                .into_iter()
                .flatten()
            {
                if !decisions.contains(&d) {
                    decisions.push(d);
                }
            }
        }
        let dims: Vec<usize> = decisions
            .iter()
            .map(|&d| space.decisions[d].labels.len())
            .collect();
        let total: usize = dims.iter().product();
        let mut ops = Vec::with_capacity(total);
        for flat in 0..total {
            let mut opts = base_opts.clone();
            let mut rest = flat;
            for (k, &d) in decisions.iter().enumerate().rev() {
                opts[d] = vec![rest % dims[k]];
                rest /= dims[k];
            }
            if !nets.contains_key(&opts) {
                let (net, _) = space.net_from_mix(&opts)?;
                nets.insert(opts.clone(), net);
            }
            let net = &nets[&opts];
            let node = &net.nodes[i];
            if let NetKind::Op(op) = &node.kind {
                ops.push((op.clone(), net.nodes[node.inputs[0]].shape, node.shape));
            }
        }
        per_node.push((decisions, dims, n.choice, ops));
    }
    Ok(per_node)
}

/// A factor table's decisions and candidate gate.
type FactorKey = (Vec<usize>, Option<(usize, usize)>);

/// The fixed cost and the factor tables under `cost`, tables with the same decisions and gate summed.
fn tables(
    per_node: &[NodeOps],
    cost: &dyn Fn(&(Op, Shape, Shape)) -> f64,
) -> (f64, Vec<FactorCost>) {
    let mut fixed = 0.0;
    let mut grouped: BTreeMap<FactorKey, FactorCost> = BTreeMap::new();
    for (decisions, dims, gate, ops) in per_node {
        let values: Vec<f64> = ops.iter().map(cost).collect();
        if decisions.is_empty() && gate.is_none() {
            fixed += values.iter().sum::<f64>();
            continue;
        }
        let entry = grouped
            .entry((decisions.clone(), *gate))
            .or_insert_with(|| FactorCost {
                decisions: decisions.clone(),
                dims: dims.clone(),
                gate: *gate,
                table: vec![0.0; values.len()],
            });
        for (t, v) in entry.table.iter_mut().zip(&values) {
            *t += v;
        }
    }
    (fixed, grouped.into_values().collect())
}

/// The fixed cost and factor tables of exact MACs (`flops`) or parameters (`params`), in millions.
pub fn exact_costs(
    space: &SearchSpace,
    plan: &MaskedPlan,
    metric: &str,
) -> Result<(f64, Vec<FactorCost>), IrError> {
    let per_node = node_ops(space, plan)?;
    Ok(match metric {
        "params" => tables(&per_node, &|(o, i, s)| {
            op_cost(o, *i, *s).params as f64 * 1e-6
        }),
        _ => tables(&per_node, &|(o, i, s)| {
            op_cost(o, *i, *s).macs as f64 * 1e-6
        }),
    })
}

/// The fixed cost (ops no decision changes) and the factor tables of `metric` (`flops`, `params`:
/// millions; `latency`: ms from the stage's table, measured where missing).
pub fn costs(
    ctx: &Ctx,
    stage: &Stage,
    space: &SearchSpace,
    plan: &MaskedPlan,
    metric: &str,
) -> Result<(f64, Vec<FactorCost>), ExecError> {
    if metric != "latency" {
        return Ok(exact_costs(space, plan, metric)?);
    }
    let per_node = node_ops(space, plan)?;
    let table = superkernel::latency_table(ctx, stage, per_node.iter().flat_map(|p| p.3.iter()))?;
    Ok(tables(&per_node, &|(o, i, _)| {
        table
            .entries
            .get(&crate::compile::latency::op_key(o, *i))
            .copied()
            .unwrap_or(0.0)
    }))
}
