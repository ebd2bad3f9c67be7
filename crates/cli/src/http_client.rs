//! One HTTP exchange with a running gateway, turned into either its JSON answer or an error a
//! newcomer can act on.
//!
//! Both the admin commands and `token` go through [`Remote::send`], so "the server is not
//! running" and "the server said no" read the same everywhere.

use anyhow::{Context, anyhow, bail};
use reqwest::{RequestBuilder, StatusCode, Url};
use serde_json::Value;
use std::time::Duration;
use userstream_client::TrustedCertificates;
use userstream_client::token::root_cause;

/// Long enough for a slow machine, short enough that a black-holed address does not hang a
/// script forever.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Generous: one publish request may carry a large batch of events.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// A gateway listener (public or admin) reached at a base URL.
pub struct Remote {
    base: Url,
    client: reqwest::Client,
}

impl Remote {
    /// Checks the base URL up front, so a typo is reported as such and not as a network error.
    pub fn new(base: &str, trusted: &TrustedCertificates) -> anyhow::Result<Remote> {
        let base = Url::parse(base).with_context(|| format!("'{base}' is not a valid URL"))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            bail!("'{base}' is not an http:// or https:// URL");
        }
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("userstream-cli/", env!("CARGO_PKG_VERSION")));
        let client = trusted
            .trust_in(client)?
            .build()
            .context("cannot set up the HTTP client")?;
        Ok(Remote { base, client })
    }

    /// The base URL with `segments` appended as path segments (each one percent-encoded), so a
    /// gateway behind a path prefix (`http://host/userstream/`) works too.
    pub fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends the request and returns the JSON body of a 2xx answer.
    ///
    /// Anything else becomes an error whose message says what happened in plain words and, for
    /// a refusal, carries the server's own error body (its Binance `code` is what users search
    /// for).
    pub async fn send(&self, request: RequestBuilder) -> anyhow::Result<Value> {
        let response = request
            .send()
            .await
            .map_err(|error| self.transport_error(&error))?;
        let status = response.status();
        let body = response
            .text()
            .await
            .map_err(|error| self.transport_error(&error))?;
        if !status.is_success() {
            return Err(Refused::new(status, body.trim()).into());
        }
        serde_json::from_str(&body).with_context(|| {
            format!(
                "the server at {} answered HTTP {status} with a body that is not JSON: {}",
                self.base_display(),
                body.trim()
            )
        })
    }

    fn transport_error(&self, error: &reqwest::Error) -> anyhow::Error {
        let base = self.base_display();
        if error.is_connect() {
            anyhow!(
                "cannot reach {base}: is 'userstream serve' running? ({})",
                root_cause(error)
            )
        } else if error.is_timeout() {
            anyhow!("{base} did not answer in time ({})", root_cause(error))
        } else {
            anyhow!("request to {base} failed: {}", root_cause(error))
        }
    }

    /// The base URL as the user typed it, without the trailing slash `Url` adds.
    fn base_display(&self) -> String {
        self.base.as_str().trim_end_matches('/').to_owned()
    }
}

/// The server answered, and not with 2xx. Kept as a type so callers can add advice for a
/// particular status (see `AdminClient`).
#[derive(Debug)]
pub struct Refused {
    pub status: StatusCode,
    pub body: String,
}

impl Refused {
    fn new(status: StatusCode, body: &str) -> Refused {
        let body = if body.is_empty() {
            "(empty body)"
        } else {
            body
        };
        Refused {
            status,
            body: body.to_owned(),
        }
    }
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let code = self.status.as_u16();
        if self.status.is_server_error() {
            write!(
                f,
                "the server failed to handle the request (HTTP {code}): {}",
                self.body
            )
        } else {
            write!(f, "server refused the request (HTTP {code}): {}", self.body)
        }
    }
}

impl std::error::Error for Refused {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_appended_to_the_base() {
        let remote = Remote::new("http://127.0.0.1:9444", &Default::default()).unwrap();
        assert_eq!(
            remote.url(&["admin", "v1", "keys", "a/b"]).as_str(),
            "http://127.0.0.1:9444/admin/v1/keys/a%2Fb"
        );
        let prefixed = Remote::new("http://host/userstream/", &Default::default()).unwrap();
        assert_eq!(
            prefixed.url(&["healthz"]).as_str(),
            "http://host/userstream/healthz"
        );
    }

    #[test]
    fn bad_base_urls_are_refused() {
        assert!(Remote::new("127.0.0.1:9444", &Default::default()).is_err());
        assert!(Remote::new("ftp://host", &Default::default()).is_err());
        assert!(Remote::new("https://host", &Default::default()).is_ok());
        assert!(Remote::new("not a url", &Default::default()).is_err());
    }

    #[test]
    fn refusals_quote_the_body() {
        let error = Refused::new(StatusCode::UNAUTHORIZED, r#"{"code":-2015}"#);
        assert_eq!(
            error.to_string(),
            r#"server refused the request (HTTP 401): {"code":-2015}"#
        );
    }
}
