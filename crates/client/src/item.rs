//! What a [`UserStream`](crate::UserStream) yields: account events and status changes.

use crate::snapshot::{Snapshot, SnapshotError};
use crate::token::TokenError;
use reqwest::Url;
use std::fmt;
use std::time::Duration;
use userstream_protocol::Scope;
use userstream_protocol::events::Event;
use userstream_protocol::position::ResumeFailure;

/// One item of the stream: an event for one of your accounts, a change in the stream's state, or
/// (with an API secret) a snapshot of an account to reconcile with.
///
/// ```
/// use userstream_client::{Item, Status};
///
/// fn show(item: &Item) -> String {
///     match item {
///         Item::Event(event) => format!("{} {}", event.account, event.event.event_type()),
///         Item::Status(Status::Gap(gap)) => format!("reconcile {} since {}", gap.account, gap.since_us),
///         Item::Status(status) => status.to_string(),
///         Item::Snapshot(snapshot) => format!("{} reset: {} open orders", snapshot.account, snapshot.open_orders.len()),
///         _ => String::new(),
///     }
/// }
/// ```
// Nearly every item is an event, so boxing it would cost an allocation per event and save nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Item {
    /// An event for one of the accounts.
    Event(AccountEvent),
    /// A change in the state of the stream.
    Status(Status),
    /// The account's state read over REST (margin account and open orders), taken after its
    /// subscription was answered: on start and after every [`Gap`]. Only with an API secret
    /// ([`UserStreamBuilder::secret`](crate::UserStreamBuilder::secret)).
    ///
    /// Every event not reflected in it comes after it: replace what you hold for the account
    /// with it, then apply the events that follow. Some of those may already be reflected (they
    /// happened between the subscription and the REST read): their absolute fields
    /// (`outboundAccountPosition` balances, an `executionReport`'s order state) agree with the
    /// snapshot, so prefer them over summing `balanceUpdate` deltas. Events of the account that
    /// arrive while the snapshot is being read are held back until it is out (or until it
    /// fails, reported as [`Status::SnapshotRetry`]).
    Snapshot(Box<Snapshot>),
}

/// An event for one account, routed by its `subscriptionId`.
///
/// `eventStreamTerminated` never appears here: the client answers it by renewing, and reports
/// what that cost as [`Status`] items.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountEvent {
    /// The account the event belongs to (cross margin, or isolated margin for one symbol).
    pub account: Scope,
    /// The server's subscription id it arrived under (changes after a reconnect).
    pub subscription_id: u32,
    /// The event itself, timestamps in µs.
    pub event: Event,
}

/// A change in the state of the stream.
///
/// Times are microseconds since the Unix epoch: `expires_at_us` as the server sent it, the rest
/// on the client's clock. Every variant prints as one readable line:
///
/// ```
/// use userstream_client::{Scope, Status};
///
/// let status = Status::Renewed { account: Scope::Cross, subscription_id: 0, expires_at_us: 0 };
/// assert_eq!(status.to_string(), "cross: renewed (subscription 0, expires 1970-01-01T00:00:00.000000Z)");
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Status {
    /// A WebSocket connection is open.
    Connected {
        /// The connection's number, counted from 1 for the life of the stream.
        connection: u64,
        /// Opened to replace a healthy connection (before the 24 h limit, on `serverShutdown`)
        /// while the old one still streams.
        handover: bool,
        /// The WebSocket API URL of the gateway it is open to (one of several when the stream
        /// fails over between gateways).
        gateway: Url,
    },
    /// An account is subscribed on a connection (the first time, after a reconnect, or on the
    /// new connection of a handover).
    Subscribed {
        /// The account.
        account: Scope,
        /// The connection it streams on.
        connection: u64,
        /// The server's id for the subscription.
        subscription_id: u32,
        /// When this subscription ends unless renewed (server time, µs).
        expires_at_us: i64,
    },
    /// A subscription was extended with a fresh token on the same connection, ahead of expiry.
    Renewed {
        /// The account.
        account: Scope,
        /// The subscription's id (the same as before on Binance and on the gateway).
        subscription_id: u32,
        /// The new expiry (server time, µs).
        expires_at_us: i64,
    },
    /// The connection was lost; the next attempt starts after `delay`.
    Reconnecting {
        /// Attempts since the stream last had every account subscribed, from 1.
        attempt: u32,
        /// The wait before this attempt.
        delay: Duration,
        /// What ended the connection.
        reason: Disconnect,
        /// The WebSocket API URL the attempt goes to: with several gateways, the one after the
        /// gateway that was lost.
        gateway: Url,
    },
    /// A new connection is being opened to replace the current one before it ends.
    HandoverStarted {
        /// Why.
        reason: HandoverReason,
    },
    /// The handover finished: every account streams on `connection`, and the old one is being
    /// unsubscribed and closed after delivering what it still holds. Nothing is lost or repeated.
    HandoverComplete {
        /// The connection that now carries every account.
        connection: u64,
    },
    /// A token request failed; it is retried after `delay`.
    TokenRetry {
        /// The account the token was for.
        account: Scope,
        /// Failures in a row for this account, from 1.
        attempt: u32,
        /// The wait before the next request.
        delay: Duration,
        /// What the request ran into.
        error: TokenError,
    },
    /// A snapshot (margin account and open orders over REST) could not be taken; it is asked
    /// again after `delay`, and the stream goes on meanwhile.
    SnapshotRetry {
        /// The account.
        account: Scope,
        /// Failures in a row for this account, from 1.
        attempt: u32,
        /// The wait before the next attempt.
        delay: Duration,
        /// What the requests ran into.
        error: SnapshotError,
    },
    /// Events for an account may have been missed: reconcile (e.g. query open orders and
    /// balances over REST; with an API secret the client does, and an [`Item::Snapshot`]
    /// follows). Against userstream this follows only a resume that failed; the
    /// gap's `reason` says why.
    Gap(Gap),
    /// The account was not covered for a while (a reconnect, a failover, a handover whose old
    /// connection was lost, an unexpected `eventStreamTerminated`), and the server replayed
    /// everything it missed: `events` events, which follow this item, in order, before any
    /// live one. Nothing was missed. It takes the place of a [`Gap`]; only a userstream server
    /// resumes (docs/protocol.md §7).
    Resumed {
        /// The account.
        account: Scope,
        /// How many events the server replayed (perhaps 0).
        events: u64,
    },
    /// An SBE session received a `NonRepresentableMessage`: an event its schema version cannot
    /// carry was left out. On the gateway these are the margin risk events, which have no SBE
    /// message; a JSON session receives them.
    NotRepresentable {
        /// The connection it arrived on.
        connection: u64,
    },
    /// The stream has ended for good; nothing follows. Only configuration errors (a bad API key,
    /// an account that does not exist) and an exhausted reconnect limit end it.
    Terminated(Fatal),
}

/// A window in which events for one account may have been missed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Gap {
    /// The account.
    pub account: Scope,
    /// The last moment the account was known to be covered: the last frame heard on the lost
    /// connection, or the time of an unexpected `eventStreamTerminated`.
    pub since_us: i64,
    /// The moment the account was subscribed again.
    pub until_us: i64,
    /// Why the missed events were not replayed.
    pub reason: GapReason,
}

/// Why a [`Gap`] could not be closed by resuming.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GapReason {
    /// No resume was possible: the connection carries no stream positions (Binance, which has
    /// none; an SBE session; positions switched off), or none was known yet for the account.
    NoResume,
    /// The server answered the resume with this failure (e.g. `HISTORY_EXPIRED`: the missed
    /// events are no longer in its history).
    ResumeFailed(ResumeFailure),
    /// A resume was asked for, but the answer said nothing readable about it.
    ResumeUnanswered,
}

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disconnect {
    /// The connection could not be opened (refused, TLS, an HTTP error at the handshake…).
    ConnectFailed(String),
    /// The server closed it with a close frame.
    Closed {
        /// The close code, e.g. 1001 (going away) or 1008 (pong timeout).
        code: u16,
        /// The close reason.
        reason: String,
    },
    /// The socket ended without a close frame, or failed.
    Lost(String),
    /// Nothing was heard for too long and a ping went unanswered.
    Stale,
    /// A request got no response in time.
    RequestTimeout,
}

/// Why a healthy connection is being replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandoverReason {
    /// The server sent `serverShutdown`.
    ServerShutdown,
    /// The connection nears the server's connection lifetime (24 h on Binance).
    ConnectionAge,
    /// The connection has used up its subscription ids (-2042).
    SubscriptionIdsExhausted,
}

/// Why the stream ended.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Fatal {
    /// The server refused a token request in a way retrying cannot fix (bad key, unknown
    /// account or symbol).
    #[error("{account}: {error}")]
    TokenRefused {
        /// The account the token was for.
        account: Scope,
        /// The refusal.
        error: TokenError,
    },
    /// `max_reconnect_attempts` was reached.
    #[error("gave up after {attempts} reconnect attempts")]
    ReconnectLimit {
        /// The limit that was reached.
        attempts: u32,
    },
}

impl fmt::Display for Disconnect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Disconnect::ConnectFailed(error) => write!(f, "cannot connect: {error}"),
            Disconnect::Closed { code, reason } if reason.is_empty() => {
                write!(f, "closed by the server ({code})")
            }
            Disconnect::Closed { code, reason } => {
                write!(f, "closed by the server ({code} {reason})")
            }
            Disconnect::Lost(error) => write!(f, "connection lost: {error}"),
            Disconnect::Stale => write!(f, "connection silent, ping unanswered"),
            Disconnect::RequestTimeout => write!(f, "request unanswered"),
        }
    }
}

impl fmt::Display for GapReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GapReason::NoResume => f.write_str("no resume possible"),
            GapReason::ResumeFailed(failure) => {
                // The wire name (HISTORY_EXPIRED…), as the server sent it.
                let name = serde_json::to_value(failure)
                    .ok()
                    .and_then(|value| value.as_str().map(str::to_owned))
                    .unwrap_or_default();
                write!(f, "resume failed: {name}")
            }
            GapReason::ResumeUnanswered => f.write_str("resume unanswered"),
        }
    }
}

impl fmt::Display for HandoverReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HandoverReason::ServerShutdown => "server shutting down",
            HandoverReason::ConnectionAge => "connection nears its lifetime",
            HandoverReason::SubscriptionIdsExhausted => "subscription ids used up",
        })
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::Connected {
                connection,
                handover: false,
                gateway,
            } => write!(f, "connected to {gateway} (connection {connection})"),
            Status::Connected {
                connection,
                handover: true,
                gateway,
            } => write!(
                f,
                "connected to {gateway} (connection {connection}, handover)"
            ),
            Status::Subscribed {
                account,
                connection,
                subscription_id,
                expires_at_us,
            } => write!(
                f,
                "{account}: subscribed (connection {connection}, subscription {subscription_id}, expires {})",
                crate::format_time_us(*expires_at_us)
            ),
            Status::Renewed {
                account,
                subscription_id,
                expires_at_us,
            } => write!(
                f,
                "{account}: renewed (subscription {subscription_id}, expires {})",
                crate::format_time_us(*expires_at_us)
            ),
            Status::Reconnecting {
                attempt,
                delay,
                reason,
                gateway,
            } => write!(
                f,
                "reconnecting to {gateway} (attempt {attempt}, in {} ms): {reason}",
                delay.as_millis()
            ),
            Status::HandoverStarted { reason } => write!(f, "handover started: {reason}"),
            Status::HandoverComplete { connection } => {
                write!(f, "handover complete (connection {connection})")
            }
            Status::TokenRetry {
                account,
                attempt,
                delay,
                error,
            } => write!(
                f,
                "{account}: token request failed (attempt {attempt}, retry in {} ms): {error}",
                delay.as_millis()
            ),
            Status::SnapshotRetry {
                account,
                attempt,
                delay,
                error,
            } => write!(
                f,
                "{account}: snapshot failed (attempt {attempt}, retry in {} ms): {error}",
                delay.as_millis()
            ),
            Status::Gap(gap) => write!(
                f,
                "{}: GAP, events may have been missed between {} and {} ({})",
                gap.account,
                crate::format_time_us(gap.since_us),
                crate::format_time_us(gap.until_us),
                gap.reason
            ),
            Status::Resumed { account, events: 1 } => write!(f, "{account}: resumed 1 event"),
            Status::Resumed { account, events } => write!(f, "{account}: resumed {events} events"),
            Status::NotRepresentable { connection } => write!(
                f,
                "an event SBE cannot carry was left out (connection {connection}); JSON sessions receive it"
            ),
            Status::Terminated(fatal) => write!(f, "terminated: {fatal}"),
        }
    }
}
