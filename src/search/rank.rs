//! Rank correlations between two score lists (e.g. supernet accuracy against stand-alone accuracy):
//! Kendall's tau-b and Spearman's rho, both handling ties.

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
}
