//! Proptest strategies for every event type, shared by the JSON and SBE tests.

use super::*;
use crate::time::TimeUnit;
use proptest::prelude::*;
use proptest::sample::select;

pub(crate) fn time(unit: TimeUnit) -> impl Strategy<Value = i64> {
    (-4_000_000_000_000i64..4_000_000_000_000).prop_map(move |t| match unit {
        TimeUnit::Millisecond => t * 1000,
        TimeUnit::Microsecond => t,
    })
}

pub(crate) fn string() -> impl Strategy<Value = String> {
    "(?s).{0,12}"
}

pub(crate) fn dec() -> impl Strategy<Value = Decimal> {
    "-?[0-9]{1,12}(\\.[0-9]{1,10})?".prop_map(|text| Decimal::parse(&text).unwrap())
}

pub(crate) fn code() -> impl Strategy<Value = String> {
    "[A-Z][A-Z0-9_]{0,20}"
}

pub(crate) fn execution_report(unit: TimeUnit) -> impl Strategy<Value = ExecutionReport> {
    let texts = (
        string(),
        string(),
        string(),
        string(),
        proptest::option::of(string()),
    );
    let enums = (
        select(Side::ALL),
        select(OrderType::ALL),
        select(TimeInForce::ALL),
        select(ExecutionType::ALL),
        select(OrderStatus::ALL),
        select(SelfTradePreventionMode::ALL),
    );
    let decimals = (
        dec(),
        dec(),
        dec(),
        dec(),
        dec(),
        dec(),
        dec(),
        dec(),
        dec(),
        dec(),
        dec(),
    );
    let numbers = (
        any::<i64>(),
        any::<i64>(),
        any::<i64>(),
        any::<i64>(),
        any::<(bool, bool, bool)>(),
        time(unit),
        time(unit),
        time(unit),
        time(unit),
    );
    let prevention = (
        any::<Option<i64>>(),
        proptest::option::of(dec()),
        proptest::option::of(dec()),
        any::<Option<i64>>(),
        any::<Option<i64>>(),
        proptest::option::of(string()),
        proptest::option::of(dec()),
        proptest::option::of(dec()),
        proptest::option::of(dec()),
    );
    let other = (
        any::<Option<u64>>(),
        proptest::option::of(time(unit)),
        any::<Option<i64>>(),
        any::<Option<i32>>(),
        proptest::option::of(select(MatchType::ALL)),
        any::<Option<i64>>(),
        proptest::option::of(select(WorkingFloor::ALL)),
        any::<Option<bool>>(),
        proptest::option::of(select(PegPriceType::ALL)),
        proptest::option::of(select(PegOffsetType::ALL)),
        any::<Option<u8>>(),
        proptest::option::of(dec()),
    );
    let expiry = proptest::option::of(select(ExpiryReason::ALL));
    (texts, enums, decimals, numbers, prevention, other, expiry).prop_map(
        |(
            (s, c, cc, r, n_asset),
            (side, o, f, x, xs, v_mode),
            (q, p, pp, ff, l, z, ll, n, zz, y, qq),
            numbers,
            prevention,
            other,
            expiry,
        )| {
            let (g, i, t, ii, (w, m, mm), e, tt, oo, ww) = numbers;
            let (v, a, b, u, uu, cs, pl, p_l, p_y) = prevention;
            let (d, dd, j, jj, match_type, alloc, k, us, gp_type, got, gov, gp) = other;
            ExecutionReport {
                event_time_us: e,
                symbol: s,
                client_order_id: c,
                side,
                order_type: o,
                time_in_force: f,
                quantity: q,
                price: p,
                stop_price: pp,
                iceberg_quantity: ff,
                order_list_id: g,
                orig_client_order_id: cc,
                execution_type: x,
                order_status: xs,
                reject_reason: r,
                order_id: i,
                last_executed_quantity: l,
                cumulative_filled_quantity: z,
                last_executed_price: ll,
                commission: n,
                commission_asset: n_asset,
                transaction_time_us: tt,
                trade_id: t,
                prevented_match_id: v,
                execution_id: ii,
                is_working: w,
                is_maker: m,
                is_best_match: mm,
                order_creation_time_us: oo,
                cumulative_quote_quantity: zz,
                last_quote_quantity: y,
                quote_order_quantity: qq,
                working_time_us: ww,
                self_trade_prevention_mode: v_mode,
                trailing_delta: d,
                trailing_time_us: dd,
                strategy_id: j,
                strategy_type: jj,
                prevented_quantity: a,
                last_prevented_quantity: b,
                trade_group_id: u,
                counter_order_id: uu,
                counter_symbol: cs,
                prevented_execution_quantity: pl,
                prevented_execution_price: p_l,
                prevented_execution_quote_quantity: p_y,
                match_type,
                allocation_id: alloc,
                working_floor: k,
                used_sor: us,
                peg_price_type: gp_type,
                peg_offset_type: got,
                peg_offset_value: gov,
                pegged_price: gp,
                expiry_reason: expiry,
            }
        },
    )
}

pub(crate) fn event(unit: TimeUnit) -> impl Strategy<Value = Event> {
    let balance = (string(), dec(), dec()).prop_map(|(asset, free, locked)| Balance {
        asset,
        free,
        locked,
    });
    let list_order =
        (string(), any::<i64>(), string()).prop_map(|(symbol, order_id, client_order_id)| {
            ListOrder {
                symbol,
                order_id,
                client_order_id,
            }
        });
    prop_oneof![
        execution_report(unit).prop_map(Event::from),
        (
            time(unit),
            time(unit),
            proptest::collection::vec(balance, 0..4)
        )
            .prop_map(|(e, u, balances)| {
                Event::from(OutboundAccountPosition {
                    event_time_us: e,
                    last_update_time_us: u,
                    balances,
                })
            }),
        (time(unit), string(), dec(), time(unit)).prop_map(|(e, asset, balance_delta, t)| {
            Event::from(BalanceUpdate {
                event_time_us: e,
                asset,
                balance_delta,
                clear_time_us: t,
            })
        }),
        (
            (
                time(unit),
                string(),
                any::<i64>(),
                string(),
                string(),
                time(unit)
            ),
            (
                select(ContingencyType::ALL),
                select(ListStatusType::ALL),
                select(ListOrderStatus::ALL)
            ),
            proptest::collection::vec(list_order, 0..4),
        )
            .prop_map(|((e, symbol, g, r, cc, t), (c, l, ll), orders)| {
                Event::from(ListStatus {
                    event_time_us: e,
                    symbol,
                    order_list_id: g,
                    contingency_type: c,
                    list_status_type: l,
                    list_order_status: ll,
                    reject_reason: r,
                    list_client_order_id: cc,
                    transaction_time_us: t,
                    orders,
                })
            }),
        time(unit).prop_map(|e| Event::from(EventStreamTerminated { event_time_us: e })),
        time(unit).prop_map(|e| Event::from(ServerShutdown { event_time_us: e })),
        (time(unit), dec(), code()).prop_map(|(e, margin_level, status)| {
            let status = MarginLevelStatus::parse(&status).unwrap();
            Event::from(MarginLevelStatusChange {
                event_time_us: e,
                margin_level,
                status,
            })
        }),
        (time(unit), string(), code(), dec(), dec()).prop_map(
            |(e, asset, t, principal, interest)| {
                let liability_type = LiabilityType::parse(&t).unwrap();
                Event::from(UserLiabilityChange {
                    event_time_us: e,
                    asset,
                    liability_type,
                    principal,
                    interest,
                })
            }
        ),
    ]
}
