//! The SBE response decoders, all through their one entry point `sbe::responses::read_response`:
//! the `WebSocketResponse` (50) envelope with its rate limits, and the message in its `result`,
//! dispatched on its template id to 505, 504, 54, 52, 101, 102, 100 (`ErrorResponse`) and 999.
//!
//! Checks, beyond "no panic": a response that reads is written again at the latest schema
//! version without error, and that frame reads back as the same response.
#![no_main]

use libfuzzer_sys::fuzz_target;
use userstream_protocol::sbe::LATEST_VERSION;
use userstream_protocol::sbe::responses::{read_response, write_response};

fuzz_target!(|frame: &[u8]| {
    let Ok(response) = read_response(frame) else {
        return;
    };
    let mut out = Vec::new();
    if let Err(error) = write_response(
        &mut out,
        LATEST_VERSION,
        response.deprecated,
        response.status,
        &response.rate_limits,
        &response.id,
        &response.outcome,
    ) {
        panic!("a response that was read cannot be written again: {error}: {response:?}");
    }
    match read_response(&out) {
        Ok(again) => assert_eq!(
            again, response,
            "written again, the response reads differently"
        ),
        Err(error) => panic!("a response written again does not read: {error}"),
    }
});
