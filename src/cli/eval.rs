//! `nasl eval RUN_DIR`: re-evaluates a finished run's model on a dataset split (by default the test
//! split of the dataset it was trained on).

use std::path::PathBuf;
use std::process::ExitCode;

use crate::exec::model::eval_saved;

#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// A run directory (its `model/` is evaluated) or a model folder.
    pub dir: PathBuf,
    /// A built-in dataset source (`fashion_mnist`, `cifar10`, `folder`, ...); default: the model's.
    #[arg(long)]
    pub data: Option<String>,
    /// The dataset's folder; default: the model's, or the built-in location.
    #[arg(long)]
    pub path: Option<PathBuf>,
    /// `test` (the official test set) or `train`.
    #[arg(long, default_value = "test", value_parser = ["test", "train"])]
    pub split: String,
    /// `auto`, `cpu`, `cuda` or `cuda:N`.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: EvalArgs) -> miette::Result<ExitCode> {
    let device = super::run::device(&args.device)?;
    let r = eval_saved(
        &args.dir,
        args.data.as_deref(),
        args.path.as_deref(),
        &args.split,
        device,
    )?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
    } else {
        println!(
            "{}: {} {}, {} images, accuracy {:.2}%, loss {:.4}",
            r.model.display(),
            r.dataset,
            r.split,
            r.images,
            100.0 * r.accuracy,
            r.loss
        );
    }
    Ok(ExitCode::SUCCESS)
}
