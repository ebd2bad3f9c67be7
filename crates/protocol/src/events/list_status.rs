//! `listStatus`: an order list (OCO, OTO, OTOCO) changed.

use super::EventError;
use super::enums::{ContingencyType, ListOrderStatus, ListStatusType};
use super::json::{Reader, Writer};
use crate::time::TimeUnit;

/// The state of an order list; its orders get their own executionReports.
#[derive(Debug, Clone, PartialEq)]
pub struct ListStatus {
    /// `E`: event time.
    pub event_time_us: i64,
    /// `s`: symbol.
    pub symbol: String,
    /// `g`: order list id.
    pub order_list_id: i64,
    /// `c`: contingency type.
    pub contingency_type: ContingencyType,
    /// `l`: list status type.
    pub list_status_type: ListStatusType,
    /// `L`: list order status.
    pub list_order_status: ListOrderStatus,
    /// `r`: list reject reason, `NONE` when not rejected.
    pub reject_reason: String,
    /// `C`: list client order id.
    pub list_client_order_id: String,
    /// `T`: transaction time.
    pub transaction_time_us: i64,
    /// `O`: the orders of the list.
    pub orders: Vec<ListOrder>,
}

/// One entry of `listStatus.O`.
#[derive(Debug, Clone, PartialEq)]
pub struct ListOrder {
    /// `s`: symbol.
    pub symbol: String,
    /// `i`: order id.
    pub order_id: i64,
    /// `c`: client order id.
    pub client_order_id: String,
}

impl ListStatus {
    pub const EVENT_TYPE: &'static str = "listStatus";

    pub(super) fn read(
        r: &mut Reader,
        event_time_us: i64,
        unit: TimeUnit,
    ) -> Result<Self, EventError> {
        Ok(ListStatus {
            event_time_us,
            symbol: r.req("s", "symbol")?,
            order_list_id: r.req("g", "order list id")?,
            contingency_type: r.req("c", "contingency type")?,
            list_status_type: r.req("l", "list status type")?,
            list_order_status: r.req("L", "list order status")?,
            reject_reason: r.req("r", "list reject reason")?,
            list_client_order_id: r.req("C", "list client order id")?,
            transaction_time_us: r.time("T", "transaction time", unit)?,
            orders: r.list("O", "orders", |o| {
                Ok(ListOrder {
                    symbol: o.req("s", "symbol")?,
                    order_id: o.req("i", "order id")?,
                    client_order_id: o.req("c", "client order id")?,
                })
            })?,
        })
    }

    pub(super) fn write(&self, unit: TimeUnit, out: &mut Vec<u8>) {
        let mut w = Writer::event(out, Self::EVENT_TYPE, self.event_time_us, unit);
        w.str("s", &self.symbol);
        w.int("g", self.order_list_id);
        w.str("c", self.contingency_type.as_str());
        w.str("l", self.list_status_type.as_str());
        w.str("L", self.list_order_status.as_str());
        w.str("r", &self.reject_reason);
        w.str("C", &self.list_client_order_id);
        w.time("T", self.transaction_time_us, unit);
        w.list("O", &self.orders, |w, order| {
            w.str("s", &order.symbol);
            w.int("i", order.order_id);
            w.str("c", &order.client_order_id);
        });
        w.end();
    }
}
