//! Benchmark (not a test): the nasl side of `bench/run.py`. Runs ONE workload in this process through
//! nasl's library API exactly as `nasl run` does (Supernet/Subnet, the executor's optimizer with its
//! active-parameter filter, `exec::supernet::supernet_step`) and prints one JSON line. The PyTorch
//! side is `bench/reference.py`, same rows, same flags, same JSON.
//!
//! Run: `cargo bench --bench nasl -- <row> [--batch N] [--steps N] [--warmup N] [--threads N]`
//! Rows: spos, fairnas, darts, gdas, eval, path, standalone, superkernel, masked (and `overhead`: host-side
//! costs per step); `dump <chain|darts>` prints the networks
//! (as nasl's IR) the reference builds its modules from; `malloc-env` prints the glibc variables
//! that give another process nasl's malloc settings; `gen-check <lines> <file>` writes the large
//! `.nas` file of row 6.

use std::path::{Path, PathBuf};
use std::time::Instant;

use nasl::compile::{Mix, Subnet, Supernet};
use nasl::data::loader::{Loader, Normalize, TensorSet};
use nasl::data::{read_idx_images, read_idx_labels};
use nasl::exec::diff::{arch_only, weights_mix};
use nasl::exec::optim::{Optimizer, Rule};
use nasl::exec::relax::{ArchParams, For, Relax, Sched, relaxed};
use nasl::exec::supernet::{op_paths, supernet_step};
use nasl::exec::train::{StepOut, is_active, loss_and_correct, named_trainable};
use nasl::ir::{Arch, SearchSpace};
use nasl::search::sample;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use tch::{Device, Tensor};

/// Fashion-MNIST's pixel mean and standard deviation (both sides normalise with these).
const MEAN: f64 = 0.2860;
const STD: f64 = 0.3530;

struct Args {
    row: String,
    rest: Vec<String>,
    batch: i64,
    steps: usize,
    warmup: usize,
    threads: Option<i32>,
    seed: u64,
}

fn parse_args() -> Args {
    // `cargo bench` passes `--bench` to harness-less targets: ignore it.
    let argv: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let mut a = Args {
        row: String::new(),
        rest: vec![],
        batch: 0,
        steps: 0,
        warmup: 0,
        threads: None,
        seed: 0,
    };
    let mut it = argv.into_iter();
    while let Some(x) = it.next() {
        let mut num = |name: &str| -> u64 {
            it.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{name} needs a number"))
        };
        match x.as_str() {
            "--batch" => a.batch = num("--batch") as i64,
            "--steps" => a.steps = num("--steps") as usize,
            "--warmup" => a.warmup = num("--warmup") as usize,
            "--threads" => a.threads = Some(num("--threads") as i32),
            "--seed" => a.seed = num("--seed"),
            "--json" => {}
            _ if a.row.is_empty() => a.row = x,
            _ => a.rest.push(x),
        }
    }
    a
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A space of `bench/spaces/<name>.nas`, built through the driver as `nasl run` builds it.
fn load_space(name: &str) -> SearchSpace {
    load_space_text(name, |t| t.to_string())
}

/// A space of `bench/spaces/` with its text edited by `edit` first.
fn load_space_text(name: &str, edit: impl Fn(&str) -> String) -> SearchSpace {
    let path = root().join("bench/spaces").join(format!("{name}.nas"));
    let text = edit(&std::fs::read_to_string(&path).expect("read the bench space"));
    let front = nasl::driver::check_text(&path.display().to_string(), &text);
    assert!(
        !front.checked.has_errors(),
        "{}: {:?}",
        path.display(),
        front.checked.diags.first()
    );
    front.spaces.into_iter().next().expect("one space").1
}

/// The first `n` Fashion-MNIST training images (u8, N x 1 x 28 x 28) and labels.
fn fashion_mnist(n: usize) -> TensorSet {
    let dir = std::env::var("NASL_FASHION_MNIST")
        .unwrap_or_else(|_| "/usr/share/datasets/fashion-mnist".into());
    let dir = Path::new(&dir);
    let find = |stem: &str| {
        let gz = dir.join(format!("{stem}.gz"));
        if gz.exists() { gz } else { dir.join(stem) }
    };
    let mut raw = read_idx_images(&find("train-images-idx3-ubyte")).expect("Fashion-MNIST images");
    raw.labels = read_idx_labels(&find("train-labels-idx1-ubyte")).expect("Fashion-MNIST labels");
    let n = n.min(raw.labels.len());
    raw.pixels.truncate(n * raw.image_size());
    raw.labels.truncate(n);
    TensorSet::from_raw(&raw)
}

fn normalize() -> Normalize {
    Normalize {
        mean: vec![MEAN],
        std: vec![STD],
    }
}

/// `k` batches of `b` prepared (float, normalised) images with labels; step i uses batch i % k.
fn batches(b: i64, k: usize) -> Vec<(Tensor, Tensor)> {
    let set = fashion_mnist(b as usize * k);
    let loader = Loader::eval(b as usize, normalize(), Device::Cpu);
    loader.epoch(&set, 0).collect()
}

fn status_kb(key: &str) -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

/// Peak-memory meter: resets the process's high-water mark (`clear_refs` 5) and remembers the RSS
/// at that point; `peak_mb` is the growth of the peak over it.
struct Mem {
    base_kb: f64,
}

impl Mem {
    fn start() -> Mem {
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        Mem {
            base_kb: status_kb("VmRSS:"),
        }
    }
    fn peak_mb(&self) -> f64 {
        (status_kb("VmHWM:") - self.base_kb) / 1024.0
    }
}

/// Runs `warmup` untimed then `steps` timed calls of `step`; returns (steps per second, peak MB).
fn timed(warmup: usize, steps: usize, mut step: impl FnMut(usize)) -> (f64, f64) {
    let mem = Mem::start();
    for i in 0..warmup {
        step(i);
    }
    let t = Instant::now();
    for i in 0..steps {
        step(warmup + i);
    }
    let secs = t.elapsed().as_secs_f64();
    (steps as f64 / secs, mem.peak_mb())
}

fn sgd(momentum: f64, nesterov: bool, wd: f64) -> Rule {
    Rule::Sgd {
        momentum,
        nesterov,
        wd,
    }
}

/// The optimizer update `exec::train::fit` does after a step.
fn update(opt: &mut Optimizer, lr: f64, out: &StepOut) {
    match &out.active {
        Some(a) => opt.step(lr, Some(&|name: &str| is_active(a, name))),
        None => opt.step(lr, None),
    }
}

fn choices(space: &SearchSpace) -> Vec<usize> {
    space.decisions.iter().map(|d| d.labels.len()).collect()
}

/// The fixed architecture of rows 5: conv3 and conv5 alternating (option i % 2 of layer i).
fn fixed_genome(space: &SearchSpace) -> Vec<usize> {
    (0..space.decisions.len()).map(|i| i % 2).collect()
}

/// The `k`-th architecture of the benchmark's sampling sequence: a 64-bit LCG seeded by `k`, one draw
/// per decision. `bench/reference.py` draws the same sequence, so both sides train and score the same
/// architectures (uniformly spread, like `search::sample::uniform`, whose cost is not what is timed).
fn bench_genome(k: u64, choices: &[usize]) -> Vec<usize> {
    let mut s = k.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(1);
    choices
        .iter()
        .map(|&n| {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((s >> 33) % n as u64) as usize
        })
        .collect()
}

fn single(genome: &[usize]) -> Vec<Vec<usize>> {
    genome.iter().map(|&o| vec![o]).collect()
}

/// Rows 1, 2 and 5 (path): supernet training steps as `exec::supernet::train_supernet` does them.
fn supernet_row(a: &Args, sampler: &str) -> Value {
    let space = load_space("chain");
    let net = Supernet::new(&space, Device::Cpu).expect("supernet");
    let data = batches(a.batch, 8);
    let mut opt = Optimizer::new(sgd(0.9, true, 4e-5), named_trainable(&net.vs));
    let ch = choices(&space);
    let mut rng = ChaCha8Rng::seed_from_u64(a.seed);
    let fixed = fixed_genome(&space);
    let phases = std::env::var_os("NASL_BENCH_PHASES").is_some();
    let mut acc = [0.0f64; 3];
    let (sps, peak) = timed(a.warmup, a.steps, |i| {
        let paths: Vec<Vec<Vec<usize>>> = match sampler {
            "fair" => sample::fair(&ch, &mut rng)
                .iter()
                .map(|g| single(g))
                .collect(),
            "fixed" => vec![single(&fixed)],
            _ => vec![single(&bench_genome(a.seed + i as u64, &ch))],
        };
        let (x, y) = &data[i % data.len()];
        if phases {
            let t = Instant::now();
            opt.zero_grad();
            let mix = Mix::from_options(&paths[0]);
            let logits = net.forward_mix(x, &mix, true).expect("forward");
            let (loss, _) = loss_and_correct(&logits, y, 0.0);
            let t1 = t.elapsed().as_secs_f64();
            loss.backward();
            let _ = loss.double_value(&[]);
            let t2 = t.elapsed().as_secs_f64();
            let active = op_paths(&space.net_from_mix(&paths[0]).expect("net").0);
            opt.step(0.1, Some(&|name: &str| is_active(&active, name)));
            let t3 = t.elapsed().as_secs_f64();
            acc[0] += t1;
            acc[1] += t2 - t1;
            acc[2] += t3 - t2;
            return;
        }
        opt.zero_grad();
        let out = supernet_step(&net, &space, &paths, x, y, 0.0).expect("step");
        update(&mut opt, 0.1, &out);
    });
    if phases {
        eprintln!(
            "forward {:.4}s backward {:.4}s update {:.4}s (sums)",
            acc[0], acc[1], acc[2]
        );
    }
    json!({"steps_per_s": sps, "peak_rss_mb": peak, "params": net.num_params(),
           "paths_per_step": if sampler == "fair" { ch.iter().copied().max().unwrap_or(1) } else { 1 }})
}

/// Row 5 (standalone): the fixed architecture compiled alone, the same step and optimizer.
fn standalone_row(a: &Args) -> Value {
    let space = load_space("chain");
    let arch = Arch::from_indices(&space, &fixed_genome(&space)).expect("arch");
    let net = Subnet::new(&space, &arch, Device::Cpu).expect("subnet");
    let data = batches(a.batch, 8);
    let mut opt = Optimizer::new(sgd(0.9, true, 4e-5), named_trainable(&net.vs));
    let mut acc = [0.0f64; 3];
    let (sps, peak) = timed(a.warmup, a.steps, |i| {
        let (x, y) = &data[i % data.len()];
        let t = Instant::now();
        opt.zero_grad();
        let logits = net.forward_t(x, true);
        let (loss, _correct) = loss_and_correct(&logits, y, 0.0);
        let t1 = t.elapsed().as_secs_f64();
        loss.backward();
        let _ = loss.double_value(&[]);
        let t2 = t.elapsed().as_secs_f64();
        opt.step(0.1, None);
        let t3 = t.elapsed().as_secs_f64();
        acc[0] += t1;
        acc[1] += t2 - t1;
        acc[2] += t3 - t2;
    });
    if std::env::var_os("NASL_BENCH_PHASES").is_some() {
        eprintln!(
            "forward {:.4}s backward {:.4}s update {:.4}s (sums)",
            acc[0], acc[1], acc[2]
        );
    }
    json!({"steps_per_s": sps, "peak_rss_mb": peak, "params": net.num_params()})
}

/// Single-Path NAS (`relax superkernel`): one search step as `nasl run` takes it (`exec::diff`: the
/// superkernel forward under the thresholds, cross-entropy, one backward, an SGD step on the weights
/// and an Adam step on the thresholds) against one training step of the largest network alone (a
/// standalone subnet of the largest kernel and expansion everywhere, same batch, same SGD). The two
/// are timed in alternating rounds (so that load on a shared machine falls on both); the row prints
/// each round's ratio of step times and their median, the paper's claim being a ratio near 1.
fn superkernel_row(a: &Args) -> Value {
    use nasl::compile::superkernel::plan;
    let space = load_space("superkernel");
    let p = plan(&space).expect("a superkernel space");
    let net = Supernet::new(&space, Device::Cpu).expect("supernet");
    let arch = ArchParams::thresholds(&space, 0.0, Device::Cpu);
    let largest = Arch::from_indices(&space, &p.largest).expect("arch");
    let sub = Subnet::new(&space, &largest, Device::Cpu).expect("subnet");
    let data = batches(a.batch, 8);
    let mut w_opt = Optimizer::new(sgd(0.9, false, 4e-5), named_trainable(&net.vs));
    let mut t_opt = Optimizer::new(
        Rule::Adam {
            b1: 0.9,
            b2: 0.999,
            eps: 1e-8,
            wd: 0.0,
            decoupled: false,
        },
        arch.named(),
    );
    let mut s_opt = Optimizer::new(sgd(0.9, false, 4e-5), named_trainable(&sub.vs));
    let mut search_step = |i: usize| {
        let (x, y) = &data[i % data.len()];
        w_opt.zero_grad();
        arch.zero_grad();
        let (logits, _) = net
            .forward_superkernel(x, &p, &arch.alphas, true)
            .expect("superkernel forward");
        let (loss, _) = loss_and_correct(&logits, y, 0.0);
        loss.backward();
        let _ = loss.double_value(&[]);
        w_opt.step(0.05, None);
        t_opt.step(0.01, None);
    };
    let mut largest_step = |i: usize| {
        let (x, y) = &data[i % data.len()];
        s_opt.zero_grad();
        let logits = sub.forward_t(x, true);
        let (loss, _) = loss_and_correct(&logits, y, 0.0);
        loss.backward();
        let _ = loss.double_value(&[]);
        s_opt.step(0.05, None);
    };
    for i in 0..a.warmup {
        search_step(i);
        largest_step(i);
    }
    let rounds = 5;
    let mut ratios = vec![];
    let (mut ts, mut tl) = (0.0, 0.0);
    for r in 0..rounds {
        let t = Instant::now();
        for i in 0..a.steps {
            search_step(r * a.steps + i);
        }
        let s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        for i in 0..a.steps {
            largest_step(r * a.steps + i);
        }
        let l = t.elapsed().as_secs_f64();
        ratios.push(s / l);
        ts += s;
        tl += l;
    }
    let mut sorted = ratios.clone();
    sorted.sort_by(f64::total_cmp);
    let n = (rounds * a.steps) as f64;
    eprintln!(
        "superkernel search step / largest-network training step: {:.3} (median of {rounds} rounds, {:.3} .. {:.3}); {:.1} ms vs {:.1} ms per step",
        sorted[rounds / 2],
        sorted[0],
        sorted[rounds - 1],
        ts / n * 1e3,
        tl / n * 1e3
    );
    json!({
        "ratio": sorted[rounds / 2],
        "ratios": ratios,
        "search_ms": ts / n * 1e3,
        "largest_ms": tl / n * 1e3,
        "params": net.num_params(),
    })
}

/// FBNetV2 (`relax masked_gumbel`): the peak memory of one masked search step as `nasl run` takes it
/// (`exec::diff`: the Gumbel-softmax relaxation of the architecture parameters, the masked forward of
/// the max-width network with four channel options per stage, cross-entropy, one backward, an SGD
/// step on the weights and an Adam step on the architecture parameters) against one training step of
/// the max-width network alone (a standalone `Subnet` of the widest option everywhere, same batch,
/// same SGD). Peak memory is a process's high-water mark, so each side runs in its own process
/// (`masked search`, `masked widest`: this binary again); the row prints both and their ratio, the
/// paper's claim being that memory stays nearly constant in the number of channel options.
///
/// `masked resolutions` sweeps the number of input-resolution options instead (1 to 4: 28; 24, 28;
/// 20, 24, 28; 16, 20, 24, 28, on top of the channel options): each option runs the masked network
/// on its own subsampled input, so memory follows the sum over options of (size / 28)^2, which the
/// row prints beside the measured peaks.
fn masked_row(a: &Args) -> Value {
    use nasl::compile::masked::plan;
    let part = a.rest.first().map(String::as_str).unwrap_or("");
    // Resolution options of the searched space (`masked search K`): the K largest of RESOLUTIONS.
    const RESOLUTIONS: [i64; 4] = [16, 20, 24, 28];
    let k: usize = a.rest.get(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let space = if k == 0 {
        load_space("masked")
    } else {
        let sizes: Vec<String> = RESOLUTIONS[4 - k.min(4)..]
            .iter()
            .map(i64::to_string)
            .collect();
        let line = format!("classes: 10) {{\n  resolution [{}]", sizes.join(", "));
        load_space_text("masked", |t| t.replacen("classes: 10) {", &line, 1))
    };
    let p = plan(&space).expect("a masked space");
    let exe = std::env::current_exe().expect("the bench binary");
    let run = |which: &str, k: usize| -> Value {
        let mut c = std::process::Command::new(&exe);
        c.args(["masked", which, &k.to_string()])
            .args(["--batch", &a.batch.to_string()])
            .args([
                "--steps",
                &a.steps.to_string(),
                "--warmup",
                &a.warmup.to_string(),
            ]);
        if let Some(t) = a.threads {
            c.args(["--threads", &t.to_string()]);
        }
        let o = c.output().expect("run the bench binary");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let line = String::from_utf8_lossy(&o.stdout);
        serde_json::from_str(line.lines().last().unwrap_or("{}")).expect("a JSON line")
    };
    if part == "resolutions" {
        let peak = |v: &Value| v["peak_rss_mb"].as_f64().unwrap_or(f64::NAN);
        let runs: Vec<Value> = (1..=4).map(|k| run("search", k)).collect();
        let one = peak(&runs[0]);
        let mut rows = Vec::new();
        for (i, r) in runs.iter().enumerate() {
            let sizes = &RESOLUTIONS[3 - i..];
            let predicted: f64 = sizes.iter().map(|&s| (s as f64 / 28.0).powi(2)).sum();
            eprintln!(
                "masked search step, {} resolution option(s) {:?}: peak {:.1} MB ({:.2} x one option; sum of (size/28)^2 = {:.2}), {:.1} ms per step",
                i + 1,
                sizes,
                peak(r),
                peak(r) / one,
                predicted,
                1e3 / r["steps_per_s"].as_f64().unwrap_or(f64::NAN),
            );
            rows.push(json!({
                "options": sizes,
                "peak_rss_mb": peak(r),
                "peak_vs_one": peak(r) / one,
                "area_sum": predicted,
                "steps_per_s": r["steps_per_s"],
            }));
        }
        return json!({ "resolutions": rows });
    }
    if part.is_empty() {
        let (s, w) = (run("search", 0), run("widest", 0));
        let (ps, pw) = (
            s["peak_rss_mb"].as_f64().unwrap_or(f64::NAN),
            w["peak_rss_mb"].as_f64().unwrap_or(f64::NAN),
        );
        eprintln!(
            "masked search step / max-width training step, peak memory: {:.3} ({ps:.1} MB vs {pw:.1} MB); {:.1} ms vs {:.1} ms per step",
            ps / pw,
            1e3 / s["steps_per_s"].as_f64().unwrap_or(f64::NAN),
            1e3 / w["steps_per_s"].as_f64().unwrap_or(f64::NAN),
        );
        return json!({
            "peak_ratio": ps / pw,
            "search": s,
            "widest": w,
            "channel_options": 4,
        });
    }
    let data = batches(a.batch, 8);
    let widest = Arch::from_indices(&space, &p.largest).expect("arch");
    if part == "widest" {
        let sub = Subnet::new(&space, &widest, Device::Cpu).expect("subnet");
        let mut opt = Optimizer::new(sgd(0.9, false, 4e-5), named_trainable(&sub.vs));
        let (sps, peak) = timed(a.warmup, a.steps, |i| {
            let (x, y) = &data[i % data.len()];
            opt.zero_grad();
            let (loss, _) = loss_and_correct(&sub.forward_t(x, true), y, 0.0);
            loss.backward();
            let _ = loss.double_value(&[]);
            opt.step(0.05, None);
        });
        return json!({"steps_per_s": sps, "peak_rss_mb": peak, "params": sub.num_params()});
    }
    let net = Supernet::new(&space, Device::Cpu).expect("supernet");
    let mut rng = ChaCha8Rng::seed_from_u64(a.seed);
    let arch = ArchParams::new(&space, Device::Cpu, &mut rng);
    let relax = Relax::MaskedGumbel {
        tau: Sched::constant(5.0),
    };
    let mut w_opt = Optimizer::new(sgd(0.9, false, 4e-5), named_trainable(&net.vs));
    let mut a_opt = Optimizer::new(
        Rule::Adam {
            b1: 0.9,
            b2: 0.999,
            eps: 1e-8,
            wd: 5e-4,
            decoupled: false,
        },
        arch.named(),
    );
    let (sps, peak) = timed(a.warmup, a.steps, |i| {
        let (x, y) = &data[i % data.len()];
        w_opt.zero_grad();
        arch.zero_grad();
        let r = relaxed(&relax, &arch, 0.0, For::Arch, &mut rng);
        let logits = net
            .forward_masked(x, &p, &r.mix, true)
            .expect("masked forward");
        let (loss, _) = loss_and_correct(&logits, y, 0.0);
        loss.backward();
        let _ = loss.double_value(&[]);
        w_opt.step(0.05, None);
        a_opt.step(0.01, None);
    });
    json!({"steps_per_s": sps, "peak_rss_mb": peak, "params": net.num_params()})
}

/// Row 3: one first-order DARTS (or GDAS) search step as `nasl run` takes it (`exec::diff`): the
/// executor's relaxation (`exec::relax::relaxed`) of the architecture parameters, an architecture
/// update on a validation batch (Adam), then a weight update on a training batch (SGD, clipped at 5;
/// GDAS updates only the sampled ops' weights).
#[allow(clippy::too_many_arguments)]
fn relaxed_search_step(
    net: &Supernet,
    space: &SearchSpace,
    arch: &ArchParams,
    relax: &Relax,
    arch_opt: &mut Optimizer,
    w_opt: &mut Optimizer,
    val: &(Tensor, Tensor),
    train: &(Tensor, Tensor),
    rng: &mut ChaCha8Rng,
    picks: &mut Vec<Vec<usize>>,
) {
    let phases = std::env::var_os("NASL_BENCH_PHASES").is_some();
    let t = Instant::now();
    let mut marks = Vec::new();
    let mut mark = |what: &'static str| {
        if phases {
            marks.push((what, t.elapsed().as_secs_f64()));
        }
    };
    arch.zero_grad();
    let r = relaxed(relax, arch, 0.0, For::Arch, rng);
    record(&r.mix, relax, picks);
    // As `exec::diff`'s first-order architecture step: no weight gradients computed.
    arch_only(&net.vs, || {
        let logits = net.forward_mix(&val.0, &r.mix, true).expect("forward_mix");
        let (loss, _) = loss_and_correct(&logits, &val.1, 0.0);
        mark("arch forward");
        loss.backward();
        mark("arch backward");
    });
    arch_opt.step(3e-4, None);
    w_opt.zero_grad();
    arch.zero_grad();
    mark("arch step + zero_grad");
    // Bi-level: the weight step's mix carries no architecture gradient.
    let r = weights_mix(relax, arch, 0.0, false, rng);
    record(&r.mix, relax, picks);
    let logits = net
        .forward_mix(&train.0, &r.mix, true)
        .expect("forward_mix");
    let (loss, _) = loss_and_correct(&logits, &train.1, 0.0);
    mark("weights forward");
    loss.backward();
    let _ = loss.double_value(&[]);
    mark("weights backward");
    w_opt.clip_grad_norm(5.0);
    mark("clip");
    if relax.runs_every_candidate() {
        w_opt.step(0.025, None);
    } else {
        let active = op_paths(&space.net_from_mix(&r.mix.options()).expect("net").0);
        w_opt.step(0.025, Some(&|name: &str| is_active(&active, name)));
    }
    mark("weights step");
    if phases {
        let mut last = 0.0;
        let parts: Vec<String> = marks
            .iter()
            .map(|(w, at)| {
                let d = at - last;
                last = *at;
                format!("{w} {:.1} ms", d * 1e3)
            })
            .collect();
        eprintln!("{}", parts.join(", "));
    }
}

/// GDAS: keeps the option each decision ran, so that `bench/reference.py --picks` runs the same
/// candidates (the two sides draw Gumbel noise from different generators, and the candidates' costs
/// differ by an order of magnitude: without this the row would compare different workloads).
fn record(mix: &Mix, relax: &Relax, picks: &mut Vec<Vec<usize>>) {
    if !relax.runs_every_candidate() {
        picks.push(mix.options().iter().map(|o| o[0]).collect());
    }
}

fn relaxed_row(a: &Args, gdas: bool) -> Value {
    let space = load_space("darts");
    let net = Supernet::new(&space, Device::Cpu).expect("supernet");
    let data = batches(a.batch, 8);
    let mut rng = ChaCha8Rng::seed_from_u64(a.seed);
    let arch = ArchParams::new(&space, Device::Cpu, &mut rng);
    let relax = if gdas {
        Relax::GumbelHard {
            tau: Sched::constant(10.0),
        }
    } else {
        Relax::Softmax
    };
    let mut arch_opt = Optimizer::new(
        Rule::Adam {
            b1: 0.5,
            b2: 0.999,
            eps: 1e-8,
            wd: 1e-3,
            decoupled: false,
        },
        arch.named(),
    );
    let mut w_opt = Optimizer::new(sgd(0.9, false, 3e-4), named_trainable(&net.vs));
    let mut picks = Vec::new();
    let (sps, peak) = timed(a.warmup, a.steps, |i| {
        let val = &data[(2 * i) % data.len()];
        let train = &data[(2 * i + 1) % data.len()];
        relaxed_search_step(
            &net,
            &space,
            &arch,
            &relax,
            &mut arch_opt,
            &mut w_opt,
            val,
            train,
            &mut rng,
            &mut picks,
        );
    });
    json!({"steps_per_s": sps, "peak_rss_mb": peak, "params": net.num_params(), "picks": picks})
}

/// Row 4: candidates per second as `exec::search::Scorer` scores them: extract the path, recalibrate
/// BN on 1024 training images, fold the batch norms, evaluate on 2000 validation images.
fn eval_row(a: &Args) -> Value {
    let space = load_space("chain");
    let net = Supernet::new(&space, Device::Cpu).expect("supernet");
    let set = fashion_mnist(3024);
    let recal = TensorSet {
        images: set.images.narrow(0, 0, 1024),
        labels: set.labels.narrow(0, 0, 1024),
    };
    let val = TensorSet {
        images: set.images.narrow(0, 1024, 2000),
        labels: set.labels.narrow(0, 1024, 2000),
    };
    let recal_loader = Loader::eval(256, normalize(), Device::Cpu);
    let val_loader = Loader::eval(a.batch as usize, normalize(), Device::Cpu);
    let ch = choices(&space);
    let mut acc = 0.0;
    let (cps, peak) = timed(a.warmup, a.steps, |i| {
        let genome = bench_genome(a.seed + i as u64, &ch);
        let arch = Arch::from_indices(&space, &genome).expect("arch");
        let t = Instant::now();
        let mut sub = net.extract(&arch).expect("extract");
        let t1 = t.elapsed().as_secs_f64();
        sub.recalibrate_bn(recal_loader.epoch(&recal, 0).map(|(x, _)| x));
        // As the scorer does: batch norms folded into their convolutions for the validation.
        sub.fold_bn();
        let t2 = t.elapsed().as_secs_f64();
        let (_, a) =
            nasl::exec::evaluate_set(&|x| sub.forward_t(x, false), &val, &val_loader, None);
        acc += a;
        if std::env::var_os("NASL_BENCH_PHASES").is_some() {
            let t3 = t.elapsed().as_secs_f64();
            eprintln!(
                "extract {t1:.3}s recalibrate {:.3}s validate {:.3}s",
                t2 - t1,
                t3 - t2
            );
        }
    });
    json!({"steps_per_s": cps, "peak_rss_mb": peak, "params": net.num_params(), "mean_acc": acc})
}

/// Host-side costs per step that PyTorch does not have (no row of the table; `overhead`): building
/// the IR network of a mix (done by `forward_mix`, and once more by `supernet_step` for the active
/// paths), and the executor's optimizer walking every parameter with the active-path filter.
fn overhead_row(a: &Args) -> Value {
    let reps = a.steps.max(1) * 10;
    let per_call_us = |f: &mut dyn FnMut()| {
        let t = Instant::now();
        for _ in 0..reps {
            f();
        }
        t.elapsed().as_secs_f64() * 1e6 / reps as f64
    };
    let chain = load_space("chain");
    let one = single(&fixed_genome(&chain));
    let chain_net_us = per_call_us(&mut || {
        std::hint::black_box(chain.net_from_mix(&one).expect("net"));
    });
    let darts = load_space("darts");
    let all: Vec<Vec<usize>> = darts
        .decisions
        .iter()
        .map(|d| (0..d.labels.len()).collect())
        .collect();
    let darts_net_us = per_call_us(&mut || {
        std::hint::black_box(darts.net_from_mix(&all).expect("net"));
    });
    let net = Supernet::new(&chain, Device::Cpu).expect("supernet");
    let mut opt = Optimizer::new(sgd(0.9, true, 4e-5), named_trainable(&net.vs));
    let (x, y) = &batches(2, 1)[0];
    let out = supernet_step(&net, &chain, std::slice::from_ref(&one), x, y, 0.0).expect("step");
    let active = out.active.clone().unwrap_or_default();
    let opt_us = per_call_us(&mut || {
        opt.step(0.0, Some(&|name: &str| is_active(&active, name)));
    });
    let zero_us = per_call_us(&mut || opt.zero_grad());
    json!({"chain_net_from_mix_us": chain_net_us, "darts_net_from_mix_us": darts_net_us,
           "optimizer_step_us": opt_us, "zero_grad_us": zero_us, "params": net.num_params()})
}

/// The networks the reference builds: every candidate of every decision (the supernet) and the fixed
/// architecture alone, as nasl's IR nodes.
fn dump(space_name: &str) -> Value {
    let space = load_space(space_name);
    let all: Vec<Vec<usize>> = space
        .decisions
        .iter()
        .map(|d| (0..d.labels.len()).collect())
        .collect();
    let (supernet, _) = space.net_from_mix(&all).expect("supernet net");
    let mut out = json!({
        "space": space_name,
        "decisions": space.decisions,
        "supernet": supernet,
        "supernet_params": Supernet::new(&space, Device::Cpu).expect("supernet").num_params(),
    });
    if space_name == "chain" {
        let g = fixed_genome(&space);
        let arch = Arch::from_indices(&space, &g).expect("arch");
        out["fixed_genome"] = json!(g);
        out["standalone"] = json!(space.net(&arch).expect("net"));
    }
    out
}

#[path = "support/large_nas.rs"]
mod large_nas;

fn main() {
    // As `nasl` does at start (`cli::main`).
    nasl::exec::malloc::tune();
    let mut a = parse_args();
    if let Some(n) = a.threads {
        tch::set_num_threads(n);
    }
    tch::manual_seed(a.seed as i64);
    let defaults = |b: i64, s: usize, w: usize| (b, s, w);
    let (b, s, w) = match a.row.as_str() {
        "darts" => defaults(32, 5, 1),
        // GDAS steps differ by an order of magnitude with the candidates drawn: more of them.
        "gdas" => defaults(32, 12, 2),
        "eval" => defaults(500, 5, 1),
        // Row 5 compares two runs of the same architecture: long runs, the difference is small.
        "path" | "standalone" => defaults(64, 80, 10),
        _ => defaults(64, 30, 5),
    };
    if a.batch == 0 {
        a.batch = b;
    }
    if a.steps == 0 {
        a.steps = s;
    }
    if a.warmup == 0 {
        a.warmup = w;
    }
    let mut v = match a.row.as_str() {
        "spos" => supernet_row(&a, "uniform"),
        "fairnas" => supernet_row(&a, "fair"),
        "path" => supernet_row(&a, "fixed"),
        "standalone" => standalone_row(&a),
        "darts" => relaxed_row(&a, false),
        "gdas" => relaxed_row(&a, true),
        "eval" => eval_row(&a),
        "overhead" => overhead_row(&a),
        "superkernel" => superkernel_row(&a),
        "masked" => masked_row(&a),
        "dump" => {
            println!(
                "{}",
                dump(a.rest.first().map(String::as_str).unwrap_or("chain"))
            );
            return;
        }
        "malloc-env" => {
            // The glibc variables that give another process nasl's malloc settings (`exec::malloc`).
            println!(
                "{}",
                json!({"MALLOC_MMAP_THRESHOLD_": nasl::exec::malloc::MMAP_THRESHOLD.to_string(),
                       "MALLOC_TRIM_THRESHOLD_": nasl::exec::malloc::TRIM_THRESHOLD.to_string()})
            );
            return;
        }
        "gen-check" => {
            let lines: usize = a
                .rest
                .first()
                .and_then(|l| l.parse().ok())
                .unwrap_or(10_000);
            let file = a.rest.get(1).expect("gen-check <lines> <file>");
            std::fs::write(file, large_nas::generate(lines)).expect("write the generated file");
            return;
        }
        other => {
            eprintln!(
                "unknown row `{other}`; rows: spos fairnas darts gdas eval path standalone superkernel masked overhead, dump <space>, malloc-env, gen-check <lines> <file>"
            );
            std::process::exit(2);
        }
    };
    v["row"] = json!(a.row);
    v["impl"] = json!("nasl");
    v["batch"] = json!(a.batch);
    v["steps"] = json!(a.steps);
    v["threads"] = json!(tch::get_num_threads());
    println!("{v}");
}
