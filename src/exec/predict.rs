//! OFA's accuracy predictor (`predictor mlp(hidden, layers, samples)` in `evolution`): `samples`
//! architectures drawn uniformly (within the stage's hard constraints) are measured on the supernet
//! (validation accuracy of the extracted sub-network, BN recalibrated when the stage asks), an MLP
//! is fitted on (one-hot architecture encoding -> accuracy) with the last fifth held out, and its
//! RMSE and Kendall tau on the held-out pairs are reported; the evolution then ranks candidates by
//! the MLP's prediction instead of measuring each.

use super::result::PredictorOut;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::nn::{Module, OptimizerConfig};
use tch::{Device, Kind, Tensor, nn};

use crate::ir::SearchSpace;

/// The one-hot encoding of a genome: per decision, one entry per option.
pub fn encode(space: &SearchSpace, genome: &[usize]) -> Vec<f32> {
    let mut v = Vec::new();
    for (d, dec) in space.decisions.iter().enumerate() {
        for o in 0..dec.labels.len() {
            v.push(if genome.get(d) == Some(&o) { 1.0 } else { 0.0 });
        }
    }
    v
}

/// Up to `n` distinct genomes drawn uniformly among those `valid` accepts (at most `100 n` draws).
pub fn draw(
    choices: &[usize],
    n: usize,
    seed: u64,
    mut valid: impl FnMut(&Vec<usize>) -> bool,
) -> Vec<Vec<usize>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out: Vec<Vec<usize>> = Vec::new();
    for _ in 0..100 * n.max(1) {
        if out.len() >= n {
            break;
        }
        let g: Vec<usize> = choices.iter().map(|&c| rng.random_range(0..c)).collect();
        if !out.contains(&g) && valid(&g) {
            out.push(g);
        }
    }
    out
}

/// OFA's predictor network: `layers` hidden layers of `hidden` units with ReLU, a linear output
/// without bias (started at zero), plus a learned base accuracy (started at the training mean).
pub struct Mlp {
    _vs: nn::VarStore,
    net: nn::Sequential,
    base: Tensor,
}

impl Mlp {
    /// Fits the MLP on `(x, y)` by full-batch Adam on the squared error (deterministic in `seed`).
    pub fn fit(x: &[Vec<f32>], y: &[f64], hidden: usize, layers: usize, seed: u64) -> Mlp {
        tch::manual_seed(seed as i64 & i64::MAX);
        let vs = nn::VarStore::new(Device::Cpu);
        let root = vs.root();
        let inputs = x.first().map_or(1, Vec::len) as i64;
        let h = hidden.max(1) as i64;
        let mut net = nn::seq();
        let mut width = inputs;
        for l in 0..layers.max(1) {
            net = net
                .add(nn::linear(
                    &root / format!("l{l}"),
                    width,
                    h,
                    Default::default(),
                ))
                .add_fn(|t| t.relu());
            width = h;
        }
        let out = nn::linear(
            &root / "out",
            width,
            1,
            nn::LinearConfig {
                bias: false,
                // Zero at first: the prediction starts at the base accuracy, with no random
                // function of the encoding left where no training pair constrains it.
                ws_init: nn::Init::Const(0.0),
                ..Default::default()
            },
        );
        net = net.add(out);
        let mean = y.iter().sum::<f64>() / y.len().max(1) as f64;
        let base = root.var_copy("base", &Tensor::from_slice(&[mean as f32]));
        let mlp = Mlp { _vs: vs, net, base };
        if x.is_empty() {
            return mlp;
        }
        let xs = Tensor::from_slice(&x.concat()).reshape([x.len() as i64, inputs]);
        let ys = Tensor::from_slice(&y.iter().map(|&v| v as f32).collect::<Vec<_>>());
        let mut opt = nn::Adam::default()
            .build(&mlp._vs, 1e-3)
            .expect("Adam over the predictor's variables");
        for _ in 0..500 {
            let loss = (mlp.forward(&xs) - &ys).square().mean(Kind::Float);
            opt.backward_step(&loss);
        }
        mlp
    }

    fn forward(&self, xs: &Tensor) -> Tensor {
        self.net.forward(xs).squeeze_dim(1) + &self.base
    }

    /// The predicted accuracy of each encoding.
    pub fn predict(&self, x: &[Vec<f32>]) -> Vec<f64> {
        if x.is_empty() {
            return vec![];
        }
        let n = x[0].len() as i64;
        let xs = Tensor::from_slice(&x.concat()).reshape([x.len() as i64, n]);
        let p = tch::no_grad(|| self.forward(&xs));
        Vec::<f64>::try_from(p.to_kind(Kind::Double)).unwrap_or_default()
    }
}

/// RMSE and Kendall tau of predictions against measurements (`None` with fewer than two).
pub fn quality(pred: &[f64], truth: &[f64]) -> (Option<f64>, Option<f64>) {
    if pred.len() < 2 || pred.len() != truth.len() {
        return (None, None);
    }
    let mse = pred
        .iter()
        .zip(truth)
        .map(|(p, t)| (p - t).powi(2))
        .sum::<f64>()
        / pred.len() as f64;
    (
        Some(mse.sqrt()),
        crate::search::rank::kendall_tau(pred, truth),
    )
}

/// The architectures the predictor is fitted on: up to `spec.samples` (at most 12 in smoke runs)
/// distinct ones `valid` accepts, drawn from the stage's own seed; and that seed.
pub fn samples(
    ctx: &super::Ctx,
    stage: &str,
    spec: crate::sema::spec::PredictorSpec,
    choices: &[usize],
    valid: impl FnMut(&Vec<usize>) -> bool,
) -> (Vec<Vec<usize>>, u64) {
    let n = if ctx.info.smoke {
        spec.samples.min(12)
    } else {
        spec.samples
    };
    let seed = super::mix(ctx.stage_seed(stage), super::hash_str("predictor"));
    (draw(choices, n, seed, valid), seed)
}

/// Fits the MLP on the first four fifths of the measured `(genomes, acc)` pairs and judges it on the
/// rest (RMSE and Kendall tau, also as a metrics line).
#[allow(clippy::too_many_arguments)]
pub fn fit_measured(
    ctx: &mut super::Ctx,
    stage: &str,
    space: &SearchSpace,
    genomes: &[Vec<usize>],
    acc: &[f64],
    spec: crate::sema::spec::PredictorSpec,
    seed: u64,
) -> Result<(Mlp, PredictorOut), super::error::ExecError> {
    let held = if genomes.len() >= 4 {
        (genomes.len() / 5).max(2)
    } else {
        0
    };
    let split = genomes.len() - held;
    let x: Vec<Vec<f32>> = genomes.iter().map(|g| encode(space, g)).collect();
    let mlp = Mlp::fit(&x[..split], &acc[..split], spec.hidden, spec.layers, seed);
    let (rmse, kendall_tau) = quality(&mlp.predict(&x[split..]), &acc[split..]);
    ctx.dir.log(serde_json::json!({
        "stage": stage, "event": "predictor", "samples": genomes.len(),
        "heldout": held, "rmse": rmse, "kendall_tau": kendall_tau,
    }))?;
    Ok((
        mlp,
        PredictorOut {
            kind: "mlp".into(),
            hidden: spec.hidden,
            layers: spec.layers,
            samples: genomes.len(),
            train_pairs: split,
            heldout_pairs: held,
            rmse,
            kendall_tau,
            predicted: 0,
            measured: 0,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::examples::elastic_chain;

    /// The encoding is one-hot per decision; on accuracies that are a sum of per-option effects the
    /// fitted MLP (240 training pairs) predicts 60 held-out architectures closely and in the right order, and `quality`
    /// reports it; a constant predictor would have no Kendall tau.
    #[test]
    fn the_mlp_learns_per_option_effects_and_is_judged_on_held_out_pairs() {
        let space = SearchSpace::new(elastic_chain()).unwrap();
        let choices: Vec<usize> = space.decisions.iter().map(|d| d.labels.len()).collect();
        let width: usize = choices.iter().sum();
        let genomes = draw(&choices, 300, 3, |_| true);
        assert_eq!(genomes.len(), 300);
        let x: Vec<Vec<f32>> = genomes.iter().map(|g| encode(&space, g)).collect();
        for (g, e) in genomes.iter().zip(&x) {
            assert_eq!(e.len(), width);
            assert_eq!(e.iter().filter(|v| **v == 1.0).count(), g.len());
        }
        // Accuracy: 0.5 plus 0.04 per option index of every decision.
        let truth = |g: &Vec<usize>| 0.5 + 0.04 * g.iter().sum::<usize>() as f64;
        let y: Vec<f64> = genomes.iter().map(truth).collect();
        let mlp = Mlp::fit(&x[..240], &y[..240], 64, 2, 1);
        let (rmse, tau) = quality(&mlp.predict(&x[240..]), &y[240..]);
        let (rmse, tau) = (rmse.unwrap(), tau.unwrap());
        assert!(rmse < 0.03, "held-out RMSE {rmse}");
        assert!(tau > 0.7, "held-out Kendall tau {tau}");
        assert_eq!(quality(&[0.5, 0.5], &[0.1, 0.2]).1, None);
        let (r, t) = quality(&[0.1, 0.3], &[0.2, 0.4]);
        assert!((r.unwrap() - 0.1).abs() < 1e-12 && t == Some(1.0));
        // Only genomes the filter accepts are drawn.
        assert!(
            draw(&choices, 10, 4, |g| g[0] == 0)
                .iter()
                .all(|g| g[0] == 0)
        );
    }
}
