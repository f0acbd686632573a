//! Every space written in `pipelines/` and `examples/`, compiled to libtorch: the supernet holds exactly
//! the analytic supernet parameter count, and for random architectures the extracted subnet holds the
//! architecture's analytic count and computes what the supernet path computes (eval mode).
#![cfg(feature = "torch")]

use nasl::compile::Supernet;
use nasl::cost::{arch_cost, space_cost};
use nasl::driver;
use nasl::ir::{Arch, Shape};
use nasl::source::FsLoader;
use rand::SeedableRng;
use tch::{Device, Kind, Tensor};

#[test]
fn every_written_space_compiles_to_its_analytic_counts() {
    tch::manual_seed(0);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let mut files: Vec<_> = ["pipelines", "examples"]
        .iter()
        .flat_map(|d| std::fs::read_dir(d).unwrap().map(|e| e.unwrap().path()))
        .filter(|p| p.extension().is_some_and(|e| e == "nas"))
        .collect();
    files.sort();
    let mut spaces = 0;
    for file in &files {
        let front = driver::check_file(file, &FsLoader);
        assert!(
            !front.checked.has_errors(),
            "{} does not check",
            file.display()
        );
        for (name, space) in &front.spaces {
            spaces += 1;
            let what = format!("{} space {name}", file.display());
            let sup = Supernet::new(space, Device::Cpu).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(
                sup.num_params() as u64,
                space_cost(space).unwrap().supernet_params,
                "{what}"
            );
            for _ in 0..2 {
                let arch = Arch::random(space, &mut rng).unwrap();
                let net = space.net(&arch).unwrap();
                let Shape::Map { c, h, w } = net.nodes[0].shape else {
                    panic!("{what}: input is not a map")
                };
                let x = Tensor::randn(
                    [2, c as i64, h as i64, w as i64],
                    (Kind::Float, Device::Cpu),
                );
                // A train-mode pass moves the running statistics; eval must then agree exactly.
                let _ = tch::no_grad(|| sup.forward_t(&x, &arch, true).unwrap());
                let sub = sup.extract(&arch).unwrap();
                assert_eq!(
                    sub.num_params() as u64,
                    arch_cost(space, &arch).unwrap().params,
                    "{what}\n{}",
                    arch.to_yaml()
                );
                let a = tch::no_grad(|| sup.forward_t(&x, &arch, false).unwrap());
                let b = tch::no_grad(|| sub.forward_t(&x, false));
                let diff = (a - b).abs().max().double_value(&[]);
                assert!(
                    diff < 1e-4,
                    "{what}: outputs differ by {diff} for\n{}",
                    arch.to_yaml()
                );
            }
        }
    }
    assert!(spaces >= 20, "only {spaces} spaces compiled");
}
