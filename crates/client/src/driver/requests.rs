//! The requests the driver sends on a connection, kept until their answers arrive.

use userstream_protocol::position::StreamPosition;
use userstream_protocol::ws::{MethodParams, SubscribeParams, UnsubscribeParams};

/// A subscribe on its way: what its answer is for.
pub(super) struct Subscribing {
    pub(super) account: usize,
    /// The token's expiry and renewal time on our clock.
    pub(super) expires_us: i64,
    pub(super) renew_at_us: i64,
    /// `resumeFrom`: only on a connection with stream positions.
    pub(super) resume_from: Option<StreamPosition>,
}

pub(super) enum Request {
    Subscribe(Subscribing),
    /// `None`: closes everything on a connection being retired. `Some`: closes one superseded
    /// subscription; the connection stays.
    Unsubscribe {
        subscription: Option<u32>,
    },
}

impl Request {
    /// The request frame, as sent.
    pub(super) fn to_json(&self, id: u64, token: Option<&str>) -> String {
        match self {
            Request::Subscribe(Subscribing { resume_from, .. }) => {
                let params = SubscribeParams::new(token.unwrap_or_default());
                match resume_from {
                    Some(point) => params.resuming_from(point.clone()).to_frame(id),
                    None => params.to_frame(id),
                }
            }
            Request::Unsubscribe { subscription: None } => UnsubscribeParams::all().to_frame(id),
            Request::Unsubscribe {
                subscription: Some(subscription),
            } => UnsubscribeParams::one(*subscription).to_frame(id),
        }
    }
}
