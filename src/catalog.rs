//! The op catalogue's signatures: every op a `.nas` file may name, its parameters, their types and
//! defaults. Sema checks calls against this table; the IR, cost model and compiler implement each
//! `OpKind` exhaustively, so a new op is added here first and the compiler then says what is missing.

use serde::{Deserialize, Serialize};

/// Every op nasl knows. Shape rules, parameter counts, MACs and the tch module hang off this enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    Conv,
    DwConv,
    SepConv,
    DilConv,
    ReluConvBn,
    MbConv,
    Shuffle,
    ShuffleXception,
    BasicBlock,
    MaxPool,
    AvgPool,
    Skip,
    Zero,
    FactorizedReduce,
    GlobalAvgPool,
    Linear,
    Dropout,
    Relu,
    Relu6,
    HSwish,
    Swish,
    Sigmoid,
    BatchNorm,
}

/// The type a parameter accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamTy {
    /// A whole number (channels, kernel size, stride, ...).
    Int,
    /// A real number (probabilities, epsilons).
    Float,
    /// `true`/`false`, or the bare flag name meaning `true`.
    Bool,
    /// One of a fixed set of names.
    Name(&'static [&'static str]),
}

/// Where a parameter's value comes from when a call does not give it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Default {
    /// The call must give it.
    Required,
    /// Taken from the enclosing context: a chain stage's `out`/`stride`, a cell edge's channels and
    /// stride, the input's channels. A call may still give it explicitly.
    Context,
    Int(i64),
    Float(f64),
    Bool(bool),
    Name(&'static str),
}

/// One parameter of an op.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    pub name: &'static str,
    pub ty: ParamTy,
    pub default: Default,
    pub doc: &'static str,
}

/// The signature of one op: its name in `.nas` files, other accepted names, and parameters in
/// positional order (`sep_conv(5)` gives `kernel`, the first positional parameter).
#[derive(Debug, Clone, Copy)]
pub struct OpSig {
    pub kind: OpKind,
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    /// Parameters that may be given positionally, in order, then the keyword-only ones.
    pub positional: usize,
    pub params: &'static [Param],
    pub doc: &'static str,
}

const fn p(name: &'static str, ty: ParamTy, default: Default, doc: &'static str) -> Param {
    Param {
        name,
        ty,
        default,
        doc,
    }
}

const OUT: Param = p(
    "out",
    ParamTy::Int,
    Default::Context,
    "output channels (default: the stage's or cell's)",
);
const STRIDE: Param = p(
    "stride",
    ParamTy::Int,
    Default::Context,
    "spatial stride (default: the stage's or cell edge's)",
);
const KERNEL3: Param = p("kernel", ParamTy::Int, Default::Int(3), "kernel size");
const AFFINE: Param = p(
    "affine",
    ParamTy::Bool,
    Default::Bool(true),
    "batch norms have learnable scale and shift",
);
const ACTS: &[&str] = &["relu", "relu6", "hswish", "swish", "sigmoid"];

/// The whole table, in documentation order.
pub const OPS: &[OpSig] = &[
    OpSig {
        kind: OpKind::Conv,
        name: "conv",
        aliases: &[],
        positional: 1,
        params: &[
            KERNEL3,
            OUT,
            STRIDE,
            p("groups", ParamTy::Int, Default::Int(1), "channel groups"),
            p("dilation", ParamTy::Int, Default::Int(1), "dilation"),
            p(
                "bias",
                ParamTy::Bool,
                Default::Bool(false),
                "add a learned bias",
            ),
        ],
        doc: "2-d convolution with 'same' padding (kernel/2 * dilation)",
    },
    OpSig {
        kind: OpKind::DwConv,
        name: "dw_conv",
        aliases: &["depthwise"],
        positional: 1,
        params: &[
            KERNEL3,
            STRIDE,
            p("dilation", ParamTy::Int, Default::Int(1), "dilation"),
        ],
        doc: "depthwise convolution: groups = channels, output channels = input channels",
    },
    OpSig {
        kind: OpKind::SepConv,
        name: "sep_conv",
        aliases: &[],
        positional: 1,
        params: &[KERNEL3, OUT, STRIDE, AFFINE],
        doc: "DARTS separable conv, applied twice: (ReLU, depthwise k x k, pointwise 1x1, BN) x 2; stride in the first",
    },
    OpSig {
        kind: OpKind::DilConv,
        name: "dil_conv",
        aliases: &[],
        positional: 1,
        params: &[
            KERNEL3,
            OUT,
            STRIDE,
            p("dilation", ParamTy::Int, Default::Int(2), "dilation"),
            AFFINE,
        ],
        doc: "DARTS dilated conv: ReLU, dilated depthwise k x k, pointwise 1x1, BN",
    },
    OpSig {
        kind: OpKind::ReluConvBn,
        name: "relu_conv_bn",
        aliases: &["nor_conv"],
        positional: 1,
        params: &[KERNEL3, OUT, STRIDE, AFFINE],
        doc: "ReLU, k x k conv, BN (the NAS-Bench-201 nor_conv ops)",
    },
    OpSig {
        kind: OpKind::MbConv,
        name: "mbconv",
        aliases: &["inverted_residual"],
        positional: 2,
        params: &[
            KERNEL3,
            p(
                "expand",
                ParamTy::Int,
                Default::Int(6),
                "expansion ratio of the hidden channels (1: no expansion conv)",
            ),
            OUT,
            STRIDE,
            p(
                "se",
                ParamTy::Bool,
                Default::Bool(false),
                "squeeze-and-excite on the hidden channels (reduction 4)",
            ),
            p(
                "groups",
                ParamTy::Int,
                Default::Int(1),
                "groups of the two 1x1 convs (a channel shuffle follows the first when > 1)",
            ),
            p(
                "act",
                ParamTy::Name(ACTS),
                Default::Name("relu6"),
                "activation after the expansion and depthwise convs",
            ),
        ],
        doc: "MobileNetV2 inverted residual: 1x1 expand, BN, act, k x k depthwise, BN, act, [SE], 1x1 project, BN; residual when stride 1 and in = out",
    },
    OpSig {
        kind: OpKind::Shuffle,
        name: "shuffle",
        aliases: &["shufflenet"],
        positional: 1,
        params: &[KERNEL3, OUT, STRIDE],
        doc: "ShuffleNetV2 block (SPOS Shuffle3x3/5x5/7x7): channel split (or two branches at stride 2), 1x1, dw k x k, 1x1, concat, shuffle",
    },
    OpSig {
        kind: OpKind::ShuffleXception,
        name: "shuffle_xception",
        aliases: &["xception"],
        positional: 0,
        params: &[OUT, STRIDE],
        doc: "SPOS Xception-like ShuffleNetV2 block: three (dw 3x3, 1x1) pairs in the main branch",
    },
    OpSig {
        kind: OpKind::BasicBlock,
        name: "basic_block",
        aliases: &["resnet_block"],
        positional: 0,
        params: &[OUT, STRIDE],
        doc: "NAS-Bench-201 ResNet basic block: (ReLU, 3x3 conv, BN) x 2 plus shortcut: 2x2 avg pool + 1x1 conv at stride 2, ReLU-1x1 conv-BN when only channels change, identity otherwise; no final ReLU",
    },
    OpSig {
        kind: OpKind::MaxPool,
        name: "max_pool",
        aliases: &[],
        positional: 1,
        params: &[KERNEL3, STRIDE],
        doc: "max pooling with padding kernel/2",
    },
    OpSig {
        kind: OpKind::AvgPool,
        name: "avg_pool",
        aliases: &[],
        positional: 1,
        params: &[KERNEL3, STRIDE],
        doc: "average pooling with padding kernel/2, padding not counted",
    },
    OpSig {
        kind: OpKind::Skip,
        name: "skip",
        aliases: &["identity", "skip_connect"],
        positional: 0,
        params: &[OUT, STRIDE],
        doc: "identity; where the stride is 2 or channels change it becomes a factorized reduce",
    },
    OpSig {
        kind: OpKind::Zero,
        name: "none",
        aliases: &["zero"],
        positional: 0,
        params: &[OUT, STRIDE],
        doc: "outputs zeros of the edge's shape (removes the edge or layer)",
    },
    OpSig {
        kind: OpKind::FactorizedReduce,
        name: "factorized_reduce",
        aliases: &[],
        positional: 0,
        params: &[OUT, AFFINE],
        doc: "ReLU, two 1x1 stride-2 convs (the second offset by one pixel) concatenated, BN",
    },
    OpSig {
        kind: OpKind::GlobalAvgPool,
        name: "global_avg_pool",
        aliases: &["gap"],
        positional: 0,
        params: &[],
        doc: "average over the spatial dimensions, giving a vector",
    },
    OpSig {
        kind: OpKind::Linear,
        name: "linear",
        aliases: &["fc"],
        positional: 1,
        params: &[
            OUT,
            p(
                "bias",
                ParamTy::Bool,
                Default::Bool(true),
                "add a learned bias",
            ),
        ],
        doc: "fully connected layer on a vector",
    },
    OpSig {
        kind: OpKind::Dropout,
        name: "dropout",
        aliases: &[],
        positional: 1,
        params: &[p(
            "p",
            ParamTy::Float,
            Default::Float(0.5),
            "probability of zeroing an element in training",
        )],
        doc: "dropout",
    },
    OpSig {
        kind: OpKind::Relu,
        name: "relu",
        aliases: &[],
        positional: 0,
        params: &[],
        doc: "max(x, 0)",
    },
    OpSig {
        kind: OpKind::Relu6,
        name: "relu6",
        aliases: &[],
        positional: 0,
        params: &[],
        doc: "min(max(x, 0), 6)",
    },
    OpSig {
        kind: OpKind::HSwish,
        name: "hswish",
        aliases: &["hardswish"],
        positional: 0,
        params: &[],
        doc: "x * relu6(x + 3) / 6",
    },
    OpSig {
        kind: OpKind::Swish,
        name: "swish",
        aliases: &["silu"],
        positional: 0,
        params: &[],
        doc: "x * sigmoid(x)",
    },
    OpSig {
        kind: OpKind::Sigmoid,
        name: "sigmoid",
        aliases: &[],
        positional: 0,
        params: &[],
        doc: "1 / (1 + exp(-x))",
    },
    OpSig {
        kind: OpKind::BatchNorm,
        name: "bn",
        aliases: &["batch_norm"],
        positional: 0,
        params: &[
            p(
                "eps",
                ParamTy::Float,
                Default::Float(1e-5),
                "added to the variance",
            ),
            p(
                "momentum",
                ParamTy::Float,
                Default::Float(0.1),
                "running statistics update rate (PyTorch convention)",
            ),
            AFFINE,
        ],
        doc: "batch normalisation",
    },
];

/// Looks an op up by its name or one of its aliases.
pub fn lookup(name: &str) -> Option<&'static OpSig> {
    OPS.iter()
        .find(|s| s.name == name || s.aliases.contains(&name))
}

/// The signature of a kind (every kind has exactly one).
pub fn signature(kind: OpKind) -> &'static OpSig {
    OPS.iter()
        .find(|s| s.kind == kind)
        .expect("every OpKind has a signature in OPS")
}

/// Every name and alias, for "did you mean" suggestions and editor keyword lists.
pub fn all_names() -> impl Iterator<Item = &'static str> {
    OPS.iter()
        .flat_map(|s| std::iter::once(s.name).chain(s.aliases.iter().copied()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique_and_every_kind_has_one_signature() {
        let mut seen = HashSet::new();
        for name in all_names() {
            assert!(seen.insert(name), "op name {name} appears twice");
        }
        let kinds: HashSet<_> = OPS.iter().map(|s| s.kind).collect();
        assert_eq!(kinds.len(), OPS.len(), "a kind has two signatures");
    }

    #[test]
    fn positional_counts_fit_and_param_names_are_unique() {
        for sig in OPS {
            assert!(sig.positional <= sig.params.len(), "{}", sig.name);
            let names: HashSet<_> = sig.params.iter().map(|p| p.name).collect();
            assert_eq!(names.len(), sig.params.len(), "{}", sig.name);
        }
    }

    #[test]
    fn lookup_finds_aliases() {
        assert_eq!(lookup("skip_connect").unwrap().kind, OpKind::Skip);
        assert_eq!(lookup("mbconv").unwrap().kind, OpKind::MbConv);
        assert!(lookup("mbconvv").is_none());
    }
}
