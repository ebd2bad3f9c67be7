//! Price sources other than by hand: a seeded random walk, and recorded prices read from
//! Binance's public data dumps (data.binance.vision).
//!
//! Both produce exact decimals only; no float ever touches a price, so the same inputs give the
//! same prices, digit for digit, on every machine.

use std::fmt;
use std::str::FromStr;

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rust_decimal::Decimal;

use crate::config::MAX_PRICE;
use crate::num::floor_to;

/// Why a recording was refused. Parsing reads untrusted files, so every refusal names the line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FeedError {
    /// The text is larger than [`MAX_INPUT_BYTES`].
    #[error("the recording is {bytes} bytes; at most {max} bytes are read")]
    TooLarge { bytes: usize, max: usize },
    /// The file would give more than [`MAX_POINTS`] prices.
    #[error("line {line}: the recording has more than {max} price points; cut the file")]
    TooManyPoints { line: usize, max: usize },
    /// No data row at all (an empty file, or a header alone).
    #[error("the recording holds no price points")]
    Empty,
    /// One line is wrong; `line` counts from 1, the header included.
    #[error("line {line}: {problem}")]
    Line { line: usize, problem: LineProblem },
}

/// What is wrong with one line of a recording.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LineProblem {
    /// A header naming columns that are not one of the known dumps.
    UnknownHeader,
    /// A first data row whose column count is not one of the known dumps.
    UnknownFormat { columns: usize },
    /// A row with another column count than the file's first row.
    Columns { expected: usize, found: usize },
    /// A line longer than [`MAX_LINE_BYTES`].
    TooLong { max: usize },
    /// A field that is not a plain decimal or integer.
    BadNumber { column: &'static str, text: String },
    /// A price of zero or below.
    NotPositive { column: &'static str, text: String },
    /// A number beyond what a market price or a timestamp can be.
    TooLarge { column: &'static str, text: String },
    /// A point earlier than the one before it.
    TimeBackwards { previous_us: i64, time_us: i64 },
    /// A candle closing before it opens.
    CloseBeforeOpen,
    /// A candle whose low and high do not bound its open and close.
    CandleOutOfRange,
}

impl fmt::Display for LineProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineProblem::UnknownHeader => write!(
                f,
                "a header without the columns of a trades, aggTrades or klines dump \
                 (needs price and time/transact_time, or open_time, open, high, low, close, close_time)"
            ),
            LineProblem::UnknownFormat { columns } => write!(
                f,
                "{columns} columns: not a trades (6 or 7), aggTrades (7 or 8) or klines (12) dump"
            ),
            LineProblem::Columns { expected, found } => {
                write!(f, "expected {expected} columns, found {found}")
            }
            LineProblem::TooLong { max } => write!(f, "line longer than {max} bytes"),
            LineProblem::BadNumber { column, text } => {
                write!(f, "{column} is not a plain number: {text:?}")
            }
            LineProblem::NotPositive { column, text } => {
                write!(f, "{column} must be above zero: {text:?}")
            }
            LineProblem::TooLarge { column, text } => {
                write!(f, "{column} is too large or too precise: {text:?}")
            }
            LineProblem::TimeBackwards {
                previous_us,
                time_us,
            } => write!(
                f,
                "time goes backwards: {time_us} µs after {previous_us} µs (the file must be in time order)"
            ),
            LineProblem::CloseBeforeOpen => write!(f, "close_time is before open_time"),
            LineProblem::CandleOutOfRange => {
                write!(f, "low and high do not bound open and close")
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Random walk
// ---------------------------------------------------------------------------------------------

/// Resolution of a relative move: the drawn integer is in [-MOVE_STEPS, MOVE_STEPS] and is
/// read as millionths of `step`, so a move is exact in decimal.
const MOVE_STEPS: u64 = 1_000_000;
const MOVE_SCALE: u32 = 6;

/// The tick used when a caller gives none (zero or negative): Binance's 8 fraction digits.
const FALLBACK_TICK: Decimal = Decimal::from_parts(1, 0, 0, false, 8);

/// Prices that wander by themselves: each step moves every symbol by a random fraction of its
/// price in [-step, +step], rounded to the symbol's tick.
///
/// The stream of random numbers is ChaCha8 keyed from the seed by a fixed expansion written here
/// (not `seed_from_u64`, not `rand`'s range sampling), so nothing outside this file can change
/// the prices a seed gives.
#[derive(Debug, Clone)]
pub struct RandomWalk {
    rng: ChaCha8Rng,
    step: Decimal,
    symbols: Vec<WalkSymbol>,
}

#[derive(Debug, Clone)]
struct WalkSymbol {
    symbol: String,
    price: Decimal,
    tick: Decimal,
}

impl RandomWalk {
    /// Same seed, same starts and step → the same prices, on every machine.
    ///
    /// `starts` is (symbol, initial price, tick size), in the order [`step`](Self::step) returns
    /// them. `step` is the largest relative move per step (0.001 = 0.1 %); its sign is ignored.
    /// A tick of zero or below is taken as 0.00000001. Initial prices are rounded to their tick,
    /// floored at one tick and capped at [`MAX_PRICE`], as every later price is.
    pub fn new(seed: u64, starts: &[(String, Decimal, Decimal)], step: Decimal) -> RandomWalk {
        let symbols = starts
            .iter()
            .map(|(symbol, price, tick)| {
                let tick = if tick.is_sign_positive() && !tick.is_zero() {
                    *tick
                } else {
                    FALLBACK_TICK
                };
                let price = on_tick(*price, tick).unwrap_or(tick);
                WalkSymbol {
                    symbol: symbol.clone(),
                    price,
                    tick,
                }
            })
            .collect();
        RandomWalk {
            rng: ChaCha8Rng::from_seed(expand_seed(seed)),
            step: step.abs(),
            symbols,
        }
    }

    /// The current price of every symbol, in the order given to [`new`](Self::new).
    pub fn prices(&self) -> Vec<(String, Decimal)> {
        self.symbols
            .iter()
            .map(|s| (s.symbol.clone(), s.price))
            .collect()
    }

    /// Moves every symbol once and returns the new prices (rounded to each tick, never ≤ 0 nor
    /// above [`MAX_PRICE`]), in the order given to [`new`](Self::new).
    pub fn step(&mut self) -> Vec<(String, Decimal)> {
        for symbol in &mut self.symbols {
            // One draw per symbol, in order, whether or not the move survives rounding: the
            // stream position depends only on the number of steps.
            let drawn = draw_signed(&mut self.rng, MOVE_STEPS);
            if let Some(price) = moved(symbol.price, self.step, drawn, symbol.tick) {
                symbol.price = price;
            }
        }
        self.prices()
    }

    /// A price moved by something else (a price set by hand, a demo's shock): the walk goes on
    /// from there. Put on the symbol's tick; an unknown symbol is ignored. Draws nothing, so the
    /// stream of moves is the same as without it.
    pub fn set_price(&mut self, symbol: &str, price: Decimal) {
        if let Some(walking) = self.symbols.iter_mut().find(|s| s.symbol == symbol)
            && let Some(price) = on_tick(price, walking.tick)
        {
            walking.price = price;
        }
    }
}

/// The generator a seed names, for other seeded choices (the demo's trader): ChaCha8 keyed
/// as the walk's is, so its stream is fixed across versions and platforms too.
pub type Generator = ChaCha8Rng;

pub fn generator(seed: u64) -> Generator {
    ChaCha8Rng::from_seed(expand_seed(seed))
}

/// A uniform integer in [0, bound) (0 when `bound` is 0), by rejection on raw u64 words.
pub fn draw_below(rng: &mut Generator, bound: u64) -> u64 {
    if bound == 0 {
        return 0;
    }
    let zone = u64::MAX - (u64::MAX % bound);
    loop {
        let word = rng.next_u64();
        if word < zone {
            return word % bound;
        }
    }
}

/// Spreads a u64 over ChaCha's 32-byte key with SplitMix64, a fixed public algorithm, so close
/// seeds (1, 2, 3) still give unrelated keys.
fn expand_seed(seed: u64) -> [u8; 32] {
    let mut state = seed;
    let mut key = [0u8; 32];
    for chunk in key.chunks_exact_mut(8) {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        chunk.copy_from_slice(&z.to_le_bytes());
    }
    key
}

/// A uniform integer in [-bound, bound], by rejection (no modulo bias), from raw u64 words.
fn draw_signed(rng: &mut ChaCha8Rng, bound: u64) -> i64 {
    let span = 2 * bound + 1;
    // The largest multiple of `span` that fits; words at or above it are drawn again.
    let zone = u64::MAX - (u64::MAX % span);
    loop {
        let word = rng.next_u64();
        if word < zone {
            // Below 2 * bound + 1 ≤ 2_000_001: fits i64.
            return (word % span) as i64 - bound as i64;
        }
    }
}

/// `price × (1 + step × drawn / 10^6)`, on tick; None when the arithmetic overflows (the price
/// then stays where it is).
fn moved(price: Decimal, step: Decimal, drawn: i64, tick: Decimal) -> Option<Decimal> {
    let fraction = step.checked_mul(Decimal::new(drawn, MOVE_SCALE))?;
    let next = price.checked_add(price.checked_mul(fraction)?)?;
    on_tick(next, tick)
}

/// The nearest multiple of `tick` (half to even), at least one tick and at most the highest
/// multiple of the tick not above `MAX_PRICE` (the PRICE_FILTER's `maxPrice`). `tick` > 0.
pub(crate) fn on_tick(price: Decimal, tick: Decimal) -> Option<Decimal> {
    let top = floor_to(MAX_PRICE, tick)?;
    if price >= top {
        return Some(top.max(tick));
    }
    let ticks = price.checked_div(tick)?.round();
    let rounded = ticks.checked_mul(tick)?;
    Some(if rounded <= Decimal::ZERO {
        tick
    } else {
        rounded
    })
}

// ---------------------------------------------------------------------------------------------
// Recordings
// ---------------------------------------------------------------------------------------------

/// Largest text [`Recording::parse_csv`] reads (a busy day of BTCUSDT trades is bigger: cut it).
pub const MAX_INPUT_BYTES: usize = 256 * 1024 * 1024;
/// Most points one recording holds (24 bytes each: about 100 MB).
pub const MAX_POINTS: usize = 4_000_000;
/// Longest line read; real rows are under 200 bytes.
pub const MAX_LINE_BYTES: usize = 1024;

/// Timestamps at or above this are microseconds, below it milliseconds. 10^14 ms is the year
/// 5138 and 10^14 µs is 1973, so no real timestamp of either unit is on the wrong side.
const MICROS_FROM: u64 = 100_000_000_000_000;
/// Latest timestamp accepted, in µs (the year 5138).
const MAX_TIME_US: u64 = 100_000_000_000_000_000;
/// Price limits: at most 15 integer digits and 12 fraction digits (Binance uses 8), so every
/// price is exact in a `Decimal` and far from its overflow.
const MAX_PRICE_INT_DIGITS: usize = 15;
const MAX_PRICE_FRACTION_DIGITS: usize = 12;
/// How much of a bad field an error quotes.
const QUOTE_CHARS: usize = 32;

/// One symbol's recorded prices, as (µs since the first point, price), in time order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    symbol: String,
    start_us: i64,
    points: Vec<(i64, Decimal)>,
}

/// Which dump a file is, and where its columns are.
#[derive(Debug, Clone, Copy)]
enum Layout {
    /// trades or aggTrades: one price at one time per row.
    Trades {
        columns: usize,
        price: usize,
        time: usize,
    },
    /// klines: open, low/high, close per row.
    Klines {
        columns: usize,
        open_time: usize,
        open: usize,
        high: usize,
        low: usize,
        close: usize,
        close_time: usize,
    },
}

impl Layout {
    fn columns(self) -> usize {
        match self {
            Layout::Trades { columns, .. } | Layout::Klines { columns, .. } => columns,
        }
    }

    /// From a header row (newer dumps have one): columns found by name.
    fn from_header(fields: &[&str]) -> Option<Layout> {
        let find = |name: &str| {
            fields
                .iter()
                .position(|f| f.trim().eq_ignore_ascii_case(name))
        };
        if let (Some(open_time), Some(open), Some(high), Some(low), Some(close), Some(close_time)) = (
            find("open_time"),
            find("open"),
            find("high"),
            find("low"),
            find("close"),
            find("close_time"),
        ) {
            return Some(Layout::Klines {
                columns: fields.len(),
                open_time,
                open,
                high,
                low,
                close,
                close_time,
            });
        }
        let price = find("price")?;
        let time = find("transact_time").or_else(|| find("time"))?;
        Some(Layout::Trades {
            columns: fields.len(),
            price,
            time,
        })
    }

    /// From the first data row of a file without a header, by its column count: spot trades
    /// (7), USD-M futures trades (6), spot aggTrades (8), futures aggTrades (7, told apart from
    /// spot trades by an integer where spot trades have `is_buyer_maker`), klines (12).
    fn from_row(fields: &[&str]) -> Option<Layout> {
        let trades = |columns, time| Layout::Trades {
            columns,
            price: 1,
            time,
        };
        match fields.len() {
            6 => Some(trades(6, 4)),
            7 if is_integer(fields[5]) => Some(trades(7, 5)),
            7 => Some(trades(7, 4)),
            8 => Some(trades(8, 5)),
            12 => Some(Layout::Klines {
                columns: 12,
                open_time: 0,
                open: 1,
                high: 2,
                low: 3,
                close: 4,
                close_time: 6,
            }),
            _ => None,
        }
    }
}

impl Recording {
    /// Reads one of Binance's public data dumps (data.binance.vision), told apart by header or
    /// column count:
    /// - trades: `id,price,qty,quote_qty,time,is_buyer_maker,is_best_match` (futures: without
    ///   the last column);
    /// - aggTrades: `agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,
    ///   is_buyer_maker,is_best_match` (futures: without the last column);
    /// - klines: `open_time,open,high,low,close,volume,close_time,...` (12 columns): the open at
    ///   open_time, then low and high (high first for a falling candle) at a third and two
    ///   thirds of the interval, then the close at close_time.
    ///
    /// The header row is optional. Timestamps may be milliseconds or microseconds (spot dumps
    /// moved to µs in 2025): at or above 10^14 a value is µs, below it ms. Blank lines are
    /// skipped; any other malformed row, a price ≤ 0, time going backwards or a file with no
    /// rows is refused with its line number. Sizes are capped: [`MAX_INPUT_BYTES`],
    /// [`MAX_LINE_BYTES`], [`MAX_POINTS`].
    pub fn parse_csv(symbol: &str, text: &str) -> Result<Recording, FeedError> {
        if text.len() > MAX_INPUT_BYTES {
            return Err(FeedError::TooLarge {
                bytes: text.len(),
                max: MAX_INPUT_BYTES,
            });
        }
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut layout: Option<Layout> = None;
        let mut points: Vec<(i64, Decimal)> = Vec::new();
        for (index, raw) in text.split('\n').enumerate() {
            let line = index + 1;
            let row = raw.strip_suffix('\r').unwrap_or(raw);
            if row.trim().is_empty() {
                continue;
            }
            let fail = |problem| FeedError::Line { line, problem };
            if row.len() > MAX_LINE_BYTES {
                return Err(fail(LineProblem::TooLong {
                    max: MAX_LINE_BYTES,
                }));
            }
            let fields: Vec<&str> = row.split(',').map(str::trim).collect();
            let layout = match layout {
                Some(layout) => layout,
                None => {
                    let first = fields.first().copied().unwrap_or_default();
                    if !is_integer(first) {
                        // A header: only ever the first non-blank line.
                        let found = Layout::from_header(&fields)
                            .ok_or_else(|| fail(LineProblem::UnknownHeader))?;
                        layout = Some(found);
                        continue;
                    }
                    let found = Layout::from_row(&fields).ok_or_else(|| {
                        fail(LineProblem::UnknownFormat {
                            columns: fields.len(),
                        })
                    })?;
                    layout = Some(found);
                    found
                }
            };
            if fields.len() != layout.columns() {
                return Err(fail(LineProblem::Columns {
                    expected: layout.columns(),
                    found: fields.len(),
                }));
            }
            let at = |i: usize| fields.get(i).copied().unwrap_or_default();
            let previous = points.last().map(|p| p.0);
            match layout {
                Layout::Trades { price, time, .. } => {
                    let price = parse_price(at(price), "price").map_err(fail)?;
                    let time = parse_time(at(time), "time").map_err(fail)?;
                    push(&mut points, line, previous, time, price)?;
                }
                Layout::Klines {
                    open_time,
                    open,
                    high,
                    low,
                    close,
                    close_time,
                    ..
                } => {
                    let open_time = parse_time(at(open_time), "open_time").map_err(fail)?;
                    let open = parse_price(at(open), "open").map_err(fail)?;
                    let high = parse_price(at(high), "high").map_err(fail)?;
                    let low = parse_price(at(low), "low").map_err(fail)?;
                    let close = parse_price(at(close), "close").map_err(fail)?;
                    let close_time = parse_time(at(close_time), "close_time").map_err(fail)?;
                    if close_time < open_time {
                        return Err(fail(LineProblem::CloseBeforeOpen));
                    }
                    if low > open.min(close) || high < open.max(close) {
                        return Err(fail(LineProblem::CandleOutOfRange));
                    }
                    // A rising candle most likely dipped first, a falling one peaked first.
                    let (first, second) = if close >= open {
                        (low, high)
                    } else {
                        (high, low)
                    };
                    let third = (close_time - open_time) / 3;
                    push(&mut points, line, previous, open_time, open)?;
                    push(&mut points, line, None, open_time + third, first)?;
                    push(&mut points, line, None, open_time + 2 * third, second)?;
                    push(&mut points, line, None, close_time, close)?;
                }
            }
        }
        let start_us = points.first().map(|p| p.0).ok_or(FeedError::Empty)?;
        for point in &mut points {
            point.0 -= start_us;
        }
        Ok(Recording {
            symbol: symbol.to_owned(),
            start_us,
            points,
        })
    }

    /// The symbol these prices are for.
    pub fn symbol(&self) -> &str {
        &self.symbol
    }

    /// (microseconds since the first point, price), in time order; never empty.
    pub fn points(&self) -> &[(i64, Decimal)] {
        &self.points
    }

    /// When the first point happened, in µs since the Unix epoch (the dump's own clock).
    pub fn start_us(&self) -> i64 {
        self.start_us
    }
}

/// Appends one point, refusing time going backwards and too many points.
fn push(
    points: &mut Vec<(i64, Decimal)>,
    line: usize,
    previous: Option<i64>,
    time_us: i64,
    price: Decimal,
) -> Result<(), FeedError> {
    if let Some(previous_us) = previous
        && time_us < previous_us
    {
        return Err(FeedError::Line {
            line,
            problem: LineProblem::TimeBackwards {
                previous_us,
                time_us,
            },
        });
    }
    if points.len() >= MAX_POINTS {
        return Err(FeedError::TooManyPoints {
            line,
            max: MAX_POINTS,
        });
    }
    points.push((time_us, price));
    Ok(())
}

fn is_integer(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// A short, safe quote of a bad field for an error message.
fn quote(text: &str) -> String {
    text.chars().take(QUOTE_CHARS).collect()
}

/// A price written as plain digits with at most one point: no sign, exponent, underscore or
/// space (which `Decimal::from_str` would accept), above zero, within the digit limits.
fn parse_price(text: &str, column: &'static str) -> Result<Decimal, LineProblem> {
    let (int, fraction) = text.split_once('.').unwrap_or((text, ""));
    let plain = !(int.is_empty() && fraction.is_empty())
        && int.bytes().all(|b| b.is_ascii_digit())
        && fraction.bytes().all(|b| b.is_ascii_digit());
    if !plain {
        let problem = if text.starts_with('-') {
            LineProblem::NotPositive {
                column,
                text: quote(text),
            }
        } else {
            LineProblem::BadNumber {
                column,
                text: quote(text),
            }
        };
        return Err(problem);
    }
    let significant = int.trim_start_matches('0').len();
    if significant > MAX_PRICE_INT_DIGITS || fraction.len() > MAX_PRICE_FRACTION_DIGITS {
        return Err(LineProblem::TooLarge {
            column,
            text: quote(text),
        });
    }
    // Leading zeros are dropped first: they could push a short number past 28 digits.
    let int = if significant == 0 {
        "0"
    } else {
        &int[int.len() - significant..]
    };
    let exact = if fraction.is_empty() {
        Decimal::from_str(int)
    } else {
        Decimal::from_str(&format!("{int}.{fraction}"))
    };
    let price = exact.map_err(|_| LineProblem::BadNumber {
        column,
        text: quote(text),
    })?;
    if price <= Decimal::ZERO {
        return Err(LineProblem::NotPositive {
            column,
            text: quote(text),
        });
    }
    Ok(price)
}

/// A timestamp in ms or µs (by magnitude, see [`MICROS_FROM`]) as µs since the epoch.
fn parse_time(text: &str, column: &'static str) -> Result<i64, LineProblem> {
    if !is_integer(text) {
        return Err(LineProblem::BadNumber {
            column,
            text: quote(text),
        });
    }
    let too_large = || LineProblem::TooLarge {
        column,
        text: quote(text),
    };
    let value: u64 = text.parse().map_err(|_| too_large())?;
    let micros = if value >= MICROS_FROM {
        value
    } else {
        value * 1000
    };
    if micros > MAX_TIME_US {
        return Err(too_large());
    }
    i64::try_from(micros).map_err(|_| too_large())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_price_set_on_the_walk_is_where_it_goes_on_from() {
        let starts = [("BTCUSDT".to_owned(), dec("60000.00"), dec("0.01"))];
        let mut moved = RandomWalk::new(5, &starts, dec("0.001"));
        let mut left = moved.clone();
        moved.set_price("BTCUSDT", dec("50000.004"));
        moved.set_price("NOTASYMBOL", dec("1"));
        assert_eq!(moved.prices()[0].1, dec("50000.00"), "put on tick");
        let (from_moved, from_left) = (moved.step()[0].1, left.step()[0].1);
        assert!(
            from_moved >= dec("49950") && from_moved <= dec("50050"),
            "{from_moved}"
        );
        assert!(
            from_left >= dec("59940") && from_left <= dec("60060"),
            "{from_left}"
        );
        // The same draw moved both: the stream is not disturbed by a price set by hand.
        let ratio = |price: Decimal, start: Decimal| (price / start - Decimal::ONE).round_dp(4);
        assert_eq!(
            ratio(from_moved, dec("50000")),
            ratio(from_left, dec("60000"))
        );
    }

    #[test]
    fn draws_below_a_bound_stay_below_it() {
        let mut rng = generator(9);
        assert_eq!(draw_below(&mut rng, 0), 0);
        for bound in [1, 2, 3, 10, 1_000] {
            for _ in 0..500 {
                assert!(draw_below(&mut rng, bound) < bound);
            }
        }
        let (mut a, mut b) = (generator(3), generator(3));
        let draws = |rng: &mut Generator| (0..20).map(|_| draw_below(rng, 100)).collect::<Vec<_>>();
        assert_eq!(draws(&mut a), draws(&mut b));
    }

    fn dec(text: &str) -> Decimal {
        match Decimal::from_str(text) {
            Ok(d) => d,
            Err(e) => panic!("test decimal {text}: {e}"),
        }
    }

    fn starts() -> Vec<(String, Decimal, Decimal)> {
        vec![
            ("BTCUSDT".into(), dec("60000.00"), dec("0.01")),
            ("ETHBTC".into(), dec("0.05123"), dec("0.00001")),
            ("DOGEUSDT".into(), dec("0.16000"), dec("0.00001")),
        ]
    }

    fn parse(text: &str) -> Recording {
        match Recording::parse_csv("BTCUSDT", text) {
            Ok(r) => r,
            Err(e) => panic!("should parse: {e}\n{text}"),
        }
    }

    fn line_error(text: &str) -> (usize, LineProblem) {
        match Recording::parse_csv("BTCUSDT", text) {
            Err(FeedError::Line { line, problem }) => (line, problem),
            other => panic!("expected a line error, got {other:?}"),
        }
    }

    fn points(rec: &Recording) -> Vec<(i64, String)> {
        rec.points()
            .iter()
            .map(|(t, p)| (*t, p.to_string()))
            .collect()
    }

    /// The stream must never change silently: these are the first prices of seed 42, computed
    /// once and written down. If this fails, the walk (or rand_chacha) changed what a seed means.
    #[test]
    fn walk_is_pinned() {
        let mut walk = RandomWalk::new(42, &starts(), dec("0.001"));
        let got: Vec<Vec<String>> = (0..3)
            .map(|_| {
                walk.step()
                    .into_iter()
                    .map(|(_, p)| p.to_string())
                    .collect()
            })
            .collect();
        assert_eq!(got, PINNED);
    }

    const PINNED: [[&str; 3]; 3] = [
        ["59969.25", "0.05123", "0.16003"],
        ["59972.12", "0.05121", "0.16004"],
        ["60009.97", "0.05124", "0.16003"],
    ];

    #[test]
    fn walk_is_deterministic_and_seeded() {
        let run = |seed| {
            let mut walk = RandomWalk::new(seed, &starts(), dec("0.01"));
            (0..50).map(|_| walk.step()).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        let names: Vec<String> = run(7)[0].iter().map(|(s, _)| s.clone()).collect();
        assert_eq!(names, ["BTCUSDT", "ETHBTC", "DOGEUSDT"]);
    }

    #[test]
    fn walk_rounds_starts_and_floors_at_one_tick() {
        let starts = vec![
            ("A".into(), dec("100.004"), dec("0.01")),
            ("B".into(), dec("0"), dec("0.5")),
            ("C".into(), dec("-3"), dec("0")),
        ];
        let walk = RandomWalk::new(1, &starts, dec("0.001"));
        let prices: Vec<String> = walk
            .prices()
            .into_iter()
            .map(|(_, p)| p.to_string())
            .collect();
        assert_eq!(prices, ["100.00", "0.5", "0.00000001"]);
        // A step of 100 % or more would cross zero; the floor holds.
        let mut wild = RandomWalk::new(3, &starts, dec("5"));
        for _ in 0..200 {
            for (_, price) in wild.step() {
                assert!(price > Decimal::ZERO);
            }
        }
    }

    #[test]
    fn walk_stops_at_max_price() {
        let starts = vec![
            ("A".into(), dec("999999999.99"), dec("0.01")),
            ("B".into(), dec("5000000000"), dec("0.03")),
        ];
        let walk = RandomWalk::new(1, &starts, dec("0.5"));
        let prices: Vec<Decimal> = walk.prices().into_iter().map(|(_, p)| p).collect();
        // B starts above maxPrice: the highest multiple of its tick below it.
        assert_eq!(prices[1], dec("999999999.99"));
        let mut walk = walk;
        let mut at_top = 0;
        for _ in 0..200 {
            for (symbol, price) in walk.step() {
                assert!(price <= MAX_PRICE, "{symbol} {price}");
                assert_eq!(price % dec("0.01"), Decimal::ZERO);
                at_top += usize::from(price == dec("999999999.99"));
            }
        }
        assert!(
            at_top > 0,
            "a walk of ±50 % steps from the top reaches it again"
        );
        let rules = crate::config::SymbolRules::new("X", "X", "USDT", dec("1"));
        assert_eq!(rules.tick_size, dec("0.0001"));
        assert_eq!(rules.on_tick(dec("1.23456")), dec("1.2346"));
        assert_eq!(rules.on_tick(dec("1.23455")), dec("1.2346"));
        assert_eq!(rules.on_tick(dec("-7")), dec("0.0001"));
        assert_eq!(rules.on_tick(Decimal::MAX), MAX_PRICE);
        assert_eq!(rules.on_tick(Decimal::MIN), dec("0.0001"));
    }

    #[test]
    fn draws_cover_both_ends() {
        let mut rng = ChaCha8Rng::from_seed(expand_seed(0));
        let draws: Vec<i64> = (0..2000).map(|_| draw_signed(&mut rng, 2)).collect();
        for v in -2..=2 {
            assert!(draws.contains(&v), "{v} never drawn");
        }
        assert!(draws.iter().all(|d| (-2..=2).contains(d)));
    }

    #[test]
    fn trades_with_and_without_header_in_ms() {
        let body = "1,60000.01,0.1,6000.001,1700000000000,True,True\n\
                    2,60000.50,0.2,12000.1,1700000000250,False,True\n\
                    3,59999.99,0.3,17999.997,1700000000250,True,True\n";
        let expected = vec![
            (0, "60000.01".to_owned()),
            (250_000, "60000.50".into()),
            (250_000, "59999.99".into()),
        ];
        let bare = parse(body);
        assert_eq!(points(&bare), expected);
        assert_eq!(bare.start_us(), 1_700_000_000_000_000);
        assert_eq!(bare.symbol(), "BTCUSDT");
        let header = "id,price,qty,quote_qty,time,is_buyer_maker,is_best_match\n";
        assert_eq!(points(&parse(&format!("{header}{body}"))), expected);
    }

    #[test]
    fn trades_in_microseconds_with_crlf() {
        let text = "id,price,qty,quote_qty,time,is_buyer_maker,is_best_match\r\n\
                    5415228673,109608.01,0.001,109.60801,1761955200098001,false,true\r\n\
                    5415228674,109608.00,0.00133,145.77864,1761955200205412,true,true\r\n";
        let rec = parse(text);
        assert_eq!(
            points(&rec),
            [(0, "109608.01".to_owned()), (107_411, "109608.00".into())]
        );
        assert_eq!(rec.start_us(), 1_761_955_200_098_001);
    }

    #[test]
    fn agg_trades_spot_and_futures() {
        let spot = "26129,0.01633102,4.70443515,27781,27781,1498793709153,True,True\n\
                    26130,0.01633103,1.0,27782,27783,1498793709200,False,True\n";
        assert_eq!(
            points(&parse(spot)),
            [(0, "0.01633102".to_owned()), (47_000, "0.01633103".into())]
        );
        let header = "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker,is_best_match\n";
        assert_eq!(
            points(&parse(&format!("{header}{spot}"))),
            points(&parse(spot))
        );
        // Futures aggTrades: 7 columns, the time in the sixth.
        let futures = "26129,0.01633102,4.70443515,27781,27781,1498793709153,true\n";
        assert_eq!(points(&parse(futures)), [(0, "0.01633102".to_owned())]);
        // µs aggTrades.
        let micros =
            "1,2.5,1,1,1,1761955200000000,True,True\n2,2.6,1,2,2,1761955200000007,True,True\n";
        assert_eq!(
            points(&parse(micros)),
            [(0, "2.5".to_owned()), (7, "2.6".into())]
        );
    }

    #[test]
    fn klines_follow_the_candle() {
        // A rising 1m candle, then a falling one.
        let body = "1700000040000,100.0,104.0,99.0,103.0,5,1700000099999,500,10,2,200,0\n\
                    1700000100000,103.0,103.5,97.0,98.0,5,1700000159999,500,10,2,200,0\n";
        let expected = vec![
            (0, "100.0".to_owned()),
            (19_999_666, "99.0".into()),
            (39_999_332, "104.0".into()),
            (59_999_000, "103.0".into()),
            (60_000_000, "103.0".into()),
            (79_999_666, "103.5".into()),
            (99_999_332, "97.0".into()),
            (119_999_000, "98.0".into()),
        ];
        assert_eq!(points(&parse(body)), expected);
        let header = "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore\n";
        assert_eq!(points(&parse(&format!("{header}{body}"))), expected);
        // The same candles in µs.
        let micros = "1700000040000000,100.0,104.0,99.0,103.0,5,1700000099999999,500,10,2,200,0\n";
        assert_eq!(
            points(&parse(micros)),
            [
                (0, "100.0".to_owned()),
                (19_999_999, "99.0".into()),
                (39_999_998, "104.0".into()),
                (59_999_999, "103.0".into()),
            ]
        );
    }

    #[test]
    fn errors_name_the_line() {
        let good = "1,10.5,1,10.5,1700000000000,True,True\n";
        assert_eq!(
            line_error(&format!("{good}\n2,abc,1,1,1700000000001,True,True\n")),
            (
                3,
                LineProblem::BadNumber {
                    column: "price",
                    text: "abc".into()
                }
            )
        );
        assert_eq!(
            line_error(&format!("{good}2,-1.5,1,1,1700000000001,True,True\n")).1,
            LineProblem::NotPositive {
                column: "price",
                text: "-1.5".into()
            }
        );
        assert_eq!(
            line_error(&format!("{good}2,0.000,1,1,1700000000001,True,True\n")).1,
            LineProblem::NotPositive {
                column: "price",
                text: "0.000".into()
            }
        );
        assert_eq!(
            line_error(&format!("{good}2,10,1,10,1699999999999,True,True\n")),
            (
                2,
                LineProblem::TimeBackwards {
                    previous_us: 1_700_000_000_000_000,
                    time_us: 1_699_999_999_999_000
                }
            )
        );
        assert_eq!(
            line_error(&format!("{good}2,10,1\n")),
            (
                2,
                LineProblem::Columns {
                    expected: 7,
                    found: 3
                }
            )
        );
        assert_eq!(
            line_error("1,2,3\n"),
            (1, LineProblem::UnknownFormat { columns: 3 })
        );
        assert_eq!(line_error("a,b,c\n"), (1, LineProblem::UnknownHeader));
        assert_eq!(
            line_error(&format!("{good}2,1e5,1,1,1700000000001,True,True\n")).1,
            LineProblem::BadNumber {
                column: "price",
                text: "1e5".into()
            }
        );
        assert_eq!(
            line_error(&format!("{good}2,1_0,1,1,1700000000001,True,True\n")).1,
            LineProblem::BadNumber {
                column: "price",
                text: "1_0".into()
            }
        );
        assert!(matches!(
            line_error(&format!(
                "{good}2,1234567890123456,1,1,1700000000001,True,True\n"
            ))
            .1,
            LineProblem::TooLarge { .. }
        ));
        assert!(matches!(
            line_error("1,1,1,1,99999999999999999999,True,True\n").1,
            LineProblem::TooLarge { column: "time", .. }
        ));
        assert_eq!(
            line_error(&format!("{good}{}\n", "9".repeat(2000))),
            (
                2,
                LineProblem::TooLong {
                    max: MAX_LINE_BYTES
                }
            )
        );
        assert_eq!(
            line_error("1700000040000,100,104,105,103,5,1700000099999,500,10,2,200,0\n").1,
            LineProblem::CandleOutOfRange
        );
        assert_eq!(
            line_error("1700000040000,100,104,99,103,5,1700000039999,500,10,2,200,0\n").1,
            LineProblem::CloseBeforeOpen
        );
        // The message carries the line number.
        let message = match Recording::parse_csv("X", "1,2,3\n") {
            Err(e) => e.to_string(),
            Ok(_) => String::new(),
        };
        assert!(message.starts_with("line 1: 3 columns"), "{message}");
    }

    #[test]
    fn empty_and_oversized_inputs() {
        assert_eq!(Recording::parse_csv("X", ""), Err(FeedError::Empty));
        assert_eq!(
            Recording::parse_csv("X", "\n\r\n  \n"),
            Err(FeedError::Empty)
        );
        assert_eq!(
            Recording::parse_csv(
                "X",
                "id,price,qty,quote_qty,time,is_buyer_maker,is_best_match\n"
            ),
            Err(FeedError::Empty)
        );
        let huge = " ".repeat(MAX_INPUT_BYTES + 1);
        assert!(matches!(
            Recording::parse_csv("X", &huge),
            Err(FeedError::TooLarge { .. })
        ));
    }

    proptest! {
        #[test]
        fn walk_stays_positive_and_on_tick(
            seed in any::<u64>(),
            price_units in 1i64..1_000_000_000_000,
            price_scale in 0u32..10,
            tick_units in 1i64..1_000,
            tick_scale in 0u32..9,
            step_units in 0i64..3_000,
            steps in 1usize..60,
        ) {
            let tick = Decimal::new(tick_units, tick_scale);
            let starts = vec![("S".to_owned(), Decimal::new(price_units, price_scale), tick)];
            // Up to a 300 % move per step: far past zero, to test the floor.
            let mut walk = RandomWalk::new(seed, &starts, Decimal::new(step_units, 3));
            for _ in 0..steps {
                for (_, price) in walk.step() {
                    prop_assert!(price > Decimal::ZERO);
                    prop_assert!(price <= MAX_PRICE);
                    prop_assert!(price >= tick);
                    prop_assert_eq!(price % tick, Decimal::ZERO);
                }
            }
        }

        #[test]
        fn parse_never_panics_on_strings(text in ".{0,400}") {
            let _ = Recording::parse_csv("X", &text);
        }

        #[test]
        fn parse_never_panics_on_csvish(
            lines in prop::collection::vec("[0-9.,\\-a-zA-Z]{0,80}", 0..12)
        ) {
            let _ = Recording::parse_csv("X", &lines.join("\n"));
        }

        #[test]
        fn parse_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
            let _ = Recording::parse_csv("X", &String::from_utf8_lossy(&bytes));
        }

        #[test]
        fn trades_round_trip(
            rows in prop::collection::vec((1u64..1_000_000_000_000_000, 0usize..9, 0u32..5_000), 1..40),
            header in any::<bool>(),
            micros in any::<bool>(),
        ) {
            let mut text = String::new();
            if header {
                text.push_str("id,price,qty,quote_qty,time,is_buyer_maker,is_best_match\n");
            }
            let start: u64 = 1_700_000_000_000;
            let mut time = start;
            let mut expected = Vec::new();
            for (i, (mantissa, scale, gap)) in rows.iter().enumerate() {
                time += u64::from(*gap);
                let digits = mantissa.to_string();
                let price = if *scale == 0 || *scale >= digits.len() {
                    digits.clone()
                } else {
                    format!("{}.{}", &digits[..digits.len() - scale], &digits[digits.len() - scale..])
                };
                let stamp = if micros { time * 1000 + 7 } else { time };
                text.push_str(&format!("{i},{price},1.0,{price},{stamp},True,True\n"));
                // Times are relative to the first row, which may itself be after `start`.
                let first = start + u64::from(rows[0].2);
                let offset = i64::try_from((time - first) * 1000).unwrap_or(i64::MAX);
                expected.push((offset, price));
            }
            let rec = match Recording::parse_csv("S", &text) {
                Ok(r) => r,
                Err(e) => return Err(TestCaseError::fail(format!("{e}"))),
            };
            prop_assert_eq!(points(&rec), expected);
        }
    }
}
