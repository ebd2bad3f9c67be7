//! The accounts and their tokens: when to fetch a token, how long it lasts on our clock, when
//! to renew it, and whether each account is covered (so that losing coverage is a gap).

use super::timers::{Deadlines, Now, micros};
use crate::item::GapReason;
use crate::options::Options;
use crate::token::{ListenToken, TokenError};
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::Instant;
use userstream_protocol::error::codes;
use userstream_protocol::{ApiError, Scope};

/// The validity Binance gives a token when none is asked for; bounds a token's lifetime on our
/// clock when the server's clock runs ahead of ours.
const DEFAULT_VALIDITY: Duration = Duration::from_secs(86_400);
/// The longest `Retry-After` honoured; a server asking for more is asked again after this.
pub(super) const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// A token as the driver keeps it: its expiry on *our* clock.
struct Token {
    value: String,
    expires_us: i64,
    renew_at_us: i64,
}

/// A token not yet due for renewal, ready to subscribe with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Usable {
    pub(crate) value: String,
    pub(crate) expires_us: i64,
    pub(crate) renew_at_us: i64,
}

/// One account's subscription on one connection.
enum Sub {
    /// Subscribe sent, no answer yet.
    Pending,
    Active {
        id: u32,
        /// Expiry and renewal time on our clock.
        expires_us: i64,
        renew_at_us: i64,
        /// When this subscription started delivering.
        since_us: i64,
        /// Why it may have missed what came before `since_us`; `None` when it resumed, so it
        /// carries everything after the point it resumed from.
        not_resumed: Option<GapReason>,
        /// A renewing subscribe is in flight.
        renewing: bool,
    },
}

/// A token request's outcome, for account `account`, minted by gateway `gateway`.
#[derive(Debug)]
pub(crate) struct TokenAnswer {
    pub(crate) account: usize,
    pub(crate) gateway: usize,
    pub(crate) answer: Result<ListenToken, TokenError>,
    /// When it was asked for, on our clock: the token's lifetime counts from here.
    pub(crate) asked_at_us: i64,
    /// The answer announced stream positions (a userstream server; never Binance).
    pub(crate) positions: bool,
}

/// What became of a token answer.
#[derive(Debug)]
pub(crate) enum TokenOutcome {
    Stored,
    /// Asked again after `delay`.
    Retry {
        attempt: u32,
        delay: Duration,
        error: TokenError,
    },
    /// Retrying cannot help: the stream ends.
    Fatal(TokenError),
}

pub(crate) struct Account {
    pub(crate) scope: Scope,
    token: Option<Token>,
    fetching: bool,
    failures: u32,
    /// No token request or subscribe before this instant (backoff).
    retry_at: Option<Instant>,
    subs: HashMap<u64, Sub>,
    /// Subscribed at least once: from then on, losing coverage is a gap.
    started: bool,
    /// Coverage lost at this time (our clock), not yet restored.
    broken_since: Option<i64>,
}

impl Account {
    pub(crate) fn new(scope: Scope) -> Account {
        Account {
            scope,
            token: None,
            fetching: false,
            failures: 0,
            retry_at: None,
            subs: HashMap::new(),
            started: false,
            broken_since: None,
        }
    }

    /// False while a backoff lasts; a backoff that has run out is forgotten.
    pub(crate) fn ready(&mut self, now: Instant) -> bool {
        if self.retry_at.is_some_and(|at| now >= at) {
            self.retry_at = None;
        }
        self.retry_at.is_none()
    }

    /// The token, if it is not yet due for renewal.
    pub(crate) fn usable_token(&self, now_us: i64) -> Option<Usable> {
        self.token
            .as_ref()
            .filter(|token| now_us < token.renew_at_us)
            .map(|token| Usable {
                value: token.value.clone(),
                expires_us: token.expires_us,
                renew_at_us: token.renew_at_us,
            })
    }

    /// True when the account has a subscription on `conn`, streaming or asked for.
    pub(crate) fn has_sub_on(&self, conn: u64) -> bool {
        self.subs.contains_key(&conn)
    }

    pub(crate) fn subscribing(&mut self, conn: u64) {
        self.subs.insert(conn, Sub::Pending);
    }

    /// The expiry of the subscription on `conn` when it is due for renewal and no renewal is
    /// in flight.
    pub(crate) fn renewal_due(&self, conn: u64, now_us: i64) -> Option<i64> {
        match self.subs.get(&conn) {
            Some(Sub::Active {
                expires_us,
                renew_at_us,
                renewing: false,
                ..
            }) if now_us >= *renew_at_us => Some(*expires_us),
            _ => None,
        }
    }

    pub(crate) fn renewing(&mut self, conn: u64) {
        if let Some(Sub::Active { renewing, .. }) = self.subs.get_mut(&conn) {
            *renewing = true;
        }
    }

    /// True when a token request should go out now: none is in flight.
    pub(crate) fn start_fetch(&mut self) -> bool {
        !std::mem::replace(&mut self.fetching, true)
    }

    /// Takes a token answer. The token's expiry is measured on our clock: the server's word,
    /// but never later than the validity counted from when we asked (in case the server's clock
    /// runs ahead of ours).
    pub(crate) fn on_token(
        &mut self,
        answer: Result<ListenToken, TokenError>,
        asked_at_us: i64,
        options: &Options,
        now: Now,
    ) -> TokenOutcome {
        self.fetching = false;
        let validity = options.token_validity.unwrap_or(DEFAULT_VALIDITY);
        let answer = answer.and_then(|token| {
            let expires_us = token
                .expiration_time_ms
                .saturating_mul(1000)
                .min(asked_at_us.saturating_add(micros(validity)));
            if expires_us <= asked_at_us {
                return Err(TokenError::BadAnswer {
                    status: 200,
                    body: "the token expired before it arrived (are the clocks far apart?)".into(),
                });
            }
            Ok((token.token, expires_us))
        });
        match answer {
            Ok((value, expires_us)) => {
                let lifetime =
                    Duration::from_micros(u64::try_from(expires_us - asked_at_us).unwrap_or(0));
                let renew_at_us = expires_us - micros(options.renewal_lead(lifetime));
                self.token = Some(Token {
                    value,
                    expires_us,
                    renew_at_us,
                });
                self.failures = 0;
                TokenOutcome::Stored
            }
            Err(error) if error.is_fatal() => TokenOutcome::Fatal(error),
            Err(error) => {
                self.failures += 1;
                let attempt = self.failures;
                let delay = options
                    .token_backoff
                    .delay(attempt)
                    .max(error.retry_after().unwrap_or_default().min(MAX_RETRY_AFTER));
                self.retry_at = Some(now.later(delay));
                TokenOutcome::Retry {
                    attempt,
                    delay,
                    error,
                }
            }
        }
    }

    /// Subscription `id` on `conn` streams until `expires_us`; `not_resumed` says whether it
    /// resumed (`None`) or why not. Returns the id it replaces when this was a renewal of a
    /// subscription already streaming there (which keeps its start).
    pub(crate) fn subscribed(
        &mut self,
        conn: u64,
        id: u32,
        expires_us: i64,
        renew_at_us: i64,
        now_us: i64,
        not_resumed: Option<GapReason>,
    ) -> Option<u32> {
        let previous = match self.subs.get(&conn) {
            Some(Sub::Active {
                id,
                since_us,
                not_resumed,
                ..
            }) => Some((*id, *since_us, *not_resumed)),
            _ => None,
        };
        let (since_us, not_resumed) =
            previous.map_or((now_us, not_resumed), |(_, since, how)| (since, how));
        self.subs.insert(
            conn,
            Sub::Active {
                id,
                expires_us,
                renew_at_us,
                since_us,
                not_resumed,
                renewing: false,
            },
        );
        previous.map(|(id, _, _)| id)
    }

    /// The account streams again: the start of the gap that ends now, if there was one.
    pub(crate) fn covered(&mut self) -> Option<i64> {
        self.started = true;
        self.broken_since.take()
    }

    /// The server refused a subscribe on `conn`. Refusals repeat until something changes, so
    /// the account backs off; an invalid token is dropped for a fresh one.
    pub(crate) fn refused(&mut self, conn: u64, error: &ApiError, options: &Options, now: Now) {
        match self.subs.get_mut(&conn) {
            Some(Sub::Pending) => {
                self.subs.remove(&conn);
            }
            Some(Sub::Active { renewing, .. }) => *renewing = false,
            None => {}
        }
        tracing::warn!(account = %self.scope, connection = conn, %error, "subscribe refused");
        if error.code == codes::INVALID_LISTEN_TOKEN {
            // The token is no good (expired, revoked key, another server's): get a fresh one.
            self.token = None;
        }
        self.failures += 1;
        let delay = options.token_backoff.delay(self.failures);
        self.retry_at = Some(now.later(delay));
    }

    /// The server ended subscription `subscription_id` on `conn` (expiry, revocation) at
    /// `event_time_us`: renew at once with a fresh token, and if nothing else covers the
    /// account, coverage is broken from then.
    pub(crate) fn terminated(
        &mut self,
        conn: u64,
        subscription_id: u32,
        event_time_us: i64,
        now_us: i64,
    ) {
        match self.subs.get(&conn) {
            // A renewal is already on its way: its answer opens the new subscription.
            Some(Sub::Active {
                id, renewing: true, ..
            }) if *id == subscription_id => {
                self.subs.insert(conn, Sub::Pending);
            }
            Some(Sub::Active { id, .. }) if *id == subscription_id => {
                self.subs.remove(&conn);
            }
            _ => {}
        }
        tracing::info!(account = %self.scope, connection = conn, subscription_id, "subscription terminated by the server; renewing now");
        if self.active_elsewhere(conn).is_none() {
            self.broke_at(event_time_us.min(now_us));
        }
        self.token = None;
        self.retry_at = None;
    }

    /// Forgets the subscription on `conn`; true if there was one.
    pub(crate) fn forget(&mut self, conn: u64) -> bool {
        self.subs.remove(&conn).is_some()
    }

    /// Connection `conn`, last heard at `last_heard_us`, is gone. Returns the window that no
    /// connection covered, and why, when another one already streams the account; otherwise
    /// coverage is broken from then until the account is subscribed again.
    pub(crate) fn lost(&mut self, conn: u64, last_heard_us: i64) -> Option<(i64, i64, GapReason)> {
        match self.active_elsewhere(conn) {
            // Another connection already streams this account; only what fell between the
            // last frame heard here and its start may be missing, unless it resumed from a
            // point this one had reached.
            Some((since, Some(reason))) if since > last_heard_us => {
                Some((last_heard_us, since, reason))
            }
            Some(_) => None,
            None if self.started => {
                self.broke_at(last_heard_us);
                None
            }
            None => None,
        }
    }

    fn broke_at(&mut self, since_us: i64) {
        self.broken_since = Some(self.broken_since.map_or(since_us, |s| s.min(since_us)));
    }

    /// When the earliest subscription streaming on a connection other than `except_conn`
    /// started, and whether it resumed (`None`) or why not.
    fn active_elsewhere(&self, except_conn: u64) -> Option<(i64, Option<GapReason>)> {
        self.subs
            .iter()
            .filter(|(conn, _)| **conn != except_conn)
            .filter_map(|(_, sub)| match sub {
                Sub::Active {
                    since_us,
                    not_resumed,
                    ..
                } => Some((*since_us, *not_resumed)),
                Sub::Pending => None,
            })
            .min_by_key(|(since, _)| *since)
    }

    /// Subscribed at least once before: a subscription answered now is not the first.
    pub(crate) fn started(&self) -> bool {
        self.started
    }

    /// True when a subscription of the account streams on some connection.
    pub(crate) fn is_streaming(&self) -> bool {
        self.subs
            .values()
            .any(|sub| matches!(sub, Sub::Active { .. }))
    }

    pub(crate) fn is_active_on(&self, conn: u64) -> bool {
        matches!(self.subs.get(&conn), Some(Sub::Active { .. }))
    }

    /// Renewals on the injected clock, the end of a backoff on the timer.
    pub(crate) fn deadlines(&self, deadlines: &mut Deadlines) {
        for sub in self.subs.values() {
            if let Sub::Active {
                renew_at_us,
                renewing: false,
                ..
            } = sub
            {
                deadlines.clock(*renew_at_us);
            }
        }
        if let Some(at) = self.retry_at {
            deadlines.timer(at);
        }
    }
}
