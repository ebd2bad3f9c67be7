//! What `userstream serve --demo` prints after the listening line: the demo key and secret,
//! the URLs, and commands to copy: `userstream tail` on every demo account, and curl calls
//! signed as Binance signs them (HMAC-SHA256 of the query string, by `openssl dgst`).

use std::fmt::Write;
use std::net::SocketAddr;
use userstream_server::exchange::DemoAccount;

/// Where the demo server answers.
pub struct Urls {
    pub public: String,
    pub ws: String,
    pub admin: String,
    pub tls: bool,
}

impl Urls {
    pub fn new(public: SocketAddr, admin: SocketAddr, tls: bool) -> Urls {
        let (http, ws) = if tls {
            ("https", "wss")
        } else {
            ("http", "ws")
        };
        Urls {
            public: format!("{http}://{public}"),
            ws: format!("{ws}://{public}/ws-api/v3"),
            admin: format!("{http}://{admin}"),
            tls,
        }
    }
}

/// The demo block, ending with an empty line.
pub fn instructions(demo: &DemoAccount, urls: &Urls) -> String {
    let (key, secret, public) = (&demo.api_key, &demo.secret_key, &urls.public);
    let isolated: String = demo
        .isolated
        .iter()
        .map(|symbol| format!(" --isolated {symbol}"))
        .collect();
    let sign =
        format!("$(printf %s \"$Q\" | openssl dgst -sha256 -hmac '{secret}' | sed 's/^.* //')");
    let mut text = String::new();
    // Writing to a String cannot fail.
    let _ = write!(
        text,
        "\n\
demo mode: user {uid}, cross margin and isolated {pairs}, funded at every start; a trader keeps them busy
  API key:   {key}
  secret:    {secret}
  REST API:  {public}
  WebSocket: {ws}
  admin API: {admin}
  console:   {admin}/ (open it in a browser; it asks for the admin token when one is set)

watch the demo accounts' streams:
  userstream tail --url {public} --api-key {key} --secret {secret} --cross{isolated}

place a signed order:
  Q=\"symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.001&timestamp=$(date +%s000)\"
  curl -s -X POST -H \"X-MBX-APIKEY: {key}\" \"{public}/sapi/v1/margin/order?$Q&signature={sign}\"

read the cross margin account:
  Q=\"timestamp=$(date +%s000)\"
  curl -s -H \"X-MBX-APIKEY: {key}\" \"{public}/sapi/v1/margin/account?$Q&signature={sign}\"

",
        uid = demo.uid,
        pairs = demo.isolated.join(" and "),
        ws = urls.ws,
        admin = urls.admin,
    );
    if urls.tls {
        let _ = writeln!(
            text,
            "with a private certificate, add --ca-cert FILE to tail and --cacert FILE to curl\n"
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_block_names_the_key_the_urls_and_the_commands() {
        let demo = DemoAccount {
            api_key: "K".repeat(64),
            secret_key: "S".repeat(64),
            uid: 7,
            isolated: vec!["BTCUSDT".into(), "ETHUSDT".into()],
        };
        let urls = Urls::new(
            "127.0.0.1:9443".parse().unwrap(),
            "127.0.0.1:9444".parse().unwrap(),
            false,
        );
        let text = instructions(&demo, &urls);
        let (key, secret) = ("K".repeat(64), "S".repeat(64));
        assert!(text.contains(&format!("API key:   {key}")), "{text}");
        assert!(
            text.contains("WebSocket: ws://127.0.0.1:9443/ws-api/v3"),
            "{text}"
        );
        assert!(text.contains("admin API: http://127.0.0.1:9444"), "{text}");
        assert!(
            text.contains("console:   http://127.0.0.1:9444/ "),
            "{text}"
        );
        assert!(text.contains(&format!(
            "userstream tail --url http://127.0.0.1:9443 --api-key {key} --secret {secret} --cross --isolated BTCUSDT --isolated ETHUSDT"
        )), "{text}");
        assert!(
            text.contains(&format!("openssl dgst -sha256 -hmac '{secret}'")),
            "{text}"
        );
        assert!(
            text.contains("/sapi/v1/margin/order?$Q&signature="),
            "{text}"
        );
        assert!(
            text.contains("/sapi/v1/margin/account?$Q&signature="),
            "{text}"
        );
    }
}
