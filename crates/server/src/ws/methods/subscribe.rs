//! `userDataStream.subscribe.listenToken`: start, or extend, the subscription to the account a
//! listen token names.

use super::{Call, Method, Reply, Responder};
use crate::bus::{Listen, Sequenced};
use crate::connection::SessionHandle;
use crate::hub::StreamStart;
use crate::state::SharedState;
use crate::token::TokenClaims;
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
    // On a cluster node, a connection with positions takes its place in the account stream
    // from the bus, in order with the account's events there.
    let sequenced = session.positions && state.bus.epoch().is_some();
    match state.bus.listen(&claims.account) {
        Listen::Ready(_listening) if !sequenced => {
            state.hub.subscribe(
                session,
                &claims,
                key_active,
                StreamStart::Local(resume.as_ref()),
                |subscribed| call.success_frame(&answer(session.positions, subscribed)),
            )?;
        }
        // The first subscriber of an account on this node of a cluster is answered once the
        // broker has confirmed that this node listens for the account, so that no event
        // published after the answer can miss it; a sequenced one once the account's feed has
        // reached it. Other requests are answered meanwhile.
        listen => {
            let (state, session) = (Arc::clone(state), Arc::clone(session));
            let responder = Arc::new(call.responder());
            tokio::spawn(async move {
                let listening = match listen {
                    Listen::Ready(listening) => Ok(listening),
                    Listen::Pending(confirmed) => confirmed.await,
                };
                let listening = match listening {
                    Ok(listening) => listening,
                    Err(error) => {
                        tracing::warn!(%error, "a subscription waited for the bus in vain");
                        return refuse(&state, &session, &responder, &ApiError::disconnected());
                    }
                };
                if !sequenced {
                    let start = StreamStart::Local(resume.as_ref());
                    subscribe_later(&state, &session, &claims, start, &responder);
                    drop(listening);
                    return;
                }
                let account = claims.account.clone();
                let job = {
                    let (state, session, responder) = (
                        Arc::clone(&state),
                        Arc::clone(&session),
                        Arc::clone(&responder),
                    );
                    Box::new(move |sequenced: Sequenced| {
                        let start = StreamStart::Sequenced(sequenced);
                        subscribe_later(&state, &session, &claims, start, &responder);
                        // The hub holds the account's interest now.
                        drop(listening);
                    })
                };
                if let Err(error) = state.bus.sequenced(&account, resume, job) {
                    tracing::warn!(%error, "a subscription could not take its place in the stream");
                    refuse(&state, &session, &responder, &ApiError::disconnected());
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

/// Subscribes from another task, once the bus is ready, answering through `responder`.
fn subscribe_later(
    state: &SharedState,
    session: &Arc<SessionHandle>,
    claims: &TokenClaims,
    start: StreamStart<'_>,
    responder: &Responder,
) {
    let key_active = |id| state.directory.is_key_active(id);
    let respond = |subscribed: &PositionedSubscription| {
        responder.success(&answer(session.positions, subscribed))
    };
    if let Err(error) = state
        .hub
        .subscribe(session, claims, key_active, start, respond)
    {
        refuse(state, session, responder, &error);
    }
}

/// Answers a subscription that failed after its method returned.
fn refuse(state: &SharedState, session: &SessionHandle, responder: &Responder, error: &ApiError) {
    state.metrics.error(error.code);
    session.outbox.push(responder.error(error));
}
