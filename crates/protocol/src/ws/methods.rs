//! Each WebSocket API method's name, params and result type, written once: the server parses the
//! params out of a request with Binance's error codes, the client encodes them into a request
//! frame and reads the result back.
//!
//! A params struct reads its params one by one, in order, each with its own error (first failure
//! wins), then refuses whatever is left with -1103. Adding an optional param is a field with
//! `skip_serializing_if`, a line in `parse` and a default in the constructors.

use super::reader::{Empty, ResponseError};
use super::response::{ServerTime, SessionStatus, SubscriptionInfo};
use crate::error::ApiError;
use crate::position::StreamPosition;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// The params of one WebSocket API method, and what a successful call of it returns.
pub trait MethodParams: Serialize + Sized {
    /// The method name, as sent (without a `v3/` prefix).
    const METHOD: &'static str;

    /// The `result` of a successful response, as JSON carries it (times in the session's
    /// `timeUnit` where the method says so).
    type Output: DeserializeOwned;

    /// Reads the params of a request (server side), with the error code Binance gives for each
    /// problem. `returnRateLimits` belongs to every method and must be taken out before.
    fn parse(params: Map<String, Value>) -> Result<Self, ApiError>;

    /// The request frame `{"id":…,"method":…,"params":{…}}` (client side); `params` is left out
    /// when there are none.
    fn to_frame(&self, id: u64) -> String {
        #[derive(Serialize)]
        struct Frame<'a> {
            id: u64,
            method: &'static str,
            #[serde(skip_serializing_if = "Option::is_none")]
            params: Option<&'a Map<String, Value>>,
        }
        // Params are plain structs of strings and integers: they always serialise, to an object
        // (or to null when a method has none).
        let params = match serde_json::to_value(self) {
            Ok(Value::Object(params)) => params,
            _ => Map::new(),
        };
        let frame = Frame {
            id,
            method: Self::METHOD,
            params: (!params.is_empty()).then_some(&params),
        };
        serde_json::to_string(&frame).unwrap_or_default()
    }

    /// Reads the `result` text of a successful response to this method (client side).
    fn read_result(result: &str) -> Result<Self::Output, ResponseError> {
        serde_json::from_str(result).map_err(|error| ResponseError::Result {
            method: Self::METHOD,
            error,
        })
    }
}

/// `userDataStream.subscribe.listenToken`: subscribe to the account a listen token names, or
/// extend the subscription that account already has on this connection.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct SubscribeParams {
    /// `listenToken`, required and non-empty.
    pub listen_token: String,
    /// `resumeFrom`, our extension for connections with stream positions: replay what followed
    /// this point before going live.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resume_from: Option<StreamPosition>,
}

impl SubscribeParams {
    pub fn new(listen_token: impl Into<String>) -> Self {
        SubscribeParams {
            listen_token: listen_token.into(),
            resume_from: None,
        }
    }

    /// Asks to resume after `point` (connections with `streamPositions=true` only).
    pub fn resuming_from(self, point: StreamPosition) -> Self {
        SubscribeParams {
            resume_from: Some(point),
            ..self
        }
    }

    /// Reads the params on a connection with stream positions (`positions`) or without. Without,
    /// `resumeFrom` is an unknown param (-1103), as Binance would say; [`MethodParams::parse`]
    /// reads them that way.
    pub fn parse_on(params: Map<String, Value>, positions: bool) -> Result<Self, ApiError> {
        let mut params = Params(params);
        let listen_token = match params.take("listenToken") {
            Some(Value::String(token)) if !token.is_empty() => token,
            _ => return Err(ApiError::mandatory_param("listenToken")),
        };
        let resume_from = match params.take("resumeFrom") {
            None => None,
            Some(_) if !positions => return Err(ApiError::unknown_param()),
            Some(point) => Some(
                StreamPosition::from_param(&point)
                    .ok_or_else(|| ApiError::mandatory_param("resumeFrom"))?,
            ),
        };
        params.finish()?;
        Ok(SubscribeParams {
            listen_token,
            resume_from,
        })
    }
}

impl std::fmt::Debug for SubscribeParams {
    /// Leaves the token out: it grants access to an account's events.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubscribeParams")
            .field(
                "listen_token",
                &format_args!("({} bytes)", self.listen_token.len()),
            )
            .field("resume_from", &self.resume_from)
            .finish()
    }
}

impl MethodParams for SubscribeParams {
    const METHOD: &'static str = "userDataStream.subscribe.listenToken";
    type Output = SubscriptionInfo;

    fn parse(params: Map<String, Value>) -> Result<Self, ApiError> {
        Self::parse_on(params, false)
    }
}

/// `userDataStream.unsubscribe`: end one subscription, or all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct UnsubscribeParams {
    /// `subscriptionId`, an INT; absent means every subscription of the connection. It is any
    /// integer the wire can carry: one beyond `u32` names no subscription, which is no error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<u64>,
}

impl UnsubscribeParams {
    /// Ends every subscription of the connection.
    pub fn all() -> Self {
        UnsubscribeParams {
            subscription_id: None,
        }
    }

    /// Ends one subscription.
    pub fn one(subscription_id: u32) -> Self {
        UnsubscribeParams {
            subscription_id: Some(u64::from(subscription_id)),
        }
    }
}

impl MethodParams for UnsubscribeParams {
    const METHOD: &'static str = "userDataStream.unsubscribe";
    type Output = Empty;

    fn parse(params: Map<String, Value>) -> Result<Self, ApiError> {
        let mut params = Params(params);
        let subscription_id = match params.take("subscriptionId") {
            None | Some(Value::Null) => None,
            Some(value) => {
                Some(parse_int(&value).ok_or_else(|| ApiError::illegal_chars("subscriptionId"))?)
            }
        };
        params.finish()?;
        Ok(UnsubscribeParams { subscription_id })
    }
}

/// An INT parameter: a JSON integer, or a string of digits (some clients quote every value).
fn parse_int(value: &Value) -> Option<u64> {
    match value {
        Value::Number(number) => number.as_u64(),
        Value::String(text)
            if !text.is_empty() && text.len() <= 20 && text.bytes().all(|b| b.is_ascii_digit()) =>
        {
            text.parse().ok()
        }
        _ => None,
    }
}

/// Declares a method without params: any param it is sent is -1103.
macro_rules! no_params {
    ($(#[$doc:meta])* $name:ident, $method:literal, $output:ty) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
        pub struct $name;

        impl MethodParams for $name {
            const METHOD: &'static str = $method;
            type Output = $output;

            fn parse(params: Map<String, Value>) -> Result<Self, ApiError> {
                Params(params).finish()?;
                Ok($name)
            }
        }
    };
}

no_params!(
    /// `session.subscriptions`: the connection's active subscriptions.
    SessionSubscriptionsParams,
    "session.subscriptions",
    Vec<SubscriptionInfo>
);
no_params!(
    /// `session.status`: what this connection is (times in the session's `timeUnit`).
    SessionStatusParams,
    "session.status",
    SessionStatus
);
no_params!(
    /// `ping`: checks connectivity.
    PingParams,
    "ping",
    Empty
);
no_params!(
    /// `time`: the server clock (in the session's `timeUnit`).
    TimeParams,
    "time",
    ServerTime
);

/// A request's params, taken out one by one.
struct Params(Map<String, Value>);

impl Params {
    fn take(&mut self, name: &str) -> Option<Value> {
        self.0.remove(name)
    }

    /// Fails with -1103 if any param was left unread.
    fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::unknown_param())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ws::parse_request;
    use proptest::prelude::*;
    use serde_json::json;

    /// Encodes, parses the frame as the server does, then parses the params.
    fn round_trip<P: MethodParams>(params: &P, id: u64) -> P {
        let frame = params.to_frame(id);
        let request = parse_request(frame.as_bytes()).unwrap();
        assert_eq!(request.id.as_u64(), Some(id));
        assert_eq!(request.method, P::METHOD);
        P::parse(request.params).unwrap()
    }

    fn params_of(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            other => panic!("{other}"),
        }
    }

    fn code<P: MethodParams + std::fmt::Debug>(value: Value) -> i32 {
        P::parse(params_of(value)).unwrap_err().code
    }

    #[test]
    fn frames_as_sent() {
        assert_eq!(
            SubscribeParams::new("t").to_frame(7),
            r#"{"id":7,"method":"userDataStream.subscribe.listenToken","params":{"listenToken":"t"}}"#
        );
        assert_eq!(
            UnsubscribeParams::all().to_frame(1),
            r#"{"id":1,"method":"userDataStream.unsubscribe"}"#
        );
        assert_eq!(
            UnsubscribeParams::one(3).to_frame(2),
            r#"{"id":2,"method":"userDataStream.unsubscribe","params":{"subscriptionId":3}}"#
        );
        assert_eq!(PingParams.to_frame(3), r#"{"id":3,"method":"ping"}"#);
    }

    #[test]
    fn every_method_round_trips() {
        assert_eq!(
            round_trip(&SubscribeParams::new("tok"), 1),
            SubscribeParams::new("tok")
        );
        assert_eq!(
            round_trip(&UnsubscribeParams::all(), 2),
            UnsubscribeParams::all()
        );
        assert_eq!(
            round_trip(&UnsubscribeParams::one(9), 3),
            UnsubscribeParams::one(9)
        );
        assert_eq!(
            round_trip(&SessionSubscriptionsParams, 4),
            SessionSubscriptionsParams
        );
        assert_eq!(round_trip(&SessionStatusParams, 5), SessionStatusParams);
        assert_eq!(round_trip(&PingParams, 6), PingParams);
        assert_eq!(round_trip(&TimeParams, 7), TimeParams);
    }

    #[test]
    fn subscribe_errors() {
        assert_eq!(code::<SubscribeParams>(json!({})), -1102);
        assert_eq!(code::<SubscribeParams>(json!({"listenToken": ""})), -1102);
        assert_eq!(code::<SubscribeParams>(json!({"listenToken": 5})), -1102);
        // The missing token is reported before the unknown param.
        assert_eq!(code::<SubscribeParams>(json!({"other": 1})), -1102);
        assert_eq!(
            code::<SubscribeParams>(json!({"listenToken": "t", "other": 1})),
            -1103
        );
        let error = SubscribeParams::parse(Map::new()).unwrap_err();
        assert_eq!(
            error.msg,
            "Mandatory parameter 'listenToken' was not sent, was empty/null, or malformed."
        );
    }

    #[test]
    fn resume_points_only_where_positions_were_asked_for() {
        let point = StreamPosition {
            epoch: "e1".into(),
            sequence: 42,
        };
        let params = SubscribeParams::new("t").resuming_from(point.clone());
        let frame = params.to_frame(1);
        assert_eq!(
            frame,
            r#"{"id":1,"method":"userDataStream.subscribe.listenToken","params":{"listenToken":"t","resumeFrom":{"epoch":"e1","sequence":42}}}"#
        );
        let sent = parse_request(frame.as_bytes()).unwrap().params;
        assert_eq!(SubscribeParams::parse_on(sent.clone(), true), Ok(params));
        // Binance's method knows no resumeFrom.
        assert_eq!(SubscribeParams::parse(sent).unwrap_err().code, -1103);
        let on = |value: Value| SubscribeParams::parse_on(params_of(value), true);
        let bad = json!({"listenToken": "t", "resumeFrom": {"epoch": "", "sequence": 1}});
        assert_eq!(on(bad.clone()).unwrap_err().code, -1102);
        // Without positions the param is unknown, whatever its value.
        assert_eq!(
            SubscribeParams::parse_on(params_of(bad), false)
                .unwrap_err()
                .code,
            -1103
        );
        // The token is checked first, the resume point before any unknown param.
        assert_eq!(on(json!({"resumeFrom": 1})).unwrap_err().code, -1102);
        let both = json!({"listenToken": "t", "resumeFrom": null, "x": 1});
        assert_eq!(on(both).unwrap_err().code, -1102);
    }

    #[test]
    fn unsubscribe_ids() {
        let id = |value: Value| {
            UnsubscribeParams::parse(params_of(json!({ "subscriptionId": value })))
                .map(|params| params.subscription_id)
        };
        assert_eq!(id(json!(null)), Ok(None));
        assert_eq!(id(json!(4)), Ok(Some(4)));
        assert_eq!(id(json!("4")), Ok(Some(4)));
        assert_eq!(id(json!(u64::MAX)), Ok(Some(u64::MAX)));
        for bad in [
            json!(-1),
            json!(1.5),
            json!(""),
            json!("x"),
            json!("18446744073709551616"),
            json!([]),
        ] {
            assert_eq!(id(bad.clone()).unwrap_err().code, -1100, "{bad}");
        }
        // A bad id is reported before the unknown param.
        assert_eq!(
            code::<UnsubscribeParams>(json!({"subscriptionId": "x", "other": 1})),
            -1100
        );
        assert_eq!(code::<UnsubscribeParams>(json!({"other": 1})), -1103);
    }

    #[test]
    fn methods_without_params_refuse_any() {
        assert_eq!(code::<PingParams>(json!({"x": 1})), -1103);
        assert_eq!(code::<TimeParams>(json!({"x": null})), -1103);
        assert_eq!(code::<SessionStatusParams>(json!({"x": 1})), -1103);
        assert_eq!(code::<SessionSubscriptionsParams>(json!({"x": 1})), -1103);
    }

    #[test]
    fn results_are_typed() {
        let info = SubscribeParams::read_result(r#"{"subscriptionId":2,"expirationTime":9}"#);
        assert_eq!(
            info.unwrap(),
            SubscriptionInfo {
                subscription_id: 2,
                expiration_time: 9
            }
        );
        assert_eq!(
            TimeParams::read_result(r#"{"serverTime":5}"#).unwrap(),
            ServerTime { server_time: 5 }
        );
        assert_eq!(PingParams::read_result("{}").unwrap(), Empty {});
        assert!(SubscribeParams::read_result("{}").is_err());
    }

    #[test]
    fn tokens_stay_out_of_debug_output() {
        let shown = format!("{:?}", SubscribeParams::new("secret-token"));
        assert!(!shown.contains("secret"), "{shown}");
    }

    proptest! {
        #[test]
        fn subscribe_round_trips(token in "\\PC{1,80}", id in any::<u64>()) {
            let params = SubscribeParams::new(token);
            prop_assert_eq!(round_trip(&params, id), params);
        }

        #[test]
        fn unsubscribe_round_trips(subscription in proptest::option::of(any::<u64>()), id in any::<u64>()) {
            let params = UnsubscribeParams { subscription_id: subscription };
            prop_assert_eq!(round_trip(&params, id), params);
        }
    }
}
