//! The Pusher protocol, as Sockudo speaks it: private-channel subscriptions authorised with the
//! app secret (Sockudo's counterpart of a listen token) and signed HTTP API publishing.

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha2::Sha256;

/// The app the bench configures Sockudo with.
#[derive(Debug, Clone)]
pub struct PusherApp {
    pub id: String,
    pub key: String,
    pub secret: String,
}

impl PusherApp {
    pub fn bench() -> PusherApp {
        PusherApp {
            id: "bench".into(),
            key: "bench-key".into(),
            secret: "bench-secret".into(),
        }
    }

    /// The channel of one account.
    pub fn channel(uid: u64) -> String {
        format!("private-acct-{uid}")
    }

    /// `auth` for subscribing `socket_id` to a private channel: `key:HMAC(secret, id:channel)`.
    pub fn channel_auth(&self, socket_id: &str, channel: &str) -> String {
        format!(
            "{}:{}",
            self.key,
            hmac_hex(&self.secret, &format!("{socket_id}:{channel}"))
        )
    }

    /// The signed query string for `POST path` with `body`, at `timestamp` (seconds).
    pub fn signed_query(&self, path: &str, body: &[u8], timestamp: u64) -> String {
        let body_md5 = hex::encode(Md5::digest(body));
        // Parameters in key order, as the signature requires.
        let query = format!(
            "auth_key={}&auth_timestamp={timestamp}&auth_version=1.0&body_md5={body_md5}",
            self.key
        );
        let signature = hmac_hex(&self.secret, &format!("POST\n{path}\n{query}"));
        format!("{query}&auth_signature={signature}")
    }
}

fn hmac_hex(secret: &str, message: &str) -> String {
    // HMAC accepts keys of any length.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(message.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The `socket_id` in a `pusher:connection_established` frame (its `data` is JSON in a string).
pub fn socket_id(frame: &str) -> Option<String> {
    let outer: serde_json::Value = serde_json::from_str(frame).ok()?;
    if outer["event"] != "pusher:connection_established" {
        return None;
    }
    let data: serde_json::Value = serde_json::from_str(outer["data"].as_str()?).ok()?;
    data["socket_id"].as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example from Pusher's channel authorisation documentation.
    #[test]
    fn channel_auth_matches_pushers_example() {
        let app = PusherApp {
            id: "1".into(),
            key: "278d425bdf160c739803".into(),
            secret: "7ad3773142a6692b25b8".into(),
        };
        assert_eq!(
            app.channel_auth("1234.1234", "private-foobar"),
            "278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"
        );
    }

    #[test]
    fn socket_ids_are_read() {
        let frame = r#"{"event":"pusher:connection_established","data":"{\"socket_id\":\"123.456\",\"activity_timeout\":120}"}"#;
        assert_eq!(socket_id(frame).as_deref(), Some("123.456"));
        assert_eq!(socket_id("{}"), None);
    }
}
