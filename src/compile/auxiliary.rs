//! The auxiliary classifier of DARTS-family evaluation networks (Szegedy et al.; DARTS, ENAS, NASNet
//! retraining): a small head on the output of the cell at two thirds of the depth whose loss, times a
//! weight, is added to the main loss during training only.

use tch::{Tensor, nn};

use crate::ir::graph::{Net, NetKind};
use crate::ir::ops::Shape;

/// Where the head's variables live in the network's VarStore.
pub const AUX_PREFIX: &str = "auxiliary";

/// Whether a variable name belongs to the auxiliary head.
pub fn is_auxiliary(name: &str) -> bool {
    name.strip_prefix(AUX_PREFIX)
        .is_some_and(|rest| rest.starts_with('.'))
}

/// The node the head reads (the output of cell `2 * cells / 3`, as DARTS places it) and the number of
/// classes (the out width of the network's last linear layer). Errors: a network without cells or
/// without a linear classifier.
pub fn tap(net: &Net) -> Result<(usize, usize), String> {
    // A cell's output: the BN after its loose ends (`cell<i>.out.bn`, an input choice), its concat
    // (`cell<i>.out`, DARTS), or its last node (NAS-Bench-201).
    let outs: Vec<usize> = (0..)
        .map_while(|i| {
            let bn = format!("cell{i}.out.bn");
            let out = format!("cell{i}.out");
            let node = format!("cell{i}.node");
            net.nodes
                .iter()
                .position(|n| n.path == bn)
                .or_else(|| net.nodes.iter().position(|n| n.path == out))
                .or_else(|| {
                    net.nodes
                        .iter()
                        .rposition(|n| n.path.starts_with(&node) && matches!(n.kind, NetKind::Sum))
                })
        })
        .collect();
    if outs.is_empty() {
        return Err(
            "an auxiliary head reads a cell's output, and this network has no cells".into(),
        );
    }
    let at = outs[(2 * outs.len() / 3).min(outs.len() - 1)];
    let classes = net
        .nodes
        .iter()
        .rev()
        .find_map(|n| match &n.kind {
            NetKind::Op(op) if op.kind == crate::catalog::OpKind::Linear => Some(op.out),
            _ => None,
        })
        .ok_or("the network has no linear classifier to match")?;
    Ok((at, classes))
}

/// DARTS's `AuxiliaryHeadCIFAR`: ReLU, 5x5 average pooling down to 2x2, 1x1 conv to 128 channels, BN,
/// ReLU, 2x2 conv to 768, BN, ReLU, linear classifier. On 8x8 maps (CIFAR after two reductions) the
/// pooling is DARTS's exactly (kernel 5, stride 3); on other sizes of at least 7 the stride is chosen so
/// that the output is 2x2 as well (kernel 5, stride h - 5: 7x7 Fashion-MNIST maps use stride 2); smaller
/// maps are averaged adaptively to min(h, 2) and the second convolution's kernel shrinks to match.
pub struct AuxHead {
    pool: Pool,
    conv1: nn::Conv2D,
    bn1: nn::BatchNorm,
    conv2: nn::Conv2D,
    bn2: nn::BatchNorm,
    linear: nn::Linear,
}

enum Pool {
    Fixed { stride: i64 },
    Adaptive(i64),
}

impl AuxHead {
    pub fn new(vs: &nn::Path, input: &Shape, classes: usize) -> Result<AuxHead, String> {
        let Shape::Map { c, h, w } = *input else {
            return Err("the auxiliary head reads a feature map, not a vector".into());
        };
        let side = h.min(w) as i64;
        let (pool, k) = if side >= 7 {
            (Pool::Fixed { stride: side - 5 }, 2)
        } else {
            let m = side.clamp(1, 2);
            (Pool::Adaptive(m), m)
        };
        let no_bias = nn::ConvConfig {
            bias: false,
            ..Default::default()
        };
        Ok(AuxHead {
            pool,
            conv1: nn::conv2d(vs / "conv1", c as i64, 128, 1, no_bias),
            bn1: nn::batch_norm2d(vs / "bn1", 128, Default::default()),
            conv2: nn::conv2d(vs / "conv2", 128, 768, k, no_bias),
            bn2: nn::batch_norm2d(vs / "bn2", 768, Default::default()),
            linear: nn::linear(vs / "linear", 768, classes as i64, Default::default()),
        })
    }

    /// The auxiliary logits of a feature map.
    pub fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let x = x.relu();
        let x = match self.pool {
            Pool::Fixed { stride } => x.avg_pool2d([5, 5], [stride; 2], [0, 0], false, false, None),
            Pool::Adaptive(m) => x.adaptive_avg_pool2d([m, m]),
        };
        let x = x.apply(&self.conv1).apply_t(&self.bn1, train).relu();
        let x = x.apply(&self.conv2).apply_t(&self.bn2, train).relu();
        x.flatten(1, -1).apply(&self.linear)
    }
}
