//! The margin exchange simulator, driven by this server (issue 15; docs/simulator.md).
//!
//! The simulator ([`userstream_sim::Simulator`]) does no I/O and reads no clock. This module is
//! its one owner here: every operation runs under one lock, at the clock's time, and the events
//! it produces are published on the bus before the lock is let go, so two requests' events never
//! interleave and every subscriber sees them in the order the simulator made them. They enter
//! the bus like anyone else's (DESIGN.md: the simulator is a library, never a second server).

mod demo;
mod feed;
mod settings;
mod trader;

pub(crate) use demo::prepare as prepare_demo;
pub use demo::{DEMO_LABEL, DEMO_PAIRS, DemoAccount};
pub(crate) use feed::{run_hourly_interest, run_price_feed};
pub(crate) use settings::{DemoSettings, Prices, settings};
pub(crate) use trader::{DemoWalk, run_trader};

use crate::bus::{AccountEvent, Bus};
use std::sync::Arc;
use tokio::sync::Mutex;
use userstream_protocol::clock::SharedClock;
use userstream_sim::{Decimal, SimConfig, SimError, Simulator, SymbolRules};

/// The simulator and where its events go.
pub struct Exchange {
    sim: Mutex<Simulator>,
    /// The pairs and their filters, fixed at start: read without the lock (`exchangeInfo` is
    /// public and free, and must not queue behind trading).
    symbols: Arc<[SymbolRules]>,
    /// Binance's `maxNumOrders`: open orders per account and symbol.
    max_num_orders: usize,
    bus: Arc<dyn Bus>,
    clock: SharedClock,
    /// Where every price change goes (the web console), when anywhere.
    ticks: Option<Arc<crate::console::tap::Feed>>,
}

impl Exchange {
    pub fn new(config: SimConfig, bus: Arc<dyn Bus>, clock: SharedClock) -> Exchange {
        let symbols = config.symbols.clone().into();
        let max_num_orders = config.max_num_orders;
        Exchange {
            sim: Mutex::new(Simulator::new(config)),
            symbols,
            max_num_orders,
            bus,
            clock,
            ticks: None,
        }
    }

    /// Tells `feed` every price change, whatever makes it (an admin request, a walk, a replay,
    /// the demo's trader).
    pub(crate) fn with_price_ticks(mut self, feed: Arc<crate::console::tap::Feed>) -> Exchange {
        self.ticks = Some(feed);
        self
    }

    /// The simulated pairs and their filters.
    pub fn symbols(&self) -> &[SymbolRules] {
        &self.symbols
    }

    /// Open orders one account may have on one symbol.
    pub fn max_num_orders(&self) -> usize {
        self.max_num_orders
    }

    /// Runs one operation at the clock's time and publishes what it produced, in order.
    pub async fn apply<T>(
        &self,
        operation: impl FnOnce(&mut Simulator, i64) -> Result<(T, Vec<AccountEvent>), SimError>,
    ) -> Result<T, SimError> {
        let mut sim = self.sim.lock().await;
        let (answer, events) = operation(&mut sim, self.clock.now_us())?;
        self.publish(events).await;
        Ok(answer)
    }

    /// Reads the simulator; nothing changes, nothing is published.
    pub async fn read<T>(&self, query: impl FnOnce(&Simulator) -> T) -> T {
        query(&*self.sim.lock().await)
    }

    /// Moves one symbol's price (the admin API, a feed, the demo's trader: only this changes a
    /// price) and publishes what it set off; returns the number of events. The console hears
    /// of the price the simulator took, under its lock, so ticks leave in the order of moves.
    pub(crate) async fn move_price(&self, symbol: &str, price: Decimal) -> Result<usize, SimError> {
        let mut sim = self.sim.lock().await;
        let now_us = self.clock.now_us();
        let events = sim.set_price(symbol, price, now_us)?;
        if let (Some(feed), Some(now)) = (&self.ticks, sim.price(symbol)) {
            feed.price(symbol, now.to_string(), now_us.div_euclid(1000));
        }
        let count = events.len();
        self.publish(events).await;
        Ok(count)
    }

    /// A feed's step: [`Exchange::move_price`], a refusal logged, not fatal.
    pub(crate) async fn set_price(&self, symbol: &str, price: Decimal) {
        if let Err(error) = self.move_price(symbol, price).await {
            tracing::warn!(symbol, %error, "a price feed's step was refused");
        }
    }

    async fn publish(&self, batch: Vec<AccountEvent>) {
        if batch.is_empty() {
            return;
        }
        // The embedded bus cannot fail once attached; a clustered bus is never given a
        // simulator (its state would differ per node).
        if let Err(error) = self.bus.publish(batch).await {
            tracing::error!(%error, "simulator events could not be published");
        }
    }
}
