//! The console's tap: what the hub delivers and the simulator's prices, kept in a small
//! backlog and passed on live to the open consoles.
//!
//! The hub calls [`Feed::event`] on its publish path, so the cost there is kept small: the
//! event is moved in (not copied or encoded), its entry is built before the lock, and the lock
//! is held for a push, a pop and, only when a console is open, the live send; what the push
//! evicts is freed after it. The lock is one for the whole node: it makes `seq` one order that
//! the backlog and the live feed share, so a console that joins sees every event once. `seq`
//! is the order in which the hub's shards handed events over, which for two publishers racing
//! on one account may differ from their positions (`position` is the account stream's order).
//! With `admin_console = false` the feed is off and the hub pays one atomic load per event.

use parking_lot::Mutex;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use tokio::sync::broadcast;
use userstream_protocol::events::Event;
use userstream_protocol::{Account, TimeUnit};

/// Events kept for a console that connects later.
pub(crate) const EVENT_BACKLOG: usize = 300;
/// Price points kept per symbol.
pub(crate) const PRICE_BACKLOG: usize = 600;
/// Consoles streaming at once.
pub(crate) const MAX_STREAMS: usize = 8;
/// Items a console may fall behind the live feed before it is told it lagged.
const LIVE_CAPACITY: usize = 1024;

/// One event as the node delivered it.
pub(crate) struct Tapped {
    seq: u64,
    at_ms: i64,
    account: Account,
    position: u64,
    event: Event,
    /// The SSE `data` line, made once by the first console that sends it.
    rendered: OnceLock<String>,
}

impl Tapped {
    /// `{"seq":…,"atMs":…,"uid":…,"isolatedSymbol":…,"type":…,"position":…,"event":{…}}`.
    pub(crate) fn data(&self) -> &str {
        self.rendered.get_or_init(|| {
            let json = self.event.to_json(TimeUnit::Millisecond);
            let event = String::from_utf8_lossy(&json);
            let isolated = serde_json::to_string(&self.account.scope.isolated_symbol())
                .unwrap_or_else(|_| "null".to_owned());
            format!(
                r#"{{"seq":{},"atMs":{},"uid":{},"isolatedSymbol":{},"type":"{}","position":{},"event":{}}}"#,
                self.seq,
                self.at_ms,
                self.account.uid,
                isolated,
                self.event.event_type(),
                self.position,
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

#[derive(Default)]
struct Backlog {
    next_seq: u64,
    events: VecDeque<Arc<Tapped>>,
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

/// A console's place on the feed: the backlog at the moment it joined and everything after.
/// Dropping it frees the place.
pub(crate) struct Attached {
    feed: Arc<Feed>,
    pub(crate) prices: Vec<Arc<Tick>>,
    pub(crate) events: Vec<Arc<Tapped>>,
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

    /// The hub delivered `event` to `account` at `position`.
    pub(crate) fn event(&self, account: &Account, position: u64, event: Event, at_ms: i64) {
        if !self.enabled.load(Ordering::Acquire) {
            return;
        }
        let mut tapped = Arc::new(Tapped {
            seq: 0,
            at_ms,
            account: account.clone(),
            position,
            event,
            rendered: OnceLock::new(),
        });
        let mut backlog = self.backlog.lock();
        if let Some(entry) = Arc::get_mut(&mut tapped) {
            entry.seq = backlog.next_seq;
        }
        backlog.next_seq += 1;
        let evicted = if backlog.events.len() == EVENT_BACKLOG {
            backlog.events.pop_front()
        } else {
            None
        };
        backlog.events.push_back(Arc::clone(&tapped));
        // Sent under the lock, so that a console that joins sees each event once: in its
        // backlog or live, in `seq` order.
        if self.open.load(Ordering::Acquire) > 0 {
            let _ = self.live.send(Item::Event(tapped));
        }
        drop(backlog);
        drop(evicted);
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

    /// A new console's backlog and live feed, or `None` when [`MAX_STREAMS`] are open.
    pub(crate) fn attach(self: &Arc<Self>) -> Option<Attached> {
        let backlog = self.backlog.lock();
        // Under the lock, so no event falls between the backlog and the live feed; the count
        // may still drop meanwhile (a console leaving does not take the lock).
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < MAX_STREAMS).then_some(open + 1)
            })
            .ok()?;
        Some(Attached {
            feed: Arc::clone(self),
            prices: backlog.prices.values().flatten().cloned().collect(),
            events: backlog.events.iter().cloned().collect(),
            live: self.live.subscribe(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use userstream_protocol::Scope;

    fn event(feed: &Feed, n: u64) {
        let account = Account {
            uid: 7,
            scope: Scope::Cross,
        };
        let json = format!(r#"{{"e":"balanceUpdate","E":1,"a":"BTC","d":"{n}","T":1}}"#);
        let event = Event::from_json(json.as_bytes(), TimeUnit::Millisecond).unwrap();
        feed.event(&account, n, event, 1);
    }

    fn seqs(events: &[Arc<Tapped>]) -> Vec<u64> {
        events.iter().map(|tapped| tapped.seq).collect()
    }

    #[test]
    fn the_backlog_keeps_the_last_events_and_prices() {
        let feed = Arc::new(Feed::new());
        for n in 0..(EVENT_BACKLOG as u64 + 5) {
            event(&feed, n);
        }
        for n in 0..(PRICE_BACKLOG + 3) {
            feed.price("BTCUSDT", n.to_string(), 1);
        }
        feed.price("ETHUSDT", "3000".into(), 1);
        let attached = feed.attach().unwrap();
        let expected: Vec<u64> = (5..EVENT_BACKLOG as u64 + 5).collect();
        assert_eq!(seqs(&attached.events), expected);
        assert_eq!(attached.prices.len(), PRICE_BACKLOG + 1);
        assert_eq!(attached.prices[0].price, "3");
        assert!(attached.events[0].data().contains(r#""position":5,"#));
    }

    #[test]
    fn a_console_sees_each_event_once_in_its_backlog_or_live() {
        let feed = Arc::new(Feed::new());
        event(&feed, 0);
        event(&feed, 1);
        let mut attached = feed.attach().unwrap();
        event(&feed, 2);
        assert_eq!(seqs(&attached.events), [0, 1]);
        match attached.live.try_recv() {
            Ok(Item::Event(tapped)) => assert_eq!(tapped.seq, 2),
            _ => panic!("event 2 was not sent live"),
        }
        assert!(attached.live.try_recv().is_err(), "nothing twice");
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
        event(&feed, 0);
        feed.price("BTCUSDT", "1".into(), 1);
        assert!(attached.live.try_recv().is_err());
        let again = feed.attach().unwrap();
        assert!(again.events.is_empty() && again.prices.is_empty());
    }
}
