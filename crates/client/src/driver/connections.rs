//! The connections: which gateway each goes to, the requests awaiting answers on them, what
//! follows a lost one (reconnect with backoff, to the next gateway), and the make-before-break
//! handover that replaces a healthy one.
//!
//! With several gateways, three cursors say where to go next: where a reconnect goes (the
//! gateway after the one that was lost), where a handover's new connection goes (the next one
//! on `serverShutdown`, the same one otherwise), and where tokens are minted (the gateway last
//! connected to, moving on after a failed request).

use super::actions::{Action, Outbox};
use super::requests::Request;
use super::timers::{Deadlines, Now, micros};
use crate::item::{Disconnect, Fatal, HandoverReason, Status};
use crate::options::{Endpoints, Options};
use reqwest::Url;
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::Instant;

struct Conn {
    /// Index of the gateway it is open to.
    gateway: usize,
    /// Opened with `streamPositions=true`.
    positions: bool,
    open: bool,
    opened_at_us: i64,
    requests: HashMap<u64, Request>,
    /// Being retired after a handover: close it by this instant at the latest.
    retire_by: Option<Instant>,
    /// The server confirmed the unsubscribe: everything it had for us has been read.
    drained: bool,
    close_sent: bool,
}

/// What is left to know of a connection that closed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Gone {
    gateway: usize,
    was_open: bool,
    /// It had delivered everything before it closed: its loss costs nothing.
    pub(crate) drained: bool,
}

/// A make-before-break replacement of the current connection, under way.
struct Handover {
    reason: HandoverReason,
    /// The replacement, once asked for.
    next: Option<u64>,
    /// Where the replacement goes.
    gateway: usize,
    /// Replacements that failed in a row.
    failures: u32,
    /// No new replacement before this instant.
    retry_at: Option<Instant>,
}

/// Reopening the connection after it was lost.
struct Reconnect {
    /// Failed attempts in a row.
    attempt: u32,
    /// Not before this instant (backoff).
    at: Option<Instant>,
    /// Where the next reconnect goes.
    gateway: usize,
}

pub(crate) struct Connections {
    /// Never empty (the builder checks).
    gateways: Vec<Endpoints>,
    conns: HashMap<u64, Conn>,
    /// The connection the accounts stream on.
    current: Option<u64>,
    handover: Option<Handover>,
    reconnect: Reconnect,
    /// Where tokens are requested.
    token_gateway: usize,
    /// The gateway whose last token request failed (its REST root may be down while its
    /// WebSocket API is up): a connection to it does not bring token requests back.
    token_failing: Option<usize>,
    conn_seq: u64,
    request_seq: u64,
}

impl Connections {
    pub(crate) fn new(gateways: Vec<Endpoints>) -> Connections {
        Connections {
            gateways,
            conns: HashMap::new(),
            current: None,
            handover: None,
            reconnect: Reconnect {
                attempt: 0,
                at: None,
                gateway: 0,
            },
            token_gateway: 0,
            token_failing: None,
            conn_seq: 0,
            request_seq: 0,
        }
    }

    pub(crate) fn current(&self) -> Option<u64> {
        self.current
    }

    /// The replacement of a handover under way.
    pub(crate) fn next(&self) -> Option<u64> {
        self.handover.as_ref().and_then(|handover| handover.next)
    }

    /// Where the next token request goes.
    pub(crate) fn token_gateway(&self) -> usize {
        self.token_gateway % self.gateways.len()
    }

    /// A token request to `gateway` failed and may be retried: that gateway may be down, so
    /// the retry asks the next one. Only the first failure of a gateway moves the cursor, so
    /// several accounts failing at once skip no node.
    pub(crate) fn token_failed(&mut self, gateway: usize) {
        self.token_failing = Some(gateway);
        if self.token_gateway == gateway && self.gateways.len() > 1 {
            self.token_gateway = self.after(gateway);
            tracing::warn!(
                from = %shown(&self.gateways[gateway].rest),
                to = %shown(&self.gateways[self.token_gateway].rest),
                "token request failed; asking the next gateway"
            );
        }
    }

    /// A token request to `gateway` succeeded.
    pub(crate) fn token_answered(&mut self, gateway: usize) {
        if self.token_failing == Some(gateway) {
            self.token_failing = None;
        }
    }

    /// Opens the connection when there is none and the reconnect backoff is over, with stream
    /// positions or not; not at all while that is still unknown (`None`).
    pub(crate) fn reconnect_if_due(&mut self, positions: Option<bool>, now: Now, out: &mut Outbox) {
        let Some(positions) = positions else {
            return;
        };
        if self.current.is_none()
            && self.next().is_none()
            && self.reconnect.at.is_none_or(|at| now.at >= at)
        {
            self.reconnect.at = None;
            self.current = Some(self.open(self.reconnect.gateway, positions, now, out));
        }
    }

    /// True when the current connection is old enough to be handed over.
    pub(crate) fn rotation_due(&self, now_us: i64, options: &Options) -> bool {
        self.rotation_at(options)
            .is_some_and(|rotate_at| now_us >= rotate_at)
    }

    /// When the current connection is to be handed over for its age, unless a handover is
    /// already under way.
    fn rotation_at(&self, options: &Options) -> Option<i64> {
        self.current
            .and_then(|id| self.conns.get(&id))
            .filter(|conn| conn.open && self.handover.is_none())
            .map(|conn| {
                conn.opened_at_us
                    .saturating_add(micros(options.rotate_connection_after))
            })
    }

    pub(crate) fn start_handover(&mut self, reason: HandoverReason, out: &mut Outbox) {
        if self.handover.is_some() {
            return;
        }
        let gateway = self.current_gateway().unwrap_or(self.reconnect.gateway);
        self.handover = Some(Handover {
            reason,
            next: None,
            gateway,
            failures: 0,
            retry_at: None,
        });
        if reason == HandoverReason::ServerShutdown {
            // That node is going away: the replacement goes to another one, if there is one.
            self.advance_handover_gateway();
        }
        out.status(Status::HandoverStarted { reason });
    }

    /// Opens a handover's new connection, unless it is open already or waiting to retry.
    pub(crate) fn open_replacement_if_due(&mut self, positions: bool, now: Now, out: &mut Outbox) {
        let gateway = match &mut self.handover {
            Some(handover)
                if handover.next.is_none() && handover.retry_at.is_none_or(|at| now.at >= at) =>
            {
                handover.retry_at = None;
                handover.gateway
            }
            _ => return,
        };
        let next = self.open(gateway, positions, now, out);
        if let Some(handover) = &mut self.handover {
            handover.next = Some(next);
        }
    }

    /// The connection new subscriptions go to: a handover's replacement once it is open, the
    /// current one otherwise.
    pub(crate) fn target(&self) -> Option<u64> {
        [self.next(), self.current]
            .into_iter()
            .flatten()
            .find(|id| self.is_open(*id))
    }

    /// The open connections that carry the accounts: the current one and a replacement.
    pub(crate) fn streaming(&self) -> Vec<u64> {
        [self.current, self.next()]
            .into_iter()
            .flatten()
            .filter(|id| self.is_open(*id))
            .collect()
    }

    fn is_open(&self, id: u64) -> bool {
        self.conns.get(&id).is_some_and(|conn| conn.open)
    }

    /// True when `id` was opened with stream positions.
    pub(crate) fn has_positions(&self, id: u64) -> bool {
        self.conns.get(&id).is_some_and(|conn| conn.positions)
    }

    /// True while `id` may still deliver events: it exists and has not confirmed its
    /// unsubscribe.
    pub(crate) fn delivers(&self, id: u64) -> bool {
        self.conns.get(&id).is_some_and(|conn| !conn.drained)
    }

    /// Starts retiring connection `id` after a handover: unsubscribe it (the server answers
    /// after everything queued for us), and close it after that or at the handover timeout.
    pub(crate) fn retire(&mut self, id: u64, now: Now, options: &Options, out: &mut Outbox) {
        let retire_by = now
            .at
            .checked_add(options.handover_timeout)
            .unwrap_or(now.at);
        if let Some(conn) = self.conns.get_mut(&id) {
            conn.retire_by = Some(retire_by);
        }
        self.send(id, Request::Unsubscribe { subscription: None }, None, out);
    }

    /// Every account streams on the replacement: it becomes the connection.
    pub(crate) fn handover_complete(&mut self, out: &mut Outbox) {
        let Some(new) = self.next() else {
            return;
        };
        self.current = Some(new);
        self.handover = None;
        out.status(Status::HandoverComplete { connection: new });
    }

    /// Closes the retired connections that took too long to confirm their unsubscribe.
    pub(crate) fn close_overdue(&mut self, now: Now, out: &mut Outbox) {
        for (id, conn) in &mut self.conns {
            if !conn.close_sent && conn.retire_by.is_some_and(|by| now.at >= by) {
                conn.close_sent = true;
                out.push(Action::Close { conn: *id });
            }
        }
    }

    /// Every account streams on the current connection: reconnecting has succeeded.
    pub(crate) fn established(&mut self) {
        self.reconnect.attempt = 0;
    }

    /// The WebSocket handshake of `id` succeeded.
    pub(crate) fn opened(&mut self, id: u64, now: Now, out: &mut Outbox) {
        let handover = self.next() == Some(id);
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        conn.open = true;
        conn.opened_at_us = now.us;
        let gateway = conn.gateway;
        // A gateway that just took a connection is up: mint tokens there, unless its token
        // requests were just failing.
        if self.token_failing != Some(gateway) {
            self.token_gateway = gateway;
        }
        out.status(Status::Connected {
            connection: id,
            handover,
            gateway: shown(&self.gateways[gateway].ws),
        });
    }

    /// The request `request` on `id` was answered: what it was.
    pub(crate) fn answered(&mut self, id: u64, request: u64) -> Option<Request> {
        self.conns
            .get_mut(&id)
            .and_then(|conn| conn.requests.remove(&request))
    }

    /// A retired connection confirmed its unsubscribe: all it had for us has arrived; close it.
    pub(crate) fn drained(&mut self, id: u64, out: &mut Outbox) {
        if let Some(conn) = self.conns.get_mut(&id) {
            conn.drained = true;
            if !conn.close_sent {
                conn.close_sent = true;
                out.push(Action::Close { conn: id });
            }
        }
    }

    /// A handover's replacement cannot serve (its node is shutting down too): drop it and try
    /// another gateway after a backoff.
    pub(crate) fn abandon_next(&mut self, now: Now, options: &Options, out: &mut Outbox) {
        let Some(handover) = &mut self.handover else {
            return;
        };
        let Some(next) = handover.next.take() else {
            return;
        };
        if let Some(conn) = self.conns.get_mut(&next) {
            conn.close_sent = true;
            out.push(Action::Close { conn: next });
            self.replacement_failed(now, options);
        }
    }

    /// Forgets connection `id`, which has closed.
    pub(crate) fn remove(&mut self, id: u64) -> Option<Gone> {
        self.conns.remove(&id).map(|conn| Gone {
            gateway: conn.gateway,
            was_open: conn.open,
            drained: conn.drained,
        })
    }

    /// Connection `id` (forgotten by [`remove`](Self::remove)) is gone. Losing the current
    /// connection means reconnecting, to the next gateway, after a backoff; losing a
    /// replacement means trying another one. An error when reconnecting has failed too often.
    pub(crate) fn lost(
        &mut self,
        id: u64,
        gone: Gone,
        reason: Disconnect,
        now: Now,
        options: &Options,
        out: &mut Outbox,
    ) -> Result<(), Fatal> {
        if self.current == Some(id) {
            self.current = None;
            // A handover waiting to retry is moot: the reconnect replaces the connection.
            if let Some(next) = self.handover.take().and_then(|handover| handover.next) {
                // The replacement becomes the connection; the handover is moot.
                self.current = Some(next);
                tracing::info!(connection = id, %reason, "connection ended during a handover");
                return Ok(());
            }
            // Whatever ended it, another gateway may be healthy: try the next one first, and
            // ask it for tokens too rather than a node that may be dead.
            self.reconnect.gateway = self.after(gone.gateway);
            if self.token_gateway == gone.gateway {
                self.token_gateway = self.reconnect.gateway;
            }
            self.reconnect.attempt += 1;
            let attempt = self.reconnect.attempt;
            if let Some(limit) = options.max_reconnect_attempts
                && attempt > limit
            {
                return Err(Fatal::ReconnectLimit { attempts: limit });
            }
            let delay = options.reconnect_backoff.delay(attempt);
            self.reconnect.at = Some(now.later(delay));
            let gateway = shown(&self.gateways[self.reconnect.gateway].ws);
            out.status(Status::Reconnecting {
                attempt,
                delay,
                reason,
                gateway,
            });
        } else if self.next() == Some(id) {
            let delay = self.replacement_failed(now, options);
            let was_open = gone.was_open;
            tracing::warn!(connection = id, %reason, was_open, "handover connection failed; retrying in {} ms", delay.as_millis());
        }
        Ok(())
    }

    /// The replacement failed: the next one goes to another gateway after a backoff.
    fn replacement_failed(&mut self, now: Now, options: &Options) -> Duration {
        let Some(handover) = &mut self.handover else {
            return Duration::ZERO;
        };
        handover.next = None;
        handover.failures += 1;
        let delay = options.reconnect_backoff.delay(handover.failures);
        handover.retry_at = Some(now.later(delay));
        self.advance_handover_gateway();
        delay
    }

    /// Closes every connection: the stream is over.
    pub(crate) fn close_all(&self, out: &mut Outbox) {
        for id in self.conns.keys() {
            out.push(Action::Close { conn: *id });
        }
    }

    /// Sends a request on a connection and remembers it until its answer.
    pub(crate) fn send(
        &mut self,
        conn: u64,
        request: Request,
        token: Option<&str>,
        out: &mut Outbox,
    ) {
        self.request_seq += 1;
        let id = self.request_seq;
        let Some(connection) = self.conns.get_mut(&conn) else {
            return;
        };
        let text = request.to_json(id, token);
        out.push(Action::Send { conn, id, text });
        connection.requests.insert(id, request);
    }

    /// The rotation on the injected clock; reconnect and handover backoffs and retirements on
    /// the timer.
    pub(crate) fn deadlines(&self, deadlines: &mut Deadlines, options: &Options) {
        if let Some(rotate_at) = self.rotation_at(options) {
            deadlines.clock(rotate_at);
        }
        if let Some(at) = self.reconnect.at {
            deadlines.timer(at);
        }
        if let Some(at) = self
            .handover
            .as_ref()
            .filter(|handover| handover.next.is_none())
            .and_then(|handover| handover.retry_at)
        {
            deadlines.timer(at);
        }
        for conn in self.conns.values().filter(|conn| !conn.close_sent) {
            if let Some(by) = conn.retire_by {
                deadlines.timer(by);
            }
        }
    }

    fn open(&mut self, gateway: usize, positions: bool, now: Now, out: &mut Outbox) -> u64 {
        self.conn_seq += 1;
        let id = self.conn_seq;
        let gateway = gateway % self.gateways.len();
        out.push(Action::Open {
            conn: id,
            gateway,
            positions,
        });
        self.conns.insert(
            id,
            Conn {
                gateway,
                positions,
                open: false,
                opened_at_us: now.us,
                requests: HashMap::new(),
                retire_by: None,
                drained: false,
                close_sent: false,
            },
        );
        id
    }

    /// The gateway the current connection is open to.
    fn current_gateway(&self) -> Option<usize> {
        self.current
            .and_then(|id| self.conns.get(&id))
            .map(|conn| conn.gateway)
    }

    /// The gateway after `gateway` in the list, wrapping around.
    fn after(&self, gateway: usize) -> usize {
        (gateway + 1) % self.gateways.len()
    }

    /// Points a handover at the next gateway, skipping the current connection's one when it
    /// is shutting down and another exists.
    fn advance_handover_gateway(&mut self) {
        let current = self.current_gateway();
        let len = self.gateways.len();
        let Some(handover) = &mut self.handover else {
            return;
        };
        let mut next = (handover.gateway + 1) % len;
        if handover.reason == HandoverReason::ServerShutdown && current == Some(next) {
            next = (next + 1) % len;
        }
        handover.gateway = next;
    }
}

/// A gateway's URL as statuses and logs show it: without a password, should it hold one.
fn shown(url: &Url) -> Url {
    let mut url = url.clone();
    let _ = url.set_password(None);
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_urls_are_shown_without_a_password() {
        let url = Url::parse("wss://user:hunter2@gw.example/ws-api/v3").unwrap();
        assert_eq!(shown(&url).as_str(), "wss://user@gw.example/ws-api/v3");
    }
}
