//! `time`: the server clock, in the session's time unit.

use super::{Call, Method, Reply};
use userstream_protocol::ApiError;
use userstream_protocol::ws::{Answer, MethodParams, TimeParams};

pub const METHOD: Method = Method {
    name: TimeParams::METHOD,
    weight: 1,
    call,
};

fn call(call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    call.params::<TimeParams>()?;
    Ok(Reply::Answer(Answer::ServerTime(
        call.context.state.clock.now_us(),
    )))
}
