//! Stream a margin account forever and print what happens.
//!
//! Against a local gateway (`cargo run --release -p userstream -- serve`, then
//! `userstream keys create --uid 1`):
//!
//! ```text
//! USERSTREAM_API_KEY=<apiKey> cargo run -p userstream-client --example margin_stream
//! ```
//!
//! Against Binance: set `USERSTREAM_BINANCE=1` and use a real API key.

use futures_util::StreamExt;
use userstream_client::{Item, Status, UserStream};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let api_key = std::env::var("USERSTREAM_API_KEY").map_err(|_| "set USERSTREAM_API_KEY")?;
    let mut builder = UserStream::builder().api_key(api_key).cross();
    builder = if std::env::var_os("USERSTREAM_BINANCE").is_some() {
        builder.binance()
    } else {
        builder.local("http://127.0.0.1:9443")?
    };
    let mut stream = builder.start()?;
    while let Some(item) = stream.next().await {
        match item {
            Item::Event(event) => println!("{} {:?}", event.account, event.event),
            Item::Status(Status::Gap(gap)) => {
                eprintln!(
                    "{}: events may be missing; reconcile over REST",
                    gap.account
                )
            }
            Item::Status(Status::Terminated(fatal)) => return Err(fatal.into()),
            Item::Status(status) => eprintln!("{status}"),
            _ => {}
        }
    }
    Ok(())
}
