//! A simulated workload served as Prometheus metrics over HTTP on loopback, so a real
//! Prometheus can scrape it and the agent's real queries can be tested end to end.
//!
//! A driver task advances the simulator `seconds_per_second` simulated seconds per real
//! second (0 leaves the stepping to the test, through [`WorkloadHandle::advance`]).
//!
//! **Time compression and `rate()`.** Prometheus stamps samples with its own (real)
//! clock, so with compression K every counter grows K times faster per real second:
//! `rate()` over a window of W real seconds returns K × the simulated per-second rate and
//! covers K·W simulated seconds. Ratios of two rates (error ratio, `histogram_quantile`)
//! are unaffected, and CPU counters are published in real CPU-seconds (see
//! [`Workload::set_time_compression`]) so CPU utilisation is too; request rates must be
//! divided by K, and the simulator's own rate window should be K·W to compare. Tests that
//! compare absolute rates run at K = 1.

mod collector;
mod workload;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::registry::Registry;
use tokio::task::JoinHandle;

pub use workload::{PodSeries, Workload, WorkloadState, bucket_bounds};

use collector::WorkloadCollector;

/// A shared handle on the running workload: what a harness (or, later, the Kubernetes
/// API emulator) uses to scale it and read it.
#[derive(Debug, Clone)]
pub struct WorkloadHandle(Arc<Mutex<Workload>>);

impl WorkloadHandle {
    fn lock(&self) -> std::sync::MutexGuard<'_, Workload> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets the Deployment's replicas; returns what the simulator applied (clamped).
    pub fn set_replicas(&self, replicas: u32) -> u32 {
        self.lock().set_replicas(replicas)
    }

    /// Advances the simulator by `seconds` simulated seconds now.
    pub fn advance(&self, seconds: u64) {
        self.lock().advance(seconds);
    }

    /// The workload's state now.
    pub fn state(&self) -> WorkloadState {
        self.lock().state()
    }

    /// Runs `f` on the workload under its lock, for anything [`WorkloadState`] lacks.
    pub fn with<T>(&self, f: impl FnOnce(&Workload) -> T) -> T {
        f(&self.lock())
    }
}

/// The exporter: an HTTP server on `127.0.0.1` serving `/metrics`, and its driver.
/// Both tasks stop when it is dropped.
#[derive(Debug)]
pub struct WorkloadExporter {
    addr: SocketAddr,
    handle: WorkloadHandle,
    server: JoinHandle<()>,
    driver: Option<JoinHandle<()>>,
}

impl WorkloadExporter {
    /// Serves `workload` on an ephemeral loopback port, advancing it
    /// `seconds_per_second` simulated seconds per real second.
    pub async fn start(mut workload: Workload, seconds_per_second: u64) -> std::io::Result<Self> {
        workload.set_time_compression(seconds_per_second);
        let shared = Arc::new(Mutex::new(workload));
        let mut registry = Registry::default();
        registry.register_collector(Box::new(WorkloadCollector(Arc::clone(&shared))));
        let registry = Arc::new(registry);
        let app = Router::new().route(
            "/metrics",
            get(move || {
                let registry = Arc::clone(&registry);
                async move {
                    let mut body = String::new();
                    match prometheus_text::encode(&mut body, &registry) {
                        Ok(()) => (
                            axum::http::StatusCode::OK,
                            [(CONTENT_TYPE, prometheus_text::CONTENT_TYPE)],
                            body,
                        ),
                        Err(_) => (
                            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                            [(CONTENT_TYPE, "text/plain")],
                            "encoding the metrics failed".to_owned(),
                        ),
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            // The server only ends when the task is aborted; an accept error ends the
            // test's scrapes, which its assertions then report.
            let _ = axum::serve(listener, app).await;
        });
        let handle = WorkloadHandle(shared);
        let driver = (seconds_per_second > 0).then(|| {
            let handle = handle.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    handle.advance(seconds_per_second);
                }
            })
        });
        Ok(Self {
            addr,
            handle,
            server,
            driver,
        })
    }

    /// Where Prometheus should scrape (`http://{addr}/metrics`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The shared workload.
    pub fn handle(&self) -> WorkloadHandle {
        self.handle.clone()
    }
}

impl Drop for WorkloadExporter {
    fn drop(&mut self) {
        self.server.abort();
        if let Some(d) = &self.driver {
            d.abort();
        }
    }
}
