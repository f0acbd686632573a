//! NSGA-II (Deb et al. 2002) multi-objective search with every objective maximised: fast
//! non-dominated sorting, crowding distance, elitist selection by (rank, -crowding), offspring by
//! binary-tournament mutation and crossover under a hard constraint, and a memo of evaluations.

use super::evolution::{crossover, evaluate_generation, mutate};
use super::sample::{fill_random, gene};
use super::{
    ConfigError, Evaluated, Generation, Genome, SearchError, better_first, check_choices,
    check_probability,
};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// Settings of [`nsga2`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Nsga2Config {
    /// Size of the parent population (and of the random initial generation).
    pub population: usize,
    /// Number of generations evaluated, the initial random one included.
    pub generations: usize,
    /// Mutants per generation.
    pub mutate: usize,
    /// Probability that a mutant resamples each gene.
    pub mutate_p: f64,
    /// Crossover children per generation.
    pub crossover: usize,
    /// Draws allowed per child before that child is given up.
    pub max_tries: usize,
}

impl Default for Nsga2Config {
    fn default() -> Self {
        Nsga2Config {
            population: 50,
            generations: 20,
            mutate: 25,
            mutate_p: 0.1,
            crossover: 25,
            max_tries: 500,
        }
    }
}

impl Nsga2Config {
    /// Rejects `mutate_p` outside [0, 1].
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_probability("mutate_p", self.mutate_p)
    }
}

/// Outcome of [`nsga2`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Nsga2Result {
    /// Every distinct evaluation, in the order the closure was called.
    pub history: Vec<Evaluated<Vec<f64>>>,
    /// The non-dominated genomes among everything evaluated, by objective 0 descending (NaN last,
    /// ties in evaluation order).
    pub front: Vec<(Genome, Vec<f64>)>,
    /// The final parent population, in selection order (rank, then crowding).
    pub population: Vec<(Genome, Vec<f64>)>,
}

/// An objective for comparisons: NaN counts as the worst value.
fn key(x: f64) -> f64 {
    if x.is_nan() { f64::NEG_INFINITY } else { x }
}

/// Whether `a` Pareto-dominates `b` (all objectives maximised, compared over the shorter length).
pub fn dominates(a: &[f64], b: &[f64]) -> bool {
    let mut strict = false;
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (key(x), key(y));
        if x < y {
            return false;
        }
        if x > y {
            strict = true;
        }
    }
    strict
}

/// Fast non-dominated sort: the fronts of `points` as index lists, best front first, each front in
/// ascending index order. NaN objectives count as worst; equal points share a front.
pub fn non_dominated_sort(points: &[Vec<f64>]) -> Vec<Vec<usize>> {
    let n = points.len();
    let mut dominated: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut count = vec![0usize; n];
    for p in 0..n {
        for q in p + 1..n {
            if dominates(&points[p], &points[q]) {
                dominated[p].push(q);
                count[q] += 1;
            } else if dominates(&points[q], &points[p]) {
                dominated[q].push(p);
                count[p] += 1;
            }
        }
    }
    let mut fronts = Vec::new();
    let mut front: Vec<usize> = (0..n).filter(|&p| count[p] == 0).collect();
    while !front.is_empty() {
        let mut next = Vec::new();
        for &p in &front {
            for &q in &dominated[p] {
                count[q] -= 1;
                if count[q] == 0 {
                    next.push(q);
                }
            }
        }
        next.sort_unstable();
        fronts.push(std::mem::replace(&mut front, next));
    }
    fronts
}

/// Crowding distance of each member of `front` (indices into `points`), aligned with `front`.
/// Per objective, the extreme members get infinity and the others the normalised gap between their
/// neighbours; an objective with zero or non-finite range adds nothing to interior members.
pub fn crowding_distance(points: &[Vec<f64>], front: &[usize]) -> Vec<f64> {
    let len = front.len();
    let mut dist = vec![0.0; len];
    if len <= 2 {
        return vec![f64::INFINITY; len];
    }
    let objectives = front.iter().map(|&i| points[i].len()).min().unwrap_or(0);
    for m in 0..objectives {
        let column: Vec<f64> = front
            .iter()
            .map(|&i| points[i].get(m).map_or(f64::NEG_INFINITY, |&x| key(x)))
            .collect();
        let value = |k: usize| column[k];
        let mut order: Vec<usize> = (0..len).collect();
        order.sort_by(|&a, &b| value(a).total_cmp(&value(b)));
        dist[order[0]] = f64::INFINITY;
        dist[order[len - 1]] = f64::INFINITY;
        let range = value(order[len - 1]) - value(order[0]);
        if !(range.is_finite() && range > 0.0) {
            continue;
        }
        for w in order.windows(3) {
            dist[w[1]] += (value(w[2]) - value(w[0])) / range;
        }
    }
    dist
}

/// A selected member: index into the pool, rank (front number) and crowding distance.
#[derive(Debug, Clone, Copy)]
struct Ranked {
    index: usize,
    rank: usize,
    crowd: f64,
}

/// Elitist selection of `target` members of `points` by front, the last front by crowding
/// (descending, ties by index).
fn select(points: &[Vec<f64>], target: usize) -> Vec<Ranked> {
    let mut out = Vec::with_capacity(target);
    for (rank, front) in non_dominated_sort(points).into_iter().enumerate() {
        if out.len() >= target {
            break;
        }
        let crowd = crowding_distance(points, &front);
        let mut members: Vec<Ranked> = front
            .iter()
            .zip(crowd)
            .map(|(&index, crowd)| Ranked { index, rank, crowd })
            .collect();
        if out.len() + members.len() > target {
            members.sort_by(|a, b| b.crowd.total_cmp(&a.crowd));
            members.truncate(target - out.len());
        }
        out.extend(members);
    }
    out
}

/// Binary tournament on (rank ascending, crowding descending); the first drawn wins ties.
fn tournament<R: Rng + ?Sized>(pop: &[Ranked], rng: &mut R) -> usize {
    let i = gene(pop.len(), rng);
    let j = gene(pop.len(), rng);
    let (a, b) = (&pop[i], &pop[j]);
    let order = a.rank.cmp(&b.rank).then(b.crowd.total_cmp(&a.crowd));
    if order == Ordering::Greater { j } else { i }
}

/// NSGA-II. `eval` returns the objectives, all maximised (negate costs); every call must return
/// the same number of them. Generation 0 is `population` random valid genomes; each later one
/// breeds up to `mutate` mutants and `crossover` children from tournament-chosen parents (children
/// differ from their parents, from the parent population and from each other, and satisfy `valid`),
/// topped up with random valid genomes to `population` offspring, and the next parents are selected
/// from parents plus offspring. A genome evaluated before is scored from the memo; `eval` gets each
/// generation's new genomes as one batch.
///
/// If no valid genome is found (or `population` or `generations` is 0) the result is empty.
pub fn nsga2<E, R: Rng + ?Sized>(
    cfg: &Nsga2Config,
    choices: &[usize],
    rng: &mut R,
    mut valid: impl FnMut(&Genome) -> bool,
    mut eval: impl FnMut(&[Genome]) -> Result<Vec<Vec<f64>>, E>,
) -> Result<Nsga2Result, SearchError<E>> {
    check_choices(choices)?;
    cfg.validate()?;
    let mut memo: BTreeMap<Genome, Vec<f64>> = BTreeMap::new();
    let mut history: Vec<Evaluated<Vec<f64>>> = Vec::new();
    let mut expected: Option<usize> = None;
    let mut eval = |gs: &[Genome]| {
        let batch = eval(gs).map_err(SearchError::Eval)?;
        for objectives in &batch {
            let want = *expected.get_or_insert(objectives.len().max(1));
            if objectives.len() != want {
                return Err(SearchError::Objectives {
                    expected: want,
                    got: objectives.len(),
                });
            }
        }
        Ok(batch)
    };

    let mut parents: Vec<Genome> = Vec::new();
    let mut ranked: Vec<Ranked> = Vec::new();
    for index in 0..cfg.generations {
        let mut next = Generation::default();
        for p in &parents {
            next.insert(p.clone());
        }
        if !ranked.is_empty() {
            for _ in 0..cfg.mutate {
                let child = (0..cfg.max_tries).find_map(|_| {
                    let parent = &parents[tournament(&ranked, rng)];
                    let c = mutate(parent, choices, cfg.mutate_p, rng);
                    (!next.contains(&c) && valid(&c)).then_some(c)
                });
                if let Some(c) = child {
                    next.insert(c);
                }
            }
            for _ in 0..cfg.crossover {
                let child = (0..cfg.max_tries).find_map(|_| {
                    let a = &parents[tournament(&ranked, rng)];
                    let b = &parents[tournament(&ranked, rng)];
                    let c = crossover(a, b, rng);
                    (!next.contains(&c) && valid(&c)).then_some(c)
                });
                if let Some(c) = child {
                    next.insert(c);
                }
            }
        }
        let target = parents.len() + cfg.population;
        fill_random(&mut next, target, choices, rng, cfg.max_tries, &mut valid);
        if next.len() == parents.len() {
            break;
        }
        evaluate_generation(
            &next.members[parents.len()..],
            index,
            &mut memo,
            &mut history,
            &mut eval,
        )?;
        let points: Vec<Vec<f64>> = next.members.iter().map(|g| memo[g].clone()).collect();
        ranked = select(&points, cfg.population);
        parents = ranked
            .iter()
            .map(|r| next.members[r.index].clone())
            .collect();
        for (k, r) in ranked.iter_mut().enumerate() {
            r.index = k;
        }
    }

    let points: Vec<Vec<f64>> = history.iter().map(|e| e.score.clone()).collect();
    let mut front: Vec<(Genome, Vec<f64>)> = non_dominated_sort(&points)
        .first()
        .map(|f| {
            f.iter()
                .map(|&i| (history[i].genome.clone(), history[i].score.clone()))
                .collect()
        })
        .unwrap_or_default();
    front.sort_by(|a, b| better_first(a.1[0], b.1[0]));
    let population = parents
        .into_iter()
        .map(|g| {
            let objectives = memo[&g].clone();
            (g, objectives)
        })
        .collect();
    Ok(Nsga2Result {
        history,
        front,
        population,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use std::collections::BTreeSet;

    /// NSGA-II scoring one genome at a time.
    fn nsga2<E, R: Rng + ?Sized>(
        cfg: &Nsga2Config,
        choices: &[usize],
        rng: &mut R,
        valid: impl FnMut(&Genome) -> bool,
        eval: impl FnMut(&Genome) -> Result<Vec<f64>, E>,
    ) -> Result<Nsga2Result, SearchError<E>> {
        super::nsga2(cfg, choices, rng, valid, crate::search::each(eval))
    }

    fn pts(v: &[(f64, f64)]) -> Vec<Vec<f64>> {
        v.iter().map(|&(a, b)| vec![a, b]).collect()
    }

    #[test]
    fn sort_on_hand_example() {
        let p = pts(&[
            (1.0, 5.0),
            (2.0, 4.0),
            (3.0, 3.0),
            (2.0, 2.0),
            (1.0, 1.0),
            (0.0, 6.0),
            (3.0, 3.0),
            (0.0, 0.0),
            (1.0, 2.0),
        ]);
        assert_eq!(
            non_dominated_sort(&p),
            vec![vec![0, 1, 2, 5, 6], vec![3], vec![8], vec![4], vec![7]]
        );
        assert!(non_dominated_sort(&[]).is_empty());
        assert_eq!(non_dominated_sort(&pts(&[(1.0, 1.0)])), vec![vec![0]]);
    }

    #[test]
    fn nan_is_worst_in_sorting() {
        let p = pts(&[(f64::NAN, 1.0), (0.0, 1.0), (f64::NAN, f64::NAN)]);
        assert_eq!(non_dominated_sort(&p), vec![vec![1], vec![0], vec![2]]);
    }

    #[test]
    fn crowding_on_hand_example() {
        let p = pts(&[(0.0, 4.0), (1.0, 3.5), (3.0, 1.0), (4.0, 0.0), (9.0, 9.0)]);
        let d = crowding_distance(&p, &[0, 1, 2, 3]);
        assert_eq!(d[0], f64::INFINITY);
        assert_eq!(d[3], f64::INFINITY);
        assert!((d[1] - 1.5).abs() < 1e-12, "{d:?}");
        assert!((d[2] - 1.625).abs() < 1e-12, "{d:?}");
        assert_eq!(crowding_distance(&p, &[1, 2]), vec![f64::INFINITY; 2]);
        assert!(crowding_distance(&p, &[]).is_empty());
        // A constant objective adds nothing; the other still spreads the points.
        let flat = pts(&[(1.0, 0.0), (1.0, 1.0), (1.0, 3.0)]);
        let d = crowding_distance(&flat, &[0, 1, 2]);
        assert_eq!(d[1], 1.0);
    }

    #[test]
    fn selection_by_rank_then_crowding() {
        let p = pts(&[(0.0, 4.0), (1.0, 3.5), (3.0, 1.0), (4.0, 0.0), (0.0, 0.0)]);
        let s: Vec<usize> = select(&p, 3).iter().map(|r| r.index).collect();
        // The front's two extremes (infinite crowding), then the better-spread interior point.
        assert_eq!(s, vec![0, 3, 2]);
        let s: Vec<usize> = select(&p, 10).iter().map(|r| r.index).collect();
        assert_eq!(s, vec![0, 1, 2, 3, 4]);
    }

    const HAND: [(f64, f64); 6] = [
        (1.0, 5.0),
        (2.0, 2.0),
        (3.0, 3.0),
        (0.5, 5.0),
        (4.0, 1.0),
        (3.0, 2.5),
    ];

    #[test]
    fn front_of_a_hand_made_set() {
        let cfg = Nsga2Config {
            population: 6,
            generations: 3,
            ..Nsga2Config::default()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let res = nsga2(
            &cfg,
            &[6],
            &mut rng,
            |_| true,
            |g| {
                let (a, b) = HAND[g[0]];
                Ok::<_, ()>(vec![a, b])
            },
        )
        .unwrap();
        assert_eq!(res.history.len(), 6);
        let front: Vec<Genome> = res.front.iter().map(|f| f.0.clone()).collect();
        assert_eq!(front, vec![vec![4], vec![2], vec![0]]);
        assert_eq!(res.front[0].1, vec![4.0, 1.0]);
    }

    /// Objectives: sum of genes (up), number of non-zero genes (down).
    fn two(g: &Genome) -> Vec<f64> {
        vec![
            g.iter().sum::<usize>() as f64,
            -(g.iter().filter(|&&x| x != 0).count() as f64),
        ]
    }

    fn cfg() -> Nsga2Config {
        Nsga2Config {
            population: 20,
            generations: 20,
            mutate: 10,
            mutate_p: 0.25,
            crossover: 10,
            max_tries: 200,
        }
    }

    #[test]
    fn finds_the_pareto_front_under_a_constraint() {
        let valid = |g: &Genome| g[0] != 2;
        let mut seen = BTreeSet::new();
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        let res = nsga2(&cfg(), &[5; 4], &mut rng, valid, |g| {
            assert!(valid(g));
            assert!(seen.insert(g.clone()), "{g:?} evaluated twice");
            Ok::<_, ()>(two(g))
        })
        .unwrap();
        let objs: BTreeSet<(i64, i64)> = res
            .front
            .iter()
            .map(|(_, o)| (o[0] as i64, o[1] as i64))
            .collect();
        let want: BTreeSet<(i64, i64)> = (0..=4).map(|c| (4 * c, -c)).collect();
        assert_eq!(objs, want);
        assert!(res.front.windows(2).all(|w| w[0].1[0] >= w[1].1[0]));
        for (g, o) in &res.front {
            assert_eq!(two(g), *o);
        }
        assert_eq!(res.population.len(), 20);
        assert!(res.history.len() < 625);
    }

    #[test]
    fn deterministic() {
        let run = |seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let mut calls = Vec::new();
            let res = nsga2(
                &cfg(),
                &[5; 4],
                &mut rng,
                |_| true,
                |g| {
                    calls.push(g.clone());
                    Ok::<_, ()>(two(g))
                },
            )
            .unwrap();
            (calls, res)
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1).0, run(2).0);
    }

    #[test]
    fn degenerate_inputs() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let res = nsga2(
            &cfg(),
            &[5; 4],
            &mut rng,
            |_| false,
            |_| -> Result<Vec<f64>, ()> { panic!() },
        )
        .unwrap();
        assert!(res.history.is_empty() && res.front.is_empty() && res.population.is_empty());
        let mut n = 0;
        let err = nsga2(
            &cfg(),
            &[5; 4],
            &mut rng,
            |_| true,
            |_| {
                n += 1;
                Ok::<_, ()>(if n == 3 { vec![1.0] } else { vec![1.0, 2.0] })
            },
        );
        assert!(matches!(
            err,
            Err(SearchError::Objectives {
                expected: 2,
                got: 1
            })
        ));
        let bad = Nsga2Config {
            mutate_p: -0.1,
            ..cfg()
        };
        assert!(nsga2(&bad, &[2], &mut rng, |_| true, |_| Ok::<_, ()>(vec![0.0])).is_err());
        let zero = Nsga2Config {
            population: 0,
            ..cfg()
        };
        let res = nsga2(&zero, &[2], &mut rng, |_| true, |_| Ok::<_, ()>(vec![0.0])).unwrap();
        assert!(res.history.is_empty());
    }
}
