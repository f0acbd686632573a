//! Compilation of the IR to tch (libtorch): one module per op kind (one exhaustive `match`), a supernet
//! holding every candidate's weights in ONE `nn::VarStore` under IR paths, whose `forward_t(x, arch,
//! train)` runs only the chosen candidates (elastic MBConvs slice their largest weights: leading
//! channels, centre kernel through OFA's kernel transformation, see `elastic`), and standalone
//! subnets that copy the supernet's weights by path.
//! Blocks are built once; a forward only resolves the arch to its network and runs existing blocks.
//! A choice node is the set of candidate blocks under one decision: `forward_mix` runs several
//! candidates of a layer or edge and sums their (weighted) outputs (see `mix`).

pub mod auxiliary;
mod elastic;
mod fast;
mod fold;
pub mod masked;
pub mod mix;
pub mod superkernel;

pub use elastic::matrix_name as kernel_transform_name;
pub use mix::{Mix, drop_paths};

pub mod export;
pub mod latency;
pub mod model;

use crate::catalog::OpKind;
use crate::ir::graph::{Net, NetKind};
use crate::ir::ops::{Act, Op, Shape, SkipImpl, mbconv_residual, se_channels, skip_impl};
use crate::ir::{Arch, IrError, SearchSpace};
use auxiliary::{AUX_PREFIX, AuxHead, is_auxiliary};
use std::collections::HashMap;
use tch::{Device, Tensor, nn};

struct Conv {
    w: Tensor,
    b: Option<Tensor>,
    stride: i64,
    dil: i64,
    groups: i64,
}

impl Conv {
    #[allow(clippy::too_many_arguments)]
    fn new(
        p: &nn::Path,
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        dil: usize,
        groups: usize,
        bias: bool,
    ) -> Conv {
        let cfg = nn::ConvConfig {
            stride: stride as i64,
            dilation: dil as i64,
            groups: groups as i64,
            bias,
            ..Default::default()
        };
        let c = nn::conv2d(p, cin as i64, cout as i64, k as i64, cfg);
        Conv {
            w: c.ws,
            b: c.bs,
            stride: stride as i64,
            dil: dil as i64,
            groups: groups as i64,
        }
    }
    fn fwd(&self, x: &Tensor) -> Tensor {
        let k = self.w.size()[2];
        let pad = (k / 2) * self.dil;
        x.conv2d(
            &self.w,
            self.b.as_ref(),
            [self.stride; 2],
            [pad; 2],
            [self.dil; 2],
            self.groups,
        )
    }
    /// With the first `co` output / `ci` input channels and the centre `k` x `k` kernel.
    fn fwd_sliced(&self, x: &Tensor, co: i64, ci: i64, k: i64, groups: i64) -> Tensor {
        let s = self.w.size();
        if s[0] == co && s[1] == ci && s[2] == k {
            return x.conv2d(
                &self.w,
                self.b.as_ref(),
                [self.stride; 2],
                [(k / 2) * self.dil; 2],
                [self.dil; 2],
                groups,
            );
        }
        let off = (s[2] - k) / 2;
        let w = self
            .w
            .narrow(0, 0, co)
            .narrow(1, 0, ci)
            .narrow(2, off, k)
            .narrow(3, off, k);
        let b = self.b.as_ref().map(|b| b.narrow(0, 0, co));
        x.conv2d(
            &w,
            b.as_ref(),
            [self.stride; 2],
            [(k / 2) * self.dil; 2],
            [self.dil; 2],
            groups,
        )
    }
}

/// Let libtorch use cuDNN's batch norm where it can (on CUDA), as `nn.BatchNorm2d` does.
const CUDNN: bool = true;

struct Bn {
    bn: nn::BatchNorm,
    eps: f64,
    momentum: f64,
    /// During BN recalibration: the momentum of the next batch (1/k for the k-th, a cumulative mean).
    recal: std::cell::Cell<Option<f64>>,
    /// Folded into the convolution before it (`fold`): an evaluation forward passes its input on.
    folded: bool,
}

impl Bn {
    fn new(p: &nn::Path, c: usize, op: Option<&Op>, affine: bool) -> Bn {
        let (eps, momentum) = op.map(|o| (o.eps, o.momentum)).unwrap_or((1e-5, 0.1));
        let cfg = nn::BatchNormConfig {
            eps,
            momentum,
            affine,
            ..Default::default()
        };
        Bn {
            bn: nn::batch_norm2d(p, c as i64, cfg),
            eps,
            momentum,
            recal: std::cell::Cell::new(None),
            folded: false,
        }
    }
    fn fwd(&self, x: &Tensor, train: bool) -> Tensor {
        if self.folded && !train {
            return x.shallow_clone();
        }
        let n = x.size()[1];
        let b = &self.bn;
        let momentum = self.recal.get().unwrap_or(self.momentum);
        if b.running_mean.size()[0] == n {
            return x.batch_norm(
                b.ws.as_ref(),
                b.bs.as_ref(),
                Some(&b.running_mean),
                Some(&b.running_var),
                train,
                momentum,
                self.eps,
                CUDNN,
            );
        }
        let sl = |t: &Tensor| t.narrow(0, 0, n);
        let (ws, bs) = (b.ws.as_ref().map(sl), b.bs.as_ref().map(sl));
        x.batch_norm(
            ws.as_ref(),
            bs.as_ref(),
            Some(&sl(&b.running_mean)),
            Some(&sl(&b.running_var)),
            train,
            momentum,
            self.eps,
            CUDNN,
        )
    }
}

fn act(x: &Tensor, a: Act) -> Tensor {
    match a {
        Act::Relu => x.relu(),
        Act::Relu6 => x.clamp(0.0, 6.0),
        Act::HSwish => x.hardswish(),
        Act::Swish => x.silu(),
        Act::Sigmoid => x.sigmoid(),
    }
}

/// Channel shuffle; the batch size is left to `-1` so that a traced (TorchScript) network accepts any
/// batch.
fn channel_shuffle(x: &Tensor, g: i64) -> Tensor {
    let s = x.size();
    x.reshape([-1, g, s[1] / g, s[2], s[3]])
        .transpose(1, 2)
        .reshape([-1, s[1], s[2], s[3]])
}

/// One op's module.
struct Block {
    op: Op,
    cin: usize,
    convs: Vec<(&'static str, Conv)>,
    bns: Vec<(&'static str, Bn)>,
    lin: Option<(Tensor, Option<Tensor>)>,
    /// An elastic kernel's transformation matrices (supernets only, `elastic`).
    ktrans: Option<elastic::KernelTransform>,
}

impl Block {
    fn c(&self, name: &str) -> &Conv {
        &self
            .convs
            .iter()
            .find(|(n, _)| *n == name)
            .expect("block conv")
            .1
    }
    fn b(&self, name: &str) -> &Bn {
        &self
            .bns
            .iter()
            .find(|(n, _)| *n == name)
            .expect("block bn")
            .1
    }

    fn new(p: &nn::Path, op: &Op, input: Shape, output: Shape) -> Block {
        let cin = input.channels();
        let cout = output.channels();
        let a = op.affine;
        let mut convs = vec![];
        let mut bns = vec![];
        let mut lin = None;
        let k = op.kernel;
        let s = op.stride;
        macro_rules! conv {
            ($n:literal, $ci:expr, $co:expr, $k:expr, $s:expr, $d:expr, $g:expr, $bias:expr) => {
                convs.push(($n, Conv::new(&(p / $n), $ci, $co, $k, $s, $d, $g, $bias)))
            };
        }
        macro_rules! bn {
            ($n:literal, $c:expr, $aff:expr) => {
                bns.push(($n, Bn::new(&(p / $n), $c, Some(op), $aff)))
            };
        }
        match op.kind {
            OpKind::Conv => conv!("conv", cin, cout, k, s, op.dilation, op.groups, op.bias),
            OpKind::DwConv => conv!("conv", cin, cin, k, s, op.dilation, cin, false),
            OpKind::SepConv => {
                conv!("dw1", cin, cin, k, s, 1, cin, false);
                conv!("pw1", cin, cin, 1, 1, 1, 1, false);
                bn!("bn1", cin, a);
                conv!("dw2", cin, cin, k, 1, 1, cin, false);
                conv!("pw2", cin, cout, 1, 1, 1, 1, false);
                bn!("bn2", cout, a);
            }
            OpKind::DilConv => {
                conv!("dw", cin, cin, k, s, op.dilation, cin, false);
                conv!("pw", cin, cout, 1, 1, 1, 1, false);
                bn!("bn", cout, a);
            }
            OpKind::ReluConvBn => {
                conv!("conv", cin, cout, k, s, 1, 1, false);
                bn!("bn", cout, a);
            }
            OpKind::MbConv => {
                let hidden = op.hidden(cin);
                if op.expand != 1 {
                    conv!("expand", cin, hidden, 1, 1, 1, op.groups, false);
                    bn!("bn_expand", hidden, true);
                }
                conv!("dw", hidden, hidden, k, s, 1, hidden, false);
                bn!("bn_dw", hidden, true);
                if op.se {
                    let sq = se_channels(hidden);
                    conv!("se_reduce", hidden, sq, 1, 1, 1, 1, true);
                    conv!("se_expand", sq, hidden, 1, 1, 1, 1, true);
                }
                conv!("project", hidden, cout, 1, 1, 1, op.groups, false);
                bn!("bn_project", cout, true);
            }
            OpKind::Shuffle | OpKind::ShuffleXception => {
                let kk = if op.kind == OpKind::Shuffle { k } else { 3 };
                let inp = if s == 1 { cin / 2 } else { cin };
                let mid = cout / 2;
                let outputs = cout - inp;
                if op.kind == OpKind::Shuffle {
                    conv!("pw1", inp, mid, 1, 1, 1, 1, false);
                    bn!("bn1", mid, true);
                    conv!("dw", mid, mid, kk, s, 1, mid, false);
                    bn!("bn2", mid, true);
                    conv!("pw2", mid, outputs, 1, 1, 1, 1, false);
                    bn!("bn3", outputs, true);
                } else {
                    conv!("dw1", inp, inp, 3, s, 1, inp, false);
                    bn!("bn1", inp, true);
                    conv!("pw1", inp, mid, 1, 1, 1, 1, false);
                    bn!("bn2", mid, true);
                    conv!("dw2", mid, mid, 3, 1, 1, mid, false);
                    bn!("bn3", mid, true);
                    conv!("pw2", mid, mid, 1, 1, 1, 1, false);
                    bn!("bn4", mid, true);
                    conv!("dw3", mid, mid, 3, 1, 1, mid, false);
                    bn!("bn5", mid, true);
                    conv!("pw3", mid, outputs, 1, 1, 1, 1, false);
                    bn!("bn6", outputs, true);
                }
                if s > 1 {
                    conv!("proj_dw", inp, inp, kk, s, 1, inp, false);
                    bn!("proj_bn1", inp, true);
                    conv!("proj_pw", inp, inp, 1, 1, 1, 1, false);
                    bn!("proj_bn2", inp, true);
                }
            }
            OpKind::BasicBlock => {
                conv!("conv_a", cin, cout, 3, s, 1, 1, false);
                bn!("bn_a", cout, a);
                conv!("conv_b", cout, cout, 3, 1, 1, 1, false);
                bn!("bn_b", cout, a);
                if s == 2 {
                    conv!("down", cin, cout, 1, 1, 1, 1, false);
                } else if cin != cout {
                    conv!("down", cin, cout, 1, 1, 1, 1, false);
                    bn!("bn_down", cout, a);
                }
            }
            OpKind::Skip | OpKind::FactorizedReduce => {
                let how = if op.kind == OpKind::Skip {
                    skip_impl(op, cin)
                } else {
                    SkipImpl::FactorizedReduce
                };
                match how {
                    SkipImpl::Identity => {}
                    SkipImpl::FactorizedReduce => {
                        conv!("conv1", cin, cout / 2, 1, 2, 1, 1, false);
                        conv!("conv2", cin, cout / 2, 1, 2, 1, 1, false);
                        bn!("bn", cout, a);
                    }
                    SkipImpl::Project => {
                        conv!("conv", cin, cout, 1, 1, 1, 1, false);
                        bn!("bn", cout, a);
                    }
                }
            }
            OpKind::Linear => {
                let l = nn::linear(
                    p,
                    cin as i64,
                    cout as i64,
                    nn::LinearConfig {
                        bias: op.bias,
                        ..Default::default()
                    },
                );
                lin = Some((l.ws, l.bs));
            }
            OpKind::BatchNorm => bn!("bn", cin, op.affine),
            OpKind::MaxPool
            | OpKind::AvgPool
            | OpKind::Zero
            | OpKind::GlobalAvgPool
            | OpKind::Dropout
            | OpKind::Relu
            | OpKind::Relu6
            | OpKind::HSwish
            | OpKind::Swish
            | OpKind::Sigmoid => {}
        }
        Block {
            op: op.clone(),
            cin,
            convs,
            bns,
            lin,
            ktrans: None,
        }
    }

    /// Runs the op; `used` is the architecture's op (smaller than the block's for elastic MBConvs).
    fn forward(&self, x: &Tensor, used: &Op, train: bool) -> Tensor {
        self.forward_shared(x, None, used, train)
    }

    /// Whether the op's first step is `relu` of its input (and its only use of the input), so that
    /// several such ops reading one value can share that `relu` (`forward_shared`).
    fn relu_first(&self) -> bool {
        match self.op.kind {
            OpKind::SepConv | OpKind::DilConv | OpKind::ReluConvBn | OpKind::FactorizedReduce => {
                true
            }
            OpKind::Skip => skip_impl(&self.op, self.cin) != SkipImpl::Identity,
            _ => false,
        }
    }

    /// `forward`, given `relu(x)` already computed (`relu`) for an op that starts with it.
    fn forward_shared(&self, x: &Tensor, relu: Option<&Tensor>, used: &Op, train: bool) -> Tensor {
        let op = &self.op;
        let t = train;
        let relu_x = || relu.map_or_else(|| x.relu(), Tensor::shallow_clone);
        match op.kind {
            OpKind::Conv | OpKind::DwConv => self.c("conv").fwd(x),
            OpKind::SepConv => {
                let h = self.c("pw1").fwd(&self.c("dw1").fwd(&relu_x()));
                let h = self.b("bn1").fwd(&h, t).relu();
                self.b("bn2")
                    .fwd(&self.c("pw2").fwd(&self.c("dw2").fwd(&h)), t)
            }
            OpKind::DilConv => self
                .b("bn")
                .fwd(&self.c("pw").fwd(&self.c("dw").fwd(&relu_x())), t),
            OpKind::ReluConvBn => self.b("bn").fwd(&self.c("conv").fwd(&relu_x()), t),
            OpKind::MbConv => {
                let cin = self.cin as i64;
                let hidden = used.hidden(self.cin) as i64;
                let k = used.kernel as i64;
                let g = op.groups as i64;
                let mut h = x.shallow_clone();
                if op.expand != 1 {
                    h = self.c("expand").fwd_sliced(&h, hidden, cin / g, 1, g);
                    h = act(&self.b("bn_expand").fwd(&h, t), op.act);
                    if g > 1 {
                        h = channel_shuffle(&h, g);
                    }
                }
                h = match &self.ktrans {
                    Some(t) => t.conv(self.c("dw"), &h, hidden, k),
                    None => self.c("dw").fwd_sliced(&h, hidden, 1, k, hidden),
                };
                h = act(&self.b("bn_dw").fwd(&h, t), op.act);
                if op.se {
                    let sq = se_channels(hidden as usize) as i64;
                    let s = h.mean_dim([2i64, 3].as_slice(), true, h.kind());
                    let s = self.c("se_reduce").fwd_sliced(&s, sq, hidden, 1, 1).relu();
                    let s = self
                        .c("se_expand")
                        .fwd_sliced(&s, hidden, sq, 1, 1)
                        .hardsigmoid();
                    // Not `*=`: in place would overwrite `h`, which autograd needs for `s`'s gradient.
                    #[allow(clippy::assign_op_pattern)]
                    {
                        h = h * s;
                    }
                }
                let out = self.b("bn_project").fwd(
                    &self
                        .c("project")
                        .fwd_sliced(&h, op.out as i64, hidden / g, 1, g),
                    t,
                );
                if mbconv_residual(op, self.cin) {
                    out + x
                } else {
                    out
                }
            }
            OpKind::Shuffle | OpKind::ShuffleXception => {
                let (proj, main_in) = if op.stride == 1 {
                    let s = x.size();
                    let y = x.reshape([-1, 2, s[2] * s[3]]).permute([1, 0, 2]).reshape([
                        2,
                        -1,
                        s[1] / 2,
                        s[2],
                        s[3],
                    ]);
                    (y.get(0), y.get(1))
                } else {
                    let p = self.b("proj_bn1").fwd(&self.c("proj_dw").fwd(x), t);
                    let p = self.b("proj_bn2").fwd(&self.c("proj_pw").fwd(&p), t).relu();
                    (p, x.shallow_clone())
                };
                let m = if op.kind == OpKind::Shuffle {
                    let h = self.b("bn1").fwd(&self.c("pw1").fwd(&main_in), t).relu();
                    let h = self.b("bn2").fwd(&self.c("dw").fwd(&h), t);
                    self.b("bn3").fwd(&self.c("pw2").fwd(&h), t).relu()
                } else {
                    let h = self.b("bn1").fwd(&self.c("dw1").fwd(&main_in), t);
                    let h = self.b("bn2").fwd(&self.c("pw1").fwd(&h), t).relu();
                    let h = self.b("bn3").fwd(&self.c("dw2").fwd(&h), t);
                    let h = self.b("bn4").fwd(&self.c("pw2").fwd(&h), t).relu();
                    let h = self.b("bn5").fwd(&self.c("dw3").fwd(&h), t);
                    self.b("bn6").fwd(&self.c("pw3").fwd(&h), t).relu()
                };
                Tensor::cat(&[proj, m], 1)
            }
            OpKind::BasicBlock => {
                let h = self.b("bn_a").fwd(&self.c("conv_a").fwd(&x.relu()), t);
                let h = self.b("bn_b").fwd(&self.c("conv_b").fwd(&h.relu()), t);
                let r = if op.stride == 2 {
                    self.c("down").fwd(&x.avg_pool2d(
                        [2, 2],
                        [2, 2],
                        [0, 0],
                        false,
                        true,
                        None::<i64>,
                    ))
                } else if self.cin != op.out {
                    self.b("bn_down").fwd(&self.c("down").fwd(&x.relu()), t)
                } else {
                    x.shallow_clone()
                };
                r + h
            }
            OpKind::Skip | OpKind::FactorizedReduce => {
                let how = if op.kind == OpKind::Skip {
                    skip_impl(op, self.cin)
                } else {
                    SkipImpl::FactorizedReduce
                };
                match how {
                    SkipImpl::Identity => x.shallow_clone(),
                    SkipImpl::Project => self.b("bn").fwd(&self.c("conv").fwd(&relu_x()), t),
                    SkipImpl::FactorizedReduce => {
                        let r = relu_x();
                        let s = r.size();
                        let a = self.c("conv1").fwd(&r);
                        let b =
                            self.c("conv2")
                                .fwd(&r.narrow(2, 1, s[2] - 1).narrow(3, 1, s[3] - 1));
                        self.b("bn").fwd(&Tensor::cat(&[a, b], 1), t)
                    }
                }
            }
            OpKind::MaxPool => {
                let k = op.kernel as i64;
                x.max_pool2d([k, k], [op.stride as i64; 2], [k / 2; 2], [1, 1], false)
            }
            OpKind::AvgPool => {
                let k = op.kernel as i64;
                x.avg_pool2d(
                    [k, k],
                    [op.stride as i64; 2],
                    [k / 2; 2],
                    false,
                    false,
                    None::<i64>,
                )
            }
            OpKind::Zero => {
                // Zeros shaped from the input (not from its sizes), so traces accept any batch.
                let s = x.size();
                let one = x.narrow(1, 0, 1);
                if s.len() == 4 {
                    let st = op.stride as i64;
                    one.slice(2, 0, s[2], st)
                        .slice(3, 0, s[3], st)
                        .zeros_like()
                        .expand([-1, op.out as i64, -1, -1], false)
                } else {
                    one.zeros_like().expand([-1, op.out as i64], false)
                }
            }
            OpKind::GlobalAvgPool => x.mean_dim([2i64, 3].as_slice(), false, x.kind()),
            OpKind::Linear => {
                let (w, b) = self.lin.as_ref().expect("linear weights");
                x.linear(w, b.as_ref())
            }
            OpKind::Dropout => x.dropout(op.p, train),
            OpKind::Relu => x.relu(),
            OpKind::Relu6 => x.clamp(0.0, 6.0),
            OpKind::HSwish => x.hardswish(),
            OpKind::Swish => x.silu(),
            OpKind::Sigmoid => x.sigmoid(),
            OpKind::BatchNorm => self.b("bn").fwd(x, t),
        }
    }
}

fn sub_path<'a>(root: &nn::Path<'a>, path: &str) -> nn::Path<'a> {
    let mut p = root.sub(path.split('.').next().unwrap_or("x"));
    for c in path.split('.').skip(1) {
        p = p.sub(c);
    }
    p
}

fn build_blocks(vs: &nn::VarStore, net: &Net) -> HashMap<String, Block> {
    let root = vs.root();
    let mut blocks = HashMap::new();
    for (n, op, input) in net.ops() {
        blocks
            .entry(n.path.clone())
            .or_insert_with(|| Block::new(&sub_path(&root, &n.path), op, input, n.shape));
    }
    blocks
}

/// The nodes whose value leaves their candidate: a node of choice (d, o) read by a node that is not of
/// the same choice (the next layer, the head, a sum). A mix weight scales such a node's output.
fn branch_exits(net: &Net) -> Vec<bool> {
    let mut exit = vec![false; net.nodes.len()];
    for n in &net.nodes {
        for &i in &n.inputs {
            let c = net.nodes[i].choice;
            if c.is_some() && n.choice != c {
                exit[i] = true;
            }
        }
    }
    exit
}

/// Runs a network; the output of a candidate (decision, option) with an entry in `weights` is scaled
/// by it where it leaves the candidate. No entries: exactly the plain forward.
/// Whether node `i` passes its input through unchanged (a `skip` that keeps the shape).
fn is_identity(net: &Net, i: usize) -> bool {
    let n = &net.nodes[i];
    matches!(&n.kind, NetKind::Op(op) if op.kind == crate::catalog::OpKind::Skip)
        && n.inputs
            .first()
            .is_some_and(|&j| net.nodes[j].shape == n.shape)
}

/// Whether drop-path applies to the summands of sum node `n`: those of a cell node do, not those of
/// an input-choice cell's output (`cell{i}.out`: ENAS's 1x1 convolution over the loose ends, per node).
fn drops_summands(n: &crate::ir::graph::NetNode) -> bool {
    !n.path.ends_with(".out")
}

/// `v` with each sample zeroed with probability `p`, the rest scaled by 1/(1-p).
fn drop_samples(v: &Tensor, p: f64) -> Tensor {
    let keep = 1.0 - p;
    let mut shape = vec![v.size()[0]];
    shape.extend(std::iter::repeat_n(1, v.dim() - 1));
    let mask = Tensor::rand(shape.as_slice(), (v.kind(), v.device()))
        .lt(keep)
        .to_kind(v.kind());
    v * mask / keep
}

/// What a forward does beyond running the network's nodes.
#[derive(Default)]
struct RunOpts<'a> {
    /// Candidate weights, scaling a (decision, option)'s output where it leaves the candidate.
    weights: Option<&'a HashMap<(usize, usize), Tensor>>,
    /// Drop-path probability for the summands of cell nodes (training only).
    drop_path: f64,
    /// Classifier dropout override (training only): dropout with this probability on the input of the
    /// network's last linear layer, in place of a `dropout` op already there.
    dropout: Option<f64>,
    /// A node whose value is returned beside the output (the auxiliary head's input).
    tap: Option<usize>,
    /// Run the unoptimised forward (`run_reference`), the oracle of the equality tests.
    reference: bool,
    /// Single-Path NAS: MBConv blocks (by path) that run through their gated superkernel.
    gates: Option<&'a HashMap<String, superkernel::Gates>>,
    /// FBNetV2: nodes (by path) whose output and hidden channels are masked.
    masks: Option<&'a HashMap<String, masked::NodeMasks>>,
}

/// `x` resized (bilinear) to the network's input resolution when a resolution decision chose
/// another size than the images have (OFA, FBNetV2's elastic resolution); unchanged otherwise.
fn resize_to(x: &Tensor, shape: &Shape) -> Tensor {
    match (shape, x.size().as_slice()) {
        (Shape::Map { h, w, .. }, [_, _, xh, xw]) if (*h as i64, *w as i64) != (*xh, *xw) => {
            x.upsample_bilinear2d([*h as i64, *w as i64], false, None, None)
        }
        _ => x.shallow_clone(),
    }
}

/// The index of the network's classifier (its last linear layer), if it has one.
fn classifier(net: &Net) -> Option<usize> {
    net.nodes.iter().rposition(
        |n| matches!(&n.kind, NetKind::Op(op) if op.kind == crate::catalog::OpKind::Linear),
    )
}

/// Runs a network; returns its output and, with `opts.tap`, that node's value. The optimised forward
/// (`fast`) unless `opts.reference`.
fn run(
    net: &Net,
    blocks: &HashMap<String, Block>,
    x: &Tensor,
    train: bool,
    opts: &RunOpts,
) -> (Tensor, Option<Tensor>) {
    if opts.reference {
        run_reference(net, blocks, x, train, opts)
    } else {
        fast::run(net, blocks, x, train, opts)
    }
}

/// The unoptimised forward: every node in order, every value kept to the end, every weight applied
/// where its candidate exits. The oracle the optimised forward (`fast`) is tested against.
fn run_reference(
    net: &Net,
    blocks: &HashMap<String, Block>,
    x: &Tensor,
    train: bool,
    opts: &RunOpts,
) -> (Tensor, Option<Tensor>) {
    let drop_path = opts.drop_path;
    let dropping = train && drop_path > 0.0;
    let no_weights = HashMap::new();
    let weights = opts.weights.unwrap_or(&no_weights);
    let exits = if weights.is_empty() {
        vec![]
    } else {
        branch_exits(net)
    };
    // With a dropout override the classifier's own `dropout` op (if it has one) passes through.
    let (head, head_dropout) = match opts.dropout {
        Some(_) => {
            let c = classifier(net);
            let own = c.and_then(|c| net.nodes[c].inputs.first().copied()).filter(|&i| {
                matches!(&net.nodes[i].kind, NetKind::Op(op) if op.kind == crate::catalog::OpKind::Dropout)
            });
            (c, own)
        }
        None => (None, None),
    };
    let mut tapped = None;
    let mut vals: Vec<Option<Tensor>> = Vec::with_capacity(net.nodes.len());
    for (idx, n) in net.nodes.iter().enumerate() {
        let v = match &n.kind {
            NetKind::Input => resize_to(x, &n.shape),
            NetKind::Op(_) if Some(idx) == head_dropout => {
                vals[n.inputs[0]].as_ref().expect("input").shallow_clone()
            }
            NetKind::Op(op) => {
                let inp = vals[n.inputs[0]].as_ref().expect("topological order");
                match (opts.dropout, opts.gates.and_then(|g| g.get(&n.path))) {
                    (Some(p), _) if Some(idx) == head => {
                        blocks[&n.path].forward(&inp.dropout(p, train), op, train)
                    }
                    (_, Some(g)) => blocks[&n.path].forward_superkernel(inp, g, train),
                    _ => match opts.masks.and_then(|m| m.get(&n.path)) {
                        Some(m) => blocks[&n.path].forward_masked(inp, op, m, train),
                        None => blocks[&n.path].forward(inp, op, train),
                    },
                }
            }
            NetKind::Sum => {
                let dropping = dropping && drops_summands(n);
                let term = |i: usize| {
                    let v = vals[i].as_ref().expect("input");
                    if dropping && !is_identity(net, i) {
                        drop_samples(v, drop_path)
                    } else {
                        v.shallow_clone()
                    }
                };
                let mut acc = term(n.inputs[0]);
                for &i in &n.inputs[1..] {
                    // Not `+=`: `acc` starts as a shallow clone, so in place would overwrite an input.
                    #[allow(clippy::assign_op_pattern)]
                    {
                        acc = acc + term(i);
                    }
                }
                acc
            }
            NetKind::Concat => {
                let parts: Vec<&Tensor> = n
                    .inputs
                    .iter()
                    .map(|&i| vals[i].as_ref().expect("input"))
                    .collect();
                Tensor::cat(&parts, 1)
            }
            NetKind::Output => vals[n.inputs[0]].as_ref().expect("input").shallow_clone(),
        };
        let w = match n.choice {
            Some(c) if exits.get(idx).copied().unwrap_or(false) => weights.get(&c),
            _ => None,
        };
        let v = match w {
            Some(w) => v * w,
            None => v,
        };
        if Some(idx) == opts.tap {
            tapped = Some(v.shallow_clone());
        }
        vals.push(Some(v));
    }
    let out = vals.pop().flatten().unwrap_or_else(|| x.shallow_clone());
    (out, tapped)
}

/// The supernet: every candidate's weights in one VarStore, named by IR path.
pub struct Supernet {
    pub vs: nn::VarStore,
    space: SearchSpace,
    blocks: HashMap<String, Block>,
    /// Classifier dropout override in training (`dropout p` on the stage).
    pub dropout: Option<f64>,
}

impl Supernet {
    pub fn new(space: &SearchSpace, device: Device) -> Result<Supernet, IrError> {
        let space = SearchSpace::new(space.spec.clone())?;
        let vs = nn::VarStore::new(device);
        let mut blocks = build_blocks(&vs, &space.supernet_net()?);
        elastic::add_transforms(&vs, &space, &mut blocks);
        Ok(Supernet {
            vs,
            space,
            blocks,
            dropout: None,
        })
    }
    pub fn space(&self) -> &SearchSpace {
        &self.space
    }
    /// Runs the architecture's path only.
    pub fn forward_t(&self, x: &Tensor, arch: &Arch, train: bool) -> Result<Tensor, IrError> {
        let net = self.space.net(arch)?;
        let opts = RunOpts {
            dropout: self.dropout,
            ..RunOpts::default()
        };
        Ok(run(&net, &self.blocks, x, train, &opts).0)
    }
    /// Runs a mix: for a layer or edge decision with several options every listed candidate runs on
    /// the same input and their outputs, each times its weight if it has one, are summed; a weight also
    /// scales a lone candidate. With one unweighted option per decision this is exactly `forward_t`.
    /// Errors: a decision the network needs with no option, an option out of range or listed twice,
    /// several options of a channels/depth/elastic/resolution decision, a weight that is not one
    /// number on `x`'s device.
    pub fn forward_mix(&self, x: &Tensor, mix: &Mix, train: bool) -> Result<Tensor, IrError> {
        let (net, _) = self.space.net_from_mix(&mix.options())?;
        let weights = mix.scalar_weights(&self.space, x.device())?;
        let opts = RunOpts {
            weights: Some(&weights),
            dropout: self.dropout,
            ..RunOpts::default()
        };
        Ok(run(&net, &self.blocks, x, train, &opts).0)
    }
    /// `forward_mix` by the unoptimised forward: every candidate node computed (`none` too), every
    /// weight applied where its candidate exits, every value kept to the end. The oracle of the
    /// tests that the optimised forward keeps outputs and gradients.
    #[doc(hidden)]
    pub fn forward_mix_reference(
        &self,
        x: &Tensor,
        mix: &Mix,
        train: bool,
    ) -> Result<Tensor, IrError> {
        let (net, _) = self.space.net_from_mix(&mix.options())?;
        let weights = mix.scalar_weights(&self.space, x.device())?;
        let opts = RunOpts {
            weights: Some(&weights),
            dropout: self.dropout,
            reference: true,
            ..RunOpts::default()
        };
        Ok(run(&net, &self.blocks, x, train, &opts).0)
    }
    pub fn to(&mut self, device: Device) {
        self.vs.set_device(device);
    }
    /// Number of trainable parameters.
    pub fn num_params(&self) -> i64 {
        trainable_numel(&self.vs)
    }
    /// `extract`, then the subnet's batch norm statistics re-estimated from `batches` (training
    /// images at the dataset's size; the subnet resizes them to its resolution), as OFA does for each
    /// sub-network before evaluating it (`Subnet::recalibrate_bn`). Returns the subnet and the
    /// number of batches used.
    pub fn extract_recalibrated(
        &self,
        arch: &Arch,
        batches: impl IntoIterator<Item = Tensor>,
    ) -> Result<(Subnet, usize), IrError> {
        let sub = self.extract(arch)?;
        let n = sub.recalibrate_bn(batches);
        Ok((sub, n))
    }
    /// OFA's channel sorting before width shrinking: the expanded channels of every MBConv are
    /// reordered by importance (L1 norm of the projection weights reading them), descending, with
    /// the matching channels of the expansion, batch norms, depthwise kernel and squeeze-excitation,
    /// so that the largest network computes the same function and a narrower expansion keeps the
    /// most important channels. `stage` > 0 keeps the channels of the `stage` widest smaller widths
    /// within them (OFA's `expand_ratio_stage`). Returns the number of blocks sorted.
    pub fn sort_channels(&self, stage: usize) -> usize {
        elastic::sort_channels(&self.space, &self.blocks, stage)
    }
    /// The kernel transformation matrices (VarStore names) that `net`, a network of this supernet's
    /// space, does not use (its kernels are as large as a step's source): they get no gradient, so a
    /// training step leaves them alone (as PyTorch skips a parameter without a gradient).
    pub fn idle_kernel_transforms(&self, net: &Net) -> Vec<String> {
        elastic::idle_transforms(&self.blocks, net)
    }
    /// A standalone network of `arch` with the supernet's weights (sliced for elastic ops; an
    /// elastic kernel through its transformation matrices).
    pub fn extract(&self, arch: &Arch) -> Result<Subnet, IrError> {
        let net = self.space.net(arch)?;
        let vs = nn::VarStore::new(self.vs.device());
        let blocks = build_blocks(&vs, &net);
        let src = self.vs.variables();
        tch::no_grad(|| {
            for (name, mut t) in vs.variables() {
                if let Some(s) = src.get(&name) {
                    let mut s = s.shallow_clone();
                    let want = t.size();
                    let have = s.size();
                    for d in 0..want.len() {
                        if have[d] != want[d] {
                            let off = if want.len() == 4 && d >= 2 {
                                (have[d] - want[d]) / 2
                            } else {
                                0
                            };
                            s = s.narrow(d as i64, off, want[d]);
                        }
                    }
                    t.copy_(&s);
                }
            }
        });
        elastic::bake_kernels(&self.blocks, &blocks, &net);
        Ok(Subnet {
            vs,
            net,
            blocks,
            dropout: None,
            aux: None,
            folded: false,
        })
    }
}

/// A standalone network of one architecture.
pub struct Subnet {
    pub vs: nn::VarStore,
    net: Net,
    blocks: HashMap<String, Block>,
    /// Classifier dropout override in training (`dropout p` on the stage).
    pub dropout: Option<f64>,
    /// A training-only auxiliary classifier and the node it reads (`auxiliary w` on the stage).
    aux: Option<(usize, AuxHead)>,
    /// Batch norms folded into convolutions (`fold_bn`): evaluation only from then on.
    folded: bool,
}

impl Subnet {
    /// Compiles a fixed network (e.g. MobileNetV2) or one arch of a space with fresh weights.
    pub fn new(space: &SearchSpace, arch: &Arch, device: Device) -> Result<Subnet, IrError> {
        let net = space.net(arch)?;
        let vs = nn::VarStore::new(device);
        let blocks = build_blocks(&vs, &net);
        Ok(Subnet {
            vs,
            net,
            blocks,
            dropout: None,
            aux: None,
            folded: false,
        })
    }

    /// Adds DARTS's auxiliary classifier on the output of the cell at two thirds of the depth (its
    /// weights live in this network's VarStore under `auxiliary.`, so they are trained and
    /// checkpointed with it, but they are not part of the saved model or its parameter count).
    /// Errors: a network without cells.
    pub fn add_auxiliary(&mut self) -> Result<(), String> {
        let (tap, classes) = auxiliary::tap(&self.net)?;
        let head = AuxHead::new(
            &(self.vs.root() / AUX_PREFIX),
            &self.net.nodes[tap].shape,
            classes,
        )?;
        self.aux = Some((tap, head));
        Ok(())
    }

    pub fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        assert!(
            !(train && self.folded),
            "a subnet whose batch norms are folded (fold_bn) only evaluates"
        );
        let opts = RunOpts {
            dropout: self.dropout,
            ..RunOpts::default()
        };
        run(&self.net, &self.blocks, x, train, &opts).0
    }

    /// A training forward: the logits and, with an auxiliary head, the auxiliary logits. With
    /// `drop_path` > 0 (DARTS, Zoph et al.) every summand of a cell node that is not an identity is
    /// zeroed for a whole sample with that probability, and scaled by 1/(1-p) otherwise.
    pub fn forward_train(&self, x: &Tensor, drop_path: f64) -> (Tensor, Option<Tensor>) {
        assert!(
            !self.folded,
            "a subnet whose batch norms are folded (fold_bn) only evaluates"
        );
        let opts = RunOpts {
            drop_path,
            dropout: self.dropout,
            tap: self.aux.as_ref().map(|(t, _)| *t),
            ..RunOpts::default()
        };
        let (out, tapped) = run(&self.net, &self.blocks, x, true, &opts);
        let aux = match (&self.aux, tapped) {
            (Some((_, head)), Some(v)) => Some(head.forward(&v, true)),
            _ => None,
        };
        (out, aux)
    }
    pub fn to(&mut self, device: Device) {
        self.vs.set_device(device);
    }
    /// Compiles the network for evaluation: every batch norm that directly follows a convolution
    /// (inside an op, or a `bn` node reading a `conv` node alone) is folded into it with its
    /// current running statistics (recalibrate first): the convolution's weights are scaled per
    /// output channel and get a bias, the batch norm passes its input on. Evaluation forwards
    /// (`forward_t(x, false)`) are then equal to the unfolded ones up to rounding, and cheaper;
    /// the VarStore keeps the unfolded weights (checkpoints and exports are unchanged), and the
    /// subnet no longer trains. Returns the number of batch norms folded.
    pub fn fold_bn(&mut self) -> usize {
        let n = fold::fold(&self.net, &mut self.blocks);
        self.folded = true;
        n
    }
    /// Trainable parameters of the network (an auxiliary head's are not counted).
    pub fn num_params(&self) -> i64 {
        self.vs
            .variables()
            .iter()
            .filter(|(n, t)| t.requires_grad() && !is_auxiliary(n))
            .map(|(_, t)| t.numel() as i64)
            .sum()
    }
    /// Trainable parameters of the auxiliary head (0 without one).
    pub fn auxiliary_params(&self) -> i64 {
        self.vs
            .variables()
            .iter()
            .filter(|(n, t)| t.requires_grad() && is_auxiliary(n))
            .map(|(_, t)| t.numel() as i64)
            .sum()
    }
    /// Re-estimates every BatchNorm's running statistics from `batches` (training images, already
    /// prepared): statistics are reset, then each batch is forwarded in training mode without
    /// gradients, the k-th with momentum 1/k, so the result is the plain mean over the batches (as
    /// SPOS recomputes BN statistics per candidate). Returns the number of batches used.
    pub fn recalibrate_bn(&self, batches: impl IntoIterator<Item = Tensor>) -> usize {
        let bns: Vec<&Bn> = self
            .blocks
            .values()
            .flat_map(|b| b.bns.iter().map(|(_, bn)| bn))
            .collect();
        tch::no_grad(|| {
            for bn in &bns {
                let _ = bn.bn.running_mean.shallow_clone().zero_();
                let _ = bn.bn.running_var.shallow_clone().fill_(1.0);
            }
        });
        let mut k = 0;
        for x in batches {
            k += 1;
            for bn in &bns {
                bn.recal.set(Some(1.0 / k as f64));
            }
            tch::no_grad(|| {
                let _ = self.forward_t(&x, true);
            });
        }
        for bn in &bns {
            bn.recal.set(None);
        }
        k
    }
}

/// Number of trainable parameters held by a VarStore.
fn trainable_numel(vs: &nn::VarStore) -> i64 {
    vs.trainable_variables()
        .iter()
        .map(|t| t.numel() as i64)
        .sum()
}
