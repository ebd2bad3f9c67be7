//! The simulator's commands, end to end, as a new user would type them: `account deposit` and
//! `account show`, `price`, `order place|fill|cancel|list`, their refusals and help, and `tail`
//! with a secret showing the account they built as a snapshot line.
//!
//! The real `userstream` binary against `userstream serve` on ephemeral loopback ports (the
//! simulator is on by default). Every child process is killed when its handle drops.

mod common;

use common::*;
use serde_json::{Value, json};

/// The asset of a cross account's `userAssets` named `asset`.
fn user_asset<'a>(account: &'a Value, asset: &str) -> &'a Value {
    account["userAssets"]
        .as_array()
        .unwrap_or_else(|| panic!("no userAssets: {account}"))
        .iter()
        .find(|entry| entry["asset"] == asset)
        .unwrap_or_else(|| panic!("no {asset} in {account}"))
}

#[tokio::test]
async fn deposits_fund_cross_and_isolated_accounts() {
    let gateway = Gateway::start().await;
    let (_, _, uid) = gateway.create_key(&[]).await;
    let uid = uid.to_string();

    // balanceUpdate, then outboundAccountPosition.
    let answer = gateway
        .cli(&[
            "account", "deposit", "--uid", &uid, "--asset", "USDT", "--amount", "1000",
        ])
        .await
        .json();
    assert_eq!(answer, json!({"events": 2}));
    let account = gateway
        .cli(&["account", "show", "--uid", &uid])
        .await
        .json();
    let usdt = user_asset(&account, "USDT");
    assert_eq!(usdt["free"], "1000.00000000", "{account}");
    assert_eq!(usdt["locked"], "0.00000000", "{account}");
    assert_eq!(usdt["borrowed"], "0.00000000", "{account}");

    // `accounts` is the same command; the pair is opened by its first deposit, in any case.
    let answer = gateway
        .cli(&[
            "accounts",
            "deposit",
            "--uid",
            &uid,
            "--isolated",
            "btcusdt",
            "--asset",
            "usdt",
            "--amount",
            "250.5",
        ])
        .await
        .json();
    assert_eq!(answer, json!({"events": 2}));
    let isolated = gateway
        .cli(&["account", "show", "--uid", &uid, "--isolated", "BTCUSDT"])
        .await
        .json();
    let pairs = isolated["assets"]
        .as_array()
        .unwrap_or_else(|| panic!("no assets: {isolated}"));
    assert_eq!(pairs.len(), 1, "{isolated}");
    assert_eq!(pairs[0]["symbol"], "BTCUSDT", "{isolated}");
    assert_eq!(pairs[0]["quoteAsset"]["asset"], "USDT", "{isolated}");
    assert_eq!(pairs[0]["quoteAsset"]["free"], "250.50000000", "{isolated}");
    assert_eq!(pairs[0]["baseAsset"]["asset"], "BTC", "{isolated}");
    assert_eq!(pairs[0]["baseAsset"]["free"], "0.00000000", "{isolated}");
    // The cross account is untouched by the transfer into the pair.
    let account = gateway
        .cli(&["account", "show", "--uid", &uid])
        .await
        .json();
    assert_eq!(
        user_asset(&account, "USDT")["free"],
        "1000.00000000",
        "{account}"
    );

    // Refusals name Binance's message and code.
    gateway
        .cli(&["account", "show", "--uid", &uid, "--isolated", "ETHUSDT"])
        .await
        .failed_with(&["error: server refused the request", "-3003"]);
    gateway
        .cli(&[
            "account", "deposit", "--uid", &uid, "--asset", "USDT", "--amount", "1,000",
        ])
        .await
        .failed_with(&["error: server refused the request", "-1100", "amount"]);
}

#[tokio::test]
async fn an_order_is_placed_filled_in_part_cancelled_and_listed() {
    let gateway = Gateway::start().await;
    let (_, _, uid) = gateway.create_key(&[]).await;
    let uid = uid.to_string();
    gateway
        .cli(&[
            "account", "deposit", "--uid", &uid, "--asset", "USDT", "--amount", "1000",
        ])
        .await
        .json();
    let price = gateway.cli(&["price", "BTCUSDT", "60000"]).await.json();
    assert_eq!(
        price,
        json!({"symbol": "BTCUSDT", "price": "60000", "events": 0})
    );

    let placed = gateway.place_limit_buy(&uid, "t1").await;
    assert_eq!(placed["status"], "NEW", "{placed}");
    assert_eq!(placed["symbol"], "BTCUSDT", "{placed}");
    assert_eq!(placed["side"], "BUY", "{placed}");
    assert_eq!(placed["type"], "LIMIT", "{placed}");
    assert_eq!(placed["clientOrderId"], "t1", "{placed}");
    assert_eq!(placed["origQty"], "0.01000000", "{placed}");
    assert_eq!(placed["executedQty"], "0.00000000", "{placed}");
    let order_id = placed["orderId"].as_i64().expect("orderId");

    let open = gateway.cli(&["order", "list", "--uid", &uid]).await.json();
    let open = open.as_array().expect("an array");
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0]["orderId"], order_id, "{open:?}");
    assert_eq!(open[0]["clientOrderId"], "t1", "{open:?}");
    assert_eq!(open[0]["status"], "NEW", "{open:?}");
    // 590 USDT are locked by the order.
    let account = gateway
        .cli(&["account", "show", "--uid", &uid])
        .await
        .json();
    let usdt = user_asset(&account, "USDT");
    assert_eq!(usdt["free"], "410.00000000", "{account}");
    assert_eq!(usdt["locked"], "590.00000000", "{account}");

    let filled = gateway
        .cli(&[
            "order",
            "fill",
            "--uid",
            &uid,
            "--symbol",
            "BTCUSDT",
            "--client-order-id",
            "t1",
            "--quantity",
            "0.005",
        ])
        .await
        .json();
    assert_eq!(filled["status"], "PARTIALLY_FILLED", "{filled}");
    assert_eq!(filled["orderId"], order_id, "{filled}");
    assert_eq!(filled["executedQty"], "0.00500000", "{filled}");
    assert_eq!(filled["cummulativeQuoteQty"], "295.00000000", "{filled}");

    let cancelled = gateway
        .cli(&[
            "order",
            "cancel",
            "--uid",
            &uid,
            "--symbol",
            "btcusdt",
            "--client-order-id",
            "t1",
        ])
        .await
        .json();
    assert_eq!(cancelled["status"], "CANCELED", "{cancelled}");
    assert_eq!(cancelled["orderId"], order_id, "{cancelled}");
    assert_eq!(cancelled["executedQty"], "0.00500000", "{cancelled}");

    assert_eq!(
        gateway.cli(&["order", "list", "--uid", &uid]).await.json(),
        json!([])
    );
    let all = gateway
        .cli(&[
            "order", "list", "--uid", &uid, "--all", "--symbol", "BTCUSDT",
        ])
        .await
        .json();
    let all = all.as_array().expect("an array");
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0]["orderId"], order_id, "{all:?}");
    assert_eq!(all[0]["status"], "CANCELED", "{all:?}");
    assert_eq!(all[0]["executedQty"], "0.00500000", "{all:?}");

    // Bought 0.005 BTC for 295 USDT as the maker, less 0.1 % commission in BTC; the rest of
    // the lock is back.
    let account = gateway
        .cli(&["account", "show", "--uid", &uid])
        .await
        .json();
    let usdt = user_asset(&account, "USDT");
    assert_eq!(usdt["free"], "705.00000000", "{account}");
    assert_eq!(usdt["locked"], "0.00000000", "{account}");
    assert_eq!(
        user_asset(&account, "BTC")["free"],
        "0.00499500",
        "{account}"
    );

    // A finished order can be neither filled nor cancelled again, by id either.
    let id = order_id.to_string();
    gateway
        .cli(&[
            "order",
            "cancel",
            "--uid",
            &uid,
            "--symbol",
            "BTCUSDT",
            "--order-id",
            &id,
        ])
        .await
        .failed_with(&["error: server refused the request", "-2011"]);
}

#[tokio::test]
async fn an_isolated_pair_trades_on_its_own() {
    let gateway = Gateway::start().await;
    let (api_key, secret, uid) = gateway.create_key(&[]).await;
    let uid = uid.to_string();
    gateway.cli(&["price", "BTCUSDT", "60000"]).await.json();
    // No pair yet: the order names an account that does not exist.
    let place = |symbol: &'static str| {
        [
            "order",
            "place",
            "--isolated",
            symbol,
            "--symbol",
            "BTCUSDT",
            "--side",
            "SELL",
            "--type",
            "LIMIT",
            "--time-in-force",
            "GTC",
            "--quantity",
            "0.001",
            "--price",
            "70000",
        ]
    };
    let mut command = gateway.command(&place("BTCUSDT"));
    command.args(["--uid", &uid]);
    run(command, None)
        .await
        .failed_with(&["error: server refused the request", "-3003"]);

    gateway
        .cli(&[
            "account",
            "deposit",
            "--uid",
            &uid,
            "--isolated",
            "BTCUSDT",
            "--asset",
            "BTC",
            "--amount",
            "0.01",
        ])
        .await
        .json();
    let mut command = gateway.command(&place("btcusdt"));
    command.args(["--uid", &uid]);
    let placed = run(command, None).await.json();
    assert_eq!(placed["status"], "NEW", "{placed}");
    assert_eq!(placed["isIsolated"], true, "{placed}");
    let listed = gateway
        .cli(&["order", "list", "--uid", &uid, "--isolated", "BTCUSDT"])
        .await
        .json();
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["orderId"], placed["orderId"], "{listed}");
    // The cross account has no orders.
    assert_eq!(
        gateway.cli(&["order", "list", "--uid", &uid]).await.json(),
        json!([])
    );
    let pair = gateway
        .cli(&["account", "show", "--uid", &uid, "--isolated", "BTCUSDT"])
        .await
        .json();
    assert_eq!(
        pair["assets"][0]["baseAsset"]["locked"], "0.00100000",
        "{pair}"
    );
    assert_eq!(
        pair["assets"][0]["baseAsset"]["free"], "0.00900000",
        "{pair}"
    );

    // The deposit opened the pair for tokens too: tail streams it, snapshot first.
    let mut tail = Tail::start(
        &gateway,
        &[
            "--api-key",
            &api_key,
            "--secret",
            &secret,
            "--isolated",
            "BTCUSDT",
        ],
    );
    tail.status("isolated:BTCUSDT: subscribed").await;
    let line = tail.line().await;
    let order_id = &placed["orderId"];
    let client_order_id = placed["clientOrderId"].as_str().expect("clientOrderId");
    assert!(
        line.ends_with(&format!(
            " isolated:BTCUSDT snapshot marginLevel=999.00000000 BTC free=0.00900000 \
             locked=0.00100000; 1 open order: BTCUSDT SELL LIMIT NEW qty=0.00100000 \
             price=70000.00000000 filled=0.00000000 orderId={order_id} \
             clientOrderId={client_order_id}"
        )),
        "{line}"
    );
}

#[tokio::test]
async fn refusals_name_binance_and_usage_errors_exit_2() {
    let gateway = Gateway::start().await;
    let (_, _, uid) = gateway.create_key(&[]).await;
    let uid = uid.to_string();
    gateway
        .cli(&[
            "account", "deposit", "--uid", &uid, "--asset", "USDT", "--amount", "100",
        ])
        .await
        .json();
    gateway.cli(&["price", "BTCUSDT", "60000"]).await.json();
    let order = |side: &'static str, quantity: &'static str| {
        let mut command = gateway.command(&[
            "order",
            "place",
            "--symbol",
            "BTCUSDT",
            "--side",
            side,
            "--type",
            "LIMIT",
            "--time-in-force",
            "GTC",
            "--quantity",
            quantity,
            "--price",
            "59000",
        ]);
        command.args(["--uid", &uid]);
        command
    };

    // 0.01 BTC at 59000 is 590 USDT; the account holds 100.
    run(order("BUY", "0.01"), None).await.failed_with(&[
        "error: server refused the request (HTTP 400)",
        "Account has insufficient balance for requested action.",
        "-2010",
    ]);
    run(order("SIDEWAYS", "0.001"), None).await.failed_with(&[
        "error: server refused the request",
        "-1117",
        "side",
    ]);
    // Nothing was placed.
    assert_eq!(
        gateway.cli(&["order", "list", "--uid", &uid]).await.json(),
        json!([])
    );
    // A price off the tick (0.01 for BTCUSDT) is refused as an order's would be.
    gateway
        .cli(&["price", "BTCUSDT", "60000.001"])
        .await
        .failed_with(&[
            "error: server refused the request",
            "Filter failure: PRICE_FILTER",
            "-1013",
        ]);
    gateway
        .cli(&["price", "NOSUCHPAIR", "1"])
        .await
        .failed_with(&["error: server refused the request", "-1121"]);
    gateway
        .cli(&[
            "order",
            "cancel",
            "--uid",
            &uid,
            "--symbol",
            "BTCUSDT",
            "--client-order-id",
            "nothing",
        ])
        .await
        .failed_with(&["error: server refused the request", "-2011"]);

    // Usage errors: exit 2, nothing sent, clap's message.
    let usage = |ran: Ran, needles: &[&str]| {
        assert_eq!(ran.status.code(), Some(2), "{ran:?}");
        assert!(ran.stdout.is_empty(), "{ran:?}");
        assert!(ran.stderr.starts_with("error: "), "{ran:?}");
        for needle in needles {
            assert!(ran.stderr.contains(needle), "{needle:?} missing: {ran:?}");
        }
    };
    usage(
        gateway
            .cli(&["order", "list", "--uid", &uid, "--all"])
            .await,
        &["--symbol"],
    );
    usage(
        gateway
            .cli(&["order", "cancel", "--uid", &uid, "--symbol", "BTCUSDT"])
            .await,
        &["--order-id", "--client-order-id"],
    );
    usage(
        gateway
            .cli(&[
                "order",
                "cancel",
                "--uid",
                &uid,
                "--symbol",
                "BTCUSDT",
                "--order-id",
                "1",
                "--client-order-id",
                "t1",
            ])
            .await,
        &["--order-id", "--client-order-id"],
    );
    usage(
        gateway
            .cli(&["order", "fill", "--uid", &uid, "--symbol", "BTCUSDT"])
            .await,
        &["--order-id", "--client-order-id"],
    );
    usage(
        gateway
            .cli(&["account", "deposit", "--uid", &uid, "--asset", "USDT"])
            .await,
        &["--amount"],
    );
    usage(gateway.cli(&["price", "BTCUSDT"]).await, &["<PRICE>"]);
}

#[tokio::test]
async fn help_explains_the_simulator_commands() {
    let help = |args: &[&str]| {
        let mut command = userstream();
        command.args(args).arg("--help");
        command
    };
    let read = |ran: Ran, needles: &[&str]| {
        assert!(ran.status.success(), "{ran:?}");
        for needle in needles {
            assert!(ran.stdout.contains(needle), "{needle:?} missing: {ran:?}");
        }
    };
    read(
        run(help(&[]), None).await,
        &["price", "order", "accounts", "[alias: account]"],
    );
    read(
        run(help(&["price"]), None).await,
        &[
            "Set a symbol's price in the simulator",
            "Resting orders the move crosses fill",
            "<SYMBOL>",
            "<PRICE>",
            "--admin-url",
        ],
    );
    read(
        run(help(&["order", "place"]), None).await,
        &[
            "as POST /sapi/v1/margin/order would",
            "--side <SIDE>",
            "BUY or SELL",
            "--type <TYPE>",
            "LIMIT, MARKET",
            "GTC, IOC or FOK",
            "--client-order-id <ID>",
        ],
    );
    read(
        run(help(&["order", "cancel"]), None).await,
        &[
            "<--order-id <ID>|--client-order-id <ID>>",
            "orderId in the answer of `order place`",
        ],
    );
    read(
        run(help(&["order", "fill"]), None).await,
        &["default: all that is left"],
    );
    read(
        run(help(&["account", "deposit"]), None).await,
        &[
            "Fund a simulated margin account",
            "balanceUpdate",
            "--uid <N>",
            "--isolated <SYM>",
            "--asset <A>",
            "--amount <X>",
        ],
    );
}

/// `tail` with the key's secret reads the account over signed REST once subscribed, and
/// prints it on stdout before any event: the deposit and the open order placed through the CLI.
#[tokio::test]
async fn tail_prints_the_simulated_account_as_a_snapshot() {
    let gateway = Gateway::start().await;
    let (api_key, secret, uid) = gateway.create_key(&[]).await;
    let uid = uid.to_string();
    gateway
        .cli(&[
            "account", "deposit", "--uid", &uid, "--asset", "USDT", "--amount", "1000",
        ])
        .await
        .json();
    gateway.cli(&["price", "BTCUSDT", "60000"]).await.json();
    let placed = gateway.place_limit_buy(&uid, "t1").await;
    let order_id = placed["orderId"].as_i64().expect("orderId");

    let mut readable = Tail::start(&gateway, &["--api-key", &api_key, "--secret", &secret]);
    let mut json = Tail::start(
        &gateway,
        &["--api-key", &api_key, "--api-secret", &secret, "--json"],
    );
    readable.status("cross: subscribed").await;
    let line = readable.line().await;
    let (time, rest) = line.split_once(' ').expect("a time first");
    assert!(time.ends_with('Z'), "{line}");
    assert_eq!(
        rest,
        format!(
            "cross snapshot marginLevel=999.00000000 USDT free=410.00000000 \
             locked=590.00000000; 1 open order: BTCUSDT BUY LIMIT NEW qty=0.01000000 \
             price=59000.00000000 filled=0.00000000 orderId={order_id} clientOrderId=t1"
        ),
        "{line}"
    );

    let snapshot: Value = serde_json::from_str(&json.line().await).expect("a JSON line");
    assert_eq!(snapshot["account"], "cross", "{snapshot}");
    let margin = &snapshot["snapshot"]["marginAccount"];
    assert_eq!(
        user_asset(margin, "USDT")["locked"],
        "590.00000000",
        "{snapshot}"
    );
    let orders = &snapshot["snapshot"]["openOrders"];
    assert_eq!(orders.as_array().map(Vec::len), Some(1), "{snapshot}");
    assert_eq!(orders[0]["orderId"], order_id, "{snapshot}");
    assert_eq!(orders[0]["clientOrderId"], "t1", "{snapshot}");

    // What the simulator does next follows the snapshot as events.
    gateway
        .cli(&[
            "order",
            "cancel",
            "--uid",
            &uid,
            "--symbol",
            "BTCUSDT",
            "--order-id",
            &order_id.to_string(),
        ])
        .await
        .json();
    let report = readable.line().await;
    assert!(
        report.contains(&format!(
            "cross executionReport BTCUSDT BUY LIMIT CANCELED CANCELED qty=0.01000000 \
             price=59000.00000000 filled=0.00000000 orderId={order_id} clientOrderId="
        )),
        "{report}"
    );
    let position = readable.line().await;
    assert!(
        position
            .ends_with("cross outboundAccountPosition USDT free=1000.00000000 locked=0.00000000"),
        "{position}"
    );

    // Interrupted, it exits 0.
    let status = readable.interrupt().await;
    assert!(status.success(), "{status:?}");
}
