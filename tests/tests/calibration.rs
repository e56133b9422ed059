//! The digital twin's calibration end to end: `edge-agent run` autoscales a simulated
//! workload with known parameters through a real Prometheus (Debian's package) and the
//! Kubernetes API emulator, recording its experience; `edge-agent calibrate` then fits the
//! twin to that recording, and must recover the workload's pod capacity and start-up
//! delay within 10 %.
//!
//! Time is not compressed (one simulated second per real second), so request rates, CPU
//! and the pods' creation and Ready timestamps mean what they would on a cluster. The
//! workload is shortened instead: pods start in 6 ± 1 s, the `rate()` window is 6 s, and
//! the load steps between five levels for 22 s each, so the HPA rule scales up and, with
//! a long downscale stabilisation, leaves pods idle after each drop: a recording with
//! spread in the request rate per pod and several start-ups, in under two minutes.
//!
//! Needs `/usr/bin/prometheus` (or `PROMETHEUS_BIN`) and a built `edge-agent`.

use std::time::{Duration, Instant};

use common::sim::SimConfig;
use common::traffic::ArrivalSeries;
use rl_autoscaler_tests::cluster_world::{
    AgentProcess, AgentSettings, ClusterWorld, free_loopback_addr,
};
use rl_autoscaler_tests::prometheus::PrometheusServer;
use rl_autoscaler_tests::workload_exporter::Workload;

const NAMESPACE: &str = "shop";
const DEPLOYMENT: &str = "web";
/// The workload's true parameters, which calibration must find.
const CAPACITY_RPS: f64 = 60.0;
const STARTUP_DELAY_S: f64 = 6.0;
const STARTUP_JITTER_S: f64 = 1.0;
/// The `rate()` window of the agent's queries.
const WINDOW_S: u64 = 6;
/// Load levels, requests/s, each held for `LEVEL_S`.
const LEVELS: [f32; 5] = [100.0, 300.0, 150.0, 400.0, 200.0];
const LEVEL_S: u64 = 22;
/// Seconds before the first level: Prometheus gathers a window meanwhile.
const LEAD_S: u64 = 15;

fn workload() -> Workload {
    let mut cfg = SimConfig::default();
    cfg.pod.capacity_rps = CAPACITY_RPS;
    cfg.pod.startup_delay_s = STARTUP_DELAY_S;
    cfg.pod.startup_jitter_s = STARTUP_JITTER_S;
    cfg.replicas.initial = Some(3);
    cfg.replicas.max = 20;
    cfg.metrics.rate_window_s = WINDOW_S as u32;
    let mut rates = vec![LEVELS[0]; LEAD_S as usize];
    for level in LEVELS {
        rates.extend(std::iter::repeat_n(level, LEVEL_S as usize));
    }
    // Traffic past the recorded stretch, so the world keeps running while the agent stops.
    rates.extend(std::iter::repeat_n(LEVELS[4], 600));
    Workload::new(
        cfg,
        ArrivalSeries::new("levels", rates),
        23,
        NAMESPACE,
        DEPLOYMENT,
    )
    .expect("workload")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calibration_recovers_capacity_and_start_up_delay_from_a_recorded_stretch() {
    let world = ClusterWorld::start(workload(), 1).await.expect("world");
    let prom = PrometheusServer::start(&[world.exporter_addr()])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    prom.wait_for(
        &format!(
            "count_over_time(kube_deployment_status_replicas_available[{}s])",
            WINDOW_S + 3
        ),
        WINDOW_S as f64 + 1.0,
        Duration::from_secs(60),
    )
    .await
    .expect("a full window of scrapes");

    let dir = tempfile::tempdir().expect("temp dir");
    let settings = AgentSettings {
        interval_s: 0.5,
        rate_window_s: WINDOW_S,
        replicas: (1, 20),
        scale_up_cooldown_s: 2,
        scale_down_cooldown_s: 30,
        max_added_per_minute: 20,
        max_removed_per_minute: 3,
        cpu_initialization_period_s: 3,
        // Pods stay through each drop, so the recording covers quiet pods too.
        downscale_stabilization_window_s: 40,
        ..AgentSettings::new(
            "hpa",
            prom.url(),
            free_loopback_addr().expect("a free port"),
        )
    };
    let mut agent = AgentProcess::spawn(&world, &settings, dir.path()).expect("agent");
    let end_s = LEAD_S + LEVEL_S * LEVELS.len() as u64;
    let until = Instant::now() + Duration::from_secs(end_s + 120);
    while world.history().last().is_none_or(|s| s.sim_s < end_s) {
        if let Some(status) = agent.exited() {
            panic!("the agent exited ({status}):\n{}", agent.log_tail(40));
        }
        assert!(
            Instant::now() < until,
            "the world stalled:\n{}",
            agent.log_tail(40)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let status = agent
        .terminate(Duration::from_secs(20))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", agent.log_tail(40)));
    assert!(status.success(), "{status}\n{}", agent.log_tail(40));
    let scale_ups = world
        .replica_changes()
        .iter()
        .filter(|c| c.to > c.from)
        .count();
    assert!(scale_ups >= 2, "the recording holds {scale_ups} scale-ups");

    let experience = dir.path().join("experience");
    let twin = dir.path().join("twin.toml");
    let report = rl_autoscaler_tests::edge_agent_json(&[
        "calibrate",
        "--dir",
        experience.to_str().expect("UTF-8 path"),
        "--rate-window-s",
        &WINDOW_S.to_string(),
        "--out",
        twin.to_str().expect("UTF-8 path"),
        "--format",
        "json",
    ]);
    let capacity = report["capacity"]["capacity_rps"]
        .as_f64()
        .expect("capacity");
    let delay = report["startup"]["delay_s"].as_f64().expect("delay");
    assert!(
        (capacity - CAPACITY_RPS).abs() <= 0.1 * CAPACITY_RPS,
        "pod capacity {capacity:.1} req/s, truth {CAPACITY_RPS}: {report:#}"
    );
    assert!(
        (delay - STARTUP_DELAY_S).abs() <= 0.1 * STARTUP_DELAY_S,
        "start-up delay {delay:.2} s, truth {STARTUP_DELAY_S}: {report:#}"
    );
    // The written twin is a configuration the other commands load.
    let text = std::fs::read_to_string(&twin).expect("twin written");
    let env: common::env::EnvConfig = toml::from_str(&text).expect("a valid configuration");
    assert_eq!(env.sim.pod.capacity_rps, capacity);
    eprintln!("calibration: {report:#}");
}

#[test]
fn calibrating_from_nothing_is_refused_with_what_is_missing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = rl_autoscaler_tests::edge_agent(&[
        "calibrate",
        "--dir",
        dir.path().to_str().expect("UTF-8"),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot calibrate pod capacity: 0 usable samples"),
        "{err}"
    );

    let missing = dir.path().join("nope");
    let out =
        rl_autoscaler_tests::edge_agent(&["calibrate", "--dir", missing.to_str().expect("UTF-8")]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not a directory"), "{err}");
}
