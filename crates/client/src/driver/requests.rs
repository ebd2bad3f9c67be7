//! The requests the driver sends on a connection, kept until their answers arrive.

use serde_json::json;

pub(super) enum Request {
    Subscribe {
        account: usize,
        expires_us: i64,
        renew_at_us: i64,
    },
    /// `None`: closes everything on a connection being retired. `Some`: closes one superseded
    /// subscription; the connection stays.
    Unsubscribe { subscription: Option<u32> },
}

impl Request {
    /// The request's method and params, as sent.
    pub(super) fn to_json(&self, id: u64, token: Option<&str>) -> String {
        let request = match self {
            Request::Subscribe { .. } => json!({"id": id,
                "method": "userDataStream.subscribe.listenToken",
                "params": {"listenToken": token.unwrap_or_default()}}),
            Request::Unsubscribe { subscription: None } => {
                json!({"id": id, "method": "userDataStream.unsubscribe"})
            }
            Request::Unsubscribe {
                subscription: Some(subscription),
            } => json!({"id": id, "method": "userDataStream.unsubscribe",
                "params": {"subscriptionId": subscription}}),
        };
        request.to_string()
    }
}
