//! FBNetV2's masked forward (DMaskingNAS, Wan et al. 2020) over the plan of `ir::masked`: one network
//! at the widest option of every channel decision, each masked node's output multiplied by the
//! Gumbel-softmax-weighted sum of its channel masks (mask k: ones on the first `width_k` channels,
//! zeros after), MBConvs' hidden channels likewise by the masks of their input width times the
//! expansion; layer choices are mixed as `relax gumbel` mixes them (`Supernet::forward_mix`'s weights).
//!
//! Resolution: per resolution option the same (masked, shared-weight) network runs on the input
//! resized to that option, and the option's pooled features enter the output weighted by its Gumbel
//! weight — summed as logits, which is the same thing since the classifier after the global pooling
//! is affine and the weights sum to one. This is the paper's "subsample, then zero-pad in between"
//! with the subsampling kept (every convolution sees the option's own pixels, so receptive fields are
//! the option's network's): where the paper sums the zero-padded maps, the sum here is taken after the
//! global pooling of each option's own pixels, and the subsampling is the resize the derived network
//! applies to its images (bilinear) rather than nearest-neighbour (a zero-padded sum before the
//! global average pooling would also scale each option by its area, which no derived network does).
//! Memory and time grow with the number of resolution options (each at its own, smaller, cost; bench
//! row `masked resolutions`), not with the number of channel options.
//!
//! The masked search trains the widest blocks only; `Supernet::bake_masked` then copies their leading
//! channels into the supernet's blocks of every narrower width, so that extracting any architecture
//! (scoring, `derive`) gives exactly the network the masks stood for.

use std::collections::{BTreeMap, HashMap};

use tch::{Kind, Tensor};

use super::mix::Mix;
use super::{Block, RunOpts, Supernet, act, run};
use crate::catalog::OpKind;
use crate::ir::graph::DecisionKind;
use crate::ir::ops::mbconv_residual;
use crate::ir::{IrError, SearchSpace};

pub use crate::ir::masked::{MaskedNode, MaskedPlan, Masking, plan};

/// The masks of one node: output channels and (MBConv) hidden channels, each `[1, C, 1, 1]`.
pub struct NodeMasks {
    pub out: Option<Tensor>,
    pub hidden: Option<Tensor>,
}

/// The weighted sum of `m`'s channel masks over `channels` channels under per-option weights `w`.
pub fn channel_mask(m: &Masking, w: &Tensor, channels: usize) -> Tensor {
    let rows: Vec<f32> = m
        .widths
        .iter()
        .flat_map(|&k| (0..channels).map(move |j| if j < k { 1.0 } else { 0.0 }))
        .collect();
    let masks = Tensor::from_slice(&rows)
        .to_device(w.device())
        .reshape([m.widths.len() as i64, channels as i64]);
    w.to_kind(Kind::Float)
        .reshape([1, -1])
        .matmul(&masks)
        .reshape([1, -1, 1, 1])
}

/// Per decision, the weight of every option under `mix`: its weights where it has them, else one-hot
/// on its single listed option (an unweighted pick, e.g. `Mix::from_choices`). `None` for a decision
/// the mix leaves unchosen.
pub fn option_weights(
    space: &SearchSpace,
    mix: &Mix,
    device: tch::Device,
) -> Result<Vec<Option<Tensor>>, IrError> {
    let weights = mix.scalar_weights(space, device)?;
    let picks = mix.options();
    Ok(space
        .decisions
        .iter()
        .enumerate()
        .map(|(d, dec)| {
            let listed = picks.get(d).cloned().unwrap_or_default();
            if listed.is_empty() {
                return None;
            }
            let parts: Vec<Tensor> = (0..dec.labels.len())
                .map(|o| match weights.get(&(d, o)) {
                    Some(w) => w.to_kind(Kind::Float).reshape([1]),
                    None if listed.contains(&o) && listed.len() == 1 => {
                        Tensor::ones([1], (Kind::Float, device))
                    }
                    None => Tensor::zeros([1], (Kind::Float, device)),
                })
                .collect();
            Some(Tensor::cat(&parts, 0))
        })
        .collect())
}

impl Supernet {
    /// The masked forward (module doc) under `mix`: Gumbel weights (or single picks) for every
    /// decision; layer decisions may list several candidates, channel and resolution decisions give
    /// a weight per option (or one unweighted option). At one-hot weights the output is exactly that
    /// architecture's network's with the widest blocks' leading channels.
    pub fn forward_masked(
        &self,
        x: &Tensor,
        plan: &MaskedPlan,
        mix: &Mix,
        train: bool,
    ) -> Result<Tensor, IrError> {
        let w = option_weights(&self.space, mix, x.device())?;
        let missing = |d: usize| IrError::MissingDecision {
            name: self.space.decisions[d].path.clone(),
            help: "a masked forward weighs every channel and resolution option".into(),
        };
        let mut masks: HashMap<String, NodeMasks> = HashMap::new();
        let (widest, _) = self
            .space
            .net_from_mix(&plan.options(plan.largest_resolution()))?;
        let widths: HashMap<&str, (usize, usize)> = widest
            .ops()
            .map(|(n, op, input)| {
                let hidden = if op.kind == OpKind::MbConv {
                    op.hidden(input.channels())
                } else {
                    0
                };
                (n.path.as_str(), (n.shape.channels(), hidden))
            })
            .collect();
        for node in &plan.nodes {
            let (c, h) = widths.get(node.path.as_str()).copied().unwrap_or((0, 0));
            let mask = |m: &Option<Masking>, size: usize| -> Result<Option<Tensor>, IrError> {
                match m {
                    Some(m) => {
                        let wd = w[m.decision].as_ref().ok_or_else(|| missing(m.decision))?;
                        Ok(Some(channel_mask(m, wd, size)))
                    }
                    None => Ok(None),
                }
            };
            masks.insert(
                node.path.clone(),
                NodeMasks {
                    out: mask(&node.out, c)?,
                    hidden: mask(&node.hidden, h)?,
                },
            );
        }
        let mut options = mix.options();
        options.resize(self.space.decisions.len(), vec![]);
        for (d, dec) in self.space.decisions.iter().enumerate() {
            if dec.kind == DecisionKind::Channels {
                options[d] = vec![plan.largest[d]];
            }
        }
        let weights = mix.scalar_weights(&self.space, x.device())?;
        let opts = RunOpts {
            weights: Some(&weights),
            dropout: self.dropout,
            masks: Some(&masks),
            ..RunOpts::default()
        };
        // The resolutions to run: each listed option with its weight; an unweighted single option alone.
        let runs: Vec<(usize, Option<Tensor>)> = match &plan.resolution {
            None => vec![(0, None)],
            Some((d, _)) => {
                let listed = options[*d].clone();
                match listed.as_slice() {
                    [] => return Err(missing(*d)),
                    [r] if mix.weight(*d, *r).is_none() => vec![(*r, None)],
                    _ => {
                        let wd = w[*d].as_ref().ok_or_else(|| missing(*d))?;
                        listed
                            .iter()
                            .map(|&r| (r, Some(wd.get(r as i64))))
                            .collect()
                    }
                }
            }
        };
        let mut out: Option<Tensor> = None;
        for (r, wr) in runs {
            if let Some((d, _)) = &plan.resolution {
                options[*d] = vec![r];
            }
            let (net, _) = self.space.net_from_mix(&options)?;
            let logits = run(&net, &self.blocks, x, train, &opts).0;
            let term = match wr {
                Some(wr) => logits * wr,
                None => logits,
            };
            out = Some(match out {
                Some(acc) => acc + term,
                None => term,
            });
        }
        out.ok_or_else(|| missing(plan.resolution.as_ref().map_or(0, |r| r.0)))
    }

    /// Copies the widest blocks' leading channels (weights and batch-norm statistics) into the
    /// supernet's blocks of every narrower width (module doc). Returns the number of tensors copied.
    pub fn bake_masked(&self, plan: &MaskedPlan) -> Result<usize, IrError> {
        let (widest, _) = self
            .space
            .net_from_mix(&plan.options(plan.largest_resolution()))?;
        let vars = self.vs.variables();
        let mut sources: BTreeMap<String, String> = BTreeMap::new();
        for (n, _, _) in widest.ops() {
            let prefix = format!("{}.", n.path);
            for name in vars.keys().filter(|k| k.starts_with(&prefix)) {
                sources.insert(untagged(name), name.clone());
            }
        }
        let mut copied = 0;
        tch::no_grad(|| {
            for (name, t) in &vars {
                let Some(src) = sources.get(&untagged(name)) else {
                    continue;
                };
                if src == name {
                    continue;
                }
                let mut s = vars[src].shallow_clone();
                let (want, have) = (t.size(), s.size());
                if want.len() != have.len() {
                    continue;
                }
                for d in 0..want.len() {
                    if have[d] != want[d] {
                        s = s.narrow(d as i64, 0, want[d].min(have[d]));
                    }
                }
                if s.size() == want {
                    t.shallow_clone().copy_(&s);
                    copied += 1;
                }
            }
        });
        Ok(copied)
    }
}

/// A VarStore name without its width tag (`stage1.layer0.cand2.c24_40.0.dw.weight` ->
/// `stage1.layer0.cand2.0.dw.weight`, `head.c160.0.weight` -> `head.0.weight`): the tag follows a
/// `layer<i>`, `cand<j>` or `head` segment.
fn untagged(name: &str) -> String {
    let parts: Vec<&str> = name.split('.').collect();
    let is_tag = |s: &str| {
        let Some(rest) = s.strip_prefix('c') else {
            return false;
        };
        !rest.is_empty()
            && rest.split('_').count() <= 2
            && rest
                .split('_')
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    };
    let numbered = |s: &str, p: &str| {
        s.strip_prefix(p)
            .is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit()))
    };
    let mut out: Vec<&str> = vec![];
    for (i, p) in parts.iter().enumerate() {
        let after = i > 0 && {
            let prev = parts[i - 1];
            prev == "head" || numbered(prev, "layer") || numbered(prev, "cand")
        };
        if after && is_tag(p) {
            continue;
        }
        out.push(p);
    }
    out.join(".")
}

impl Block {
    /// An op of a masked node: an MBConv at its full width with its hidden channels masked after
    /// the depthwise batch norm and activation and its output masked before the residual; any other
    /// op run as is, its output masked.
    pub(super) fn forward_masked(
        &self,
        x: &Tensor,
        used: &crate::ir::Op,
        m: &NodeMasks,
        train: bool,
    ) -> Tensor {
        let op = &self.op;
        if op.kind != OpKind::MbConv {
            let y = self.forward(x, used, train);
            return match &m.out {
                // A vector output (after global pooling, a linear layer) takes the mask as [1, C].
                Some(o) if y.dim() == 2 => y * o.reshape([1, -1]),
                Some(o) => y * o,
                None => y,
            };
        }
        let mut h = x.shallow_clone();
        if op.expand != 1 {
            h = self.c("expand").fwd(&h);
            h = act(&self.b("bn_expand").fwd(&h, train), op.act);
        }
        h = self.c("dw").fwd(&h);
        h = act(&self.b("bn_dw").fwd(&h, train), op.act);
        // The hidden mask passes no gradient to the architecture (so that the product need not keep
        // `h`, the block's largest activation, for the backward): FBNetV2 learns a width from the
        // masks of the block outputs, which the output mask below carries.
        if let Some(hm) = &m.hidden {
            // Not `*=`: in place would overwrite `h`, which its activation's backward may need.
            #[allow(clippy::assign_op_pattern)]
            {
                h = h * hm.detach();
            }
        }
        let mut out = self.b("bn_project").fwd(&self.c("project").fwd(&h), train);
        if let Some(o) = &m.out {
            #[allow(clippy::assign_op_pattern)]
            {
                out = out * o;
            }
        }
        if mbconv_residual(op, self.cin) {
            out + x
        } else {
            out
        }
    }
}
