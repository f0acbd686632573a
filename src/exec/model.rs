//! Stand-alone models: retraining a searched architecture from scratch (`retrain`), training a fixed
//! network (`train` on a space without decisions), each once per seed; saving each as a model folder
//! (space, architecture, safetensors weights, preprocessing, TorchScript); and `evaluate` on a split,
//! with mean and spread over seeds.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::ExecError;
use super::result::{
    EvaluatedMember, EvaluatedPath, Evaluation, Member, ModelRun, ModelsOut, StageResult,
};
use super::search::{standalone_net, train_standalone};
use super::supernet::smoke_epochs;
use super::{Ctx, StageData, evaluate_set, space_of, stage_input};
use crate::compile::{Subnet, export, model as saved};
use crate::cost::arch_cost;
use crate::data::loader::Normalize;
use crate::ir::{Arch, SearchSpace};
use crate::sema::hir::{Input, Stage, StageKind};
use crate::sema::spec::StageSpec;

/// How inputs must be prepared for a saved model (`preprocess.json` in its folder).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Preprocess {
    /// C, H, W.
    pub input: Vec<i64>,
    /// Pixels are scaled to [0, 1], then `(x - mean) / std` per channel.
    pub normalize: Normalize,
    /// The dataset it was trained on: declaration name, built-in source, folder (if not the default).
    pub dataset: String,
    pub source: String,
    pub path: Option<std::path::PathBuf>,
    pub classes: usize,
    /// A `synthetic` dataset's generator, so that `nasl eval` regenerates the same images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synthetic: Option<crate::sema::hir::SyntheticSpec>,
}

/// The seeds a stage repeats over (`seeds [...]`, at most two in smoke runs), or seed 0.
fn seeds(ctx: &Ctx, stage: &Stage) -> Vec<i64> {
    match &*stage.spec.common().seeds {
        Some(v) if ctx.info.smoke => v.iter().copied().take(2).collect(),
        Some(v) => v.clone(),
        None => vec![0],
    }
}

/// Input shape (C, H, W) of a space.
pub fn input_shape(space: &SearchSpace) -> Vec<i64> {
    space.spec.input().iter().map(|&d| d as i64).collect()
}

/// Trains one model per seed of each member architecture and saves each. One member (`.best`, a fixed
/// network) keeps the folders `stages/<stage>/seed<s>`; several (`.top`, `.pareto`) are
/// `stages/<stage>/m<i>.seed<s>`, member 0 first.
fn train_models(
    ctx: &mut Ctx,
    stage: &Stage,
    space_name: &str,
    space: SearchSpace,
    members: Vec<Arch>,
) -> Result<StageResult, ExecError> {
    for arch in &members {
        space.net(arch)?;
    }
    let several = members.len() > 1;
    // Every seed of every member is an independent piece (trained side by side with `--workers`).
    let mut work = Vec::new();
    for (m, arch) in members.iter().enumerate() {
        for seed in seeds(ctx, stage) {
            let tag = if several {
                format!("m{m}.seed{seed}")
            } else {
                format!("seed{seed}")
            };
            let piece = super::pool::Work::Model {
                arch: arch.clone(),
                member: m,
                members: members.len(),
                seed,
            };
            work.push((tag, piece));
        }
    }
    let mut models = Vec::new();
    for v in ctx.pieces(stage, work)? {
        let run: ModelRun = serde_json::from_value(v).map_err(|e| {
            ExecError::setting(
                &stage.name,
                format!("a model's record is damaged: {e}"),
                "delete the stage's folder under stages/ to redo the stage",
            )
        })?;
        models.push(run);
    }
    // The run's final model: the first seed's (of member 0), at `model/`.
    if let Some(first) = models.first() {
        let src = ctx.dir.root.join(&first.dir);
        let dst = ctx.dir.root.join("model");
        fs::create_dir_all(&dst).map_err(|e| ExecError::io(&dst, e))?;
        for f in [
            "space.json",
            "arch.yaml",
            "weights.safetensors",
            "preprocess.json",
            "model.pt",
        ] {
            if let Ok(bytes) = fs::read(src.join(f)) {
                super::rundir::atomic_write(&dst.join(f), &bytes)?;
            }
        }
    }
    let member_rows: Option<Vec<Member>> = several.then(|| {
        members
            .iter()
            .enumerate()
            .map(|(m, arch)| {
                let runs: Vec<&ModelRun> = models.iter().filter(|r| r.member == Some(m)).collect();
                let vals: Vec<f64> = runs.iter().filter_map(|r| r.val_accuracy).collect();
                Member {
                    member: m,
                    arch: arch.clone(),
                    params: runs.first().map(|r| r.params),
                    macs: runs.first().map(|r| r.macs),
                    val_accuracy: (!vals.is_empty())
                        .then(|| vals.iter().sum::<f64>() / vals.len() as f64),
                    dirs: runs.iter().map(|r| r.dir.clone()).collect(),
                }
            })
            .collect()
    });
    let first: Vec<&ModelRun> = models
        .iter()
        .filter(|m| m.member.unwrap_or(0) == 0)
        .collect();
    let n = first.len().max(1) as f64;
    let mean = |f: &dyn Fn(&ModelRun) -> f64| first.iter().map(|m| f(m)).sum::<f64>() / n;
    let (final_loss, final_accuracy) = (
        mean(&|m| m.train.final_loss),
        mean(&|m| m.train.final_accuracy),
    );
    let (params, macs) = (
        first.first().map(|m| m.params),
        first.first().map(|m| m.macs),
    );
    let auxiliary_params = first
        .first()
        .map(|m| m.auxiliary_params)
        .filter(|&aux| aux > 0);
    let out = ModelsOut {
        space: space_name.to_string(),
        arch: members.into_iter().next().unwrap_or_default(),
        final_loss,
        final_accuracy,
        train_seconds: models.iter().map(|m| m.train.seconds).sum::<f64>(),
        params,
        macs,
        auxiliary_params,
        members: member_rows,
        models,
    };
    Ok(StageResult::Models(out))
}

/// Saves a model folder: weights, space, architecture, preprocessing, TorchScript.
pub fn save_model(
    ctx: &Ctx,
    dir: &Path,
    space: &SearchSpace,
    arch: &Arch,
    net: &Subnet,
    data: &StageData,
) -> Result<(), ExecError> {
    fs::create_dir_all(dir).map_err(|e| ExecError::io(dir, e))?;
    saved::save(dir, space, arch, net)?;
    let pre = Preprocess {
        input: input_shape(space),
        normalize: data.normalize.clone(),
        dataset: data.name.clone(),
        source: data.source.clone(),
        path: data.path.clone(),
        classes: data.classes,
        synthetic: data.synthetic,
    };
    let text = serde_json::to_string_pretty(&pre).unwrap_or_default();
    super::rundir::atomic_write(&dir.join("preprocess.json"), text.as_bytes())?;
    let _ = ctx;
    // The TorchScript model takes the architecture's resolution (a searched resolution may be below
    // the images'), as `nasl export` writes it.
    let traced =
        crate::compile::model::net_input_shape(net).map_or(pre.input.clone(), |s| s.to_vec());
    export::torchscript(net, &traced, &dir.join("model.pt"))?;
    Ok(())
}

/// `retrain(search.best)`: the searched architecture from scratch; `retrain(search.top)` and
/// `retrain(search.pareto)`: every member of the search's top list or Pareto front, each its own models
/// (smoke runs: the first two members).
pub fn retrain(ctx: &mut Ctx, stage: &Stage) -> Result<StageResult, ExecError> {
    let space_name = stage.space.clone().unwrap_or_default();
    let members = match stage_input(stage) {
        Some((input, field)) => {
            let found = ctx.search_of(input, &stage.name)?.clone();
            // `nasl check` admits `.top` and `.pareto` of searches that produce them (sema::contract).
            let list: Vec<Arch> = match field {
                Some("top") => found.top.into_iter().map(|c| c.arch).collect(),
                Some("pareto") => found.pareto.into_iter().map(|c| c.arch).collect(),
                _ => vec![found.best],
            };
            if list.is_empty() {
                return Err(ExecError::Search {
                    stage: stage.name.clone(),
                    message: format!(
                        "`{input}.{}` holds no architecture",
                        field.unwrap_or("best")
                    ),
                    help: format!("retrain `{input}.best`"),
                });
            }
            let keep = if ctx.info.smoke { 2 } else { usize::MAX };
            list.into_iter().take(keep).collect()
        }
        None => vec![Arch::default()],
    };
    let space = evaluation_space(ctx, stage)?;
    train_models(ctx, stage, &space_name, space, members)
}

/// The network a retrained architecture is built in: the searched space, or with `network cells: ..,
/// channels: ..` the same cell space declaration stacked to that depth and width (reduction cells at
/// the same fractions of the depth). Decisions are per cell type, so the searched architecture fits.
fn evaluation_space(ctx: &Ctx, stage: &Stage) -> Result<SearchSpace, ExecError> {
    let searched = space_of(ctx, stage)?;
    let network = match &stage.spec {
        StageSpec::Retrain(spec) => *spec.network,
        _ => None,
    };
    let Some(network) = network else {
        return Ok(SearchSpace::new(searched.spec.clone())?);
    };
    let name = stage.space.as_deref().unwrap_or_default();
    let mut decl = ctx
        .program
        .spaces
        .iter()
        .find(|s| s.name == name)
        .cloned()
        .ok_or_else(|| {
            ExecError::setting(&stage.name, "the stage has no search space", "give it one")
        })?;
    // `nasl check` admits `network` on cell spaces alone (sema::contract).
    if let crate::sema::hir::SpaceBody::Cell(crate::sema::hir::CellSpace { network: n, .. })
    | crate::sema::hir::SpaceBody::Genotype(crate::sema::hir::Genotype {
        network: n, ..
    }) = &mut decl.body
    {
        n.cells = network.cells.unwrap_or(n.cells);
        n.channels = network.channels.unwrap_or(n.channels);
    }
    Ok(SearchSpace::new(crate::ir::lower::space_spec(&decl)?)?)
}

/// `train` of a fixed network (a space without decisions).
pub fn train_fixed(ctx: &mut Ctx, stage: &Stage) -> Result<StageResult, ExecError> {
    let space_name = stage.space.clone().unwrap_or_default();
    let space = SearchSpace::new(space_of(ctx, stage)?.spec.clone())?;
    train_models(ctx, stage, &space_name, space, vec![Arch::default()])
}

/// `evaluate(model, dataset.split)`: accuracy of each trained model on a split.
pub fn evaluate(ctx: &mut Ctx, stage: &Stage) -> Result<StageResult, ExecError> {
    let (input, _) = stage_input(stage).ok_or_else(|| {
        ExecError::setting(
            &stage.name,
            "evaluate needs a trained model as input",
            "write `evaluate(final, fmnist.test)`",
        )
    })?;
    let searched = ctx.program.stages.iter().find(|s| s.name == input).cloned();
    let (dataset, split) = stage
        .inputs
        .iter()
        .find_map(|i| match i {
            Input::Data { dataset, split } => Some((dataset.clone(), split.clone())),
            _ => None,
        })
        .or_else(|| stage.data.clone().map(|d| (d, "test".to_string())))
        .ok_or_else(|| {
            ExecError::setting(
                &stage.name,
                "evaluate needs a dataset split",
                "write `evaluate(final, fmnist.test)`",
            )
        })?;
    let data = ctx.dataset(&dataset)?;
    // `nasl check` admits these forms alone (sema::contract::check_inputs).
    let field = stage_input(stage).and_then(|(_, f)| f);
    match searched.as_ref().map(|s| (s.kind, field)) {
        Some((
            StageKind::Evolution
            | StageKind::RandomSearch
            | StageKind::Nsga2
            | StageKind::Differentiable
            | StageKind::Rl,
            Some("best"),
        )) => {
            let search = searched.as_ref().unwrap_or(stage);
            return evaluate_searched(ctx, stage, search, &data, &dataset, &split);
        }
        Some((StageKind::Train | StageKind::FewShot | StageKind::ProgressiveShrinking, None))
            if !space_of(ctx, stage)?.decisions.is_empty() =>
        {
            return evaluate_supernet(ctx, stage, input, &data, &dataset, &split);
        }
        _ => {}
    }
    let models = ctx.models_of(input, &stage.name)?.clone();
    let set = split_of(stage, &data, &dataset, &split)?;
    let mut accs = Vec::new();
    let mut losses = Vec::new();
    let mut loader = ctx.eval_loader(&data);
    if let Some(b) = *stage.spec.common().batch {
        loader.batch = b.max(1);
    }
    for m in &models.models {
        let loaded = saved::load(&ctx.dir.root.join(&m.dir), ctx.device())?;
        let (loss, acc) = evaluate_set(
            &|x| loaded.net.forward_t(x, false),
            set,
            &loader,
            ctx.eval_batches(),
        );
        let member = m.member.map(|i| format!("member {i} ")).unwrap_or_default();
        eprintln!(
            "{}: {member}seed {} {split} accuracy {:.2}%",
            stage.name,
            m.seed,
            100.0 * acc
        );
        accs.push(acc);
        losses.push(loss);
    }
    // Mean and spread over the seeds of member 0 (the only one, or the search's first); with several
    // members each gets a row of its own.
    let of_member = |i: usize| -> Vec<usize> {
        (0..models.models.len())
            .filter(|&k| models.models[k].member.unwrap_or(0) == i)
            .collect()
    };
    let stats = |ks: &[usize]| {
        let n = ks.len().max(1) as f64;
        let mean = ks.iter().map(|&k| accs[k]).sum::<f64>() / n;
        let std = (ks.iter().map(|&k| (accs[k] - mean).powi(2)).sum::<f64>() / n).sqrt();
        let loss = ks.iter().map(|&k| losses[k]).sum::<f64>() / n;
        (mean, std, loss)
    };
    let first = of_member(0);
    let (_, _, loss) = stats(&first);
    let key = format!("{split}_accuracy");
    let mut v = Evaluation::new(
        &dataset,
        &split,
        first.iter().map(|&k| accs[k]).collect(),
        loss,
    );
    v.images = Some(
        set.len().min(
            ctx.eval_batches()
                .map(|b| b * loader.batch)
                .unwrap_or(usize::MAX),
        ),
    );
    v.batch = Some(loader.batch);
    v.seeds = Some(first.iter().map(|&k| models.models[k].seed).collect());
    let members = models.models.iter().filter_map(|m| m.member).max();
    v.members = members.map(|last| {
        (0..=last)
            .map(|i| {
                let ks = of_member(i);
                let (mean, std, loss) = stats(&ks);
                EvaluatedMember {
                    member: i,
                    by_split: BTreeMap::from([(key.clone(), mean)]),
                    std,
                    loss,
                    params: ks.first().map(|&k| models.models[k].params),
                    macs: ks.first().map(|&k| models.models[k].macs),
                }
            })
            .collect()
    });
    Ok(StageResult::Evaluation(v))
}

/// The images an `evaluate` stage reads; an empty split is an error, not 0%.
fn split_of<'a>(
    stage: &Stage,
    data: &'a StageData,
    dataset: &str,
    split: &str,
) -> Result<&'a crate::data::loader::TensorSet, ExecError> {
    let set = match split {
        "train" => &data.splits.train,
        "val" => &data.splits.val,
        _ => &data.splits.test,
    };
    if set.is_empty() {
        return Err(ExecError::setting(
            &stage.name,
            format!("the `{split}` split of dataset `{dataset}` has no images"),
            format!("evaluate on a split that has images, or give `{dataset}` a `{split}` split"),
        ));
    }
    Ok(set)
}

/// `evaluate(search.best, data.split)` after a supernet search: the best architecture with the
/// supernet's weights (the sub-supernet that holds it, after few-shot splitting), BatchNorm
/// re-estimated on training images when `recalibrate bn(images: N)` says so, as OFA evaluates a
/// sub-network without retraining.
fn evaluate_searched(
    ctx: &mut Ctx,
    stage: &Stage,
    search: &Stage,
    data: &StageData,
    dataset: &str,
    split: &str,
) -> Result<StageResult, ExecError> {
    let found = ctx.search_of(&search.name, &stage.name)?.clone();
    let (supernet, space) = match search.kind {
        // Differentiable search and ENAS train their own supernet weights.
        StageKind::Differentiable | StageKind::Rl => {
            let own = ctx.supernet_of(&search.name, &stage.name)?.clone();
            let space = SearchSpace::new(super::supernet::with_affine(
                &space_of(ctx, search)?.spec,
                own.affine,
            ))?;
            (own, space)
        }
        _ => super::supernet::supernet_input(ctx, search, "evolution(supernet)")?,
    };
    let set = split_of(stage, data, dataset, split)?;
    let genome: Vec<usize> = space
        .arch_indices(&found.best)?
        .into_iter()
        .map(|i| i.unwrap_or(0))
        .collect();
    let recal = super::search::recal_images(ctx, stage);
    let mut scorer = super::search::Scorer::new(&space, &supernet, recal, &stage.name);
    scorer.batch = *stage.spec.common().batch;
    let batch = scorer.batch.unwrap_or(ctx.eval_loader(data).batch);
    let c = scorer.score_on(ctx, data, &genome, recal, set)?;
    eprintln!(
        "{}: {}.best on the supernet's weights, {split} accuracy {:.2}%",
        stage.name,
        search.name,
        100.0 * c.accuracy
    );
    let mut v = Evaluation::new(dataset, split, vec![c.accuracy], c.loss);
    v.weights = Some("supernet".into());
    v.recalibrate_images = Some(recal);
    v.params = Some(c.params);
    v.macs = Some(c.macs);
    v.images = Some(
        set.len()
            .min(ctx.eval_batches().map(|b| b * batch).unwrap_or(usize::MAX)),
    );
    Ok(StageResult::Evaluation(v))
}

/// `evaluate(supernet, data.split)`: the supernet's quality as a weight-sharing model, the accuracy of
/// `samples` distinct uniformly sampled paths with its weights (BatchNorm re-estimated when
/// `recalibrate` says so), as SPOS and FairNAS report a supernet: mean, spread, min and max.
fn evaluate_supernet(
    ctx: &mut Ctx,
    stage: &Stage,
    input: &str,
    data: &StageData,
    dataset: &str,
    split: &str,
) -> Result<StageResult, ExecError> {
    let StageSpec::Evaluate(spec) = &stage.spec else {
        return Err(super::wrong_kind(stage));
    };
    let (supernet, space) = super::supernet::supernet_named(ctx, stage, input)?;
    let set = split_of(stage, data, dataset, split)?;
    let k = if ctx.info.smoke {
        (*spec.samples).min(3)
    } else {
        *spec.samples
    };
    let archs = super::rank::distinct_archs(&space, k.max(1), ctx.stage_seed(&stage.name))?;
    let recal = super::search::recal_images(ctx, stage);
    let mut scorer = super::search::Scorer::new(&space, &supernet, recal, &stage.name);
    scorer.batch = *spec.common.batch;
    let mut accs = Vec::new();
    let mut losses = Vec::new();
    let mut paths = Vec::new();
    for (g, arch) in &archs {
        let c = scorer.score_on(ctx, data, g, recal, set)?;
        accs.push(c.accuracy);
        losses.push(c.loss);
        paths.push(EvaluatedPath {
            arch: arch.clone(),
            accuracy: c.accuracy,
            loss: c.loss,
        });
    }
    let n = accs.len().max(1) as f64;
    let min = accs.iter().copied().fold(f64::INFINITY, f64::min);
    let max = accs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut v = Evaluation::new(dataset, split, accs, losses.iter().sum::<f64>() / n);
    eprintln!(
        "{}: {input} on {} sampled paths, {split} accuracy {:.2}% ± {:.2} (min {:.2}%, max {:.2}%)",
        stage.name,
        v.accuracies.len(),
        100.0 * v.accuracy,
        100.0 * v.std,
        100.0 * min,
        100.0 * max
    );
    v.weights = Some("supernet".into());
    v.recalibrate_images = Some(recal);
    v.min = Some(min);
    v.max = Some(max);
    v.paths = Some(paths);
    Ok(StageResult::Evaluation(v))
}

/// What `nasl eval` reports.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub model: std::path::PathBuf,
    pub dataset: String,
    pub split: String,
    pub images: usize,
    pub accuracy: f64,
    pub loss: f64,
}

/// The model folder of a run directory (`RUN/model`), or `dir` itself if it is one.
pub fn model_dir(dir: &Path) -> std::path::PathBuf {
    if dir.join("model").join("weights.safetensors").exists() {
        dir.join("model")
    } else {
        dir.to_path_buf()
    }
}

/// Re-evaluates a saved model on a dataset split (`source`/`path` default to what it was trained on).
pub fn eval_saved(
    dir: &Path,
    source: Option<&str>,
    path: Option<&Path>,
    split: &str,
    device: tch::Device,
) -> Result<EvalReport, ExecError> {
    let dir = model_dir(dir);
    let text = fs::read_to_string(dir.join("preprocess.json")).map_err(|e| {
        ExecError::Model(saved::ModelError::Missing {
            path: dir.join("preprocess.json"),
            help: format!("{e}; `nasl run` writes it beside the weights"),
        })
    })?;
    let pre: Preprocess = serde_json::from_str(&text).map_err(|e| ExecError::Resume {
        dir: dir.clone(),
        message: format!("preprocess.json is damaged: {e}"),
        help: "re-create the run".into(),
    })?;
    let source = source.unwrap_or(&pre.source).to_string();
    let path = path.map(Path::to_path_buf).or(pre.path.clone());
    let ds = match pre.synthetic {
        Some(g) if source == pre.source => crate::data::synthetic(g)?,
        _ => crate::data::open(&source, path.as_deref())?.load()?,
    };
    let raw = if split == "train" {
        &ds.train
    } else {
        &ds.test
    };
    let shape = vec![raw.channels as i64, raw.height as i64, raw.width as i64];
    if shape != pre.input {
        return Err(ExecError::setting(
            "eval",
            format!(
                "the model takes {:?} images but {source} has {:?}",
                pre.input, shape
            ),
            "evaluate on a dataset of the same image shape",
        ));
    }
    if ds.classes.len() != pre.classes {
        return Err(ExecError::setting(
            "eval",
            format!(
                "the model predicts {} classes but {source} has {}",
                pre.classes,
                ds.classes.len()
            ),
            "evaluate on a dataset with the classes the model was trained on",
        ));
    }
    if raw.is_empty() {
        return Err(ExecError::setting(
            "eval",
            format!("the {split} split of {source} has no images"),
            "evaluate on a split that has images (`--split test` or `--split train`)",
        ));
    }
    let set = crate::data::loader::TensorSet::from_raw(raw);
    let model = saved::load(&dir, device)?;
    let loader = crate::data::loader::Loader::eval(256, pre.normalize.clone(), device);
    let (loss, accuracy) = evaluate_set(&|x| model.net.forward_t(x, false), &set, &loader, None);
    Ok(EvalReport {
        model: dir,
        dataset: source,
        split: split.to_string(),
        images: set.len(),
        accuracy,
        loss,
    })
}

/// One trained model of `stage` (a piece, see `pool`): member `m` of `members` architectures, trained
/// from scratch with seed `seed` and saved under `stages/<stage>/[m<m>.]seed<seed>`.
pub(super) fn model_piece(
    ctx: &mut Ctx,
    stage: &Stage,
    arch: &Arch,
    m: usize,
    members: usize,
    seed: i64,
) -> Result<ModelRun, ExecError> {
    let space = if stage.kind == StageKind::Retrain {
        evaluation_space(ctx, stage)?
    } else {
        SearchSpace::new(space_of(ctx, stage)?.spec.clone())?
    };
    let data = ctx.data(stage)?;
    let epochs = smoke_epochs(ctx, *super::training(stage)?.epochs);
    let several = members > 1;
    let cost = arch_cost(&space, arch)?;
    let tag = if several {
        format!("m{m}.seed{seed}")
    } else {
        format!("seed{seed}")
    };
    let name = stage.name.clone();
    // Member 0 (or the only one) keeps the seed stream of single-architecture retrains.
    let s = super::mix(ctx.stage_seed(&name), seed as u64);
    let s = if m == 0 { s } else { super::mix(s, m as u64) };
    tch::manual_seed(s as i64 & i64::MAX);
    let net = standalone_net(ctx, stage, &space, arch)?;
    let summary = train_standalone(ctx, stage, &space, arch, &net, &tag, epochs, epochs, s)?;
    let val = (!data.splits.val.is_empty()).then(|| {
        evaluate_set(
            &|x| net.forward_t(x, false),
            &data.splits.val,
            &ctx.eval_loader(&data),
            ctx.eval_batches(),
        )
        .1
    });
    let rel = format!("stages/{name}/{tag}");
    let dir = ctx.dir.root.join(&rel);
    save_model(ctx, &dir, &space, arch, &net, &data)?;
    Ok(ModelRun {
        seed,
        member: several.then_some(m),
        dir: rel,
        train: summary,
        val_accuracy: val,
        params: net.num_params(),
        macs: cost.macs,
        auxiliary_params: net.auxiliary_params(),
    })
}
