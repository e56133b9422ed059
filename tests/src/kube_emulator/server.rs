//! The listener: HTTP/1.1 on an ephemeral loopback port, one task per connection, so the
//! client under test goes through its real connector, connection pool and HTTP stack. It
//! drives hyper directly rather than `axum::serve` because a fault must be able to close
//! one connection mid-request, which only the task owning the connection can do.

use std::net::SocketAddr;
use std::sync::Arc;

use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::routes::{Shared, router};

/// Lets a request handler close the connection it arrived on without answering.
#[derive(Debug, Clone)]
pub(crate) struct ConnectionKill(Arc<Notify>);

impl ConnectionKill {
    pub(crate) fn kill(&self) {
        self.0.notify_one();
    }
}

/// Binds 127.0.0.1 on a free port and serves until the returned task is aborted.
pub(crate) async fn serve(shared: Shared) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let app = router(shared);
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _peer)) = listener.accept().await else {
                // Out of file descriptors and the like: let the client see refusals.
                continue;
            };
            let kill = Arc::new(Notify::new());
            let service = TowerToHyperService::new(
                app.clone()
                    .layer(axum::Extension(ConnectionKill(Arc::clone(&kill)))),
            );
            tokio::spawn(async move {
                let connection =
                    http1::Builder::new().serve_connection(TokioIo::new(stream), service);
                tokio::select! {
                    // A broken connection is the client's business; nothing to report.
                    _ = connection => {}
                    () = kill.notified() => {}
                }
            });
        }
    });
    Ok((addr, task))
}
