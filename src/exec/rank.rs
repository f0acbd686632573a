//! The `rank` stage: how well a supernet ranks architectures. K distinct architectures are sampled;
//! each gets the supernet's validation accuracy (after BN recalibration when asked) and the
//! validation accuracy of the same architecture trained stand-alone from scratch; the agreement is
//! reported as Kendall's tau and Spearman's rho (as FairNAS and SPOS judge supernets).

use std::collections::BTreeSet;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

use super::error::ExecError;
use super::search::{Scorer, recal_images, train_standalone};
use super::supernet::{choices, epochs_of, supernet_input};
use super::{Ctx, evaluate_set, int, require_val};
use crate::compile::Subnet;
use crate::ir::Arch;
use crate::search::{rank, sample};
use crate::sema::hir::Stage;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RankSample {
    pub arch: Arch,
    pub supernet_accuracy: f64,
    pub standalone_accuracy: f64,
}

pub fn rank(ctx: &mut Ctx, stage: &Stage) -> Result<Json, ExecError> {
    // A hypernetwork (SMASH) is judged the same way, with generated weights.
    let hypernet = super::stage_input(stage)
        .and_then(|(s, _)| ctx.program.stages.iter().find(|x| x.name == s))
        .filter(|s| s.kind == crate::sema::hir::StageKind::Hypernet)
        .map(|s| s.name.clone());
    if let Some(input) = hypernet {
        return rank_hypernet(ctx, stage, &input);
    }
    let (supernet, space) = supernet_input(ctx, stage, "rank(supernet) { samples 10 epochs 2 }")?;
    let data = ctx.data(stage)?;
    require_val(stage, &data)?;
    let k = int(stage, "samples").unwrap_or(10).max(2) as usize;
    let k = if ctx.info.smoke { k.min(3) } else { k };
    let epochs = epochs_of(ctx, stage, "epochs", 1).max(1);
    let ch = choices(&space);
    let mut rng = ChaCha8Rng::seed_from_u64(ctx.stage_seed(&stage.name));
    // K distinct architectures (distinct as networks, not as index vectors).
    let mut archs: Vec<(Vec<usize>, Arch)> = Vec::new();
    let mut seen = BTreeSet::new();
    for _ in 0..k * 50 {
        if archs.len() == k {
            break;
        }
        let g = sample::uniform(&ch, &mut rng);
        let arch = Arch::from_indices(&space, &g)?;
        if seen.insert(serde_json::to_string(&arch).unwrap_or_default()) {
            archs.push((g, arch));
        }
    }
    let recal = recal_images(ctx, stage);
    let mut scorer = Scorer::new(&space, &supernet, recal, &stage.name);
    let mut samples = Vec::new();
    for (i, (g, arch)) in archs.iter().enumerate() {
        let name = stage.name.clone();
        let tag = format!("arch{i}");
        let data2 = data.clone();
        let sample = ctx.part(&stage.name, &tag, |ctx| {
            let on_supernet = scorer.score(ctx, &data2, g, recal)?;
            let seed = super::mix(ctx.stage_seed(&name), i as u64);
            tch::manual_seed(seed as i64 & i64::MAX);
            let net = Subnet::new(&space, arch, ctx.device())?;
            train_standalone(ctx, stage, &space, arch, &net, &tag, epochs, epochs, seed)?;
            let (_, standalone) = evaluate_set(
                &|x| net.forward_t(x, false),
                &data2.splits.val,
                &ctx.eval_loader(&data2),
                ctx.eval_batches(),
            );
            ctx.dir.log(json!({
                "stage": name, "event": "rank_sample", "arch": arch,
                "supernet_accuracy": on_supernet.accuracy, "standalone_accuracy": standalone,
            }))?;
            Ok(RankSample {
                arch: arch.clone(),
                supernet_accuracy: on_supernet.accuracy,
                standalone_accuracy: standalone,
            })
        })?;
        samples.push(sample);
    }
    let a: Vec<f64> = samples.iter().map(|s| s.supernet_accuracy).collect();
    let b: Vec<f64> = samples.iter().map(|s| s.standalone_accuracy).collect();
    let tau = rank::kendall_tau(&a, &b);
    let rho = rank::spearman(&a, &b);
    eprintln!(
        "{}: Kendall tau {} Spearman rho {} over {} architectures",
        stage.name,
        tau.map(|t| format!("{t:.4}"))
            .unwrap_or_else(|| "undefined".into()),
        rho.map(|t| format!("{t:.4}"))
            .unwrap_or_else(|| "undefined".into()),
        samples.len()
    );
    Ok(json!({
        "kendall_tau": tau,
        "spearman_rho": rho,
        "architectures": samples.len(),
        "standalone_epochs": epochs,
        "recalibrate_images": recal,
        "samples": samples,
    }))
}

/// `rank(h)` of a `hypernet` stage `h`: generated-weight accuracy against stand-alone accuracy.
fn rank_hypernet(ctx: &mut Ctx, stage: &Stage, input: &str) -> Result<Json, ExecError> {
    let result: Json = ctx.result(input, &stage.name)?;
    let weights = result["hypernet"].as_str().unwrap_or_default().to_string();
    let space = crate::ir::SearchSpace::new(super::space_of(ctx, stage)?.spec.clone())?;
    let generated = super::hypernet::Generated::load(ctx, &space, &weights, &stage.name)?;
    let data = ctx.data(stage)?;
    require_val(stage, &data)?;
    let k = int(stage, "samples").unwrap_or(10).max(2) as usize;
    let k = if ctx.info.smoke { k.min(3) } else { k };
    let epochs = epochs_of(ctx, stage, "epochs", 1).max(1);
    let ch = choices(&space);
    let mut rng = ChaCha8Rng::seed_from_u64(ctx.stage_seed(&stage.name));
    let mut archs: Vec<(Vec<usize>, Arch)> = Vec::new();
    let mut seen = BTreeSet::new();
    for _ in 0..k * 50 {
        if archs.len() == k {
            break;
        }
        let g = sample::uniform(&ch, &mut rng);
        let arch = Arch::from_indices(&space, &g)?;
        if seen.insert(serde_json::to_string(&arch).unwrap_or_default()) {
            archs.push((g, arch));
        }
    }
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
            let net = Subnet::new(&space, arch, ctx.device())?;
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
    Ok(json!({
        "kendall_tau": tau,
        "spearman_rho": rho,
        "architectures": samples.len(),
        "standalone_epochs": epochs,
        "recalibrate_images": images,
        "weights": "generated by the hypernetwork",
        "samples": samples,
    }))
}
