//! The console's session cookie: what a browser holds instead of the admin token.
//!
//! Its value is `<issued ms>.<HMAC-SHA256 keyed by the token over the issue time>`, so it
//! proves the token was shown without holding it, ends [`SESSION_MS`] after the login, and is
//! worthless once the token changes. Nothing is kept on the server: logging out deletes the
//! browser's copy, and a copy taken elsewhere lasts until it expires or the token changes.
//! The name carries the admin listener's port, since browsers share cookies across the ports
//! of one host: two gateways on one machine keep their own, and neither is sent a credential
//! it could not check anyway.

use crate::secret::same_secret;
use userstream_protocol::signature::hmac_sha256;

/// How long a console login lasts.
pub(crate) const SESSION_MS: i64 = 12 * 60 * 60 * 1000;
/// How far in the future an issue time may lie (clocks of a restarted server, or of a node
/// of the same cluster, may disagree a little).
const SKEW_MS: i64 = 60_000;

/// The cookie's name for the admin listener on `admin_port`.
pub(crate) fn name(admin_port: u16) -> String {
    format!("userstream_console_{admin_port}")
}

fn value(token: &str, issued_ms: i64) -> Option<String> {
    let mac = hmac_sha256(
        token.as_bytes(),
        &[b"userstream-console-v1:", issued_ms.to_string().as_bytes()],
    )?;
    Some(format!("{issued_ms}.{}", hex::encode(mac)))
}

/// Whether `presented` is a cookie this server issued for `token` that has not expired.
pub(crate) fn valid(presented: &str, token: &str, now_ms: i64) -> bool {
    let Some((issued, _)) = presented.split_once('.') else {
        return false;
    };
    let Ok(issued_ms) = issued.parse::<i64>() else {
        return false;
    };
    let age = now_ms.saturating_sub(issued_ms);
    if !(-SKEW_MS..SESSION_MS).contains(&age) {
        return false;
    }
    value(token, issued_ms).is_some_and(|expected| same_secret(presented, &expected))
}

/// The `Set-Cookie` value of a login at `now_ms`.
pub(crate) fn issue(name: &str, token: &str, now_ms: i64, secure: bool) -> Option<String> {
    let value = value(token, now_ms)?;
    let max_age = SESSION_MS / 1000;
    let secure = if secure { "; Secure" } else { "" };
    Some(format!(
        "{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
    ))
}

/// The `Set-Cookie` value that deletes the browser's copy.
pub(crate) fn clear(name: &str) -> String {
    format!("{name}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cookie_value(set_cookie: &str) -> &str {
        let pair = set_cookie.split(';').next().unwrap();
        pair.split_once('=').unwrap().1
    }

    #[test]
    fn a_cookie_proves_the_token_until_it_expires() {
        let at = 1_800_000_000_000;
        let set = issue("userstream_console_9444", "sesame", at, false).unwrap();
        assert!(set.starts_with("userstream_console_9444="), "{set}");
        assert!(
            set.contains("Max-Age=43200; HttpOnly; SameSite=Strict"),
            "{set}"
        );
        assert!(!set.contains("sesame") && !set.contains("Secure"), "{set}");
        assert!(
            issue("n", "sesame", at, true)
                .unwrap()
                .ends_with("; Secure")
        );
        let value = cookie_value(&set);
        assert!(valid(value, "sesame", at));
        assert!(valid(value, "sesame", at + SESSION_MS - 1));
        assert!(!valid(value, "sesame", at + SESSION_MS), "expired");
        assert!(valid(value, "sesame", at - SKEW_MS + 1));
        assert!(
            !valid(value, "sesame", at - SKEW_MS - 1),
            "issued in the future"
        );
        assert!(!valid(value, "sesam", at), "another token");
        // Moving the issue time forward breaks the MAC.
        let (_, mac) = value.split_once('.').unwrap();
        assert!(!valid(&format!("{}.{mac}", at + 1), "sesame", at + 1));
        for junk in ["", ".", "x.y", "1.", "-1.00", "99999999999999999999.ab"] {
            assert!(!valid(junk, "sesame", at), "{junk:?}");
        }
        assert_eq!(
            clear("n"),
            "n=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict"
        );
    }
}
