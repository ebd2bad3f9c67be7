//! OCO order lists: a LIMIT_MAKER leg and a STOP_LOSS(_LIMIT) leg; the first to fill or
//! trigger expires the other.

use rust_decimal::Decimal;
use userstream_protocol::Account;
use userstream_protocol::events::{
    ExecutionType, ExpiryReason, ListOrderStatus, ListStatusType, OrderStatus, OrderType,
    SelfTradePreventionMode, Side, TimeInForce,
};
use userstream_protocol::rest::{ListMember, ListOrderReport, OrderList};

use crate::engine::{AccountEvent, OcoList, OcoRequest, Out, Simulator, check_price, check_qty};
use crate::error::SimError;
use crate::events::list_status;
use crate::num::{mul, q8, text};
use crate::order::Order;

impl Simulator {
    pub fn place_oco(
        &mut self,
        account: &Account,
        oco: OcoRequest,
        now_us: i64,
    ) -> Result<(OrderList, Vec<AccountEvent>), SimError> {
        let rules = self.trading_rules(account, &oco.symbol)?;
        check_qty(&rules, oco.quantity)?;
        check_price(&rules, oco.price)?;
        check_price(&rules, oco.stop_price)?;
        if let Some(stop_limit) = oco.stop_limit_price {
            check_price(&rules, stop_limit)?;
            if oco.stop_limit_time_in_force.is_none() {
                return Err(SimError::MandatoryParam("stopLimitTimeInForce"));
            }
        }
        let lowest = oco
            .price
            .min(oco.stop_limit_price.unwrap_or(oco.stop_price));
        if mul(oco.quantity, lowest.min(oco.stop_price)) < rules.min_notional {
            return Err(SimError::Filter("NOTIONAL"));
        }
        let market = self.price(&oco.symbol).unwrap_or(rules.initial_price);
        let ordered = match oco.side {
            Side::Sell => oco.price > market && market > oco.stop_price,
            Side::Buy => oco.price < market && market < oco.stop_price,
        };
        if !ordered {
            return Err(SimError::OcoPrices);
        }
        for id in [&oco.limit_client_order_id, &oco.stop_client_order_id] {
            self.check_duplicate(account, &oco.symbol, id.as_deref())?;
        }
        // Two legs, one client id: two open orders would share it.
        if oco.limit_client_order_id.is_some()
            && oco.limit_client_order_id == oco.stop_client_order_id
        {
            return Err(SimError::DuplicateOrder);
        }
        // listClientOrderId is unique among the account's executing lists, as on Binance.
        if let Some(list_id) = &oco.list_client_order_id
            && self.holdings.get(account).is_some_and(|h| {
                h.executing_lists
                    .iter()
                    .filter_map(|id| self.lists.get(id))
                    .any(|list| &list.client_id == list_id)
            })
        {
            return Err(SimError::DuplicateOrder);
        }
        self.check_open_room(account, &oco.symbol, 2)?;
        let (lock_asset, lock) = match oco.side {
            Side::Sell => (rules.base.clone(), oco.quantity),
            Side::Buy => {
                let stop_side = oco.stop_limit_price.unwrap_or(oco.stop_price);
                (
                    rules.quote.clone(),
                    q8(mul(oco.quantity, oco.price.max(stop_side))),
                )
            }
        };
        let free = self.ledger(account).free(&lock_asset);
        let mut borrowed = Decimal::ZERO;
        if free < lock {
            if !oco.side_effect.borrows() {
                return Err(SimError::InsufficientBalance);
            }
            let ledger = self.ledger(account);
            let max = self.valuer().max_borrowable(
                &ledger,
                &lock_asset,
                self.leverage(account),
                &self.config,
            );
            if lock - free > max {
                return Err(SimError::ExceedMaxBorrowable);
            }
            borrowed = lock - free;
        }

        let mut out = Out::default();
        if borrowed > Decimal::ZERO {
            self.take_loan(account, &lock_asset, borrowed, now_us);
        }
        let list_id = self.take_list_id();
        let list_client_id = match oco.list_client_order_id {
            Some(id) => id,
            None => self.generated_client_id(),
        };
        let stop_client_id = match oco.stop_client_order_id {
            Some(id) => id,
            None => self.generated_client_id(),
        };
        let limit_client_id = match oco.limit_client_order_id {
            Some(id) => id,
            None => self.generated_client_id(),
        };
        let template = Order {
            account: account.clone(),
            symbol: rules.symbol.clone(),
            base: rules.base.clone(),
            quote: rules.quote.clone(),
            order_id: 0,
            client_order_id: String::new(),
            side: oco.side,
            order_type: OrderType::LimitMaker,
            time_in_force: TimeInForce::Gtc,
            orig_qty: oco.quantity,
            price: oco.price,
            stop_price: Decimal::ZERO,
            quote_order_qty: Decimal::ZERO,
            status: OrderStatus::New,
            executed_qty: Decimal::ZERO,
            cumulative_quote: Decimal::ZERO,
            created_us: now_us,
            updated_us: now_us,
            working: true,
            working_time_us: now_us,
            triggered: false,
            side_effect: oco.side_effect,
            locked: Decimal::ZERO,
            lock_asset: lock_asset.clone(),
            borrowed: Decimal::ZERO,
            repay_at_cancel: oco.auto_repay_at_cancel,
            order_list_id: list_id,
            stp: oco
                .self_trade_prevention_mode
                .unwrap_or(SelfTradePreventionMode::None),
        };
        let stop_id = self.take_order_id();
        let limit_id = self.take_order_id();
        let stop_leg = Order {
            order_id: stop_id,
            client_order_id: stop_client_id,
            order_type: if oco.stop_limit_price.is_some() {
                OrderType::StopLossLimit
            } else {
                OrderType::StopLoss
            },
            time_in_force: oco.stop_limit_time_in_force.unwrap_or(TimeInForce::Gtc),
            price: oco.stop_limit_price.unwrap_or(Decimal::ZERO),
            stop_price: oco.stop_price,
            working: false,
            ..template.clone()
        };
        // The whole lock (and the loan) sits on the limit leg; the stop leg takes it over when it
        // triggers.
        let limit_leg = Order {
            order_id: limit_id,
            client_order_id: limit_client_id,
            locked: lock,
            borrowed,
            ..template
        };
        self.ledger_mut(account).lock(&lock_asset, lock);
        self.add_order(stop_leg);
        self.add_order(limit_leg);
        self.add_list(OcoList {
            id: list_id,
            client_id: list_client_id,
            account: account.clone(),
            symbol: rules.symbol.clone(),
            stop_leg: stop_id,
            limit_leg: limit_id,
            status: ListOrderStatus::Executing,
            updated_us: now_us,
        });
        self.report(stop_id, ExecutionType::New, None, now_us, &mut out);
        self.report(limit_id, ExecutionType::New, None, now_us, &mut out);
        self.push_list_status(list_id, ListStatusType::ExecStarted, now_us, &mut out);
        self.position(account, [lock_asset.clone()], now_us, &mut out);
        if borrowed > Decimal::ZERO {
            out.liability(
                account,
                crate::events::liability_change(
                    &lock_asset,
                    "BORROW",
                    borrowed,
                    Decimal::ZERO,
                    now_us,
                ),
            );
        }
        self.check_margin(account, now_us, &mut out);
        let mut list = self
            .order_list(list_id, now_us)
            .ok_or(SimError::OrderNotFound)?;
        if borrowed > Decimal::ZERO {
            list.margin_buy_borrow_amount = Some(text(borrowed));
            list.margin_buy_borrow_asset = Some(lock_asset);
        }
        Ok((list, out.events))
    }

    /// Whether `order` is a leg of an OCO still executing. Once the list is done (a leg filled
    /// or triggered), its remaining leg is cancelled as a lone order: the list said ALL_DONE once.
    pub(crate) fn in_executing_list(&self, order: &Order) -> bool {
        order.order_list_id >= 0
            && self
                .lists
                .get(&order.order_list_id)
                .is_some_and(|list| list.status == ListOrderStatus::Executing)
    }

    /// The OCO as the REST answers show it, stop leg first.
    pub(crate) fn order_list(&self, list_id: i64, now_us: i64) -> Option<OrderList> {
        let list = self.lists.get(&list_id)?;
        let legs: Vec<&Order> = [list.stop_leg, list.limit_leg]
            .iter()
            .filter_map(|id| self.orders.get(id))
            .collect();
        let done = list.status == ListOrderStatus::AllDone;
        Some(OrderList {
            order_list_id: list.id,
            contingency_type: userstream_protocol::events::ContingencyType::Oco,
            list_status_type: if done {
                ListStatusType::AllDone
            } else {
                ListStatusType::ExecStarted
            },
            list_order_status: list.status,
            list_client_order_id: list.client_id.clone(),
            transaction_time: now_us.div_euclid(1000),
            symbol: list.symbol.clone(),
            is_isolated: list.account.scope.isolated_symbol().is_some(),
            margin_buy_borrow_amount: None,
            margin_buy_borrow_asset: None,
            orders: legs
                .iter()
                .map(|o| ListMember {
                    symbol: o.symbol.clone(),
                    order_id: o.order_id,
                    client_order_id: o.client_order_id.clone(),
                })
                .collect(),
            order_reports: legs
                .iter()
                .map(|o| ListOrderReport {
                    symbol: o.symbol.clone(),
                    order_id: o.order_id,
                    order_list_id: list.id,
                    client_order_id: o.client_order_id.clone(),
                    transact_time: o.updated_us.div_euclid(1000),
                    state: o.state(),
                })
                .collect(),
        })
    }

    fn push_list_status(&mut self, list_id: i64, kind: ListStatusType, now_us: i64, out: &mut Out) {
        let Some(list) = self.lists.get(&list_id) else {
            return;
        };
        let legs: Vec<&Order> = [list.stop_leg, list.limit_leg]
            .iter()
            .filter_map(|id| self.orders.get(id))
            .collect();
        let event = list_status(
            &list.symbol,
            list.id,
            &list.client_id,
            kind,
            list.status,
            &legs,
            now_us,
        );
        let account = list.account.clone();
        out.push(&account, event);
    }

    /// One leg of an executing OCO fills or triggers: the other leg expires (its lock moves to
    /// this leg) and the list is done. Events: the other leg's executionReport EXPIRED, then
    /// listStatus ALL_DONE. Does nothing once the list is done.
    pub(crate) fn end_list_for(&mut self, order_id: i64, now_us: i64, out: &mut Out) {
        let Some(list_id) = self.orders.get(&order_id).map(|o| o.order_list_id) else {
            return;
        };
        if !self.finish_list(list_id, now_us) {
            return;
        }
        let Some(list) = self.lists.get(&list_id) else {
            return;
        };
        let other = if list.stop_leg == order_id {
            list.limit_leg
        } else {
            list.stop_leg
        };
        let (moved, loan) = self
            .orders
            .get(&other)
            .map_or((Decimal::ZERO, Decimal::ZERO), |o| (o.locked, o.borrowed));
        if let Some(o) = self.orders.get_mut(&other) {
            o.locked = Decimal::ZERO;
            o.borrowed = Decimal::ZERO;
        }
        if let Some(o) = self.orders.get_mut(&order_id) {
            o.locked += moved;
            o.borrowed += loan;
        }
        self.close(other, OrderStatus::Expired, now_us);
        self.report_with(
            other,
            ExecutionType::Expired,
            None,
            None,
            Some(ExpiryReason::OcoTrigger),
            now_us,
            out,
        );
        self.push_list_status(list_id, ListStatusType::AllDone, now_us, out);
    }

    /// Cancels both legs of an executing OCO: executionReport CANCELED for each (stop leg
    /// first), listStatus ALL_DONE, then outboundAccountPosition. `named` is the leg the
    /// request named, with the cancel's client id.
    pub(crate) fn cancel_list(
        &mut self,
        list_id: i64,
        named: Option<(i64, String)>,
        now_us: i64,
        out: &mut Out,
    ) {
        self.finish_list(list_id, now_us);
        let Some(list) = self.lists.get(&list_id) else {
            return;
        };
        let legs = [list.stop_leg, list.limit_leg];
        let account = list.account.clone();
        let mut assets = Vec::new();
        for leg in legs {
            let Some(order) = self.orders.get(&leg).cloned() else {
                continue;
            };
            if !order.is_open() {
                continue;
            }
            assets.push(order.lock_asset.clone());
            let cancel_id = match &named {
                Some((id, cancel_id)) if *id == leg => cancel_id.clone(),
                _ => self.generated_client_id(),
            };
            self.close(leg, OrderStatus::Canceled, now_us);
            self.report_with(
                leg,
                ExecutionType::Canceled,
                None,
                Some(&cancel_id),
                None,
                now_us,
                out,
            );
        }
        self.push_list_status(list_id, ListStatusType::AllDone, now_us, out);
        self.position(&account, assets, now_us, out);
        for leg in legs {
            self.repay_at_cancel(leg, now_us, out);
        }
    }
}
