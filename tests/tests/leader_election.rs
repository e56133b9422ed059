//! Leader election between real `edge-agent run` processes sharing one cluster: the
//! Kubernetes API emulator (now with Leases) and a real Prometheus scraping the simulated
//! workload, as in `agent_run.rs`. Each agent sends its identity in its `User-Agent`, so
//! the emulator's request log attributes every write of the Deployment's scale to the
//! process that made it, without trusting what the agents say about themselves.
//!
//! To make writes frequent enough to attribute, the agents' replica bounds are pinned at
//! 3 and the test keeps moving `spec.replicas` away from it (as a person with `kubectl
//! scale` would); the leader puts it back at its next interval.

use std::time::{Duration, Instant};

use axum::http::Method;
use common::sim::SimConfig;
use common::traffic::ArrivalSeries;
use edge_agent::api_access::{ALL, ApiCall, Scope};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Api;
use kube::api::PostParams;
use rl_autoscaler_tests::cluster_world::{
    AgentProcess, AgentSettings, ClusterWorld, LeaderElectionSettings, free_loopback_addr, http_get,
};
use rl_autoscaler_tests::kube_emulator::{EmulatorHandle, Fault, FaultRule, Logged};
use rl_autoscaler_tests::prometheus::PrometheusServer;
use rl_autoscaler_tests::workload_exporter::Workload;

const NS: &str = "shop";
const AGENT_NS: &str = "rl-system";
const DEPLOYMENT: &str = "web";
const LEASE: &str = "edge-agent-web";
const SCALE_PATH: &str = "/apis/apps/v1/namespaces/shop/deployments/web/scale";
const LEASE_PATH: &str = "/apis/coordination.k8s.io/v1/namespaces/rl-system/leases/edge-agent-web";
const PINNED: u32 = 3;

struct Cluster {
    world: ClusterWorld,
    prometheus: PrometheusServer,
}

impl Cluster {
    async fn start() -> Self {
        let mut cfg = SimConfig::default();
        cfg.replicas.initial = Some(PINNED);
        cfg.metrics.rate_window_s = 10;
        let arrivals = ArrivalSeries::new("steady", vec![200.0; 7200]);
        let mut workload = Workload::new(cfg, arrivals, 5, NS, DEPLOYMENT).expect("workload");
        workload.advance(60);
        let world = ClusterWorld::start(workload, 1).await.expect("world");
        let prometheus = PrometheusServer::start(&[world.exporter_addr()])
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        Self { world, prometheus }
    }

    fn emulator(&self) -> &EmulatorHandle {
        self.world.emulator()
    }

    /// An agent named `identity` with replicas pinned at [`PINNED`], deciding every
    /// 0.5 s, in a lease of `lease_duration_s` renewed every 0.25 s.
    fn spawn(
        &self,
        identity: &str,
        lease_duration_s: u32,
        dir: &tempfile::TempDir,
    ) -> AgentProcess {
        let settings = AgentSettings {
            replicas: (PINNED, PINNED),
            scale_up_cooldown_s: 0,
            scale_down_cooldown_s: 0,
            max_added_per_minute: 1_000,
            max_removed_per_minute: 1_000,
            request_timeout_s: 0.5,
            leader_election: Some(LeaderElectionSettings {
                namespace: AGENT_NS.to_owned(),
                lease_name: LEASE.to_owned(),
                identity: identity.to_owned(),
                lease_duration_s,
                renew_deadline_s: f64::from(lease_duration_s) - 1.0,
                retry_period_s: 0.25,
            }),
            ..AgentSettings::new(
                "hpa",
                self.prometheus.url(),
                free_loopback_addr().expect("a free port"),
            )
        };
        AgentProcess::spawn(&self.world, &settings, dir.path()).expect("agent")
    }

    /// Moves `spec.replicas` off the pinned count, as another writer would.
    fn disturb(&self) {
        self.emulator()
            .set_spec_replicas(NS, DEPLOYMENT, 1)
            .expect("the Deployment exists");
    }

    fn holder(&self) -> Option<String> {
        self.emulator().lease_holder(AGENT_NS, LEASE)
    }

    /// Waits until the Lease names a holder and returns it.
    async fn wait_for_holder(
        &self,
        deadline: Duration,
        agents: &mut [&mut AgentProcess],
    ) -> String {
        let until = Instant::now() + deadline;
        loop {
            if let Some(holder) = self.holder() {
                return holder;
            }
            check_alive(agents);
            assert!(
                Instant::now() < until,
                "no holder after {deadline:?}{}",
                logs(agents)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Disturbs the count every 0.7 s for `period`.
    async fn disturb_for(&self, period: Duration) {
        let until = Instant::now() + period;
        while Instant::now() < until {
            self.disturb();
            tokio::time::sleep(Duration::from_millis(700)).await;
        }
    }
}

fn check_alive(agents: &mut [&mut AgentProcess]) {
    for a in agents.iter_mut() {
        if let Some(status) = a.exited() {
            panic!("an agent exited ({status}); log:\n{}", a.log_tail(30));
        }
    }
}

fn logs(agents: &[&mut AgentProcess]) -> String {
    agents
        .iter()
        .map(|a| format!("\n--- agent {} ---\n{}", a.pid(), a.log_tail(20)))
        .collect()
}

/// The identity in a request's `User-Agent` (`edge-agent/x.y.z (identity)`).
fn identity_of(request: &Logged) -> Option<&str> {
    let agent = request.user_agent.as_deref()?;
    agent.split_once(" (")?.1.strip_suffix(')')
}

/// The scale writes (PATCH of the scale subresource) in the log: when, and by whom.
fn scale_writes(log: &[Logged]) -> Vec<(Instant, String)> {
    log.iter()
        .filter(|r| r.method == Method::PATCH && r.path == SCALE_PATH)
        .map(|r| {
            let who = identity_of(r).unwrap_or("<unnamed>").to_owned();
            (r.at, who)
        })
        .collect()
}

async fn leader_gauge(agent: &AgentProcess) -> Option<f64> {
    agent.metrics().await.ok()?.get("rl_agent_leader").copied()
}

#[tokio::test]
async fn the_emulator_keeps_leases_with_optimistic_concurrency_and_faults() {
    let emulator = EmulatorHandle::start().await.expect("emulator");
    let leases: Api<Lease> = Api::namespaced(emulator.client(AGENT_NS).expect("client"), AGENT_NS);
    let lease = |holder: &str| Lease {
        metadata: ObjectMeta {
            name: Some(LEASE.to_owned()),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(holder.to_owned()),
            lease_duration_seconds: Some(15),
            ..LeaseSpec::default()
        }),
    };
    let pp = PostParams::default();
    assert!(matches!(leases.get(LEASE).await, Err(kube::Error::Api(s)) if s.code == 404));
    let created = leases.create(&pp, &lease("a")).await.expect("create");
    let rv1 = created
        .metadata
        .resource_version
        .clone()
        .expect("a resourceVersion");
    let again = leases.create(&pp, &lease("b")).await;
    assert!(
        matches!(&again, Err(kube::Error::Api(s)) if s.code == 409 && s.reason == "AlreadyExists"),
        "{again:?}"
    );

    let mut renewed = created.clone();
    renewed.spec.as_mut().unwrap().lease_transitions = Some(1);
    let renewed = leases.replace(LEASE, &pp, &renewed).await.expect("replace");
    let rv2 = renewed.metadata.resource_version.clone().unwrap();
    assert!(rv2.parse::<u64>().unwrap() > rv1.parse::<u64>().unwrap());
    // A replace based on the first version lost the race.
    let mut stale = created;
    stale.spec.as_mut().unwrap().holder_identity = Some("b".into());
    let lost = leases.replace(LEASE, &pp, &stale).await;
    assert!(
        matches!(&lost, Err(kube::Error::Api(s)) if s.code == 409 && s.reason == "Conflict"),
        "{lost:?}"
    );
    assert_eq!(emulator.lease_holder(AGENT_NS, LEASE).as_deref(), Some("a"));

    emulator.inject(FaultRule::times(
        Method::PUT,
        LEASE_PATH,
        Fault::Forbidden,
        1,
    ));
    let refused = leases.replace(LEASE, &pp, &renewed).await;
    assert!(
        matches!(&refused, Err(kube::Error::Api(s)) if s.code == 403),
        "{refused:?}"
    );
    leases
        .replace(LEASE, &pp, &renewed)
        .await
        .expect("the fault ran out");
    assert_eq!(emulator.requests_to(&Method::PUT, LEASE_PATH), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_of_two_agents_writes_and_the_other_takes_over_within_the_lease_after_a_kill() {
    let cluster = Cluster::start().await;
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = cluster.spawn("agent-a", 3, &dir_a);
    let mut b = cluster.spawn("agent-b", 3, &dir_b);
    let first = cluster
        .wait_for_holder(Duration::from_secs(15), &mut [&mut a, &mut b])
        .await;
    let (leader, follower, follower_id) = if first == "agent-a" {
        (&mut a, &mut b, "agent-b")
    } else {
        (&mut b, &mut a, "agent-a")
    };

    cluster.disturb_for(Duration::from_secs(4)).await;
    check_alive(&mut [&mut *leader, &mut *follower]);
    let writes = scale_writes(&cluster.emulator().request_log());
    assert!(
        writes.len() >= 3,
        "the leader restored the count: {writes:?}"
    );
    assert!(
        writes.iter().all(|(_, who)| *who == first),
        "only {first} writes: {writes:?}"
    );
    assert_eq!(leader_gauge(leader).await, Some(1.0));
    assert_eq!(leader_gauge(follower).await, Some(0.0));
    // The follower sees the disturbed count only when its interval falls between the
    // disturbance and the leader's repair, so keep disturbing until it has.
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let standby = follower.metrics().await.expect("metrics");
        if standby["rl_agent_standby_withheld_writes_total"] >= 1.0 {
            break;
        }
        assert!(
            Instant::now() < until,
            "the follower never decided to write and held back: {standby:?}"
        );
        cluster.disturb();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let writes = scale_writes(&cluster.emulator().request_log());
    assert!(
        writes.iter().all(|(_, who)| *who == first),
        "still only {first} writes: {writes:?}"
    );
    let ready = http_get(follower.listen(), "/readyz").await;
    assert!(ready.is_ok(), "a standing-by agent is ready: {ready:?}");

    // SIGKILL: no release; the follower must wait out the lease it last saw renewed.
    leader.kill().expect("kill the leader");
    let killed = Instant::now();
    let until = killed + Duration::from_secs(12);
    while cluster.holder().as_deref() != Some(follower_id) {
        assert!(
            Instant::now() < until,
            "no takeover{}",
            logs(&[&mut *follower])
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let took_over = killed.elapsed();
    // Lease duration (3 s) after the last renewal it saw, plus one retry period (0.25 s),
    // and slack for the calls' own time and process scheduling on a loaded 2-core machine
    // (CI runs this beside other test processes). What matters is the order of magnitude:
    // a follower that never took over, or waited for several leases, fails.
    assert!(
        took_over <= Duration::from_millis(3_000 + 250 + 2_750),
        "took over after {took_over:?}"
    );
    assert!(
        took_over >= Duration::from_millis(2_000),
        "took over before the lease could have run out: {took_over:?}"
    );

    cluster.disturb_for(Duration::from_secs(2)).await;
    let writes = scale_writes(&cluster.emulator().request_log());
    let after: Vec<_> = writes.iter().filter(|(at, _)| *at > killed).collect();
    assert!(
        after.iter().any(|(_, who)| who == follower_id),
        "writes continue under {follower_id}: {writes:?}"
    );
    assert!(
        after.iter().all(|(_, who)| who == follower_id),
        "only {follower_id} writes after the kill: {writes:?}"
    );
    check_alive(&mut [&mut *follower]);

    // Every request either agent made is one the API access list names, in the namespace
    // its scope says.
    for r in cluster.emulator().request_log() {
        let request = ApiCall::of_request(r.method.as_str(), &r.path)
            .unwrap_or_else(|| panic!("{} {} is no resource request", r.method, r.path));
        let call = ALL
            .iter()
            .find(|c| request.is(c))
            .unwrap_or_else(|| panic!("{} {} is not in api_access::ALL", r.method, r.path));
        let namespace = match call.scope {
            Scope::Workload => NS,
            Scope::Agent => AGENT_NS,
        };
        assert_eq!(request.namespace, namespace, "{} {}", r.method, r.path);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_hands_over_at_once_and_writers_never_overlap() {
    let cluster = Cluster::start().await;
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // A long lease, so that a handover faster than it can only come from the release.
    let lease_s = 8;
    let mut a = cluster.spawn("agent-a", lease_s, &dir_a);
    let first = cluster
        .wait_for_holder(Duration::from_secs(15), &mut [&mut a])
        .await;
    assert_eq!(first, "agent-a");
    let mut b = cluster.spawn("agent-b", lease_s, &dir_b);
    cluster.disturb_for(Duration::from_secs(3)).await;
    check_alive(&mut [&mut a, &mut b]);

    let terminated = Instant::now();
    let handover = async {
        while cluster.holder().as_deref() != Some("agent-b") {
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        terminated.elapsed()
    };
    let (status, took) = tokio::join!(a.terminate(Duration::from_secs(10)), async {
        tokio::time::timeout(Duration::from_secs(u64::from(lease_s) + 3), handover).await
    });
    let status = status.unwrap_or_else(|e| panic!("{e}; log:\n{}", a.log_tail(30)));
    assert!(status.success(), "exit {status}; log:\n{}", a.log_tail(30));
    let took = took.unwrap_or_else(|_| panic!("no handover{}", logs(&[&mut b])));
    assert!(
        took < Duration::from_secs(2),
        "handed over in {took:?}, well under the {lease_s} s lease"
    );
    assert!(
        a.log().contains("released the leader-election Lease"),
        "{}",
        a.log_tail(20)
    );

    cluster.disturb_for(Duration::from_secs(2)).await;
    check_alive(&mut [&mut b]);
    let writes = scale_writes(&cluster.emulator().request_log());
    let first_b = writes
        .iter()
        .position(|(_, who)| who == "agent-b")
        .unwrap_or_else(|| panic!("agent-b never wrote: {writes:?}"));
    assert!(first_b > 0, "agent-a wrote while it led: {writes:?}");
    assert!(
        writes[..first_b].iter().all(|(_, who)| who == "agent-a")
            && writes[first_b..].iter().all(|(_, who)| who == "agent-b"),
        "the writers interleave: {writes:?}"
    );
    // agent-a's last write came before it released; agent-b's first after it took over.
    assert!(writes[first_b - 1].0 < writes[first_b].0);
    let b_log = b.log();
    assert!(b_log.contains("became leader"), "{}", b.log_tail(20));
}
