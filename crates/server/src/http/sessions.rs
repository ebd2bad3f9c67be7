//! The live connections as the admin API lists them (`GET /admin/v1/sessions`) and the
//! console's `sessions` item shows them.

use serde_json::{Value, json};

/// Live connections, the `limit` oldest of them: who, since when, which subscriptions, how
/// much is queued (also the console's `sessions` item). Returns how many there are in all.
pub(crate) fn sessions_json(state: &crate::state::AppState, limit: usize) -> (usize, Value) {
    let mut sessions = state.sessions.all();
    let total = sessions.len();
    sessions.sort_unstable_by_key(|session| session.id);
    let sessions: Vec<Value> = sessions
        .iter()
        .take(limit)
        .map(|session| {
            let subscriptions: Vec<Value> = state
                .hub
                .subscriptions_of(session)
                .into_iter()
                .map(|(id, account, expires_at_us)| {
                    json!({
                        "subscriptionId": id,
                        "uid": account.uid,
                        "isolatedSymbol": account.scope.isolated_symbol(),
                        "expirationTime": expires_at_us,
                    })
                })
                .collect();
            json!({
                "id": session.id,
                "peer": session.peer.to_string(),
                "connectedSince": session.connected_at_us.div_euclid(1000),
                "timeUnit": format!("{:?}", session.format.time_unit()).to_uppercase(),
                "format": session.format.describe(),
                "subscriptions": subscriptions,
                "queuedBytes": session.outbox.queued_bytes(),
            })
        })
        .collect();
    (total, Value::Array(sessions))
}
