//! OFA's elastic ops: the kernel transformation matrices (shapes, identity start, gradients), the
//! stand-alone subnet of every elastic dimension (kernel, expand, depth, resolution) against the
//! supernet's path (and its TorchScript export), channel sorting by importance, and BN
//! recalibration at a chosen resolution.

use nasl::compile::{Subnet, Supernet, kernel_transform_name};
use nasl::cost::{arch_cost, space_cost};
use nasl::driver;
use nasl::ir::{Arch, DecisionKind, SearchSpace};
use tch::{Device, Kind, Tensor};

/// An OFA-like space: elastic resolution, depth, kernel {3, 5, 7} and expand {2, 3, 4} (with
/// squeeze-excitation in the first unit).
const SPACE: &str = "space e = chain(input: [3, 24, 24], classes: 5) {
  resolution [16, 20, 24]
  stem conv(3, out: 8) bn hswish
  layers out: 8, stride: 1, repeat: [1, 2, 3], mbconv(kernel: [3, 5, 7], expand: [2, 3, 4], se: true, act: hswish)
  layers out: 16, stride: 2, repeat: [1, 2], mbconv(kernel: [3, 5, 7], expand: [2, 3, 4])
  head conv(1, out: 24) bn hswish global_avg_pool linear(out: classes)
}
";

fn space() -> SearchSpace {
    let front = driver::check_text("elastic.nas", SPACE);
    assert!(!front.checked.has_errors(), "{:?}", front.checked.diags);
    SearchSpace::new(front.spaces[0].1.spec.clone()).unwrap()
}

/// Option indices of the largest architecture (every option list is written ascending).
fn largest(space: &SearchSpace) -> Vec<usize> {
    space.decisions.iter().map(|d| d.labels.len() - 1).collect()
}

/// `base` with every decision of `kind` (and, for elastic ones, of argument `arg`) at `option`.
fn with(
    space: &SearchSpace,
    base: &[usize],
    kind: DecisionKind,
    arg: &str,
    option: usize,
) -> Vec<usize> {
    let mut idx = base.to_vec();
    for (d, dec) in space.decisions.iter().enumerate() {
        if dec.kind == kind && (kind != DecisionKind::Elastic || dec.path.ends_with(arg)) {
            idx[d] = option;
        }
    }
    idx
}

/// A supernet whose weights (transformation matrices and batch norm scales included) are moved away
/// from their initialisation, with running statistics from training-mode passes of several
/// architectures.
fn trained_supernet(space: &SearchSpace, seed: i64) -> Supernet {
    tch::manual_seed(seed);
    let sup = Supernet::new(space, Device::Cpu).unwrap();
    tch::no_grad(|| {
        for mut v in sup.vs.trainable_variables() {
            let noise = v.randn_like() * 0.1;
            let _ = v.g_add_(&noise);
        }
    });
    let x = Tensor::randn([4, 3, 24, 24], (Kind::Float, Device::Cpu));
    for o in 0..3 {
        let idx: Vec<usize> = space
            .decisions
            .iter()
            .map(|d| o.min(d.labels.len() - 1))
            .collect();
        let arch = Arch::from_indices(space, &idx).unwrap();
        let _ = tch::no_grad(|| sup.forward_t(&x, &arch, true).unwrap());
    }
    sup
}

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

/// One matrix per elastic layer and size step (7 -> 5: 25 x 25, 5 -> 3: 9 x 9), identities at first,
/// counted in the supernet's parameters as `nasl inspect` counts them; a kernel-3 forward trains
/// both, a kernel-5 forward only the first, a kernel-7 forward neither.
#[test]
fn kernel_transformation_matrices_have_their_shapes_and_gradients() {
    let space = space();
    tch::manual_seed(0);
    let sup = Supernet::new(&space, Device::Cpu).unwrap();
    assert_eq!(
        sup.num_params() as u64,
        space_cost(&space).unwrap().supernet_params
    );
    let vars = sup.vs.variables();
    let big = kernel_transform_name(7, 5);
    let small = kernel_transform_name(5, 3);
    let mats: Vec<(&String, &Tensor)> = vars
        .iter()
        .filter(|(n, _)| n.ends_with(&big) || n.ends_with(&small))
        .collect();
    // 3 + 2 elastic layers, two steps each.
    assert_eq!(
        mats.len(),
        10,
        "{:?}",
        mats.iter().map(|m| m.0).collect::<Vec<_>>()
    );
    for (name, m) in &mats {
        assert!(name.contains(".dw."), "{name}");
        let n = if name.ends_with(&big) { 25 } else { 9 };
        assert_eq!(m.size(), [n, n], "{name}");
        assert!(m.requires_grad(), "{name}");
        assert!(
            m.equal(&Tensor::eye(n, (Kind::Float, Device::Cpu))),
            "{name} starts as the identity"
        );
    }
    let x = Tensor::randn([2, 3, 24, 24], (Kind::Float, Device::Cpu));
    let top = largest(&space);
    for (option, want_big, want_small) in [(0, true, true), (1, true, false), (2, false, false)] {
        for mut v in sup.vs.trainable_variables() {
            v.zero_grad();
        }
        let arch = Arch::from_indices(
            &space,
            &with(&space, &top, DecisionKind::Elastic, ".kernel", option),
        )
        .unwrap();
        sup.forward_t(&x, &arch, true)
            .unwrap()
            .square()
            .sum(Kind::Float)
            .backward();
        for (name, m) in &mats {
            let g = m.grad();
            let moved = g.defined() && g.abs().sum(Kind::Float).double_value(&[]) > 0.0;
            let want = if name.ends_with(&big) {
                want_big
            } else {
                want_small
            };
            assert_eq!(moved, want, "kernel option {option}: gradient of {name}");
        }
    }
}

/// For each elastic dimension (kernel, expand, depth, resolution), from the largest architecture:
/// the smallest value of that dimension alone changes the supernet's output, and the extracted
/// stand-alone subnet computes the supernet's output to 1e-5 with the exact parameter count of
/// `nasl inspect --arch` (`arch_cost`); likewise for the smallest architecture and random ones.
#[test]
fn extracted_subnets_equal_the_supernet_for_every_elastic_dimension() {
    let space = space();
    let sup = trained_supernet(&space, 1);
    let x = Tensor::randn([3, 3, 24, 24], (Kind::Float, Device::Cpu));
    let top = largest(&space);
    let full = Arch::from_indices(&space, &top).unwrap();
    let full_out = tch::no_grad(|| sup.forward_t(&x, &full, false).unwrap());
    let check = |idx: &[usize], what: &str| -> Tensor {
        let arch = Arch::from_indices(&space, idx).unwrap();
        let sub = sup.extract(&arch).unwrap();
        let cost = arch_cost(&space, &arch).unwrap();
        assert_eq!(sub.num_params() as u64, cost.params, "{what}");
        let a = tch::no_grad(|| sup.forward_t(&x, &arch, false).unwrap());
        let b = tch::no_grad(|| sub.forward_t(&x, false));
        let d = max_diff(&a, &b);
        assert!(
            d < 1e-5,
            "{what}: subnet and supernet differ by {d}\n{}",
            arch.to_yaml()
        );
        a
    };
    let _ = check(&top, "largest");
    for (kind, arg, what) in [
        (DecisionKind::Elastic, ".kernel", "kernel"),
        (DecisionKind::Elastic, ".expand", "expand"),
        (DecisionKind::Depth, "", "depth"),
        (DecisionKind::Resolution, "", "resolution"),
    ] {
        for option in [0, 1] {
            let idx = with(&space, &top, kind, arg, option);
            let out = check(&idx, what);
            let moved = max_diff(&out, &full_out);
            assert!(
                moved > 1e-4,
                "{what} option {option} changed nothing ({moved})"
            );
        }
    }
    let smallest = vec![0; space.decisions.len()];
    let _ = check(&smallest, "smallest");
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(3);
    for i in 0..4 {
        let arch = Arch::random(&space, &mut rng).unwrap();
        let idx: Vec<usize> = space
            .arch_indices(&arch)
            .unwrap()
            .into_iter()
            .map(|o| o.unwrap_or(0))
            .collect();
        let _ = check(&idx, &format!("random {i}"));
    }
}

/// The transformed kernel is baked into the subnet: with the identity matrices a kernel-3 subnet
/// holds the centre of the 7 x 7 kernel; after the matrices move, it holds something else, and the
/// subnet still equals the supernet.
#[test]
fn extraction_bakes_the_transformed_kernel() {
    let space = space();
    tch::manual_seed(2);
    let sup = Supernet::new(&space, Device::Cpu).unwrap();
    let top = largest(&space);
    let arch = Arch::from_indices(
        &space,
        &with(&space, &top, DecisionKind::Elastic, ".kernel", 0),
    )
    .unwrap();
    let vars = sup.vs.variables();
    let dw = |sub: &Subnet| sub.vs.variables()["stage0.layer0.0.dw.weight"].shallow_clone();
    let full = &vars["stage0.layer0.0.dw.weight"];
    assert_eq!(full.size()[2], 7);
    let centre = full.narrow(2, 2, 3).narrow(3, 2, 3);
    let plain = dw(&sup.extract(&arch).unwrap());
    assert!(plain.allclose(&centre.narrow(0, 0, plain.size()[0]), 1e-7, 1e-7, false));
    tch::no_grad(|| {
        for (name, mut v) in sup.vs.variables() {
            if name.contains("ktrans") {
                let noise = v.randn_like() * 0.3;
                let _ = v.g_add_(&noise);
            }
        }
    });
    let sub = sup.extract(&arch).unwrap();
    let baked = dw(&sub);
    assert!(max_diff(&baked, &centre.narrow(0, 0, baked.size()[0])) > 1e-3);
    let x = Tensor::randn([2, 3, 24, 24], (Kind::Float, Device::Cpu));
    let a = tch::no_grad(|| sup.forward_t(&x, &arch, false).unwrap());
    let b = tch::no_grad(|| sub.forward_t(&x, false));
    assert!(max_diff(&a, &b) < 1e-5);
    // Exported to TorchScript (as `model/` holds it), the subnet still computes the supernet's
    // output: the transformed kernel is in the traced weights.
    let shape = nasl::compile::model::net_input_shape(&sub).unwrap();
    assert_eq!(shape, [3, 24, 24]);
    let dir = tempfile::tempdir().unwrap();
    let pt = dir.path().join("model.pt");
    nasl::compile::export::torchscript(&sub, &shape, &pt).unwrap();
    let m = tch::CModule::load(&pt).unwrap();
    let got = tch::no_grad(|| m.forward_ts(&[&x])).unwrap();
    let d = max_diff(&got, &a);
    assert!(d < 1e-5, "TorchScript and supernet differ by {d}");
}

/// The sum of |project weights| reading each expanded channel of block `path`.
fn importance(sup: &Supernet, path: &str) -> Vec<f64> {
    let w = &sup.vs.variables()[&format!("{path}.project.weight")];
    Vec::<f64>::try_from(
        w.abs()
            .sum_dim_intlist([0i64, 2, 3].as_slice(), false, Kind::Double),
    )
    .unwrap()
}

/// Channel sorting keeps the largest network's function (evaluation and training mode), puts the
/// important channels first in every MBConv, and so changes what a narrower expansion computes; at
/// stage 1 the channels of the widest smaller width stay within it.
#[test]
fn channel_sorting_keeps_the_full_network_and_orders_by_importance() {
    let space = space();
    let sup = trained_supernet(&space, 4);
    let x = Tensor::randn([4, 3, 24, 24], (Kind::Float, Device::Cpu));
    let top = largest(&space);
    let full = Arch::from_indices(&space, &top).unwrap();
    let narrow = Arch::from_indices(
        &space,
        &with(&space, &top, DecisionKind::Elastic, ".expand", 0),
    )
    .unwrap();
    let eval = |a: &Arch| tch::no_grad(|| sup.forward_t(&x, a, false).unwrap());
    // Training mode first: it moves the running statistics the evaluations then read.
    let before_train = tch::no_grad(|| sup.forward_t(&x, &full, true).unwrap());
    let before = eval(&full);
    let before_narrow = eval(&narrow);
    let blocks = ["stage0.layer0.0", "stage0.layer2.0", "stage1.layer1.0"];
    let unsorted = blocks
        .iter()
        .any(|b| importance(&sup, b).windows(2).any(|w| w[0] < w[1]));
    assert!(unsorted, "random weights come unsorted");
    assert_eq!(sup.sort_channels(0), 5);
    for b in blocks {
        let imp = importance(&sup, b);
        assert!(imp.windows(2).all(|w| w[0] >= w[1]), "{b}: {imp:?}");
    }
    let after = eval(&full);
    let d = max_diff(&before, &after);
    assert!(d < 1e-5, "the full network changed by {d}");
    let moved = max_diff(&before_narrow, &eval(&narrow));
    assert!(
        moved > 1e-4,
        "a narrower expansion keeps other channels now ({moved})"
    );
    let after_train = tch::no_grad(|| sup.forward_t(&x, &full, true).unwrap());
    assert!(max_diff(&before_train, &after_train) < 1e-5);
    // Stage 1: the expand-3 width (cin * 3 = 24 of 32 channels in stage0.layer0) keeps its channels.
    tch::no_grad(|| {
        for (name, mut v) in sup.vs.variables() {
            if name.ends_with("project.weight") {
                let noise = v.randn_like() * 0.5;
                let _ = v.g_add_(&noise);
            }
        }
    });
    let set = |imp: &[f64], lo: usize, hi: usize| {
        let mut s: Vec<u64> = imp[lo..hi].iter().map(|v| v.to_bits()).collect();
        s.sort_unstable();
        s
    };
    let imp = importance(&sup, "stage0.layer0.0");
    assert_eq!(imp.len(), 32);
    sup.sort_channels(1);
    let sorted = importance(&sup, "stage0.layer0.0");
    assert_eq!(
        set(&imp, 0, 24),
        set(&sorted, 0, 24),
        "the first 24 channels stay the first 24"
    );
    assert!(sorted[..24].windows(2).all(|w| w[0] >= w[1]));
    assert!(sorted[24..].windows(2).all(|w| w[0] >= w[1]));
}

/// Extraction with BN recalibration at a chosen resolution: the subnet resizes the dataset-sized
/// images to its resolution, and its batch norms hold the statistics of that resolution (the stem's
/// batch norm: the per-channel mean of the stem convolution over the resized images).
#[test]
fn recalibration_at_extraction_uses_the_chosen_resolution() {
    let space = space();
    let sup = trained_supernet(&space, 5);
    let images = Tensor::rand([8, 3, 24, 24], (Kind::Float, Device::Cpu));
    let top = largest(&space);
    let mut means = vec![];
    for option in [0, 2] {
        let arch = Arch::from_indices(
            &space,
            &with(&space, &top, DecisionKind::Resolution, "", option),
        )
        .unwrap();
        let (sub, n) = sup
            .extract_recalibrated(&arch, [images.shallow_clone()])
            .unwrap();
        assert_eq!(n, 1);
        let v = sub.vs.variables();
        let r = [16, 24][option / 2];
        let resized = images.upsample_bilinear2d([r, r], false, None, None);
        let conv = resized.conv2d(
            &v["stem.0.conv.weight"],
            v.get("stem.0.conv.bias"),
            [1, 1],
            [1, 1],
            [1, 1],
            1,
        );
        let want = conv.mean_dim([0i64, 2, 3].as_slice(), false, Kind::Float);
        let got = &v["stem.1.bn.running_mean"];
        assert!(max_diff(got, &want) < 1e-5, "resolution {r}");
        // Evaluation after recalibration equals the supernet path evaluated with the same statistics.
        let out = tch::no_grad(|| sub.forward_t(&images, false));
        assert_eq!(out.size(), [8, 5]);
        means.push(got.shallow_clone());
    }
    assert!(
        max_diff(&means[0], &means[1]) > 1e-4,
        "16 x 16 and 24 x 24 statistics differ"
    );
}
