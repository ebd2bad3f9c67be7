//! The state machine, branch by branch: inputs in, queued actions out. No socket, no runtime.

use super::accounts::TokenAnswer;
use super::actions::Action;
use super::machine::{Input, Machine};
use super::timers::{Now, micros};
use crate::connection::ConnEvent;
use crate::frame;
use crate::item::{Disconnect, Fatal, Gap, HandoverReason, Item, Status};
use crate::options::{Endpoints, Options};
use crate::token::{ListenToken, TokenError};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use userstream_protocol::events::Event;
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
    sent: Vec<Sent>,
    closed: Vec<u64>,
    fetched: Vec<(usize, usize)>,
    statuses: Vec<Status>,
    /// Events given to the user: (subscription id, balance delta).
    events: Vec<(u32, String)>,
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
    }
}

struct Harness {
    machine: Machine,
    now: Now,
    tokens: u32,
}

impl Harness {
    fn new(options: Options, gateways: usize, accounts: &[Scope]) -> Harness {
        let gateways = (1..=gateways).map(gateway).collect();
        Harness {
            machine: Machine::new(Arc::new(options), gateways, accounts.to_vec()),
            now: Now {
                at: Instant::now(),
                us: 1_700_000_000_000_000,
            },
            tokens: 0,
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
                Action::Open { conn, gateway } => done.opened.push((conn, gateway)),
                Action::Send { conn, id, text } => {
                    let json: Value = serde_json::from_str(&text).unwrap();
                    assert_eq!(json["id"], id);
                    done.sent.push(Sent {
                        conn,
                        id,
                        method: json["method"].as_str().unwrap().to_owned(),
                        token: json["params"]["listenToken"].as_str().map(str::to_owned),
                        subscription: json["params"]["subscriptionId"].as_u64(),
                    });
                }
                Action::Close { conn } => done.closed.push(conn),
                Action::FetchToken {
                    account, gateway, ..
                } => done.fetched.push((account, gateway)),
                Action::Emit(Item::Status(status)) => done.statuses.push(status),
                Action::Emit(Item::Event(event)) => match event.event {
                    Event::BalanceUpdate(update) => done
                        .events
                        .push((event.subscription_id, update.balance_delta.to_string())),
                    other => panic!("unexpected event {other:?}"),
                },
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
        self.input(Input::Token(TokenAnswer {
            account,
            gateway,
            answer,
            asked_at_us,
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

    /// Starts a stream of `accounts` on connection 1 to the first of `gateways`; account `n`
    /// streams under subscription id `n`, with token `token-{n+1}`.
    fn streaming(gateways: usize, accounts: &[Scope]) -> Harness {
        let mut harness = Harness::new(options(), gateways, accounts);
        let start = harness.wake();
        assert_eq!(start.opened, [(1, 0)]);
        assert!(
            start.fetched.is_empty(),
            "no connection to subscribe on yet"
        );
        let open = harness.open(1);
        assert!(matches!(
            &open.statuses[..],
            [Status::Connected { connection: 1, handover: false, gateway }] if *gateway == self::gateway(1).ws
        ));
        let every: Vec<(usize, usize)> = (0..accounts.len()).map(|n| (n, 0)).collect();
        assert_eq!(open.fetched, every);
        for account in 0..accounts.len() {
            let granted = harness.grant(account, 0);
            let subscribe = granted.subscribe_on(1);
            let token = format!("token-{}", account + 1);
            assert_eq!(subscribe.token(), Some(&*token));
            let id = u32::try_from(account).unwrap();
            let done = harness.subscribed(1, subscribe.id, id);
            assert!(matches!(
                &done.statuses[..],
                [Status::Subscribed { connection: 1, subscription_id, .. }] if *subscription_id == id
            ));
        }
        harness
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
    harness.open(1);
    let first = harness.grant(0, 0).subscribe_on(1).id;
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
    let mut harness = Harness::new(options(), 2, &[Scope::Cross]);
    harness.wake();
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
        ..options()
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
