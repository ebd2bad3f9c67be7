//! HTTP: the public REST endpoints (plus the WebSocket upgrade) and the admin API.

mod admin;
mod admin_guard;
mod console;
mod fields;
mod legacy;
mod listen_token;
mod margin;
mod market;
mod sessions;

pub(crate) use crate::http_error::{error_response, http_refusal, with_count_header};
use crate::state::SharedState;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
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
pub(super) const ADMIN_BODY_LIMIT: usize = 16 * 1024 * 1024;

/// Routes of the public listener: Binance's REST paths and `/ws-api/v3`.
pub fn public_router(state: SharedState) -> Router {
    let mut router = Router::new();
    // Margin trading is the simulator's; without it, those paths do not exist.
    if state.exchange.is_some() {
        router = router.merge(margin::routes());
    }
    router
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
            public_body,
        ))
        .with_state(state)
}

/// Routes of the admin listener.
pub fn admin_router(state: SharedState) -> Router {
    admin::router(Arc::clone(&state))
        .layer(DefaultBodyLimit::max(ADMIN_BODY_LIMIT))
        .layer(middleware::map_response(admin_json_errors))
        .layer(middleware::from_fn_with_state(state, admin_body))
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

/// Why a request body was not read.
enum BodyError {
    /// It did not arrive whole within `net.request_timeout_ms`.
    TimedOut,
    /// It is longer than the listener takes.
    TooLarge(usize),
    /// The connection failed while it was being read.
    Unreadable,
}

/// Reads the request's body, which must arrive whole within `net.request_timeout_ms`, so a
/// client that trickles its body cannot hold a connection (the head has its own, shorter
/// deadline). The handler then runs untimed: a request that has arrived is carried out and
/// answered, never cut off half done.
async fn read_body(
    state: &SharedState,
    request: Request,
    limit: usize,
) -> Result<Request, BodyError> {
    let deadline = Duration::from_millis(state.config.net.request_timeout_ms);
    let (parts, body) = request.into_parts();
    match tokio::time::timeout(deadline, axum::body::to_bytes(body, limit)).await {
        Err(_) => Err(BodyError::TimedOut),
        Ok(Ok(bytes)) => Ok(Request::from_parts(parts, axum::body::Body::from(bytes))),
        Ok(Err(error)) => {
            let too_large = std::error::Error::source(&error)
                .is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
            Err(if too_large {
                BodyError::TooLarge(limit)
            } else {
                BodyError::Unreadable
            })
        }
    }
}

async fn public_body(State(state): State<SharedState>, request: Request, next: Next) -> Response {
    let error = match read_body(&state, request, PUBLIC_BODY_LIMIT).await {
        Ok(request) => return next.run(request).await,
        Err(BodyError::TimedOut) => {
            state.metrics.public.timeouts.increment(1);
            let msg = "Timeout waiting for the request body to arrive.";
            ApiError::new(408, codes::TIMEOUT, msg)
        }
        Err(BodyError::TooLarge(limit)) => {
            let msg = format!("Request body is larger than {limit} bytes.");
            ApiError::new(413, codes::UNKNOWN, msg)
        }
        Err(BodyError::Unreadable) => {
            ApiError::new(400, codes::UNKNOWN, "The request body could not be read.")
        }
    };
    error_response(&state, &error)
}

/// The same for the admin listener, answered in its own error shape.
async fn admin_body(State(state): State<SharedState>, request: Request, next: Next) -> Response {
    let (status, msg) = match read_body(&state, request, ADMIN_BODY_LIMIT).await {
        Ok(request) => return next.run(request).await,
        Err(BodyError::TimedOut) => {
            state.metrics.admin.timeouts.increment(1);
            let msg = "request timed out: the body did not arrive in time";
            (StatusCode::REQUEST_TIMEOUT, msg.to_owned())
        }
        Err(BodyError::TooLarge(limit)) => (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is larger than {limit} bytes"),
        ),
        Err(BodyError::Unreadable) => (
            StatusCode::BAD_REQUEST,
            "the request body could not be read".to_owned(),
        ),
    };
    (status, axum::Json(serde_json::json!({ "error": msg }))).into_response()
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
