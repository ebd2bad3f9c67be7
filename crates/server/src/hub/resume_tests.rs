//! A property test of positions and resume: random interleavings of publishing, dropped
//! connections, resumes, extensions and expiry, checked against what was published.
//!
//! Each account has one client that always resumes from the last position it saw. Whatever
//! happens, a client never receives an event twice or out of order, and it misses an event only
//! across a resume that said it failed. With a history large enough to hold everything, no
//! resume fails and every client ends up with exactly its account's events.

use super::{Hub, HubSettings, StreamStart};
use crate::bus::LocalBus;
use crate::config::HistoryConfig;
use crate::connection::{SessionHandle, Sessions, SubscriptionLimits};
use crate::metrics::Metrics;
use crate::outbox::{OutFrame, Payload};
use crate::token::TokenClaims;
use crate::wire::WireFormat;
use bytes::Bytes;
use proptest::prelude::*;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use userstream_protocol::clock::{Clock, ManualClock};
use userstream_protocol::decimal::Decimal;
use userstream_protocol::events::{BalanceUpdate, Event};
use userstream_protocol::position::{ResumeOutcome, StreamPosition};
use userstream_protocol::{Account, TimeUnit};

const ACCOUNTS: u64 = 2;
const TOKEN_LIFETIME_US: i64 = 10_000_000;

#[derive(Debug, Clone)]
enum Op {
    /// An event for account `n % ACCOUNTS`.
    Publish(u64),
    /// The client of an account loses its connection.
    Drop(u64),
    /// The client of an account (re)subscribes from its last position: a resume after a drop,
    /// an extension while subscribed.
    Resume(u64),
    /// Time passes; subscriptions past their token expire.
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0..ACCOUNTS).prop_map(Op::Publish),
        1 => (0..ACCOUNTS).prop_map(Op::Drop),
        2 => (0..ACCOUNTS).prop_map(Op::Resume),
        1 => (1..6_000_000u64).prop_map(Op::Advance),
    ]
}

/// One account's client.
struct Client {
    account: Account,
    session: Arc<SessionHandle>,
    subscribed: bool,
    last: Option<StreamPosition>,
    /// Ids of the events received, in order.
    received: Vec<i64>,
    /// Indexes into `received` where a failed resume allowed a gap.
    gaps: Vec<usize>,
}

struct World {
    clock: ManualClock,
    sessions: Sessions,
    hub: Hub,
    clients: Vec<Client>,
    /// Ids of the events published to each account, in order.
    published: Vec<Vec<i64>>,
    next_id: i64,
}

impl World {
    fn new(history: HistoryConfig) -> World {
        let clock = ManualClock::new(1_000_000);
        let metrics = Arc::new(Metrics::new());
        let sessions = Sessions::new(64 * 1024 * 1024, 20_000_000, Arc::clone(&metrics));
        let limits = SubscriptionLimits {
            max_active: 10,
            max_lifetime: 65_535,
        };
        let settings = HubSettings {
            limits,
            risk_events: true,
            history,
            outbox_bytes: 64 * 1024 * 1024,
            epoch: None,
        };
        let hub = Hub::new(
            Arc::new(clock.clone()),
            metrics,
            Arc::new(LocalBus::new()),
            settings,
        );
        let mut world = World {
            clock,
            sessions,
            hub,
            clients: Vec::new(),
            published: vec![Vec::new(); ACCOUNTS as usize],
            next_id: 1,
        };
        for uid in 0..ACCOUNTS {
            let session = world.connect();
            world.clients.push(Client {
                account: Account::cross(uid + 1),
                session,
                subscribed: false,
                last: None,
                received: Vec::new(),
                gaps: Vec::new(),
            });
            world.resume(uid as usize);
        }
        world
    }

    fn connect(&self) -> Arc<SessionHandle> {
        let format = WireFormat::Json(TimeUnit::Microsecond);
        self.sessions.open(
            "127.0.0.1:1".parse().unwrap(),
            format,
            true,
            self.clock.now_us(),
        )
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Publish(n) => {
                let index = (n % ACCOUNTS) as usize;
                let id = self.next_id;
                self.next_id += 1;
                self.published[index].push(id);
                let event = Event::BalanceUpdate(BalanceUpdate {
                    event_time_us: id,
                    asset: "BTC".into(),
                    balance_delta: Decimal::parse("1").unwrap(),
                    clear_time_us: id,
                });
                let account = self.clients[index].account.clone();
                self.hub.publish(&account, event);
            }
            Op::Drop(n) => {
                let index = (n % ACCOUNTS) as usize;
                self.read(index);
                let fresh = self.connect();
                let client = &mut self.clients[index];
                let old = std::mem::replace(&mut client.session, fresh);
                self.hub.disconnected(&old);
                self.sessions.close(old.id);
                client.subscribed = false;
            }
            Op::Resume(n) => self.resume((n % ACCOUNTS) as usize),
            Op::Advance(us) => {
                self.clock.advance(Duration::from_micros(us));
                self.hub.expire_due();
                self.hub.trim_history();
                for index in 0..self.clients.len() {
                    self.read(index);
                }
            }
        }
    }

    /// Subscribes (or extends) from the client's last position.
    fn resume(&mut self, index: usize) {
        self.read(index);
        let client = &mut self.clients[index];
        let claims = TokenClaims {
            account: client.account.clone(),
            api_key_id: 1,
            expires_at_us: self.clock.now_us() + TOKEN_LIFETIME_US,
        };
        let answer = self
            .hub
            .subscribe(
                &client.session,
                &claims,
                |_| true,
                StreamStart::Local(client.last.as_ref()),
                |_| OutFrame::Text(Bytes::from_static(b"{}")),
            )
            .unwrap();
        client.subscribed = true;
        match &answer.resume {
            Some(ResumeOutcome::Failed { .. }) => {
                client.gaps.push(client.received.len());
                client.last = Some(answer.position.clone());
            }
            Some(_) => {}
            None => client.last = Some(answer.position.clone()),
        }
        self.read(index);
    }

    /// Takes the client's queued frames: events are recorded, and a termination ends the
    /// subscription (the client resumes later).
    fn read(&mut self, index: usize) {
        let client = &mut self.clients[index];
        let mut frames = VecDeque::new();
        client.session.outbox.drain(&mut frames);
        for frame in frames {
            let Some(Payload::Text(text)) = frame.into_payload() else {
                continue;
            };
            let value: serde_json::Value = serde_json::from_slice(&text).unwrap();
            let Some(event) = value.get("event") else {
                continue;
            };
            if event["e"] == "eventStreamTerminated" {
                client.subscribed = false;
                continue;
            }
            let position: StreamPosition =
                serde_json::from_value(value["position"].clone()).unwrap();
            client.received.push(event["E"].as_i64().unwrap());
            client.last = Some(position);
        }
    }

    /// Every client comes back one last time, then the invariants are checked.
    fn finish(mut self) -> Vec<(Vec<i64>, Vec<i64>, Vec<usize>)> {
        for index in 0..self.clients.len() {
            self.resume(index);
        }
        self.clients
            .iter()
            .zip(&self.published)
            .map(|(client, published)| {
                (
                    client.received.clone(),
                    published.clone(),
                    client.gaps.clone(),
                )
            })
            .collect()
    }
}

/// No repeat, no reordering, and each stretch between failed resumes is an unbroken run of
/// the published events.
fn check(received: &[i64], published: &[i64], gaps: &[usize]) -> Result<(), TestCaseError> {
    prop_assert!(
        received.windows(2).all(|w| w[0] < w[1]),
        "repeat or reorder: {received:?}"
    );
    let at = |id: i64| published.iter().position(|p| *p == id);
    let mut previous: Option<usize> = None;
    for (index, id) in received.iter().enumerate() {
        let Some(place) = at(*id) else {
            return Err(TestCaseError::fail(format!("{id} was not published here")));
        };
        let expected = previous.map_or(0, |p| p + 1);
        if place != expected {
            prop_assert!(
                gaps.contains(&index),
                "event {id} follows a gap no resume reported: {received:?} of {published:?}"
            );
        }
        previous = Some(place);
    }
    let missing_at_end = published.len() != previous.map_or(0, |p| p + 1);
    prop_assert!(
        !missing_at_end || gaps.contains(&received.len()),
        "events missing at the end: {received:?} of {published:?}"
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn with_room_for_everything_nothing_is_lost_or_repeated(ops in proptest::collection::vec(op(), 1..80)) {
        let history = HistoryConfig {
            max_age_ms: 3_600_000,
            ..HistoryConfig::default()
        };
        let mut world = World::new(history);
        for op in &ops {
            world.apply(op);
        }
        for (received, published, gaps) in world.finish() {
            prop_assert!(gaps.is_empty(), "a resume failed with room for everything");
            prop_assert_eq!(received, published);
        }
    }

    #[test]
    fn with_a_small_history_gaps_are_always_reported(ops in proptest::collection::vec(op(), 1..80)) {
        let history = HistoryConfig {
            max_events_per_account: 3,
            max_age_ms: 4_000,
            ..HistoryConfig::default()
        };
        let mut world = World::new(history);
        for op in &ops {
            world.apply(op);
        }
        for (received, published, gaps) in world.finish() {
            check(&received, &published, &gaps)?;
        }
    }
}

/// The web console's backlog: the node's last events across every shard, oldest first, read
/// back from the history as the microsecond JSON it keeps.
#[test]
fn recent_events_are_the_last_of_every_shard_in_position_order() {
    let world = World::new(HistoryConfig::default());
    // Enough accounts to land in many shards.
    for uid in 100..160 {
        let event = Event::BalanceUpdate(BalanceUpdate {
            event_time_us: uid,
            asset: "BTC".into(),
            balance_delta: Decimal::parse("1").unwrap(),
            clear_time_us: uid,
        });
        world.hub.publish(&Account::cross(uid as u64), event);
    }
    let recent = world.hub.recent_events(10);
    let uids: Vec<u64> = recent
        .iter()
        .map(|(_, _, account, _)| account.uid)
        .collect();
    assert_eq!(uids, (150..160).collect::<Vec<u64>>());
    assert!(
        recent.windows(2).all(|pair| pair[0].0 < pair[1].0),
        "by position"
    );
    let (_, at_us, _, json) = &recent[9];
    assert_eq!(*at_us, world.clock.now_us());
    let event = Event::from_json(json, TimeUnit::Microsecond).unwrap();
    assert_eq!(event.event_time_us(), 159);
    assert_eq!(world.hub.recent_events(1000).len(), 60);

    let off = World::new(HistoryConfig {
        enabled: false,
        ..HistoryConfig::default()
    });
    off.hub.publish(
        &Account::cross(1),
        Event::BalanceUpdate(BalanceUpdate {
            event_time_us: 1,
            asset: "BTC".into(),
            balance_delta: Decimal::parse("1").unwrap(),
            clear_time_us: 1,
        }),
    );
    assert!(
        off.hub.recent_events(10).is_empty(),
        "no history, no backlog"
    );
}
