//! The simulator's clockwork: prices that move by themselves (a seeded walk, or a recording
//! played back) and interest charged every hour. Each runs until the server stops.

use super::Exchange;
use super::settings::Prices;
use std::sync::Arc;
use userstream_sim::{Decimal, HOUR_US, RandomWalk, Recording};

/// Recorded time between a recording's last point and its first one played again.
const REPLAY_PAUSE_US: i64 = 1_000_000;

/// Moves prices as the settings say, forever; returns at once for manual prices.
pub(crate) async fn run_price_feed(exchange: Arc<Exchange>, prices: Prices) {
    match prices {
        Prices::Manual => {}
        Prices::Walk {
            seed,
            interval_ms,
            step,
        } => walk(&exchange, seed, interval_ms, step).await,
        Prices::Replay { recordings, speed } => {
            let plays = recordings
                .into_iter()
                .map(|recording| replay(Arc::clone(&exchange), recording, speed));
            futures_util::future::join_all(plays).await;
        }
    }
}

async fn walk(exchange: &Exchange, seed: u64, interval_ms: u64, step: Decimal) {
    let mut walker = Walker::start(exchange, seed, step).await;
    let interval_us = interval_us(interval_ms);
    let mut next_us = exchange.clock.now_us();
    loop {
        next_us = next_us.saturating_add(interval_us);
        exchange.clock.sleep_until(next_us).await;
        walker.step(exchange).await;
    }
}

pub(crate) fn interval_us(interval_ms: u64) -> i64 {
    i64::try_from(interval_ms.saturating_mul(1000)).unwrap_or(i64::MAX)
}

/// The seeded walk, stepped by whoever owns it: the price feed, or the demo's trader (which
/// also moves prices itself now and then, and tells the walk).
pub(crate) struct Walker {
    walk: RandomWalk,
}

impl Walker {
    /// A walk that starts where the prices are now (set by hand, maybe, before the server ran).
    pub(crate) async fn start(exchange: &Exchange, seed: u64, step: Decimal) -> Walker {
        let walk = exchange
            .read(|sim| {
                let starts: Vec<_> = sim
                    .symbols()
                    .iter()
                    .map(|rules| {
                        let price = sim.price(&rules.symbol).unwrap_or(rules.initial_price);
                        (rules.symbol.clone(), price, rules.tick_size)
                    })
                    .collect();
                RandomWalk::new(seed, &starts, step)
            })
            .await;
        Walker { walk }
    }

    /// Moves every symbol one step.
    pub(crate) async fn step(&mut self, exchange: &Exchange) {
        for (symbol, price) in self.walk.step() {
            exchange.set_price(&symbol, price).await;
        }
    }

    /// A price moved by its owner: the walk goes on from there.
    pub(crate) fn moved(&mut self, symbol: &str, price: Decimal) {
        self.walk.set_price(symbol, price);
    }
}

/// Plays one recording at `speed` times its pace, then again from its start one (recorded)
/// second after its last point, forever.
async fn replay(exchange: Arc<Exchange>, recording: Recording, speed: u32) {
    let speed = i64::from(speed.max(1));
    let rules = exchange
        .symbols()
        .iter()
        .find(|rules| rules.symbol == recording.symbol())
        .cloned();
    let rules = rules.as_ref();
    let mut start_us = exchange.clock.now_us();
    loop {
        let mut last_us = start_us;
        for (offset_us, price) in recording.points() {
            last_us = start_us.saturating_add(offset_us / speed);
            exchange.clock.sleep_until(last_us).await;
            // A recording may carry more digits than the pair's tick: the market moves in ticks.
            let price = rules.map_or(*price, |rules| rules.on_tick(*price));
            exchange.set_price(recording.symbol(), price).await;
        }
        start_us = last_us.saturating_add(REPLAY_PAUSE_US / speed);
    }
}

/// Charges interest at every whole hour, as Binance does.
pub(crate) async fn run_hourly_interest(exchange: Arc<Exchange>) {
    loop {
        let now_us = exchange.clock.now_us();
        let next_hour_us = now_us
            .div_euclid(HOUR_US)
            .saturating_add(1)
            .saturating_mul(HOUR_US);
        exchange.clock.sleep_until(next_hour_us).await;
        exchange
            .apply(|sim, now_us| Ok(((), sim.accrue_interest(now_us))))
            .await
            .ok();
    }
}
