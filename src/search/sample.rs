//! Genome samplers: uniform, with a fixed prefix (few-shot sub-supernets), under a constraint, and
//! FairNAS strictly fair groups.
//!
//! The samplers assume every decision has at least one option (see [`super::check_choices`]); they
//! never panic, but a decision with no options gets index 0.

use super::{Generation, Genome};
use rand::seq::SliceRandom;
use rand::{Rng, RngExt};

/// A uniform index below `n`; 0 when `n <= 1` (without drawing from the RNG).
pub(crate) fn gene<R: Rng + ?Sized>(n: usize, rng: &mut R) -> usize {
    if n <= 1 { 0 } else { rng.random_range(0..n) }
}

/// A uniformly random genome.
pub fn uniform<R: Rng + ?Sized>(choices: &[usize], rng: &mut R) -> Genome {
    choices.iter().map(|&n| gene(n, rng)).collect()
}

/// A genome whose first `prefix.len()` decisions are `prefix` and the rest uniform. `None` if the
/// prefix is longer than the genome or names an option a decision does not have.
pub fn with_prefix<R: Rng + ?Sized>(
    prefix: &[usize],
    choices: &[usize],
    rng: &mut R,
) -> Option<Genome> {
    if prefix.len() > choices.len() || prefix.iter().zip(choices).any(|(&p, &n)| p >= n) {
        return None;
    }
    let mut g = prefix.to_vec();
    g.extend(choices[prefix.len()..].iter().map(|&n| gene(n, rng)));
    Some(g)
}

/// A uniform genome that `accept` accepts, drawing at most `tries` genomes; `None` if none was.
pub fn constrained<R: Rng + ?Sized>(
    choices: &[usize],
    rng: &mut R,
    tries: usize,
    mut accept: impl FnMut(&Genome) -> bool,
) -> Option<Genome> {
    (0..tries)
        .map(|_| uniform(choices, rng))
        .find(|g| accept(g))
}

/// FairNAS strict fairness: `m = max(choices)` genomes such that every option of every decision is
/// used `floor(m/n)` or `ceil(m/n)` times (exactly once when `n = m`). Each decision draws a random
/// permutation of its options, extended by fresh permutations when it has fewer than `m`; genome `k`
/// takes element `k` of each. Empty if there are no decisions or a decision has no options.
pub fn fair<R: Rng + ?Sized>(choices: &[usize], rng: &mut R) -> Vec<Genome> {
    let m = choices.iter().copied().max().unwrap_or(0);
    if m == 0 || choices.contains(&0) {
        return Vec::new();
    }
    let mut columns: Vec<Vec<usize>> = Vec::with_capacity(choices.len());
    for &n in choices {
        let mut col = Vec::with_capacity(m + n);
        while col.len() < m {
            let mut perm: Vec<usize> = (0..n).collect();
            perm.shuffle(rng);
            col.extend(perm);
        }
        col.truncate(m);
        columns.push(col);
    }
    (0..m)
        .map(|k| columns.iter().map(|col| col[k]).collect())
        .collect()
}

/// Number of genomes in the space, `None` if it overflows `usize`.
pub(crate) fn space_size(choices: &[usize]) -> Option<usize> {
    choices
        .iter()
        .try_fold(1usize, |acc, &n| acc.checked_mul(n.max(1)))
}

/// Adds new (not yet in `generation`) uniform genomes accepted by `valid` until it holds `target`
/// members. Each new member gets at most `max_tries` draws; the first member not found in time
/// ends the filling, as does exhausting the space.
pub(crate) fn fill_random<R: Rng + ?Sized>(
    generation: &mut Generation,
    target: usize,
    choices: &[usize],
    rng: &mut R,
    max_tries: usize,
    valid: &mut impl FnMut(&Genome) -> bool,
) {
    let target = match space_size(choices) {
        Some(size) => target.min(size),
        None => target,
    };
    while generation.len() < target {
        let found = constrained(choices, rng, max_tries, |g| {
            !generation.contains(g) && valid(g)
        });
        match found {
            Some(g) => {
                generation.insert(g);
            }
            None => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn uniform_in_range_and_deterministic() {
        let choices = [3, 1, 5, 2];
        let mut a = ChaCha8Rng::seed_from_u64(7);
        let mut b = ChaCha8Rng::seed_from_u64(7);
        for _ in 0..200 {
            let g = uniform(&choices, &mut a);
            assert_eq!(g, uniform(&choices, &mut b));
            assert_eq!(g.len(), 4);
            assert!(g.iter().zip(&choices).all(|(&x, &n)| x < n));
        }
    }

    #[test]
    fn uniform_reaches_every_option() {
        let choices = [4, 3];
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..500 {
            seen.insert(uniform(&choices, &mut rng));
        }
        assert_eq!(seen.len(), 12);
    }

    #[test]
    fn prefix_is_kept() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for _ in 0..50 {
            let g = with_prefix(&[2, 0], &[3, 2, 4, 4], &mut rng).unwrap();
            assert_eq!(&g[..2], &[2, 0]);
            assert!(g[2] < 4 && g[3] < 4);
        }
        assert_eq!(with_prefix(&[3], &[3, 2], &mut rng), None);
        assert_eq!(with_prefix(&[0, 0, 0], &[3, 2], &mut rng), None);
        assert_eq!(with_prefix(&[1, 1], &[3, 2], &mut rng), Some(vec![1, 1]));
    }

    #[test]
    fn constrained_accepts_or_gives_up() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let g = constrained(&[4, 4, 4], &mut rng, 1000, |g| g.iter().sum::<usize>() == 9).unwrap();
        assert_eq!(g.iter().sum::<usize>(), 9);
        let mut calls = 0;
        let none = constrained(&[4, 4], &mut rng, 25, |_| {
            calls += 1;
            false
        });
        assert_eq!(none, None);
        assert_eq!(calls, 25);
    }

    #[test]
    fn fair_counts_are_exact() {
        let choices = [4, 4, 2, 3, 1];
        for seed in 0..20 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let group = fair(&choices, &mut rng);
            assert_eq!(group.len(), 4);
            for (d, &n) in choices.iter().enumerate() {
                let mut count = vec![0usize; n];
                for g in &group {
                    count[g[d]] += 1;
                }
                let (lo, hi) = (4 / n, 4_usize.div_ceil(n));
                assert!(count.iter().all(|&c| c == lo || c == hi), "{d}: {count:?}");
                assert_eq!(count.iter().sum::<usize>(), 4);
                if n == 4 {
                    assert!(count.iter().all(|&c| c == 1));
                }
            }
        }
    }

    #[test]
    fn fair_is_random_but_deterministic() {
        let choices = [5, 5, 5];
        let a = fair(&choices, &mut ChaCha8Rng::seed_from_u64(9));
        let b = fair(&choices, &mut ChaCha8Rng::seed_from_u64(9));
        let c = fair(&choices, &mut ChaCha8Rng::seed_from_u64(10));
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn fair_degenerate_inputs() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        assert!(fair(&[], &mut rng).is_empty());
        assert!(fair(&[3, 0], &mut rng).is_empty());
        assert_eq!(fair(&[1, 1], &mut rng), vec![vec![0, 0]]);
    }

    #[test]
    fn fill_stops_when_space_or_constraint_is_exhausted() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let mut g = Generation::default();
        fill_random(&mut g, 100, &[2, 3], &mut rng, 1000, &mut |_| true);
        assert_eq!(g.len(), 6);
        let mut g = Generation::default();
        fill_random(&mut g, 10, &[2, 3], &mut rng, 50, &mut |g| g[0] == 0);
        assert_eq!(g.len(), 3);
        let mut g = Generation::default();
        fill_random(&mut g, 10, &[2, 3], &mut rng, 50, &mut |_| false);
        assert_eq!(g.len(), 0);
    }
}
