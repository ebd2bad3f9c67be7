//! Writes the committed seed corpus, `fuzz/seeds/<target>/`: real frames, tokens and bodies,
//! made with the project's own encoders (tokens with the fuzzers' fixed key ring).
//!
//! `cd fuzz && cargo run --example make_seeds -- seeds` (tokens carry a random nonce, so each run
//! writes different token bytes; the rest is the same every time).

use std::fs;
use std::path::{Path, PathBuf};

use userstream_fuzz::{NOW_MS, key_ring};
use userstream_protocol::ApiError;
use userstream_protocol::events::Event;
use userstream_protocol::sbe::events::encode_event;
use userstream_protocol::sbe::responses::{Outcome, write_response};
use userstream_protocol::sbe::{LATEST_VERSION, OLDEST_VERSION};
use userstream_protocol::ws::{
    Answer, ErrorData, RateLimitInterval, RateLimitStatus, RateLimitType, SessionStatus,
    SubscriptionInfo,
};
use userstream_protocol::{Account, TimeUnit};
use userstream_server::token::TokenClaims;

/// Binance's documented payloads, and an executionReport with every conditional field.
const EVENTS: &[&str] = &[
    r#"{"e":"balanceUpdate","E":1573200697110,"a":"BTC","d":"100.00000000","T":1573200697068}"#,
    r#"{"e":"executionReport","E":1499405658658,"s":"ETHBTC","c":"mUvoqJxFIILMdfAW5iGSOW","S":"BUY","o":"LIMIT","f":"GTC","q":"1.00000000","p":"0.10264410","P":"0.00000000","F":"0.00000000","g":-1,"C":"","x":"NEW","X":"NEW","r":"NONE","i":4293153,"l":"0.00000000","z":"0.00000000","L":"0.00000000","n":"0","N":null,"T":1499405658657,"t":-1,"I":8641984,"w":true,"m":false,"M":false,"O":1499405658657,"Z":"0.00000000","Y":"0.00000000","Q":"0.00000000","W":1499405658657,"V":"NONE"}"#,
    r#"{"e":"executionReport","E":1499405658658,"s":"BNBUSDT","c":"web_1","S":"SELL","o":"STOP_LOSS_LIMIT","f":"IOC","q":"2.50","p":"600.10","P":"599.00","d":100,"D":1499405658000,"j":7,"J":1000000,"F":"0.00","g":12,"C":"orig_9","x":"TRADE","X":"PARTIALLY_FILLED","r":"NONE","i":99,"l":"1.25","z":"1.25","L":"600.10","n":"0.00012","N":"BNB","T":1499405658657,"t":55,"v":3,"A":"0.10","B":"0.10","u":8,"U":77,"Cs":"BNBUSDC","pl":"0.10","pL":"600.00","pY":"60.00","I":8641984,"w":false,"m":true,"M":true,"O":1499405658657,"Z":"750.12","Y":"750.12","Q":"0.00","W":1499405658657,"V":"EXPIRE_MAKER","b":"ONE_PARTY_TRADE_REPORT","a":4,"k":"SOR","uS":true,"gP":"PRIMARY_PEG","gOT":"PRICE_LEVEL","gOV":5,"gp":"600.10","eR":"INSUFFICIENT_LIQUIDITY"}"#,
    r#"{"e":"listStatus","E":1564035303637,"s":"ETHBTC","g":2,"c":"OCO","l":"EXEC_STARTED","L":"EXECUTING","r":"NONE","C":"F4QN4G8DlFATFlIUQ0cjdD","T":1564035303625,"O":[{"s":"ETHBTC","i":17,"c":"AJYsMjErWJesZvqlJCTUgL"},{"s":"ETHBTC","i":18,"c":"bfYPSQdLoqAJeNrOr9adzq"}]}"#,
    r#"{"e":"outboundAccountPosition","E":1564034571105,"u":1564034571073,"B":[{"a":"ETH","f":"10000.000000","l":"0.000000"},{"a":"USDT","f":"10580.00000000","l":"70.00000000"}]}"#,
    r#"{"e":"MARGIN_LEVEL_STATUS_CHANGE","E":1701949763462,"l":"1.1","s":"MARGIN_CALL"}"#,
    r#"{"e":"USER_LIABILITY_CHANGE","E":1701949801133,"a":"BTC","t":"BORROW","p":"0.00000100","i":"0.00000000"}"#,
];

/// Events only the server makes (never published).
const SERVER_EVENTS: &[&str] = &[
    r#"{"e":"eventStreamTerminated","E":1759089357377}"#,
    r#"{"e":"serverShutdown","E":1770123456789}"#,
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "seeds".into()));
    let published: Vec<Event> = EVENTS
        .iter()
        .chain(SERVER_EVENTS)
        .map(|json| Event::from_json(json.as_bytes(), TimeUnit::Millisecond))
        .collect::<Result<_, _>>()?;

    // ws_request: what real clients send, and some that are refused.
    let token = key_ring().mint(&TokenClaims {
        account: Account::cross(7),
        api_key_id: 1,
        expires_at_us: (NOW_MS + 86_400_000) * 1000,
    });
    let requests = [
        format!(
            r#"{{"id":1,"method":"userDataStream.subscribe.listenToken","params":{{"listenToken":"{token}"}}}}"#
        ),
        r#"{"id":"e2a85d9f-07a5-4f94-8d5f-789dc3deb097","method":"v3/ping"}"#.into(),
        r#"{"id":null,"method":"session.status","params":{"returnRateLimits":false}}"#.into(),
        r#"{"id":"12","method":"userDataStream.unsubscribe","params":{"subscriptionId":0}}"#.into(),
        r#"{"id":3,"method":"session.subscriptions","params":null}"#.into(),
        r#"{"id":4,"method":"time","params":{"returnRateLimits":"TRUE"}}"#.into(),
        r#"{"id":1.5,"method":"ping"}"#.into(),
        r#"{"method":"ping"}"#.into(),
        r#"{"id":5,"params":[]}"#.into(),
        "[1,2,3]".into(),
    ];
    write_all(
        &root,
        "ws_request",
        requests.iter().map(|r| r.as_bytes().to_vec()),
    )?;

    // rest_params: its input is structured (arbitrary); plain requests still give the
    // mutator real parameter text to splice.
    let rest = [
        "symbol=BNBUSDT&isIsolated=TRUE&validity=3600000",
        "timestamp=1749094553955&recvWindow=5000&signature=c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71",
        "isIsolated=false&%73ignature=00&validity=1+0",
    ];
    write_all(
        &root,
        "rest_params",
        rest.iter().map(|r| r.as_bytes().to_vec()),
    )?;

    // intake: one item, an array, NDJSON, an isolated account.
    let items: Vec<String> = EVENTS
        .iter()
        .enumerate()
        .map(|(i, json)| {
            let symbol = if i == 3 {
                r#","isolatedSymbol":"ethbtc""#
            } else {
                ""
            };
            format!(r#"{{"uid":{}{symbol},"event":{json}}}"#, 1000 + i)
        })
        .collect();
    let mut bodies: Vec<Vec<u8>> = items.iter().map(|item| item.as_bytes().to_vec()).collect();
    bodies.push(format!("[{}]", items.join(",")).into_bytes());
    bodies.push(items.join("\n").into_bytes());
    bodies
        .push(br#"[{"uid":1,"event":{"e":"balanceUpdate","a":"BTC","d":"-0.5","T":1}}]"#.to_vec());
    write_all(&root, "intake", bodies)?;

    // token_open: real tokens of both keys' eras, cross and isolated.
    let ring = key_ring();
    let mut tokens: Vec<Vec<u8>> = [
        Account::cross(1),
        Account::isolated(u64::MAX, "1000SATSUSDT"),
        Account::isolated(42, "BNBUSDT"),
    ]
    .into_iter()
    .map(|account| {
        ring.mint(&TokenClaims {
            account,
            api_key_id: 9,
            expires_at_us: NOW_MS * 1000,
        })
        .into_bytes()
    })
    .collect();
    if let Ok(old) = ring.clone().with_active_kid(userstream_fuzz::OLD_KID) {
        tokens.push(
            old.mint(&TokenClaims {
                account: Account::cross(2),
                api_key_id: 3,
                expires_at_us: -1,
            })
            .into_bytes(),
        );
    }
    write_all(&root, "token_open", tokens.clone())?;
    write_all(&root, "token_forge", tokens)?;

    // sbe_event: every event at the oldest and the latest version served.
    let mut events = Vec::new();
    for event in &published {
        for version in [OLDEST_VERSION, LATEST_VERSION] {
            events.push(encode_event(event, version)?.for_subscription(3));
        }
    }
    write_all(&root, "sbe_event", events.clone())?;

    // sbe_response: every answer, an error with ban data, and 999.
    let weight = RateLimitStatus {
        rate_limit_type: RateLimitType::RequestWeight,
        interval: RateLimitInterval::Minute,
        interval_num: 1,
        limit: 6000,
        count: 4,
    };
    let outcomes = [
        Outcome::Answer(Answer::Subscribed(SubscriptionInfo {
            subscription_id: 3,
            expiration_time: 1_759_175_757_000_000,
        })),
        Outcome::Answer(Answer::Unsubscribed),
        Outcome::Answer(Answer::Subscriptions(vec![
            SubscriptionInfo {
                subscription_id: 0,
                expiration_time: 1,
            },
            SubscriptionInfo {
                subscription_id: 1,
                expiration_time: 2,
            },
        ])),
        Outcome::Answer(Answer::SessionStatus(SessionStatus {
            api_key: Some(
                "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A".into(),
            ),
            authorized_since: Some(1_749_094_553_955_000),
            connected_since: 1_749_094_553_000_000,
            return_rate_limits: true,
            server_time: 1_749_094_554_000_000,
            user_data_stream: true,
        })),
        Outcome::Answer(Answer::Pong),
        Outcome::Answer(Answer::ServerTime(1_749_094_554_000_123)),
        Outcome::Error(ApiError::invalid_listen_token(), None),
        Outcome::Error(
            ApiError::ip_banned(1_749_094_600_000),
            Some(ErrorData {
                server_time: 1_749_094_554_000,
                retry_after: 1_749_094_600_000,
            }),
        ),
        Outcome::NonRepresentable,
    ];
    let mut responses = Vec::new();
    for (i, outcome) in outcomes.iter().enumerate() {
        let status = match outcome {
            Outcome::Error(error, _) => error.status,
            _ => 200,
        };
        for version in [OLDEST_VERSION, LATEST_VERSION] {
            let mut out = Vec::new();
            let limits = if i % 2 == 0 { vec![weight] } else { Vec::new() };
            let id = if i == 1 { "".to_owned() } else { i.to_string() };
            write_response(
                &mut out,
                version,
                version < LATEST_VERSION,
                status,
                &limits,
                &id,
                outcome,
            )?;
            responses.push(out);
        }
    }
    write_all(&root, "sbe_response", responses.clone())?;
    write_all(
        &root,
        "client_binary_frame",
        events.into_iter().chain(responses),
    )?;

    // client_text_frame: event frames, connection events, responses.
    let mut frames: Vec<Vec<u8>> = EVENTS
        .iter()
        .chain(&SERVER_EVENTS[..1])
        .enumerate()
        .map(|(i, json)| format!(r#"{{"subscriptionId":{i},"event":{json}}}"#).into_bytes())
        .collect();
    frames.push(format!(r#"{{"event":{}}}"#, SERVER_EVENTS[1]).into_bytes());
    frames.push(br#"{"subscriptionId":1,"event":{"e":"somethingNew","E":1}}"#.to_vec());
    frames.push(
        br#"{"id":7,"status":200,"result":{"subscriptionId":0,"expirationTime":1759175757000000},"rateLimits":[{"rateLimitType":"REQUEST_WEIGHT","interval":"MINUTE","intervalNum":1,"limit":6000,"count":2}]}"#.to_vec(),
    );
    frames.push(
        br#"{"id":8,"status":400,"error":{"code":-1209,"msg":"Invalid listen token."}}"#.to_vec(),
    );
    frames.push(
        br#"{"id":9,"status":418,"error":{"code":-1003,"msg":"banned","data":{"serverTime":1,"retryAfter":2}}}"#.to_vec(),
    );
    write_all(&root, "client_text_frame", frames)?;

    // sim_recording_csv: each data.binance.vision dump, with and without its header, in ms and µs.
    write_all(
        &root,
        "sim_recording_csv",
        RECORDINGS.iter().map(|r| r.as_bytes().to_vec()),
    )?;
    Ok(())
}

/// Small dumps in Binance's layouts: spot trades (header, µs), spot aggTrades (no header, ms),
/// klines (header, ms), futures aggTrades (no header, ms).
const RECORDINGS: &[&str] = &[
    "id,price,qty,quote_qty,time,is_buyer_maker,is_best_match\n5415228673,109608.01000000,0.00100000,109.60801000,1761955200098001,False,True\n5415228674,109608.00000000,0.00133000,145.77864000,1761955200205412,True,True\n",
    "26129,0.01633102,4.70443515,27781,27781,1498793709153,True,True\r\n26130,0.01633110,0.50000000,27782,27790,1498793709160,False,True\r\n",
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore\n1688169600000,30471.99000000,30472.00000000,30471.99000000,30472.00000000,0.54114000,1688169600999,16489.61790060,31,0.52320000,15942.95040000,0\n1688169601000,30472.00000000,30472.00000000,30470.10000000,30470.50000000,1.20000000,1688169601999,36564.60000000,12,0.20000000,6094.40000000,0\n",
    "26129,0.01633102,4.70443515,27781,27781,1498793709153,true\n",
];

fn write_all(
    root: &Path,
    target: &str,
    seeds: impl IntoIterator<Item = Vec<u8>>,
) -> std::io::Result<()> {
    let dir = root.join(target);
    fs::create_dir_all(&dir)?;
    for (i, seed) in seeds.into_iter().enumerate() {
        fs::write(dir.join(format!("seed-{i:02}")), seed)?;
    }
    Ok(())
}
