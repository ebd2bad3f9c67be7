//! `userstream tail`: the client library on the command line.
//!
//! Events go to stdout (a readable line, or `--json`), status to stderr, so
//! `userstream tail --json | jq` sees only events. The stream never ends by itself; only a
//! configuration error (a key the server refuses, an account that does not exist) stops it.

use crate::cli::{DEFAULT_PUBLIC_URL, TailArgs, urls_or_default};
use anyhow::{Context, bail};
use futures_util::StreamExt;
use std::io::Write;
use std::time::Duration;
use userstream_client::{
    AccountEvent, Endpoints, Event, Fatal, Item, Options, Scope, Status, TokenError, UserStream,
    format_time_us,
};
use userstream_protocol::TimeUnit;

pub async fn run(args: TailArgs) -> anyhow::Result<()> {
    let gateways = if args.binance {
        vec![Endpoints::binance()]
    } else {
        gateways(&args.url, &args.ws_url)?
    };
    let mut builder = UserStream::builder()
        .api_key(args.key.api_key.trim())
        .gateways(gateways)
        .options(Options {
            token_validity: args.validity.map(Duration::from_millis),
            sbe: args.sbe,
            trusted_certificates: args.trust.certificates()?,
            ..Options::default()
        });
    if let Some(secret) = args.key.secret {
        builder = builder.secret(secret);
    }
    if args.cross || args.isolated.is_empty() {
        builder = builder.cross();
    }
    for symbol in &args.isolated {
        builder = builder.isolated(symbol);
    }
    let mut stream = builder.start()?;
    let mut stdout = std::io::stdout().lock();
    loop {
        let item = tokio::select! {
            item = stream.next() => item,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        match item {
            Some(Item::Event(event)) => {
                let line = if args.json {
                    json_line(&event)
                } else {
                    human_line(&event)
                };
                stdout
                    .write_all(line.as_bytes())
                    .and_then(|()| stdout.flush())
                    .context("cannot write to stdout")?;
            }
            Some(Item::Status(Status::Terminated(fatal))) => bail!(explain(&fatal)),
            Some(Item::Status(status)) => {
                eprintln!(
                    "{} {status}",
                    format_time_us(userstream_client::SystemClock.now_us())
                )
            }
            None => return Ok(()),
        }
    }
}

use userstream_client::Clock as _;

/// One gateway per `--url`, paired in order with `--ws-url` when that is given.
fn gateways(urls: &[String], ws_urls: &[String]) -> anyhow::Result<Vec<Endpoints>> {
    let urls = urls_or_default(urls, DEFAULT_PUBLIC_URL);
    if ws_urls.is_empty() {
        return Ok(urls
            .into_iter()
            .map(Endpoints::local)
            .collect::<Result<_, _>>()?);
    }
    if ws_urls.len() != urls.len() {
        bail!(
            "{} --url but {} --ws-url: give one --ws-url for each --url, in the same order",
            urls.len(),
            ws_urls.len()
        );
    }
    Ok(urls
        .into_iter()
        .zip(ws_urls)
        .map(|(url, ws_url)| Endpoints::new(url, ws_url))
        .collect::<Result<_, _>>()?)
}

/// What went wrong, and what to do about it.
fn explain(fatal: &Fatal) -> String {
    match fatal {
        Fatal::TokenRefused {
            error: TokenError::Refused { status: 401, .. },
            ..
        } => format!(
            "{fatal}\n  the server does not accept this API key: check --api-key (keys are created with 'userstream keys create')"
        ),
        Fatal::TokenRefused {
            account: Scope::Isolated(symbol),
            error:
                TokenError::Refused {
                    code: -3003 | -1121,
                    ..
                },
        } => format!(
            "{fatal}\n  there is no isolated margin account for {symbol} on this key's user"
        ),
        other => other.to_string(),
    }
}

/// `{"account":"cross","event":{…}}` with the event in Binance's shape (ms timestamps).
fn json_line(event: &AccountEvent) -> String {
    let mut line = Vec::with_capacity(320);
    line.extend_from_slice(b"{\"account\":");
    // A Scope's text is a symbol or "cross": plain ASCII, no escaping needed beyond quotes.
    line.extend_from_slice(
        serde_json::to_string(&event.account.to_string())
            .unwrap_or_default()
            .as_bytes(),
    );
    line.extend_from_slice(b",\"event\":");
    event.event.write_json(TimeUnit::Millisecond, &mut line);
    line.extend_from_slice(b"}\n");
    String::from_utf8_lossy(&line).into_owned()
}

/// `<E> <account> <type> <key fields>`.
fn human_line(event: &AccountEvent) -> String {
    let time = format_time_us(event.event.event_time_us());
    let fields = match &event.event {
        Event::ExecutionReport(report) => format!(
            "{} {} {} {} {} qty={} price={} filled={} orderId={} clientOrderId={}",
            report.symbol,
            report.side,
            report.order_type,
            report.execution_type,
            report.order_status,
            report.quantity,
            report.price,
            report.cumulative_filled_quantity,
            report.order_id,
            report.client_order_id
        ),
        Event::OutboundAccountPosition(position) => position
            .balances
            .iter()
            .map(|balance| {
                format!(
                    "{} free={} locked={}",
                    balance.asset, balance.free, balance.locked
                )
            })
            .collect::<Vec<_>>()
            .join(", "),
        Event::BalanceUpdate(update) => format!("{} {}", update.asset, update.balance_delta),
        Event::ListStatus(list) => format!(
            "{} {} {} {} orders={}",
            list.symbol,
            list.contingency_type,
            list.list_status_type,
            list.list_order_status,
            list.orders.len()
        ),
        Event::MarginLevelStatusChange(change) => {
            format!(
                "marginLevel={} status={}",
                change.margin_level, change.status
            )
        }
        Event::UserLiabilityChange(change) => format!(
            "{} {} principal={} interest={}",
            change.asset, change.liability_type, change.principal, change.interest
        ),
        Event::EventStreamTerminated(_) | Event::ServerShutdown(_) => String::new(),
    };
    format!(
        "{time} {} {} {fields}\n",
        event.account,
        event.event.event_type()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn balance_event(account: Scope) -> AccountEvent {
        let event = Event::from_json(
            br#"{"e":"balanceUpdate","E":1573200697110,"a":"BTC","d":"100.00000000","T":1573200697068}"#,
            TimeUnit::Millisecond,
        )
        .unwrap();
        AccountEvent {
            account,
            subscription_id: 0,
            event,
        }
    }

    #[test]
    fn gateways_pair_urls_in_order() {
        let urls = ["http://a:1".to_owned(), "http://b:2".to_owned()];
        let local = gateways(&urls, &[]).unwrap();
        assert_eq!(local[1].ws.as_str(), "ws://b:2/ws-api/v3");
        let ws = ["ws://a:9/x".to_owned(), "ws://b:9/y".to_owned()];
        let paired = gateways(&urls, &ws).unwrap();
        assert_eq!(paired[1].rest.as_str(), "http://b:2/");
        assert_eq!(paired[1].ws.as_str(), "ws://b:9/y");
        let error = gateways(&urls, &ws[..1]).unwrap_err().to_string();
        assert!(error.contains("one --ws-url for each --url"), "{error}");
        assert_eq!(gateways(&[], &[]).unwrap().len(), 1);
    }

    #[test]
    fn lines() {
        let event = balance_event(Scope::Isolated("BTCUSDT".into()));
        assert_eq!(
            human_line(&event),
            "2019-11-08T08:11:37.110000Z isolated:BTCUSDT balanceUpdate BTC 100.00000000\n"
        );
        assert_eq!(
            json_line(&balance_event(Scope::Cross)),
            "{\"account\":\"cross\",\"event\":{\"e\":\"balanceUpdate\",\"E\":1573200697110,\"a\":\"BTC\",\"d\":\"100.00000000\",\"T\":1573200697068}}\n"
        );
    }
}
