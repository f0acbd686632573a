//! Relaxations of a search space's decisions for gradient-based search: architecture parameters (one
//! logit vector per decision) and how each step turns them into a weighted `Mix` — DARTS' softmax
//! over every candidate, SNAS/FBNet's Gumbel-softmax, GDAS' hard Gumbel with a straight-through
//! gradient (one candidate runs), ProxylessNAS' binary gates (one path for the weights, two for the
//! architecture update, or REINFORCE on a non-differentiable reward).

use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor};

use crate::compile::Mix;
use crate::ir::SearchSpace;

/// Scheduled scalars (Gumbel temperature, architecture learning rate) are the language's schedules.
pub use crate::sema::hir::Schedule as Sched;

/// How decisions are relaxed (sema's typed `relax` setting).
pub use crate::sema::spec::Relax;

/// Architecture parameters: one logit vector per decision, leaf tensors that require gradients.
pub struct ArchParams {
    pub alphas: Vec<Tensor>,
}

impl ArchParams {
    /// DARTS' initialisation: 1e-3 times a standard normal, from `rng`.
    pub fn new(space: &SearchSpace, device: Device, rng: &mut ChaCha8Rng) -> ArchParams {
        let alphas = space
            .decisions
            .iter()
            .map(|d| {
                let v: Vec<f32> = (0..d.labels.len())
                    .map(|_| 1e-3 * normal(rng) as f32)
                    .collect();
                Tensor::from_slice(&v)
                    .to_device(device)
                    .set_requires_grad(true)
            })
            .collect();
        ArchParams { alphas }
    }

    /// Single-Path NAS' thresholds: per decision one per option beyond the first, all `init`.
    pub fn thresholds(space: &SearchSpace, init: f64, device: Device) -> ArchParams {
        let alphas = space
            .decisions
            .iter()
            .map(|d| {
                let v = vec![init as f32; d.labels.len().saturating_sub(1)];
                Tensor::from_slice(&v)
                    .to_device(device)
                    .set_requires_grad(true)
            })
            .collect();
        ArchParams { alphas }
    }

    /// Named for optimizers and checkpoints: `alpha.<decision index>`.
    pub fn named(&self) -> Vec<(String, Tensor)> {
        self.alphas
            .iter()
            .enumerate()
            .map(|(d, a)| (format!("alpha.{d:03}"), a.shallow_clone()))
            .collect()
    }

    /// softmax(alpha) per decision.
    pub fn probs(&self) -> Vec<Vec<f64>> {
        tch::no_grad(|| {
            self.alphas
                .iter()
                .map(|a| {
                    Vec::<f64>::try_from(a.softmax(0, Kind::Double).to_device(Device::Cpu))
                        .unwrap_or_default()
                })
                .collect()
        })
    }

    pub fn zero_grad(&self) {
        for a in &self.alphas {
            let mut g = a.grad();
            if g.defined() {
                let _ = g.zero_();
            }
        }
    }
}

/// A standard normal draw (Box-Muller) from `rng`.
fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = rng.random::<f64>().max(1e-12);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// Gumbel(0, 1) noise of `n` values from `rng`, on `device`.
fn gumbel(n: usize, rng: &mut ChaCha8Rng, device: Device) -> Tensor {
    let v: Vec<f32> = (0..n)
        .map(|_| {
            let u: f64 = rng.random::<f64>().clamp(1e-12, 1.0 - 1e-12);
            -(-u.ln()).ln() as f32
        })
        .collect();
    Tensor::from_slice(&v).to_device(device)
}

/// Draws an index from probabilities `p` (which sum to about one).
fn draw(p: &[f64], rng: &mut ChaCha8Rng) -> usize {
    let mut u = rng.random::<f64>() * p.iter().sum::<f64>();
    for (i, v) in p.iter().enumerate() {
        if u < *v {
            return i;
        }
        u -= v;
    }
    p.len() - 1
}

/// The straight-through one-hot: forward value `onehot(k)`, gradient that of `soft` (GDAS; the
/// binary gates of ProxylessNAS over the sampled candidates).
pub fn straight_through(soft: &Tensor, k: i64) -> Tensor {
    let hard = soft.zeros_like().index_fill(0, &Tensor::from(k), 1.0);
    hard - soft.detach() + soft
}

/// One step's relaxed forward: the mix, and per decision the candidates it drew (for ProxylessNAS'
/// rescaling and REINFORCE's log-probability).
pub struct Relaxed {
    pub mix: Mix,
    pub drawn: Vec<Vec<usize>>,
}

/// Which update a mix is for: the weights (ProxylessNAS: one binarised path) or the architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum For {
    Weights,
    Arch,
}

/// Builds this step's mix from the architecture parameters.
pub fn relaxed(
    relax: &Relax,
    arch: &ArchParams,
    t: f64,
    purpose: For,
    rng: &mut ChaCha8Rng,
) -> Relaxed {
    let n = arch.alphas.len();
    let mut mix = Mix::new(n);
    let mut drawn = vec![vec![]; n];
    for (d, a) in arch.alphas.iter().enumerate() {
        let len = a.size()[0] as usize;
        let device = a.device();
        match relax {
            Relax::Softmax => {
                let w = a.softmax(0, Kind::Float);
                for o in 0..len {
                    mix.push(d, o, Some(w.get(o as i64)));
                }
                drawn[d] = (0..len).collect();
            }
            // FBNetV2's masks weight channel and resolution options by the same Gumbel-softmax.
            Relax::Gumbel { tau } | Relax::MaskedGumbel { tau } => {
                let g = gumbel(len, rng, device);
                let w = ((a + g) / tau.at(t)).softmax(0, Kind::Float);
                for o in 0..len {
                    mix.push(d, o, Some(w.get(o as i64)));
                }
                drawn[d] = (0..len).collect();
            }
            Relax::GumbelHard { tau } => {
                let g = gumbel(len, rng, device);
                let soft = ((a + g) / tau.at(t)).softmax(0, Kind::Float);
                let k = soft.argmax(0, false).int64_value(&[]);
                let w = straight_through(&soft, k);
                mix.push(d, k as usize, Some(w.get(k)));
                drawn[d] = vec![k as usize];
            }
            Relax::Superkernel { .. } => {
                // The superkernel search runs its own forward (`Supernet::forward_superkernel`);
                // as a mix it is the largest network.
                mix.push(d, len, None);
                drawn[d] = vec![len];
            }
            Relax::BinaryGates { paths, reinforce } => {
                let p: Vec<f64> = tch::no_grad(|| {
                    Vec::<f64>::try_from(a.softmax(0, Kind::Double).to_device(Device::Cpu))
                        .unwrap_or_default()
                });
                if purpose == For::Weights || *reinforce || len == 1 {
                    let k = draw(&p, rng);
                    mix.push(d, k, None);
                    drawn[d] = vec![k];
                    continue;
                }
                // Draw `paths` distinct candidates from p, then one active gate among them from the
                // renormalised distribution; every drawn candidate runs so its gate gets a gradient.
                let mut pool = p.clone();
                let mut sel = vec![];
                for _ in 0..(*paths).min(len) {
                    let k = draw(&pool, rng);
                    sel.push(k);
                    pool[k] = 0.0;
                }
                sel.sort_unstable();
                let idx = Tensor::from_slice(&sel.iter().map(|&k| k as i64).collect::<Vec<_>>())
                    .to_device(device);
                let sub = a.index_select(0, &idx).softmax(0, Kind::Float);
                let sub_p: Vec<f64> = sel.iter().map(|&k| p[k]).collect();
                let active = draw(&sub_p, rng) as i64;
                let gates = straight_through(&sub, active);
                for (j, &k) in sel.iter().enumerate() {
                    mix.push(d, k, Some(gates.get(j as i64)));
                }
                drawn[d] = sel;
            }
        }
    }
    Relaxed { mix, drawn }
}

/// ProxylessNAS' correction after an update through binary gates: the updated logits of the drawn
/// candidates are shifted so that their total probability mass relative to the others is unchanged
/// (`old` are the logits before the update).
pub fn rescale_drawn(arch: &ArchParams, old: &[Tensor], drawn: &[Vec<usize>]) {
    tch::no_grad(|| {
        for ((a, before), sel) in arch.alphas.iter().zip(old).zip(drawn) {
            if sel.len() < 2 || sel.len() as i64 == a.size()[0] {
                continue;
            }
            let idx = Tensor::from_slice(&sel.iter().map(|&k| k as i64).collect::<Vec<_>>())
                .to_device(a.device());
            let new = a.index_select(0, &idx);
            let prev = before.index_select(0, &idx);
            let offset = new.logsumexp([0i64], false) - prev.logsumexp([0i64], false);
            let shifted = new - offset;
            let _ = a.shallow_clone().index_copy_(0, &idx, &shifted);
        }
    });
}

/// REINFORCE's log-probability of the drawn path under softmax(alpha) (differentiable in alpha).
pub fn log_prob(arch: &ArchParams, drawn: &[Vec<usize>]) -> Tensor {
    let mut total = Tensor::zeros([], (Kind::Float, arch.alphas[0].device()));
    for (a, sel) in arch.alphas.iter().zip(drawn) {
        if let Some(&k) = sel.first() {
            total += a.log_softmax(0, Kind::Float).get(k as i64);
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn close(a: &Tensor, b: &Tensor) -> bool {
        a.allclose(b, 1e-6, 1e-7, false)
    }

    #[test]
    fn straight_through_is_one_hot_forward_and_softmax_backward() {
        let logits = Tensor::from_slice(&[0.3f32, -1.2, 2.0, 0.1]).set_requires_grad(true);
        let c = Tensor::from_slice(&[1.5f32, -0.5, 0.25, 3.0]);
        let soft = logits.softmax(0, Kind::Float);
        let st = straight_through(&soft, 1);
        assert_eq!(
            Vec::<f32>::try_from(&st).unwrap(),
            vec![0.0, 1.0, 0.0, 0.0],
            "forward value is exactly one-hot"
        );
        (&st * &c).sum(Kind::Float).backward();
        let g_st = logits.grad().copy();
        let _ = logits.grad().zero_();
        (logits.softmax(0, Kind::Float) * &c)
            .sum(Kind::Float)
            .backward();
        let g_soft = logits.grad().copy();
        assert!(close(&g_st, &g_soft), "{g_st:?} vs {g_soft:?}");
        assert!(g_st.abs().sum(Kind::Float).double_value(&[]) > 0.1);
    }

    fn params(sizes: &[usize]) -> ArchParams {
        ArchParams {
            alphas: sizes
                .iter()
                .enumerate()
                .map(|(i, &n)| {
                    let v: Vec<f32> = (0..n).map(|j| (i + j) as f32 * 0.3 - 0.5).collect();
                    Tensor::from_slice(&v).set_requires_grad(true)
                })
                .collect(),
        }
    }

    #[test]
    fn softmax_mixes_every_candidate_with_weights_summing_to_one() {
        let arch = params(&[3, 5]);
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let r = relaxed(&Relax::Softmax, &arch, 0.0, For::Arch, &mut rng);
        for (d, n) in [(0, 3), (1, 5)] {
            assert_eq!(r.mix.picks[d].len(), n);
            let s: f64 = (0..n)
                .map(|o| r.mix.weight(d, o).unwrap().double_value(&[]))
                .sum();
            assert!((s - 1.0).abs() < 1e-6);
        }
    }

    #[test]
    fn hard_gumbel_runs_one_candidate_and_every_logit_gets_a_gradient() {
        let arch = params(&[4, 6]);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let relax = Relax::GumbelHard {
            tau: Sched::constant(1.0),
        };
        let r = relaxed(&relax, &arch, 0.0, For::Arch, &mut rng);
        let mut loss = Tensor::zeros([], (Kind::Float, Device::Cpu));
        for d in 0..2 {
            assert_eq!(r.mix.picks[d].len(), 1);
            let (k, w) = &r.mix.picks[d][0];
            assert_eq!(w.as_ref().unwrap().double_value(&[]), 1.0);
            assert_eq!(r.drawn[d], vec![*k]);
            loss += w.as_ref().unwrap() * (d as f64 + 2.0);
        }
        loss.backward();
        for a in &arch.alphas {
            let g = Vec::<f32>::try_from(a.grad()).unwrap();
            assert!(g.iter().all(|v| *v != 0.0), "{g:?}");
        }
    }

    #[test]
    fn gumbel_temperature_follows_its_schedule() {
        let tau = Sched {
            from: 5.0,
            to: 0.05,
            shape: "exponential".into(),
        };
        assert!((tau.at(0.0) - 5.0).abs() < 1e-12);
        assert!((tau.at(0.5) - 0.5).abs() < 1e-9);
        assert!((tau.at(1.0) - 0.05).abs() < 1e-12);
        let lin = Sched {
            from: 10.0,
            to: 0.1,
            shape: "linear".into(),
        };
        assert!((lin.at(0.5) - 5.05).abs() < 1e-12);
    }

    #[test]
    fn binary_gates_update_two_paths_and_keep_the_others_mass() {
        let arch = params(&[5]);
        let relax = Relax::BinaryGates {
            paths: 2,
            reinforce: false,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let w = relaxed(&relax, &arch, 0.0, For::Weights, &mut rng);
        assert_eq!(
            w.mix.picks[0].len(),
            1,
            "the weights see one binarised path"
        );
        assert!(w.mix.picks[0][0].1.is_none());
        let r = relaxed(&relax, &arch, 0.0, For::Arch, &mut rng);
        assert_eq!(r.drawn[0].len(), 2);
        let values: Vec<f64> = r.mix.picks[0]
            .iter()
            .map(|(_, w)| w.as_ref().unwrap().double_value(&[]))
            .collect();
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        assert_eq!(sorted, vec![0.0, 1.0], "one gate open");
        // A gradient through the gates reaches exactly the two drawn logits.
        let c = [2.0, -1.0];
        let mut loss = Tensor::zeros([], (Kind::Float, Device::Cpu));
        for (j, (_, w)) in r.mix.picks[0].iter().enumerate() {
            loss += w.as_ref().unwrap() * c[j];
        }
        loss.backward();
        let g = Vec::<f32>::try_from(arch.alphas[0].grad()).unwrap();
        for (o, v) in g.iter().enumerate() {
            assert_eq!(*v != 0.0, r.drawn[0].contains(&o), "{g:?} {:?}", r.drawn);
        }
        // After an update the others' share of the probability mass is unchanged.
        let old: Vec<Tensor> = arch.alphas.iter().map(|a| a.detach().copy()).collect();
        let p_old = arch.probs();
        tch::no_grad(|| {
            let _ = arch.alphas[0]
                .shallow_clone()
                .g_sub_(&(arch.alphas[0].grad() * 0.5));
        });
        rescale_drawn(&arch, &old, &r.drawn);
        let p_new = arch.probs();
        let others = |p: &[f64]| -> f64 {
            (0..5)
                .filter(|o| !r.drawn[0].contains(o))
                .map(|o| p[o])
                .sum()
        };
        assert!((others(&p_old[0]) - others(&p_new[0])).abs() < 1e-6);
        assert!(p_old[0] != p_new[0]);
    }

    #[test]
    fn reinforce_log_prob_is_the_sum_of_log_softmax_of_the_drawn() {
        let arch = params(&[3, 2]);
        let lp = log_prob(&arch, &[vec![2], vec![0]]).double_value(&[]);
        let p = arch.probs();
        assert!((lp - (p[0][2].ln() + p[1][0].ln())).abs() < 1e-5);
    }
}
