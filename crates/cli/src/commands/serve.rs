//! `spotlight serve`: the web console over the store, on loopback unless told otherwise.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use spotlight_console::{
    serve_until, ConsoleState, Limits, Photos, Rerun, RerunError, RerunFuture, Rerunner, ThemesHome,
};
use spotlight_storage::SqliteStore;
use tokio::sync::OnceCell;

use crate::cli::ServeArgs;
use crate::commands::redrive::Outcome;
use crate::commands::run::{local_runner, LocalRunner};
use crate::commands::runner::Photo;
use crate::commands::{local, Exit};

/// The console's re-run button: the runner `spotlight run` uses, loaded on the first click
/// (the models take a few seconds and some hundred MiB, which a console that only shows
/// records never needs).
struct PipelineRerunner {
    store: Arc<SqliteStore>,
    offline: bool,
    runner: OnceCell<Arc<LocalRunner>>,
}

/// Shared with each re-run's future, which must own what it uses.
#[derive(Clone)]
struct SharedRerunner(Arc<PipelineRerunner>);

impl SharedRerunner {
    async fn runner(&self) -> anyhow::Result<Arc<LocalRunner>> {
        self.0
            .runner
            .get_or_try_init(|| async {
                let (store, offline) = (Arc::clone(&self.0.store), self.0.offline);
                tokio::task::spawn_blocking(move || local_runner(store, offline))
                    .await
                    .context("loading the pipeline stopped")?
            })
            .await
            .cloned()
    }

    async fn run(self, bucket: String, key: String) -> anyhow::Result<Rerun> {
        let path = spotlight_storage::resolve(&bucket, &key)
            .map_err(|e| anyhow::anyhow!("the photo is no longer there: {e}"))?;
        let runner = self.runner().await?;
        let result = runner.run_photo(&Photo { bucket, key, path }).await?;
        let status = result.status.map_or("FAILED", |s| s.as_str());
        let summary = match (&result.execution_id, &result.error) {
            (None, _) => format!(
                "Nothing ran: the file has not changed since it was {status}. Replace the \
                 file to run it again."
            ),
            (Some(_), Some(error)) => format!("{status}: {error}"),
            (Some(_), None) => status.to_owned(),
        };
        Ok(Rerun {
            execution_id: result.execution_id,
            summary,
        })
    }
}

impl Rerunner for SharedRerunner {
    fn rerun(&self, bucket: String, key: String) -> RerunFuture {
        let this = self.clone();
        Box::pin(async move {
            this.run(bucket, key)
                .await
                .map_err(|error| RerunError::new("the photo could not be run again", error))
        })
    }

    fn redrive(&self, id: String) -> RerunFuture {
        let this = self.clone();
        Box::pin(async move {
            let runner = this
                .runner()
                .await
                .map_err(|error| RerunError::new("the pipeline could not be loaded", error))?;
            match crate::commands::redrive::redrive(&runner, &id).await {
                Ok(Outcome::Redriven(redriven)) => Ok(Rerun {
                    execution_id: Some(redriven.execution.id.clone()),
                    summary: redriven.execution.status.as_str().to_owned(),
                }),
                Ok(Outcome::NotFound) => {
                    Err(RerunError::without_source(format!("no execution {id:?}")))
                }
                Ok(Outcome::Refused(message)) => Err(RerunError::without_source(message)),
                Err(error) => Err(RerunError::new("the redrive failed", error)),
            }
        })
    }
}

/// The default thumbnail cache: the user's cache folder, else the system's temporary one.
pub(crate) fn default_thumbnails() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    cache.join("spotlight").join("thumbnails")
}

/// Serves until Ctrl-C.
pub fn execute(args: ServeArgs, store: PathBuf) -> anyhow::Result<Exit> {
    // An existing store that cannot be written is still served, for reading.
    let store = if store.exists() {
        local::open_existing_store(&store)?
    } else {
        local::open_store(&store)?
    };
    let themes = local::load_themes(args.themes.as_deref(), Some(&store))?;
    let themes_home = match &args.themes {
        Some(path) => ThemesHome::File(path.clone()),
        None => ThemesHome::Store,
    };
    for folder in &args.photos {
        anyhow::ensure!(
            folder.is_dir(),
            "--photos {} is not a folder",
            folder.display()
        );
    }
    let token = match (args.token, args.bind.is_loopback()) {
        (Some(token), _) => {
            anyhow::ensure!(token.len() >= 16, "--token must be at least 16 characters");
            Some(token)
        }
        // Anyone on the network could read the records otherwise.
        (None, false) => Some(uuid::Uuid::new_v4().simple().to_string()),
        (None, true) => None,
    };
    let definition: serde_json::Value = serde_json::from_str(spotlight_pipeline::DEFINITION)
        .context("the shipped state machine is not JSON")?;
    let rerunner = SharedRerunner(Arc::new(PipelineRerunner {
        store: Arc::clone(&store),
        offline: args.offline,
        runner: OnceCell::new(),
    }));
    let photos = Photos::new(
        (!args.photos.is_empty()).then_some(args.photos),
        args.thumbnails.unwrap_or_else(default_thumbnails),
    );
    let limits = Limits::default();
    // The console's blocking work (SQLite, files, drawing) gets a bounded pool: tokio's
    // default of 512 threads would let a burst of requests start hundreds of them, all
    // waiting on the store's one connection.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(limits.blocking_threads)
        .build()
        .context("cannot start the async runtime")?;
    let state = ConsoleState::new(store, themes, token.clone())
        .with_limits(limits)
        .with_photos(photos)
        .with_themes_home(themes_home)
        .with_definition(definition)
        .with_rerunner(Arc::new(rerunner));
    let address = SocketAddr::new(args.bind, args.port);
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot listen on {address}"))?;
        let bound = listener.local_addr()?;
        if let Some(token) = &token {
            eprintln!(
                "access token: {token}\n  sign in a browser at http://{bound}/login?token={token}\n  \
                 or send `Authorization: Bearer <token>` from scripts"
            );
        }
        // Last, so that whoever waits for the address has read everything else by then.
        eprintln!("Spotlight console on http://{bound} (Ctrl-C to stop)");
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        serve_until(listener, state, shutdown)
            .await
            .context("the console stopped")
    })?;
    Ok(Exit::Success)
}
