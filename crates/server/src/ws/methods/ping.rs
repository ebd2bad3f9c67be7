//! `ping`: checks connectivity.

use super::{Call, Method, Reply};
use userstream_protocol::ApiError;
use userstream_protocol::ws::Answer;

pub const METHOD: Method = Method {
    name: "ping",
    weight: 1,
    call,
};

fn call(call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    call.finish_params()?;
    Ok(Reply::Answer(Answer::Pong))
}
