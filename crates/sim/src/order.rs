//! An order's state inside the simulator, and the REST views of it.

use rust_decimal::Decimal;
use userstream_protocol::Account;
use userstream_protocol::events::{
    OrderStatus, OrderType, SelfTradePreventionMode, Side, TimeInForce,
};
use userstream_protocol::rest::{MarginOrder, OrderState};

use crate::engine::SideEffect;
use crate::num::text;

/// One order, open or done.
#[derive(Debug, Clone)]
pub struct Order {
    pub account: Account,
    pub symbol: String,
    pub base: String,
    pub quote: String,
    pub order_id: i64,
    pub client_order_id: String,
    pub side: Side,
    pub order_type: OrderType,
    pub time_in_force: TimeInForce,
    /// Quantity asked for (for a quoteOrderQty MARKET: the quantity planned at placement).
    pub orig_qty: Decimal,
    /// Limit price; zero for MARKET, STOP_LOSS and TAKE_PROFIT.
    pub price: Decimal,
    /// Stop price; zero for orders without one.
    pub stop_price: Decimal,
    pub quote_order_qty: Decimal,
    pub status: OrderStatus,
    pub executed_qty: Decimal,
    pub cumulative_quote: Decimal,
    pub created_us: i64,
    pub updated_us: i64,
    /// On the book (limit orders and triggered stop-limits); untriggered stops are not.
    pub working: bool,
    pub working_time_us: i64,
    /// A stop order whose condition was met.
    pub triggered: bool,
    pub side_effect: SideEffect,
    /// Amount of `lock_asset` this order holds locked.
    pub locked: Decimal,
    pub lock_asset: String,
    /// What this order borrowed when placed (MARGIN_BUY, AUTO_BORROW_REPAY), in `lock_asset`.
    pub borrowed: Decimal,
    /// `autoRepayAtCancel`: a cancel repays `borrowed`.
    pub repay_at_cancel: bool,
    /// `orderListId`, -1 outside an OCO.
    pub order_list_id: i64,
    pub stp: SelfTradePreventionMode,
}

impl Order {
    pub fn remaining(&self) -> Decimal {
        self.orig_qty - self.executed_qty
    }

    pub fn is_open(&self) -> bool {
        matches!(
            self.status,
            OrderStatus::New | OrderStatus::PartiallyFilled | OrderStatus::PendingNew
        )
    }

    /// STOP_LOSS(_LIMIT) / TAKE_PROFIT(_LIMIT).
    pub fn is_stop(&self) -> bool {
        is_stop_type(self.order_type)
    }

    /// Whether the order executes as a limit order once working.
    pub fn has_limit(&self) -> bool {
        has_limit_price(self.order_type)
    }

    /// Whether a stop order's condition holds at `price`.
    pub fn triggers_at(&self, price: Decimal) -> bool {
        stop_condition(self.order_type, self.side, self.stop_price, price)
    }

    /// The order's state in RESULT/FULL, cancel and OCO answers.
    pub fn state(&self) -> OrderState {
        OrderState {
            price: text(self.price),
            orig_qty: text(self.orig_qty),
            executed_qty: text(self.executed_qty),
            cummulative_quote_qty: text(self.cumulative_quote),
            status: self.status,
            time_in_force: self.time_in_force,
            order_type: self.order_type,
            side: self.side,
            stop_price: self.is_stop().then(|| text(self.stop_price)),
            self_trade_prevention_mode: self.stp,
        }
    }

    /// `GET /sapi/v1/margin/order` view.
    pub fn view(&self) -> MarginOrder {
        MarginOrder {
            client_order_id: self.client_order_id.clone(),
            cummulative_quote_qty: text(self.cumulative_quote),
            executed_qty: text(self.executed_qty),
            iceberg_qty: text(Decimal::ZERO),
            is_working: self.working,
            order_id: self.order_id,
            orig_qty: text(self.orig_qty),
            price: text(self.price),
            side: self.side,
            status: self.status,
            stop_price: text(self.stop_price),
            symbol: self.symbol.clone(),
            is_isolated: self.account.scope.isolated_symbol().is_some(),
            time: self.created_us.div_euclid(1000),
            time_in_force: self.time_in_force,
            order_type: self.order_type,
            self_trade_prevention_mode: self.stp,
            update_time: self.updated_us.div_euclid(1000),
        }
    }
}

pub fn is_stop_type(order_type: OrderType) -> bool {
    matches!(
        order_type,
        OrderType::StopLoss
            | OrderType::StopLossLimit
            | OrderType::TakeProfit
            | OrderType::TakeProfitLimit
    )
}

pub fn has_limit_price(order_type: OrderType) -> bool {
    matches!(
        order_type,
        OrderType::Limit
            | OrderType::LimitMaker
            | OrderType::StopLossLimit
            | OrderType::TakeProfitLimit
    )
}

/// STOP_LOSS: a sell triggers when the price falls to the stop, a buy when it rises to it;
/// TAKE_PROFIT the other way round.
pub fn stop_condition(order_type: OrderType, side: Side, stop: Decimal, price: Decimal) -> bool {
    let loss = matches!(order_type, OrderType::StopLoss | OrderType::StopLossLimit);
    match (loss, side) {
        (true, Side::Sell) | (false, Side::Buy) => price <= stop,
        (true, Side::Buy) | (false, Side::Sell) => price >= stop,
    }
}
