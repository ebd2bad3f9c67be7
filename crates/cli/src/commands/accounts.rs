//! `userstream accounts open-isolated`.

use crate::admin_client::AdminClient;
use crate::cli::AccountsCommand;
use crate::output::print_json;

pub async fn run(command: AccountsCommand) -> anyhow::Result<()> {
    match command {
        AccountsCommand::OpenIsolated(args) => {
            let symbol = args.symbol.trim().to_ascii_uppercase();
            let answer = AdminClient::new(&args.admin)?
                .open_isolated(args.uid, &symbol)
                .await?;
            print_json(&answer)
        }
    }
}
