//! The state machine that keeps every account subscribed, whatever happens.
//!
//! It reacts to three kinds of input (connection reports, token answers, a timer coming due),
//! each handled synchronously at a given [`Now`], and after each one runs [`Machine::drive`],
//! which compares what is with what should be and queues [`Action`]s: open a connection, fetch
//! a token, subscribe, renew, finish a handover. Being level-triggered, every path (first
//! start, renewal, reconnect, handover) goes through the same few lines, and a missed edge
//! cannot leave an account unsubscribed.
//!
//! It owns no socket, task or channel: the run loop performs the actions, so every branch can
//! be tested by feeding inputs and reading the queue. The state is in three parts with one job
//! each: [`Account`]s and their tokens, [`Connections`] and handovers, and [`Routes`].

use super::accounts::{Account, TokenAnswer, TokenOutcome, Usable};
use super::actions::{Action, Outbox};
use super::connections::Connections;
use super::requests::{Request, Subscribing};
use super::routes::Routes;
use super::snapshots::{Reconcile, SnapshotAnswer};
use super::timers::{Deadlines, Now};
use crate::connection::ConnEvent;
use crate::frame::{Inbound, Reply};
use crate::item::{Disconnect, Fatal, Gap, GapReason, HandoverReason, Item, Status};
use crate::options::{Endpoints, Options, StreamPositions};
use std::sync::Arc;
use userstream_protocol::error::codes;
use userstream_protocol::events::Event;
use userstream_protocol::position::{ResumeOutcome, StreamPosition};
use userstream_protocol::ws::SubscriptionInfo;
use userstream_protocol::{ApiError, Scope};

/// What the machine reacts to.
// Nearly every input is an event frame; boxing it would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum Input {
    /// The stream starts, or a deadline came due.
    Wake,
    /// A connection reported something.
    Conn { conn: u64, event: ConnEvent },
    /// A token request was answered.
    Token(TokenAnswer),
    /// A snapshot read was answered.
    Snapshot(SnapshotAnswer),
}

pub(crate) struct Machine {
    options: Arc<Options>,
    /// In the order given; an account is its index here.
    accounts: Vec<Account>,
    conns: Connections,
    routes: Routes,
    out: Outbox,
    finished: bool,
    /// What the last successful token answer said of stream positions
    /// (`StreamPositions::Auto`): unknown until the first answer; a failed first answer counts
    /// as "no".
    announced: Option<bool>,
    /// Snapshots are read (a secret was given and they are not switched off): one
    /// reconciliation per account, same order. Empty otherwise.
    reconcile: Vec<Reconcile>,
    /// Snapshot reads asked for so far; numbers them.
    fetch_seq: u64,
}

impl Machine {
    /// `snapshots`: read each account's snapshot on start and after every gap.
    pub(crate) fn new(
        options: Arc<Options>,
        gateways: Vec<Endpoints>,
        accounts: Vec<Scope>,
        snapshots: bool,
    ) -> Machine {
        let reconcile = if snapshots {
            accounts.iter().map(|_| Reconcile::default()).collect()
        } else {
            Vec::new()
        };
        Machine {
            reconcile,
            fetch_seq: 0,
            options,
            routes: Routes::new(accounts.iter().cloned()),
            accounts: accounts.into_iter().map(Account::new).collect(),
            conns: Connections::new(gateways),
            out: Outbox::default(),
            finished: false,
            announced: None,
        }
    }

    /// Whether new connections ask for stream positions; `None` while that waits for the
    /// first token answer. Binance never announces them, so it is never asked.
    fn positions(&self) -> Option<bool> {
        if self.options.sbe {
            // SBE has no field for a position; the server refuses to combine them.
            return Some(false);
        }
        match self.options.stream_positions {
            StreamPositions::Auto => self.announced,
            StreamPositions::Off => Some(false),
            StreamPositions::On => Some(true),
        }
    }

    /// Handles one input at `now`, then brings what is in line with what should be.
    pub(crate) fn handle(&mut self, input: Input, now: Now) {
        if self.finished {
            return;
        }
        match input {
            Input::Wake => {}
            Input::Conn { conn, event } => self.on_conn_event(conn, event, now),
            Input::Token(answer) => self.on_token(answer, now),
            Input::Snapshot(answer) => self.on_snapshot(answer, now),
        }
        if !self.finished {
            self.drive(now);
        }
    }

    /// The oldest action not yet performed.
    pub(crate) fn next_action(&mut self) -> Option<Action> {
        self.out.pop()
    }

    /// The stream is over: nothing more will be queued.
    pub(crate) fn finished(&self) -> bool {
        self.finished
    }

    /// When to wake up next, unless an input comes first: deadlines after `now`, the moment
    /// the last input was handled (one that came due while the run loop waited on a slow
    /// reader is still ahead of it).
    pub(crate) fn deadlines(&self, now: Now) -> Deadlines {
        let mut deadlines = Deadlines::after(now);
        for account in &self.accounts {
            account.deadlines(&mut deadlines);
        }
        for reconcile in &self.reconcile {
            reconcile.deadlines(&mut deadlines);
        }
        self.conns.deadlines(&mut deadlines, &self.options);
        deadlines
    }

    /// Brings what is in line with what should be.
    fn drive(&mut self, now: Now) {
        let positions = self.positions();
        self.conns.reconnect_if_due(positions, now, &mut self.out);
        if self.conns.rotation_due(now.us, &self.options) {
            self.conns
                .start_handover(HandoverReason::ConnectionAge, &mut self.out);
        }
        self.conns
            .open_replacement_if_due(positions.unwrap_or(false), now, &mut self.out);
        let target = self.conns.target();
        let streaming = self.conns.streaming();
        for index in 0..self.accounts.len() {
            self.drive_account(index, target, &streaming, now);
        }
        self.finish_handover(now);
        self.read_snapshots(now);
        self.conns.close_overdue(now, &mut self.out);
        if let Some(current) = self.conns.current()
            && self
                .accounts
                .iter()
                .all(|account| account.is_active_on(current))
        {
            self.conns.established();
        }
    }

    /// Subscribes account `index` on `target` if it has no subscription there yet, renews it
    /// on the `streaming` connections where it is due, and asks for a token when either needs
    /// one.
    fn drive_account(&mut self, index: usize, target: Option<u64>, streaming: &[u64], now: Now) {
        if !self.accounts[index].ready(now.at) {
            return;
        }
        // The first connection waits for a token answer to say whether it may ask for stream
        // positions.
        let mut needs_token = target.is_none()
            && self.positions().is_none()
            && self.accounts[index].usable_token(now.us).is_none();
        // A new subscription where the account has none yet.
        if let Some(conn) = target
            && !self.accounts[index].has_sub_on(conn)
        {
            match self.accounts[index].usable_token(now.us) {
                Some(token) => {
                    self.accounts[index].subscribing(conn);
                    if self.routes.count(index) > 0 {
                        // The same events may now arrive on two subscriptions.
                        self.routes.overlap_started(index);
                    }
                    let conns = &self.conns;
                    if self
                        .routes
                        .delivering_elsewhere(index, conn, |id| conns.delivers(id))
                    {
                        self.routes.hold_for(index, conn);
                    }
                    // Resume from the last position, on a connection that has them.
                    let resume_from = self
                        .routes
                        .last(index)
                        .filter(|_| self.conns.has_positions(conn))
                        .cloned();
                    self.subscribe(conn, index, token, resume_from);
                }
                None => needs_token = true,
            }
        }
        // Renewals, on every connection that still carries the account.
        for &conn in streaming {
            let account = &mut self.accounts[index];
            let Some(current_expiry) = account.renewal_due(conn, now.us) else {
                continue;
            };
            match account.usable_token(now.us) {
                Some(token) if token.expires_us > current_expiry => {
                    account.renewing(conn);
                    // An extension of a streaming subscription: nothing to resume.
                    self.subscribe(conn, index, token, None);
                }
                _ => needs_token = true,
            }
        }
        let account = &mut self.accounts[index];
        if needs_token && account.start_fetch() {
            self.out.push(Action::FetchToken {
                account: index,
                scope: account.scope.clone(),
                gateway: self.conns.token_gateway(),
            });
        }
    }

    fn subscribe(
        &mut self,
        conn: u64,
        account: usize,
        token: Usable,
        resume_from: Option<StreamPosition>,
    ) {
        let request = Request::Subscribe(Subscribing {
            account,
            expires_us: token.expires_us,
            renew_at_us: token.renew_at_us,
            resume_from,
        });
        self.conns
            .send(conn, request, Some(&token.value), &mut self.out);
    }

    /// Once every account streams on the new connection, retire the old one: unsubscribe it
    /// (the server answers after everything queued for us), then close it.
    fn finish_handover(&mut self, now: Now) {
        let (Some(old), Some(new)) = (self.conns.current(), self.conns.next()) else {
            return;
        };
        if !self
            .accounts
            .iter()
            .all(|account| account.is_active_on(new))
        {
            return;
        }
        self.routes.closing_all(old);
        for account in &mut self.accounts {
            account.forget(old);
        }
        self.conns.retire(old, now, &self.options, &mut self.out);
        self.conns.handover_complete(&mut self.out);
    }

    fn on_token(&mut self, answer: TokenAnswer, now: Now) {
        let TokenAnswer {
            account: index,
            gateway,
            answer,
            asked_at_us,
            positions,
        } = answer;
        if answer.is_ok() {
            self.announced = Some(positions);
            self.conns.token_answered(gateway);
        } else if self.announced.is_none() {
            // Do not wait on a server that cannot be reached: connect without positions (a
            // later answer may still announce them, for the next connection).
            self.announced = Some(false);
        }
        if answer.as_ref().is_err_and(|error| !error.is_fatal()) {
            self.conns.token_failed(gateway);
        }
        let Some(account) = self.accounts.get_mut(index) else {
            return;
        };
        match account.on_token(answer, asked_at_us, &self.options, now) {
            TokenOutcome::Stored => {}
            TokenOutcome::Fatal(error) => {
                let account = account.scope.clone();
                self.terminate(Fatal::TokenRefused { account, error });
            }
            TokenOutcome::Retry {
                attempt,
                delay,
                error,
            } => self.out.status(Status::TokenRetry {
                account: account.scope.clone(),
                attempt,
                delay,
                error,
            }),
        }
    }

    fn terminate(&mut self, fatal: Fatal) {
        tracing::info!("stream terminated: {fatal}");
        // Events held for a snapshot read that will not be answered still go out.
        for index in 0..self.reconcile.len() {
            self.routes.release_for_snapshot(index, None, &mut self.out);
        }
        self.out.emit(Item::Status(Status::Terminated(fatal)));
        self.finished = true;
        self.conns.close_all(&mut self.out);
    }

    fn on_conn_event(&mut self, id: u64, event: ConnEvent, now: Now) {
        match event {
            ConnEvent::Open => self.conns.opened(id, now, &mut self.out),
            ConnEvent::Frame(Inbound::Response {
                id: request,
                outcome,
            }) => {
                let Some(request) = self.conns.answered(id, request) else {
                    return;
                };
                match request {
                    Request::Subscribe(subscribing) => {
                        let info = outcome.and_then(|reply| match reply.subscription() {
                            Some(info) => Ok((info, reply)),
                            None => Err(ApiError::new(
                                200,
                                codes::UNKNOWN,
                                format!("unreadable subscribe result: {}", reply.describe()),
                            )),
                        });
                        match info {
                            Ok((info, reply)) => {
                                self.on_subscribed(id, subscribing, info, &reply, now)
                            }
                            Err(error) => {
                                self.on_subscribe_refused(id, subscribing.account, error, now)
                            }
                        }
                    }
                    Request::Unsubscribe {
                        subscription: Some(_),
                    } => {}
                    Request::Unsubscribe { subscription: None } => {
                        self.conns.drained(id, &mut self.out);
                        // Everything the retired connection will deliver has arrived.
                        for index in 0..self.accounts.len() {
                            self.release_held(index, now);
                        }
                    }
                }
            }
            ConnEvent::Frame(Inbound::Event {
                subscription_id,
                event,
                fingerprint,
                position,
            }) => {
                // Only a connection that asked has positions that mean anything.
                let position = position.filter(|_| self.conns.has_positions(id));
                self.on_event(id, subscription_id, event, fingerprint, position, now)
            }
            ConnEvent::Frame(Inbound::ConnectionEvent(Event::ServerShutdown(_))) => {
                if self.conns.current() == Some(id) {
                    self.conns
                        .start_handover(HandoverReason::ServerShutdown, &mut self.out);
                } else if self.conns.next() == Some(id) {
                    // The replacement is going away too: drop it and try another.
                    self.conns.abandon_next(now, &self.options, &mut self.out);
                }
            }
            ConnEvent::Frame(Inbound::ConnectionEvent(other)) => {
                tracing::debug!(
                    connection = id,
                    "connection event {} skipped",
                    other.event_type()
                );
            }
            // Said once: during a handover overlap the same message reaches both connections.
            ConnEvent::Frame(Inbound::NotRepresentable) => {
                if self.conns.current() == Some(id) {
                    self.out.status(Status::NotRepresentable { connection: id });
                }
            }
            ConnEvent::Frame(Inbound::Ignored(_)) => {}
            ConnEvent::Closed {
                reason,
                last_heard_us,
            } => self.on_closed(id, reason, last_heard_us, now),
        }
    }

    fn on_subscribed(
        &mut self,
        conn: u64,
        subscribing: Subscribing,
        info: SubscriptionInfo,
        reply: &Reply,
        now: Now,
    ) {
        let index = subscribing.account;
        let Some(account) = self.accounts.get_mut(index) else {
            return;
        };
        // What the resume came to: `Ok(replayed)`, or why there was none.
        let resumed = match (&subscribing.resume_from, reply.resume()) {
            (None, _) => Err(GapReason::NoResume),
            (Some(_), Some(ResumeOutcome::Replayed { events })) => Ok(events),
            (Some(_), Some(ResumeOutcome::Failed { reason, .. })) => {
                Err(GapReason::ResumeFailed(reason))
            }
            (Some(_), _) => Err(GapReason::ResumeUnanswered),
        };
        let id = info.subscription_id;
        let previous = account.subscribed(
            conn,
            id,
            subscribing.expires_us,
            subscribing.renew_at_us,
            now.us,
            resumed.err(),
        );
        self.routes.add(conn, id, index);
        let scope = account.scope.clone();
        match previous {
            Some(old) => {
                if old != id {
                    // The server opened a second subscription instead of extending the first:
                    // close the old one; events on both are deduplicated meanwhile.
                    self.routes.closing(conn, old);
                    let request = Request::Unsubscribe {
                        subscription: Some(old),
                    };
                    self.conns.send(conn, request, None, &mut self.out);
                }
                self.out.status(Status::Renewed {
                    account: scope,
                    subscription_id: id,
                    expires_at_us: info.expiration_time,
                });
            }
            None => {
                self.out.status(Status::Subscribed {
                    account: scope.clone(),
                    connection: conn,
                    subscription_id: id,
                    expires_at_us: info.expiration_time,
                });
                let first = !account.started();
                let broken_since = account.covered();
                match (broken_since, resumed) {
                    (Some(_), Ok(events)) => self.out.status(Status::Resumed {
                        account: scope,
                        events,
                    }),
                    (Some(since_us), Err(reason)) => self.gap(
                        index,
                        Gap {
                            account: scope,
                            since_us,
                            until_us: now.us,
                            reason,
                        },
                    ),
                    (None, _) if first => self.want_snapshot(index),
                    (None, _) => {}
                }
                // With no replay to follow, and no other connection still delivering older
                // events, everything up to the result's position is behind us: the next
                // resume starts there.
                let conns = &self.conns;
                if resumed.is_err()
                    && conns.has_positions(conn)
                    && !self
                        .routes
                        .delivering_elsewhere(index, conn, |other| conns.delivers(other))
                    && let Some(position) = reply.position()
                {
                    self.routes.covered_to(index, position);
                }
            }
        }
        if self.routes.count(index) > 1 {
            self.routes.overlap_started(index);
        }
    }

    /// Events of account `index` may have been missed: say so, and owe a fresh snapshot. A
    /// read in flight is stale now: the events held for it, which came before the gap, go out
    /// ahead of it.
    fn gap(&mut self, index: usize, gap: Gap) {
        if let Some(reconcile) = self.reconcile.get_mut(index)
            && reconcile.want()
        {
            self.routes.release_for_snapshot(index, None, &mut self.out);
        }
        self.out.status(Status::Gap(gap));
    }

    /// Account `index` was subscribed for the first time: owe it a snapshot.
    fn want_snapshot(&mut self, index: usize) {
        if let Some(reconcile) = self.reconcile.get_mut(index)
            && reconcile.want()
        {
            self.routes.release_for_snapshot(index, None, &mut self.out);
        }
    }

    /// Asks for the snapshots owed, of accounts that stream (so that every change after the
    /// read arrives as an event), from the gateway tokens come from; holds their events back
    /// meanwhile.
    fn read_snapshots(&mut self, now: Now) {
        for (index, reconcile) in self.reconcile.iter_mut().enumerate() {
            let account = &self.accounts[index];
            if !account.is_streaming() || !reconcile.due(now.at) {
                continue;
            }
            self.fetch_seq += 1;
            reconcile.started(self.fetch_seq);
            self.routes.hold_for_snapshot(index);
            self.out.push(Action::FetchSnapshot {
                account: index,
                scope: account.scope.clone(),
                gateway: self.conns.token_gateway(),
                fetch: self.fetch_seq,
            });
        }
    }

    /// A snapshot read was answered: the snapshot goes out, then what was held back; or the
    /// failure is said and the read retried after a backoff.
    fn on_snapshot(&mut self, answer: SnapshotAnswer, now: Now) {
        let SnapshotAnswer {
            account: index,
            fetch,
            answer,
        } = answer;
        let Some(reconcile) = self.reconcile.get_mut(index) else {
            return;
        };
        if !reconcile.answered(fetch) {
            tracing::debug!(
                account = %self.accounts[index].scope,
                "snapshot read before a gap dropped"
            );
            return;
        }
        match answer {
            Ok(snapshot) => {
                let orders = snapshot.open_orders.len();
                let item = Item::Snapshot(Box::new(snapshot));
                if self
                    .routes
                    .release_for_snapshot(index, Some(item), &mut self.out)
                {
                    reconcile.succeeded();
                    tracing::info!(account = %self.accounts[index].scope, open_orders = orders, "snapshot taken");
                } else {
                    // Events it may not reflect went out ahead of it: read it again.
                    reconcile.want();
                }
            }
            Err(error) => {
                let (attempt, delay) = reconcile.failed(&error, &self.options, now);
                self.routes.release_for_snapshot(index, None, &mut self.out);
                self.out.status(Status::SnapshotRetry {
                    account: self.accounts[index].scope.clone(),
                    attempt,
                    delay,
                    error,
                });
            }
        }
    }

    fn on_subscribe_refused(&mut self, conn: u64, index: usize, error: ApiError, now: Now) {
        let Some(account) = self.accounts.get_mut(index) else {
            return;
        };
        account.refused(conn, &error, &self.options, now);
        self.routes.settle(index, now.at);
        self.release_held(index, now);
        if error.code == codes::MAX_SUBSCRIPTION_ID {
            self.conns
                .start_handover(HandoverReason::SubscriptionIdsExhausted, &mut self.out);
        }
    }

    fn on_event(
        &mut self,
        conn: u64,
        subscription_id: u32,
        event: Event,
        fingerprint: u64,
        position: Option<StreamPosition>,
        now: Now,
    ) {
        let Some((index, closing)) = self.routes.get(conn, subscription_id) else {
            tracing::debug!(
                connection = conn,
                subscription_id,
                "event for an unknown subscription skipped"
            );
            return;
        };
        if let Event::EventStreamTerminated(terminated) = &event {
            self.routes.remove(conn, subscription_id);
            self.routes.settle(index, now.at);
            self.release_held(index, now);
            if !closing && let Some(account) = self.accounts.get_mut(index) {
                account.terminated(conn, subscription_id, terminated.event_time_us, now.us);
            }
            return;
        }
        let source = (conn, subscription_id);
        self.routes.deliver(
            index,
            source,
            event,
            fingerprint,
            position,
            now.at,
            &mut self.out,
        );
    }

    /// Releases what a handover's new connection held back for account `index`, once no
    /// other connection delivers the account.
    fn release_held(&mut self, index: usize, now: Now) {
        let conns = &self.conns;
        self.routes
            .release_held(index, |id| conns.delivers(id), now.at, &mut self.out);
    }

    fn on_closed(&mut self, id: u64, reason: Disconnect, last_heard_us: i64, now: Now) {
        let Some(gone) = self.conns.remove(id) else {
            return;
        };
        let mut affected = self.routes.drop_connection(id);
        for (index, account) in self.accounts.iter_mut().enumerate() {
            if account.forget(id) && !affected.contains(&index) {
                affected.push(index);
            }
        }
        affected.sort_unstable();
        affected.dedup();
        for &index in &affected {
            self.routes.settle(index, now.at);
            if gone.drained {
                continue;
            }
            let account = &mut self.accounts[index];
            if let Some((since_us, until_us, reason)) = account.lost(id, last_heard_us) {
                let gap = Gap {
                    account: account.scope.clone(),
                    since_us,
                    until_us,
                    reason,
                };
                self.gap(index, gap);
            }
        }
        // What the new connection held back comes after any gap the old one left.
        for index in affected {
            self.release_held(index, now);
        }
        if let Err(fatal) = self
            .conns
            .lost(id, gone, reason, now, &self.options, &mut self.out)
        {
            self.terminate(fatal);
        }
    }
}
