//! `edge-agent run` as a separate process against the real Prometheus from Debian's
//! package (scraping a simulator-driven workload exporter) and the Kubernetes API emulator
//! (no real kube-apiserver can run on these machines; the emulator serves the same JSON
//! shapes over real HTTP). Each test starts its own Prometheus, exporter, emulator and
//! agent, and judges the agent by what the emulator saw written, what the agent exports on
//! `/metrics`, and what it logged.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::http::Method;
use common::policy::PodView;
use common::sim::SimConfig;
use common::traffic::ArrivalSeries;
use rl_autoscaler_tests::bin;
use rl_autoscaler_tests::kube_emulator::{EmulatorHandle, Fault, FaultRule};
use rl_autoscaler_tests::prometheus::PrometheusServer;
use rl_autoscaler_tests::workload_exporter::{Workload, WorkloadExporter};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const NS: &str = "shop";
const DEPLOYMENT: &str = "web";
const SCALE_PATH: &str = "/apis/apps/v1/namespaces/shop/deployments/web/scale";

/// An overloaded workload (600 req/s on 2 pods: every policy wants more), Prometheus
/// scraping it, and the emulator holding its Deployment with 2 long-ready pods.
struct Cluster {
    _exporter: WorkloadExporter,
    prometheus: PrometheusServer,
    emulator: EmulatorHandle,
    dir: tempfile::TempDir,
}

impl Cluster {
    async fn start() -> Self {
        let mut cfg = SimConfig::default();
        cfg.replicas.initial = Some(2);
        cfg.metrics.rate_window_s = 10;
        let arrivals = ArrivalSeries::new("overload", vec![600.0; 7200]);
        let mut workload = Workload::new(cfg, arrivals, 5, NS, DEPLOYMENT).expect("workload");
        workload.advance(60);
        let exporter = WorkloadExporter::start(workload, 1)
            .await
            .expect("exporter");
        let prometheus = PrometheusServer::start(&[exporter.addr()])
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        // Enough history for a 10 s rate().
        prometheus
            .wait_for(
                "count(container_cpu_usage_seconds_total)",
                1.0,
                Duration::from_secs(30),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        tokio::time::sleep(Duration::from_secs(3)).await;

        let emulator = EmulatorHandle::start().await.expect("emulator");
        emulator.add_deployment(NS, DEPLOYMENT, 2, &[("app", DEPLOYMENT)]);
        let hour_ago = unix_now() - 3_600;
        let pods = [PodView {
            created_at_s: 0,
            ready_at_s: Some(20),
        }; 2];
        emulator
            .set_pods_from_views(NS, DEPLOYMENT, &pods, hour_ago)
            .expect("pods");
        Self {
            _exporter: exporter,
            prometheus,
            emulator,
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// Writes the kubeconfig and `agent.toml` (with `extra` appended) and returns the
    /// config's path and the agent's /metrics address.
    fn write_config(&self, policy: &str, extra: &str) -> (PathBuf, String) {
        let kubeconfig = format!(
            "apiVersion: v1\nkind: Config\n\
             clusters:\n- name: emulator\n  cluster:\n    server: {url}\n\
             users:\n- name: agent\n  user:\n    token: not-checked\n\
             contexts:\n- name: emulator\n  context:\n    cluster: emulator\n    user: agent\n\
             current-context: emulator\n",
            url = self.emulator.url()
        );
        std::fs::write(self.dir.path().join("kubeconfig"), kubeconfig).expect("kubeconfig");
        let listen = free_local_addr();
        let config = format!(
            "interval_s = 0.5\n\
             [target]\nnamespace = \"{NS}\"\ndeployment = \"{DEPLOYMENT}\"\n\
             kubeconfig = \"kubeconfig\"\nrequest_timeout_s = 2.0\n\
             [prometheus]\nurl = \"{prom}\"\ntimeout_s = 2.0\nrate_window_s = 10\n\
             [policy]\nmodel = \"{policy}\"\n\
             [observability]\nlisten = \"{listen}\"\n\
             {extra}\n",
            prom = self.prometheus.url(),
        );
        let path = self.dir.path().join("agent.toml");
        std::fs::write(&path, config).expect("agent.toml");
        (path, listen)
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

fn free_local_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").to_string()
}

/// A running `edge-agent run`, its log going to a file.
struct Agent {
    child: Child,
    log: PathBuf,
    metrics_addr: String,
}

impl Agent {
    fn start(config: &Path, metrics_addr: String, log: PathBuf) -> Self {
        let stderr = std::fs::File::create(&log).expect("log file");
        let child = Command::new(bin("edge-agent"))
            .args(["run", "--log-format", "json", "--config"])
            .arg(config)
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start edge-agent run");
        Self {
            child,
            log,
            metrics_addr,
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The agent's /metrics text, or `None` while it is not serving yet.
    async fn metrics(&self) -> Option<String> {
        let mut s = tokio::net::TcpStream::connect(&self.metrics_addr)
            .await
            .ok()?;
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n")
            .await
            .ok()?;
        let mut body = String::new();
        s.read_to_string(&mut body).await.ok()?;
        Some(body)
    }

    /// The sum of every sample of `series` (all label sets; `series{` or `series `).
    async fn sample(&self, series: &str) -> f64 {
        let Some(text) = self.metrics().await else {
            return 0.0;
        };
        text.lines()
            .filter(|l| {
                l.strip_prefix(series)
                    .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// The value of exactly `series_with_labels`.
    async fn exact(&self, series_with_labels: &str) -> f64 {
        let text = self.metrics().await.unwrap_or_default();
        text.lines()
            .find_map(|l| l.strip_prefix(series_with_labels)?.strip_prefix(' '))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    }

    /// Waits until `series` sums to at least `min`.
    async fn wait_for(&self, series: &str, min: f64, deadline: Duration) -> f64 {
        let until = Instant::now() + deadline;
        loop {
            let v = self.sample(series).await;
            if v >= min {
                return v;
            }
            assert!(
                Instant::now() < until,
                "{series} stayed at {v} (< {min}) for {deadline:?}; agent log:\n{}",
                tail(&self.log_text())
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// SIGTERM, then the exit status (the agent finishes its step first).
    fn terminate(mut self) -> (std::process::ExitStatus, String) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(sent.success());
        let until = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                break s;
            }
            if Instant::now() > until {
                let _ = self.child.kill();
                panic!("agent ignored SIGTERM; log:\n{}", tail(&self.log_text()));
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        (status, self.log_text())
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// The JSON log events whose message is `message`.
fn events(log: &str, message: &str) -> Vec<serde_json::Value> {
    log.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["fields"]["message"] == message)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shadow_mode_decides_and_records_but_writes_nothing() {
    let cluster = Cluster::start().await;
    let (config, listen) = cluster.write_config("hpa", "[safety]\nshadow_mode = true\n");
    let agent = Agent::start(&config, listen, cluster.dir.path().join("agent.log"));
    // The overloaded workload makes the HPA rule ask for more pods; shadow mode withholds
    // every one of those writes and says so.
    agent
        .wait_for(
            "rl_agent_fallback_total{reason=\"shadow\"}",
            3.0,
            Duration::from_secs(90),
        )
        .await;
    let decisions = agent.sample("rl_agent_decisions_total").await;
    let (status, log) = agent.terminate();
    assert!(status.success(), "exit {status}; log:\n{}", tail(&log));
    assert_eq!(
        cluster.emulator.writes(),
        0,
        "shadow mode wrote to the API; log:\n{}",
        tail(&log)
    );
    assert!(
        cluster.emulator.requests() > 0,
        "the agent never read the API"
    );
    assert_eq!(cluster.emulator.spec_replicas(NS, DEPLOYMENT), Some(2));
    let stopped = events(&log, "control loop stopped");
    assert_eq!(stopped.len(), 1, "{}", tail(&log));
    assert!(stopped[0]["fields"]["decisions"].as_u64().unwrap_or(0) as f64 >= decisions);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_agent_still_has_the_experience_it_collected() {
    let cluster = Cluster::start().await;
    let (config, listen) = cluster.write_config("hpa", "");
    let agent = Agent::start(
        &config,
        listen.clone(),
        cluster.dir.path().join("first.log"),
    );
    agent
        .wait_for("rl_agent_decisions_total", 4.0, Duration::from_secs(90))
        .await;
    let (status, log) = agent.terminate();
    assert!(status.success(), "exit {status}; log:\n{}", tail(&log));
    let stopped = events(&log, "control loop stopped");
    let recorded = stopped[0]["fields"]["transitions"]
        .as_u64()
        .expect("transitions");
    assert!(recorded >= 4, "{}", tail(&log));

    let agent = Agent::start(&config, listen, cluster.dir.path().join("second.log"));
    agent
        .wait_for("rl_agent_decisions_total", 1.0, Duration::from_secs(60))
        .await;
    let (status, log) = agent.terminate();
    assert!(status.success(), "exit {status}; log:\n{}", tail(&log));
    let opened = events(&log, "experience log open");
    assert_eq!(
        opened[0]["fields"]["transitions"].as_u64(),
        Some(recorded),
        "{}",
        tail(&log)
    );
    let stopped = events(&log, "control loop stopped");
    assert!(stopped[0]["fields"]["transitions"].as_u64().unwrap_or(0) > recorded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forbidden_scale_opens_the_breaker_names_the_permission_and_does_not_hammer() {
    let cluster = Cluster::start().await;
    cluster.emulator.inject(FaultRule::always(
        Method::PATCH,
        SCALE_PATH,
        Fault::Forbidden,
    ));
    // Three failures open the breaker for 4 s; with 0.5 s intervals a tight retry would
    // be a write every interval.
    let (config, listen) = cluster.write_config(
        "hpa",
        "[safety]\nscale_up_cooldown_s = 0\n[safety.breaker]\nfailure_threshold = 3\nopen_duration_s = 4\n",
    );
    let agent = Agent::start(&config, listen, cluster.dir.path().join("agent.log"));
    agent
        .wait_for(
            "rl_agent_fallback_total{reason=\"circuit_open\"}",
            1.0,
            Duration::from_secs(90),
        )
        .await;
    assert_eq!(
        agent
            .exact("rl_agent_circuit_open{breaker=\"actuator\"}")
            .await,
        1.0
    );
    // Watch 10 s (20 intervals) of an open-then-probing breaker.
    let before = cluster.emulator.writes_to(SCALE_PATH);
    let decisions_before = agent.sample("rl_agent_decisions_total").await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let attempts = cluster.emulator.writes_to(SCALE_PATH) - before;
    let decisions = agent.sample("rl_agent_decisions_total").await - decisions_before;
    let (status, log) = agent.terminate();
    assert!(status.success(), "exit {status}; log:\n{}", tail(&log));
    assert!(
        decisions >= 10.0,
        "the loop stalled: {decisions} decisions in 10 s"
    );
    // One probe per 4 s open period (plus one at an edge), not one per interval.
    assert!(
        attempts <= 4,
        "{attempts} scale writes in 10 s with the breaker open; log:\n{}",
        tail(&log)
    );
    assert!(
        log.contains(r#"may not \"patch\" \"deployments/scale\""#),
        "the log does not name the missing permission:\n{}",
        tail(&log)
    );
    assert_eq!(cluster.emulator.spec_replicas(NS, DEPLOYMENT), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_down_hands_over_to_the_hpa_rule_and_back() {
    let mut cluster = Cluster::start().await;
    let (config, listen) = cluster.write_config(
        "dqn",
        "[safety]\nmin_confidence = 0.0\n[safety.breaker]\nopen_duration_s = 2\n",
    );
    let agent = Agent::start(&config, listen, cluster.dir.path().join("agent.log"));
    agent
        .wait_for("rl_agent_decisions_total", 3.0, Duration::from_secs(90))
        .await;
    let missing_before = agent
        .exact("rl_agent_fallback_total{reason=\"metrics_missing\"}")
        .await;

    cluster.prometheus.stop();
    agent
        .wait_for(
            "rl_agent_fallback_total{reason=\"metrics_missing\"}",
            missing_before + 4.0,
            Duration::from_secs(60),
        )
        .await;
    assert!(agent.sample("rl_agent_metrics_errors_total").await >= 4.0);

    cluster
        .prometheus
        .restart()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // Back on the policy: a stretch of decisions with no new missing-metrics fallback.
    let until = Instant::now() + Duration::from_secs(90);
    loop {
        let missing = agent
            .exact("rl_agent_fallback_total{reason=\"metrics_missing\"}")
            .await;
        let decisions = agent.sample("rl_agent_decisions_total").await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        let missing_after = agent
            .exact("rl_agent_fallback_total{reason=\"metrics_missing\"}")
            .await;
        let decisions_after = agent.sample("rl_agent_decisions_total").await;
        if decisions_after >= decisions + 4.0 && missing_after == missing {
            break;
        }
        assert!(
            Instant::now() < until,
            "still falling back 90 s after Prometheus came back; log:\n{}",
            tail(&agent.log_text())
        );
    }
    let (status, log) = agent.terminate();
    assert!(status.success(), "exit {status}; log:\n{}", tail(&log));
    let why: Vec<_> = log
        .lines()
        .filter(|l| l.contains("metrics unavailable; the HPA rule decides"))
        .collect();
    assert!(
        why.iter().any(|l| l.contains("query for")),
        "the fallback log does not say which query failed:\n{}",
        tail(&log)
    );
}
