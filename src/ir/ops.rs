//! Concrete ops and their shape rules: an `OpCall` resolved against the catalogue defaults and its
//! context (stage/edge channels and stride, picked elastic values) into an `Op`, and one exhaustive
//! `match` over `OpKind` giving each op's output shape or a shape error.

use super::IrError;
use super::spec::{ArgValue, OpCall};
use crate::catalog::{Default as Dflt, OpKind, signature};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// A tensor shape without the batch dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Shape {
    /// A feature map `[c, h, w]`.
    Map { c: usize, h: usize, w: usize },
    /// A vector `[n]` (after global pooling).
    Vec { n: usize },
}

impl Shape {
    pub fn channels(&self) -> usize {
        match self {
            Shape::Map { c, .. } => *c,
            Shape::Vec { n } => *n,
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shape::Map { c, h, w } => write!(f, "{c}x{h}x{w}"),
            Shape::Vec { n } => write!(f, "{n}"),
        }
    }
}

/// Activation functions an op may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Act {
    Relu,
    Relu6,
    HSwish,
    Swish,
    Sigmoid,
}

impl Act {
    fn parse(name: &str) -> Option<Act> {
        Some(match name {
            "relu" => Act::Relu,
            "relu6" => Act::Relu6,
            "hswish" => Act::HSwish,
            "swish" => Act::Swish,
            "sigmoid" => Act::Sigmoid,
            _ => return None,
        })
    }
}

/// Values an `OpCall` takes from where it stands.
#[derive(Debug, Clone, Copy)]
pub struct Ctx {
    /// Output channels when the call does not give `out`.
    pub out: usize,
    /// Stride when the call does not give `stride`.
    pub stride: usize,
    /// Affine batch norms when the call does not give `affine` (cell spaces set it). `Some(false)`
    /// (a supernet trained with `affine false`) makes every norm non-affine, whatever the call says:
    /// the supernet's options keep their labels, so its architectures retrain as written.
    pub affine: Option<bool>,
}

/// A fully resolved op: every parameter has a value; `out` is the op's output channel count (for ops
/// without an `out` parameter it is filled in from the input by `out_shape`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Op {
    pub kind: OpKind,
    pub kernel: usize,
    pub out: usize,
    pub stride: usize,
    pub groups: usize,
    pub dilation: usize,
    pub bias: bool,
    pub expand: usize,
    pub se: bool,
    pub act: Act,
    pub affine: bool,
    pub eps: f64,
    pub momentum: f64,
    pub p: f64,
}

fn bad(path: &str, msg: String, help: &str) -> IrError {
    IrError::Spec {
        path: path.to_string(),
        message: msg,
        help: help.to_string(),
    }
}

/// MobileNetV3's `_make_divisible(v, 8)`: round to a multiple of 8, never below 90% of v.
pub fn make_divisible(v: f64, divisor: usize) -> usize {
    let d = divisor as f64;
    let mut new_v = ((v + d / 2.0) / d).floor() * d;
    new_v = new_v.max(d);
    if new_v < 0.9 * v {
        new_v += d;
    }
    new_v as usize
}

/// SE squeeze channels on `hidden` channels (MobileNetV3: make_divisible(hidden / 4, 8)).
pub fn se_channels(hidden: usize) -> usize {
    make_divisible((hidden / 4) as f64, 8)
}

impl Op {
    /// Resolves a call. `picks` gives the value of each elastic (list) argument; a list without a pick
    /// takes its largest value (the supernet's size).
    pub fn resolve(
        call: &OpCall,
        ctx: Ctx,
        picks: &BTreeMap<String, i64>,
        path: &str,
    ) -> Result<Op, IrError> {
        let sig = signature(call.kind);
        for name in call.args.keys() {
            if !sig.params.iter().any(|p| p.name == name) {
                let known: Vec<&str> = sig.params.iter().map(|p| p.name).collect();
                return Err(bad(
                    path,
                    format!("op `{}` has no parameter `{name}`", sig.name),
                    &format!("its parameters are: {}", known.join(", ")),
                ));
            }
        }
        let mut op = Op {
            kind: call.kind,
            kernel: 3,
            out: ctx.out,
            stride: ctx.stride,
            groups: 1,
            dilation: 1,
            bias: false,
            expand: 6,
            se: false,
            act: Act::Relu6,
            affine: ctx.affine.unwrap_or(true),
            eps: 1e-5,
            momentum: 0.1,
            p: 0.5,
        };
        for param in sig.params {
            let given = call.args.get(param.name);
            let value: Option<ArgValue> = match given {
                Some(ArgValue::List(l)) => {
                    if l.is_empty() {
                        return Err(bad(
                            path,
                            format!("elastic argument `{}` has no options", param.name),
                            "give at least one value",
                        ));
                    }
                    let v = picks
                        .get(param.name)
                        .copied()
                        .unwrap_or_else(|| *l.iter().max().unwrap_or(&0));
                    Some(ArgValue::Int(v))
                }
                Some(v) => Some(v.clone()),
                None => match param.default {
                    Dflt::Required => {
                        return Err(bad(
                            path,
                            format!("op `{}` needs `{}`", sig.name, param.name),
                            "give the argument explicitly",
                        ));
                    }
                    Dflt::Context => None,
                    Dflt::Int(i) => Some(ArgValue::Int(i)),
                    Dflt::Float(x) => Some(ArgValue::Float(x)),
                    Dflt::Bool(b) => {
                        if param.name == "affine" && ctx.affine.is_some() {
                            None
                        } else {
                            Some(ArgValue::Bool(b))
                        }
                    }
                    Dflt::Name(n) => Some(ArgValue::Name(n.to_string())),
                },
            };
            let Some(value) = value else { continue };
            let as_int = |v: &ArgValue| -> Result<usize, IrError> {
                match v {
                    ArgValue::Int(i) if *i >= 1 => Ok(*i as usize),
                    _ => Err(bad(
                        path,
                        format!(
                            "`{}` of `{}` must be a positive integer, got {v}",
                            param.name, sig.name
                        ),
                        "write a whole number >= 1",
                    )),
                }
            };
            let as_bool = |v: &ArgValue| -> Result<bool, IrError> {
                match v {
                    ArgValue::Bool(b) => Ok(*b),
                    _ => Err(bad(
                        path,
                        format!(
                            "`{}` of `{}` must be true or false, got {v}",
                            param.name, sig.name
                        ),
                        "write true or false",
                    )),
                }
            };
            let as_float = |v: &ArgValue| -> Result<f64, IrError> {
                match v {
                    ArgValue::Float(x) => Ok(*x),
                    ArgValue::Int(i) => Ok(*i as f64),
                    _ => Err(bad(
                        path,
                        format!(
                            "`{}` of `{}` must be a number, got {v}",
                            param.name, sig.name
                        ),
                        "write a number",
                    )),
                }
            };
            match param.name {
                "kernel" => op.kernel = as_int(&value)?,
                "out" => op.out = as_int(&value)?,
                "stride" => op.stride = as_int(&value)?,
                "groups" => op.groups = as_int(&value)?,
                "dilation" => op.dilation = as_int(&value)?,
                "expand" => op.expand = as_int(&value)?,
                "bias" => op.bias = as_bool(&value)?,
                "se" => op.se = as_bool(&value)?,
                "affine" => op.affine = as_bool(&value)? && ctx.affine != Some(false),
                "eps" => op.eps = as_float(&value)?,
                "momentum" => op.momentum = as_float(&value)?,
                "p" => {
                    op.p = as_float(&value)?;
                    if !(0.0..1.0).contains(&op.p) {
                        return Err(bad(
                            path,
                            format!("dropout probability {} is outside [0, 1)", op.p),
                            "use a probability such as 0.2",
                        ));
                    }
                }
                "act" => {
                    let ArgValue::Name(n) = &value else {
                        return Err(bad(
                            path,
                            format!("`act` must be a name, got {value}"),
                            "e.g. relu6",
                        ));
                    };
                    op.act = Act::parse(n).ok_or_else(|| {
                        bad(
                            path,
                            format!("unknown activation `{n}`"),
                            "use relu, relu6, hswish, swish or sigmoid",
                        )
                    })?;
                }
                other => {
                    return Err(bad(
                        path,
                        format!("parameter `{other}` is not implemented by the IR"),
                        "this is a bug in nasl",
                    ));
                }
            }
        }
        if op.kind == OpKind::DilConv && !call.args.contains_key("dilation") {
            op.dilation = 2;
        }
        Ok(op)
    }

    /// Hidden channels of an MBConv on `cin` input channels (torchvision: round(cin * expand)).
    pub fn hidden(&self, cin: usize) -> usize {
        cin * self.expand
    }
}

/// Output spatial size of a conv/pool: floor((h + 2p - d(k-1) - 1) / s) + 1, or None when < 1.
pub fn conv_out(h: usize, k: usize, s: usize, p: usize, d: usize) -> Option<usize> {
    let span = d * (k - 1) + 1;
    let padded = h + 2 * p;
    if padded < span {
        return None;
    }
    Some((padded - span) / s + 1)
}

/// 'Same' padding of the catalogue: kernel/2 * dilation.
pub fn same_pad(k: usize, d: usize) -> usize {
    (k / 2) * d
}

/// How a `skip` is realised given its input and output shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipImpl {
    Identity,
    /// Stride 2: DARTS factorized reduce to the output channels.
    FactorizedReduce,
    /// Stride 1 but channels change: ReLU, 1x1 conv, BN.
    Project,
}

pub fn skip_impl(op: &Op, cin: usize) -> SkipImpl {
    if op.stride > 1 {
        SkipImpl::FactorizedReduce
    } else if cin != op.out {
        SkipImpl::Project
    } else {
        SkipImpl::Identity
    }
}

/// The output shape of `op` on `input`, or a shape error naming `path`.
pub fn out_shape(op: &Op, input: Shape, path: &str) -> Result<Shape, IrError> {
    let err = |msg: String, help: &str| IrError::Shape {
        path: path.to_string(),
        message: msg,
        help: help.to_string(),
    };
    let name = signature(op.kind).name;
    let map = |s: Shape| -> Result<(usize, usize, usize), IrError> {
        match s {
            Shape::Map { c, h, w } => Ok((c, h, w)),
            Shape::Vec { n } => Err(err(
                format!("`{name}` needs a feature map but gets a vector of {n}"),
                "put spatial ops before global_avg_pool",
            )),
        }
    };
    let spatial = |h: usize, w: usize, k: usize, s: usize, p: usize, d: usize| match (
        conv_out(h, k, s, p, d),
        conv_out(w, k, s, p, d),
    ) {
        (Some(a), Some(b)) if a >= 1 && b >= 1 => Ok((a, b)),
        _ => Err(err(
            format!("`{name}` (kernel {k}, stride {s}) on a {h}x{w} map leaves no pixels"),
            "use a larger input or fewer stride-2 layers",
        )),
    };
    let div = |a: usize, g: usize, what: &str| {
        if g == 0 || !a.is_multiple_of(g) {
            Err(err(
                format!("{what} {a} is not divisible by {g}"),
                "choose channel counts divisible by the groups",
            ))
        } else {
            Ok(())
        }
    };
    let even = |h: usize, w: usize| {
        if !h.is_multiple_of(2) || !w.is_multiple_of(2) {
            Err(err(
                format!("`{name}` halves a {h}x{w} map, which needs even sizes"),
                "use an input size divisible by 2 at every reduction",
            ))
        } else {
            Ok(())
        }
    };
    let s1 = |s: usize| -> Result<(), IrError> {
        if s == 0 {
            Err(err("stride 0".into(), "use stride >= 1"))
        } else {
            Ok(())
        }
    };
    s1(op.stride)?;
    match op.kind {
        OpKind::Conv => {
            let (c, h, w) = map(input)?;
            div(c, op.groups, "input channels")?;
            div(op.out, op.groups, "output channels")?;
            let (h, w) = spatial(
                h,
                w,
                op.kernel,
                op.stride,
                same_pad(op.kernel, op.dilation),
                op.dilation,
            )?;
            Ok(Shape::Map { c: op.out, h, w })
        }
        OpKind::DwConv => {
            let (c, h, w) = map(input)?;
            let (h, w) = spatial(
                h,
                w,
                op.kernel,
                op.stride,
                same_pad(op.kernel, op.dilation),
                op.dilation,
            )?;
            Ok(Shape::Map { c, h, w })
        }
        OpKind::SepConv | OpKind::DilConv | OpKind::ReluConvBn => {
            let (_, h, w) = map(input)?;
            let d = if op.kind == OpKind::SepConv {
                1
            } else {
                op.dilation
            };
            let (h, w) = spatial(h, w, op.kernel, op.stride, same_pad(op.kernel, d), d)?;
            Ok(Shape::Map { c: op.out, h, w })
        }
        OpKind::MbConv => {
            let (c, h, w) = map(input)?;
            let hidden = op.hidden(c);
            div(c, op.groups, "input channels")?;
            div(hidden, op.groups, "hidden channels")?;
            div(op.out, op.groups, "output channels")?;
            let (h, w) = spatial(h, w, op.kernel, op.stride, same_pad(op.kernel, 1), 1)?;
            Ok(Shape::Map { c: op.out, h, w })
        }
        OpKind::Shuffle | OpKind::ShuffleXception => {
            let (c, h, w) = map(input)?;
            let k = if op.kind == OpKind::Shuffle {
                op.kernel
            } else {
                3
            };
            if op.stride == 1 {
                if c != op.out || c % 2 != 0 {
                    return Err(err(
                        format!(
                            "a stride-1 shuffle block splits its channels: needs in = out and even, got {c} -> {}",
                            op.out
                        ),
                        "give stride-1 shuffle blocks an even channel count equal to the stage's",
                    ));
                }
            } else if op.out <= c || !op.out.is_multiple_of(2) {
                return Err(err(
                    format!(
                        "a stride-2 shuffle block concatenates its input projection ({c}) with its main branch: out {} must exceed {c} and be even",
                        op.out
                    ),
                    "increase the stage's channels",
                ));
            }
            let (h, w) = spatial(h, w, k, op.stride, k / 2, 1)?;
            Ok(Shape::Map { c: op.out, h, w })
        }
        OpKind::BasicBlock => {
            let (_, h, w) = map(input)?;
            if op.stride > 2 {
                return Err(err(
                    "basic_block supports stride 1 or 2".into(),
                    "use stride 1 or 2",
                ));
            }
            if op.stride == 2 {
                even(h, w)?;
            }
            let (h, w) = spatial(h, w, 3, op.stride, 1, 1)?;
            Ok(Shape::Map { c: op.out, h, w })
        }
        OpKind::MaxPool | OpKind::AvgPool => {
            let (c, h, w) = map(input)?;
            let (h, w) = spatial(h, w, op.kernel, op.stride, op.kernel / 2, 1)?;
            Ok(Shape::Map { c, h, w })
        }
        OpKind::Skip => {
            let (c, h, w) = map(input)?;
            match skip_impl(op, c) {
                SkipImpl::Identity => Ok(input),
                SkipImpl::Project => Ok(Shape::Map { c: op.out, h, w }),
                SkipImpl::FactorizedReduce => {
                    if op.stride != 2 {
                        return Err(err(
                            "skip with a stride other than 1 or 2".into(),
                            "use stride 1 or 2",
                        ));
                    }
                    even(h, w)?;
                    div(op.out, 2, "factorized reduce output channels")?;
                    Ok(Shape::Map {
                        c: op.out,
                        h: h / 2,
                        w: w / 2,
                    })
                }
            }
        }
        OpKind::Zero => match input {
            Shape::Map { h, w, .. } => Ok(Shape::Map {
                c: op.out,
                h: h.div_ceil(op.stride),
                w: w.div_ceil(op.stride),
            }),
            Shape::Vec { .. } => Ok(Shape::Vec { n: op.out }),
        },
        OpKind::FactorizedReduce => {
            let (_, h, w) = map(input)?;
            even(h, w)?;
            div(op.out, 2, "factorized reduce output channels")?;
            Ok(Shape::Map {
                c: op.out,
                h: h / 2,
                w: w / 2,
            })
        }
        OpKind::GlobalAvgPool => {
            let (c, _, _) = map(input)?;
            Ok(Shape::Vec { n: c })
        }
        OpKind::Linear => match input {
            Shape::Vec { .. } => Ok(Shape::Vec { n: op.out }),
            Shape::Map { c, h, w } => Err(err(
                format!("`linear` needs a vector but gets a {c}x{h}x{w} map"),
                "put global_avg_pool before linear",
            )),
        },
        OpKind::Dropout
        | OpKind::Relu
        | OpKind::Relu6
        | OpKind::HSwish
        | OpKind::Swish
        | OpKind::Sigmoid => Ok(input),
        OpKind::BatchNorm => {
            map(input)?;
            Ok(input)
        }
    }
}

/// Whether an MBConv adds its input (stride 1 and in = out).
pub fn mbconv_residual(op: &Op, cin: usize) -> bool {
    op.stride == 1 && cin == op.out
}
