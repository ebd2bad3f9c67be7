//! Demo mode's accounts: the API key labelled `demo`, kept in the store like any key (made on
//! first start, found again by its label afterwards), and the balances its accounts start with.
//!
//! The simulator keeps balances in memory, so the key survives a restart but its balances do
//! not: every start funds the accounts again (docs/simulator.md, "Demo mode").

use super::Exchange;
use crate::config::{Config, ConfigError};
use crate::directory::Directory;
use crate::server::ServerError;
use std::fmt;
use userstream_protocol::{Account, Uid};
use userstream_sim::Decimal;

/// The label the demo key is found by.
pub const DEMO_LABEL: &str = "demo";

/// The isolated pairs the demo opens (and the symbols its trader trades).
pub const DEMO_PAIRS: [&str; 2] = ["BTCUSDT", "ETHUSDT"];

/// The demo's key and where it trades. Its `Debug` never shows the secret.
#[derive(Clone)]
pub struct DemoAccount {
    pub api_key: String,
    pub secret_key: String,
    pub uid: Uid,
    pub isolated: Vec<String>,
}

impl fmt::Debug for DemoAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DemoAccount")
            .field("api_key", &self.api_key)
            .field("secret_key", &"<hidden>")
            .field("uid", &self.uid)
            .field("isolated", &self.isolated)
            .finish()
    }
}

/// What each demo account holds after funding: (account, asset, amount). The trader tops an
/// asset up to this when it runs low.
pub(crate) fn funding(uid: Uid) -> Vec<(Account, &'static str, Decimal)> {
    let amount = |units: i64, scale: u32| Decimal::new(units, scale);
    vec![
        (Account::cross(uid), "USDT", amount(200_000, 0)),
        (Account::cross(uid), "BTC", amount(2, 0)),
        (Account::cross(uid), "ETH", amount(50, 0)),
        (Account::isolated(uid, "BTCUSDT"), "USDT", amount(20_000, 0)),
        (Account::isolated(uid, "BTCUSDT"), "BTC", amount(2, 1)),
        (Account::isolated(uid, "ETHUSDT"), "USDT", amount(20_000, 0)),
        (Account::isolated(uid, "ETHUSDT"), "ETH", amount(6, 0)),
    ]
}

/// Finds (or, on first start, creates) the demo key, opens its isolated pairs and funds its
/// accounts through the simulator.
pub(crate) async fn prepare(
    config: &Config,
    directory: &Directory,
    exchange: &Exchange,
    now_ms: i64,
) -> Result<DemoAccount, ServerError> {
    for pair in DEMO_PAIRS {
        if config.symbol(pair).is_none() {
            return Err(ConfigError::Invalid(format!(
                "demo mode trades {}: keep {pair} in [[symbols]]",
                DEMO_PAIRS.join(" and ")
            ))
            .into());
        }
    }
    let pairs: Vec<String> = DEMO_PAIRS.iter().map(|pair| (*pair).to_owned()).collect();
    let known = directory
        .keys()
        .into_iter()
        .find(|key| key.label.as_deref() == Some(DEMO_LABEL) && key.revoked_at_ms.is_none());
    let key = match known {
        Some(key) => {
            for pair in &pairs {
                directory.open_isolated(key.uid, pair).await?;
            }
            tracing::info!(uid = key.uid, "demo mode: the demo key again");
            key
        }
        None => {
            let key = directory
                .create_key(None, Some(DEMO_LABEL.to_owned()), &pairs, now_ms)
                .await?;
            tracing::info!(uid = key.uid, "demo mode: created the demo key");
            key
        }
    };
    for (account, asset, amount) in funding(key.uid) {
        exchange
            .apply(|sim, now_us| Ok(((), sim.deposit(&account, asset, amount, now_us)?)))
            .await
            .map_err(|error| {
                ConfigError::Invalid(format!("demo mode: funding {asset} failed: {error}"))
            })?;
    }
    Ok(DemoAccount {
        api_key: key.api_key.clone(),
        secret_key: key.secret_key.clone(),
        uid: key.uid,
        isolated: pairs,
    })
}
