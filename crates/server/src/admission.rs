//! Admission: whether a client may have what it asks for now. One gate for the three ways in:
//! a WebSocket handshake, a WebSocket API request, and a SAPI request.
//!
//! The rules, the same on every path:
//! 1. A banned client address is refused with 418 and the ban's end, without being charged.
//! 2. Otherwise the request is charged (refused requests count too, as on Binance). Over a
//!    limit it is refused with 429 and when the window resets.
//! 3. Each 429 counts towards a ban: after `limits.ban_after_rejections` of them within a
//!    minute, the address is banned for `limits.ban_ms`, from its next request on.
//!
//! Client addresses are counted as [`client_key`] says (IPv6 per /64).

use crate::config::LimitsConfig;
use crate::limits::{Bans, Charge, MINUTE_MS, WeightWindows};
use crate::net::client_key;
use std::net::IpAddr;
use userstream_protocol::ws::ErrorData;
use userstream_protocol::{ApiError, Uid};

/// Why a request was not let through.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub error: ApiError,
    /// `serverTime` and `retryAfter` (ms), as Binance puts them in `error.data`.
    pub data: ErrorData,
    /// The weight count when the request was charged (never for a banned address).
    pub charge: Option<Charge>,
}

impl Refusal {
    /// Seconds until a retry may succeed, for a `Retry-After` header.
    pub fn retry_after_secs(&self) -> u64 {
        let wait_ms = self.data.retry_after.saturating_sub(self.data.server_time);
        u64::try_from(wait_ms).unwrap_or(0).div_ceil(1000)
    }
}

pub struct Admission {
    /// REQUEST_WEIGHT per client address, shared by its WebSocket connections.
    request_weight: WeightWindows<IpAddr>,
    /// New WebSocket connections per client address.
    new_connections: WeightWindows<IpAddr>,
    /// SAPI weight per UID.
    uid_weight: WeightWindows<Uid>,
    bans: Bans<IpAddr>,
    connection_weight: u64,
    connection_window_ms: i64,
}

impl Admission {
    pub fn new(limits: &LimitsConfig) -> Admission {
        Admission {
            request_weight: WeightWindows::new(limits.request_weight_per_minute, MINUTE_MS),
            new_connections: WeightWindows::new(
                limits.connections_per_window,
                limits.connection_window_ms,
            ),
            uid_weight: WeightWindows::new(limits.sapi_uid_weight_per_minute, MINUTE_MS),
            bans: Bans::new(limits.ban_after_rejections, limits.ban_ms),
            connection_weight: limits.connection_weight,
            connection_window_ms: limits.connection_window_ms,
        }
    }

    /// Opening a WebSocket connection: one against the connection rate, then the weight of
    /// opening against REQUEST_WEIGHT.
    pub fn handshake(&self, ip: IpAddr, now_ms: i64) -> Result<Charge, Refusal> {
        let key = client_key(ip);
        self.gate(key, now_ms, || {
            let connections = self.new_connections.charge(&key, 1, now_ms);
            if connections.exceeded() {
                let error =
                    ApiError::too_many_connections(connections.limit, self.connection_window_ms);
                return Err((error, connections));
            }
            over_weight(
                self.request_weight
                    .charge(&key, self.connection_weight, now_ms),
            )
        })
    }

    /// A WebSocket API request (or a frame that never reached a method) of `weight`.
    pub fn request(&self, ip: IpAddr, weight: u64, now_ms: i64) -> Result<Charge, Refusal> {
        let key = client_key(ip);
        self.gate(key, now_ms, || {
            over_weight(self.request_weight.charge(&key, weight, now_ms))
        })
    }

    /// Refuses a banned address; the first check of a request that costs weight only once it
    /// is known whom to charge (a token request, after its API key).
    pub fn banned(&self, ip: IpAddr, now_ms: i64) -> Result<(), Refusal> {
        self.check_ban(client_key(ip), now_ms)
    }

    /// A SAPI request of `weight`, counted against the key's UID; bans are per address.
    pub fn sapi(&self, ip: IpAddr, uid: Uid, weight: u64, now_ms: i64) -> Result<Charge, Refusal> {
        self.gate(client_key(ip), now_ms, || {
            over_weight(self.uid_weight.charge(&uid, weight, now_ms))
        })
    }

    /// The rules above, around `charge`, which says what the request costs and whether that
    /// is over a limit.
    fn gate(
        &self,
        key: IpAddr,
        now_ms: i64,
        charge: impl FnOnce() -> Result<Charge, (ApiError, Charge)>,
    ) -> Result<Charge, Refusal> {
        self.check_ban(key, now_ms)?;
        charge().map_err(|(error, charge)| {
            self.bans.rejected(&key, now_ms);
            Refusal {
                error,
                data: ErrorData {
                    server_time: now_ms,
                    retry_after: now_ms.saturating_add(charge.retry_after_ms),
                },
                charge: Some(charge),
            }
        })
    }
}

impl Admission {
    fn check_ban(&self, key: IpAddr, now_ms: i64) -> Result<(), Refusal> {
        match self.bans.banned_until(&key, now_ms) {
            None => Ok(()),
            Some(until_ms) => Err(Refusal {
                error: ApiError::ip_banned(until_ms),
                data: ErrorData {
                    server_time: now_ms,
                    retry_after: until_ms,
                },
                charge: None,
            }),
        }
    }
}

fn over_weight(charge: Charge) -> Result<Charge, (ApiError, Charge)> {
    if charge.exceeded() {
        Err((ApiError::too_much_weight(charge.limit, "1m"), charge))
    } else {
        Ok(charge)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> LimitsConfig {
        LimitsConfig {
            request_weight_per_minute: 4,
            connection_weight: 2,
            sapi_uid_weight_per_minute: 2,
            connections_per_window: 100,
            ban_after_rejections: 3,
            ban_ms: 120_000,
            ..LimitsConfig::default()
        }
    }

    /// The statuses a flood gets, in order.
    fn flood(mut admit: impl FnMut() -> Result<Charge, Refusal>, count: usize) -> Vec<u16> {
        (0..count)
            .map(|_| admit().map_or_else(|refusal| refusal.error.status, |_| 200))
            .collect()
    }

    #[test]
    fn every_path_answers_the_same_ban_after_the_same_number_of_429s() {
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let expected = vec![200, 200, 429, 429, 429, 418, 418];
        let admission = Admission::new(&limits());
        assert_eq!(flood(|| admission.request(ip, 2, 0), 7), expected);
        let admission = Admission::new(&limits());
        assert_eq!(flood(|| admission.handshake(ip, 0), 7), expected);
        let admission = Admission::new(&limits());
        assert_eq!(flood(|| admission.sapi(ip, 7, 1, 0), 7), expected);
    }

    #[test]
    fn a_ban_covers_every_path_and_lifts() {
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let admission = Admission::new(&limits());
        let _ = flood(|| admission.request(ip, 5, 0), 3);
        let banned = admission.handshake(ip, 1).unwrap_err();
        assert_eq!(banned.error.status, 418);
        assert_eq!(banned.data.retry_after, 120_000);
        assert_eq!(banned.retry_after_secs(), 120);
        assert_eq!(banned.charge, None);
        assert_eq!(admission.sapi(ip, 1, 1, 1).unwrap_err().error.status, 418);
        assert_eq!(admission.banned(ip, 1).unwrap_err().error.status, 418);
        assert!(admission.banned("10.0.0.2".parse().unwrap(), 1).is_ok());
        // Another address, and the same one once the ban is over.
        assert!(admission.request("10.0.0.2".parse().unwrap(), 1, 1).is_ok());
        assert!(admission.request(ip, 1, 120_000).is_ok());
    }

    #[test]
    fn refusals_say_when_to_retry() {
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let admission = Admission::new(&limits());
        assert!(admission.request(ip, 4, 59_000).is_ok());
        let refusal = admission.request(ip, 1, 59_500).unwrap_err();
        assert_eq!(refusal.error.code, -1003);
        assert_eq!(refusal.data.retry_after, 60_000);
        assert_eq!(refusal.retry_after_secs(), 1);
        assert_eq!(refusal.charge.map(|charge| charge.count), Some(5));
    }

    #[test]
    fn an_ipv6_network_shares_one_budget() {
        let admission = Admission::new(&limits());
        assert!(
            admission
                .request("2001:db8::1".parse().unwrap(), 4, 0)
                .is_ok()
        );
        let other_host = "2001:db8::2".parse().unwrap();
        assert_eq!(
            admission
                .request(other_host, 1, 0)
                .unwrap_err()
                .error
                .status,
            429
        );
    }
}
