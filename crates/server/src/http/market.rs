//! The supporting endpoints real clients call before they stream: ping, time, exchange info,
//! margin pairs. Binance's shapes, with only the content a user data stream client needs.

use super::error_response;
use super::listen_token::authenticate;
use crate::config::SymbolConfig;
use crate::rest_params::{Params, verify_signature};
use crate::state::SharedState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use userstream_protocol::ApiError;

pub async fn ping() -> Json<Value> {
    Json(json!({}))
}

pub async fn time(State(state): State<SharedState>) -> Json<Value> {
    Json(json!({ "serverTime": state.clock.now_ms() }))
}

pub async fn exchange_info(
    State(state): State<SharedState>,
    RawQuery(query): RawQuery,
) -> Response {
    let selected =
        Params::parse(query.as_deref(), &[], &["symbol"]).and_then(|params| {
            match params.get("symbol") {
                None => Ok(state.config.symbols.iter().collect::<Vec<_>>()),
                Some(name) => state
                    .config
                    .symbol(&name.to_ascii_uppercase())
                    .map(|s| vec![s])
                    .ok_or_else(ApiError::invalid_symbol),
            }
        });
    let symbols = match selected {
        Ok(symbols) => symbols,
        Err(error) => return error_response(&state, &error),
    };
    let limits = &state.config.limits;
    let rules = state.exchange.as_deref().map_or(&[][..], |e| e.symbols());
    Json(json!({
        "timezone": "UTC",
        "serverTime": state.clock.now_ms(),
        "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": limits.request_weight_per_minute},
            connections_limit(limits.connection_window_ms, limits.connections_per_window),
        ],
        "exchangeFilters": [],
        "symbols": symbols.iter().map(|s| {
            let mut entry = json!({
                "symbol": s.symbol,
                "status": "TRADING",
                "baseAsset": s.base,
                "baseAssetPrecision": 8,
                "quoteAsset": s.quote,
                "quotePrecision": 8,
                "quoteAssetPrecision": 8,
                "isSpotTradingAllowed": true,
                "isMarginTradingAllowed": true,
            });
            if let (Some(exchange), Some(rules)) =
                (state.exchange.as_deref(), rules.iter().find(|r| r.symbol == s.symbol))
            {
                entry["orderTypes"] = json!(ORDER_TYPES);
                entry["ocoAllowed"] = json!(true);
                entry["filters"] = filters(rules, exchange.max_num_orders());
            }
            entry
        }).collect::<Vec<_>>(),
    }))
    .into_response()
}

/// The order types the simulator takes, in Binance's `exchangeInfo` order.
const ORDER_TYPES: [&str; 7] = [
    "LIMIT",
    "LIMIT_MAKER",
    "MARKET",
    "STOP_LOSS",
    "STOP_LOSS_LIMIT",
    "TAKE_PROFIT",
    "TAKE_PROFIT_LIMIT",
];

/// The filters the simulator enforces, as `exchangeInfo` lists them (8 fraction digits).
fn filters(rules: &userstream_sim::SymbolRules, max_num_orders: usize) -> Value {
    let text = |value: userstream_sim::Decimal| format!("{value:.8}");
    json!([
        {
            "filterType": "PRICE_FILTER",
            "minPrice": text(rules.tick_size),
            "maxPrice": text(userstream_sim::MAX_PRICE),
            "tickSize": text(rules.tick_size),
        },
        {
            "filterType": "LOT_SIZE",
            "minQty": text(rules.min_qty),
            "maxQty": text(rules.max_qty),
            "stepSize": text(rules.step_size),
        },
        {
            "filterType": "NOTIONAL",
            "minNotional": text(rules.min_notional),
            "applyMinToMarket": true,
            "avgPriceMins": 5,
        },
        {
            "filterType": "MAX_NUM_ORDERS",
            "maxNumOrders": max_num_orders,
        },
    ])
}

/// The WebSocket connection-rate limit as an `exchangeInfo` entry (whole minutes when possible).
fn connections_limit(window_ms: i64, limit: u64) -> Value {
    let (interval, interval_num) = if window_ms % 60_000 == 0 {
        ("MINUTE", window_ms / 60_000)
    } else {
        ("SECOND", (window_ms / 1000).max(1))
    };
    json!({"rateLimitType": "CONNECTIONS", "interval": interval, "intervalNum": interval_num, "limit": limit})
}

/// `GET /sapi/v1/margin/allPairs` (USER_DATA: signed).
pub async fn cross_pairs(
    State(state): State<SharedState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    margin_pairs(&state, query.as_deref(), &headers, &body, |index, s| {
        json!({
            "base": s.base,
            "id": 351_637_150_141_315_800_u64 + index as u64,
            "isBuyAllowed": true,
            "isMarginTrade": true,
            "isSellAllowed": true,
            "quote": s.quote,
            "symbol": s.symbol,
        })
    })
}

/// `GET /sapi/v1/margin/isolated/allPairs` (USER_DATA: signed).
pub async fn isolated_pairs(
    State(state): State<SharedState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    margin_pairs(&state, query.as_deref(), &headers, &body, |_, s| {
        json!({
            "base": s.base,
            "isBuyAllowed": true,
            "isMarginTrade": true,
            "isSellAllowed": true,
            "quote": s.quote,
            "symbol": s.symbol,
        })
    })
}

fn margin_pairs(
    state: &SharedState,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
    render: impl Fn(usize, &SymbolConfig) -> Value,
) -> Response {
    let result = authenticate(state, headers).and_then(|key| {
        let params = Params::parse(
            query,
            body,
            &["symbol", "timestamp", "recvWindow", "signature"],
        )?;
        if params.get("signature").is_none() {
            return Err(ApiError::mandatory_param("signature"));
        }
        verify_signature(
            query,
            body,
            &params,
            key.secret_key.as_bytes(),
            state.clock.now_ms(),
        )?;
        match params.get("symbol") {
            None => Ok(state
                .config
                .symbols
                .iter()
                .enumerate()
                .map(|(i, s)| render(i, s))
                .collect::<Vec<_>>()),
            Some(name) => {
                let name = name.to_ascii_uppercase();
                let (index, symbol) = state
                    .config
                    .symbols
                    .iter()
                    .enumerate()
                    .find(|(_, s)| s.symbol == name)
                    .ok_or_else(ApiError::invalid_symbol)?;
                Ok(vec![render(index, symbol)])
            }
        }
    });
    match result {
        Ok(pairs) => Json(pairs).into_response(),
        Err(error) => error_response(state, &error),
    }
}
