//! The async shell around [`Elector`]: every retry period it renews the Lease (or reads
//! it and writes what the elector asks for), each call under the request timeout, and
//! publishes the end of this agent's term for the control loop's [`LeaderGate`]. It logs
//! and counts each change of leadership, and on shutdown hands the Lease over.

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::jiff::Timestamp;
use kube::api::PostParams;
use kube::{Api, Client};
use tokio::sync::watch;
use tracing::{info, warn};

use super::elector::{ElectionConfig, Elector, LeaseWrite, WriteOutcome};
use super::error::LeaseError;
use super::gate::LeaderGate;
use super::lease::{lease_to_write, record_of};
use crate::api_access::{ApiCall, CREATE_LEASE, GET_LEASE, UPDATE_LEASE};
use crate::observe::metrics::AgentMetrics;

/// Where the Lease is and how long each call on it may take.
#[derive(Debug, Clone)]
pub(crate) struct LeaseLocation {
    /// The agent's own namespace.
    pub(crate) namespace: String,
    /// The Lease's name.
    pub(crate) name: String,
    /// The per-request timeout.
    pub(crate) timeout: Duration,
}

/// How a call went, beyond success.
enum CallFailure {
    /// 409: someone else wrote first (or created the Lease first).
    Conflict,
    /// 404.
    NotFound,
    Error(LeaseError),
}

/// The election task's state.
pub(crate) struct LeaderTask {
    api: Api<Lease>,
    at: LeaseLocation,
    elector: Elector,
    /// The Lease as last read or written, so a renewal keeps what others wrote into it.
    last: Option<Lease>,
    publish: watch::Sender<Option<Instant>>,
    metrics: Arc<AgentMetrics>,
    leading: bool,
}

impl std::fmt::Debug for LeaderTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaderTask")
            .field("at", &self.at)
            .field("elector", &self.elector)
            .field("leading", &self.leading)
            .finish_non_exhaustive()
    }
}

impl LeaderTask {
    /// The task for `cfg` on the Lease `at`, and the gate the control loop consults
    /// before writes that may take up to `write_timeout`.
    pub(crate) fn new(
        client: Client,
        at: LeaseLocation,
        cfg: ElectionConfig,
        write_timeout: Duration,
        metrics: Arc<AgentMetrics>,
    ) -> (Self, LeaderGate) {
        let (publish, deadline) = watch::channel(None);
        metrics.set_leader(false);
        let task = Self {
            api: Api::namespaced(client, &at.namespace),
            at,
            elector: Elector::new(cfg),
            last: None,
            publish,
            metrics,
            leading: false,
        };
        (task, LeaderGate::new(deadline, write_timeout))
    }

    /// Runs rounds until `shutdown` resolves, then releases the Lease if it holds it. The
    /// caller resolves `shutdown` only once the control loop has made its last write.
    pub(crate) async fn run(mut self, shutdown: impl Future<Output = ()>) {
        let mut ticker = tokio::time::interval(self.elector.config().retry_period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                _ = ticker.tick() => {}
            }
            self.round().await;
        }
        self.release().await;
    }

    /// One round: renew, or read and write what the elector asks for; then publish.
    async fn round(&mut self) {
        let write = match self.elector.renewal(Instant::now()) {
            Some(write) => Some(write),
            None => match self.read().await {
                Ok(lease) => {
                    let record = lease.as_ref().map(record_of);
                    self.last = lease;
                    self.elector.observe(Instant::now(), record)
                }
                Err(e) => {
                    self.metrics.lease_failed();
                    warn!(error = %e, lease = %self.at.name, "cannot read the leader-election Lease");
                    None
                }
            },
        };
        if let Some(write) = write {
            self.write(write).await;
        }
        self.publish();
    }

    async fn read(&self) -> Result<Option<Lease>, LeaseError> {
        match self.call(GET_LEASE, self.api.get(&self.at.name)).await {
            Ok(lease) => Ok(Some(lease)),
            Err(CallFailure::NotFound) => Ok(None),
            Err(CallFailure::Conflict) => Err(LeaseError::Api {
                verb: GET_LEASE.verb,
                resource: GET_LEASE.resource,
                code: 409,
                reason: "Conflict".to_owned(),
                message: "a read answered with a conflict".to_owned(),
            }),
            Err(CallFailure::Error(e)) => Err(e),
        }
    }

    /// Sends `write` and tells the elector how it went.
    async fn write(&mut self, write: LeaseWrite) {
        let sent = Instant::now();
        let params = PostParams::default();
        let result = match &write {
            LeaseWrite::Create(spec) => {
                let lease = lease_to_write(
                    &self.at.namespace,
                    &self.at.name,
                    None,
                    spec,
                    None,
                    Timestamp::now(),
                );
                self.call(CREATE_LEASE, self.api.create(&params, &lease))
                    .await
            }
            LeaseWrite::Update {
                spec,
                resource_version,
            } => {
                let lease = lease_to_write(
                    &self.at.namespace,
                    &self.at.name,
                    self.last.as_ref(),
                    spec,
                    Some(resource_version),
                    Timestamp::now(),
                );
                self.call(
                    UPDATE_LEASE,
                    self.api.replace(&self.at.name, &params, &lease),
                )
                .await
            }
        };
        let outcome = match result {
            Ok(lease) => {
                let record = record_of(&lease);
                self.last = Some(lease);
                WriteOutcome::Written(record)
            }
            Err(CallFailure::Conflict) => WriteOutcome::Conflict,
            // Deleted under us: the next read finds it absent and creates it again.
            Err(CallFailure::NotFound) => WriteOutcome::Failed,
            Err(CallFailure::Error(e)) => {
                self.metrics.lease_failed();
                warn!(error = %e, lease = %self.at.name, "cannot write the leader-election Lease");
                WriteOutcome::Failed
            }
        };
        self.elector.written(sent, Instant::now(), outcome);
    }

    /// Publishes the term's end and reports a change of leadership once.
    fn publish(&mut self) {
        self.publish.send_replace(self.elector.acting_deadline());
        let leading = self.elector.is_leader(Instant::now());
        if leading != self.leading {
            self.leading = leading;
            self.metrics.set_leader(leading);
            let identity = &self.elector.config().identity;
            if leading {
                info!(identity = %identity, lease = %self.at.name, "became leader");
            } else {
                info!(identity = %identity, lease = %self.at.name, "lost leadership");
            }
        }
    }

    /// Stops acting, then clears the holder so another agent takes over at its next read.
    async fn release(&mut self) {
        let release = self.elector.release();
        self.publish.send_replace(None);
        if self.leading {
            self.leading = false;
            self.metrics.set_leader(false);
        }
        let Some(write) = release else {
            return;
        };
        self.write(write).await;
        info!(lease = %self.at.name, "released the leader-election Lease");
    }

    /// Runs one request under the timeout, naming the call in its error.
    async fn call<T>(
        &self,
        call: ApiCall,
        request: impl Future<Output = Result<T, kube::Error>>,
    ) -> Result<T, CallFailure> {
        match tokio::time::timeout(self.at.timeout, request).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(classify(err, call, &self.at.namespace)),
            Err(_elapsed) => Err(CallFailure::Error(LeaseError::Timeout {
                verb: call.verb,
                resource: call.resource,
                timeout: self.at.timeout,
            })),
        }
    }
}

/// The HTTP code decides; the `reason` stands in for a `Status` that carries no code.
fn classify(err: kube::Error, call: ApiCall, namespace: &str) -> CallFailure {
    let status = match err {
        kube::Error::Api(status) => status,
        other => {
            return CallFailure::Error(LeaseError::Transport {
                verb: call.verb,
                resource: call.resource,
                source: other,
            });
        }
    };
    let code = if status.code == 0 {
        match status.reason.as_str() {
            "Forbidden" => 403,
            "NotFound" => 404,
            "Conflict" | "AlreadyExists" => 409,
            _ => 0,
        }
    } else {
        status.code
    };
    match code {
        403 => CallFailure::Error(LeaseError::Forbidden {
            verb: call.verb,
            resource: call.resource,
            namespace: namespace.to_owned(),
            message: status.message,
        }),
        404 => CallFailure::NotFound,
        409 => CallFailure::Conflict,
        code => CallFailure::Error(LeaseError::Api {
            verb: call.verb,
            resource: call.resource,
            code,
            reason: status.reason,
            message: status.message,
        }),
    }
}

#[cfg(test)]
mod tests {
    use kube::core::Status;

    use super::*;

    fn api_error(code: u16, reason: &str) -> kube::Error {
        kube::Error::Api(Status::failure("no", reason).with_code(code).boxed())
    }

    #[test]
    fn forbidden_names_the_verb_resource_and_the_agents_namespace() {
        let CallFailure::Error(e) =
            classify(api_error(403, "Forbidden"), UPDATE_LEASE, "rl-system")
        else {
            panic!("not an error")
        };
        let text = e.to_string();
        assert!(
            text.contains("may not \"update\" \"leases\" in namespace \"rl-system\""),
            "{text}"
        );
    }

    #[test]
    fn conflicts_and_already_exists_are_lost_races() {
        assert!(matches!(
            classify(api_error(409, "AlreadyExists"), CREATE_LEASE, "ns"),
            CallFailure::Conflict
        ));
        assert!(matches!(
            classify(api_error(0, "Conflict"), UPDATE_LEASE, "ns"),
            CallFailure::Conflict
        ));
        assert!(matches!(
            classify(api_error(404, "NotFound"), GET_LEASE, "ns"),
            CallFailure::NotFound
        ));
        assert!(matches!(
            classify(api_error(500, "InternalError"), GET_LEASE, "ns"),
            CallFailure::Error(LeaseError::Api { code: 500, .. })
        ));
    }
}
