//! The `rank` stage: how well supernets rank architectures. K distinct architectures are sampled;
//! each gets every input supernet's validation accuracy (after BN recalibration when asked) and the
//! validation accuracy of the same architecture trained stand-alone from scratch, once per seed of
//! `seeds [...]`; the agreement is reported as Kendall's tau and Spearman's rho (as FairNAS and SPOS
//! judge supernets) against the mean over seeds. With two or more seeds the stage also reports the
//! benchmark's noise ceiling, how well the seeds rank alike (the mean over pairs of seeds), and every
//! figure has a 95% percentile bootstrap interval over the architectures.

use std::collections::BTreeSet;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use super::error::ExecError;
use super::result::SupernetOut;
use super::result::{Correlation, Measured, RankOut, RankSample, StageResult, SupernetRank};
use super::search::{Scorer, recal_images, train_standalone};
use super::supernet::{choices, smoke_epochs, supernet_named};
use super::{Ctx, evaluate_set, require_val};
use crate::ir::{Arch, SearchSpace};
use crate::search::rank::{self, Interval, Measure};
use crate::search::sample;
use crate::sema::hir::{Input, Stage};
use crate::sema::spec::StageSpec;

/// The stand-alone seeds (`seeds [...]`, at most two in smoke runs); `None` without the setting,
/// which trains each architecture once with a seed derived from the stage's.
fn seeds(ctx: &Ctx, stage: &Stage) -> Option<Vec<i64>> {
    let v = stage.spec.common().seeds.clone_value()?;
    Some(if ctx.info.smoke {
        v.into_iter().take(2).collect()
    } else {
        v
    })
}

/// A correlation with its bootstrap interval.
fn measured(series: &[&[f64]], measure: Measure, indices: &[Vec<usize>]) -> Measured {
    let ci: Option<Interval> = rank::bootstrap(series, measure, indices);
    Measured {
        value: rank::pairwise_mean(series, measure),
        ci: ci.map(|c| [c.low, c.high]),
    }
}

/// Tau and rho of `series` (pairwise means over more than two), with bootstrap intervals.
fn correlation(series: &[&[f64]], indices: &[Vec<usize>]) -> Correlation {
    Correlation {
        kendall_tau: measured(series, rank::kendall_tau, indices),
        spearman_rho: measured(series, rank::spearman, indices),
    }
}

fn show(v: Option<f64>) -> String {
    v.map(|t| format!("{t:.4}"))
        .unwrap_or_else(|| "undefined".into())
}

fn show_ci(v: Option<[f64; 2]>) -> String {
    match v {
        Some([a, b]) => format!(" [{a:.2}, {b:.2}]"),
        None => String::new(),
    }
}

/// Up to `k` distinct architectures (distinct as networks, not as index vectors) drawn uniformly from
/// a generator seeded with `seed`, with their option indices; at most `50 k` draws.
pub fn distinct_archs(
    space: &SearchSpace,
    k: usize,
    seed: u64,
) -> Result<Vec<(Vec<usize>, Arch)>, ExecError> {
    let ch = choices(space);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut archs: Vec<(Vec<usize>, Arch)> = Vec::new();
    let mut seen = BTreeSet::new();
    for _ in 0..k * 50 {
        if archs.len() == k {
            break;
        }
        let g = sample::uniform(&ch, &mut rng);
        let arch = Arch::from_indices(space, &g)?;
        if seen.insert(serde_json::to_string(&arch).unwrap_or_default()) {
            archs.push((g, arch));
        }
    }
    Ok(archs)
}

pub fn rank(ctx: &mut Ctx, stage: &Stage) -> Result<StageResult, ExecError> {
    // A hypernetwork (SMASH) is judged the same way, with generated weights.
    let hypernet = super::stage_input(stage)
        .and_then(|(s, _)| ctx.program.stages.iter().find(|x| x.name == s))
        .filter(|s| s.kind == crate::sema::hir::StageKind::Hypernet)
        .map(|s| s.name.clone());
    if let Some(input) = hypernet {
        return rank_hypernet(ctx, stage, &input);
    }
    let Setup {
        names,
        epochs,
        seeds,
        archs,
        recal,
        ..
    } = setup(ctx, stage)?;
    // Each architecture is an independent piece: scored on the supernets, trained stand-alone
    // (side by side with `--workers`).
    let work = (0..archs.len())
        .map(|i| {
            (
                format!("arch{i}"),
                super::pool::Work::RankSample { index: i },
            )
        })
        .collect();
    let mut samples = Vec::new();
    for v in ctx.pieces(stage, work)? {
        let mut sample: RankSample = serde_json::from_value(v).map_err(|e| {
            ExecError::setting(
                &stage.name,
                format!("a rank sample's record is damaged: {e}"),
                "delete the stage's folder under stages/ to redo the stage",
            )
        })?;
        // A part recorded before these lists existed holds one supernet and one training.
        if sample.supernet_accuracies.len() != names.len() {
            sample.supernet_accuracies = vec![sample.supernet_accuracy; names.len()];
        }
        if sample.standalone_accuracies.is_empty() {
            sample.standalone_accuracies = vec![sample.standalone_accuracy];
        }
        samples.push(sample);
    }
    let resamples = rank::resample_indices(
        samples.len(),
        rank::RESAMPLES,
        super::mix(ctx.stage_seed(&stage.name), 0xb007),
    );
    let mean: Vec<f64> = samples.iter().map(|s| s.standalone_accuracy).collect();
    let mut per_supernet = Vec::new();
    for (j, n) in names.iter().enumerate() {
        let a: Vec<f64> = samples.iter().map(|s| s.supernet_accuracies[j]).collect();
        per_supernet.push(SupernetRank {
            supernet: n.clone(),
            correlation: correlation(&[&a, &mean], &resamples),
        });
    }
    // The seed-to-seed agreement of the stand-alone accuracies: the most a supernet can reach.
    let per_seed: Vec<Vec<f64>> = (0..samples.first().map_or(0, |s| s.standalone_accuracies.len()))
        .map(|r| samples.iter().map(|s| s.standalone_accuracies[r]).collect())
        .collect();
    let ceiling = (per_seed.len() >= 2).then(|| {
        let refs: Vec<&[f64]> = per_seed.iter().map(Vec::as_slice).collect();
        correlation(&refs, &resamples)
    });
    for s in &per_supernet {
        let c = &s.correlation;
        eprintln!(
            "{}: {} Kendall tau {}{} Spearman rho {}{} over {} architectures",
            stage.name,
            s.supernet,
            show(c.kendall_tau.value),
            show_ci(c.kendall_tau.ci),
            show(c.spearman_rho.value),
            show_ci(c.spearman_rho.ci),
            samples.len()
        );
    }
    if let Some(c) = &ceiling {
        eprintln!(
            "{}: seed-to-seed (noise ceiling) Kendall tau {}{} Spearman rho {}{}",
            stage.name,
            show(c.kendall_tau.value),
            show_ci(c.kendall_tau.ci),
            show(c.spearman_rho.value),
            show_ci(c.spearman_rho.ci),
        );
    }
    let first = per_supernet[0].correlation.clone();
    Ok(StageResult::Rank(RankOut {
        kendall_tau: first.kendall_tau.value,
        spearman_rho: first.spearman_rho.value,
        kendall_tau_ci: Some(first.kendall_tau.ci),
        spearman_rho_ci: Some(first.spearman_rho.ci),
        supernets: Some(per_supernet),
        ceiling: Some(ceiling),
        seeds: Some(seeds),
        bootstrap_resamples: Some(rank::RESAMPLES),
        architectures: samples.len(),
        standalone_epochs: epochs,
        recalibrate_images: recal,
        weights: None,
        samples,
    }))
}

/// What every sample of a `rank` stage shares: the input supernets, the space stand-alone networks
/// are built in, the data, the epochs and seeds of the stand-alone trainings, the sampled
/// architectures and the recalibration images.
struct Setup {
    names: Vec<String>,
    supernets: Vec<(SupernetOut, SearchSpace)>,
    space: SearchSpace,
    data: std::rc::Rc<super::StageData>,
    epochs: usize,
    seeds: Option<Vec<i64>>,
    archs: Vec<(Vec<usize>, Arch)>,
    recal: Option<usize>,
}

fn setup(ctx: &mut Ctx, stage: &Stage) -> Result<Setup, ExecError> {
    // Every input is a supernet of the same space (`nasl check` makes sure).
    let names: Vec<String> = stage
        .inputs
        .iter()
        .filter_map(|i| match i {
            Input::Stage { stage, .. } => Some(stage.clone()),
            _ => None,
        })
        .collect();
    if names.is_empty() {
        return Err(ExecError::setting(
            &stage.name,
            "the stage needs a trained supernet as input",
            "write `rank(supernet) { samples 10 epochs 2 }`",
        ));
    }
    let mut supernets: Vec<(SupernetOut, SearchSpace)> = Vec::new();
    for n in &names {
        supernets.push(supernet_named(ctx, stage, n)?);
    }
    // Stand-alone networks are built as declared (affine batch norms), whatever the supernets did.
    let space = SearchSpace::new(super::space_of(ctx, stage)?.spec.clone())?;
    let data = ctx.data(stage)?;
    require_val(stage, &data)?;
    let (archs, epochs) = sampled(ctx, stage, &space)?;
    let seeds = seeds(ctx, stage);
    let recal = recal_images(ctx, stage);
    Ok(Setup {
        names,
        supernets,
        space,
        data,
        epochs,
        seeds,
        archs,
        recal,
    })
}

/// Sample `i` of a `rank` stage (a piece, see `pool`): the architecture's accuracy on every input
/// supernet and stand-alone, once per seed.
pub(super) fn rank_sample(ctx: &mut Ctx, stage: &Stage, i: usize) -> Result<RankSample, ExecError> {
    let Setup {
        names,
        supernets,
        space,
        data,
        epochs,
        seeds,
        archs,
        recal,
    } = setup(ctx, stage)?;
    let Some((g, arch)) = archs.get(i) else {
        return Err(ExecError::setting(
            &stage.name,
            format!(
                "the stage samples {} architectures, not {}",
                archs.len(),
                i + 1
            ),
            "the piece belongs to another run",
        ));
    };
    let scorers: Vec<Scorer> = supernets
        .iter()
        .map(|(s, sp)| Scorer::new(sp, s, recal, &stage.name))
        .collect();
    let name = stage.name.clone();
    let tag = format!("arch{i}");
    let mut on_supernets = Vec::new();
    for scorer in &scorers {
        on_supernets.push(scorer.score(ctx, &data, g, recal)?.accuracy);
    }
    let base = super::mix(ctx.stage_seed(&name), i as u64);
    // One training per seed; without `seeds`, one with the stage's own seed.
    let runs: Vec<(String, u64)> = match &seeds {
        Some(list) => list
            .iter()
            .map(|&s| (format!("{tag}.seed{s}"), super::mix(base, s as u64)))
            .collect(),
        None => vec![(tag.clone(), base)],
    };
    let mut standalone = Vec::new();
    for (run_tag, seed) in runs {
        tch::manual_seed(seed as i64 & i64::MAX);
        let net = super::search::standalone_net(ctx, stage, &space, arch)?;
        train_standalone(
            ctx, stage, &space, arch, &net, &run_tag, epochs, epochs, seed,
        )?;
        let (_, acc) = evaluate_set(
            &|x| net.forward_t(x, false),
            &data.splits.val,
            &ctx.eval_loader(&data),
            ctx.eval_batches(),
        );
        standalone.push(acc);
    }
    let mean = standalone.iter().sum::<f64>() / standalone.len() as f64;
    ctx.dir.log(json!({
        "stage": name, "event": "rank_sample", "arch": arch,
        "supernet_accuracy": on_supernets[0], "standalone_accuracy": mean,
        "supernets": names, "supernet_accuracies": on_supernets,
        "standalone_accuracies": standalone,
    }))?;
    Ok(RankSample {
        arch: arch.clone(),
        supernet_accuracy: on_supernets[0],
        standalone_accuracy: mean,
        supernet_accuracies: on_supernets,
        standalone_accuracies: standalone,
    })
}

/// A sampled architecture: its option indices and the architecture.
type Sampled = (Vec<usize>, Arch);

/// The stage's `samples` distinct architectures (at most 3 in smoke runs) and the stand-alone
/// training epochs, for both kinds of input.
fn sampled(
    ctx: &Ctx,
    stage: &Stage,
    space: &SearchSpace,
) -> Result<(Vec<Sampled>, usize), ExecError> {
    let StageSpec::Rank(spec) = &stage.spec else {
        return Err(super::wrong_kind(stage));
    };
    let k = if ctx.info.smoke {
        (*spec.samples).min(3)
    } else {
        *spec.samples
    };
    let epochs = smoke_epochs(ctx, *spec.training.epochs).max(1);
    if !*spec.extremes {
        return Ok((
            distinct_archs(space, k, ctx.stage_seed(&stage.name))?,
            epochs,
        ));
    }
    // Two more than `k`, in case the draws hold the extremes.
    let random = distinct_archs(space, k + 2, ctx.stage_seed(&stage.name))?;
    // The largest and the smallest first (the sandwich rule's, by MACs then parameters, the
    // smallest never `none`), then `k` random ones other than those two.
    let (big, small) = super::supernet::sandwich_extremes(space, &[])?;
    let mut archs: Vec<Sampled> = Vec::new();
    for g in [big, small] {
        let arch = Arch::from_indices(space, &g)?;
        archs.push((g, arch));
    }
    let ends: Vec<Arch> = archs.iter().map(|(_, a)| a.clone()).collect();
    archs.extend(
        random
            .into_iter()
            .filter(|(_, a)| !ends.contains(a))
            .take(k),
    );
    Ok((archs, epochs))
}

/// `rank(h)` of a `hypernet` stage `h`: generated-weight accuracy against stand-alone accuracy.
fn rank_hypernet(ctx: &mut Ctx, stage: &Stage, input: &str) -> Result<StageResult, ExecError> {
    let weights = ctx
        .result_of(input, &stage.name)?
        .hypernet()
        .unwrap_or_default()
        .to_string();
    let space = crate::ir::SearchSpace::new(super::space_of(ctx, stage)?.spec.clone())?;
    let generated = super::hypernet::Generated::load(ctx, &space, &weights, &stage.name)?;
    let data = ctx.data(stage)?;
    require_val(stage, &data)?;
    let (archs, epochs) = sampled(ctx, stage, &space)?;
    // Generated weights always get their BatchNorm statistics re-estimated (`recalibrate` sets how
    // many images).
    let images = recal_images(ctx, stage).unwrap_or_else(|| super::hypernet::recal_images(ctx));
    let mut samples = Vec::new();
    for (i, (g, arch)) in archs.iter().enumerate() {
        let name = stage.name.clone();
        let tag = format!("arch{i}");
        let sample = ctx.part(&stage.name, &tag, |ctx| {
            let (_, generated_acc) = generated.score(ctx, &data, &space, g, images)?;
            let seed = super::mix(ctx.stage_seed(&name), i as u64);
            tch::manual_seed(seed as i64 & i64::MAX);
            let net = super::search::standalone_net(ctx, stage, &space, arch)?;
            train_standalone(ctx, stage, &space, arch, &net, &tag, epochs, epochs, seed)?;
            let (_, standalone) = evaluate_set(
                &|x| net.forward_t(x, false),
                &data.splits.val,
                &ctx.eval_loader(&data),
                ctx.eval_batches(),
            );
            ctx.dir.log(json!({
                "stage": name, "event": "rank_sample", "arch": arch,
                "supernet_accuracy": generated_acc, "standalone_accuracy": standalone,
            }))?;
            Ok(RankSample {
                arch: arch.clone(),
                supernet_accuracy: generated_acc,
                standalone_accuracy: standalone,
                supernet_accuracies: vec![generated_acc],
                standalone_accuracies: vec![standalone],
            })
        })?;
        samples.push(sample);
    }
    let a: Vec<f64> = samples.iter().map(|s| s.supernet_accuracy).collect();
    let b: Vec<f64> = samples.iter().map(|s| s.standalone_accuracy).collect();
    let tau = rank::kendall_tau(&a, &b);
    let rho = rank::spearman(&a, &b);
    eprintln!(
        "{}: Kendall tau {} Spearman rho {} over {} architectures (generated weights)",
        stage.name,
        tau.map(|t| format!("{t:.4}"))
            .unwrap_or_else(|| "undefined".into()),
        rho.map(|t| format!("{t:.4}"))
            .unwrap_or_else(|| "undefined".into()),
        samples.len()
    );
    Ok(StageResult::Rank(RankOut {
        kendall_tau: tau,
        spearman_rho: rho,
        kendall_tau_ci: None,
        spearman_rho_ci: None,
        supernets: None,
        ceiling: None,
        seeds: None,
        bootstrap_resamples: None,
        architectures: samples.len(),
        standalone_epochs: epochs,
        recalibrate_images: Some(images),
        weights: Some("generated by the hypernetwork".into()),
        samples,
    }))
}
