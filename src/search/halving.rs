//! Successive halving (Jamieson & Talwalkar 2016; the RandomNAS baseline of Li & Talwalkar 2019):
//! random valid candidates trained with a budget multiplied by `eta` per rung while only the best
//! `1/eta` of them advance.

use super::random::TRIES_PER_GENOME;
use super::sample::fill_random;
use super::{ConfigError, Generation, Genome, SearchError, check_choices, sort_best_first};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// Settings of [`successive_halving`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HalvingConfig {
    /// Candidates of the first rung.
    pub candidates: usize,
    /// Reduction factor: each rung keeps `ceil(n / eta)` and multiplies the budget by `eta`.
    pub eta: usize,
    /// Epochs of the first rung.
    pub min_epochs: usize,
    /// Epoch cap; the rung that reaches it is the last.
    pub max_epochs: usize,
}

impl HalvingConfig {
    /// Rejects `eta < 2`, `min_epochs == 0` and `min_epochs > max_epochs`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.eta < 2 {
            return Err(ConfigError::Invalid(format!(
                "eta must be at least 2, got {}",
                self.eta
            )));
        }
        if self.min_epochs == 0 || self.min_epochs > self.max_epochs {
            return Err(ConfigError::Invalid(format!(
                "need 1 <= min_epochs <= max_epochs, got {} and {}",
                self.min_epochs, self.max_epochs
            )));
        }
        Ok(())
    }
}

/// One rung: its training budget and every candidate's score, in evaluation order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rung {
    pub epochs: usize,
    pub scores: Vec<(Genome, f64)>,
}

/// Outcome of [`successive_halving`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HalvingResult {
    pub rungs: Vec<Rung>,
    /// The best candidate of the last rung with its score there; `None` without candidates.
    pub best: Option<(Genome, f64)>,
}

/// The rungs for `n` candidates: `(epochs, how many)`, starting at `(min_epochs, n)`; the next rung
/// keeps `ceil(n / eta)` with `epochs * eta` (capped at `max_epochs`), until a rung has a single
/// candidate or reaches `max_epochs`.
fn plan_for(n: usize, cfg: &HalvingConfig) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    if n == 0 || cfg.validate().is_err() {
        return out;
    }
    let (mut epochs, mut count) = (cfg.min_epochs, n);
    loop {
        out.push((epochs, count));
        if count <= 1 || epochs >= cfg.max_epochs {
            return out;
        }
        count = count.div_ceil(cfg.eta);
        epochs = epochs.saturating_mul(cfg.eta).min(cfg.max_epochs);
    }
}

/// The rungs `(epochs, how many candidates)` that `cfg` plans when all its candidates are found;
/// empty if `cfg` is invalid (see [`HalvingConfig::validate`]) or has no candidates.
pub fn plan(cfg: &HalvingConfig) -> Vec<(usize, usize)> {
    plan_for(cfg.candidates, cfg)
}

/// Successive halving over up to `cfg.candidates` distinct random genomes accepted by `valid`
/// (fewer if the space or the constraint has fewer, see [`super::random_search`]). `eval(genome,
/// epochs, rung)` trains and scores a candidate (maximised, NaN last). Rung 0 is evaluated in the
/// order the candidates were drawn, later rungs best first by the previous rung's scores (ties in
/// evaluation order).
pub fn successive_halving<E, R: Rng + ?Sized>(
    cfg: &HalvingConfig,
    choices: &[usize],
    rng: &mut R,
    valid: impl FnMut(&Genome) -> bool,
    mut eval: impl FnMut(&Genome, usize, usize) -> Result<f64, E>,
) -> Result<HalvingResult, SearchError<E>> {
    successive_halving_rungs(cfg, choices, rng, valid, |genomes, epochs, rung| {
        genomes.iter().map(|g| eval(g, epochs, rung)).collect()
    })
}

/// [`successive_halving`] with a whole rung evaluated at once: `eval(genomes, epochs, rung)` returns
/// one score per genome, in order (the candidates of a rung are independent, so they may be trained
/// side by side).
pub fn successive_halving_rungs<E, R: Rng + ?Sized>(
    cfg: &HalvingConfig,
    choices: &[usize],
    rng: &mut R,
    mut valid: impl FnMut(&Genome) -> bool,
    mut eval: impl FnMut(&[Genome], usize, usize) -> Result<Vec<f64>, E>,
) -> Result<HalvingResult, SearchError<E>> {
    check_choices(choices)?;
    cfg.validate()?;
    let mut pool = Generation::default();
    fill_random(
        &mut pool,
        cfg.candidates,
        choices,
        rng,
        TRIES_PER_GENOME,
        &mut valid,
    );
    let mut rungs: Vec<Rung> = Vec::new();
    let mut survivors = pool.members;
    let mut best = None;
    for (rung, (epochs, count)) in plan_for(survivors.len(), cfg).into_iter().enumerate() {
        survivors.truncate(count);
        let values = eval(&survivors, epochs, rung).map_err(SearchError::Eval)?;
        let scores: Vec<(Genome, f64)> = survivors.into_iter().zip(values).collect();
        let mut ranked = scores.clone();
        sort_best_first(&mut ranked);
        best = ranked.first().cloned();
        survivors = ranked.into_iter().map(|(g, _)| g).collect();
        rungs.push(Rung { epochs, scores });
    }
    Ok(HalvingResult { rungs, best })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn cfg(candidates: usize, eta: usize, min_epochs: usize, max_epochs: usize) -> HalvingConfig {
        HalvingConfig {
            candidates,
            eta,
            min_epochs,
            max_epochs,
        }
    }

    #[test]
    fn plans() {
        assert_eq!(
            plan(&cfg(81, 3, 1, 27)),
            vec![(1, 81), (3, 27), (9, 9), (27, 3)]
        );
        assert_eq!(
            plan(&cfg(81, 3, 1, 81)),
            vec![(1, 81), (3, 27), (9, 9), (27, 3), (81, 1)]
        );
        assert_eq!(
            plan(&cfg(10, 3, 2, 100)),
            vec![(2, 10), (6, 4), (18, 2), (54, 1)]
        );
        assert_eq!(plan(&cfg(10, 2, 5, 12)), vec![(5, 10), (10, 5), (12, 3)]);
        assert_eq!(plan(&cfg(1, 3, 1, 27)), vec![(1, 1)]);
        assert_eq!(plan(&cfg(5, 3, 27, 27)), vec![(27, 5)]);
        assert!(plan(&cfg(0, 3, 1, 27)).is_empty());
        assert!(plan(&cfg(9, 1, 1, 27)).is_empty());
        assert!(plan(&cfg(9, 3, 0, 27)).is_empty());
        assert!(plan(&cfg(9, 3, 28, 27)).is_empty());
        assert_eq!(
            plan(&cfg(4, usize::MAX, usize::MAX / 2, usize::MAX)),
            vec![(usize::MAX / 2, 4), (usize::MAX, 1)]
        );
    }

    /// A score that favours small genome sums and improves with epochs.
    fn score(g: &Genome, epochs: usize) -> f64 {
        epochs as f64 - g.iter().sum::<usize>() as f64
    }

    #[test]
    fn rungs_follow_the_plan_and_keep_the_best() {
        let c = cfg(27, 3, 1, 9);
        let mut calls = Vec::new();
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let res = successive_halving(
            &c,
            &[4; 5],
            &mut rng,
            |g| g[0] != 0,
            |g, e, r| {
                assert_ne!(g[0], 0);
                calls.push((g.clone(), e, r));
                Ok::<_, ()>(score(g, e))
            },
        )
        .unwrap();
        let shape: Vec<(usize, usize)> = res
            .rungs
            .iter()
            .map(|r| (r.epochs, r.scores.len()))
            .collect();
        assert_eq!(shape, plan(&c));
        assert_eq!(calls.len(), 27 + 9 + 3);
        for w in res.rungs.windows(2) {
            let mut prev = w[0].scores.clone();
            sort_best_first(&mut prev);
            let kept: Vec<Genome> = prev
                .iter()
                .take(w[1].scores.len())
                .map(|s| s.0.clone())
                .collect();
            let next: Vec<Genome> = w[1].scores.iter().map(|s| s.0.clone()).collect();
            assert_eq!(kept, next);
        }
        let last = res.rungs.last().unwrap();
        let (g, s) = res.best.unwrap();
        assert_eq!(last.epochs, 9);
        assert!(last.scores.iter().all(|x| x.1 <= s));
        assert_eq!(s, score(&g, 9));
        // The best of rung 0 survives to the end, since the score's ordering does not change.
        let mut first = res.rungs[0].scores.clone();
        sort_best_first(&mut first);
        assert_eq!(first[0].0, g);
        assert!(calls.iter().all(|(_, e, r)| *e == [1, 3, 9][*r]));
    }

    #[test]
    fn fewer_candidates_than_asked() {
        let c = cfg(81, 3, 1, 27);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let res = successive_halving(
            &c,
            &[2, 5],
            &mut rng,
            |_| true,
            |g, e, _| Ok::<_, ()>(score(g, e)),
        )
        .unwrap();
        let shape: Vec<(usize, usize)> = res
            .rungs
            .iter()
            .map(|r| (r.epochs, r.scores.len()))
            .collect();
        assert_eq!(shape, vec![(1, 10), (3, 4), (9, 2), (27, 1)]);
        assert_eq!(res.best.unwrap().0, vec![0, 0]);
    }

    #[test]
    fn degenerate_inputs() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let never = |_: &Genome, _, _| -> Result<f64, ()> { panic!() };
        let res =
            successive_halving(&cfg(9, 3, 1, 9), &[4, 4], &mut rng, |_| false, never).unwrap();
        assert!(res.rungs.is_empty() && res.best.is_none());
        assert!(matches!(
            successive_halving(&cfg(9, 1, 1, 9), &[4, 4], &mut rng, |_| true, never),
            Err(SearchError::Config(_))
        ));
        let err = successive_halving(
            &cfg(9, 3, 1, 9),
            &[4, 4],
            &mut rng,
            |_| true,
            |_, _, _| Err::<f64, _>(7),
        );
        assert!(matches!(err, Err(SearchError::Eval(7))));
    }

    #[test]
    fn deterministic() {
        let run = |seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            successive_halving(
                &cfg(20, 2, 1, 16),
                &[6; 4],
                &mut rng,
                |_| true,
                |g, e, _| Ok::<_, ()>(score(g, e)),
            )
            .unwrap()
        };
        assert_eq!(run(2), run(2));
        assert_ne!(run(2), run(3));
    }
}
