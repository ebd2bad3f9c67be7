//! The WebSocket API at `/ws-api/v3`: handshake checks, then one session per connection.

mod methods;
mod session;

pub(crate) use session::read_error_close;

use crate::http_error::{error_response, http_refusal};
use crate::net::Accepted;
use crate::rest_params::parse_bool;
use crate::state::SharedState;
use crate::wire::WireFormat;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::response::Response;
use userstream_protocol::error::codes;
use userstream_protocol::{ApiError, TimeUnit, sbe};

/// What the client chose in the connection URL.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionOptions {
    pub format: WireFormat,
    pub return_rate_limits: bool,
    /// `streamPositions=true`: positions on events, and resume (our extension).
    pub positions: bool,
}

/// Reads `timeUnit`, `returnRateLimits`, `responseFormat`, `sbeSchemaId` and `sbeSchemaVersion`
/// from the URL, and our `streamPositions`. Bad values are refused at the handshake with HTTP 400 and a JSON body, before
/// any WebSocket exists.
fn connection_options(
    query: Option<&str>,
    sbe_enabled: bool,
) -> Result<ConnectionOptions, ApiError> {
    let mut time_unit = TimeUnit::Millisecond;
    let mut return_rate_limits = true;
    let mut positions = false;
    let (mut json, mut sbe) = (false, false);
    let (mut schema_id, mut schema_version) = (None, None);
    for (name, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match name.as_ref() {
            "timeUnit" => {
                time_unit = TimeUnit::parse(&value).ok_or_else(ApiError::invalid_time_unit)?
            }
            "returnRateLimits" => {
                return_rate_limits = parse_bool(&value)
                    .ok_or_else(|| ApiError::invalid_param_value("returnRateLimits"))?;
            }
            "responseFormat" if value.eq_ignore_ascii_case("json") => json = true,
            "responseFormat" if value.eq_ignore_ascii_case("sbe") => sbe = true,
            "responseFormat" => return Err(ApiError::invalid_param_value("responseFormat")),
            "streamPositions" => {
                positions = parse_bool(&value)
                    .ok_or_else(|| ApiError::invalid_param_value("streamPositions"))?;
            }
            "sbeSchemaId" => schema_id = Some(value.into_owned()),
            "sbeSchemaVersion" => schema_version = Some(value.into_owned()),
            _ => {}
        }
    }
    let format = match (json, sbe) {
        (true, true) => {
            return Err(ApiError::new(
                400,
                -1101,
                "Duplicate values for a parameter detected.",
            ));
        }
        (_, false) => WireFormat::Json(time_unit),
        (false, true) => sbe_format(schema_id.as_deref(), schema_version.as_deref(), sbe_enabled)?,
    };
    // Positions travel as JSON fields, which SBE messages have no room for.
    if positions && !matches!(format, WireFormat::Json(_)) {
        return Err(ApiError::new(
            400,
            codes::INVALID_PARAMETER,
            "streamPositions is available on JSON connections only.",
        ));
    }
    Ok(ConnectionOptions {
        format,
        return_rate_limits,
        positions,
    })
}

/// The SBE session a client asked for, if this server serves it.
fn sbe_format(
    id: Option<&str>,
    version: Option<&str>,
    enabled: bool,
) -> Result<WireFormat, ApiError> {
    if !enabled {
        return Err(ApiError::new(400, -1155, "SBE is not enabled."));
    }
    let number = |text: Option<&str>| text.and_then(|text| text.parse::<u16>().ok());
    let (Some(id), Some(version)) = (number(id), number(version)) else {
        return Err(ApiError::new(
            400,
            -1152,
            "Invalid SBE schema; sbeSchemaId and sbeSchemaVersion must both be given as integers.",
        ));
    };
    match sbe::served(id, version) {
        Some(deprecated) => Ok(WireFormat::Sbe {
            version,
            deprecated,
        }),
        None => Err(ApiError::new(
            400,
            -1153,
            "Invalid SBE schema ID or version specified.",
        )),
    }
}

pub async fn upgrade(
    State(state): State<SharedState>,
    ConnectInfo(Accepted { peer, .. }): ConnectInfo<Accepted>,
    RawQuery(query): RawQuery,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    // URL parameters are checked first, so a bad one is reported whatever else is wrong.
    let options = match connection_options(query.as_deref(), state.config.ws.sbe_enabled) {
        Ok(options) => options,
        Err(error) => return error_response(&state, &error),
    };
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        // A plain request to the WebSocket endpoint: say so in Binance's error shape.
        Err(rejection) => {
            let msg = format!(
                "This endpoint speaks the WebSocket API only: {}.",
                rejection.body_text()
            );
            let error = ApiError::new(rejection.status().as_u16(), codes::UNKNOWN, msg);
            return error_response(&state, &error);
        }
    };
    // Opening a connection counts against the address's connection rate and its request
    // weight; over either limit the handshake is refused with 429 (418 once banned).
    if let Err(refusal) = state.admission.handshake(peer.ip(), state.clock.now_ms()) {
        return http_refusal(&state, &refusal);
    }
    let ws = &state.config.ws;
    upgrade
        .max_message_size(ws.max_frame_bytes)
        .max_frame_size(ws.max_frame_bytes)
        .read_buffer_size(ws.read_buffer_bytes)
        .write_buffer_size(ws.write_buffer_bytes)
        .on_upgrade(move |socket| session::run(socket, state, peer, options))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_options() {
        let options =
            connection_options(Some("timeUnit=microsecond&returnRateLimits=false"), true).unwrap();
        assert_eq!(options.format, WireFormat::Json(TimeUnit::Microsecond));
        assert!(!options.return_rate_limits);
        let code = |query| connection_options(Some(query), true).unwrap_err().code;
        assert_eq!(code("timeUnit=NANOSECOND"), -1194);
        assert!(connection_options(None, true).unwrap().return_rate_limits);
        assert_eq!(code("responseFormat=xml"), -1130);
    }

    #[test]
    fn sbe_handshake_table() {
        let format = |query| connection_options(Some(query), true).map(|o| o.format);
        let code = |query| format(query).unwrap_err().code;
        assert_eq!(
            format("responseFormat=sbe&sbeSchemaId=3&sbeSchemaVersion=5").unwrap(),
            WireFormat::Sbe {
                version: 5,
                deprecated: false
            }
        );
        for version in 2..5 {
            let query = format!("responseFormat=SBE&sbeSchemaId=3&sbeSchemaVersion={version}");
            assert_eq!(
                connection_options(Some(&query), true).unwrap().format,
                WireFormat::Sbe {
                    version,
                    deprecated: true
                }
            );
        }
        // SBE responses are µs whatever timeUnit says.
        assert_eq!(
            format("responseFormat=sbe&sbeSchemaId=3&sbeSchemaVersion=5&timeUnit=MILLISECOND")
                .unwrap()
                .time_unit(),
            TimeUnit::Microsecond
        );
        for query in [
            "responseFormat=sbe",
            "responseFormat=sbe&sbeSchemaId=3",
            "responseFormat=sbe&sbeSchemaVersion=5",
            "responseFormat=sbe&sbeSchemaId=three&sbeSchemaVersion=5",
            "responseFormat=sbe&sbeSchemaId=3&sbeSchemaVersion=5.0",
            "responseFormat=sbe&sbeSchemaId=3&sbeSchemaVersion=-1",
        ] {
            assert_eq!(code(query), -1152, "{query}");
        }
        for query in [
            "responseFormat=sbe&sbeSchemaId=2&sbeSchemaVersion=1",
            "responseFormat=sbe&sbeSchemaId=3&sbeSchemaVersion=1",
            "responseFormat=sbe&sbeSchemaId=3&sbeSchemaVersion=0",
            "responseFormat=sbe&sbeSchemaId=3&sbeSchemaVersion=6",
            "responseFormat=sbe&sbeSchemaId=4&sbeSchemaVersion=5",
        ] {
            assert_eq!(code(query), -1153, "{query}");
        }
        assert_eq!(
            code("responseFormat=sbe&responseFormat=json&sbeSchemaId=3&sbeSchemaVersion=5"),
            -1101
        );
        let disabled = connection_options(
            Some("responseFormat=sbe&sbeSchemaId=3&sbeSchemaVersion=5"),
            false,
        );
        assert_eq!(disabled.unwrap_err().code, -1155);
        // Schema parameters without responseFormat=sbe change nothing.
        assert_eq!(
            format("sbeSchemaId=9&sbeSchemaVersion=x").unwrap(),
            WireFormat::Json(TimeUnit::Millisecond)
        );
    }
}
