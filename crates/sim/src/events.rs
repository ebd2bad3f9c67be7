//! Typed constructors of the events the simulator sends, with Binance's field values.

use rust_decimal::Decimal;
use userstream_protocol::decimal::Decimal as Text;
use userstream_protocol::events::{
    BalanceUpdate, ContingencyType, ExecutionReport, ExecutionType, ExpiryReason, LiabilityType,
    ListOrder, ListOrderStatus, ListStatus, ListStatusType, MarginLevelStatus,
    MarginLevelStatusChange, UserLiabilityChange,
};

use crate::num::text;
use crate::order::Order;

/// One fill as an executionReport TRADE reports it.
#[derive(Debug, Clone)]
pub struct FillReport {
    pub qty: Decimal,
    pub price: Decimal,
    pub commission: Decimal,
    pub commission_asset: String,
    pub trade_id: i64,
    pub maker: bool,
}

/// What kind of executionReport, with the parts that differ per kind.
pub struct Report<'a> {
    pub execution_type: ExecutionType,
    /// `C`: the canceled order's client id (cancels only).
    pub orig_client_order_id: Option<&'a str>,
    /// `c` when it differs from the order's (a cancel's own id).
    pub client_order_id: Option<&'a str>,
    pub fill: Option<&'a FillReport>,
    pub expiry_reason: Option<ExpiryReason>,
    pub execution_id: i64,
}

/// Binance's `"0"` for the commission of an event without a trade.
fn zero_commission() -> Text {
    Text::from_mantissa_exponent(0, 0)
}

/// An executionReport of `order` in its current state.
pub fn execution_report(order: &Order, report: Report<'_>, now_us: i64) -> ExecutionReport {
    let fill = report.fill;
    ExecutionReport {
        event_time_us: now_us,
        symbol: order.symbol.clone(),
        client_order_id: report
            .client_order_id
            .unwrap_or(&order.client_order_id)
            .to_owned(),
        side: order.side,
        order_type: order.order_type,
        time_in_force: order.time_in_force,
        quantity: text(order.orig_qty),
        price: text(order.price),
        stop_price: text(order.stop_price),
        iceberg_quantity: text(Decimal::ZERO),
        order_list_id: order.order_list_id,
        orig_client_order_id: report.orig_client_order_id.unwrap_or("").to_owned(),
        execution_type: report.execution_type,
        order_status: order.status,
        reject_reason: "NONE".to_owned(),
        order_id: order.order_id,
        last_executed_quantity: text(fill.map_or(Decimal::ZERO, |f| f.qty)),
        cumulative_filled_quantity: text(order.executed_qty),
        last_executed_price: text(fill.map_or(Decimal::ZERO, |f| f.price)),
        commission: fill.map_or_else(zero_commission, |f| text(f.commission)),
        commission_asset: fill.map(|f| f.commission_asset.clone()),
        transaction_time_us: now_us,
        trade_id: fill.map_or(-1, |f| f.trade_id),
        prevented_match_id: None,
        execution_id: report.execution_id,
        is_working: order.working,
        is_maker: fill.is_some_and(|f| f.maker),
        is_best_match: fill.is_some(),
        order_creation_time_us: order.created_us,
        cumulative_quote_quantity: text(order.cumulative_quote),
        last_quote_quantity: text(fill.map_or(Decimal::ZERO, |f| f.qty * f.price)),
        quote_order_quantity: text(order.quote_order_qty),
        working_time_us: order.working_time_us,
        self_trade_prevention_mode: order.stp,
        trailing_delta: None,
        trailing_time_us: None,
        strategy_id: None,
        strategy_type: None,
        prevented_quantity: None,
        last_prevented_quantity: None,
        trade_group_id: None,
        counter_order_id: None,
        counter_symbol: None,
        prevented_execution_quantity: None,
        prevented_execution_price: None,
        prevented_execution_quote_quantity: None,
        match_type: None,
        allocation_id: None,
        working_floor: None,
        used_sor: None,
        peg_price_type: None,
        peg_offset_type: None,
        peg_offset_value: None,
        pegged_price: None,
        expiry_reason: report.expiry_reason,
    }
}

/// A listStatus of an OCO.
#[allow(clippy::too_many_arguments)]
pub fn list_status(
    symbol: &str,
    order_list_id: i64,
    list_client_order_id: &str,
    status_type: ListStatusType,
    order_status: ListOrderStatus,
    orders: &[&Order],
    now_us: i64,
) -> ListStatus {
    ListStatus {
        event_time_us: now_us,
        symbol: symbol.to_owned(),
        order_list_id,
        contingency_type: ContingencyType::Oco,
        list_status_type: status_type,
        list_order_status: order_status,
        reject_reason: "NONE".to_owned(),
        list_client_order_id: list_client_order_id.to_owned(),
        transaction_time_us: now_us,
        orders: orders
            .iter()
            .map(|o| ListOrder {
                symbol: o.symbol.clone(),
                order_id: o.order_id,
                client_order_id: o.client_order_id.clone(),
            })
            .collect(),
    }
}

/// `balanceUpdate` of a deposit or transfer.
pub fn balance_update(asset: &str, delta: Decimal, now_us: i64) -> BalanceUpdate {
    BalanceUpdate {
        event_time_us: now_us,
        asset: asset.to_owned(),
        balance_delta: text(delta),
        clear_time_us: now_us,
    }
}

/// Binance's upper-case codes: `BORROW`, `REPAY`, `INTEREST`, `MARGIN_CALL`, ...
pub fn code<T>(parse: fn(&str) -> Option<T>, text: &'static str) -> T {
    // The texts are constants of this crate matching `[A-Z][A-Z_]*`: never input.
    parse(text).expect("a constant upper-case code parses")
}

/// `USER_LIABILITY_CHANGE`: `principal` and `interest` are the amounts of this change.
pub fn liability_change(
    asset: &str,
    kind: &'static str,
    principal: Decimal,
    interest: Decimal,
    now_us: i64,
) -> UserLiabilityChange {
    UserLiabilityChange {
        event_time_us: now_us,
        asset: asset.to_owned(),
        liability_type: code(LiabilityType::parse, kind),
        principal: text(principal),
        interest: text(interest),
    }
}

/// `MARGIN_LEVEL_STATUS_CHANGE`.
pub fn margin_level_change(
    level: Decimal,
    status: MarginLevelStatus,
    now_us: i64,
) -> MarginLevelStatusChange {
    MarginLevelStatusChange {
        event_time_us: now_us,
        margin_level: text(level),
        status,
    }
}
