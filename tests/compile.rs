//! Compiled supernets and subnets against the IR's analytic counts, over random architectures.
#![cfg(feature = "torch")]

use nasl::compile::{Subnet, Supernet};
use nasl::cost::{arch_cost, space_cost};
use nasl::ir::examples::*;
use nasl::ir::{Arch, SearchSpace, SpaceSpec};
use rand::SeedableRng;
use tch::{Device, Kind, Tensor};

fn input_for(spec: &SpaceSpec, arch: &Arch, space: &SearchSpace) -> Tensor {
    let net = space.net(arch).unwrap();
    let nasl::ir::Shape::Map { c, h, w } = net.nodes[0].shape else {
        panic!()
    };
    let _ = spec;
    Tensor::randn(
        [2, c as i64, h as i64, w as i64],
        (Kind::Float, Device::Cpu),
    )
}

#[test]
fn mobilenet_v2_compiled_has_exact_params() {
    let space = SearchSpace::new(mobilenet_v2()).unwrap();
    let sub = Subnet::new(&space, &Arch::default(), Device::Cpu).unwrap();
    println!("compiled MobileNetV2 params: {}", sub.num_params());
    assert_eq!(sub.num_params(), 3_504_872);
    let y = sub.forward_t(
        &Tensor::randn([1, 3, 224, 224], (Kind::Float, Device::Cpu)),
        false,
    );
    assert_eq!(y.size(), [1, 1000]);
}

#[test]
fn darts_v2_compiled_has_exact_params() {
    let space = SearchSpace::new(darts_v2()).unwrap();
    let sub = Subnet::new(&space, &Arch::default(), Device::Cpu).unwrap();
    assert_eq!(sub.num_params(), 3_349_342);
    let y = sub.forward_t(
        &Tensor::randn([2, 3, 32, 32], (Kind::Float, Device::Cpu)),
        false,
    );
    assert_eq!(y.size(), [2, 10]);
}

#[test]
fn supernet_and_subnets_agree_with_the_ir_over_random_archs() {
    tch::manual_seed(0);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    for spec in [small_chain(), elastic_chain(), small_cells()] {
        let space = SearchSpace::new(spec.clone()).unwrap();
        let sup = Supernet::new(&space, Device::Cpu).unwrap();
        assert_eq!(
            sup.num_params() as u64,
            space_cost(&space).unwrap().supernet_params
        );
        for _ in 0..6 {
            let arch = Arch::random(&space, &mut rng).unwrap();
            let x = input_for(&spec, &arch, &space);
            // Perturb running statistics of the chosen path, then compare in eval mode.
            let _ = tch::no_grad(|| sup.forward_t(&x, &arch, true).unwrap());
            let sub = sup.extract(&arch).unwrap();
            assert_eq!(
                sub.num_params() as u64,
                arch_cost(&space, &arch).unwrap().params,
                "{}",
                arch.to_yaml()
            );
            let a = tch::no_grad(|| sup.forward_t(&x, &arch, false).unwrap());
            let b = tch::no_grad(|| sub.forward_t(&x, false));
            let diff = (a - b).abs().max().double_value(&[]);
            assert!(
                diff < 1e-4,
                "outputs differ by {diff} for {}",
                arch.to_yaml()
            );
        }
    }
}
