//! One module per client command: turn parsed arguments into requests, print the answer.

pub mod accounts;
pub mod bench;
pub mod fault;
pub mod keys;
pub mod play;
pub mod publish;
pub mod record;
pub mod simulator;
pub mod tail;
pub mod token;
