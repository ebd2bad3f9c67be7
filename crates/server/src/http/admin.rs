//! The admin API: keys, isolated accounts, event publishing, health and metrics.
//!
//! Served on its own listener (loopback by default), behind [`super::admin_guard`]: its own
//! host names and origin only, JSON bodies, and the bearer token when one is configured.
//! Errors are `{"error":"<message>"}`.

use crate::bus::{BusHealth, Published};
use crate::intake;
use crate::state::SharedState;
use crate::store::{ApiKeyRecord, SigningKeyRecord, StoreError};
use crate::token::SigningKey;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;
use userstream_protocol::Uid;

mod publish_stream;
mod simulator;

pub fn router(state: SharedState) -> Router {
    let console = if state.config.admin_console {
        super::console::routes::routes()
    } else {
        Router::new()
    };
    Router::new()
        .route("/admin/v1/keys", post(create_key).get(list_keys))
        .route("/admin/v1/keys/{api_key}", delete(revoke_key))
        .route(
            "/admin/v1/signing-keys",
            post(rotate_signing_key).get(list_signing_keys),
        )
        .route("/admin/v1/accounts/{uid}/isolated", post(open_isolated))
        .route("/admin/v1/events", post(publish))
        .route("/admin/v1/events/stream", get(publish_stream::upgrade))
        .route("/admin/v1/sessions", get(list_sessions))
        .route("/admin/v1/faults", post(inject_fault))
        .merge(simulator::routes())
        .merge(console)
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .fallback(|| async { AdminError(StatusCode::NOT_FOUND, "no such admin route".into()) })
        .method_not_allowed_fallback(|| async {
            let msg = "this admin route does not take that method";
            AdminError(StatusCode::METHOD_NOT_ALLOWED, msg.into())
        })
        .layer(middleware::from_fn_with_state(
            state.clone(),
            super::admin_guard::guard,
        ))
        .layer(middleware::from_fn(
            super::console::routes::security_headers,
        ))
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

/// Parses a JSON body, answering 400 with serde's message (which names the field) on failure.
fn parse_body<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, AdminError> {
    serde_json::from_slice(body).map_err(|e| bad_request(format!("invalid request body: {e}")))
}

fn check_symbol(state: &SharedState, symbol: &str) -> Result<(), AdminError> {
    intake::check_symbol(&state.config, symbol).map_err(|e| bad_request(e.0))
}

/// Longest key label, in bytes: enough for a name and a purpose, and small on every listing.
const MAX_LABEL_BYTES: usize = 128;
/// Most isolated accounts one key request may open.
const MAX_ISOLATED_PER_REQUEST: usize = 64;

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
    if let Some(label) = &request.label
        && label.len() > MAX_LABEL_BYTES
    {
        return Err(bad_request(format!(
            "label is {} bytes long; at most {MAX_LABEL_BYTES} are allowed",
            label.len()
        )));
    }
    if request.isolated_symbols.len() > MAX_ISOLATED_PER_REQUEST {
        return Err(bad_request(format!(
            "isolatedSymbols lists {} symbols; at most {MAX_ISOLATED_PER_REQUEST} per request",
            request.isolated_symbols.len()
        )));
    }
    let mut symbols: Vec<String> = request
        .isolated_symbols
        .iter()
        .map(|s| s.to_ascii_uppercase())
        .collect();
    symbols.sort_unstable();
    symbols.dedup();
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
    let now_ms = state.clock.now_ms();
    // This node first: the key stops working here and its subscriptions here end, counted for
    // the answer. Then the store, whose change feed carries the revocation to every node (to
    // this one too, which then finds nothing left to end). Should the store fail, the answer is
    // a 500 and the key stays revoked here only, until a retry succeeds or the node restarts.
    let Some(marked) = state.directory.mark_revoked(&api_key, now_ms) else {
        return Err(AdminError(StatusCode::NOT_FOUND, "no such API key".into()));
    };
    let terminated = state.hub.revoke_key(marked.id);
    let key = state
        .directory
        .revoke_key(&api_key, now_ms)
        .await
        .map_err(internal)?
        .unwrap_or(marked);
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

/// Accepts one item, a JSON array of items, or NDJSON (one item per line), read by
/// [`crate::intake`]; nothing is published unless the whole batch is valid.
async fn publish(State(state): State<SharedState>, body: Bytes) -> Result<Json<Value>, AdminError> {
    publish_body(&state, &body).await.map(Json)
}

/// Reads and publishes one publish body (a request's, or a message on the kept-open
/// connection): the answer, or why it was refused.
async fn publish_body(state: &SharedState, body: &[u8]) -> Result<Value, AdminError> {
    let intake =
        intake::parse(body, &state.config, state.clock.now_us()).map_err(|e| bad_request(e.0))?;
    let published = intake.events.len();
    let outcome = state.bus.publish(intake.events).await.map_err(internal)?;
    Ok(publish_answer(published, intake.single, outcome))
}

/// Reads several publish bodies and publishes what the accepted ones hold as one batch, in
/// their order (a refused body publishes nothing). One result per body: why it was refused,
/// or, for every accepted one, the bus's refusal of the batch. The kept-open connection
/// publishes what arrived together this way, so the hub queues it all before it wakes a
/// connection.
async fn publish_bodies(state: &SharedState, bodies: &[&[u8]]) -> Vec<Result<(), AdminError>> {
    let (mut events, now_us) = (Vec::new(), state.clock.now_us());
    let mut results: Vec<Result<(), AdminError>> = bodies
        .iter()
        .map(|body| {
            intake::parse_into(body, &state.config, now_us, &mut events)
                .map(|_| ())
                .map_err(|e| bad_request(e.0))
        })
        .collect();
    if !events.is_empty()
        && let Err(error) = state.bus.publish(events).await
    {
        let AdminError(status, message) = internal(error);
        for result in results.iter_mut().filter(|result| result.is_ok()) {
            *result = Err(AdminError(status, message.clone()));
        }
    }
    results
}

/// The answer to a publish: what the bus could know (docs/operations.md, "Publishing"). One node
/// counts the subscriptions it queued; a cluster's bus only knows the broker took the events.
fn publish_answer(published: usize, single: bool, outcome: Published) -> Value {
    match outcome {
        Published::Delivered { subscriptions } if single => json!({ "subscribers": subscriptions }),
        Published::Delivered { subscriptions } => {
            json!({ "published": published, "subscribers": subscriptions })
        }
        Published::Accepted => json!({ "published": published, "delivery": "accepted" }),
        Published::Persisted => json!({ "published": published, "delivery": "persisted" }),
    }
}

/// How long a new signing key only verifies before it signs, unless the request says: every
/// node learns it within a second, and a minute leaves room for one that is reconnecting.
const DEFAULT_ACTIVATION_DELAY_MS: u64 = 60_000;
/// The longest a rotation may wait to take effect: a week.
const MAX_ACTIVATION_DELAY_MS: u64 = 7 * 86_400_000;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Rotate {
    activate_in_ms: Option<u64>,
}

/// Rotation: a new signing key (the next kid), kept in the store and so learnt by every node,
/// that signs from `activateInMs` on. Older keys keep verifying, so no token stops working.
async fn rotate_signing_key(
    State(state): State<SharedState>,
    body: Bytes,
) -> Result<Json<Value>, AdminError> {
    if !state.config.token.signing_keys.is_empty() {
        return Err(AdminError(
            StatusCode::CONFLICT,
            "the signing keys come from the configuration (token.signing_keys): rotate them there"
                .into(),
        ));
    }
    let request: Rotate = if body.iter().all(u8::is_ascii_whitespace) {
        Rotate::default()
    } else {
        parse_body(&body)?
    };
    let delay = request
        .activate_in_ms
        .unwrap_or(DEFAULT_ACTIVATION_DELAY_MS);
    if delay > MAX_ACTIVATION_DELAY_MS {
        return Err(bad_request(format!(
            "activateInMs is at most {MAX_ACTIVATION_DELAY_MS} (a week)"
        )));
    }
    let (keys, _) = state.keyring.describe();
    let kid = keys
        .iter()
        .map(|(kid, _)| *kid)
        .max()
        .unwrap_or(0)
        .checked_add(1)
        .ok_or_else(|| internal("no kid is left"))?;
    let key = SigningKey::generate(kid);
    let active_from_ms = state.clock.now_ms().saturating_add(delay as i64);
    let record = SigningKeyRecord::new(key.to_config_string(), active_from_ms);
    match state.store.add_signing_key(&record).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            return Err(AdminError(
                StatusCode::CONFLICT,
                format!("another node added signing key {kid} at the same moment; try again"),
            ));
        }
        Err(error) => return Err(internal(error)),
    }
    state
        .keyring
        .learn(&record.key, active_from_ms)
        .map_err(internal)?;
    tracing::info!(kid, active_from_ms, "token signing key added");
    Ok(Json(json!({ "kid": kid, "activeFrom": active_from_ms })))
}

/// The signing keys (never their secrets): kid, when each signs from, which one signs now.
async fn list_signing_keys(State(state): State<SharedState>) -> Json<Value> {
    let (keys, signing) = state.keyring.describe();
    let keys: Vec<Value> = keys
        .into_iter()
        .map(|(kid, from)| json!({ "kid": kid, "activeFrom": from }))
        .collect();
    Json(json!({ "signingKid": signing, "keys": keys }))
}

async fn inject_fault(
    State(state): State<SharedState>,
    body: Bytes,
) -> Result<Json<Value>, AdminError> {
    let request: crate::faults::FaultRequest = parse_body(&body)?;
    let on = crate::faults::FaultTargets {
        sessions: &state.sessions,
        hub: &state.hub,
        clock: &state.clock,
        token_failures: &state.token_failures,
        injected: &state.metrics.faults_injected,
    };
    let outcome = crate::faults::apply(on, &request).map_err(bad_request)?;
    Ok(Json(
        json!({ "sessions": outcome.sessions, "subscriptions": outcome.subscriptions }),
    ))
}

async fn list_sessions(State(state): State<SharedState>) -> Json<Value> {
    Json(super::sessions::sessions_json(&state, usize::MAX).1)
}

/// Healthy unless the bus has been cut off from its broker for longer than
/// `nats.unhealthy_after_ms`, or the server is draining before a shutdown (then 503, so a load
/// balancer stops sending clients here).
async fn healthz(State(state): State<SharedState>) -> Response {
    let grace = Duration::from_millis(state.config.nats.unhealthy_after_ms);
    let (bus, bus_up) = match state.bus.health() {
        BusHealth::Connected => (json!({ "state": "connected" }), true),
        BusHealth::Disconnected { since } => {
            let down = since.elapsed();
            let state = json!({ "state": "disconnected", "downMs": down.as_millis() as u64 });
            (state, down <= grace)
        }
        _ => (json!({ "state": "in-process" }), true),
    };
    let (status, code) = if state.draining.load(std::sync::atomic::Ordering::Relaxed) {
        ("draining", StatusCode::SERVICE_UNAVAILABLE)
    } else if bus_up {
        ("ok", StatusCode::OK)
    } else {
        ("unhealthy", StatusCode::SERVICE_UNAVAILABLE)
    };
    let body = json!({
        "status": status,
        "connections": state.sessions.count(),
        "subscriptions": state.hub.pending_expiries(),
        "bus": bus,
    });
    (code, Json(body)).into_response()
}

async fn metrics(State(state): State<SharedState>) -> Response {
    state
        .metrics
        .observe_bus(state.bus.stats(), state.bus.health());
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
    fn redaction_keeps_only_the_ends() {
        assert_eq!(redact("abcdefghijklmnop"), "abcd…mnop");
        assert_eq!(redact("short"), "…");
    }
}
