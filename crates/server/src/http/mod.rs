//! HTTP: the public REST endpoints (plus the WebSocket upgrade) and the admin API.

mod admin;
mod admin_guard;
mod legacy;
mod listen_token;
mod market;

use crate::state::SharedState;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::sync::Arc;
use std::time::Duration;
use userstream_protocol::ApiError;
use userstream_protocol::error::codes;

/// Largest REST request body accepted on the public API.
const PUBLIC_BODY_LIMIT: usize = 16 * 1024;
/// Largest admin request body (event batches).
const ADMIN_BODY_LIMIT: usize = 16 * 1024 * 1024;

/// Routes of the public listener: Binance's REST paths and `/ws-api/v3`.
pub fn public_router(state: SharedState) -> Router {
    Router::new()
        .route("/sapi/v1/userListenToken", post(listen_token::issue))
        .route("/api/v3/ping", get(market::ping))
        .route("/api/v3/time", get(market::time))
        .route("/api/v3/exchangeInfo", get(market::exchange_info))
        .route("/sapi/v1/margin/allPairs", get(market::cross_pairs))
        .route(
            "/sapi/v1/margin/isolated/allPairs",
            get(market::isolated_pairs),
        )
        .route("/sapi/v1/userDataStream", legacy::routes())
        .route("/sapi/v1/userDataStream/isolated", legacy::routes())
        .route("/ws-api/v3", get(crate::ws::upgrade))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(PUBLIC_BODY_LIMIT))
        .layer(middleware::map_response_with_state(
            Arc::clone(&state),
            public_json_errors,
        ))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            public_deadline,
        ))
        .with_state(state)
}

/// Routes of the admin listener.
pub fn admin_router(state: SharedState) -> Router {
    admin::router(Arc::clone(&state))
        .layer(DefaultBodyLimit::max(ADMIN_BODY_LIMIT))
        .layer(middleware::map_response(admin_json_errors))
        .layer(middleware::from_fn_with_state(state, admin_deadline))
}

/// The framework answers a few refusals itself in plain text (a body over the limit, a path
/// parameter that does not parse). Each listener rewrites them into its own JSON error shape,
/// so a client never meets an error it cannot parse; the status stays.
async fn plain_text_error(response: Response) -> Result<(StatusCode, String), Response> {
    let status = response.status();
    let plain = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/plain"));
    if !plain || !(status.is_client_error() || status.is_server_error()) {
        return Err(response);
    }
    let text = axum::body::to_bytes(response.into_body(), 4096)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_owned())
        .unwrap_or_default();
    let text = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("Bad request")
            .to_owned()
    } else {
        text
    };
    Ok((status, text))
}

async fn public_json_errors(State(state): State<SharedState>, response: Response) -> Response {
    match plain_text_error(response).await {
        Ok((status, text)) => {
            let msg = format!("{}.", text.trim_end_matches('.'));
            error_response(&state, &ApiError::new(status.as_u16(), codes::UNKNOWN, msg))
        }
        Err(response) => response,
    }
}

async fn admin_json_errors(response: Response) -> Response {
    match plain_text_error(response).await {
        Ok((status, text)) => {
            (status, axum::Json(serde_json::json!({ "error": text }))).into_response()
        }
        Err(response) => response,
    }
}

/// A request must arrive whole and be answered within `net.request_timeout_ms`, so a client
/// that trickles its body cannot hold a connection (the head has its own, shorter deadline).
async fn within_deadline(
    state: &SharedState,
    listener: &'static str,
    request: Request,
    next: Next,
) -> Option<Response> {
    let limit = Duration::from_millis(state.config.net.request_timeout_ms);
    let answered = tokio::time::timeout(limit, next.run(request)).await.ok();
    if answered.is_none() {
        state.metrics.timed_out(listener);
    }
    answered
}

async fn public_deadline(
    State(state): State<SharedState>,
    request: Request,
    next: Next,
) -> Response {
    match within_deadline(&state, "public", request, next).await {
        Some(response) => response,
        None => {
            let msg = "Timeout waiting for the request to be received and answered.";
            error_response(&state, &ApiError::new(408, codes::TIMEOUT, msg))
        }
    }
}

/// The same deadline, answered in the admin API's error shape.
async fn admin_deadline(
    State(state): State<SharedState>,
    request: Request,
    next: Next,
) -> Response {
    match within_deadline(&state, "admin", request, next).await {
        Some(response) => response,
        None => {
            let msg = "request timed out: the body was not received, or not answered, in time";
            let body = serde_json::json!({ "error": msg });
            (StatusCode::REQUEST_TIMEOUT, axum::Json(body)).into_response()
        }
    }
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(serde_json::json!({"code": -1000, "msg": "Unknown endpoint."})),
    )
        .into_response()
}

async fn method_not_allowed() -> Response {
    let body = serde_json::json!({"code": -1000, "msg": "Method not allowed on this endpoint."});
    (StatusCode::METHOD_NOT_ALLOWED, axum::Json(body)).into_response()
}

/// Renders a Binance error as `{"code","msg"}` with its HTTP status, counting it in metrics.
pub(crate) fn error_response(state: &SharedState, error: &ApiError) -> Response {
    state.metrics.error(error.code);
    let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut response = (status, axum::Json(error)).into_response();
    // Binance's spelling, which its SBE FAQ gives for handshake errors.
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    response
}

/// Renders an admission refusal (429, or 418 when banned) with `Retry-After` in seconds.
pub(crate) fn http_refusal(state: &SharedState, refusal: &crate::admission::Refusal) -> Response {
    let response = error_response(state, &refusal.error);
    with_count_header(response, "retry-after", refusal.retry_after_secs())
}

/// Adds a header whose value is a number.
pub(crate) fn with_count_header(
    mut response: Response,
    name: &'static str,
    value: u64,
) -> Response {
    response
        .headers_mut()
        .insert(HeaderName::from_static(name), HeaderValue::from(value));
    response
}
