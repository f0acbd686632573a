//! TorchScript export: a subnet traced in eval mode (`forward_t(x, false)`: batch norms use their
//! running statistics, dropout is off) into a `model.pt` that `torch.jit.load` (Python) or
//! `tch::CModule::load` (Rust) runs without nasl.
//!
//! Tracing records the ops that one example input goes through. The weights become constants of the
//! module. Sizes the network computes from its input in Rust (channel shuffles, zero ops) are recorded
//! as numbers, so a network with such ops only accepts the example's batch size (2); networks made of
//! convolutions, batch norms, pools and linear layers accept any batch size.

use super::Subnet;
use super::model::{self, ModelError, TORCHSCRIPT_FILE};
use std::path::{Path, PathBuf};
use tch::{CModule, Device, Kind, Tensor};

/// The batch size of the example input the network is traced with.
pub const EXAMPLE_BATCH: i64 = 2;

/// Turns off `requires_grad` on the trainable variables while alive (a tensor that requires grad
/// cannot become a constant of a traced module) and turns it back on when dropped.
struct Frozen(Vec<Tensor>);

impl Frozen {
    fn new(net: &Subnet) -> Frozen {
        let vars: Vec<Tensor> = net
            .vs
            .trainable_variables()
            .into_iter()
            .filter(|t| t.requires_grad())
            .collect();
        for t in &vars {
            let _ = t.set_requires_grad(false);
        }
        Frozen(vars)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        for t in &self.0 {
            let _ = t.set_requires_grad(true);
        }
    }
}

fn export_err(path: &Path, message: impl Into<String>, help: impl Into<String>) -> ModelError {
    ModelError::Export {
        path: path.to_path_buf(),
        message: message.into(),
        help: help.into(),
    }
}

/// A deterministic example input of `EXAMPLE_BATCH` images (no draw from the global RNG).
fn example_input(input: [i64; 3], device: Device) -> Tensor {
    let n = EXAMPLE_BATCH * input[0] * input[1] * input[2];
    (Tensor::arange(n, (Kind::Float, device)) * 0.37)
        .sin()
        .reshape([EXAMPLE_BATCH, input[0], input[1], input[2]])
}

/// Traces `net` in eval mode on an input of shape `[EXAMPLE_BATCH, C, H, W]` (`input` = `[C, H, W]`),
/// checks that the traced module computes what the network computes, and saves it to `path`
/// atomically (through `path.tmp`).
pub fn torchscript(net: &Subnet, input: &[i64], path: &Path) -> Result<(), ModelError> {
    let &[c, h, w] = input else {
        return Err(export_err(
            path,
            format!("the input shape {input:?} is not [C, H, W]"),
            "give the input as channels, height, width, e.g. [3, 32, 32]",
        ));
    };
    if c <= 0 || h <= 0 || w <= 0 {
        return Err(export_err(
            path,
            format!("the input shape {input:?} has an empty dimension"),
            "every input dimension must be positive",
        ));
    }
    let shape = [c, h, w];
    match model::net_input_shape(net) {
        Some(want) if want != shape => {
            return Err(export_err(
                path,
                format!("the network takes input {want:?}, not {shape:?}"),
                "use the architecture's input shape (compile::model::Model::input_shape)",
            ));
        }
        Some(_) => {}
        None => {
            return Err(export_err(
                path,
                "the network does not take an image input",
                "only networks whose input is a [C, H, W] feature map can be exported",
            ));
        }
    }

    let _frozen = Frozen::new(net);
    let x = example_input(shape, net.vs.device());
    let expected = tch::no_grad(|| net.forward_t(&x, false));
    let module = tch::no_grad(|| {
        CModule::create_by_tracing(
            "NaslModel",
            "forward",
            std::slice::from_ref(&x),
            &mut |xs: &[Tensor]| vec![net.forward_t(&xs[0], false)],
        )
    })
    .map_err(|e| {
        export_err(
            path,
            format!("tracing failed: {e}"),
            "the network could not be traced; report this with the model directory",
        )
    })?;
    let mut module = module;
    module.f_set_eval().map_err(|e| {
        export_err(
            path,
            format!("cannot switch the traced module to eval mode: {e}"),
            "report this with the model directory",
        )
    })?;
    let got = tch::no_grad(|| module.forward_ts(&[&x])).map_err(|e| {
        export_err(
            path,
            format!("the traced module does not run: {e}"),
            "report this with the model directory",
        )
    })?;
    let diff = if got.size() == expected.size() {
        (got - &expected).abs().max().double_value(&[])
    } else {
        f64::INFINITY
    };
    if diff.is_nan() || diff > 1e-5 {
        return Err(export_err(
            path,
            format!("the traced module differs from the network by {diff}"),
            "tracing lost part of the computation; report this with the model directory",
        ));
    }
    model::write_atomic(path, |tmp| {
        module.save(tmp).map_err(|e| ModelError::Io {
            action: "write",
            path: tmp.to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        })
    })
}

/// Loads the model directory `dir` onto `device` and writes its TorchScript export `dir/model.pt`;
/// returns that path.
pub fn export_dir(dir: &Path, device: Device) -> Result<PathBuf, ModelError> {
    let m = model::load(dir, device)?;
    let path = dir.join(TORCHSCRIPT_FILE);
    torchscript(&m.net, &m.input_shape(), &path)?;
    Ok(path)
}
