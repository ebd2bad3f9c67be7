//! User data stream events in SBE: 601, 602, 603, 606, 607 and 610, each a bare message (header
//! and body, no envelope) with its own optional `subscriptionId`; events the schema version cannot
//! carry go out as 999 `NonRepresentableMessage`.
//!
//! An event is encoded once per schema version for every subscriber: [`SbeEvent`] remembers where
//! `subscriptionId` sits so each subscriber's copy only has those two bytes changed.
//!
//! Where the JSON and SBE shapes differ, we follow the schema's JSON notes:
//! - sentinels: `g`, `t` of -1 and `O`, `W` below zero are SBE nulls; `r` of `NONE`, `C` of ""
//!   and a missing `N`/`Cs` are empty strings; and back.
//! - fields SBE always carries but JSON only sometimes: a missing `b`/`k` is the enum's
//!   `NON_REPRESENTABLE`, a missing `uS` is `False`, a missing `A` is 0; decoding maps those back
//!   to missing, as Binance's JSON shows them.
//! - decimals sharing an exponent (`priceExponent`, `qtyExponent`, one per balance) take the
//!   finest scale among them; a value written with fewer fraction digits comes back padded with
//!   zeros (the same number). Binance writes every price of a symbol with the same scale, so its
//!   events come back byte for byte.

use super::layout::{
    self, balance_update_event as bu, event_stream_terminated_event as est,
    execution_report_event as er, list_status_event as ls, non_representable_message as nr,
    outbound_account_position_event as oap, server_shutdown_event as ss,
};
use super::wire::{Decoder, Encoder, HEADER_LEN, MAX_PREALLOCATED, SbeError, View};
use crate::decimal::Decimal;
use crate::events::{
    Balance, BalanceUpdate, ContingencyType, Event, EventStreamTerminated, ExecutionReport,
    ExecutionType, ExpiryReason, ListOrder, ListOrderStatus, ListStatus, ListStatusType, MatchType,
    OrderStatus, OrderType, OutboundAccountPosition, PegOffsetType, PegPriceType,
    SelfTradePreventionMode, ServerShutdown, Side, TimeInForce, WorkingFloor,
};

/// The code every enum of the schema uses for "a value this version cannot name".
const NON_REPRESENTABLE: u8 = 254;
/// `O`/`W` of an order without one: -1 ms, which is how the JSON side stores the sentinel.
const NO_TIME_US: i64 = -1000;

/// One event encoded for SBE subscribers of one schema version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SbeEvent {
    /// The whole binary frame, with `subscriptionId` null.
    pub bytes: Vec<u8>,
    /// Where `subscriptionId` sits in `bytes`, when the message and version have it.
    pub subscription_at: Option<usize>,
}

impl SbeEvent {
    /// A subscriber's copy of the frame, carrying its `subscriptionId`.
    pub fn for_subscription(&self, subscription_id: u16) -> Vec<u8> {
        let mut bytes = self.bytes.clone();
        if let Some(at) = self.subscription_at {
            write_subscription_id(&mut bytes, at, subscription_id);
        }
        bytes
    }
}

/// Writes `subscription_id` at byte `at` of an encoded event (where [`SbeEvent::subscription_at`]
/// says); a frame too short for it is left as it is.
pub fn write_subscription_id(frame: &mut [u8], at: usize, subscription_id: u16) {
    if let Some(slot) = frame.get_mut(at..at.saturating_add(2)) {
        slot.copy_from_slice(&subscription_id.to_le_bytes());
    }
}

/// A bare `NonRepresentableMessage` (999) at `version`: what an event a version cannot carry
/// becomes.
pub fn non_representable(version: u16) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(HEADER_LEN);
    Encoder {
        out: &mut bytes,
        version,
    }
    .message(nr::TEMPLATE_ID, nr::BLOCK);
    bytes
}

/// What a binary event frame held.
// Nearly every frame is an event: boxing it would cost an allocation per frame.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum DecodedEvent {
    /// An event, with the subscription it belongs to (absent before version 1 and on
    /// `serverShutdown`).
    Event {
        subscription_id: Option<u16>,
        event: Event,
    },
    /// 999: an event this schema version cannot carry; a newer version would.
    NonRepresentable,
}

/// Encodes `event` as the bare SBE message of schema `version`.
pub fn encode_event(event: &Event, version: u16) -> Result<SbeEvent, SbeError> {
    let mut bytes = Vec::with_capacity(160);
    let mut e = Encoder {
        out: &mut bytes,
        version,
    };
    let subscription = match event {
        Event::BalanceUpdate(event) if exists(bu::SINCE_VERSION, version) => {
            Some(balance_update(&mut e, event)?)
        }
        Event::EventStreamTerminated(event) if exists(est::SINCE_VERSION, version) => {
            let block = e.message(est::TEMPLATE_ID, est::BLOCK);
            e.put(block, est::EVENT_TIME, event.event_time_us);
            e.put_opt(block, est::SUBSCRIPTION_ID, None);
            Some(est::SUBSCRIPTION_ID)
        }
        Event::ExecutionReport(event) if exists(er::SINCE_VERSION, version) => {
            Some(execution_report(&mut e, event)?)
        }
        Event::ListStatus(event) if exists(ls::SINCE_VERSION, version) => {
            Some(list_status(&mut e, event)?)
        }
        Event::OutboundAccountPosition(event) if exists(oap::SINCE_VERSION, version) => {
            Some(account_position(&mut e, event)?)
        }
        Event::ServerShutdown(event) if exists(ss::SINCE_VERSION, version) => {
            let block = e.message(ss::TEMPLATE_ID, ss::BLOCK);
            e.put(block, ss::EVENT_TIME, event.event_time_us);
            None
        }
        _ => {
            bytes = non_representable(version);
            None
        }
    };
    // Every event's block follows its header at the start of the frame.
    let subscription_at = subscription
        .filter(|field| field.since <= version)
        .map(|field| HEADER_LEN + field.offset);
    Ok(SbeEvent {
        bytes,
        subscription_at,
    })
}

/// Whether a message added in schema version `since` exists in `version`.
fn exists(since: u16, version: u16) -> bool {
    since <= version
}

/// Where a message keeps its `subscriptionId`.
type SubscriptionSlot = layout::Field<u16>;

/// The shared exponent of a set of decimals and each one's mantissa at it: the finest scale
/// among them, so no digit is lost.
fn scaled<const N: usize>(
    name: &'static str,
    values: [Option<&Decimal>; N],
) -> Result<(i8, [Option<i64>; N]), SbeError> {
    let mut parts = [None; N];
    let mut exponent = 0i8;
    for (slot, value) in parts.iter_mut().zip(values) {
        if let Some(value) = value {
            let (mantissa, own) = value
                .mantissa_exponent()
                .ok_or(SbeError::NotRepresentable(name))?;
            exponent = exponent.min(own);
            *slot = Some((mantissa, own));
        }
    }
    let mut mantissas = [None; N];
    for (out, part) in mantissas.iter_mut().zip(parts) {
        if let Some((mantissa, own)) = part {
            let shift = u32::from(own.abs_diff(exponent));
            let scaled = 10i64
                .checked_pow(shift)
                .and_then(|factor| mantissa.checked_mul(factor))
                .filter(|scaled| *scaled != i64::MIN)
                .ok_or(SbeError::NotRepresentable(name))?;
            *out = Some(scaled);
        }
    }
    Ok((exponent, mantissas))
}

fn balance_update(
    e: &mut Encoder<'_>,
    event: &BalanceUpdate,
) -> Result<SubscriptionSlot, SbeError> {
    let (exponent, [delta]) = scaled("d", [Some(&event.balance_delta)])?;
    let block = e.message(bu::TEMPLATE_ID, bu::BLOCK);
    e.put(block, bu::EVENT_TIME, event.event_time_us);
    e.put_opt(block, bu::CLEAR_TIME, Some(event.clear_time_us));
    e.put(block, bu::QTY_EXPONENT, exponent);
    e.put(block, bu::FREE_QTY_DELTA, delta.unwrap_or(0));
    e.put_opt(block, bu::SUBSCRIPTION_ID, None);
    e.data("asset", bu::ASSET, event.asset.as_bytes())?;
    Ok(bu::SUBSCRIPTION_ID)
}

fn account_position(
    e: &mut Encoder<'_>,
    event: &OutboundAccountPosition,
) -> Result<SubscriptionSlot, SbeError> {
    let block = e.message(oap::TEMPLATE_ID, oap::BLOCK);
    e.put(block, oap::EVENT_TIME, event.event_time_us);
    e.put(block, oap::UPDATE_TIME, event.last_update_time_us);
    e.put_opt(block, oap::SUBSCRIPTION_ID, None);
    let entry_len = e.group(
        oap::balances::DIMENSION,
        oap::balances::BLOCK,
        event.balances.len(),
    )?;
    for balance in &event.balances {
        let (exponent, [free, locked]) = scaled("B", [Some(&balance.free), Some(&balance.locked)])?;
        let entry = e.reserve(entry_len);
        e.put(entry, oap::balances::EXPONENT, exponent);
        e.put(entry, oap::balances::FREE, free.unwrap_or(0));
        e.put(entry, oap::balances::LOCKED, locked.unwrap_or(0));
        e.data("asset", oap::balances::ASSET, balance.asset.as_bytes())?;
    }
    Ok(oap::SUBSCRIPTION_ID)
}

fn list_status(e: &mut Encoder<'_>, event: &ListStatus) -> Result<SubscriptionSlot, SbeError> {
    let block = e.message(ls::TEMPLATE_ID, ls::BLOCK);
    e.put(block, ls::EVENT_TIME, event.event_time_us);
    e.put(block, ls::TRANSACT_TIME, event.transaction_time_us);
    e.put(block, ls::ORDER_LIST_ID, event.order_list_id);
    e.put(
        block,
        ls::CONTINGENCY_TYPE,
        event.contingency_type.sbe_value(),
    );
    e.put(
        block,
        ls::LIST_STATUS_TYPE,
        event.list_status_type.sbe_value(),
    );
    e.put(
        block,
        ls::LIST_ORDER_STATUS,
        event.list_order_status.sbe_value(),
    );
    e.put_opt(block, ls::SUBSCRIPTION_ID, None);
    let entry_len = e.group(ls::orders::DIMENSION, ls::orders::BLOCK, event.orders.len())?;
    for order in &event.orders {
        let entry = e.reserve(entry_len);
        e.put(entry, ls::orders::ORDER_ID, order.order_id);
        e.data("O.s", ls::orders::SYMBOL, order.symbol.as_bytes())?;
        e.data(
            "O.c",
            ls::orders::CLIENT_ORDER_ID,
            order.client_order_id.as_bytes(),
        )?;
    }
    e.data("s", ls::SYMBOL, event.symbol.as_bytes())?;
    e.data(
        "C",
        ls::LIST_CLIENT_ORDER_ID,
        event.list_client_order_id.as_bytes(),
    )?;
    e.data("r", ls::REJECT_REASON, none_as_empty(&event.reject_reason))?;
    Ok(ls::SUBSCRIPTION_ID)
}

/// `r`'s JSON default `NONE` is SBE's empty string.
fn none_as_empty(reason: &str) -> &[u8] {
    if reason == "NONE" {
        b""
    } else {
        reason.as_bytes()
    }
}

fn execution_report(
    e: &mut Encoder<'_>,
    r: &ExecutionReport,
) -> Result<SubscriptionSlot, SbeError> {
    let (
        price_exponent,
        [
            price,
            quote_order_qty,
            stop,
            cumulative_quote,
            last_price,
            last_quote,
            prevented_price,
            prevented_quote,
            pegged,
        ],
    ) = scaled(
        "price",
        [
            Some(&r.price),
            Some(&r.quote_order_quantity),
            Some(&r.stop_price),
            Some(&r.cumulative_quote_quantity),
            Some(&r.last_executed_price),
            Some(&r.last_quote_quantity),
            r.prevented_execution_price.as_ref(),
            r.prevented_execution_quote_quantity.as_ref(),
            r.pegged_price.as_ref(),
        ],
    )?;
    let (
        qty_exponent,
        [
            qty,
            iceberg,
            executed,
            last_qty,
            prevented,
            last_prevented,
            prevented_exec,
        ],
    ) = scaled(
        "quantity",
        [
            Some(&r.quantity),
            Some(&r.iceberg_quantity),
            Some(&r.cumulative_filled_quantity),
            Some(&r.last_executed_quantity),
            r.prevented_quantity.as_ref(),
            r.last_prevented_quantity.as_ref(),
            r.prevented_execution_quantity.as_ref(),
        ],
    )?;
    let (commission_exponent, [commission]) = scaled("n", [Some(&r.commission)])?;

    let b = e.message(er::TEMPLATE_ID, er::BLOCK);
    e.put(b, er::EVENT_TIME, r.event_time_us);
    e.put(b, er::TRANSACT_TIME, r.transaction_time_us);
    e.put(b, er::PRICE_EXPONENT, price_exponent);
    e.put(b, er::QTY_EXPONENT, qty_exponent);
    e.put(b, er::COMMISSION_EXPONENT, commission_exponent);
    e.put_opt(
        b,
        er::ORDER_CREATION_TIME,
        time_or_null(r.order_creation_time_us),
    );
    e.put_opt(b, er::WORKING_TIME, time_or_null(r.working_time_us));
    e.put(b, er::ORDER_ID, r.order_id);
    e.put_opt(b, er::ORDER_LIST_ID, id_or_null(r.order_list_id));
    e.put(b, er::ORIG_QTY, qty.unwrap_or(0));
    e.put(b, er::PRICE, price.unwrap_or(0));
    e.put(b, er::ORIG_QUOTE_ORDER_QTY, quote_order_qty.unwrap_or(0));
    e.put(b, er::ICEBERG_QTY, iceberg.unwrap_or(0));
    e.put(b, er::STOP_PRICE, stop.unwrap_or(0));
    e.put(b, er::ORDER_TYPE, r.order_type.sbe_value());
    e.put(b, er::SIDE, r.side.sbe_value());
    e.put(b, er::TIME_IN_FORCE, r.time_in_force.sbe_value());
    e.put(b, er::EXECUTION_TYPE, r.execution_type.sbe_value());
    e.put(b, er::ORDER_STATUS, r.order_status.sbe_value());
    e.put_opt(b, er::TRADE_ID, id_or_null(r.trade_id));
    e.put(b, er::EXECUTION_ID, r.execution_id);
    e.put(b, er::EXECUTED_QTY, executed.unwrap_or(0));
    e.put(b, er::CUMMULATIVE_QUOTE_QTY, cumulative_quote.unwrap_or(0));
    e.put(b, er::LAST_QTY, last_qty.unwrap_or(0));
    e.put(b, er::LAST_PRICE, last_price.unwrap_or(0));
    e.put(b, er::QUOTE_QTY, last_quote.unwrap_or(0));
    e.put(b, er::COMMISSION, commission.unwrap_or(0));
    e.put(b, er::IS_WORKING, u8::from(r.is_working));
    e.put(b, er::IS_MAKER, u8::from(r.is_maker));
    e.put(b, er::IS_BEST_MATCH, u8::from(r.is_best_match));
    e.put(
        b,
        er::MATCH_TYPE,
        r.match_type.map_or(NON_REPRESENTABLE, MatchType::sbe_value),
    );
    e.put(
        b,
        er::SELF_TRADE_PREVENTION_MODE,
        r.self_trade_prevention_mode.sbe_value(),
    );
    // The JSON stream has no order capacity.
    e.put(b, er::ORDER_CAPACITY, NON_REPRESENTABLE);
    e.put(
        b,
        er::WORKING_FLOOR,
        r.working_floor
            .map_or(NON_REPRESENTABLE, WorkingFloor::sbe_value),
    );
    e.put(b, er::USED_SOR, u8::from(r.used_sor == Some(true)));
    e.put_opt(b, er::ALLOC_ID, r.allocation_id);
    e.put_opt(b, er::TRAILING_DELTA, r.trailing_delta);
    e.put_opt(b, er::TRAILING_TIME, r.trailing_time_us);
    e.put_opt(b, er::TRADE_GROUP_ID, r.trade_group_id);
    e.put(b, er::PREVENTED_QTY, prevented.unwrap_or(0));
    e.put_opt(b, er::LAST_PREVENTED_QTY, last_prevented);
    e.put_opt(b, er::PREVENTED_MATCH_ID, r.prevented_match_id);
    e.put_opt(b, er::PREVENTED_EXECUTION_QTY, prevented_exec);
    e.put_opt(b, er::PREVENTED_EXECUTION_PRICE, prevented_price);
    e.put_opt(b, er::PREVENTED_EXECUTION_QUOTE_QTY, prevented_quote);
    e.put_opt(b, er::STRATEGY_TYPE, r.strategy_type);
    e.put_opt(b, er::STRATEGY_ID, r.strategy_id);
    e.put_opt(b, er::COUNTER_ORDER_ID, r.counter_order_id);
    e.put_opt(b, er::SUBSCRIPTION_ID, None);
    e.put_opt(
        b,
        er::PEG_PRICE_TYPE,
        r.peg_price_type.map(PegPriceType::sbe_value),
    );
    e.put_opt(
        b,
        er::PEG_OFFSET_TYPE,
        r.peg_offset_type.map(PegOffsetType::sbe_value),
    );
    e.put_opt(b, er::PEG_OFFSET_VALUE, r.peg_offset_value);
    e.put_opt(b, er::PEGGED_PRICE, pegged);
    e.put_opt(
        b,
        er::EXPIRY_REASON,
        r.expiry_reason.map(ExpiryReason::sbe_value),
    );
    e.data("s", er::SYMBOL, r.symbol.as_bytes())?;
    e.data("c", er::CLIENT_ORDER_ID, r.client_order_id.as_bytes())?;
    e.data(
        "C",
        er::ORIG_CLIENT_ORDER_ID,
        r.orig_client_order_id.as_bytes(),
    )?;
    e.data(
        "N",
        er::COMMISSION_ASSET,
        r.commission_asset.as_deref().unwrap_or("").as_bytes(),
    )?;
    e.data("r", er::REJECT_REASON, none_as_empty(&r.reject_reason))?;
    e.data(
        "Cs",
        er::COUNTER_SYMBOL,
        r.counter_symbol.as_deref().unwrap_or("").as_bytes(),
    )?;
    Ok(er::SUBSCRIPTION_ID)
}

/// `g`/`t` of -1 mean "none": SBE null.
fn id_or_null(id: i64) -> Option<i64> {
    (id != -1).then_some(id)
}

/// `O`/`W` below zero mean "none": SBE null.
fn time_or_null(micros: i64) -> Option<i64> {
    (micros >= 0).then_some(micros)
}

/// Where `subscriptionId` sits in an event frame, by its header: `None` when the message or its
/// version has no such field, or the bytes are not an event header.
pub fn subscription_offset(frame: &[u8]) -> Option<usize> {
    let mut d = Decoder::new(frame);
    let header = d.header().ok()?;
    let field = match header.template_id {
        bu::TEMPLATE_ID => bu::SUBSCRIPTION_ID,
        est::TEMPLATE_ID => est::SUBSCRIPTION_ID,
        er::TEMPLATE_ID => er::SUBSCRIPTION_ID,
        ls::TEMPLATE_ID => ls::SUBSCRIPTION_ID,
        oap::TEMPLATE_ID => oap::SUBSCRIPTION_ID,
        _ => return None,
    };
    (field.since <= header.version && field.offset + 2 <= usize::from(header.block_length))
        .then_some(HEADER_LEN + field.offset)
}

/// Decodes one binary event frame (header and message).
pub fn decode_event(bytes: &[u8]) -> Result<DecodedEvent, SbeError> {
    let mut d = Decoder::new(bytes);
    let header = d.header()?;
    let block = d.block("block", usize::from(header.block_length))?;
    let (subscription_id, event) = match header.template_id {
        nr::TEMPLATE_ID => return Ok(DecodedEvent::NonRepresentable),
        bu::TEMPLATE_ID => (
            block.opt(bu::SUBSCRIPTION_ID),
            Event::BalanceUpdate(BalanceUpdate {
                event_time_us: block.req(bu::EVENT_TIME, "eventTime")?,
                clear_time_us: block.opt(bu::CLEAR_TIME).unwrap_or(0),
                balance_delta: decimal(
                    &block,
                    bu::FREE_QTY_DELTA,
                    block.req(bu::QTY_EXPONENT, "qtyExponent")?,
                    "freeQtyDelta",
                )?,
                asset: d.text("asset", bu::ASSET)?.to_owned(),
            }),
        ),
        est::TEMPLATE_ID => (
            block.opt(est::SUBSCRIPTION_ID),
            Event::EventStreamTerminated(EventStreamTerminated {
                event_time_us: block.req(est::EVENT_TIME, "eventTime")?,
            }),
        ),
        ss::TEMPLATE_ID => (
            None,
            Event::ServerShutdown(ServerShutdown {
                event_time_us: block.req(ss::EVENT_TIME, "eventTime")?,
            }),
        ),
        oap::TEMPLATE_ID => (
            block.opt(oap::SUBSCRIPTION_ID),
            decode_account_position(&block, &mut d)?,
        ),
        ls::TEMPLATE_ID => (
            block.opt(ls::SUBSCRIPTION_ID),
            decode_list_status(&block, &mut d)?,
        ),
        er::TEMPLATE_ID => (
            block.opt(er::SUBSCRIPTION_ID),
            decode_execution_report(&block, &mut d)?,
        ),
        other => return Err(SbeError::UnknownTemplate(other)),
    };
    Ok(DecodedEvent::Event {
        subscription_id,
        event,
    })
}

/// A mandatory mantissa at `exponent`.
fn decimal(
    block: &View<'_>,
    field: layout::Field<i64>,
    exponent: i8,
    name: &'static str,
) -> Result<Decimal, SbeError> {
    Ok(Decimal::from_mantissa_exponent(
        block.req(field, name)?,
        exponent,
    ))
}

/// An optional mantissa at `exponent`.
fn opt_decimal(block: &View<'_>, field: layout::Field<i64>, exponent: i8) -> Option<Decimal> {
    block
        .opt(field)
        .map(|mantissa| Decimal::from_mantissa_exponent(mantissa, exponent))
}

/// A mandatory enum.
fn enum_value<T>(
    block: &View<'_>,
    field: layout::Field<u8>,
    name: &'static str,
    from: fn(u8) -> Option<T>,
) -> Result<T, SbeError> {
    let code = block.req(field, name)?;
    from(code).ok_or(SbeError::UnknownEnum { field: name, code })
}

/// An enum that JSON only sometimes carries: absent, null and `NON_REPRESENTABLE` are `None`.
fn opt_enum<T>(
    block: &View<'_>,
    field: layout::Field<u8>,
    name: &'static str,
    from: fn(u8) -> Option<T>,
) -> Result<Option<T>, SbeError> {
    match block.opt(field) {
        None | Some(NON_REPRESENTABLE) => Ok(None),
        Some(code) => from(code)
            .map(Some)
            .ok_or(SbeError::UnknownEnum { field: name, code }),
    }
}

fn text_or_none(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_owned())
}

fn empty_as_none(text: &str) -> String {
    if text.is_empty() {
        "NONE".to_owned()
    } else {
        text.to_owned()
    }
}

fn decode_account_position(block: &View<'_>, d: &mut Decoder<'_>) -> Result<Event, SbeError> {
    let (entry_len, count) = d.group("balances", oap::balances::DIMENSION)?;
    let mut balances = Vec::with_capacity(count.min(MAX_PREALLOCATED));
    for _ in 0..count {
        let entry = d.block("balances entry", entry_len)?;
        let exponent = entry.req(oap::balances::EXPONENT, "exponent")?;
        balances.push(Balance {
            free: decimal(&entry, oap::balances::FREE, exponent, "free")?,
            locked: decimal(&entry, oap::balances::LOCKED, exponent, "locked")?,
            asset: d.text("asset", oap::balances::ASSET)?.to_owned(),
        });
    }
    Ok(Event::OutboundAccountPosition(OutboundAccountPosition {
        event_time_us: block.req(oap::EVENT_TIME, "eventTime")?,
        last_update_time_us: block.req(oap::UPDATE_TIME, "updateTime")?,
        balances,
    }))
}

fn decode_list_status(block: &View<'_>, d: &mut Decoder<'_>) -> Result<Event, SbeError> {
    let (entry_len, count) = d.group("orders", ls::orders::DIMENSION)?;
    let mut orders = Vec::with_capacity(count.min(MAX_PREALLOCATED));
    for _ in 0..count {
        let entry = d.block("orders entry", entry_len)?;
        let order_id = entry.req(ls::orders::ORDER_ID, "orderId")?;
        orders.push(ListOrder {
            order_id,
            symbol: d.text("orders.symbol", ls::orders::SYMBOL)?.to_owned(),
            client_order_id: d
                .text("orders.clientOrderId", ls::orders::CLIENT_ORDER_ID)?
                .to_owned(),
        });
    }
    Ok(Event::ListStatus(ListStatus {
        event_time_us: block.req(ls::EVENT_TIME, "eventTime")?,
        transaction_time_us: block.req(ls::TRANSACT_TIME, "transactTime")?,
        order_list_id: block.req(ls::ORDER_LIST_ID, "orderListId")?,
        contingency_type: enum_value(
            block,
            ls::CONTINGENCY_TYPE,
            "contingencyType",
            ContingencyType::from_sbe_value,
        )?,
        list_status_type: enum_value(
            block,
            ls::LIST_STATUS_TYPE,
            "listStatusType",
            ListStatusType::from_sbe_value,
        )?,
        list_order_status: enum_value(
            block,
            ls::LIST_ORDER_STATUS,
            "listOrderStatus",
            ListOrderStatus::from_sbe_value,
        )?,
        orders,
        symbol: d.text("symbol", ls::SYMBOL)?.to_owned(),
        list_client_order_id: d
            .text("listClientOrderId", ls::LIST_CLIENT_ORDER_ID)?
            .to_owned(),
        reject_reason: empty_as_none(d.text("rejectReason", ls::REJECT_REASON)?),
    }))
}

fn decode_execution_report(b: &View<'_>, d: &mut Decoder<'_>) -> Result<Event, SbeError> {
    let price_exponent = b.req(er::PRICE_EXPONENT, "priceExponent")?;
    let qty_exponent = b.req(er::QTY_EXPONENT, "qtyExponent")?;
    let commission_exponent = b.req(er::COMMISSION_EXPONENT, "commissionExponent")?;
    let price = |field, name| decimal(b, field, price_exponent, name);
    let qty = |field, name| decimal(b, field, qty_exponent, name);
    let prevented = b
        .opt(er::PREVENTED_QTY)
        .filter(|mantissa| *mantissa != 0)
        .map(|mantissa| Decimal::from_mantissa_exponent(mantissa, qty_exponent));
    let report = ExecutionReport {
        event_time_us: b.req(er::EVENT_TIME, "eventTime")?,
        transaction_time_us: b.req(er::TRANSACT_TIME, "transactTime")?,
        order_creation_time_us: b.opt(er::ORDER_CREATION_TIME).unwrap_or(NO_TIME_US),
        working_time_us: b.opt(er::WORKING_TIME).unwrap_or(NO_TIME_US),
        order_id: b.req(er::ORDER_ID, "orderId")?,
        order_list_id: b.opt(er::ORDER_LIST_ID).unwrap_or(-1),
        quantity: qty(er::ORIG_QTY, "origQty")?,
        price: price(er::PRICE, "price")?,
        quote_order_quantity: price(er::ORIG_QUOTE_ORDER_QTY, "origQuoteOrderQty")?,
        iceberg_quantity: qty(er::ICEBERG_QTY, "icebergQty")?,
        stop_price: price(er::STOP_PRICE, "stopPrice")?,
        order_type: enum_value(b, er::ORDER_TYPE, "orderType", OrderType::from_sbe_value)?,
        side: enum_value(b, er::SIDE, "side", Side::from_sbe_value)?,
        time_in_force: enum_value(
            b,
            er::TIME_IN_FORCE,
            "timeInForce",
            TimeInForce::from_sbe_value,
        )?,
        execution_type: enum_value(
            b,
            er::EXECUTION_TYPE,
            "executionType",
            ExecutionType::from_sbe_value,
        )?,
        order_status: enum_value(
            b,
            er::ORDER_STATUS,
            "orderStatus",
            OrderStatus::from_sbe_value,
        )?,
        trade_id: b.opt(er::TRADE_ID).unwrap_or(-1),
        execution_id: b.req(er::EXECUTION_ID, "executionId")?,
        cumulative_filled_quantity: qty(er::EXECUTED_QTY, "executedQty")?,
        cumulative_quote_quantity: price(er::CUMMULATIVE_QUOTE_QTY, "cummulativeQuoteQty")?,
        last_executed_quantity: qty(er::LAST_QTY, "lastQty")?,
        last_executed_price: price(er::LAST_PRICE, "lastPrice")?,
        last_quote_quantity: price(er::QUOTE_QTY, "quoteQty")?,
        commission: decimal(b, er::COMMISSION, commission_exponent, "commission")?,
        is_working: b.req(er::IS_WORKING, "isWorking")? == 1,
        is_maker: b.req(er::IS_MAKER, "isMaker")? == 1,
        is_best_match: b.req(er::IS_BEST_MATCH, "isBestMatch")? == 1,
        match_type: opt_enum(b, er::MATCH_TYPE, "matchType", MatchType::from_sbe_value)?,
        self_trade_prevention_mode: enum_value(
            b,
            er::SELF_TRADE_PREVENTION_MODE,
            "selfTradePreventionMode",
            SelfTradePreventionMode::from_sbe_value,
        )?,
        working_floor: opt_enum(
            b,
            er::WORKING_FLOOR,
            "workingFloor",
            WorkingFloor::from_sbe_value,
        )?,
        used_sor: (b.opt(er::USED_SOR) == Some(1)).then_some(true),
        allocation_id: b.opt(er::ALLOC_ID),
        trailing_delta: b.opt(er::TRAILING_DELTA),
        trailing_time_us: b.opt(er::TRAILING_TIME),
        trade_group_id: b.opt(er::TRADE_GROUP_ID),
        prevented_quantity: prevented,
        last_prevented_quantity: opt_decimal(b, er::LAST_PREVENTED_QTY, qty_exponent),
        prevented_match_id: b.opt(er::PREVENTED_MATCH_ID),
        prevented_execution_quantity: opt_decimal(b, er::PREVENTED_EXECUTION_QTY, qty_exponent),
        prevented_execution_price: opt_decimal(b, er::PREVENTED_EXECUTION_PRICE, price_exponent),
        prevented_execution_quote_quantity: opt_decimal(
            b,
            er::PREVENTED_EXECUTION_QUOTE_QTY,
            price_exponent,
        ),
        strategy_type: b.opt(er::STRATEGY_TYPE),
        strategy_id: b.opt(er::STRATEGY_ID),
        counter_order_id: b.opt(er::COUNTER_ORDER_ID),
        peg_price_type: opt_enum(
            b,
            er::PEG_PRICE_TYPE,
            "pegPriceType",
            PegPriceType::from_sbe_value,
        )?,
        peg_offset_type: opt_enum(
            b,
            er::PEG_OFFSET_TYPE,
            "pegOffsetType",
            PegOffsetType::from_sbe_value,
        )?,
        peg_offset_value: b.opt(er::PEG_OFFSET_VALUE),
        pegged_price: opt_decimal(b, er::PEGGED_PRICE, price_exponent),
        expiry_reason: opt_enum(
            b,
            er::EXPIRY_REASON,
            "expiryReason",
            ExpiryReason::from_sbe_value,
        )?,
        symbol: d.text("symbol", er::SYMBOL)?.to_owned(),
        client_order_id: d.text("clientOrderId", er::CLIENT_ORDER_ID)?.to_owned(),
        orig_client_order_id: d
            .text("origClientOrderId", er::ORIG_CLIENT_ORDER_ID)?
            .to_owned(),
        commission_asset: text_or_none(d.text("commissionAsset", er::COMMISSION_ASSET)?),
        reject_reason: empty_as_none(d.text("rejectReason", er::REJECT_REASON)?),
        counter_symbol: text_or_none(d.text("counterSymbol", er::COUNTER_SYMBOL)?),
    };
    Ok(Event::ExecutionReport(report))
}
