//! Keeps this node in step with the store: every change, made here or on another node, reaches
//! the key cache and the key ring, and a revoked key's live subscriptions end.

use crate::state::AppState;
use crate::store::{Store, StoreChange};
use std::collections::HashSet;
use std::sync::Arc;
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;

/// Follows `changes` until the store closes its feed. Run it as one task; subscribe to the feed
/// before the store is first read, so that no change falls between the two.
pub(crate) async fn follow(
    mut changes: Receiver<StoreChange>,
    state: Arc<AppState>,
    store: Arc<dyn Store>,
) {
    loop {
        match changes.recv().await {
            Ok(change) => apply(&state, &change),
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(
                    missed,
                    "fell behind the store's change feed; reading it again"
                );
                match store.load().await {
                    Ok(snapshot) => {
                        let revoked: HashSet<u64> = state
                            .directory
                            .replace(snapshot)
                            .iter()
                            .map(|key| key.id)
                            .collect();
                        state.hub.revoke_keys(|id| revoked.contains(&id));
                    }
                    Err(error) => tracing::error!(%error, "cannot read the store again"),
                }
            }
            Err(RecvError::Closed) => return,
        }
    }
}

/// One change: into the key cache first, so that a revoked key mints and subscribes no more
/// before its live subscriptions are ended.
fn apply(state: &AppState, change: &StoreChange) {
    if let StoreChange::SigningKeyAdded(record) = change
        && let Err(error) = state.keyring.learn(&record.key, record.active_from_ms)
    {
        tracing::error!(%error, "the store holds a signing key this node cannot read");
    }
    // A revocation made on this node was applied here before it was stored (the admin API
    // marks the key and ends its subscriptions first): only news needs the hub's full scan.
    let news = match change {
        StoreChange::KeyRevoked(key) => state.directory.is_key_active(key.id),
        _ => false,
    };
    if let Some(key) = state.directory.apply(change)
        && news
    {
        let ended = state.hub.revoke_key(key.id);
        if ended > 0 {
            tracing::info!(
                uid = key.uid,
                ended,
                "ended the subscriptions of a revoked key"
            );
        }
    }
}
