//! Binance's REST parameters, checked and typed with Binance's codes: which account a request
//! names, symbols, assets, decimals, enums, order ids. The token endpoint, the margin trading
//! endpoints and the simulator's admin routes read theirs here, so the same mistake gets the same
//! code everywhere.

use crate::rest_params::{Params, parse_bool};
use crate::state::SharedState;
use std::str::FromStr;
use userstream_protocol::account::is_valid_symbol;
use userstream_protocol::events::{OrderType, SelfTradePreventionMode, Side, TimeInForce};
use userstream_protocol::rest::NewOrderResponse;
use userstream_protocol::{Account, ApiError};
use userstream_sim::{Decimal, HistoryQuery, OrderRef, OrderRequest, SideEffect};

/// Most decimal digits on either side of the point, as Binance's `-1100` pattern allows.
const MAX_DECIMAL_DIGITS: usize = 20;
/// Longest client order id Binance accepts (`^[a-zA-Z0-9-_]{1,36}$`).
const MAX_CLIENT_ORDER_ID: usize = 36;

/// A new order's parameters, checked, and how much its answer shows.
pub(crate) fn order_request(
    state: &SharedState,
    params: &dyn Fields,
) -> Result<(OrderRequest, RespondWith), ApiError> {
    let order_type =
        OrderType::parse(required(params, "type")?).ok_or_else(ApiError::invalid_order_type)?;
    let mut order = OrderRequest::new(symbol(state, params)?, side(params)?, order_type);
    order.quantity = decimal(params, "quantity")?;
    order.quote_order_qty = decimal(params, "quoteOrderQty")?;
    order.price = decimal(params, "price")?;
    order.stop_price = decimal(params, "stopPrice")?;
    order.time_in_force = time_in_force(params, "timeInForce")?;
    order.new_client_order_id = client_order_id(params, "newClientOrderId")?;
    order.side_effect = side_effect(params)?;
    order.self_trade_prevention_mode = prevention(params)?;
    if decimal(params, "icebergQty")?.is_some_and(|q| !q.is_zero()) {
        return Err(ApiError::invalid_param_value("icebergQty"));
    }
    order.auto_repay_at_cancel = auto_repay_at_cancel(params)?;
    let respond = response_type(params, order_type)?;
    Ok((order, respond))
}

/// Named text values: a signed request's parameters, or an admin request's JSON fields, read
/// by the same checks so both answer the same codes.
pub(crate) trait Fields {
    fn field(&self, name: &str) -> Option<&str>;
}

impl Fields for Params {
    fn field(&self, name: &str) -> Option<&str> {
        self.get(name)
    }
}

impl Fields for std::collections::BTreeMap<String, String> {
    fn field(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }
}

pub(crate) fn required<'p>(params: &'p dyn Fields, name: &str) -> Result<&'p str, ApiError> {
    match params.field(name) {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(ApiError::mandatory_param(name)),
    }
}

/// The account a request names: cross, or with `isIsolated=TRUE` the isolated pair `symbol`.
pub(crate) fn account(
    state: &SharedState,
    uid: u64,
    params: &dyn Fields,
) -> Result<Account, ApiError> {
    let isolated_flag = match params.field("isIsolated") {
        None => false,
        Some(text) => {
            parse_bool(text).ok_or_else(|| ApiError::invalid_param_value("isIsolated"))?
        }
    };
    if !isolated_flag {
        return Ok(Account::cross(uid));
    }
    let symbol = required(params, "symbol")?.to_ascii_uppercase();
    isolated(state, uid, &symbol)
}

pub(crate) fn isolated(state: &SharedState, uid: u64, symbol: &str) -> Result<Account, ApiError> {
    known_symbol(state, symbol)?;
    if !state.directory.has_isolated(uid, symbol) {
        return Err(ApiError::margin_account_missing());
    }
    Ok(Account::isolated(uid, symbol))
}

pub(crate) fn known_symbol(state: &SharedState, symbol: &str) -> Result<(), ApiError> {
    if is_valid_symbol(symbol) && state.config.symbol(symbol).is_some() {
        Ok(())
    } else {
        Err(ApiError::invalid_symbol())
    }
}

pub(crate) fn symbol(state: &SharedState, params: &dyn Fields) -> Result<String, ApiError> {
    let symbol = required(params, "symbol")?.to_ascii_uppercase();
    known_symbol(state, &symbol)?;
    Ok(symbol)
}

pub(crate) fn asset(params: &dyn Fields, name: &str) -> Result<String, ApiError> {
    let asset = required(params, name)?;
    if asset.len() > 20 || !asset.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(ApiError::illegal_chars(name));
    }
    Ok(asset.to_ascii_uppercase())
}

pub(crate) fn side(params: &dyn Fields) -> Result<Side, ApiError> {
    Side::parse(required(params, "side")?).ok_or_else(ApiError::invalid_side)
}

pub(crate) fn time_in_force(
    params: &dyn Fields,
    name: &str,
) -> Result<Option<TimeInForce>, ApiError> {
    params
        .field(name)
        .map(|text| TimeInForce::parse(text).ok_or_else(ApiError::invalid_time_in_force))
        .transpose()
}

pub(crate) fn side_effect(params: &dyn Fields) -> Result<SideEffect, ApiError> {
    match params.field("sideEffectType") {
        None => Ok(SideEffect::NoSideEffect),
        Some(text) => {
            SideEffect::parse(text).ok_or_else(|| ApiError::invalid_param_value("sideEffectType"))
        }
    }
}

pub(crate) fn prevention(params: &dyn Fields) -> Result<Option<SelfTradePreventionMode>, ApiError> {
    params
        .field("selfTradePreventionMode")
        .map(|text| {
            SelfTradePreventionMode::parse(text)
                .ok_or_else(|| ApiError::invalid_param_value("selfTradePreventionMode"))
        })
        .transpose()
}

/// `autoRepayAtCancel`, Binance's BOOLEAN (default true): whether cancelling a MARGIN_BUY or
/// AUTO_BORROW_REPAY order repays the loan it took.
pub(crate) fn auto_repay_at_cancel(params: &dyn Fields) -> Result<bool, ApiError> {
    match params.field("autoRepayAtCancel") {
        None => Ok(true),
        Some(text) => {
            parse_bool(text).ok_or_else(|| ApiError::invalid_param_value("autoRepayAtCancel"))
        }
    }
}

/// A decimal parameter, in Binance's legal pattern `^([0-9]{1,20})(\.[0-9]{1,20})?$`.
pub(crate) fn decimal(params: &dyn Fields, name: &str) -> Result<Option<Decimal>, ApiError> {
    let Some(text) = params.field(name) else {
        return Ok(None);
    };
    let (int, frac) = text.split_once('.').unwrap_or((text, "1"));
    let digits = |s: &str| {
        (1..=MAX_DECIMAL_DIGITS).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
    };
    if !digits(int) || !digits(frac) {
        return Err(ApiError::illegal_chars(name));
    }
    Decimal::from_str(text)
        .map(Some)
        .map_err(|_| ApiError::illegal_chars(name))
}

pub(crate) fn required_decimal(params: &dyn Fields, name: &str) -> Result<Decimal, ApiError> {
    decimal(params, name)?.ok_or_else(|| ApiError::mandatory_param(name))
}

pub(crate) fn integer(params: &dyn Fields, name: &str) -> Result<Option<i64>, ApiError> {
    params
        .field(name)
        .map(|text| {
            let digits =
                !text.is_empty() && text.len() <= 18 && text.bytes().all(|b| b.is_ascii_digit());
            if digits {
                text.parse().map_err(|_| ApiError::illegal_chars(name))
            } else {
                Err(ApiError::illegal_chars(name))
            }
        })
        .transpose()
}

pub(crate) fn client_order_id(params: &dyn Fields, name: &str) -> Result<Option<String>, ApiError> {
    let Some(text) = params.field(name) else {
        return Ok(None);
    };
    let legal = (1..=MAX_CLIENT_ORDER_ID).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if legal {
        Ok(Some(text.to_owned()))
    } else {
        Err(ApiError::illegal_chars(name))
    }
}

/// `orderId` or `origClientOrderId`; the id wins when both are sent, as on Binance.
pub(crate) fn order_ref(params: &dyn Fields) -> Result<OrderRef, ApiError> {
    if let Some(id) = integer(params, "orderId")? {
        return Ok(OrderRef::Id(id));
    }
    match params.field("origClientOrderId") {
        Some(id) if !id.is_empty() => Ok(OrderRef::ClientId(id.to_owned())),
        _ => Err(ApiError::new(
            400,
            userstream_protocol::error::codes::MANDATORY_PARAM_EMPTY_OR_MALFORMED,
            "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
        )),
    }
}

pub(crate) fn history_query(
    params: &dyn Fields,
    max_limit: usize,
) -> Result<HistoryQuery, ApiError> {
    let mut query = HistoryQuery::default();
    query.order_id = integer(params, "orderId")?;
    query.start_ms = integer(params, "startTime")?;
    query.end_ms = integer(params, "endTime")?;
    let limit = integer(params, "limit")?.unwrap_or(500);
    if limit < 1 || limit as usize > max_limit {
        return Err(ApiError::invalid_param_value("limit"));
    }
    query.limit = Some(limit as usize);
    Ok(query)
}

/// `newOrderRespType`: how much of the order the answer shows.
#[derive(Clone, Copy)]
pub(crate) enum RespondWith {
    Ack,
    Result,
    Full,
}

impl RespondWith {
    pub(crate) fn parse(text: &str) -> Result<RespondWith, ApiError> {
        match text {
            "ACK" => Ok(RespondWith::Ack),
            "RESULT" => Ok(RespondWith::Result),
            "FULL" => Ok(RespondWith::Full),
            _ => Err(ApiError::invalid_param_value("newOrderRespType")),
        }
    }

    /// The simulator answers FULL; ACK and RESULT show less.
    pub(crate) fn trim(self, answer: &mut NewOrderResponse) {
        match self {
            RespondWith::Full => {}
            RespondWith::Result => answer.fills = None,
            RespondWith::Ack => {
                answer.result = None;
                answer.fills = None;
                answer.margin_buy_borrow_amount = None;
                answer.margin_buy_borrow_asset = None;
            }
        }
    }
}

/// MARKET and LIMIT orders answer FULL unless told otherwise; the others ACK (Binance's rule).
pub(crate) fn response_type(
    params: &dyn Fields,
    order_type: OrderType,
) -> Result<RespondWith, ApiError> {
    match params.field("newOrderRespType") {
        Some(text) => RespondWith::parse(text),
        None if matches!(order_type, OrderType::Market | OrderType::Limit) => Ok(RespondWith::Full),
        None => Ok(RespondWith::Ack),
    }
}
