//! The state machine, branch by branch: inputs in, queued actions out. No socket, no runtime.

use super::accounts::TokenAnswer;
use super::actions::Action;
use super::machine::{Input, Machine};
use super::snapshots::SnapshotAnswer;
use super::timers::{Now, micros};
use crate::connection::ConnEvent;
use crate::frame;
use crate::item::{Disconnect, Fatal, Gap, GapReason, HandoverReason, Item, Status};
use crate::options::{Endpoints, Options, StreamPositions};
use crate::snapshot::{MarginAccount, Snapshot, SnapshotError};
use crate::token::{ListenToken, TokenError};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use userstream_protocol::events::Event;
use userstream_protocol::position::ResumeFailure;
use userstream_protocol::{Scope, TimeUnit};

/// The tokens granted in these tests live a minute: renewed 15 s before expiry.
const VALIDITY: Duration = Duration::from_secs(60);
const RENEW_AFTER: Duration = Duration::from_secs(45);
/// Longer than any first backoff (0.5 s at most).
const PAST_BACKOFF: Duration = Duration::from_secs(1);

fn options() -> Options {
    Options {
        token_validity: Some(VALIDITY),
        ..Options::default()
    }
}

/// Stream positions switched off: never asked for, never waited for.
fn off() -> Options {
    Options {
        stream_positions: StreamPositions::Off,
        ..options()
    }
}

fn gateway(n: usize) -> Endpoints {
    Endpoints::local(&format!("http://gw{n}.test:9443")).unwrap()
}

/// A request as sent, read back from its JSON.
#[derive(Debug, Clone, PartialEq)]
struct Sent {
    conn: u64,
    id: u64,
    method: String,
    token: Option<String>,
    subscription: Option<u64>,
    /// `resumeFrom`'s sequence, if sent.
    resume_from: Option<u64>,
    /// The frame exactly as sent.
    text: String,
}

impl Sent {
    fn is_subscribe(&self) -> bool {
        self.method == "userDataStream.subscribe.listenToken"
    }

    fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }
}

/// Everything a batch of actions did, by kind.
#[derive(Debug, Default)]
struct Done {
    opened: Vec<(u64, usize)>,
    /// For each connection opened: whether it asked for stream positions.
    positions: Vec<bool>,
    sent: Vec<Sent>,
    closed: Vec<u64>,
    fetched: Vec<(usize, usize)>,
    statuses: Vec<Status>,
    /// Events given to the user: (subscription id, balance delta).
    events: Vec<(u32, String)>,
    /// Snapshot reads asked for: (account, gateway, read number).
    reads: Vec<(usize, usize, u64)>,
    /// Snapshots given to the user.
    snapshots: Vec<Snapshot>,
    /// Every item given to the user, in order: `event <delta>`, `snapshot <account>` or
    /// `status <text>`.
    items: Vec<String>,
}

impl Done {
    /// The one subscribe request sent on `conn`.
    fn subscribe_on(&self, conn: u64) -> &Sent {
        let on_conn: Vec<&Sent> = self
            .sent
            .iter()
            .filter(|sent| sent.is_subscribe() && sent.conn == conn)
            .collect();
        let [subscribe] = on_conn[..] else {
            panic!("not one subscribe on connection {conn}: {self:?}");
        };
        subscribe
    }

    fn unsubscribes(&self) -> Vec<&Sent> {
        self.sent
            .iter()
            .filter(|sent| !sent.is_subscribe())
            .collect()
    }

    fn gaps(&self) -> Vec<&Gap> {
        self.statuses
            .iter()
            .filter_map(|status| match status {
                Status::Gap(gap) => Some(gap),
                _ => None,
            })
            .collect()
    }

    fn nothing(&self) -> bool {
        self.opened.is_empty()
            && self.sent.is_empty()
            && self.closed.is_empty()
            && self.fetched.is_empty()
            && self.statuses.is_empty()
            && self.events.is_empty()
            && self.reads.is_empty()
            && self.snapshots.is_empty()
    }

    /// The subscribe requests sent, on any connection.
    fn subscribes(&self) -> Vec<&Sent> {
        self.sent
            .iter()
            .filter(|sent| sent.is_subscribe())
            .collect()
    }
}

struct Harness {
    machine: Machine,
    now: Now,
    tokens: u32,
    /// Token answers announce stream positions (a userstream server); false is Binance.
    announce: bool,
}

impl Harness {
    fn new(options: Options, gateways: usize, accounts: &[Scope]) -> Harness {
        Harness::reading_snapshots(options, gateways, accounts, false)
    }

    /// With `snapshots`, each account's snapshot is read on start and after every gap.
    fn reading_snapshots(
        options: Options,
        gateways: usize,
        accounts: &[Scope],
        snapshots: bool,
    ) -> Harness {
        let gateways = (1..=gateways).map(gateway).collect();
        Harness {
            machine: Machine::new(Arc::new(options), gateways, accounts.to_vec(), snapshots),
            now: Now {
                at: Instant::now(),
                us: 1_700_000_000_000_000,
            },
            tokens: 0,
            announce: false,
        }
    }

    fn advance(&mut self, by: Duration) {
        self.now.at += by;
        self.now.us += micros(by);
    }

    fn input(&mut self, input: Input) -> Done {
        self.machine.handle(input, self.now);
        let mut done = Done::default();
        while let Some(action) = self.machine.next_action() {
            match action {
                Action::Open {
                    conn,
                    gateway,
                    positions,
                } => {
                    done.opened.push((conn, gateway));
                    done.positions.push(positions);
                }
                Action::Send { conn, id, text } => {
                    let json: Value = serde_json::from_str(&text).unwrap();
                    assert_eq!(json["id"], id);
                    done.sent.push(Sent {
                        conn,
                        id,
                        method: json["method"].as_str().unwrap().to_owned(),
                        token: json["params"]["listenToken"].as_str().map(str::to_owned),
                        subscription: json["params"]["subscriptionId"].as_u64(),
                        resume_from: json["params"]["resumeFrom"]["sequence"].as_u64(),
                        text,
                    });
                }
                Action::Close { conn } => done.closed.push(conn),
                Action::FetchToken {
                    account, gateway, ..
                } => done.fetched.push((account, gateway)),
                Action::FetchSnapshot {
                    account,
                    gateway,
                    fetch,
                    ..
                } => done.reads.push((account, gateway, fetch)),
                Action::Emit(Item::Status(status)) => {
                    done.items.push(format!("status {status}"));
                    done.statuses.push(status);
                }
                Action::Emit(Item::Event(event)) => match event.event {
                    Event::BalanceUpdate(update) => {
                        done.items.push(format!("event {}", update.balance_delta));
                        done.events
                            .push((event.subscription_id, update.balance_delta.to_string()))
                    }
                    other => panic!("unexpected event {other:?}"),
                },
                Action::Emit(Item::Snapshot(snapshot)) => {
                    done.items.push(format!("snapshot {}", snapshot.account));
                    done.snapshots.push(*snapshot);
                }
            }
        }
        done
    }

    fn wake(&mut self) -> Done {
        self.input(Input::Wake)
    }

    fn report(&mut self, conn: u64, event: ConnEvent) -> Done {
        self.input(Input::Conn { conn, event })
    }

    fn open(&mut self, conn: u64) -> Done {
        self.report(conn, ConnEvent::Open)
    }

    fn frame(&mut self, conn: u64, text: &str) -> Done {
        let inbound = frame::parse(text, TimeUnit::Microsecond).unwrap();
        self.report(conn, ConnEvent::Frame(inbound))
    }

    /// Gateway `gateway` grants account `account` a token valid for [`VALIDITY`].
    fn grant(&mut self, account: usize, gateway: usize) -> Done {
        self.tokens += 1;
        let token = ListenToken {
            token: format!("token-{}", self.tokens),
            expiration_time_ms: (self.now.us + micros(VALIDITY)) / 1000,
        };
        self.answer(account, gateway, Ok(token))
    }

    fn answer(
        &mut self,
        account: usize,
        gateway: usize,
        answer: Result<ListenToken, TokenError>,
    ) -> Done {
        let asked_at_us = self.now.us;
        let positions = self.announce;
        self.input(Input::Token(TokenAnswer {
            account,
            gateway,
            answer,
            asked_at_us,
            positions,
        }))
    }

    /// The server answers subscribe request `request` with subscription `id`.
    fn subscribed(&mut self, conn: u64, request: u64, id: u32) -> Done {
        let expires = self.now.us + micros(VALIDITY);
        self.frame(
            conn,
            &format!(
                r#"{{"id":{request},"status":200,"result":{{"subscriptionId":{id},"expirationTime":{expires}}}}}"#
            ),
        )
    }

    /// The server answers subscribe request `request` on a connection with stream positions:
    /// subscription `id`, the stream at `sequence` (epoch `e1`), and `resume` if given.
    fn subscribed_at(
        &mut self,
        conn: u64,
        request: u64,
        id: u32,
        sequence: u64,
        resume: Option<&str>,
    ) -> Done {
        let expires = self.now.us + micros(VALIDITY);
        let resume = resume.map_or(String::new(), |resume| format!(r#","resume":{resume}"#));
        self.frame(
            conn,
            &format!(
                r#"{{"id":{request},"status":200,"result":{{"subscriptionId":{id},"expirationTime":{expires},"position":{{"epoch":"e1","sequence":{sequence}}}{resume}}}}}"#
            ),
        )
    }

    /// [`subscribed_at`](Self::subscribed_at) with a resume that replayed `events` events.
    fn replayed(&mut self, conn: u64, request: u64, id: u32, sequence: u64, events: u64) -> Done {
        let resume = format!(r#"{{"status":"REPLAYED","events":{events}}}"#);
        self.subscribed_at(conn, request, id, sequence, Some(&resume))
    }

    fn refused(&mut self, conn: u64, request: u64, code: i32, msg: &str) -> Done {
        self.frame(
            conn,
            &format!(r#"{{"id":{request},"status":400,"error":{{"code":{code},"msg":"{msg}"}}}}"#),
        )
    }

    /// The server answers an unsubscribe.
    fn unsubscribed(&mut self, conn: u64, request: u64) -> Done {
        self.frame(
            conn,
            &format!(r#"{{"id":{request},"status":200,"result":{{}}}}"#),
        )
    }

    /// A balance update whose delta `delta` tells events apart.
    fn event(&mut self, conn: u64, subscription: u32, delta: u32) -> Done {
        self.frame(
            conn,
            &format!(
                r#"{{"subscriptionId":{subscription},"event":{{"e":"balanceUpdate","E":1,"a":"BTC","d":"{delta}","T":1}}}}"#
            ),
        )
    }

    /// A balance update at `sequence` (epoch `e1`), on a connection with stream positions.
    fn event_at(&mut self, conn: u64, subscription: u32, delta: u32, sequence: u64) -> Done {
        self.frame(
            conn,
            &format!(
                r#"{{"subscriptionId":{subscription},"event":{{"e":"balanceUpdate","E":1,"a":"BTC","d":"{delta}","T":1}},"position":{{"epoch":"e1","sequence":{sequence}}}}}"#
            ),
        )
    }

    fn terminated(&mut self, conn: u64, subscription: u32, at_us: i64) -> Done {
        self.frame(
            conn,
            &format!(
                r#"{{"subscriptionId":{subscription},"event":{{"e":"eventStreamTerminated","E":{at_us}}}}}"#
            ),
        )
    }

    fn server_shutdown(&mut self, conn: u64) -> Done {
        let at = self.now.us;
        self.frame(
            conn,
            &format!(r#"{{"event":{{"e":"serverShutdown","E":{at}}}}}"#),
        )
    }

    fn lost(&mut self, conn: u64, last_heard_us: i64) -> Done {
        let reason = Disconnect::Lost("connection reset".into());
        self.report(
            conn,
            ConnEvent::Closed {
                reason,
                last_heard_us,
            },
        )
    }

    /// Starts a stream of `accounts` against Binance (no token answer announces stream
    /// positions) on connection 1 to the first of `gateways`; account `n` streams under
    /// subscription id `n`, with token `token-{n+1}`.
    fn streaming(gateways: usize, accounts: &[Scope]) -> Harness {
        Harness::start(gateways, accounts, false)
    }

    /// The same against userstream, whose token answers announce stream positions: account
    /// `n`'s subscribe result puts its stream at sequence `10 * (n + 1)`.
    fn streaming_with_positions(gateways: usize, accounts: &[Scope]) -> Harness {
        Harness::start(gateways, accounts, true)
    }

    fn start(gateways: usize, accounts: &[Scope], announce: bool) -> Harness {
        Harness::start_with(gateways, accounts, announce, false)
    }

    /// [`start`](Self::start), reading snapshots or not: account `n`'s first read is read
    /// number `n + 1`, asked for once its subscription is answered.
    fn start_with(gateways: usize, accounts: &[Scope], announce: bool, snapshots: bool) -> Harness {
        let mut harness = Harness::reading_snapshots(options(), gateways, accounts, snapshots);
        harness.announce = announce;
        let start = harness.wake();
        assert!(
            start.opened.is_empty(),
            "the first connection waits for a token answer"
        );
        let every: Vec<(usize, usize)> = (0..accounts.len()).map(|n| (n, 0)).collect();
        assert_eq!(start.fetched, every);
        for account in 0..accounts.len() {
            let granted = harness.grant(account, 0);
            if account == 0 {
                assert_eq!(granted.opened, [(1, 0)]);
                assert_eq!(granted.positions, [announce]);
            } else {
                assert!(granted.opened.is_empty());
            }
            assert!(granted.sent.is_empty(), "not open yet");
        }
        let open = harness.open(1);
        assert!(matches!(
            &open.statuses[..],
            [Status::Connected { connection: 1, handover: false, gateway }] if *gateway == self::gateway(1).ws
        ));
        assert!(open.fetched.is_empty(), "the tokens are there");
        let subscribes = open.subscribes();
        assert_eq!(subscribes.len(), accounts.len());
        for (account, subscribe) in subscribes.into_iter().enumerate() {
            let token = format!("token-{}", account + 1);
            assert_eq!(subscribe.token(), Some(&*token));
            assert_eq!(subscribe.resume_from, None, "nothing to resume yet");
            let id = u32::try_from(account).unwrap();
            let done = if announce {
                let sequence = 10 * (u64::from(id) + 1);
                harness.subscribed_at(1, subscribe.id, id, sequence, None)
            } else {
                harness.subscribed(1, subscribe.id, id)
            };
            assert!(matches!(
                &done.statuses[..],
                [Status::Subscribed { connection: 1, subscription_id, .. }] if *subscription_id == id
            ));
            if snapshots {
                assert_eq!(done.reads, [(account, 0, u64::from(id) + 1)]);
            } else {
                assert!(done.reads.is_empty());
            }
        }
        harness
    }

    /// Read number `fetch` of account `account` is answered.
    fn snapshot(
        &mut self,
        account: usize,
        fetch: u64,
        answer: Result<Snapshot, SnapshotError>,
    ) -> Done {
        self.input(Input::Snapshot(SnapshotAnswer {
            account,
            fetch,
            answer,
        }))
    }

    /// Read number `fetch` of the cross account succeeds.
    fn snapshot_taken(&mut self, fetch: u64) -> Done {
        let taken = cross_snapshot(self.now.us);
        self.snapshot(0, fetch, Ok(taken))
    }
}

#[test]
fn a_stream_connects_fetches_a_token_and_subscribes() {
    let mut stream = Harness::streaming(1, &[Scope::Cross, Scope::Isolated("BTCUSDT".into())]);
    assert_eq!(stream.event(1, 1, 5).events, [(1, "5".to_owned())]);
    assert_eq!(stream.event(1, 0, 6).events, [(0, "6".to_owned())]);
    // Nothing more to do until the renewals are due, on the injected clock.
    let deadlines = stream.machine.deadlines(stream.now);
    assert_eq!(
        deadlines.clock_us,
        Some(stream.now.us + micros(RENEW_AFTER))
    );
    assert!(stream.wake().nothing());
}

#[test]
fn tokens_are_renewed_ahead_of_expiry_on_the_same_subscription() {
    let mut stream = Harness::streaming(1, &[Scope::Cross]);
    stream.advance(RENEW_AFTER - Duration::from_secs(1));
    assert!(stream.wake().nothing(), "not due yet");
    stream.advance(Duration::from_secs(1));
    assert_eq!(stream.wake().fetched, [(0, 0)]);
    let granted = stream.grant(0, 0);
    let renewal = granted.subscribe_on(1);
    assert_eq!(renewal.token(), Some("token-2"));
    let done = stream.subscribed(1, renewal.id, 0);
    assert!(matches!(
        &done.statuses[..],
        [Status::Renewed {
            subscription_id: 0,
            ..
        }]
    ));
    assert!(done.sent.is_empty(), "the same id: nothing to close");
    assert_eq!(stream.event(1, 0, 1).events, [(0, "1".to_owned())]);
    // The next renewal is a full renewal period later.
    let deadlines = stream.machine.deadlines(stream.now);
    assert_eq!(
        deadlines.clock_us,
        Some(stream.now.us + micros(RENEW_AFTER))
    );
}

#[test]
fn a_failed_token_request_is_retried_before_expiry_without_a_gap() {
    let mut stream = Harness::streaming(1, &[Scope::Cross]);
    stream.advance(RENEW_AFTER);
    assert_eq!(stream.wake().fetched, [(0, 0)]);
    let failed = stream.answer(0, 0, Err(TokenError::Transport("refused".into())));
    let [
        Status::TokenRetry {
            attempt: 1, delay, ..
        },
    ] = failed.statuses[..]
    else {
        panic!("{failed:?}");
    };
    assert!(failed.fetched.is_empty(), "backing off");
    assert_eq!(
        stream.machine.deadlines(stream.now).timer,
        Some(stream.now.later(delay))
    );
    stream.advance(delay);
    assert_eq!(stream.wake().fetched, [(0, 0)]);
    let renewal = stream.grant(0, 0).subscribe_on(1).id;
    let done = stream.subscribed(1, renewal, 0);
    assert!(matches!(&done.statuses[..], [Status::Renewed { .. }]));
}

#[test]
fn a_renewal_answered_with_a_new_subscription_id_moves_the_route_without_loss_or_repeat() {
    let mut stream = Harness::streaming(1, &[Scope::Cross]);
    stream.advance(RENEW_AFTER);
    stream.wake();
    let renewal = stream.grant(0, 0).subscribe_on(1).id;
    // The server opened subscription 7 instead of extending 0.
    let done = stream.subscribed(1, renewal, 7);
    assert!(matches!(
        &done.statuses[..],
        [Status::Renewed {
            subscription_id: 7,
            ..
        }]
    ));
    let [close_old] = &done.unsubscribes()[..] else {
        panic!("{done:?}");
    };
    assert_eq!((close_old.conn, close_old.subscription), (1, Some(0)));

    // Both subscriptions deliver until the old one ends: every event comes out once.
    let mut delivered = Vec::new();
    delivered.extend(stream.event(1, 0, 1).events);
    delivered.extend(stream.event(1, 7, 1).events);
    delivered.extend(stream.event(1, 7, 2).events);
    delivered.extend(stream.event(1, 0, 2).events);
    delivered.extend(stream.event(1, 0, 3).events);
    assert_eq!(
        delivered,
        [(0, "1".into()), (7, "2".into()), (0, "3".into())]
    );
    // The old subscription's end was asked for: no renewal, no gap.
    let end = stream.terminated(1, 0, stream.now.us);
    assert!(end.nothing(), "{end:?}");
    assert!(stream.unsubscribed(1, close_old.id).nothing());
    // The route is the new id's alone now.
    assert!(stream.event(1, 0, 4).events.is_empty(), "old id: no route");
    assert_eq!(stream.event(1, 7, 4).events, [(7, "4".to_owned())]);
    assert!(
        stream.event(1, 7, 3).events.is_empty(),
        "a late copy of what the old id delivered is still dropped"
    );
    assert!(stream.wake().nothing());
}

#[test]
fn a_refused_subscribe_backs_off_and_a_bad_token_is_replaced() {
    let mut harness = Harness::new(options(), 1, &[Scope::Cross]);
    harness.wake();
    harness.grant(0, 0);
    let first = harness.open(1).subscribe_on(1).id;
    let refused = harness.refused(1, first, -1003, "Too many requests.");
    assert!(refused.nothing(), "{refused:?}");
    let backoff = harness.machine.deadlines(harness.now).timer;
    assert!(backoff.is_some_and(|at| at > harness.now.at));
    assert!(harness.wake().nothing(), "backing off");
    harness.advance(PAST_BACKOFF);
    // The token is still good: subscribe with it again.
    let again = harness.wake();
    let retry = again.subscribe_on(1);
    assert_eq!(retry.token(), Some("token-1"));
    assert!(again.fetched.is_empty());

    // An invalid token is dropped: after the backoff a fresh one is fetched.
    let refused = harness.refused(1, retry.id, -1209, "Invalid listen token.");
    assert!(refused.nothing());
    harness.advance(Duration::from_secs(2));
    let after = harness.wake();
    assert_eq!(after.fetched, [(0, 0)]);
    assert!(after.sent.is_empty());
    let granted = harness.grant(0, 0);
    let subscribe = granted.subscribe_on(1);
    assert_eq!(subscribe.token(), Some("token-2"));
    let done = harness.subscribed(1, subscribe.id, 0);
    assert!(matches!(&done.statuses[..], [Status::Subscribed { .. }]));
    assert!(done.gaps().is_empty(), "never streamed before: no gap");
}

#[test]
fn a_lost_connection_is_reopened_and_the_gap_reported() {
    let mut stream = Harness::streaming(1, &[Scope::Cross]);
    let last_heard = stream.now.us;
    stream.advance(Duration::from_secs(2));
    let lost = stream.lost(1, last_heard);
    let [
        Status::Reconnecting {
            attempt: 1, delay, ..
        },
    ] = lost.statuses[..]
    else {
        panic!("{lost:?}");
    };
    assert!(lost.opened.is_empty(), "after the backoff");
    assert!(lost.gaps().is_empty(), "the gap is known when it ends");
    stream.advance(delay);
    assert_eq!(stream.wake().opened, [(2, 0)]);
    let open = stream.open(2);
    // The token is not due for renewal: it is reused.
    let subscribe = open.subscribe_on(2);
    assert_eq!(subscribe.token(), Some("token-1"));
    let done = stream.subscribed(2, subscribe.id, 0);
    assert_eq!(
        done.statuses,
        [
            Status::Subscribed {
                account: Scope::Cross,
                connection: 2,
                subscription_id: 0,
                expires_at_us: stream.now.us + micros(VALIDITY),
            },
            Status::Gap(Gap {
                account: Scope::Cross,
                since_us: last_heard,
                until_us: stream.now.us,
                reason: GapReason::NoResume,
            }),
        ]
    );
}

#[test]
fn an_unexpected_termination_renews_at_once_and_reports_the_gap() {
    let mut stream = Harness::streaming(1, &[Scope::Cross]);
    let ended_at = stream.now.us;
    stream.advance(Duration::from_secs(3));
    let end = stream.terminated(1, 0, ended_at);
    assert_eq!(end.fetched, [(0, 0)], "a fresh token at once");
    assert!(end.events.is_empty() && end.statuses.is_empty());
    let subscribe = stream.grant(0, 0).subscribe_on(1).id;
    stream.advance(Duration::from_secs(1));
    let done = stream.subscribed(1, subscribe, 1);
    assert_eq!(
        done.gaps(),
        [&Gap {
            account: Scope::Cross,
            since_us: ended_at,
            until_us: stream.now.us,
            reason: GapReason::NoResume,
        }]
    );
}

#[test]
fn used_up_subscription_ids_hand_the_account_over_to_a_new_connection() {
    let mut stream = Harness::streaming(1, &[Scope::Cross]);
    stream.advance(RENEW_AFTER);
    stream.wake();
    let renewal = stream.grant(0, 0).subscribe_on(1).id;
    let refused = stream.refused(
        1,
        renewal,
        -2042,
        "Maximum subscription ID reached for this connection.",
    );
    assert_eq!(
        refused.statuses,
        [Status::HandoverStarted {
            reason: HandoverReason::SubscriptionIdsExhausted
        }]
    );
    assert_eq!(refused.opened, [(2, 0)], "same gateway");
    let open = stream.open(2);
    assert!(matches!(
        &open.statuses[..],
        [Status::Connected {
            connection: 2,
            handover: true,
            ..
        }]
    ));
    // The old subscription still streams while the account backs off after the refusal.
    assert_eq!(stream.event(1, 0, 1).events, [(0, "1".to_owned())]);
    stream.advance(PAST_BACKOFF);
    let retry = stream.wake();
    let subscribe = retry.subscribe_on(2);
    assert_eq!(subscribe.token(), Some("token-2"), "the fresh token");

    // Make-before-break: the old connection goes only once the new one streams.
    assert!(retry.unsubscribes().is_empty());
    let done = stream.subscribed(2, subscribe.id, 0);
    assert!(matches!(
        &done.statuses[..],
        [
            Status::Subscribed { connection: 2, .. },
            Status::HandoverComplete { connection: 2 }
        ]
    ));
    let [retire] = &done.unsubscribes()[..] else {
        panic!("{done:?}");
    };
    assert_eq!((retire.conn, retire.subscription), (1, None));
    assert!(done.gaps().is_empty());
    let drained = stream.unsubscribed(1, retire.id);
    assert_eq!(drained.closed, [1]);
    let closed = stream.lost(1, stream.now.us);
    assert!(
        closed.nothing(),
        "a drained connection's end costs nothing: {closed:?}"
    );
    assert_eq!(stream.event(2, 0, 2).events, [(0, "2".to_owned())]);
}

#[test]
fn events_seen_on_both_connections_of_a_handover_come_out_once_and_in_order() {
    let mut stream = Harness::streaming(1, &[Scope::Cross]);
    stream.advance(options().rotate_connection_after);
    let started = stream.wake();
    assert_eq!(
        started.statuses,
        [Status::HandoverStarted {
            reason: HandoverReason::ConnectionAge
        }]
    );
    assert_eq!(started.opened, [(2, 0)]);
    // The token is due for renewal by now: a fresh one for the renewal and the new connection.
    assert_eq!(started.fetched, [(0, 0)]);
    stream.open(2);
    let subscribe = stream.grant(0, 0).subscribe_on(2).id;
    let done = stream.subscribed(2, subscribe, 4);
    assert!(matches!(
        &done.statuses[..],
        [
            Status::Subscribed { connection: 2, .. },
            Status::HandoverComplete { connection: 2 }
        ]
    ));
    let retire = done.unsubscribes()[0].id;

    let mut delivered = Vec::new();
    delivered.extend(stream.event(1, 0, 1).events);
    // The new connection is ahead: its events wait for the old one.
    delivered.extend(stream.event(2, 4, 2).events);
    delivered.extend(stream.event(2, 4, 3).events);
    assert_eq!(delivered, [(0, "1".to_owned())]);
    // The old one catches up: its copy goes out and the held one leaves; a late copy of
    // what the old one delivered is dropped.
    delivered.extend(stream.event(1, 0, 2).events);
    delivered.extend(stream.event(2, 4, 1).events);
    delivered.extend(stream.event(2, 4, 4).events);
    assert_eq!(delivered, [(0, "1".to_owned()), (0, "2".to_owned())]);
    // The old subscription ends as asked: the rest of the lead follows, in order.
    delivered.extend(stream.terminated(1, 0, stream.now.us).events);
    assert_eq!(stream.unsubscribed(1, retire).closed, [1]);
    assert!(stream.event(1, 0, 3).events.is_empty(), "no route any more");
    delivered.extend(stream.event(2, 4, 5).events);
    assert_eq!(
        delivered,
        [
            (0, "1".into()),
            (0, "2".into()),
            (4, "3".into()),
            (4, "4".into()),
            (4, "5".into())
        ]
    );
}

#[test]
fn server_shutdown_hands_over_to_the_next_gateway_without_a_gap() {
    let mut stream = Harness::streaming(3, &[Scope::Cross]);
    let shutdown = stream.server_shutdown(1);
    assert_eq!(
        shutdown.statuses,
        [Status::HandoverStarted {
            reason: HandoverReason::ServerShutdown
        }]
    );
    assert_eq!(shutdown.opened, [(2, 1)], "the next gateway");
    let open = stream.open(2);
    assert!(matches!(
        &open.statuses[..],
        [Status::Connected { connection: 2, handover: true, gateway }] if *gateway == self::gateway(2).ws
    ));
    let subscribe = open.subscribe_on(2);
    assert_eq!(subscribe.token(), Some("token-1"));
    let done = stream.subscribed(2, subscribe.id, 0);
    assert!(matches!(
        &done.statuses[..],
        [
            Status::Subscribed { connection: 2, .. },
            Status::HandoverComplete { connection: 2 }
        ]
    ));
    let retire = done.unsubscribes()[0].id;
    assert_eq!(stream.unsubscribed(1, retire).closed, [1]);
    assert!(stream.lost(1, stream.now.us).nothing());
    // Tokens now come from the node the stream moved to.
    stream.advance(RENEW_AFTER);
    assert_eq!(stream.wake().fetched, [(0, 1)]);
}

#[test]
fn a_replacement_that_shuts_down_too_is_dropped_for_the_gateway_after_it() {
    let mut stream = Harness::streaming(3, &[Scope::Cross]);
    stream.server_shutdown(1);
    stream.open(2);
    let abandoned = stream.server_shutdown(2);
    assert_eq!(abandoned.closed, [2]);
    assert!(abandoned.opened.is_empty(), "after a backoff");
    stream.advance(PAST_BACKOFF);
    assert_eq!(stream.wake().opened, [(3, 2)]);
}

#[test]
fn a_retired_connection_that_never_confirms_is_closed_at_the_handover_timeout() {
    let mut stream = Harness::streaming(2, &[Scope::Cross]);
    stream.server_shutdown(1);
    let subscribe = stream.open(2).subscribe_on(2).id;
    stream.subscribed(2, subscribe, 0);
    let timeout = options().handover_timeout;
    assert_eq!(
        stream.machine.deadlines(stream.now).timer,
        Some(stream.now.later(timeout))
    );
    stream.advance(timeout);
    assert_eq!(stream.wake().closed, [1]);
    // Closed before it confirmed: whatever it still had may be missing, but the new
    // connection streamed from before its last frame, so no window is uncovered.
    assert!(stream.lost(1, stream.now.us).gaps().is_empty());
}

#[test]
fn losing_the_old_connection_before_the_new_one_streams_is_a_gap() {
    let mut stream = Harness::streaming(1, &[Scope::Cross]);
    stream.server_shutdown(1);
    let subscribe = stream.open(2).subscribe_on(2).id;
    let last_heard = stream.now.us;
    stream.advance(Duration::from_secs(1));
    let lost = stream.lost(1, last_heard);
    assert!(
        lost.statuses.is_empty(),
        "the replacement takes over: {lost:?}"
    );
    assert!(lost.opened.is_empty());
    stream.advance(Duration::from_secs(1));
    let done = stream.subscribed(2, subscribe, 0);
    assert_eq!(
        done.gaps(),
        [&Gap {
            account: Scope::Cross,
            since_us: last_heard,
            until_us: stream.now.us,
            reason: GapReason::NoResume,
        }]
    );
    assert!(done.unsubscribes().is_empty(), "nothing left to retire");
}

#[test]
fn failover_moves_connections_and_token_requests_to_the_next_gateway() {
    let mut stream = Harness::streaming(3, &[Scope::Cross]);
    let lost = stream.lost(1, stream.now.us);
    let [
        Status::Reconnecting {
            delay, ref gateway, ..
        },
    ] = lost.statuses[..]
    else {
        panic!("{lost:?}");
    };
    assert_eq!(*gateway, self::gateway(2).ws);
    stream.advance(delay);
    assert_eq!(stream.wake().opened, [(2, 1)]);
    let subscribe = stream.open(2).subscribe_on(2).id;
    stream.subscribed(2, subscribe, 0);
    // Tokens follow the connection; a failed request moves on once more.
    stream.advance(RENEW_AFTER);
    assert_eq!(stream.wake().fetched, [(0, 1)]);
    let failed = stream.answer(0, 1, Err(TokenError::Transport("refused".into())));
    let [Status::TokenRetry { delay, .. }] = failed.statuses[..] else {
        panic!("{failed:?}");
    };
    stream.advance(delay);
    assert_eq!(stream.wake().fetched, [(0, 2)]);
    // The connection to the second gateway fails too: the third is next, then the first.
    let failed = stream.report(
        2,
        ConnEvent::Closed {
            reason: Disconnect::ConnectFailed("refused".into()),
            last_heard_us: stream.now.us,
        },
    );
    let [
        Status::Reconnecting {
            attempt: 1,
            delay,
            ref gateway,
            ..
        },
    ] = failed.statuses[..]
    else {
        panic!("{failed:?}");
    };
    assert_eq!(*gateway, self::gateway(3).ws);
    stream.advance(delay);
    assert_eq!(stream.wake().opened, [(3, 2)]);
    let failed = stream.lost(3, stream.now.us);
    let [Status::Reconnecting { delay, .. }] = failed.statuses[..] else {
        panic!("{failed:?}");
    };
    stream.advance(delay);
    assert_eq!(stream.wake().opened, [(4, 0)], "wrapped around");
}

#[test]
fn a_token_refusal_retrying_cannot_fix_ends_the_stream() {
    // Positions off: the connection opens at once, as before there were any.
    let mut harness = Harness::new(off(), 2, &[Scope::Cross]);
    assert_eq!(harness.wake().opened, [(1, 0)]);
    harness.open(1);
    let refusal = TokenError::Refused {
        status: 401,
        code: -2015,
        msg: "Invalid API-key, IP, or permissions for action.".into(),
        retry_after: None,
    };
    let done = harness.answer(0, 0, Err(refusal));
    assert!(matches!(
        &done.statuses[..],
        [Status::Terminated(Fatal::TokenRefused {
            account: Scope::Cross,
            ..
        })]
    ));
    assert_eq!(done.closed, [1]);
    assert!(harness.machine.finished());
    assert!(harness.wake().nothing(), "nothing follows");
}

#[test]
fn reconnecting_gives_up_at_the_limit() {
    let limited = Options {
        max_reconnect_attempts: Some(1),
        ..off()
    };
    let mut harness = Harness::new(limited, 1, &[Scope::Cross]);
    harness.wake();
    let first = harness.lost(1, harness.now.us);
    let [Status::Reconnecting { delay, .. }] = first.statuses[..] else {
        panic!("{first:?}");
    };
    harness.advance(delay);
    assert_eq!(harness.wake().opened, [(2, 0)]);
    let second = harness.lost(2, harness.now.us);
    assert_eq!(
        second.statuses,
        [Status::Terminated(Fatal::ReconnectLimit { attempts: 1 })]
    );
    assert!(harness.machine.finished());
}

#[test]
fn not_representable_is_said_once_for_the_current_connection() {
    let mut stream = Harness::streaming(1, &[Scope::Cross]);
    stream.server_shutdown(1);
    stream.open(2);
    let current = stream.report(1, ConnEvent::Frame(frame::Inbound::NotRepresentable));
    assert_eq!(
        current.statuses,
        [Status::NotRepresentable { connection: 1 }]
    );
    let replacement = stream.report(2, ConnEvent::Frame(frame::Inbound::NotRepresentable));
    assert!(replacement.nothing());
}

// Stream positions and resume (docs/protocol.md §7).

/// The subscribe frame, exactly as sent.
fn subscribe_text(id: u64, token: &str, resume_from: Option<u64>) -> String {
    let resume = resume_from.map_or(String::new(), |sequence| {
        format!(r#","resumeFrom":{{"epoch":"e1","sequence":{sequence}}}"#)
    });
    format!(
        r#"{{"id":{id},"method":"userDataStream.subscribe.listenToken","params":{{"listenToken":"{token}"{resume}}}}}"#
    )
}

/// Loses connection `conn` (last heard now), waits out the backoff and opens the next one;
/// returns the new connection's subscribe request.
fn reconnect(stream: &mut Harness, conn: u64) -> Sent {
    let lost = stream.lost(conn, stream.now.us);
    let [Status::Reconnecting { delay, .. }] = lost.statuses[..] else {
        panic!("{lost:?}");
    };
    stream.advance(delay);
    let reopened = stream.wake();
    assert_eq!(reopened.opened.len(), 1, "{reopened:?}");
    let next = reopened.opened[0].0;
    assert_eq!(reopened.positions, [stream.announce]);
    stream.open(next).subscribe_on(next).clone()
}

#[test]
fn against_binance_nothing_is_sent_beyond_todays_requests() {
    let mut harness = Harness::new(options(), 1, &[Scope::Cross]);
    let start = harness.wake();
    assert!(start.opened.is_empty() && start.sent.is_empty());
    assert_eq!(start.fetched, [(0, 0)]);
    // Binance's token answer carries no extension header: a plain connection.
    let granted = harness.grant(0, 0);
    assert_eq!(
        (granted.opened, granted.positions),
        (vec![(1, 0)], vec![false])
    );
    let open = harness.open(1);
    let subscribe = open.subscribe_on(1);
    assert_eq!(
        subscribe.text,
        subscribe_text(subscribe.id, "token-1", None)
    );
    harness.subscribed(1, subscribe.id, 0);
    assert_eq!(harness.event(1, 0, 1).events, [(0, "1".to_owned())]);
    // After a reconnect: the same request again, and a gap, as ever.
    let again = reconnect(&mut harness, 1);
    assert_eq!(again.text, subscribe_text(again.id, "token-1", None));
    let done = harness.subscribed(2, again.id, 0);
    let [gap] = &done.gaps()[..] else {
        panic!("{done:?}");
    };
    assert_eq!(gap.reason, GapReason::NoResume);
    assert!(
        !done
            .statuses
            .iter()
            .any(|status| matches!(status, Status::Resumed { .. }))
    );
}

#[test]
fn sbe_sessions_and_positions_off_never_ask_and_never_wait() {
    for options in [
        Options {
            sbe: true,
            ..options()
        },
        off(),
    ] {
        let mut harness = Harness::new(options, 1, &[Scope::Cross]);
        harness.announce = true;
        let start = harness.wake();
        assert_eq!((start.opened, start.positions), (vec![(1, 0)], vec![false]));
        harness.open(1);
        let subscribe = harness.grant(0, 0).subscribe_on(1).clone();
        assert_eq!(
            subscribe.text,
            subscribe_text(subscribe.id, "token-1", None)
        );
    }
}

#[test]
fn positions_on_asks_without_waiting_for_the_announcement() {
    let on = Options {
        stream_positions: StreamPositions::On,
        ..options()
    };
    let mut harness = Harness::new(on, 1, &[Scope::Cross]);
    let start = harness.wake();
    assert_eq!((start.opened, start.positions), (vec![(1, 0)], vec![true]));
}

#[test]
fn a_reconnect_resumes_from_the_last_position_and_delivers_each_event_once() {
    let mut stream = Harness::streaming_with_positions(1, &[Scope::Cross]);
    assert_eq!(stream.event_at(1, 0, 11, 11).events, [(0, "11".to_owned())]);
    assert_eq!(stream.event_at(1, 0, 15, 15).events, [(0, "15".to_owned())]);
    stream.advance(Duration::from_secs(2));
    let subscribe = reconnect(&mut stream, 1);
    assert_eq!(
        subscribe.text,
        subscribe_text(subscribe.id, "token-1", Some(15))
    );
    let done = stream.replayed(2, subscribe.id, 0, 20, 2);
    assert!(matches!(
        &done.statuses[..],
        [
            Status::Subscribed { connection: 2, .. },
            Status::Resumed {
                account: Scope::Cross,
                events: 2
            }
        ]
    ));
    // The replay, then live events; copies of what was delivered are dropped by position.
    let mut delivered = Vec::new();
    for sequence in [15, 17, 17, 20, 11, 21] {
        let delta = u32::try_from(sequence).unwrap();
        delivered.extend(stream.event_at(2, 0, delta, sequence).events);
    }
    assert_eq!(
        delivered,
        [(0, "17".into()), (0, "20".into()), (0, "21".into())]
    );
    // The next resume starts after the last event delivered.
    let again = reconnect(&mut stream, 2);
    assert_eq!(again.resume_from, Some(21));
}

#[test]
fn a_failed_resume_is_a_gap_that_names_the_reason() {
    let mut stream = Harness::streaming_with_positions(1, &[Scope::Cross]);
    stream.event_at(1, 0, 11, 11);
    let last_heard = stream.now.us;
    stream.advance(Duration::from_secs(2));
    let lost = stream.lost(1, last_heard);
    let [Status::Reconnecting { delay, .. }] = lost.statuses[..] else {
        panic!("{lost:?}");
    };
    stream.advance(delay);
    stream.wake();
    let subscribe = stream.open(2).subscribe_on(2).clone();
    assert_eq!(subscribe.resume_from, Some(11));
    let failed = r#"{"status":"FAILED","reason":"HISTORY_EXPIRED","msg":"Events after the resume point are no longer in the history."}"#;
    let done = stream.subscribed_at(2, subscribe.id, 0, 40, Some(failed));
    assert_eq!(
        done.gaps(),
        [&Gap {
            account: Scope::Cross,
            since_us: last_heard,
            until_us: stream.now.us,
            reason: GapReason::ResumeFailed(ResumeFailure::HistoryExpired),
        }]
    );
    assert_eq!(
        done.statuses[1].to_string(),
        format!(
            "cross: GAP, events may have been missed between {} and {} (resume failed: HISTORY_EXPIRED)",
            crate::format_time_us(last_heard),
            crate::format_time_us(stream.now.us)
        )
    );
    // Live events follow from the result's position on: the next resume starts there.
    let again = reconnect(&mut stream, 2);
    assert_eq!(again.resume_from, Some(40));
    // A result that says nothing readable about the resume is a gap too.
    let done = stream.subscribed_at(3, again.id, 0, 40, None);
    assert_eq!(done.gaps()[0].reason, GapReason::ResumeUnanswered);
}

#[test]
fn a_termination_resumes_on_the_same_connection_and_a_renewal_does_not() {
    let mut stream = Harness::streaming_with_positions(1, &[Scope::Cross]);
    stream.event_at(1, 0, 11, 11);
    // A renewal extends the subscription: nothing to resume.
    stream.advance(RENEW_AFTER);
    stream.wake();
    let renewal = stream.grant(0, 0).subscribe_on(1).clone();
    assert_eq!(renewal.text, subscribe_text(renewal.id, "token-2", None));
    let renewed = stream.subscribed_at(1, renewal.id, 0, 11, None);
    assert!(matches!(&renewed.statuses[..], [Status::Renewed { .. }]));
    // An unexpected end: subscribed again at once, resuming.
    stream.terminated(1, 0, stream.now.us);
    let subscribe = stream.grant(0, 0).subscribe_on(1).clone();
    assert_eq!(subscribe.resume_from, Some(11));
    let done = stream.replayed(1, subscribe.id, 1, 12, 1);
    assert!(done.gaps().is_empty());
    assert_eq!(
        done.statuses[1],
        Status::Resumed {
            account: Scope::Cross,
            events: 1
        }
    );
    assert_eq!(done.statuses[1].to_string(), "cross: resumed 1 event");
    assert_eq!(stream.event_at(1, 1, 12, 12).events, [(1, "12".to_owned())]);
}

#[test]
fn a_handover_with_positions_delivers_each_event_once_and_in_order() {
    let mut stream = Harness::streaming_with_positions(2, &[Scope::Cross]);
    let mut delivered = Vec::new();
    delivered.extend(stream.event_at(1, 0, 11, 11).events);
    stream.server_shutdown(1);
    let open = stream.open(2);
    let subscribe = open.subscribe_on(2);
    assert_eq!(subscribe.resume_from, Some(11), "resumes on the new node");
    let done = stream.replayed(2, subscribe.id, 4, 14, 2);
    assert!(matches!(
        &done.statuses[..],
        [
            Status::Subscribed { connection: 2, .. },
            Status::HandoverComplete { connection: 2 }
        ]
    ));
    let retire = done.unsubscribes()[0].id;
    // Both connections deliver 12 and 14 (the new one as its replay), and more.
    delivered.extend(stream.event_at(1, 0, 12, 12).events);
    delivered.extend(stream.event_at(2, 4, 12, 12).events);
    delivered.extend(stream.event_at(2, 4, 14, 14).events);
    delivered.extend(stream.event_at(2, 4, 16, 16).events);
    delivered.extend(stream.event_at(1, 0, 14, 14).events);
    delivered.extend(stream.event_at(2, 4, 18, 18).events);
    delivered.extend(stream.event_at(1, 0, 16, 16).events);
    // The old connection has delivered everything: the new one's lead follows.
    let drained = stream.unsubscribed(1, retire);
    assert_eq!(drained.closed, [1]);
    delivered.extend(drained.events);
    delivered.extend(stream.lost(1, stream.now.us).events);
    delivered.extend(stream.event_at(2, 4, 16, 16).events);
    delivered.extend(stream.event_at(2, 4, 19, 19).events);
    let deltas: Vec<&str> = delivered.iter().map(|(_, delta)| delta.as_str()).collect();
    assert_eq!(deltas, ["11", "12", "14", "16", "18", "19"]);
}

#[test]
fn losing_the_old_connection_before_the_new_one_resumed_is_no_gap() {
    let mut stream = Harness::streaming_with_positions(1, &[Scope::Cross]);
    stream.event_at(1, 0, 11, 11);
    stream.server_shutdown(1);
    let subscribe = stream.open(2).subscribe_on(2).id;
    stream.advance(Duration::from_secs(1));
    let lost = stream.lost(1, stream.now.us);
    assert!(lost.statuses.is_empty(), "{lost:?}");
    let done = stream.replayed(2, subscribe, 0, 13, 2);
    assert!(done.gaps().is_empty(), "{done:?}");
    assert!(done.statuses.contains(&Status::Resumed {
        account: Scope::Cross,
        events: 2
    }));
    let mut delivered = stream.event_at(2, 0, 12, 12).events;
    delivered.extend(stream.event_at(2, 0, 13, 13).events);
    assert_eq!(delivered, [(0, "12".into()), (0, "13".into())]);
}

#[test]
fn a_failed_first_token_answer_connects_without_positions_and_a_later_one_announces_them() {
    let mut harness = Harness::new(options(), 1, &[Scope::Cross]);
    harness.announce = true;
    harness.wake();
    // The server cannot be reached: no waiting on it, connect as Binance would.
    let failed = harness.answer(0, 0, Err(TokenError::Transport("refused".into())));
    assert_eq!(failed.opened, [(1, 0)]);
    assert_eq!(failed.positions, [false]);
    let [Status::TokenRetry { delay, .. }] = failed.statuses[..] else {
        panic!("{failed:?}");
    };
    harness.open(1);
    harness.advance(delay);
    harness.wake();
    // The answer announces positions; the open connection stays as it is.
    let subscribe = harness.grant(0, 0).subscribe_on(1).clone();
    assert_eq!(
        subscribe.text,
        subscribe_text(subscribe.id, "token-1", None)
    );
    harness.subscribed(1, subscribe.id, 0);
    // Its replacement asks for them; there is no position to resume from yet.
    let again = reconnect(&mut harness, 1);
    assert_eq!(again.resume_from, None);
    let done = harness.subscribed_at(2, again.id, 0, 30, None);
    assert_eq!(done.gaps()[0].reason, GapReason::NoResume);
    // From now on a reconnect resumes.
    assert_eq!(reconnect(&mut harness, 2).resume_from, Some(30));
}

/// A cross account holding 1000 USDT, with no open order.
fn cross_snapshot(taken_at_us: i64) -> Snapshot {
    snapshot_of(Scope::Cross, taken_at_us)
}

/// `account`, shown as a cross account holding 1000 USDT, with no open order.
fn snapshot_of(account: Scope, taken_at_us: i64) -> Snapshot {
    let cross = serde_json::from_str(
        r#"{"marginLevel":"999","totalAssetOfBtc":"0.01","totalLiabilityOfBtc":"0",
        "totalNetAssetOfBtc":"0.01","userAssets":[{"asset":"USDT","borrowed":"0","free":"1000",
        "interest":"0","locked":"0","netAsset":"1000"}]}"#,
    )
    .unwrap();
    Snapshot {
        account,
        taken_at_us,
        margin_account: MarginAccount::Cross(cross),
        open_orders: Vec::new(),
    }
}

/// Reading snapshots against Binance (no stream positions).
fn reconciling(accounts: &[Scope]) -> Harness {
    Harness::start_with(1, accounts, false, true)
}

#[test]
fn a_snapshot_follows_the_first_subscription_and_precedes_the_events_held_meanwhile() {
    let mut stream = reconciling(&[Scope::Cross, Scope::Isolated("BTCUSDT".into())]);
    // Events that come while the read is under way wait for it.
    assert!(stream.event(1, 0, 5).items.is_empty());
    assert!(stream.event(1, 0, 6).items.is_empty());
    // The other account's are not held up by this one's read, only by its own.
    assert!(stream.event(1, 1, 7).items.is_empty());
    let taken = stream.snapshot_taken(1);
    assert_eq!(taken.items, ["snapshot cross", "event 5", "event 6"]);
    assert_eq!(taken.snapshots[0], cross_snapshot(stream.now.us));
    assert!(taken.reads.is_empty());
    // Then events go straight out.
    assert_eq!(stream.event(1, 0, 8).items, ["event 8"]);
    let isolated = snapshot_of(Scope::Isolated("BTCUSDT".into()), stream.now.us);
    let taken = stream.snapshot(1, 2, Ok(isolated));
    assert_eq!(taken.items, ["snapshot isolated:BTCUSDT", "event 7"]);
    // A renewal extends the subscription: nothing was lost, nothing is read.
    stream.advance(RENEW_AFTER);
    stream.wake();
    for (id, account) in (0..).zip(0..2) {
        let renewal = stream.grant(account, 0).subscribe_on(1).id;
        let renewed = stream.subscribed(1, renewal, id);
        assert!(matches!(&renewed.statuses[..], [Status::Renewed { .. }]));
        assert!(renewed.reads.is_empty());
    }
    // Nor does a make-before-break handover.
    let shutdown = stream.server_shutdown(1);
    assert_eq!(shutdown.opened, [(2, 0)]);
    let subscribes: Vec<Sent> = stream.open(2).subscribes().into_iter().cloned().collect();
    let mut handed = Done::default();
    for (id, subscribe) in (0..).zip(&subscribes) {
        handed = stream.subscribed(2, subscribe.id, id);
        assert!(handed.reads.is_empty() && handed.gaps().is_empty());
    }
    assert!(matches!(
        handed.statuses.last(),
        Some(Status::HandoverComplete { connection: 2 })
    ));
}

#[test]
fn a_gap_asks_for_a_fresh_snapshot_after_the_subscription_is_answered() {
    let mut stream = reconciling(&[Scope::Cross]);
    stream.snapshot_taken(1);
    stream.advance(Duration::from_secs(2));
    let subscribe = reconnect(&mut stream, 1);
    let done = stream.subscribed(2, subscribe.id, 0);
    assert!(matches!(
        &done.statuses[..],
        [Status::Subscribed { connection: 2, .. }, Status::Gap(_)]
    ));
    assert_eq!(done.reads, [(0, 0, 2)]);
    assert!(stream.event(2, 0, 9).items.is_empty(), "held for the read");
    let taken = stream.snapshot_taken(2);
    assert_eq!(taken.items, ["snapshot cross", "event 9"]);
    // The same after an unexpected termination that ends in a gap.
    let ended_at = stream.now.us;
    stream.terminated(2, 0, ended_at);
    let subscribe = stream.grant(0, 0).subscribe_on(2).id;
    let done = stream.subscribed(2, subscribe, 1);
    assert_eq!(done.gaps().len(), 1);
    assert_eq!(done.reads, [(0, 0, 3)]);
}

#[test]
fn a_resume_loses_nothing_and_reads_no_snapshot() {
    let mut stream = Harness::start_with(1, &[Scope::Cross], true, true);
    stream.snapshot_taken(1);
    stream.event_at(1, 0, 11, 11);
    stream.advance(Duration::from_secs(2));
    let subscribe = reconnect(&mut stream, 1);
    assert_eq!(subscribe.resume_from, Some(11));
    let done = stream.replayed(2, subscribe.id, 0, 12, 1);
    assert!(matches!(
        &done.statuses[..],
        [Status::Subscribed { .. }, Status::Resumed { events: 1, .. }]
    ));
    assert!(done.reads.is_empty());
    assert_eq!(stream.event_at(2, 0, 12, 12).items, ["event 12"]);
    // A resume that fails is a gap: read again.
    let again = reconnect(&mut stream, 2);
    let failed = r#"{"status":"FAILED","reason":"HISTORY_EXPIRED","msg":"gone"}"#;
    let done = stream.subscribed_at(3, again.id, 0, 40, Some(failed));
    assert_eq!(done.gaps().len(), 1);
    assert_eq!(done.reads, [(0, 0, 2)]);
}

#[test]
fn a_gap_during_a_read_lets_the_held_events_out_and_drops_the_stale_answer() {
    let mut stream = reconciling(&[Scope::Cross]);
    assert!(stream.event(1, 0, 5).items.is_empty());
    stream.advance(Duration::from_secs(2));
    let last_heard = stream.now.us;
    let subscribe = reconnect(&mut stream, 1);
    let done = stream.subscribed(2, subscribe.id, 0);
    let gap = format!(
        "status cross: GAP, events may have been missed between {} and {} (no resume possible)",
        crate::format_time_us(last_heard),
        crate::format_time_us(stream.now.us)
    );
    // What came before the gap goes out before it; a fresh read follows.
    assert_eq!(done.items[1..], ["event 5".to_owned(), gap]);
    assert_eq!(done.reads, [(0, 0, 2)]);
    assert!(stream.event(2, 0, 6).items.is_empty());
    // The read from before the gap answers late: dropped.
    assert!(stream.snapshot_taken(1).nothing());
    assert_eq!(
        stream.snapshot_taken(2).items,
        ["snapshot cross", "event 6"]
    );
}

#[test]
fn a_failed_snapshot_is_reported_lets_the_events_out_and_is_retried_after_the_backoff() {
    let mut stream = reconciling(&[Scope::Cross]);
    assert!(stream.event(1, 0, 5).items.is_empty());
    let refused = SnapshotError::Refused {
        path: crate::snapshot::CROSS_ACCOUNT_PATH,
        status: 400,
        code: -1022,
        msg: "Signature for this request is not valid.".into(),
        retry_after: None,
    };
    let failed = stream.snapshot(0, 1, Err(refused.clone()));
    let [
        Status::SnapshotRetry {
            attempt: 1,
            delay,
            ref error,
            ..
        },
    ] = failed.statuses[..]
    else {
        panic!("{failed:?}");
    };
    assert_eq!(*error, refused);
    assert_eq!(
        failed.items,
        [
            "event 5".to_owned(),
            format!(
                "status cross: snapshot failed (attempt 1, retry in {} ms): /sapi/v1/margin/account: HTTP 400, code -1022: Signature for this request is not valid.",
                delay.as_millis()
            )
        ]
    );
    assert!(failed.reads.is_empty(), "after the backoff");
    // Meanwhile events flow, and the stream waits for the backoff on its timer.
    assert_eq!(stream.event(1, 0, 6).items, ["event 6"]);
    assert_eq!(
        stream.machine.deadlines(stream.now).timer,
        Some(stream.now.later(delay))
    );
    stream.advance(delay);
    let retry = stream.wake();
    assert_eq!(retry.reads, [(0, 0, 2)]);
    // A second failure waits longer (the token backoff, honouring Retry-After).
    let slow_down = SnapshotError::Refused {
        path: crate::snapshot::OPEN_ORDERS_PATH,
        status: 429,
        code: -1003,
        msg: "Too much request weight used.".into(),
        retry_after: Some(Duration::from_secs(7)),
    };
    let failed = stream.snapshot(0, 2, Err(slow_down));
    assert!(matches!(
        failed.statuses[..],
        [Status::SnapshotRetry { attempt: 2, delay, .. }] if delay == Duration::from_secs(7)
    ));
    stream.advance(Duration::from_secs(7));
    assert_eq!(stream.wake().reads, [(0, 0, 3)]);
    let taken = stream.snapshot_taken(3);
    assert_eq!(taken.items, ["snapshot cross"]);
    // A transport failure is retried the same way; the stream never ends over a snapshot.
    assert!(!stream.machine.finished());
}

#[test]
fn events_held_for_a_read_go_out_when_the_stream_ends() {
    let mut stream = reconciling(&[Scope::Cross]);
    assert!(stream.event(1, 0, 5).items.is_empty());
    stream.advance(RENEW_AFTER);
    assert_eq!(stream.wake().fetched, [(0, 0)]);
    let refused = TokenError::Refused {
        status: 401,
        code: -2015,
        msg: "Invalid API-key, IP, or permissions for action.".into(),
        retry_after: None,
    };
    let end = stream.answer(0, 0, Err(refused));
    assert_eq!(end.items[0], "event 5");
    assert!(matches!(end.statuses[..], [Status::Terminated(_)]));
}
