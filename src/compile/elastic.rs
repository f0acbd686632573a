//! OFA's elastic-op weights beyond slicing (Cai et al., ICLR 2020): the kernel transformation
//! matrices of an elastic depthwise kernel (a smaller kernel is the centre of the next larger one
//! passed through a learned (t*t) x (t*t) linear map, one per layer and size step, shared by every
//! channel, initialised to the identity), their baking into an extracted subnet, and the sorting of
//! an MBConv's expanded channels by importance (the L1 norm of the projection's weights reading the
//! channel) before width shrinking, so that the first channels are the important ones.

use super::{Block, Conv};
use crate::catalog::OpKind;
use crate::ir::{Net, SearchSpace};
use std::collections::HashMap;
use tch::{Kind, Tensor, nn};

/// The transformation matrices of one elastic depthwise kernel.
pub(super) struct KernelTransform {
    /// The kernel sizes, descending (the block's own, the largest, first).
    sizes: Vec<i64>,
    /// `mats[i]` maps the centre `sizes[i + 1]` of a `sizes[i]` kernel: (t*t) x (t*t), t = `sizes[i + 1]`.
    mats: Vec<Tensor>,
}

/// The VarStore name of the matrix from size `src` to size `tgt` (under the block's `dw` path).
pub fn matrix_name(src: usize, tgt: usize) -> String {
    format!("ktrans_{src}to{tgt}")
}

impl KernelTransform {
    /// The matrices of a kernel with these sizes under `p`, identities; `None` with one size.
    pub(super) fn new(p: &nn::Path, kernels: &[usize]) -> Option<KernelTransform> {
        let mut sizes: Vec<i64> = kernels.iter().map(|&k| k as i64).collect();
        sizes.sort_unstable_by(|a, b| b.cmp(a));
        sizes.dedup();
        if sizes.len() < 2 {
            return None;
        }
        let mats = sizes
            .windows(2)
            .map(|w| {
                let eye = Tensor::eye(w[1] * w[1], (Kind::Float, p.device()));
                p.var_copy(&matrix_name(w[0] as usize, w[1] as usize), &eye)
            })
            .collect();
        Some(KernelTransform { sizes, mats })
    }

    /// The `k` x `k` kernel made from `w` (`[C, 1, K, K]`, K the largest size): from K down to `k`,
    /// each step takes the centre of the current kernel and maps its t*t values (per channel) by the
    /// step's matrix, `x -> M x` (PyTorch's `F.linear(x, M)`, as OFA does).
    pub(super) fn kernel(&self, w: &Tensor, k: i64) -> Tensor {
        let mut f = w.shallow_clone();
        for (i, step) in self.sizes.windows(2).enumerate() {
            let (src, tgt) = (step[0], step[1]);
            if src <= k {
                break;
            }
            let off = (src - tgt) / 2;
            let centre = f.narrow(2, off, tgt).narrow(3, off, tgt);
            let s = centre.size();
            f = centre
                .reshape([-1, tgt * tgt])
                .matmul(&self.mats[i].tr())
                .reshape([s[0], s[1], tgt, tgt]);
        }
        f
    }

    /// The depthwise convolution `dw` with its first `c` channels and the transformed `k` x `k`
    /// kernel.
    pub(super) fn conv(&self, dw: &Conv, x: &Tensor, c: i64, k: i64) -> Tensor {
        let w = self.kernel(&dw.w.narrow(0, 0, c), k);
        x.conv2d(
            &w,
            None::<Tensor>,
            [dw.stride; 2],
            [(k / 2) * dw.dil; 2],
            [dw.dil; 2],
            c,
        )
    }
}

/// The VarStore names of the transformation matrices that `net` (a network of the supernet's space)
/// does not use: a step from size `src` is used only when the op's kernel is below `src`.
pub(super) fn idle_transforms(blocks: &HashMap<String, Block>, net: &Net) -> Vec<String> {
    let mut idle = Vec::new();
    for (n, op, _) in net.ops() {
        let Some(t) = blocks.get(&n.path).and_then(|b| b.ktrans.as_ref()) else {
            continue;
        };
        for step in t.sizes.windows(2) {
            if step[0] <= op.kernel as i64 {
                idle.push(format!(
                    "{}.dw.{}",
                    n.path,
                    matrix_name(step[0] as usize, step[1] as usize)
                ));
            }
        }
    }
    idle
}

/// Gives every elastic-kernel MBConv of the supernet its transformation matrices.
pub(super) fn add_transforms(
    vs: &nn::VarStore,
    space: &SearchSpace,
    blocks: &mut HashMap<String, Block>,
) {
    let root = vs.root();
    for (path, block) in blocks.iter_mut() {
        if block.op.kind != OpKind::MbConv {
            continue;
        }
        if let Some(ks) = space.elastic_values(path, "kernel") {
            block.ktrans = KernelTransform::new(&(super::sub_path(&root, path) / "dw"), &ks);
        }
    }
}

/// Writes the transformed kernels of the supernet's `from` blocks into the extracted subnet's
/// blocks `to` (which hold the plain centre after the copy by path), so that the stand-alone subnet
/// computes what the supernet computes for its architecture.
pub(super) fn bake_kernels(from: &HashMap<String, Block>, to: &HashMap<String, Block>, net: &Net) {
    tch::no_grad(|| {
        for (n, op, _) in net.ops() {
            let (Some(src), Some(dst)) = (from.get(&n.path), to.get(&n.path)) else {
                continue;
            };
            let Some(t) = &src.ktrans else { continue };
            let mut w = dst.c("dw").w.shallow_clone();
            let c = w.size()[0];
            let baked = t.kernel(&src.c("dw").w.narrow(0, 0, c), op.kernel as i64);
            w.copy_(&baked);
        }
    });
}

/// Sorts the expanded channels of every MBConv with an expansion (and 1x1 convolutions of one
/// group) by importance, descending, permuting the expansion's output channels and its batch norm,
/// the depthwise kernel and its batch norm, the squeeze-excitation's channels and the projection's
/// input channels together, so that the full network computes the same function. With `stage` > 0
/// (OFA's `expand_ratio_stage`) the channels keep their group between the `stage` largest smaller
/// widths of the block's elastic expand ratios (the channels of a width already trained stay within
/// it) and are sorted within each group. Returns the number of blocks sorted.
pub(super) fn sort_channels(
    space: &SearchSpace,
    blocks: &HashMap<String, Block>,
    stage: usize,
) -> usize {
    let mut sorted = 0;
    for (path, b) in blocks {
        let op = &b.op;
        if op.kind != OpKind::MbConv || op.expand == 1 || op.groups != 1 {
            continue;
        }
        let hidden = op.hidden(b.cin);
        // Group boundaries: the widths of the smaller expand ratios, widest first, `stage` of them.
        let mut widths: Vec<usize> = space
            .elastic_values(path, "expand")
            .unwrap_or_default()
            .iter()
            .map(|&e| b.cin * e)
            .filter(|&w| w < hidden)
            .collect();
        widths.sort_unstable_by(|a, b| b.cmp(a));
        widths.truncate(stage);
        let importance: Vec<f64> = Vec::try_from(
            b.c("project")
                .w
                .abs()
                .sum_dim_intlist([0i64, 2, 3].as_slice(), false, Kind::Double)
                .to_device(tch::Device::Cpu),
        )
        .unwrap_or_default();
        let group = |i: usize| widths.iter().filter(|&&w| i >= w).count();
        let mut order: Vec<usize> = (0..hidden).collect();
        order.sort_by(|&i, &j| {
            group(i)
                .cmp(&group(j))
                .then(importance[j].total_cmp(&importance[i]))
                .then(i.cmp(&j))
        });
        let idx = Tensor::from_slice(&order.iter().map(|&i| i as i64).collect::<Vec<_>>())
            .to_device(b.c("project").w.device());
        let permute = |t: &Tensor, dim: i64| {
            let mut t = t.shallow_clone();
            let p = t.index_select(dim, &idx);
            t.copy_(&p);
        };
        tch::no_grad(|| {
            for (name, conv) in &b.convs {
                match *name {
                    "expand" | "dw" | "se_expand" => {
                        permute(&conv.w, 0);
                        if let Some(bias) = conv.b.as_ref().filter(|_| *name == "se_expand") {
                            permute(bias, 0);
                        }
                    }
                    "se_reduce" | "project" => permute(&conv.w, 1),
                    _ => {}
                }
            }
            for (name, bn) in &b.bns {
                if *name == "bn_expand" || *name == "bn_dw" {
                    let bn = &bn.bn;
                    for t in [bn.ws.as_ref(), bn.bs.as_ref()].into_iter().flatten() {
                        permute(t, 0);
                    }
                    permute(&bn.running_mean, 0);
                    permute(&bn.running_var, 0);
                }
            }
        });
        sorted += 1;
    }
    sorted
}
