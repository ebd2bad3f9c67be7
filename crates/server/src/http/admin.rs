//! The admin API: keys, isolated accounts, event publishing, health and metrics.
//!
//! Served on its own listener (loopback by default). When `admin_token` is configured every
//! request needs `Authorization: Bearer <token>`. Errors are `{"error":"<message>"}`.

use crate::bus::AccountEvent;
use crate::state::SharedState;
use crate::store::ApiKeyRecord;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Value, json};
use sonic_rs::{JsonContainerTrait, JsonValueTrait, Value as JsonTree};
use subtle::ConstantTimeEq;
use userstream_protocol::events::{Event, parse_tree};
use userstream_protocol::{Account, Uid};

pub fn router(state: SharedState) -> Router {
    Router::new()
        .route("/admin/v1/keys", post(create_key).get(list_keys))
        .route("/admin/v1/keys/{api_key}", delete(revoke_key))
        .route("/admin/v1/accounts/{uid}/isolated", post(open_isolated))
        .route("/admin/v1/events", post(publish))
        .route("/admin/v1/sessions", get(list_sessions))
        .route("/admin/v1/faults", post(inject_fault))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .layer(middleware::from_fn_with_state(state.clone(), require_token))
        .with_state(state)
}

/// An admin error: status plus `{"error": message}`.
struct AdminError(StatusCode, String);

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

fn bad_request(msg: impl Into<String>) -> AdminError {
    AdminError(StatusCode::BAD_REQUEST, msg.into())
}

fn internal(error: impl std::fmt::Display) -> AdminError {
    tracing::error!(%error, "admin request failed");
    AdminError(StatusCode::INTERNAL_SERVER_ERROR, error.to_string())
}

async fn require_token(State(state): State<SharedState>, request: Request, next: Next) -> Response {
    if let Some(expected) = &state.config.admin_token {
        let presented = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .unwrap_or("");
        if !bool::from(presented.as_bytes().ct_eq(expected.as_bytes())) {
            return AdminError(
                StatusCode::UNAUTHORIZED,
                "missing or wrong admin bearer token".into(),
            )
            .into_response();
        }
    }
    next.run(request).await
}

/// Parses a JSON body, answering 400 with serde's message (which names the field) on failure.
fn parse_body<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, AdminError> {
    serde_json::from_slice(body).map_err(|e| bad_request(format!("invalid request body: {e}")))
}

fn check_symbol(state: &SharedState, symbol: &str) -> Result<(), AdminError> {
    if state.config.symbol(symbol).is_none() {
        return Err(bad_request(format!(
            "unknown symbol '{symbol}' (not in the configured symbols)"
        )));
    }
    Ok(())
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateKey {
    uid: Option<Uid>,
    label: Option<String>,
    #[serde(default)]
    isolated_symbols: Vec<String>,
}

async fn create_key(
    State(state): State<SharedState>,
    body: Bytes,
) -> Result<Json<Value>, AdminError> {
    let request: CreateKey = if body.iter().all(u8::is_ascii_whitespace) {
        CreateKey::default()
    } else {
        parse_body(&body)?
    };
    let symbols: Vec<String> = request
        .isolated_symbols
        .iter()
        .map(|s| s.to_ascii_uppercase())
        .collect();
    for symbol in &symbols {
        check_symbol(&state, symbol)?;
    }
    let key = state
        .directory
        .create_key(request.uid, request.label, &symbols, state.clock.now_ms())
        .await
        .map_err(internal)?;
    tracing::info!(uid = key.uid, api_key = %redact(&key.api_key), "API key created");
    Ok(Json(json!({
        "apiKey": key.api_key,
        "secretKey": key.secret_key,
        "uid": key.uid,
        "label": key.label,
        "isolatedSymbols": state.directory.isolated_symbols(key.uid),
    })))
}

/// The first and last four characters: enough to recognise a key in logs, useless to an attacker.
pub(crate) fn redact(secret: &str) -> String {
    match (
        secret.get(..4),
        secret.get(secret.len().saturating_sub(4)..),
    ) {
        (Some(head), Some(tail)) if secret.len() > 8 => format!("{head}…{tail}"),
        _ => "…".to_owned(),
    }
}

fn describe_key(state: &SharedState, key: &ApiKeyRecord) -> Value {
    json!({
        "apiKey": key.api_key,
        "uid": key.uid,
        "label": key.label,
        "createdAt": key.created_at_ms,
        "revoked": key.revoked_at_ms.is_some(),
        "revokedAt": key.revoked_at_ms,
        "isolatedSymbols": state.directory.isolated_symbols(key.uid),
    })
}

async fn list_keys(State(state): State<SharedState>) -> Json<Value> {
    let keys: Vec<Value> = state
        .directory
        .keys()
        .iter()
        .map(|key| describe_key(&state, key))
        .collect();
    Json(Value::Array(keys))
}

async fn revoke_key(
    State(state): State<SharedState>,
    Path(api_key): Path<String>,
) -> Result<Json<Value>, AdminError> {
    let Some(key) = state
        .directory
        .revoke_key(&api_key, state.clock.now_ms())
        .await
        .map_err(internal)?
    else {
        return Err(AdminError(StatusCode::NOT_FOUND, "no such API key".into()));
    };
    let terminated = state.bus.revoke_key(key.id).await.map_err(internal)?;
    tracing::info!(uid = key.uid, api_key = %redact(&key.api_key), terminated, "API key revoked");
    let mut body = describe_key(&state, &key);
    body["terminatedSubscriptions"] = json!(terminated);
    Ok(Json(body))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OpenIsolated {
    symbol: String,
}

async fn open_isolated(
    State(state): State<SharedState>,
    Path(uid): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, AdminError> {
    let uid: Uid = uid
        .parse()
        .map_err(|_| bad_request(format!("uid '{uid}' is not an unsigned integer")))?;
    let request: OpenIsolated = parse_body(&body)?;
    let symbol = request.symbol.to_ascii_uppercase();
    check_symbol(&state, &symbol)?;
    let created = state
        .directory
        .open_isolated(uid, &symbol)
        .await
        .map_err(internal)?;
    Ok(Json(
        json!({ "uid": uid, "symbol": symbol, "created": created }),
    ))
}

/// The shape of one publish item. The event is skipped here (not copied) and read in place
/// from the parsed tree afterwards.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PublishItem {
    uid: Uid,
    isolated_symbol: Option<String>,
    #[serde(rename = "event")]
    _event: IgnoredAny,
}

/// Accepts one item, a JSON array of items, or NDJSON (one item per line). The batch is
/// validated whole before anything is published.
async fn publish(State(state): State<SharedState>, body: Bytes) -> Result<Json<Value>, AdminError> {
    let parsed = split_batch(&body)?;
    let (items, single) = (parsed.items(), parsed.is_single());
    let now_us = state.clock.now_us();
    let mut batch = Vec::with_capacity(items.len());
    for (index, tree) in items.into_iter().enumerate() {
        let place = |msg: String| {
            if single {
                bad_request(msg)
            } else {
                bad_request(format!("item {index}: {msg}"))
            }
        };
        let item: PublishItem = sonic_rs::from_value(tree).map_err(|e| place(e.to_string()))?;
        let account = match item.isolated_symbol {
            None => Account::cross(item.uid),
            Some(symbol) => {
                let symbol = symbol.to_ascii_uppercase();
                check_symbol(&state, &symbol).map_err(|e| place(e.1))?;
                Account::isolated(item.uid, symbol)
            }
        };
        let Some(event) = tree.get("event") else {
            return Err(place("missing field `event`".into()));
        };
        let event = Event::parse_published(event, now_us).map_err(|e| place(e.to_string()))?;
        // The margin risk events describe the cross margin account (our extension of the stream).
        if event.is_risk_event() && account.scope.isolated_symbol().is_some() {
            let msg = format!(
                "{} belongs to cross margin accounts; omit isolatedSymbol",
                event.event_type()
            );
            return Err(place(msg));
        }
        batch.push(AccountEvent { account, event });
    }
    let published = batch.len();
    let subscribers = state.bus.publish(batch).await.map_err(internal)?;
    if single {
        Ok(Json(json!({ "subscribers": subscribers })))
    } else {
        Ok(Json(
            json!({ "published": published, "subscribers": subscribers }),
        ))
    }
}

/// A publish body, parsed (with `sonic_rs`, chosen by measurement: docs/benchmarks.md).
enum Batch {
    /// A single object.
    One(JsonTree),
    /// A JSON array of items.
    Array(JsonTree),
    /// NDJSON, one item per line.
    Lines(Vec<JsonTree>),
}

impl Batch {
    fn is_single(&self) -> bool {
        matches!(self, Batch::One(_))
    }

    fn items(&self) -> Vec<&JsonTree> {
        match self {
            Batch::One(item) => vec![item],
            Batch::Array(array) => array
                .as_array()
                .map(|a| a.iter().collect())
                .unwrap_or_default(),
            Batch::Lines(lines) => lines.iter().collect(),
        }
    }
}

/// Splits a publish body into items.
fn split_batch(body: &[u8]) -> Result<Batch, AdminError> {
    match parse_tree(body) {
        Ok(tree) if tree.is_array() => Ok(Batch::Array(tree)),
        Ok(tree) if tree.is_object() => Ok(Batch::One(tree)),
        Ok(_) => Err(bad_request(
            "expected a JSON object, an array of objects, or NDJSON",
        )),
        Err(whole_error) => {
            let lines: Vec<&[u8]> = body
                .split(|&b| b == b'\n')
                .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
                .collect();
            if lines.len() < 2 {
                return Err(bad_request(format!("invalid JSON: {whole_error}")));
            }
            let items = lines
                .into_iter()
                .enumerate()
                .map(|(i, line)| {
                    parse_tree(line)
                        .map_err(|e| bad_request(format!("line {}: invalid JSON: {e}", i + 1)))
                })
                .collect::<Result<Vec<JsonTree>, _>>()?;
            Ok(Batch::Lines(items))
        }
    }
}

async fn inject_fault(
    State(state): State<SharedState>,
    body: Bytes,
) -> Result<Json<Value>, AdminError> {
    let request: crate::faults::FaultRequest = parse_body(&body)?;
    let outcome = crate::faults::apply(&state, &request).map_err(bad_request)?;
    Ok(Json(
        json!({ "sessions": outcome.sessions, "subscriptions": outcome.subscriptions }),
    ))
}

/// Live connections: who, since when, which subscriptions, how much is queued.
async fn list_sessions(State(state): State<SharedState>) -> Json<Value> {
    let mut sessions = state.hub.sessions();
    sessions.sort_by_key(|session| session.id);
    let sessions: Vec<Value> = sessions
        .iter()
        .map(|session| {
            let subscriptions: Vec<Value> = session
                .subscribed_accounts()
                .into_iter()
                .map(|(id, account, expires_at_us)| {
                    json!({
                        "subscriptionId": id,
                        "uid": account.uid,
                        "isolatedSymbol": account.scope.isolated_symbol(),
                        "expirationTime": expires_at_us,
                    })
                })
                .collect();
            json!({
                "id": session.id,
                "peer": session.peer.to_string(),
                "connectedSince": session.connected_at_us.div_euclid(1000),
                "timeUnit": format!("{:?}", session.format.time_unit()).to_uppercase(),
                "format": session.format.describe(),
                "subscriptions": subscriptions,
                "queuedBytes": session.outbox.queued_bytes(),
            })
        })
        .collect();
    Json(Value::Array(sessions))
}

async fn healthz(State(state): State<SharedState>) -> Json<Value> {
    Json(json!({
        "status": "ok",
        "connections": state.hub.session_count(),
        "subscriptions": state.hub.pending_expiries(),
    }))
}

async fn metrics(State(state): State<SharedState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_split_three_ways() {
        assert_eq!(
            split_batch(br#"{"uid":1}"#)
                .ok()
                .map(|b| (b.items().len(), b.is_single())),
            Some((1, true))
        );
        assert_eq!(
            split_batch(br#"[{"uid":1},{"uid":2}]"#)
                .ok()
                .map(|b| (b.items().len(), b.is_single())),
            Some((2, false))
        );
        assert_eq!(
            split_batch(b"{\"uid\":1}\n{\"uid\":2}\n")
                .ok()
                .map(|b| (b.items().len(), b.is_single())),
            Some((2, false))
        );
        assert!(split_batch(b"{\"uid\":1}\nnope\n").is_err());
        assert!(split_batch(b"nope").is_err());
    }

    #[test]
    fn redaction_keeps_only_the_ends() {
        assert_eq!(redact("abcdefghijklmnop"), "abcd…mnop");
        assert_eq!(redact("short"), "…");
    }
}
