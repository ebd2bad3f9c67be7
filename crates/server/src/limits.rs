//! Request weight accounting in fixed windows, as Binance counts it.
//!
//! One [`WeightWindows`] counts REQUEST_WEIGHT per IP for the WebSocket API (shared by all of an
//! IP's connections), one counts SAPI weight per UID, and one counts new connections per IP.
//! Windows are aligned on multiples of their length (the minute, the 5 minutes).

use parking_lot::Mutex;
use std::collections::HashMap;
use std::hash::Hash;

/// One minute: the window of REQUEST_WEIGHT and SAPI weight.
pub const MINUTE_MS: i64 = 60_000;
/// Past this many tracked keys, stale windows are swept on the next charge.
const SWEEP_AT: usize = 4_096;

/// The outcome of charging weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Charge {
    /// Weight used in the current window, this request included.
    pub count: u64,
    /// The limit in force.
    pub limit: u64,
    /// Milliseconds until the window resets.
    pub retry_after_ms: i64,
}

impl Charge {
    /// True when this request took the window over its limit.
    pub fn exceeded(&self) -> bool {
        self.count > self.limit
    }
}

/// A map whose stale entries are swept at most once per window, so a crowd of keys never makes
/// every call pay for a full scan.
struct SweptMap<K, V> {
    entries: HashMap<K, V>,
    swept_in: i64,
}

impl<K: Eq + Hash, V> SweptMap<K, V> {
    fn new() -> Self {
        SweptMap {
            entries: HashMap::new(),
            swept_in: i64::MIN,
        }
    }

    /// Drops entries `keep` rejects, if the map is large and was not swept in `window` yet.
    fn sweep(&mut self, window: i64, keep: impl Fn(&V) -> bool) {
        if self.entries.len() >= SWEEP_AT && self.swept_in != window {
            self.swept_in = window;
            self.entries.retain(|_, value| keep(value));
        }
    }
}

pub struct WeightWindows<K> {
    limit: u64,
    window_ms: i64,
    windows: Mutex<SweptMap<K, (i64, u64)>>,
}

impl<K: Eq + Hash + Clone> WeightWindows<K> {
    /// `limit` per window of `window_ms` milliseconds.
    pub fn new(limit: u64, window_ms: i64) -> Self {
        WeightWindows {
            limit,
            window_ms: window_ms.max(1),
            windows: Mutex::new(SweptMap::new()),
        }
    }

    /// Adds `weight` to `key`'s current window. Rejected requests count too, as on Binance.
    pub fn charge(&self, key: &K, weight: u64, now_ms: i64) -> Charge {
        let window = now_ms.div_euclid(self.window_ms);
        let mut windows = self.windows.lock();
        windows.sweep(window, |(start, _)| *start == window);
        let entry = windows.entries.entry(key.clone()).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        entry.1 = entry.1.saturating_add(weight);
        Charge {
            count: entry.1,
            limit: self.limit,
            retry_after_ms: (window + 1) * self.window_ms - now_ms,
        }
    }

    /// Weight used by `key` in the current window.
    pub fn used(&self, key: &K, now_ms: i64) -> u64 {
        let window = now_ms.div_euclid(self.window_ms);
        self.windows
            .lock()
            .entries
            .get(key)
            .filter(|(start, _)| *start == window)
            .map_or(0, |(_, count)| *count)
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }
}

/// Automatic IP bans: a client that keeps sending after being told 429 is banned (418) for a while,
/// as Binance does.
pub struct Bans<K> {
    rejections_before_ban: u64,
    ban_ms: i64,
    state: Mutex<SweptMap<K, BanState>>,
}

#[derive(Default, Clone, Copy)]
struct BanState {
    /// The minute in which `rejections` were counted.
    minute: i64,
    rejections: u64,
    until_ms: i64,
}

impl<K: Eq + Hash + Clone> Bans<K> {
    /// Bans for `ban_ms` after `rejections_before_ban` 429s within one minute.
    pub fn new(rejections_before_ban: u64, ban_ms: i64) -> Self {
        Bans {
            rejections_before_ban,
            ban_ms,
            state: Mutex::new(SweptMap::new()),
        }
    }

    /// When `key` is banned, the time the ban ends.
    pub fn banned_until(&self, key: &K, now_ms: i64) -> Option<i64> {
        self.state
            .lock()
            .entries
            .get(key)
            .map(|ban| ban.until_ms)
            .filter(|until| *until > now_ms)
    }

    /// Records a 429 answered to `key`; returns the ban's end if this one triggered a ban.
    pub fn rejected(&self, key: &K, now_ms: i64) -> Option<i64> {
        let minute = now_ms.div_euclid(MINUTE_MS);
        let mut state = self.state.lock();
        state.sweep(minute, |ban| ban.minute == minute || ban.until_ms > now_ms);
        let ban = state.entries.entry(key.clone()).or_default();
        if ban.minute != minute {
            ban.minute = minute;
            ban.rejections = 0;
        }
        ban.rejections += 1;
        if ban.rejections >= self.rejections_before_ban {
            ban.rejections = 0;
            ban.until_ms = now_ms.saturating_add(self.ban_ms);
            return Some(ban.until_ms);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_key_and_resets_on_the_minute() {
        let windows = WeightWindows::new(5, MINUTE_MS);
        assert_eq!(windows.charge(&"a", 2, 60_000).count, 2);
        assert_eq!(windows.charge(&"b", 1, 60_001).count, 1);
        let over = windows.charge(&"a", 4, 119_999);
        assert!(over.exceeded());
        assert_eq!(over.retry_after_ms, 1);
        assert_eq!(windows.charge(&"a", 1, 120_000).count, 1);
        assert_eq!(windows.used(&"a", 120_500), 1);
        assert_eq!(windows.used(&"a", 180_000), 0);
    }

    #[test]
    fn stale_windows_are_swept() {
        let windows = WeightWindows::new(5, MINUTE_MS);
        for key in 0..SWEEP_AT {
            windows.charge(&key, 1, 0);
        }
        windows.charge(&usize::MAX, 1, 60_000);
        assert_eq!(windows.windows.lock().entries.len(), 1);
    }

    #[test]
    fn repeated_rejections_ban_for_a_while() {
        let bans = Bans::new(3, 120_000);
        assert_eq!(bans.rejected(&"ip", 0), None);
        assert_eq!(bans.rejected(&"ip", 1), None);
        assert_eq!(bans.banned_until(&"ip", 2), None);
        assert_eq!(bans.rejected(&"ip", 2), Some(120_002));
        assert_eq!(bans.banned_until(&"ip", 3), Some(120_002));
        assert_eq!(bans.banned_until(&"other", 3), None);
        assert_eq!(bans.banned_until(&"ip", 120_002), None);
        // Rejections in different minutes do not add up.
        let bans = Bans::new(2, 1_000);
        assert_eq!(bans.rejected(&"ip", 0), None);
        assert_eq!(bans.rejected(&"ip", 60_000), None);
    }
}
