//! The simulator's settings, read from the server's configuration.

use crate::config::{Config, PriceSource, SymbolConfig};
use std::str::FromStr;
use userstream_sim::{Decimal, MAX_PRICE, Recording, SimConfig, SymbolRules};

/// Fastest replay: a recorded second in a millisecond.
const MAX_REPLAY_SPEED: u32 = 1_000;
/// Largest quantity a configured pair may allow.
const MAX_QTY: u64 = 1_000_000_000_000;
/// Largest recorded file read for a replay.
const MAX_RECORDING_BYTES: u64 = 256 * 1024 * 1024;

/// What the server runs the simulator with.
pub struct Settings {
    pub sim: SimConfig,
    pub prices: Prices,
    pub hourly_interest: bool,
    /// Demo mode: the trader's seed and pace.
    pub demo: Option<DemoSettings>,
}

/// Demo mode's trader (`[sim.demo]`).
#[derive(Debug, Clone, Copy)]
pub struct DemoSettings {
    pub seed: u64,
    pub trader_interval_ms: u64,
}

/// Where prices come from besides the admin API.
pub enum Prices {
    Manual,
    Walk {
        seed: u64,
        interval_ms: u64,
        step: Decimal,
    },
    Replay {
        recordings: Vec<Recording>,
        speed: u32,
    },
}

/// Reads `[sim]` and `[[symbols]]`; the message names the setting at fault.
pub fn settings(config: &Config) -> Result<Settings, String> {
    let sim_config = &config.sim;
    let mut sim = SimConfig::default();
    sim.maker_commission = rate("sim.maker_commission", &sim_config.maker_commission)?;
    sim.taker_commission = rate("sim.taker_commission", &sim_config.taker_commission)?;
    let known = sim.symbols.clone();
    sim.symbols = config
        .symbols
        .iter()
        .filter_map(|symbol| rules(symbol, &known).transpose())
        .collect::<Result<_, _>>()?;
    let demo = sim_config.demo.enabled.then_some(DemoSettings {
        seed: sim_config.demo.seed,
        trader_interval_ms: sim_config.demo.trader_interval_ms,
    });
    // Demo mode walks prices unless another source is configured, and seeds the walk itself.
    let source = match (sim_config.prices, demo) {
        (PriceSource::Manual, Some(_)) => PriceSource::Walk,
        (source, _) => source,
    };
    let prices = match source {
        PriceSource::Manual => Prices::Manual,
        PriceSource::Walk => {
            if sim_config.walk_interval_ms == 0 {
                return Err("sim.walk_interval_ms must be positive".into());
            }
            Prices::Walk {
                seed: demo.map_or(sim_config.seed, |demo| demo.seed),
                interval_ms: sim_config.walk_interval_ms,
                step: rate("sim.walk_step", &sim_config.walk_step)?,
            }
        }
        PriceSource::Replay => {
            if sim_config.replay.is_empty() {
                return Err(
                    "sim.prices = \"replay\" needs at least one [[sim.replay]] file".into(),
                );
            }
            if !(1..=MAX_REPLAY_SPEED).contains(&sim_config.replay_speed) {
                return Err(format!("sim.replay_speed must be 1 to {MAX_REPLAY_SPEED}"));
            }
            let recordings = sim_config
                .replay
                .iter()
                .map(|replay| {
                    let symbol = replay.symbol.to_ascii_uppercase();
                    if config.symbol(&symbol).is_none() {
                        return Err(format!("sim.replay: unknown symbol {symbol}"));
                    }
                    let text = read_recording(&replay.file)?;
                    Recording::parse_csv(&symbol, &text)
                        .map_err(|e| format!("sim.replay {}: {e}", replay.file.display()))
                })
                .collect::<Result<_, _>>()?;
            Prices::Replay {
                recordings,
                speed: sim_config.replay_speed,
            }
        }
    };
    Ok(Settings {
        sim,
        prices,
        hourly_interest: sim_config.hourly_interest,
        demo,
    })
}

fn read_recording(path: &std::path::Path) -> Result<String, String> {
    let shown = path.display();
    let size = std::fs::metadata(path)
        .map_err(|e| format!("sim.replay {shown}: {e}"))?
        .len();
    if size > MAX_RECORDING_BYTES {
        return Err(format!(
            "sim.replay {shown}: {size} bytes; at most {MAX_RECORDING_BYTES} are read"
        ));
    }
    std::fs::read_to_string(path).map_err(|e| format!("sim.replay {shown}: {e}"))
}

/// A rate or step: a decimal in [0, 1).
fn rate(setting: &str, text: &str) -> Result<Decimal, String> {
    let value = decimal(setting, text)?;
    if value.is_sign_negative() || value >= Decimal::ONE {
        return Err(format!(
            "{setting} must be at least 0 and below 1, not {text}"
        ));
    }
    Ok(value)
}

fn decimal(setting: &str, text: &str) -> Result<Decimal, String> {
    Decimal::from_str(text).map_err(|_| format!("{setting}: '{text}' is not a decimal number"))
}

/// A configured pair's rules: the simulator's defaults for the pairs it knows, the settings'
/// values over them. A pair it does not know and has no `price` for is left out of the
/// simulator (its trading answers -1121), so a gateway configured before the simulator existed
/// still starts.
fn rules(symbol: &SymbolConfig, known: &[SymbolRules]) -> Result<Option<SymbolRules>, String> {
    let name = &symbol.symbol;
    let setting = |field: &str| format!("symbols {name}: {field}");
    let price = symbol
        .price
        .as_deref()
        .map(|text| positive(&setting("price"), text))
        .transpose()?;
    let known = known
        .iter()
        .find(|k| &k.symbol == name && k.base == symbol.base && k.quote == symbol.quote);
    let mut rules = match (known, price) {
        (Some(known), price) => {
            let mut rules = known.clone();
            rules.initial_price = price.unwrap_or(known.initial_price);
            rules
        }
        (None, Some(price)) => SymbolRules::new(name, &symbol.base, &symbol.quote, price),
        (None, None) => {
            tracing::warn!(
                symbol = %name,
                "no `price` for this pair: the simulator leaves it out (set one to trade it)"
            );
            return Ok(None);
        }
    };
    let fields: [(&str, &Option<String>, &mut Decimal); 5] = [
        ("tick_size", &symbol.tick_size, &mut rules.tick_size),
        ("step_size", &symbol.step_size, &mut rules.step_size),
        ("min_qty", &symbol.min_qty, &mut rules.min_qty),
        ("max_qty", &symbol.max_qty, &mut rules.max_qty),
        (
            "min_notional",
            &symbol.min_notional,
            &mut rules.min_notional,
        ),
    ];
    for (field, text, value) in fields {
        if let Some(text) = text {
            *value = positive(&setting(field), text)?;
        }
    }
    within_bounds(&rules).map_err(|problem| format!("symbols {name}: {problem}"))?;
    Ok(Some(rules))
}

/// Bounds that keep every order's arithmetic far from `Decimal`'s limits: Binance's 8 fraction
/// digits at the finest, prices up to the simulator's maximum, quantities up to 10^12.
fn within_bounds(rules: &SymbolRules) -> Result<(), String> {
    let finest = Decimal::new(1, 8);
    let max_qty = Decimal::from(MAX_QTY);
    if rules.tick_size < finest || rules.step_size < finest {
        return Err(format!("tick_size and step_size must be at least {finest}"));
    }
    if rules.initial_price > MAX_PRICE || !(rules.initial_price % rules.tick_size).is_zero() {
        return Err(format!(
            "price must be a multiple of tick_size {} and at most {MAX_PRICE}",
            rules.tick_size
        ));
    }
    if rules.max_qty > max_qty || rules.min_qty > rules.max_qty {
        return Err(format!(
            "min_qty must be at most max_qty, and max_qty at most {max_qty}"
        ));
    }
    Ok(())
}

fn positive(setting: &str, text: &str) -> Result<Decimal, String> {
    let value = decimal(setting, text)?;
    if value <= Decimal::ZERO {
        return Err(format!("{setting} must be positive, not {text}"));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SymbolConfig;

    fn with_pair(adjust: impl FnOnce(&mut SymbolConfig)) -> Result<Settings, String> {
        let mut config = Config::default();
        let mut pair = SymbolConfig::new("AAABBB", "AAA", "BBB");
        pair.price = Some("1.5".into());
        adjust(&mut pair);
        config.symbols.push(pair);
        settings(&config)
    }

    #[test]
    fn pairs_the_simulator_cannot_trade_safely_are_refused() {
        assert!(with_pair(|_| {}).is_ok());
        let refused = [
            with_pair(|p| p.tick_size = Some("0.000000001".into())),
            with_pair(|p| {
                p.price = Some("1.505".into());
                p.tick_size = Some("0.01".into());
            }),
            with_pair(|p| p.price = Some("10000000000".into())),
            with_pair(|p| p.max_qty = Some("10000000000000".into())),
            with_pair(|p| {
                p.min_qty = Some("10".into());
                p.max_qty = Some("5".into());
            }),
        ];
        for (case, result) in refused.into_iter().enumerate() {
            let error = result
                .err()
                .unwrap_or_else(|| panic!("case {case} was accepted"));
            assert!(error.starts_with("symbols AAABBB: "), "{error}");
        }
    }

    #[test]
    fn a_pair_without_a_price_is_left_out_not_fatal() {
        let settings = with_pair(|p| p.price = None).unwrap();
        assert!(settings.sim.symbols.iter().all(|r| r.symbol != "AAABBB"));
        assert!(settings.sim.symbols.iter().any(|r| r.symbol == "BTCUSDT"));
    }

    #[test]
    fn replays_are_at_most_a_thousand_times_faster() {
        let mut config = Config::default();
        config.sim.prices = PriceSource::Replay;
        config.sim.replay = vec![crate::config::ReplayFile {
            symbol: "BTCUSDT".into(),
            file: "unused.csv".into(),
        }];
        config.sim.replay_speed = 1_001;
        let error = settings(&config).err().unwrap();
        assert!(error.contains("replay_speed"), "{error}");
    }
}
