//! Model directories and TorchScript export: a subnet saved with its space, architecture, weights and
//! batch-norm running statistics loads back computing exactly the same; damaged directories are error
//! values with their codes; `model.pt` computes the same in Python (`torch.jit.load`) and in Rust
//! (`tch::CModule::load`). The Python check needs `python` with torch on PATH (scripts/env.sh puts it
//! there) and fails, rather than skips, without it.
#![cfg(feature = "torch")]

use miette::Diagnostic;
use nasl::compile::Subnet;
use nasl::compile::export::{self, EXAMPLE_BATCH};
use nasl::compile::model::{
    self, ARCH_FILE, ModelError, SPACE_FILE, TORCHSCRIPT_FILE, WEIGHTS_FILE,
};
use nasl::ir::examples::{small_cells, small_chain};
use nasl::ir::{Arch, SearchSpace, SpaceSpec};
use std::path::Path;
use std::process::Command;
use tch::{Device, Kind, Tensor};

/// A subnet of `spec` for the architecture of option `indices`, after a few train-mode forwards so that
/// the batch norms' running statistics are far from their initial zeros and ones.
fn trained(spec: SpaceSpec, indices: &[usize]) -> (SearchSpace, Arch, Subnet) {
    let space = SearchSpace::new(spec).unwrap();
    let arch = Arch::from_indices(&space, indices).unwrap();
    let net = Subnet::new(&space, &arch, Device::Cpu).unwrap();
    let [c, h, w] = model::input_shape(&space);
    tch::no_grad(|| {
        for _ in 0..3 {
            let x = Tensor::randn([4, c, h, w], (Kind::Float, Device::Cpu)) * 2.0 + 0.5;
            let _ = net.forward_t(&x, true);
        }
    });
    let vars = net.vs.variables();
    let moved = vars
        .iter()
        .filter(|(n, _)| n.ends_with("running_mean"))
        .map(|(_, t)| t.abs().sum(Kind::Float).double_value(&[]))
        .sum::<f64>();
    assert!(
        moved > 0.0,
        "training-mode forwards left the running means at zero"
    );
    (space, arch, net)
}

/// The MBConvs (one with squeeze-excite and hswish), conv + BN + ReLU, and a basic block.
fn chain_mbconv() -> (SearchSpace, Arch, Subnet) {
    trained(small_chain(), &[1, 1, 0, 1, 1, 0, 3])
}

/// Channel shuffles (ShuffleNetV2 and its Xception variant).
fn chain_shuffle() -> (SearchSpace, Arch, Subnet) {
    trained(small_chain(), &[0, 1, 1, 0, 1, 1, 2])
}

/// Separable and dilated convolutions, pools, skips and factorized reductions in cells.
fn cells() -> (SearchSpace, Arch, Subnet) {
    tch::manual_seed(3);
    let space = SearchSpace::new(small_cells()).unwrap();
    let idx: Vec<usize> = (0..space.decisions.len()).map(|i| i % 4).collect();
    trained(small_cells(), &idx)
}

fn eval(net: &Subnet, x: &Tensor) -> Tensor {
    tch::no_grad(|| net.forward_t(x, false))
}

fn input(shape: [i64; 3], batch: i64) -> Tensor {
    let [c, h, w] = shape;
    Tensor::randn([batch, c, h, w], (Kind::Float, Device::Cpu))
}

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size());
    (a - b).abs().max().double_value(&[])
}

fn leftover_tmp(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

#[test]
fn save_then_load_restores_every_tensor_and_the_eval_outputs_exactly() {
    tch::manual_seed(0);
    for (what, (space, arch, net)) in [
        ("chain mbconv", chain_mbconv()),
        ("chain shuffle", chain_shuffle()),
        ("cells", cells()),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path().join("model");
        model::save(&dir, &space, &arch, &net).unwrap();
        for f in [SPACE_FILE, ARCH_FILE, WEIGHTS_FILE] {
            assert!(dir.join(f).is_file(), "{what}: {f} not written");
        }
        assert!(
            leftover_tmp(&dir).is_empty(),
            "{what}: temporary files left"
        );

        let m = model::load(&dir, Device::Cpu).unwrap();
        assert_eq!(m.space.spec, space.spec, "{what}");
        assert_eq!(m.arch, arch, "{what}");
        assert_eq!(m.input_shape(), model::input_shape(&space), "{what}");

        // Every variable, running statistics included, bit for bit.
        let a = net.vs.variables();
        let b = m.net.vs.variables();
        assert_eq!(a.len(), b.len(), "{what}");
        assert!(a.keys().any(|n| n.ends_with("running_var")), "{what}");
        for (name, t) in &a {
            assert!(t.equal(&b[name]), "{what}: `{name}` differs after loading");
        }
        // Trainable stays trainable, statistics stay statistics.
        assert_eq!(net.num_params(), m.net.num_params(), "{what}");

        let x = input(m.input_shape(), 3);
        assert_eq!(
            max_diff(&eval(&net, &x), &eval(&m.net, &x)),
            0.0,
            "{what}: outputs differ"
        );

        // Saving again over an existing directory replaces it.
        model::save(&dir, &m.space, &m.arch, &m.net).unwrap();
        let again = model::load(&dir, Device::Cpu).unwrap();
        assert_eq!(max_diff(&eval(&net, &x), &eval(&again.net, &x)), 0.0);
    }
}

fn expect_err(dir: &Path, code: &str, contains: &[&str]) -> ModelError {
    let e = match model::load(dir, Device::Cpu) {
        Ok(_) => panic!("a damaged model directory loaded; expected {code}"),
        Err(e) => e,
    };
    assert_eq!(e.code_str(), code, "{e}");
    assert!(e.help().is_some(), "{code} has no help");
    let text = e.to_string();
    for c in contains {
        assert!(text.contains(c), "`{text}` does not mention `{c}`");
    }
    e
}

#[test]
fn damaged_model_directories_are_errors_with_codes() {
    tch::manual_seed(1);
    let (space, arch, net) = chain_mbconv();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("model");
    model::save(&dir, &space, &arch, &net).unwrap();
    let weights = dir.join(WEIGHTS_FILE);
    let good: Vec<(String, Tensor)> = Tensor::read_safetensors(&weights).unwrap();
    let victim = good
        .iter()
        .map(|(n, _)| n.clone())
        .find(|n| n.ends_with(".weight") && n.contains("dw"))
        .expect("a depthwise conv weight");

    // A tensor of the wrong shape: the file and the tensor are named.
    let wrong: Vec<(String, Tensor)> = good
        .iter()
        .map(|(n, t)| {
            let t = if *n == victim {
                Tensor::zeros([t.size()[0] + 1], (Kind::Float, Device::Cpu))
            } else {
                t.shallow_clone()
            };
            (n.clone(), t)
        })
        .collect();
    Tensor::write_safetensors(&wrong, &weights).unwrap();
    let e = expect_err(
        &dir,
        "nasl::model::corrupt",
        &[WEIGHTS_FILE, &victim, "shape"],
    );
    let ModelError::Corrupt { tensor, .. } = e else {
        unreachable!()
    };
    assert_eq!(tensor.as_deref(), Some(victim.as_str()));

    // A tensor of the wrong kind.
    let wrong: Vec<(String, Tensor)> = good
        .iter()
        .map(|(n, t)| {
            let t = if *n == victim {
                t.to_kind(Kind::Double)
            } else {
                t.shallow_clone()
            };
            (n.clone(), t)
        })
        .collect();
    Tensor::write_safetensors(&wrong, &weights).unwrap();
    expect_err(&dir, "nasl::model::corrupt", &[WEIGHTS_FILE, &victim]);

    // A missing tensor (a running statistic: they are part of the model).
    let stat = good
        .iter()
        .map(|(n, _)| n.clone())
        .find(|n| n.ends_with("running_mean"))
        .unwrap();
    let fewer: Vec<&(String, Tensor)> = good.iter().filter(|(n, _)| *n != stat).collect();
    let fewer: Vec<(&str, &Tensor)> = fewer.iter().map(|(n, t)| (n.as_str(), t)).collect();
    Tensor::write_safetensors(&fewer, &weights).unwrap();
    expect_err(
        &dir,
        "nasl::model::corrupt",
        &[WEIGHTS_FILE, &stat, "missing"],
    );

    // An extra tensor.
    let mut more: Vec<(String, Tensor)> = good
        .iter()
        .map(|(n, t)| (n.clone(), t.shallow_clone()))
        .collect();
    more.push((
        "nowhere.weight".into(),
        Tensor::zeros([2], (Kind::Float, Device::Cpu)),
    ));
    Tensor::write_safetensors(&more, &weights).unwrap();
    expect_err(&dir, "nasl::model::corrupt", &["nowhere.weight"]);

    // Not a safetensors file at all.
    std::fs::write(&weights, b"\x08\0\0\0\0\0\0\0garbage!").unwrap();
    expect_err(&dir, "nasl::model::corrupt", &[WEIGHTS_FILE]);
    std::fs::write(&weights, b"").unwrap();
    expect_err(&dir, "nasl::model::corrupt", &[WEIGHTS_FILE]);

    // No weights file.
    std::fs::remove_file(&weights).unwrap();
    expect_err(&dir, "nasl::model::missing", &[WEIGHTS_FILE]);

    // Restore the weights; then break the architecture and the space.
    Tensor::write_safetensors(&good, &weights).unwrap();
    assert!(model::load(&dir, Device::Cpu).is_ok());
    let arch_path = dir.join(ARCH_FILE);
    let arch_text = std::fs::read_to_string(&arch_path).unwrap();
    std::fs::write(&arch_path, "stage0.nonsense: 3\n").unwrap();
    expect_err(&dir, "nasl::model::corrupt", &[ARCH_FILE]);
    std::fs::write(&arch_path, "[not, a, map").unwrap();
    expect_err(&dir, "nasl::model::corrupt", &[ARCH_FILE]);
    // Another valid architecture of the same space: the weights no longer fit.
    let other = Arch::from_indices(&space, &[0, 0, 2, 0, 0, 1, 0]).unwrap();
    std::fs::write(&arch_path, other.to_yaml()).unwrap();
    expect_err(&dir, "nasl::model::corrupt", &[WEIGHTS_FILE]);
    std::fs::remove_file(&arch_path).unwrap();
    expect_err(&dir, "nasl::model::missing", &[ARCH_FILE]);
    std::fs::write(&arch_path, arch_text).unwrap();

    let space_path = dir.join(SPACE_FILE);
    std::fs::write(&space_path, "{\"kind\": \"chain\"").unwrap();
    expect_err(&dir, "nasl::model::corrupt", &[SPACE_FILE]);
    std::fs::remove_file(&space_path).unwrap();
    expect_err(&dir, "nasl::model::missing", &[SPACE_FILE]);

    // No directory at all.
    expect_err(
        &tmp.path().join("absent"),
        "nasl::model::missing",
        &["absent"],
    );
}

fn write_f32(path: &Path, t: &Tensor) {
    let v = Vec::<f32>::try_from(t.contiguous().view([-1])).unwrap();
    let bytes: Vec<u8> = v.iter().flat_map(|f| f.to_le_bytes()).collect();
    std::fs::write(path, bytes).unwrap();
}

fn dims(t: &Tensor) -> String {
    t.size()
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

const PY_CHECK: &str = r#"
import sys, torch
path, xp, xs, yp, ys = sys.argv[1:6]
def read(p, shape):
    data = bytearray(open(p, "rb").read())
    t = torch.frombuffer(data, dtype=torch.float32)
    if sys.byteorder != "little":
        t = t.byteswap()
    return t.reshape([int(d) for d in shape.split(",")])
x, y = read(xp, xs), read(yp, ys)
m = torch.jit.load(path, map_location="cpu")
m.eval()
with torch.no_grad():
    out = m(x)
assert list(out.shape) == list(y.shape), (out.shape, y.shape)
print("maxdiff", (out - y).abs().max().item())
"#;

/// Runs `model.pt` in Python on `x` and returns the largest difference from `y`.
fn python_max_diff(pt: &Path, x: &Tensor, y: &Tensor) -> f64 {
    let dir = pt.parent().unwrap();
    let (xp, yp) = (dir.join("x.f32"), dir.join("y.f32"));
    write_f32(&xp, x);
    write_f32(&yp, y);
    let out = Command::new("python")
        .arg("-c")
        .arg(PY_CHECK)
        .arg(pt)
        .arg(&xp)
        .arg(dims(x))
        .arg(&yp)
        .arg(dims(y))
        .output()
        .expect("`python` must be on PATH with torch installed (source scripts/env.sh)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("maxdiff "))
        .unwrap_or_else(|| panic!("no maxdiff in python's output:\n{stdout}"))
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn torchscript_export_computes_the_same_in_python_and_rust() {
    tch::manual_seed(2);
    for (what, (space, arch, net)) in [
        ("chain mbconv", chain_mbconv()),
        ("chain shuffle", chain_shuffle()),
        ("cells", cells()),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        model::save(dir, &space, &arch, &net).unwrap();
        let pt = export::export_dir(dir, Device::Cpu).unwrap();
        assert_eq!(pt, dir.join(TORCHSCRIPT_FILE));
        assert!(pt.is_file(), "{what}");
        assert!(leftover_tmp(dir).is_empty(), "{what}: temporary files left");

        let shape = model::input_shape(&space);
        let x = input(shape, EXAMPLE_BATCH);
        let y = eval(&net, &x);

        let py = python_max_diff(&pt, &x, &y);
        assert!(py < 1e-5, "{what}: python output differs by {py}");

        let m = tch::CModule::load(&pt).unwrap();
        let got = tch::no_grad(|| m.forward_ts(&[&x])).unwrap();
        let rust = max_diff(&got, &y);
        assert!(rust < 1e-5, "{what}: CModule output differs by {rust}");

        // The trace is not tied to the example's batch size (shuffles and zero ops included).
        let x = input(shape, 5);
        let got = tch::no_grad(|| m.forward_ts(&[&x])).unwrap();
        let d = max_diff(&got, &eval(&net, &x));
        assert!(d < 1e-5, "{what}: batch 5 differs by {d}");

        // Tracing left the network trainable.
        assert!(
            net.vs
                .trainable_variables()
                .iter()
                .all(|t| t.requires_grad()),
            "{what}"
        );
    }
}

#[test]
fn export_rejects_a_wrong_input_shape_and_a_missing_directory() {
    tch::manual_seed(4);
    let (_, _, net) = chain_mbconv();
    let tmp = tempfile::tempdir().unwrap();
    let pt = tmp.path().join(TORCHSCRIPT_FILE);
    for bad in [&[3, 8, 8][..], &[3, 16][..], &[0, 16, 16][..]] {
        let e = export::torchscript(&net, bad, &pt).unwrap_err();
        assert_eq!(e.code_str(), "nasl::model::export", "{e}");
        assert!(e.help().is_some());
    }
    assert!(!pt.exists());
    export::torchscript(&net, &[3, 16, 16], &pt).unwrap();
    assert!(pt.is_file());

    let e = export::export_dir(&tmp.path().join("absent"), Device::Cpu).unwrap_err();
    assert_eq!(e.code_str(), "nasl::model::missing", "{e}");
}
