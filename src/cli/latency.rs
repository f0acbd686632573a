//! `nasl latency FILE`: measures every op of a space at its shapes on a device into a lookup table
//! (loaded and completed if it exists), then reports how well the table's sums predict measured
//! whole-network latency on sampled architectures.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use miette::miette;
use serde_json::json;

use super::run::{device, set_threads};
use super::spaces;
use crate::compile::latency::{MeasureOpts, Validation, load_or_measure_counted, validate};
use crate::cost::latency::table_cover;

#[derive(Debug, clap::Args)]
pub struct LatencyArgs {
    /// The `.nas` file.
    pub file: PathBuf,
    /// The space to measure (needed when the file has several).
    #[arg(long)]
    pub space: Option<String>,
    /// The table (YAML, or JSON by extension; default `<space>.latency.yaml` next to the file). An
    /// existing table of the same device and batch is completed, not measured again.
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
    /// `auto` (a GPU if visible, else the CPU), `cpu`, `cuda` or `cuda:N`.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Images per timed forward.
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Untimed forwards before timing each op or network.
    #[arg(long, default_value_t = 10)]
    pub warmup: usize,
    /// Timed forwards per op or network; the median is kept.
    #[arg(long, default_value_t = 50)]
    pub repeats: usize,
    /// Architectures sampled to compare predicted with measured latency (0: no comparison).
    #[arg(long, default_value_t = 20)]
    pub samples: usize,
    /// Seed of the sampled architectures.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// CPU threads libtorch uses (default: its own choice, the number of cores).
    #[arg(long)]
    pub threads: Option<i32>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

fn default_out(file: &Path, space: &str) -> PathBuf {
    file.parent()
        .unwrap_or(Path::new(""))
        .join(format!("{space}.latency.yaml"))
}

fn corr(x: Option<f64>) -> String {
    x.map(|v| format!("{v:.3}"))
        .unwrap_or_else(|| "n/a (constant)".into())
}

pub fn run(args: LatencyArgs) -> miette::Result<ExitCode> {
    if args.batch == 0 || args.repeats == 0 {
        return Err(miette!(
            code = "nasl::cli::latency",
            help = "give `--batch` and `--repeats` values of at least 1",
            "`--batch {}` / `--repeats {}`: nothing to time",
            args.batch,
            args.repeats
        ));
    }
    let device = device(&args.device)?;
    set_threads(args.threads)?;
    let Some(mut loaded) = spaces::load(&args.file, args.space.as_deref())? else {
        return Ok(ExitCode::FAILURE);
    };
    if loaded.len() > 1 {
        let names: Vec<&str> = loaded.iter().map(|l| l.name.as_str()).collect();
        return Err(miette!(
            code = "nasl::cli::which_space",
            help = format!("name one with --space: {}", names.join(", ")),
            "{} has {} spaces",
            args.file.display(),
            loaded.len()
        ));
    }
    let l = loaded.remove(0);
    table_cover(&l.space).map_err(miette::Report::new)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| default_out(&args.file, &l.name));
    let opts = MeasureOpts {
        batch: args.batch,
        warmup: args.warmup,
        repeats: args.repeats,
    };
    let (table, measured) = load_or_measure_counted(&out, &l.space, device, &opts)?;
    let validation: Option<Validation> = if args.samples > 0 {
        Some(validate(
            &l.space,
            &table,
            device,
            &opts,
            args.samples,
            args.seed,
        )?)
    } else {
        None
    };
    if args.json {
        let v = json!({
            "space": l.name,
            "device": table.device,
            "table": out,
            "entries": table.entries.len(),
            "measured": measured,
            "batch": table.batch,
            "validation": validation,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&v).expect("plain data serialises")
        );
        return Ok(ExitCode::SUCCESS);
    }
    let w = 18;
    println!("{:<w$} {}", "space", l.name);
    println!("{:<w$} {}", "device", table.device);
    println!("{:<w$} {}", "table", out.display());
    println!(
        "{:<w$} {} ({measured} measured now)",
        "entries",
        table.entries.len()
    );
    if let Some(v) = &validation {
        let ratio = v.rows.iter().map(|r| r.1 / r.2).sum::<f64>() / v.rows.len().max(1) as f64;
        println!(
            "{:<w$} {} architectures, batch {}",
            "validation", v.samples, table.batch
        );
        println!("{:<w$} {}", "pearson", corr(v.pearson));
        println!("{:<w$} {}", "spearman", corr(v.spearman));
        println!(
            "{:<w$} {:.1}% (predicted/measured {ratio:.2} on average)",
            "MAPE", v.mape
        );
    }
    Ok(ExitCode::SUCCESS)
}
