//! Latency lookup tables without libtorch: the table format (YAML/JSON, keyed by op, parameters and
//! input shape, with the device it was measured on), op keys, and predictions from it (an
//! architecture's summed latency, a per-option `OptionCosts` model for expected-latency losses,
//! correlation with measured latency). Measuring is `compile::latency` (torch).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use miette::Diagnostic;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::expected::{self, OptionCosts};
use crate::catalog::{OpKind, signature};
use crate::ir::IrError;
use crate::ir::graph::{Net, SearchSpace};
use crate::ir::ops::{Op, Shape, SkipImpl, skip_impl};
use crate::search::rank::{pearson, spearman};

/// Errors of latency tables: reading and writing them, missing entries, measuring.
#[derive(Debug, Error, Diagnostic)]
pub enum LatencyError {
    #[error("cannot {action} the latency table {}: {message}", path.display())]
    #[diagnostic(
        code(nasl::latency::io),
        help("check that the path is right and its folder writable")
    )]
    Io {
        path: PathBuf,
        action: &'static str,
        message: String,
    },

    #[error("{} is not a latency table: {message}", path.display())]
    #[diagnostic(
        code(nasl::latency::format),
        help(
            "delete the file (or choose another with `--out`) and `nasl latency` measures a new table"
        )
    )]
    Format { path: PathBuf, message: String },

    #[error("the latency table has no entry for `{key}` (op `{node}`)")]
    #[diagnostic(
        code(nasl::latency::missing),
        help(
            "measure the space's ops into the table first: `nasl latency FILE --out TABLE` adds what is missing"
        )
    )]
    Missing { key: String, node: String },

    #[error("cannot measure on {device}: {message}")]
    #[diagnostic(code(nasl::latency::device), help("{help}"))]
    Device {
        device: String,
        message: String,
        help: String,
    },

    #[error(transparent)]
    #[diagnostic(transparent)]
    Ir(#[from] IrError),
}

/// Per-op latencies in milliseconds (the median of `repeats` timed forwards after `warmup` runs),
/// keyed by [`op_key`], measured on `device` with `batch` images and `threads` CPU threads.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LatencyTable {
    pub device: String,
    pub batch: usize,
    pub threads: usize,
    pub warmup: usize,
    pub repeats: usize,
    pub entries: BTreeMap<String, f64>,
}

/// The key of `op` on `input`: its catalogue name, the parameters that change what it computes, and
/// the input shape, e.g. `mbconv(k5,e6,s2,g1,out40,relu6)@24x28x28`. Parameters that do not change the
/// computation in evaluation mode (batch-norm eps/momentum, dropout's p, an unused activation) are
/// left out, so ops that compute the same thing on the same shape share a key.
pub fn op_key(op: &Op, input: Shape) -> String {
    let k = op.kernel;
    let s = op.stride;
    let o = op.out;
    let act = format!("{:?}", op.act).to_lowercase();
    let flag = |b: bool, name: &str| if b { format!(",{name}") } else { String::new() };
    let aff = flag(!op.affine, "noaffine");
    let args = match op.kind {
        OpKind::Conv => format!(
            "k{k},s{s},d{},g{},out{o}{}",
            op.dilation,
            op.groups,
            flag(op.bias, "bias")
        ),
        OpKind::DwConv => format!("k{k},s{s},d{}", op.dilation),
        OpKind::SepConv | OpKind::ReluConvBn => format!("k{k},s{s},out{o}{aff}"),
        OpKind::DilConv => format!("k{k},s{s},d{},out{o}{aff}", op.dilation),
        OpKind::MbConv => format!(
            "k{k},e{},s{s},g{},out{o},{act}{}",
            op.expand,
            op.groups,
            flag(op.se, "se")
        ),
        OpKind::Shuffle => format!("k{k},s{s},out{o}"),
        OpKind::ShuffleXception => format!("s{s},out{o}"),
        OpKind::BasicBlock => format!("s{s},out{o}{aff}"),
        OpKind::Skip => match skip_impl(op, input.channels()) {
            SkipImpl::Identity => "identity".to_string(),
            SkipImpl::FactorizedReduce => format!("reduce,out{o}{aff}"),
            SkipImpl::Project => format!("project,out{o}{aff}"),
        },
        OpKind::FactorizedReduce => format!("out{o}{aff}"),
        OpKind::Linear => format!("out{o}{}", flag(op.bias, "bias")),
        OpKind::BatchNorm => aff.trim_start_matches(',').to_string(),
        OpKind::MaxPool | OpKind::AvgPool => format!("k{k},s{s}"),
        OpKind::Zero => format!("s{s},out{o}"),
        OpKind::GlobalAvgPool
        | OpKind::Dropout
        | OpKind::Relu
        | OpKind::Relu6
        | OpKind::HSwish
        | OpKind::Swish
        | OpKind::Sigmoid => String::new(),
    };
    let name = signature(op.kind).name;
    if args.is_empty() {
        format!("{name}@{input}")
    } else {
        format!("{name}({args})@{input}")
    }
}

fn io_err(path: &Path, action: &'static str, e: impl std::fmt::Display) -> LatencyError {
    LatencyError::Io {
        path: path.to_path_buf(),
        action,
        message: e.to_string(),
    }
}

fn is_yaml(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"))
}

impl LatencyTable {
    /// Reads a table: YAML for `.yaml`/`.yml`, JSON otherwise. A table that does not parse, or has a
    /// negative or non-finite entry or batch 0, is a `nasl::latency::format` error.
    pub fn load(path: &Path) -> Result<LatencyTable, LatencyError> {
        let text = std::fs::read_to_string(path).map_err(|e| io_err(path, "read", e))?;
        let format = |message: String| LatencyError::Format {
            path: path.to_path_buf(),
            message,
        };
        let table: LatencyTable = if is_yaml(path) {
            serde_yaml::from_str(&text).map_err(|e| format(e.to_string()))?
        } else {
            serde_json::from_str(&text).map_err(|e| format(e.to_string()))?
        };
        if table.batch == 0 {
            return Err(format("`batch` is 0".into()));
        }
        if let Some((k, v)) = table
            .entries
            .iter()
            .find(|(_, v)| !v.is_finite() || **v < 0.0)
        {
            return Err(format(format!(
                "entry `{k}` is {v}, not a time in milliseconds"
            )));
        }
        Ok(table)
    }

    /// Writes the table (YAML for `.yaml`/`.yml`, JSON otherwise) through a temporary file renamed into
    /// place, so a reader never sees half a table; creates the folder if needed.
    pub fn save(&self, path: &Path) -> Result<(), LatencyError> {
        let text = if is_yaml(path) {
            serde_yaml::to_string(self).map_err(|e| io_err(path, "write", e))?
        } else {
            serde_json::to_string_pretty(self).map_err(|e| io_err(path, "write", e))? + "\n"
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| io_err(path, "write", e))?;
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| "latency".into());
        // Per process, so that two writers of one table never share a temporary file.
        let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
        std::fs::write(&tmp, text).map_err(|e| io_err(path, "write", e))?;
        std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            io_err(path, "write", e)
        })
    }

    /// The table's per-option latency model of `space` (metric `latency_ms`): exact sums of entries for
    /// spaces of layer/edge decisions (`cost::expected::option_costs`); a missing entry is an error
    /// naming the op.
    pub fn option_costs(&self, space: &SearchSpace) -> Result<OptionCosts, LatencyError> {
        let missing: RefCell<Option<String>> = RefCell::new(None);
        let costs = expected::option_costs(space, "latency_ms", &|op, input, _| {
            let key = op_key(op, input);
            match self.entries.get(&key) {
                Some(v) => *v,
                None => {
                    missing.borrow_mut().get_or_insert(key);
                    0.0
                }
            }
        })?;
        if let Some(key) = missing.into_inner() {
            // Name the first op of the space with that key.
            let node = all_options_net(space)?
                .ops()
                .find(|(_, op, input)| op_key(op, *input) == key)
                .map(|(n, _, _)| n.path.clone())
                .unwrap_or_default();
            return Err(LatencyError::Missing { key, node });
        }
        Ok(costs)
    }

    /// The predicted latency (ms) of the architecture of option `indices`: the sum of its ops' entries.
    pub fn predict(&self, space: &SearchSpace, indices: &[usize]) -> Result<f64, LatencyError> {
        let choices: Vec<Option<usize>> = indices.iter().map(|&i| Some(i)).collect();
        let (net, _) = space.net_from_choices(&choices)?;
        self.net_ms(&net)
    }

    /// The sum of a network's ops' entries (ms).
    pub fn net_ms(&self, net: &Net) -> Result<f64, LatencyError> {
        net.ops()
            .map(|(n, op, input)| {
                let key = op_key(op, input);
                self.entries
                    .get(&key)
                    .copied()
                    .ok_or_else(|| LatencyError::Missing {
                        key,
                        node: n.path.clone(),
                    })
            })
            .sum()
    }
}

/// The network with every option of every decision (each op of the space at its shapes).
pub(crate) fn all_options_net(space: &SearchSpace) -> Result<Net, IrError> {
    expected::check_linear(space)?;
    let all: Vec<Vec<usize>> = space
        .decisions
        .iter()
        .map(|d| (0..d.labels.len()).collect())
        .collect();
    Ok(space.net_from_mix(&all)?.0)
}

/// The architectures whose ops a latency table of `space` must hold: none for a space of layer/edge
/// decisions only (`None`: the network with every option at once holds them all), else the chain's
/// op cover (`SearchSpace::op_cover`: elastic, depth, channel and resolution decisions). A cell
/// space with other decisions is the per-option check's error.
pub fn table_cover(space: &SearchSpace) -> Result<Option<Vec<Vec<usize>>>, IrError> {
    match expected::check_linear(space) {
        Ok(()) => Ok(None),
        Err(e) if space.kind() != "chain" => Err(e),
        Err(_) => space.op_cover().map(Some),
    }
}

/// Every distinct op key of `space` with one op and input shape that has it: read off the network
/// with every option at once, or off the networks of [`table_cover`].
pub fn space_ops(space: &SearchSpace) -> Result<BTreeMap<String, (Op, Shape)>, LatencyError> {
    let nets = match table_cover(space)? {
        None => vec![all_options_net(space)?],
        Some(cover) => cover
            .iter()
            .map(|arch| {
                let choices: Vec<Option<usize>> = arch.iter().map(|&i| Some(i)).collect();
                Ok(space.net_from_choices(&choices)?.0)
            })
            .collect::<Result<Vec<Net>, IrError>>()?,
    };
    let mut out = BTreeMap::new();
    for net in &nets {
        for (_, op, input) in net.ops() {
            out.entry(op_key(op, input))
                .or_insert_with(|| (op.clone(), input));
        }
    }
    Ok(out)
}

/// How well a table's sums predict measured whole-network latency on sampled architectures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Validation {
    pub samples: usize,
    /// Pearson correlation of predicted and measured latency (`None` when either is constant).
    pub pearson: Option<f64>,
    /// Spearman's rank correlation (`None` when either is constant).
    pub spearman: Option<f64>,
    /// Mean absolute percentage error of the prediction, in percent of the measured latency.
    pub mape: f64,
    /// Per architecture: option indices, predicted ms, measured ms.
    pub rows: Vec<(Vec<usize>, f64, f64)>,
}

impl Validation {
    /// The figures of `rows` (option indices, predicted ms, measured ms).
    pub fn from_rows(rows: Vec<(Vec<usize>, f64, f64)>) -> Validation {
        let p: Vec<f64> = rows.iter().map(|r| r.1).collect();
        let m: Vec<f64> = rows.iter().map(|r| r.2).collect();
        let mape = if rows.is_empty() {
            0.0
        } else {
            100.0
                * rows
                    .iter()
                    .map(|(_, p, m)| if *m > 0.0 { (p - m).abs() / m } else { 0.0 })
                    .sum::<f64>()
                / rows.len() as f64
        };
        Validation {
            samples: rows.len(),
            pearson: pearson(&p, &m),
            spearman: spearman(&p, &m),
            mape,
            rows,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::examples::{elastic_chain, small_cells, small_chain};
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn empty() -> LatencyTable {
        LatencyTable {
            device: "cpu (1 thread)".into(),
            batch: 1,
            threads: 1,
            warmup: 0,
            repeats: 1,
            entries: BTreeMap::new(),
        }
    }

    /// The op keys of every architecture of `space`, enumerated.
    fn keys_of_every_architecture(space: &SearchSpace) -> std::collections::BTreeSet<String> {
        let lists: Vec<Vec<usize>> = space
            .decisions
            .iter()
            .map(|d| (0..d.labels.len()).collect())
            .collect();
        let mut keys = std::collections::BTreeSet::new();
        for arch in crate::ir::graph::combos(&lists) {
            let choices: Vec<Option<usize>> = arch.iter().map(|&i| Some(i)).collect();
            let (net, _) = space.net_from_choices(&choices).unwrap();
            keys.extend(net.ops().map(|(_, op, input)| op_key(op, input)));
        }
        keys
    }

    /// A chain with elastic, depth, channel, resolution and layer decisions (one candidate itself
    /// elastic).
    fn mixed_chain() -> SearchSpace {
        let text = r#"
space net = chain(input: [1, 12, 12], classes: 3) {
  resolution [8, 12]
  stem conv(3, out: 4) bn relu
  layers out: [4, 6], stride: 2, repeat: [1, 2], choose [mbconv(kernel: [3, 5], expand: [1, 2]), conv(3) bn relu, skip]
  layers out: 8, stride: 1, repeat: [1, 2], mbconv(kernel: 3, expand: [1, 3])
  head global_avg_pool linear(out: classes)
}
"#;
        let front = crate::driver::check_text("t.nas", text);
        assert!(!front.checked.has_errors(), "{:?}", front.checked.diags);
        front.spaces.into_iter().next().unwrap().1
    }

    /// A latency table of a space with elastic, depth, channel and resolution decisions holds exactly
    /// the ops that its architectures have: its op cover misses none and adds none (checked against
    /// every architecture, enumerated).
    #[test]
    fn the_op_cover_holds_exactly_the_ops_of_every_architecture() {
        for (name, space) in [
            ("elastic", SearchSpace::new(elastic_chain()).unwrap()),
            ("channels", SearchSpace::new(small_chain()).unwrap()),
            ("mixed", mixed_chain()),
        ] {
            assert!(expected::check_linear(&space).is_err(), "{name}");
            let table: std::collections::BTreeSet<String> =
                space_ops(&space).unwrap().into_keys().collect();
            assert_eq!(table, keys_of_every_architecture(&space), "{name}");
        }
        // Elastic: 2 resolutions x 4 (kernel, expand) pairs, every stage at its greatest depth.
        let cover = SearchSpace::new(elastic_chain())
            .unwrap()
            .op_cover()
            .unwrap();
        assert_eq!(cover.len(), 8);
        // A cell space keeps the per-option path.
        let cells = SearchSpace::new(small_cells()).unwrap();
        assert_eq!(table_cover(&cells).unwrap(), None);
        assert!(cells.op_cover().is_err());
    }

    /// A cover of more than `MAX_COVER` architectures is a spec error with a help line, not a
    /// table measured for hours.
    #[test]
    fn a_cover_too_large_to_measure_is_refused() {
        let text = r#"
space net = chain(input: [1, 32, 32], classes: 3) {
  resolution [14, 16, 18, 20, 22, 24, 26, 28, 30, 32]
  stem conv(3, out: 4) bn relu
  layers out: [4, 6, 8, 10, 12], stride: 1, repeat: 1, mbconv(kernel: [3, 5, 7], expand: [1, 2, 3])
  layers out: [4, 6, 8, 10, 12], stride: 1, repeat: 1, conv(3) bn relu
  layers out: [4, 6, 8, 10, 12], stride: 1, repeat: 1, conv(3) bn relu
  layers out: [4, 6, 8, 10, 12], stride: 1, repeat: 1, conv(3) bn relu
  head global_avg_pool linear(out: classes)
}
"#;
        let front = crate::driver::check_text("t.nas", text);
        assert!(!front.checked.has_errors(), "{:?}", front.checked.diags);
        let space = &front.spaces[0].1;
        // 10 resolutions x 5^4 widths x 9 (kernel, expand) pairs.
        match table_cover(space) {
            Err(IrError::Spec { message, help, .. }) => {
                assert!(message.contains("56250 architectures"), "{message}");
                assert!(!help.is_empty());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn keys_separate_what_differs_and_merge_what_is_the_same() {
        let space = SearchSpace::new(small_cells()).unwrap();
        let ops = space_ops(&space).unwrap();
        // Every key names its shape; cells repeat the same ops, so keys are fewer than op nodes.
        assert!(ops.keys().all(|k| k.contains('@')));
        let nodes = all_options_net(&space).unwrap().ops().count();
        assert!(ops.len() < nodes, "{} keys for {nodes} ops", ops.len());
        assert!(
            ops.contains_key("sep_conv(k3,s1,out4)@4x8x8"),
            "{:?}",
            ops.keys()
        );
        assert!(ops.keys().any(|k| k.starts_with("skip(identity)@")));
        assert!(ops.keys().any(|k| k.starts_with("skip(reduce,out")));
        // Eps and dropout's p do not change the key; the kernel does.
        let (mut op, shape) = ops["sep_conv(k3,s1,out4)@4x8x8"].clone();
        op.eps = 1e-3;
        op.p = 0.3;
        assert_eq!(op_key(&op, shape), "sep_conv(k3,s1,out4)@4x8x8");
        op.kernel = 5;
        assert_eq!(op_key(&op, shape), "sep_conv(k5,s1,out4)@4x8x8");
    }

    #[test]
    fn tables_round_trip_and_damaged_tables_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = empty();
        t.entries.insert("relu@8x4x4".into(), 0.0125);
        t.entries.insert("linear(out10)@32".into(), 1.0 / 3.0);
        for name in ["t.yaml", "t.json"] {
            let p = dir.path().join(name);
            t.save(&p).unwrap();
            assert_eq!(LatencyTable::load(&p).unwrap(), t);
        }
        let bad = dir.path().join("bad.yaml");
        std::fs::write(&bad, "device: [").unwrap();
        let e = LatencyTable::load(&bad).unwrap_err();
        assert_eq!(
            e.code().map(|c| c.to_string()).unwrap_or_default(),
            "nasl::latency::format"
        );
        std::fs::write(
            &bad,
            "device: cpu\nbatch: 1\nthreads: 1\nwarmup: 0\nrepeats: 1\nentries: {a: -1.0}\n",
        )
        .unwrap();
        let e = LatencyTable::load(&bad).unwrap_err();
        assert_eq!(
            e.code().map(|c| c.to_string()).unwrap_or_default(),
            "nasl::latency::format"
        );
        let e = LatencyTable::load(&dir.path().join("absent.json")).unwrap_err();
        assert_eq!(
            e.code().map(|c| c.to_string()).unwrap_or_default(),
            "nasl::latency::io"
        );
        // No temporary file is left behind.
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
    }

    #[test]
    fn the_table_model_is_the_sum_of_its_entries() {
        let space = SearchSpace::new(small_cells()).unwrap();
        let mut t = empty();
        // Made-up entries: the model must add them exactly as predict does.
        for (i, k) in space_ops(&space).unwrap().into_keys().enumerate() {
            t.entries.insert(k, 0.25 * (i + 1) as f64);
        }
        let costs = t.option_costs(&space).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..50 {
            let idx: Vec<usize> = space
                .decisions
                .iter()
                .map(|d| rng.random_range(0..d.labels.len()))
                .collect();
            let p = t.predict(&space, &idx).unwrap();
            assert!((costs.of_choices(&idx) - p).abs() < 1e-9);
        }
        let key = t.entries.keys().next().unwrap().clone();
        t.entries.remove(&key);
        let e = t.option_costs(&space).unwrap_err();
        assert_eq!(
            e.code().map(|c| c.to_string()).unwrap_or_default(),
            "nasl::latency::missing"
        );
        assert!(e.to_string().contains(&key), "{e}");
    }

    #[test]
    fn validation_figures() {
        let rows = vec![
            (vec![0], 1.0, 2.0),
            (vec![1], 2.0, 4.0),
            (vec![2], 3.0, 5.0),
        ];
        let v = Validation::from_rows(rows);
        assert_eq!(v.samples, 3);
        assert_eq!(v.spearman, Some(1.0));
        assert!(v.pearson.unwrap() > 0.98);
        assert!((v.mape - 100.0 * (0.5 + 0.5 + 0.4) / 3.0).abs() < 1e-9);
        assert_eq!(Validation::from_rows(vec![]).pearson, None);
    }
}
