//! `userstream keys create | list | revoke | rotate | signing`.

use crate::admin_client::AdminClient;
use crate::cli::KeysCommand;
use crate::output::print_json;

pub async fn run(command: KeysCommand) -> anyhow::Result<()> {
    let answer = match command {
        KeysCommand::Create(args) => {
            // The server upper-cases symbols too; doing it here keeps the request readable in
            // the gateway's logs and errors.
            let symbols: Vec<String> = args
                .isolated
                .iter()
                .map(|symbol| symbol.trim().to_ascii_uppercase())
                .collect();
            AdminClient::new(&args.admin)?
                .create_key(args.uid, args.label.as_deref(), &symbols)
                .await?
        }
        KeysCommand::List(args) => AdminClient::new(&args.admin)?.list_keys().await?,
        KeysCommand::Revoke(args) => {
            AdminClient::new(&args.admin)?
                .revoke_key(args.api_key.trim())
                .await?
        }
        KeysCommand::Rotate(args) => {
            AdminClient::new(&args.admin)?
                .rotate_signing_key(args.activate_in_ms)
                .await?
        }
        KeysCommand::Signing(args) => AdminClient::new(&args.admin)?.list_signing_keys().await?,
    };
    print_json(&answer)
}
