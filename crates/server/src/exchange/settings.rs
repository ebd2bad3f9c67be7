//! The simulator's settings, read from the server's configuration.

use crate::config::{Config, PriceSource, SymbolConfig};
use std::str::FromStr;
use userstream_sim::{Decimal, Recording, SimConfig, SymbolRules};

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
        .map(|symbol| rules(symbol, &known))
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
            if sim_config.replay_speed == 0 {
                return Err("sim.replay_speed must be at least 1".into());
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
/// values over them.
fn rules(symbol: &SymbolConfig, known: &[SymbolRules]) -> Result<SymbolRules, String> {
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
            return Err(format!(
                "symbols {name}: the simulator needs a starting `price` for this pair (or set sim.enabled = false)"
            ));
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
    Ok(rules)
}

fn positive(setting: &str, text: &str) -> Result<Decimal, String> {
    let value = decimal(setting, text)?;
    if value <= Decimal::ZERO {
        return Err(format!("{setting} must be positive, not {text}"));
    }
    Ok(value)
}
