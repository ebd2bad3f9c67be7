//! What the state machine asks the run loop to do. Handlers queue actions and return; the run
//! loop performs them in order, so every decision can be tested without a socket.

use crate::item::{Item, Status};
use std::collections::VecDeque;
use userstream_protocol::Scope;

/// One thing for the run loop to do.
// Nearly every action is an event for the user; boxing it would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum Action {
    /// Open connection `conn` to gateway `gateway` (an index into the gateway list), asking
    /// for stream positions or not.
    Open {
        conn: u64,
        gateway: usize,
        positions: bool,
    },
    /// Write request `id`, already encoded, on connection `conn`.
    Send { conn: u64, id: u64, text: String },
    /// Close connection `conn` cleanly; its `Closed` report follows.
    Close { conn: u64 },
    /// Ask gateway `gateway` for a token for account `account`; the answer comes back as an
    /// input.
    FetchToken {
        account: usize,
        scope: Scope,
        gateway: usize,
    },
    /// Read account `account`'s snapshot from gateway `gateway`'s REST root (read number
    /// `fetch`); the answer comes back as an input.
    FetchSnapshot {
        account: usize,
        scope: Scope,
        gateway: usize,
        fetch: u64,
    },
    /// Hand an item to the user's stream (waiting while the reader is slow).
    Emit(Item),
}

/// The actions queued by the handlers, oldest first.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    actions: VecDeque<Action>,
}

impl Outbox {
    pub(crate) fn push(&mut self, action: Action) {
        self.actions.push_back(action);
    }

    pub(crate) fn emit(&mut self, item: Item) {
        self.push(Action::Emit(item));
    }

    /// Logs a status change and queues it for the user.
    pub(crate) fn status(&mut self, status: Status) {
        tracing::info!("{status}");
        self.emit(Item::Status(status));
    }

    pub(crate) fn pop(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }
}
