//! `userDataStream.subscribe.listenToken`: start, or extend, the subscription to the account a
//! listen token names.

use super::{Call, Method, Reply};
use serde_json::Value;
use userstream_protocol::ApiError;
use userstream_protocol::ws::Answer;

pub const METHOD: Method = Method {
    name: "userDataStream.subscribe.listenToken",
    weight: 2,
    call,
};

fn call(call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let token = match call.take("listenToken") {
        Some(Value::String(token)) if !token.is_empty() => token,
        _ => return Err(ApiError::mandatory_param("listenToken")),
    };
    call.finish_params()?;
    let state = call.context.state;
    let claims = state
        .keyring
        .current()
        .open(&token)
        .map_err(|_| ApiError::invalid_listen_token())?;
    if claims.expires_at_us <= state.clock.now_us() {
        return Err(ApiError::invalid_listen_token());
    }
    let session = call.context.session;
    let key_active = |id| state.directory.is_key_active(id);
    state.hub.subscribe(session, &claims, key_active, |info| {
        call.success_frame(&Answer::Subscribed(info))
    })?;
    Ok(Reply::Queued)
}
