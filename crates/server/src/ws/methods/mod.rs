//! WebSocket API methods: one module each, plus the dispatch that every request goes through
//! (parse, look up, charge weight, call, answer).

mod ping;
mod session_status;
mod session_subscriptions;
mod subscribe;
mod time;
mod unsubscribe;

use crate::admission::Refusal;
use crate::connection::SessionHandle;
use crate::limits::Charge;
use crate::outbox::OutFrame;
use crate::rest_params::parse_bool;
use crate::state::SharedState;
use crate::wire::WireFormat;
use serde_json::{Map, Value};
use std::net::IpAddr;
use std::sync::Arc;
use userstream_protocol::ApiError;
use userstream_protocol::sbe::responses::{Outcome, write_response};
use userstream_protocol::ws::{
    Answer, ErrorData, MethodParams, RateLimitStatus, RequestId, parse_request, write_error,
    write_success,
};

/// The per-connection facts a method may use.
pub struct MethodContext<'a> {
    pub state: &'a SharedState,
    pub session: &'a Arc<SessionHandle>,
    pub ip: IpAddr,
    /// The connection-wide `returnRateLimits` choice.
    pub return_rate_limits: bool,
}

/// One call of a method.
pub struct Call<'a, 'b> {
    pub context: &'b MethodContext<'a>,
    pub id: &'b RequestId,
    params: Map<String, Value>,
    rate_limits: Option<Vec<RateLimitStatus>>,
}

impl Call<'_, '_> {
    /// The success frame for `answer` (for methods that must queue it themselves).
    pub fn success_frame(&self, answer: &Answer) -> OutFrame {
        response_frame(
            self.context.session.format,
            self.id,
            Ok(answer),
            self.rate_limits.as_deref(),
        )
    }

    /// What answering this call needs, for a method that answers after it has returned.
    pub fn responder(&self) -> Responder {
        Responder {
            format: self.context.session.format,
            id: self.id.clone(),
            rate_limits: self.rate_limits.clone(),
        }
    }

    /// Reads the call's params as method `P` defines them (see [`MethodParams::parse`]).
    pub fn params<P: MethodParams>(&mut self) -> Result<P, ApiError> {
        P::parse(self.take_params())
    }

    /// The call's params, for a method whose parsing depends on the connection.
    pub fn take_params(&mut self) -> Map<String, Value> {
        std::mem::take(&mut self.params)
    }
}

/// Answers a call later, from another task.
pub struct Responder {
    format: WireFormat,
    id: RequestId,
    rate_limits: Option<Vec<RateLimitStatus>>,
}

impl Responder {
    pub fn success(&self, answer: &Answer) -> OutFrame {
        response_frame(
            self.format,
            &self.id,
            Ok(answer),
            self.rate_limits.as_deref(),
        )
    }

    pub fn error(&self, error: &ApiError) -> OutFrame {
        response_frame(
            self.format,
            &self.id,
            Err((error, None)),
            self.rate_limits.as_deref(),
        )
    }
}

/// What a method produced.
pub enum Reply {
    /// An answer to send in the session's format.
    Answer(Answer),
    /// The method already queued its response (see [`Call::success_frame`]).
    Queued,
}

/// A response in the session's wire format: a JSON text frame, or an SBE `WebSocketResponse`.
fn response_frame(
    format: WireFormat,
    id: &RequestId,
    outcome: Result<&Answer, (&ApiError, Option<ErrorData>)>,
    rate_limits: Option<&[RateLimitStatus]>,
) -> OutFrame {
    let mut out = Vec::with_capacity(200);
    match format {
        WireFormat::Json(unit) => {
            match outcome {
                Ok(answer) => {
                    let mut result = Vec::with_capacity(96);
                    answer.write_json(unit, &mut result);
                    write_success(&mut out, id, &result, rate_limits);
                }
                Err((error, data)) => write_error(&mut out, id, error, data, rate_limits),
            }
            OutFrame::Text(out.into())
        }
        WireFormat::Sbe {
            version,
            deprecated,
        } => {
            let (status, outcome) = match outcome {
                Ok(answer) => (200, Outcome::Answer(answer.clone())),
                Err((error, data)) => (error.status, Outcome::Error(error.clone(), data)),
            };
            let limits = rate_limits.unwrap_or(&[]);
            let text_id = id.as_text();
            if let Err(problem) = write_response(
                &mut out, version, deprecated, status, limits, &text_id, &outcome,
            ) {
                // Only an oversized value can fail; ids and messages are bounded well below.
                tracing::error!(%problem, "an SBE response could not be encoded");
                out.clear();
                let fallback = Outcome::Error(
                    ApiError::new(500, -1000, "An unknown error occurred."),
                    None,
                );
                let _ = write_response(&mut out, version, deprecated, 500, &[], "", &fallback);
            }
            OutFrame::Binary(out.into())
        }
    }
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
        Ok(charge) => return_rate_limits
            .then(|| vec![RateLimitStatus::request_weight(charge.limit, charge.count)]),
        Err(refusal) => return queue_refusal(context, &request.id, refusal, return_rate_limits),
    };
    let mut call = Call {
        context,
        id: &request.id,
        params,
        rate_limits,
    };
    match (method.call)(&mut call) {
        Ok(Reply::Answer(answer)) => {
            let frame = call.success_frame(&answer);
            context.session.outbox.push(frame);
        }
        Ok(Reply::Queued) => {}
        Err(error) => {
            let rate_limits = call.rate_limits.take();
            queue_error(context, &request.id, &error, None, rate_limits.as_deref());
        }
    }
}

/// Answers a binary frame: requests are JSON text frames, in SBE sessions too, so it is the same
/// as unparsable JSON.
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
            let rate_limits = return_rate_limits
                .then(|| vec![RateLimitStatus::request_weight(charge.limit, charge.count)]);
            queue_error(context, id, error, None, rate_limits.as_deref());
        }
        Err(refusal) => queue_refusal(context, id, refusal, return_rate_limits),
    }
}

/// Charges `weight` to the connection's address (see [`crate::admission`]).
fn admit(context: &MethodContext<'_>, weight: u64) -> Result<Charge, Refusal> {
    let state = context.state;
    state
        .admission
        .request(context.ip, weight, state.clock.now_ms())
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
        .map(|charge| vec![RateLimitStatus::request_weight(charge.limit, charge.count)]);
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
    let frame = response_frame(context.session.format, id, Err((error, data)), rate_limits);
    context.session.outbox.push(frame);
}
