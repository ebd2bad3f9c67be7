//! Cancels: one order, or every open order of a symbol (OCOs as lists).

use std::collections::BTreeSet;
use userstream_protocol::Account;
use userstream_protocol::events::{ExecutionType, OrderStatus};
use userstream_protocol::rest::CanceledOrder;

use crate::engine::{AccountEvent, Canceled, OrderRef, Out, Simulator};
use crate::error::SimError;

impl Simulator {
    /// Cancels an open order (an OCO leg cancels its whole list).
    pub fn cancel_order(
        &mut self,
        account: &Account,
        symbol: &str,
        target: &OrderRef,
        new_client_order_id: Option<String>,
        now_us: i64,
    ) -> Result<(CanceledOrder, Vec<AccountEvent>), SimError> {
        self.trading_rules(account, symbol)?;
        let order_id = self
            .find(account, symbol, target)
            .map_err(|_| SimError::UnknownOrder)?;
        let order = self
            .orders
            .get(&order_id)
            .cloned()
            .ok_or(SimError::UnknownOrder)?;
        if !order.is_open() {
            return Err(SimError::UnknownOrder);
        }
        let mut out = Out::default();
        let cancel_id = match new_client_order_id {
            Some(id) => id,
            None => self.generated_client_id(),
        };
        if self.in_executing_list(&order) {
            self.cancel_list(
                order.order_list_id,
                Some((order_id, cancel_id.clone())),
                now_us,
                &mut out,
            );
        } else {
            self.close(order_id, OrderStatus::Canceled, now_us);
            self.report_with(
                order_id,
                ExecutionType::Canceled,
                None,
                Some(&cancel_id),
                None,
                now_us,
                &mut out,
            );
            self.position(account, [order.lock_asset.clone()], now_us, &mut out);
            self.repay_at_cancel(order_id, now_us, &mut out);
        }
        let done = self.orders.get(&order_id).ok_or(SimError::UnknownOrder)?;
        let canceled = CanceledOrder {
            symbol: done.symbol.clone(),
            is_isolated: account.scope.isolated_symbol().is_some(),
            order_id,
            orig_client_order_id: done.client_order_id.clone(),
            client_order_id: cancel_id,
            state: done.state(),
        };
        self.check_margin(account, now_us, &mut out);
        Ok((canceled, out.events))
    }

    /// Cancels every open order of the symbol (OCOs as lists): Binance's DELETE openOrders
    /// answer items, in order id order.
    pub fn cancel_open_orders(
        &mut self,
        account: &Account,
        symbol: &str,
        now_us: i64,
    ) -> Result<(Vec<Canceled>, Vec<AccountEvent>), SimError> {
        self.trading_rules(account, symbol)?;
        let ids = self.open_ids(account, symbol);
        if ids.is_empty() {
            return Err(SimError::UnknownOrder);
        }
        let mut items = Vec::new();
        let mut events = Vec::new();
        let mut lists_done = BTreeSet::new();
        for id in ids {
            let Some(order) = self.orders.get(&id).cloned() else {
                continue;
            };
            if lists_done.contains(&order.order_list_id) {
                continue;
            }
            if self.in_executing_list(&order) {
                lists_done.insert(order.order_list_id);
                let mut out = Out::default();
                self.cancel_list(order.order_list_id, None, now_us, &mut out);
                events.extend(out.events);
                if let Some(list) = self.order_list(order.order_list_id, now_us) {
                    items.push(Canceled::List(list));
                }
            } else if order.is_open() {
                let (item, evs) =
                    self.cancel_order(account, symbol, &OrderRef::Id(id), None, now_us)?;
                items.push(Canceled::Order(item));
                events.extend(evs);
            }
        }
        let mut out = Out::default();
        self.check_margin(account, now_us, &mut out);
        events.extend(out.events);
        Ok((items, events))
    }
}
