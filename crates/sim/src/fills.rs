//! Fills: how an order executes, when prices move, when a stop triggers, and by hand (admin).

use rust_decimal::Decimal;
use userstream_protocol::Account;
use userstream_protocol::events::{ExecutionType, OrderStatus, Side, TimeInForce};
use userstream_protocol::rest::{MarginOrder, MarginTrade};

use crate::engine::{AccountEvent, OrderRef, Out, Simulator, check_price};
use crate::error::SimError;
use crate::events::FillReport;
use crate::matching::{Level, Target};
use crate::num::{is_multiple, q8, q8_down, text};
use crate::order::Order;

impl Simulator {
    /// Fills `level.qty` of an open order at `level.price`: balances, commission, the trade,
    /// its executionReport TRADE and outboundAccountPosition, then AUTO_REPAY.
    pub(crate) fn apply_fill(
        &mut self,
        order_id: i64,
        level: Level,
        maker: bool,
        now_us: i64,
        out: &mut Out,
    ) -> Option<FillReport> {
        let order = self.orders.get(&order_id)?.clone();
        if !order.is_open() || level.qty <= Decimal::ZERO {
            return None;
        }
        if order.order_list_id >= 0 {
            self.end_list_for(order_id, now_us, out);
        }
        let order = self.orders.get(&order_id)?.clone();
        let qty = level.qty.min(order.remaining());
        let price = level.price;
        let rate = if maker {
            self.config.maker_commission
        } else {
            self.config.taker_commission
        };
        let cost = q8(qty * price);
        // A buy pays the quote cost and receives the base; a sell the other way round. What is
        // paid comes out of the order's lock first, then out of free; the commission is taken
        // from what is received.
        let (paid_asset, paid, received_asset, gross) = match order.side {
            Side::Buy => (order.quote.clone(), cost, order.base.clone(), qty),
            Side::Sell => (order.base.clone(), qty, order.quote.clone(), cost),
        };
        let commission = q8_down(gross * rate);
        let received = gross - commission;
        let mut locked = order.locked;
        {
            let ledger = self.ledger_mut(&order.account);
            let take = paid.min(locked);
            locked -= take;
            let balance = ledger.entry(&paid_asset);
            balance.locked -= take;
            balance.free -= paid - take;
            ledger.entry(&received_asset).free += received;
            ledger.updated_us = now_us;
        }
        let trade_id = self.next_trade_id;
        self.next_trade_id += 1;
        let executed = order.executed_qty + qty;
        let filled = executed >= order.orig_qty;
        // A buy at a better price than its limit gives back what the rest no longer needs.
        let keep = if filled {
            Decimal::ZERO
        } else if order.side == Side::Buy && order.price > Decimal::ZERO {
            q8((order.orig_qty - executed) * order.price).min(locked)
        } else {
            locked
        };
        let release = locked - keep;
        if release > Decimal::ZERO {
            self.ledger_mut(&order.account)
                .unlock(&order.lock_asset, release);
        }
        if let Some(o) = self.orders.get_mut(&order_id) {
            o.executed_qty = executed;
            o.cumulative_quote += cost;
            o.locked = keep;
            o.updated_us = now_us;
            o.status = if filled {
                OrderStatus::Filled
            } else {
                OrderStatus::PartiallyFilled
            };
            if filled {
                o.working = false;
            }
        }
        if filled {
            self.unlist(order_id);
        }
        self.add_trade(
            &order.account,
            MarginTrade {
                commission: text(commission),
                commission_asset: received_asset.clone(),
                id: trade_id,
                is_best_match: true,
                is_buyer: order.side == Side::Buy,
                is_maker: maker,
                order_id,
                price: text(price),
                qty: text(qty),
                symbol: order.symbol.clone(),
                is_isolated: order.account.scope.isolated_symbol().is_some(),
                time: now_us.div_euclid(1000),
            },
        );
        let fill = FillReport {
            qty,
            price,
            commission,
            commission_asset: received_asset.clone(),
            trade_id,
            maker,
        };
        self.report(order_id, ExecutionType::Trade, Some(&fill), now_us, out);
        self.position(
            &order.account,
            [order.base.clone(), order.quote.clone()],
            now_us,
            out,
        );
        if order.side_effect.repays() {
            self.auto_repay(&order.account, &received_asset, received, now_us, out);
        }
        Some(fill)
    }

    /// Moves the price; resting orders it crosses fill, stops trigger, margin levels re-checked.
    /// The price must pass the symbol's PRICE_FILTER (on the tick, at most `MAX_PRICE`; round
    /// prices from elsewhere with [`SymbolRules::on_tick`](crate::SymbolRules::on_tick)).
    pub fn set_price(
        &mut self,
        symbol: &str,
        price: Decimal,
        now_us: i64,
    ) -> Result<Vec<AccountEvent>, SimError> {
        let rules = self.rules(symbol).cloned().ok_or(SimError::BadSymbol)?;
        check_price(&rules, price)?;
        self.prices.insert(symbol.to_owned(), price);
        let mut out = Out::default();
        let ids: Vec<i64> = self
            .open_by_symbol
            .get(symbol)
            .map(|ids| ids.iter().copied().collect())
            .unwrap_or_default();
        for id in ids {
            let Some(order) = self.orders.get(&id).cloned() else {
                continue;
            };
            if !order.is_open() {
                continue;
            }
            if order.is_stop() && !order.triggered {
                if order.triggers_at(price) {
                    self.trigger(id, now_us, &mut out);
                }
                continue;
            }
            if order.working && order.has_limit() {
                let crosses = match order.side {
                    Side::Buy => price <= order.price,
                    Side::Sell => price >= order.price,
                };
                if crosses {
                    let qty = self
                        .book(&rules)
                        .level_qty(order.price)
                        .min(order.remaining());
                    let level = Level {
                        price: order.price,
                        qty,
                    };
                    self.apply_fill(id, level, true, now_us, &mut out);
                }
            }
        }
        self.check_all_margins(now_us, &mut out);
        Ok(out.events)
    }

    /// A stop order's condition held: a stop-market fills as a taker now, a stop-limit starts
    /// working (and takes what it can if its limit is marketable).
    pub(crate) fn trigger(&mut self, order_id: i64, now_us: i64, out: &mut Out) {
        let Some(order) = self.orders.get(&order_id).cloned() else {
            return;
        };
        if order.order_list_id >= 0 {
            self.end_list_for(order_id, now_us, out);
        }
        let Some(order) = self.orders.get_mut(&order_id) else {
            return;
        };
        order.triggered = true;
        order.working = true;
        order.working_time_us = now_us;
        order.updated_us = now_us;
        let order = order.clone();
        let Some(rules) = self.rules(&order.symbol).cloned() else {
            return;
        };
        let book = self.book(&rules);
        let limit = order.has_limit().then_some(order.price);
        if order.has_limit() && !book.marketable(order.side, order.price) {
            return;
        }
        let budget = match order.side {
            Side::Buy => Some(order.locked + self.ledger(&order.account).free(&order.quote)),
            Side::Sell => None,
        };
        let plan = book.plan(order.side, limit, Target::Base(order.remaining()), budget);
        let planned: Decimal = plan.iter().map(|l| l.qty).sum();
        let fok_fails = order.time_in_force == TimeInForce::Fok
            && order.has_limit()
            && planned < order.remaining();
        if !fok_fails {
            for level in plan {
                self.apply_fill(order_id, level, false, now_us, out);
            }
        }
        self.finish_taker(order_id, fok_fails, now_us, out);
        if let Some(order) = self.orders.get(&order_id) {
            let account = order.account.clone();
            self.check_margin(&account, now_us, out);
        }
    }

    /// Admin: fills an open order now, at `price` (default: its limit price, else the market),
    /// for `quantity` (default: all that is left).
    pub fn fill_order(
        &mut self,
        account: &Account,
        symbol: &str,
        target: &OrderRef,
        price: Option<Decimal>,
        quantity: Option<Decimal>,
        now_us: i64,
    ) -> Result<(MarginOrder, Vec<AccountEvent>), SimError> {
        let rules = self.trading_rules(account, symbol)?;
        let order_id = self.find(account, symbol, target)?;
        let order = self
            .orders
            .get(&order_id)
            .cloned()
            .ok_or(SimError::OrderNotFound)?;
        if !order.is_open() {
            return Err(SimError::OrderNotFound);
        }
        let market = self.price(symbol).unwrap_or(rules.initial_price);
        let price = match price {
            Some(price) => {
                check_price(&rules, price)?;
                price
            }
            None if order.has_limit() => order.price,
            None => market,
        };
        let qty = quantity.unwrap_or(order.remaining());
        if qty <= Decimal::ZERO || qty > order.remaining() {
            return Err(SimError::InvalidParam("quantity"));
        }
        if !is_multiple(qty, rules.step_size) {
            return Err(SimError::Filter("LOT_SIZE"));
        }
        let ledger = self.ledger(account);
        let affordable = match order.side {
            Side::Buy => q8(qty * price) <= order.locked + ledger.free(&order.quote),
            Side::Sell => qty <= order.locked + ledger.free(&order.base),
        };
        if !affordable {
            return Err(SimError::InsufficientBalance);
        }
        let mut out = Out::default();
        if order.is_stop() && !order.triggered {
            if order.order_list_id >= 0 {
                self.end_list_for(order_id, now_us, &mut out);
            }
            if let Some(o) = self.orders.get_mut(&order_id) {
                o.triggered = true;
                o.working = true;
                o.working_time_us = now_us;
            }
        }
        let maker = order.has_limit() && order.working;
        self.apply_fill(order_id, Level { price, qty }, maker, now_us, &mut out);
        self.check_margin(account, now_us, &mut out);
        let view = self
            .orders
            .get(&order_id)
            .map(Order::view)
            .ok_or(SimError::OrderNotFound)?;
        Ok((view, out.events))
    }
}
