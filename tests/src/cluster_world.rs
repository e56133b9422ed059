//! A closed loop for end-to-end tests of `edge-agent run`: one simulated workload served
//! both as the metrics a cluster's exporters publish ([`WorkloadExporter`], which a real
//! Prometheus scrapes) and as a Deployment with pods in the Kubernetes API emulator
//! ([`EmulatorHandle`]), the two kept in step by a background task. What the agent writes
//! to the Deployment's `spec.replicas` reaches the simulator, and the pods the simulator
//! starts and readies appear in the API, so the agent's decisions change the load it sees
//! next, as on a real cluster.
//!
//! No real kube-apiserver can run on the machines these tests run on (no etcd, no
//! container runtime, no privileges), hence the emulator; the simulator stands in for the
//! kubelet and the ReplicaSet controller that would create the pods.
//!
//! The world also records what it saw: every sync appends a [`Sample`] of the
//! Deployment's `spec.replicas` and the workload's state, stamped with the Unix time, so
//! tests can check the agent's writes against its rate limits and cooldowns afterwards
//! without trusting the agent's own account. Beside it are the helpers to run the agent as
//! a separate process: a kubeconfig for the emulator, an `agent.toml`, the process with its
//! JSON log in a file, its `/metrics` read over plain HTTP, and SIGTERM.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::policy::PodView;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;

use crate::kube_emulator::{EmulatorError, EmulatorHandle};
use crate::workload_exporter::{Workload, WorkloadExporter, WorkloadHandle, WorkloadState};

/// How often the world copies replicas into the simulator and pods into the API: often
/// enough that a write is acted on well within one agent interval, rarely enough to stay
/// cheap on two cores.
const SYNC_EVERY: Duration = Duration::from_millis(150);

/// Unix time now, seconds with a fraction.
pub fn unix_now_f64() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// What one sync saw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Unix seconds (with a fraction) of the sync.
    pub at_unix_s: f64,
    /// The simulator's second at the sync.
    pub sim_s: u64,
    /// The Deployment's `spec.replicas` in the API: what the agent last wrote.
    pub spec_replicas: u32,
    /// Ready pods in the simulator.
    pub ready_pods: u32,
    /// Pods starting in the simulator.
    pub starting_pods: u32,
    /// The simulator's own p95 over its rate window, seconds, once it has scraped.
    pub p95_s: Option<f64>,
}

/// A change of `spec.replicas` seen between two syncs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReplicaChange {
    /// Unix seconds of the first sync that saw the new count.
    pub at_unix_s: f64,
    /// The simulator's second then.
    pub sim_s: u64,
    /// The count before.
    pub from: u32,
    /// The count after.
    pub to: u32,
}

/// Why the world could not be built.
#[derive(Debug, thiserror::Error)]
pub enum WorldError {
    /// The exporter could not listen.
    #[error("cannot start the workload exporter: {0}")]
    Exporter(std::io::Error),
    /// The emulator could not start or refused the Deployment.
    #[error("Kubernetes API emulator: {0}")]
    Emulator(#[from] EmulatorError),
    /// A file could not be written or a process started.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> WorldError {
    let what = what.into();
    move |source| WorldError::Io { what, source }
}

/// The workload, the API emulator and the task keeping them in step. Dropping it stops
/// the task, the exporter and (with its last handle) the emulator.
#[derive(Debug)]
pub struct ClusterWorld {
    namespace: String,
    deployment: String,
    exporter: WorkloadExporter,
    emulator: EmulatorHandle,
    history: Arc<Mutex<Vec<Sample>>>,
    sync: JoinHandle<()>,
}

impl ClusterWorld {
    /// Starts `workload` (its namespace and Deployment name are the world's) advancing
    /// `seconds_per_second` simulated seconds per real second (at least 1), an emulator
    /// holding the Deployment at the workload's current size, and the sync task.
    ///
    /// Simulated time maps onto Unix time from now: the workload's current second is
    /// now, and every `seconds_per_second` simulated seconds are one real second. Pod
    /// timestamps in the API use that map, so an agent reading `creationTimestamp` and
    /// the Ready condition's time sees the same ages as the simulator, in its own clock.
    pub async fn start(workload: Workload, seconds_per_second: u64) -> Result<Self, WorldError> {
        let seconds_per_second = seconds_per_second.max(1);
        let namespace = workload.namespace().to_owned();
        let deployment = workload.deployment().to_owned();
        let initial = workload.simulator().spec_replicas();
        let sim0 = workload.simulator().now_s();
        let emulator = EmulatorHandle::start().await?;
        emulator.add_deployment(&namespace, &deployment, initial, &[("app", &deployment)]);
        let exporter = WorkloadExporter::start(workload, seconds_per_second)
            .await
            .map_err(WorldError::Exporter)?;
        let clock = SimClock {
            sim0,
            unix0: unix_now_f64(),
            seconds_per_second,
        };
        let history = Arc::new(Mutex::new(Vec::new()));
        let syncer = Syncer {
            namespace: namespace.clone(),
            deployment: deployment.clone(),
            workload: exporter.handle(),
            emulator: emulator.clone(),
            history: Arc::clone(&history),
            clock,
        };
        // The first sync runs before the task starts, so the API has its pods at once.
        syncer.sync_once()?;
        let sync = tokio::spawn(syncer.run());
        Ok(Self {
            namespace,
            deployment,
            exporter,
            emulator,
            history,
            sync,
        })
    }

    /// The Deployment's namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The Deployment's name.
    pub fn deployment(&self) -> &str {
        &self.deployment
    }

    /// Where Prometheus should scrape the workload's series.
    pub fn exporter_addr(&self) -> SocketAddr {
        self.exporter.addr()
    }

    /// The simulated workload.
    pub fn workload(&self) -> WorkloadHandle {
        self.exporter.handle()
    }

    /// The API emulator.
    pub fn emulator(&self) -> &EmulatorHandle {
        &self.emulator
    }

    /// Every sample so far, oldest first.
    pub fn history(&self) -> Vec<Sample> {
        self.history
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The changes of `spec.replicas` the syncs saw, oldest first.
    pub fn replica_changes(&self) -> Vec<ReplicaChange> {
        changes(&self.history())
    }

    /// Writes a kubeconfig for the emulator into `dir` (current context `emulator`,
    /// default namespace the world's) and returns its path. The token is never checked:
    /// the emulator does no authentication.
    pub fn write_kubeconfig(&self, dir: &Path) -> Result<PathBuf, WorldError> {
        let path = dir.join("kubeconfig");
        let text = format!(
            "apiVersion: v1\n\
             kind: Config\n\
             clusters:\n\
             - name: emulator\n  cluster:\n    server: {url}\n\
             users:\n\
             - name: agent\n  user:\n    token: not-checked\n\
             contexts:\n\
             - name: emulator\n  context:\n    cluster: emulator\n    user: agent\n    namespace: {ns}\n\
             current-context: emulator\n",
            url = self.emulator.url(),
            ns = self.namespace,
        );
        std::fs::write(&path, text).map_err(io(format!("write {}", path.display())))?;
        Ok(path)
    }
}

impl Drop for ClusterWorld {
    fn drop(&mut self) {
        self.sync.abort();
    }
}

/// The changes of `spec_replicas` along `samples`.
pub fn changes(samples: &[Sample]) -> Vec<ReplicaChange> {
    samples
        .windows(2)
        .filter(|w| w[0].spec_replicas != w[1].spec_replicas)
        .map(|w| ReplicaChange {
            at_unix_s: w[1].at_unix_s,
            sim_s: w[1].sim_s,
            from: w[0].spec_replicas,
            to: w[1].spec_replicas,
        })
        .collect()
}

/// The map from simulated seconds to Unix seconds.
#[derive(Debug, Clone, Copy)]
struct SimClock {
    sim0: u64,
    unix0: f64,
    seconds_per_second: u64,
}

impl SimClock {
    fn unix_s(&self, sim_s: u64) -> u64 {
        let real = sim_s.saturating_sub(self.sim0) as f64 / self.seconds_per_second as f64;
        (self.unix0 + real).floor() as u64
    }
}

/// The sync task's state.
struct Syncer {
    namespace: String,
    deployment: String,
    workload: WorkloadHandle,
    emulator: EmulatorHandle,
    history: Arc<Mutex<Vec<Sample>>>,
    clock: SimClock,
}

impl Syncer {
    async fn run(self) {
        let mut tick = tokio::time::interval(SYNC_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            // The Deployment is never deleted while the world lives, so this cannot fail;
            // if it somehow did, the next sync tries again and the test's assertions on
            // the history report the gap.
            let _ = self.sync_once();
        }
    }

    /// Replicas from the API into the simulator, pods from the simulator into the API,
    /// and one sample.
    fn sync_once(&self) -> Result<(), WorldError> {
        let spec = self
            .emulator
            .spec_replicas(&self.namespace, &self.deployment)
            .ok_or_else(|| EmulatorError::NoSuchDeployment {
                namespace: self.namespace.clone(),
                name: self.deployment.clone(),
            })?;
        if self.workload.state().spec_replicas != spec {
            self.workload.set_replicas(spec);
        }
        // One lock for both reads, so the pods published match the state sampled.
        let (state, views) = self
            .workload
            .with(|w| (w.state(), w.simulator().pods().to_vec()));
        self.publish(&state, &views, spec)
    }

    fn publish(
        &self,
        state: &WorkloadState,
        views: &[PodView],
        spec: u32,
    ) -> Result<(), WorldError> {
        let mapped: Vec<PodView> = views
            .iter()
            .map(|v| PodView {
                created_at_s: self.clock.unix_s(v.created_at_s),
                ready_at_s: v.ready_at_s.map(|r| self.clock.unix_s(r)),
            })
            .collect();
        self.emulator
            .set_pods_from_views(&self.namespace, &self.deployment, &mapped, 0)?;
        let sample = Sample {
            at_unix_s: unix_now_f64(),
            sim_s: state.now_s,
            spec_replicas: spec,
            ready_pods: state.ready_pods,
            starting_pods: state.starting_pods,
            p95_s: state.observed.map(|o| o.p95_latency_s),
        };
        self.history
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(sample);
        Ok(())
    }
}

/// The few settings of an `agent.toml` a closed-loop test varies; everything else keeps
/// the agent's defaults.
#[derive(Debug, Clone)]
pub struct AgentSettings {
    /// `policy.model`: `hpa`, `dqn`, ….
    pub policy: String,
    /// Seconds between decisions.
    pub interval_s: f64,
    /// Prometheus's base URL.
    pub prometheus_url: String,
    /// The `rate()` window of the queries, seconds.
    pub rate_window_s: u64,
    /// `safety.min_replicas` and `safety.max_replicas`.
    pub replicas: (u32, u32),
    /// `safety.scale_up_cooldown_s`.
    pub scale_up_cooldown_s: u64,
    /// `safety.scale_down_cooldown_s`.
    pub scale_down_cooldown_s: u64,
    /// `safety.max_added_per_minute`.
    pub max_added_per_minute: u32,
    /// `safety.max_removed_per_minute`.
    pub max_removed_per_minute: u32,
    /// `safety.fallback.cpu_initialization_period_s`: how long after creation a pod's
    /// CPU sample is distrusted by the HPA rule.
    pub cpu_initialization_period_s: u64,
    /// `safety.fallback.downscale_stabilization_window_s`: how long the HPA rule keeps
    /// its highest recent recommendation before scaling down.
    pub downscale_stabilization_window_s: u64,
    /// Where `/metrics` is served.
    pub listen: SocketAddr,
    /// `safety.shadow_mode`.
    pub shadow_mode: bool,
    /// `safety.min_confidence`.
    pub min_confidence: f64,
    /// `safety.breaker`: `failure_threshold` and `open_duration_s`.
    pub breaker: (u32, u64),
    /// `target.request_timeout_s`.
    pub request_timeout_s: f64,
    /// `[leader_election]`, off when `None`.
    pub leader_election: Option<LeaderElectionSettings>,
    /// Further sections, appended to the file as they are (e.g. `[twin]`).
    pub extra_toml: String,
}

/// The `[leader_election]` section of one agent.
#[derive(Debug, Clone)]
pub struct LeaderElectionSettings {
    /// `namespace`: where the Lease lives.
    pub namespace: String,
    /// `lease_name`.
    pub lease_name: String,
    /// `identity`: unique per agent.
    pub identity: String,
    /// `lease_duration_s`.
    pub lease_duration_s: u32,
    /// `renew_deadline_s`.
    pub renew_deadline_s: f64,
    /// `retry_period_s`.
    pub retry_period_s: f64,
}

impl LeaderElectionSettings {
    /// The section's text.
    fn to_toml(&self) -> String {
        format!(
            "\n[leader_election]\nenabled = true\nnamespace = {ns:?}\nlease_name = {name:?}\n\
             identity = {id:?}\nlease_duration_s = {lease}\nrenew_deadline_s = {renew:?}\n\
             retry_period_s = {retry:?}\n",
            ns = self.namespace,
            name = self.lease_name,
            id = self.identity,
            lease = self.lease_duration_s,
            renew = self.renew_deadline_s,
            retry = self.retry_period_s,
        )
    }
}

impl AgentSettings {
    /// The agent's own defaults for `policy`, reading `prometheus_url` over a 10 s window
    /// every 0.5 s, serving `/metrics` on `listen`.
    pub fn new(policy: &str, prometheus_url: String, listen: SocketAddr) -> Self {
        Self {
            policy: policy.to_owned(),
            interval_s: 0.5,
            prometheus_url,
            rate_window_s: 10,
            replicas: (1, 20),
            scale_up_cooldown_s: 30,
            scale_down_cooldown_s: 180,
            max_added_per_minute: 5,
            max_removed_per_minute: 3,
            cpu_initialization_period_s: 300,
            downscale_stabilization_window_s: 300,
            listen,
            shadow_mode: false,
            min_confidence: 0.7,
            breaker: (3, 120),
            request_timeout_s: 5.0,
            leader_election: None,
            extra_toml: String::new(),
        }
    }

    /// The configuration file's text for scaling `namespace`/`deployment` through the
    /// kubeconfig at `kubeconfig`, with the experience log in `experience_dir`.
    pub fn to_toml(
        &self,
        (namespace, deployment): (&str, &str),
        kubeconfig: &Path,
        experience_dir: &Path,
    ) -> String {
        let mut text = format!(
            "interval_s = {interval}\n\n\
             [target]\nnamespace = {ns:?}\ndeployment = {dep:?}\nkubeconfig = {kube:?}\n\
             request_timeout_s = {timeout:?}\n\n\
             [prometheus]\nurl = {url:?}\nrate_window_s = {window}\n\n\
             [policy]\nmodel = {policy:?}\n\n\
             [safety]\nmin_replicas = {min}\nmax_replicas = {max}\n\
             scale_up_cooldown_s = {up}\nscale_down_cooldown_s = {down}\n\
             max_added_per_minute = {added}\nmax_removed_per_minute = {removed}\n\
             shadow_mode = {shadow}\nmin_confidence = {confidence:?}\n\n\
             [safety.breaker]\nfailure_threshold = {failures}\nopen_duration_s = {open}\n\n\
             [safety.fallback]\ncpu_initialization_period_s = {init}\n\
             downscale_stabilization_window_s = {stab}\n\n\
             [experience]\ndir = {exp:?}\n\n\
             [observability]\nlisten = \"{listen}\"\n",
            interval = self.interval_s,
            ns = namespace,
            dep = deployment,
            kube = kubeconfig.display().to_string(),
            url = self.prometheus_url,
            window = self.rate_window_s,
            policy = self.policy,
            min = self.replicas.0,
            max = self.replicas.1,
            up = self.scale_up_cooldown_s,
            down = self.scale_down_cooldown_s,
            added = self.max_added_per_minute,
            removed = self.max_removed_per_minute,
            init = self.cpu_initialization_period_s,
            stab = self.downscale_stabilization_window_s,
            exp = experience_dir.display().to_string(),
            listen = self.listen,
            shadow = self.shadow_mode,
            confidence = self.min_confidence,
            failures = self.breaker.0,
            open = self.breaker.1,
            timeout = self.request_timeout_s,
        );
        if let Some(le) = &self.leader_election {
            text.push_str(&le.to_toml());
        }
        text.push_str(&self.extra_toml);
        text
    }
}

/// A loopback address no one listens on now, for the agent's `/metrics` (see
/// [`crate::ports`] for why it is drawn below the ephemeral range).
pub fn free_loopback_addr() -> Result<SocketAddr, WorldError> {
    crate::ports::free_loopback_addr().map_err(io("find a free port"))
}

/// `edge-agent run` as a separate process, its JSON log going to a file. Dropping it
/// kills and reaps the process, so a failing test leaves no agent behind.
#[derive(Debug)]
pub struct AgentProcess {
    child: Child,
    log: PathBuf,
    listen: SocketAddr,
}

impl AgentProcess {
    /// Writes `settings` for `world` into `dir` (`agent.toml`, a kubeconfig, the
    /// experience directory) and starts `edge-agent run --config … --log-format json`,
    /// its stderr in `dir/agent.log`.
    pub fn spawn(
        world: &ClusterWorld,
        settings: &AgentSettings,
        dir: &Path,
    ) -> Result<Self, WorldError> {
        let kubeconfig = world.write_kubeconfig(dir)?;
        let text = settings.to_toml(
            (world.namespace(), world.deployment()),
            &kubeconfig,
            &dir.join("experience"),
        );
        let config = dir.join("agent.toml");
        std::fs::write(&config, text).map_err(io(format!("write {}", config.display())))?;
        let log = dir.join("agent.log");
        let stderr =
            std::fs::File::create(&log).map_err(io(format!("create {}", log.display())))?;
        let child = Command::new(crate::bin("edge-agent"))
            .arg("run")
            .arg("--config")
            .arg(&config)
            .args(["--log-format", "json"])
            .env_remove("EDGE_AGENT_CONFIG")
            .env_remove("KUBECONFIG")
            .env_remove("POD_NAME")
            .env_remove("POD_NAMESPACE")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(io("start edge-agent run"))?;
        Ok(Self {
            child,
            log,
            listen: settings.listen,
        })
    }

    /// Where it serves `/metrics`, `/healthz` and `/readyz`.
    pub fn listen(&self) -> SocketAddr {
        self.listen
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The last `lines` lines of its log, for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Its whole log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether it has exited, and how.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Its `/metrics`, parsed: one value per series, keyed by the name with its labels as
    /// printed (`rl_agent_fallback_total{reason="scale_up_cooldown"}`).
    pub async fn metrics(&self) -> Result<HashMap<String, f64>, String> {
        let body = http_get(self.listen, "/metrics").await?;
        Ok(parse_metrics(&body))
    }

    /// Sends SIGKILL, as a node failure or an OOM kill would end it: no clean-up runs, and
    /// waits for it to be gone.
    pub fn kill(&mut self) -> Result<ExitStatus, String> {
        self.child
            .kill()
            .map_err(|e| format!("cannot kill {}: {e}", self.pid()))?;
        self.child
            .wait()
            .map_err(|e| format!("cannot reap {}: {e}", self.pid()))
    }

    /// Sends SIGTERM and waits up to `deadline` for it to exit.
    pub async fn terminate(&mut self, deadline: Duration) -> Result<ExitStatus, String> {
        let pid = self.pid().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .map_err(|e| format!("cannot run kill: {e}"))?;
        if !sent.success() {
            return Err(format!("kill -TERM {pid} failed: {sent}"));
        }
        let until = Instant::now() + deadline;
        loop {
            if let Some(status) = self.exited() {
                return Ok(status);
            }
            if Instant::now() > until {
                return Err(format!("still running {deadline:?} after SIGTERM"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        if self.exited().is_none() {
            // Either may fail only because the process is already gone.
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A plain HTTP/1.0 GET (so the answer is never chunked) of `path` on `addr`; the body of
/// a 200 answer. Plain TCP because the workspace's reqwest has no TLS provider of its own
/// and `reqwest::Client::new()` would panic.
pub async fn http_get(addr: SocketAddr, path: &str) -> Result<String, String> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect to {addr}: {e}"))?;
        let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| format!("send GET {path}: {e}"))?;
        let mut raw = Vec::new();
        stream
            .read_to_end(&mut raw)
            .await
            .map_err(|e| format!("read the answer to GET {path}: {e}"))?;
        Ok::<_, String>(String::from_utf8_lossy(&raw).into_owned())
    };
    let text = tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .map_err(|_| format!("GET {path} on {addr} took over 5 s"))??;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("GET {path}: no header end in {text:?}"))?;
    let status = head.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(format!("GET {path}: {status}"));
    }
    Ok(body.to_owned())
}

/// Prometheus text format into series → value; comments and unparsable lines are skipped.
pub fn parse_metrics(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.trim().to_owned(), value.trim().parse().ok()?))
        })
        .collect()
}
