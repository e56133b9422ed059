//! The agent's HTTP endpoint: `/metrics` (OpenMetrics text), `/healthz` and `/readyz`.
//! A thin axum shell over [`AgentMetrics`] and [`Health`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;

use super::health::{Health, Probe};
use super::metrics::AgentMetrics;

/// What the handlers read.
#[derive(Debug, Clone)]
pub(crate) struct Observed {
    pub(crate) metrics: Arc<AgentMetrics>,
    pub(crate) health: Arc<Health>,
}

/// The router, separate from binding so tests can serve it on any listener.
pub(crate) fn router(observed: Observed) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(observed)
}

/// Serves the endpoint on `listener` until `shutdown` resolves.
pub(crate) async fn serve(
    listener: TcpListener,
    observed: Observed,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(observed))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Binds the endpoint's address, saying which one failed.
pub(crate) async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen for /metrics on {addr}: {e}"))
}

async fn metrics(State(o): State<Observed>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        o.metrics.encode(),
    )
}

fn unix_now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn probe_response(p: Probe) -> (StatusCode, String) {
    let status = if p.ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, p.detail + "\n")
}

async fn healthz(State(o): State<Observed>) -> impl IntoResponse {
    probe_response(o.health.liveness(unix_now_s()))
}

async fn readyz(State(o): State<Observed>) -> impl IntoResponse {
    probe_response(o.health.readiness())
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use super::*;

    /// A plain HTTP/1.1 GET, as a kubelet probe or a Prometheus scrape sends it.
    async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let req = format!("GET {path} HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).await.unwrap();
        let status = resp[9..12].parse().unwrap();
        (status, resp)
    }

    #[tokio::test]
    async fn serves_metrics_and_probes_over_http() {
        let observed = Observed {
            metrics: Arc::new(AgentMetrics::new()),
            health: Arc::new(Health::new(unix_now_s(), 3_600)),
        };
        observed.metrics.scaled(4);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, observed.clone(), async {
            let _ = stopped.await;
        }));

        let (status, body) = get(addr, "/metrics").await;
        assert_eq!(status, 200);
        assert!(body.contains("application/openmetrics-text"), "{body}");
        assert!(body.contains("\nrl_agent_replicas 4\n"), "{body}");

        let (status, body) = get(addr, "/readyz").await;
        assert_eq!(status, 503);
        assert!(body.contains("no control step has finished yet"), "{body}");
        assert_eq!(get(addr, "/healthz").await.0, 200);

        observed.health.step_finished(unix_now_s());
        assert_eq!(get(addr, "/readyz").await.0, 200);
        assert_eq!(get(addr, "/nope").await.0, 404);

        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
    }
}
