//! `userstream token`: `POST /sapi/v1/userListenToken` exactly as a Binance client sends it.
//!
//! The query is built and signed by the client library, the same code `userstream tail` uses;
//! this command prints the gateway's answer as it came.

use crate::cli::{DEFAULT_PUBLIC_URL, TokenArgs, url_or_default};
use crate::http_client::Remote;
use crate::output::print_json;
use anyhow::Context;
use std::time::{SystemTime, UNIX_EPOCH};
use userstream_client::token::{API_KEY_HEADER, sign, unsigned_query};

pub async fn run(args: TokenArgs) -> anyhow::Result<()> {
    let remote = Remote::new(
        url_or_default(&args.url, DEFAULT_PUBLIC_URL),
        &args.trust.certificates()?,
    )?;
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
    let answer = remote.send(request).await?;
    print_json(&answer)
}

fn now_ms() -> anyhow::Result<i64> {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("the system clock is set before 1970; signed requests need the real time")?;
    i64::try_from(since_epoch.as_millis()).context("the system clock is too far in the future")
}
