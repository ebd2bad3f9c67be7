//! `ping`: checks connectivity.

use super::{Call, Method, Reply};
use userstream_protocol::ApiError;
use userstream_protocol::ws::{Answer, MethodParams, PingParams};

pub const METHOD: Method = Method {
    name: PingParams::METHOD,
    weight: 1,
    call,
};

fn call(call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    call.params::<PingParams>()?;
    Ok(Reply::Answer(Answer::Pong))
}
