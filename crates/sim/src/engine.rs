//! The simulator: its state, ids, order validation and placement, and the events helpers
//! every operation shares. Fills live in `fills.rs`, cancels in `cancel.rs`, OCOs in `oco.rs`,
//! money in `funds.rs`, read-only answers in `views.rs`.
//!
//! Every operation takes `now_us` and returns the events it caused, in the order Binance sends
//! them. Ids come from counters and all state lives in ordered maps, so the same requests at
//! the same times give the same events, byte for byte.

use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet};
use userstream_protocol::events::{
    Event, ExecutionType, ExpiryReason, ListOrderStatus, OrderStatus, OrderType,
    SelfTradePreventionMode, Side, TimeInForce, UserLiabilityChange,
};
use userstream_protocol::rest::{Fill, MarginTrade, NewOrderResponse};
use userstream_protocol::{Account, Scope};

use crate::config::{MAX_PRICE, SimConfig, SymbolRules};
use crate::error::SimError;
use crate::events::{FillReport, Report, execution_report};
use crate::ledger::Ledger;
use crate::margin::Valuer;
use crate::matching::{Book, Level, Target};
use crate::num::{MAX_AMOUNT, is_multiple, mul, q8, text};
use crate::order::{Order, has_limit_price, is_stop_type};
pub use crate::requests::{
    AccountEvent, BorrowRepay, Canceled, HistoryQuery, OcoRequest, OrderRef, OrderRequest,
    SideEffect,
};

/// An OCO's own state; its legs are ordinary orders.
#[derive(Debug, Clone)]
pub(crate) struct OcoList {
    pub id: i64,
    pub client_id: String,
    pub account: Account,
    pub symbol: String,
    pub stop_leg: i64,
    pub limit_leg: i64,
    pub status: ListOrderStatus,
    pub updated_us: i64,
}

/// What one account holds, by id: every per-request lookup (client ids, open orders, history)
/// goes through it instead of scanning every user's orders. Kept in step with `orders` and
/// `lists` by [`Simulator::add_order`], [`Simulator::unlist`], [`Simulator::add_list`] and
/// [`Simulator::finish_list`], the only places that change them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Holdings {
    /// Open orders (New, PartiallyFilled), never dropped.
    pub open: BTreeSet<i64>,
    /// Closed orders still kept: at most `max_history` once the next order comes in.
    pub closed: BTreeSet<i64>,
    /// Executing OCO lists, never dropped.
    pub executing_lists: BTreeSet<i64>,
    /// Lists done (ALL_DONE), at most `max_history` once the next list comes in.
    pub done_lists: BTreeSet<i64>,
    /// The account's trades by id (their only home), at most `max_history`.
    pub trades: BTreeMap<i64, MarginTrade>,
}

/// Drops the lowest ids of `ids` until at most `keep` are left; returns them.
fn trim(ids: &mut BTreeSet<i64>, keep: usize) -> Vec<i64> {
    let mut dropped = Vec::new();
    while ids.len() > keep {
        match ids.pop_first() {
            Some(id) => dropped.push(id),
            None => break,
        }
    }
    dropped
}

/// The margin exchange.
#[derive(Debug, Clone)]
pub struct Simulator {
    pub(crate) config: SimConfig,
    pub(crate) prices: BTreeMap<String, Decimal>,
    pub(crate) accounts: BTreeMap<Account, Ledger>,
    /// Every kept order, open or closed, by id.
    pub(crate) orders: BTreeMap<i64, Order>,
    /// Open order ids by symbol (what a price move looks at).
    pub(crate) open_by_symbol: BTreeMap<String, BTreeSet<i64>>,
    /// Every kept OCO list, by id.
    pub(crate) lists: BTreeMap<i64, OcoList>,
    /// Per account: its order and list ids, and its trades.
    pub(crate) holdings: BTreeMap<Account, Holdings>,
    next_order_id: i64,
    pub(crate) next_trade_id: i64,
    next_list_id: i64,
    next_tran_id: i64,
    next_execution_id: i64,
    next_client_id: u64,
}

/// Events collected during one operation.
#[derive(Default)]
pub(crate) struct Out {
    pub events: Vec<AccountEvent>,
}

impl Out {
    pub fn push(&mut self, account: &Account, event: impl Into<Event>) {
        self.events.push(AccountEvent {
            account: account.clone(),
            event: event.into(),
        });
    }

    /// A USER_LIABILITY_CHANGE, for cross accounts only: the margin risk events belong to the
    /// cross margin account (CONTRACT.md §2, docs/protocol.md), as MARGIN_LEVEL_STATUS_CHANGE
    /// does. An isolated pair's loans show in its outboundAccountPosition and its view.
    pub fn liability(&mut self, account: &Account, event: UserLiabilityChange) {
        if account.scope == Scope::Cross {
            self.push(account, event);
        }
    }
}

/// What a placement must lock (and maybe borrow) before it can go on.
struct Funding {
    asset: String,
    amount: Decimal,
}

impl Simulator {
    pub fn new(config: SimConfig) -> Simulator {
        let prices = config
            .symbols
            .iter()
            .map(|rules| (rules.symbol.clone(), rules.initial_price))
            .collect();
        Simulator {
            config,
            prices,
            accounts: BTreeMap::new(),
            orders: BTreeMap::new(),
            open_by_symbol: BTreeMap::new(),
            lists: BTreeMap::new(),
            holdings: BTreeMap::new(),
            next_order_id: 1,
            next_trade_id: 1,
            next_list_id: 1,
            next_tran_id: 1,
            next_execution_id: 1,
            next_client_id: 1,
        }
    }

    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    pub fn rules(&self, symbol: &str) -> Option<&SymbolRules> {
        self.config.symbols.iter().find(|r| r.symbol == symbol)
    }

    pub fn symbols(&self) -> &[SymbolRules] {
        &self.config.symbols
    }

    pub fn price(&self, symbol: &str) -> Option<Decimal> {
        self.prices.get(symbol).copied()
    }

    /// Whether the simulator has touched this account (deposits, orders): hand-published events
    /// for accounts it does not manage pass untouched.
    pub fn manages(&self, account: &Account) -> bool {
        self.accounts.contains_key(account)
    }

    pub(crate) fn valuer(&self) -> Valuer<'_> {
        Valuer {
            prices: &self.prices,
            symbols: &self.config.symbols,
        }
    }

    pub(crate) fn ledger_mut(&mut self, account: &Account) -> &mut Ledger {
        self.accounts.entry(account.clone()).or_default()
    }

    pub(crate) fn ledger(&self, account: &Account) -> Ledger {
        self.accounts.get(account).cloned().unwrap_or_default()
    }

    pub(crate) fn next_tran_id(&mut self) -> i64 {
        let id = self.next_tran_id;
        self.next_tran_id += 1;
        id
    }

    pub(crate) fn take_order_id(&mut self) -> i64 {
        let id = self.next_order_id;
        self.next_order_id += 1;
        id
    }

    pub(crate) fn take_list_id(&mut self) -> i64 {
        let id = self.next_list_id;
        self.next_list_id += 1;
        id
    }

    /// Files a new open order under its account and symbol, first dropping the account's
    /// oldest closed orders beyond `max_history`.
    pub(crate) fn add_order(&mut self, order: Order) {
        let id = order.order_id;
        self.open_by_symbol
            .entry(order.symbol.clone())
            .or_default()
            .insert(id);
        let holdings = self.holdings.entry(order.account.clone()).or_default();
        holdings.open.insert(id);
        for dropped in trim(&mut holdings.closed, self.config.max_history) {
            self.orders.remove(&dropped);
        }
        self.orders.insert(id, order);
    }

    /// An order left the book (filled, canceled, expired): it moves to its account's closed
    /// orders. The caller sets its status.
    pub(crate) fn unlist(&mut self, order_id: i64) {
        let Some(order) = self.orders.get(&order_id) else {
            return;
        };
        if let Some(ids) = self.open_by_symbol.get_mut(&order.symbol) {
            ids.remove(&order_id);
        }
        if let Some(holdings) = self.holdings.get_mut(&order.account)
            && holdings.open.remove(&order_id)
        {
            holdings.closed.insert(order_id);
        }
    }

    /// Files a new executing list, first dropping the account's oldest done lists beyond
    /// `max_history`.
    pub(crate) fn add_list(&mut self, list: OcoList) {
        let holdings = self.holdings.entry(list.account.clone()).or_default();
        holdings.executing_lists.insert(list.id);
        for dropped in trim(&mut holdings.done_lists, self.config.max_history) {
            self.lists.remove(&dropped);
        }
        self.lists.insert(list.id, list);
    }

    /// A list is done (ALL_DONE). Returns false when it was not executing (or is unknown).
    pub(crate) fn finish_list(&mut self, list_id: i64, now_us: i64) -> bool {
        let Some(list) = self.lists.get_mut(&list_id) else {
            return false;
        };
        let was_executing = list.status == ListOrderStatus::Executing;
        list.status = ListOrderStatus::AllDone;
        list.updated_us = now_us;
        if let Some(holdings) = self.holdings.get_mut(&list.account)
            && holdings.executing_lists.remove(&list_id)
        {
            holdings.done_lists.insert(list_id);
        }
        was_executing
    }

    /// Keeps a trade with its account's, dropping the oldest beyond `max_history`.
    pub(crate) fn add_trade(&mut self, account: &Account, trade: MarginTrade) {
        let keep = self.config.max_history;
        let trades = &mut self.holdings.entry(account.clone()).or_default().trades;
        trades.insert(trade.id, trade);
        while trades.len() > keep && trades.pop_first().is_some() {}
    }

    /// The account's open orders on `symbol`.
    pub(crate) fn open_ids(&self, account: &Account, symbol: &str) -> Vec<i64> {
        self.holdings
            .get(account)
            .map(|h| {
                h.open
                    .iter()
                    .copied()
                    .filter(|id| self.orders.get(id).is_some_and(|o| o.symbol == symbol))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// MAX_NUM_ORDERS: refuses `adding` more open orders when the account would then have more
    /// than `max_num_orders` open on `symbol`.
    pub(crate) fn check_open_room(
        &self,
        account: &Account,
        symbol: &str,
        adding: usize,
    ) -> Result<(), SimError> {
        let open = self.open_ids(account, symbol).len();
        if open.saturating_add(adding) > self.config.max_num_orders {
            return Err(SimError::Filter("MAX_NUM_ORDERS"));
        }
        Ok(())
    }

    pub(crate) fn next_execution_id(&mut self) -> i64 {
        let id = self.next_execution_id;
        self.next_execution_id += 1;
        id
    }

    /// A generated client order id: 22 characters like Binance's, from a counter.
    pub(crate) fn generated_client_id(&mut self) -> String {
        let n = self.next_client_id;
        self.next_client_id += 1;
        format!("sim{n:019}")
    }

    /// The rules of `symbol` for an order of `account` (an isolated account trades its pair only).
    pub(crate) fn trading_rules(
        &self,
        account: &Account,
        symbol: &str,
    ) -> Result<SymbolRules, SimError> {
        if let Scope::Isolated(pair) = &account.scope
            && pair != symbol
        {
            return Err(SimError::BadSymbol);
        }
        self.rules(symbol).cloned().ok_or(SimError::BadSymbol)
    }

    pub(crate) fn book<'a>(&self, rules: &'a SymbolRules) -> Book<'a> {
        Book {
            rules,
            market: self.price(&rules.symbol).unwrap_or(rules.initial_price),
            slippage: self.config.slippage,
            liquidity: self.config.liquidity,
        }
    }

    pub(crate) fn leverage(&self, account: &Account) -> Decimal {
        match account.scope {
            Scope::Cross => self.config.cross_leverage,
            Scope::Isolated(_) => self.config.isolated_leverage,
        }
    }

    /// Locks `funding` for a new order, borrowing what is missing when the side effect allows.
    /// Returns the amount borrowed.
    fn fund(
        &mut self,
        account: &Account,
        funding: &Funding,
        side_effect: SideEffect,
    ) -> Result<Decimal, SimError> {
        let free = self.ledger(account).free(&funding.asset);
        let mut borrowed = Decimal::ZERO;
        if free < funding.amount {
            if !side_effect.borrows() {
                return Err(SimError::InsufficientBalance);
            }
            let missing = funding.amount - free;
            let ledger = self.ledger(account);
            let max = self.valuer().max_borrowable(
                &ledger,
                &funding.asset,
                self.leverage(account),
                &self.config,
            );
            if missing > max {
                return Err(SimError::ExceedMaxBorrowable);
            }
            borrowed = missing;
        }
        Ok(borrowed)
    }

    /// Takes a loan into the free balance (no events).
    pub(crate) fn take_loan(
        &mut self,
        account: &Account,
        asset: &str,
        amount: Decimal,
        now_us: i64,
    ) {
        let hour = now_us.div_euclid(crate::funds::HOUR_US);
        let ledger = self.ledger_mut(account);
        let balance = ledger.entry(asset);
        balance.free += amount;
        balance.borrowed += amount;
        if balance.interest_hour.is_none() {
            balance.interest_hour = Some(hour);
        }
        ledger.updated_us = now_us;
    }

    /// Checks an order's parameters and filters; returns (quantity, price, stop price).
    fn validate(
        &self,
        rules: &SymbolRules,
        order: &OrderRequest,
    ) -> Result<(Option<Decimal>, Decimal, Decimal), SimError> {
        let t = order.order_type;
        let needs_price = has_limit_price(t);
        let needs_stop = is_stop_type(t);
        let needs_tif = matches!(
            t,
            OrderType::Limit | OrderType::StopLossLimit | OrderType::TakeProfitLimit
        );
        if t == OrderType::Market {
            match (order.quantity, order.quote_order_qty) {
                (None, None) => return Err(SimError::QuantityOrQuote),
                (Some(_), Some(_)) => return Err(SimError::ParamNotRequired("quoteOrderQty")),
                _ => {}
            }
        } else {
            if order.quantity.is_none() {
                return Err(SimError::MandatoryParam("quantity"));
            }
            if order.quote_order_qty.is_some() {
                return Err(SimError::ParamNotRequired("quoteOrderQty"));
            }
        }
        let price = match (needs_price, order.price) {
            (true, Some(price)) => price,
            (true, None) => return Err(SimError::MandatoryParam("price")),
            (false, Some(_)) => return Err(SimError::ParamNotRequired("price")),
            (false, None) => Decimal::ZERO,
        };
        let stop = match (needs_stop, order.stop_price) {
            (true, Some(stop)) => stop,
            (true, None) => return Err(SimError::MandatoryParam("stopPrice")),
            (false, Some(_)) => return Err(SimError::ParamNotRequired("stopPrice")),
            (false, None) => Decimal::ZERO,
        };
        match (needs_tif, order.time_in_force) {
            (true, None) => return Err(SimError::MandatoryParam("timeInForce")),
            (false, Some(_)) => return Err(SimError::ParamNotRequired("timeInForce")),
            _ => {}
        }
        if needs_price {
            check_price(rules, price)?;
        }
        if needs_stop {
            check_price(rules, stop)?;
        }
        if let Some(qty) = order.quantity {
            check_qty(rules, qty)?;
            let reference = if needs_price {
                price
            } else if needs_stop {
                stop
            } else {
                self.price(&rules.symbol).unwrap_or(rules.initial_price)
            };
            if mul(qty, reference) < rules.min_notional {
                return Err(SimError::Filter("NOTIONAL"));
            }
        }
        if let Some(quote) = order.quote_order_qty
            && (quote < rules.min_notional || quote <= Decimal::ZERO || quote > MAX_AMOUNT)
        {
            return Err(SimError::Filter("NOTIONAL"));
        }
        Ok((order.quantity, price, stop))
    }

    /// Refuses a client order id an open order of the account and symbol already has.
    pub(crate) fn check_duplicate(
        &self,
        account: &Account,
        symbol: &str,
        client_id: Option<&str>,
    ) -> Result<(), SimError> {
        let Some(client_id) = client_id else {
            return Ok(());
        };
        let duplicate = self.holdings.get(account).is_some_and(|h| {
            h.open
                .iter()
                .filter_map(|id| self.orders.get(id))
                .any(|o| o.symbol == symbol && o.client_order_id == client_id)
        });
        if duplicate {
            Err(SimError::DuplicateOrder)
        } else {
            Ok(())
        }
    }

    /// The FULL answer; the server trims it to ACK or RESULT.
    pub fn place_order(
        &mut self,
        account: &Account,
        order: OrderRequest,
        now_us: i64,
    ) -> Result<(NewOrderResponse, Vec<AccountEvent>), SimError> {
        let rules = self.trading_rules(account, &order.symbol)?;
        let (quantity, price, stop) = self.validate(&rules, &order)?;
        self.check_duplicate(account, &order.symbol, order.new_client_order_id.as_deref())?;
        self.check_open_room(account, &order.symbol, 1)?;
        let book = self.book(&rules);
        let market = book.market;
        let t = order.order_type;
        let tif = order.time_in_force.unwrap_or(TimeInForce::Gtc);
        if t == OrderType::LimitMaker && book.marketable(order.side, price) {
            return Err(SimError::WouldMatch);
        }
        if is_stop_type(t) && crate::order::stop_condition(t, order.side, stop, market) {
            return Err(SimError::WouldTrigger);
        }
        // The fills a taker gets now (MARKET, and marketable LIMIT).
        let plan: Vec<Level> = match t {
            OrderType::Market => {
                let target = match (quantity, order.quote_order_qty) {
                    (Some(qty), _) => Target::Base(qty),
                    (None, Some(quote)) => Target::Quote(quote),
                    (None, None) => return Err(SimError::QuantityOrQuote),
                };
                book.plan(order.side, None, target, None)
            }
            OrderType::Limit => book.plan(
                order.side,
                Some(price),
                Target::Base(quantity.unwrap_or_default()),
                None,
            ),
            _ => Vec::new(),
        };
        let planned: Decimal = plan.iter().map(|l| l.qty).sum();
        let orig_qty = match quantity {
            Some(qty) => qty,
            None => planned,
        };
        if orig_qty <= Decimal::ZERO {
            return Err(SimError::Filter("LOT_SIZE"));
        }
        let fok_fails = t == OrderType::Limit && tif == TimeInForce::Fok && planned < orig_qty;
        let funding = match order.side {
            Side::Sell => Funding {
                asset: rules.base.clone(),
                amount: orig_qty,
            },
            Side::Buy => Funding {
                asset: rules.quote.clone(),
                amount: match t {
                    OrderType::Market => plan.iter().map(|l| q8(l.qty * l.price)).sum(),
                    OrderType::StopLoss | OrderType::TakeProfit => q8(mul(orig_qty, stop)),
                    _ => q8(mul(orig_qty, price)),
                },
            },
        };
        let borrowed = self.fund(account, &funding, order.side_effect)?;

        // Accepted: from here on nothing is refused.
        let mut out = Out::default();
        if borrowed > Decimal::ZERO {
            self.take_loan(account, &funding.asset, borrowed, now_us);
        }
        let order_id = self.take_order_id();
        let client_order_id = match order.new_client_order_id {
            Some(id) => id,
            None => self.generated_client_id(),
        };
        let stop_type = is_stop_type(t);
        let new_order = Order {
            account: account.clone(),
            symbol: rules.symbol.clone(),
            base: rules.base.clone(),
            quote: rules.quote.clone(),
            order_id,
            client_order_id,
            side: order.side,
            order_type: t,
            time_in_force: tif,
            orig_qty,
            price,
            stop_price: stop,
            quote_order_qty: order.quote_order_qty.unwrap_or_default(),
            status: OrderStatus::New,
            executed_qty: Decimal::ZERO,
            cumulative_quote: Decimal::ZERO,
            created_us: now_us,
            updated_us: now_us,
            working: !stop_type,
            working_time_us: now_us,
            triggered: false,
            side_effect: order.side_effect,
            locked: funding.amount,
            lock_asset: funding.asset.clone(),
            borrowed,
            repay_at_cancel: order.auto_repay_at_cancel,
            order_list_id: -1,
            stp: order
                .self_trade_prevention_mode
                .unwrap_or(SelfTradePreventionMode::None),
        };
        self.ledger_mut(account)
            .lock(&funding.asset, funding.amount);
        self.ledger_mut(account).updated_us = now_us;
        self.add_order(new_order);
        self.report(order_id, ExecutionType::New, None, now_us, &mut out);
        self.position(account, [funding.asset.clone()], now_us, &mut out);
        if borrowed > Decimal::ZERO {
            out.liability(
                account,
                crate::events::liability_change(
                    &funding.asset,
                    "BORROW",
                    borrowed,
                    Decimal::ZERO,
                    now_us,
                ),
            );
        }
        let mut fills = Vec::new();
        if !fok_fails {
            for level in &plan {
                if let Some(fill) = self.apply_fill(order_id, *level, false, now_us, &mut out) {
                    fills.push(fill);
                }
            }
        }
        self.finish_taker(order_id, fok_fails, now_us, &mut out);
        self.check_margin(account, now_us, &mut out);
        let Some(placed) = self.orders.get(&order_id) else {
            return Err(SimError::OrderNotFound);
        };
        let response = NewOrderResponse {
            symbol: placed.symbol.clone(),
            order_id,
            client_order_id: placed.client_order_id.clone(),
            is_isolated: account.scope.isolated_symbol().is_some(),
            transact_time: now_us.div_euclid(1000),
            result: Some(placed.state()),
            margin_buy_borrow_amount: (borrowed > Decimal::ZERO).then(|| text(borrowed)),
            margin_buy_borrow_asset: (borrowed > Decimal::ZERO).then(|| funding.asset.clone()),
            fills: Some(
                fills
                    .into_iter()
                    .map(|f| Fill {
                        price: text(f.price),
                        qty: text(f.qty),
                        commission: text(f.commission),
                        commission_asset: f.commission_asset,
                        trade_id: f.trade_id,
                    })
                    .collect(),
            ),
        };
        Ok((response, out.events))
    }

    /// After a taker's fills: MARKET and IOC remainders expire, FOK expires whole, GTC rests.
    pub(crate) fn finish_taker(
        &mut self,
        order_id: i64,
        fok_failed: bool,
        now_us: i64,
        out: &mut Out,
    ) {
        let Some(order) = self.orders.get(&order_id) else {
            return;
        };
        if !order.is_open() || (order.is_stop() && !order.triggered) {
            return;
        }
        let reason = if fok_failed {
            Some(ExpiryReason::UnfilledFokOrderExpired)
        } else if matches!(
            order.order_type,
            OrderType::Market | OrderType::StopLoss | OrderType::TakeProfit
        ) {
            Some(ExpiryReason::InsufficientLiquidity)
        } else if order.working && order.time_in_force == TimeInForce::Ioc {
            Some(ExpiryReason::UnfilledIocQuantityExpired)
        } else if order.working && order.time_in_force == TimeInForce::Fok {
            Some(ExpiryReason::UnfilledFokOrderExpired)
        } else {
            None
        };
        if let Some(reason) = reason {
            self.close(order_id, OrderStatus::Expired, now_us);
            self.report_with(
                order_id,
                ExecutionType::Expired,
                None,
                None,
                Some(reason),
                now_us,
                out,
            );
            if let Some(order) = self.orders.get(&order_id) {
                let (account, asset) = (order.account.clone(), order.lock_asset.clone());
                self.position(&account, [asset], now_us, out);
            }
        }
    }

    /// Ends an order: status, off the book, its lock released (no events).
    pub(crate) fn close(&mut self, order_id: i64, status: OrderStatus, now_us: i64) {
        let Some(order) = self.orders.get_mut(&order_id) else {
            return;
        };
        order.status = status;
        order.working = false;
        order.updated_us = now_us;
        let (account, asset, locked) = (
            order.account.clone(),
            order.lock_asset.clone(),
            order.locked,
        );
        order.locked = Decimal::ZERO;
        self.unlist(order_id);
        let ledger = self.ledger_mut(&account);
        ledger.unlock(&asset, locked);
        ledger.updated_us = now_us;
    }

    /// Pushes an executionReport of the order's current state.
    pub(crate) fn report(
        &mut self,
        order_id: i64,
        execution_type: ExecutionType,
        fill: Option<&FillReport>,
        now_us: i64,
        out: &mut Out,
    ) {
        self.report_with(order_id, execution_type, fill, None, None, now_us, out);
    }

    /// [`Simulator::report`] with a cancel's client ids or an expiry reason.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn report_with(
        &mut self,
        order_id: i64,
        execution_type: ExecutionType,
        fill: Option<&FillReport>,
        cancel_client_id: Option<&str>,
        expiry_reason: Option<ExpiryReason>,
        now_us: i64,
        out: &mut Out,
    ) {
        let execution_id = self.next_execution_id();
        let Some(order) = self.orders.get(&order_id) else {
            return;
        };
        let report = execution_report(
            order,
            Report {
                execution_type,
                orig_client_order_id: cancel_client_id.map(|_| order.client_order_id.as_str()),
                client_order_id: cancel_client_id,
                fill,
                expiry_reason,
                execution_id,
            },
            now_us,
        );
        let account = order.account.clone();
        out.push(&account, report);
    }

    /// Pushes an outboundAccountPosition with the `assets` of `account`.
    pub(crate) fn position<I: IntoIterator<Item = String>>(
        &mut self,
        account: &Account,
        assets: I,
        now_us: i64,
        out: &mut Out,
    ) {
        let assets: BTreeSet<String> = assets.into_iter().collect();
        let ledger = self.ledger_mut(account);
        ledger.updated_us = now_us;
        let event = ledger.position(&assets, now_us);
        out.push(account, event);
    }

    /// The id of the account's order on `symbol` named by `target`. For a client id: the open
    /// order that has it, else the newest closed one still kept.
    pub(crate) fn find(
        &self,
        account: &Account,
        symbol: &str,
        target: &OrderRef,
    ) -> Result<i64, SimError> {
        let found = match target {
            OrderRef::Id(id) => self
                .orders
                .get(id)
                .filter(|o| &o.account == account && o.symbol == symbol)
                .map(|o| o.order_id),
            OrderRef::ClientId(client_id) => self.holdings.get(account).and_then(|h| {
                let named = |id: &&i64| {
                    self.orders
                        .get(id)
                        .is_some_and(|o| o.symbol == symbol && &o.client_order_id == client_id)
                };
                h.open
                    .iter()
                    .rev()
                    .find(named)
                    .or_else(|| h.closed.iter().rev().find(named))
                    .copied()
            }),
        };
        found.ok_or(SimError::OrderNotFound)
    }
}

/// PRICE_FILTER: positive, at most `MAX_PRICE`, a multiple of the tick.
pub(crate) fn check_price(rules: &SymbolRules, price: Decimal) -> Result<(), SimError> {
    if price < rules.tick_size || price > MAX_PRICE || !is_multiple(price, rules.tick_size) {
        return Err(SimError::Filter("PRICE_FILTER"));
    }
    Ok(())
}

/// LOT_SIZE: within [minQty, maxQty] and on the step.
pub(crate) fn check_qty(rules: &SymbolRules, qty: Decimal) -> Result<(), SimError> {
    if qty < rules.min_qty
        || qty > rules.max_qty
        || !is_multiple(qty - rules.min_qty, rules.step_size)
    {
        return Err(SimError::Filter("LOT_SIZE"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(client_id: &str) -> OrderRequest {
        let mut order = OrderRequest::new("BTCUSDT", Side::Buy, OrderType::Limit);
        order.quantity = Some(Decimal::new(1, 4));
        order.price = Some(Decimal::new(90_000, 0));
        order.time_in_force = Some(TimeInForce::Gtc);
        order.new_client_order_id = Some(client_id.to_owned());
        order
    }

    /// An older open order and a newer closed one with the same client id (placement refuses
    /// that, so the state is made by hand): the client id names the open one.
    #[test]
    fn a_client_id_names_the_open_order_before_a_closed_one() {
        let mut sim = Simulator::new(SimConfig::default());
        let account = Account::cross(1);
        sim.deposit(&account, "USDT", Decimal::new(100_000, 0), 1)
            .unwrap();
        let (open, _) = sim.place_order(&account, limit("same"), 2).unwrap();
        let (newer, _) = sim.place_order(&account, limit("other"), 3).unwrap();
        sim.cancel_order(&account, "BTCUSDT", &OrderRef::Id(newer.order_id), None, 4)
            .unwrap();
        if let Some(order) = sim.orders.get_mut(&newer.order_id) {
            order.client_order_id = "same".to_owned();
        }
        let named = OrderRef::ClientId("same".to_owned());
        assert_eq!(sim.find(&account, "BTCUSDT", &named), Ok(open.order_id));
        let (canceled, _) = sim
            .cancel_order(&account, "BTCUSDT", &named, None, 5)
            .unwrap();
        assert_eq!(canceled.order_id, open.order_id);
        // Both closed now: the newest.
        assert_eq!(sim.find(&account, "BTCUSDT", &named), Ok(newer.order_id));
        // Another account never sees them.
        assert_eq!(
            sim.find(&Account::cross(2), "BTCUSDT", &named),
            Err(SimError::OrderNotFound)
        );
    }

    /// The per-account and per-symbol indexes say what the orders and lists say.
    #[test]
    fn indexes_agree_with_the_orders() {
        let mut sim = Simulator::new(SimConfig::default());
        let account = Account::cross(1);
        sim.deposit(&account, "USDT", Decimal::new(100_000, 0), 1)
            .unwrap();
        sim.deposit(&account, "BTC", Decimal::ONE, 1).unwrap();
        for n in 0..4 {
            let (placed, _) = sim
                .place_order(&account, limit(&format!("c{n}")), 2)
                .unwrap();
            if n % 2 == 0 {
                sim.cancel_order(&account, "BTCUSDT", &OrderRef::Id(placed.order_id), None, 3)
                    .unwrap();
            }
        }
        let oco = OcoRequest::new(
            "BTCUSDT",
            Side::Sell,
            Decimal::new(1, 2),
            Decimal::new(99_000, 0),
            Decimal::new(90_000, 0),
        );
        sim.place_oco(&account, oco, 4).unwrap();
        // The price falls through the stop: the stop leg triggers, the limit leg expires.
        sim.set_price("BTCUSDT", Decimal::new(89_000, 0), 5)
            .unwrap();
        let holdings = &sim.holdings[&account];
        for (id, order) in &sim.orders {
            assert_eq!(holdings.open.contains(id), order.is_open(), "order {id}");
            assert_eq!(holdings.closed.contains(id), !order.is_open(), "order {id}");
            assert_eq!(
                sim.open_by_symbol["BTCUSDT"].contains(id),
                order.is_open(),
                "order {id}"
            );
        }
        for (id, list) in &sim.lists {
            let executing = list.status == ListOrderStatus::Executing;
            assert_eq!(holdings.executing_lists.contains(id), executing);
            assert_eq!(holdings.done_lists.contains(id), !executing);
        }
        assert_eq!(holdings.done_lists.len(), 1);
        assert!(!holdings.trades.is_empty());
    }
}
