//! `userstream accounts open-isolated|show|deposit`.

use crate::admin_client::AdminClient;
use crate::cli::AccountsCommand;
use crate::output::print_json;

pub async fn run(command: AccountsCommand) -> anyhow::Result<()> {
    let answer = match command {
        AccountsCommand::OpenIsolated(args) => {
            let symbol = args.symbol.trim().to_ascii_uppercase();
            AdminClient::new(&args.admin)?
                .open_isolated(args.uid, &symbol)
                .await?
        }
        AccountsCommand::Show(args) => {
            AdminClient::new(&args.admin)?
                .show_account(args.account.uid, args.account.isolated.as_deref())
                .await?
        }
        AccountsCommand::Deposit(args) => {
            AdminClient::new(&args.admin)?
                .deposit(
                    args.account.uid,
                    args.account.isolated.as_deref(),
                    &args.asset,
                    &args.amount,
                )
                .await?
        }
    };
    print_json(&answer)
}
