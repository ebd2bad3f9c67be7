//! `session.subscriptions`: the connection's active subscriptions.

use super::{Call, Method, Reply, to_json};
use userstream_protocol::ApiError;

pub const METHOD: Method = Method {
    name: "session.subscriptions",
    weight: 2,
    call,
};

fn call(call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    call.finish_params()?;
    Ok(Reply::Result(to_json(
        &call.context.session.subscriptions(),
    )))
}
