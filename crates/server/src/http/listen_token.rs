//! `POST /sapi/v1/userListenToken`: mint a listen token for a margin account.

use super::{error_response, http_refusal, with_count_header};
use crate::directory::is_api_key_shaped;
use crate::net::Accepted;
use crate::rest_params::{LISTEN_TOKEN_PARAMS, Params, verify_signature};
use crate::state::SharedState;
use crate::token::TokenClaims;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use userstream_protocol::ApiError;
use userstream_protocol::position::{EXTENSIONS_HEADER, STREAM_POSITIONS};

pub(crate) const API_KEY_HEADER: &str = "x-mbx-apikey";
const USED_WEIGHT_HEADER: &str = "x-sapi-used-uid-weight-1m";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Issued {
    token: String,
    /// Milliseconds since the epoch.
    expiration_time: i64,
}

pub async fn issue(
    State(state): State<SharedState>,
    ConnectInfo(Accepted { peer, .. }): ConnectInfo<Accepted>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // A banned address is refused before anything else, whatever key it sends (or none).
    if let Err(refusal) = state.admission.banned(peer.ip(), state.clock.now_ms()) {
        return http_refusal(&state, &refusal);
    }
    if let Some(error) = state.token_failures.take() {
        return error_response(&state, &error);
    }
    let (key, used) = match keyed(
        &state,
        peer,
        &headers,
        state.config.limits.listen_token_weight,
    ) {
        Ok(keyed) => keyed,
        Err(refused) => return refused,
    };
    let now_ms = state.clock.now_ms();
    let respond = |response: Response| with_used_weight(response, used);
    let result = Params::parse(query.as_deref(), &body, LISTEN_TOKEN_PARAMS).and_then(|params| {
        verify_signature(
            query.as_deref(),
            &body,
            &params,
            key.secret_key.as_bytes(),
            now_ms,
        )?;
        let account = super::fields::account(&state, key.uid, &params)?;
        let validity_ms = requested_validity(&state, &params)?;
        Ok((account, validity_ms))
    });
    let (account, validity_ms) = match result {
        Ok(ok) => ok,
        Err(error) => return respond(error_response(&state, &error)),
    };
    let expires_at_us = state
        .clock
        .now_us()
        .saturating_add(validity_ms.saturating_mul(1000));
    let token = state.keyring.current().mint(&TokenClaims {
        account,
        api_key_id: key.id,
        expires_at_us,
    });
    state.metrics.tokens_issued.increment(1);
    // Our extensions are announced here, where every client starts, so that a client can tell
    // this server from Binance before it opens a connection (docs/protocol.md §7).
    let extensions = [(EXTENSIONS_HEADER, STREAM_POSITIONS)];
    respond(
        (
            extensions,
            Json(Issued {
                token,
                expiration_time: expires_at_us.div_euclid(1000),
            }),
        )
            .into_response(),
    )
}

/// The gate every keyed SAPI request passes after the ban check: its API key, then its UID's
/// weight. Hands back the key and the weight used this minute; a refusal is the answer to send.
// The error is the HTTP answer itself, built once and sent at once: boxing it saves nothing.
#[allow(clippy::result_large_err)]
pub(crate) fn keyed(
    state: &SharedState,
    peer: std::net::SocketAddr,
    headers: &HeaderMap,
    weight: u64,
) -> Result<(std::sync::Arc<crate::store::ApiKeyRecord>, u64), Response> {
    let key = authenticate(state, headers).map_err(|error| error_response(state, &error))?;
    let now_ms = state.clock.now_ms();
    match state.admission.sapi(peer.ip(), key.uid, weight, now_ms) {
        Ok(charge) => Ok((key, charge.count)),
        Err(refusal) => {
            let response = http_refusal(state, &refusal);
            Err(match refusal.charge {
                Some(charge) => with_used_weight(response, charge.count),
                None => response,
            })
        }
    }
}

/// Every answer to a keyed SAPI request says the UID's weight used this minute.
pub(crate) fn with_used_weight(response: Response, used: u64) -> Response {
    with_count_header(response, USED_WEIGHT_HEADER, used)
}

/// Resolves `X-MBX-APIKEY` to a live key.
pub(crate) fn authenticate(
    state: &SharedState,
    headers: &HeaderMap,
) -> Result<std::sync::Arc<crate::store::ApiKeyRecord>, ApiError> {
    let header = headers
        .get(API_KEY_HEADER)
        .ok_or_else(ApiError::api_key_format)?;
    let api_key = header.to_str().map_err(|_| ApiError::api_key_format())?;
    if !is_api_key_shaped(api_key) {
        return Err(ApiError::api_key_format());
    }
    match state.directory.key(api_key) {
        Some(key) if key.revoked_at_ms.is_none() => Ok(key),
        _ => Err(ApiError::rejected_api_key()),
    }
}

/// `validity` in ms: an integer in 1..=max, default from config.
fn requested_validity(state: &SharedState, params: &Params) -> Result<i64, ApiError> {
    let Some(text) = params.get("validity") else {
        return Ok(state.config.token.default_validity_ms);
    };
    let invalid = || ApiError::invalid_param_value("validity");
    let digits_only =
        !text.is_empty() && text.len() <= 18 && text.bytes().all(|b| b.is_ascii_digit());
    let validity: i64 = if digits_only {
        text.parse().map_err(|_| invalid())?
    } else {
        return Err(invalid());
    };
    if validity <= 0 || validity > state.config.token.max_validity_ms {
        return Err(invalid());
    }
    Ok(validity)
}
