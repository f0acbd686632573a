//! Measuring per-op latency lookup tables (FBNet, ProxylessNAS): every distinct (op, input shape) of a
//! space is timed alone on a device (warm-up runs, then the median of timed evaluation-mode forwards)
//! into a `LatencyTable`, completed rather than re-measured when it exists, and validated against
//! measured whole-network latency on sampled architectures. The table format and the predictions from
//! it are torch-free (`cost::latency`, re-exported here).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor, nn};

pub use crate::cost::latency::{LatencyError, LatencyTable, Validation, op_key, space_ops};
use crate::ir::graph::{Net, SearchSpace};
use crate::ir::ops::{Op, Shape};

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
            let plain = super::RunOpts::default();
            for _ in 0..opts.warmup {
                let _ = super::run(net, &blocks, &x, false, &plain).0;
            }
            sync();
            let mut times = Vec::with_capacity(opts.repeats);
            for _ in 0..opts.repeats {
                let t = Instant::now();
                let y = super::run(net, &blocks, &x, false, &plain).0;
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

/// Measures each (op, input shape) of `ops` whose key `into` lacks, adding it to `into`; returns how
/// many were measured.
pub fn measure_missing<'a>(
    ops: impl IntoIterator<Item = (&'a Op, Shape)>,
    device: Device,
    opts: &MeasureOpts,
    into: &mut LatencyTable,
) -> Result<usize, LatencyError> {
    let mut n = 0;
    for (op, shape) in ops {
        if let std::collections::btree_map::Entry::Vacant(e) = into.entries.entry(op_key(op, shape))
        {
            e.insert(measure_op(op, shape, device, opts)?);
            n += 1;
        }
    }
    Ok(n)
}

/// Measures every distinct (op, input shape) of `space` (`space_ops`: every option of every decision
/// and the fixed ops, or the ops of the space's op cover) that `into` lacks, with `opts`, adding them
/// to `into`; returns how many were measured.
pub fn measure_space(
    space: &SearchSpace,
    device: Device,
    opts: &MeasureOpts,
    into: &mut LatencyTable,
) -> Result<usize, LatencyError> {
    let ops = space_ops(space)?;
    measure_missing(ops.values().map(|(op, s)| (op, *s)), device, opts, into)
}

/// The table at `path` when it exists and was measured on this device (name, threads) with the same
/// batch; else an empty table for this device (a table from another device or batch is said on
/// stderr, and replaced when saved).
pub fn open_table(
    path: &Path,
    device: Device,
    opts: &MeasureOpts,
) -> Result<LatencyTable, LatencyError> {
    let fresh = LatencyTable::new(device, opts);
    if !path.exists() {
        return Ok(fresh);
    }
    let old = LatencyTable::load(path)?;
    if old.device == fresh.device && old.batch == fresh.batch {
        return Ok(old);
    }
    eprintln!(
        "{}: measured on `{}` with batch {}, not `{}` with batch {}; measuring again",
        path.display(),
        old.device,
        old.batch,
        fresh.device,
        fresh.batch
    );
    Ok(fresh)
}

/// The table at `path` ([`open_table`]) with every op of `ops` in it: missing entries are measured
/// and the table saved (also when it did not exist); returns it and how many entries were measured.
pub fn load_or_measure_ops<'a>(
    path: &Path,
    ops: impl IntoIterator<Item = (&'a Op, Shape)>,
    device: Device,
    opts: &MeasureOpts,
) -> Result<(LatencyTable, usize), LatencyError> {
    let mut table = open_table(path, device, opts)?;
    let n = measure_missing(ops, device, opts, &mut table)?;
    if n > 0 || !path.exists() {
        table.save(path)?;
    }
    Ok((table, n))
}

/// [`load_or_measure`], also returning how many entries were measured now.
pub fn load_or_measure_counted(
    path: &Path,
    space: &SearchSpace,
    device: Device,
    opts: &MeasureOpts,
) -> Result<(LatencyTable, usize), LatencyError> {
    let ops = space_ops(space)?;
    load_or_measure_ops(path, ops.values().map(|(op, s)| (op, *s)), device, opts)
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
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut rows = Vec::with_capacity(samples);
    for _ in 0..samples {
        let idx: Vec<usize> = space
            .decisions
            .iter()
            .map(|d| rng.random_range(0..d.labels.len()))
            .collect();
        let predicted = table.predict(space, &idx)?;
        let measured = measure_net_ms(space, &idx, device, opts)?;
        rows.push((idx, predicted, measured));
    }
    Ok(Validation::from_rows(rows))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::examples::small_cells;

    fn quick() -> MeasureOpts {
        MeasureOpts {
            batch: 1,
            warmup: 0,
            repeats: 1,
        }
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
    fn tables_of_another_device_are_measured_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cells.latency.json");
        let space = SearchSpace::new(small_cells()).unwrap();
        let all = space_ops(&space).unwrap().len();
        let (t, n) = load_or_measure_counted(&path, &space, Device::Cpu, &quick()).unwrap();
        assert_eq!((n, t.entries.len()), (all, all));
        // JSON floats read back within an ulp (serde_json without `float_roundtrip`).
        let back = LatencyTable::load(&path).unwrap();
        assert_eq!(back.entries.len(), all);
        for (k, v) in &t.entries {
            assert!(
                (back.entries[k] - v).abs() <= 1e-12 * v.abs().max(1.0),
                "{k}"
            );
        }
        let (_, n) = load_or_measure_counted(&path, &space, Device::Cpu, &quick()).unwrap();
        assert_eq!(n, 0);
        // Same device, one entry lost: only that one is measured.
        let mut partial = t.clone();
        let gone = partial.entries.keys().next().unwrap().clone();
        partial.entries.remove(&gone);
        partial.save(&path).unwrap();
        let (t2, n) = load_or_measure_counted(&path, &space, Device::Cpu, &quick()).unwrap();
        assert_eq!(n, 1);
        assert!(t2.entries.contains_key(&gone));
        // Another device (or batch): everything again.
        let mut other = t.clone();
        other.device = "cuda:7 (elsewhere)".into();
        other.save(&path).unwrap();
        let (t3, n) = load_or_measure_counted(&path, &space, Device::Cpu, &quick()).unwrap();
        assert_eq!(n, all);
        assert_eq!(t3.device, t.device);
        let mut other = t;
        other.batch = 8;
        other.save(&path).unwrap();
        let t4 = load_or_measure(&path, &space, Device::Cpu, &quick()).unwrap();
        assert_eq!((t4.batch, t4.entries.len()), (1, all));
        assert_eq!(LatencyTable::load(&path).unwrap().batch, 1);
    }
}
