//! Jitter statistics: how late ticks arrive (received minus scheduled), as a histogram.

use std::time::Duration;

/// Width of one histogram bucket, in nanoseconds (10 µs).
const BUCKET_NS: u64 = 10_000;
/// Buckets cover 0 to 100 ms; later arrivals share the last bucket (the maximum stays exact).
const BUCKETS: usize = 10_000;

/// A histogram of lateness with 10 µs resolution up to 100 ms, plus exact minimum and maximum.
///
/// Arrivals before their scheduled time (possible only between hosts whose clocks differ)
/// count as 0 in the percentiles and show in [`JitterStats::min_ns`].
#[derive(Debug, Clone)]
pub struct JitterStats {
    buckets: Vec<u32>,
    count: u64,
    sum_ns: i128,
    min_ns: i64,
    max_ns: i64,
}

impl Default for JitterStats {
    fn default() -> Self {
        JitterStats {
            buckets: vec![0; BUCKETS],
            count: 0,
            sum_ns: 0,
            min_ns: i64::MAX,
            max_ns: i64::MIN,
        }
    }
}

impl JitterStats {
    /// An empty histogram.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one arrival `late_ns` nanoseconds after its scheduled time (negative: early).
    pub fn record(&mut self, late_ns: i64) {
        let i = (late_ns.max(0) as u64 / BUCKET_NS).min(BUCKETS as u64 - 1) as usize;
        self.buckets[i] = self.buckets[i].saturating_add(1);
        self.count += 1;
        self.sum_ns += i128::from(late_ns);
        self.min_ns = self.min_ns.min(late_ns);
        self.max_ns = self.max_ns.max(late_ns);
    }

    /// How many arrivals were recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// How many arrivals were at most `d` late, to 10 µs (those in buckets whose upper edge is
    /// at most `d`; arrivals later than 100 ms count only once `d` exceeds the maximum).
    pub fn count_at_most(&self, d: Duration) -> u64 {
        let ns = d.as_nanos().min(u128::from(u64::MAX)) as u64;
        if self.count > 0 && ns >= self.max_ns.max(0) as u64 {
            return self.count;
        }
        let full = ((ns / BUCKET_NS) as usize).min(BUCKETS - 1);
        self.buckets[..full].iter().map(|n| u64::from(*n)).sum()
    }

    /// The total lateness of all arrivals (early arrivals count negative; never below 0).
    pub fn sum(&self) -> Duration {
        Duration::from_nanos(self.sum_ns.clamp(0, i128::from(u64::MAX)) as u64)
    }

    /// The earliest arrival relative to schedule, in ns (0 when empty).
    pub fn min_ns(&self) -> i64 {
        if self.count == 0 {
            0
        } else {
            self.min_ns
        }
    }

    /// The latest arrival, exact.
    pub fn max(&self) -> Duration {
        Duration::from_nanos(self.max_ns.max(0) as u64)
    }

    /// The mean lateness.
    pub fn mean(&self) -> Duration {
        if self.count == 0 {
            return Duration::ZERO;
        }
        let m = self.sum_ns / i128::from(self.count);
        Duration::from_nanos(m.clamp(0, i128::from(u64::MAX)) as u64)
    }

    /// The lateness below which a fraction `p` (0..=1) of arrivals fall, to 10 µs (the upper
    /// edge of its bucket, never above the maximum).
    pub fn percentile(&self, p: f64) -> Duration {
        if self.count == 0 {
            return Duration::ZERO;
        }
        let want = ((p.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += u64::from(*n);
            if seen >= want {
                if i == BUCKETS - 1 {
                    return self.max();
                }
                let edge = Duration::from_nanos((i as u64 + 1) * BUCKET_NS);
                return edge.min(self.max());
            }
        }
        self.max()
    }

    /// Counts per bucket of `width` for the first `n` buckets (the last one gathers the rest):
    /// what a terminal histogram draws.
    pub fn coarse(&self, width: Duration, n: usize) -> Vec<u64> {
        let per = (width.as_nanos() as u64 / BUCKET_NS).max(1) as usize;
        let mut out = vec![0u64; n.max(1)];
        let last = out.len() - 1;
        for (i, c) in self.buckets.iter().enumerate() {
            out[(i / per).min(last)] += u64::from(*c);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cumulative_counts_and_sum() {
        let mut j = JitterStats::new();
        for us in [5i64, 15, 15, 95, 250_000] {
            j.record(us * 1000);
        }
        j.record(-3_000); // early: bucket 0, negative in the sum
        let at = |us: u64| j.count_at_most(Duration::from_micros(us));
        assert_eq!(at(0), 0);
        assert_eq!(at(10), 2); // -3 µs and 5 µs
        assert_eq!(at(19), 2); // 15 µs is in the bucket 10..20, whose edge is 20
        assert_eq!(at(20), 4);
        assert_eq!(at(100_000), 5);
        assert_eq!(at(249_999), 5); // beyond 100 ms only the maximum is exact
        assert_eq!(at(250_000), 6);
        assert_eq!(
            j.sum(),
            Duration::from_micros(5 + 15 + 15 + 95 + 250_000 - 3)
        );
    }

    #[test]
    fn percentiles_to_ten_microseconds() {
        let mut j = JitterStats::new();
        for us in 1..=100i64 {
            j.record(us * 1_000);
        }
        assert_eq!(j.count(), 100);
        assert_eq!(j.percentile(0.5), Duration::from_micros(60)); // 50 µs, bucket [50, 60)
        assert_eq!(j.percentile(0.99), Duration::from_micros(100));
        assert_eq!(j.max(), Duration::from_micros(100));
        assert_eq!(j.mean(), Duration::from_nanos(50_500));
    }

    #[test]
    fn early_and_very_late_arrivals() {
        let mut j = JitterStats::new();
        j.record(-5_000);
        j.record(3_000_000_000);
        assert_eq!(j.min_ns(), -5_000);
        assert_eq!(j.max(), Duration::from_secs(3));
        assert_eq!(j.percentile(0.5), Duration::from_micros(10));
        assert_eq!(j.percentile(1.0), Duration::from_secs(3));
        let c = j.coarse(Duration::from_millis(1), 4);
        assert_eq!(c, vec![1, 0, 0, 1]);
        assert_eq!(JitterStats::new().percentile(0.5), Duration::ZERO);
    }
}
