//! The console's tap: what the hub delivers and the simulator's prices, passed on live to the
//! open consoles, with a backlog for a console that joins.
//!
//! The hub calls [`Feed::event`] on its publish path, after delivery: with no console open it
//! costs two atomic loads (measured: keeping a backlog of every event here cost about a tenth of
//! the deliveries per CPU-second at saturation). A joining console's event backlog is read from
//! the hub's resume history instead ([`crate::hub::Hub::recent_events`]), which keeps the
//! events anyway. Prices are rare and keep a backlog of their own here.
//!
//! No event falls between the backlog and the live feed: a console subscribes to the live feed
//! and counts itself open before it reads the history, and the hub stores an event in the
//! history before it asks whether a console is open. The shard's lock orders the two: if the
//! console reads that shard first, its count is visible to the publisher, which locks the shard
//! after, and the event goes live; if the publisher stores first, the console finds the event
//! in the history. An event may be in both; the console's stream passes over live events whose
//! position its backlog had.

use parking_lot::Mutex;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use tokio::sync::broadcast;
use userstream_protocol::events::Event;
use userstream_protocol::{Account, TimeUnit};

/// Events a joining console is sent from the hub's history, at most.
pub(crate) const EVENT_BACKLOG: usize = 300;
/// Price points kept per symbol.
pub(crate) const PRICE_BACKLOG: usize = 600;
/// Consoles streaming at once.
pub(crate) const MAX_STREAMS: usize = 8;
/// Items a console may fall behind the live feed before it is told it lagged.
const LIVE_CAPACITY: usize = 1024;

/// One event as the node delivered it.
pub(crate) struct Tapped {
    pub(crate) position: u64,
    at_ms: i64,
    account: Account,
    event: Event,
    /// The SSE `data` line, made once by the first console that sends it.
    rendered: OnceLock<String>,
}

impl Tapped {
    pub(crate) fn new(account: Account, position: u64, event: Event, at_ms: i64) -> Tapped {
        Tapped {
            position,
            at_ms,
            account,
            event,
            rendered: OnceLock::new(),
        }
    }

    /// `{"position":…,"atMs":…,"uid":…,"isolatedSymbol":…,"type":…,"event":{…}}`.
    pub(crate) fn data(&self) -> &str {
        self.rendered.get_or_init(|| {
            let json = self.event.to_json(TimeUnit::Millisecond);
            let event = String::from_utf8_lossy(&json);
            let isolated = serde_json::to_string(&self.account.scope.isolated_symbol())
                .unwrap_or_else(|_| "null".to_owned());
            format!(
                r#"{{"position":{},"atMs":{},"uid":{},"isolatedSymbol":{},"type":"{}","event":{}}}"#,
                self.position,
                self.at_ms,
                self.account.uid,
                isolated,
                self.event.event_type(),
                event
            )
        })
    }
}

/// One price change of the simulator.
pub(crate) struct Tick {
    pub(crate) symbol: String,
    pub(crate) price: String,
    pub(crate) at_ms: i64,
}

impl Tick {
    pub(crate) fn data(&self) -> String {
        serde_json::json!({ "symbol": self.symbol, "price": self.price, "atMs": self.at_ms })
            .to_string()
    }
}

/// What goes live to every open console.
#[derive(Clone)]
pub(crate) enum Item {
    Event(Arc<Tapped>),
    Price(Arc<Tick>),
    /// A scenario run's progress, already rendered.
    Scenario(Arc<str>),
}

/// Price points per symbol, for a console that joins.
#[derive(Default)]
struct Backlog {
    prices: BTreeMap<String, VecDeque<Arc<Tick>>>,
}

pub(crate) struct Feed {
    /// Off when the server runs without its console (`admin_console = false`).
    enabled: AtomicBool,
    /// Consoles streaming now.
    open: AtomicUsize,
    backlog: Mutex<Backlog>,
    live: broadcast::Sender<Item>,
}

/// A console's place on the feed: the price backlog at the moment it joined and everything
/// live after. Dropping it frees the place.
pub(crate) struct Attached {
    feed: Arc<Feed>,
    pub(crate) prices: Vec<Arc<Tick>>,
    pub(crate) live: broadcast::Receiver<Item>,
}

impl Drop for Attached {
    fn drop(&mut self) {
        self.feed.open.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Feed {
    pub(crate) fn new() -> Feed {
        Feed {
            enabled: AtomicBool::new(true),
            open: AtomicUsize::new(0),
            backlog: Mutex::new(Backlog::default()),
            live: broadcast::channel(LIVE_CAPACITY).0,
        }
    }

    /// Turns the feed off for good: nothing is kept or sent from then on.
    pub(crate) fn disable(&self) {
        self.enabled.store(false, Ordering::Release);
    }

    /// The hub delivered `event` to `account` at `position`: sent to the open consoles, kept
    /// by none.
    /// `at_ms` is read only then: with no console open, not even the clock is asked.
    pub(crate) fn event(
        &self,
        account: &Account,
        position: u64,
        event: &Event,
        at_ms: impl FnOnce() -> i64,
    ) {
        if !self.enabled.load(Ordering::Acquire) || self.open.load(Ordering::SeqCst) == 0 {
            return;
        }
        let tapped = Tapped::new(account.clone(), position, event.clone(), at_ms());
        let _ = self.live.send(Item::Event(Arc::new(tapped)));
    }

    /// The simulator moved `symbol` to `price`.
    pub(crate) fn price(&self, symbol: &str, price: String, at_ms: i64) {
        if !self.enabled.load(Ordering::Acquire) {
            return;
        }
        let tick = Arc::new(Tick {
            symbol: symbol.to_owned(),
            price,
            at_ms,
        });
        let mut backlog = self.backlog.lock();
        let points = backlog.prices.entry(symbol.to_owned()).or_default();
        if points.len() == PRICE_BACKLOG {
            points.pop_front();
        }
        points.push_back(Arc::clone(&tick));
        if self.open.load(Ordering::Acquire) > 0 {
            let _ = self.live.send(Item::Price(tick));
        }
    }

    /// A scenario line for the consoles open now (nothing is kept).
    pub(crate) fn scenario(&self, data: String) {
        let _ = self.live.send(Item::Scenario(data.into()));
    }

    /// A new console's price backlog and live feed, or `None` when [`MAX_STREAMS`] are open.
    /// It is counted open once subscribed, so every event the hub hands over from then on
    /// reaches it; the caller reads the event backlog after this.
    pub(crate) fn attach(self: &Arc<Self>) -> Option<Attached> {
        let backlog = self.backlog.lock();
        let live = self.live.subscribe();
        // Under the lock, so no price falls between the backlog and the live feed.
        self.open
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |open| {
                (open < MAX_STREAMS).then_some(open + 1)
            })
            .ok()?;
        Some(Attached {
            feed: Arc::clone(self),
            prices: backlog.prices.values().flatten().cloned().collect(),
            live,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use userstream_protocol::Scope;

    fn event(feed: &Feed, position: u64) {
        let account = Account {
            uid: 7,
            scope: Scope::Cross,
        };
        let json = format!(r#"{{"e":"balanceUpdate","E":1,"a":"BTC","d":"{position}","T":1}}"#);
        let event = Event::from_json(json.as_bytes(), TimeUnit::Millisecond).unwrap();
        feed.event(&account, position, &event, || 1);
    }

    fn next_position(attached: &mut Attached) -> Option<u64> {
        match attached.live.try_recv() {
            Ok(Item::Event(tapped)) => Some(tapped.position),
            _ => None,
        }
    }

    #[test]
    fn events_go_live_to_open_consoles_only() {
        let feed = Arc::new(Feed::new());
        event(&feed, 1);
        let mut attached = feed.attach().unwrap();
        event(&feed, 2);
        assert_eq!(next_position(&mut attached), Some(2));
        assert_eq!(
            next_position(&mut attached),
            None,
            "nothing before it joined"
        );
        let data = Tapped::new(
            Account {
                uid: 7,
                scope: Scope::Isolated("BTCUSDT".into()),
            },
            9,
            Event::from_json(
                br#"{"e":"balanceUpdate","E":1,"a":"BTC","d":"1","T":1}"#,
                TimeUnit::Millisecond,
            )
            .unwrap(),
            5,
        );
        assert_eq!(
            data.data(),
            r#"{"position":9,"atMs":5,"uid":7,"isolatedSymbol":"BTCUSDT","type":"balanceUpdate","event":{"e":"balanceUpdate","E":1,"a":"BTC","d":"1","T":1}}"#
        );
    }

    #[test]
    fn the_price_backlog_keeps_the_last_points_per_symbol() {
        let feed = Arc::new(Feed::new());
        for n in 0..(PRICE_BACKLOG + 3) {
            feed.price("BTCUSDT", n.to_string(), 1);
        }
        feed.price("ETHUSDT", "3000".into(), 1);
        let mut attached = feed.attach().unwrap();
        assert_eq!(attached.prices.len(), PRICE_BACKLOG + 1);
        assert_eq!(attached.prices[0].price, "3");
        feed.price("ETHUSDT", "3001".into(), 2);
        match attached.live.try_recv() {
            Ok(Item::Price(tick)) => assert_eq!(tick.price, "3001"),
            _ => panic!("the price was not sent live"),
        }
    }

    #[test]
    fn at_most_eight_consoles_and_a_leaving_one_frees_its_place() {
        let feed = Arc::new(Feed::new());
        let mut open: Vec<Attached> = (0..MAX_STREAMS).map(|_| feed.attach().unwrap()).collect();
        assert!(feed.attach().is_none());
        open.pop();
        assert!(feed.attach().is_some());
    }

    #[test]
    fn a_disabled_feed_keeps_and_sends_nothing() {
        let feed = Arc::new(Feed::new());
        let mut attached = feed.attach().unwrap();
        feed.disable();
        event(&feed, 1);
        feed.price("BTCUSDT", "1".into(), 1);
        assert!(attached.live.try_recv().is_err());
        assert!(feed.attach().unwrap().prices.is_empty());
    }
}
