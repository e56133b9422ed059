//! `coordinator serve`: the federation server, configured by one TOML file, with its
//! admin port (metrics and probes) beside it.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::admin::{self, Observed};
use crate::config::ServeConfig;
use crate::server::Coordinator;

/// Options of `coordinator serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The configuration file (TOML). `coordinator default-config` prints every key with
    /// its default; relative paths in it are relative to the file.
    #[arg(long, value_name = "FILE", env = "COORDINATOR_CONFIG")]
    config: PathBuf,
}

pub(crate) fn run(args: &ServeArgs) -> anyhow::Result<()> {
    let config = ServeConfig::load(&args.config)
        .with_context(|| format!("invalid configuration {}", args.config.display()))?;
    let (ca, identity) = config.credentials()?;
    let options = config.options()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        // The admin port comes up first, so the probes answer (alive, not ready) while the
        // registry opens, and a taken port fails before anything else is touched.
        let observed = Observed::default();
        let admin_listener = admin::bind(config.admin.listen).await?;
        let admin_addr = admin_listener
            .local_addr()
            .context("cannot read the admin port's address")?;
        let (stop_admin, admin_stopped) = tokio::sync::oneshot::channel::<()>();
        let admin_server = tokio::spawn(admin::serve(admin_listener, observed.clone(), async {
            let _ = admin_stopped.await;
        }));

        let handle = Coordinator::start_observed(options, &ca, &identity, observed).await?;
        // One write for both lines: a supervisor that reads only the first and then closes
        // the pipe must not make a second write fail and stop the coordinator.
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(
            format!(
                "listening on {}\nadmin listening on {admin_addr}\n",
                handle.local_addr()
            )
            .as_bytes(),
        )?;
        stdout.flush()?;
        drop(stdout);
        tracing::info!(%admin_addr, "serving /metrics, /healthz and /readyz");
        tokio::select! {
            signal = stop_signal() => {
                signal?;
                tracing::info!("stop requested; shutting down");
            }
            () = handle.finished() => tracing::info!("ran rounds.max_rounds rounds; shutting down"),
        }
        handle.shutdown().await;
        let _ = stop_admin.send(());
        admin_server
            .await
            .context("the admin port's task failed")??;
        Ok(())
    })
}

/// Ctrl-C, or SIGTERM (what Kubernetes sends before killing a pod).
async fn stop_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("cannot watch for SIGTERM")?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.context("cannot watch for Ctrl-C"),
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c()
            .await
            .context("cannot watch for Ctrl-C")
    }
}
