//! Which nodes of a chain space an FBNetV2 search (`relax masked_gumbel`) masks, and which spaces it
//! cannot search (torch-free: `nasl check` refuses those spaces with these errors;
//! `compile::masked` runs the masked forward over this plan).
//!
//! The search runs ONE network: every layer choice with all its candidates (mixed as `gumbel` does),
//! every channel decision at its widest option, and per resolution option the network at that input
//! size. A node whose output width a channel decision sets gets that decision's channel masks (mask k
//! keeps the first `width_k` channels); an MBConv whose input width a channel decision sets also gets
//! masks of its hidden channels (`expand * width_k`), so that at a one-hot sample the forward is the
//! chosen narrower network exactly. Refused: depth, elastic, edge and input decisions; ops whose inner
//! width follows their input in a way one mask per layer cannot reproduce (separable convolutions,
//! ShuffleNet and basic blocks, factorized reductions, grouped convolutions, squeeze-and-excitation);
//! a residual or identity skip that exists for some widths and not for others.

use std::collections::BTreeMap;

use crate::catalog::OpKind;
use crate::ir::graph::{DecisionKind, Net, NetKind, kind_name};
use crate::ir::ops::{Op, SkipImpl, mbconv_residual, skip_impl};
use crate::ir::superkernel::refuse;
use crate::ir::{IrError, SearchSpace};

/// A mask of a node: the channel decision that sets the width and the width per option of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Masking {
    pub decision: usize,
    pub widths: Vec<usize>,
}

/// One masked node (an op of a layer candidate, or of the head reading a searched width).
#[derive(Debug, Clone, PartialEq)]
pub struct MaskedNode {
    /// The node's IR path in the widest network (its block in the supernet).
    pub path: String,
    /// The output channel masks (none for an identity or a fixed output width).
    pub out: Option<Masking>,
    /// An MBConv's hidden channel masks (its input width is searched).
    pub hidden: Option<Masking>,
    /// The decision setting the input width (costs), if any.
    pub input: Option<usize>,
}

/// The masked search of a space: the resolution decision and its sizes, the masked nodes, and the
/// option index per channel/resolution decision of the widest network.
#[derive(Debug, Clone, PartialEq)]
pub struct MaskedPlan {
    pub resolution: Option<(usize, Vec<usize>)>,
    pub nodes: Vec<MaskedNode>,
    pub largest: Vec<usize>,
    kinds: Vec<DecisionKind>,
}

impl MaskedPlan {
    /// The mix options of the network the search runs at resolution option `res` (ignored without a
    /// resolution decision): every option of a layer decision, the widest of a channel decision.
    pub fn options(&self, res: usize) -> Vec<Vec<usize>> {
        self.kinds
            .iter()
            .enumerate()
            .map(|(d, k)| match k {
                DecisionKind::Layer => (0..=self.largest[d]).collect(),
                DecisionKind::Resolution => vec![res],
                _ => vec![self.largest[d]],
            })
            .collect()
    }

    /// The resolution options the forward runs (one `0` without a resolution decision).
    pub fn resolutions(&self) -> Vec<usize> {
        match &self.resolution {
            Some((_, sizes)) => (0..sizes.len()).collect(),
            None => vec![0],
        }
    }

    /// The option index of the widest network's resolution.
    pub fn largest_resolution(&self) -> usize {
        self.resolution
            .as_ref()
            .map_or(0, |(d, _)| self.largest[*d])
    }

    /// The masked node at `path`.
    pub fn node(&self, path: &str) -> Option<&MaskedNode> {
        self.nodes.iter().find(|n| n.path == path)
    }
}

const HELP: &str = "`relax masked_gumbel` searches layer choices (`choose [...]`), channel counts (`out: [...]`) and the input resolution (`resolution [...]`) of a chain of mbconv/conv layers";

/// The index of the largest numeric label of decision `d`.
fn largest_label(space: &SearchSpace, d: usize) -> Result<usize, IrError> {
    let dec = &space.decisions[d];
    let Some(values) = dec.sizes().filter(|v| !v.is_empty()) else {
        return Err(refuse(
            &dec.path,
            format!(
                "the options of `{}` are not sizes: [{}]",
                dec.path,
                dec.labels.join(", ")
            ),
            HELP,
        ));
    };
    let max = values.iter().max().copied().unwrap_or(0);
    Ok(values.iter().position(|&v| v == max).unwrap_or(0))
}

/// Whether one channel mask per node reproduces the narrower op (see the module doc).
fn maskable(op: &Op) -> Result<(), String> {
    match op.kind {
        OpKind::SepConv
        | OpKind::Shuffle
        | OpKind::ShuffleXception
        | OpKind::BasicBlock
        | OpKind::FactorizedReduce => Err(format!(
            "a `{}` has inner channels that follow its input width, which one mask per layer cannot reproduce",
            crate::catalog::signature(op.kind).name
        )),
        OpKind::MbConv if op.se => Err(
            "a squeeze-and-excitation's width follows the expansion, which the hidden masks cannot reproduce"
                .into(),
        ),
        OpKind::Skip if op.stride > 1 => Err(
            "a strided skip is a factorized reduction, whose two halves do not nest by width".into(),
        ),
        OpKind::MbConv | OpKind::Conv if op.groups > 1 => {
            Err("a grouped convolution's groups follow its width; masks cannot reproduce them".into())
        }
        _ => Ok(()),
    }
}

/// The masked search plan of `space`. Errors (what `nasl check` refuses with `relax masked_gumbel`):
/// see the module doc.
pub fn plan(space: &SearchSpace) -> Result<MaskedPlan, IrError> {
    let mut largest = vec![];
    let mut resolution = None;
    let mut channels = vec![];
    for (d, dec) in space.decisions.iter().enumerate() {
        match dec.kind {
            DecisionKind::Layer => largest.push(dec.labels.len().saturating_sub(1)),
            DecisionKind::Channels => {
                largest.push(largest_label(space, d)?);
                channels.push(d);
            }
            DecisionKind::Resolution => {
                largest.push(largest_label(space, d)?);
                let sizes = dec.sizes().unwrap_or_default();
                resolution = Some((d, sizes));
            }
            kind => {
                return Err(refuse(
                    &dec.path,
                    format!(
                        "`relax masked_gumbel` masks channels and resolution and mixes layer choices; `{}` is a {} decision",
                        dec.path,
                        kind_name(kind)
                    ),
                    match kind {
                        DecisionKind::Depth => {
                            "fix `repeat` to one value, and offer `skip` among the layer's candidates to search depth (FBNetV2 searches depth by skip blocks)"
                        }
                        DecisionKind::Elastic => {
                            "write the elastic arguments as layer candidates (`choose [mbconv(3, 3), mbconv(5, 3)]`), or search them with `relax superkernel`"
                        }
                        _ => {
                            "masking applies to chain spaces; search cells with `relax gumbel` or `softmax`"
                        }
                    },
                ));
            }
        }
    }
    let kinds: Vec<DecisionKind> = space.decisions.iter().map(|d| d.kind).collect();
    let mut out = MaskedPlan {
        resolution,
        nodes: vec![],
        largest,
        kinds,
    };
    let base_opts = out.options(out.largest_resolution());
    let (base, _) = space.net_from_mix(&base_opts)?;
    // Per node: the decision setting its output width and its input width, with the widths per option.
    let mut outs: BTreeMap<usize, Masking> = BTreeMap::new();
    let mut ins: BTreeMap<usize, Masking> = BTreeMap::new();
    for &d in &channels {
        let n = space.decisions[d].labels.len();
        let mut nets = vec![];
        for k in 0..n {
            let mut o = base_opts.clone();
            o[d] = vec![k];
            let (net, _) = space.net_from_mix(&o)?;
            if net.nodes.len() != base.nodes.len() {
                return Err(refuse(
                    &space.decisions[d].path,
                    "the network's structure changes with this channel decision".into(),
                    HELP,
                ));
            }
            nets.push(net);
        }
        for i in 0..base.nodes.len() {
            let NetKind::Op(_) = base.nodes[i].kind else {
                continue;
            };
            let width = |net: &Net| net.nodes[i].shape.channels();
            let input = |net: &Net| net.nodes[net.nodes[i].inputs[0]].shape.channels();
            let ow: Vec<usize> = nets.iter().map(width).collect();
            let iw: Vec<usize> = nets.iter().map(input).collect();
            if ow.iter().any(|&w| w != width(&base)) {
                outs.insert(
                    i,
                    Masking {
                        decision: d,
                        widths: ow,
                    },
                );
            }
            if iw.iter().any(|&w| w != input(&base)) {
                ins.insert(
                    i,
                    Masking {
                        decision: d,
                        widths: iw,
                    },
                );
            }
        }
    }
    for (i, n) in base.nodes.iter().enumerate() {
        let NetKind::Op(op) = &n.kind else { continue };
        let (o, inp) = (outs.get(&i), ins.get(&i));
        if o.is_none() && inp.is_none() {
            continue;
        }
        maskable(op)
            .map_err(|m| refuse(&n.path, format!("cannot mask `{}`: {m}", n.path), HELP))?;
        let cin = base.nodes[n.inputs[0]].shape.channels();
        let fixed = |m: Option<&Masking>, w: usize| m.map_or(vec![w], |m| m.widths.clone());
        // (input width, output width) pairs the options reach.
        let pairs: Vec<(usize, usize)> = match (inp, o) {
            (Some(a), Some(b)) if a.decision == b.decision => a
                .widths
                .iter()
                .copied()
                .zip(b.widths.iter().copied())
                .collect(),
            _ => {
                let wi = fixed(inp, cin);
                let wo = fixed(o, n.shape.channels());
                wi.iter()
                    .flat_map(|&a| wo.iter().map(move |&b| (a, b)))
                    .collect()
            }
        };
        let shortcut = |(a, b): (usize, usize)| {
            let mut narrow = op.clone();
            narrow.out = b;
            match op.kind {
                OpKind::MbConv => mbconv_residual(&narrow, a),
                OpKind::Skip => skip_impl(&narrow, a) == SkipImpl::Identity,
                _ => false,
            }
        };
        let kinds: Vec<bool> = pairs.iter().map(|&p| shortcut(p)).collect();
        if kinds.iter().any(|&k| k != kinds[0]) {
            return Err(refuse(
                &n.path,
                format!(
                    "`{}` has a shortcut (residual or identity) at some widths and not at others, so one widest block cannot stand for every width",
                    n.path
                ),
                "give the layer's input and output different widths for every option (e.g. a stride or disjoint `out` lists), or fix one of them",
            ));
        }
        let identity = op.kind == OpKind::Skip && kinds[0];
        out.nodes.push(MaskedNode {
            path: n.path.clone(),
            out: if identity { None } else { o.cloned() },
            hidden: match (op.kind, inp) {
                (OpKind::MbConv, Some(m)) => Some(Masking {
                    decision: m.decision,
                    widths: m.widths.iter().map(|w| op.hidden(*w)).collect(),
                }),
                _ => None,
            },
            input: inp.map(|m| m.decision),
        });
    }
    Ok(out)
}
