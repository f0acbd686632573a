//! Model directories: the portable result of a run. A directory holds
//!
//! - `space.json`: the search space's `SpaceSpec` (pretty JSON),
//! - `arch.yaml`: the chosen architecture (`Arch::to_yaml`),
//! - `weights.safetensors`: every variable of the subnet's VarStore by IR path, trainable weights and
//!   the batch norms' running statistics alike (tch keeps those as non-trainable VarStore variables,
//!   so `vs.variables()` holds them),
//!
//! and, once exported, `model.pt` (TorchScript, see `compile::export`). Every file is written to
//! `name.tmp` and renamed into place, so a reader never sees half a file. Loading rebuilds the subnet
//! from the space and architecture and restores every tensor exactly; a missing, extra, misshapen or
//! mistyped tensor is an error value naming the file and the tensor, never a panic.

use super::Subnet;
use crate::ir::{Arch, SearchSpace, Shape, SpaceSpec};
use miette::Diagnostic;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use tch::{Device, Tensor};
use thiserror::Error;

/// The search space of a model directory.
pub const SPACE_FILE: &str = "space.json";
/// The architecture of a model directory.
pub const ARCH_FILE: &str = "arch.yaml";
/// The weights of a model directory.
pub const WEIGHTS_FILE: &str = "weights.safetensors";
/// The TorchScript export of a model directory.
pub const TORCHSCRIPT_FILE: &str = "model.pt";

const MADE_BY: &str = "a model directory is written by `nasl run` at the end of a pipeline \
                       (compile::model::save); point at a complete one";

/// Everything that can go wrong saving, loading or exporting a model directory.
#[derive(Debug, Error, Diagnostic)]
pub enum ModelError {
    #[error("`{}` does not exist", path.display())]
    #[diagnostic(code(nasl::model::missing))]
    Missing {
        path: PathBuf,
        #[help]
        help: String,
    },
    #[error("`{}` is corrupt{}: {message}", path.display(), tensor.as_ref().map(|t| format!(" (tensor `{t}`)")).unwrap_or_default())]
    #[diagnostic(code(nasl::model::corrupt))]
    Corrupt {
        path: PathBuf,
        /// The tensor at fault, for weights files.
        tensor: Option<String>,
        message: String,
        #[help]
        help: String,
    },
    #[error("cannot {action} `{}`: {source}", path.display())]
    #[diagnostic(
        code(nasl::model::io),
        help("check that the directory exists, is writable and that the disk is not full")
    )]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot export `{}`: {message}", path.display())]
    #[diagnostic(code(nasl::model::export))]
    Export {
        path: PathBuf,
        message: String,
        #[help]
        help: String,
    },
}

impl ModelError {
    /// The diagnostic code, e.g. `nasl::model::corrupt`.
    pub fn code_str(&self) -> String {
        self.code().map(|c| c.to_string()).unwrap_or_default()
    }

    fn missing(path: &Path) -> ModelError {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let help = match name {
            TORCHSCRIPT_FILE => {
                "`model.pt` is written by exporting a model directory to TorchScript \
                 (compile::export::export_dir)"
                    .to_string()
            }
            _ => format!("`{name}` is part of a model directory; {MADE_BY}"),
        };
        ModelError::Missing {
            path: path.to_path_buf(),
            help,
        }
    }

    fn corrupt(path: &Path, tensor: Option<&str>, message: impl Into<String>) -> ModelError {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let help = match name {
            WEIGHTS_FILE => format!(
                "the weights do not match `{SPACE_FILE}` and `{ARCH_FILE}` of the same directory; \
                 the three files must come from one run ({MADE_BY})"
            ),
            ARCH_FILE => format!(
                "`{ARCH_FILE}` must be an architecture of the space in `{SPACE_FILE}` ({MADE_BY})"
            ),
            _ => format!("the file was damaged or edited by hand; {MADE_BY}"),
        };
        ModelError::Corrupt {
            path: path.to_path_buf(),
            tensor: tensor.map(str::to_string),
            message: message.into(),
            help,
        }
    }

    fn io(action: &'static str, path: &Path, source: std::io::Error) -> ModelError {
        ModelError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// A loaded model directory.
pub struct Model {
    pub space: SearchSpace,
    pub arch: Arch,
    pub net: Subnet,
}

impl Model {
    /// The network's input `[C, H, W]` (the architecture's resolution for elastic-resolution spaces).
    pub fn input_shape(&self) -> [i64; 3] {
        net_input_shape(&self.net).unwrap_or_else(|| input_shape(&self.space))
    }
}

/// The spec's input `[C, H, W]`.
pub fn input_shape(space: &SearchSpace) -> [i64; 3] {
    space.spec.input().map(|d| d as i64)
}

/// The input `[C, H, W]` of a compiled network (its architecture's resolution); `None` when the
/// network does not take a feature map.
pub fn net_input_shape(net: &Subnet) -> Option<[i64; 3]> {
    match net.net.nodes.first()?.shape {
        Shape::Map { c, h, w } => Some([c as i64, h as i64, w as i64]),
        Shape::Vec { .. } => None,
    }
}

/// Writes `path` through `path.tmp`: `write` fills the temporary file, which is then renamed into
/// place; on failure the temporary file is removed and `path` is left as it was.
pub(crate) fn write_atomic(
    path: &Path,
    write: impl FnOnce(&Path) -> Result<(), ModelError>,
) -> Result<(), ModelError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let result = write(&tmp).and_then(|()| {
        // Flush the data before the rename makes it visible.
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(|e| ModelError::io("write", &tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| ModelError::io("rename into", path, e))
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn write_text_atomic(path: &Path, text: &str) -> Result<(), ModelError> {
    write_atomic(path, |tmp| {
        let mut f = std::fs::File::create(tmp).map_err(|e| ModelError::io("create", tmp, e))?;
        f.write_all(text.as_bytes())
            .map_err(|e| ModelError::io("write", tmp, e))
    })
}

/// Every variable of the network (an auxiliary head's excepted: it is not part of the model), by name, detached, contiguous and on the CPU, sorted by name.
fn named_weights(net: &Subnet) -> Vec<(String, Tensor)> {
    let mut vars: Vec<(String, Tensor)> = net
        .vs
        .variables()
        .into_iter()
        .filter(|(n, _)| !super::auxiliary::is_auxiliary(n))
        .map(|(n, t)| (n, t.detach().to_device(Device::Cpu).contiguous()))
        .collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    vars
}

/// Saves a model directory (created if needed): `space.json`, `arch.yaml`, `weights.safetensors`.
pub fn save(dir: &Path, space: &SearchSpace, arch: &Arch, net: &Subnet) -> Result<(), ModelError> {
    std::fs::create_dir_all(dir).map_err(|e| ModelError::io("create", dir, e))?;
    let space_path = dir.join(SPACE_FILE);
    let json = serde_json::to_string_pretty(&space.spec)
        .map_err(|e| ModelError::io("serialise", &space_path, std::io::Error::other(e)))?;
    write_text_atomic(&space_path, &(json + "\n"))?;
    write_text_atomic(&dir.join(ARCH_FILE), &arch.to_yaml())?;
    let weights_path = dir.join(WEIGHTS_FILE);
    let weights = named_weights(net);
    write_atomic(&weights_path, |tmp| {
        Tensor::write_safetensors(&weights, tmp)
            .map_err(|e| ModelError::io("write", tmp, std::io::Error::other(e.to_string())))
    })
}

fn read_text(path: &Path) -> Result<String, ModelError> {
    match std::fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes)
            .map_err(|_| ModelError::corrupt(path, None, "the file is not UTF-8 text")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(ModelError::missing(path)),
        Err(e) => Err(ModelError::io("read", path, e)),
    }
}

/// Loads a model directory onto `device`: the space, the architecture and a subnet holding exactly the
/// saved weights and running statistics.
pub fn load(dir: &Path, device: Device) -> Result<Model, ModelError> {
    if !dir.is_dir() {
        return Err(ModelError::Missing {
            path: dir.to_path_buf(),
            help: format!(
                "expected a directory with `{SPACE_FILE}`, `{ARCH_FILE}` and `{WEIGHTS_FILE}`; \
                 {MADE_BY}"
            ),
        });
    }
    let space_path = dir.join(SPACE_FILE);
    let spec: SpaceSpec = serde_json::from_str(&read_text(&space_path)?)
        .map_err(|e| ModelError::corrupt(&space_path, None, format!("not a search space: {e}")))?;
    let space = SearchSpace::new(spec).map_err(|e| {
        ModelError::corrupt(&space_path, None, format!("not a valid search space: {e}"))
    })?;
    let arch_path = dir.join(ARCH_FILE);
    let arch = Arch::from_yaml(&read_text(&arch_path)?)
        .map_err(|e| ModelError::corrupt(&arch_path, None, e.to_string()))?;
    let net = Subnet::new(&space, &arch, device).map_err(|e| {
        ModelError::corrupt(
            &arch_path,
            None,
            format!("not an architecture of the saved space: {e}"),
        )
    })?;
    load_weights(&net, &dir.join(WEIGHTS_FILE))?;
    Ok(Model { space, arch, net })
}

/// Copies the tensors of a safetensors file into the network's variables; every variable must be in
/// the file with its shape and kind, and the file must hold nothing else.
pub fn load_weights(net: &Subnet, path: &Path) -> Result<(), ModelError> {
    match std::fs::metadata(path) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ModelError::missing(path));
        }
        Err(e) => return Err(ModelError::io("read", path, e)),
    }
    let saved = Tensor::read_safetensors(path)
        .map_err(|e| ModelError::corrupt(path, None, format!("not a safetensors file: {e}")))?;
    let mut saved: HashMap<String, Tensor> = saved.into_iter().collect();
    let mut vars: Vec<(String, Tensor)> = net.vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    // Check everything before changing anything.
    for (name, var) in &vars {
        let Some(src) = saved.get(name) else {
            return Err(ModelError::corrupt(
                path,
                Some(name),
                "the tensor is missing from the file",
            ));
        };
        if src.size() != var.size() {
            return Err(ModelError::corrupt(
                path,
                Some(name),
                format!(
                    "the file holds shape {:?}, the architecture needs {:?}",
                    src.size(),
                    var.size()
                ),
            ));
        }
        if src.kind() != var.kind() {
            return Err(ModelError::corrupt(
                path,
                Some(name),
                format!(
                    "the file holds {:?} values, the network uses {:?}",
                    src.kind(),
                    var.kind()
                ),
            ));
        }
    }
    if vars.len() != saved.len() {
        let mut extra: Vec<&String> = saved
            .keys()
            .filter(|k| !vars.iter().any(|(n, _)| n == *k))
            .collect();
        extra.sort();
        if let Some(first) = extra.first() {
            return Err(ModelError::corrupt(
                path,
                Some(first),
                format!(
                    "the architecture has no such tensor ({} unexpected tensor(s) in the file)",
                    extra.len()
                ),
            ));
        }
    }
    tch::no_grad(|| {
        for (name, var) in &mut vars {
            let Some(src) = saved.remove(name.as_str()) else {
                return Err(ModelError::corrupt(
                    path,
                    Some(name),
                    "the tensor is missing",
                ));
            };
            var.f_copy_(&src).map_err(|e| {
                ModelError::corrupt(path, Some(name), format!("cannot copy the tensor: {e}"))
            })?;
        }
        Ok(())
    })
}
