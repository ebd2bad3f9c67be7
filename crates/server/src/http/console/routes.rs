//! The console's routes on the admin listener. Every answer carries the console's security
//! headers (a strict CSP: the page has no inline script or style).

use super::ConsoleAccess;
use super::cookie;
use crate::console::{ScenarioRequest, StartError};
use crate::metrics::AdminRefusal;
use crate::secret::same_secret;
use crate::state::SharedState;
use axum::body::Bytes;
use axum::extract::Request;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::json;

const INDEX_HTML: &str = include_str!("../../../console/index.html");
const LOGIN_HTML: &str = include_str!("../../../console/login.html");
const APP_JS: &str = include_str!("../../../console/app.js");
const LOGIN_JS: &str = include_str!("../../../console/login.js");
const APP_CSS: &str = include_str!("../../../console/app.css");

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Paths the admin guard lets through without the token: the page (which shows the login when
/// the request is not authorised), its assets, and logging in and out.
pub(crate) fn token_optional(method: &axum::http::Method, path: &str) -> bool {
    use axum::http::Method;
    match *method {
        Method::GET | Method::HEAD => matches!(
            path,
            "/" | "/console/app.js" | "/console/login.js" | "/console/app.css"
        ),
        Method::POST => matches!(path, "/admin/v1/console/login" | "/admin/v1/console/logout"),
        _ => false,
    }
}

pub(crate) fn routes() -> Router<SharedState> {
    Router::new()
        .route("/", get(page))
        .route(
            "/console/app.js",
            get(asset(APP_JS, "text/javascript; charset=utf-8")),
        )
        .route(
            "/console/login.js",
            get(asset(LOGIN_JS, "text/javascript; charset=utf-8")),
        )
        .route(
            "/console/app.css",
            get(asset(APP_CSS, "text/css; charset=utf-8")),
        )
        .route("/admin/v1/console/login", post(login))
        .route("/admin/v1/console/logout", post(logout))
        .route("/admin/v1/console/stream", get(super::stream::stream))
        .route("/admin/v1/scenarios", get(list_scenarios))
        .route("/admin/v1/scenarios/run", post(run_scenario))
}

/// Whether `path` is one of the console's (its answers carry [`security_headers`]).
fn console_path(path: &str) -> bool {
    path == "/"
        || path.starts_with("/console/")
        || path.starts_with("/admin/v1/console/")
        || path == "/admin/v1/scenarios"
        || path.starts_with("/admin/v1/scenarios/")
}

/// Adds the console's security headers to every answer on its paths, the admin guard's
/// refusals included (this runs outside the guard).
pub(crate) async fn security_headers(request: Request, next: Next) -> Response {
    let console = console_path(request.uri().path());
    let mut response = next.run(request).await;
    if !console {
        return response;
    }
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

fn html(body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

fn asset(
    body: &'static str,
    content_type: &'static str,
) -> impl Fn() -> std::future::Ready<Response> + Clone + Send + Sync + 'static {
    move || std::future::ready(([(header::CONTENT_TYPE, content_type)], body).into_response())
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

/// The console when authorised (or when no token is set), else the login page.
async fn page(Extension(access): Extension<ConsoleAccess>) -> Response {
    if access.authorised {
        html(INDEX_HTML)
    } else {
        html(LOGIN_HTML)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    token: String,
}

/// Trades the admin token for the console's session cookie ([`cookie`]). The token is
/// compared in constant time and never logged; a wrong one counts as a refused admin token.
async fn login(State(state): State<SharedState>, body: Bytes) -> Response {
    let Some(expected) = &state.config.admin_token else {
        return StatusCode::NO_CONTENT.into_response();
    };
    let Ok(request) = serde_json::from_slice::<Login>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            r#"the body must be {"token":"..."}"#,
        );
    };
    if !same_secret(&request.token, expected) {
        state.metrics.admin_refused(AdminRefusal::Token);
        tracing::info!("console login with a wrong admin token");
        return error(StatusCode::UNAUTHORIZED, "wrong admin token");
    }
    let name = cookie::name(state.console.admin_port());
    let secure = state.config.tls_cert.is_some();
    let set = cookie::issue(&name, expected, state.clock.now_ms(), secure)
        .and_then(|set| HeaderValue::from_str(&set).ok());
    match set {
        Some(set) => (StatusCode::NO_CONTENT, [(header::SET_COOKIE, set)]).into_response(),
        None => error(StatusCode::INTERNAL_SERVER_ERROR, "cannot make the cookie"),
    }
}

/// Deletes the browser's cookie (a copy kept elsewhere lasts until it expires).
async fn logout(State(state): State<SharedState>) -> Response {
    match HeaderValue::from_str(&cookie::clear(&cookie::name(state.console.admin_port()))) {
        Ok(set) => (StatusCode::NO_CONTENT, [(header::SET_COOKIE, set)]).into_response(),
        Err(_) => StatusCode::NO_CONTENT.into_response(),
    }
}

async fn list_scenarios(State(state): State<SharedState>) -> Response {
    match state.console.runs.list() {
        Some(scenarios) => Json(scenarios).into_response(),
        None => error(
            StatusCode::NOT_IMPLEMENTED,
            StartError::NoRunner.to_string(),
        ),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Run {
    name: String,
}

async fn run_scenario(State(state): State<SharedState>, body: Bytes) -> Response {
    let Ok(request) = serde_json::from_slice::<Run>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            r#"the body must be {"name":"..."}"#,
        );
    };
    let console = &state.console;
    let request = ScenarioRequest {
        name: request.name,
        public_url: console.public_url(),
        admin_url: console.admin_url(),
        admin_token: state.config.admin_token.clone(),
    };
    match console.runs.start(&console.feed, request) {
        Ok(run) => (StatusCode::ACCEPTED, Json(json!({ "run": run }))).into_response(),
        Err(why @ StartError::NoRunner) => error(StatusCode::NOT_IMPLEMENTED, why.to_string()),
        Err(why @ StartError::Unknown(_)) => error(StatusCode::BAD_REQUEST, why.to_string()),
        Err(why @ StartError::Busy) => error(StatusCode::CONFLICT, why.to_string()),
    }
}
