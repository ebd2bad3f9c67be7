//! `userstream fault`.

use crate::admin_client::AdminClient;
use crate::cli::FaultArgs;
use crate::output::print_json;
use userstream_server::faults::FaultRequest;

pub async fn run(args: FaultArgs) -> anyhow::Result<()> {
    let request = FaultRequest {
        kind: args.kind,
        uid: args.uid,
        isolated_symbol: args
            .isolated
            .map(|symbol| symbol.trim().to_ascii_uppercase()),
        session_id: args.session,
        duration_ms: args.duration_ms,
        count: args.count,
        status: args.status,
        code: args.code,
        msg: args.msg,
    };
    print_json(
        &AdminClient::new(&args.admin)?
            .inject_fault(&request)
            .await?,
    )
}
