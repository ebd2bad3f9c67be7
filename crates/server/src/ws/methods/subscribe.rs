//! `userDataStream.subscribe.listenToken`: start, or extend, the subscription to the account a
//! listen token names.

use super::{Call, Method, Reply};
use crate::bus::Listen;
use std::sync::Arc;
use userstream_protocol::ApiError;
use userstream_protocol::position::PositionedSubscription;
use userstream_protocol::ws::{Answer, MethodParams, SubscribeParams};

pub const METHOD: Method = Method {
    name: SubscribeParams::METHOD,
    weight: 2,
    call,
};

fn call(call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let session = call.context.session;
    let SubscribeParams {
        listen_token,
        resume_from: resume,
        ..
    } = SubscribeParams::parse_on(call.take_params(), session.positions)?;
    let state = call.context.state;
    let claims = state
        .keyring
        .current()
        .open(&listen_token)
        .map_err(|_| ApiError::invalid_listen_token())?;
    if claims.expires_at_us <= state.clock.now_us() {
        return Err(ApiError::invalid_listen_token());
    }
    let key_active = |id| state.directory.is_key_active(id);
    match state.bus.listen(&claims.account) {
        Listen::Ready(_listening) => {
            state.hub.subscribe(
                session,
                &claims,
                key_active,
                resume.as_ref(),
                |subscribed| call.success_frame(&answer(session.positions, subscribed)),
            )?;
        }
        // The first subscriber of an account on this node of a cluster: it is answered once the
        // broker has confirmed that this node listens for the account, so that no event
        // published after the answer can miss it. Other requests are answered meanwhile.
        Listen::Pending(confirmed) => {
            let (state, session) = (Arc::clone(state), Arc::clone(session));
            let responder = call.responder();
            tokio::spawn(async move {
                let subscribed = match confirmed.await {
                    Ok(_listening) => {
                        let key_active = |id| state.directory.is_key_active(id);
                        let respond = |subscribed: &PositionedSubscription| {
                            responder.success(&answer(session.positions, subscribed))
                        };
                        state
                            .hub
                            .subscribe(&session, &claims, key_active, resume.as_ref(), respond)
                    }
                    Err(error) => {
                        tracing::warn!(%error, "a subscription waited for the bus in vain");
                        Err(ApiError::disconnected())
                    }
                };
                if let Err(error) = subscribed {
                    state.metrics.error(error.code);
                    session.outbox.push(responder.error(&error));
                }
            });
        }
    }
    Ok(Reply::Queued)
}

/// Binance's answer, or ours with the stream's position on a connection that asked for it.
fn answer(positions: bool, subscribed: &PositionedSubscription) -> Answer {
    if positions {
        Answer::SubscribedAt(subscribed.clone())
    } else {
        Answer::Subscribed(subscribed.info)
    }
}
