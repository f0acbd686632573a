//! Linear (per-option) cost models of a space: an architecture's cost as a fixed part plus one term per
//! decision and chosen option, which is exact for spaces whose decisions are all layer or edge choices.
//! Expected-cost penalties (ProxylessNAS's expected latency, FBNet's latency term, FLOPs/params
//! penalties) weigh `options[d][o]` by the probability of option `o` of decision `d`.

use serde::{Deserialize, Serialize};

use super::op_cost;
use crate::ir::IrError;
use crate::ir::graph::{DecisionKind, SearchSpace};
use crate::ir::ops::{Op, Shape};

/// An architecture's cost as `fixed + sum over decisions d of options[d][chosen option of d]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptionCosts {
    /// What is counted, e.g. `macs`, `params`, `latency_ms`.
    pub metric: String,
    /// The cost of the ops no decision chooses (stem, head, cell preprocessing, fixed layers).
    pub fixed: f64,
    /// Per decision, per option: the cost of the option's ops.
    pub options: Vec<Vec<f64>>,
}

impl OptionCosts {
    /// The cost of the architecture of option `indices` (one per decision): `fixed` plus each chosen
    /// option's cost. An index past a decision's options counts 0 (`SearchSpace` rejects such archs).
    pub fn of_choices(&self, indices: &[usize]) -> f64 {
        self.fixed
            + self
                .options
                .iter()
                .zip(indices)
                .map(|(o, &i)| o.get(i).copied().unwrap_or(0.0))
                .sum::<f64>()
    }

    /// The expected cost under independent per-decision option probabilities `probs[d][o]`
    /// (ProxylessNAS's expected latency): `fixed + sum_d sum_o probs[d][o] * options[d][o]`. Missing
    /// decisions or options count 0.
    pub fn expected(&self, probs: &[Vec<f64>]) -> f64 {
        self.fixed
            + self
                .options
                .iter()
                .zip(probs)
                .map(|(o, p)| o.iter().zip(p).map(|(c, p)| c * p).sum::<f64>())
                .sum::<f64>()
    }
}

/// Checks that the cost of every architecture of `space` is a sum of per-option costs: every decision
/// is a layer or edge choice (channel, depth, resolution and elastic decisions change the shapes, hence
/// the cost, of other decisions' ops).
pub fn check_linear(space: &SearchSpace) -> Result<(), IrError> {
    let bad: Vec<String> = space
        .decisions
        .iter()
        .filter(|d| !matches!(d.kind, DecisionKind::Layer | DecisionKind::Edge))
        .map(|d| {
            let kind = serde_json::to_value(d.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            format!("`{}` ({kind})", d.path)
        })
        .collect();
    if bad.is_empty() {
        return Ok(());
    }
    Err(IrError::Spec {
        path: "space".into(),
        message: format!(
            "a per-option cost table needs layer or edge decisions only, but the space has {}",
            bad.join(", ")
        ),
        help:
            "expected-cost penalties and latency lookup tables need layer/edge decisions: fix the \
               stage's `out`, `repeat`, resolutions and elastic arguments to single values"
                .into(),
    })
}

/// The per-option costs of `space` under `f(op, input shape, output shape)`, read off the network that
/// takes every option of every decision at once (`net_from_mix`): an op node of choice `(d, o)` adds to
/// `options[d][o]`, any other op node to `fixed`. Sums, concatenations and the input cost nothing.
pub fn option_costs(
    space: &SearchSpace,
    metric: &str,
    f: &dyn Fn(&Op, Shape, Shape) -> f64,
) -> Result<OptionCosts, IrError> {
    check_linear(space)?;
    let all: Vec<Vec<usize>> = space
        .decisions
        .iter()
        .map(|d| (0..d.labels.len()).collect())
        .collect();
    let (net, _) = space.net_from_mix(&all)?;
    let mut out = OptionCosts {
        metric: metric.to_string(),
        fixed: 0.0,
        options: space
            .decisions
            .iter()
            .map(|d| vec![0.0; d.labels.len()])
            .collect(),
    };
    for (n, op, input) in net.ops() {
        let c = f(op, input, n.shape);
        match n.choice {
            Some((d, o)) => out.options[d][o] += c,
            None => out.fixed += c,
        }
    }
    Ok(out)
}

/// Multiply-accumulates per option (raw counts, as `f64`).
pub fn macs_costs(space: &SearchSpace) -> Result<OptionCosts, IrError> {
    option_costs(space, "macs", &|op, i, o| op_cost(op, i, o).macs as f64)
}

/// Parameters per option (raw counts, as `f64`).
pub fn params_costs(space: &SearchSpace) -> Result<OptionCosts, IrError> {
    option_costs(space, "params", &|op, i, o| op_cost(op, i, o).params as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::OpKind::*;
    use crate::cost::net_cost;
    use crate::ir::examples::{darts_search, mobilenet_v2, small_cells, small_chain};
    use crate::ir::spec::{ChainSpec, LayerSpec, OneOrMany, OpCall, SpaceSpec, StageSpec};
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// A chain whose only decisions are layer choices, with multi-op candidates and stride-2 layers.
    fn layer_chain() -> SpaceSpec {
        let op = OpCall::new;
        let cands = || {
            LayerSpec::Choose(vec![
                vec![op(Conv).arg("kernel", 3), op(BatchNorm), op(Relu)],
                vec![op(MbConv).arg("kernel", 5).arg("expand", 3).arg("se", true)],
                vec![op(Skip)],
                vec![op(SepConv).arg("kernel", 3)],
            ])
        };
        SpaceSpec::Chain(ChainSpec {
            input: [3, 16, 16],
            classes: 10,
            resolutions: vec![],
            stem: vec![op(Conv).arg("kernel", 3).arg("out", 8), op(BatchNorm)],
            stages: vec![
                StageSpec {
                    name: None,
                    out: OneOrMany::One(8),
                    stride: 1,
                    repeat: OneOrMany::One(2),
                    layer: cands(),
                },
                StageSpec {
                    name: None,
                    out: OneOrMany::One(16),
                    stride: 2,
                    repeat: OneOrMany::One(2),
                    layer: cands(),
                },
            ],
            head: vec![op(GlobalAvgPool), op(Linear)],
        })
    }

    fn exact_on_random_archs(spec: SpaceSpec, n: usize) {
        let space = SearchSpace::new(spec).unwrap();
        let macs = macs_costs(&space).unwrap();
        let params = params_costs(&space).unwrap();
        assert_eq!(macs.options.len(), space.decisions.len());
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for _ in 0..n {
            let idx: Vec<usize> = space
                .decisions
                .iter()
                .map(|d| rng.random_range(0..d.labels.len()))
                .collect();
            let choices: Vec<Option<usize>> = idx.iter().map(|&i| Some(i)).collect();
            let (net, _) = space.net_from_choices(&choices).unwrap();
            let c = net_cost(&net);
            assert_eq!(macs.of_choices(&idx), c.macs as f64, "macs of {idx:?}");
            assert_eq!(
                params.of_choices(&idx),
                c.params as f64,
                "params of {idx:?}"
            );
        }
    }

    #[test]
    fn chain_costs_are_exact() {
        exact_on_random_archs(layer_chain(), 200);
    }

    #[test]
    fn cell_costs_are_exact() {
        exact_on_random_archs(small_cells(), 200);
        exact_on_random_archs(darts_search(), 30);
    }

    #[test]
    fn one_hot_probabilities_give_the_architecture_cost() {
        let space = SearchSpace::new(layer_chain()).unwrap();
        let macs = macs_costs(&space).unwrap();
        let idx: Vec<usize> = (0..space.decisions.len()).map(|d| d % 4).collect();
        let one_hot: Vec<Vec<f64>> = idx
            .iter()
            .map(|&i| (0..4).map(|o| if o == i { 1.0 } else { 0.0 }).collect())
            .collect();
        assert_eq!(macs.expected(&one_hot), macs.of_choices(&idx));
        // Uniform: the mean option cost per decision.
        let uniform = vec![vec![0.25; 4]; space.decisions.len()];
        let mean: f64 = macs
            .options
            .iter()
            .map(|o| o.iter().sum::<f64>() / 4.0)
            .sum();
        assert!((macs.expected(&uniform) - macs.fixed - mean).abs() < 1e-6);
    }

    #[test]
    fn zero_edges_cost_nothing() {
        let space = SearchSpace::new(darts_search()).unwrap();
        let zero = space.decisions[0]
            .labels
            .iter()
            .position(|l| l == "none" || l == "zero")
            .expect("darts has a zero candidate");
        let macs = macs_costs(&space).unwrap();
        let params = params_costs(&space).unwrap();
        for d in 0..space.decisions.len() {
            assert_eq!(macs.options[d][zero], 0.0);
            assert_eq!(params.options[d][zero], 0.0);
        }
        // All-zero cells: only the stem, preprocessing and head remain.
        let idx = vec![zero; space.decisions.len()];
        assert_eq!(macs.of_choices(&idx), macs.fixed);
    }

    #[test]
    fn fixed_networks_are_all_fixed() {
        let space = SearchSpace::new(mobilenet_v2()).unwrap();
        let macs = macs_costs(&space).unwrap();
        assert!(macs.options.is_empty());
        assert_eq!(macs.fixed, 300_774_272.0);
        assert_eq!(macs.of_choices(&[]), macs.fixed);
    }

    #[test]
    fn channel_and_depth_decisions_are_refused() {
        let space = SearchSpace::new(small_chain()).unwrap();
        let e = macs_costs(&space).unwrap_err();
        assert_eq!(e.code_str(), "nasl::ir::spec");
        let text = format!("{e}");
        assert!(text.contains("stage0.out"), "{text}");
        let help = match e {
            IrError::Spec { help, .. } => help,
            _ => unreachable!(),
        };
        assert!(help.contains("layer/edge decisions"), "{help}");
    }
}
