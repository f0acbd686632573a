//! Torch-free search algorithms over genomes (one option index per decision), generic over an
//! evaluation closure: sampling, random search, SPOS evolution, NSGA-II, successive halving, and
//! rank correlations for judging a supernet's ranking.
//!
//! Evaluation is by batch: each algorithm hands its closure every new genome of a generation (a
//! rung, the whole sample for random search) at once, so that the executor can score them side by
//! side on workers; [`each`] adapts a one-genome closure.
//!
//! Every algorithm is deterministic: for a fixed RNG state and the same values returned by the
//! closures, it makes exactly the same closure calls in the same order. The executor relies on this
//! to resume an interrupted search by replaying it against a cache of scores. Decisions never depend
//! on the iteration order of a hash map, and ties are broken by first-evaluation order.
//!
//! Scores are maximised; a NaN score ranks below every number.

pub mod cells;
pub mod derive;
pub mod evolution;
pub mod halving;
pub mod nsga2;
pub mod random;
pub mod rank;
pub mod sample;

pub use evolution::{EvolutionConfig, crossover, evolve, mutate};
pub use halving::{HalvingConfig, HalvingResult, Rung, plan, successive_halving};
pub use nsga2::{Nsga2Config, Nsga2Result, crowding_distance, non_dominated_sort, nsga2};
pub use random::random_search;

pub use rank::{kendall_tau, spearman};

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::BTreeSet;

/// One option index per decision.
pub type Genome = Vec<usize>;

/// One distinct evaluation: the genome, its score (`f64`, or the objectives `Vec<f64>` for
/// NSGA-II) and the generation in which it was first evaluated (0 for the initial population).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluated<S = f64> {
    pub genome: Genome,
    pub score: S,
    pub generation: usize,
}

/// Outcome of a single-objective search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResult {
    /// Every distinct evaluation, in the order the closure was called.
    pub history: Vec<Evaluated>,
    /// The best evaluation (first evaluated among equals); `None` if nothing was evaluated.
    pub best: Option<Evaluated>,
    /// Best first: the final top-k for evolution, every evaluation for random search.
    pub top: Vec<(Genome, f64)>,
}

/// A configuration or a search space that no search can run on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error("decision {decision} has no options")]
    EmptyDecision { decision: usize },
    #[error("invalid search configuration: {0}")]
    Invalid(String),
}

/// Why a search stopped without a result.
#[derive(Debug, thiserror::Error)]
pub enum SearchError<E = std::convert::Infallible> {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("evaluation returned {got} objectives, expected {expected}")]
    Objectives { expected: usize, got: usize },
    #[error("a batch evaluation returned {got} scores for {expected} genomes")]
    Batch { expected: usize, got: usize },
    /// The evaluation closure failed; its error is passed through unchanged.
    #[error(transparent)]
    Eval(E),
}

/// A batch evaluation that scores one genome after another with `eval`.
pub fn each<S, E>(
    mut eval: impl FnMut(&Genome) -> Result<S, E>,
) -> impl FnMut(&[Genome]) -> Result<Vec<S>, E> {
    move |genomes| genomes.iter().map(&mut eval).collect()
}

/// Checks that every decision has at least one option.
pub fn check_choices(choices: &[usize]) -> Result<(), ConfigError> {
    match choices.iter().position(|&n| n == 0) {
        Some(decision) => Err(ConfigError::EmptyDecision { decision }),
        None => Ok(()),
    }
}

/// Checks a per-gene probability.
pub(crate) fn check_probability(name: &str, p: f64) -> Result<(), ConfigError> {
    if (0.0..=1.0).contains(&p) {
        Ok(())
    } else {
        Err(ConfigError::Invalid(format!(
            "{name} must lie in [0, 1], got {p}"
        )))
    }
}

/// Orders scores best first: larger is better, NaN is worst, NaNs are equal among themselves.
pub fn better_first(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => b.partial_cmp(&a).unwrap_or(Ordering::Equal),
    }
}

/// Sorts `(genome, score)` pairs best first; the sort is stable, so equals keep their order.
pub(crate) fn sort_best_first(items: &mut [(Genome, f64)]) {
    items.sort_by(|x, y| better_first(x.1, y.1));
}

/// The members of one generation: insertion order plus a set for membership tests.
#[derive(Debug, Default)]
pub(crate) struct Generation {
    pub members: Vec<Genome>,
    set: BTreeSet<Genome>,
}

impl Generation {
    pub fn contains(&self, g: &Genome) -> bool {
        self.set.contains(g)
    }
    /// Adds `g` unless it is already a member; returns whether it was added.
    pub fn insert(&mut self, g: Genome) -> bool {
        if self.set.insert(g.clone()) {
            self.members.push(g);
            true
        } else {
            false
        }
    }
    pub fn len(&self) -> usize {
        self.members.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_ranks_last_and_larger_first() {
        let mut v = vec![
            (vec![0], f64::NAN),
            (vec![1], 1.0),
            (vec![2], f64::NEG_INFINITY),
            (vec![3], 3.0),
            (vec![4], 1.0),
        ];
        sort_best_first(&mut v);
        let order: Vec<usize> = v.iter().map(|(g, _)| g[0]).collect();
        assert_eq!(order, vec![3, 1, 4, 2, 0]);
    }

    #[test]
    fn empty_decision_is_reported() {
        assert_eq!(
            check_choices(&[2, 0, 3]),
            Err(ConfigError::EmptyDecision { decision: 1 })
        );
        assert!(check_choices(&[]).is_ok());
        assert!(check_probability("p", f64::NAN).is_err());
        assert!(check_probability("p", 1.5).is_err());
        assert!(check_probability("p", 1.0).is_ok());
    }
}
