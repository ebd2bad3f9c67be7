//! Binance's margin trading REST API (`/sapi/v1/margin/...`), answered by the simulator.
//!
//! Every endpoint is SIGNED (TRADE or USER_DATA): `X-MBX-APIKEY`, then `timestamp`,
//! `recvWindow` and an HMAC `signature` over the parameters as sent. The key's UID owns the
//! accounts; `isIsolated=TRUE` with a `symbol` names the isolated account of that pair, which the
//! user must have opened (-3003 otherwise). Parameters are checked here, with Binance's codes,
//! before the simulator sees a typed request.

use super::fields::{
    Fields, RespondWith, account, asset, auto_repay_at_cancel, client_order_id, decimal,
    history_query, integer, isolated, known_symbol, order_ref, order_request, prevention, required,
    required_decimal, side, side_effect, symbol, time_in_force,
};
use super::listen_token::{keyed, with_used_weight};
use super::{error_response, http_refusal};
use crate::exchange::Exchange;
use crate::net::Accepted;
use crate::rest_params::{Params, verify_signature};
use crate::state::SharedState;
use crate::store::ApiKeyRecord;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use std::sync::Arc;
use userstream_protocol::rest::NewOrderResponse;
use userstream_protocol::{Account, ApiError};
use userstream_sim::{BorrowRepay, OcoRequest};

/// Parameters every signed request may carry.
const SIGNED: [&str; 3] = ["timestamp", "recvWindow", "signature"];
/// Most symbols `GET /sapi/v1/margin/isolated/account` takes.
const MAX_ISOLATED_SYMBOLS: usize = 5;

/// The simulator's routes on the public listener.
pub(super) fn routes() -> Router<SharedState> {
    Router::new()
        .route(
            "/sapi/v1/margin/order",
            post(new_order).delete(cancel_order).get(query_order),
        )
        .route(
            "/sapi/v1/margin/openOrders",
            get(open_orders).delete(cancel_open_orders),
        )
        .route("/sapi/v1/margin/allOrders", get(all_orders))
        .route("/sapi/v1/margin/myTrades", get(my_trades))
        .route("/sapi/v1/margin/order/oco", post(new_oco))
        .route("/sapi/v1/margin/account", get(cross_account))
        .route("/sapi/v1/margin/isolated/account", get(isolated_account))
        .route("/sapi/v1/margin/borrow-repay", post(borrow_repay))
        .route("/sapi/v1/margin/maxBorrowable", get(max_borrowable))
}

/// A verified request: who sent it and what it carries.
struct Signed {
    key: Arc<ApiKeyRecord>,
    params: Params,
}

/// Authenticates, charges the UID's weight, parses and verifies; then runs `handle` against the
/// simulator. The answer carries the weight used, as Binance's does.
#[allow(clippy::too_many_arguments)]
async fn signed<T, F>(
    state: &SharedState,
    peer: std::net::SocketAddr,
    query: Option<String>,
    headers: &HeaderMap,
    body: &[u8],
    allowed: &[&str],
    weight: u64,
    handle: F,
) -> Response
where
    T: Serialize,
    F: AsyncFnOnce(&Exchange, Signed) -> Result<T, ApiError>,
{
    let Some(exchange) = state.exchange.as_deref() else {
        return error_response(state, &ApiError::internal("the simulator is off"));
    };
    if let Err(refusal) = state.admission.banned(peer.ip(), state.clock.now_ms()) {
        return http_refusal(state, &refusal);
    }
    let (key, used) = match keyed(state, peer, headers, weight) {
        Ok(keyed) => keyed,
        Err(refused) => return refused,
    };
    let now_ms = state.clock.now_ms();
    let names: Vec<&str> = allowed.iter().chain(SIGNED.iter()).copied().collect();
    let query = query.as_deref();
    let verified = Params::parse(query, body, &names).and_then(|params| {
        if params.field("signature").is_none() {
            return Err(ApiError::mandatory_param("signature"));
        }
        verify_signature(query, body, &params, key.secret_key.as_bytes(), now_ms)?;
        Ok(params)
    });
    let response = match verified {
        Ok(params) => match handle(exchange, Signed { key, params }).await {
            Ok(answer) => Json(answer).into_response(),
            Err(error) => error_response(state, &error),
        },
        Err(error) => error_response(state, &error),
    };
    with_used_weight(response, used)
}

/// The axum handler of one endpoint: the request's parts, handed to [`signed`].
macro_rules! endpoint {
    ($name:ident, $allowed:expr, $weight:expr, $handle:expr) => {
        pub async fn $name(
            State(state): State<SharedState>,
            ConnectInfo(Accepted { peer, .. }): ConnectInfo<Accepted>,
            RawQuery(query): RawQuery,
            headers: HeaderMap,
            body: Bytes,
        ) -> Response {
            let state_for_handler = Arc::clone(&state);
            signed(
                &state,
                peer,
                query,
                &headers,
                &body,
                $allowed,
                $weight,
                async move |exchange: &Exchange, request: Signed| {
                    $handle(&state_for_handler, exchange, request).await
                },
            )
            .await
        }
    };
}

endpoint!(
    new_order,
    &[
        "symbol",
        "isIsolated",
        "side",
        "type",
        "quantity",
        "quoteOrderQty",
        "price",
        "stopPrice",
        "newClientOrderId",
        "icebergQty",
        "newOrderRespType",
        "sideEffectType",
        "timeInForce",
        "selfTradePreventionMode",
        "autoRepayAtCancel",
    ],
    6,
    place_order
);
endpoint!(
    cancel_order,
    &[
        "symbol",
        "isIsolated",
        "orderId",
        "origClientOrderId",
        "newClientOrderId",
    ],
    10,
    cancel
);
endpoint!(
    cancel_open_orders,
    &["symbol", "isIsolated"],
    10,
    cancel_all
);
endpoint!(
    query_order,
    &["symbol", "isIsolated", "orderId", "origClientOrderId"],
    10,
    get_order
);
endpoint!(open_orders, &["symbol", "isIsolated"], 10, get_open_orders);
endpoint!(
    all_orders,
    &[
        "symbol",
        "isIsolated",
        "orderId",
        "startTime",
        "endTime",
        "limit"
    ],
    200,
    get_all_orders
);
endpoint!(
    my_trades,
    &[
        "symbol",
        "isIsolated",
        "orderId",
        "startTime",
        "endTime",
        "fromId",
        "limit"
    ],
    10,
    get_my_trades
);
endpoint!(
    new_oco,
    &[
        "symbol",
        "isIsolated",
        "listClientOrderId",
        "side",
        "quantity",
        "limitClientOrderId",
        "price",
        "limitIcebergQty",
        "stopClientOrderId",
        "stopPrice",
        "stopLimitPrice",
        "stopIcebergQty",
        "stopLimitTimeInForce",
        "newOrderRespType",
        "sideEffectType",
        "selfTradePreventionMode",
        "autoRepayAtCancel",
    ],
    6,
    place_oco
);
endpoint!(cross_account, &[], 10, get_cross_account);
endpoint!(isolated_account, &["symbols"], 10, get_isolated_account);
endpoint!(
    borrow_repay,
    &["asset", "isIsolated", "symbol", "amount", "type"],
    1500,
    borrow_or_repay
);
endpoint!(
    max_borrowable,
    &["asset", "isolatedSymbol"],
    50,
    get_max_borrowable
);

async fn place_order(
    state: &SharedState,
    exchange: &Exchange,
    Signed { key, params }: Signed,
) -> Result<NewOrderResponse, ApiError> {
    let account = account(state, key.uid, &params)?;
    let (order, respond) = order_request(state, &params)?;
    let mut answer = exchange
        .apply(|sim, now_us| sim.place_order(&account, order, now_us))
        .await
        .map_err(|e| e.api_error())?;
    respond.trim(&mut answer);
    Ok(answer)
}

async fn place_oco(
    state: &SharedState,
    exchange: &Exchange,
    Signed { key, params }: Signed,
) -> Result<userstream_protocol::rest::OrderList, ApiError> {
    let account = account(state, key.uid, &params)?;
    let mut oco = OcoRequest::new(
        symbol(state, &params)?,
        side(&params)?,
        required_decimal(&params, "quantity")?,
        required_decimal(&params, "price")?,
        required_decimal(&params, "stopPrice")?,
    );
    oco.stop_limit_price = decimal(&params, "stopLimitPrice")?;
    oco.stop_limit_time_in_force = time_in_force(&params, "stopLimitTimeInForce")?;
    if oco.stop_limit_price.is_some() != oco.stop_limit_time_in_force.is_some() {
        return Err(if oco.stop_limit_price.is_some() {
            ApiError::mandatory_param("stopLimitTimeInForce")
        } else {
            ApiError::param_not_required("stopLimitTimeInForce")
        });
    }
    oco.list_client_order_id = client_order_id(&params, "listClientOrderId")?;
    oco.limit_client_order_id = client_order_id(&params, "limitClientOrderId")?;
    oco.stop_client_order_id = client_order_id(&params, "stopClientOrderId")?;
    oco.side_effect = side_effect(&params)?;
    oco.self_trade_prevention_mode = prevention(&params)?;
    oco.auto_repay_at_cancel = auto_repay_at_cancel(&params)?;
    for iceberg in ["limitIcebergQty", "stopIcebergQty"] {
        if decimal(&params, iceberg)?.is_some_and(|q| !q.is_zero()) {
            return Err(ApiError::invalid_param_value(iceberg));
        }
    }
    // An OCO answers with its reports whatever newOrderRespType says, as Binance's does.
    if let Some(text) = params.field("newOrderRespType") {
        RespondWith::parse(text)?;
    }
    exchange
        .apply(|sim, now_us| sim.place_oco(&account, oco, now_us))
        .await
        .map_err(|e| e.api_error())
}

async fn cancel(
    state: &SharedState,
    exchange: &Exchange,
    Signed { key, params }: Signed,
) -> Result<userstream_protocol::rest::CanceledOrder, ApiError> {
    let account = account(state, key.uid, &params)?;
    let symbol = symbol(state, &params)?;
    let target = order_ref(&params)?;
    let new_id = client_order_id(&params, "newClientOrderId")?;
    exchange
        .apply(|sim, now_us| sim.cancel_order(&account, &symbol, &target, new_id, now_us))
        .await
        .map_err(|e| e.api_error())
}

async fn cancel_all(
    state: &SharedState,
    exchange: &Exchange,
    Signed { key, params }: Signed,
) -> Result<Vec<userstream_sim::Canceled>, ApiError> {
    let account = account(state, key.uid, &params)?;
    let symbol = symbol(state, &params)?;
    exchange
        .apply(|sim, now_us| sim.cancel_open_orders(&account, &symbol, now_us))
        .await
        .map_err(|e| e.api_error())
}

async fn get_order(
    state: &SharedState,
    exchange: &Exchange,
    Signed { key, params }: Signed,
) -> Result<userstream_protocol::rest::MarginOrder, ApiError> {
    let account = account(state, key.uid, &params)?;
    let symbol = symbol(state, &params)?;
    let target = order_ref(&params)?;
    exchange
        .read(|sim| sim.order(&account, &symbol, &target))
        .await
        .map_err(|e| e.api_error())
}

async fn get_open_orders(
    state: &SharedState,
    exchange: &Exchange,
    Signed { key, params }: Signed,
) -> Result<Vec<userstream_protocol::rest::MarginOrder>, ApiError> {
    let account = account(state, key.uid, &params)?;
    let symbol = match params.field("symbol") {
        None => None,
        Some(_) => Some(symbol(state, &params)?),
    };
    exchange
        .read(|sim| sim.open_orders(&account, symbol.as_deref()))
        .await
        .map_err(|e| e.api_error())
}

async fn get_all_orders(
    state: &SharedState,
    exchange: &Exchange,
    Signed { key, params }: Signed,
) -> Result<Vec<userstream_protocol::rest::MarginOrder>, ApiError> {
    let account = account(state, key.uid, &params)?;
    let symbol = symbol(state, &params)?;
    let query = history_query(&params, 500)?;
    exchange
        .read(|sim| sim.all_orders(&account, &symbol, &query))
        .await
        .map_err(|e| e.api_error())
}

async fn get_my_trades(
    state: &SharedState,
    exchange: &Exchange,
    Signed { key, params }: Signed,
) -> Result<Vec<userstream_protocol::rest::MarginTrade>, ApiError> {
    let account = account(state, key.uid, &params)?;
    let symbol = symbol(state, &params)?;
    let mut query = history_query(&params, 1000)?;
    query.from_id = integer(&params, "fromId")?;
    exchange
        .read(|sim| sim.my_trades(&account, &symbol, &query))
        .await
        .map_err(|e| e.api_error())
}

async fn get_cross_account(
    _state: &SharedState,
    exchange: &Exchange,
    Signed { key, .. }: Signed,
) -> Result<userstream_protocol::rest::CrossMarginAccount, ApiError> {
    Ok(exchange.read(|sim| sim.cross_account(key.uid)).await)
}

async fn get_isolated_account(
    state: &SharedState,
    exchange: &Exchange,
    Signed { key, params }: Signed,
) -> Result<userstream_protocol::rest::IsolatedMarginAccounts, ApiError> {
    let symbols = match params.field("symbols") {
        None => None,
        Some(list) => {
            let symbols: Vec<String> = list
                .split(',')
                .map(|s| s.trim().to_ascii_uppercase())
                .collect();
            if symbols.len() > MAX_ISOLATED_SYMBOLS {
                return Err(ApiError::invalid_param_value("symbols"));
            }
            for symbol in &symbols {
                known_symbol(state, symbol)?;
                if !state.directory.has_isolated(key.uid, symbol) {
                    return Err(ApiError::margin_account_missing());
                }
            }
            Some(symbols)
        }
    };
    // The pairs the user opened, as the directory knows them, are the accounts that exist.
    let named = symbols.is_some();
    let symbols = symbols.unwrap_or_else(|| state.directory.isolated_symbols(key.uid));
    exchange
        .read(|sim| sim.isolated_accounts(key.uid, &symbols, !named))
        .await
        .map_err(|e| e.api_error())
}

async fn borrow_or_repay(
    state: &SharedState,
    exchange: &Exchange,
    Signed { key, params }: Signed,
) -> Result<userstream_protocol::rest::Transaction, ApiError> {
    let account = account(state, key.uid, &params)?;
    let asset = asset(&params, "asset")?;
    let amount = required_decimal(&params, "amount")?;
    let kind = match required(&params, "type")? {
        "BORROW" => BorrowRepay::Borrow,
        "REPAY" => BorrowRepay::Repay,
        _ => return Err(ApiError::invalid_param_value("type")),
    };
    exchange
        .apply(|sim, now_us| sim.borrow_repay(&account, &asset, amount, kind, now_us))
        .await
        .map_err(|e| e.api_error())
}

async fn get_max_borrowable(
    state: &SharedState,
    exchange: &Exchange,
    Signed { key, params }: Signed,
) -> Result<userstream_protocol::rest::MaxBorrowable, ApiError> {
    let asset = asset(&params, "asset")?;
    let account = match params.field("isolatedSymbol") {
        None => Account::cross(key.uid),
        Some(symbol) => isolated(state, key.uid, &symbol.to_ascii_uppercase())?,
    };
    exchange
        .read(|sim| sim.max_borrowable(&account, &asset))
        .await
        .map_err(|e| e.api_error())
}
