//! `spotlight serve`: the web console over the store, on loopback unless told otherwise.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use spotlight_console::{serve_until, ConsoleState};

use crate::cli::ServeArgs;
use crate::commands::{local, Exit};

/// Serves until Ctrl-C.
pub fn execute(args: ServeArgs, store: PathBuf) -> anyhow::Result<Exit> {
    let store = local::open_store(&store)?;
    let themes = local::load_themes(args.themes.as_deref())?;
    let token = match (args.token, args.bind.is_loopback()) {
        (Some(token), _) => {
            anyhow::ensure!(token.len() >= 16, "--token must be at least 16 characters");
            Some(token)
        }
        // Anyone on the network could read the records otherwise.
        (None, false) => {
            let token = uuid::Uuid::new_v4().simple().to_string();
            eprintln!("access token (send it as `Authorization: Bearer <token>`): {token}");
            Some(token)
        }
        (None, true) => None,
    };
    let address = SocketAddr::new(args.bind, args.port);
    local::runtime()?.block_on(async move {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot listen on {address}"))?;
        eprintln!(
            "Spotlight console on http://{} (Ctrl-C to stop)",
            listener.local_addr()?
        );
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        serve_until(listener, ConsoleState::new(store, themes, token), shutdown)
            .await
            .context("the console stopped")
    })?;
    Ok(Exit::Success)
}
