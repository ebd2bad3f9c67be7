//! The driver: keeps every account subscribed, whatever happens.
//!
//! It is split the way async-nats keeps its connector apart from its handler. The decisions
//! are made by a synchronous state machine ([`machine`]) that owns no socket and reads no
//! clock: it is handed one input at a time with the current time and queues [`Action`]s. This
//! module is the run loop around it, and the only part that does I/O: it spawns connection
//! tasks and token requests, writes requests, hands items to the user's stream, and sleeps
//! until the next input or deadline.
//!
//! - [`accounts`]: the accounts and their tokens (fetch, expiry on our clock, renewal, gaps).
//! - [`connections`]: connections, gateways, reconnects and make-before-break handovers.
//! - [`routes`]: which subscription on which connection delivers which account, and the
//!   hand-off that delivers each event once while an account streams twice.
//! - [`timers`]: the two clocks and their deadlines.
//! - [`requests`]: the requests sent, kept until answered.
//! - [`snapshots`]: when each account's state is read over REST (on start, after a gap).

mod accounts;
mod actions;
mod connections;
mod machine;
mod requests;
mod routes;
mod snapshots;
#[cfg(test)]
mod tests;
mod timers;

use self::accounts::TokenAnswer;
use self::actions::Action;
use self::machine::{Input, Machine};
use self::snapshots::SnapshotAnswer;
use self::timers::Now;
use crate::connection::{self, ConnEvent, ConnHandle, ConnSettings};
use crate::item::Item;
use crate::options::{Endpoints, Options};
use crate::snapshot::SnapshotClient;
use crate::token::TokenClient;
use std::collections::HashMap;
use std::future::pending;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};
use userstream_protocol::Scope;
use userstream_protocol::clock::SharedClock;

/// Connection reports waiting for the driver before a connection stops reading its socket.
const CONN_EVENT_QUEUE: usize = 256;

pub(crate) struct Driver {
    machine: Machine,
    options: Arc<Options>,
    clock: SharedClock,
    /// Never empty (the builder checks).
    gateways: Vec<Endpoints>,
    /// One per gateway, same order.
    tokens: Vec<TokenClient>,
    /// One per gateway, same order; empty when no snapshots are read.
    snapshots: Vec<SnapshotClient>,
    /// The user's stream.
    out: mpsc::Sender<Item>,
    conn_tx: mpsc::Sender<(u64, ConnEvent)>,
    conn_rx: mpsc::Receiver<(u64, ConnEvent)>,
    token_tx: mpsc::UnboundedSender<TokenAnswer>,
    token_rx: mpsc::UnboundedReceiver<TokenAnswer>,
    snapshot_tx: mpsc::UnboundedSender<SnapshotAnswer>,
    snapshot_rx: mpsc::UnboundedReceiver<SnapshotAnswer>,
    /// The running connection tasks. Dropping a handle closes its connection.
    handles: HashMap<u64, ConnHandle>,
}

impl Driver {
    pub(crate) fn new(
        options: Options,
        clock: SharedClock,
        gateways: Vec<Endpoints>,
        tokens: Vec<TokenClient>,
        snapshots: Vec<SnapshotClient>,
        accounts: Vec<Scope>,
        out: mpsc::Sender<Item>,
    ) -> Driver {
        let (conn_tx, conn_rx) = mpsc::channel(CONN_EVENT_QUEUE);
        let (token_tx, token_rx) = mpsc::unbounded_channel();
        let (snapshot_tx, snapshot_rx) = mpsc::unbounded_channel();
        let options = Arc::new(options);
        let reconcile = !snapshots.is_empty();
        Driver {
            machine: Machine::new(Arc::clone(&options), gateways.clone(), accounts, reconcile),
            options,
            clock,
            gateways,
            tokens,
            snapshots,
            snapshot_tx,
            snapshot_rx,
            out,
            conn_tx,
            conn_rx,
            token_tx,
            token_rx,
            handles: HashMap::new(),
        }
    }

    pub(crate) async fn run(mut self) {
        let mut input = Input::Wake;
        loop {
            if let Input::Conn {
                conn,
                event: ConnEvent::Closed { .. },
            } = &input
            {
                // The task is over; its handle has nothing left to command.
                self.handles.remove(conn);
            }
            let now = Now {
                at: Instant::now(),
                us: self.clock.now_us(),
            };
            self.machine.handle(input, now);
            if !self.perform().await || self.machine.finished() {
                return;
            }
            let deadlines = self.machine.deadlines(now);
            let clock_wait = match deadlines.clock_us {
                Some(deadline) => self.clock.sleep_until(deadline),
                None => Box::pin(pending()),
            };
            let timer = deadlines.timer;
            input = tokio::select! {
                Some((conn, event)) = self.conn_rx.recv() => Input::Conn { conn, event },
                Some(answer) = self.token_rx.recv() => Input::Token(answer),
                Some(answer) = self.snapshot_rx.recv() => Input::Snapshot(answer),
                () = clock_wait => Input::Wake,
                () = async { match timer { Some(at) => sleep_until(at).await, None => pending().await } } => Input::Wake,
                () = self.out.closed() => return,
            };
        }
    }

    /// Performs the actions the machine queued, in order. False once the user's stream is
    /// gone: nobody is listening any more.
    async fn perform(&mut self) -> bool {
        while let Some(action) = self.machine.next_action() {
            match action {
                Action::Open {
                    conn,
                    gateway,
                    positions,
                } => {
                    let settings = ConnSettings {
                        url: self.gateways[gateway % self.gateways.len()].ws.clone(),
                        options: Arc::clone(&self.options),
                        clock: Arc::clone(&self.clock),
                        events: self.conn_tx.clone(),
                        positions,
                    };
                    self.handles.insert(conn, connection::spawn(conn, settings));
                }
                Action::Send { conn, id, text } => {
                    if let Some(handle) = self.handles.get(&conn) {
                        handle.request(id, text);
                    }
                }
                Action::Close { conn } => {
                    if let Some(handle) = self.handles.get(&conn) {
                        handle.close();
                    }
                }
                Action::FetchToken {
                    account,
                    scope,
                    gateway,
                } => self.fetch_token(account, scope, gateway),
                Action::FetchSnapshot {
                    account,
                    scope,
                    gateway,
                    fetch,
                } => self.fetch_snapshot(account, scope, gateway, fetch),
                Action::Emit(item) => {
                    if self.out.send(item).await.is_err() {
                        return false;
                    }
                }
            }
        }
        true
    }

    fn fetch_snapshot(&self, account: usize, scope: Scope, gateway: usize, fetch: u64) {
        let Some(client) = self.snapshots.get(gateway % self.snapshots.len().max(1)) else {
            return;
        };
        let client = client.clone();
        let clock = Arc::clone(&self.clock);
        let answers = self.snapshot_tx.clone();
        tokio::spawn(async move {
            let answer = client.fetch(&scope, clock.now_us()).await;
            let _ = answers.send(SnapshotAnswer {
                account,
                fetch,
                answer,
            });
        });
    }

    fn fetch_token(&self, account: usize, scope: Scope, gateway: usize) {
        let gateway = gateway % self.tokens.len();
        let tokens = self.tokens[gateway].clone();
        let clock = Arc::clone(&self.clock);
        let answers = self.token_tx.clone();
        tokio::spawn(async move {
            let asked_at_us = clock.now_us();
            let answer = tokens
                .fetch_announced(&scope, asked_at_us.div_euclid(1000))
                .await;
            let positions = answer.as_ref().is_ok_and(|(_, positions)| *positions);
            let _ = answers.send(TokenAnswer {
                account,
                gateway,
                answer: answer.map(|(token, _)| token),
                asked_at_us,
                positions,
            });
        });
    }
}
