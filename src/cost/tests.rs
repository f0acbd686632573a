//! Cost tests: single ops against hand calculations, published network counts, min/max against brute
//! force.

use super::*;
use crate::ir::examples::*;
use crate::ir::ops::Ctx;
use crate::ir::spec::OpCall;

fn op(call: OpCall, cin: usize, h: usize, out: usize, stride: usize) -> (Cost, Shape) {
    let o = Op::resolve(
        &call,
        Ctx {
            out,
            stride,
            affine: None,
        },
        &BTreeMap::new(),
        "t",
    )
    .unwrap();
    let input = Shape::Map { c: cin, h, w: h };
    let s = crate::ir::ops::out_shape(&o, input, "t").unwrap();
    (op_cost(&o, input, s), s)
}

#[test]
fn conv_by_hand() {
    // 3x3 conv 16 -> 32, stride 2 on 32x32, bias: 3*3*16*32 = 4608 weights + 32 bias; out 16x16.
    let (c, s) = op(OpCall::new(OpKind::Conv).arg("bias", true), 16, 32, 32, 2);
    assert_eq!(
        s,
        Shape::Map {
            c: 32,
            h: 16,
            w: 16
        }
    );
    assert_eq!(
        c,
        Cost {
            params: 4608 + 32,
            macs: 4608 * 256
        }
    );
    // grouped: groups 4 -> weights 3*3*4*32.
    let (c, _) = op(OpCall::new(OpKind::Conv).arg("groups", 4), 16, 8, 32, 1);
    assert_eq!(c.params, 9 * 4 * 32);
}

#[test]
fn darts_sep_conv_by_hand() {
    // C=16, k=3, stride 1, 8x8: dw 144 + pw 256 + bn 32 + dw 144 + pw 256 + bn 32 = 864.
    let (c, _) = op(OpCall::new(OpKind::SepConv), 16, 8, 16, 1);
    assert_eq!(c.params, 864);
    assert_eq!(c.macs, (144 + 256 + 144 + 256) * 64);
    // dil_conv 5x5: dw 400 + pw 256 + bn 32.
    let (c, s) = op(OpCall::new(OpKind::DilConv).arg("kernel", 5), 16, 8, 16, 2);
    assert_eq!(c.params, 400 + 256 + 32);
    assert_eq!(s, Shape::Map { c: 16, h: 4, w: 4 });
}

#[test]
fn mbconv_by_hand() {
    // 24 -> 24, expand 6 (hidden 144), k3, stride 1 on 56x56 (MobileNetV2 block):
    // expand 3456 + bn 288 + dw 1296 + bn 288 + project 3456 + bn 48 = 8832.
    let (c, _) = op(OpCall::new(OpKind::MbConv), 24, 56, 24, 1);
    assert_eq!(c.params, 8832);
    assert_eq!(c.macs, (3456 + 1296 + 3456) * 56 * 56);
    // expand 1: no expansion conv. 32 -> 16 k3: dw 288 + bn 64 + pw 512 + bn 32.
    let (c, _) = op(OpCall::new(OpKind::MbConv).arg("expand", 1), 32, 112, 16, 1);
    assert_eq!(c.params, 288 + 64 + 512 + 32);
    // SE on hidden 96: squeeze make_divisible(24, 8) = 24: 96*24+24 + 24*96+96 = 4728 extra.
    let (a, _) = op(OpCall::new(OpKind::MbConv).arg("expand", 6), 16, 8, 16, 1);
    let (b, _) = op(
        OpCall::new(OpKind::MbConv).arg("expand", 6).arg("se", true),
        16,
        8,
        16,
        1,
    );
    assert_eq!(b.params - a.params, 4728);
    assert_eq!(b.macs - a.macs, 2 * 96 * 24);
}

#[test]
fn shuffle_blocks_by_hand() {
    // SPOS Shuffle3x3 stride 1, 64 channels: inp 32, mid 32, outputs 32:
    // 1x1 1024 + bn 64 + dw 288 + bn 64 + 1x1 1024 + bn 64 = 2528.
    let (c, _) = op(OpCall::new(OpKind::Shuffle), 64, 8, 64, 1);
    assert_eq!(c.params, 2528);
    // stride 2, 16 -> 64: main inp 16 mid 32 outputs 48: 512+64+288+64+1536+96 = 2560;
    // proj: dw 144 + bn 32 + 1x1 256 + bn 32 = 464.
    let (c, s) = op(OpCall::new(OpKind::Shuffle), 16, 8, 64, 2);
    assert_eq!(c.params, 2560 + 464);
    assert_eq!(s, Shape::Map { c: 64, h: 4, w: 4 });
}

#[test]
fn basic_block_and_skip_by_hand() {
    // NAS-Bench-201 ResNet block 16 -> 32 stride 2: conv_a 4608 + bn 64 + conv_b 9216 + bn 64 +
    // shortcut avgpool + 1x1 conv 512 (no BN).
    let (c, _) = op(OpCall::new(OpKind::BasicBlock), 16, 8, 32, 2);
    assert_eq!(c.params, 4608 + 64 + 9216 + 64 + 512);
    // skip with stride 2 = factorized reduce: 2 * 16*8 + bn 32.
    let (c, _) = op(OpCall::new(OpKind::Skip), 16, 8, 16, 2);
    assert_eq!(c.params, 2 * 16 * 8 + 32);
    let (c, _) = op(OpCall::new(OpKind::Skip), 16, 8, 16, 1);
    assert_eq!(c, Cost::default());
}

#[test]
fn mobilenet_v2_matches_torchvision() {
    let space = SearchSpace::new(mobilenet_v2()).unwrap();
    let c = arch_cost(&space, &Arch::default()).unwrap();
    println!("MobileNetV2 1.0 @224: params {} MACs {}", c.params, c.macs);
    assert_eq!(c.params, 3_504_872);
    assert_eq!(c.macs, 300_774_272);
    let sc = space_cost(&space).unwrap();
    assert_eq!(
        (sc.params.min, sc.params.max, sc.supernet_params),
        (c.params, c.params, c.params)
    );
}

#[test]
fn darts_v2_network_params() {
    let space = SearchSpace::new(darts_v2()).unwrap();
    let c = arch_cost(&space, &Arch::default()).unwrap();
    println!(
        "DARTS V2 20 cells 36 channels: params {} MACs {}",
        c.params, c.macs
    );
    assert_eq!(c.params, 3_349_342);
}

#[test]
fn min_max_equal_brute_force() {
    for spec in [small_chain(), elastic_chain(), small_cells()] {
        let space = SearchSpace::new(spec).unwrap();
        let all = crate::ir::tests::brute_force(&space);
        let costs: Vec<Cost> = all.iter().map(|(_, n)| net_cost(n)).collect();
        let sc = space_cost(&space).unwrap();
        assert_eq!(sc.params.min, costs.iter().map(|c| c.params).min().unwrap());
        assert_eq!(sc.params.max, costs.iter().map(|c| c.params).max().unwrap());
        assert_eq!(sc.macs.min, costs.iter().map(|c| c.macs).min().unwrap());
        assert_eq!(sc.macs.max, costs.iter().map(|c| c.macs).max().unwrap());
        assert!(sc.params.min < sc.params.max);
        assert!(sc.supernet_params >= sc.params.max);
    }
}

#[test]
fn inspect_reports_space_and_arch() {
    let space = SearchSpace::new(darts_search()).unwrap();
    let r = inspect(&space, None).unwrap();
    assert_eq!(r.decisions, 28);
    assert_eq!(r.cardinality, space.cardinality().to_string());
    assert!(r.cost.params.min < r.cost.params.max && r.cost.params.max < r.cost.supernet_params);
    let text = r.to_string();
    assert!(text.contains("architectures") && text.contains("supernet params"));
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["kind"], "cell");
    let small = SearchSpace::new(small_chain()).unwrap();
    let arch = Arch::from_indices(&small, &[0, 1, 0, 1, 1, 2, 1]).unwrap();
    let r = inspect(&small, Some(&arch)).unwrap();
    assert_eq!(r.arch, Some(arch_cost(&small, &arch).unwrap()));
}
