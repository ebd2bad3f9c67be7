//! Joining a cluster: one NATS connection that carries both the bus and the store.

use crate::bus::{EventStream, NatsBus};
use crate::config::{Config, NatsConfig};
use crate::server::{Backends, ServerError, patiently};
use crate::store::{KvSettings, KvStore};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use userstream_protocol::clock::SharedClock;

/// Connects to NATS as `config.nats` says and opens the cluster's store and bus on it.
pub async fn backends(config: &Config, clock: SharedClock) -> Result<Backends, ServerError> {
    let nats = &config.nats;
    let (events, connection_events) = mpsc::unbounded_channel();
    let options = options(nats).await?.event_callback(move |event| {
        let _ = events.send(event);
        async {}
    });
    let client = options
        .connect(nats.urls.as_slice())
        .await
        .map_err(|error| cluster_error(format!("cannot connect to NATS: {error}")))?;
    tracing::info!(servers = ?nats.urls, "connected to NATS");
    let settings = KvSettings::new(&nats.kv_bucket, nats.kv_replicas);
    // A cluster that is starting too may still be electing its JetStream leaders.
    let store = patiently(async || Ok(KvStore::open(client.clone(), &settings).await?)).await?;
    let stream = patiently(async || Ok(EventStream::open(client.clone(), config).await?)).await?;
    let bus = NatsBus::new(client, connection_events, stream, config, clock);
    Ok(Backends::new(Arc::new(store), Arc::new(bus)))
}

fn cluster_error(message: String) -> ServerError {
    ServerError::Cluster(message)
}

/// The client's options: credentials, TLS, and patience. It reconnects forever, and subscribes
/// again on its own once back.
async fn options(nats: &NatsConfig) -> Result<async_nats::ConnectOptions, ServerError> {
    let mut options = async_nats::ConnectOptions::new()
        .name("userstream")
        .connection_timeout(Duration::from_secs(5))
        .max_reconnects(None)
        .reconnect_delay_callback(|attempts| {
            Duration::from_millis((attempts as u64).saturating_mul(100).min(2_000))
        })
        .require_tls(nats.tls_required);
    if let Some(path) = &nats.creds_file {
        options = options.credentials_file(path).await.map_err(|error| {
            cluster_error(format!("nats.creds_file {}: {error}", path.display()))
        })?;
    }
    if let (Some(user), Some(password)) = (&nats.user, &nats.password) {
        options = options.user_and_password(user.clone(), password.clone());
    }
    if let Some(token) = &nats.token {
        options = options.token(token.clone());
    }
    if let Some(ca) = &nats.tls_ca {
        options = options.add_root_certificates(ca.clone());
    }
    if let (Some(cert), Some(key)) = (&nats.tls_cert, &nats.tls_key) {
        options = options.add_client_certificate(cert.clone(), key.clone());
    }
    Ok(options)
}
