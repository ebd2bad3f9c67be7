//! `userstream token`: `POST /sapi/v1/userListenToken` exactly as a Binance client sends it.
//!
//! Parameters travel in the query string with an empty body; a signed request appends
//! `timestamp` and then `signature`, the hex HMAC-SHA256 of everything before it, computed over
//! the very bytes that are sent (the gateway checks the raw query, never a re-encoded one).

use crate::cli::{DEFAULT_PUBLIC_URL, TokenArgs, url_or_default};
use crate::http_client::Remote;
use crate::output::print_json;
use anyhow::Context;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::time::{SystemTime, UNIX_EPOCH};

/// The header Binance reads the API key from.
const API_KEY_HEADER: &str = "X-MBX-APIKEY";

pub async fn run(args: TokenArgs) -> anyhow::Result<()> {
    let remote = Remote::new(url_or_default(&args.url, DEFAULT_PUBLIC_URL))?;
    let symbol = args
        .isolated
        .as_deref()
        .map(|symbol| symbol.trim().to_ascii_uppercase());
    let mut query = unsigned_query(symbol.as_deref(), args.validity);
    if let Some(secret) = args.secret.as_deref().filter(|secret| !secret.is_empty()) {
        query = sign(query, secret, now_ms()?);
    }
    let mut url = remote.url(&["sapi", "v1", "userListenToken"]);
    if !query.is_empty() {
        url.set_query(Some(&query));
    }
    let request = remote
        .client()
        .post(url)
        .header(API_KEY_HEADER, args.api_key.trim());
    let answer = remote.send(request).await?;
    print_json(&answer)
}

/// `isIsolated=true&symbol=SYM` for an isolated account, then `validity` when asked for.
fn unsigned_query(isolated_symbol: Option<&str>, validity_ms: Option<u64>) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    if let Some(symbol) = isolated_symbol {
        query.append_pair("isIsolated", "true");
        query.append_pair("symbol", symbol);
    }
    if let Some(validity) = validity_ms {
        query.append_pair("validity", &validity.to_string());
    }
    query.finish()
}

/// Appends `timestamp`, then `signature` over the whole query up to it.
fn sign(query: String, secret: &str, now_ms: u64) -> String {
    let mut signed = query;
    if !signed.is_empty() {
        signed.push('&');
    }
    signed.push_str(&format!("timestamp={now_ms}"));
    let signature = hmac_sha256_hex(secret.as_bytes(), signed.as_bytes());
    signed.push_str(&format!("&signature={signature}"));
    signed
}

fn hmac_sha256_hex(secret: &[u8], message: &[u8]) -> String {
    // HMAC takes keys of any length, so this cannot fail; the fallback only satisfies the type.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

fn now_ms() -> anyhow::Result<u64> {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("the system clock is set before 1970; signed requests need the real time")?;
    u64::try_from(since_epoch.as_millis()).context("the system clock is too far in the future")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_shapes() {
        assert_eq!(unsigned_query(None, None), "");
        assert_eq!(unsigned_query(None, Some(60_000)), "validity=60000");
        assert_eq!(
            unsigned_query(Some("BNBUSDT"), Some(1)),
            "isIsolated=true&symbol=BNBUSDT&validity=1"
        );
    }

    /// The example from Binance's "SIGNED endpoint security" documentation.
    #[test]
    fn signature_matches_binance_example() {
        let secret = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
        let message = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
        assert_eq!(
            hmac_sha256_hex(secret.as_bytes(), message.as_bytes()),
            "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
        );
    }

    #[test]
    fn signing_appends_timestamp_then_signature() {
        let signed = sign("validity=5".into(), "s", 1_700_000_000_000);
        let (payload, signature) = signed.split_once("&signature=").unwrap();
        assert_eq!(payload, "validity=5&timestamp=1700000000000");
        assert_eq!(signature, hmac_sha256_hex(b"s", payload.as_bytes()));
        assert!(sign(String::new(), "s", 1).starts_with("timestamp=1&signature="));
    }
}
