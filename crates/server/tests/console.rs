//! The web console's server side over real sockets: the page and its assets, the cookie login,
//! the Server-Sent Events stream (hello, backlog, live items, sessions), its cap, and scenario
//! runs through a runner of the test's own.

mod common;

use common::*;
use serde_json::{Value, json};
use std::sync::Arc;
use tokio::sync::Notify;
use userstream_server::console::{
    ScenarioFuture, ScenarioInfo, ScenarioOutcome, ScenarioOutput, ScenarioRequest, ScenarioRunner,
};

const INDEX: &str = include_str!("../console/index.html");
const LOGIN: &str = include_str!("../console/login.html");
const TOKEN: &str = "sesame-open-up";

/// The headers every console answer carries.
fn assert_security_headers(response: &reqwest::Response) {
    let headers = response.headers();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("{name} missing: {headers:?}"))
            .to_owned()
    };
    let csp = header("content-security-policy");
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} missing from {csp}");
    }
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert_eq!(header("x-frame-options"), "DENY");
    assert_eq!(header("referrer-policy"), "no-referrer");
    assert_eq!(header("cache-control"), "no-store");
}

fn content_type(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// A Server-Sent Events reader over a streaming response.
struct Sse {
    response: reqwest::Response,
    buffer: String,
}

impl Sse {
    async fn open(server: &TestServer, cookie: Option<&str>) -> Sse {
        let response = stream_request(server, cookie).await;
        assert_eq!(response.status(), 200);
        assert_eq!(content_type(&response), "text/event-stream");
        assert_security_headers(&response);
        Sse {
            response,
            buffer: String::new(),
        }
    }

    /// The next message: its `event` and its `data` as JSON (comments are skipped).
    async fn next(&mut self) -> (String, Value) {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let message: String = self.buffer.drain(..end + 2).collect();
                let mut kind = None;
                let mut data = String::new();
                for line in message.lines() {
                    if let Some(value) = line.strip_prefix("event:") {
                        kind = Some(value.trim().to_owned());
                    } else if let Some(value) = line.strip_prefix("data:") {
                        data.push_str(value.trim_start());
                    }
                }
                let Some(kind) = kind else { continue };
                let data = serde_json::from_str(&data).unwrap_or_else(|e| panic!("{e}: {data}"));
                return (kind, data);
            }
            let chunk = tokio::time::timeout(WAIT, self.response.chunk())
                .await
                .expect("no SSE message in time")
                .expect("read the stream")
                .expect("the stream ended");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// The next message of `kind`, skipping others.
    async fn next_of(&mut self, kind: &str) -> Value {
        loop {
            let (got, data) = self.next().await;
            if got == kind {
                return data;
            }
        }
    }
}

/// `GET path` on the admin listener, with no credentials.
async fn get(server: &TestServer, path: &str) -> reqwest::Response {
    server
        .http
        .get(server.admin_url(path))
        .send()
        .await
        .unwrap()
}

async fn stream_request(server: &TestServer, cookie: Option<&str>) -> reqwest::Response {
    let mut request = server
        .http
        .get(server.admin_url("/admin/v1/console/stream"));
    if let Some(cookie) = cookie {
        // As the console's own page sends it.
        request = request
            .header("cookie", cookie)
            .header("sec-fetch-site", "same-origin");
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn page_and_assets_are_served_with_security_headers() {
    let server = TestServer::start().await;
    let page = get(&server, "/").await;
    assert_eq!(page.status(), 200);
    assert_security_headers(&page);
    assert_eq!(content_type(&page), "text/html; charset=utf-8");
    assert_eq!(
        page.text().await.unwrap(),
        INDEX,
        "no token set: the console"
    );
    for (path, kind, body) in [
        (
            "/console/app.js",
            "text/javascript",
            include_str!("../console/app.js"),
        ),
        (
            "/console/login.js",
            "text/javascript",
            include_str!("../console/login.js"),
        ),
        (
            "/console/app.css",
            "text/css",
            include_str!("../console/app.css"),
        ),
    ] {
        let response = get(&server, path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_security_headers(&response);
        assert!(content_type(&response).starts_with(kind), "{path}");
        assert_eq!(response.text().await.unwrap(), body, "{path}");
    }
    // Without an admin token, logging in is a formality: no cookie.
    let login = server
        .http
        .post(server.admin_url("/admin/v1/console/login"))
        .json(&json!({ "token": "anything" }))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 204);
    assert!(login.headers().get("set-cookie").is_none());
    // A foreign Host is refused for the page too (DNS rebinding).
    let answer = raw_http(
        server.server.admin_addr,
        "GET / HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(raw_status(&answer), 403, "{answer}");
}

#[tokio::test]
async fn the_login_cookie_authorises_the_page_the_stream_and_the_api() {
    let server = TestServer::start_with(|config| config.admin_token = Some(TOKEN.into())).await;
    let get = |path: &str, cookie: Option<&str>| {
        let mut request = server.http.get(server.admin_url(path));
        if let Some(cookie) = cookie {
            request = request
                .header("cookie", cookie)
                .header("sec-fetch-site", "same-origin");
        }
        request.send()
    };
    let page = get("/", None).await.unwrap();
    assert_eq!(page.status(), 200);
    assert_security_headers(&page);
    assert_eq!(
        page.text().await.unwrap(),
        LOGIN,
        "not authorised: the login"
    );
    let asset = get("/console/login.js", None).await.unwrap();
    assert_eq!(asset.status(), 200, "assets need no token");
    assert_eq!(get("/admin/v1/sessions", None).await.unwrap().status(), 401);
    let refused = stream_request(&server, None).await;
    assert_eq!(refused.status(), 401);
    assert_security_headers(&refused);

    let login = |token: &str| {
        server
            .http
            .post(server.admin_url("/admin/v1/console/login"))
            .json(&json!({ "token": token }))
            .send()
    };
    let wrong = login("sesame").await.unwrap();
    assert_eq!(wrong.status(), 401);
    assert_security_headers(&wrong);
    assert!(wrong.headers().get("set-cookie").is_none());
    let body: Value = wrong.json().await.unwrap();
    assert_eq!(body, json!({ "error": "wrong admin token" }));

    let right = login(TOKEN).await.unwrap();
    assert_eq!(right.status(), 204);
    let set_cookie = right
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("a cookie")
        .to_owned();
    for attribute in ["Path=/", "Max-Age=43200", "HttpOnly", "SameSite=Strict"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    assert!(!set_cookie.contains("Secure"), "no TLS: {set_cookie}");
    assert!(
        !set_cookie.contains(TOKEN),
        "the token itself is never the cookie"
    );
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let name = format!("userstream_console_{}", server.server.admin_addr.port());
    assert!(cookie.starts_with(&format!("{name}=")), "{cookie}");

    let page = get("/", Some(&cookie)).await.unwrap();
    assert_eq!(page.text().await.unwrap(), INDEX);
    let sessions = get("/admin/v1/sessions", Some(&cookie)).await.unwrap();
    assert_eq!(sessions.status(), 200);
    let mut sse = Sse::open(&server, Some(&cookie)).await;
    let (kind, _) = sse.next().await;
    assert_eq!(kind, "hello");
    // A page on another port of this host is "same-site": the browser sends it the cookie,
    // which counts for nothing there.
    let same_site = server
        .http
        .get(server.admin_url("/admin/v1/sessions"))
        .header("cookie", &cookie)
        .header("sec-fetch-site", "same-site")
        .send()
        .await
        .unwrap();
    assert_eq!(same_site.status(), 401);
    // A cookie that is not the token's is nothing.
    let forged = format!("{name}=1.00112233");
    let forged = forged.as_str();
    assert_eq!(
        get("/", Some(forged)).await.unwrap().text().await.unwrap(),
        LOGIN
    );
    assert_eq!(
        get("/admin/v1/sessions", Some(forged))
            .await
            .unwrap()
            .status(),
        401
    );
    // The bearer token still works, and logging out clears the cookie.
    let bearer = server
        .http
        .get(server.admin_url("/admin/v1/sessions"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), 200);
    let logout = server
        .http
        .post(server.admin_url("/admin/v1/console/logout"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);
    let cleared = logout
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(
        cleared.starts_with(&format!("{name}=;")) && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    // A login lasts twelve hours.
    server.advance_ms(12 * 60 * 60 * 1000 - 1);
    assert_eq!(
        get("/admin/v1/sessions", Some(&cookie))
            .await
            .unwrap()
            .status(),
        200
    );
    server.advance_ms(1);
    assert_eq!(
        get("/admin/v1/sessions", Some(&cookie))
            .await
            .unwrap()
            .status(),
        401
    );
}

#[tokio::test]
async fn cross_origin_login_and_stream_are_refused() {
    let server = TestServer::start_with(|config| config.admin_token = Some(TOKEN.into())).await;
    let login = server
        .http
        .post(server.admin_url("/admin/v1/console/login"))
        .header("origin", "https://evil.example")
        .json(&json!({ "token": TOKEN }))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 403);
    assert!(login.headers().get("set-cookie").is_none());
    let login = server
        .http
        .post(server.admin_url("/admin/v1/console/login"))
        .header("content-type", "text/plain")
        .body(format!(r#"{{"token":"{TOKEN}"}}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 415, "a form post cannot log in");
    for (name, value) in [
        ("origin", "https://evil.example"),
        ("sec-fetch-site", "cross-site"),
    ] {
        let stream = server
            .http
            .get(server.admin_url("/admin/v1/console/stream"))
            .bearer_auth(TOKEN)
            .header(name, value)
            .send()
            .await
            .unwrap();
        assert_eq!(stream.status(), 403, "{name}: {value}");
    }
}

#[tokio::test]
async fn the_stream_sends_hello_backlog_live_items_and_sessions() {
    let server = TestServer::start().await;
    let key = server.create_key(&[]).await;
    server.set_price("BTCUSDT", "61000").await;
    server
        .publish(key.uid, None, balance_update("1.00000000"))
        .await;

    let mut sse = Sse::open(&server, None).await;
    let (kind, hello) = sse.next().await;
    assert_eq!(kind, "hello");
    assert_eq!(hello["simulator"], true);
    assert_eq!(hello["scenarios"], false, "no runner");
    assert!(hello["serverTimeMs"].as_i64().unwrap() > 0);
    let btc = hello["symbols"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["symbol"] == "BTCUSDT")
        .expect("BTCUSDT in hello");
    assert_eq!(btc["price"], "61000");
    assert!(btc["tickSize"].is_string(), "{btc}");
    let faults: Vec<&str> = hello["faults"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for kind in [
        "terminate",
        "drop",
        "mute",
        "shutdown",
        "failTokenRequests",
        "delay",
    ] {
        assert!(faults.contains(&kind), "{kind} missing: {faults:?}");
    }

    // The backlog: the price set before, then the event published before.
    let (kind, price) = sse.next().await;
    assert_eq!(kind, "price");
    assert_eq!(price["symbol"], "BTCUSDT");
    assert_eq!(price["price"], "61000");
    assert!(price["atMs"].is_i64());
    let (kind, event) = sse.next().await;
    assert_eq!(kind, "event", "{event}");
    assert_eq!(event["uid"], key.uid);
    assert_eq!(event["isolatedSymbol"], Value::Null);
    assert_eq!(event["type"], "balanceUpdate");
    assert_eq!(event["event"]["e"], "balanceUpdate");
    assert_eq!(event["event"]["d"], "1.00000000");
    assert!(event["position"].is_u64(), "{event}");
    assert!(event["atMs"].is_i64());
    let first_position = event["position"].as_u64().unwrap();
    let (kind, sessions) = sse.next().await;
    assert_eq!(kind, "sessions");
    assert!(sessions["serverTimeMs"].is_i64());
    assert_eq!(sessions["sessions"], json!([]));
    assert_eq!(sessions["total"], 0);

    // Live: an event, a price change, and the sessions a second later.
    let (token, expires_at) = server.token(&key, None, None).await;
    let mut ws = server.ws().await;
    ws.subscribe(&token).await;
    server
        .publish(key.uid, None, balance_update("2.00000000"))
        .await;
    let event = sse.next_of("event").await;
    assert_eq!(event["event"]["d"], "2.00000000");
    assert!(event["position"].as_u64().unwrap() > first_position);
    server.set_price("BTCUSDT", "60500").await;
    let price = sse.next_of("price").await;
    assert_eq!(
        price,
        json!({"symbol": "BTCUSDT", "price": "60500", "atMs": price["atMs"]})
    );
    server.advance_ms(1000);
    let sessions = sse.next_of("sessions").await;
    let listed = sessions["sessions"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{sessions}");
    assert_eq!(sessions["total"], 1);
    let subscription = &listed[0]["subscriptions"][0];
    assert_eq!(subscription["uid"], key.uid);
    assert_eq!(subscription["expirationTime"], expires_at * 1000, "µs");
    // The same JSON as the admin route's.
    assert_eq!(
        sessions["sessions"],
        server.admin_get("/admin/v1/sessions").await
    );
    // An open console does not hold up a shutdown, and its stream ends.
    tokio::time::timeout(WAIT, server.server.shutdown())
        .await
        .expect("shut down in time")
        .unwrap();
    let ended = tokio::time::timeout(WAIT, async {
        while let Ok(Some(_)) = sse.response.chunk().await {}
    });
    ended.await.expect("the stream ended");
}

#[tokio::test]
async fn the_ninth_stream_is_refused() {
    let server = TestServer::start().await;
    let mut open = Vec::new();
    for _ in 0..8 {
        open.push(Sse::open(&server, None).await);
    }
    let refused = stream_request(&server, None).await;
    assert_eq!(refused.status(), 503);
    assert_security_headers(&refused);
    let body: Value = refused.json().await.unwrap();
    assert!(body["error"].is_string(), "{body}");
    // A console that leaves frees its place (noticed when the server next writes to it).
    drop(open.pop());
    let started = std::time::Instant::now();
    loop {
        server.advance_ms(1000);
        let response = stream_request(&server, None).await;
        if response.status() == 200 {
            break;
        }
        // Each round is a request, which paces the loop.
        assert!(started.elapsed() < WAIT, "the place was never freed");
    }
}

/// Emits two lines, then waits for the test's word, then passes.
struct TestRunner {
    release: Arc<Notify>,
}

impl ScenarioRunner for TestRunner {
    fn scenarios(&self) -> Vec<ScenarioInfo> {
        vec![ScenarioInfo::new(
            "quick",
            "quick-one",
            "Two lines and a pass.",
        )]
    }

    fn run(&self, request: ScenarioRequest, output: ScenarioOutput) -> ScenarioFuture {
        let release = Arc::clone(&self.release);
        Box::pin(async move {
            output.line(&format!(
                "playing {} against {}",
                request.name, request.public_url
            ));
            output.line(&format!("admin at {}", request.admin_url));
            release.notified().await;
            ScenarioOutcome::Passed
        })
    }
}

/// Asks for a run of the scenario `name`: the status and the answer.
async fn run_scenario(server: &TestServer, name: &str) -> (u16, Value) {
    server
        .admin_post("/admin/v1/scenarios/run", json!({ "name": name }))
        .await
}

#[tokio::test]
async fn a_scenario_run_streams_its_lines_and_outcome() {
    let release = Arc::new(Notify::new());
    let runner = Arc::new(TestRunner {
        release: Arc::clone(&release),
    });
    let server =
        TestServer::start_prepared(|_| {}, |server| server.with_scenario_runner(runner)).await;
    let list = server.admin_get("/admin/v1/scenarios").await;
    assert_eq!(
        list,
        json!([{ "name": "quick", "title": "quick-one", "description": "Two lines and a pass." }])
    );
    let mut sse = Sse::open(&server, None).await;
    assert_eq!(sse.next().await.1["scenarios"], true);

    let (status, _) = run_scenario(&server, "nope").await;
    assert_eq!(status, 400);
    let (status, answer) = run_scenario(&server, "quick").await;
    assert_eq!(status, 202, "{answer}");
    let run = answer["run"].as_u64().unwrap();
    let (status, answer) = run_scenario(&server, "quick").await;
    assert_eq!(status, 409, "one run at a time: {answer}");

    let started = sse.next_of("scenario").await;
    assert_eq!(started["run"], run);
    assert_eq!(started["name"], "quick");
    assert_eq!(started["state"], "running");
    assert_eq!(started["line"], Value::Null);
    let line = sse.next_of("scenario").await;
    let public = format!("http://{}", server.server.public_addr);
    assert_eq!(line["line"], format!("playing quick against {public}"));
    let line = sse.next_of("scenario").await;
    let admin = format!("http://{}", server.server.admin_addr);
    assert_eq!(line["line"], format!("admin at {admin}"));
    release.notify_one();
    let ended = sse.next_of("scenario").await;
    assert_eq!(ended["run"], run);
    assert_eq!(ended["state"], "passed");
    assert_eq!(ended["line"], Value::Null);
    // Over: the next run may start.
    let (status, answer) = run_scenario(&server, "quick").await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["run"], run + 1);
    release.notify_one();
}

#[tokio::test]
async fn without_a_runner_there_are_no_scenarios() {
    let server = TestServer::start().await;
    let response = get(&server, "/admin/v1/scenarios").await;
    assert_eq!(response.status(), 501);
    let (status, _) = run_scenario(&server, "full_fill").await;
    assert_eq!(status, 501);
    // Scenarios trade on the simulator: without it a runner is not taken (a run would only
    // leave a key behind).
    let runner = Arc::new(TestRunner {
        release: Arc::new(Notify::new()),
    });
    let server = TestServer::start_prepared(
        |config| config.sim.enabled = false,
        |server| server.with_scenario_runner(runner),
    )
    .await;
    let mut sse = Sse::open(&server, None).await;
    assert_eq!(sse.next().await.1["scenarios"], false);
    let (status, answer) = run_scenario(&server, "quick").await;
    assert_eq!(status, 501);
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("need the simulator"),
        "{answer}"
    );
}

#[tokio::test]
async fn a_server_without_its_console_serves_none() {
    let server = TestServer::start_with(|config| config.admin_console = false).await;
    for path in ["/", "/console/app.js", "/admin/v1/console/stream"] {
        let response = get(&server, path).await;
        assert_eq!(response.status(), 404, "{path}");
    }
    // The rest of the admin API is unchanged.
    assert_eq!(server.admin_get("/admin/v1/sessions").await, json!([]));
}

#[tokio::test]
async fn a_cluster_node_streams_what_it_delivers_without_a_simulator() {
    let nats = common::nats::NatsServer::start().await;
    let clock = userstream_server::ManualClock::starting_now();
    let spread = std::time::Duration::from_secs(1);
    let (nodes, key) = TestServer::cluster_with_key(&[nats.url()], 1, &clock, |_| {}, spread).await;
    let node = &nodes[0];
    // A node hears an account's events while it has subscribers for it.
    let (token, _) = node.token(&key, None, None).await;
    let mut ws = node.ws().await;
    ws.subscribe(&token).await;
    let mut sse = Sse::open(node, None).await;
    let (kind, hello) = sse.next().await;
    assert_eq!(kind, "hello");
    assert_eq!(hello["simulator"], false);
    let symbols = hello["symbols"].as_array().unwrap();
    assert!(!symbols.is_empty(), "{hello}");
    assert!(symbols.iter().all(|s| s["price"].is_null()), "{hello}");
    let body = json!({ "uid": key.uid, "event": balance_update("3.00000000") });
    let (status, answer) = node.admin_post("/admin/v1/events", body).await;
    assert_eq!(status, 200, "{answer}");
    let event = sse.next_of("event").await;
    assert_eq!(event["uid"], key.uid);
    assert_eq!(event["event"]["d"], "3.00000000");
    assert!(event["position"].is_u64(), "{event}");
    assert_eq!(ws.next_event().await["event"]["d"], "3.00000000");
}

#[tokio::test]
async fn the_price_walk_streams_its_steps() {
    let server = TestServer::start_with(|config| {
        config.sim.prices = userstream_server::config::PriceSource::Walk;
        config.sim.walk_interval_ms = 1_000;
    })
    .await;
    let mut sse = Sse::open(&server, None).await;
    sse.next_of("sessions").await;
    let before = server.now_ms();
    server.advance_ms(1_000);
    // The step the walk takes once its second is up.
    let price = sse.next_of("price").await;
    assert!(price["price"].is_string(), "{price}");
    assert_eq!(price["atMs"], before + 1_000, "{price}");
}
