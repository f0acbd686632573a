//! Rank correlations between two score lists (e.g. supernet accuracy against stand-alone accuracy):
//! Kendall's tau-b and Spearman's rho, both handling ties; the noise ceiling of a benchmark trained
//! with several seeds (how well the seeds rank alike); and percentile bootstrap intervals over the
//! ranked items.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Kendall's tau-b. `None` if the lengths differ, there are fewer than two values, a value is NaN,
/// or either list is constant.
pub fn kendall_tau(a: &[f64], b: &[f64]) -> Option<f64> {
    let n = a.len();
    if n != b.len() || n < 2 || a.iter().chain(b).any(|x| x.is_nan()) {
        return None;
    }
    let (mut concordant, mut discordant) = (0i64, 0i64);
    let (mut ties_a, mut ties_b) = (0i64, 0i64);
    for i in 0..n {
        for j in i + 1..n {
            let da = a[i].total_cmp(&a[j]) as i64;
            let db = b[i].total_cmp(&b[j]) as i64;
            if a[i] == a[j] {
                ties_a += 1;
            }
            if b[i] == b[j] {
                ties_b += 1;
            }
            if a[i] != a[j] && b[i] != b[j] {
                if da == db {
                    concordant += 1;
                } else {
                    discordant += 1;
                }
            }
        }
    }
    let pairs = (n * (n - 1) / 2) as i64;
    let denom = ((pairs - ties_a) as f64 * (pairs - ties_b) as f64).sqrt();
    if denom == 0.0 {
        return None;
    }
    Some((concordant - discordant) as f64 / denom)
}

/// 1-based ranks, ties sharing the average of their positions.
fn average_ranks(x: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..x.len()).collect();
    order.sort_by(|&i, &j| x[i].total_cmp(&x[j]));
    let mut ranks = vec![0.0; x.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && x[order[end]] == x[order[start]] {
            end += 1;
        }
        // Positions start+1 ..= end share their mean.
        let mean = (start + 1 + end) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = mean;
        }
        start = end;
    }
    ranks
}

/// Pearson correlation; `None` if the lists differ in length, have fewer than two values, or either
/// has zero variance.
pub fn pearson(a: &[f64], b: &[f64]) -> Option<f64> {
    if a.len() != b.len() || a.len() < 2 {
        return None;
    }
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    if saa == 0.0 || sbb == 0.0 {
        return None;
    }
    Some(sab / (saa * sbb).sqrt())
}

/// Spearman's rho: the Pearson correlation of the average ranks. `None` in the same cases as
/// [`kendall_tau`].
pub fn spearman(a: &[f64], b: &[f64]) -> Option<f64> {
    if a.len() != b.len() || a.len() < 2 || a.iter().chain(b).any(|x| x.is_nan()) {
        return None;
    }
    pearson(&average_ranks(a), &average_ranks(b))
}

/// A correlation measure over two score lists.
pub type Measure = fn(&[f64], &[f64]) -> Option<f64>;

/// A 95% percentile bootstrap interval of a correlation, with the number of resamples on which it
/// was defined (a resample can draw one item repeatedly and leave a list constant).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
    pub resamples: usize,
}

/// Resamples the default bootstrap draws.
pub const RESAMPLES: usize = 1000;

/// The `q`-quantile (0..=1) of sorted values, linearly interpolated between order statistics.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// The index lists of `resamples` bootstrap resamples of `n` items (drawn with replacement, seeded):
/// the same lists serve every statistic of one benchmark, so their intervals are paired.
pub fn resample_indices(n: usize, resamples: usize, seed: u64) -> Vec<Vec<usize>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..resamples)
        .map(|_| (0..n).map(|_| rng.random_range(0..n.max(1))).collect())
        .collect()
}

/// The 95% percentile bootstrap interval of `measure(series[0], series[1])` when `series` holds two
/// lists, or of the mean of `measure` over every pair of lists when it holds more (the seed-to-seed
/// agreement of several seeds), over the items resampled by `indices`. `None` when fewer than two
/// lists or items, or when the measure is undefined on more than half of the resamples.
pub fn bootstrap(series: &[&[f64]], measure: Measure, indices: &[Vec<usize>]) -> Option<Interval> {
    let n = series.first()?.len();
    if series.len() < 2 || n < 2 || series.iter().any(|s| s.len() != n) {
        return None;
    }
    let mut values: Vec<f64> = indices
        .iter()
        .filter_map(|idx| {
            let picked: Vec<Vec<f64>> = series
                .iter()
                .map(|s| idx.iter().map(|&i| s[i]).collect())
                .collect();
            let refs: Vec<&[f64]> = picked.iter().map(Vec::as_slice).collect();
            pairwise_mean(&refs, measure)
        })
        .collect();
    if values.len() * 2 <= indices.len() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some(Interval {
        low: quantile(&values, 0.025),
        high: quantile(&values, 0.975),
        resamples: values.len(),
    })
}

/// The mean of `measure` over every pair of `series` (one pair: the measure itself); `None` if it
/// is undefined for any pair or there are fewer than two series.
pub fn pairwise_mean(series: &[&[f64]], measure: Measure) -> Option<f64> {
    let mut sum = 0.0;
    let mut pairs = 0usize;
    for i in 0..series.len() {
        for j in i + 1..series.len() {
            sum += measure(series[i], series[j])?;
            pairs += 1;
        }
    }
    (pairs > 0).then(|| sum / pairs as f64)
}

/// The per-item mean of several equally long score lists (stand-alone accuracy over seeds).
pub fn item_means(series: &[Vec<f64>]) -> Vec<f64> {
    let n = series.first().map_or(0, Vec::len);
    (0..n)
        .map(|i| series.iter().map(|s| s[i]).sum::<f64>() / series.len() as f64)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(x: Option<f64>, want: f64) {
        let x = x.expect("defined");
        assert!((x - want).abs() < 1e-12, "{x} != {want}");
    }

    #[test]
    fn without_ties() {
        let (a, b) = ([1.0, 2.0, 3.0, 4.0, 5.0], [3.0, 1.0, 2.0, 5.0, 4.0]);
        close(kendall_tau(&a, &b), 0.4);
        close(spearman(&a, &b), 0.6);
        close(kendall_tau(&a, &a), 1.0);
        let rev: Vec<f64> = a.iter().rev().copied().collect();
        close(kendall_tau(&a, &rev), -1.0);
        close(spearman(&a, &rev), -1.0);
        // Only the order matters.
        let cubed: Vec<f64> = b.iter().map(|x| x * x * x - 100.0).collect();
        close(kendall_tau(&a, &cubed), 0.4);
        close(spearman(&a, &cubed), 0.6);
    }

    #[test]
    fn with_ties() {
        let (a, b) = ([1.0, 2.0, 2.0, 3.0], [1.0, 3.0, 2.0, 4.0]);
        close(kendall_tau(&a, &b), 0.9128709291752769);
        close(spearman(&a, &b), 0.9486832980505138);
        assert_eq!(
            average_ranks(&[5.0, 1.0, 5.0, 3.0]),
            vec![3.5, 1.0, 3.5, 2.0]
        );
    }

    #[test]
    fn undefined_cases() {
        assert_eq!(kendall_tau(&[1.0], &[2.0]), None);
        assert_eq!(kendall_tau(&[1.0, 2.0], &[1.0]), None);
        assert_eq!(kendall_tau(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]), None);
        assert_eq!(spearman(&[1.0, 2.0, 3.0], &[4.0, 4.0, 4.0]), None);
        assert_eq!(spearman(&[], &[]), None);
        assert_eq!(kendall_tau(&[1.0, f64::NAN], &[1.0, 2.0]), None);
        assert_eq!(spearman(&[1.0, f64::NAN], &[1.0, 2.0]), None);
    }

    #[test]
    fn pairwise_means_and_item_means() {
        let (a, b) = ([1.0, 2.0, 3.0, 4.0, 5.0], [3.0, 1.0, 2.0, 5.0, 4.0]);
        close(pairwise_mean(&[&a, &b], kendall_tau), 0.4);
        // Three seeds: the mean over the three pairs (a,b) 0.4, (a,a) 1, (b,a) 0.4.
        close(pairwise_mean(&[&a, &b, &a], kendall_tau), 1.8 / 3.0);
        assert_eq!(pairwise_mean(&[&a], kendall_tau), None);
        assert_eq!(
            item_means(&[vec![1.0, 2.0], vec![3.0, 5.0]]),
            vec![2.0, 3.5]
        );
        assert_eq!(quantile(&[0.0, 10.0], 0.25), 2.5);
        assert_eq!(quantile(&[7.0], 0.9), 7.0);
    }

    #[test]
    fn bootstrap_indices_are_seeded_and_in_range() {
        let a = resample_indices(10, 50, 3);
        assert_eq!(a, resample_indices(10, 50, 3));
        assert_ne!(a, resample_indices(10, 50, 4));
        assert_eq!(a.len(), 50);
        assert!(a.iter().all(|r| r.len() == 10 && r.iter().all(|&i| i < 10)));
        // Drawn with replacement: some resample repeats an item.
        assert!(a.iter().any(|r| {
            let mut s = r.clone();
            s.sort();
            s.dedup();
            s.len() < 10
        }));
    }

    #[test]
    fn bootstrap_intervals_cover_the_estimate_and_shrink_with_agreement() {
        let idx = resample_indices(30, RESAMPLES, 0);
        let x: Vec<f64> = (0..30).map(f64::from).collect();
        // Perfect agreement: every defined resample gives tau 1, a degenerate interval.
        let same = bootstrap(&[&x, &x], kendall_tau, &idx).unwrap();
        assert_eq!((same.low, same.high), (1.0, 1.0));
        assert_eq!(same.resamples, RESAMPLES);
        // A noisy copy: the interval holds the point estimate and is strictly inside [-1, 1].
        let noisy: Vec<f64> = x
            .iter()
            .enumerate()
            .map(|(i, v)| v + [9.0, -7.0, 3.0, -11.0, 5.0][i % 5])
            .collect();
        let tau = kendall_tau(&x, &noisy).unwrap();
        let ci = bootstrap(&[&x, &noisy], kendall_tau, &idx).unwrap();
        assert!(ci.low <= tau && tau <= ci.high, "{tau} not in {ci:?}");
        assert!(ci.low > -1.0 && ci.high < 1.0 && ci.low < ci.high, "{ci:?}");
        let rho = bootstrap(&[&x, &noisy], spearman, &idx).unwrap();
        assert!(rho.low < rho.high);
        // Independent scores: the interval straddles zero.
        let shuffled: Vec<f64> = (0..30).map(|i| ((i * 17 + 5) % 30) as f64).collect();
        let ci = bootstrap(&[&x, &shuffled], kendall_tau, &idx).unwrap();
        assert!(ci.low < 0.0 && ci.high > 0.0, "{ci:?}");
        // Fewer items, wider interval.
        let few = resample_indices(8, RESAMPLES, 0);
        let wide = bootstrap(&[&x[..8], &noisy[..8]], kendall_tau, &few).unwrap();
        let narrow = bootstrap(&[&x, &noisy], kendall_tau, &idx).unwrap();
        assert!(wide.high - wide.low > narrow.high - narrow.low);
    }

    #[test]
    fn bootstrap_undefined_cases() {
        let idx = resample_indices(4, 100, 1);
        let x = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(bootstrap(&[&x], kendall_tau, &idx), None);
        assert_eq!(bootstrap(&[&x, &x[..3]], kendall_tau, &idx), None);
        // A constant list: undefined on every resample.
        assert_eq!(bootstrap(&[&x, &[2.0; 4]], kendall_tau, &idx), None);
        assert_eq!(bootstrap(&[], kendall_tau, &idx), None);
    }
}
