//! Resume against the real gateway: the token answer announces stream positions, the client
//! connects with `streamPositions=true`, and a stream that was cut off picks up where it left
//! off, or says why it could not (docs/protocol.md §7).

mod harness;

use harness::{Publisher, TestServer, balance_update, cross_stream, fast_options};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use userstream_client::{Backoff, GapReason, Options, ResumeFailure, Scope, Status};

async fn fault(server: &TestServer, body: Value) {
    let (status, answer) = server.admin_post("/admin/v1/faults", body).await;
    assert_eq!(status, 200, "{answer}");
}

/// Reconnects after 100 to 200 ms, long enough for events to be published meanwhile.
fn slow_reconnects() -> Options {
    Options {
        reconnect_backoff: Backoff {
            initial: Duration::from_millis(200),
            max: Duration::from_millis(200),
        },
        ..fast_options()
    }
}

#[tokio::test]
async fn a_dropped_connection_resumes_with_every_missed_event_once_and_in_order() {
    let server = Arc::new(TestServer::start().await);
    let (key, mut stream) = cross_stream(&server, slow_reconnects()).await;
    let publisher = Publisher::start(Arc::clone(&server), key.uid, None);
    stream.until_delta(&Scope::Cross, "3").await;
    // The socket vanishes while events keep coming.
    fault(&server, json!({"kind": "drop", "uid": key.uid})).await;
    let resumed = stream
        .until_status(|status| matches!(status, Status::Resumed { .. }))
        .await;
    let published = publisher.stop().await;
    let (last, _) = *published.last().unwrap();
    stream.until_delta(&Scope::Cross, &last.to_string()).await;
    assert!(
        published.iter().any(|(_, reached)| *reached == 0),
        "nothing was published while the client was away"
    );
    // Every event, including those published while nobody was subscribed and those the
    // dropped socket never delivered: once each, in order.
    let every: Vec<u64> = (1..=last).collect();
    assert_eq!(stream.sequence(&Scope::Cross), every);
    assert!(stream.gaps().is_empty(), "{:?}", stream.statuses);
    let Status::Resumed { account, events } = resumed else {
        unreachable!("until_status returns what it waited for")
    };
    assert_eq!(account, Scope::Cross);
    assert!(events > 0);
    assert_eq!(
        stream.count(|status| matches!(status, Status::Connected { .. })),
        2
    );
}

#[tokio::test]
async fn a_resume_from_beyond_the_history_is_a_gap_that_says_so() {
    let server = TestServer::start_with(|config| config.history.max_events_per_account = 1).await;
    let (key, mut stream) = cross_stream(&server, slow_reconnects()).await;
    server.publish(key.uid, None, balance_update("1")).await;
    stream.until_delta(&Scope::Cross, "1").await;
    fault(&server, json!({"kind": "drop", "uid": key.uid})).await;
    // Three events while the client is away; the history keeps only the last.
    for delta in ["2", "3", "4"] {
        server.publish(key.uid, None, balance_update(delta)).await;
    }
    let gap = stream.until_gap().await;
    assert_eq!(gap.account, Scope::Cross);
    assert_eq!(
        gap.reason,
        GapReason::ResumeFailed(ResumeFailure::HistoryExpired)
    );
    assert!(gap.since_us <= gap.until_us);
    // Live events follow.
    server.publish(key.uid, None, balance_update("5")).await;
    stream.until_delta(&Scope::Cross, "5").await;
    assert_eq!(stream.sequence(&Scope::Cross), [1, 5]);
    assert_eq!(
        stream.count(|status| matches!(status, Status::Resumed { .. })),
        0
    );
}

#[tokio::test]
async fn a_termination_resumes_on_the_same_connection() {
    let server = TestServer::start().await;
    let (key, mut stream) = cross_stream(&server, fast_options()).await;
    server.publish(key.uid, None, balance_update("1")).await;
    stream.until_delta(&Scope::Cross, "1").await;
    fault(&server, json!({"kind": "terminate", "uid": key.uid})).await;
    // Published after the end, before the client subscribes again (it needs a fresh token).
    server.publish(key.uid, None, balance_update("2")).await;
    stream
        .until_status(|status| matches!(status, Status::Resumed { .. }))
        .await;
    stream.until_delta(&Scope::Cross, "2").await;
    server.publish(key.uid, None, balance_update("3")).await;
    stream.until_delta(&Scope::Cross, "3").await;
    assert_eq!(stream.sequence(&Scope::Cross), [1, 2, 3]);
    assert!(stream.gaps().is_empty(), "{:?}", stream.statuses);
}
