//! What the agent tells the outside world about itself while `edge-agent run` drives a
//! cluster: Prometheus metrics (every decision, every override and why, the replicas and
//! p95 it sees, the model version, how long a decision takes) and the liveness and
//! readiness probes Kubernetes restarts and routes by. The control loop writes; the HTTP
//! server only reads, so a slow scrape can never hold up a decision.

pub(crate) mod health;
pub(crate) mod metrics;
pub(crate) mod server;
