//! The optimised forward of a compiled network (what `run` does unless `RunOpts::reference`): a plan
//! made from the IR before any tensor is touched lets it do less than the node-by-node forward
//! (`run_reference`) while keeping its outputs and gradients (tests/mix.rs compares the two on every
//! edge op and relaxation):
//! - `none` candidates are not run where a sum reads them beside something else (their term is
//!   exactly zero), nor is anything that only they read; a `none` whose weight carries a gradient
//!   still gets its (zero) gradient, through a zero-valued term on the output, so optimizers see the
//!   same defined gradients. A candidate whose weight is zero still runs: its batch norms update their
//!   running statistics in training and its weights get a defined (zero) gradient, on which weight
//!   decay and momentum act, so skipping it would change the training;
//! - ops that start with `relu` of the same value (DARTS' sep/dil convs, relu-conv-bn, factorized
//!   reduce on one edge's input) share one `relu` (common-subexpression elimination over the
//!   candidates' op sequences);
//! - a weighted candidate read only by a sum is scaled there and added into the sum in place, instead
//!   of materialising a new partial sum per term;
//! - each value is released after its last reader, not at the end of the forward (autograd keeps
//!   what the backward needs).

use super::{
    Block, RunOpts, branch_exits, classifier, drop_samples, drops_summands, is_identity, resize_to,
};
use crate::catalog::OpKind;
use crate::ir::graph::{Net, NetKind};
use std::collections::HashMap;
use tch::Tensor;

/// What the forward computes, decided from the network and the weights alone.
struct Plan {
    /// The node's value is read (directly or not) by the output or the tap.
    needed: Vec<bool>,
    /// The node's value is exactly zero and only sums read it: it is not computed, sums skip it.
    zero: Vec<bool>,
    /// The node's weight is applied inside the one sum that reads it.
    fused: Vec<bool>,
    /// The node's `relu` is computed once for the several ops that start with it.
    shared_relu: Vec<bool>,
    /// The last node that reads the node's value (the node itself if none does).
    last_use: Vec<usize>,
}

fn plan<'w>(
    net: &Net,
    blocks: &HashMap<String, Block>,
    weight_of: &dyn Fn(usize) -> Option<&'w Tensor>,
    opts: &RunOpts,
    dropping: bool,
    head: Option<usize>,
) -> Plan {
    let n = net.nodes.len();
    let last = n - 1;
    let is_sum = |j: usize| matches!(net.nodes[j].kind, NetKind::Sum);
    let mut readers: Vec<Vec<usize>> = vec![vec![]; n];
    for (j, node) in net.nodes.iter().enumerate() {
        for &i in &node.inputs {
            readers[i].push(j);
        }
    }
    // Path dropout draws random masks per sum term: with it, every term runs as in the reference so
    // that the draws stay the same.
    let zero_candidate: Vec<bool> = (0..n)
        .map(|i| {
            !dropping && matches!(&net.nodes[i].kind, NetKind::Op(op) if op.kind == OpKind::Zero)
        })
        .collect();
    let zero: Vec<bool> = (0..n)
        .map(|i| {
            zero_candidate[i]
                && i != last
                && Some(i) != opts.tap
                && !readers[i].is_empty()
                && readers[i]
                    .iter()
                    .all(|&j| is_sum(j) && net.nodes[j].inputs.iter().any(|&k| !zero_candidate[k]))
        })
        .collect();
    let mut needed = vec![false; n];
    needed[last] = true;
    if let Some(t) = opts.tap {
        needed[t] = true;
    }
    for j in (0..n).rev() {
        if needed[j] && !zero[j] {
            for &i in &net.nodes[j].inputs {
                if !zero[i] {
                    needed[i] = true;
                }
            }
        }
    }
    let computed = |j: usize| needed[j] && !zero[j];
    let mut last_use: Vec<usize> = (0..n).collect();
    let mut relu_readers = vec![0usize; n];
    for (j, node) in net.nodes.iter().enumerate() {
        if !computed(j) {
            continue;
        }
        for &i in &node.inputs {
            last_use[i] = last_use[i].max(j);
        }
        if let NetKind::Op(_) = node.kind
            && Some(j) != head
            && blocks.get(&node.path).is_some_and(Block::relu_first)
        {
            relu_readers[node.inputs[0]] += 1;
        }
    }
    let fused = (0..n)
        .map(|i| {
            !dropping
                && computed(i)
                && weight_of(i).is_some()
                && i != last
                && Some(i) != opts.tap
                && readers[i].len() == 1
                && is_sum(readers[i][0])
        })
        .collect();
    Plan {
        needed,
        zero,
        fused,
        shared_relu: relu_readers.iter().map(|&k| k >= 2).collect(),
        last_use,
    }
}

/// Runs a network as `run_reference` does, with the savings above.
pub(super) fn run(
    net: &Net,
    blocks: &HashMap<String, Block>,
    x: &Tensor,
    train: bool,
    opts: &RunOpts,
) -> (Tensor, Option<Tensor>) {
    let n = net.nodes.len();
    let drop_path = opts.drop_path;
    let dropping = train && drop_path > 0.0;
    let no_weights = HashMap::new();
    let weights = opts.weights.unwrap_or(&no_weights);
    let exits = if weights.is_empty() {
        vec![false; n]
    } else {
        branch_exits(net)
    };
    let weight_of = |i: usize| -> Option<&Tensor> {
        match net.nodes[i].choice {
            Some(c) if exits[i] => weights.get(&c),
            _ => None,
        }
    };
    // With a dropout override the classifier's own `dropout` op (if it has one) passes through.
    let (head, head_dropout) = match opts.dropout {
        Some(_) => {
            let c = classifier(net);
            let own = c.and_then(|c| net.nodes[c].inputs.first().copied()).filter(
                |&i| matches!(&net.nodes[i].kind, NetKind::Op(op) if op.kind == OpKind::Dropout),
            );
            (c, own)
        }
        None => (None, None),
    };
    let p = plan(net, blocks, &weight_of, opts, dropping, head);
    let last = n - 1;
    let mut vals: Vec<Option<Tensor>> = (0..n).map(|_| None).collect();
    let mut relus: Vec<Option<Tensor>> = (0..n).map(|_| None).collect();
    let mut tapped = None;
    // Weights of skipped zero terms that carry a gradient: added times 0 to the output.
    let mut ghosts: Vec<&Tensor> = vec![];
    for (idx, node) in net.nodes.iter().enumerate() {
        if p.zero[idx] {
            if let Some(w) = weight_of(idx).filter(|w| w.requires_grad()) {
                ghosts.push(w);
            }
            continue;
        }
        if !p.needed[idx] {
            continue;
        }
        let input = |i: usize| vals[i].as_ref().expect("a value read before its last use");
        let v = match &node.kind {
            NetKind::Input => resize_to(x, &node.shape),
            NetKind::Op(_) if Some(idx) == head_dropout => input(node.inputs[0]).shallow_clone(),
            NetKind::Op(op) => {
                let i0 = node.inputs[0];
                let block = &blocks[&node.path];
                match opts.dropout {
                    Some(q) if Some(idx) == head => {
                        block.forward(&input(i0).dropout(q, train), op, train)
                    }
                    _ if p.shared_relu[i0]
                        && block.relu_first()
                        && opts.masks.is_none_or(|m| !m.contains_key(&node.path)) =>
                    {
                        if relus[i0].is_none() {
                            relus[i0] = Some(input(i0).relu());
                        }
                        block.forward_shared(input(i0), relus[i0].as_ref(), op, train)
                    }
                    _ => match (
                        opts.gates.and_then(|g| g.get(&node.path)),
                        opts.masks.and_then(|m| m.get(&node.path)),
                    ) {
                        (Some(g), _) => block.forward_superkernel(input(i0), g, train),
                        (_, Some(m)) => block.forward_masked(input(i0), op, m, train),
                        _ => block.forward(input(i0), op, train),
                    },
                }
            }
            NetKind::Sum if dropping && drops_summands(node) => {
                let term = |i: usize| {
                    let v = input(i);
                    if !is_identity(net, i) {
                        drop_samples(v, drop_path)
                    } else {
                        v.shallow_clone()
                    }
                };
                let mut acc = term(node.inputs[0]);
                for &i in &node.inputs[1..] {
                    // Not `+=`: `acc` may be a shallow clone of an input.
                    #[allow(clippy::assign_op_pattern)]
                    {
                        acc = acc + term(i);
                    }
                }
                acc
            }
            NetKind::Sum => {
                // `owned`: `acc` is a tensor of this sum's own (not another node's value, nor saved
                // by autograd: products and sums save their inputs, not their results), so terms
                // are added into it in place.
                let mut acc: Option<(Tensor, bool)> = None;
                for &i in &node.inputs {
                    if p.zero[i] {
                        continue;
                    }
                    let v = input(i);
                    let w = if p.fused[i] { weight_of(i) } else { None };
                    acc = Some(match (acc.take(), w) {
                        (None, Some(w)) => (v * w, true),
                        (None, None) => (v.shallow_clone(), false),
                        (Some((mut a, true)), Some(w)) => {
                            // Not `addcmul_`: its backward multiplies the whole term by its value
                            // argument once more; a product's backward does not.
                            a += v * w;
                            (a, true)
                        }
                        (Some((a, false)), Some(w)) => (a + v * w, true),
                        (Some((mut a, true)), None) => {
                            a += v;
                            (a, true)
                        }
                        (Some((a, false)), None) => (a + v, true),
                    });
                }
                acc.expect("a sum with a term that is not skipped").0
            }
            NetKind::Concat => {
                let parts: Vec<&Tensor> = node.inputs.iter().map(|&i| input(i)).collect();
                Tensor::cat(&parts, 1)
            }
            NetKind::Output => input(node.inputs[0]).shallow_clone(),
        };
        let v = match weight_of(idx) {
            Some(w) if !p.fused[idx] => v * w,
            _ => v,
        };
        if Some(idx) == opts.tap {
            tapped = Some(v.shallow_clone());
        }
        vals[idx] = Some(v);
        for &i in &node.inputs {
            if p.last_use[i] == idx && i != last {
                vals[i] = None;
                relus[i] = None;
            }
        }
    }
    let mut out = vals[last].take().unwrap_or_else(|| x.shallow_clone());
    if !ghosts.is_empty() {
        // Not in place: the weights and the output's value may be shared with the caller.
        let g = Tensor::stack(&ghosts, 0).sum(ghosts[0].kind());
        out = &out + g * 0.0;
    }
    (out, tapped)
}
