//! Search stages. Over a frozen supernet: SPOS evolution, random search with weight sharing
//! (RandomNAS) and NSGA-II (FairNAS), each candidate scored on the validation split after optional
//! BN recalibration, hard constraints filtered before evaluation. From scratch: random search with
//! successive halving of briefly trained stand-alone networks (RandomNAS's second baseline). Every
//! evaluation is recorded, so an interrupted search replays from its records.

use std::collections::HashMap;
use std::rc::Rc;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use super::error::ExecError;
use super::result::{
    Candidate, Generation, Method, Recalibration, Sampling, SearchOut, Searched, StageResult,
    SupernetOut,
};
use super::supernet::{choices, load_supernet, smoke_epochs, supernet_input};
use super::train::{Fit, StepOut, loss_and_correct};
use super::{Ctx, StageData, evaluate_set, require_val, space_of};
use crate::compile::latency::LatencyTable;
use crate::compile::{Subnet, Supernet};
use crate::cost::arch_cost;
use crate::data::loader::Loader;
use crate::ir::{Arch, SearchSpace};
use crate::search;
use crate::sema::hir::{Stage, StageKind};
use crate::sema::spec::{Constraint, StageSpec};

/// Whether an architecture meets every constraint (latency ones from `table`, which the stage loads
/// whenever it has one).
pub fn meets(
    space: &SearchSpace,
    genome: &[usize],
    cs: &[Constraint],
    table: Option<&LatencyTable>,
) -> bool {
    if cs.is_empty() {
        return Arch::from_indices(space, genome).is_ok();
    }
    let Ok(arch) = Arch::from_indices(space, genome) else {
        return false;
    };
    let Ok(cost) = arch_cost(space, &arch) else {
        return false;
    };
    cs.iter().all(|c| {
        let v = match c.metric.as_str() {
            "params" => cost.params as f64,
            "latency" => match table.map(|t| t.predict(space, genome)) {
                Some(Ok(ms)) => ms,
                _ => return false,
            },
            _ => cost.macs as f64,
        };
        c.op.holds(v, c.bound)
    })
}

/// The latency (ms) `table` predicts for an architecture, if the stage has a table.
fn predicted(
    table: Option<&LatencyTable>,
    space: &SearchSpace,
    genome: &[usize],
) -> Result<Option<f64>, ExecError> {
    Ok(match table {
        Some(t) => Some(t.predict(space, genome)?),
        None => None,
    })
}

/// Turns a candidate's figures into the value of a metric, signed so that larger is better.
fn metric_value(c: &Candidate, metric: &str) -> f64 {
    match metric {
        "val.loss" => -c.loss,
        "train.loss" => -c.train_loss.unwrap_or(f64::INFINITY),
        "train.accuracy" => c.train_accuracy.unwrap_or(f64::NEG_INFINITY),
        "flops" => -(c.macs as f64),
        "params" => -(c.params as f64),
        "latency" => -c.latency_ms.unwrap_or(f64::INFINITY),
        _ => c.accuracy,
    }
}

/// Whether any of the metrics is measured on the training split (`train.loss`, `train.accuracy`).
fn wants_train(metrics: &[&str]) -> bool {
    metrics.iter().any(|m| m.starts_with("train."))
}

/// The slice of the training split that `train.*` metrics are measured on: its first images, as many
/// as the validation split has (at least 256), the same for every candidate.
fn train_probe(data: &StageData) -> crate::data::loader::TensorSet {
    let n = data.splits.train.len();
    let k = data.splits.val.len().max(256).min(n);
    let idx: Vec<i64> = (0..k as i64).collect();
    data.splits.train.select(&idx)
}

/// BN recalibration images, if the stage recalibrates (at most 64 in smoke runs).
pub fn recal_images(ctx: &Ctx, stage: &Stage) -> Option<usize> {
    let n = stage.spec.recalibrate()?;
    Some(if ctx.info.smoke { n.min(64) } else { n })
}

/// Scores architectures with a supernet (or few-shot parts): extract the path, recalibrate BN on
/// training images if asked, measure validation loss and accuracy. The parts' weights are loaded once
/// per stage and process (`Ctx::scoring_net`), so that the pieces a worker scores share them.
pub struct Scorer<'a> {
    pub space: &'a SearchSpace,
    pub supernet: &'a SupernetOut,
    pub recal: Option<usize>,
    pub stage: String,
    /// Evaluation batch size (the stage's `batch`; default the evaluation loader's).
    pub batch: Option<usize>,
}

impl<'a> Scorer<'a> {
    /// A scorer over `supernet`'s parts.
    pub fn new(
        space: &'a SearchSpace,
        supernet: &'a SupernetOut,
        recal: Option<usize>,
        stage: &str,
    ) -> Scorer<'a> {
        Scorer {
            space,
            supernet,
            recal,
            stage: stage.to_string(),
            batch: None,
        }
    }

    /// Scores `genome` on the validation split.
    pub fn score(
        &self,
        ctx: &Ctx,
        data: &StageData,
        genome: &[usize],
        recal: Option<usize>,
    ) -> Result<Candidate, ExecError> {
        self.score_on(ctx, data, genome, recal, &data.splits.val)
    }

    /// Scores `genome` on `set` (BN recalibrated on training images first when `recal` is set).
    pub fn score_on(
        &self,
        ctx: &Ctx,
        data: &StageData,
        genome: &[usize],
        recal: Option<usize>,
        set: &crate::data::loader::TensorSet,
    ) -> Result<Candidate, ExecError> {
        let arch = Arch::from_indices(self.space, genome)?;
        let part = self.supernet.part_for(genome).ok_or_else(|| {
            ExecError::setting(
                &self.stage,
                "no sub-supernet covers this architecture",
                "this is a bug in few-shot splitting; please report it",
            )
        })?;
        let net = ctx.scoring_net(self.space, part, &self.stage)?;
        let mut eval = ctx.eval_loader(data);
        if let Some(b) = self.batch {
            eval.batch = b.max(1);
        }
        let mut sub = match recal {
            Some(images) => {
                let loader = Loader::eval(
                    eval.batch.min(images.max(1)),
                    data.normalize.clone(),
                    ctx.device(),
                );
                let n = images.div_ceil(loader.batch.max(1));
                let batches = loader.epoch(&data.splits.train, 0).take(n);
                net.extract_recalibrated(&arch, batches.map(|(x, _)| x))?.0
            }
            None => net.extract(&arch)?,
        };
        // Evaluation only from here: batch norms folded into their convolutions.
        sub.fold_bn();
        let (loss, accuracy) =
            evaluate_set(&|x| sub.forward_t(x, false), set, &eval, ctx.eval_batches());
        let cost = arch_cost(self.space, &arch)?;
        Ok(Candidate::new(arch, &cost, loss, accuracy))
    }
}

/// Supernets loaded for scoring, kept while one stage's candidates are scored (in the coordinating
/// process, or a worker serving that stage's pieces) and dropped when another stage asks.
#[derive(Default)]
pub struct ScoringNets {
    stage: String,
    nets: HashMap<std::path::PathBuf, Rc<Supernet>>,
}

impl Ctx {
    /// The supernet of `part` (weights read once per stage and process), for scoring only: callers
    /// extract sub-networks from it and never train it.
    pub fn scoring_net(
        &self,
        space: &SearchSpace,
        part: &super::result::Part,
        stage: &str,
    ) -> Result<Rc<Supernet>, ExecError> {
        let mut cache = self.scoring.borrow_mut();
        if cache.stage != stage {
            *cache = ScoringNets {
                stage: stage.to_string(),
                nets: HashMap::new(),
            };
        }
        let path = self.dir.root.join(&part.weights);
        if let Some(net) = cache.nets.get(&path) {
            return Ok(net.clone());
        }
        let net = Rc::new(load_supernet(self, space, part, stage)?);
        cache.nets.insert(path, net.clone());
        Ok(net)
    }
}

fn cap(ctx: &Ctx, n: usize, smoke: usize) -> usize {
    if ctx.info.smoke { n.min(smoke) } else { n }
}

/// What a supernet search and each of its candidate pieces start from: the typed settings, the
/// input supernet, its space and the stage's data.
type SearchSetup<'s> = (
    &'s crate::sema::spec::SupernetSearchSpec,
    SupernetOut,
    SearchSpace,
    std::rc::Rc<StageData>,
);

fn search_setup<'s>(ctx: &mut Ctx, stage: &'s Stage) -> Result<SearchSetup<'s>, ExecError> {
    let (StageSpec::Evolution(spec) | StageSpec::RandomSearch(spec) | StageSpec::Nsga2(spec)) =
        &stage.spec
    else {
        return Err(super::wrong_kind(stage));
    };
    let (supernet, space) = supernet_input(ctx, stage, "evolution(supernet)")?;
    let data = ctx.data(stage)?;
    Ok((spec, supernet, space, data))
}

/// Evolution, random search or NSGA-II over a trained supernet.
pub fn supernet_search(ctx: &mut Ctx, stage: &Stage) -> Result<StageResult, ExecError> {
    let (spec, supernet, space, data) = search_setup(ctx, stage)?;
    require_val(stage, &data)?;
    let cs = spec.objectives.constraint.clone_value();
    let table = super::latency::table_if_wanted(ctx, stage, &space)?;
    let ch = choices(&space);
    let objective = spec.objectives.objective.clone_value();
    let pareto = spec.objectives.pareto.clone_value();
    let recal = recal_images(ctx, stage);
    let mut rng = ChaCha8Rng::seed_from_u64(ctx.stage_seed(&stage.name));
    let name = stage.name.clone();
    // A batch of candidates as independent pieces (scored side by side with `--workers`).
    let score_batch =
        |ctx: &mut Ctx, genomes: &[Vec<usize>]| -> Result<Vec<Candidate>, ExecError> {
            let mut work = Vec::with_capacity(genomes.len());
            for g in genomes {
                let arch = Arch::from_indices(&space, g)?;
                work.push((candidate_tag(&arch), super::pool::Work::Candidate { arch }));
            }
            let done = ctx.pieces(stage, work)?;
            let mut out = Vec::with_capacity(genomes.len());
            for (g, v) in genomes.iter().zip(done) {
                let mut c = candidate_of(&name, v)?;
                c.latency_ms = predicted(table.as_ref(), &space, g)?;
                out.push(c);
            }
            Ok(out)
        };
    // OFA: an accuracy predictor fitted on measured samples ranks the evolution's candidates.
    let mut predictor = match (stage.kind, *spec.predictor) {
        (StageKind::Evolution, Some(p)) => {
            let (genomes, seed) = super::predict::samples(ctx, &stage.name, p, &ch, |g| {
                meets(&space, g, &cs, table.as_ref())
            });
            let acc: Vec<f64> = score_batch(ctx, &genomes)?
                .iter()
                .map(|c| c.accuracy)
                .collect();
            Some(super::predict::fit_measured(
                ctx,
                &stage.name,
                &space,
                &genomes,
                &acc,
                p,
                seed,
            )?)
        }
        _ => None,
    };
    let mut evaluated: Vec<Candidate> = Vec::new();
    // A generation's new candidates, recorded as the search's evaluations.
    let mut eval = |ctx: &mut Ctx, genomes: &[Vec<usize>]| -> Result<Vec<Candidate>, ExecError> {
        let out = score_batch(ctx, genomes)?;
        evaluated.extend(out.iter().cloned());
        Ok(out)
    };
    let valid = |g: &Vec<usize>| meets(&space, g, &cs, table.as_ref());
    let mut front: Vec<Candidate> = Vec::new();
    let mut generations: Option<Vec<Generation>> = None;
    let t0 = std::time::Instant::now();
    match stage.kind {
        StageKind::Evolution => {
            let mutate = *spec.mutate;
            let population = cap(ctx, *spec.population, 4);
            let cfg = search::evolution::EvolutionConfig {
                population,
                generations: cap(ctx, *spec.generations, 2),
                keep: cap(ctx, *spec.keep, 2),
                mutate: cap(ctx, mutate.count, 2),
                mutate_p: mutate.p,
                crossover: cap(ctx, *spec.crossover, 2),
                max_tries: 100 * population.max(1),
            };
            let result = match &mut predictor {
                None => search::evolution::evolve(&cfg, &ch, &mut rng, valid, |gs| {
                    let cs = eval(ctx, gs)?;
                    Ok(cs.iter().map(|c| metric_value(c, &objective)).collect())
                })
                .map_err(search_err(&stage.name))?,
                Some((mlp, info)) => {
                    let result = search::evolution::evolve(&cfg, &ch, &mut rng, valid, |gs| {
                        let x: Vec<_> = gs
                            .iter()
                            .map(|g| super::predict::encode(&space, g))
                            .collect();
                        Ok::<Vec<f64>, ExecError>(mlp.predict(&x))
                    })
                    .map_err(search_err(&stage.name))?;
                    // The `keep` best distinct candidates by prediction are measured on the
                    // supernet (one batch of pieces); the best of them is the search's best.
                    let mut ranked = result.history.clone();
                    ranked.sort_by(|a, b| b.score.total_cmp(&a.score));
                    let mut top: Vec<Vec<usize>> = Vec::new();
                    for e in &ranked {
                        if !top.contains(&e.genome) {
                            top.push(e.genome.clone());
                        }
                    }
                    info.predicted = top.len();
                    top.truncate(cfg.keep.max(1));
                    info.measured = top.len();
                    eval(ctx, &top)?;
                    result
                }
            };
            generations = Some(generation_stats(&result.history));
        }
        StageKind::RandomSearch => {
            let n = cap(ctx, *spec.samples, 4);
            search::random::random_search(n, &ch, &mut rng, valid, |gs| {
                let cs = eval(ctx, gs)?;
                Ok(cs.iter().map(|c| metric_value(c, &objective)).collect())
            })
            .map_err(search_err(&stage.name))?;
        }
        _ => {
            let mutate = *spec.mutate;
            let population = cap(ctx, *spec.population, 4);
            let objectives = if pareto.is_empty() {
                vec![objective.clone(), "flops".into()]
            } else {
                pareto.clone()
            };
            let cfg = search::nsga2::Nsga2Config {
                population,
                generations: cap(ctx, *spec.generations, 2),
                mutate: cap(ctx, mutate.count, 2),
                mutate_p: mutate.p,
                crossover: cap(ctx, *spec.crossover, 2),
                max_tries: 100 * population.max(1),
            };
            let result = search::nsga2::nsga2(&cfg, &ch, &mut rng, valid, |gs| {
                let cs = eval(ctx, gs)?;
                Ok(cs
                    .iter()
                    .map(|c| objectives.iter().map(|m| metric_value(c, m)).collect())
                    .collect())
            })
            .map_err(search_err(&stage.name))?;
            for (g, _) in &result.front {
                let arch = Arch::from_indices(&space, g)?;
                if let Some(c) = evaluated.iter().find(|c| c.arch == arch) {
                    front.push(c.clone());
                }
            }
        }
    }
    let out = finish_search(
        ctx,
        stage,
        None,
        evaluated,
        front,
        &objective,
        t0,
        |ctx, best| {
            // Report what recalibration changes on the best architecture.
            let Some(images) = recal else {
                return Ok(None);
            };
            let genome = arch_genome(&space, &best.arch)?;
            let mut scorer = Scorer::new(&space, &supernet, None, &stage.name);
            scorer.batch = *spec.common.batch;
            let without = scorer.score(ctx, &data, &genome, None)?;
            Ok(Some(Recalibration {
                images,
                best_accuracy_without: without.accuracy,
                best_accuracy_with: best.accuracy,
            }))
        },
    )?;
    Ok(StageResult::Search(Searched {
        out,
        method: Method::Sampling(Sampling {
            generations,
            predictor: predictor.map(|(_, info)| info),
        }),
    }))
}

/// The piece tag of a candidate architecture (halving adds the rung's epochs).
fn candidate_tag(arch: &Arch) -> String {
    let key = serde_json::to_string(arch).unwrap_or_default();
    format!("cand{:016x}", super::hash_str(&key))
}

/// A candidate read back from its piece's record.
fn candidate_of(stage: &str, v: serde_json::Value) -> Result<Candidate, ExecError> {
    serde_json::from_value(v).map_err(|e| {
        ExecError::setting(
            stage,
            format!("a candidate's record is damaged: {e}"),
            "delete the stage's folder under stages/ to redo the stage",
        )
    })
}

/// One candidate of a supernet search (a piece, see `pool`): `arch` extracted from the input
/// supernet, BN recalibrated if asked, scored on the validation split (and on the training probe for
/// `train.*` objectives).
pub(super) fn candidate_piece(
    ctx: &mut Ctx,
    stage: &Stage,
    arch: &Arch,
) -> Result<Candidate, ExecError> {
    let (spec, supernet, space, data) = search_setup(ctx, stage)?;
    let recal = recal_images(ctx, stage);
    let mut scorer = Scorer::new(&space, &supernet, recal, &stage.name);
    scorer.batch = *spec.common.batch;
    let genome = arch_genome(&space, arch)?;
    let mut c = scorer.score(ctx, &data, &genome, recal)?;
    let objective = spec.objectives.objective.as_str();
    let metrics: Vec<&str> = std::iter::once(objective)
        .chain(spec.objectives.pareto.iter().map(String::as_str))
        .collect();
    if wants_train(&metrics) {
        let t = scorer.score_on(ctx, &data, &genome, recal, &train_probe(&data))?;
        (c.train_loss, c.train_accuracy) = (Some(t.loss), Some(t.accuracy));
    }
    ctx.dir.log(json!({
        "stage": stage.name, "event": "candidate", "arch": c.arch, "accuracy": c.accuracy,
        "loss": c.loss, "params": c.params, "macs": c.macs,
        "train_loss": c.train_loss, "train_accuracy": c.train_accuracy,
    }))?;
    Ok(c)
}

/// Per generation of an evolution: new candidates evaluated, the best score among them and the
/// best so far (the report's best-per-generation plot).
fn generation_stats(history: &[search::Evaluated]) -> Vec<Generation> {
    let last = history.iter().map(|e| e.generation).max();
    let mut so_far = f64::NEG_INFINITY;
    let mut out = Vec::new();
    for g in 0..=last.unwrap_or(0) {
        let scores: Vec<f64> = history
            .iter()
            .filter(|e| e.generation == g)
            .map(|e| e.score)
            .collect();
        if last.is_none() || scores.is_empty() {
            continue;
        }
        let best = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        so_far = so_far.max(best);
        out.push(Generation {
            generation: g,
            evaluated: scores.len(),
            best,
            best_so_far: so_far,
        });
    }
    out
}

/// Turns a search algorithm's error into the stage's.
fn search_err(stage: &str) -> impl Fn(search::SearchError<ExecError>) -> ExecError + '_ {
    move |e| match e {
        search::SearchError::Eval(e) => e,
        other => ExecError::Search {
            stage: stage.to_string(),
            message: other.to_string(),
            help: "check the stage's search settings (population, generations, counts)".into(),
        },
    }
}

/// Option indices of an architecture (unused decisions at 0).
pub fn arch_genome(space: &SearchSpace, arch: &Arch) -> Result<Vec<usize>, ExecError> {
    Ok(space
        .arch_indices(arch)?
        .into_iter()
        .map(|o| o.unwrap_or(0))
        .collect())
}

/// Whether the best of search `stage` is the run's `best.arch.yaml`: the search whose `.best` the
/// pipeline's last reader of a `.best` (a `retrain` or `evaluate`) takes, or, when no stage reads
/// one, every search in turn (the last to finish stays).
fn is_run_choice(program: &crate::sema::hir::Program, stage: &str) -> bool {
    let read = program
        .stages
        .iter()
        .rev()
        .find_map(|s| match super::stage_input(s) {
            Some((input, Some("best"))) => Some(input),
            _ => None,
        });
    read.is_none_or(|input| input == stage)
}

/// Picks the best, writes `best.arch.yaml` (the stage's, and the run's when it is the run's choice),
/// builds the stage result.
#[allow(clippy::too_many_arguments)]
pub(super) fn finish_search(
    ctx: &mut Ctx,
    stage: &Stage,
    winner: Option<Arch>,
    evaluated: Vec<Candidate>,
    front: Vec<Candidate>,
    objective: &str,
    t0: std::time::Instant,
    recal_report: impl FnOnce(&mut Ctx, &Candidate) -> Result<Option<Recalibration>, ExecError>,
) -> Result<SearchOut, ExecError> {
    let mut distinct: Vec<Candidate> = Vec::new();
    for c in evaluated {
        if !distinct.iter().any(|d| d.arch == c.arch) {
            distinct.push(c);
        }
    }
    for c in &mut distinct {
        c.score = metric_value(c, objective);
    }
    distinct.sort_by(|a, b| b.score.total_cmp(&a.score));
    if let Some(w) = winner
        && let Some(pos) = distinct.iter().position(|c| c.arch == w)
    {
        let c = distinct.remove(pos);
        distinct.insert(0, c);
    }
    let Some(best) = distinct.first().cloned() else {
        return Err(ExecError::Search {
            stage: stage.name.clone(),
            message: "no architecture was evaluated".into(),
            help: "no sampled architecture met the hard constraints; relax them".into(),
        });
    };
    let recalibration = recal_report(ctx, &best)?;
    let yaml = best.arch.to_yaml();
    if is_run_choice(&ctx.program, &stage.name) {
        super::rundir::atomic_write(&ctx.dir.root.join("best.arch.yaml"), yaml.as_bytes())?;
    }
    super::rundir::atomic_write(
        &ctx.dir.stage_dir(&stage.name)?.join("best.arch.yaml"),
        yaml.as_bytes(),
    )?;
    eprintln!(
        "{}: best {:.2}% val accuracy, {} params, {} MACs, {} candidates ({:.1}s)",
        stage.name,
        100.0 * best.accuracy,
        best.params,
        best.macs,
        distinct.len(),
        t0.elapsed().as_secs_f64()
    );
    let out = SearchOut {
        space: stage.space.clone().unwrap_or_default(),
        best: best.arch.clone(),
        objective: objective.to_string(),
        score: best.score,
        accuracy: best.accuracy,
        params: best.params,
        macs: best.macs,
        evaluated: distinct.len(),
        top: distinct.iter().take(10).cloned().collect(),
        pareto: front,
        recalibration,
        candidates: distinct,
    };
    Ok(out)
}

/// Trains a stand-alone network of `arch` from scratch for `epochs` of a `horizon`-epoch schedule
/// (continuing from its checkpoint if it has one), under checkpoints tagged `tag`.
/// A network of `arch` with fresh weights, as a stand-alone training of `stage` trains it: with the
/// stage's classifier dropout override and, where the stage or the space asks for one, an auxiliary
/// head.
pub fn standalone_net(
    ctx: &Ctx,
    stage: &Stage,
    space: &SearchSpace,
    arch: &Arch,
) -> Result<Subnet, ExecError> {
    let mut net = Subnet::new(space, arch, ctx.device())?;
    net.dropout = stage.spec.training().and_then(|t| *t.dropout);
    if auxiliary_weight(ctx, stage).is_some() {
        // `nasl check` admits `auxiliary` on cell networks alone (sema::contract).
        net.add_auxiliary().map_err(|m| {
            ExecError::setting(
                &stage.name,
                &m,
                "remove `auxiliary` from the stage and the space",
            )
        })?;
    }
    Ok(net)
}

/// The auxiliary head's loss weight of a stand-alone training: the stage's `auxiliary w`, else the
/// space's `network ... auxiliary: w`.
pub fn auxiliary_weight(ctx: &Ctx, stage: &Stage) -> Option<f64> {
    stage.spec.standalone().0.or_else(|| {
        let decl = ctx
            .program
            .spaces
            .iter()
            .find(|s| Some(&s.name) == stage.space.as_ref())?;
        match &decl.body {
            crate::sema::hir::SpaceBody::Cell(c) => c.network.auxiliary,
            crate::sema::hir::SpaceBody::Genotype(g) => g.network.auxiliary,
            crate::sema::hir::SpaceBody::Chain(_) => None,
        }
    })
}

#[allow(clippy::too_many_arguments)]
pub fn train_standalone(
    ctx: &mut Ctx,
    stage: &Stage,
    space: &SearchSpace,
    arch: &Arch,
    net: &Subnet,
    tag: &str,
    epochs: usize,
    horizon: usize,
    seed: u64,
) -> Result<super::train::TrainSummary, ExecError> {
    let data = ctx.data(stage)?;
    let fit = Fit::for_stage(ctx, stage, &data, &net.vs, tag, epochs, horizon, seed)?;
    let _ = (space, arch);
    let smoothing = *super::training(stage)?.label_smoothing;
    // `drop_path p` (or a schedule `0 -> 0.2 linear`, DARTS's ramp) over cell edges; `nasl check`
    // admits it where the network has cell edges to drop.
    let drop_path = stage.spec.standalone().1;
    let aux_weight = auxiliary_weight(ctx, stage);
    let mut step = |x: &tch::Tensor,
                    y: &tch::Tensor,
                    _rng: &mut ChaCha8Rng,
                    t: f64|
     -> Result<StepOut, ExecError> {
        let (logits, aux) = net.forward_train(x, drop_path.as_ref().map_or(0.0, |p| p.at(t)));
        let (mut loss, correct) = loss_and_correct(&logits, y, smoothing);
        if let (Some(aux), Some(w)) = (aux, aux_weight) {
            loss += loss_and_correct(&aux, y, smoothing).0 * w;
        }
        loss.backward();
        let b = y.size()[0];
        Ok(StepOut {
            loss: loss.double_value(&[]) * b as f64,
            correct,
            n: b,
            active: None,
        })
    };
    super::train::fit(
        ctx,
        &stage.name,
        fit,
        &net.vs,
        &data.splits.train,
        &mut step,
    )
}

/// Random search with early stopping: successive halving of stand-alone networks trained from
/// scratch, each rung continuing the survivors' training.
pub fn halving(ctx: &mut Ctx, stage: &Stage) -> Result<StageResult, ExecError> {
    let StageSpec::SuccessiveHalving(spec) = &stage.spec else {
        return Err(super::wrong_kind(stage));
    };
    let space = SearchSpace::new(space_of(ctx, stage)?.spec.clone())?;
    let data = ctx.data(stage)?;
    require_val(stage, &data)?;
    let cs = spec.objectives.constraint.clone_value();
    let ch = choices(&space);
    let objective = spec.objectives.objective.clone_value();
    let max_epochs = smoke_epochs(ctx, *spec.max_epochs).max(1);
    let cfg = search::halving::HalvingConfig {
        candidates: cap(ctx, *spec.candidates, 3),
        eta: *spec.eta,
        min_epochs: smoke_epochs(ctx, *spec.min_epochs).max(1),
        max_epochs,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(ctx.stage_seed(&stage.name));
    let name = stage.name.clone();
    let mut evaluated: Vec<Candidate> = Vec::new();
    let t0 = std::time::Instant::now();
    let table = super::latency::table_if_wanted(ctx, stage, &space)?;
    let valid = |g: &Vec<usize>| meets(&space, g, &cs, table.as_ref());
    let result = search::halving::successive_halving_rungs(
        &cfg,
        &ch,
        &mut rng,
        valid,
        |genomes, epochs, rung| {
            // A rung's candidates are independent pieces (trained side by side with `--workers`).
            let mut work = Vec::with_capacity(genomes.len());
            for g in genomes {
                let arch = Arch::from_indices(&space, g)?;
                let tag = candidate_tag(&arch);
                let piece = super::pool::Work::Halving {
                    arch,
                    epochs,
                    horizon: max_epochs,
                    rung,
                };
                work.push((format!("{tag}@{epochs}"), piece));
            }
            let done = ctx.pieces(stage, work)?;
            let mut scores = Vec::with_capacity(genomes.len());
            for (g, v) in genomes.iter().zip(done) {
                let mut c = candidate_of(&name, v)?;
                c.latency_ms = predicted(table.as_ref(), &space, g)?;
                evaluated.retain(|e| e.arch != c.arch);
                evaluated.push(c.clone());
                scores.push(metric_value(&c, &objective));
            }
            Ok::<Vec<f64>, ExecError>(scores)
        },
    )
    .map_err(search_err(&stage.name))?;
    // The winner is the best of the last rung, not the best score seen at any budget.
    let winner = match &result.best {
        Some((g, _)) => Some(Arch::from_indices(&space, g)?),
        None => None,
    };
    let out = finish_search(
        ctx,
        stage,
        winner,
        evaluated,
        vec![],
        &objective,
        t0,
        |_, _| Ok(None),
    )?;
    Ok(StageResult::Search(Searched {
        out,
        method: Method::Halving {},
    }))
}

/// One successive-halving candidate of `stage` (a piece, see `pool`): `arch` trained from scratch to
/// `epochs` of a `horizon`-epoch schedule, continuing from its checkpoint of the previous rung, then
/// scored on the validation split.
pub(super) fn halving_piece(
    ctx: &mut Ctx,
    stage: &Stage,
    arch: &Arch,
    epochs: usize,
    horizon: usize,
    rung: usize,
) -> Result<Candidate, ExecError> {
    let space = SearchSpace::new(space_of(ctx, stage)?.spec.clone())?;
    let data = ctx.data(stage)?;
    let name = stage.name.clone();
    let key = serde_json::to_string(arch).unwrap_or_default();
    let tag = candidate_tag(arch);
    let seed = super::mix(ctx.stage_seed(&name), super::hash_str(&key));
    tch::manual_seed(seed as i64 & i64::MAX);
    let net = standalone_net(ctx, stage, &space, arch)?;
    let summary = train_standalone(ctx, stage, &space, arch, &net, &tag, epochs, horizon, seed)?;
    let (loss, accuracy) = evaluate_set(
        &|x| net.forward_t(x, false),
        &data.splits.val,
        &ctx.eval_loader(&data),
        ctx.eval_batches(),
    );
    // `objective train.*`: the same fixed slice of the training split for every candidate.
    let StageSpec::SuccessiveHalving(spec) = &stage.spec else {
        return Err(super::wrong_kind(stage));
    };
    let train = wants_train(&[spec.objectives.objective.as_str()]).then(|| {
        evaluate_set(
            &|x| net.forward_t(x, false),
            &train_probe(&data),
            &ctx.eval_loader(&data),
            ctx.eval_batches(),
        )
    });
    let cost = arch_cost(&space, arch)?;
    ctx.dir.log(json!({
        "stage": name, "event": "candidate", "rung": rung, "epochs": epochs,
        "arch": arch, "accuracy": accuracy, "loss": loss,
        "train_loss": summary.final_loss,
        "train_accuracy": train.map(|t| t.1),
    }))?;
    Ok(Candidate {
        train_loss: train.map(|t| t.0),
        train_accuracy: train.map(|t| t.1),
        ..Candidate::new(arch.clone(), &cost, loss, accuracy)
    })
}
