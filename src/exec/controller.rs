//! The RL controller of ENAS and MnasNet: an LSTM that emits every decision of a space in order, each
//! conditioned on the previous ones through the embedding of the option chosen before (one embedding
//! table and one softmax head per decision, a learned first input). Logits are shaped as in ENAS
//! (`logits / temperature`, then `tanh_constant * tanh(logits)`). Two policy-gradient updates:
//! REINFORCE with a moving-average baseline and an entropy bonus (ENAS), and PPO's clipped surrogate
//! objective (MnasNet). Sampling draws from the stage's own seeded generator, and weights are
//! initialised from it too (uniform in [-0.1, 0.1] as ENAS does), so a controller is reproducible
//! whatever libtorch's global generator does; its whole state (weights, Adam state, baseline, update
//! count) is saved to and restored from named tensors.

use std::collections::HashMap;
use std::path::Path;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use super::error::ExecError;
use super::optim::{Optimizer, Rule};

pub use crate::sema::spec::{Algorithm, ControllerConfig};

/// What one update did.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UpdateStats {
    pub reward: f64,
    pub baseline: f64,
    pub loss: f64,
    pub entropy: f64,
}

/// The LSTM controller over decisions with `choices[d]` options each.
pub struct Controller {
    pub cfg: ControllerConfig,
    choices: Vec<usize>,
    params: Vec<(String, Tensor)>,
    index: HashMap<String, usize>,
    opt: Optimizer,
    baseline: Option<f64>,
    /// Updates made so far.
    pub updates: usize,
}

impl Controller {
    /// A fresh controller, weights drawn from `seed`.
    pub fn new(choices: &[usize], cfg: ControllerConfig, seed: u64) -> Controller {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let h = cfg.hidden as i64;
        let mut shapes: Vec<(String, Vec<i64>)> = vec![
            ("start".into(), vec![1, h]),
            ("lstm.w_ih".into(), vec![h, 4 * h]),
            ("lstm.w_hh".into(), vec![h, 4 * h]),
            ("lstm.bias".into(), vec![4 * h]),
        ];
        for (d, &n) in choices.iter().enumerate() {
            let n = n.max(1) as i64;
            shapes.push((format!("emb{d}"), vec![n, h]));
            shapes.push((format!("head{d}"), vec![h, n]));
        }
        let params: Vec<(String, Tensor)> = shapes
            .into_iter()
            .map(|(name, shape)| {
                let n: i64 = shape.iter().product();
                let v: Vec<f32> = (0..n).map(|_| rng.random_range(-0.1f32..0.1)).collect();
                let t = Tensor::from_slice(&v)
                    .reshape(&shape)
                    .set_requires_grad(true);
                (name, t)
            })
            .collect();
        let index = params
            .iter()
            .enumerate()
            .map(|(i, (n, _))| (n.clone(), i))
            .collect();
        let opt = Optimizer::new(
            Rule::Adam {
                b1: 0.9,
                b2: 0.999,
                eps: 1e-8,
                wd: 0.0,
                decoupled: false,
            },
            params
                .iter()
                .map(|(n, t)| (n.clone(), t.shallow_clone()))
                .collect(),
        );
        Controller {
            cfg,
            choices: choices.to_vec(),
            params,
            index,
            opt,
            baseline: None,
            updates: 0,
        }
    }

    fn p(&self, name: &str) -> &Tensor {
        &self.params[self.index[name]].1
    }

    /// The moving-average baseline (`None` before the first reward).
    pub fn baseline(&self) -> Option<f64> {
        self.baseline
    }

    /// One LSTM cell step.
    fn cell(&self, x: &Tensor, h: &Tensor, c: &Tensor) -> (Tensor, Tensor) {
        let gates = x.mm(self.p("lstm.w_ih")) + h.mm(self.p("lstm.w_hh")) + self.p("lstm.bias");
        let g = gates.chunk(4, 1);
        let (i, f, cand, o) = (g[0].sigmoid(), g[1].sigmoid(), g[2].tanh(), g[3].sigmoid());
        let c = f * c + i * cand;
        let h = o * c.tanh();
        (h, c)
    }

    /// Decision `d`'s log-probabilities from the hidden state, logits shaped as ENAS does.
    fn log_probs(&self, d: usize, h: &Tensor) -> Tensor {
        let mut logits = h.mm(self.p(&format!("head{d}")));
        if self.cfg.temperature > 0.0 {
            logits = logits.divide_scalar(self.cfg.temperature);
        }
        if self.cfg.tanh > 0.0 {
            logits = logits.tanh() * self.cfg.tanh;
        }
        logits.log_softmax(-1, Kind::Float)
    }

    /// Runs the controller over a batch, choosing each decision with `pick` (given the decision and
    /// its log-probabilities `[batch, options]`); returns the chosen genomes, their summed
    /// log-probabilities `[batch]` and summed entropies `[batch]`.
    fn unroll(
        &self,
        batch: usize,
        pick: &mut dyn FnMut(usize, &Tensor) -> Vec<usize>,
    ) -> (Vec<Vec<usize>>, Tensor, Tensor) {
        let b = batch as i64;
        let h0 = self.cfg.hidden as i64;
        let mut x = self.p("start").expand([b, h0], false);
        let mut h = Tensor::zeros([b, h0], (Kind::Float, tch::Device::Cpu));
        let mut c = h.zeros_like();
        let mut genomes = vec![Vec::with_capacity(self.choices.len()); batch];
        let mut logps = Vec::with_capacity(self.choices.len());
        let mut ents = Vec::with_capacity(self.choices.len());
        for d in 0..self.choices.len() {
            let (h1, c1) = self.cell(&x, &h, &c);
            h = h1;
            c = c1;
            let lp = self.log_probs(d, &h);
            let chosen = pick(d, &lp);
            for (g, &o) in genomes.iter_mut().zip(&chosen) {
                g.push(o);
            }
            let idx = Tensor::from_slice(&chosen.iter().map(|&o| o as i64).collect::<Vec<_>>());
            logps.push(lp.gather(1, &idx.unsqueeze(1), false).squeeze_dim(1));
            ents.push(-(lp.exp() * &lp).sum_dim_intlist(-1, false, Kind::Float));
            x = self.p(&format!("emb{d}")).index_select(0, &idx);
        }
        let total = |v: Vec<Tensor>| match v.is_empty() {
            true => Tensor::zeros([b], (Kind::Float, tch::Device::Cpu)),
            false => Tensor::stack(&v, 0).sum_dim_intlist(0, false, Kind::Float),
        };
        (genomes, total(logps), total(ents))
    }

    /// Samples `n` architectures (option indices per decision) with `rng`.
    pub fn sample(&self, n: usize, rng: &mut ChaCha8Rng) -> Vec<Vec<usize>> {
        tch::no_grad(|| {
            self.unroll(n, &mut |_, lp| {
                let probs: Vec<f32> = Vec::try_from(lp.exp().flatten(0, -1)).unwrap_or_default();
                let k = lp.size()[1] as usize;
                probs
                    .chunks(k.max(1))
                    .map(|row| {
                        let u: f32 = rng.random_range(0.0..1.0);
                        let mut acc = 0.0;
                        for (o, p) in row.iter().enumerate() {
                            acc += p;
                            if u < acc {
                                return o;
                            }
                        }
                        row.len().saturating_sub(1)
                    })
                    .collect()
            })
            .0
        })
    }

    /// The most likely option of every decision, each conditioned on the ones chosen before.
    pub fn greedy(&self) -> Vec<usize> {
        tch::no_grad(|| {
            self.unroll(1, &mut |_, lp| {
                vec![lp.argmax(-1, false).int64_value(&[0]) as usize]
            })
            .0
            .remove(0)
        })
    }

    /// Log-probabilities `[batch]` and entropies `[batch]` of given genomes (with gradients).
    pub fn evaluate(&self, genomes: &[Vec<usize>]) -> (Tensor, Tensor) {
        let (_, logp, ent) = self.unroll(genomes.len(), &mut |d, _| {
            genomes.iter().map(|g| g[d]).collect()
        });
        (logp, ent)
    }

    /// The probability that the controller samples `genome`.
    pub fn prob(&self, genome: &[usize]) -> f64 {
        tch::no_grad(|| {
            let (lp, _) = self.evaluate(&[genome.to_vec()]);
            lp.exp().double_value(&[0])
        })
    }

    /// One policy-gradient update from sampled genomes and their rewards. The baseline follows every
    /// reward in turn and the advantage of each is its reward minus the baseline after it (as ENAS
    /// does); REINFORCE takes one Adam step on `-(logp * advantage) - entropy * H`, PPO takes
    /// `ppo_epochs` steps on the clipped surrogate `-min(r A, clip(r, 1-e, 1+e) A) - entropy * H`
    /// with `r` the probability ratio to the sampling policy.
    pub fn update(&mut self, genomes: &[Vec<usize>], rewards: &[f64]) -> UpdateStats {
        let mut adv = Vec::with_capacity(rewards.len());
        for &r in rewards {
            let b = match self.baseline {
                None => r,
                Some(b) => self.cfg.baseline * b + (1.0 - self.cfg.baseline) * r,
            };
            self.baseline = Some(b);
            adv.push((r - b) as f32);
        }
        let adv = Tensor::from_slice(&adv);
        let passes = match self.cfg.algorithm {
            Algorithm::Reinforce => 1,
            Algorithm::Ppo => self.cfg.ppo_epochs.max(1),
        };
        let old = tch::no_grad(|| self.evaluate(genomes).0);
        let (mut loss_v, mut ent_v) = (0.0, 0.0);
        for _ in 0..passes {
            self.opt.zero_grad();
            let (logp, ent) = self.evaluate(genomes);
            let surrogate = match self.cfg.algorithm {
                Algorithm::Reinforce => &logp * &adv,
                Algorithm::Ppo => {
                    let ratio = (&logp - &old).exp();
                    let clipped = ratio.clamp(1.0 - self.cfg.clip, 1.0 + self.cfg.clip);
                    (&ratio * &adv).minimum(&(clipped * &adv))
                }
            };
            let ent_mean = ent.mean(Kind::Float);
            let loss = -surrogate.mean(Kind::Float) - &ent_mean * self.cfg.entropy;
            loss.backward();
            self.opt.step(self.cfg.lr, None);
            loss_v = loss.double_value(&[]);
            ent_v = ent_mean.double_value(&[]);
        }
        self.updates += 1;
        UpdateStats {
            reward: rewards.iter().sum::<f64>() / rewards.len().max(1) as f64,
            baseline: self.baseline.unwrap_or(f64::NAN),
            loss: loss_v,
            entropy: ent_v,
        }
    }

    /// Everything to checkpoint, by name: weights (`c:`), optimizer state (`co:`), the baseline and
    /// the update count.
    pub fn state(&self) -> Vec<(String, Tensor)> {
        let mut out: Vec<(String, Tensor)> = self
            .params
            .iter()
            .map(|(k, v)| (format!("c:{k}"), v.detach().copy()))
            .collect();
        out.extend(
            self.opt
                .state()
                .into_iter()
                .map(|(k, v)| (format!("co:{k}"), v.copy())),
        );
        out.push((
            "baseline".into(),
            Tensor::from(self.baseline.unwrap_or(f64::NAN)),
        ));
        out.push(("updates".into(), Tensor::from(self.updates as i64)));
        out
    }

    /// Restores what `state` saved; an error names a missing or misshapen weight.
    pub fn load_state(&mut self, saved: Vec<(String, Tensor)>) -> Result<(), String> {
        let mut weights: HashMap<String, Tensor> = HashMap::new();
        let mut opt = Vec::new();
        for (k, v) in saved {
            if let Some(w) = k.strip_prefix("c:") {
                weights.insert(w.to_string(), v);
            } else if let Some(o) = k.strip_prefix("co:") {
                opt.push((o.to_string(), v));
            } else if k == "baseline" {
                let b = v.double_value(&[]);
                self.baseline = (!b.is_nan()).then_some(b);
            } else if k == "updates" {
                self.updates = v.int64_value(&[]).max(0) as usize;
            }
        }
        tch::no_grad(|| {
            for (name, t) in &self.params {
                let src = weights
                    .get(name)
                    .ok_or_else(|| format!("the controller state has no `{name}`"))?;
                if src.size() != t.size() {
                    return Err(format!(
                        "controller weight `{name}` is {:?}, the space needs {:?}",
                        src.size(),
                        t.size()
                    ));
                }
                t.shallow_clone().copy_(src);
            }
            Ok(())
        })?;
        self.opt.load_state(opt);
        Ok(())
    }

    /// Writes the state to a safetensors file (atomically).
    pub fn save(&self, path: &Path) -> Result<(), ExecError> {
        let mut named = self.state();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        crate::atomic::write_with(path, |tmp| {
            Tensor::write_safetensors(&named, tmp).map_err(|e| std::io::Error::other(e.to_string()))
        })
        .map_err(|e| ExecError::io(path, e))
    }

    /// Reads a state `save` wrote.
    pub fn load(&mut self, path: &Path, stage: &str) -> Result<(), ExecError> {
        let saved = Tensor::read_safetensors(path).map_err(|e| ExecError::io(path, e))?;
        self.load_state(saved).map_err(|m| {
            ExecError::setting(
                stage,
                m,
                "the controller checkpoint belongs to another search; delete the stage's folder to redo it",
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Share of decisions equal to the target's.
    fn toy_reward(g: &[usize], target: &[usize]) -> f64 {
        g.iter().zip(target).filter(|(a, b)| a == b).count() as f64 / target.len() as f64
    }

    /// Updates (of 4 samples each) until the target's probability passes 0.9, at most `max`.
    fn learn(algorithm: Algorithm, max: usize) -> (usize, f64, f64) {
        let choices = [3, 4, 2, 3];
        let target = [2, 1, 0, 2];
        let cfg = ControllerConfig {
            hidden: 32,
            lr: 0.01,
            entropy: 1e-4,
            baseline: 0.9,
            tanh: 5.0,
            temperature: 1.0,
            algorithm,
            ..ControllerConfig::default()
        };
        let mut c = Controller::new(&choices, cfg, 11);
        let start = c.prob(&target);
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for u in 0..max {
            let genomes = c.sample(4, &mut rng);
            let rewards: Vec<f64> = genomes.iter().map(|g| toy_reward(g, &target)).collect();
            c.update(&genomes, &rewards);
            let p = c.prob(&target);
            if p > 0.9 {
                return (u + 1, start, p);
            }
        }
        (max, start, c.prob(&target))
    }

    #[test]
    fn reinforce_learns_the_rewarded_architecture() {
        let (updates, start, p) = learn(Algorithm::Reinforce, 200);
        eprintln!("reinforce: p {start:.4} -> {p:.4} in {updates} updates");
        assert!(start < 0.05, "starts near uniform: {start}");
        assert!(p > 0.9, "after {updates} updates p = {p}");
    }

    #[test]
    fn ppo_learns_the_rewarded_architecture() {
        let (updates, start, p) = learn(Algorithm::Ppo, 100);
        eprintln!("ppo: p {start:.4} -> {p:.4} in {updates} updates");
        assert!(start < 0.05, "starts near uniform: {start}");
        assert!(p > 0.9, "after {updates} updates p = {p}");
    }

    #[test]
    fn samples_are_reproducible_and_in_range() {
        let choices = [3, 1, 5];
        let c = Controller::new(&choices, ControllerConfig::default(), 3);
        let a = c.sample(20, &mut ChaCha8Rng::seed_from_u64(1));
        let b = c.sample(20, &mut ChaCha8Rng::seed_from_u64(1));
        assert_eq!(a, b);
        for g in &a {
            assert!(g.iter().zip(&choices).all(|(o, n)| o < n), "{g:?}");
        }
        // A near-uniform start reaches several options.
        let distinct: std::collections::BTreeSet<_> = a.iter().map(|g| g[2]).collect();
        assert!(distinct.len() >= 3, "{distinct:?}");
        assert_eq!(c.greedy().len(), 3);
    }

    #[test]
    fn the_state_round_trips() {
        let choices = [3, 2];
        let mut a = Controller::new(&choices, ControllerConfig::default(), 7);
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let g = a.sample(4, &mut rng);
        a.update(&g, &[0.1, 0.5, 0.2, 0.9]);
        let mut b = Controller::new(&choices, ControllerConfig::default(), 99);
        assert_ne!(a.prob(&[1, 1]), b.prob(&[1, 1]));
        b.load_state(a.state()).unwrap();
        assert_eq!(a.prob(&[1, 1]), b.prob(&[1, 1]));
        assert_eq!(a.baseline(), b.baseline());
        assert_eq!(b.updates, 1);
        // The same next update from both gives the same controller (the optimizer state came too).
        a.update(&g, &[1.0, 0.0, 0.0, 0.0]);
        b.update(&g, &[1.0, 0.0, 0.0, 0.0]);
        assert_eq!(a.prob(&[0, 1]), b.prob(&[0, 1]));
        let wrong = Controller::new(&[4, 2], ControllerConfig::default(), 7);
        assert!(b.load_state(wrong.state()).is_err());
    }
}
