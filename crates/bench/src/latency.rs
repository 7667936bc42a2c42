//! Latency samples and their percentiles (nearest rank), in microseconds.

use std::time::Duration;

/// Latencies of one measurement, in microseconds, in the order they were taken.
#[derive(Debug, Clone, Default)]
pub(crate) struct Samples {
    micros: Vec<u64>,
}

/// The summary of a [`Samples`]: count, p50 and p99.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Summary {
    /// Number of samples.
    pub(crate) count: usize,
    /// Median, milliseconds.
    pub(crate) p50_ms: f64,
    /// 99th percentile, milliseconds.
    pub(crate) p99_ms: f64,
}

impl Samples {
    /// Records one latency.
    pub(crate) fn push(&mut self, latency: Duration) {
        self.micros
            .push(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
    }

    /// Adds every sample of `other`.
    pub(crate) fn extend(&mut self, other: Samples) {
        self.micros.extend(other.micros);
    }

    /// Number of samples.
    pub(crate) fn len(&self) -> usize {
        self.micros.len()
    }

    /// The nearest-rank percentile `p` (0 < p <= 100) in microseconds; `None` without samples.
    pub(crate) fn percentile_micros(&self, p: f64) -> Option<u64> {
        if self.micros.is_empty() {
            return None;
        }
        let mut sorted = self.micros.clone();
        sorted.sort_unstable();
        // Nearest rank: the smallest value with at least p % of the samples at or below it.
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        let index = rank.clamp(1, sorted.len()) - 1;
        sorted.get(index).copied()
    }

    /// Count, p50 and p99 in milliseconds; `None` without samples.
    pub(crate) fn summary(&self) -> Option<Summary> {
        let ms = |p: f64| self.percentile_micros(p).map(|us| us as f64 / 1_000.0);
        Some(Summary {
            count: self.len(),
            p50_ms: ms(50.0)?,
            p99_ms: ms(99.0)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(micros: &[u64]) -> Samples {
        let mut samples = Samples::default();
        for &us in micros {
            samples.push(Duration::from_micros(us));
        }
        samples
    }

    #[test]
    fn nearest_rank_of_one_to_a_hundred() {
        let all: Vec<u64> = (1..=100).rev().collect();
        let samples = samples(&all);
        assert_eq!(samples.percentile_micros(50.0), Some(50));
        assert_eq!(samples.percentile_micros(99.0), Some(99));
        assert_eq!(samples.percentile_micros(100.0), Some(100));
        assert_eq!(samples.percentile_micros(0.5), Some(1));
    }

    #[test]
    fn p99_of_few_samples_is_the_largest() {
        let samples = samples(&[3_000, 1_000, 2_000]);
        let summary = samples.summary().unwrap();
        assert_eq!(summary.count, 3);
        assert_eq!(summary.p50_ms, 2.0);
        assert_eq!(summary.p99_ms, 3.0);
    }

    #[test]
    fn no_samples_no_summary() {
        assert_eq!(Samples::default().summary(), None);
    }
}
