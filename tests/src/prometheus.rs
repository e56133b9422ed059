//! A real Prometheus for the end-to-end tests: Debian's `prometheus` binary started on a
//! free loopback port with a temporary configuration and data directory, scraping the
//! given targets every second.
//!
//! It can be stopped and started again on the same port and data directory, as a
//! Prometheus restarted by its operator would be, so tests can show what the agent does
//! while it is gone. Dropping the handle kills and reaps the process: no test leaves a
//! Prometheus behind, even when it panics.

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian's package installs the server; `PROMETHEUS_BIN` overrides it.
const DEFAULT_BIN: &str = "/usr/bin/prometheus";

/// Why the harness could not provide a running Prometheus.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// No binary where one was expected.
    #[error(
        "no Prometheus binary at {path}: install it with `apt-get install -y prometheus` \
         (CI does), or point PROMETHEUS_BIN at one"
    )]
    Missing {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// A file or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The process exited or never answered `/-/ready`.
    #[error("Prometheus at {url} did not become ready: {why}\n--- its log ---\n{log}")]
    NotReady {
        /// Its base URL.
        url: String,
        /// What was seen.
        why: String,
        /// The end of its log.
        log: String,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> HarnessError {
    let what = what.into();
    move |source| HarnessError::Io { what, source }
}

/// A running (or stopped) Prometheus.
#[derive(Debug)]
pub struct PrometheusServer {
    bin: PathBuf,
    dir: tempfile::TempDir,
    addr: SocketAddr,
    child: Option<Child>,
}

impl PrometheusServer {
    /// Starts Prometheus scraping `targets` (`host:port`, path `/metrics`) every second,
    /// and waits until it is ready.
    pub async fn start(targets: &[SocketAddr]) -> Result<Self, HarnessError> {
        let bin = std::env::var_os("PROMETHEUS_BIN")
            .map_or_else(|| PathBuf::from(DEFAULT_BIN), PathBuf::from);
        if !bin.is_file() {
            return Err(HarnessError::Missing { path: bin });
        }
        let dir = tempfile::Builder::new()
            .prefix("prometheus-")
            .tempdir()
            .map_err(io("create the data directory"))?;
        let targets: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
        // A 1 s interval needs a timeout no longer than it (the 10 s default is refused).
        // `honor_labels` keeps the exporters' own `namespace`/`pod` labels as they are.
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: workload\n    honor_labels: true\n    \
             static_configs:\n      - targets: [{}]\n",
            targets.join(", ")
        );
        std::fs::write(dir.path().join("prometheus.yml"), config)
            .map_err(io("write prometheus.yml"))?;
        let addr = free_loopback_port()?;
        let mut server = Self {
            bin,
            dir,
            addr,
            child: None,
        };
        server.spawn().await?;
        Ok(server)
    }

    /// Its base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Whether the process is running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(Child::try_wait), Some(Ok(None)))
    }

    /// Kills the process and waits for it; its port refuses connections afterwards.
    /// Stopping a stopped server does nothing.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Either may fail only because the process is already gone.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and data directory (stopping it first if it
    /// runs), and waits until it is ready. Samples from before the stop are still there.
    pub async fn restart(&mut self) -> Result<(), HarnessError> {
        self.stop();
        self.spawn().await
    }

    /// The end of its log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Evaluates `promql` now and returns the first sample's value, or `None` if the
    /// query fails or returns nothing. For waiting on conditions, not for assertions
    /// about the agent's reads (those go through `PrometheusSource`).
    pub async fn query_value(&self, promql: &str) -> Option<f64> {
        let body: serde_json::Value = http_client()
            .ok()?
            .get(format!("{}/api/v1/query", self.url()))
            .query(&[("query", promql)])
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let result = body.get("data")?.get("result")?;
        let value = result.get(0)?.get("value")?.get(1)?.as_str()?;
        value.parse().ok()
    }

    /// Waits until `promql` returns a value of at least `min`, or fails after `deadline`.
    pub async fn wait_for(
        &self,
        promql: &str,
        min: f64,
        deadline: Duration,
    ) -> Result<f64, HarnessError> {
        let until = Instant::now() + deadline;
        loop {
            let seen = self.query_value(promql).await;
            if let Some(v) = seen
                && v >= min
            {
                return Ok(v);
            }
            if Instant::now() > until {
                return Err(HarnessError::NotReady {
                    url: self.url(),
                    why: format!("`{promql}` was {seen:?} after {deadline:?}, wanted >= {min}"),
                    log: self.log_tail(),
                });
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("prometheus.log")
    }

    async fn spawn(&mut self) -> Result<(), HarnessError> {
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log_path())
            .map_err(io("open the Prometheus log"))?;
        let log_err = log.try_clone().map_err(io("open the Prometheus log"))?;
        let dir: &Path = self.dir.path();
        let child = Command::new(&self.bin)
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={}", self.addr))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(io(format!("start {}", self.bin.display())))?;
        self.child = Some(child);
        self.wait_ready(Duration::from_secs(60)).await
    }

    async fn wait_ready(&mut self, deadline: Duration) -> Result<(), HarnessError> {
        let client = http_client().map_err(|why| HarnessError::NotReady {
            url: self.url(),
            why,
            log: String::new(),
        })?;
        let url = format!("{}/-/ready", self.url());
        let until = Instant::now() + deadline;
        loop {
            if !self.is_running() {
                return Err(HarnessError::NotReady {
                    url: self.url(),
                    why: "the process exited".into(),
                    log: self.log_tail(),
                });
            }
            let ready = client
                .get(&url)
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return Ok(());
            }
            if Instant::now() > until {
                self.stop();
                return Err(HarnessError::NotReady {
                    url: self.url(),
                    why: format!("no 200 from /-/ready within {deadline:?}"),
                    log: self.log_tail(),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A plain HTTP client. reqwest is built without a TLS provider of its own
/// (`rustls-no-provider`, to keep aws-lc-rs out), so `reqwest::Client::new()` panics;
/// the agent's client carries *ring* explicitly.
fn http_client() -> Result<reqwest::Client, String> {
    edge_agent::metrics::https_client(Duration::from_secs(5))
}

/// A loopback address no one listens on now, for Prometheus (see [`crate::ports`]).
fn free_loopback_port() -> Result<SocketAddr, HarnessError> {
    crate::ports::free_loopback_addr().map_err(io("find a free port"))
}
