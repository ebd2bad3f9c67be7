//! WebSocket API methods: one module each, plus the dispatch that every request goes through
//! (parse, look up, charge weight, call, answer).

mod ping;
mod session_status;
mod session_subscriptions;
mod subscribe;
mod time;
mod unsubscribe;

use crate::hub::SessionHandle;
use crate::limits::Charge;
use crate::outbox::OutFrame;
use crate::rest_params::parse_bool;
use crate::state::AppState;
use serde::Serialize;
use serde_json::{Map, Value};
use std::net::IpAddr;
use std::sync::Arc;
use userstream_protocol::ApiError;
use userstream_protocol::ws::{
    ErrorData, RateLimitInterval, RateLimitStatus, RateLimitType, RequestId, parse_request,
    write_error, write_success,
};

/// The per-connection facts a method may use.
pub struct MethodContext<'a> {
    pub state: &'a AppState,
    pub session: &'a Arc<SessionHandle>,
    pub ip: IpAddr,
    /// The connection-wide `returnRateLimits` choice.
    pub return_rate_limits: bool,
}

/// One call of a method.
pub struct Call<'a, 'b> {
    pub context: &'b MethodContext<'a>,
    pub id: &'b RequestId,
    pub params: Map<String, Value>,
    rate_limits: Option<Vec<RateLimitStatus>>,
}

impl Call<'_, '_> {
    /// The success frame for `result` (for methods that must queue it themselves).
    pub fn success_frame(&self, result: &impl Serialize) -> OutFrame {
        let mut out = Vec::with_capacity(256);
        write_success(
            &mut out,
            self.id,
            &to_json(result),
            self.rate_limits.as_deref(),
        );
        OutFrame::Text(out.into())
    }

    /// Takes an optional parameter out of `params`.
    pub fn take(&mut self, name: &str) -> Option<Value> {
        self.params.remove(name)
    }

    /// Fails with -1103 if any parameter was left unread.
    pub fn finish_params(&self) -> Result<(), ApiError> {
        if self.params.is_empty() {
            Ok(())
        } else {
            Err(ApiError::unknown_param())
        }
    }
}

/// What a method produced.
pub enum Reply {
    /// A result to send as `{"result": …}`.
    Result(Vec<u8>),
    /// The method already queued its response (see [`Call::success_frame`]).
    Queued,
}

/// Serialises a method result (plain data: cannot fail).
pub fn to_json(result: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(result).unwrap_or_else(|_| b"{}".to_vec())
}

/// A WebSocket API method: its name, its REQUEST_WEIGHT and its implementation.
pub struct Method {
    pub name: &'static str,
    pub weight: u64,
    pub call: fn(&mut Call<'_, '_>) -> Result<Reply, ApiError>,
}

/// Every method this server speaks.
const METHODS: &[Method] = &[
    subscribe::METHOD,
    unsubscribe::METHOD,
    session_subscriptions::METHOD,
    session_status::METHOD,
    ping::METHOD,
    time::METHOD,
];

fn find(name: &str) -> Option<&'static Method> {
    METHODS.iter().find(|method| method.name == name)
}

/// Junk (unparsable frames, unknown methods) costs this much weight, so floods of it hit the
/// limit and the ban like any other requests.
const REJECTED_FRAME_WEIGHT: u64 = 1;

/// Handles one text frame.
pub fn handle(context: &mut MethodContext<'_>, frame: &[u8]) {
    let request = match parse_request(frame) {
        Ok(request) => request,
        Err(bad) => return answer_error(context, &bad.id, &bad.error, context.return_rate_limits),
    };
    let mut params = request.params;
    let return_rate_limits = match params.remove("returnRateLimits") {
        None => context.return_rate_limits,
        Some(Value::Bool(flag)) => flag,
        Some(Value::String(text)) if let Some(flag) = parse_bool(&text) => flag,
        Some(_) => {
            let error = ApiError::invalid_param_value("returnRateLimits");
            return answer_error(context, &request.id, &error, context.return_rate_limits);
        }
    };
    let Some(method) = find(&request.method) else {
        let error = ApiError::unknown_method();
        return answer_error(context, &request.id, &error, return_rate_limits);
    };
    let rate_limits = match admit(context, method.weight) {
        Ok(charge) => return_rate_limits.then(|| vec![request_weight(charge.limit, charge.count)]),
        Err(refusal) => return queue_refusal(context, &request.id, refusal, return_rate_limits),
    };
    let mut call = Call {
        context,
        id: &request.id,
        params,
        rate_limits,
    };
    match (method.call)(&mut call) {
        Ok(Reply::Result(result)) => {
            let mut out = Vec::with_capacity(result.len() + 160);
            write_success(&mut out, &request.id, &result, call.rate_limits.as_deref());
            context.session.outbox.push(OutFrame::Text(out.into()));
        }
        Ok(Reply::Queued) => {}
        Err(error) => {
            let rate_limits = call.rate_limits.take();
            queue_error(context, &request.id, &error, None, rate_limits.as_deref());
        }
    }
}

/// Answers a binary frame in a JSON session: the same as unparsable JSON.
pub fn reject_unparsable(context: &mut MethodContext<'_>) {
    answer_error(
        context,
        &RequestId::null(),
        &ApiError::invalid_json(),
        context.return_rate_limits,
    );
}

/// Answers a request that never reached a method. It still costs [`REJECTED_FRAME_WEIGHT`];
/// over the limit, the limit's answer replaces the original error.
fn answer_error(
    context: &MethodContext<'_>,
    id: &RequestId,
    error: &ApiError,
    return_rate_limits: bool,
) {
    match admit(context, REJECTED_FRAME_WEIGHT) {
        Ok(charge) => {
            let rate_limits =
                return_rate_limits.then(|| vec![request_weight(charge.limit, charge.count)]);
            queue_error(context, id, error, None, rate_limits.as_deref());
        }
        Err(refusal) => queue_refusal(context, id, refusal, return_rate_limits),
    }
}

/// Why a request was not let through: banned, or over the weight limit.
struct Refusal {
    error: ApiError,
    data: ErrorData,
    /// The weight count, when the request was charged (not for banned IPs).
    charge: Option<Charge>,
}

/// Charges `weight` to the connection's IP, unless it is banned. A request over the limit counts
/// towards a ban, and may be the one that triggers it.
fn admit(context: &MethodContext<'_>, weight: u64) -> Result<Charge, Refusal> {
    let state = context.state;
    let now_ms = state.clock.now_ms();
    let refuse = |error, retry_after, charge| Refusal {
        error,
        data: ErrorData {
            server_time: now_ms,
            retry_after,
        },
        charge,
    };
    if let Some(until_ms) = state.bans.banned_until(&context.ip, now_ms) {
        return Err(refuse(ApiError::ip_banned(until_ms), until_ms, None));
    }
    let charge = state.ws_weight.charge(&context.ip, weight, now_ms);
    if !charge.exceeded() {
        return Ok(charge);
    }
    Err(match state.bans.rejected(&context.ip, now_ms) {
        Some(until_ms) => refuse(ApiError::ip_banned(until_ms), until_ms, Some(charge)),
        None => refuse(
            ApiError::too_much_weight(charge.limit, "1m"),
            now_ms + charge.retry_after_ms,
            Some(charge),
        ),
    })
}

fn queue_refusal(
    context: &MethodContext<'_>,
    id: &RequestId,
    refusal: Refusal,
    return_rate_limits: bool,
) {
    let rate_limits = refusal
        .charge
        .filter(|_| return_rate_limits)
        .map(|charge| vec![request_weight(charge.limit, charge.count)]);
    queue_error(
        context,
        id,
        &refusal.error,
        Some(refusal.data),
        rate_limits.as_deref(),
    );
}

fn queue_error(
    context: &MethodContext<'_>,
    id: &RequestId,
    error: &ApiError,
    data: Option<ErrorData>,
    rate_limits: Option<&[RateLimitStatus]>,
) {
    context.state.metrics.error(error.code);
    let mut out = Vec::with_capacity(200);
    write_error(&mut out, id, error, data, rate_limits);
    context.session.outbox.push(OutFrame::Text(out.into()));
}

fn request_weight(limit: u64, count: u64) -> RateLimitStatus {
    RateLimitStatus {
        rate_limit_type: RateLimitType::RequestWeight,
        interval: RateLimitInterval::Minute,
        interval_num: 1,
        limit,
        count,
    }
}
