//! `userstream fault`.

use crate::admin_client::AdminClient;
use crate::cli::FaultArgs;
use crate::output::print_json;
use serde_json::{Map, Value, json};

pub async fn run(args: FaultArgs) -> anyhow::Result<()> {
    print_json(
        &AdminClient::new(&args.admin)?
            .inject_fault(&request_body(&args))
            .await?,
    )
}

/// The admin API body: `kind` plus only the options that were given.
fn request_body(args: &FaultArgs) -> Value {
    let mut body = Map::new();
    body.insert("kind".into(), json!(args.kind.api_name()));
    let options = [
        ("uid", args.uid.map(Value::from)),
        (
            "isolatedSymbol",
            args.isolated
                .as_ref()
                .map(|s| json!(s.trim().to_ascii_uppercase())),
        ),
        ("sessionId", args.session.map(Value::from)),
        ("durationMs", args.duration_ms.map(Value::from)),
        ("count", args.count.map(Value::from)),
        ("status", args.status.map(Value::from)),
        ("code", args.code.map(Value::from)),
        ("msg", args.msg.as_ref().map(|m| json!(m))),
    ];
    for (name, value) in options {
        if let Some(value) = value {
            body.insert(name.into(), value);
        }
    }
    Value::Object(body)
}
