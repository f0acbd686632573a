//! `nasl dataset`: loads a dataset with the same readers a run uses and prints what it holds.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use serde::Serialize;

use crate::data;

#[derive(Debug, clap::Args)]
pub struct DatasetArgs {
    /// Dataset name: fashion_mnist (the default; Debian's dataset-fashion-mnist), mnist, cifar10,
    /// cifar100, folder, synthetic.
    #[arg(default_value = "fashion_mnist")]
    pub name: String,
    /// The dataset's folder (default: the built-in location, or $NASL_<NAME>, or $NASL_DATA/<name>).
    #[arg(long)]
    pub path: Option<PathBuf>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
struct SplitInfo {
    images: usize,
    per_class: Vec<usize>,
}

#[derive(Debug, Serialize)]
struct DatasetInfo {
    name: String,
    shape: [usize; 3],
    classes: Vec<String>,
    train: SplitInfo,
    test: SplitInfo,
    /// Per-channel (mean, std) of the training pixels scaled to [0, 1].
    channel_stats: Vec<(f64, f64)>,
    load_seconds: f64,
}

pub fn run(args: DatasetArgs) -> miette::Result<ExitCode> {
    let source = data::open(&args.name, args.path.as_deref())?;
    let start = Instant::now();
    let ds = source.load()?;
    let load_seconds = start.elapsed().as_secs_f64();
    let k = ds.classes.len();
    let info = DatasetInfo {
        name: ds.name.clone(),
        shape: [ds.train.channels, ds.train.height, ds.train.width],
        train: SplitInfo {
            images: ds.train.len(),
            per_class: ds.train.class_counts(k),
        },
        test: SplitInfo {
            images: ds.test.len(),
            per_class: ds.test.class_counts(k),
        },
        channel_stats: ds.train.channel_stats(),
        classes: ds.classes,
        load_seconds,
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&info).expect("plain data serialises")
        );
        return Ok(ExitCode::SUCCESS);
    }
    let [c, h, w] = info.shape;
    println!("dataset   {}", info.name);
    println!(
        "images    {} train, {} test, {c}x{h}x{w}",
        info.train.images, info.test.images
    );
    println!("loaded in {:.3} s", info.load_seconds);
    for (i, (mean, std)) in info.channel_stats.iter().enumerate() {
        println!("channel {i} mean {mean:.4} std {std:.4}");
    }
    println!(
        "{:>5}  {:<20} {:>8} {:>8}",
        "label", "class", "train", "test"
    );
    for (i, class) in info.classes.iter().enumerate() {
        println!(
            "{i:>5}  {class:<20} {:>8} {:>8}",
            info.train.per_class[i], info.test.per_class[i]
        );
    }
    Ok(ExitCode::SUCCESS)
}
