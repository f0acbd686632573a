//! Supernet training (`train` on a space with decisions) with the one-shot sampling policies: uniform
//! single path (SPOS, RandomNAS), uniform within a cost range (SPOS constraint sampling), strict
//! fairness (FairNAS: m paths per step, gradients accumulated, one update), the sandwich rule
//! (BigNAS: the largest, the smallest and random paths per step, optionally distilled from the
//! largest), with a cell space's random paths drawn per edge, without dead nodes or per isomorphism
//! class (`sample_over`, `search::cells`); and few-shot splitting into sub-supernets that start from
//! the trained supernet and are fine-tuned on their part.

use std::collections::HashMap;

use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use tch::Tensor;

use super::error::ExecError;
use super::piece::Work;
use super::result::{Part, StageResult, SupernetOut};
use super::train::{Fit, StepOut, TrainSummary, copy_into, loss_and_correct};
use super::{Ctx, space_of, stage_input};
use crate::compile::{Mix, Supernet, drop_paths};
use crate::cost::arch_cost;
use crate::ir::{Arch, SearchSpace, SpaceSpec};
use crate::search::cells::{CellDraw, Over, extremes, is_none};
use crate::search::sample;
use crate::sema::hir::Stage;
use crate::sema::spec::{Sampler, StageSpec};

/// The trained supernet a stage reads (its only stage input) and the stage's space; `usage` shows
/// how to write the stage when the input is missing.
pub fn supernet_input(
    ctx: &Ctx,
    stage: &Stage,
    usage: &str,
) -> Result<(SupernetOut, SearchSpace), ExecError> {
    let (input, _) = stage_input(stage).ok_or_else(|| {
        ExecError::setting(
            &stage.name,
            "the stage needs a trained supernet as input",
            format!("write `{usage}`"),
        )
    })?;
    supernet_named(ctx, stage, input)
}

/// The trained supernet of the stage `input` and its space, built as the supernet was trained.
pub fn supernet_named(
    ctx: &Ctx,
    stage: &Stage,
    input: &str,
) -> Result<(SupernetOut, SearchSpace), ExecError> {
    let supernet = ctx.supernet_of(input, &stage.name)?.clone();
    let space = SearchSpace::new(with_affine(&space_of(ctx, stage)?.spec, supernet.affine))?;
    Ok((supernet, space))
}

/// `spec` with affine batch norms in its cell edges or not (chains keep their own norms; `nasl
/// check` admits `affine` on cell spaces only).
pub fn with_affine(spec: &SpaceSpec, affine: bool) -> SpaceSpec {
    let mut spec = spec.clone();
    if let SpaceSpec::Cell(c) = &mut spec {
        c.affine = c.affine && affine;
    }
    spec
}

/// Number of options of each decision.
pub fn choices(space: &SearchSpace) -> Vec<usize> {
    space.decisions.iter().map(|d| d.labels.len()).collect()
}

/// A supernet training's sampler (sema's typed `sampler`) with the latency table that a
/// `constrained(latency: ..)` range needs, the cell draws of `sample_over` (`None` for `edges`),
/// and the sandwich rule's largest and smallest paths.
struct Drawer<'a> {
    sampler: &'a Sampler,
    latency: Option<crate::compile::latency::LatencyTable>,
    cells: Option<CellDraw>,
    extremes: Option<(Vec<usize>, Vec<usize>)>,
}

/// The sandwich rule's largest and smallest architecture of `space` with the leading decisions
/// fixed to `prefix`: by MACs, then parameters (`cost::arch_cost`), the smallest never `none`.
pub fn sandwich_extremes(
    space: &SearchSpace,
    prefix: &[usize],
) -> Result<(Vec<usize>, Vec<usize>), ExecError> {
    let cost = |g: &Vec<usize>| {
        Arch::from_indices(space, g)
            .and_then(|a| arch_cost(space, &a))
            .map(|c| (c.macs as f64, c.params as f64))
            .unwrap_or((f64::NAN, f64::NAN))
    };
    let skip = |d: usize, o: usize| is_none(&space.decisions[d].labels[o]);
    Ok(extremes(&choices(space), prefix, skip, cost))
}

impl<'a> Drawer<'a> {
    fn new(
        ctx: &Ctx,
        stage: &Stage,
        space: &SearchSpace,
        prefix: &[usize],
        sampler: &'a Sampler,
        over: Over,
    ) -> Result<Self, ExecError> {
        let cells = match over {
            Over::Edges => None,
            _ => Some(CellDraw::new(space, over, prefix).map_err(|m| {
                ExecError::setting(
                    &stage.name,
                    m,
                    "use `sample_over live` or `edges`, or a smaller cell",
                )
            })?),
        };
        let extremes = match sampler {
            Sampler::Sandwich { .. } => Some(sandwich_extremes(space, prefix)?),
            _ => None,
        };
        Ok(Drawer {
            sampler,
            latency: super::latency::table_if_wanted(ctx, stage, space)?,
            cells,
            extremes,
        })
    }

    /// One uniformly random path: per decision, or by the cell rule of `sample_over`.
    fn random(
        &self,
        prefix: &[usize],
        ch: &[usize],
        rng: &mut ChaCha8Rng,
        stage: &str,
    ) -> Result<Vec<usize>, ExecError> {
        match &self.cells {
            None => Ok(
                sample::with_prefix(prefix, ch, rng).unwrap_or_else(|| sample::uniform(ch, rng))
            ),
            Some(c) => c.draw(rng).ok_or_else(|| ExecError::Search {
                stage: stage.to_string(),
                message: "`sample_over live` found no cell without dead nodes in 10,000 draws"
                    .into(),
                help: "use `sample_over classes` or `edges`".into(),
            }),
        }
    }

    /// The paths of one step, each as per-decision option lists (one option per decision, except
    /// path dropout's layers); `prefix` fixes the leading decisions (few-shot parts).
    fn draw(
        &self,
        space: &SearchSpace,
        prefix: &[usize],
        rng: &mut ChaCha8Rng,
        stage: &str,
        t: f64,
    ) -> Result<Vec<Vec<Vec<usize>>>, ExecError> {
        if let Sampler::PathDropout { rate, keep } = self.sampler {
            let mut options = drop_paths(space, rate.at(t), *keep, rng);
            for (d, &o) in prefix.iter().enumerate() {
                options[d] = vec![o];
            }
            return Ok(vec![options]);
        }
        let single = |g: Vec<usize>| g.into_iter().map(|o| vec![o]).collect::<Vec<_>>();
        Ok(self
            .draw_single(space, prefix, rng, stage)?
            .into_iter()
            .map(single)
            .collect())
    }

    /// The single-path samplers: one option index per decision, per path.
    fn draw_single(
        &self,
        space: &SearchSpace,
        prefix: &[usize],
        rng: &mut ChaCha8Rng,
        stage: &str,
    ) -> Result<Vec<Vec<usize>>, ExecError> {
        let ch = choices(space);
        let fix = |mut g: Vec<usize>| {
            g[..prefix.len()].copy_from_slice(prefix);
            g
        };
        Ok(match self.sampler {
            Sampler::Uniform | Sampler::PathDropout { .. } => {
                vec![self.random(prefix, &ch, rng, stage)?]
            }
            Sampler::Sandwich { random, .. } => {
                let (largest, smallest) = self.extremes.clone().unwrap_or_default();
                let mut paths = vec![largest, smallest];
                for _ in 0..*random {
                    paths.push(self.random(prefix, &ch, rng, stage)?);
                }
                paths
            }
            Sampler::Fair => sample::fair(&ch, rng).into_iter().map(fix).collect(),
            Sampler::Constrained {
                flops,
                params,
                latency_ms,
                tries,
            } => {
                let accept = |g: &Vec<usize>| {
                    let Ok(arch) = Arch::from_indices(space, &fix(g.clone())) else {
                        return false;
                    };
                    let Ok(cost) = arch_cost(space, &arch) else {
                        return false;
                    };
                    let inside =
                        |r: &Option<(f64, f64)>, v: f64| r.is_none_or(|(a, b)| v >= a && v <= b);
                    let fast = match (latency_ms, &self.latency) {
                        (Some(range), Some(table)) => table
                            .predict(space, &fix(g.clone()))
                            .is_ok_and(|ms| inside(&Some(*range), ms)),
                        (Some(_), None) => false,
                        (None, _) => true,
                    };
                    inside(flops, cost.macs as f64) && inside(params, cost.params as f64) && fast
                };
                match sample::constrained(&ch, rng, *tries, accept) {
                    Some(g) => vec![fix(g)],
                    None => {
                        return Err(ExecError::Search {
                            stage: stage.to_string(),
                            message: format!(
                                "no architecture inside the sampler's range after {tries} tries"
                            ),
                            help: "widen the `constrained(...)` range or raise `tries`".into(),
                        });
                    }
                }
            }
        })
    }
}

/// The op paths (weight prefixes) a network trains: its ops whose value reaches the output. An op
/// nothing reads (the preprocessing of a cell input that no chosen edge reads) gets no gradient, so
/// it is not updated, as PyTorch skips a parameter without a gradient; counting it would let weight
/// decay and momentum move it in one process and not in a resumed one (whose gradient is undefined).
/// A `none` edge reads its input only for its shape (its zeros carry no gradient), so an op read
/// only through `none` edges is not trained either.
pub fn op_paths(net: &crate::ir::Net) -> Vec<String> {
    let mut live = vec![false; net.nodes.len()];
    if let Some(last) = live.last_mut() {
        *last = true;
    }
    let zero = |i: usize| matches!(&net.nodes[i].kind, crate::ir::NetKind::Op(op) if op.kind == crate::catalog::OpKind::Zero);
    for i in (0..net.nodes.len()).rev() {
        if live[i] && !zero(i) {
            for &j in &net.nodes[i].inputs {
                live[j] = true;
            }
        }
    }
    net.nodes
        .iter()
        .zip(live)
        .filter(|(n, live)| *live && matches!(n.kind, crate::ir::NetKind::Op(_)))
        .map(|(n, _)| n.path.clone())
        .collect()
}

/// Epochs of a training stage (at most one in smoke runs).
pub fn smoke_epochs(ctx: &Ctx, epochs: usize) -> usize {
    if ctx.info.smoke {
        epochs.min(1)
    } else {
        epochs
    }
}

/// Trains `net` (a supernet, possibly restricted to a few-shot part) with the stage's sampler.
#[allow(clippy::too_many_arguments)]
fn train_supernet(
    ctx: &mut Ctx,
    stage: &Stage,
    space: &SearchSpace,
    net: &Supernet,
    prefix: &[usize],
    tag: &str,
    epochs: usize,
    sampler: &Sampler,
    over: Over,
) -> Result<TrainSummary, ExecError> {
    let data = ctx.data(stage)?;
    let seed = super::mix(ctx.stage_seed(&stage.name), super::hash_str(tag));
    let fit = Fit::for_stage(ctx, stage, &data, &net.vs, tag, epochs, epochs, seed)?;
    let targets = if matches!(sampler, Sampler::Sandwich { distill: true, .. }) {
        Targets::FirstPath
    } else {
        Targets::Labels
    };
    let sampler = Drawer::new(ctx, stage, space, prefix, sampler, over)?;
    let smoothing = *super::training(stage)?.label_smoothing;
    let name = stage.name.clone();
    let mut step =
        |x: &Tensor, y: &Tensor, rng: &mut ChaCha8Rng, t: f64| -> Result<StepOut, ExecError> {
            let paths = sampler.draw(space, prefix, rng, &name, t)?;
            paths_step(net, space, &paths, x, y, smoothing, &targets)
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

/// One supernet training step without the update: forward and backward of every path (per decision
/// its option list), gradients accumulated; the returned `active` lists the op paths the paths used,
/// which the optimizer update is restricted to (`train::is_active`).
pub fn supernet_step(
    net: &Supernet,
    space: &SearchSpace,
    paths: &[Vec<Vec<usize>>],
    x: &Tensor,
    y: &Tensor,
    smoothing: f64,
) -> Result<StepOut, ExecError> {
    paths_step(net, space, paths, x, y, smoothing, &Targets::Labels)
}

/// What the paths of a step learn besides, or instead of, the labels.
pub enum Targets<'a> {
    /// The labels alone.
    Labels,
    /// In-place distillation (BigNAS): the first path (the sandwich's largest) learns the labels,
    /// the others its detached output, by [`soft_target_loss`] alone.
    FirstPath,
    /// The labels, plus `weight` times [`soft_target_loss`] against a teacher's logits (OFA).
    Teacher { logits: &'a Tensor, weight: f64 },
}

/// The soft-target distillation loss (OFA's `cross_entropy_loss_with_soft_target`): the batch mean of
/// the cross-entropy between the teacher's softmax and the student's log-softmax.
pub fn soft_target_loss(student: &Tensor, teacher: &Tensor) -> Tensor {
    let target = teacher.softmax(-1, tch::Kind::Float);
    (-(target * student.log_softmax(-1, tch::Kind::Float)))
        .sum_dim_intlist([1i64].as_slice(), false, tch::Kind::Float)
        .mean(tch::Kind::Float)
}

/// [`supernet_step`] with the paths learning `targets`: per path a forward and a backward, the
/// gradients adding up for one update. The reported loss is each path's training loss.
pub(super) fn paths_step(
    net: &Supernet,
    space: &SearchSpace,
    paths: &[Vec<Vec<usize>>],
    x: &Tensor,
    y: &Tensor,
    smoothing: f64,
    targets: &Targets,
) -> Result<StepOut, ExecError> {
    let mut out = StepOut {
        loss: 0.0,
        correct: 0,
        n: 0,
        active: Some(Vec::new()),
    };
    let mut first: Option<Tensor> = None;
    for options in paths {
        let logits = net.forward_mix(x, &Mix::from_options(options), true)?;
        let (mut loss, correct) = loss_and_correct(&logits, y, smoothing);
        match targets {
            Targets::Labels => {}
            Targets::FirstPath => match &first {
                None => first = Some(logits.detach()),
                Some(t) => loss = soft_target_loss(&logits, t),
            },
            // Not `+=`: out of place, as the label loss's own backward may need its value.
            #[allow(clippy::assign_op_pattern)]
            Targets::Teacher { logits: t, weight } => {
                loss = loss + soft_target_loss(&logits, t) * *weight;
            }
        }
        loss.backward();
        let b = y.size()[0];
        out.loss += loss.double_value(&[]) * b as f64;
        out.correct += correct;
        out.n += b;
        if let Some(a) = &mut out.active {
            a.extend(active_weights(net, &space.net_from_mix(options)?.0));
        }
    }
    Ok(out)
}

/// The weights a step on `net` (a network of `sup`'s space) trains, for the optimizer's update
/// (`train::is_active`): its live ops' paths, except that an op holding kernel transformation
/// matrices the network does not use is listed by its other variables' names (those matrices get
/// no gradient; updating them by momentum would make a resumed run differ from an uninterrupted one).
pub fn active_weights(sup: &Supernet, net: &crate::ir::Net) -> Vec<String> {
    let paths = op_paths(net);
    let idle = sup.idle_kernel_transforms(net);
    if idle.is_empty() {
        return paths;
    }
    let names: Vec<String> = sup.vs.variables().into_keys().collect();
    let mut out = Vec::new();
    for p in paths {
        let under =
            |n: &String| n.len() > p.len() && n.starts_with(&p) && n.as_bytes()[p.len()] == b'.';
        if idle.iter().any(under) {
            out.extend(
                names
                    .iter()
                    .filter(|n| under(n) && !idle.contains(n))
                    .cloned(),
            );
        } else {
            out.push(p);
        }
    }
    out
}

pub(super) fn save_weights(
    ctx: &Ctx,
    stage: &str,
    file: &str,
    net: &Supernet,
) -> Result<String, ExecError> {
    let dir = ctx.dir.stage_dir(stage)?;
    let path = dir.join(file);
    let mut named: Vec<(String, Tensor)> = net.vs.variables().into_iter().collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    crate::atomic::write_with(&path, |tmp| {
        Tensor::write_safetensors(&named, tmp).map_err(|e| std::io::Error::other(e.to_string()))
    })
    .map_err(|e| ExecError::io(&path, e))?;
    Ok(format!("stages/{stage}/{file}"))
}

/// Loads a supernet part's weights.
pub fn load_supernet(
    ctx: &Ctx,
    space: &SearchSpace,
    part: &Part,
    stage: &str,
) -> Result<Supernet, ExecError> {
    let net = Supernet::new(space, ctx.device())?;
    let path = ctx.dir.root.join(&part.weights);
    let saved: HashMap<String, Tensor> = Tensor::read_safetensors(&path)
        .map_err(|e| ExecError::Resume {
            dir: ctx.dir.root.clone(),
            message: format!("cannot read {}: {e}", path.display()),
            help: "the run directory is damaged; start a new run".into(),
        })?
        .into_iter()
        .collect();
    copy_into(&net.vs, &saved, stage)?;
    Ok(net)
}

/// `train` on a space with decisions: a supernet.
pub fn train(ctx: &mut Ctx, stage: &Stage) -> Result<StageResult, ExecError> {
    let space_name = stage.space.clone().unwrap_or_default();
    // `affine false`: batch norms without scale and shift in the cell edges (DARTS' search-time
    // norms); `nasl check` admits it on cell supernets only.
    let StageSpec::Train(spec) = &stage.spec else {
        return Err(super::wrong_kind(stage));
    };
    let affine = *spec.affine;
    let space = SearchSpace::new(with_affine(&space_of(ctx, stage)?.spec, affine))?;
    let epochs = smoke_epochs(ctx, *spec.training.epochs);
    tch::manual_seed(ctx.stage_seed(&stage.name) as i64 & i64::MAX);
    let mut net = Supernet::new(&space, ctx.device())?;
    net.dropout = *spec.training.dropout;
    let sampler = spec.sampler.clone_value();
    let over = *spec.sample_over;
    let summary = train_supernet(
        ctx,
        stage,
        &space,
        &net,
        &[],
        &stage.name,
        epochs,
        &sampler,
        over,
    )?;
    let weights = save_weights(ctx, &stage.name, "supernet.safetensors", &net)?;
    let out = SupernetOut {
        space: space_name,
        parts: vec![Part {
            prefix: vec![],
            weights,
        }],
        sampler: sampler.name().into(),
        train: Some(summary.clone()),
        finetune: vec![],
        affine,
        final_loss: Some(summary.final_loss),
        final_accuracy: Some(summary.final_accuracy),
        train_seconds: Some(summary.seconds),
        supernet_params: Some(net.num_params()),
        sub_supernets: None,
        phases: vec![],
    };
    Ok(StageResult::Supernet(out))
}

/// `few_shot`: splits the trained supernet on its first `split_on` decisions into one sub-supernet
/// per combination of their options (Zhao et al. 2021), each initialised from the supernet and
/// fine-tuned with the stage's sampler restricted to its part.
pub fn few_shot(ctx: &mut Ctx, stage: &Stage) -> Result<StageResult, ExecError> {
    let (parent, space) = supernet_input(ctx, stage, "few_shot(supernet)")?;
    let ch = choices(&space);
    let StageSpec::FewShot(spec) = &stage.spec else {
        return Err(super::wrong_kind(stage));
    };
    // `nasl check` bounds the split (sema::contract::few_shot_parts).
    let split_on = *spec.split_on;
    let prefixes = crate::ir::graph::combos(
        &ch[..split_on]
            .iter()
            .map(|&n| (0..n).collect::<Vec<usize>>())
            .collect::<Vec<_>>(),
    );
    let epochs = smoke_epochs(ctx, *spec.finetune);
    let sampler = spec.sampler.clone_value();
    // Each sub-supernet inherits the parent's weights and trains on its own: a piece (local
    // workers or Slurm tasks), seeded by its tag.
    let work: Vec<(String, Work)> = prefixes
        .iter()
        .enumerate()
        .map(|(index, prefix)| {
            let work = Work::FewShotPart {
                index,
                prefix: prefix.clone(),
                epochs,
            };
            (format!("part{index}"), work)
        })
        .collect();
    let mut parts = Vec::new();
    let mut finetune = Vec::new();
    for (i, v) in ctx.pieces(stage, work)?.into_iter().enumerate() {
        let (part, summary): (Part, TrainSummary) =
            serde_json::from_value(v).map_err(|e| ExecError::Resume {
                dir: ctx.dir.root.clone(),
                message: format!("the record of part{i} is not a trained sub-supernet: {e}"),
                help: "delete the stage's folder under stages/ to redo the stage".into(),
            })?;
        parts.push(part);
        finetune.push(summary);
    }
    let out = SupernetOut {
        space: parent.space,
        sub_supernets: Some(parts.len()),
        parts,
        sampler: sampler.name().into(),
        train: None,
        finetune,
        affine: parent.affine,
        ..SupernetOut::default()
    };
    Ok(StageResult::Supernet(out))
}

/// Sub-supernet `index` of a `few_shot` stage as a piece: the input supernet's weights, trained on
/// the architectures that start with `prefix` for `epochs`, saved as `part<index>.safetensors`.
pub fn few_shot_part(
    ctx: &mut Ctx,
    stage: &Stage,
    index: usize,
    prefix: &[usize],
    epochs: usize,
) -> Result<(Part, TrainSummary), ExecError> {
    let (parent, space) = supernet_input(ctx, stage, "few_shot(supernet)")?;
    let StageSpec::FewShot(spec) = &stage.spec else {
        return Err(super::wrong_kind(stage));
    };
    let sampler = spec.sampler.clone_value();
    let over = *spec.sample_over;
    let base = parent.parts.first().cloned().ok_or_else(|| {
        ExecError::setting(
            &stage.name,
            "the input supernet has no weights",
            "train it first",
        )
    })?;
    let tag = format!("part{index}");
    let mut net = load_supernet(ctx, &space, &base, &stage.name)?;
    net.dropout = *spec.training.dropout;
    let summary = train_supernet(
        ctx, stage, &space, &net, prefix, &tag, epochs, &sampler, over,
    )?;
    let weights = save_weights(ctx, &stage.name, &format!("{tag}.safetensors"), &net)?;
    Ok((
        Part {
            prefix: prefix.to_vec(),
            weights,
        },
        summary,
    ))
}

/// A uniformly random option index per decision (used where no sampler is configured).
pub fn random_genome(space: &SearchSpace, rng: &mut impl RngExt) -> Vec<usize> {
    space
        .decisions
        .iter()
        .map(|d| rng.random_range(0..d.labels.len()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn sandwich_steps_hold_the_largest_and_the_smallest_path() {
        let space = SearchSpace::new(crate::ir::examples::darts_search()).unwrap();
        let labels = |g: &[usize]| -> Vec<String> {
            g.iter()
                .enumerate()
                .map(|(d, &o)| space.decisions[d].labels[o].clone())
                .collect()
        };
        let (largest, smallest) = sandwich_extremes(&space, &[]).unwrap();
        // The largest: the costliest op on every edge, the same everywhere; the smallest never
        // `none` (which would disconnect the cell) and cheaper on every edge.
        let big = labels(&largest);
        assert!(big.iter().all(|l| *l == big[0]), "{big:?}");
        assert!(
            big[0].starts_with("sep_conv") || big[0].starts_with("dil_conv"),
            "{big:?}"
        );
        let small = labels(&smallest);
        assert!(!small.iter().any(|l| is_none(l)), "{small:?}");
        let cost = |g: &[usize]| {
            let c = arch_cost(&space, &Arch::from_indices(&space, g).unwrap()).unwrap();
            (c.macs, c.params)
        };
        let (lc, sc) = (cost(&largest), cost(&smallest));
        assert!(lc.0 > sc.0 && lc.1 > sc.1, "{lc:?} {sc:?}");
        // Each step holds both, then the random paths, none costlier than the largest (a random
        // path may be cheaper than the smallest: it may hold `none` edges).
        let sampler = Sampler::Sandwich {
            random: 2,
            distill: false,
        };
        let drawer = Drawer {
            sampler: &sampler,
            latency: None,
            cells: Some(CellDraw::new(&space, Over::Live, &[]).unwrap()),
            extremes: Some((largest.clone(), smallest.clone())),
        };
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for _ in 0..20 {
            let paths = drawer.draw_single(&space, &[], &mut rng, "s").unwrap();
            assert_eq!(paths.len(), 4);
            assert_eq!((&paths[0], &paths[1]), (&largest, &smallest));
            for p in &paths[2..] {
                let c = cost(p);
                assert!(c.0 <= lc.0, "{c:?} {lc:?}");
            }
        }
        // A few-shot prefix stays fixed in both extremes.
        let none = space.decisions[0]
            .labels
            .iter()
            .position(|l| is_none(l))
            .unwrap();
        let (l, s) = sandwich_extremes(&space, &[none]).unwrap();
        assert_eq!((l[0], s[0]), (none, none));
    }
}
