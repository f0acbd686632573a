//! Optimizers (SGD with momentum/Nesterov, Adam, AdamW, RMSProp) and learning-rate schedules, written
//! over named tensors so that every buffer is saved in checkpoints and a resumed run continues exactly.
//! A step updates only the parameters marked active, as PyTorch skips parameters without a gradient:
//! in a supernet, weights off the sampled path keep their momentum untouched.

use std::collections::BTreeMap;

use tch::Tensor;

use crate::sema::hir::{Call, Value};

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
    Linear { to: f64 },
    Cosine { min: f64, warmup: f64 },
    Exponential { gamma: f64 },
    Step { every: f64, gamma: f64 },
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
        match *self {
            Schedule::Constant => lr,
            Schedule::Linear { to } => lr + (to - lr) * t,
            Schedule::Cosine { min, warmup } => {
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
            Schedule::Exponential { gamma } => lr * gamma.powf((t * epochs as f64).floor()),
            Schedule::Step { every, gamma } => lr * gamma.powf((t / every.max(1e-9)).floor()),
        }
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
    pub fn step(&mut self, lr: f64, active: Option<&dyn Fn(&str) -> bool>) {
        self.steps += 1;
        let t = self.steps as f64;
        let params: Vec<(String, Tensor)> = self
            .params
            .iter()
            .map(|(n, p)| (n.clone(), p.shallow_clone()))
            .collect();
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
                match self.rule {
                    Rule::Sgd {
                        momentum,
                        nesterov,
                        wd,
                    } => {
                        let mut d = if wd > 0.0 { &g + &p * wd } else { g };
                        if momentum > 0.0 {
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
                            d = if nesterov { d + buf * momentum } else { buf };
                        }
                        let _ = p.g_add_(&(d * -lr));
                    }
                    Rule::Adam {
                        b1,
                        b2,
                        eps,
                        wd,
                        decoupled,
                    } => {
                        let g = if wd > 0.0 && !decoupled {
                            &g + &p * wd
                        } else {
                            g
                        };
                        if wd > 0.0 && decoupled {
                            let _ = p.g_mul_scalar_(1.0 - lr * wd);
                        }
                        let m = self.buffer(name, "m", &p);
                        let v = self.buffer(name, "v", &p);
                        let _ = m
                            .shallow_clone()
                            .g_mul_scalar_(b1)
                            .g_add_(&(&g * (1.0 - b1)));
                        let _ = v
                            .shallow_clone()
                            .g_mul_scalar_(b2)
                            .g_add_(&(&g * &g * (1.0 - b2)));
                        let mhat = &m / (1.0 - b1.powf(t));
                        let vhat = &v / (1.0 - b2.powf(t));
                        let _ = p.g_add_(&(mhat / (vhat.sqrt() + eps) * -lr));
                    }
                    Rule::RmsProp {
                        alpha,
                        momentum,
                        wd,
                    } => {
                        let g = if wd > 0.0 { &g + &p * wd } else { g };
                        let sq = self.buffer(name, "sq", &p);
                        let _ = sq
                            .shallow_clone()
                            .g_mul_scalar_(alpha)
                            .g_add_(&(&g * &g * (1.0 - alpha)));
                        let d = &g / (sq.sqrt() + 1e-8);
                        if momentum > 0.0 {
                            let buf = self.buffer(name, "mom", &p);
                            let _ = buf.shallow_clone().g_mul_scalar_(momentum).g_add_(&d);
                            let _ = p.g_add_(&(buf * -lr));
                        } else {
                            let _ = p.g_add_(&(d * -lr));
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
