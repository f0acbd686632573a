//! Optimizers (SGD with momentum/Nesterov, Adam, AdamW, RMSProp) and learning-rate schedules, written
//! over named tensors so that every buffer is saved in checkpoints and a resumed run continues exactly.
//! A step updates only the parameters marked active, as PyTorch skips parameters without a gradient:
//! in a supernet, weights off the sampled path keep their momentum untouched.

use std::collections::BTreeMap;

use tch::Tensor;

use crate::sema::hir::{Call, Stage, StageKind, Value};

/// The update rule and its hyperparameters.
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    Sgd {
        momentum: f64,
        nesterov: bool,
        wd: f64,
    },
    Adam {
        b1: f64,
        b2: f64,
        eps: f64,
        wd: f64,
        decoupled: bool,
    },
    RmsProp {
        alpha: f64,
        momentum: f64,
        wd: f64,
    },
}

/// A learning-rate schedule over training progress `t` in [0, 1] (epoch + fraction / epochs).
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    Constant,
    Linear {
        to: f64,
    },
    Cosine {
        min: f64,
        warmup: f64,
    },
    Exponential {
        gamma: f64,
    },
    Step {
        every: f64,
        gamma: f64,
    },
    /// The learning rate itself is a schedule (`lr: 0.1 -> 0.001 cosine`): the base rate is ignored.
    Scheduled(crate::sema::hir::Schedule),
    /// `warmup N`: the rate of `then` ramps up linearly over the first `warmup` of training (a
    /// fraction of it), from 1/1000 of its value.
    WarmedUp {
        warmup: f64,
        then: Box<Schedule>,
    },
}

fn num(call: &Call, key: &str, default: f64) -> f64 {
    call.get(key).and_then(Value::as_f64).unwrap_or(default)
}

impl Rule {
    /// From an `optimizer` setting (`sgd(lr: 0.1, momentum: 0.9, ...)`); returns the rule and base lr.
    pub fn from_call(call: &Call) -> (Rule, f64) {
        let lr = num(call, "lr", 0.1);
        let betas = match call.get("betas") {
            Some(Value::Tuple(v)) if v.len() == 2 => {
                (v[0].as_f64().unwrap_or(0.9), v[1].as_f64().unwrap_or(0.999))
            }
            _ => (0.9, 0.999),
        };
        let rule = match call.name.as_str() {
            "adam" | "adamw" => Rule::Adam {
                b1: betas.0,
                b2: betas.1,
                eps: num(call, "eps", 1e-8),
                wd: num(call, "wd", if call.name == "adamw" { 0.01 } else { 0.0 }),
                decoupled: call.name == "adamw",
            },
            "rmsprop" => Rule::RmsProp {
                alpha: num(call, "alpha", 0.99),
                momentum: num(call, "momentum", 0.0),
                wd: num(call, "wd", 0.0),
            },
            _ => Rule::Sgd {
                momentum: num(call, "momentum", 0.0),
                nesterov: matches!(call.get("nesterov"), Some(Value::Bool(true))),
                wd: num(call, "wd", 0.0),
            },
        };
        (rule, lr)
    }
}

impl Schedule {
    /// From a `schedule` setting; `None` is a constant rate.
    pub fn from_call(call: Option<&Call>, epochs: usize) -> Schedule {
        let Some(call) = call else {
            return Schedule::Constant;
        };
        let epochs = epochs.max(1) as f64;
        match call.name.as_str() {
            "linear" => Schedule::Linear {
                to: num(call, "to", 0.0),
            },
            "cosine" => Schedule::Cosine {
                min: num(call, "min", 0.0),
                warmup: num(call, "warmup", 0.0) / epochs,
            },
            "exponential" => Schedule::Exponential {
                gamma: num(call, "gamma", 0.97),
            },
            "step" => Schedule::Step {
                every: num(call, "every", epochs) / epochs,
                gamma: num(call, "gamma", 0.1),
            },
            _ => Schedule::Constant,
        }
    }

    /// The rate at progress `t` (0 at the start, 1 at the end) for a base rate `lr` over `epochs`.
    pub fn lr(&self, lr: f64, t: f64, epochs: usize) -> f64 {
        let t = t.clamp(0.0, 1.0);
        match self {
            Schedule::Constant => lr,
            &Schedule::Linear { to } => lr + (to - lr) * t,
            &Schedule::Cosine { min, warmup } => {
                if warmup > 0.0 && t < warmup {
                    return lr * (t / warmup).max(1e-3);
                }
                let u = if warmup > 0.0 {
                    (t - warmup) / (1.0 - warmup)
                } else {
                    t
                };
                min + 0.5 * (lr - min) * (1.0 + (std::f64::consts::PI * u).cos())
            }
            &Schedule::Exponential { gamma } => lr * gamma.powf((t * epochs as f64).floor()),
            &Schedule::Step { every, gamma } => lr * gamma.powf((t / every.max(1e-9)).floor()),
            Schedule::Scheduled(s) => s.at(t),
            Schedule::WarmedUp { warmup, then } => {
                then.lr(lr, t, epochs) * (t / warmup.max(1e-12)).clamp(1e-3, 1.0)
            }
        }
    }
}

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

/// The optimizer rule, base learning rate and learning-rate schedule of a training stage's optimizer
/// setting `key` (`optimizer`, `weights`, `arch`): default `sgd(lr: 0.05)`; a learning rate written as a
/// schedule is the schedule; `warmup` ramps it up (except in differentiable search).
pub fn optimizer_of(stage: &Stage, key: &str, epochs: usize) -> (Rule, f64, Schedule) {
    let default = Call {
        name: "sgd".into(),
        args: [("lr".to_string(), Value::Float(0.05))].into(),
    };
    let opt = super::call(stage, key).unwrap_or(&default);
    let (rule, lr) = Rule::from_call(opt);
    // A learning rate written as a schedule (`lr: 0.1 -> 0.001 cosine`) is its own schedule; sema
    // refuses a `schedule` setting beside it.
    let schedule = match opt.get("lr") {
        Some(Value::Schedule(s)) => Schedule::Scheduled(s.clone()),
        _ => Schedule::from_call(super::call(stage, "schedule"), epochs),
    };
    // Differentiable search reads `warmup` as weight-only epochs before architecture updates; every
    // other training warms its learning rate up.
    let warmup = match stage.kind {
        StageKind::Differentiable => 0,
        _ => super::int(stage, "warmup").unwrap_or(0).max(0),
    };
    if warmup > 0 && epochs > 0 {
        let schedule = Schedule::WarmedUp {
            warmup: warmup as f64 / epochs as f64,
            then: Box::new(schedule),
        };
        return (rule, lr, schedule);
    }
    (rule, lr, schedule)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Kind;

    #[test]
    fn cosine_goes_from_lr_to_min() {
        let s = Schedule::Cosine {
            min: 0.0,
            warmup: 0.0,
        };
        assert!((s.lr(0.1, 0.0, 10) - 0.1).abs() < 1e-12);
        assert!((s.lr(0.1, 0.5, 10) - 0.05).abs() < 1e-12);
        assert!(s.lr(0.1, 1.0, 10).abs() < 1e-12);
        let l = Schedule::Linear { to: 0.0 };
        assert!((l.lr(0.5, 0.25, 4) - 0.375).abs() < 1e-12);
        let st = Schedule::Step {
            every: 0.5,
            gamma: 0.1,
        };
        assert!((st.lr(1.0, 0.6, 10) - 0.1).abs() < 1e-12);
        let w = Schedule::WarmedUp {
            warmup: 0.2,
            then: Box::new(Schedule::Constant),
        };
        assert!((w.lr(0.1, 0.1, 10) - 0.05).abs() < 1e-12);
        assert!((w.lr(0.1, 0.2, 10) - 0.1).abs() < 1e-12);
        assert!((w.lr(0.1, 0.9, 10) - 0.1).abs() < 1e-12);
        let sched = Schedule::Scheduled(crate::sema::hir::Schedule {
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
