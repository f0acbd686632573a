//! Which MBConv layers of a chain space a Single-Path NAS search (`relax superkernel`) searches as
//! one superkernel each, and which spaces it cannot (torch-free: `nasl check` refuses those spaces
//! with these errors; `compile::superkernel` runs the masked forward over this plan).

use crate::catalog::OpKind;
use crate::ir::graph::{DecisionKind, kind_name};
use crate::ir::{IrError, SearchSpace};

/// One searched MBConv layer.
#[derive(Debug, Clone, PartialEq)]
pub struct SkLayer {
    /// The block's IR path (its weights in the supernet).
    pub path: String,
    /// The kernel decision and its sizes (ascending), if the kernel is searched.
    pub kernel: Option<(usize, Vec<usize>)>,
    /// The expansion decision and its ratios (ascending), if the expansion is searched.
    pub expand: Option<(usize, Vec<usize>)>,
    /// Input channels (the expansion groups are `cin * e` channels).
    pub cin: usize,
}

/// The superkernel layers of a space, and the option index per decision of the largest network (the
/// one whose blocks hold the superkernels).
#[derive(Debug, Clone, PartialEq)]
pub struct SkPlan {
    pub layers: Vec<SkLayer>,
    pub largest: Vec<usize>,
}

/// A spec error at `path` (what `nasl check` and the supernet report).
pub fn refuse(path: &str, message: String, help: &str) -> IrError {
    IrError::Spec {
        path: path.to_string(),
        message,
        help: help.to_string(),
    }
}

/// The superkernel layers of `space`. Errors (what `nasl check` refuses with `relax superkernel`): a
/// decision that is not an elastic `kernel`/`expand` of an `mbconv` (a layer choice, channels, depth,
/// resolution), options not in ascending order, an even kernel size, squeeze-and-excitation with an
/// elastic expansion.
pub fn plan(space: &SearchSpace) -> Result<SkPlan, IrError> {
    const HELP: &str = "a superkernel layer is one `mbconv(kernel: [3, 5], expand: [3, 6])`; fix `out`, `repeat` and `resolution` to single values and write layer choices as elastic arguments";
    let mut largest = vec![];
    for d in &space.decisions {
        if d.kind != DecisionKind::Elastic {
            return Err(refuse(
                &d.path,
                format!(
                    "`relax superkernel` searches the kernel and expansion of elastic mbconv layers; `{}` is a {} decision",
                    d.path,
                    kind_name(d.kind)
                ),
                HELP,
            ));
        }
        let values: Vec<usize> = d.labels.iter().filter_map(|l| l.parse().ok()).collect();
        if values.len() != d.labels.len() || values.windows(2).any(|w| w[0] >= w[1]) {
            return Err(refuse(
                &d.path,
                format!(
                    "the superkernel's options of `{}` must be ascending: [{}]",
                    d.path,
                    d.labels.join(", ")
                ),
                "write the smallest first, e.g. `kernel: [3, 5]`, `expand: [3, 6]` (each option nests in the next)",
            ));
        }
        if d.path.ends_with(".kernel") && values.iter().any(|k| k % 2 == 0) {
            return Err(refuse(
                &d.path,
                format!(
                    "a superkernel's kernel sizes are odd (each is the centre of the next): [{}]",
                    d.labels.join(", ")
                ),
                "e.g. `kernel: [3, 5, 7]`",
            ));
        }
        largest.push(values.len().saturating_sub(1));
    }
    let choices: Vec<Option<usize>> = largest.iter().map(|&i| Some(i)).collect();
    let (net, _) = space.net_from_choices(&choices)?;
    let mut layers: Vec<SkLayer> = vec![];
    for (d, dec) in space.decisions.iter().enumerate() {
        let (prefix, arg) = dec.path.rsplit_once('.').unwrap_or(("", ""));
        let node = net
            .ops()
            .find(|(n, op, _)| {
                op.kind == OpKind::MbConv
                    && (n.path == prefix || n.path.starts_with(&format!("{prefix}.")))
            })
            .ok_or_else(|| {
                refuse(
                    &dec.path,
                    format!("no mbconv block for the elastic decision `{}`", dec.path),
                    HELP,
                )
            })?;
        let (n, op, input) = node;
        if op.se && arg == "expand" {
            return Err(refuse(
                &dec.path,
                "a superkernel's expansion groups cannot be masked under squeeze-and-excitation (its width follows the expansion)".into(),
                "drop `se: true`, or fix `expand` to one value",
            ));
        }
        let values: Vec<usize> = dec.labels.iter().filter_map(|l| l.parse().ok()).collect();
        let i = match layers.iter().position(|l| l.path == n.path) {
            Some(i) => i,
            None => {
                layers.push(SkLayer {
                    path: n.path.clone(),
                    kernel: None,
                    expand: None,
                    cin: input.channels(),
                });
                layers.len() - 1
            }
        };
        match arg {
            "kernel" => layers[i].kernel = Some((d, values)),
            _ => layers[i].expand = Some((d, values)),
        }
    }
    Ok(SkPlan { layers, largest })
}
