//! Example spaces built in Rust: MobileNetV2 (fixed chain), the DARTS V2 network (fixed cells), a
//! DARTS search space, and small chain/cell/elastic spaces used by tests and documentation.

use super::spec::*;
use crate::catalog::OpKind::{self, *};

fn op(kind: OpKind) -> OpCall {
    OpCall::new(kind)
}

/// torchvision MobileNetV2 1.0 at 224x224 with 1000 classes.
pub fn mobilenet_v2() -> SpaceSpec {
    let cfg = [
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    ];
    SpaceSpec::Chain(ChainSpec {
        input: [3, 224, 224],
        classes: 1000,
        resolutions: vec![],
        stem: vec![
            op(Conv).arg("kernel", 3).arg("out", 32).arg("stride", 2),
            op(BatchNorm),
            op(Relu6),
        ],
        stages: cfg
            .iter()
            .map(|&(t, c, n, s)| StageSpec {
                name: None,
                out: OneOrMany::One(c),
                stride: s,
                repeat: OneOrMany::One(n),
                layer: LayerSpec::Fixed(vec![op(MbConv).arg("kernel", 3).arg("expand", t)]),
            })
            .collect(),
        head: vec![
            op(Conv).arg("kernel", 1).arg("out", 1280),
            op(BatchNorm),
            op(Relu6),
            op(GlobalAvgPool),
            op(Dropout).arg("p", 0.2),
            op(Linear),
        ],
    })
}

fn darts_ops() -> Vec<OpCall> {
    vec![
        op(SepConv).arg("kernel", 3),
        op(SepConv).arg("kernel", 5),
        op(DilConv).arg("kernel", 3),
        op(DilConv).arg("kernel", 5),
        op(MaxPool).arg("kernel", 3),
        op(AvgPool).arg("kernel", 3),
        op(Skip),
        op(Zero),
    ]
}

/// The DARTS search space: 8 cells, 16 channels, 4 nodes, 8 ops, CIFAR-10 input.
pub fn darts_search() -> SpaceSpec {
    SpaceSpec::Cell(CellSpec {
        input: [3, 32, 32],
        classes: 10,
        cells: 8,
        channels: 16,
        stem_multiplier: 3,
        nodes: 4,
        inputs: 2,
        reduce_at: None,
        candidates: darts_ops(),
        node_inputs: None,
        normal: None,
        reduce: None,
        affine: false,
    })
}

fn geno(edges: &[(OpCall, usize)]) -> Genotype {
    Genotype {
        nodes: edges
            .chunks(2)
            .map(|c| {
                c.iter()
                    .map(|(op, from)| GenoEdge {
                        from: *from,
                        op: op.clone(),
                    })
                    .collect()
            })
            .collect(),
    }
}

/// The DARTS V2 genotype network for CIFAR-10 evaluation: 20 cells, 36 channels (no auxiliary head).
pub fn darts_v2() -> SpaceSpec {
    let sep3 = op(SepConv).arg("kernel", 3);
    let dil3 = op(DilConv).arg("kernel", 3);
    let skip = op(Skip);
    let mp = op(MaxPool).arg("kernel", 3);
    let normal = geno(&[
        (sep3.clone(), 0),
        (sep3.clone(), 1),
        (sep3.clone(), 0),
        (sep3.clone(), 1),
        (sep3.clone(), 1),
        (skip.clone(), 0),
        (skip.clone(), 0),
        (dil3, 2),
    ]);
    let reduce = geno(&[
        (mp.clone(), 0),
        (mp.clone(), 1),
        (skip.clone(), 2),
        (mp.clone(), 1),
        (mp.clone(), 0),
        (skip.clone(), 2),
        (skip, 2),
        (mp, 1),
    ]);
    SpaceSpec::Cell(CellSpec {
        input: [3, 32, 32],
        classes: 10,
        cells: 20,
        channels: 36,
        stem_multiplier: 3,
        nodes: 4,
        inputs: 2,
        reduce_at: None,
        candidates: vec![],
        node_inputs: None,
        normal: Some(normal),
        reduce: Some(reduce),
        affine: true,
    })
}

/// A small chain with channel, depth and layer choices (MBConv with SE, conv, shuffle, skip).
pub fn small_chain() -> SpaceSpec {
    SpaceSpec::Chain(ChainSpec {
        input: [3, 16, 16],
        classes: 10,
        resolutions: vec![],
        stem: vec![
            op(Conv).arg("kernel", 3).arg("out", 8),
            op(BatchNorm),
            op(Relu),
        ],
        stages: vec![
            StageSpec {
                name: None,
                out: OneOrMany::Many(vec![8, 12]),
                stride: 2,
                repeat: OneOrMany::Many(vec![1, 2]),
                layer: LayerSpec::Choose(vec![
                    vec![op(MbConv).arg("kernel", 3).arg("expand", 3)],
                    vec![
                        op(MbConv)
                            .arg("kernel", 5)
                            .arg("expand", 1)
                            .arg("se", true)
                            .arg("act", "hswish"),
                    ],
                    vec![op(Skip)],
                ]),
            },
            StageSpec {
                name: None,
                out: OneOrMany::One(16),
                stride: 2,
                repeat: OneOrMany::Many(vec![1, 2]),
                layer: LayerSpec::Choose(vec![
                    vec![op(Conv).arg("kernel", 3), op(BatchNorm), op(Relu)],
                    vec![op(Shuffle).arg("kernel", 3)],
                    vec![op(ShuffleXception)],
                    vec![op(BasicBlock)],
                ]),
            },
        ],
        head: vec![
            op(Conv).arg("kernel", 1).arg("out", 24),
            op(BatchNorm),
            op(Relu6),
            op(GlobalAvgPool),
            op(Dropout).arg("p", 0.1),
            op(Linear),
        ],
    })
}

/// An OFA-like elastic chain: elastic resolution, depth, kernel and expand.
pub fn elastic_chain() -> SpaceSpec {
    let layer = LayerSpec::Fixed(vec![
        op(MbConv)
            .arg("kernel", vec![3, 5])
            .arg("expand", vec![2, 4])
            .arg("act", "hswish"),
    ]);
    SpaceSpec::Chain(ChainSpec {
        input: [3, 16, 16],
        classes: 5,
        resolutions: vec![12, 16],
        stem: vec![
            op(Conv).arg("kernel", 3).arg("out", 8).arg("stride", 2),
            op(BatchNorm),
            op(HSwish),
        ],
        stages: vec![
            StageSpec {
                name: None,
                out: OneOrMany::One(8),
                stride: 1,
                repeat: OneOrMany::Many(vec![1, 2]),
                layer: layer.clone(),
            },
            StageSpec {
                name: None,
                out: OneOrMany::One(16),
                stride: 2,
                repeat: OneOrMany::Many(vec![1, 2]),
                layer,
            },
        ],
        head: vec![
            op(Conv).arg("kernel", 1).arg("out", 32),
            op(BatchNorm),
            op(Swish),
            op(GlobalAvgPool),
            op(Linear),
        ],
    })
}

/// A small DARTS-like cell space: 3 cells (reductions at 1 and 2), 1 node, 4 candidates.
pub fn small_cells() -> SpaceSpec {
    SpaceSpec::Cell(CellSpec {
        input: [3, 8, 8],
        classes: 10,
        cells: 3,
        channels: 4,
        stem_multiplier: 2,
        nodes: 1,
        inputs: 2,
        reduce_at: Some(vec![1, 2]),
        candidates: vec![
            op(SepConv).arg("kernel", 3),
            op(DilConv).arg("kernel", 3),
            op(AvgPool).arg("kernel", 3),
            op(Skip),
        ],
        node_inputs: None,
        normal: None,
        reduce: None,
        affine: true,
    })
}
