//! `time`: the server clock, in the session's time unit.

use super::{Call, Method, Reply, to_json};
use userstream_protocol::ApiError;
use userstream_protocol::ws::ServerTime;

pub const METHOD: Method = Method {
    name: "time",
    weight: 1,
    call,
};

fn call(call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    call.finish_params()?;
    let context = call.context;
    let server_time = context
        .session
        .time_unit
        .from_micros(context.state.clock.now_us());
    Ok(Reply::Result(to_json(&ServerTime { server_time })))
}
