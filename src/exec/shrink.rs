//! `progressive_shrinking(space)` (Once-for-All, Cai et al., ICLR 2020): the supernet's phases in the
//! order written, each releasing elastic dimensions on top of the earlier ones (full: the largest
//! network only; kernel: kernel sizes; depth and width in the paper's sub-steps, the two largest
//! values first, then all, with the expanded channels sorted by importance before each width
//! sub-step; the input resolution elastic in every phase, one size per batch), per step `subnets`
//! sub-networks sampled uniformly within what is released, their gradients summed into one update,
//! and an optional soft-target distillation loss from the full phase's network. Each (sub-)step is one
//! `train::fit` with its own tag, learning rate and schedule, so it checkpoints per epoch and resumes
//! where it stopped; the result is a trained supernet like a `train` stage's.

use super::result::PhaseOut;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use tch::Tensor;

use super::error::ExecError;
use super::result::{Part, StageResult, SupernetOut};
use super::supernet::{Targets, paths_step, save_weights, smoke_epochs};
use super::train::{Fit, StepOut};
use super::{Ctx, space_of};
use crate::compile::{Mix, Supernet};
use crate::ir::{DecisionKind, SearchSpace};
use crate::sema::hir::Stage;
use crate::sema::spec::{Phase, PhaseKind, StageSpec};

/// One training step of the schedule: a phase or one of its sub-steps.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Names the step's checkpoints and metric lines (`p0.full`, `p2.depth.1`, ...).
    pub tag: String,
    pub phase: PhaseKind,
    pub epochs: usize,
    pub lr: Option<f64>,
    /// Per decision, the option indices sampled from (the largest alone where not released).
    pub allowed: Vec<Vec<usize>>,
    /// Width sub-steps: sort the expanded channels first, with this `expand_ratio_stage`.
    pub sort: Option<usize>,
    /// Sub-networks sampled per training step (their gradients summed into one update).
    pub subnets: usize,
}

/// The options of decision `d` from largest to smallest (by the number each label is).
fn by_size(space: &SearchSpace, d: usize) -> Vec<usize> {
    let labels = &space.decisions[d].labels;
    let mut idx: Vec<usize> = (0..labels.len()).collect();
    let value = |i: usize| labels[i].parse::<f64>().unwrap_or(i as f64);
    idx.sort_by(|&a, &b| value(b).total_cmp(&value(a)).then(b.cmp(&a)));
    idx
}

/// Which phase releases decision `d` (`None`: elastic from the first phase on).
fn released_by(space: &SearchSpace, d: usize) -> Option<PhaseKind> {
    let dec = &space.decisions[d];
    Some(match dec.kind {
        // OFA samples the image size of every batch in every phase, the full network's included.
        DecisionKind::Resolution => return None,
        DecisionKind::Depth => PhaseKind::Depth,
        DecisionKind::Channels => PhaseKind::Width,
        DecisionKind::Elastic if dec.path.ends_with(".expand") => PhaseKind::Width,
        // Kernel sizes; `nasl check` admits no other decision kind here.
        _ => PhaseKind::Kernel,
    })
}

/// The phases as written (or OFA's four of `epochs` each) expanded into training steps: depth and
/// width run in sub-steps releasing their two largest values, then three, ... (OFA: depth {4, 3}
/// then {4, 3, 2}); a phase's epochs are split over its sub-steps as OFA's 25 + 120, every sub-step
/// at least one epoch.
pub fn schedule(space: &SearchSpace, phases: &[Phase], default_epochs: usize) -> Vec<Step> {
    let phases: Vec<Phase> = if phases.is_empty() {
        PhaseKind::ALL
            .into_iter()
            .map(|kind| Phase {
                kind,
                epochs: default_epochs,
                lr: None,
                subnets: kind.default_subnets(),
            })
            .collect()
    } else {
        phases.to_vec()
    };
    let n = space.decisions.len();
    let order: Vec<Vec<usize>> = (0..n).map(|d| by_size(space, d)).collect();
    // How many of each decision's options are released so far (largest first).
    let mut count: Vec<usize> = (0..n)
        .map(|d| match released_by(space, d) {
            None => order[d].len(),
            Some(_) => 1,
        })
        .collect();
    let mut steps = Vec::new();
    for (i, ph) in phases.iter().enumerate() {
        let name = ph.kind.name();
        let mine: Vec<usize> = (0..n)
            .filter(|&d| ph.kind != PhaseKind::Full && released_by(space, d) == Some(ph.kind))
            .collect();
        let allowed = |count: &[usize]| -> Vec<Vec<usize>> {
            (0..n).map(|d| order[d][..count[d]].to_vec()).collect()
        };
        match ph.kind {
            PhaseKind::Full | PhaseKind::Kernel => {
                for &d in &mine {
                    count[d] = order[d].len();
                }
                steps.push(Step {
                    tag: format!("p{i}.{name}"),
                    phase: ph.kind,
                    epochs: ph.epochs,
                    lr: ph.lr,
                    allowed: allowed(&count),
                    sort: None,
                    subnets: ph.subnets,
                });
            }
            PhaseKind::Depth | PhaseKind::Width => {
                let most = mine.iter().map(|&d| order[d].len()).max().unwrap_or(1);
                let subs = most.saturating_sub(1).max(1);
                // OFA's depth and width phases: 25 epochs, then 120 (the last sub-step the rest).
                let first = ((ph.epochs as f64 * 25.0 / 145.0).round() as usize).max(1);
                for k in 0..subs {
                    for &d in &mine {
                        count[d] = (k + 2).min(order[d].len());
                    }
                    let epochs = if k + 1 < subs {
                        first
                    } else {
                        ph.epochs.saturating_sub(first * k).max(1)
                    };
                    steps.push(Step {
                        tag: format!("p{i}.{name}.{}", k + 1),
                        phase: ph.kind,
                        epochs,
                        lr: ph.lr,
                        allowed: allowed(&count),
                        sort: (ph.kind == PhaseKind::Width).then_some(k),
                        subnets: ph.subnets,
                    });
                }
            }
        }
    }
    steps
}

/// `progressive_shrinking(space)`.
pub fn progressive_shrinking(ctx: &mut Ctx, stage: &Stage) -> Result<StageResult, ExecError> {
    let StageSpec::ProgressiveShrinking(spec) = &stage.spec else {
        return Err(super::wrong_kind(stage));
    };
    let space_name = stage.space.clone().unwrap_or_default();
    let space = SearchSpace::new(space_of(ctx, stage)?.spec.clone())?;
    // `epochs` sizes the default phases only (`nasl check` refuses it beside `phase` lines).
    let steps = if spec.phases.is_empty() {
        schedule(&space, &[], *spec.training.epochs)
    } else {
        schedule(&space, &spec.phases, 0)
    };
    let distill = *spec.distill;
    let smoothing = *spec.training.label_smoothing;
    tch::manual_seed(ctx.stage_seed(&stage.name) as i64 & i64::MAX);
    let net = Supernet::new(&space, ctx.device())?;
    let data = ctx.data(stage)?;
    let largest: Vec<usize> = (0..space.decisions.len())
        .map(|d| by_size(&space, d)[0])
        .collect();
    let mut teacher: Option<Supernet> = None;
    let mut outs = Vec::new();
    for st in &steps {
        if let Some(k) = st.sort {
            net.sort_channels(k);
        }
        let epochs = smoke_epochs(ctx, st.epochs);
        let seed = super::mix(ctx.stage_seed(&stage.name), super::hash_str(&st.tag));
        let mut fit = Fit::for_stage(ctx, stage, &data, &net.vs, &st.tag, epochs, epochs, seed)?;
        if let Some(lr) = st.lr {
            fit.lr = lr;
        }
        let teach = teacher.as_ref().zip(distill);
        let mut step =
            |x: &Tensor, y: &Tensor, rng: &mut ChaCha8Rng, _t: f64| -> Result<StepOut, ExecError> {
                // One image size per batch, shared by the step's sub-networks and the teacher (OFA
                // resizes the batch); every other decision drawn per sub-network.
                let size: Vec<Option<usize>> = (0..space.decisions.len())
                    .map(|d| {
                        let opts = &st.allowed[d];
                        (space.decisions[d].kind == DecisionKind::Resolution)
                            .then(|| opts[rng.random_range(0..opts.len())])
                    })
                    .collect();
                let teacher = match teach {
                    Some((t, _)) => {
                        let full: Vec<Vec<usize>> = largest
                            .iter()
                            .zip(&size)
                            .map(|(&o, s)| vec![s.unwrap_or(o)])
                            .collect();
                        Some(tch::no_grad(|| {
                            t.forward_mix(x, &Mix::from_options(&full), true)
                        })?)
                    }
                    None => None,
                };
                let targets = match (&teacher, teach) {
                    (Some(logits), Some((_, weight))) => Targets::Teacher { logits, weight },
                    _ => Targets::Labels,
                };
                // Gradients of the sub-networks add up; one optimizer update follows.
                let paths: Vec<Vec<Vec<usize>>> = (0..st.subnets)
                    .map(|_| {
                        st.allowed
                            .iter()
                            .zip(&size)
                            .map(|(opts, s)| {
                                vec![s.unwrap_or_else(|| opts[rng.random_range(0..opts.len())])]
                            })
                            .collect()
                    })
                    .collect();
                paths_step(&net, &space, &paths, x, y, smoothing, &targets)
            };
        let summary = super::train::fit(
            ctx,
            &stage.name,
            fit,
            &net.vs,
            &data.splits.train,
            &mut step,
        )?;
        if st.phase == PhaseKind::Full && distill.is_some() {
            // The teacher: the full phase's network (OFA distils from the trained largest network).
            let t = Supernet::new(&space, ctx.device())?;
            tch::no_grad(|| {
                let src = net.vs.variables();
                for (name, mut v) in t.vs.variables() {
                    if let Some(s) = src.get(&name) {
                        v.copy_(s);
                    }
                }
            });
            teacher = Some(t);
        }
        outs.push(PhaseOut {
            tag: st.tag.clone(),
            released: st.allowed.iter().map(Vec::len).collect(),
            subnets: st.subnets,
            train: summary,
        });
    }
    let weights = save_weights(ctx, &stage.name, "supernet.safetensors", &net)?;
    let last = outs.last().map(|o| o.train.clone());
    let seconds: f64 = outs.iter().map(|o| o.train.seconds).sum();
    let out = SupernetOut {
        space: space_name,
        parts: vec![Part {
            prefix: vec![],
            weights,
        }],
        sampler: "progressive_shrinking".into(),
        final_loss: last.as_ref().map(|s| s.final_loss),
        final_accuracy: last.as_ref().map(|s| s.final_accuracy),
        train: last,
        finetune: vec![],
        affine: true,
        train_seconds: Some(seconds),
        supernet_params: Some(net.num_params()),
        sub_supernets: None,
        phases: outs,
    };
    Ok(StageResult::Supernet(out))
}
