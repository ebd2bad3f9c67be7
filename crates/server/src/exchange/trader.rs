//! Demo mode's background trader: every few seconds of the server's clock it does one thing on
//! the demo accounts, chosen by a generator seeded with the demo seed, so that their streams
//! carry what a real account's would: orders that rest and fill, big orders that fill in
//! several fills, partial fills then cancels, IOCs that expire, OCOs, loans repaid later, and
//! now and then a margin call.
//!
//! It drives the simulator only through [`Exchange`], and a refusal (a balance too small, an
//! order already gone) is logged at debug and skipped: the trader never stops the server.
//! When the demo walks prices, the trader owns the walk and steps it on the same timeline, so
//! one seed gives one sequence of events.

use super::Exchange;
use super::demo::{DEMO_PAIRS, funding};
use super::feed::{Walker, interval_us};
use std::sync::Arc;
use userstream_protocol::events::{OrderType, Side, TimeInForce};
use userstream_protocol::rest::NewOrderResponse;
use userstream_protocol::{Account, Uid};
use userstream_sim::feed::{Generator, draw_below, generator};
use userstream_sim::{
    AccountEvent, BorrowRepay, Decimal, OcoRequest, OrderRef, OrderRequest, SideEffect, SimError,
    Simulator,
};

/// Keys the trader's generator apart from the walk's, which uses the same seed.
const TRADER_STREAM: u64 = 0x7472_6164_6572;

/// Every this many actions, debts are repaid and low balances topped up.
const TIDY_EVERY: u64 = 40;

/// The first margin call comes after this many actions at the earliest (a minute, at the
/// default pace), the next ones at least `SHOCK_COOLDOWN` actions after the one before.
const FIRST_SHOCK: u64 = 20;
const SHOCK_COOLDOWN: u64 = 200;

/// A shock moves the price this much (2 %) per action, for at most `SHOCK_STEPS` actions.
const SHOCK_MOVE: Decimal = Decimal::from_parts(2, 0, 0, false, 2);
const SHOCK_STEPS: u32 = 20;

/// The walk the trader steps, when the demo's prices walk (not replayed or set by hand).
pub(crate) struct DemoWalk {
    pub seed: u64,
    pub interval_ms: u64,
    pub step: Decimal,
}

/// Runs the trader (and the walk, when it has one) until the server stops.
pub(crate) async fn run_trader(
    exchange: Arc<Exchange>,
    uid: Uid,
    seed: u64,
    interval_ms: u64,
    walk: Option<DemoWalk>,
) {
    let mut walk = match walk {
        Some(walk) => Some((
            Walker::start(&exchange, walk.seed, walk.step).await,
            interval_us(walk.interval_ms),
        )),
        None => None,
    };
    let mut trader = Trader {
        exchange: Arc::clone(&exchange),
        uid,
        dice: Dice(generator(seed ^ TRADER_STREAM)),
        actions: 0,
        later: Vec::new(),
        shock: None,
        next_shock: FIRST_SHOCK,
    };
    let clock = &exchange.clock;
    let trade_every = interval_us(interval_ms);
    let walk_every = walk.as_ref().map(|(_, every)| *every);
    let start = clock.now_us();
    let mut next_trade = start.saturating_add(trade_every);
    let mut next_walk = walk_every.map(|every| start.saturating_add(every));
    loop {
        let due = next_walk.map_or(next_trade, |walk| walk.min(next_trade));
        clock.sleep_until(due).await;
        // At the same instant the walk steps first, then the trader acts: always in that order.
        if let (Some(at), Some(every), Some((walker, _))) = (next_walk, walk_every, walk.as_mut())
            && at == due
        {
            walker.step(&exchange).await;
            next_walk = Some(at.saturating_add(every));
        }
        if next_trade == due {
            trader.act(walk.as_mut().map(|(walker, _)| walker)).await;
            next_trade = next_trade.saturating_add(trade_every);
        }
    }
}

/// The trader's choices: uniform draws from the seeded generator.
struct Dice(Generator);

impl Dice {
    fn below(&mut self, bound: u64) -> u64 {
        draw_below(&mut self.0, bound)
    }

    /// Uniform in [low, high].
    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.below(high.saturating_sub(low).saturating_add(1))
    }

    fn coin(&mut self) -> bool {
        self.below(2) == 0
    }

    /// An index into `weights`, each as likely as its weight.
    fn pick(&mut self, weights: &[u64]) -> usize {
        let mut left = self.below(weights.iter().sum());
        for (index, weight) in weights.iter().enumerate() {
            if left < *weight {
                return index;
            }
            left -= weight;
        }
        0
    }

    fn side(&mut self) -> Side {
        if self.coin() { Side::Buy } else { Side::Sell }
    }
}

/// What the trader does, and how often (weights).
#[derive(Debug, Clone, Copy)]
enum Action {
    RestingLimit,
    BigMarket,
    PartialThenCancel,
    ExpiringIoc,
    Oco,
    Borrow,
    MarginCall,
}

const ACTIONS: [(Action, u64); 7] = [
    (Action::RestingLimit, 5),
    (Action::BigMarket, 2),
    (Action::PartialThenCancel, 2),
    (Action::ExpiringIoc, 2),
    (Action::Oco, 2),
    (Action::Borrow, 2),
    (Action::MarginCall, 1),
];

/// Something to do at a later action.
enum FollowUp {
    Cancel {
        account: Account,
        symbol: &'static str,
        order_id: i64,
    },
    Repay {
        account: Account,
        asset: String,
    },
    /// A market order the other way, closing what a big order bought or sold.
    Close {
        account: Account,
        symbol: &'static str,
        side: Side,
        quantity: Decimal,
    },
}

/// A margin call in progress on the cross account: the price is pushed against a leveraged
/// position until the margin level falls past the margin-call line, then the position is
/// closed and the price brought back.
enum Shock {
    Pushing {
        symbol: &'static str,
        origin: Decimal,
        bought: Decimal,
        steps: u32,
    },
    Recovering {
        symbol: &'static str,
        origin: Decimal,
        steps: u32,
    },
}

/// A symbol's price and filters.
struct Market {
    price: Decimal,
    tick: Decimal,
    step: Decimal,
}

struct Trader {
    exchange: Arc<Exchange>,
    uid: Uid,
    dice: Dice,
    actions: u64,
    later: Vec<(u64, FollowUp)>,
    shock: Option<Shock>,
    /// The first action at which a margin call may start.
    next_shock: u64,
}

/// `value` rounded down to a multiple of `unit`; `None` for a unit of zero or an overflow.
fn floor_to(value: Decimal, unit: Decimal) -> Option<Decimal> {
    value.checked_div(unit)?.floor().checked_mul(unit)
}

/// `price × (1 + fraction)` on tick; `fraction` may be negative.
fn shifted(market: &Market, fraction: Decimal) -> Option<Decimal> {
    let price = market
        .price
        .checked_mul(Decimal::ONE.checked_add(fraction)?)?;
    floor_to(price, market.tick).filter(|price| !price.is_zero())
}

/// The quantity `notional` (in the quote) buys at `price`, on the step; `None` when nothing.
fn quantity(market: &Market, notional: Decimal, price: Decimal) -> Option<Decimal> {
    floor_to(notional.checked_div(price)?, market.step).filter(|qty| !qty.is_zero())
}

/// An answer's decimal (text on the wire) as a number.
fn exact(value: &userstream_protocol::decimal::Decimal) -> Option<Decimal> {
    value.as_str().parse().ok()
}

/// (free, owed with interest), from an account view's texts.
fn owing(
    free: &userstream_protocol::decimal::Decimal,
    borrowed: &userstream_protocol::decimal::Decimal,
    interest: &userstream_protocol::decimal::Decimal,
) -> Option<(Decimal, Decimal)> {
    Some((
        exact(free)?,
        exact(borrowed)?.checked_add(exact(interest)?)?,
    ))
}

/// Per ten thousand, as a decimal fraction.
fn bps(value: u64) -> Decimal {
    Decimal::new(i64::try_from(value).unwrap_or(0), 4)
}

fn usdt(value: u64) -> Decimal {
    Decimal::from(value)
}

fn other(side: Side) -> Side {
    match side {
        Side::Buy => Side::Sell,
        _ => Side::Buy,
    }
}

impl Trader {
    async fn act(&mut self, walker: Option<&mut Walker>) {
        self.actions += 1;
        self.follow_ups().await;
        let walking = walker.is_some();
        if self.shock.is_some() {
            if let Some(walker) = walker {
                self.shock_step(walker).await;
                return;
            }
            self.shock = None;
        }
        if self.actions.is_multiple_of(TIDY_EVERY) {
            self.tidy().await;
        }
        let weights: Vec<u64> = ACTIONS.iter().map(|(_, weight)| *weight).collect();
        let action = ACTIONS[self.dice.pick(&weights)].0;
        let done = match action {
            Action::RestingLimit => self.resting_limit().await,
            Action::BigMarket => self.big_market().await,
            Action::PartialThenCancel => self.partial_then_cancel().await,
            Action::ExpiringIoc => self.expiring_ioc().await,
            Action::Oco => self.oco().await,
            Action::Borrow => self.borrow().await,
            // Only with a walk of its own (not with prices replayed or set by hand), and not
            // too often: else an order.
            Action::MarginCall if walking && self.actions >= self.next_shock => {
                self.start_shock().await
            }
            Action::MarginCall => self.resting_limit().await,
        };
        if done.is_none() {
            tracing::debug!(?action, "demo trader: nothing done this time");
        }
    }

    /// Runs one operation; a refusal is logged at debug and gives `None`.
    async fn run<T>(
        &self,
        what: &'static str,
        operation: impl FnOnce(&mut Simulator, i64) -> Result<(T, Vec<AccountEvent>), SimError>,
    ) -> Option<T> {
        match self.exchange.apply(operation).await {
            Ok(answer) => Some(answer),
            Err(error) => {
                tracing::debug!(what, %error, "demo trader: refused");
                None
            }
        }
    }

    async fn market(&self, symbol: &str) -> Option<Market> {
        self.exchange
            .read(|sim| {
                let rules = sim.rules(symbol)?;
                Some(Market {
                    price: sim.price(symbol).unwrap_or(rules.initial_price),
                    tick: rules.tick_size,
                    step: rules.step_size,
                })
            })
            .await
    }

    /// Cross (two times in three) or a demo pair's isolated account, and a demo symbol.
    fn place(&mut self) -> (Account, &'static str) {
        let symbol = DEMO_PAIRS[usize::from(self.dice.coin())];
        let account = if self.dice.below(3) == 0 {
            Account::isolated(self.uid, symbol)
        } else {
            Account::cross(self.uid)
        };
        (account, symbol)
    }

    /// Buy or sell, as the dice say; but an account holding more than twice its starting
    /// amount of the base sells, and of the quote buys, so that balances stay bounded over hours
    /// (top-ups bound them from below).
    async fn side(&mut self, account: &Account, symbol: &str) -> Side {
        let drawn = self.dice.side();
        let Some(base) = symbol.strip_suffix("USDT") else {
            return drawn;
        };
        let start = |asset: &str| {
            funding(self.uid)
                .into_iter()
                .find(|(funded, held, _)| funded == account && *held == asset)
                .map(|(_, _, amount)| amount)
                .unwrap_or_default()
        };
        let (base_start, quote_start) = (start(base), start("USDT"));
        let (base_free, _) = self.holding(account, base).await;
        let (quote_free, _) = self.holding(account, "USDT").await;
        let twice = |start: Decimal| start.checked_mul(Decimal::TWO).unwrap_or(Decimal::MAX);
        if base_free > twice(base_start) {
            Side::Sell
        } else if quote_free > twice(quote_start) {
            Side::Buy
        } else {
            drawn
        }
    }

    async fn order(
        &self,
        what: &'static str,
        account: &Account,
        request: OrderRequest,
    ) -> Option<NewOrderResponse> {
        self.run(what, |sim, now_us| {
            sim.place_order(account, request, now_us)
        })
        .await
    }

    fn later(&mut self, after: u64, follow_up: FollowUp) {
        self.later.push((self.actions + after, follow_up));
    }

    /// A limit near the price that rests until the walk moves through it (or is cancelled a
    /// minute or so later).
    async fn resting_limit(&mut self) -> Option<()> {
        let (account, symbol) = self.place();
        let market = self.market(symbol).await?;
        let side = self.side(&account, symbol).await;
        let offset = bps(self.dice.between(3, 25));
        let price = match side {
            Side::Buy => shifted(&market, -offset)?,
            _ => shifted(&market, offset)?,
        };
        let notional = usdt(self.dice.between(300, 3_000));
        let mut request = OrderRequest::new(symbol, side, OrderType::Limit);
        request.quantity = Some(quantity(&market, notional, price)?);
        request.price = Some(price);
        request.time_in_force = Some(TimeInForce::Gtc);
        let placed = self.order("resting limit", &account, request).await?;
        self.later(
            20,
            FollowUp::Cancel {
                account,
                symbol,
                order_id: placed.order_id,
            },
        );
        Some(())
    }

    /// A market order bigger than one price level: several fills at worsening prices; closed
    /// by the opposite order a few actions later.
    async fn big_market(&mut self) -> Option<()> {
        let symbol = DEMO_PAIRS[usize::from(self.dice.coin())];
        let account = Account::cross(self.uid);
        let market = self.market(symbol).await?;
        let side = self.side(&account, symbol).await;
        let notional = usdt(self.dice.between(60_000, 120_000));
        let mut request = OrderRequest::new(symbol, side, OrderType::Market);
        request.quantity = Some(quantity(&market, notional, market.price)?);
        let placed = self.order("big market order", &account, request).await?;
        self.close_later(account, symbol, side, &placed);
        Some(())
    }

    /// Whatever `placed` bought or sold is traded back a few actions later, so balances stay
    /// near where they started.
    fn close_later(
        &mut self,
        account: Account,
        symbol: &'static str,
        side: Side,
        placed: &NewOrderResponse,
    ) {
        let filled = placed
            .result
            .as_ref()
            .and_then(|result| exact(&result.executed_qty))
            .unwrap_or_default();
        if !filled.is_zero() {
            self.later(
                3,
                FollowUp::Close {
                    account,
                    symbol,
                    side: other(side),
                    quantity: filled,
                },
            );
        }
    }

    /// A limit far from the price, half filled on the spot (the admin fill), cancelled at the
    /// next action.
    async fn partial_then_cancel(&mut self) -> Option<()> {
        let (account, symbol) = self.place();
        let market = self.market(symbol).await?;
        let side = self.side(&account, symbol).await;
        let price = match side {
            Side::Buy => shifted(&market, -bps(200))?,
            _ => shifted(&market, bps(200))?,
        };
        let notional = usdt(self.dice.between(1_000, 4_000));
        let qty = quantity(&market, notional, price)?;
        let half = floor_to(qty / Decimal::TWO, market.step).filter(|half| !half.is_zero())?;
        let mut request = OrderRequest::new(symbol, side, OrderType::Limit);
        request.quantity = Some(qty);
        request.price = Some(price);
        request.time_in_force = Some(TimeInForce::Gtc);
        let placed = self
            .order("limit to fill in part", &account, request)
            .await?;
        let target = OrderRef::Id(placed.order_id);
        self.run("partial fill", |sim, now_us| {
            sim.fill_order(&account, symbol, &target, None, Some(half), now_us)
        })
        .await;
        self.later(
            1,
            FollowUp::Cancel {
                account,
                symbol,
                order_id: placed.order_id,
            },
        );
        Some(())
    }

    /// An IOC that expires: away from the price (nothing fills), or on the cross account at
    /// the price and bigger than the first level (it fills that level, the rest expires).
    async fn expiring_ioc(&mut self) -> Option<()> {
        let (account, symbol) = self.place();
        let market = self.market(symbol).await?;
        let side = self.side(&account, symbol).await;
        let taking = account.scope.isolated_symbol().is_none() && self.dice.coin();
        let (price, notional) = if taking {
            (market.price, usdt(self.dice.between(60_000, 90_000)))
        } else {
            let away = match side {
                Side::Buy => shifted(&market, -bps(100))?,
                _ => shifted(&market, bps(100))?,
            };
            (away, usdt(self.dice.between(300, 2_000)))
        };
        let mut request = OrderRequest::new(symbol, side, OrderType::Limit);
        request.quantity = Some(quantity(&market, notional, price)?);
        request.price = Some(price);
        request.time_in_force = Some(TimeInForce::Ioc);
        let placed = self.order("IOC", &account, request).await?;
        self.close_later(account, symbol, side, &placed);
        Some(())
    }

    /// An OCO around the price: a take-profit limit and a stop; cancelled after a while if
    /// neither leg went.
    async fn oco(&mut self) -> Option<()> {
        let (account, symbol) = self.place();
        let market = self.market(symbol).await?;
        let side = self.side(&account, symbol).await;
        let (gain, loss) = (
            bps(self.dice.between(15, 60)),
            bps(self.dice.between(15, 60)),
        );
        let (price, stop, stop_limit) = match side {
            Side::Buy => (
                shifted(&market, -gain)?,
                shifted(&market, loss)?,
                shifted(&market, loss + bps(10))?,
            ),
            _ => (
                shifted(&market, gain)?,
                shifted(&market, -loss)?,
                shifted(&market, -loss - bps(10))?,
            ),
        };
        let notional = usdt(self.dice.between(500, 2_500));
        let qty = quantity(&market, notional, market.price)?;
        let mut request = OcoRequest::new(symbol, side, qty, price, stop);
        request.stop_limit_price = Some(stop_limit);
        request.stop_limit_time_in_force = Some(TimeInForce::Gtc);
        let list = self
            .run("OCO", |sim, now_us| {
                sim.place_oco(&account, request, now_us)
            })
            .await?;
        let order_id = list.orders.first()?.order_id;
        self.later(
            15,
            FollowUp::Cancel {
                account,
                symbol,
                order_id,
            },
        );
        Some(())
    }

    /// A loan of the base or the quote, repaid a few actions later.
    async fn borrow(&mut self) -> Option<()> {
        let (account, symbol) = self.place();
        let market = self.market(symbol).await?;
        let notional = usdt(self.dice.between(1_000, 10_000));
        let (asset, amount) = if self.dice.coin() {
            ("USDT".to_owned(), notional)
        } else {
            let base = symbol.strip_suffix("USDT")?.to_owned();
            let amount = floor_to(notional.checked_div(market.price)?, Decimal::new(1, 6))?;
            (base, amount)
        };
        self.run("borrow", |sim, now_us| {
            sim.borrow_repay(&account, &asset, amount, BorrowRepay::Borrow, now_us)
        })
        .await?;
        let after = self.dice.between(3, 12);
        self.later(after, FollowUp::Repay { account, asset });
        Some(())
    }

    async fn follow_ups(&mut self) {
        let now = self.actions;
        let (due, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.later)
            .into_iter()
            .partition(|(at, _)| *at <= now);
        self.later = waiting;
        for (_, follow_up) in due {
            match follow_up {
                FollowUp::Cancel {
                    account,
                    symbol,
                    order_id,
                } => {
                    // Gone already (filled, expired): -2011, and nothing to do.
                    let target = OrderRef::Id(order_id);
                    self.run("cancel", |sim, now_us| {
                        sim.cancel_order(&account, symbol, &target, None, now_us)
                    })
                    .await;
                }
                FollowUp::Repay { account, asset } => self.repay(&account, &asset).await,
                FollowUp::Close {
                    account,
                    symbol,
                    side,
                    quantity,
                } => {
                    let mut request = OrderRequest::new(symbol, side, OrderType::Market);
                    request.quantity = Some(quantity);
                    request.side_effect = SideEffect::AutoRepay;
                    self.order("closing order", &account, request).await;
                }
            }
        }
    }

    /// (free, owed with interest) of one asset of one account.
    async fn holding(&self, account: &Account, asset: &str) -> (Decimal, Decimal) {
        let uid = self.uid;
        self.exchange
            .read(|sim| match account.scope.isolated_symbol() {
                None => sim
                    .cross_account(uid)
                    .user_assets
                    .into_iter()
                    .find(|held| held.asset == asset)
                    .and_then(|held| owing(&held.free, &held.borrowed, &held.interest)),
                Some(symbol) => sim
                    .isolated_accounts(uid, &[symbol.to_owned()], false)
                    .ok()?
                    .assets
                    .into_iter()
                    .flat_map(|pair| [pair.base_asset, pair.quote_asset])
                    .find(|held| held.asset == asset)
                    .and_then(|held| owing(&held.free, &held.borrowed, &held.interest)),
            })
            .await
            .unwrap_or_default()
    }

    /// Repays what it can of one asset's debt.
    async fn repay(&self, account: &Account, asset: &str) {
        let (free, owed) = self.holding(account, asset).await;
        let amount = free.min(owed);
        if amount <= Decimal::ZERO {
            return;
        }
        self.run("repay", |sim, now_us| {
            sim.borrow_repay(account, asset, amount, BorrowRepay::Repay, now_us)
        })
        .await;
    }

    /// Keeps the run bounded: every debt repaid as far as balances allow, every asset that
    /// fell below half its starting amount topped up (a deposit).
    async fn tidy(&self) {
        for (account, asset, amount) in funding(self.uid) {
            self.repay(&account, asset).await;
            let (free, _) = self.holding(&account, asset).await;
            if free < amount / Decimal::TWO {
                let top_up = amount - free;
                self.run("top-up", |sim, now_us| {
                    Ok(((), sim.deposit(&account, asset, top_up, now_us)?))
                })
                .await;
            }
        }
    }

    /// Borrows most of what the cross account may and buys with it: the margin level drops
    /// (NORMAL); the price is then pushed down until it crosses the margin-call line.
    async fn start_shock(&mut self) -> Option<()> {
        let symbol = DEMO_PAIRS[usize::from(self.dice.coin())];
        let account = Account::cross(self.uid);
        let market = self.market(symbol).await?;
        self.run("cancel before a margin call", |sim, now_us| {
            sim.cancel_open_orders(&account, symbol, now_us)
        })
        .await;
        let room = self
            .exchange
            .read(|sim| sim.max_borrowable(&account, "USDT"))
            .await
            .ok()
            .and_then(|max| exact(&max.amount))?;
        let loan = floor_to(room * Decimal::new(9, 1), Decimal::ONE)?;
        self.run("borrow before a margin call", |sim, now_us| {
            sim.borrow_repay(&account, "USDT", loan, BorrowRepay::Borrow, now_us)
        })
        .await?;
        let (free, _) = self.holding(&account, "USDT").await;
        let mut request = OrderRequest::new(symbol, Side::Buy, OrderType::Market);
        request.quote_order_qty = Some(floor_to(free * Decimal::new(98, 2), Decimal::ONE)?);
        let bought = self
            .order("leveraged buy", &account, request)
            .await
            .and_then(|placed| placed.result)
            .and_then(|result| exact(&result.executed_qty));
        let Some(bought) = bought.filter(|qty| !qty.is_zero()) else {
            self.repay(&account, "USDT").await;
            return None;
        };
        self.next_shock = self.actions + SHOCK_COOLDOWN;
        self.shock = Some(Shock::Pushing {
            symbol,
            origin: market.price,
            bought,
            steps: 0,
        });
        Some(())
    }

    async fn shock_step(&mut self, walker: &mut Walker) {
        let account = Account::cross(self.uid);
        match self.shock.take() {
            Some(Shock::Pushing {
                symbol,
                origin,
                bought,
                steps,
            }) => {
                self.move_price(walker, symbol, -SHOCK_MOVE).await;
                let (level, line) = self
                    .exchange
                    .read(|sim| {
                        (
                            exact(&sim.cross_account(self.uid).margin_level),
                            sim.config().margin_call_level,
                        )
                    })
                    .await;
                if level.is_some_and(|level| level >= line) && steps + 1 < SHOCK_STEPS {
                    self.shock = Some(Shock::Pushing {
                        symbol,
                        origin,
                        bought,
                        steps: steps + 1,
                    });
                    return;
                }
                // Margin call: the position is sold, its proceeds repay the loan.
                let mut request = OrderRequest::new(symbol, Side::Sell, OrderType::Market);
                request.quantity = Some(bought);
                request.side_effect = SideEffect::AutoRepay;
                self.order("closing a margin call", &account, request).await;
                self.repay(&account, "USDT").await;
                self.shock = Some(Shock::Recovering {
                    symbol,
                    origin,
                    steps: steps + 1,
                });
            }
            Some(Shock::Recovering {
                symbol,
                origin,
                steps,
            }) => {
                let below = self
                    .market(symbol)
                    .await
                    .is_some_and(|market| market.price < origin);
                if below && steps > 0 {
                    self.move_price(walker, symbol, SHOCK_MOVE).await;
                    self.shock = Some(Shock::Recovering {
                        symbol,
                        origin,
                        steps: steps - 1,
                    });
                }
            }
            None => {}
        }
    }

    /// Moves a price by `fraction` (the walk goes on from there).
    async fn move_price(&self, walker: &mut Walker, symbol: &str, fraction: Decimal) {
        let Some(market) = self.market(symbol).await else {
            return;
        };
        let Some(price) = shifted(&market, fraction) else {
            return;
        };
        self.exchange.set_price(symbol, price).await;
        walker.moved(symbol, price);
    }
}
