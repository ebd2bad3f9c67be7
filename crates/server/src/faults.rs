//! Fault injection: the failures a client must survive, on demand.
//!
//! Binance offers no way to make a stream fail on purpose; this does. Faults are applied through
//! `POST /admin/v1/faults` (and `userstream fault`), never on their own, and each one is logged
//! and counted. A fault targets every connection, the connections subscribed to one account, or
//! one connection by id.

use crate::connection::{SessionHandle, Sessions};
use crate::hub::Hub;
use crate::outbox::OutFrame;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use userstream_protocol::clock::SharedClock;
use userstream_protocol::{Account, ApiError, Uid};

/// Token requests that must fail: how many more, and with what.
#[derive(Default)]
pub struct TokenFailures {
    pending: Mutex<Option<(u32, ApiError)>>,
}

impl TokenFailures {
    /// The error the next token request must get, if a failure is pending (uses one up).
    pub fn take(&self) -> Option<ApiError> {
        let mut pending = self.pending.lock();
        let (left, error) = pending.as_mut()?;
        let error = error.clone();
        *left -= 1;
        if *left == 0 {
            *pending = None;
        }
        Some(error)
    }
}

/// What to break. The command line takes the same type (feature `clap`), so the API and
/// `userstream fault` list the same faults with the same descriptions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "camelCase")]
pub enum FaultKind {
    /// End the targeted subscriptions now with eventStreamTerminated.
    Terminate,
    /// Close the targeted connections' sockets without a close frame.
    Drop,
    /// Targeted connections go silent (no frames, no pongs) for the given duration.
    Mute,
    /// Send serverShutdown, then close the targeted connections (1001) after the given duration.
    Shutdown,
    /// The next `count` token requests fail with the given status, code and message.
    FailTokenRequests,
    /// Hold back the targeted connections' outgoing frames by the given duration (0 stops it).
    Delay,
}

impl FaultKind {
    /// Every kind, in declaration order (the console's fault form lists them).
    pub(crate) const ALL: [FaultKind; 6] = [
        FaultKind::Terminate,
        FaultKind::Drop,
        FaultKind::Mute,
        FaultKind::Shutdown,
        FaultKind::FailTokenRequests,
        FaultKind::Delay,
    ];
}

/// A `POST /admin/v1/faults` body (the CLI sends this same type, so both agree on its shape).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultRequest {
    pub kind: FaultKind,
    /// Target the connections subscribed to this user's account…
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<Uid>,
    /// …its isolated account for this symbol (cross when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub isolated_symbol: Option<String>,
    /// Target one connection (ids as in `GET /admin/v1/sessions`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msg: Option<String>,
}

/// What an applied fault touched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultOutcome {
    pub sessions: usize,
    pub subscriptions: usize,
}

/// Longest `msg` a failing token request may be given; it reaches REST clients verbatim.
const MAX_FAULT_MSG_BYTES: usize = 256;
/// Longest `durationMs`: a day, the longest anything lives on this protocol.
const MAX_FAULT_DURATION_MS: u64 = 86_400_000;

/// What faults act on.
pub struct FaultTargets<'a> {
    pub sessions: &'a Sessions,
    pub hub: &'a Hub,
    pub clock: &'a SharedClock,
    pub token_failures: &'a TokenFailures,
    /// Counts the faults applied.
    pub injected: &'a metrics::Counter,
}

/// Applies a fault. Errors are messages for a 400 answer.
pub fn apply(on: FaultTargets<'_>, request: &FaultRequest) -> Result<FaultOutcome, String> {
    if request
        .duration_ms
        .is_some_and(|ms| ms > MAX_FAULT_DURATION_MS)
    {
        return Err(format!(
            "durationMs must be at most {MAX_FAULT_DURATION_MS} (a day)"
        ));
    }
    if let Some(msg) = &request.msg
        && msg.len() > MAX_FAULT_MSG_BYTES
    {
        return Err(format!(
            "msg is {} bytes long; at most {MAX_FAULT_MSG_BYTES} are allowed",
            msg.len()
        ));
    }
    let account = match (request.uid, &request.isolated_symbol) {
        (Some(uid), None) => Some(Account::cross(uid)),
        (Some(uid), Some(symbol)) => Some(Account::isolated(uid, symbol.to_ascii_uppercase())),
        (None, Some(_)) => return Err("isolatedSymbol needs uid".into()),
        (None, None) => None,
    };
    if account.is_some() && request.session_id.is_some() {
        return Err("give uid or sessionId, not both".into());
    }
    let duration_us = || {
        request
            .duration_ms
            .map(|ms| ms.saturating_mul(1000).min(i64::MAX as u64) as i64)
            .ok_or_else(|| format!("{:?} needs durationMs", request.kind))
    };
    let hub = on.hub;
    let targets = targets(on.sessions, account.as_ref(), request.session_id);
    let now_us = on.clock.now_us();
    let mut outcome = FaultOutcome {
        sessions: targets.len(),
        subscriptions: 0,
    };
    match request.kind {
        FaultKind::Terminate => {
            for session in &targets {
                outcome.subscriptions +=
                    hub.terminate(session, |a| account.as_ref().is_none_or(|want| want == a));
            }
        }
        FaultKind::Drop => push_all(&targets, || OutFrame::Drop),
        FaultKind::Mute => {
            let until_us = now_us.saturating_add(duration_us()?);
            push_all(&targets, || OutFrame::Mute { until_us });
        }
        FaultKind::Shutdown => {
            let grace_us = duration_us()?;
            for session in &targets {
                session.outbox.push(hub.shutdown_frame(session.format));
            }
            let clock = Arc::clone(on.clock);
            let doomed = targets.clone();
            tokio::spawn(async move {
                clock.sleep_until(now_us.saturating_add(grace_us)).await;
                push_all(&doomed, || OutFrame::Close {
                    code: 1001,
                    reason: "Server shutting down.",
                });
            });
        }
        FaultKind::Delay => {
            let delay_us = duration_us()?;
            for session in &targets {
                session.faults.set_delay_us(delay_us);
            }
        }
        FaultKind::FailTokenRequests => {
            let count = request
                .count
                .filter(|c| *c > 0)
                .ok_or("failTokenRequests needs count > 0")?;
            let status = request.status.unwrap_or(500);
            if !(400..=599).contains(&status) {
                return Err("status must be 400..=599".into());
            }
            let code = request.code.unwrap_or(-1000);
            let msg = request.msg.clone().unwrap_or_else(|| {
                "An unknown error occurred while processing the request.".into()
            });
            *on.token_failures.pending.lock() = Some((count, ApiError::new(status, code, msg)));
            outcome = FaultOutcome {
                sessions: 0,
                subscriptions: 0,
            };
        }
    }
    on.injected.increment(1);
    tracing::warn!(kind = ?request.kind, sessions = outcome.sessions, subscriptions = outcome.subscriptions, "fault injected");
    Ok(outcome)
}

fn targets(
    sessions: &Sessions,
    account: Option<&Account>,
    session_id: Option<u64>,
) -> Vec<Arc<SessionHandle>> {
    sessions
        .all()
        .into_iter()
        .filter(|session| session_id.is_none_or(|id| session.id == id))
        .filter(|session| {
            account.is_none_or(|want| {
                session
                    .subscribed_accounts()
                    .iter()
                    .any(|(_, account)| account == want)
            })
        })
        .collect()
}

fn push_all(sessions: &[Arc<SessionHandle>], frame: impl Fn() -> OutFrame) {
    for session in sessions {
        session.outbox.push(frame());
    }
}

#[cfg(test)]
mod tests {
    use super::FaultKind;

    #[test]
    fn all_lists_every_kind_once_in_order() {
        // A new kind fails to compile here: give it the next number and add it to `ALL`.
        let ordinal = |kind: FaultKind| match kind {
            FaultKind::Terminate => 0,
            FaultKind::Drop => 1,
            FaultKind::Mute => 2,
            FaultKind::Shutdown => 3,
            FaultKind::FailTokenRequests => 4,
            FaultKind::Delay => 5,
        };
        for (index, kind) in FaultKind::ALL.into_iter().enumerate() {
            assert_eq!(ordinal(kind), index, "{kind:?}");
        }
    }
}
