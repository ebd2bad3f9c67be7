//! `session.subscriptions`: the connection's active subscriptions.

use super::{Call, Method, Reply};
use userstream_protocol::ApiError;
use userstream_protocol::ws::Answer;

pub const METHOD: Method = Method {
    name: "session.subscriptions",
    weight: 2,
    call,
};

fn call(call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    call.finish_params()?;
    Ok(Reply::Answer(Answer::Subscriptions(
        call.context.session.subscriptions(),
    )))
}
