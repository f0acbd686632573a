//! Which MBConv layers of a chain space a Single-Path NAS search (`relax superkernel`) searches as
//! one superkernel each, and which spaces it cannot (torch-free: `nasl check` refuses those spaces
//! with these errors; `compile::superkernel` runs the masked forward over this plan).

use crate::catalog::OpKind;
use crate::ir::graph::{DecisionKind, kind_name};
use crate::ir::ops::mbconv_residual;
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
    /// The layer choice `choose [mbconv(..), skip]` that can drop the layer, and its `skip` option:
    /// the smallest expansion's indicator keeps the block or leaves the identity (Single-Path NAS).
    pub drop: Option<(usize, usize)>,
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
        if d.kind == DecisionKind::Layer {
            // Single-Path NAS's layer drop: `choose [mbconv(..), skip]`, the block's option largest.
            match skip_option(d) {
                Some(s) => {
                    largest.push(1 - s);
                    continue;
                }
                None => {
                    return Err(refuse(
                        &d.path,
                        format!(
                            "`relax superkernel` searches a layer choice only as a block that can be dropped, `choose [mbconv(kernel: [..], expand: [..]), skip]`; `{}` chooses among {}",
                            d.path,
                            d.labels.join(", ")
                        ),
                        HELP,
                    ));
                }
            }
        }
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
        let values = d.sizes().unwrap_or_default();
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
        if dec.kind == DecisionKind::Layer {
            continue;
        }
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
        let values = dec.sizes().unwrap_or_default();
        let i = match layers.iter().position(|l| l.path == n.path) {
            Some(i) => i,
            None => {
                layers.push(SkLayer {
                    path: n.path.clone(),
                    kernel: None,
                    expand: None,
                    cin: input.channels(),
                    drop: None,
                });
                layers.len() - 1
            }
        };
        match arg {
            "kernel" => layers[i].kernel = Some((d, values)),
            _ => layers[i].expand = Some((d, values)),
        }
    }
    // The droppable layers: the block of the kept candidate, one mbconv that adds its input.
    for (d, dec) in space.decisions.iter().enumerate() {
        let Some(s) = (dec.kind == DecisionKind::Layer)
            .then(|| skip_option(dec))
            .flatten()
        else {
            continue;
        };
        let prefix = format!("{}.cand{}", dec.path, 1 - s);
        let ops: Vec<_> = net
            .ops()
            .filter(|(n, _, _)| n.path == prefix || n.path.starts_with(&format!("{prefix}.")))
            .collect();
        let droppable = match ops.as_slice() {
            [(n, op, input)] if op.kind == OpKind::MbConv => {
                mbconv_residual(op, input.channels()).then_some((n, input))
            }
            _ => None,
        };
        let Some((n, input)) = droppable else {
            return Err(refuse(
                &dec.path,
                format!(
                    "`{}` can be dropped only where its block is one mbconv that adds its input (stride 1, as many channels out as in), which `skip` then stands for",
                    dec.path
                ),
                "write `layers out: C, stride: 1, ..., choose [mbconv(kernel: [3, 5], expand: [3, 6]), skip]` with the layer's input at C channels",
            ));
        };
        match layers.iter().position(|l| l.path == n.path) {
            Some(i) => layers[i].drop = Some((d, s)),
            None => layers.push(SkLayer {
                path: n.path.clone(),
                kernel: None,
                expand: None,
                cin: input.channels(),
                drop: Some((d, s)),
            }),
        }
    }
    Ok(SkPlan { layers, largest })
}

/// The `skip` option of a two-option layer decision whose other option is not `skip`.
fn skip_option(d: &crate::ir::graph::Decision) -> Option<usize> {
    match d.labels.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [a, "skip"] if a != "skip" => Some(1),
        ["skip", b] if b != "skip" => Some(0),
        _ => None,
    }
}
