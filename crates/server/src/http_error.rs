//! Binance errors as HTTP answers, for the REST endpoints and the WebSocket handshake alike
//! (which refuses before any WebSocket exists).

use crate::state::SharedState;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use userstream_protocol::ApiError;

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
