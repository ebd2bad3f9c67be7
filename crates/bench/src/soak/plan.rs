//! The fault schedule: which fault, on what, and when, drawn from a seed so that a run can be
//! repeated. Every kind comes up early (the first five faults are one of each, in a random
//! order), so even a two-minute run meets all of them; after that a `kill -9` comes up once in
//! seventeen faults: each one starts a new server process, whose memory is judged on its own,
//! and a leak needs a process that lives for minutes to show.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::collections::HashMap;
use std::time::Duration;

/// What goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Sockets closed without a close frame (`POST /admin/v1/faults` `drop`).
    Drop,
    /// Connections silent, pongs included, for a while (`mute`).
    Mute,
    /// Subscriptions ended with `eventStreamTerminated` (`terminate`).
    Terminate,
    /// `serverShutdown`, then close 1001 after a grace period (`shutdown`).
    Shutdown,
    /// The server process killed with SIGKILL, then started again on the same ports and data.
    Kill,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Drop,
        Kind::Mute,
        Kind::Terminate,
        Kind::Shutdown,
        Kind::Kill,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Drop => "drop",
            Kind::Mute => "mute",
            Kind::Terminate => "terminate",
            Kind::Shutdown => "shutdown",
            Kind::Kill => "kill",
        }
    }
}

/// Which connections an admin-API fault touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// Every connection.
    All,
    /// The connections subscribed to one account.
    Account,
    /// One connection.
    Session,
}

impl Target {
    pub fn name(self) -> &'static str {
        match self {
            Target::All => "all",
            Target::Account => "account",
            Target::Session => "session",
        }
    }
}

/// One fault of the schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// When, counted from the start of the run's main phase.
    pub at: Duration,
    pub kind: Kind,
    /// `All` for a kill.
    pub target: Target,
    /// Mute length, shutdown grace, or how long the killed server stays down.
    pub duration: Duration,
    /// Picks the account or the session (modulo how many there are when it fires).
    pub pick: u64,
}

/// The bounds a schedule is drawn within.
#[derive(Debug, Clone)]
pub struct PlanSettings {
    pub seed: u64,
    /// Faults fall between these two offsets from the start of the main phase.
    pub from: Duration,
    pub until: Duration,
    /// On average one fault per this long (at least one of each kind in any case).
    pub mean_interval: Duration,
}

/// The targets a kind is injected on, in proportion: every connection one time in five.
const TARGET_DECK: [Target; 5] = [
    Target::All,
    Target::Account,
    Target::Account,
    Target::Session,
    Target::Session,
];
/// How long a mute lasts: some shorter than the client's silence detection (a stall, no gap),
/// some longer (a reconnect and a gap).
const MUTE: (u64, u64) = (2_000, 15_000);
/// The grace between `serverShutdown` and the close: enough for every stream to hand over.
const SHUTDOWN_GRACE: (u64, u64) = (8_000, 15_000);
/// How long a killed server stays down.
const DOWN: (u64, u64) = (1_000, 5_000);

/// Draws the schedule.
pub fn plan(settings: &PlanSettings) -> Vec<Planned> {
    let mut rng = StdRng::seed_from_u64(settings.seed);
    let span = settings.until.saturating_sub(settings.from);
    let wanted = span.as_secs_f64() / settings.mean_interval.as_secs_f64().max(0.001);
    let count = (wanted.round() as usize).max(Kind::ALL.len());
    let mut kinds = Vec::with_capacity(count + 9);
    let mut first = Kind::ALL.to_vec();
    first.shuffle(&mut rng);
    kinds.extend(first);
    while kinds.len() < count {
        let mut block = vec![Kind::Kill];
        for _ in 0..4 {
            block.extend([Kind::Drop, Kind::Mute, Kind::Terminate, Kind::Shutdown]);
        }
        block.shuffle(&mut rng);
        kinds.extend(block);
    }
    kinds.truncate(count);
    let slot = span / count as u32;
    let mut decks: HashMap<Kind, Vec<Target>> = HashMap::new();
    kinds
        .into_iter()
        .enumerate()
        .map(|(index, kind)| {
            // Somewhere in the middle of its slot, so two faults are never on top of each other.
            let at = settings.from + slot * index as u32 + slot.mul_f64(rng.random_range(0.2..0.8));
            let target = match kind {
                Kind::Kill => Target::All,
                _ => {
                    // Each kind draws its targets from its own shuffled deck, so that a long run
                    // meets every kind on every connection as well as on single ones.
                    let deck = decks.entry(kind).or_default();
                    if deck.is_empty() {
                        deck.extend(TARGET_DECK);
                        deck.shuffle(&mut rng);
                    }
                    deck.pop().unwrap_or(Target::Account)
                }
            };
            let range = match kind {
                Kind::Mute => MUTE,
                Kind::Shutdown => SHUTDOWN_GRACE,
                Kind::Kill => DOWN,
                Kind::Drop | Kind::Terminate => (0, 0),
            };
            Planned {
                at,
                kind,
                target,
                duration: Duration::from_millis(rng.random_range(range.0..=range.1)),
                pick: rng.random(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(seed: u64, minutes: u64) -> PlanSettings {
        PlanSettings {
            seed,
            from: Duration::from_secs(10),
            until: Duration::from_secs(minutes * 60 - 30),
            mean_interval: Duration::from_secs(30),
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_schedule() {
        assert_eq!(plan(&settings(7, 30)), plan(&settings(7, 30)));
        assert_ne!(plan(&settings(7, 30)), plan(&settings(8, 30)));
    }

    #[test]
    fn a_short_run_meets_every_kind_once() {
        let schedule = plan(&settings(1, 2));
        let mut kinds: Vec<Kind> = schedule.iter().map(|fault| fault.kind).collect();
        kinds.sort();
        assert_eq!(kinds, Kind::ALL.to_vec());
    }

    #[test]
    fn faults_are_ordered_spaced_and_within_bounds() {
        let bounds = settings(3, 30);
        let schedule = plan(&bounds);
        assert!(schedule.len() >= 50, "{}", schedule.len());
        for pair in schedule.windows(2) {
            assert!(pair[1].at > pair[0].at);
        }
        assert!(
            schedule
                .iter()
                .all(|f| f.at >= bounds.from && f.at < bounds.until)
        );
        let kills = schedule.iter().filter(|f| f.kind == Kind::Kill).count();
        assert!((3..=6).contains(&kills), "{kills} kills");
        for kind in [Kind::Drop, Kind::Mute, Kind::Terminate, Kind::Shutdown] {
            let on_all = schedule
                .iter()
                .filter(|f| f.kind == kind && f.target == Target::All)
                .count();
            assert!(on_all >= 2, "{kind:?} on every connection {on_all} times");
        }
        for fault in &schedule {
            match fault.kind {
                Kind::Kill => assert_eq!(fault.target, Target::All),
                Kind::Mute => assert!(fault.duration >= Duration::from_secs(2)),
                _ => {}
            }
        }
    }
}
