//! `edge-agent run` as a separate process against the real Prometheus from Debian's
//! package (scraping a simulator-driven workload exporter) and the Kubernetes API emulator
//! (no real kube-apiserver can run on these machines; the emulator serves the same JSON
//! shapes over real HTTP). Each test starts its own Prometheus, exporter, emulator and
//! agent, and judges the agent by what the emulator saw written, what the agent exports on
//! `/metrics`, and what it logged.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::http::Method;
use common::sim::SimConfig;
use common::traffic::ArrivalSeries;
use rl_autoscaler_tests::cluster_world::{
    AgentProcess, AgentSettings, ClusterWorld, free_loopback_addr,
};
use rl_autoscaler_tests::kube_emulator::{Fault, FaultRule};
use rl_autoscaler_tests::prometheus::PrometheusServer;
use rl_autoscaler_tests::workload_exporter::Workload;

const NS: &str = "shop";
const DEPLOYMENT: &str = "web";
const SCALE_PATH: &str = "/apis/apps/v1/namespaces/shop/deployments/web/scale";

/// An overloaded workload (600 req/s on 2 pods: every policy wants more) kept in step with
/// the emulator's Deployment, and Prometheus scraping it.
struct Cluster {
    world: ClusterWorld,
    prometheus: PrometheusServer,
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
        let world = ClusterWorld::start(workload, 1).await.expect("world");
        let prometheus = PrometheusServer::start(&[world.exporter_addr()])
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        // A full 10 s `rate()` window before the agent starts, so its first reads already
        // return every entry.
        prometheus
            .wait_for(
                "count_over_time(container_memory_working_set_bytes[10s])",
                10.0,
                Duration::from_secs(60),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        Self {
            world,
            prometheus,
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// Settings for `policy` against this cluster: the agent's defaults, except a 0.5 s
    /// interval and an HPA rule that trusts the (minute-old) pods' CPU at once.
    fn settings(&self, policy: &str) -> AgentSettings {
        AgentSettings {
            cpu_initialization_period_s: 5,
            ..AgentSettings::new(
                policy,
                self.prometheus.url(),
                free_loopback_addr().expect("a free port"),
            )
        }
    }

    /// Writes into the agent's experience directory the three hours an agent running the
    /// HPA rule recorded before this one started, ending a minute ago: an hourly wave
    /// between 50 and 550 req/s. Returns the Unix second now.
    fn record_three_hours(&self) -> u64 {
        let now = rl_autoscaler_tests::cluster_world::unix_now_f64() as u64;
        let rates: Vec<f32> = (0..3 * 3600u64)
            .map(|t| (300.0 + 250.0 * (t as f64 / 3600.0 * std::f64::consts::TAU).sin()) as f32)
            .collect();
        edge_agent::write_simulated_recording(
            &self.dir.path().join("experience"),
            &SimConfig::default(),
            rates,
            7,
            now - 3 * 3600 - 60,
        )
        .expect("write the recording");
        now
    }

    fn spawn(&self, settings: &AgentSettings) -> AgentProcess {
        AgentProcess::spawn(&self.world, settings, self.dir.path()).expect("agent")
    }
}

/// The sum of every sample of `series` (all label sets).
fn sum(metrics: &HashMap<String, f64>, series: &str) -> f64 {
    metrics
        .iter()
        .filter(|(k, _)| {
            k.strip_prefix(series)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('{'))
        })
        .map(|(_, v)| v)
        .sum()
}

/// `series` summed over its label sets, 0 while the agent is not serving yet.
async fn sample(agent: &AgentProcess, series: &str) -> f64 {
    agent.metrics().await.map_or(0.0, |m| sum(&m, series))
}

/// Waits until `series` sums to at least `min`.
async fn wait_for(agent: &mut AgentProcess, series: &str, min: f64, deadline: Duration) -> f64 {
    let until = Instant::now() + deadline;
    loop {
        let v = sample(agent, series).await;
        if v >= min {
            return v;
        }
        if let Some(status) = agent.exited() {
            panic!("the agent exited ({status}); log:\n{}", agent.log_tail(30));
        }
        assert!(
            Instant::now() < until,
            "{series} stayed at {v} (< {min}) for {deadline:?}; agent log:\n{}",
            agent.log_tail(30)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// SIGTERM; asserts a clean exit and returns the whole log.
async fn terminate(mut agent: AgentProcess) -> String {
    match agent.terminate(Duration::from_secs(20)).await {
        Ok(status) => assert!(
            status.success(),
            "exit {status}; log:\n{}",
            agent.log_tail(30)
        ),
        Err(e) => panic!("{e}; log:\n{}", agent.log_tail(30)),
    }
    agent.log()
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
    let emulator = cluster.world.emulator();
    let mut agent = cluster.spawn(&AgentSettings {
        shadow_mode: true,
        ..cluster.settings("hpa")
    });
    // The overloaded workload makes the HPA rule ask for more pods; shadow mode withholds
    // every one of those writes and says so.
    let shadowed = "rl_agent_fallback_total{reason=\"shadow\"}";
    wait_for(&mut agent, shadowed, 3.0, Duration::from_secs(90)).await;
    let decisions = sample(&agent, "rl_agent_decisions_total").await;
    let log = terminate(agent).await;
    assert_eq!(
        emulator.writes(),
        0,
        "shadow mode wrote to the API; log:\n{log}"
    );
    assert!(emulator.requests() > 0, "the agent never read the API");
    assert_eq!(emulator.spec_replicas(NS, DEPLOYMENT), Some(2));
    let stopped = events(&log, "control loop stopped");
    assert_eq!(stopped.len(), 1, "{log}");
    assert!(stopped[0]["fields"]["decisions"].as_u64().unwrap_or(0) as f64 >= decisions);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_agent_still_has_the_experience_it_collected() {
    let cluster = Cluster::start().await;
    let settings = cluster.settings("hpa");
    let mut agent = cluster.spawn(&settings);
    wait_for(
        &mut agent,
        "rl_agent_decisions_total",
        4.0,
        Duration::from_secs(90),
    )
    .await;
    let log = terminate(agent).await;
    let stopped = events(&log, "control loop stopped");
    let recorded = stopped[0]["fields"]["transitions"]
        .as_u64()
        .expect("transitions");
    assert!(recorded >= 4, "{log}");

    let mut agent = cluster.spawn(&settings);
    wait_for(
        &mut agent,
        "rl_agent_decisions_total",
        1.0,
        Duration::from_secs(60),
    )
    .await;
    let log = terminate(agent).await;
    let opened = events(&log, "experience log open");
    assert_eq!(
        opened[0]["fields"]["transitions"].as_u64(),
        Some(recorded),
        "{log}"
    );
    let stopped = events(&log, "control loop stopped");
    assert!(stopped[0]["fields"]["transitions"].as_u64().unwrap_or(0) > recorded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forbidden_scale_opens_the_breaker_names_the_permission_and_does_not_hammer() {
    let cluster = Cluster::start().await;
    let emulator = cluster.world.emulator();
    emulator.inject(FaultRule::always(
        Method::PATCH,
        SCALE_PATH,
        Fault::Forbidden,
    ));
    // Three failures open the breaker for 4 s; with 0.5 s intervals a tight retry would
    // be a write every interval.
    let mut agent = cluster.spawn(&AgentSettings {
        scale_up_cooldown_s: 0,
        breaker: (3, 4),
        ..cluster.settings("hpa")
    });
    let open = "rl_agent_fallback_total{reason=\"circuit_open\"}";
    wait_for(&mut agent, open, 1.0, Duration::from_secs(90)).await;
    let actuator_open = "rl_agent_circuit_open{breaker=\"actuator\"}";
    assert_eq!(sample(&agent, actuator_open).await, 1.0);
    // Watch 10 s (20 intervals) of an open-then-probing breaker.
    let before = emulator.writes_to(SCALE_PATH);
    let decisions_before = sample(&agent, "rl_agent_decisions_total").await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let attempts = emulator.writes_to(SCALE_PATH) - before;
    let decisions = sample(&agent, "rl_agent_decisions_total").await - decisions_before;
    let log = terminate(agent).await;
    assert!(
        decisions >= 10.0,
        "the loop stalled: {decisions} decisions in 10 s"
    );
    // One probe per 4 s open period (plus one at an edge), not one per interval.
    assert!(
        attempts <= 4,
        "{attempts} scale writes in 10 s with the breaker open; log:\n{log}"
    );
    assert!(
        log.contains(r#"may not \"patch\" \"deployments/scale\""#),
        "the log does not name the missing permission:\n{log}"
    );
    assert_eq!(emulator.spec_replicas(NS, DEPLOYMENT), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_down_hands_over_to_the_hpa_rule_and_back() {
    let mut cluster = Cluster::start().await;
    let mut agent = cluster.spawn(&AgentSettings {
        min_confidence: 0.0,
        breaker: (3, 2),
        ..cluster.settings("dqn")
    });
    wait_for(
        &mut agent,
        "rl_agent_decisions_total",
        3.0,
        Duration::from_secs(90),
    )
    .await;
    let missing = "rl_agent_fallback_total{reason=\"metrics_missing\"}";
    let missing_before = sample(&agent, missing).await;

    cluster.prometheus.stop();
    wait_for(
        &mut agent,
        missing,
        missing_before + 4.0,
        Duration::from_secs(60),
    )
    .await;
    assert!(sample(&agent, "rl_agent_metrics_errors_total").await >= 4.0);

    cluster
        .prometheus
        .restart()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // Back on the policy: a stretch of decisions with no new missing-metrics fallback.
    let until = Instant::now() + Duration::from_secs(90);
    loop {
        let (m0, d0) = (
            sample(&agent, missing).await,
            sample(&agent, "rl_agent_decisions_total").await,
        );
        tokio::time::sleep(Duration::from_secs(3)).await;
        let (m1, d1) = (
            sample(&agent, missing).await,
            sample(&agent, "rl_agent_decisions_total").await,
        );
        if d1 >= d0 + 4.0 && m1 == m0 {
            break;
        }
        assert!(
            Instant::now() < until,
            "still falling back 90 s after Prometheus came back; log:\n{}",
            agent.log_tail(30)
        );
    }
    let log = terminate(agent).await;
    assert!(
        log.lines()
            .filter(|l| l.contains("metrics unavailable; the HPA rule decides"))
            .any(|l| l.contains("query for")),
        "the fallback log does not say which query failed:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_retrain_runs_once_enough_traffic_is_recorded_and_its_verdict_is_counted() {
    let cluster = Cluster::start().await;
    let now = cluster.record_three_hours();
    let store = cluster.dir.path().join("store");
    let settings = AgentSettings {
        extra_toml: format!(
            "\n[twin]\nstore = {:?}\nretrain_every_h = 1.0\ncheck_every_s = 1\nretrain_timesteps = 2000\n",
            store.display().to_string()
        ),
        ..cluster.settings("dqn")
    };
    let mut agent = cluster.spawn(&settings);
    wait_for(
        &mut agent,
        "rl_agent_twin_verdicts_total",
        1.0,
        Duration::from_secs(180),
    )
    .await;
    let decisions = std::fs::read_to_string(store.join("decisions.jsonl")).expect("decision log");
    let verdict: serde_json::Value =
        serde_json::from_str(decisions.lines().next().expect("one verdict")).expect("JSON");
    let until = verdict["recorded_until_s"]
        .as_u64()
        .expect("recorded_until_s");
    assert!(
        until + 120 >= now,
        "the verdict saw the recording up to {until}, now {now}"
    );
    if verdict["promoted"] == true {
        // The promoted model decides from the next interval on.
        wait_for(
            &mut agent,
            "rl_agent_model_version",
            1.0,
            Duration::from_secs(20),
        )
        .await;
    }
    // The next is due an hour of recorded traffic later: nothing more meanwhile.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(sample(&agent, "rl_agent_twin_verdicts_total").await, 1.0);
    assert_eq!(decisions.lines().count(), 1);
    let log = terminate(agent).await;
    assert_eq!(events(&log, "retrain finished").len(), 1, "{log}");
    assert_eq!(events(&log, "promotion gate verdict").len(), 1, "{log}");
}

/// `coordinator serve` as a process, on loopback with a development CA: its QUIC address
/// from the first line it prints.
struct Coordinator {
    child: std::process::Child,
    addr: std::net::SocketAddr,
}

impl Coordinator {
    /// Serves the shipped DQN as version 1 and runs one round of `budget` steps (the next
    /// would be an hour later).
    fn start(dir: &std::path::Path, ca: &common::transport::certs::DevCa, budget: u64) -> Self {
        use std::io::BufRead;

        let server = ca
            .issue_server(&["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("a server certificate");
        let write = |name: &str, text: &str| {
            std::fs::write(dir.join(name), text).expect("write the coordinator's files");
        };
        write("ca.pem", &ca.cert_pem());
        write("server.pem", server.cert_pem());
        write("server-key.pem", &server.key_pem());
        let config = dir.join("serve.toml");
        write(
            "serve.toml",
            &format!(
                "listen = \"127.0.0.1:0\"\nregistry = \"registry\"\n\
                 [tls]\nca = \"ca.pem\"\ncert = \"server.pem\"\nkey = \"server-key.pem\"\n\
                 [model]\nalgo = \"dqn\"\ninitial = \"default\"\n\
                 [admin]\nlisten = \"127.0.0.1:0\"\n\
                 [rounds]\nmin_agents = 1\nquorum = 1.0\ngrace = \"0s\"\ndeadline = \"2m\"\n\
                 budget_env_steps = {budget}\ninterval = \"1h\"\n"
            ),
        );
        let mut child = std::process::Command::new(rl_autoscaler_tests::bin("coordinator"))
            .args(["serve", "--config"])
            .arg(&config)
            .env_remove("COORDINATOR_CONFIG")
            .env("COORDINATOR_LOG", "warn")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start coordinator serve");
        let mut stdout = std::io::BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .expect("read the coordinator's output");
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .expect("an address");
        // Keep reading, so the coordinator never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        Self { child, addr }
    }
}

impl Drop for Coordinator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_federated_agent_trains_its_round_in_the_twin_and_serves_only_global_models_the_gate_passes()
 {
    use common::transport::ClusterId;
    use common::transport::certs::DevCa;

    let cluster = Cluster::start().await;
    let dir = cluster.dir.path();
    // Enough to calibrate the twin and hold back the last 45 minutes for the gate.
    cluster.record_three_hours();

    let ca = DevCa::generate().unwrap();
    let coordinator_dir = dir.join("coordinator");
    std::fs::create_dir_all(&coordinator_dir).unwrap();
    let coordinator = Coordinator::start(&coordinator_dir, &ca, 2_000);
    let certs = dir.join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    let client = ca.issue_client(&ClusterId::new("alpha").unwrap()).unwrap();
    std::fs::write(certs.join("ca.pem"), ca.cert_pem()).unwrap();
    std::fs::write(certs.join("alpha.pem"), client.cert_pem()).unwrap();
    std::fs::write(certs.join("alpha-key.pem"), client.key_pem()).unwrap();
    let federate = dir.join("federate.toml");
    std::fs::write(
        &federate,
        format!(
            "cluster_id = \"alpha\"\nalgo = \"dqn\"\n\
             [coordinator]\naddress = \"{}\"\nserver_name = \"localhost\"\n\
             [tls]\ndir = {:?}\n",
            coordinator.addr,
            certs.display().to_string()
        ),
    )
    .unwrap();
    let settings = AgentSettings {
        extra_toml: format!(
            "\n[federation]\nconfig = {:?}\n\n[twin]\nfederate_in_twin = true\n",
            federate.display().to_string()
        ),
        ..cluster.settings("dqn")
    };
    let mut agent = cluster.spawn(&settings);

    // Version 1 is the shipped DQN the agent already runs: judged, and not cheaper than
    // itself, so kept out. Version 2 comes from the agent's own round, trained in the
    // twin; the gate judges it too.
    wait_for(
        &mut agent,
        "rl_agent_twin_verdicts_total",
        2.0,
        Duration::from_secs(240),
    )
    .await;
    let metrics = agent.metrics().await.expect("metrics");
    let promoted = metrics["rl_agent_twin_verdicts_total{outcome=\"promoted\"}"];
    let kept = metrics["rl_agent_twin_verdicts_total{outcome=\"kept\"}"];
    assert!(kept >= 1.0, "{metrics:?}");
    assert_eq!(promoted + kept, 2.0, "{metrics:?}");
    let version = metrics["rl_agent_model_version"];
    if promoted == 1.0 {
        assert_eq!(version, 2.0, "the promoted global model decides");
    } else {
        assert_eq!(version, 0.0, "the shipped model keeps deciding");
    }
    let log = terminate(agent).await;
    let built = events(
        &log,
        "federation rounds train in the twin calibrated from the recording",
    );
    assert_eq!(built.len(), 1, "{log}");
    let held_back = built[0]["fields"]["gate_held_back_s"].as_u64().unwrap();
    assert!(
        (2600..=2800).contains(&held_back),
        "{held_back} s held back"
    );
    let training_s = built[0]["fields"]["training_s"].as_u64().unwrap();
    let recorded_s = built[0]["fields"]["recorded_s"].as_u64().unwrap();
    assert_eq!(training_s + held_back, recorded_s);
    let judged_v1 = events(&log, "the gate kept the global model out of service");
    assert!(
        judged_v1.iter().any(|e| e["fields"]["version"] == 1
            && e["fields"]["reason"]
                .as_str()
                .is_some_and(|r| r.contains("not cheaper"))),
        "{log}"
    );
    drop(coordinator);
}
