//! How many TCP connections a listener holds open, in all and per client address.
//!
//! A [`Permit`] is taken when a connection is accepted and lives inside the connection's stream,
//! so it is given back when the socket closes, whether that happens in HTTP, after a WebSocket
//! upgrade, or on an error path.

use metrics::Gauge;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The address a client is counted under: IPv4 as it is (v4-mapped IPv6 unwrapped), IPv6 by
/// its /64, the smallest block one subscriber is normally given. Every per-client limit
/// (connections, request weight, bans) uses this key, so one network cannot multiply its
/// allowance by rotating addresses inside its own prefix.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(Ipv6Addr::from(segments))
            }
        },
    }
}

/// Why a connection was refused at accept time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// The client address holds its share already.
    PerClient { limit: usize },
    /// The listener holds all it may.
    Listener,
}

pub struct ConnectionCaps {
    max_total: usize,
    max_per_client: usize,
    open: AtomicUsize,
    /// `open`, as a metric.
    gauge: Gauge,
    per_client: Mutex<HashMap<IpAddr, usize>>,
}

impl ConnectionCaps {
    pub fn new(max_total: usize, max_per_client: usize, gauge: Gauge) -> Arc<Self> {
        Arc::new(ConnectionCaps {
            max_total,
            max_per_client,
            open: AtomicUsize::new(0),
            gauge,
            per_client: Mutex::new(HashMap::new()),
        })
    }

    /// Counts a new connection from `ip`, unless a cap is reached.
    pub fn try_acquire(self: &Arc<Self>, ip: IpAddr) -> Result<Permit, Full> {
        let key = client_key(ip);
        let mut per_client = self.per_client.lock();
        // Checked and counted under the lock, so concurrent accepts cannot overshoot.
        if self.open.load(Ordering::Relaxed) >= self.max_total {
            return Err(Full::Listener);
        }
        let held = per_client.entry(key).or_insert(0);
        if *held >= self.max_per_client {
            return Err(Full::PerClient {
                limit: self.max_per_client,
            });
        }
        *held += 1;
        self.open.fetch_add(1, Ordering::Relaxed);
        self.gauge.increment(1.0);
        Ok(Permit {
            caps: Arc::clone(self),
            key,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    fn release(&self, key: IpAddr) {
        let mut per_client = self.per_client.lock();
        if let Some(held) = per_client.get_mut(&key) {
            *held -= 1;
            if *held == 0 {
                per_client.remove(&key);
            }
        }
        self.open.fetch_sub(1, Ordering::Relaxed);
        self.gauge.decrement(1.0);
    }
}

/// One open connection's place under the caps; dropping it frees the place.
pub struct Permit {
    caps: Arc<ConnectionCaps>,
    key: IpAddr,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.caps.release(self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn per_client_and_total_caps() {
        let caps = ConnectionCaps::new(3, 2, Gauge::noop());
        let a1 = caps.try_acquire(ip("10.0.0.1")).unwrap();
        let _a2 = caps.try_acquire(ip("10.0.0.1")).unwrap();
        assert_eq!(
            caps.try_acquire(ip("10.0.0.1")).err(),
            Some(Full::PerClient { limit: 2 })
        );
        let _b1 = caps.try_acquire(ip("10.0.0.2")).unwrap();
        assert_eq!(caps.try_acquire(ip("10.0.0.3")).err(), Some(Full::Listener));
        assert_eq!(caps.open(), 3);
        drop(a1);
        assert_eq!(caps.open(), 2);
        assert!(caps.try_acquire(ip("10.0.0.1")).is_ok());
    }

    #[test]
    fn places_are_given_back_and_forgotten() {
        let caps = ConnectionCaps::new(10, 1, Gauge::noop());
        let permit = caps.try_acquire(ip("10.0.0.1")).unwrap();
        drop(permit);
        assert_eq!(caps.open(), 0);
        assert!(caps.per_client.lock().is_empty());
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_v4_as_v4() {
        assert_eq!(
            client_key(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd")),
            ip("2001:db8:1:2::")
        );
        assert_eq!(client_key(ip("::ffff:10.0.0.1")), ip("10.0.0.1"));
        let caps = ConnectionCaps::new(10, 1, Gauge::noop());
        let _held = caps.try_acquire(ip("2001:db8:1:2::1")).unwrap();
        assert!(caps.try_acquire(ip("2001:db8:1:2::2")).is_err());
        assert!(caps.try_acquire(ip("2001:db8:1:3::1")).is_ok());
    }
}
