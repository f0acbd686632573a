//! Optimizers (SGD with momentum/Nesterov, Adam, AdamW, RMSProp) and learning-rate schedules, written
//! over named tensors so that every buffer is saved in checkpoints and a resumed run continues exactly.
//! A step updates only the parameters marked active, as PyTorch skips parameters without a gradient:
//! in a supernet, weights off the sampled path keep their momentum untouched.

use std::collections::BTreeMap;

use tch::Tensor;

pub use crate::sema::spec::{LrPlan, Rule};

/// The scalar factors of one step as 0-dim tensors of the parameters' kind and device, so that
/// `x + c·y` is one `addcmul` instead of a multiplication and an addition.
struct Factors {
    kind: tch::Kind,
    device: tch::Device,
    wd: Tensor,
    momentum: Tensor,
    neg_lr: Tensor,
}

impl Factors {
    fn new(rule: &Rule, lr: f64, like: &Tensor) -> Factors {
        let (kind, device) = (like.kind(), like.device());
        let scalar = |v: f64| Tensor::scalar_tensor(v, (kind, device));
        let (wd, momentum) = match *rule {
            Rule::Sgd { momentum, wd, .. } => (wd, momentum),
            Rule::Adam { wd, .. } => (wd, 0.0),
            Rule::RmsProp { momentum, wd, .. } => (wd, momentum),
        };
        Factors {
            kind,
            device,
            wd: scalar(wd),
            momentum: scalar(momentum),
            neg_lr: scalar(-lr),
        }
    }

    fn matches(&self, p: &Tensor) -> bool {
        p.kind() == self.kind && p.device() == self.device
    }
}

/// An optimizer over named parameters with its state (momentum, moments) as named tensors.
pub struct Optimizer {
    pub rule: Rule,
    params: Vec<(String, Tensor)>,
    state: BTreeMap<String, Tensor>,
    steps: i64,
}

impl Optimizer {
    /// Over `params` (trainable tensors, by name).
    pub fn new(rule: Rule, params: Vec<(String, Tensor)>) -> Optimizer {
        Optimizer {
            rule,
            params,
            state: BTreeMap::new(),
            steps: 0,
        }
    }

    pub fn zero_grad(&mut self) {
        for (_, p) in &mut self.params {
            p.zero_grad();
        }
    }

    /// Scales gradients so that their global L2 norm is at most `max`; returns the norm before.
    pub fn clip_grad_norm(&self, max: f64) -> f64 {
        let grads: Vec<Tensor> = self
            .params
            .iter()
            .map(|(_, p)| p.grad())
            .filter(|g| g.defined())
            .collect();
        if grads.is_empty() {
            return 0.0;
        }
        let norm = tch::no_grad(|| {
            let sq: Vec<Tensor> = grads
                .iter()
                .map(|g| g.pow_tensor_scalar(2).sum(None))
                .collect();
            Tensor::stack(&sq, 0).sum(None).sqrt().double_value(&[])
        });
        if norm > max && norm.is_finite() {
            let scale = max / (norm + 1e-6);
            tch::no_grad(|| {
                for g in &grads {
                    let _ = g.shallow_clone().g_mul_scalar_(scale);
                }
            });
        }
        norm
    }

    /// One update with rate `lr` of the parameters `active` says are in use (all when `None`).
    ///
    /// The formulas are PyTorch's single-tensor ones, with as few tensor operations per parameter:
    /// SGD with momentum, Nesterov and weight decay takes five (PyTorch's count), Adam eight.
    /// Scalar factors that multiply a tensor inside `addcmul` are 0-dim tensors made once per step.
    pub fn step(&mut self, lr: f64, active: Option<&dyn Fn(&str) -> bool>) {
        self.steps += 1;
        let t = self.steps as f64;
        let params: Vec<(String, Tensor)> = self
            .params
            .iter()
            .map(|(n, p)| (n.clone(), p.shallow_clone()))
            .collect();
        let mut factors: Option<Factors> = None;
        tch::no_grad(|| {
            for (name, p) in &params {
                if active.is_some_and(|f| !f(name)) {
                    continue;
                }
                let g = p.grad();
                if !g.defined() {
                    continue;
                }
                let mut p = p.shallow_clone();
                let name = name.as_str();
                if !factors.as_ref().is_some_and(|f| f.matches(&p)) {
                    factors = Some(Factors::new(&self.rule, lr, &p));
                }
                let f = factors.as_ref().expect("just made");
                match self.rule {
                    Rule::Sgd {
                        momentum,
                        nesterov,
                        wd,
                    } => {
                        // d = g + wd·p; buf = momentum·buf + d; d = d + momentum·buf (Nesterov)
                        // or buf; p = p - lr·d. `g` itself is never written.
                        let d = if wd > 0.0 { g.addcmul(&p, &f.wd) } else { g };
                        let d = if momentum > 0.0 {
                            let key = format!("{name}#momentum");
                            let buf = match self.state.get_mut(&key) {
                                Some(b) => {
                                    let _ = b.g_mul_scalar_(momentum).g_add_(&d);
                                    b.shallow_clone()
                                }
                                None => {
                                    let b = d.detach().copy();
                                    self.state.insert(key, b.shallow_clone());
                                    b
                                }
                            };
                            if nesterov {
                                d.addcmul(&buf, &f.momentum)
                            } else {
                                buf
                            }
                        } else {
                            d
                        };
                        let _ = p.addcmul_(&d, &f.neg_lr);
                    }
                    Rule::Adam {
                        b1,
                        b2,
                        eps,
                        wd,
                        decoupled,
                    } => {
                        let g = if wd > 0.0 && !decoupled {
                            g.addcmul(&p, &f.wd)
                        } else {
                            g
                        };
                        if wd > 0.0 && decoupled {
                            let _ = p.g_mul_scalar_(1.0 - lr * wd);
                        }
                        let mut m = self.buffer(name, "m", &p);
                        let mut v = self.buffer(name, "v", &p);
                        // m = b1·m + (1-b1)·g; v = b2·v + (1-b2)·g²;
                        // p = p - lr/(1-b1^t) · m / (sqrt(v)/sqrt(1-b2^t) + eps).
                        let _ = m.lerp_(&g, 1.0 - b1);
                        let _ = v.g_mul_scalar_(b2).addcmul_(&g, &(&g * (1.0 - b2)));
                        let denom = v
                            .sqrt()
                            .g_div_scalar_((1.0 - b2.powf(t)).sqrt())
                            .g_add_scalar_(eps);
                        let _ = p.addcdiv_(&(&m * (-lr / (1.0 - b1.powf(t)))), &denom);
                    }
                    Rule::RmsProp {
                        alpha,
                        momentum,
                        wd,
                    } => {
                        let g = if wd > 0.0 { g.addcmul(&p, &f.wd) } else { g };
                        let mut sq = self.buffer(name, "sq", &p);
                        let _ = sq.g_mul_scalar_(alpha).addcmul_(&g, &(&g * (1.0 - alpha)));
                        let d = &g / (sq.sqrt().g_add_scalar_(1e-8));
                        if momentum > 0.0 {
                            let mut buf = self.buffer(name, "mom", &p);
                            let _ = buf.g_mul_scalar_(momentum).g_add_(&d);
                            let _ = p.addcmul_(&buf, &f.neg_lr);
                        } else {
                            let _ = p.addcmul_(&d, &f.neg_lr);
                        }
                    }
                }
            }
        });
    }

    fn buffer(&mut self, name: &str, what: &str, like: &Tensor) -> Tensor {
        self.state
            .entry(format!("{name}#{what}"))
            .or_insert_with(|| like.zeros_like())
            .shallow_clone()
    }

    /// The state to checkpoint: every buffer by name, plus the step count.
    pub fn state(&self) -> Vec<(String, Tensor)> {
        let mut out: Vec<(String, Tensor)> = self
            .state
            .iter()
            .map(|(k, v)| (k.clone(), v.shallow_clone()))
            .collect();
        out.push(("#steps".into(), Tensor::from(self.steps)));
        out
    }

    /// Restores what `state` saved.
    pub fn load_state(&mut self, saved: Vec<(String, Tensor)>) {
        self.state.clear();
        for (k, v) in saved {
            if k == "#steps" {
                self.steps = v.int64_value(&[]);
            } else {
                let device = self.params.first().map(|p| p.1.device());
                let v = match device {
                    Some(d) => v.to_device(d),
                    None => v,
                };
                self.state.insert(k, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Kind;

    #[test]
    fn cosine_goes_from_lr_to_min() {
        let s = LrPlan::Cosine {
            min: 0.0,
            warmup: 0.0,
        };
        assert!((s.lr(0.1, 0.0, 10) - 0.1).abs() < 1e-12);
        assert!((s.lr(0.1, 0.5, 10) - 0.05).abs() < 1e-12);
        assert!(s.lr(0.1, 1.0, 10).abs() < 1e-12);
        let l = LrPlan::Linear { to: 0.0 };
        assert!((l.lr(0.5, 0.25, 4) - 0.375).abs() < 1e-12);
        let st = LrPlan::Step {
            every: 0.5,
            gamma: 0.1,
        };
        assert!((st.lr(1.0, 0.6, 10) - 0.1).abs() < 1e-12);
        let w = LrPlan::WarmedUp {
            warmup: 0.2,
            then: Box::new(LrPlan::Constant),
        };
        assert!((w.lr(0.1, 0.1, 10) - 0.05).abs() < 1e-12);
        assert!((w.lr(0.1, 0.2, 10) - 0.1).abs() < 1e-12);
        assert!((w.lr(0.1, 0.9, 10) - 0.1).abs() < 1e-12);
        let sched = LrPlan::Scheduled(crate::sema::hir::Schedule {
            from: 0.1,
            to: 0.01,
            shape: "linear".into(),
        });
        assert!((sched.lr(0.5, 0.5, 10) - 0.055).abs() < 1e-12);
    }

    /// SGD with momentum and Nesterov matches PyTorch's update rule written out by hand.
    #[test]
    fn sgd_matches_the_reference_update() {
        let p = Tensor::from_slice(&[1.0f32, -2.0]).set_requires_grad(true);
        let mut opt = Optimizer::new(
            Rule::Sgd {
                momentum: 0.9,
                nesterov: true,
                wd: 0.1,
            },
            vec![("p".into(), p.shallow_clone())],
        );
        // loss = sum(p^2): grad = 2p.
        let (mut w, mut buf) = ([1.0f64, -2.0], [0.0f64, 0.0]);
        for step in 0..3 {
            opt.zero_grad();
            (&p * &p).sum(Kind::Float).backward();
            opt.step(0.1, None);
            for i in 0..2 {
                let d = 2.0 * w[i] + 0.1 * w[i];
                buf[i] = if step == 0 { d } else { 0.9 * buf[i] + d };
                w[i] -= 0.1 * (d + 0.9 * buf[i]);
            }
        }
        let got: Vec<f64> = Vec::<f64>::try_from(p.to_kind(Kind::Double)).unwrap();
        for i in 0..2 {
            assert!((got[i] - w[i]).abs() < 1e-5, "{got:?} vs {w:?}");
        }
    }

    /// Adam (L2 weight decay) and AdamW (decoupled) match PyTorch's update rules written out by hand.
    #[test]
    fn adam_matches_the_reference_update() {
        for decoupled in [false, true] {
            let p = Tensor::from_slice(&[1.0f32, -2.0]).set_requires_grad(true);
            let (lr, b1, b2, eps, wd) = (0.1, 0.9, 0.99, 1e-8, 0.1);
            let mut opt = Optimizer::new(
                Rule::Adam {
                    b1,
                    b2,
                    eps,
                    wd,
                    decoupled,
                },
                vec![("p".into(), p.shallow_clone())],
            );
            let (mut w, mut m, mut v) = ([1.0f64, -2.0], [0.0f64; 2], [0.0f64; 2]);
            for step in 1..=3 {
                opt.zero_grad();
                (&p * &p).sum(Kind::Float).backward();
                opt.step(lr, None);
                for i in 0..2 {
                    let mut g = 2.0 * w[i];
                    if decoupled {
                        w[i] *= 1.0 - lr * wd;
                    } else {
                        g += wd * w[i];
                    }
                    m[i] = b1 * m[i] + (1.0 - b1) * g;
                    v[i] = b2 * v[i] + (1.0 - b2) * g * g;
                    let (c1, c2) = (1.0 - b1.powi(step), 1.0 - b2.powi(step));
                    w[i] -= lr / c1 * m[i] / ((v[i] / c2).sqrt() + eps);
                }
            }
            let got: Vec<f64> = Vec::<f64>::try_from(p.to_kind(Kind::Double)).unwrap();
            for i in 0..2 {
                assert!(
                    (got[i] - w[i]).abs() < 1e-5,
                    "decoupled {decoupled}: {got:?} vs {w:?}"
                );
            }
        }
    }

    /// Inactive parameters are not touched, not even by weight decay or momentum.
    #[test]
    fn inactive_parameters_stay() {
        let a = Tensor::from_slice(&[1.0f32]).set_requires_grad(true);
        let b = Tensor::from_slice(&[1.0f32]).set_requires_grad(true);
        let mut opt = Optimizer::new(
            Rule::Sgd {
                momentum: 0.9,
                nesterov: false,
                wd: 0.5,
            },
            vec![
                ("a".into(), a.shallow_clone()),
                ("b".into(), b.shallow_clone()),
            ],
        );
        (&a + &b).sum(Kind::Float).backward();
        opt.step(0.1, Some(&|n: &str| n == "a"));
        assert!((b.double_value(&[0]) - 1.0).abs() < 1e-12);
        assert!((a.double_value(&[0]) - (1.0 - 0.1 * 1.5)).abs() < 1e-6);
    }
}
