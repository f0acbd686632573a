//! Per-op latency lookup tables (FBNet, ProxylessNAS): every distinct (op, input shape) of a space is
//! timed alone on a device (warm-up runs, then the median of timed evaluation-mode forwards), stored in
//! a YAML/JSON table keyed by op and shape with the device it was measured on, summed into an
//! architecture's predicted latency or a per-option cost model (`OptionCosts`), and validated against
//! measured whole-network latency on sampled architectures.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use miette::Diagnostic;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor, nn};
use thiserror::Error;

use crate::catalog::{OpKind, signature};
use crate::cost::expected::{self, OptionCosts};
use crate::ir::IrError;
use crate::ir::graph::{Net, SearchSpace};
use crate::ir::ops::{Op, Shape, SkipImpl, skip_impl};
use crate::search::rank;

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

/// How ops and networks are timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeasureOpts {
    /// Images per forward.
    pub batch: usize,
    /// Untimed forwards before timing.
    pub warmup: usize,
    /// Timed forwards; the median is kept.
    pub repeats: usize,
}

impl Default for MeasureOpts {
    /// Batch 1, 10 warm-up runs, 50 timed runs (as `nasl latency`).
    fn default() -> MeasureOpts {
        MeasureOpts {
            batch: 1,
            warmup: 10,
            repeats: 50,
        }
    }
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

/// How a device is named in a table: `cpu (N threads)` (`cpu (1 thread)`), or `cuda:N (GPU name)` (the name when
/// `nvidia-smi` can tell it).
pub fn device_name(device: Device) -> String {
    match device {
        Device::Cpu => match tch::get_num_threads() {
            1 => "cpu (1 thread)".to_string(),
            n => format!("cpu ({n} threads)"),
        },
        Device::Cuda(i) => match gpu_name(i) {
            Some(name) => format!("cuda:{i} ({name})"),
            None => format!("cuda:{i}"),
        },
        d => format!("{d:?}").to_lowercase(),
    }
}

/// The name of CUDA device `i` as `nvidia-smi` reports it (through `CUDA_VISIBLE_DEVICES` when it
/// lists indices).
fn gpu_name(i: usize) -> Option<String> {
    let physical = match std::env::var("CUDA_VISIBLE_DEVICES") {
        Ok(v) if !v.trim().is_empty() => v.split(',').nth(i)?.trim().to_string(),
        _ => i.to_string(),
    };
    let out = std::process::Command::new("nvidia-smi")
        .args(["--query-gpu=name", "--format=csv,noheader", "-i", &physical])
        .output()
        .ok()?;
    let name = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !name.is_empty() && !name.contains('\n')).then_some(name)
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
    /// An empty table for `device` and `opts`.
    pub fn new(device: Device, opts: &MeasureOpts) -> LatencyTable {
        LatencyTable {
            device: device_name(device),
            batch: opts.batch,
            threads: tch::get_num_threads().max(1) as usize,
            warmup: opts.warmup,
            repeats: opts.repeats,
            entries: BTreeMap::new(),
        }
    }

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
        let tmp = path.with_file_name(format!(".{name}.tmp"));
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
fn all_options_net(space: &SearchSpace) -> Result<Net, IrError> {
    expected::check_linear(space)?;
    let all: Vec<Vec<usize>> = space
        .decisions
        .iter()
        .map(|d| (0..d.labels.len()).collect())
        .collect();
    Ok(space.net_from_mix(&all)?.0)
}

/// Every distinct op key of `space` with one op and input shape that has it (the space must have
/// layer/edge decisions only).
pub fn space_ops(space: &SearchSpace) -> Result<BTreeMap<String, (Op, Shape)>, LatencyError> {
    let net = all_options_net(space)?;
    let mut out = BTreeMap::new();
    for (_, op, input) in net.ops() {
        out.entry(op_key(op, input))
            .or_insert_with(|| (op.clone(), input));
    }
    Ok(out)
}

fn device_err(device: Device, message: impl Into<String>) -> LatencyError {
    LatencyError::Device {
        device: device_name(device),
        message: message.into(),
        help: "libtorch failed (out of memory, a device problem); try a smaller `--batch` or `--device cpu`"
            .into(),
    }
}

/// A random input of `shape` with a batch dimension.
fn input(shape: Shape, batch: usize, device: Device) -> Tensor {
    let b = batch as i64;
    match shape {
        Shape::Map { c, h, w } => {
            Tensor::randn([b, c as i64, h as i64, w as i64], (Kind::Float, device))
        }
        Shape::Vec { n } => Tensor::randn([b, n as i64], (Kind::Float, device)),
    }
}

/// Times an evaluation-mode forward of `net` (fresh weights) on a random batch: `warmup` runs, then the
/// median of `repeats` timed runs, in milliseconds. CUDA is synchronised around each timed run.
fn time_net(net: &Net, device: Device, opts: &MeasureOpts) -> Result<f64, LatencyError> {
    if opts.batch == 0 || opts.repeats == 0 {
        return Err(LatencyError::Device {
            device: device_name(device),
            message: "batch and repeats must be at least 1".into(),
            help: "give `--batch` and `--repeats` values >= 1".into(),
        });
    }
    let shape = net
        .nodes
        .first()
        .map(|n| n.shape)
        .ok_or_else(|| device_err(device, "an empty network"))?;
    let sync = || {
        if let Device::Cuda(i) = device {
            tch::Cuda::synchronize(i as i64);
        }
    };
    let timed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        tch::no_grad(|| {
            let vs = nn::VarStore::new(device);
            let blocks = super::build_blocks(&vs, net);
            let x = input(shape, opts.batch, device);
            let none = HashMap::new();
            for _ in 0..opts.warmup {
                let _ = super::run(net, &blocks, &x, false, &none);
            }
            sync();
            let mut times = Vec::with_capacity(opts.repeats);
            for _ in 0..opts.repeats {
                let t = Instant::now();
                let y = super::run(net, &blocks, &x, false, &none);
                sync();
                times.push(t.elapsed().as_secs_f64() * 1e3);
                drop(y);
            }
            median(&mut times)
        })
    }));
    timed.map_err(|p| {
        let message = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "libtorch panicked".into());
        device_err(
            device,
            message.lines().next().unwrap_or_default().to_string(),
        )
    })
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The latency (ms) of `op` alone on `input`, timed as a one-op network.
pub fn measure_op(
    op: &Op,
    input: Shape,
    device: Device,
    opts: &MeasureOpts,
) -> Result<f64, LatencyError> {
    let net = Net::single_op("op", op.clone(), input)?;
    time_net(&net, device, opts)
}

/// Measures every distinct (op, input shape) of `space` (every option of every decision, and the fixed
/// ops) that `into` lacks, with `opts`, adding them to `into`; returns how many were measured. The space
/// must have layer/edge decisions only.
pub fn measure_space(
    space: &SearchSpace,
    device: Device,
    opts: &MeasureOpts,
    into: &mut LatencyTable,
) -> Result<usize, LatencyError> {
    let mut n = 0;
    for (key, (op, shape)) in space_ops(space)? {
        if into.entries.contains_key(&key) {
            continue;
        }
        let ms = measure_op(&op, shape, device, opts)?;
        into.entries.insert(key, ms);
        n += 1;
    }
    Ok(n)
}

/// [`load_or_measure`], also returning how many entries were measured now.
pub fn load_or_measure_counted(
    path: &Path,
    space: &SearchSpace,
    device: Device,
    opts: &MeasureOpts,
) -> Result<(LatencyTable, usize), LatencyError> {
    let fresh = LatencyTable::new(device, opts);
    let mut table = if path.exists() {
        let old = LatencyTable::load(path)?;
        if old.device != fresh.device || old.batch != fresh.batch {
            eprintln!(
                "{}: measured on `{}` with batch {}, not `{}` with batch {}; measuring again",
                path.display(),
                old.device,
                old.batch,
                fresh.device,
                fresh.batch
            );
            fresh
        } else {
            old
        }
    } else {
        fresh
    };
    let n = measure_space(space, device, opts, &mut table)?;
    if n > 0 || !path.exists() {
        table.save(path)?;
    }
    Ok((table, n))
}

/// Loads the table at `path` if it exists and was measured on the same device (name, threads) with the
/// same batch, measures the space's missing entries, and saves the table back when anything was
/// measured. A table from another device or batch is measured again (said on stderr).
pub fn load_or_measure(
    path: &Path,
    space: &SearchSpace,
    device: Device,
    opts: &MeasureOpts,
) -> Result<LatencyTable, LatencyError> {
    Ok(load_or_measure_counted(path, space, device, opts)?.0)
}

/// The measured whole-network latency (ms) of the architecture of option `indices`: a standalone
/// network with fresh weights, timed like the ops (warm-up, repeats, median).
pub fn measure_net_ms(
    space: &SearchSpace,
    indices: &[usize],
    device: Device,
    opts: &MeasureOpts,
) -> Result<f64, LatencyError> {
    let choices: Vec<Option<usize>> = indices.iter().map(|&i| Some(i)).collect();
    let (net, _) = space.net_from_choices(&choices)?;
    time_net(&net, device, opts)
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

fn pearson(a: &[f64], b: &[f64]) -> Option<f64> {
    if a.len() != b.len() || a.len() < 2 {
        return None;
    }
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    (saa > 0.0 && sbb > 0.0).then(|| sab / (saa * sbb).sqrt())
}

/// Samples `samples` architectures uniformly (per decision, seeded), predicts each one's latency from
/// the table and measures it as a whole network, and reports Pearson, Spearman and MAPE.
pub fn validate(
    space: &SearchSpace,
    table: &LatencyTable,
    device: Device,
    opts: &MeasureOpts,
    samples: usize,
    seed: u64,
) -> Result<Validation, LatencyError> {
    let costs = table.option_costs(space)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut rows = Vec::with_capacity(samples);
    for _ in 0..samples {
        let idx: Vec<usize> = space
            .decisions
            .iter()
            .map(|d| rng.random_range(0..d.labels.len()))
            .collect();
        let predicted = costs.of_choices(&idx);
        let measured = measure_net_ms(space, &idx, device, opts)?;
        rows.push((idx, predicted, measured));
    }
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
    Ok(Validation {
        samples,
        pearson: pearson(&p, &m),
        spearman: rank::spearman(&p, &m),
        mape,
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::examples::{small_cells, small_chain};

    fn quick() -> MeasureOpts {
        MeasureOpts {
            batch: 1,
            warmup: 0,
            repeats: 1,
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
        let mut t = LatencyTable::new(Device::Cpu, &quick());
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
        assert_eq!(e.code().unwrap().to_string(), "nasl::latency::format");
        std::fs::write(
            &bad,
            "device: cpu\nbatch: 1\nthreads: 1\nwarmup: 0\nrepeats: 1\nentries: {a: -1.0}\n",
        )
        .unwrap();
        let e = LatencyTable::load(&bad).unwrap_err();
        assert_eq!(e.code().unwrap().to_string(), "nasl::latency::format");
        let e = LatencyTable::load(&dir.path().join("absent.json")).unwrap_err();
        assert_eq!(e.code().unwrap().to_string(), "nasl::latency::io");
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
        let mut t = LatencyTable::new(Device::Cpu, &quick());
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
        assert_eq!(e.code().unwrap().to_string(), "nasl::latency::missing");
        assert!(e.to_string().contains(&key), "{e}");
    }

    #[test]
    fn measuring_fills_the_table_once() {
        let space = SearchSpace::new(small_cells()).unwrap();
        let mut t = LatencyTable::new(Device::Cpu, &quick());
        let n = measure_space(&space, Device::Cpu, &quick(), &mut t).unwrap();
        assert_eq!(n, space_ops(&space).unwrap().len());
        assert!(t.entries.values().all(|v| v.is_finite() && *v >= 0.0));
        assert_eq!(
            measure_space(&space, Device::Cpu, &quick(), &mut t).unwrap(),
            0
        );
        let v = validate(&space, &t, Device::Cpu, &quick(), 3, 0).unwrap();
        assert_eq!(v.rows.len(), 3);
        assert!(v.rows.iter().all(|r| r.1 > 0.0 && r.2 > 0.0));
    }

    #[test]
    fn spaces_with_channel_decisions_are_refused() {
        let space = SearchSpace::new(small_chain()).unwrap();
        let mut t = LatencyTable::new(Device::Cpu, &quick());
        let e = measure_space(&space, Device::Cpu, &quick(), &mut t).unwrap_err();
        assert_eq!(e.code().unwrap().to_string(), "nasl::ir::spec");
    }
}
