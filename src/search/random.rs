//! Random search: distinct valid uniform genomes, evaluated in the order they were drawn.

use super::evolution::evaluate_generation;
use super::sample::fill_random;
use super::{Generation, Genome, SearchError, SearchResult, check_choices, sort_best_first};
use rand::Rng;

/// Draws allowed per genome before random search (and successive halving) stop looking for more.
pub const TRIES_PER_GENOME: usize = 1000;

/// Evaluates `n` distinct genomes accepted by `valid`, drawn uniformly. Stops early when the space
/// is exhausted or [`TRIES_PER_GENOME`] draws in a row found nothing new and valid; `eval` gets them
/// all as one batch, in the order drawn. The result's
/// `top` holds every evaluation, best first (NaN last, ties in evaluation order).
pub fn random_search<E, R: Rng + ?Sized>(
    n: usize,
    choices: &[usize],
    rng: &mut R,
    mut valid: impl FnMut(&Genome) -> bool,
    mut eval: impl FnMut(&[Genome]) -> Result<Vec<f64>, E>,
) -> Result<SearchResult, SearchError<E>> {
    check_choices(choices)?;
    let mut generation = Generation::default();
    fill_random(
        &mut generation,
        n,
        choices,
        rng,
        TRIES_PER_GENOME,
        &mut valid,
    );
    let mut memo = std::collections::BTreeMap::new();
    let mut history = Vec::with_capacity(generation.len());
    let mut eval = |gs: &[Genome]| eval(gs).map_err(SearchError::Eval);
    evaluate_generation(&generation.members, 0, &mut memo, &mut history, &mut eval)?;
    let mut top: Vec<(Genome, f64)> = history
        .iter()
        .map(|e| (e.genome.clone(), e.score))
        .collect();
    sort_best_first(&mut top);
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

    /// Random search scoring one genome at a time.
    fn random_search<E, R: Rng + ?Sized>(
        n: usize,
        choices: &[usize],
        rng: &mut R,
        valid: impl FnMut(&Genome) -> bool,
        eval: impl FnMut(&Genome) -> Result<f64, E>,
    ) -> Result<SearchResult, SearchError<E>> {
        super::random_search(n, choices, rng, valid, crate::search::each(eval))
    }

    #[test]
    fn the_whole_sample_is_one_batch_in_drawing_order() {
        let mut calls = 0;
        let res = super::random_search(
            20,
            &[3, 4, 5],
            &mut ChaCha8Rng::seed_from_u64(4),
            |_| true,
            |gs: &[Genome]| {
                calls += 1;
                Ok::<_, ()>(gs.iter().map(|g| g[0] as f64).collect())
            },
        )
        .unwrap();
        assert_eq!(calls, 1);
        let again = random_search(
            20,
            &[3, 4, 5],
            &mut ChaCha8Rng::seed_from_u64(4),
            |_| true,
            |g| Ok::<_, ()>(g[0] as f64),
        )
        .unwrap();
        assert_eq!(res, again);
        assert_eq!(res.history.len(), 20);
    }

    #[test]
    fn distinct_valid_and_sorted() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let valid = |g: &Genome| g[0] != 2;
        let res = random_search(30, &[3, 4, 5], &mut rng, valid, |g| {
            assert!(valid(g));
            Ok::<_, ()>((g[1] * 10 + g[2]) as f64)
        })
        .unwrap();
        assert_eq!(res.history.len(), 30);
        let set: BTreeSet<_> = res.history.iter().map(|e| e.genome.clone()).collect();
        assert_eq!(set.len(), 30);
        assert!(res.top.windows(2).all(|w| w[0].1 >= w[1].1));
        assert_eq!(res.best.as_ref().unwrap().score, res.top[0].1);
        assert_eq!(res.top.len(), 30);
    }

    #[test]
    fn stops_when_space_is_small_or_nothing_is_valid() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let res = random_search(100, &[2, 3], &mut rng, |_| true, |_| Ok::<_, ()>(0.0)).unwrap();
        assert_eq!(res.history.len(), 6);
        let res =
            random_search(100, &[2, 3], &mut rng, |g| g[1] == 0, |_| Ok::<_, ()>(0.0)).unwrap();
        assert_eq!(res.history.len(), 2);
        let res = random_search(5, &[9, 9], &mut rng, |_| false, |_| Ok::<_, ()>(0.0)).unwrap();
        assert!(res.history.is_empty() && res.best.is_none());
        let res = random_search(0, &[9, 9], &mut rng, |_| true, |_| Ok::<_, ()>(0.0)).unwrap();
        assert!(res.history.is_empty());
    }

    #[test]
    fn deterministic_and_errors_pass_through() {
        let run = |seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            random_search(
                10,
                &[5; 4],
                &mut rng,
                |_| true,
                |g| Ok::<_, ()>(g[0] as f64),
            )
            .unwrap()
        };
        assert_eq!(run(3), run(3));
        assert_ne!(run(3).history, run(4).history);
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let err = random_search(3, &[5], &mut rng, |_| true, |_| Err::<f64, _>("boom"));
        assert!(matches!(err, Err(SearchError::Eval("boom"))));
    }
}
