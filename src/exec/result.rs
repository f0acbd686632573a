//! What a finished stage hands on: one typed value per stage kind (`StageResult`), built by the
//! stage's executor, read by the stages that take it as input through typed accessors, and kept in
//! `state.json` (its serialized form, decoded again by stage kind when a run resumes).
//!
//! The serialized form is the run directory's public record (`state.json`, `summary.json`, the
//! report): every field keeps the name and shape it has there.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::train::TrainSummary;
use crate::ir::Arch;
use crate::sema::hir::{Stage, StageKind, Value};
use crate::sema::spec::{Algorithm, StageSpec};

/// The result of one finished stage.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(untagged)]
pub enum StageResult {
    /// `train` of a space with decisions, `few_shot`.
    Supernet(SupernetOut),
    /// `train` of a fixed network, `retrain`.
    Models(ModelsOut),
    /// Every search: the common part (`best`, `top`, `pareto`, candidates) and what the method adds.
    Search(Searched),
    /// `evaluate`.
    Evaluation(Evaluation),
    /// `rank`.
    Rank(RankOut),
}

/// A search's result: what every search produces and what its method adds.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Searched {
    #[serde(flatten)]
    pub out: SearchOut,
    #[serde(flatten)]
    pub method: Method,
}

/// What a search method adds to the common search result.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(untagged)]
pub enum Method {
    /// Evolution, random search and NSGA-II on a supernet.
    Sampling(Sampling),
    /// Successive halving: the common part alone.
    Halving {},
    Differentiable(Box<Differentiable>),
    Enas(Box<Enas>),
    Mnas(Mnas),
    Hypernet(Hypernet),
}

/// Evolution, random search, NSGA-II.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Sampling {
    /// Per generation of an evolution (the report's best-per-generation plot).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generations: Option<Vec<Generation>>,
    /// Evolution with OFA's accuracy predictor: its fit and use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predictor: Option<PredictorOut>,
}

/// One generation of an evolution.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Generation {
    pub generation: usize,
    /// New candidates evaluated in it.
    pub evaluated: usize,
    pub best: f64,
    pub best_so_far: f64,
}

/// A finished training's headline figures.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Trained {
    pub final_loss: f64,
    pub final_accuracy: f64,
    pub train: TrainSummary,
}

impl Trained {
    pub fn of(summary: &TrainSummary) -> Trained {
        Trained {
            final_loss: summary.final_loss,
            final_accuracy: summary.final_accuracy,
            train: summary.clone(),
        }
    }
}

/// Differentiable search (DARTS family).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Differentiable {
    pub penalties: Vec<PenaltyRow>,
    /// The supernet weights the search trained, for `evaluate(search.best)`.
    pub supernet_weights: SupernetOut,
    pub relax: String,
    pub level: String,
    pub derive: String,
    /// The architecture distribution at the end, per decision path.
    pub final_probs: BTreeMap<String, Vec<f64>>,
    /// The distribution's trajectory files, relative to the run directory.
    pub trajectory: Trajectory,
    pub search_seconds: f64,
    #[serde(flatten)]
    pub trained: Trained,
}

/// Where a differentiable search's trajectory was written.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Trajectory {
    pub json: String,
    pub svg: String,
}

/// A resource penalty of a differentiable search: its form and its value.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PenaltyRow {
    pub metric: String,
    pub form: String,
    pub weight: f64,
    pub exponent: f64,
    /// `ms` for latency, `millions` for MACs and parameters.
    pub unit: String,
    /// Under the final distribution.
    pub expected: f64,
    /// Of the derived architecture.
    pub derived: Option<f64>,
}

/// ENAS: shared weights and a controller.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Enas {
    pub mode: String,
    pub algorithm: Algorithm,
    pub controller_updates: usize,
    /// How many sampled architectures the derivation scored.
    pub derived_from: usize,
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub trained: Option<Trained>,
    /// The shared weights' file, relative to the run directory.
    pub supernet: String,
    /// The shared weights, for `evaluate(search.best)`.
    pub supernet_weights: SupernetOut,
}

/// MnasNet: stand-alone children and a controller.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Mnas {
    pub mode: String,
    pub algorithm: Algorithm,
    pub children: usize,
    pub proxy_epochs: usize,
    /// The best child's reward and latency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reward: Option<f64>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub latency_ms: Option<Option<f64>>,
    pub rounds: Vec<Round>,
    pub samples: Vec<ChildRow>,
}

/// One controller round of MnasNet.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Round {
    pub round: usize,
    pub reward: f64,
    pub best_reward: f64,
}

/// One trained MnasNet child.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChildRow {
    pub arch: Arch,
    pub accuracy: f64,
    pub reward: f64,
    pub latency_ms: Option<f64>,
}

/// SMASH: a hypernetwork.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Hypernet {
    /// The hypernetwork's weights, relative to the run directory.
    pub hypernet: String,
    pub hidden: i64,
    /// Weights the hypernetwork generates.
    pub generated_params: u64,
    #[serde(flatten)]
    pub trained: Trained,
}

/// What `evaluate` reports.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Evaluation {
    pub dataset: String,
    pub split: String,
    /// Mean accuracy (of member 0's seeds, or of the sampled paths).
    pub accuracy: f64,
    /// The same figure under `<split>_accuracy` (`test_accuracy`, ...), one entry.
    #[serde(flatten, deserialize_with = "split_accuracy")]
    pub by_split: BTreeMap<String, f64>,
    /// Per seed, or per sampled path.
    pub accuracies: Vec<f64>,
    pub std: f64,
    pub loss: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seeds: Option<Vec<i64>>,
    /// One row per member of a `.top`/`.pareto` retrain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members: Option<Vec<EvaluatedMember>>,
    /// `supernet` when the weights are a supernet's rather than a trained model's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<String>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub recalibrate_images: Option<Option<usize>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub macs: Option<u64>,
    /// `evaluate(supernet)`: the spread over sampled paths and each path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paths: Option<Vec<EvaluatedPath>>,
}

impl Evaluation {
    /// An evaluation of `accuracies` on `dataset.split`, the mean as its headline.
    pub fn new(dataset: &str, split: &str, accuracies: Vec<f64>, loss: f64) -> Evaluation {
        let n = accuracies.len().max(1) as f64;
        let mean = accuracies.iter().sum::<f64>() / n;
        let std = (accuracies.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / n).sqrt();
        Evaluation {
            dataset: dataset.to_string(),
            split: split.to_string(),
            accuracy: mean,
            by_split: BTreeMap::from([(format!("{split}_accuracy"), mean)]),
            accuracies,
            std,
            loss,
            images: None,
            batch: None,
            seeds: None,
            members: None,
            weights: None,
            recalibrate_images: None,
            params: None,
            macs: None,
            min: None,
            max: None,
            paths: None,
        }
    }
}

/// One member's row of an evaluation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EvaluatedMember {
    pub member: usize,
    /// The member's mean accuracy under `<split>_accuracy`.
    #[serde(flatten, deserialize_with = "split_accuracy")]
    pub by_split: BTreeMap<String, f64>,
    pub std: f64,
    pub loss: f64,
    pub params: Option<i64>,
    pub macs: Option<u64>,
}

/// One sampled path of `evaluate(supernet)`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EvaluatedPath {
    pub arch: Arch,
    pub accuracy: f64,
    pub loss: f64,
}

/// A rank correlation and its bootstrap interval.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Measured {
    pub value: Option<f64>,
    pub ci: Option<[f64; 2]>,
}

/// Kendall's tau and Spearman's rho of one comparison.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Correlation {
    pub kendall_tau: Measured,
    pub spearman_rho: Measured,
}

/// One input supernet's ranking quality.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SupernetRank {
    pub supernet: String,
    #[serde(flatten)]
    pub correlation: Correlation,
}

/// What `rank` reports: the first input's tau and rho (the headline), every input's, the
/// seed-to-seed ceiling and the samples they come from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RankOut {
    pub kendall_tau: Option<f64>,
    pub spearman_rho: Option<f64>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub kendall_tau_ci: Option<Option<[f64; 2]>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub spearman_rho_ci: Option<Option<[f64; 2]>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supernets: Option<Vec<SupernetRank>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub ceiling: Option<Option<Correlation>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub seeds: Option<Option<Vec<i64>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap_resamples: Option<usize>,
    pub architectures: usize,
    pub standalone_epochs: usize,
    pub recalibrate_images: Option<usize>,
    /// `generated by the hypernetwork` when ranking a hypernetwork.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<String>,
    pub samples: Vec<RankSample>,
}

/// A finished stage as `state.json` keeps it: its result, its wall time and the settings it applied.
#[derive(Serialize)]
pub struct Record<'a> {
    #[serde(flatten)]
    pub result: &'a StageResult,
    pub seconds: f64,
    /// Every setting the stage read (the contract test checks each accepted setting shows up here).
    pub settings: BTreeMap<String, Value>,
}

impl StageResult {
    /// The serialized form (what `state.json` and `summary.json` hold).
    pub fn to_json(&self) -> Json {
        serde_json::to_value(self).unwrap_or(Json::Null)
    }

    /// Reads back a result that `stage` wrote (its kind says which value it is); the error says
    /// what does not fit.
    pub fn decode(stage: &Stage, v: &Json) -> Result<StageResult, String> {
        fn read<T: for<'de> Deserialize<'de>>(v: &Json) -> Result<T, serde_json::Error> {
            serde_json::from_value(v.clone())
        }
        let searched = |method: Method| -> Result<StageResult, serde_json::Error> {
            Ok(StageResult::Search(Searched {
                out: read(v)?,
                method,
            }))
        };
        let decoded = match stage.kind {
            StageKind::Train if v.get("models").is_some() => read(v).map(StageResult::Models),
            StageKind::Train | StageKind::FewShot | StageKind::ProgressiveShrinking => {
                read(v).map(StageResult::Supernet)
            }
            StageKind::Retrain => read(v).map(StageResult::Models),
            StageKind::Evaluate => read(v).map(StageResult::Evaluation),
            StageKind::Rank => read(v).map(StageResult::Rank),
            StageKind::Evolution | StageKind::RandomSearch | StageKind::Nsga2 => {
                read(v).and_then(|m| searched(Method::Sampling(m)))
            }
            StageKind::SuccessiveHalving => searched(Method::Halving {}),
            StageKind::Differentiable => {
                read(v).and_then(|m| searched(Method::Differentiable(Box::new(m))))
            }
            StageKind::Rl => match &stage.spec {
                StageSpec::Rl(spec) if !*spec.shared => {
                    read(v).and_then(|m| searched(Method::Mnas(m)))
                }
                _ => read(v).and_then(|m| searched(Method::Enas(Box::new(m)))),
            },
            StageKind::Hypernet => read(v).and_then(|m| searched(Method::Hypernet(m))),
        };
        decoded.map_err(|e| e.to_string())
    }

    /// A search's result (`.best`, `.top`, `.pareto`).
    pub fn search(&self) -> Option<&SearchOut> {
        match self {
            StageResult::Search(s) => Some(&s.out),
            _ => None,
        }
    }

    /// The supernet weights a stage holds: a trained supernet's, or those a differentiable or ENAS
    /// search trained itself.
    pub fn supernet(&self) -> Option<&SupernetOut> {
        match self {
            StageResult::Supernet(s) => Some(s),
            StageResult::Search(Searched { method, .. }) => match method {
                Method::Differentiable(d) => Some(&d.supernet_weights),
                Method::Enas(e) => Some(&e.supernet_weights),
                _ => None,
            },
            _ => None,
        }
    }

    /// Trained models (`retrain`, `train` of a fixed network).
    pub fn models(&self) -> Option<&ModelsOut> {
        match self {
            StageResult::Models(m) => Some(m),
            _ => None,
        }
    }

    /// A hypernetwork's weights file (SMASH).
    pub fn hypernet(&self) -> Option<&str> {
        match self {
            StageResult::Search(Searched {
                method: Method::Hypernet(h),
                ..
            }) => Some(&h.hypernet),
            _ => None,
        }
    }
}

/// A trained supernet: one weight file, or one per few-shot part (the option indices its first
/// decisions are fixed to).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SupernetOut {
    pub space: String,
    pub parts: Vec<Part>,
    pub sampler: String,
    pub train: Option<TrainSummary>,
    #[serde(default)]
    pub finetune: Vec<TrainSummary>,
    /// Whether the supernet's cell edges have affine batch norms (`affine false`: without scale and
    /// shift); whoever loads its weights builds the space alike.
    #[serde(default = "yes")]
    pub affine: bool,
    /// A trained supernet's headline figures (absent for few-shot parts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_loss: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_accuracy: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_seconds: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supernet_params: Option<i64>,
    /// `few_shot`: how many sub-supernets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_supernets: Option<usize>,
    /// `progressive_shrinking`: each phase (or sub-step) in the order trained.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phases: Vec<PhaseOut>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Part {
    pub prefix: Vec<usize>,
    /// Relative to the run directory.
    pub weights: String,
}

impl SupernetOut {
    /// The part whose prefix an architecture (as option indices) matches.
    pub fn part_for(&self, genome: &[usize]) -> Option<&Part> {
        self.parts
            .iter()
            .find(|p| genome.len() >= p.prefix.len() && genome[..p.prefix.len()] == p.prefix[..])
    }
}

/// One evaluated architecture.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Candidate {
    pub arch: Arch,
    pub accuracy: f64,
    pub loss: f64,
    pub params: u64,
    pub macs: u64,
    /// The objective (maximised) or, for NSGA-II, the first objective.
    pub score: f64,
    /// Predicted latency (ms) from the stage's table, when the stage uses latency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// Loss and accuracy on (a slice of) the training split, when an objective or Pareto axis is
    /// `train.loss` / `train.accuracy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_loss: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_accuracy: Option<f64>,
}

impl Candidate {
    /// An architecture with its exact cost and its validation loss and accuracy, scored by accuracy.
    pub fn new(arch: Arch, cost: &crate::cost::Cost, loss: f64, accuracy: f64) -> Candidate {
        Candidate {
            arch,
            accuracy,
            loss,
            params: cost.params,
            macs: cost.macs,
            score: accuracy,
            latency_ms: None,
            train_loss: None,
            train_accuracy: None,
        }
    }
}

/// What every search stage produces (a method's additions are in `result::Method`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SearchOut {
    pub space: String,
    pub best: Arch,
    pub objective: String,
    pub score: f64,
    pub accuracy: f64,
    pub params: u64,
    pub macs: u64,
    pub evaluated: usize,
    pub top: Vec<Candidate>,
    #[serde(default)]
    pub pareto: Vec<Candidate>,
    /// The best architecture's validation accuracy with the supernet's own BN statistics and after
    /// recalibration (when recalibration is on).
    #[serde(default)]
    pub recalibration: Option<Recalibration>,
    /// Every distinct architecture evaluated, best first.
    #[serde(default)]
    pub candidates: Vec<Candidate>,
}

/// What BN recalibration changed on a search's best architecture.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Recalibration {
    pub images: usize,
    pub best_accuracy_without: f64,
    pub best_accuracy_with: f64,
}

/// One trained model of a stage (one per seed).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ModelRun {
    pub seed: i64,
    /// Which member of a `.top` or `.pareto` retrain (absent for a single architecture).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<usize>,
    /// The model folder, relative to the run directory.
    pub dir: String,
    pub train: TrainSummary,
    pub val_accuracy: Option<f64>,
    pub params: i64,
    pub macs: u64,
    /// Parameters of the training-only auxiliary head (not part of the model).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub auxiliary_params: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// What a retrain or fixed-network train stage produces: every trained model and, over the seeds of
/// member 0, the headline figures.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ModelsOut {
    pub space: String,
    pub arch: Arch,
    pub models: Vec<ModelRun>,
    pub final_loss: f64,
    pub final_accuracy: f64,
    /// Summed over every model.
    pub train_seconds: f64,
    pub params: Option<i64>,
    pub macs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auxiliary_params: Option<i64>,
    /// One row per member of a `.top`/`.pareto` retrain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members: Option<Vec<Member>>,
}

/// One member of a `.top`/`.pareto` retrain.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Member {
    pub member: usize,
    pub arch: Arch,
    pub params: Option<i64>,
    pub macs: Option<u64>,
    /// Mean over its seeds.
    pub val_accuracy: Option<f64>,
    /// Its model folders.
    pub dirs: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RankSample {
    pub arch: Arch,
    /// The first supernet's accuracy.
    pub supernet_accuracy: f64,
    /// The mean stand-alone accuracy over seeds.
    pub standalone_accuracy: f64,
    /// Every input supernet's accuracy, in input order.
    #[serde(default)]
    pub supernet_accuracies: Vec<f64>,
    /// The stand-alone accuracy per seed, in the order of `seeds`.
    #[serde(default)]
    pub standalone_accuracies: Vec<f64>,
}

/// Reads the `<split>_accuracy` entry among a record's other fields (a flattened map sees every
/// field its struct does not name, the record's `seconds` and `settings` too).
fn split_accuracy<'de, D>(d: D) -> Result<BTreeMap<String, f64>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let rest = BTreeMap::<String, Json>::deserialize(d)?;
    Ok(rest
        .into_iter()
        .filter(|(k, _)| k.ends_with("_accuracy"))
        .filter_map(|(k, v)| Some((k, v.as_f64()?)))
        .collect())
}

/// Reads a field that may be absent (`None`) or `null` (`Some(None)`), so that a result reads back
/// to the value that wrote it.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// What the predictor was fitted on and how well it predicts held-out architectures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictorOut {
    pub kind: String,
    pub hidden: usize,
    pub layers: usize,
    /// Architectures measured on the supernet.
    pub samples: usize,
    pub train_pairs: usize,
    pub heldout_pairs: usize,
    /// On the held-out pairs (absent without at least two of them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rmse: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kendall_tau: Option<f64>,
    /// Candidates the evolution scored by prediction.
    pub predicted: usize,
    /// Candidates then measured on the supernet (the final population's best by prediction).
    pub measured: usize,
}

/// A finished step's figures (the stage result's `phases`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseOut {
    pub tag: String,
    /// How many options each decision was sampled from (1: fixed to its largest).
    pub released: Vec<usize>,
    /// Sub-networks trained per step (their gradients summed into one update).
    pub subnets: usize,
    pub train: TrainSummary,
}
