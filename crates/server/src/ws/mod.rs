//! The WebSocket API at `/ws-api/v3`: handshake checks, then one session per connection.

mod methods;
mod session;

use crate::http::error_response;
use crate::rest_params::parse_bool;
use crate::state::SharedState;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::response::IntoResponse;
use axum::response::Response;
use std::net::SocketAddr;
use userstream_protocol::{ApiError, TimeUnit};

/// What the client chose in the connection URL.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionOptions {
    pub time_unit: TimeUnit,
    pub return_rate_limits: bool,
}

/// Reads `timeUnit`, `returnRateLimits` and `responseFormat` from the URL. Bad values are refused
/// at the handshake with HTTP 400, before any WebSocket exists.
fn connection_options(query: Option<&str>) -> Result<ConnectionOptions, ApiError> {
    let mut options = ConnectionOptions {
        time_unit: TimeUnit::Millisecond,
        return_rate_limits: true,
    };
    for (name, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match name.as_ref() {
            "timeUnit" => {
                options.time_unit =
                    TimeUnit::parse(&value).ok_or_else(ApiError::invalid_time_unit)?
            }
            "returnRateLimits" => {
                options.return_rate_limits = parse_bool(&value)
                    .ok_or_else(|| ApiError::invalid_param_value("returnRateLimits"))?;
            }
            "responseFormat" if !value.eq_ignore_ascii_case("json") => {
                return Err(ApiError::new(
                    400,
                    -1000,
                    "Only responseFormat=json is supported by this server.",
                ));
            }
            _ => {}
        }
    }
    Ok(options)
}

pub async fn upgrade(
    State(state): State<SharedState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    // URL parameters are checked first, so a bad one is reported whatever else is wrong.
    let options = match connection_options(query.as_deref()) {
        Ok(options) => options,
        Err(error) => return error_response(&state, &error),
    };
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    // Opening a connection counts against the IP's connection rate and its request weight;
    // either one over its limit refuses the handshake with 429.
    let limits = &state.config.limits;
    let now_ms = state.clock.now_ms();
    if let Some(until_ms) = state.bans.banned_until(&peer.ip(), now_ms) {
        return error_response(&state, &ApiError::ip_banned(until_ms));
    }
    let connections = state.ws_connections.charge(&peer.ip(), 1, now_ms);
    if connections.exceeded() {
        state.bans.rejected(&peer.ip(), now_ms);
        let error = ApiError::too_many_connections(connections.limit, limits.connection_window_ms);
        return error_response(&state, &error);
    }
    let weight = state
        .ws_weight
        .charge(&peer.ip(), limits.connection_weight, now_ms);
    if weight.exceeded() {
        state.bans.rejected(&peer.ip(), now_ms);
        return error_response(&state, &ApiError::too_much_weight(weight.limit, "1m"));
    }
    let ws = &state.config.ws;
    upgrade
        .max_message_size(ws.max_frame_bytes)
        .max_frame_size(ws.max_frame_bytes)
        .read_buffer_size(ws.read_buffer_bytes)
        .write_buffer_size(ws.write_buffer_bytes)
        .on_upgrade(move |socket| session::run(state, socket, peer, options))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_options() {
        let options =
            connection_options(Some("timeUnit=microsecond&returnRateLimits=false")).unwrap();
        assert_eq!(options.time_unit, TimeUnit::Microsecond);
        assert!(!options.return_rate_limits);
        assert_eq!(
            connection_options(Some("timeUnit=NANOSECOND"))
                .unwrap_err()
                .code,
            -1194
        );
        assert!(connection_options(None).unwrap().return_rate_limits);
        assert!(connection_options(Some("responseFormat=sbe")).is_err());
    }
}
