//! The server's memory and descriptors over time, and the rule that says they did not grow.
//!
//! A sample is taken every second. A `kill -9` starts a new server process (an incarnation),
//! so growth is judged per incarnation, in the main phase: after a warm-up counted from the
//! process's start, the *floor* (lower quartile) of the last third of the incarnation's samples
//! may exceed the floor of its first third by at most a small slack. Bursts come and go (every
//! renewal round opens thousands of token connections for a few seconds, a fault makes every
//! stream reconnect at once) and the floor ignores them as long as they cover less than three
//! quarters of the time; a leak raises the level the process returns to between them. An
//! incarnation with too little time after its warm-up is reported as not judged.

use serde::Serialize;
use std::time::Duration;

/// Where the run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Keys created, streams started.
    Setup,
    /// Finding the rate at which delivery stops keeping up.
    Ramp,
    /// Publishing at the chosen rate, with faults.
    Main,
    /// Publishing stopped; the streams catch up.
    Drain,
}

impl Phase {
    /// The inverse of `phase as u8`, for a phase kept in an atomic.
    pub fn from_u8(value: u8) -> Phase {
        match value {
            0 => Phase::Setup,
            1 => Phase::Ramp,
            2 => Phase::Main,
            _ => Phase::Drain,
        }
    }
}

/// One second of the run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sample {
    /// Seconds since the main phase started (negative before it).
    pub t: f64,
    pub phase: Phase,
    /// Which server process (0 first, +1 after each kill).
    pub incarnation: u32,
    /// `None` while the server is down.
    pub rss_bytes: Option<u64>,
    pub fds: Option<usize>,
    pub server_cpu_percent: Option<f64>,
    /// This process: every stream, the checks and the publisher.
    pub client_cpu_percent: Option<f64>,
    /// Events the streams yielded in the last second.
    pub delivered_per_sec: f64,
    /// Events accepted by the server in the last second.
    pub published_per_sec: f64,
    /// The load generator's own resident memory (all streams), for information.
    pub client_rss_bytes: Option<u64>,
}

/// How much a level may rise within an incarnation.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct GrowthRule {
    /// Samples this soon after the main phase starts, or after a restart, are not judged.
    pub warmup_secs: f64,
    /// An incarnation with fewer judged seconds than this is not judged.
    pub min_window_secs: f64,
    /// RSS: last-third floor ≤ first-third floor × (1 + fraction) + bytes.
    pub rss_fraction: f64,
    pub rss_bytes: u64,
    /// Descriptors: the same, with these slacks.
    pub fds_fraction: f64,
    pub fds: u64,
}

impl GrowthRule {
    /// The rule when tokens are renewed every `renewal` (three quarters of their validity).
    /// A restarted server is warm once every stream has come back and been through a renewal
    /// round (streams reconnect with their old tokens; their token connections, which cost
    /// the server more memory than a WebSocket, only come with the next renewal). So the
    /// warm-up is one renewal period and half as much again.
    pub fn for_renewal_period(renewal: Duration) -> GrowthRule {
        GrowthRule {
            warmup_secs: renewal.as_secs_f64() * 1.5,
            min_window_secs: 30.0,
            rss_fraction: 0.10,
            rss_bytes: 16 << 20,
            fds_fraction: 0.05,
            fds: 50,
        }
    }
}

/// The growth verdict on one server process.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncarnationVerdict {
    pub incarnation: u32,
    /// The judged window, in main-phase seconds.
    pub from_t: f64,
    pub to_t: f64,
    pub judged: bool,
    pub rss_first_bytes: u64,
    pub rss_last_bytes: u64,
    pub fds_first: u64,
    pub fds_last: u64,
    pub rss_ok: bool,
    pub fds_ok: bool,
}

impl IncarnationVerdict {
    pub fn ok(&self) -> bool {
        !self.judged || (self.rss_ok && self.fds_ok)
    }
}

/// Judges every incarnation seen in the main phase.
pub fn judge(samples: &[Sample], rule: &GrowthRule) -> Vec<IncarnationVerdict> {
    let mut incarnations: Vec<u32> = samples
        .iter()
        .filter(|sample| sample.phase == Phase::Main)
        .map(|sample| sample.incarnation)
        .collect();
    incarnations.dedup();
    incarnations
        .into_iter()
        .map(|incarnation| {
            let own = || samples.iter().filter(move |s| s.incarnation == incarnation);
            // The process started with its first sample (the first one at the run's setup).
            let started = own().next().map_or(0.0, |sample| sample.t);
            let window: Vec<(f64, u64, u64)> = own()
                .filter(|s| s.phase == Phase::Main && s.t >= started + rule.warmup_secs)
                .filter_map(|s| Some((s.t, s.rss_bytes?, s.fds? as u64)))
                .collect();
            let from_t = window.first().map_or(started, |s| s.0);
            let to_t = window.last().map_or(started, |s| s.0);
            let judged = to_t - from_t >= rule.min_window_secs && window.len() >= 6;
            let third = window.len() / 3;
            let (first, last) = (&window[..third], &window[window.len() - third..]);
            let rss_first = floor(first.iter().map(|s| s.1));
            let rss_last = floor(last.iter().map(|s| s.1));
            let fds_first = floor(first.iter().map(|s| s.2));
            let fds_last = floor(last.iter().map(|s| s.2));
            let allowed = |first: u64, fraction: f64, slack: u64| {
                (first as f64 * (1.0 + fraction)) as u64 + slack
            };
            IncarnationVerdict {
                incarnation,
                from_t,
                to_t,
                judged,
                rss_first_bytes: rss_first,
                rss_last_bytes: rss_last,
                fds_first,
                fds_last,
                rss_ok: rss_last <= allowed(rss_first, rule.rss_fraction, rule.rss_bytes),
                fds_ok: fds_last <= allowed(fds_first, rule.fds_fraction, rule.fds),
            }
        })
        .collect()
}

/// The lower quartile: the level the samples keep coming back to.
fn floor(values: impl Iterator<Item = u64>) -> u64 {
    let mut values: Vec<u64> = values.collect();
    values.sort_unstable();
    values.get(values.len() / 4).copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(t: f64, incarnation: u32, rss_mib: u64, fds: usize) -> Sample {
        Sample {
            t,
            phase: Phase::Main,
            incarnation,
            rss_bytes: Some(rss_mib << 20),
            fds: Some(fds),
            server_cpu_percent: None,
            client_cpu_percent: None,
            delivered_per_sec: 0.0,
            published_per_sec: 0.0,
            client_rss_bytes: None,
        }
    }

    fn rule() -> GrowthRule {
        GrowthRule::for_renewal_period(Duration::from_secs(40))
    }

    #[test]
    fn a_flat_run_with_bursts_passes() {
        // Bursts for 20 s of every minute, placed so that the last third holds more of them.
        let samples: Vec<Sample> = (0..600)
            .map(|t| {
                let spike = if t % 60 < 20 || (t > 500 && t % 60 < 40) {
                    80
                } else {
                    0
                };
                sample(t as f64, 0, 200 + spike, 10_000 + spike as usize * 50)
            })
            .collect();
        let verdicts = judge(&samples, &rule());
        assert_eq!(verdicts.len(), 1);
        assert!(verdicts[0].judged && verdicts[0].ok(), "{verdicts:?}");
        assert_eq!(verdicts[0].from_t, 60.0);
    }

    #[test]
    fn a_steady_climb_fails() {
        let samples: Vec<Sample> = (0..600)
            .map(|t| sample(t as f64, 0, 200 + t / 5, 10_000 + 3 * t as usize))
            .collect();
        let verdict = &judge(&samples, &rule())[0];
        assert!(!verdict.rss_ok && !verdict.fds_ok && !verdict.ok());
    }

    #[test]
    fn each_incarnation_is_judged_on_its_own() {
        // A restart at 300 s starts again from a low level: that is not growth, and the
        // second incarnation's own warm-up is skipped.
        let mut samples: Vec<Sample> = (0..300).map(|t| sample(t as f64, 0, 300, 10_000)).collect();
        samples.extend((300..320).map(|t| sample(t as f64, 1, 50 + (t - 300) * 10, 100)));
        samples.extend((320..600).map(|t| sample(t as f64, 1, 300, 10_000)));
        let verdicts = judge(&samples, &rule());
        assert_eq!(verdicts.len(), 2);
        assert!(verdicts.iter().all(|v| v.judged && v.ok()), "{verdicts:?}");
        assert_eq!(verdicts[1].from_t, 360.0);
    }

    #[test]
    fn a_short_incarnation_is_not_judged() {
        let samples: Vec<Sample> = (0..70)
            .map(|t| sample(t as f64, 0, t, t as usize))
            .collect();
        let verdict = &judge(&samples, &rule())[0];
        assert!(!verdict.judged && verdict.ok());
    }
}
