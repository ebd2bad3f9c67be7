//! The client keeps streams alive against the real gateway: renewals, every injected fault,
//! handovers, routing of several accounts on one connection, and the errors that end a stream.

mod harness;

use harness::{
    Publisher, Recorder, TestServer, assert_complete, balance_update, builder, cross_stream,
    fast_options, without_positions,
};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use userstream_client::{Disconnect, Fatal, HandoverReason, Options, Scope, Status, TokenError};

/// The next `count` token requests fail with this status and code.
async fn fail_token_requests(server: &TestServer, count: u32, status: u16, code: i32) {
    let body = json!({"kind": "failTokenRequests", "count": count, "status": status,
                      "code": code, "msg": "injected failure"});
    fault(server, body).await;
}

async fn fault(server: &TestServer, body: Value) {
    let (status, answer) = server.admin_post("/admin/v1/faults", body).await;
    assert_eq!(status, 200, "{answer}");
}

/// Waits until the last event published has been received.
async fn drain(stream: &mut Recorder, published: &[(u64, u64)]) {
    let (last, _) = published.last().unwrap();
    stream.until_delta(&Scope::Cross, &last.to_string()).await;
}

/// Waits for a handover for `reason` to start and complete.
async fn handover(stream: &mut Recorder, reason: HandoverReason) {
    let started = stream
        .until_status(|status| matches!(status, Status::HandoverStarted { .. }))
        .await;
    assert_eq!(started, Status::HandoverStarted { reason });
    stream
        .until_status(|status| matches!(status, Status::HandoverComplete { .. }))
        .await;
}

/// A `serverShutdown` handover while the old connection's frames are held back (until the clock
/// moves), so the two connections overlap and the old one delivers copies late. Checks that
/// nothing was lost, repeated or reported as a gap, and that the overlap really happened: an
/// event must have been published while both connections held the account, which takes a
/// publish to land inside the round trip before the old one is unsubscribed, so the handover
/// is repeated (a few times at most) until one does.
async fn shutdown_with_a_long_overlap(
    server: &TestServer,
    stream: &mut Recorder,
    publisher: Publisher,
) {
    let mut overlapped = false;
    for _ in 0..8 {
        let before = deliveries_beyond_publishes(server).await;
        let sessions = server.admin_get("/admin/v1/sessions").await;
        let old = sessions
            .as_array()
            .and_then(|sessions| sessions.last())
            .map(|session| session["id"].clone())
            .expect("a session");
        fault(
            server,
            json!({"kind": "delay", "sessionId": old, "durationMs": 1_000}),
        )
        .await;
        fault(
            server,
            json!({"kind": "shutdown", "sessionId": old, "durationMs": 60_000}),
        )
        .await;
        server.advance_ms(1_000);
        handover(stream, HandoverReason::ServerShutdown).await;
        // Events now reach both connections; the old one's copies wait behind the delay.
        tokio::time::sleep(Duration::from_millis(30)).await;
        fault(
            server,
            json!({"kind": "delay", "sessionId": old, "durationMs": 0}),
        )
        .await;
        server.advance_ms(1_000);
        if deliveries_beyond_publishes(server).await > before {
            overlapped = true;
            break;
        }
    }
    assert!(overlapped, "no overlap was exercised");
    let published = finish_without_loss(stream, publisher).await;
    assert!(published.iter().any(|(_, delivered)| *delivered == 2));
}

/// Deliveries less publishes so far: it grows only when an event reaches two subscriptions.
async fn deliveries_beyond_publishes(server: &TestServer) -> i64 {
    let metrics = server.metrics().await;
    let value = |name: &str| {
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(name)?.trim().parse::<i64>().ok())
            .unwrap_or(0)
    };
    value("userstream_events_delivered_total ") - value("userstream_events_published_total ")
}

/// Stops publishing, receives the rest, and checks that nothing was lost, repeated or reported
/// as a gap. Returns what was published.
async fn finish_without_loss(stream: &mut Recorder, publisher: Publisher) -> Vec<(u64, u64)> {
    let published = publisher.stop().await;
    drain(stream, &published).await;
    assert_complete(&published, &stream.sequence(&Scope::Cross));
    assert!(stream.gaps().is_empty(), "{:?}", stream.statuses);
    published
}

#[tokio::test]
async fn five_renewals_in_a_row_lose_and_repeat_nothing() {
    let server = Arc::new(TestServer::start().await);
    let (key, mut stream) = cross_stream(&server, fast_options()).await;
    let publisher = Publisher::start(Arc::clone(&server), key.uid, None);
    for renewal in 1..=5 {
        // Tokens live 60 s and are renewed 15 s ahead: each step crosses one renewal point and
        // stays short of expiry.
        server.advance_ms(46_000);
        stream
            .until_status(|status| matches!(status, Status::Renewed { .. }))
            .await;
        assert_eq!(
            stream.count(|status| matches!(status, Status::Renewed { .. })),
            renewal
        );
        // Let some events flow between renewals.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let published = finish_without_loss(&mut stream, publisher).await;
    assert!(
        published.iter().all(|(_, delivered)| *delivered == 1),
        "an event fell between subscriptions"
    );
    assert_eq!(
        stream.count(|status| matches!(status, Status::Connected { .. })),
        1
    );
    let ids: Vec<u32> = stream
        .statuses
        .iter()
        .filter_map(|status| match status {
            Status::Subscribed {
                subscription_id, ..
            }
            | Status::Renewed {
                subscription_id, ..
            } => Some(*subscription_id),
            _ => None,
        })
        .collect();
    assert_eq!(ids, vec![0; 6], "renewal extends the same subscription");
}

#[tokio::test]
async fn cross_and_two_isolated_accounts_share_one_connection() {
    let server = TestServer::start().await;
    let key = server.create_key(&["BTCUSDT", "ETHUSDT"]).await;
    let mut stream = Recorder::new(
        builder(&server, &key, fast_options())
            .cross()
            .isolated("btcusdt")
            .isolated("ETHUSDT")
            .start()
            .unwrap(),
    );
    stream.until_subscribed(3).await;
    let sessions = server.admin_get("/admin/v1/sessions").await;
    assert_eq!(sessions.as_array().unwrap().len(), 1, "{sessions}");
    let btc = Scope::Isolated("BTCUSDT".into());
    let eth = Scope::Isolated("ETHUSDT".into());
    server
        .publish(key.uid, Some("ETHUSDT"), balance_update("3"))
        .await;
    server.publish(key.uid, None, balance_update("1")).await;
    server
        .publish(key.uid, Some("BTCUSDT"), balance_update("2"))
        .await;
    stream.until_delta(&btc, "2").await;
    stream.until_delta(&eth, "3").await;
    stream.until_delta(&Scope::Cross, "1").await;
    assert_eq!(stream.sequence(&Scope::Cross), vec![1]);
    assert_eq!(stream.sequence(&btc), vec![2]);
    assert_eq!(stream.sequence(&eth), vec![3]);
}

#[tokio::test]
async fn terminate_renews_at_once_and_reports_the_gap() {
    let server = Arc::new(TestServer::start().await);
    let (key, mut stream) = cross_stream(&server, without_positions()).await;
    // Hold the renewal back so that the outage is certain to swallow events.
    fail_token_requests(&server, 3, 503, -1008).await;
    fault(&server, json!({"kind": "terminate", "uid": key.uid})).await;
    let publisher = Publisher::start(Arc::clone(&server), key.uid, None);
    let gap = match stream
        .until_status(|status| matches!(status, Status::Gap(_)))
        .await
    {
        Status::Gap(gap) => gap,
        _ => unreachable!(),
    };
    let published = publisher.stop().await;
    drain(&mut stream, &published).await;
    assert!(
        published.iter().any(|(_, delivered)| *delivered == 0),
        "the outage lost nothing"
    );
    assert_complete(&published, &stream.sequence(&Scope::Cross));
    assert_eq!(gap.account, Scope::Cross);
    // Client and server share the frozen clock: the window covers the lost events' time.
    let now_us = server.now_ms() * 1000;
    assert!(gap.since_us <= now_us && now_us <= gap.until_us, "{gap:?}");
    assert_eq!(
        stream.count(|status| matches!(
            status,
            Status::TokenRetry {
                error: TokenError::Refused { status: 503, .. },
                ..
            }
        )),
        3
    );
    assert_eq!(
        stream.count(|status| matches!(status, Status::Connected { .. })),
        1,
        "renewed on the same connection"
    );
    assert_eq!(stream.gaps().len(), 1);
}

#[tokio::test]
async fn a_silent_drop_reconnects_and_reports_the_gap() {
    let server = Arc::new(TestServer::start().await);
    let (key, mut stream) = cross_stream(&server, without_positions()).await;
    fault(&server, json!({"kind": "drop", "uid": key.uid})).await;
    let publisher = Publisher::start(Arc::clone(&server), key.uid, None);
    let reconnecting = stream
        .until_status(|status| matches!(status, Status::Reconnecting { .. }))
        .await;
    assert!(
        matches!(
            reconnecting,
            Status::Reconnecting {
                attempt: 1,
                reason: Disconnect::Lost(_),
                ..
            }
        ),
        "{reconnecting:?}"
    );
    stream
        .until_status(|status| matches!(status, Status::Gap(_)))
        .await;
    let published = publisher.stop().await;
    drain(&mut stream, &published).await;
    // Events the server queued for the dropped socket are gone (that is the gap); everything
    // else arrived once, in order, including all that followed the reconnect.
    let received = stream.sequence(&Scope::Cross);
    assert!(
        received.windows(2).all(|pair| pair[0] < pair[1]),
        "{received:?}"
    );
    assert_eq!(
        stream.count(|status| matches!(status, Status::Connected { .. })),
        2
    );
    assert_eq!(stream.gaps().len(), 1);
}

#[tokio::test]
async fn a_muted_connection_is_detected_and_replaced() {
    let server = Arc::new(TestServer::start().await);
    let options = Options {
        ping_after: Duration::from_millis(100),
        pong_timeout: Duration::from_millis(200),
        ..fast_options()
    };
    let (key, mut stream) = cross_stream(&server, options).await;
    // Muted for an hour of server time, which the frozen clock never reaches.
    fault(
        &server,
        json!({"kind": "mute", "uid": key.uid, "durationMs": 3_600_000}),
    )
    .await;
    server.publish(key.uid, None, balance_update("1")).await;
    let reconnecting = stream
        .until_status(|status| matches!(status, Status::Reconnecting { .. }))
        .await;
    assert!(
        matches!(
            reconnecting,
            Status::Reconnecting {
                reason: Disconnect::Stale,
                ..
            }
        ),
        "{reconnecting:?}"
    );
    // Event 1 went to the muted connection; the new one resumes and has it replayed.
    stream
        .until_status(|status| matches!(status, Status::Resumed { events: 1, .. }))
        .await;
    server.publish(key.uid, None, balance_update("2")).await;
    stream.until_delta(&Scope::Cross, "2").await;
    assert_eq!(stream.sequence(&Scope::Cross), vec![1, 2]);
    assert!(stream.gaps().is_empty(), "{:?}", stream.statuses);
}

#[tokio::test]
async fn server_shutdown_hands_over_without_loss_or_gap() {
    let server = Arc::new(TestServer::start().await);
    let (key, mut stream) = cross_stream(&server, fast_options()).await;
    let publisher = Publisher::start(Arc::clone(&server), key.uid, None);
    shutdown_with_a_long_overlap(&server, &mut stream, publisher).await;
    assert_eq!(
        stream.count(|status| matches!(status, Status::Reconnecting { .. })),
        0
    );
    // The old connection is unsubscribed and closed once it has delivered everything.
    let deadline = tokio::time::Instant::now() + harness::WAIT;
    while server
        .admin_get("/admin/v1/sessions")
        .await
        .as_array()
        .unwrap()
        .len()
        != 1
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the old connection stayed open"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn connections_are_rotated_before_their_lifetime_ends() {
    // Time jumps 10 minutes at once: no server ping could be answered in between.
    let server =
        Arc::new(TestServer::start_with(|config| config.ws.pong_timeout_ms = 3_600_000).await);
    let key = server.create_key(&["BTCUSDT"]).await;
    let options = Options {
        token_validity: None,
        rotate_connection_after: Duration::from_secs(600),
        ..fast_options()
    };
    let mut stream = Recorder::new(
        builder(&server, &key, options)
            .cross()
            .isolated("BTCUSDT")
            .start()
            .unwrap(),
    );
    stream.until_subscribed(2).await;
    let publisher = Publisher::start(Arc::clone(&server), key.uid, None);
    tokio::time::sleep(Duration::from_millis(20)).await;
    server.advance_ms(600_000);
    handover(&mut stream, HandoverReason::ConnectionAge).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    finish_without_loss(&mut stream, publisher).await;
    // Both accounts moved: 2 first subscriptions, then 2 on the new connection.
    assert_eq!(
        stream.count(|status| matches!(status, Status::Subscribed { .. })),
        4
    );
    server
        .publish(key.uid, Some("BTCUSDT"), balance_update("7"))
        .await;
    stream
        .until_delta(&Scope::Isolated("BTCUSDT".into()), "7")
        .await;
}

#[tokio::test]
async fn failing_token_requests_are_retried_before_expiry_without_a_gap() {
    let server = TestServer::start().await;
    let (key, mut stream) = cross_stream(&server, fast_options()).await;
    fail_token_requests(&server, 4, 429, -1003).await;
    server.advance_ms(46_000);
    stream
        .until_status(|status| matches!(status, Status::Renewed { .. }))
        .await;
    assert_eq!(
        stream.count(|status| matches!(status, Status::TokenRetry { .. })),
        4
    );
    server.publish(key.uid, None, balance_update("1")).await;
    stream.until_delta(&Scope::Cross, "1").await;
    assert!(stream.gaps().is_empty());
}

#[tokio::test]
async fn expiry_without_renewal_is_recovered_with_a_gap() {
    // Token requests fail until after expiry: the server terminates, the client renews.
    let server = TestServer::start().await;
    let (key, mut stream) = cross_stream(&server, without_positions()).await;
    fail_token_requests(&server, 1000, 500, -1001).await;
    server.advance_ms(46_000);
    stream
        .until_status(|status| matches!(status, Status::TokenRetry { .. }))
        .await;
    server.advance_ms(14_000);
    assert_eq!(
        server.publish(key.uid, None, balance_update("1")).await,
        0,
        "expired"
    );
    fail_token_requests(&server, 1, 500, -1001).await;
    stream
        .until_status(|status| matches!(status, Status::Gap(_)))
        .await;
    server.publish(key.uid, None, balance_update("2")).await;
    stream.until_delta(&Scope::Cross, "2").await;
    assert_eq!(stream.sequence(&Scope::Cross), vec![2]);
}

#[tokio::test]
async fn pings_are_answered_so_the_server_keeps_the_connection() {
    let server = TestServer::start().await;
    let (key, mut stream) = cross_stream(&server, fast_options()).await;
    // Five server pings, 100 s of server time: past the 60 s pong timeout of a silent client.
    for _ in 0..5 {
        server.advance_ms(20_000);
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    server.publish(key.uid, None, balance_update("1")).await;
    stream.until_delta(&Scope::Cross, "1").await;
    assert_eq!(
        stream.count(|status| matches!(status, Status::Reconnecting { .. })),
        0,
        "{:?}",
        stream.statuses
    );
}

#[tokio::test]
async fn a_bad_api_key_ends_the_stream_with_a_clear_error() {
    let server = TestServer::start().await;
    let mut key = server.create_key(&[]).await;
    key.api_key = key.api_key.chars().rev().collect(); // well-formed, unknown
    let mut stream = Recorder::new(
        builder(&server, &key, fast_options())
            .cross()
            .start()
            .unwrap(),
    );
    let item = stream
        .until_status(|status| matches!(status, Status::Terminated(_)))
        .await;
    let Status::Terminated(Fatal::TokenRefused { error, .. }) = &item else {
        panic!("{item:?}");
    };
    assert!(
        matches!(
            error,
            TokenError::Refused {
                status: 401,
                code: -2015,
                ..
            }
        ),
        "{error:?}"
    );
    let next = tokio::time::timeout(
        harness::WAIT,
        futures_util::StreamExt::next(&mut stream.stream),
    )
    .await;
    assert!(matches!(next, Ok(None)), "the stream ends after Terminated");
}

#[tokio::test]
async fn an_unreachable_server_is_retried_until_the_limit() {
    let server = TestServer::start().await;
    let key = server.create_key(&[]).await;
    let options = Options {
        max_reconnect_attempts: Some(2),
        ..fast_options()
    };
    // A port nothing listens on: bind one, then let it go.
    let unused = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let endpoints =
        userstream_client::Endpoints::new(&server.url(""), &format!("ws://{unused}/ws-api/v3"))
            .unwrap();
    let mut stream = Recorder::new(
        builder(&server, &key, options)
            .endpoints(endpoints)
            .cross()
            .start()
            .unwrap(),
    );
    let item = stream
        .until_status(|status| matches!(status, Status::Terminated(_)))
        .await;
    assert_eq!(
        item,
        Status::Terminated(Fatal::ReconnectLimit { attempts: 2 })
    );
    assert_eq!(
        stream.count(|status| matches!(
            status,
            Status::Reconnecting {
                reason: Disconnect::ConnectFailed(_),
                ..
            }
        )),
        2
    );
}

#[tokio::test]
async fn losing_the_old_connection_during_a_handover_is_a_gap_not_a_dead_stream() {
    // A 10-minute jump: the server times out the old connection's pongs (1008) just as the
    // client starts replacing it for its age.
    let server = TestServer::start().await;
    let options = Options {
        token_validity: None,
        rotate_connection_after: Duration::from_secs(600),
        ..without_positions()
    };
    let (key, mut stream) = cross_stream(&server, options).await;
    server.advance_ms(600_000);
    stream
        .until_status(|status| matches!(status, Status::Gap(_)))
        .await;
    server.publish(key.uid, None, balance_update("1")).await;
    stream.until_delta(&Scope::Cross, "1").await;
    assert_eq!(
        stream.count(|status| matches!(status, Status::HandoverComplete { .. })),
        0
    );
    assert_eq!(stream.gaps().len(), 1);
}

#[tokio::test]
async fn an_sbe_stream_renews_and_hands_over_like_a_json_one() {
    let server = Arc::new(TestServer::start().await);
    let options = Options {
        sbe: true,
        ..fast_options()
    };
    let (key, mut stream) = cross_stream(&server, options).await;
    let sessions = server.admin_get("/admin/v1/sessions").await;
    assert_eq!(sessions[0]["format"], json!("sbe 3:5"));
    // A margin risk event has no SBE message: the stream says one was left out.
    let risk = json!({"e": "MARGIN_LEVEL_STATUS_CHANGE", "l": "1.1", "s": "MARGIN_CALL"});
    server.publish(key.uid, None, risk).await;
    stream
        .until_status(|status| matches!(status, Status::NotRepresentable { .. }))
        .await;
    let publisher = Publisher::start(Arc::clone(&server), key.uid, None);
    server.advance_ms(46_000);
    stream
        .until_status(|status| matches!(status, Status::Renewed { .. }))
        .await;
    // The same events arrive on both SBE connections, with different subscription ids, and
    // each must come out once.
    shutdown_with_a_long_overlap(&server, &mut stream, publisher).await;
}
