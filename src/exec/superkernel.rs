//! The cost model of a Single-Path NAS search (`relax superkernel`): per superkernel layer the cost of
//! every (kernel, expansion) pair, from exact MACs/params or from the stage's latency table (missing
//! entries measured and saved), so that the penalty is the indicator-weighted sum of the paper.

use tch::Tensor;

use super::error::ExecError;
use super::{Ctx, latency};
use crate::compile::latency::{LatencyTable, load_or_measure_ops, op_key};
use crate::compile::superkernel::SkPlan;
use crate::cost::op_cost;
use crate::ir::SearchSpace;
use crate::ir::ops::{Op, Shape};
use crate::sema::hir::Stage;

/// One superkernel layer's cost per (kernel option, expansion option), and the decisions choosing
/// them (a layer without a kernel or expansion decision has one row or one column).
#[derive(Debug, Clone, PartialEq)]
pub struct LayerCost {
    pub kernel: Option<usize>,
    pub expand: Option<usize>,
    pub table: Vec<Vec<f64>>,
    /// A droppable layer's decision and its `skip` option (a dropped layer costs nothing).
    pub drop: Option<(usize, usize)>,
}

impl LayerCost {
    /// The expected cost under per-decision option probabilities: `sum_ij pk_i pe_j table[i][j]`;
    /// at one-hot probabilities (the indicators' values) the chosen pair's cost.
    pub fn expected(&self, probs: &[Tensor], like: &Tensor) -> Tensor {
        let t: Vec<f32> = self.table.iter().flatten().map(|&c| c as f32).collect();
        let rows = self.table.len() as i64;
        let t = Tensor::from_slice(&t)
            .to_device(like.device())
            .reshape([rows, -1]);
        let one = || Tensor::ones([1], (tch::Kind::Float, like.device()));
        let pk = self.kernel.map_or_else(one, |d| probs[d].shallow_clone());
        let pe = self.expand.map_or_else(one, |d| probs[d].shallow_clone());
        let pairs = (pk.unsqueeze(1) * t * pe.unsqueeze(0)).sum(tch::Kind::Float);
        match self.drop {
            Some((d, skip)) => pairs * probs[d].get(1 - skip as i64),
            None => pairs,
        }
    }

    /// The cost of the pair chosen by `choices` (per decision).
    pub fn of(&self, choices: &[Option<usize>]) -> f64 {
        if self.drop.is_some_and(|(d, skip)| choices[d] == Some(skip)) {
            return 0.0;
        }
        let i = self.kernel.and_then(|d| choices[d]).unwrap_or(0);
        let j = self.expand.and_then(|d| choices[d]).unwrap_or(0);
        self.table
            .get(i)
            .and_then(|r| r.get(j))
            .copied()
            .unwrap_or(0.0)
    }
}

/// The cost of one op on its input and output shapes.
type CostFn = dyn Fn(&(Op, Shape, Shape)) -> f64;

/// The fixed part (every op outside the superkernel layers, at the largest network) and the layers'
/// tables of `metric` (`flops`, `params`: in millions; `latency`: ms from the stage's table).
pub fn costs(
    ctx: &Ctx,
    stage: &Stage,
    space: &SearchSpace,
    plan: &SkPlan,
    metric: &str,
) -> Result<(f64, Vec<LayerCost>), ExecError> {
    let choices: Vec<Option<usize>> = plan.largest.iter().map(|&i| Some(i)).collect();
    let (net, _) = space.net_from_choices(&choices)?;
    // Every (op, input, output) to cost: the fixed ops, then per layer per pair.
    let mut fixed_ops: Vec<(Op, Shape, Shape)> = vec![];
    let mut layer_ops: Vec<Vec<Vec<(Op, Shape, Shape)>>> = vec![];
    for (n, op, input) in net.ops() {
        let Some(layer) = plan.layers.iter().find(|l| l.path == n.path) else {
            fixed_ops.push((op.clone(), input, n.shape));
            continue;
        };
        let ks = layer
            .kernel
            .as_ref()
            .map_or(vec![op.kernel], |k| k.1.clone());
        let es = layer
            .expand
            .as_ref()
            .map_or(vec![op.expand], |e| e.1.clone());
        layer_ops.push(
            ks.iter()
                .map(|&k| {
                    es.iter()
                        .map(|&e| {
                            let mut o = op.clone();
                            o.kernel = k;
                            o.expand = e;
                            (o, input, n.shape)
                        })
                        .collect()
                })
                .collect(),
        );
    }
    let cost: Box<CostFn> = match metric {
        "flops" => Box::new(|(o, i, s)| op_cost(o, *i, *s).macs as f64 * 1e-6),
        "params" => Box::new(|(o, i, s)| op_cost(o, *i, *s).params as f64 * 1e-6),
        _ => {
            let all = fixed_ops.iter().chain(layer_ops.iter().flatten().flatten());
            let table = latency_table(ctx, stage, all)?;
            Box::new(move |(o, i, _)| table.entries.get(&op_key(o, *i)).copied().unwrap_or(0.0))
        }
    };
    let fixed = fixed_ops.iter().map(&cost).sum();
    let layers = plan
        .layers
        .iter()
        .zip(&layer_ops)
        .map(|(l, ops)| LayerCost {
            kernel: l.kernel.as_ref().map(|k| k.0),
            expand: l.expand.as_ref().map(|e| e.0),
            table: ops
                .iter()
                .map(|row| row.iter().map(&cost).collect())
                .collect(),
            drop: l.drop,
        })
        .collect();
    Ok((fixed, layers))
}

/// The stage's latency table with an entry for each of `ops` (measured now where missing, and saved
/// when anything was measured); a table from another device or batch is measured again.
pub(super) fn latency_table<'a>(
    ctx: &Ctx,
    stage: &Stage,
    ops: impl Iterator<Item = &'a (Op, Shape, Shape)>,
) -> Result<LatencyTable, ExecError> {
    let (path, opts) = latency::source(ctx, stage)?;
    let ops = ops.map(|(op, input, _)| (op, *input));
    Ok(load_or_measure_ops(&path, ops, ctx.device(), &opts)?.0)
}
