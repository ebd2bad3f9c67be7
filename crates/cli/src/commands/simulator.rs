//! `userstream price` and `userstream order place|cancel|fill|list`: the simulator's controls.

use crate::admin_client::AdminClient;
use crate::cli::{AccountArgs, OrderCommand, OrderTarget, PriceArgs};
use crate::output::print_json;
use serde_json::{Map, Value, json};

pub async fn price(args: PriceArgs) -> anyhow::Result<()> {
    let answer = AdminClient::new(&args.admin)?
        .set_price(&args.symbol.to_ascii_uppercase(), &args.price)
        .await?;
    print_json(&answer)
}

pub async fn order(command: OrderCommand) -> anyhow::Result<()> {
    let answer = match command {
        OrderCommand::Place(args) => {
            let mut body = account_fields(&args.account);
            let fields = [
                ("symbol", Some(args.symbol.to_ascii_uppercase())),
                ("side", Some(args.side.to_ascii_uppercase())),
                ("type", Some(args.order_type.to_ascii_uppercase())),
                ("quantity", args.quantity),
                ("quoteOrderQty", args.quote_quantity),
                ("price", args.price),
                ("stopPrice", args.stop_price),
                (
                    "timeInForce",
                    args.time_in_force.map(|t| t.to_ascii_uppercase()),
                ),
                (
                    "sideEffectType",
                    args.side_effect.map(|e| e.to_ascii_uppercase()),
                ),
                ("newClientOrderId", args.client_order_id),
            ];
            for (name, value) in fields {
                if let Some(value) = value {
                    body.insert(name.into(), json!(value));
                }
            }
            AdminClient::new(&args.admin)?.place_order(&body).await?
        }
        OrderCommand::Cancel(args) => {
            AdminClient::new(&args.admin)?
                .cancel_order(&target_fields(&args.target))
                .await?
        }
        OrderCommand::Fill(args) => {
            let mut body = target_fields(&args.target);
            if let Some(price) = args.price {
                body.insert("price".into(), json!(price));
            }
            if let Some(quantity) = args.quantity {
                body.insert("quantity".into(), json!(quantity));
            }
            AdminClient::new(&args.admin)?.fill_order(&body).await?
        }
        OrderCommand::List(args) => {
            let symbol = args.symbol.map(|s| s.to_ascii_uppercase());
            AdminClient::new(&args.admin)?
                .list_orders(
                    args.account.uid,
                    args.account.isolated.as_deref(),
                    symbol.as_deref(),
                    args.all,
                )
                .await?
        }
    };
    print_json(&answer)
}

/// `uid` and, for an isolated pair, `isolatedSymbol`.
fn account_fields(account: &AccountArgs) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("uid".into(), json!(account.uid));
    if let Some(symbol) = &account.isolated {
        body.insert("isolatedSymbol".into(), json!(symbol.to_ascii_uppercase()));
    }
    body
}

fn target_fields(target: &OrderTarget) -> Map<String, Value> {
    let mut body = account_fields(&target.account);
    body.insert("symbol".into(), json!(target.symbol.to_ascii_uppercase()));
    if let Some(id) = target.order_id {
        body.insert("orderId".into(), json!(id));
    }
    if let Some(id) = &target.client_order_id {
        body.insert("origClientOrderId".into(), json!(id));
    }
    body
}
