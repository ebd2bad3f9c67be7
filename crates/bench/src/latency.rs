//! End-to-end latency samples from many reader tasks, into a few locked histograms.

use hdrhistogram::Histogram;
use parking_lot::Mutex;
use serde::Serialize;

const SHARDS: usize = 32;
/// Up to 60 s, 3 significant digits, in µs.
const MAX_US: u64 = 60_000_000;

/// The quantiles a latency distribution is reported at: evenly spaced in nines, up to the
/// largest sample.
pub const DISTRIBUTION: &[f64] = &[
    0.0, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999, 0.99995, 0.99999, 1.0,
];

/// Latency recorder shared by all readers.
pub struct Latencies {
    shards: Vec<Mutex<Histogram<u64>>>,
}

/// The percentiles a report shows, in µs.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
}

impl Latencies {
    pub fn new() -> Latencies {
        let shards = (0..SHARDS)
            .map(|_| {
                Mutex::new(
                    Histogram::new_with_bounds(1, MAX_US, 3)
                        .unwrap_or_else(|_| unreachable!("constant bounds are valid")),
                )
            })
            .collect();
        Latencies { shards }
    }

    /// Records one sample from reader `reader`.
    pub fn record(&self, reader: usize, micros: i64) {
        let value = micros.clamp(1, MAX_US as i64) as u64;
        let _ = self.shards[reader % SHARDS].lock().record(value);
    }

    /// Every sample of `parts`, in one recorder.
    pub fn union<'a>(parts: impl IntoIterator<Item = &'a Latencies>) -> Latencies {
        let all = Latencies::new();
        for part in parts {
            for (into, from) in all.shards.iter().zip(&part.shards) {
                let _ = into.lock().add(&*from.lock());
            }
        }
        all
    }

    /// Forgets everything (after a warm-up).
    pub fn reset(&self) {
        for shard in &self.shards {
            shard.lock().reset();
        }
    }

    /// Every shard's samples in one histogram.
    fn merged(&self) -> Option<Histogram<u64>> {
        let mut all = Histogram::<u64>::new_with_bounds(1, MAX_US, 3).ok()?;
        for shard in &self.shards {
            let _ = all.add(&*shard.lock());
        }
        Some(all)
    }

    /// The latency at each of [`DISTRIBUTION`]'s quantiles (for a plot): `(quantile, µs)`.
    pub fn distribution(&self) -> Vec<(f64, u64)> {
        let Some(all) = self.merged().filter(|all| !all.is_empty()) else {
            return Vec::new();
        };
        DISTRIBUTION
            .iter()
            .map(|&quantile| (quantile, all.value_at_quantile(quantile)))
            .collect()
    }

    pub fn percentiles(&self) -> Percentiles {
        let Some(all) = self.merged() else {
            return Percentiles::default();
        };
        Percentiles {
            count: all.len(),
            p50_us: all.value_at_quantile(0.50),
            p99_us: all.value_at_quantile(0.99),
            p999_us: all.value_at_quantile(0.999),
            max_us: all.max(),
        }
    }
}

impl Default for Latencies {
    fn default() -> Self {
        Latencies::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_union_holds_every_part() {
        let (a, b) = (Latencies::new(), Latencies::new());
        a.record(0, 100);
        a.record(1, 200);
        b.record(0, 5_000);
        let all = Latencies::union([&a, &b]).percentiles();
        assert_eq!(all.count, 3);
        assert_eq!(all.max_us, b.percentiles().max_us);
        assert_eq!(a.percentiles().count, 2, "the parts stay as they were");
    }
}
