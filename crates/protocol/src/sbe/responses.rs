//! WebSocket API responses in SBE: a `WebSocketResponse` (50) envelope carrying the request id
//! as a string, the status, the rate limits, and the answer as a whole message of its own in
//! `result`: 505 (subscribe), 504 (unsubscribe), 54 (session.subscriptions), 52 (session.status),
//! 101 (ping), 102 (time), or 100 (`ErrorResponse`) for every error.

use super::layout::{
    self, error_response as err, ping_response as ping, server_time_response as time,
    user_data_stream_subscribe_listen_token_response as sub,
    user_data_stream_unsubscribe_response as unsub, web_socket_response as envelope,
    web_socket_session_status_response as status,
    web_socket_session_subscriptions_response as subs,
};
use super::wire::{Decoder, Encoder, MAX_PREALLOCATED, SbeError};
use crate::error::ApiError;
use crate::ws::{
    Answer, ErrorData, RateLimitInterval, RateLimitStatus, RateLimitType, SessionStatus,
    SubscriptionInfo,
};
use std::borrow::Cow;

/// What a response carries in `result`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 505, 504, 54, 52, 101 or 102.
    Answer(Answer),
    /// 100: an error, with the ban detail when there is one.
    Error(ApiError, Option<ErrorData>),
    /// 999: an answer this schema version cannot carry.
    NonRepresentable,
}

/// One whole response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The client asked for a schema version that is deprecated (still served).
    pub deprecated: bool,
    pub status: u16,
    /// Empty when the client turned them off.
    pub rate_limits: Vec<RateLimitStatus>,
    /// The request `id` as text (an integer's digits; empty for null).
    pub id: String,
    pub outcome: Outcome,
}

/// Appends a response frame at schema `version`.
pub fn write_response(
    out: &mut Vec<u8>,
    version: u16,
    deprecated: bool,
    status: u16,
    rate_limits: &[RateLimitStatus],
    id: &str,
    outcome: &Outcome,
) -> Result<(), SbeError> {
    let mut result = Vec::with_capacity(64);
    write_outcome(&mut result, version, outcome)?;
    let mut e = Encoder { out, version };
    let block = e.message(envelope::TEMPLATE_ID, envelope::BLOCK);
    e.put(
        block,
        envelope::SBE_SCHEMA_ID_VERSION_DEPRECATED,
        u8::from(deprecated),
    );
    e.put(block, envelope::STATUS, status);
    let entry_len = e.group(
        envelope::rate_limits::DIMENSION,
        envelope::rate_limits::BLOCK,
        rate_limits.len(),
    )?;
    for limit in rate_limits {
        let entry = e.reserve(entry_len);
        e.put(
            entry,
            envelope::rate_limits::RATE_LIMIT_TYPE,
            limit_type_code(limit.rate_limit_type),
        );
        e.put(
            entry,
            envelope::rate_limits::INTERVAL,
            interval_code(limit.interval),
        );
        e.put(
            entry,
            envelope::rate_limits::INTERVAL_NUM,
            u8::try_from(limit.interval_num).unwrap_or(u8::MAX),
        );
        e.put(
            entry,
            envelope::rate_limits::RATE_LIMIT,
            i64::try_from(limit.limit).unwrap_or(i64::MAX),
        );
        e.put(
            entry,
            envelope::rate_limits::CURRENT,
            i64::try_from(limit.count).unwrap_or(i64::MAX),
        );
    }
    e.data("id", envelope::ID, id.as_bytes())?;
    e.data("result", envelope::RESULT, &result)
}

fn write_outcome(out: &mut Vec<u8>, version: u16, outcome: &Outcome) -> Result<(), SbeError> {
    let mut e = Encoder { out, version };
    let exists = |since: u16| since <= version;
    match outcome {
        Outcome::Answer(Answer::Subscribed(info)) if exists(sub::SINCE_VERSION) => {
            let block = e.message(sub::TEMPLATE_ID, sub::BLOCK);
            e.put(block, sub::SUBSCRIPTION_ID, subscription_id(info));
            e.put(block, sub::EXPIRATION_TIME, info.expiration_time);
        }
        Outcome::Answer(Answer::Unsubscribed) => {
            e.message(unsub::TEMPLATE_ID, unsub::BLOCK);
        }
        Outcome::Answer(Answer::Subscriptions(list)) if exists(subs::SINCE_VERSION) => {
            e.message(subs::TEMPLATE_ID, subs::BLOCK);
            let entry_len = e.group(
                subs::subscriptions::DIMENSION,
                subs::subscriptions::BLOCK,
                list.len(),
            )?;
            for info in list {
                let entry = e.reserve(entry_len);
                e.put(
                    entry,
                    subs::subscriptions::SUBSCRIPTION_ID,
                    subscription_id(info),
                );
                e.put_opt(
                    entry,
                    subs::subscriptions::EXPIRATION_TIME,
                    Some(info.expiration_time),
                );
            }
        }
        Outcome::Answer(Answer::SessionStatus(session)) => {
            let block = e.message(status::TEMPLATE_ID, status::BLOCK);
            e.put_opt(block, status::AUTHORIZED_SINCE, session.authorized_since);
            e.put(block, status::CONNECTED_SINCE, session.connected_since);
            e.put(
                block,
                status::RETURN_RATE_LIMITS,
                u8::from(session.return_rate_limits),
            );
            e.put(block, status::SERVER_TIME, session.server_time);
            e.put_opt(
                block,
                status::USER_DATA_STREAM,
                Some(u8::from(session.user_data_stream)),
            );
            let key = session.api_key.as_deref().unwrap_or("");
            e.data("apiKey", status::LOGGED_ON_API_KEY, key.as_bytes())?;
        }
        Outcome::Answer(Answer::Pong) => {
            e.message(ping::TEMPLATE_ID, ping::BLOCK);
        }
        Outcome::Answer(Answer::ServerTime(server_time)) => {
            let block = e.message(time::TEMPLATE_ID, time::BLOCK);
            e.put(block, time::SERVER_TIME, *server_time);
        }
        Outcome::Error(error, data) => {
            let block = e.message(err::TEMPLATE_ID, err::BLOCK);
            e.put(
                block,
                err::CODE,
                i16::try_from(error.code).unwrap_or(i16::MIN + 1),
            );
            // `ErrorData` holds ms, as JSON writes it; SBE's fields are µs.
            let micros = |ms: i64| ms.saturating_mul(1000);
            e.put_opt(block, err::SERVER_TIME, data.map(|d| micros(d.server_time)));
            e.put_opt(block, err::RETRY_AFTER, data.map(|d| micros(d.retry_after)));
            e.data("msg", err::MSG, error.msg.as_bytes())?;
            e.data("data", err::DATA, b"")?;
        }
        _ => {
            e.message(
                layout::non_representable_message::TEMPLATE_ID,
                layout::non_representable_message::BLOCK,
            );
        }
    }
    Ok(())
}

/// SBE's `subscriptionId` is 16 bits and 65535 is its null: the server never hands out more.
fn subscription_id(info: &SubscriptionInfo) -> u16 {
    u16::try_from(info.subscription_id).unwrap_or(u16::MAX)
}

const LIMIT_TYPES: [(RateLimitType, &str); 4] = [
    (RateLimitType::RawRequests, "RAW_REQUESTS"),
    (RateLimitType::Connections, "CONNECTIONS"),
    (RateLimitType::RequestWeight, "REQUEST_WEIGHT"),
    (RateLimitType::Orders, "ORDERS"),
];
const INTERVALS: [(RateLimitInterval, &str); 4] = [
    (RateLimitInterval::Second, "SECOND"),
    (RateLimitInterval::Minute, "MINUTE"),
    (RateLimitInterval::Hour, "HOUR"),
    (RateLimitInterval::Day, "DAY"),
];

fn limit_type_code(value: RateLimitType) -> u8 {
    LIMIT_TYPES
        .iter()
        .find(|(v, _)| *v == value)
        .and_then(|(_, name)| layout::enum_code(layout::RATE_LIMIT_TYPE, name))
        .unwrap_or(254)
}

fn interval_code(value: RateLimitInterval) -> u8 {
    INTERVALS
        .iter()
        .find(|(v, _)| *v == value)
        .and_then(|(_, name)| layout::enum_code(layout::RATE_LIMIT_INTERVAL, name))
        .unwrap_or(254)
}

/// Reads one response frame.
pub fn read_response(bytes: &[u8]) -> Result<Response, SbeError> {
    let mut d = Decoder::new(bytes);
    let header = d.header()?;
    if header.template_id != envelope::TEMPLATE_ID {
        return Err(SbeError::WrongTemplate {
            expected: envelope::TEMPLATE_ID,
            found: header.template_id,
        });
    }
    let block = d.block("WebSocketResponse", usize::from(header.block_length))?;
    let deprecated = block.opt(envelope::SBE_SCHEMA_ID_VERSION_DEPRECATED) == Some(1);
    let status = block.req(envelope::STATUS, "status")?;
    let (entry_len, count) = d.group("rateLimits", envelope::rate_limits::DIMENSION)?;
    let mut rate_limits = Vec::with_capacity(count.min(MAX_PREALLOCATED));
    for _ in 0..count {
        let entry = d.block("rateLimits entry", entry_len)?;
        let type_code = entry.req(envelope::rate_limits::RATE_LIMIT_TYPE, "rateLimitType")?;
        let interval_code = entry.req(envelope::rate_limits::INTERVAL, "interval")?;
        let rate_limit_type = LIMIT_TYPES
            .iter()
            .find(|(_, name)| layout::enum_code(layout::RATE_LIMIT_TYPE, name) == Some(type_code))
            .map(|(v, _)| *v)
            .ok_or(SbeError::UnknownEnum {
                field: "rateLimitType",
                code: type_code,
            })?;
        let interval = INTERVALS
            .iter()
            .find(|(_, name)| {
                layout::enum_code(layout::RATE_LIMIT_INTERVAL, name) == Some(interval_code)
            })
            .map(|(v, _)| *v)
            .ok_or(SbeError::UnknownEnum {
                field: "interval",
                code: interval_code,
            })?;
        rate_limits.push(RateLimitStatus {
            rate_limit_type,
            interval,
            interval_num: u32::from(entry.req(envelope::rate_limits::INTERVAL_NUM, "intervalNum")?),
            limit: u64::try_from(entry.req(envelope::rate_limits::RATE_LIMIT, "rateLimit")?)
                .unwrap_or(0),
            count: u64::try_from(entry.req(envelope::rate_limits::CURRENT, "current")?)
                .unwrap_or(0),
        });
    }
    let id = d.text("id", envelope::ID)?.to_owned();
    let result = d.data("result", envelope::RESULT)?;
    Ok(Response {
        deprecated,
        status,
        rate_limits,
        id,
        outcome: read_outcome(result, status)?,
    })
}

fn read_outcome(bytes: &[u8], http_status: u16) -> Result<Outcome, SbeError> {
    let mut d = Decoder::new(bytes);
    let header = d.header()?;
    let block = d.block("result", usize::from(header.block_length))?;
    Ok(match header.template_id {
        sub::TEMPLATE_ID => Outcome::Answer(Answer::Subscribed(SubscriptionInfo {
            subscription_id: u32::from(block.req(sub::SUBSCRIPTION_ID, "subscriptionId")?),
            expiration_time: block.req(sub::EXPIRATION_TIME, "expirationTime")?,
        })),
        unsub::TEMPLATE_ID => Outcome::Answer(Answer::Unsubscribed),
        subs::TEMPLATE_ID => {
            let (entry_len, count) = d.group("subscriptions", subs::subscriptions::DIMENSION)?;
            let mut list = Vec::with_capacity(count.min(MAX_PREALLOCATED));
            for _ in 0..count {
                let entry = d.block("subscriptions entry", entry_len)?;
                list.push(SubscriptionInfo {
                    subscription_id: u32::from(
                        entry.req(subs::subscriptions::SUBSCRIPTION_ID, "subscriptionId")?,
                    ),
                    expiration_time: entry.opt(subs::subscriptions::EXPIRATION_TIME).unwrap_or(0),
                });
            }
            Outcome::Answer(Answer::Subscriptions(list))
        }
        status::TEMPLATE_ID => {
            let api_key = d.text("apiKey", status::LOGGED_ON_API_KEY)?;
            Outcome::Answer(Answer::SessionStatus(SessionStatus {
                api_key: (!api_key.is_empty()).then(|| api_key.to_owned()),
                authorized_since: block.opt(status::AUTHORIZED_SINCE),
                connected_since: block.req(status::CONNECTED_SINCE, "connectedSince")?,
                return_rate_limits: block.req(status::RETURN_RATE_LIMITS, "returnRateLimits")? == 1,
                server_time: block.req(status::SERVER_TIME, "serverTime")?,
                user_data_stream: block.opt(status::USER_DATA_STREAM) == Some(1),
            }))
        }
        ping::TEMPLATE_ID => Outcome::Answer(Answer::Pong),
        time::TEMPLATE_ID => Outcome::Answer(Answer::ServerTime(
            block.req(time::SERVER_TIME, "serverTime")?,
        )),
        err::TEMPLATE_ID => {
            let code = block.req(err::CODE, "code")?;
            let data = match (block.opt(err::SERVER_TIME), block.opt(err::RETRY_AFTER)) {
                (Some(server_time), Some(retry_after)) => Some(ErrorData {
                    server_time: server_time / 1000,
                    retry_after: retry_after / 1000,
                }),
                _ => None,
            };
            let msg = d.text("msg", err::MSG)?.to_owned();
            Outcome::Error(
                ApiError {
                    status: http_status,
                    code: i32::from(code),
                    msg: Cow::Owned(msg),
                },
                data,
            )
        }
        layout::non_representable_message::TEMPLATE_ID => Outcome::NonRepresentable,
        other => return Err(SbeError::UnknownTemplate(other)),
    })
}
