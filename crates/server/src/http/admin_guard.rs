//! Who may use the admin API: its owner, not a web page the owner happens to visit.
//!
//! A page on another site can make the browser send requests to `127.0.0.1:9444`, and through
//! DNS rebinding even read the answers. Every admin request therefore passes, in order:
//! 1. **Host**: exactly one, naming an IP literal, `localhost`, or a name in
//!    `admin_allowed_hosts`. A rebinding attack needs a host *name* that the attacker's DNS
//!    points at us, so IP literals are safe.
//! 2. **Origin**: absent (not a browser), the admin API's own origin, or one in
//!    `admin_allowed_origins`; `Sec-Fetch-Site: cross-site` is refused too.
//! 3. **Token**: `Authorization: Bearer <admin_token>` when one is set, compared in constant
//!    time, or the console's session cookie on a request the browser marks `Sec-Fetch-Site:
//!    same-origin` or `none` (so a page on another port of this host, which is "same-site" and
//!    gets the cookie, cannot use it). The console's page, assets and login pass without it
//!    ([`crate::console`] names them); the page then shows the login.
//! 4. **Content-Type**: a request with a body must say JSON (`application/json`, or
//!    `application/x-ndjson` for event batches). Browsers send those only after a CORS
//!    preflight, which this API never approves.

use super::console::cookie;
use crate::config::Config;
use crate::metrics::AdminRefusal;
use crate::state::SharedState;
use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::net::IpAddr;
use userstream_protocol::events::clip;

/// Why a request was turned away, with its status and message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    status: StatusCode,
    reason: AdminRefusal,
    message: String,
}

impl Refusal {
    fn new(status: StatusCode, reason: AdminRefusal, message: String) -> Refusal {
        Refusal {
            status,
            reason,
            message,
        }
    }
}

pub(crate) async fn guard(
    State(state): State<SharedState>,
    mut request: Request,
    next: Next,
) -> Response {
    let optional = super::console::routes::token_optional(request.method(), request.uri().path());
    // Only a request that carries cookies can carry the console's: no other pays for its name.
    let name;
    let session = if request.headers().contains_key(header::COOKIE) {
        name = cookie::name(state.console.admin_port());
        Some(Session {
            cookie: &name,
            now_ms: state.clock.now_ms(),
        })
    } else {
        None
    };
    let checked = check_access(
        &state.config,
        request.method(),
        request.headers(),
        optional,
        session.as_ref(),
    );
    match checked {
        Ok(authorised) => {
            request
                .extensions_mut()
                .insert(super::console::ConsoleAccess { authorised });
            next.run(request).await
        }
        Err(refusal) => {
            state.metrics.admin_refused(refusal.reason);
            tracing::info!(reason = ?refusal.reason, message = %refusal.message, "admin request refused");
            (refusal.status, Json(json!({ "error": refusal.message }))).into_response()
        }
    }
}

/// What a console session cookie is checked against.
pub(crate) struct Session<'a> {
    /// Its name on this admin listener.
    cookie: &'a str,
    now_ms: i64,
}

#[cfg(test)]
fn check(config: &Config, method: &Method, headers: &HeaderMap) -> Result<(), Refusal> {
    check_access(config, method, headers, false, Some(&tests::SESSION)).map(|_| ())
}

/// Runs every check; with `token_optional` a missing or wrong token is not refused but
/// answered `Ok(false)`. `Ok(true)`: the token was presented, or none is set.
fn check_access(
    config: &Config,
    method: &Method,
    headers: &HeaderMap,
    token_optional: bool,
    session: Option<&Session<'_>>,
) -> Result<bool, Refusal> {
    let mut hosts = headers.get_all(header::HOST).iter();
    let host = match (hosts.next(), hosts.next()) {
        (Some(host), None) => host.to_str().unwrap_or(""),
        (None, _) => "",
        (Some(_), Some(_)) => {
            let message = "the request names more than one Host".to_owned();
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                AdminRefusal::Host,
                message,
            ));
        }
    };
    check_host(config, host)?;
    check_origin(config, host, headers)?;
    let authorised = match check_token(config, headers, session) {
        Ok(()) => true,
        Err(_) if token_optional => false,
        Err(refusal) => return Err(refusal),
    };
    check_content_type(method, headers)?;
    Ok(authorised)
}

fn text(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// The host part of a `Host` header (`[::1]:9444` → `::1`), or `None` when it is not `name`,
/// `name:port`, `[v6]` or `[v6]:port`.
fn host_name(authority: &str) -> Option<&str> {
    let is_port = |port: &str| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
    if let Some(rest) = authority.strip_prefix('[') {
        let (literal, after) = rest.split_once(']')?;
        let port_only = after.is_empty() || after.strip_prefix(':').is_some_and(is_port);
        return port_only.then_some(literal);
    }
    match authority.split_once(':') {
        None => Some(authority),
        Some((name, port)) => is_port(port).then_some(name),
    }
}

fn check_host(config: &Config, host: &str) -> Result<(), Refusal> {
    let allowed = host_name(host).is_some_and(|name| {
        name.parse::<IpAddr>().is_ok()
            || name.eq_ignore_ascii_case("localhost")
            || config.admin_allowed_hosts.iter().any(|allowed| {
                allowed.eq_ignore_ascii_case(host) || allowed.eq_ignore_ascii_case(name)
            })
    });
    if allowed {
        return Ok(());
    }
    let message = if host.is_empty() {
        "the admin API needs a Host header".to_owned()
    } else {
        format!(
            "Host '{}' is not allowed on the admin API (a defence against DNS rebinding); use an IP address or localhost, or add the name to admin_allowed_hosts",
            clip(host)
        )
    };
    Err(Refusal::new(
        StatusCode::FORBIDDEN,
        AdminRefusal::Host,
        message,
    ))
}

/// Same origin means the same host and port as the request's `Host`, by `http` or `https`.
fn check_origin(config: &Config, host: &str, headers: &HeaderMap) -> Result<(), Refusal> {
    let cross_site = text(headers, header::HeaderName::from_static("sec-fetch-site"))
        .is_some_and(|site| site.eq_ignore_ascii_case("cross-site"));
    let origin = text(headers, header::ORIGIN);
    let same_origin = |origin: &str| {
        let authority = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"));
        authority.is_some_and(|authority| authority.eq_ignore_ascii_case(host))
    };
    let listed = |origin: &str| {
        config.admin_allowed_origins.iter().any(|allowed| {
            allowed
                .trim_end_matches('/')
                .eq_ignore_ascii_case(origin.trim_end_matches('/'))
        })
    };
    let allowed = match origin {
        None => !cross_site,
        Some(origin) => same_origin(origin) || listed(origin),
    };
    if allowed {
        return Ok(());
    }
    let message = format!(
        "cross-origin requests to the admin API are refused (Origin '{}'); add the origin to admin_allowed_origins if it is yours",
        clip(origin.unwrap_or("none, Sec-Fetch-Site: cross-site"))
    );
    Err(Refusal::new(
        StatusCode::FORBIDDEN,
        AdminRefusal::Origin,
        message,
    ))
}

fn check_token(
    config: &Config,
    headers: &HeaderMap,
    session: Option<&Session<'_>>,
) -> Result<(), Refusal> {
    let Some(expected) = &config.admin_token else {
        return Ok(());
    };
    // The scheme name is case-insensitive (RFC 9110).
    let bearer = text(headers, header::AUTHORIZATION)
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim_start());
    let by_bearer = crate::secret::same_secret(bearer.unwrap_or(""), expected);
    let own_page = matches!(
        text(headers, header::HeaderName::from_static("sec-fetch-site")),
        Some("same-origin" | "none")
    );
    let by_cookie = own_page
        && session.is_some_and(|session| {
            cookie_value(headers, session.cookie)
                .is_some_and(|presented| cookie::valid(presented, expected, session.now_ms))
        });
    if by_bearer || by_cookie {
        return Ok(());
    }
    Err(Refusal::new(
        StatusCode::UNAUTHORIZED,
        AdminRefusal::Token,
        "missing or wrong admin bearer token".into(),
    ))
}

/// The value of the cookie `name`, from any `Cookie` header.
fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim())
}

/// Media types a body may have: JSON, or NDJSON for event batches.
const BODY_TYPES: &[&str] = &["application/json", "application/x-ndjson"];

fn check_content_type(method: &Method, headers: &HeaderMap) -> Result<(), Refusal> {
    let length = text(headers, header::CONTENT_LENGTH).map(str::trim);
    let has_body = headers.contains_key(header::TRANSFER_ENCODING)
        || length.is_some_and(|length| length != "0");
    if !has_body || matches!(*method, Method::GET | Method::HEAD) {
        return Ok(());
    }
    let media_type = text(headers, header::CONTENT_TYPE)
        .and_then(|value| value.split(';').next())
        .map(str::trim)
        .unwrap_or("");
    if BODY_TYPES
        .iter()
        .any(|allowed| media_type.eq_ignore_ascii_case(allowed))
    {
        return Ok(());
    }
    let shown = if media_type.is_empty() {
        "none"
    } else {
        media_type
    };
    let message = format!(
        "admin request bodies must be JSON: send Content-Type: application/json (or application/x-ndjson for event batches), not '{}'",
        clip(shown)
    );
    Err(Refusal::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        AdminRefusal::ContentType,
        message,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    /// The admin listener of these checks: port 9444, at a fixed time.
    pub(super) const SESSION: Session<'static> = Session {
        cookie: "userstream_console_9444",
        now_ms: 1_800_000_000_000,
    };

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn reason(config: &Config, method: Method, pairs: &[(&'static str, &str)]) -> &'static str {
        match check(config, &method, &headers(pairs)) {
            Ok(()) => "ok",
            Err(refusal) => match refusal.reason {
                AdminRefusal::Host => "host",
                AdminRefusal::Origin => "origin",
                AdminRefusal::Token => "token",
                AdminRefusal::ContentType => "content_type",
            },
        }
    }

    #[test]
    fn host_names_must_be_ours() {
        let config = Config::default();
        for host in [
            "127.0.0.1:9444",
            "localhost:9444",
            "LOCALHOST",
            "[::1]:9444",
            "[::1]",
            "10.1.2.3",
        ] {
            assert_eq!(
                reason(&config, Method::GET, &[("host", host)]),
                "ok",
                "{host}"
            );
        }
        for host in [
            "attacker.example:9444",
            "attacker.example",
            "",
            "127.0.0.1.nip.io:9444",
            "[::1]junk",
            "[::1",
            "[::1]:",
            "127.0.0.1:",
            "127.0.0.1:x",
            "user@127.0.0.1",
            "[fe80::1%25eth0]",
        ] {
            assert_eq!(
                reason(&config, Method::GET, &[("host", host)]),
                "host",
                "{host}"
            );
        }
        let config = Config {
            admin_allowed_hosts: vec!["admin.internal".into()],
            ..Config::default()
        };
        assert_eq!(
            reason(&config, Method::GET, &[("host", "admin.internal:9444")]),
            "ok"
        );
    }

    #[test]
    fn one_host_only() {
        let pairs = [("host", "127.0.0.1"), ("host", "attacker.example")];
        let refused = check(&Config::default(), &Method::GET, &headers(&pairs));
        assert_eq!(refused.map_err(|r| r.status), Err(StatusCode::BAD_REQUEST));
    }

    #[test]
    fn foreign_origins_are_refused() {
        let config = Config::default();
        let host = ("host", "127.0.0.1:9444");
        assert_eq!(reason(&config, Method::GET, &[host]), "ok");
        for origin in ["http://127.0.0.1:9444", "https://127.0.0.1:9444"] {
            assert_eq!(
                reason(&config, Method::GET, &[host, ("origin", origin)]),
                "ok"
            );
        }
        for origin in [
            "https://evil.example",
            "null",
            "http://127.0.0.1:9445",
            "127.0.0.1:9444",
        ] {
            assert_eq!(
                reason(&config, Method::POST, &[host, ("origin", origin)]),
                "origin",
                "{origin}"
            );
        }
        assert_eq!(
            reason(
                &config,
                Method::POST,
                &[host, ("sec-fetch-site", "cross-site")]
            ),
            "origin"
        );
        let config = Config {
            admin_allowed_origins: vec!["https://console.example/".into()],
            ..Config::default()
        };
        assert_eq!(
            reason(
                &config,
                Method::POST,
                &[host, ("origin", "https://console.example")]
            ),
            "ok"
        );
    }

    #[test]
    fn bodies_must_say_json() {
        let config = Config::default();
        let host = ("host", "127.0.0.1");
        let post = |pairs: &[(&'static str, &str)]| reason(&config, Method::POST, pairs);
        let length = ("content-length", "13");
        assert_eq!(post(&[host]), "ok", "no body");
        assert_eq!(post(&[host, ("content-length", "0")]), "ok");
        assert_eq!(
            post(&[host, length, ("content-type", "text/plain;charset=UTF-8")]),
            "content_type"
        );
        assert_eq!(post(&[host, length]), "content_type");
        let form = ("content-type", "application/x-www-form-urlencoded");
        assert_eq!(
            post(&[host, ("transfer-encoding", "chunked"), form]),
            "content_type"
        );
        let json = ("content-type", "Application/JSON; charset=utf-8");
        assert_eq!(post(&[host, length, json]), "ok");
        let ndjson = ("content-type", "application/x-ndjson");
        assert_eq!(post(&[host, length, ndjson]), "ok");
    }

    #[test]
    fn the_token_is_checked_after_host_and_origin() {
        let config = Config {
            admin_token: Some("sesame".into()),
            ..Config::default()
        };
        let host = ("host", "127.0.0.1");
        let with = |value: &str| reason(&config, Method::GET, &[host, ("authorization", value)]);
        assert_eq!(reason(&config, Method::GET, &[host]), "token");
        for wrong in [
            "Bearer sesam",
            "Bearer sesame!",
            "Basic sesame",
            "sesame",
            "Bearer",
        ] {
            assert_eq!(with(wrong), "token", "{wrong}");
        }
        assert_eq!(with("Bearer sesame"), "ok");
        assert_eq!(with("bearer sesame"), "ok");
        let foreign = [("host", "evil.example"), ("authorization", "Bearer sesame")];
        assert_eq!(reason(&config, Method::GET, &foreign), "host");
    }

    #[test]
    fn the_console_cookie_stands_for_the_token_on_its_own_pages() {
        let config = Config {
            admin_token: Some("sesame".into()),
            ..Config::default()
        };
        let host = ("host", "127.0.0.1");
        let issued = |token: &str, at_ms: i64| {
            let set = cookie::issue(SESSION.cookie, token, at_ms, false).unwrap();
            set.split(';').next().unwrap().to_owned()
        };
        let good = format!("theme=dark; {}", issued("sesame", SESSION.now_ms));
        let own = ("sec-fetch-site", "same-origin");
        assert_eq!(
            reason(&config, Method::GET, &[host, own, ("cookie", &good)]),
            "ok"
        );
        let typed = ("sec-fetch-site", "none");
        assert_eq!(
            reason(&config, Method::GET, &[host, typed, ("cookie", &good)]),
            "ok"
        );
        // Another port of this host is "same-site": the browser sends the cookie, which then
        // counts for nothing. So does a client that says nothing of where it comes from.
        for site in [Some("same-site"), None] {
            let mut pairs = vec![host, ("cookie", good.as_str())];
            pairs.extend(site.map(|site| ("sec-fetch-site", site)));
            assert_eq!(reason(&config, Method::GET, &pairs), "token", "{site:?}");
        }
        let other_token = issued("sesam", SESSION.now_ms);
        let expired = issued("sesame", SESSION.now_ms - cookie::SESSION_MS);
        let other_port = good.replace(SESSION.cookie, "userstream_console_9555");
        for cookie in [
            other_token.as_str(),
            expired.as_str(),
            other_port.as_str(),
            "userstream_console_9444=sesame",
            "userstream_console_9444=",
        ] {
            assert_eq!(
                reason(&config, Method::GET, &[host, own, ("cookie", cookie)]),
                "token",
                "{cookie}"
            );
        }
        // Where the token is optional its absence is told, not refused; the rest still holds.
        let access = |pairs: &[(&'static str, &str)]| {
            check_access(&config, &Method::GET, &headers(pairs), true, Some(&SESSION))
                .map_err(|r| r.reason)
        };
        assert_eq!(access(&[host]), Ok(false));
        assert_eq!(access(&[host, own, ("cookie", &good)]), Ok(true));
        assert_eq!(access(&[("host", "evil.example")]), Err(AdminRefusal::Host));
        let foreign = [host, ("origin", "https://evil.example")];
        assert_eq!(access(&foreign), Err(AdminRefusal::Origin));
    }
}
