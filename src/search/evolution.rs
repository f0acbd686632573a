//! SPOS evolutionary search (Guo et al. 2020): a global top-k of everything evaluated so far breeds
//! each generation by mutation and uniform crossover, topped up with random genomes; a hard
//! constraint filters candidates before evaluation, and a memo never scores a genome twice.

use super::sample::{fill_random, gene};
use super::{
    ConfigError, Evaluated, Generation, Genome, SearchError, SearchResult, check_choices,
    check_probability, sort_best_first,
};
use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Settings of [`evolve`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvolutionConfig {
    /// Size of each generation (the initial one is all random).
    pub population: usize,
    /// Number of generations evaluated, the initial random one included.
    pub generations: usize,
    /// How many of the best genomes evaluated so far are parents (the global top-k).
    pub keep: usize,
    /// Mutants per generation.
    pub mutate: usize,
    /// Probability that a mutant resamples each gene (uniformly, possibly to the same option).
    pub mutate_p: f64,
    /// Crossover children per generation.
    pub crossover: usize,
    /// Draws allowed per child before that child is given up.
    pub max_tries: usize,
}

impl Default for EvolutionConfig {
    /// The SPOS paper's settings.
    fn default() -> Self {
        EvolutionConfig {
            population: 50,
            generations: 20,
            keep: 10,
            mutate: 25,
            mutate_p: 0.1,
            crossover: 25,
            max_tries: 500,
        }
    }
}

impl EvolutionConfig {
    /// Rejects settings no search can run with: `keep == 0`, `mutate_p` outside [0, 1].
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.keep == 0 {
            return Err(ConfigError::Invalid("keep must be at least 1".into()));
        }
        check_probability("mutate_p", self.mutate_p)
    }
}

/// `parent` with each gene resampled uniformly with probability `p` (clamped to [0, 1]).
pub fn mutate<R: Rng + ?Sized>(parent: &[usize], choices: &[usize], p: f64, rng: &mut R) -> Genome {
    let p = if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) };
    parent
        .iter()
        .zip(choices)
        .map(|(&x, &n)| if rng.random_bool(p) { gene(n, rng) } else { x })
        .collect()
}

/// Uniform crossover: each gene from `a` or `b` with equal probability.
pub fn crossover<R: Rng + ?Sized>(a: &[usize], b: &[usize], rng: &mut R) -> Genome {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| if rng.random_bool(0.5) { x } else { y })
        .collect()
}

/// Picks two distinct indices below `len` (the same one when `len == 1`).
pub(crate) fn two_indices<R: Rng + ?Sized>(len: usize, rng: &mut R) -> (usize, usize) {
    let i = gene(len, rng);
    if len < 2 {
        return (i, i);
    }
    let mut j = gene(len - 1, rng);
    if j >= i {
        j += 1;
    }
    (i, j)
}

/// Evaluates the genomes of `members` not scored in `memo`, in order, as one batch.
pub(crate) fn evaluate_generation<S: Clone, E>(
    members: &[Genome],
    index: usize,
    memo: &mut BTreeMap<Genome, S>,
    history: &mut Vec<Evaluated<S>>,
    eval: &mut impl FnMut(&[Genome]) -> Result<Vec<S>, SearchError<E>>,
) -> Result<(), SearchError<E>> {
    let mut fresh: Vec<Genome> = Vec::new();
    for g in members {
        if !memo.contains_key(g) && !fresh.contains(g) {
            fresh.push(g.clone());
        }
    }
    if fresh.is_empty() {
        return Ok(());
    }
    let scores = eval(&fresh)?;
    if scores.len() != fresh.len() {
        return Err(SearchError::Batch {
            expected: fresh.len(),
            got: scores.len(),
        });
    }
    for (genome, score) in fresh.into_iter().zip(scores) {
        memo.insert(genome.clone(), score.clone());
        history.push(Evaluated {
            genome,
            score,
            generation: index,
        });
    }
    Ok(())
}

/// SPOS evolution. Scores are maximised (NaN ranks last); `valid` is the hard constraint, checked
/// before any evaluation. Each generation after the first holds up to `mutate` mutants (of a random
/// top-k parent, different from it) and `crossover` children (of two random top-k parents,
/// different from both), none repeated within the generation, then random valid genomes up to
/// `population`. A genome evaluated in an earlier generation is scored from the memo; `eval` gets
/// each generation's new genomes as one batch.
///
/// If no valid genome is found (or `population` or `generations` is 0) the result is empty.
pub fn evolve<E, R: Rng + ?Sized>(
    cfg: &EvolutionConfig,
    choices: &[usize],
    rng: &mut R,
    mut valid: impl FnMut(&Genome) -> bool,
    mut eval: impl FnMut(&[Genome]) -> Result<Vec<f64>, E>,
) -> Result<SearchResult, SearchError<E>> {
    check_choices(choices)?;
    cfg.validate()?;
    let mut memo: BTreeMap<Genome, f64> = BTreeMap::new();
    let mut history: Vec<Evaluated> = Vec::new();
    let mut top: Vec<(Genome, f64)> = Vec::new();
    let mut eval = |gs: &[Genome]| eval(gs).map_err(SearchError::Eval);

    for index in 0..cfg.generations {
        let mut next = Generation::default();
        if !top.is_empty() {
            for _ in 0..cfg.mutate {
                let child = (0..cfg.max_tries).find_map(|_| {
                    let parent = &top[gene(top.len(), rng)].0;
                    let c = mutate(parent, choices, cfg.mutate_p, rng);
                    (c != *parent && !next.contains(&c) && valid(&c)).then_some(c)
                });
                if let Some(c) = child {
                    next.insert(c);
                }
            }
            for _ in 0..cfg.crossover {
                let child = (0..cfg.max_tries).find_map(|_| {
                    let (i, j) = two_indices(top.len(), rng);
                    let (a, b) = (&top[i].0, &top[j].0);
                    let c = crossover(a, b, rng);
                    (c != *a && c != *b && !next.contains(&c) && valid(&c)).then_some(c)
                });
                if let Some(c) = child {
                    next.insert(c);
                }
            }
        }
        fill_random(
            &mut next,
            cfg.population,
            choices,
            rng,
            cfg.max_tries,
            &mut valid,
        );
        if next.len() == 0 {
            break;
        }
        evaluate_generation(&next.members, index, &mut memo, &mut history, &mut eval)?;
        top = history
            .iter()
            .map(|e| (e.genome.clone(), e.score))
            .collect();
        sort_best_first(&mut top);
        top.truncate(cfg.keep);
    }

    let best = top
        .first()
        .and_then(|(g, _)| history.iter().find(|e| e.genome == *g).cloned());
    Ok(SearchResult { history, best, top })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use std::collections::BTreeSet;

    /// Evolution scoring one genome at a time.
    fn evolve<E, R: Rng + ?Sized>(
        cfg: &EvolutionConfig,
        choices: &[usize],
        rng: &mut R,
        valid: impl FnMut(&Genome) -> bool,
        eval: impl FnMut(&Genome) -> Result<f64, E>,
    ) -> Result<SearchResult, SearchError<E>> {
        super::evolve(cfg, choices, rng, valid, crate::search::each(eval))
    }

    #[test]
    fn each_generation_is_one_batch_of_new_genomes() {
        let one_by_one = evolve(
            &cfg(),
            &[4; 6],
            &mut ChaCha8Rng::seed_from_u64(9),
            ok,
            |g| Ok::<_, ()>(matches(g)),
        )
        .unwrap();
        let mut batches: Vec<Vec<Genome>> = Vec::new();
        let batched = super::evolve(
            &cfg(),
            &[4; 6],
            &mut ChaCha8Rng::seed_from_u64(9),
            ok,
            |gs: &[Genome]| {
                batches.push(gs.to_vec());
                Ok::<_, ()>(gs.iter().map(matches).collect())
            },
        )
        .unwrap();
        assert_eq!(batched, one_by_one);
        // One call per generation, holding exactly that generation's first evaluations.
        let generations = one_by_one.history.last().unwrap().generation + 1;
        assert_eq!(batches.len(), generations);
        for (k, batch) in batches.iter().enumerate() {
            let new: Vec<Genome> = one_by_one
                .history
                .iter()
                .filter(|e| e.generation == k)
                .map(|e| e.genome.clone())
                .collect();
            assert_eq!(*batch, new, "generation {k}");
        }
        assert!(batches[0].len() == cfg().population && batches.len() > 2);
        // A closure that answers with the wrong number of scores is an error, not a silent zip.
        let short = super::evolve(
            &cfg(),
            &[4; 6],
            &mut ChaCha8Rng::seed_from_u64(9),
            ok,
            |gs: &[Genome]| Ok::<_, ()>(vec![0.0; gs.len() - 1]),
        );
        assert!(matches!(short, Err(SearchError::Batch { .. })));
    }

    const TARGET: [usize; 6] = [1, 3, 0, 2, 3, 1];

    fn matches(g: &Genome) -> f64 {
        g.iter().zip(TARGET).filter(|(x, t)| **x == *t).count() as f64
    }

    fn cfg() -> EvolutionConfig {
        EvolutionConfig {
            population: 16,
            generations: 15,
            keep: 5,
            mutate: 8,
            mutate_p: 0.2,
            crossover: 8,
            max_tries: 200,
        }
    }

    /// The constraint: option 3 of decision 0 is forbidden, and so is 1 at decision 1 next to 1 at 2.
    fn ok(g: &Genome) -> bool {
        g[0] != 3 && !(g[1] == 1 && g[2] == 1)
    }

    #[test]
    fn reaches_optimum_valid_and_without_repeats() {
        let choices = [4; 6];
        let mut seen = BTreeSet::new();
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let res = evolve(&cfg(), &choices, &mut rng, ok, |g| {
            assert!(ok(g), "evaluated an invalid genome {g:?}");
            assert!(seen.insert(g.clone()), "evaluated {g:?} twice");
            Ok::<_, ()>(matches(g))
        })
        .unwrap();
        let best = res.best.unwrap();
        assert_eq!(best.genome, TARGET.to_vec());
        assert_eq!(best.score, 6.0);
        assert_eq!(res.history.len(), seen.len());
        // Far fewer evaluations than the 3072 valid genomes.
        assert!(res.history.len() <= 15 * 16);
        assert_eq!(res.history[0].generation, 0);
        assert!(
            res.history
                .windows(2)
                .all(|w| w[0].generation <= w[1].generation)
        );
    }

    #[test]
    fn top_is_the_global_best_k() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let res = evolve(
            &cfg(),
            &[4; 6],
            &mut rng,
            |_| true,
            |g| Ok::<_, ()>(matches(g)),
        )
        .unwrap();
        assert_eq!(res.top.len(), 5);
        let mut all: Vec<f64> = res.history.iter().map(|e| e.score).collect();
        all.sort_by(|a, b| b.partial_cmp(a).unwrap());
        let top: Vec<f64> = res.top.iter().map(|t| t.1).collect();
        assert_eq!(top, all[..5].to_vec());
    }

    #[test]
    fn same_seed_same_calls() {
        let run = |seed| {
            let mut calls = Vec::new();
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let res = evolve(&cfg(), &[4; 6], &mut rng, ok, |g| {
                calls.push(g.clone());
                Ok::<_, ()>(matches(g))
            })
            .unwrap();
            (calls, res)
        };
        let (c1, r1) = run(5);
        let (c2, r2) = run(5);
        let (c3, _) = run(6);
        assert_eq!(c1, c2);
        assert_eq!(r1, r2);
        assert_ne!(c1, c3);
    }

    #[test]
    fn interrupted_search_resumes_by_replay() {
        let full = evolve(
            &cfg(),
            &[4; 6],
            &mut ChaCha8Rng::seed_from_u64(3),
            ok,
            |g| Ok::<_, ()>(matches(g)),
        )
        .unwrap();
        // First attempt dies after 40 evaluations; their scores are cached.
        let mut cache = BTreeMap::new();
        let err = evolve(
            &cfg(),
            &[4; 6],
            &mut ChaCha8Rng::seed_from_u64(3),
            ok,
            |g| {
                if cache.len() == 40 {
                    return Err("interrupted");
                }
                cache.insert(g.clone(), matches(g));
                Ok(matches(g))
            },
        );
        assert!(matches!(err, Err(SearchError::Eval("interrupted"))));
        let mut fresh = 0;
        let resumed = evolve(
            &cfg(),
            &[4; 6],
            &mut ChaCha8Rng::seed_from_u64(3),
            ok,
            |g| {
                Ok::<_, ()>(match cache.get(g) {
                    Some(&s) => s,
                    None => {
                        fresh += 1;
                        matches(g)
                    }
                })
            },
        )
        .unwrap();
        assert_eq!(resumed, full);
        assert_eq!(fresh, full.history.len() - 40);
    }

    #[test]
    fn unsatisfiable_constraint_gives_empty_result() {
        let mut valid_calls = 0;
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let res = evolve(
            &cfg(),
            &[4; 6],
            &mut rng,
            |_| {
                valid_calls += 1;
                false
            },
            |_| -> Result<f64, ()> { panic!("nothing is valid") },
        )
        .unwrap();
        assert!(res.history.is_empty() && res.top.is_empty() && res.best.is_none());
        assert!(valid_calls <= 200);
    }

    #[test]
    fn small_space_is_exhausted_without_looping() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let res = evolve(
            &cfg(),
            &[2, 2],
            &mut rng,
            |_| true,
            |g| Ok::<_, ()>(matches(g)),
        )
        .unwrap();
        assert_eq!(res.history.len(), 4);
    }

    #[test]
    fn degenerate_and_bad_configs() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let never = |_: &Genome| -> Result<f64, ()> { panic!() };
        let empty = EvolutionConfig {
            population: 0,
            ..cfg()
        };
        let res = evolve(&empty, &[3, 3], &mut rng, |_| true, never).unwrap();
        assert!(res.history.is_empty());
        let bad = EvolutionConfig { keep: 0, ..cfg() };
        assert!(matches!(
            evolve(&bad, &[3, 3], &mut rng, |_| true, never),
            Err(SearchError::Config(_))
        ));
        let bad = EvolutionConfig {
            mutate_p: 1.5,
            ..cfg()
        };
        assert!(evolve(&bad, &[3, 3], &mut rng, |_| true, never).is_err());
        assert!(matches!(
            evolve(&cfg(), &[3, 0], &mut rng, |_| true, never),
            Err(SearchError::Config(ConfigError::EmptyDecision {
                decision: 1
            }))
        ));
    }

    #[test]
    fn nan_scores_rank_last() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let res = evolve(
            &cfg(),
            &[4; 6],
            &mut rng,
            |_| true,
            |g| Ok::<_, ()>(if g[0] == 0 { f64::NAN } else { matches(g) }),
        )
        .unwrap();
        let best = res.best.unwrap();
        assert!(!best.score.is_nan());
        assert!(res.top.iter().all(|t| !t.1.is_nan()));
    }

    #[test]
    fn operators() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let p = vec![0, 1, 2, 3];
        assert_eq!(mutate(&p, &[4; 4], 0.0, &mut rng), p);
        assert_eq!(mutate(&p, &[4; 4], f64::NAN, &mut rng), p);
        let (a, b) = (vec![0; 8], vec![1; 8]);
        for _ in 0..20 {
            let c = crossover(&a, &b, &mut rng);
            assert_eq!(c.len(), 8);
            assert!(c.iter().all(|&x| x <= 1));
        }
        for _ in 0..50 {
            let (i, j) = two_indices(3, &mut rng);
            assert!(i < 3 && j < 3 && i != j);
        }
        assert_eq!(two_indices(1, &mut rng), (0, 0));
    }
}
