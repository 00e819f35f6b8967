//! Exact percentiles of a run's samples (a run has at most a few hundred
//! thousand, so sorting them all is cheap and avoids histogram rounding).

/// Percentiles of a set of samples (nanoseconds, or any unit).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Summary {
    pub count: usize,
    pub p50: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub mean: f64,
}

pub struct Percentiles;

impl Percentiles {
    /// The nearest-rank percentiles of `samples` (all zero when empty).
    pub fn of(mut samples: Vec<u64>) -> Summary {
        if samples.is_empty() {
            return Summary::default();
        }
        samples.sort_unstable();
        let n = samples.len();
        let rank = |q: f64| {
            let r = (q * n as f64).ceil() as usize;
            samples[r.clamp(1, n) - 1]
        };
        Summary {
            count: n,
            p50: rank(0.50),
            p99: rank(0.99),
            p999: rank(0.999),
            max: samples[n - 1],
            mean: samples.iter().map(|&s| s as f64).sum::<f64>() / n as f64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_of_a_thousand() {
        let s = Percentiles::of((1..=1000).rev().collect());
        assert_eq!((s.p50, s.p99, s.p999, s.max), (500, 990, 999, 1000));
        assert_eq!(s.count, 1000);
        assert!((s.mean - 500.5).abs() < 1e-9);
    }

    #[test]
    fn small_and_empty_sets() {
        let s = Percentiles::of(vec![7]);
        assert_eq!((s.p50, s.p99, s.p999, s.max), (7, 7, 7, 7));
        assert_eq!(Percentiles::of(vec![]), Summary::default());
        let s = Percentiles::of(vec![1, 2, 3, 100]);
        assert_eq!((s.p50, s.p99), (2, 100));
    }
}
