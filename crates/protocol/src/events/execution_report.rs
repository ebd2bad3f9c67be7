//! `executionReport`: an order was created, filled, canceled, expired or rejected.

use super::EventError;
use super::enums::{
    ExecutionType, ExpiryReason, MatchType, OrderStatus, OrderType, PegOffsetType, PegPriceType,
    SelfTradePreventionMode, Side, TimeInForce, WorkingFloor,
};
use super::json::{Reader, Writer};
use crate::decimal::Decimal;
use crate::time::TimeUnit;

/// One order update. Times are microseconds; field docs give the Binance key.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionReport {
    /// `E`: event time.
    pub event_time_us: i64,
    /// `s`: symbol, e.g. `ETHBTC`.
    pub symbol: String,
    /// `c`: client order id.
    pub client_order_id: String,
    /// `S`: side.
    pub side: Side,
    /// `o`: order type.
    pub order_type: OrderType,
    /// `f`: time in force.
    pub time_in_force: TimeInForce,
    /// `q`: order quantity.
    pub quantity: Decimal,
    /// `p`: order price.
    pub price: Decimal,
    /// `P`: stop price.
    pub stop_price: Decimal,
    /// `F`: iceberg quantity.
    pub iceberg_quantity: Decimal,
    /// `g`: order list id, -1 when the order is not part of a list.
    pub order_list_id: i64,
    /// `C`: original client order id (of the order being canceled), empty otherwise.
    pub orig_client_order_id: String,
    /// `x`: current execution type.
    pub execution_type: ExecutionType,
    /// `X`: current order status.
    pub order_status: OrderStatus,
    /// `r`: reject reason, `NONE` when not rejected; free text (`INSUFFICIENT_BALANCES`, …).
    pub reject_reason: String,
    /// `i`: order id.
    pub order_id: i64,
    /// `l`: last executed quantity.
    pub last_executed_quantity: Decimal,
    /// `z`: cumulative filled quantity.
    pub cumulative_filled_quantity: Decimal,
    /// `L`: last executed price.
    pub last_executed_price: Decimal,
    /// `n`: commission amount.
    pub commission: Decimal,
    /// `N`: commission asset; written as `null` when there is none.
    pub commission_asset: Option<String>,
    /// `T`: transaction time.
    pub transaction_time_us: i64,
    /// `t`: trade id, -1 when there is no trade.
    pub trade_id: i64,
    /// `v`: prevented match id (conditional: only on self-trade prevention).
    pub prevented_match_id: Option<i64>,
    /// `I`: execution id (documented as "ignore" by Binance).
    pub execution_id: i64,
    /// `w`: is the order on the book?
    pub is_working: bool,
    /// `m`: is this trade the maker side?
    pub is_maker: bool,
    /// `M`: is best match (documented as "ignore" by Binance).
    pub is_best_match: bool,
    /// `O`: order creation time.
    pub order_creation_time_us: i64,
    /// `Z`: cumulative quote asset transacted quantity.
    pub cumulative_quote_quantity: Decimal,
    /// `Y`: last quote asset transacted quantity (last price × last quantity).
    pub last_quote_quantity: Decimal,
    /// `Q`: quote order quantity.
    pub quote_order_quantity: Decimal,
    /// `W`: working time, when the order started working on the book.
    pub working_time_us: i64,
    /// `V`: self-trade prevention mode.
    pub self_trade_prevention_mode: SelfTradePreventionMode,
    /// `d`: trailing delta, in BIPS (conditional: trailing stop orders).
    pub trailing_delta: Option<u64>,
    /// `D`: trailing time (conditional: trailing stop orders).
    pub trailing_time_us: Option<i64>,
    /// `j`: strategy id (conditional: set at order placement).
    pub strategy_id: Option<i64>,
    /// `J`: strategy type (conditional: set at order placement).
    pub strategy_type: Option<i32>,
    /// `A`: prevented quantity (conditional: self-trade prevention).
    pub prevented_quantity: Option<Decimal>,
    /// `B`: last prevented quantity (conditional: self-trade prevention).
    pub last_prevented_quantity: Option<Decimal>,
    /// `u`: trade group id (conditional: self-trade prevention).
    pub trade_group_id: Option<i64>,
    /// `U`: counter order id (conditional: self-trade prevention).
    pub counter_order_id: Option<i64>,
    /// `Cs`: counter symbol (conditional: self-trade prevention).
    pub counter_symbol: Option<String>,
    /// `pl`: prevented execution quantity (conditional: self-trade prevention).
    pub prevented_execution_quantity: Option<Decimal>,
    /// `pL`: prevented execution price (conditional: self-trade prevention).
    pub prevented_execution_price: Option<Decimal>,
    /// `pY`: prevented execution quote quantity (conditional: self-trade prevention).
    pub prevented_execution_quote_quantity: Option<Decimal>,
    /// `b`: match type (conditional: orders with an allocation).
    pub match_type: Option<MatchType>,
    /// `a`: allocation id (conditional: orders with an allocation).
    pub allocation_id: Option<i64>,
    /// `k`: working floor (conditional: orders that may get an allocation).
    pub working_floor: Option<WorkingFloor>,
    /// `uS`: used smart order routing (conditional: orders that used SOR).
    pub used_sor: Option<bool>,
    /// `gP`: peg price type (conditional: pegged orders).
    pub peg_price_type: Option<PegPriceType>,
    /// `gOT`: peg offset type (conditional: pegged orders).
    pub peg_offset_type: Option<PegOffsetType>,
    /// `gOV`: peg offset value (conditional: pegged orders; SBE `uint8`).
    pub peg_offset_value: Option<u8>,
    /// `gp`: pegged price (conditional: pegged orders).
    pub pegged_price: Option<Decimal>,
    /// `eR`: expiry reason (conditional: expired orders).
    pub expiry_reason: Option<ExpiryReason>,
}

impl ExecutionReport {
    pub const EVENT_TYPE: &'static str = "executionReport";

    pub(super) fn read(
        r: &mut Reader,
        event_time_us: i64,
        unit: TimeUnit,
    ) -> Result<Self, EventError> {
        Ok(ExecutionReport {
            event_time_us,
            symbol: r.req("s", "symbol")?,
            client_order_id: r.req("c", "client order id")?,
            side: r.req("S", "side")?,
            order_type: r.req("o", "order type")?,
            time_in_force: r.req("f", "time in force")?,
            quantity: r.req("q", "order quantity")?,
            price: r.req("p", "order price")?,
            stop_price: r.req("P", "stop price")?,
            iceberg_quantity: r.req("F", "iceberg quantity")?,
            order_list_id: r.req("g", "order list id")?,
            orig_client_order_id: r.req("C", "original client order id")?,
            execution_type: r.req("x", "execution type")?,
            order_status: r.req("X", "order status")?,
            reject_reason: r.req("r", "reject reason")?,
            order_id: r.req("i", "order id")?,
            last_executed_quantity: r.req("l", "last executed quantity")?,
            cumulative_filled_quantity: r.req("z", "cumulative filled quantity")?,
            last_executed_price: r.req("L", "last executed price")?,
            commission: r.req("n", "commission amount")?,
            commission_asset: r.req("N", "commission asset")?,
            transaction_time_us: r.time("T", "transaction time", unit)?,
            trade_id: r.req("t", "trade id")?,
            prevented_match_id: r.opt("v", "prevented match id")?,
            execution_id: r.req("I", "execution id")?,
            is_working: r.req("w", "is working")?,
            is_maker: r.req("m", "is maker")?,
            is_best_match: r.req("M", "is best match")?,
            order_creation_time_us: r.time("O", "order creation time", unit)?,
            cumulative_quote_quantity: r.req("Z", "cumulative quote quantity")?,
            last_quote_quantity: r.req("Y", "last quote quantity")?,
            quote_order_quantity: r.req("Q", "quote order quantity")?,
            working_time_us: r.time("W", "working time", unit)?,
            self_trade_prevention_mode: r.req("V", "self-trade prevention mode")?,
            trailing_delta: r.opt("d", "trailing delta")?,
            trailing_time_us: r.opt_time("D", "trailing time", unit)?,
            strategy_id: r.opt("j", "strategy id")?,
            strategy_type: r.opt("J", "strategy type")?,
            prevented_quantity: r.opt("A", "prevented quantity")?,
            last_prevented_quantity: r.opt("B", "last prevented quantity")?,
            trade_group_id: r.opt("u", "trade group id")?,
            counter_order_id: r.opt("U", "counter order id")?,
            counter_symbol: r.opt("Cs", "counter symbol")?,
            prevented_execution_quantity: r.opt("pl", "prevented execution quantity")?,
            prevented_execution_price: r.opt("pL", "prevented execution price")?,
            prevented_execution_quote_quantity: r
                .opt("pY", "prevented execution quote quantity")?,
            match_type: r.opt("b", "match type")?,
            allocation_id: r.opt("a", "allocation id")?,
            working_floor: r.opt("k", "working floor")?,
            used_sor: r.opt("uS", "used SOR")?,
            peg_price_type: r.opt("gP", "peg price type")?,
            peg_offset_type: r.opt("gOT", "peg offset type")?,
            peg_offset_value: r.opt("gOV", "peg offset value")?,
            pegged_price: r.opt("gp", "pegged price")?,
            expiry_reason: r.opt("eR", "expiry reason")?,
        })
    }

    /// Writes Binance's key order: the documented fields, `v` right after `t`, then the other
    /// conditional fields after `V`.
    pub(super) fn write(&self, unit: TimeUnit, out: &mut Vec<u8>) {
        let mut w = Writer::event(out, Self::EVENT_TYPE, self.event_time_us, unit);
        w.str("s", &self.symbol);
        w.str("c", &self.client_order_id);
        w.str("S", self.side.as_str());
        w.str("o", self.order_type.as_str());
        w.str("f", self.time_in_force.as_str());
        w.dec("q", &self.quantity);
        w.dec("p", &self.price);
        w.dec("P", &self.stop_price);
        w.dec("F", &self.iceberg_quantity);
        w.int("g", self.order_list_id);
        w.str("C", &self.orig_client_order_id);
        w.str("x", self.execution_type.as_str());
        w.str("X", self.order_status.as_str());
        w.str("r", &self.reject_reason);
        w.int("i", self.order_id);
        w.dec("l", &self.last_executed_quantity);
        w.dec("z", &self.cumulative_filled_quantity);
        w.dec("L", &self.last_executed_price);
        w.dec("n", &self.commission);
        w.nullable_str("N", self.commission_asset.as_deref());
        w.time("T", self.transaction_time_us, unit);
        w.int("t", self.trade_id);
        w.opt_int("v", self.prevented_match_id);
        w.int("I", self.execution_id);
        w.bool("w", self.is_working);
        w.bool("m", self.is_maker);
        w.bool("M", self.is_best_match);
        w.time("O", self.order_creation_time_us, unit);
        w.dec("Z", &self.cumulative_quote_quantity);
        w.dec("Y", &self.last_quote_quantity);
        w.dec("Q", &self.quote_order_quantity);
        w.time("W", self.working_time_us, unit);
        w.str("V", self.self_trade_prevention_mode.as_str());
        w.opt_uint("d", self.trailing_delta);
        w.opt_time("D", self.trailing_time_us, unit);
        w.opt_int("j", self.strategy_id);
        w.opt_int("J", self.strategy_type.map(i64::from));
        w.opt_dec("A", self.prevented_quantity.as_ref());
        w.opt_dec("B", self.last_prevented_quantity.as_ref());
        w.opt_int("u", self.trade_group_id);
        w.opt_int("U", self.counter_order_id);
        w.opt_str("Cs", self.counter_symbol.as_deref());
        w.opt_dec("pl", self.prevented_execution_quantity.as_ref());
        w.opt_dec("pL", self.prevented_execution_price.as_ref());
        w.opt_dec("pY", self.prevented_execution_quote_quantity.as_ref());
        w.opt_str("b", self.match_type.map(MatchType::as_str));
        w.opt_int("a", self.allocation_id);
        w.opt_str("k", self.working_floor.map(WorkingFloor::as_str));
        w.opt_bool("uS", self.used_sor);
        w.opt_str("gP", self.peg_price_type.map(PegPriceType::as_str));
        w.opt_str("gOT", self.peg_offset_type.map(PegOffsetType::as_str));
        w.opt_int("gOV", self.peg_offset_value.map(i64::from));
        w.opt_dec("gp", self.pegged_price.as_ref());
        w.opt_str("eR", self.expiry_reason.map(ExpiryReason::as_str));
        w.end();
    }
}
