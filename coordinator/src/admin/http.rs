//! The admin port's HTTP server: `/metrics` (OpenMetrics text), `/healthz` and `/readyz`,
//! a thin axum shell over [`CoordinatorMetrics`](super::metrics::CoordinatorMetrics) and
//! [`Health`](super::health::Health). Plain HTTP: it carries no secrets, and the kubelet
//! and Prometheus reach it inside the cluster.

use std::net::SocketAddr;
use std::time::Instant;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;

use super::Observed;
use super::error::AdminError;
use super::health::Probe;

/// The router, separate from binding so tests can serve it on any listener.
fn router(observed: Observed) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(observed)
}

/// Binds the admin address; done before the coordinator starts, so a taken port fails
/// the start instead of leaving a coordinator nobody can probe.
pub(crate) async fn bind(addr: SocketAddr) -> Result<TcpListener, AdminError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| AdminError::Bind { addr, source })
}

/// Serves the admin port on `listener` until `shutdown` resolves.
pub(crate) async fn serve(
    listener: TcpListener,
    observed: Observed,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), AdminError> {
    let addr = listener
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    axum::serve(listener, router(observed))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|source| AdminError::Serve { addr, source })
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

fn probe_response(p: Probe) -> (StatusCode, String) {
    let status = if p.ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, p.detail + "\n")
}

async fn healthz(State(o): State<Observed>) -> impl IntoResponse {
    probe_response(o.health.liveness(Instant::now()))
}

async fn readyz(State(o): State<Observed>) -> impl IntoResponse {
    probe_response(o.health.readiness())
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::admin::health::{Health, Task};

    /// A plain HTTP/1.1 GET, as a kubelet probe or a Prometheus scrape sends it; returns
    /// the status and the whole response.
    async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
        let path = path.to_owned();
        tokio::task::spawn_blocking(move || {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            let req = format!("GET {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n");
            s.write_all(req.as_bytes()).unwrap();
            let mut resp = String::new();
            s.read_to_string(&mut resp).unwrap();
            (resp[9..12].parse().unwrap(), resp)
        })
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn serves_metrics_and_probes_over_http() {
        let observed = Observed {
            health: Arc::new(Health::new(Instant::now(), Duration::from_secs(3_600))),
            ..Observed::default()
        };
        observed.metrics.set_model_version(5);
        let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, observed.clone(), async {
            let _ = stopped.await;
        }));

        let (status, body) = get(addr, "/metrics").await;
        assert_eq!(status, 200);
        assert!(body.contains("application/openmetrics-text"), "{body}");
        assert!(
            body.contains("\nrl_coordinator_model_version 5\n"),
            "{body}"
        );

        let (status, body) = get(addr, "/readyz").await;
        assert_eq!(status, 503);
        assert!(body.contains("starting"), "{body}");
        assert_eq!(get(addr, "/healthz").await.0, 200);
        observed.health.listening();
        assert_eq!(get(addr, "/readyz").await.0, 200);

        observed.health.task_ended(Task::Engine, true);
        let (status, body) = get(addr, "/healthz").await;
        assert_eq!(status, 503);
        assert!(
            body.ends_with("\r\n\r\nthe round engine task panicked\n"),
            "{body}"
        );
        assert_eq!(get(addr, "/readyz").await.0, 503);
        assert_eq!(get(addr, "/nope").await.0, 404);

        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_taken_port_is_refused_with_the_address() {
        let taken = bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
        let addr = taken.local_addr().unwrap();
        let err = bind(addr).await.unwrap_err().to_string();
        assert!(err.contains(&addr.to_string()), "{err}");
        assert!(err.contains("[admin] listen"), "{err}");
    }
}
