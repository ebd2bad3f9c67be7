//! The state machine that keeps every account subscribed, whatever happens.
//!
//! One task owns all state. It reacts to three kinds of input (connection reports, token
//! answers, timers) and after each one runs [`Driver::drive`], which compares what is with what
//! should be and acts: open a connection, fetch a token, subscribe, renew, finish a handover.
//! Being level-triggered, every path (first start, renewal, reconnect, handover) goes through
//! the same few lines, and a missed edge cannot leave an account unsubscribed.
//!
//! With several gateways, three cursors say where to go next: where a reconnect goes (the
//! gateway after the one that was lost), where a handover's new connection goes (the next one
//! on `serverShutdown`, the same one otherwise), and where tokens are minted (the gateway last
//! connected to, moving on after a failed request). Gaps and make-before-break work as with one
//! gateway: nodes of a cluster deliver the same events, encoded the same way.

use crate::connection::{self, ConnEvent, ConnHandle, ConnSettings};
use crate::dedup::{Dedup, Source};
use crate::frame::Inbound;
use crate::item::{AccountEvent, Disconnect, Fatal, Gap, HandoverReason, Item, Status};
use crate::options::{Endpoints, Options};
use crate::token::{ListenToken, TokenClient, TokenError};
use reqwest::Url;
use serde_json::json;
use std::collections::{HashMap, VecDeque};
use std::future::pending;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};
use userstream_protocol::Scope;
use userstream_protocol::clock::SharedClock;
use userstream_protocol::error::codes;
use userstream_protocol::events::Event;
use userstream_protocol::ws::SubscriptionInfo;

/// The validity Binance gives a token when none is asked for; bounds a token's lifetime on our
/// clock when the server's clock runs ahead of ours.
const DEFAULT_VALIDITY: Duration = Duration::from_secs(86_400);
/// The longest `Retry-After` honoured; a server asking for more is asked again after this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// Connection reports waiting for the driver before a connection stops reading its socket.
const CONN_EVENT_QUEUE: usize = 256;

/// A token as the driver keeps it: its expiry on *our* clock.
struct Token {
    value: String,
    expires_us: i64,
    renew_at_us: i64,
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
        /// A renewing subscribe is in flight.
        renewing: bool,
    },
}

struct AccountState {
    scope: Scope,
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
    dedup: Dedup,
    /// During a handover, the new connection's events wait here until the old connection has
    /// delivered everything it will; both carry the account's events in the same order, so the
    /// old one's stream, then the new one's less what the old one delivered, is that order.
    held: Option<Held>,
}

/// Events held back from the new connection during a handover overlap: its lead over the old
/// one. An event the old one then delivers leaves the queue (the old copy went out); whatever
/// is left when the old one stops delivering is released, in order.
struct Held {
    conn: u64,
    events: VecDeque<(u64, Source, AccountEvent)>,
}

/// The most events the new connection may be ahead of the old one. Past it the old one is
/// stuck: the lead is released at once rather than held without bound.
const HELD_CAPACITY: usize = 65_536;

impl AccountState {
    fn active_since(&self, except_conn: u64) -> Option<i64> {
        self.subs
            .iter()
            .filter(|(conn, _)| **conn != except_conn)
            .filter_map(|(_, sub)| match sub {
                Sub::Active { since_us, .. } => Some(*since_us),
                Sub::Pending => None,
            })
            .min()
    }

    /// The token, if it is not yet due for renewal: (value, expiry, renewal time).
    fn usable_token(&self, now_us: i64) -> Option<(String, i64, i64)> {
        self.token
            .as_ref()
            .filter(|token| now_us < token.renew_at_us)
            .map(|token| (token.value.clone(), token.expires_us, token.renew_at_us))
    }

    fn is_active_on(&self, conn: u64) -> bool {
        matches!(self.subs.get(&conn), Some(Sub::Active { .. }))
    }
}

enum Request {
    Subscribe {
        account: usize,
        expires_us: i64,
        renew_at_us: i64,
    },
    /// `None`: closes everything on a connection being retired. `Some`: closes one superseded
    /// subscription; the connection stays.
    Unsubscribe { subscription: Option<u32> },
}

impl Request {
    /// The request's method and params, as sent.
    fn to_json(&self, id: u64, token: Option<&str>) -> String {
        let request = match self {
            Request::Subscribe { .. } => json!({"id": id,
                "method": "userDataStream.subscribe.listenToken",
                "params": {"listenToken": token.unwrap_or_default()}}),
            Request::Unsubscribe { subscription: None } => {
                json!({"id": id, "method": "userDataStream.unsubscribe"})
            }
            Request::Unsubscribe {
                subscription: Some(subscription),
            } => json!({"id": id, "method": "userDataStream.unsubscribe",
                "params": {"subscriptionId": subscription}}),
        };
        request.to_string()
    }
}

struct Conn {
    handle: ConnHandle,
    /// Index of the gateway it is open to.
    gateway: usize,
    open: bool,
    opened_at_us: i64,
    requests: HashMap<u64, Request>,
    /// Being retired after a handover: close it by this instant at the latest.
    retire_by: Option<Instant>,
    /// The server confirmed the unsubscribe: everything it had for us has been read.
    drained: bool,
    close_sent: bool,
}

/// Which account a (connection, subscription id) belongs to.
struct Route {
    account: usize,
    /// Being closed by us; its `eventStreamTerminated` is expected.
    closing: bool,
}

/// A token request's outcome, for account `account`, minted by gateway `gateway`.
struct TokenAnswer {
    account: usize,
    gateway: usize,
    answer: Result<ListenToken, TokenError>,
    asked_at_us: i64,
}

pub(crate) struct Driver {
    options: Arc<Options>,
    clock: SharedClock,
    /// Never empty (the builder checks).
    gateways: Vec<Endpoints>,
    /// One per gateway, same order.
    tokens: Vec<TokenClient>,
    /// Where the next reconnect goes.
    reconnect_gateway: usize,
    /// Where a handover's new connection goes.
    handover_gateway: usize,
    /// Where tokens are requested.
    token_gateway: usize,
    out: mpsc::Sender<Item>,
    conn_tx: mpsc::Sender<(u64, ConnEvent)>,
    conn_rx: mpsc::Receiver<(u64, ConnEvent)>,
    token_tx: mpsc::UnboundedSender<TokenAnswer>,
    token_rx: mpsc::UnboundedReceiver<TokenAnswer>,
    accounts: Vec<AccountState>,
    conns: HashMap<u64, Conn>,
    current: Option<u64>,
    next: Option<u64>,
    handover: Option<HandoverReason>,
    handover_failures: u32,
    handover_retry_at: Option<Instant>,
    routes: HashMap<(u64, u32), Route>,
    conn_seq: u64,
    request_seq: u64,
    reconnect_attempt: u32,
    reconnect_at: Option<Instant>,
    /// When `drive` last ran: (monotonic, clock µs).
    driven_at: (Instant, i64),
    finished: bool,
}

impl Driver {
    pub(crate) fn new(
        options: Options,
        clock: SharedClock,
        gateways: Vec<Endpoints>,
        tokens: Vec<TokenClient>,
        accounts: Vec<Scope>,
        out: mpsc::Sender<Item>,
    ) -> Driver {
        let (conn_tx, conn_rx) = mpsc::channel(CONN_EVENT_QUEUE);
        let (token_tx, token_rx) = mpsc::unbounded_channel();
        Driver {
            options: Arc::new(options),
            clock,
            gateways,
            tokens,
            reconnect_gateway: 0,
            handover_gateway: 0,
            token_gateway: 0,
            out,
            conn_tx,
            conn_rx,
            token_tx,
            token_rx,
            accounts: accounts
                .into_iter()
                .map(|scope| AccountState {
                    scope,
                    token: None,
                    fetching: false,
                    failures: 0,
                    retry_at: None,
                    subs: HashMap::new(),
                    started: false,
                    broken_since: None,
                    dedup: Dedup::default(),
                    held: None,
                })
                .collect(),
            conns: HashMap::new(),
            current: None,
            next: None,
            handover: None,
            handover_failures: 0,
            handover_retry_at: None,
            routes: HashMap::new(),
            conn_seq: 0,
            request_seq: 0,
            reconnect_attempt: 0,
            reconnect_at: None,
            driven_at: (Instant::now(), 0),
            finished: false,
        }
    }

    pub(crate) async fn run(mut self) {
        self.drive().await;
        while !self.finished {
            let clock_wait = match self.next_clock_deadline() {
                Some(deadline) => self.clock.sleep_until(deadline),
                None => Box::pin(pending()),
            };
            let timer = self.next_timer_deadline();
            tokio::select! {
                Some((conn, event)) = self.conn_rx.recv() => self.on_conn_event(conn, event).await,
                Some(answer) = self.token_rx.recv() => self.on_token(answer).await,
                () = clock_wait => {}
                () = async { match timer { Some(at) => sleep_until(at).await, None => pending().await } } => {}
                () = self.out.closed() => return,
            }
            if !self.finished {
                self.drive().await;
            }
        }
    }

    async fn emit(&mut self, item: Item) {
        if self.out.send(item).await.is_err() {
            // The stream was dropped: nobody is listening any more.
            self.finished = true;
        }
    }

    async fn status(&mut self, status: Status) {
        tracing::info!("{status}");
        self.emit(Item::Status(status)).await;
    }

    /// Brings what is in line with what should be.
    async fn drive(&mut self) {
        let now = Instant::now();
        let now_us = self.clock.now_us();
        // Deadlines are judged against this moment: one that comes due while `drive` waits on
        // a slow reader is still ahead of it, so the loop wakes for it.
        self.driven_at = (now, now_us);

        if self.current.is_none()
            && self.next.is_none()
            && self.reconnect_at.is_none_or(|at| now >= at)
        {
            self.reconnect_at = None;
            self.current = Some(self.open_connection(self.reconnect_gateway));
        }
        if let Some(conn) = self.current.and_then(|id| self.conns.get(&id))
            && conn.open
            && self.handover.is_none()
            && now_us
                >= conn
                    .opened_at_us
                    .saturating_add(micros(self.options.rotate_connection_after))
        {
            self.start_handover(HandoverReason::ConnectionAge).await;
        }
        if self.handover.is_some()
            && self.next.is_none()
            && self.handover_retry_at.is_none_or(|at| now >= at)
        {
            self.handover_retry_at = None;
            self.next = Some(self.open_connection(self.handover_gateway));
        }

        let target = [self.next, self.current]
            .into_iter()
            .flatten()
            .find(|id| self.conns.get(id).is_some_and(|conn| conn.open));
        let open: Vec<u64> = [self.current, self.next]
            .into_iter()
            .flatten()
            .filter(|id| self.conns.get(id).is_some_and(|conn| conn.open))
            .collect();
        for index in 0..self.accounts.len() {
            let account = &mut self.accounts[index];
            if account.retry_at.is_some_and(|at| now >= at) {
                account.retry_at = None;
            }
            if account.retry_at.is_some() {
                continue;
            }
            let mut needs_token = false;
            // A new subscription where the account has none yet.
            if let Some(conn) = target
                && !account.subs.contains_key(&conn)
            {
                match account.usable_token(now_us) {
                    Some((value, expires_us, renew_at_us)) => {
                        account.subs.insert(conn, Sub::Pending);
                        if self.route_count(index) > 0 {
                            // The same events may now arrive on two subscriptions.
                            self.accounts[index].dedup.overlap_started();
                        }
                        if self.delivering_elsewhere(index, conn) {
                            // A lead held for a connection that went away stays held: the old
                            // connection has not delivered it yet.
                            let held = &mut self.accounts[index].held;
                            match held {
                                Some(held) => held.conn = conn,
                                None => {
                                    *held = Some(Held {
                                        conn,
                                        events: VecDeque::new(),
                                    })
                                }
                            }
                        }
                        self.subscribe(conn, index, value, expires_us, renew_at_us);
                    }
                    None => needs_token = true,
                }
            }
            // Renewals, on every connection that still carries the account.
            for &conn in &open {
                let account = &mut self.accounts[index];
                let Some(Sub::Active {
                    expires_us: current_expiry,
                    renew_at_us,
                    renewing: false,
                    ..
                }) = account.subs.get(&conn)
                else {
                    continue;
                };
                if now_us < *renew_at_us {
                    continue;
                }
                let current_expiry = *current_expiry;
                match account.usable_token(now_us) {
                    Some((value, expires_us, renew_at_us)) if expires_us > current_expiry => {
                        if let Some(Sub::Active { renewing, .. }) = account.subs.get_mut(&conn) {
                            *renewing = true;
                        }
                        self.subscribe(conn, index, value, expires_us, renew_at_us);
                    }
                    _ => needs_token = true,
                }
            }
            let account = &mut self.accounts[index];
            if needs_token && !account.fetching {
                account.fetching = true;
                self.fetch_token(index);
            }
        }

        self.finish_handover(now).await;
        for conn in self.conns.values_mut() {
            if !conn.close_sent && conn.retire_by.is_some_and(|by| now >= by) {
                conn.close_sent = true;
                conn.handle.close();
            }
        }
        if let Some(current) = self.current
            && self
                .accounts
                .iter()
                .all(|account| account.is_active_on(current))
        {
            self.reconnect_attempt = 0;
        }
    }

    /// Once every account streams on the new connection, retire the old one: unsubscribe it
    /// (the server answers after everything queued for us), then close it.
    async fn finish_handover(&mut self, now: Instant) {
        let (Some(old), Some(new)) = (self.current, self.next) else {
            return;
        };
        if !self
            .accounts
            .iter()
            .all(|account| account.is_active_on(new))
        {
            return;
        }
        self.retire(old, now);
        self.current = Some(new);
        self.next = None;
        self.handover = None;
        self.handover_failures = 0;
        self.status(Status::HandoverComplete { connection: new })
            .await;
    }

    fn retire(&mut self, id: u64, now: Instant) {
        for ((conn, _), route) in self.routes.iter_mut() {
            if *conn == id {
                route.closing = true;
            }
        }
        for account in &mut self.accounts {
            account.subs.remove(&id);
        }
        let retire_by = now
            .checked_add(self.options.handover_timeout)
            .unwrap_or(now);
        if let Some(conn) = self.conns.get_mut(&id) {
            conn.retire_by = Some(retire_by);
        }
        self.send(id, Request::Unsubscribe { subscription: None }, None);
    }

    async fn start_handover(&mut self, reason: HandoverReason) {
        if self.handover.is_some() {
            return;
        }
        self.handover = Some(reason);
        self.handover_failures = 0;
        self.handover_retry_at = None;
        self.handover_gateway = self.current_gateway().unwrap_or(self.reconnect_gateway);
        if reason == HandoverReason::ServerShutdown {
            // That node is going away: the replacement goes to another one, if there is one.
            self.advance_handover_gateway();
        }
        self.status(Status::HandoverStarted { reason }).await;
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
        let mut next = self.after(self.handover_gateway);
        if self.handover == Some(HandoverReason::ServerShutdown)
            && self.current_gateway() == Some(next)
        {
            next = self.after(next);
        }
        self.handover_gateway = next;
    }

    fn open_connection(&mut self, gateway: usize) -> u64 {
        self.conn_seq += 1;
        let id = self.conn_seq;
        let gateway = gateway % self.gateways.len();
        let handle = connection::spawn(
            id,
            ConnSettings {
                url: self.gateways[gateway].ws.clone(),
                options: Arc::clone(&self.options),
                clock: Arc::clone(&self.clock),
                events: self.conn_tx.clone(),
            },
        );
        self.conns.insert(
            id,
            Conn {
                handle,
                gateway,
                open: false,
                opened_at_us: self.clock.now_us(),
                requests: HashMap::new(),
                retire_by: None,
                drained: false,
                close_sent: false,
            },
        );
        id
    }

    fn next_request_id(&mut self) -> u64 {
        self.request_seq += 1;
        self.request_seq
    }

    fn subscribe(
        &mut self,
        conn: u64,
        account: usize,
        token: String,
        expires_us: i64,
        renew_at_us: i64,
    ) {
        let request = Request::Subscribe {
            account,
            expires_us,
            renew_at_us,
        };
        self.send(conn, request, Some(&token));
    }

    /// Sends a request on a connection and remembers it until its answer.
    fn send(&mut self, conn: u64, request: Request, token: Option<&str>) {
        let id = self.next_request_id();
        let Some(connection) = self.conns.get_mut(&conn) else {
            return;
        };
        connection.handle.request(id, request.to_json(id, token));
        connection.requests.insert(id, request);
    }

    fn fetch_token(&self, account: usize) {
        let gateway = self.token_gateway % self.tokens.len();
        let tokens = self.tokens[gateway].clone();
        let scope = self.accounts[account].scope.clone();
        let clock = Arc::clone(&self.clock);
        let answers = self.token_tx.clone();
        tokio::spawn(async move {
            let asked_at_us = clock.now_us();
            let answer = tokens.fetch(&scope, asked_at_us.div_euclid(1000)).await;
            let _ = answers.send(TokenAnswer {
                account,
                gateway,
                answer,
                asked_at_us,
            });
        });
    }

    async fn on_token(&mut self, answer: TokenAnswer) {
        let TokenAnswer {
            account: index,
            gateway,
            answer,
            asked_at_us,
        } = answer;
        if answer.as_ref().is_err_and(|error| !error.is_fatal())
            && self.token_gateway == gateway
            && self.gateways.len() > 1
        {
            // That gateway may be down: the retry asks the next one. Only the first failure
            // of a gateway moves the cursor, so several accounts failing at once skip no node.
            self.token_gateway = self.after(gateway);
            tracing::warn!(
                from = %shown(&self.gateways[gateway].rest),
                to = %shown(&self.gateways[self.token_gateway].rest),
                "token request failed; asking the next gateway"
            );
        }
        let validity = self.options.token_validity.unwrap_or(DEFAULT_VALIDITY);
        let account = &mut self.accounts[index];
        account.fetching = false;
        let answer = answer.and_then(|token| {
            // Expiry on our clock: the server's word, but never later than the validity counted
            // from when we asked (in case the server's clock runs ahead of ours).
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
                let renew_at_us = expires_us - micros(self.options.renewal_lead(lifetime));
                account.token = Some(Token {
                    value,
                    expires_us,
                    renew_at_us,
                });
                account.failures = 0;
            }
            Err(error) if error.is_fatal() => {
                let account = account.scope.clone();
                self.terminate(Fatal::TokenRefused { account, error }).await;
            }
            Err(error) => {
                account.failures += 1;
                let attempt = account.failures;
                let delay = self
                    .options
                    .token_backoff
                    .delay(attempt)
                    .max(error.retry_after().unwrap_or_default().min(MAX_RETRY_AFTER));
                account.retry_at = Some(later(delay));
                let account = account.scope.clone();
                self.status(Status::TokenRetry {
                    account,
                    attempt,
                    delay,
                    error,
                })
                .await;
            }
        }
    }

    async fn terminate(&mut self, fatal: Fatal) {
        tracing::info!("stream terminated: {fatal}");
        self.emit(Item::Status(Status::Terminated(fatal))).await;
        self.finished = true;
        for conn in self.conns.values() {
            conn.handle.close();
        }
    }

    async fn on_conn_event(&mut self, id: u64, event: ConnEvent) {
        match event {
            ConnEvent::Open => {
                let handover = self.next == Some(id);
                let Some(conn) = self.conns.get_mut(&id) else {
                    return;
                };
                conn.open = true;
                conn.opened_at_us = self.clock.now_us();
                let gateway = conn.gateway;
                // A gateway that just took a connection is up: mint tokens there.
                self.token_gateway = gateway;
                self.status(Status::Connected {
                    connection: id,
                    handover,
                    gateway: shown(&self.gateways[gateway].ws),
                })
                .await;
            }
            ConnEvent::Frame(Inbound::Response {
                id: request,
                outcome,
            }) => {
                let Some(request) = self
                    .conns
                    .get_mut(&id)
                    .and_then(|conn| conn.requests.remove(&request))
                else {
                    return;
                };
                match request {
                    Request::Subscribe {
                        account,
                        expires_us,
                        renew_at_us,
                    } => {
                        let info = outcome.and_then(|reply| {
                            reply.subscription().ok_or_else(|| {
                                userstream_protocol::ApiError::new(
                                    200,
                                    codes::UNKNOWN,
                                    format!("unreadable subscribe result: {}", reply.describe()),
                                )
                            })
                        });
                        match info {
                            Ok(info) => {
                                self.on_subscribed(id, account, info, expires_us, renew_at_us)
                                    .await
                            }
                            Err(error) => self.on_subscribe_refused(id, account, error).await,
                        }
                    }
                    Request::Unsubscribe {
                        subscription: Some(_),
                    } => {}
                    Request::Unsubscribe { subscription: None } => {
                        if let Some(conn) = self.conns.get_mut(&id) {
                            conn.drained = true;
                            if !conn.close_sent {
                                conn.close_sent = true;
                                conn.handle.close();
                            }
                        }
                        // Everything the retired connection will deliver has arrived.
                        for index in 0..self.accounts.len() {
                            self.release_held(index).await;
                        }
                    }
                }
            }
            ConnEvent::Frame(Inbound::Event {
                subscription_id,
                event,
                fingerprint,
            }) => {
                self.on_event(id, subscription_id, event, fingerprint).await;
            }
            ConnEvent::Frame(Inbound::ConnectionEvent(Event::ServerShutdown(_))) => {
                if self.current == Some(id) {
                    self.start_handover(HandoverReason::ServerShutdown).await;
                } else if self.next == Some(id) {
                    // The replacement is going away too: drop it and try another.
                    self.abandon_next();
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
                if self.current == Some(id) {
                    self.status(Status::NotRepresentable { connection: id })
                        .await;
                }
            }
            ConnEvent::Frame(Inbound::Ignored(_)) => {}
            ConnEvent::Closed {
                reason,
                last_heard_us,
            } => self.on_closed(id, reason, last_heard_us).await,
        }
    }

    fn abandon_next(&mut self) {
        if let Some(next) = self.next.take()
            && let Some(conn) = self.conns.get_mut(&next)
        {
            conn.close_sent = true;
            conn.handle.close();
            self.advance_handover_gateway();
            self.handover_failures += 1;
            self.handover_retry_at = Some(later(
                self.options.reconnect_backoff.delay(self.handover_failures),
            ));
        }
    }

    async fn on_subscribed(
        &mut self,
        conn: u64,
        index: usize,
        info: SubscriptionInfo,
        expires_us: i64,
        renew_at_us: i64,
    ) {
        let now_us = self.clock.now_us();
        let account = &mut self.accounts[index];
        let previous = match account.subs.get(&conn) {
            Some(Sub::Active { id, since_us, .. }) => Some((*id, *since_us)),
            _ => None,
        };
        account.subs.insert(
            conn,
            Sub::Active {
                id: info.subscription_id,
                expires_us,
                renew_at_us,
                since_us: previous.map_or(now_us, |(_, since)| since),
                renewing: false,
            },
        );
        self.routes.insert(
            (conn, info.subscription_id),
            Route {
                account: index,
                closing: false,
            },
        );
        let scope = account.scope.clone();
        let mut statuses = Vec::new();
        match previous {
            Some((old, _)) => {
                if old != info.subscription_id {
                    // The server opened a second subscription instead of extending the first:
                    // close the old one; events on both are deduplicated meanwhile.
                    if let Some(route) = self.routes.get_mut(&(conn, old)) {
                        route.closing = true;
                    }
                    let request = Request::Unsubscribe {
                        subscription: Some(old),
                    };
                    self.send(conn, request, None);
                }
                statuses.push(Status::Renewed {
                    account: scope,
                    subscription_id: info.subscription_id,
                    expires_at_us: info.expiration_time,
                });
            }
            None => {
                statuses.push(Status::Subscribed {
                    account: scope.clone(),
                    connection: conn,
                    subscription_id: info.subscription_id,
                    expires_at_us: info.expiration_time,
                });
                let account = &mut self.accounts[index];
                if let Some(since_us) = account.broken_since.take() {
                    statuses.push(Status::Gap(Gap {
                        account: scope,
                        since_us,
                        until_us: now_us,
                    }));
                }
                account.started = true;
            }
        }
        if self.route_count(index) > 1 {
            self.accounts[index].dedup.overlap_started();
        }
        for status in statuses {
            self.status(status).await;
        }
    }

    async fn on_subscribe_refused(
        &mut self,
        conn: u64,
        index: usize,
        error: userstream_protocol::ApiError,
    ) {
        let account = &mut self.accounts[index];
        match account.subs.get_mut(&conn) {
            Some(Sub::Pending) => {
                account.subs.remove(&conn);
            }
            Some(Sub::Active { renewing, .. }) => *renewing = false,
            None => {}
        }
        tracing::warn!(account = %account.scope, connection = conn, %error, "subscribe refused");
        if error.code == codes::INVALID_LISTEN_TOKEN {
            // The token is no good (expired, revoked key, another server's): get a fresh one.
            account.token = None;
        }
        // Refusals repeat until something changes; never hammer the server.
        account.failures += 1;
        let delay = self.options.token_backoff.delay(account.failures);
        account.retry_at = Some(later(delay));
        if self.route_count(index) <= 1 {
            self.accounts[index].dedup.overlap_ended(Instant::now());
        }
        self.release_held(index).await;
        if error.code == codes::MAX_SUBSCRIPTION_ID {
            self.start_handover(HandoverReason::SubscriptionIdsExhausted)
                .await;
        }
    }

    async fn on_event(&mut self, conn: u64, subscription_id: u32, event: Event, fingerprint: u64) {
        let Some(route) = self.routes.get(&(conn, subscription_id)) else {
            tracing::debug!(
                connection = conn,
                subscription_id,
                "event for an unknown subscription skipped"
            );
            return;
        };
        let (index, closing) = (route.account, route.closing);
        if let Event::EventStreamTerminated(terminated) = &event {
            self.routes.remove(&(conn, subscription_id));
            if self.route_count(index) <= 1 {
                self.accounts[index].dedup.overlap_ended(Instant::now());
            }
            self.release_held(index).await;
            if closing {
                return;
            }
            let now_us = self.clock.now_us();
            let account = &mut self.accounts[index];
            match account.subs.get(&conn) {
                // A renewal is already on its way: its answer opens the new subscription.
                Some(Sub::Active {
                    id, renewing: true, ..
                }) if *id == subscription_id => {
                    account.subs.insert(conn, Sub::Pending);
                }
                Some(Sub::Active { id, .. }) if *id == subscription_id => {
                    account.subs.remove(&conn);
                }
                _ => {}
            }
            tracing::info!(account = %account.scope, connection = conn, subscription_id, "subscription terminated by the server; renewing now");
            if account.active_since(conn).is_none() {
                let since = terminated.event_time_us.min(now_us);
                account.broken_since = Some(account.broken_since.map_or(since, |s| s.min(since)));
            }
            // Renew at once, with a fresh token.
            account.token = None;
            account.retry_at = None;
            return;
        }
        let source = (conn, subscription_id);
        let AccountState {
            scope, held, dedup, ..
        } = &mut self.accounts[index];
        if let Some(lead) = held.as_mut() {
            if lead.conn == conn {
                // The new connection: hold what the old one has not delivered yet.
                let known = dedup.seen_elsewhere(fingerprint, source)
                    || lead.events.iter().any(|(seen, _, _)| *seen == fingerprint);
                if known {
                    return;
                }
                let event = AccountEvent {
                    account: scope.clone(),
                    subscription_id,
                    event,
                };
                lead.events.push_back((fingerprint, source, event));
                if lead.events.len() >= HELD_CAPACITY {
                    tracing::warn!(account = %scope, connection = conn, "the old connection is {HELD_CAPACITY} events behind the new one; releasing them without waiting");
                    self.release(index).await;
                }
                return;
            }
            // The old connection catches up: its copy goes out below, the held one leaves.
            if let Some(position) = lead
                .events
                .iter()
                .position(|(seen, _, _)| *seen == fingerprint)
            {
                lead.events.drain(..=position);
            }
        }
        if dedup.admit(fingerprint, source, Instant::now()) {
            let event = AccountEvent {
                account: scope.clone(),
                subscription_id,
                event,
            };
            self.emit(Item::Event(event)).await;
        }
    }

    /// True when a connection other than `conn` still delivers events of account `index`.
    fn delivering_elsewhere(&self, index: usize, conn: u64) -> bool {
        self.routes.iter().any(|((other, _), route)| {
            route.account == index
                && *other != conn
                && self.conns.get(other).is_some_and(|other| !other.drained)
        })
    }

    /// Releases the events held back during a handover once no other connection delivers the
    /// account any more (the old one is drained, unsubscribed or closed): they all come after
    /// the last event the old one delivered.
    async fn release_held(&mut self, index: usize) {
        let waiting = self.accounts[index]
            .held
            .as_ref()
            .is_some_and(|held| self.delivering_elsewhere(index, held.conn));
        if !waiting {
            self.release(index).await;
        }
    }

    /// Emits the held events of account `index` (less any copy already out) and ends the hold.
    async fn release(&mut self, index: usize) {
        let Some(held) = self.accounts[index].held.take() else {
            return;
        };
        let now = Instant::now();
        for (fingerprint, source, event) in held.events {
            if self.accounts[index].dedup.admit(fingerprint, source, now) {
                self.emit(Item::Event(event)).await;
            }
        }
    }

    async fn on_closed(&mut self, id: u64, reason: Disconnect, last_heard_us: i64) {
        let Some(conn) = self.conns.remove(&id) else {
            return;
        };
        let was_open = conn.open;
        let mut affected: Vec<usize> = Vec::new();
        self.routes.retain(|(route_conn, _), route| {
            if *route_conn == id {
                affected.push(route.account);
                false
            } else {
                true
            }
        });
        for (index, account) in self.accounts.iter_mut().enumerate() {
            if account.subs.remove(&id).is_some() && !affected.contains(&index) {
                affected.push(index);
            }
        }
        affected.sort_unstable();
        affected.dedup();
        let mut gaps = Vec::new();
        for &index in &affected {
            if self.route_count(index) <= 1 {
                self.accounts[index].dedup.overlap_ended(Instant::now());
            }
            if conn.drained {
                continue;
            }
            let account = &mut self.accounts[index];
            match account.active_since(id) {
                // Another connection already streams this account; only what fell between the
                // last frame heard here and its start may be missing.
                Some(since) if since > last_heard_us => gaps.push(Gap {
                    account: account.scope.clone(),
                    since_us: last_heard_us,
                    until_us: since,
                }),
                Some(_) => {}
                None if account.started => {
                    account.broken_since = Some(
                        account
                            .broken_since
                            .map_or(last_heard_us, |s| s.min(last_heard_us)),
                    );
                }
                None => {}
            }
        }
        for gap in gaps {
            self.status(Status::Gap(gap)).await;
        }
        // What the new connection held back comes after any gap the old one left.
        for index in affected {
            self.release_held(index).await;
        }

        if self.current == Some(id) {
            self.current = None;
            if let Some(next) = self.next.take() {
                // The replacement becomes the connection; the handover is moot.
                self.current = Some(next);
                self.handover = None;
                tracing::info!(connection = id, %reason, "connection ended during a handover");
                return;
            }
            // A handover waiting to retry is moot: the reconnect replaces the connection.
            self.handover = None;
            self.handover_retry_at = None;
            // Whatever ended it, another gateway may be healthy: try the next one first, and
            // ask it for tokens too rather than a node that may be dead.
            self.reconnect_gateway = self.after(conn.gateway);
            if self.token_gateway == conn.gateway {
                self.token_gateway = self.reconnect_gateway;
            }
            self.reconnect_attempt += 1;
            let attempt = self.reconnect_attempt;
            if let Some(limit) = self.options.max_reconnect_attempts
                && attempt > limit
            {
                self.terminate(Fatal::ReconnectLimit { attempts: limit })
                    .await;
                return;
            }
            let delay = self.options.reconnect_backoff.delay(attempt);
            self.reconnect_at = Some(later(delay));
            let gateway = shown(&self.gateways[self.reconnect_gateway].ws);
            self.status(Status::Reconnecting {
                attempt,
                delay,
                reason,
                gateway,
            })
            .await;
        } else if self.next == Some(id) {
            self.next = None;
            self.advance_handover_gateway();
            self.handover_failures += 1;
            let delay = self.options.reconnect_backoff.delay(self.handover_failures);
            self.handover_retry_at = Some(later(delay));
            tracing::warn!(connection = id, %reason, was_open, "handover connection failed; retrying in {} ms", delay.as_millis());
        }
    }

    fn route_count(&self, account: usize) -> usize {
        self.routes
            .values()
            .filter(|route| route.account == account)
            .count()
    }

    /// The next moment, on the injected clock, something is due: a renewal or a rotation.
    fn next_clock_deadline(&self) -> Option<i64> {
        let now_us = self.driven_at.1;
        let renewals = self.accounts.iter().flat_map(|account| {
            account.subs.values().filter_map(|sub| match sub {
                Sub::Active {
                    renew_at_us,
                    renewing: false,
                    ..
                } => Some(*renew_at_us),
                _ => None,
            })
        });
        let rotation = self
            .current
            .and_then(|id| self.conns.get(&id))
            .filter(|conn| conn.open && self.handover.is_none())
            .map(|conn| {
                conn.opened_at_us
                    .saturating_add(micros(self.options.rotate_connection_after))
            });
        renewals
            .chain(rotation)
            .filter(|deadline| *deadline > now_us)
            .min()
    }

    /// The next moment, on the monotonic timer, a backoff or a retirement ends.
    fn next_timer_deadline(&self) -> Option<Instant> {
        let now = self.driven_at.0;
        let retries = self.accounts.iter().filter_map(|account| account.retry_at);
        let handover = self
            .handover_retry_at
            .filter(|_| self.handover.is_some() && self.next.is_none());
        let retirements = self
            .conns
            .values()
            .filter(|conn| !conn.close_sent)
            .filter_map(|conn| conn.retire_by);
        retries
            .chain(self.reconnect_at)
            .chain(handover)
            .chain(retirements)
            .filter(|at| *at > now)
            .min()
    }
}

/// A gateway's URL as statuses and logs show it: without a password, should it hold one.
fn shown(url: &Url) -> Url {
    let mut url = url.clone();
    let _ = url.set_password(None);
    url
}

/// `delay` from now; a delay too large to represent waits a year instead of panicking.
fn later(delay: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(delay)
        .or_else(|| now.checked_add(Duration::from_secs(365 * 86_400)))
        .unwrap_or(now)
}

fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_urls_are_shown_without_a_password() {
        let url = Url::parse("wss://user:hunter2@gw.example/ws-api/v3").unwrap();
        assert_eq!(shown(&url).as_str(), "wss://user@gw.example/ws-api/v3");
    }

    #[test]
    fn huge_delays_do_not_overflow() {
        assert!(later(Duration::MAX) > Instant::now());
        assert!(later(Duration::from_millis(5)) > Instant::now());
    }
}
