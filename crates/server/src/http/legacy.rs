//! The retired listenKey endpoints. Binance switched them off on 2026-02-20; they answer
//! 410 Gone so that clients that never migrated fail loudly here, as they would there.

use crate::state::SharedState;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, post};

pub fn routes() -> MethodRouter<SharedState> {
    post(gone).put(gone).delete(gone)
}

async fn gone() -> Response {
    let body = serde_json::json!({
        "code": -1000,
        "msg": "listenKey user data streams were retired on 2026-02-20; use POST /sapi/v1/userListenToken and userDataStream.subscribe.listenToken."
    });
    (StatusCode::GONE, axum::Json(body)).into_response()
}
