//! Batch-norm folding for evaluation (`Subnet::fold_bn`): which convolution each batch norm follows
//! directly, per op kind and across `conv` -> `bn` nodes, and the folding itself (scaled weights, a
//! bias, the batch norm turned into a pass-through for evaluation forwards).

use super::{Block, Bn, Conv};
use crate::catalog::OpKind;
use crate::ir::graph::{Net, NetKind};
use crate::ir::ops::{SkipImpl, skip_impl};
use std::collections::HashMap;

/// Inside a block of `op`'s kind: (convolution, the batch norm applied directly to its output).
fn pairs(b: &Block) -> Vec<(&'static str, &'static str)> {
    let op = &b.op;
    match op.kind {
        OpKind::SepConv => vec![("pw1", "bn1"), ("pw2", "bn2")],
        OpKind::DilConv => vec![("pw", "bn")],
        OpKind::ReluConvBn => vec![("conv", "bn")],
        OpKind::MbConv => vec![
            ("expand", "bn_expand"),
            ("dw", "bn_dw"),
            ("project", "bn_project"),
        ],
        OpKind::Shuffle => vec![
            ("pw1", "bn1"),
            ("dw", "bn2"),
            ("pw2", "bn3"),
            ("proj_dw", "proj_bn1"),
            ("proj_pw", "proj_bn2"),
        ],
        OpKind::ShuffleXception => vec![
            ("dw1", "bn1"),
            ("pw1", "bn2"),
            ("dw2", "bn3"),
            ("pw2", "bn4"),
            ("dw3", "bn5"),
            ("pw3", "bn6"),
            ("proj_dw", "proj_bn1"),
            ("proj_pw", "proj_bn2"),
        ],
        OpKind::BasicBlock => vec![("conv_a", "bn_a"), ("conv_b", "bn_b"), ("down", "bn_down")],
        OpKind::Skip if skip_impl(op, b.cin) == SkipImpl::Project => vec![("conv", "bn")],
        _ => vec![],
    }
}

/// Folds `bn` (its running statistics) into `conv`; false (nothing changed) when their channels
/// differ (an elastic op running a slice) or the batch norm is already folded.
fn fold_pair(conv: &mut Conv, bn: &mut Bn) -> bool {
    let b = &bn.bn;
    let cout = conv.w.size()[0];
    if bn.folded || b.running_mean.size()[0] != cout {
        return false;
    }
    tch::no_grad(|| {
        let scale = (&b.running_var + bn.eps).rsqrt();
        let scale = match &b.ws {
            Some(g) => scale * g,
            None => scale,
        };
        let w = &conv.w * scale.reshape([cout, 1, 1, 1]);
        let bias = match &conv.b {
            Some(cb) => cb - &b.running_mean,
            None => -&b.running_mean,
        } * &scale;
        let bias = match &b.bs {
            Some(beta) => bias + beta,
            None => bias,
        };
        conv.w = w.detach();
        conv.b = Some(bias.detach());
    });
    bn.folded = true;
    true
}

fn get_conv<'a>(b: &'a mut Block, name: &str) -> Option<&'a mut Conv> {
    b.convs.iter_mut().find(|(n, _)| *n == name).map(|(_, c)| c)
}

/// Folds every batch norm that directly follows a convolution; returns how many.
pub(super) fn fold(net: &Net, blocks: &mut HashMap<String, Block>) -> usize {
    let mut n = 0;
    for block in blocks.values_mut() {
        for (c, b) in pairs(block) {
            let Some(bi) = block.bns.iter().position(|(name, _)| *name == b) else {
                continue;
            };
            let mut bn_pair = block.bns.remove(bi);
            if let Some(conv) = get_conv(block, c)
                && fold_pair(conv, &mut bn_pair.1)
            {
                n += 1;
            }
            block.bns.insert(bi, bn_pair);
        }
    }
    // A `conv` node read by a `bn` node alone.
    let mut readers = vec![0usize; net.nodes.len()];
    for node in &net.nodes {
        for &i in &node.inputs {
            readers[i] += 1;
        }
    }
    for node in &net.nodes {
        let NetKind::Op(op) = &node.kind else {
            continue;
        };
        let Some(&i) = node.inputs.first() else {
            continue;
        };
        let src = &net.nodes[i];
        let is_conv =
            matches!(&src.kind, NetKind::Op(o) if matches!(o.kind, OpKind::Conv | OpKind::DwConv));
        if op.kind != OpKind::BatchNorm || !is_conv || readers[i] != 1 || src.path == node.path {
            continue;
        }
        let Some(mut bn_block) = blocks.remove(&node.path) else {
            continue;
        };
        if let (Some(conv_block), Some((_, bn))) =
            (blocks.get_mut(&src.path), bn_block.bns.first_mut())
            && let Some(conv) = get_conv(conv_block, "conv")
            && fold_pair(conv, bn)
        {
            n += 1;
        }
        blocks.insert(node.path.clone(), bn_block);
    }
    n
}
