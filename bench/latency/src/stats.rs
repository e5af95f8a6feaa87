//! Percentiles of recorded latencies.

/// Latency percentiles in microseconds.
#[derive(Debug, Default, PartialEq)]
pub struct Summary {
    /// Number of samples.
    pub count: usize,
    /// Median.
    pub p50_us: f64,
    /// 90th percentile.
    pub p90_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Largest sample.
    pub max_us: f64,
}

impl Summary {
    /// Sorts `samples` (nanoseconds) and summarises them; all zero when there are none.
    pub fn of(samples: &mut [u64]) -> Summary {
        if samples.is_empty() {
            return Summary::default();
        }
        samples.sort_unstable();
        let at = |quantile: f64| micros(samples[nearest_rank(samples.len(), quantile)]);
        Summary {
            count: samples.len(),
            p50_us: at(0.50),
            p90_us: at(0.90),
            p99_us: at(0.99),
            p999_us: at(0.999),
            max_us: micros(samples[samples.len() - 1]),
        }
    }

    /// The fields as JSON members named `<prefix>_p50_us` etc., without braces.
    pub fn json_fields(&self, prefix: &str) -> String {
        format!(
            "\"{prefix}_p50_us\":{:.1},\"{prefix}_p90_us\":{:.1},\"{prefix}_p99_us\":{:.1},\
\"{prefix}_p999_us\":{:.1},\"{prefix}_max_us\":{:.1}",
            self.p50_us, self.p90_us, self.p99_us, self.p999_us, self.max_us
        )
    }
}

/// Index of the nearest-rank percentile in a sorted slice of `len` (> 0) samples.
fn nearest_rank(len: usize, quantile: f64) -> usize {
    let rank = (quantile * len as f64).ceil() as usize;
    rank.clamp(1, len) - 1
}

fn micros(nanos: u64) -> f64 {
    nanos as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let mut samples: Vec<u64> = (1..=100).rev().map(|n| n * 1000).collect();
        let summary = Summary::of(&mut samples);
        assert_eq!(summary.count, 100);
        assert_eq!(summary.p50_us, 50.0);
        assert_eq!(summary.p99_us, 99.0);
        assert_eq!(summary.max_us, 100.0);
    }

    #[test]
    fn no_samples_give_zeros() {
        assert_eq!(Summary::of(&mut []), Summary::default());
    }

    #[test]
    fn json_fields_are_prefixed() {
        let mut samples = vec![1500];
        let text = Summary::of(&mut samples).json_fields("service");
        assert!(text.starts_with("\"service_p50_us\":1.5,"));
    }
}
