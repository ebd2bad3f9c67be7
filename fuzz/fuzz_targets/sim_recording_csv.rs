//! The simulator's recorded-price reader: `userstream_sim::Recording::parse_csv` on any text
//! (a data.binance.vision dump a user hands the server).
//!
//! Checks, beyond "no panic": an accepted recording is non-empty, starts at 0 µs, never goes
//! back in time and has only prices above zero; written back as a trades dump with a header and
//! µs timestamps, it reads back as the same points from the same start.
#![no_main]

use libfuzzer_sys::fuzz_target;
use userstream_sim::{Decimal, Recording};

/// The documented boundary: timestamps at or above it are µs. Below it a written-back time
/// would read as ms, so only recordings starting after it are written back.
const MICROS_FROM: i64 = 100_000_000_000_000;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(recording) = Recording::parse_csv("BTCUSDT", &text) else {
        return;
    };
    assert_eq!(recording.symbol(), "BTCUSDT");
    let points = recording.points();
    assert_eq!(
        points.first().map(|p| p.0),
        Some(0),
        "does not start at 0 µs"
    );
    assert!(
        points.windows(2).all(|w| w[0].0 <= w[1].0),
        "time goes backwards"
    );
    assert!(
        points.iter().all(|p| p.1 > Decimal::ZERO),
        "a price at or below zero"
    );
    if recording.start_us() < MICROS_FROM {
        return;
    }
    let mut dump = String::from("id,price,qty,quote_qty,time,is_buyer_maker,is_best_match\n");
    for (i, (offset, price)) in points.iter().enumerate() {
        let time = recording.start_us() + offset;
        dump.push_str(&format!("{i},{price},1,{price},{time},True,True\n"));
    }
    match Recording::parse_csv("BTCUSDT", &dump) {
        Ok(again) => {
            assert_eq!(again.start_us(), recording.start_us(), "start moved");
            assert_eq!(again.points(), points, "points read back differently");
        }
        Err(error) => panic!("a recording written back is refused: {error}\n{dump}"),
    }
});
