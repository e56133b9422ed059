//! `edge-agent run` in a closed loop, as a separate process, through a real Prometheus
//! (Debian's package) and the Kubernetes API emulator: a simulated workload
//! ([`ClusterWorld`]) serves its metrics to Prometheus and its Deployment to the emulator,
//! what the agent writes to `spec.replicas` starts pods in the simulator, and the load the
//! agent sees next depends on them. No real kube-apiserver can run on these machines (no
//! etcd, no container runtime, no privileges), hence the emulator.
//!
//! The policy is `hpa`: the Kubernetes HPA rule is deterministic, so the test shows the
//! safety layer and the loop rather than what one model happens to do at a pace it was
//! never trained at (the shipped DQN learned 15 s intervals and 30 s pod start-ups; run at
//! the 2 s interval this test needs, its proposals and confidences say nothing stable).
//!
//! Time is not compressed (one simulated second per real second, so Prometheus's `rate()`,
//! the agent's clock and the simulator agree); what is shortened instead are the waits:
//! pods start in about 4 s, the agent decides every 2 s over a 10 s `rate()` window, and
//! its cooldowns are 6 s up and 60 s down. The rate limits keep the agent's fixed 60 s
//! window, so they are checked over 60 s of real time.
//!
//! Needs `/usr/bin/prometheus` (or `PROMETHEUS_BIN`) and a built `edge-agent`
//! (`cargo build -p edge-agent`).

use std::time::{Duration, Instant};

use common::sim::SimConfig;
use common::traffic::ArrivalSeries;
use rl_autoscaler_tests::cluster_world::{
    AgentProcess, AgentSettings, ClusterWorld, ReplicaChange, Sample, free_loopback_addr,
};
use rl_autoscaler_tests::prometheus::PrometheusServer;
use rl_autoscaler_tests::workload_exporter::Workload;

const NAMESPACE: &str = "shop";
const DEPLOYMENT: &str = "web";
/// Pods at the start; enough for the quiet load.
const INITIAL_REPLICAS: u32 = 2;
/// Quiet load, requests/s: 50 % of two pods (100 req/s each at 100 % CPU).
const LOW_RPS: f32 = 100.0;
/// The spike: 1.9 times what two pods can serve; six pods hold it at 63 % CPU.
const HIGH_RPS: f32 = 380.0;
/// Simulated second the spike starts: time for Prometheus to gather a `rate()` window
/// and for the agent to settle.
const SPIKE_AT_S: u64 = 40;
/// Simulated second the spike ends: some 35 s after the scale-up settles (it takes
/// 20–25 s), so p95 has had time to recover and the load drops while the scale-down
/// cooldown still runs.
const DROP_AT_S: u64 = 100;
/// The p95 objective, seconds.
const SLO_S: f64 = 0.2;
/// The `rate()` window of the agent's queries and of the simulator's own view.
const WINDOW_S: u64 = 10;
const SCALE_UP_COOLDOWN_S: u64 = 6;
const SCALE_DOWN_COOLDOWN_S: u64 = 60;
/// Below what the HPA rule asks for through the spike (2 → 6), so the limit binds.
const MAX_ADDED_PER_MINUTE: u32 = 3;
const MAX_REMOVED_PER_MINUTE: u32 = 3;
/// The safety layer's rate-limit window, seconds (fixed in the agent).
const RATE_WINDOW_S: f64 = 60.0;
/// Slack for comparing times seen by the world with times the agent decided at: the
/// agent counts whole Unix seconds (up to 1 s early) and the world sees a write up to one
/// sync (0.15 s) plus the write's own latency late.
const CLOCK_SLACK_S: f64 = 1.5;

fn workload() -> Workload {
    let mut cfg = SimConfig::default();
    cfg.replicas.initial = Some(INITIAL_REPLICAS);
    cfg.metrics.rate_window_s = WINDOW_S as u32;
    // Pods ready in 3–5 s instead of 20–40 s, so the test sees several scale-ups in a
    // couple of minutes.
    cfg.pod.startup_delay_s = 4.0;
    cfg.pod.startup_jitter_s = 1.0;
    let rates: Vec<f32> = (0..1_200u64)
        .map(|s| {
            if (SPIKE_AT_S..DROP_AT_S).contains(&s) {
                HIGH_RPS
            } else {
                LOW_RPS
            }
        })
        .collect();
    Workload::new(
        cfg,
        ArrivalSeries::new("spike", rates),
        17,
        NAMESPACE,
        DEPLOYMENT,
    )
    .expect("workload")
}

/// Waits until `done` holds for the world's history, or panics with `what`, the history's
/// changes and the agent's log tail after `deadline`.
async fn wait_until(
    world: &ClusterWorld,
    agent: &mut AgentProcess,
    what: &str,
    deadline: Duration,
    done: impl Fn(&[Sample]) -> bool,
) {
    let until = Instant::now() + deadline;
    loop {
        if done(&world.history()) {
            return;
        }
        if let Some(status) = agent.exited() {
            panic!(
                "the agent exited ({status}) while waiting for {what}\n--- agent log ---\n{}",
                agent.log_tail(40)
            );
        }
        if Instant::now() > until {
            panic!(
                "no {what} within {deadline:?}; replica changes {:?}\n--- agent log ---\n{}",
                summary(&world.replica_changes()),
                agent.log_tail(40)
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Changes as `sim {second}s: {from} → {to}`, for messages.
fn summary(changes: &[ReplicaChange]) -> Vec<String> {
    changes
        .iter()
        .map(|c| format!("sim {}s: {} → {}", c.sim_s, c.from, c.to))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spike_is_absorbed_within_the_rate_limits_and_scaled_back_only_after_the_cooldown() {
    let world = ClusterWorld::start(workload(), 1).await.expect("world");
    let prom = match PrometheusServer::start(&[world.exporter_addr()]).await {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    };
    // The agent starts once Prometheus holds a full `rate()` window of the workload, so
    // its first decisions already see the quiet load the spike is measured against.
    prom.wait_for(
        &format!(
            "count_over_time(kube_deployment_status_replicas_available[{}s])",
            WINDOW_S + 5
        ),
        WINDOW_S as f64 + 2.0,
        Duration::from_secs(60),
    )
    .await
    .expect("a full window of scrapes");
    let dir = tempfile::tempdir().expect("temp dir");
    let listen = free_loopback_addr().expect("a free port");
    let settings = AgentSettings {
        interval_s: 2.0,
        rate_window_s: WINDOW_S,
        replicas: (1, 12),
        scale_up_cooldown_s: SCALE_UP_COOLDOWN_S,
        scale_down_cooldown_s: SCALE_DOWN_COOLDOWN_S,
        max_added_per_minute: MAX_ADDED_PER_MINUTE,
        max_removed_per_minute: MAX_REMOVED_PER_MINUTE,
        cpu_initialization_period_s: 5,
        // The HPA rule asks for a scale-down as soon as its `rate()` window shows the drop,
        // so what holds it back is the safety layer's cooldown, the thing under test.
        downscale_stabilization_window_s: 0,
        ..AgentSettings::new("hpa", prom.url(), listen)
    };
    let mut agent = AgentProcess::spawn(&world, &settings, dir.path()).expect("agent");

    // Through the spike and up to the drop.
    wait_until(
        &world,
        &mut agent,
        "end of the spike",
        Duration::from_secs(DROP_AT_S + 120),
        |h| h.last().is_some_and(|s| s.sim_s >= DROP_AT_S),
    )
    .await;
    // After the drop, until the agent scales down.
    wait_until(
        &world,
        &mut agent,
        "scale-down after the drop",
        Duration::from_secs(SCALE_DOWN_COOLDOWN_S + 120),
        |h| {
            rl_autoscaler_tests::cluster_world::changes(h)
                .iter()
                .any(|c| c.sim_s >= DROP_AT_S && c.to < c.from)
        },
    )
    .await;
    let fetched_from = rl_autoscaler_tests::cluster_world::unix_now_f64();
    let metrics = agent.metrics().await;
    let status = agent
        .terminate(Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("{e}\n--- agent log ---\n{}", agent.log_tail(40)));
    let log = agent.log();
    let tail = agent.log_tail(40);
    assert!(status.success(), "SIGTERM exit: {status}\n{tail}");

    let history = world.history();
    let changes = world.replica_changes();
    let p95_at = |sim_s: u64| {
        history
            .iter()
            .rev()
            .find(|s| s.sim_s <= sim_s)
            .and_then(|s| s.p95_s)
    };
    println!("replica changes: {:#?}", summary(&changes));
    println!(
        "p95 before the spike {:?}, at its worst {:?}, at its end {:?}",
        p95_at(SPIKE_AT_S - 1),
        history
            .iter()
            .filter(|s| (SPIKE_AT_S..DROP_AT_S).contains(&s.sim_s))
            .filter_map(|s| s.p95_s)
            .fold(None, |m: Option<f64>, p| Some(m.map_or(p, |m| m.max(p)))),
        p95_at(DROP_AT_S - 1),
    );
    let start = history.first().expect("samples").at_unix_s;
    println!(
        "run: {:.0} s of agent time; agent metrics: {:?}",
        history.last().expect("samples").at_unix_s - start,
        metrics.as_ref().map(|m| {
            let mut v: Vec<_> = m
                .iter()
                .filter(|(k, _)| {
                    k.starts_with("rl_agent_fallback_total")
                        || k.starts_with("rl_agent_scaling_actions_total")
                        || k.starts_with("rl_agent_decisions_total")
                })
                .collect();
            v.sort_by(|a, b| a.0.cmp(b.0));
            v
        })
    );

    // Nothing moved before the spike: two pods carry the quiet load.
    let early: Vec<_> = changes.iter().filter(|c| c.sim_s < SPIKE_AT_S).collect();
    assert!(
        early.is_empty(),
        "changed before the spike: {early:?}\n{tail}"
    );

    // It scaled up under the spike, by at least one minute's allowance.
    let peak = history
        .iter()
        .filter(|s| s.sim_s < DROP_AT_S)
        .map(|s| s.spec_replicas)
        .max()
        .unwrap_or(0);
    assert!(
        peak >= INITIAL_REPLICAS + MAX_ADDED_PER_MINUTE,
        "peak {peak} replicas during the spike; changes {:?}\n{tail}",
        summary(&changes)
    );

    // Within its rate limits: in every 60 s window of the agent's clock, at most
    // `max_added_per_minute` pods added and `max_removed_per_minute` removed. Only changes
    // less than 60 s − `CLOCK_SLACK_S` apart are summed: the agent's whole-second clock may
    // have put changes nearer a full window apart in different windows.
    for (i, first) in changes.iter().enumerate() {
        let window: Vec<&ReplicaChange> = changes[i..]
            .iter()
            .filter(|c| c.at_unix_s - first.at_unix_s < RATE_WINDOW_S - CLOCK_SLACK_S)
            .collect();
        let added: u32 = window.iter().map(|c| c.to.saturating_sub(c.from)).sum();
        let removed: u32 = window.iter().map(|c| c.from.saturating_sub(c.to)).sum();
        assert!(
            added <= MAX_ADDED_PER_MINUTE,
            "{added} pods added within 60 s from sim {}s: {:?}",
            first.sim_s,
            summary(&changes)
        );
        assert!(
            removed <= MAX_REMOVED_PER_MINUTE,
            "{removed} pods removed within 60 s from sim {}s: {:?}",
            first.sim_s,
            summary(&changes)
        );
    }
    // The limit was what held it back: the agent logged and counted the override.
    assert!(
        log.contains("scale_up_rate_limit"),
        "the rate limit never bound; changes {:?}\n{tail}",
        summary(&changes)
    );

    // The spike hurt, and the scale-up brought p95 back under the SLO before it ended.
    let worst = history
        .iter()
        .filter(|s| (SPIKE_AT_S..DROP_AT_S).contains(&s.sim_s))
        .filter_map(|s| s.p95_s)
        .fold(0.0f64, f64::max);
    assert!(
        worst > SLO_S,
        "p95 never left the SLO during the spike (worst {worst} s): the test shows nothing"
    );
    let end = p95_at(DROP_AT_S - 1).expect("the simulator observed p95");
    assert!(
        end < SLO_S,
        "p95 {end} s at the end of the spike is over the {SLO_S} s SLO; changes {:?}\n{tail}",
        summary(&changes)
    );

    // Scale-downs only once the cooldown has passed since the previous change, and only
    // after the load dropped.
    let downs: Vec<(usize, &ReplicaChange)> = changes
        .iter()
        .enumerate()
        .filter(|(_, c)| c.to < c.from)
        .collect();
    assert!(!downs.is_empty(), "never scaled down\n{tail}");
    // The cooldown was what held the first one back: the agent logged the override.
    assert!(
        log.contains("scale_down_cooldown"),
        "the scale-down cooldown never bound; changes {:?}\n{tail}",
        summary(&changes)
    );
    for (i, down) in downs {
        assert!(
            down.sim_s >= DROP_AT_S,
            "scaled down during the spike: {down:?}"
        );
        if let Some(before) = i.checked_sub(1).map(|j| changes[j]) {
            let gap = down.at_unix_s - before.at_unix_s;
            assert!(
                gap >= SCALE_DOWN_COOLDOWN_S as f64 - CLOCK_SLACK_S,
                "scaled down {gap:.1} s after the change before ({before:?} then {down:?}); \
                 the cooldown is {SCALE_DOWN_COOLDOWN_S} s"
            );
        }
    }

    // The agent's own account agrees with what the API saw.
    let metrics = metrics.unwrap_or_else(|e| panic!("/metrics: {e}"));
    let writes = metrics
        .get("rl_agent_scaling_actions_total")
        .copied()
        .unwrap_or(0.0);
    // Writes made while /metrics was read or before SIGTERM landed may be missing from
    // the count, never the other way round.
    let seen_before = changes
        .iter()
        .filter(|c| c.at_unix_s < fetched_from)
        .count() as f64;
    assert!(
        seen_before <= writes && writes <= changes.len() as f64,
        "rl_agent_scaling_actions_total {writes} vs {seen_before} changes the API saw \
         before it was read ({} in all): {:?}",
        changes.len(),
        summary(&changes)
    );
}
