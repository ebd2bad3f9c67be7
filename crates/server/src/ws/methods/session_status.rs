//! `session.status`: what this connection is. Listen-token sessions never log on, so `apiKey`
//! and `authorizedSince` are always null.

use super::{Call, Method, Reply};
use userstream_protocol::ApiError;
use userstream_protocol::ws::{Answer, MethodParams, SessionStatus, SessionStatusParams};

pub const METHOD: Method = Method {
    name: SessionStatusParams::METHOD,
    weight: 2,
    call,
};

fn call(call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    call.params::<SessionStatusParams>()?;
    let context = call.context;
    let status = SessionStatus {
        api_key: None,
        authorized_since: None,
        connected_since: context.session.connected_at_us,
        return_rate_limits: context.return_rate_limits,
        server_time: context.state.clock.now_us(),
        user_data_stream: context.session.has_subscriptions(),
    };
    Ok(Reply::Answer(Answer::SessionStatus(status)))
}
