//! Why an actuator call failed, worded for the operator who has to fix it: a missing
//! permission names the RBAC verb and resource to grant, a missing workload names the
//! Deployment and namespace looked for. [`ActuatorError::is_transient`] tells the
//! caller's circuit breaker which failures may heal by themselves.

use std::path::PathBuf;
use std::time::Duration;

/// A failed read or write of the target workload.
#[derive(Debug, thiserror::Error)]
pub enum ActuatorError {
    /// The API refused the call (403): the agent's Role lacks a rule.
    #[error(
        "forbidden: the agent's ServiceAccount may not \"{verb}\" \"{resource}\" in namespace \
         \"{namespace}\"; grant it in the agent's Role (deploy/ RBAC) (API said: {message})"
    )]
    Forbidden {
        /// The RBAC verb refused, e.g. `patch`.
        verb: &'static str,
        /// The RBAC resource, with its subresource, e.g. `deployments/scale`.
        resource: &'static str,
        /// Namespace of the call.
        namespace: String,
        /// The API server's own message.
        message: String,
    },

    /// The Deployment does not exist (404).
    #[error(
        "Deployment \"{deployment}\" not found in namespace \"{namespace}\" (while trying to \
         \"{verb}\" \"{resource}\"): check the agent's target namespace and deployment"
    )]
    NotFound {
        /// The Deployment looked for.
        deployment: String,
        /// Its namespace.
        namespace: String,
        /// The verb of the failed call.
        verb: &'static str,
        /// The resource of the failed call.
        resource: &'static str,
    },

    /// The object changed between read and write (409); reading again and retrying is safe.
    #[error("conflict on \"{verb}\" \"{resource}\" of Deployment \"{deployment}\": {message}")]
    Conflict {
        /// The verb of the failed call.
        verb: &'static str,
        /// The resource of the failed call.
        resource: &'static str,
        /// The Deployment.
        deployment: String,
        /// The API server's own message.
        message: String,
    },

    /// No answer within the per-request timeout.
    #[error("no answer to \"{verb}\" \"{resource}\" within {timeout:?}")]
    Timeout {
        /// The verb of the call.
        verb: &'static str,
        /// The resource of the call.
        resource: &'static str,
        /// The timeout in force.
        timeout: Duration,
    },

    /// Any other error status from the API server.
    #[error("the API answered \"{verb}\" \"{resource}\" with {code} {reason}: {message}")]
    Api {
        /// The verb of the call.
        verb: &'static str,
        /// The resource of the call.
        resource: &'static str,
        /// HTTP status code.
        code: u16,
        /// The `reason` of the returned `Status`, e.g. `TooManyRequests`.
        reason: String,
        /// The API server's own message.
        message: String,
    },

    /// The API server could not be reached, or the exchange broke off.
    #[error("\"{verb}\" \"{resource}\" did not reach the API server: {source}")]
    Transport {
        /// The verb of the call.
        verb: &'static str,
        /// The resource of the call.
        resource: &'static str,
        /// What the client reported.
        #[source]
        source: kube::Error,
    },

    /// The API answered with something the agent cannot use.
    #[error("unusable answer to \"{verb}\" \"{resource}\": {detail}")]
    Malformed {
        /// The verb of the call.
        verb: &'static str,
        /// The resource of the call.
        resource: &'static str,
        /// What was wrong with it.
        detail: String,
    },

    /// The request cannot be expressed in the API's types.
    #[error("cannot ask for {0} replicas: the API's replica count is a 32-bit signed integer")]
    ReplicasOutOfRange(u32),
}

impl ActuatorError {
    /// Whether retrying the same call later may succeed without anyone changing the
    /// cluster: timeouts, broken connections, conflicts, throttling and server errors.
    /// Missing permissions, a missing Deployment and unusable answers need a person.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Timeout { .. } | Self::Transport { .. } | Self::Conflict { .. } => true,
            Self::Api { code, .. } => *code == 429 || *code >= 500,
            Self::Forbidden { .. }
            | Self::NotFound { .. }
            | Self::Malformed { .. }
            | Self::ReplicasOutOfRange(_) => false,
        }
    }
}

/// Why no Kubernetes client could be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Neither the in-cluster environment nor a kubeconfig was usable.
    #[error(
        "no Kubernetes configuration found (in-cluster service account, $KUBECONFIG or \
         ~/.kube/config): {0}"
    )]
    Infer(#[source] kube::config::InferConfigError),

    /// The named kubeconfig could not be read or used.
    #[error("kubeconfig {}: {source}", path.display())]
    Kubeconfig {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        #[source]
        source: kube::config::KubeconfigError,
    },

    /// The `User-Agent` (which names the agent's identity) is not a valid header value.
    #[error(
        "cannot send {value:?} as the User-Agent: leader_election.identity must be printable \
         ASCII"
    )]
    UserAgent {
        /// The value refused.
        value: String,
    },

    /// The configuration was found but the client could not be built from it (TLS
    /// material, proxy settings).
    #[error("building the Kubernetes client: {0}")]
    Build(#[source] kube::Error),
}
