//! `userstream token`: `POST /sapi/v1/userListenToken` exactly as a Binance client sends it.
//!
//! The query is built and signed by the client library, the same code `userstream tail` uses;
//! this command prints the gateway's answer as it came. Given several gateways, it asks them in
//! turn until one answers with anything but a server failure.

use crate::cli::{DEFAULT_PUBLIC_URL, TokenArgs, urls_or_default};
use crate::http_client::{Refused, Remote};
use crate::output::print_json;
use anyhow::Context;
use std::time::{SystemTime, UNIX_EPOCH};
use userstream_client::token::{API_KEY_HEADER, sign, unsigned_query};

pub async fn run(args: TokenArgs) -> anyhow::Result<()> {
    let trusted = args.trust.certificates()?;
    // Every URL is checked before any request: a typo is reported as such.
    let remotes = urls_or_default(&args.url, DEFAULT_PUBLIC_URL)
        .into_iter()
        .map(|url| Remote::new(url, &trusted))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut failure = None;
    for remote in &remotes {
        match request(&args, remote).await {
            Ok(answer) => return print_json(&answer),
            // Unreachable, or failing: another node may do better.
            Err(error) if moves_on(&error) => {
                tracing::debug!("{error:#}; trying the next gateway");
                failure = Some(error);
            }
            Err(error) => return Err(error),
        }
    }
    Err(failure.unwrap_or_else(|| anyhow::anyhow!("no gateway to ask")))
}

/// A request that got no answer, or a 5xx, is worth asking another gateway; a refusal is not
/// (every node of a cluster would refuse the same way).
fn moves_on(error: &anyhow::Error) -> bool {
    error
        .downcast_ref::<Refused>()
        .is_none_or(|refused| refused.status.is_server_error())
}

async fn request(args: &TokenArgs, remote: &Remote) -> anyhow::Result<serde_json::Value> {
    let symbol = args
        .isolated
        .as_deref()
        .map(|symbol| symbol.trim().to_ascii_uppercase());
    let mut query = unsigned_query(symbol.as_deref(), args.validity);
    if let Some(secret) = args
        .key
        .secret
        .as_deref()
        .filter(|secret| !secret.is_empty())
    {
        query = sign(query, secret, now_ms()?);
    }
    let mut url = remote.url(&["sapi", "v1", "userListenToken"]);
    if !query.is_empty() {
        url.set_query(Some(&query));
    }
    let request = remote
        .client()
        .post(url)
        .header(API_KEY_HEADER, args.key.api_key.trim());
    remote.send(request).await
}

fn now_ms() -> anyhow::Result<i64> {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("the system clock is set before 1970; signed requests need the real time")?;
    i64::try_from(since_epoch.as_millis()).context("the system clock is too far in the future")
}
