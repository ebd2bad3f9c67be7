//! `userstream tail`: the client library on the command line.
//!
//! Events and snapshots go to stdout (a readable line, or `--json`), status to stderr, so
//! `userstream tail --json | jq` sees only account data, in the order it applies. The stream never ends by itself; only a
//! configuration error (a key the server refuses, an account that does not exist) stops it.

use super::record::Recorder;
use crate::cli::{DEFAULT_PUBLIC_URL, TailArgs, urls_or_default};
use anyhow::{Context, bail};
use futures_util::StreamExt;
use std::io::Write;
use std::time::Duration;
use userstream_client::{
    AccountEvent, Endpoints, Event, Fatal, Item, MarginAccount, Options, Scope, Snapshot, Status,
    TokenError, UserStream, format_time_us,
};
use userstream_protocol::TimeUnit;
use userstream_protocol::decimal::Decimal;
use userstream_protocol::events::ExecutionType;
use userstream_protocol::rest::MarginOrder;

pub async fn run(args: TailArgs) -> anyhow::Result<()> {
    let gateways = if args.binance {
        vec![Endpoints::binance()]
    } else {
        gateways(&args.url, &args.ws_url)?
    };
    let mut recorder = match &args.record {
        Some(path) => Some(Recorder::create(
            path,
            &gateways,
            userstream_client::SystemClock.now_us(),
        )?),
        None => None,
    };
    let mut builder = UserStream::builder()
        .api_key(args.key.api_key.trim())
        .gateways(gateways)
        .options(Options {
            token_validity: args.validity.map(Duration::from_millis),
            sbe: args.sbe,
            trusted_certificates: args.trust.certificates()?,
            snapshots: !args.no_snapshot,
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
    // One listener for the whole run, so a Ctrl-C between two items is not missed.
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let item = tokio::select! {
            item = stream.next() => item,
            _ = &mut ctrl_c => {
                if let Some(recorder) = &mut recorder {
                    let events = recorder.events();
                    recorder.comment(&format!("recording stopped after {events} events"))?;
                }
                return Ok(());
            }
        };
        if let Some(recorder) = &mut recorder {
            match &item {
                Some(Item::Event(event)) => recorder.event(event)?,
                Some(Item::Snapshot(snapshot)) => recorder.comment(&format!(
                    "{} snapshot read (not replayed)",
                    snapshot.account
                ))?,
                Some(Item::Status(status)) => recorder.comment(&status.to_string())?,
                _ => {}
            }
        }
        let line = match item {
            Some(Item::Event(event)) if args.json => json_line(&event),
            Some(Item::Event(event)) => human_line(&event),
            Some(Item::Snapshot(snapshot)) if args.json => snapshot_json_line(&snapshot),
            Some(Item::Snapshot(snapshot)) => snapshot_line(&snapshot),
            Some(Item::Status(Status::Terminated(fatal))) => bail!(explain(&fatal)),
            Some(Item::Status(status)) => {
                eprintln!(
                    "{} {status}",
                    format_time_us(userstream_client::SystemClock.now_us())
                );
                continue;
            }
            Some(_) => continue,
            None => return Ok(()),
        };
        stdout
            .write_all(line.as_bytes())
            .and_then(|()| stdout.flush())
            .context("cannot write to stdout")?;
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

/// `{"account":"cross","snapshot":{"time":<ms>,"marginAccount":{…},"openOrders":[…]}}`, the
/// account and its orders in Binance's REST shapes.
fn snapshot_json_line(snapshot: &Snapshot) -> String {
    let margin_account = match &snapshot.margin_account {
        MarginAccount::Cross(account) => serde_json::to_value(account),
        MarginAccount::Isolated(pair) => serde_json::to_value(pair),
        other => Ok(serde_json::Value::String(format!("{other:?}"))),
    };
    let line = serde_json::json!({
        "account": snapshot.account.to_string(),
        "snapshot": {
            "time": snapshot.taken_at_us.div_euclid(1000),
            "marginAccount": margin_account.unwrap_or_default(),
            "openOrders": serde_json::to_value(&snapshot.open_orders).unwrap_or_default(),
        },
    });
    format!("{line}\n")
}

/// `<time> <account> snapshot <margin level> <balances>; <open orders>`: the assets that hold
/// or owe anything, and every open order.
fn snapshot_line(snapshot: &Snapshot) -> String {
    let time = format_time_us(snapshot.taken_at_us);
    let (level, held): (_, Vec<String>) = match &snapshot.margin_account {
        MarginAccount::Cross(account) => (
            &account.margin_level,
            account
                .user_assets
                .iter()
                .filter_map(|a| holding(&a.asset, &a.free, &a.locked, &a.borrowed, &a.interest))
                .collect(),
        ),
        MarginAccount::Isolated(pair) => (
            &pair.margin_level,
            [&pair.base_asset, &pair.quote_asset]
                .into_iter()
                .filter_map(|a| holding(&a.asset, &a.free, &a.locked, &a.borrowed, &a.interest))
                .collect(),
        ),
        _ => return format!("{time} {} snapshot\n", snapshot.account),
    };
    let balances = if held.is_empty() {
        "no balances".to_owned()
    } else {
        held.join(", ")
    };
    let orders = match snapshot.open_orders.len() {
        0 => "no open orders".to_owned(),
        count => format!(
            "{count} open order{}: {}",
            if count == 1 { "" } else { "s" },
            snapshot
                .open_orders
                .iter()
                .map(order_fields)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    format!(
        "{time} {} snapshot marginLevel={level} {balances}; {orders}\n",
        snapshot.account
    )
}

/// `ASSET free=… locked=…`, with what is owed when anything is; `None` for an asset that
/// holds and owes nothing.
fn holding(
    asset: &str,
    free: &Decimal,
    locked: &Decimal,
    borrowed: &Decimal,
    interest: &Decimal,
) -> Option<String> {
    if [free, locked, borrowed, interest].into_iter().all(is_zero) {
        return None;
    }
    let mut text = format!("{asset} free={free} locked={locked}");
    if !is_zero(borrowed) || !is_zero(interest) {
        text.push_str(&format!(" borrowed={borrowed} interest={interest}"));
    }
    Some(text)
}

/// An open order's key fields, as an executionReport line shows them.
fn order_fields(order: &MarginOrder) -> String {
    format!(
        "{} {} {} {} qty={} price={} filled={} orderId={} clientOrderId={}",
        order.symbol,
        order.side,
        order.order_type,
        order.status,
        order.orig_qty,
        order.price,
        order.executed_qty,
        order.order_id,
        order.client_order_id
    )
}

/// `0`, `0.00000000`, `-0.0`.
fn is_zero(amount: &Decimal) -> bool {
    amount
        .as_str()
        .bytes()
        .all(|byte| matches!(byte, b'0' | b'.' | b'-'))
}

/// `<E> <account> <type> <key fields>`.
fn human_line(event: &AccountEvent) -> String {
    let time = format_time_us(event.event.event_time_us());
    let fields = match &event.event {
        Event::ExecutionReport(report) => {
            // A trade's own quantity and price (`l`, `L`): a MARKET order's `price` is 0.
            let last = if report.execution_type == ExecutionType::Trade {
                format!(
                    " last={}@{}",
                    report.last_executed_quantity, report.last_executed_price
                )
            } else {
                String::new()
            };
            format!(
                "{} {} {} {} {} qty={} price={} filled={}{last} orderId={} clientOrderId={}",
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
            )
        }
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

    /// An isolated BTCUSDT account holding 990 USDT with 10 locked by one open order.
    fn isolated_snapshot() -> Snapshot {
        let pair = serde_json::from_str(
            r#"{"baseAsset":{"asset":"BTC","borrowed":"0.00000000","free":"0.00000000",
            "interest":"0.00000000","locked":"0.00000000","netAsset":"0.00000000",
            "netAssetOfBtc":"0.00000000","totalAsset":"0.00000000"},"quoteAsset":{"asset":"USDT",
            "borrowed":"0.00000000","free":"990.00000000","interest":"0.00000000",
            "locked":"10.00000000","netAsset":"1000.00000000","netAssetOfBtc":"0.01000000",
            "totalAsset":"1000.00000000"},"symbol":"BTCUSDT","marginLevel":"999.00000000",
            "marginLevelStatus":"EXCESSIVE","marginRatio":"5.00000000",
            "indexPrice":"100000.00000000","liquidatePrice":"0.00000000",
            "liquidateRate":"0.00000000"}"#,
        )
        .unwrap();
        let order = serde_json::from_str(
            r#"{"clientOrderId":"abc","cummulativeQuoteQty":"0.00000000",
            "executedQty":"0.00000000","icebergQty":"0.00000000","isWorking":true,"orderId":7,
            "origQty":"0.00100000","price":"10000.00000000","side":"BUY","status":"NEW",
            "stopPrice":"0.00000000","symbol":"BTCUSDT","isIsolated":true,"time":1573200697110,
            "timeInForce":"GTC","type":"LIMIT","updateTime":1573200697110}"#,
        )
        .unwrap();
        Snapshot::new(
            Scope::Isolated("BTCUSDT".into()),
            1_573_200_697_110_000,
            MarginAccount::Isolated(pair),
            vec![order],
        )
    }

    #[test]
    fn snapshot_lines() {
        let snapshot = isolated_snapshot();
        assert_eq!(
            snapshot_line(&snapshot),
            "2019-11-08T08:11:37.110000Z isolated:BTCUSDT snapshot marginLevel=999.00000000 \
             USDT free=990.00000000 locked=10.00000000; 1 open order: BTCUSDT BUY LIMIT NEW \
             qty=0.00100000 price=10000.00000000 filled=0.00000000 orderId=7 clientOrderId=abc\n"
        );
        let json: serde_json::Value = serde_json::from_str(&snapshot_json_line(&snapshot)).unwrap();
        assert_eq!(json["account"], "isolated:BTCUSDT");
        assert_eq!(json["snapshot"]["time"], 1_573_200_697_110_i64);
        assert_eq!(
            json["snapshot"]["marginAccount"]["quoteAsset"]["locked"],
            "10.00000000"
        );
        assert_eq!(json["snapshot"]["openOrders"][0]["orderId"], 7);
        assert_eq!(json["snapshot"]["openOrders"][0]["type"], "LIMIT");
        assert!(snapshot_json_line(&snapshot).ends_with("}\n"));
        let empty = Snapshot::new(
            Scope::Isolated("BTCUSDT".into()),
            0,
            snapshot.margin_account.clone(),
            Vec::new(),
        );
        assert!(snapshot_line(&empty).ends_with("; no open orders\n"));
        assert!(is_zero(&Decimal::parse("-0.000").unwrap()));
        assert!(!is_zero(&Decimal::parse("0.001").unwrap()));
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
    fn a_trade_line_shows_the_fill_not_the_market_orders_zero_price() {
        let event = Event::from_json(
            br#"{"e":"executionReport","E":1499405658658,"s":"ETHBTC","c":"m1","S":"BUY","o":"MARKET","f":"GTC","q":"1.00000000","p":"0.00000000","P":"0.00000000","F":"0.00000000","g":-1,"C":"","x":"TRADE","X":"FILLED","r":"NONE","i":42,"l":"1.00000000","z":"1.00000000","L":"0.10264410","n":"0","N":null,"T":1499405658657,"t":7,"I":8641984,"w":false,"m":false,"M":true,"O":1499405658657,"Z":"0.10264410","Y":"0.10264410","Q":"0.00000000","W":1499405658657,"V":"NONE"}"#,
            TimeUnit::Millisecond,
        )
        .unwrap();
        let event = AccountEvent {
            account: Scope::Cross,
            subscription_id: 0,
            event,
        };
        assert_eq!(
            human_line(&event),
            "2017-07-07T05:34:18.658000Z cross executionReport ETHBTC BUY MARKET TRADE FILLED \
             qty=1.00000000 price=0.00000000 filled=1.00000000 last=1.00000000@0.10264410 \
             orderId=42 clientOrderId=m1\n"
        );
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
