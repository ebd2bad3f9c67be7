//! The public request and answer types of the simulator's API.

use rust_decimal::Decimal;
use userstream_protocol::events::{OrderType, SelfTradePreventionMode, Side, TimeInForce};
use userstream_protocol::rest::{CanceledOrder, OrderList};

/// One event for one account; operations hand them back in the order Binance sends them.
pub use userstream_protocol::events::AccountEvent;

/// An order named by its id or its client order id.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub enum OrderRef {
    Id(i64),
    ClientId(String),
}

/// `sideEffectType` of a margin order.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SideEffect {
    /// Trade with what the account holds.
    #[default]
    NoSideEffect,
    /// Borrow what the order needs beyond the free balance.
    MarginBuy,
    /// Repay debts of the received asset from the proceeds.
    AutoRepay,
    /// Both.
    AutoBorrowRepay,
}

impl SideEffect {
    /// Binance's text: `NO_SIDE_EFFECT`, `MARGIN_BUY`, `AUTO_REPAY`, `AUTO_BORROW_REPAY`.
    pub fn parse(text: &str) -> Option<SideEffect> {
        match text {
            "NO_SIDE_EFFECT" => Some(SideEffect::NoSideEffect),
            "MARGIN_BUY" => Some(SideEffect::MarginBuy),
            "AUTO_REPAY" => Some(SideEffect::AutoRepay),
            "AUTO_BORROW_REPAY" => Some(SideEffect::AutoBorrowRepay),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SideEffect::NoSideEffect => "NO_SIDE_EFFECT",
            SideEffect::MarginBuy => "MARGIN_BUY",
            SideEffect::AutoRepay => "AUTO_REPAY",
            SideEffect::AutoBorrowRepay => "AUTO_BORROW_REPAY",
        }
    }

    pub fn borrows(self) -> bool {
        matches!(self, SideEffect::MarginBuy | SideEffect::AutoBorrowRepay)
    }

    pub fn repays(self) -> bool {
        matches!(self, SideEffect::AutoRepay | SideEffect::AutoBorrowRepay)
    }
}

/// `type` of `POST /sapi/v1/margin/borrow-repay`.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BorrowRepay {
    Borrow,
    Repay,
}

/// A new margin order, as `POST /sapi/v1/margin/order` takes it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct OrderRequest {
    pub symbol: String,
    pub side: Side,
    pub order_type: OrderType,
    pub quantity: Option<Decimal>,
    pub quote_order_qty: Option<Decimal>,
    pub price: Option<Decimal>,
    pub stop_price: Option<Decimal>,
    pub time_in_force: Option<TimeInForce>,
    pub new_client_order_id: Option<String>,
    pub side_effect: SideEffect,
    pub self_trade_prevention_mode: Option<SelfTradePreventionMode>,
    /// `autoRepayAtCancel` (Binance's default: true).
    pub auto_repay_at_cancel: bool,
}

/// A BUY MARKET order on an empty symbol: every real request sets the fields it needs.
impl Default for OrderRequest {
    fn default() -> Self {
        OrderRequest::new("", Side::Buy, OrderType::Market)
    }
}

impl OrderRequest {
    pub fn new(symbol: impl Into<String>, side: Side, order_type: OrderType) -> Self {
        OrderRequest {
            symbol: symbol.into(),
            side,
            order_type,
            quantity: None,
            quote_order_qty: None,
            price: None,
            stop_price: None,
            time_in_force: None,
            new_client_order_id: None,
            side_effect: SideEffect::NoSideEffect,
            self_trade_prevention_mode: None,
            auto_repay_at_cancel: true,
        }
    }
}

/// A new OCO, as `POST /sapi/v1/margin/order/oco` takes it: a LIMIT_MAKER leg at `price`
/// and a STOP_LOSS (or STOP_LOSS_LIMIT at `stop_limit_price`) leg at `stop_price`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct OcoRequest {
    pub symbol: String,
    pub side: Side,
    pub quantity: Decimal,
    pub price: Decimal,
    pub stop_price: Decimal,
    pub stop_limit_price: Option<Decimal>,
    pub stop_limit_time_in_force: Option<TimeInForce>,
    pub list_client_order_id: Option<String>,
    pub limit_client_order_id: Option<String>,
    pub stop_client_order_id: Option<String>,
    pub side_effect: SideEffect,
    /// Both legs carry it (`V` of their executionReports); `NONE` when not given.
    pub self_trade_prevention_mode: Option<SelfTradePreventionMode>,
    /// `autoRepayAtCancel` (Binance's default: true).
    pub auto_repay_at_cancel: bool,
}

impl OcoRequest {
    pub fn new(
        symbol: impl Into<String>,
        side: Side,
        quantity: Decimal,
        price: Decimal,
        stop_price: Decimal,
    ) -> Self {
        OcoRequest {
            symbol: symbol.into(),
            side,
            quantity,
            price,
            stop_price,
            stop_limit_price: None,
            stop_limit_time_in_force: None,
            list_client_order_id: None,
            limit_client_order_id: None,
            stop_client_order_id: None,
            side_effect: SideEffect::NoSideEffect,
            self_trade_prevention_mode: None,
            auto_repay_at_cancel: true,
        }
    }
}

/// Filters of `allOrders` and `myTrades`.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct HistoryQuery {
    pub order_id: Option<i64>,
    pub from_id: Option<i64>,
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    pub limit: Option<usize>,
}

/// One item of `DELETE /sapi/v1/margin/openOrders`: an order, or an OCO as a list.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum Canceled {
    Order(CanceledOrder),
    List(OrderList),
}
