//! `session.subscriptions`: the connection's active subscriptions.

use super::{Call, Method, Reply};
use userstream_protocol::ApiError;
use userstream_protocol::ws::{Answer, MethodParams, SessionSubscriptionsParams, SubscriptionInfo};

pub const METHOD: Method = Method {
    name: SessionSubscriptionsParams::METHOD,
    weight: 2,
    call,
};

fn call(call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    call.params::<SessionSubscriptionsParams>()?;
    let held = call
        .context
        .state
        .hub
        .subscriptions_of(call.context.session);
    Ok(Reply::Answer(Answer::Subscriptions(
        held.into_iter()
            .map(|(subscription_id, _, expiration_time)| SubscriptionInfo {
                subscription_id,
                expiration_time,
            })
            .collect(),
    )))
}
