//! The requests the driver sends on a connection, kept until their answers arrive.

use userstream_protocol::ws::{MethodParams, SubscribeParams, UnsubscribeParams};

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
    /// The request frame, as sent.
    pub(super) fn to_json(&self, id: u64, token: Option<&str>) -> String {
        match self {
            Request::Subscribe { .. } => {
                SubscribeParams::new(token.unwrap_or_default()).to_frame(id)
            }
            Request::Unsubscribe { subscription: None } => UnsubscribeParams::all().to_frame(id),
            Request::Unsubscribe {
                subscription: Some(subscription),
            } => UnsubscribeParams::one(*subscription).to_frame(id),
        }
    }
}
