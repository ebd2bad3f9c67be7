//! `userDataStream.unsubscribe`: end one subscription, or all of them. Each ended subscription
//! gets `eventStreamTerminated` before the response; an id that does not exist is not an error
//! (Binance "attempts to close the subscription with that id, if it exists").

use super::{Call, Method, Reply};
use serde_json::Value;
use userstream_protocol::ApiError;
use userstream_protocol::ws::Answer;

pub const METHOD: Method = Method {
    name: "userDataStream.unsubscribe",
    weight: 2,
    call,
};

fn call(call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let subscription_id = match call.take("subscriptionId") {
        None | Some(Value::Null) => None,
        Some(value) => {
            Some(parse_id(&value).ok_or_else(|| ApiError::illegal_chars("subscriptionId"))?)
        }
    };
    call.finish_params()?;
    let context = call.context;
    let Some(id) = subscription_id else {
        context.state.hub.unsubscribe(context.session, None);
        return Ok(Reply::Answer(Answer::Unsubscribed));
    };
    // Ids beyond u32 cannot exist on any connection: nothing to close.
    if let Ok(id) = u32::try_from(id) {
        context.state.hub.unsubscribe(context.session, Some(id));
    }
    Ok(Reply::Answer(Answer::Unsubscribed))
}

/// An INT parameter: a JSON integer, or a string of digits (some clients quote every value).
fn parse_id(value: &Value) -> Option<u64> {
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
