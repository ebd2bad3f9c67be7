//! `userDataStream.unsubscribe`: end one subscription, or all of them. Each ended subscription
//! gets `eventStreamTerminated` before the response; an id that does not exist is not an error
//! (Binance "attempts to close the subscription with that id, if it exists").

use super::{Call, Method, Reply};
use userstream_protocol::ApiError;
use userstream_protocol::ws::{Answer, MethodParams, UnsubscribeParams};

pub const METHOD: Method = Method {
    name: UnsubscribeParams::METHOD,
    weight: 2,
    call,
};

fn call(call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let params: UnsubscribeParams = call.params()?;
    let context = call.context;
    let Some(id) = params.subscription_id else {
        context.state.hub.unsubscribe(context.session, None);
        return Ok(Reply::Answer(Answer::Unsubscribed));
    };
    // Ids beyond u32 cannot exist on any connection: nothing to close.
    if let Ok(id) = u32::try_from(id) {
        context.state.hub.unsubscribe(context.session, Some(id));
    }
    Ok(Reply::Answer(Answer::Unsubscribed))
}
