//! The console's tap: what the hub delivers and the simulator's prices, kept in a small
//! backlog and passed on live to the open consoles.
//!
//! The hub calls [`Feed::event`] on its publish path, so the cost there is kept small: one
//! short lock to push into a bounded backlog (the event is moved in, not copied or encoded),
//! and the live broadcast only when a console is open (one atomic load otherwise). The lock is
//! one for the whole node, but it is held for a push and a pop, never across encoding or I/O;
//! sharding it would lose the single order that the console's `seq` numbers.

use parking_lot::Mutex;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
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
            open: AtomicUsize::new(0),
            backlog: Mutex::new(Backlog::default()),
            live: broadcast::channel(LIVE_CAPACITY).0,
        }
    }

    /// The hub delivered `event` to `account` at `position`.
    pub(crate) fn event(&self, account: &Account, position: u64, event: Event, at_ms: i64) {
        let mut backlog = self.backlog.lock();
        let seq = backlog.next_seq;
        backlog.next_seq += 1;
        let tapped = Arc::new(Tapped {
            seq,
            at_ms,
            account: account.clone(),
            position,
            event,
            rendered: OnceLock::new(),
        });
        if backlog.events.len() == EVENT_BACKLOG {
            backlog.events.pop_front();
        }
        backlog.events.push_back(Arc::clone(&tapped));
        // Sent under the lock, so that a console that joins sees each event once: in its
        // backlog or live, in `seq` order.
        if self.open.load(Ordering::Acquire) > 0 {
            let _ = self.live.send(Item::Event(tapped));
        }
    }

    /// The simulator moved `symbol` to `price`.
    pub(crate) fn price(&self, symbol: &str, price: String, at_ms: i64) {
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
