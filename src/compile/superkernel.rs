//! Single-Path NAS superkernels (Stamoulis et al. 2019): the norm-threshold indicators that make the
//! kernel and expansion decisions of the superkernel layers (which layers: `ir::superkernel`), and the
//! supernet forward through the masked superkernels.
//!
//! Per layer the depthwise kernel is the largest one (K x K over the largest expansion's hidden
//! channels). With kernel options k_0 < k_1 < ..., the used kernel is the centre k_0 x k_0 part plus,
//! ring by ring, `1(||ring_i|| > t_i) * ring_i` (each ring only if the one inside it is kept); with
//! expansion options e_0 < e_1 < ..., the first `cin * e_0` hidden channels always run and the next
//! group `[cin e_{j-1}, cin e_j)` runs when `1(||group_j|| > t_j)` holds (each group only if the one
//! before it is kept), the group norms taken on the kernel the kernel decision left. The indicator is
//! exact in the forward pass and has the gradient of a sigmoid (the reference code's
//! `stop_gradient(1(x >= 0) - sigmoid(x)) + sigmoid(x)`), so the thresholds and the weights both learn
//! from the loss. The expansion groups are masked on the hidden activations after the depthwise
//! convolution's batch norm and activation, so that at the indicators' values the forward equals the
//! chosen sub-network's exactly (masking only the depthwise kernel, as the reference does, would let
//! the batch norm's shift through the dropped channels). A layer written `choose [mbconv(..), skip]`
//! can be dropped as a whole, as the paper's smallest expansion can: `1(||group_0|| > t_drop)` (the
//! first expansion group, on the kernel left) multiplies the block's branch before its residual add,
//! so at 0 the layer is the identity that `skip` stands for.

use std::collections::HashMap;

use tch::{Kind, Tensor};

use super::{Block, RunOpts, Supernet, act, channel_shuffle, run};
use crate::ir::IrError;
use crate::ir::ops::mbconv_residual;

use crate::ir::superkernel::refuse;
pub use crate::ir::superkernel::{SkLayer, SkPlan, plan};

/// Single-Path NAS' indicator `1(x >= 0)` in the forward pass with the gradient of `sigmoid(x)`, or
/// the sigmoid itself (`hard == false`).
pub fn indicator(x: &Tensor, hard: bool) -> Tensor {
    let s = x.sigmoid();
    if hard {
        x.ge(0.0).to_kind(x.kind()) - s.detach() + s
    } else {
        s
    }
}

/// A `size` x `size` mask of ones in the centre `k` x `k`.
fn centre(size: i64, k: i64, like: &Tensor) -> Tensor {
    let off = (size - k) / 2;
    let m = Tensor::zeros([size, size], (like.kind(), like.device()));
    let _ = m
        .narrow(0, off, k)
        .narrow(1, off, k)
        .shallow_clone()
        .fill_(1.0);
    m
}

/// What a layer's forward uses: the masked depthwise kernel, the hidden-channel mask (with a searched
/// expansion), and per decision the option probabilities (one-hot values in the forward pass with the
/// indicators' gradients).
pub struct Gates {
    pub dw: Tensor,
    pub channels: Option<Tensor>,
    pub kernel_p: Option<Tensor>,
    pub expand_p: Option<Tensor>,
    /// A droppable layer's keep gate (1: the block runs, 0: the identity), a scalar.
    pub keep: Option<Tensor>,
    /// A droppable layer's decision probabilities (the block's option `keep`, `skip`'s `1 - keep`).
    pub drop_p: Option<Tensor>,
}

/// The chain of nested indicators over parts with norms `norms` and thresholds `t` (one per part
/// beyond the first): the gate of each part (1 for the first) and the probability of each option.
fn nested(norms: &[Tensor], t: &Tensor, hard: bool, like: &Tensor) -> (Vec<Tensor>, Tensor) {
    let one = Tensor::ones([], (Kind::Float, like.device()));
    let mut gates = vec![one.shallow_clone()];
    let mut probs = vec![];
    let mut g = one;
    for (i, norm) in norms.iter().enumerate() {
        let d = indicator(&(norm - t.get(i as i64)), hard);
        probs.push(&g * (1.0 - &d));
        g = &g * d;
        gates.push(g.shallow_clone());
    }
    probs.push(g);
    (gates, Tensor::stack(&probs, 0))
}

/// The gates of one layer from its depthwise superkernel `w` ([H, 1, K, K]) and the thresholds per
/// decision (`thresholds[d]`: one per option beyond the first).
pub fn gates(layer: &SkLayer, w: &Tensor, thresholds: &[Tensor], hard: bool) -> Gates {
    let size = w.size()[2];
    let (dw, kernel_p) = match &layer.kernel {
        Some((d, ks)) => {
            let masks: Vec<Tensor> = ks.iter().map(|&k| centre(size, k as i64, w)).collect();
            let rings: Vec<Tensor> = masks.windows(2).map(|m| &m[1] - &m[0]).collect();
            let norms: Vec<Tensor> = rings.iter().map(|r| (w * r).norm()).collect();
            let (g, p) = nested(&norms, &thresholds[*d], hard, w);
            let mut m = masks[0].shallow_clone();
            for (ring, gate) in rings.iter().zip(&g[1..]) {
                // Not `+=`: `m` starts as a shallow clone of the first mask.
                #[allow(clippy::assign_op_pattern)]
                {
                    m = m + ring * gate;
                }
            }
            (w * m, Some(p))
        }
        None => (w.shallow_clone(), None),
    };
    let (channels, expand_p) = match &layer.expand {
        Some((d, es)) => {
            let bounds: Vec<i64> = es.iter().map(|&e| (layer.cin * e) as i64).collect();
            let norms: Vec<Tensor> = bounds
                .windows(2)
                .map(|b| dw.narrow(0, b[0], b[1] - b[0]).norm())
                .collect();
            let (g, p) = nested(&norms, &thresholds[*d], hard, w);
            let mut parts = vec![];
            let mut from = 0;
            for (b, gate) in bounds.iter().zip(&g) {
                parts.push(gate.reshape([1]).expand([b - from], false));
                from = *b;
            }
            let mask = Tensor::cat(&parts, 0).reshape([1, -1, 1, 1]);
            (Some(mask), Some(p))
        }
        None => (None, None),
    };
    // The layer drop: the smallest expansion's group (all hidden channels without an expansion
    // decision), on the kernel the kernel decision left, against the drop decision's threshold.
    let (keep, drop_p) = match layer.drop {
        Some((d, skip)) => {
            let first = layer
                .expand
                .as_ref()
                .map_or(dw.size()[0], |(_, es)| (layer.cin * es[0]) as i64);
            let norm = dw.narrow(0, 0, first).norm();
            let keep = indicator(&(norm - thresholds[d].get(0)), hard);
            let gone = 1.0 - &keep;
            let p = if skip == 0 {
                Tensor::stack(&[gone, keep.shallow_clone()], 0)
            } else {
                Tensor::stack(&[keep.shallow_clone(), gone], 0)
            };
            (Some(keep), Some(p))
        }
        None => (None, None),
    };
    Gates {
        dw,
        channels,
        kernel_p,
        expand_p,
        keep,
        drop_p,
    }
}

/// Per decision, the option probabilities of every layer's gates (`plan`'s decisions; a decision no
/// layer has gets an empty vector).
pub fn decision_probs(plan: &SkPlan, gates: &[Gates], decisions: usize) -> Vec<Tensor> {
    let mut out: Vec<Tensor> = (0..decisions).map(|_| Tensor::new()).collect();
    for (l, g) in plan.layers.iter().zip(gates) {
        if let (Some((d, _)), Some(p)) = (&l.kernel, &g.kernel_p) {
            out[*d] = p.shallow_clone();
        }
        if let (Some((d, _)), Some(p)) = (&l.expand, &g.expand_p) {
            out[*d] = p.shallow_clone();
        }
        if let (Some((d, _)), Some(p)) = (&l.drop, &g.drop_p) {
            out[*d] = p.shallow_clone();
        }
    }
    out
}

impl Supernet {
    /// The depthwise superkernel of each of `plan`'s layers (shared with the supernet's weights).
    pub fn superkernels(&self, plan: &SkPlan) -> Result<Vec<Tensor>, IrError> {
        plan.layers
            .iter()
            .map(|l| {
                self.blocks
                    .get(&l.path)
                    .and_then(|b| b.convs.iter().find(|(n, _)| *n == "dw"))
                    .map(|(_, c)| c.w.shallow_clone())
                    .ok_or_else(|| {
                        refuse(
                            &l.path,
                            format!("the supernet has no depthwise kernel at `{}`", l.path),
                            "",
                        )
                    })
            })
            .collect()
    }

    /// The superkernel forward: the largest network with every searched layer's kernel and channels
    /// gated by its indicators under `thresholds` (per decision). Returns the logits and, per
    /// decision, the option probabilities (one-hot in value, with the indicators' gradients).
    pub fn forward_superkernel(
        &self,
        x: &Tensor,
        plan: &SkPlan,
        thresholds: &[Tensor],
        train: bool,
    ) -> Result<(Tensor, Vec<Tensor>), IrError> {
        let choices: Vec<Option<usize>> = plan.largest.iter().map(|&i| Some(i)).collect();
        let (net, _) = self.space.net_from_choices(&choices)?;
        let ws = self.superkernels(plan)?;
        let gates: Vec<Gates> = plan
            .layers
            .iter()
            .zip(&ws)
            .map(|(l, w)| gates(l, w, thresholds, true))
            .collect();
        let probs = decision_probs(plan, &gates, self.space.decisions.len());
        let by_path: HashMap<String, Gates> = plan
            .layers
            .iter()
            .map(|l| l.path.clone())
            .zip(gates)
            .collect();
        let opts = RunOpts {
            dropout: self.dropout,
            gates: Some(&by_path),
            ..RunOpts::default()
        };
        Ok((run(&net, &self.blocks, x, train, &opts).0, probs))
    }
}

impl Block {
    /// An MBConv through its gated superkernel: the full expansion, the masked depthwise kernel at
    /// the largest size, the hidden channels masked after the depthwise batch norm and activation.
    pub(super) fn forward_superkernel(&self, x: &Tensor, g: &Gates, train: bool) -> Tensor {
        let op = &self.op;
        let mut h = x.shallow_clone();
        if op.expand != 1 {
            h = self.c("expand").fwd(&h);
            h = act(&self.b("bn_expand").fwd(&h, train), op.act);
            if op.groups > 1 {
                h = channel_shuffle(&h, op.groups as i64);
            }
        }
        let dw = self.c("dw");
        let size = g.dw.size();
        h = h.conv2d(
            &g.dw,
            None::<Tensor>,
            [dw.stride; 2],
            [size[2] / 2; 2],
            [1, 1],
            size[0],
        );
        h = act(&self.b("bn_dw").fwd(&h, train), op.act);
        // Not `*=` below: in place would overwrite `h`, which autograd needs.
        if let Some(m) = &g.channels {
            #[allow(clippy::assign_op_pattern)]
            {
                h = h * m;
            }
        }
        if op.se {
            // Only with a fixed expansion (`plan` refuses SE under an elastic one): full width.
            let s = h.mean_dim([2i64, 3].as_slice(), true, h.kind());
            let s = self.c("se_reduce").fwd(&s).relu();
            let s = self.c("se_expand").fwd(&s).hardsigmoid();
            #[allow(clippy::assign_op_pattern)]
            {
                h = h * s;
            }
        }
        let out = self.b("bn_project").fwd(&self.c("project").fwd(&h), train);
        match (&g.keep, mbconv_residual(op, self.cin)) {
            // A dropped layer leaves its input (`plan` allows a drop only with the residual).
            (Some(keep), true) => out * keep + x,
            (None, true) => out + x,
            _ => out,
        }
    }
}
