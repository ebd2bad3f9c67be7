//! The simulator's controls on the admin API: prices, orders (placed, cancelled, or filled on
//! demand at a chosen price), accounts and deposits. Binance has no such routes; a test or a
//! demo uses them to make the market do what it needs (docs/simulator.md).
//!
//! Order fields carry Binance's names and go through the same checks as the signed REST API,
//! so a refusal here has the same code; it reads `{"error":"<msg> (code <code>)"}`.

use super::{AdminError, bad_request, internal, parse_body};
use crate::exchange::Exchange;
use crate::http::fields::{self as margin, Fields};
use crate::state::SharedState;
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use userstream_protocol::{Account, ApiError, Uid};
use userstream_sim::OrderRef;

pub(super) fn routes() -> Router<SharedState> {
    Router::new()
        .route("/admin/v1/prices", post(set_price).get(prices))
        .route("/admin/v1/orders", post(place_order).get(list_orders))
        .route("/admin/v1/orders/cancel", post(cancel_order))
        .route("/admin/v1/orders/fill", post(fill_order))
        .route("/admin/v1/accounts/{uid}", get(show_account))
        .route("/admin/v1/accounts/{uid}/deposits", post(deposit))
}

fn exchange(state: &SharedState) -> Result<&Exchange, AdminError> {
    state.exchange.as_deref().ok_or_else(|| {
        AdminError(
            StatusCode::NOT_FOUND,
            "the simulator is off (sim.enabled = false, or a cluster node)".into(),
        )
    })
}

/// A Binance refusal, told the admin way.
fn refused(error: ApiError) -> AdminError {
    let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::BAD_REQUEST);
    AdminError(status, format!("{} (code {})", error.msg, error.code))
}

/// A JSON object's fields as text, for the REST API's checks; `uid` and `isolatedSymbol` say
/// whose account, and are taken out.
struct OrderBody {
    account: Account,
    fields: BTreeMap<String, String>,
}

fn order_body(state: &SharedState, body: &[u8]) -> Result<OrderBody, AdminError> {
    let object: Map<String, Value> = parse_body(body)?;
    let mut fields = BTreeMap::new();
    let mut uid = None;
    let mut isolated = None;
    for (name, value) in object {
        let text = match value {
            Value::String(text) => text,
            Value::Number(number) => number.to_string(),
            Value::Bool(flag) => flag.to_string(),
            Value::Null => continue,
            _ => {
                return Err(bad_request(format!(
                    "field `{name}` must be a string or a number"
                )));
            }
        };
        match name.as_str() {
            "uid" => {
                uid =
                    Some(text.parse::<Uid>().map_err(|_| {
                        bad_request(format!("uid '{text}' is not an unsigned integer"))
                    })?)
            }
            "isolatedSymbol" => isolated = Some(text.to_ascii_uppercase()),
            _ => {
                fields.insert(name, text);
            }
        }
    }
    let uid = uid.ok_or_else(|| bad_request("missing field `uid`"))?;
    let account = match isolated {
        None => Account::cross(uid),
        Some(symbol) => margin::isolated(state, uid, &symbol).map_err(refused)?,
    };
    Ok(OrderBody { account, fields })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetPrice {
    symbol: String,
    price: String,
}

async fn set_price(
    State(state): State<SharedState>,
    body: Bytes,
) -> Result<Json<Value>, AdminError> {
    let request: SetPrice = parse_body(&body)?;
    let fields = BTreeMap::from([
        ("symbol".to_owned(), request.symbol),
        ("price".to_owned(), request.price),
    ]);
    let symbol = margin::symbol(&state, &fields).map_err(refused)?;
    let price = margin::decimal(&fields, "price")
        .map_err(refused)?
        .ok_or_else(|| bad_request("missing field `price`"))?;
    let events = exchange(&state)?
        .move_price(&symbol, price)
        .await
        .map_err(|e| refused(e.api_error()))?;
    Ok(Json(
        json!({ "symbol": symbol, "price": price.to_string(), "events": events }),
    ))
}

async fn prices(State(state): State<SharedState>) -> Result<Json<Value>, AdminError> {
    let prices = exchange(&state)?
        .read(|sim| {
            sim.symbols()
                .iter()
                .map(|rules| {
                    let price = sim.price(&rules.symbol).map(|p| p.to_string());
                    json!({ "symbol": rules.symbol, "price": price })
                })
                .collect::<Vec<_>>()
        })
        .await;
    Ok(Json(Value::Array(prices)))
}

async fn place_order(
    State(state): State<SharedState>,
    body: Bytes,
) -> Result<Json<Value>, AdminError> {
    let OrderBody { account, fields } = order_body(&state, &body)?;
    let (order, _) = margin::order_request(&state, &fields).map_err(refused)?;
    let answer = exchange(&state)?
        .apply(|sim, now_us| sim.place_order(&account, order, now_us))
        .await
        .map_err(|e| refused(e.api_error()))?;
    Ok(Json(json!(answer)))
}

/// One order of an account: `symbol`, and `orderId` or `origClientOrderId`.
struct Target {
    account: Account,
    fields: BTreeMap<String, String>,
    symbol: String,
    order: OrderRef,
}

fn order_target(state: &SharedState, body: &[u8]) -> Result<Target, AdminError> {
    let OrderBody { account, fields } = order_body(state, body)?;
    let symbol = margin::symbol(state, &fields).map_err(refused)?;
    let order = margin::order_ref(&fields).map_err(refused)?;
    Ok(Target {
        account,
        fields,
        symbol,
        order,
    })
}

async fn cancel_order(
    State(state): State<SharedState>,
    body: Bytes,
) -> Result<Json<Value>, AdminError> {
    let Target {
        account,
        symbol,
        order,
        ..
    } = order_target(&state, &body)?;
    let answer = exchange(&state)?
        .apply(|sim, now_us| sim.cancel_order(&account, &symbol, &order, None, now_us))
        .await
        .map_err(|e| refused(e.api_error()))?;
    Ok(Json(json!(answer)))
}

async fn fill_order(
    State(state): State<SharedState>,
    body: Bytes,
) -> Result<Json<Value>, AdminError> {
    let Target {
        account,
        fields,
        symbol,
        order,
    } = order_target(&state, &body)?;
    let price = margin::decimal(&fields, "price").map_err(refused)?;
    let quantity = margin::decimal(&fields, "quantity").map_err(refused)?;
    let answer = exchange(&state)?
        .apply(|sim, now_us| sim.fill_order(&account, &symbol, &order, price, quantity, now_us))
        .await
        .map_err(|e| refused(e.api_error()))?;
    Ok(Json(json!(answer)))
}

/// `?uid=N[&isolatedSymbol=S][&symbol=S][&all=true]`: open orders, or with `all` and a symbol
/// every order of that symbol.
async fn list_orders(
    State(state): State<SharedState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, AdminError> {
    let fields: BTreeMap<String, String> =
        form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let uid: Uid = fields
        .field("uid")
        .ok_or_else(|| bad_request("missing query parameter `uid`"))?
        .parse()
        .map_err(|_| bad_request("uid is not an unsigned integer"))?;
    let account = match fields.field("isolatedSymbol") {
        None => Account::cross(uid),
        Some(symbol) => {
            margin::isolated(&state, uid, &symbol.to_ascii_uppercase()).map_err(refused)?
        }
    };
    let symbol = match fields.field("symbol") {
        None => None,
        Some(_) => Some(margin::symbol(&state, &fields).map_err(refused)?),
    };
    let all = fields
        .field("all")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let exchange = exchange(&state)?;
    let orders = match (all, symbol) {
        (true, Some(symbol)) => {
            exchange
                .read(|sim| sim.all_orders(&account, &symbol, &Default::default()))
                .await
        }
        (true, None) => return Err(bad_request("all=true needs a symbol")),
        (false, symbol) => {
            exchange
                .read(|sim| sim.open_orders(&account, symbol.as_deref()))
                .await
        }
    };
    orders
        .map(|orders| Json(json!(orders)))
        .map_err(|e| refused(e.api_error()))
}

fn uid(text: &str) -> Result<Uid, AdminError> {
    text.parse()
        .map_err(|_| bad_request(format!("uid '{text}' is not an unsigned integer")))
}

/// The cross account, or with `?isolatedSymbol=S` that isolated pair.
async fn show_account(
    State(state): State<SharedState>,
    Path(uid_text): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, AdminError> {
    let uid = uid(&uid_text)?;
    let fields: BTreeMap<String, String> =
        form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let exchange = exchange(&state)?;
    match fields.field("isolatedSymbol") {
        None => Ok(Json(json!(
            exchange.read(|sim| sim.cross_account(uid)).await
        ))),
        Some(symbol) => {
            let symbol = symbol.to_ascii_uppercase();
            margin::isolated(&state, uid, &symbol).map_err(refused)?;
            let symbols = [symbol];
            exchange
                .read(|sim| sim.isolated_accounts(uid, &symbols, false))
                .await
                .map(|accounts| Json(json!(accounts)))
                .map_err(|e| refused(e.api_error()))
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Deposit {
    asset: String,
    amount: String,
    isolated_symbol: Option<String>,
}

/// Funds an account. An isolated pair is opened first when the user has not opened it, as a
/// transfer into it would on Binance.
async fn deposit(
    State(state): State<SharedState>,
    Path(uid_text): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, AdminError> {
    let uid = uid(&uid_text)?;
    let request: Deposit = parse_body(&body)?;
    let fields = BTreeMap::from([
        ("asset".to_owned(), request.asset),
        ("amount".to_owned(), request.amount),
    ]);
    let asset = margin::asset(&fields, "asset").map_err(refused)?;
    let amount = margin::decimal(&fields, "amount")
        .map_err(refused)?
        .ok_or_else(|| bad_request("missing field `amount`"))?;
    let exchange = exchange(&state)?;
    let account = match request.isolated_symbol {
        None => Account::cross(uid),
        Some(symbol) => {
            let symbol = symbol.to_ascii_uppercase();
            super::check_symbol(&state, &symbol)?;
            state
                .directory
                .open_isolated(uid, &symbol)
                .await
                .map_err(internal)?;
            Account::isolated(uid, symbol)
        }
    };
    let events = exchange
        .apply(|sim, now_us| {
            let events = sim.deposit(&account, &asset, amount, now_us)?;
            Ok((events.len(), events))
        })
        .await
        .map_err(|e| refused(e.api_error()))?;
    Ok(Json(json!({ "events": events })))
}
