//! Why a call on the leader-election Lease failed, worded for the operator: a missing
//! permission names the RBAC verb and resource from [`crate::api_access`] and the
//! namespace to grant them in. A lost race (409) is not an error here but an outcome the
//! elector reasons about ([`super::elector::WriteOutcome::Conflict`]).

use std::time::Duration;

/// A failed read or write of the Lease.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LeaseError {
    /// 403: the agent's Role in its own namespace lacks a rule.
    #[error(
        "forbidden: the agent's ServiceAccount may not \"{verb}\" \"{resource}\" in namespace \
         \"{namespace}\"; grant it in the agent's Role for its own namespace (deploy/ RBAC) \
         (API said: {message})"
    )]
    Forbidden {
        /// The RBAC verb refused.
        verb: &'static str,
        /// The RBAC resource, `leases`.
        resource: &'static str,
        /// The namespace of the Lease.
        namespace: String,
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

    /// Any other error status.
    #[error("the API answered \"{verb}\" \"{resource}\" with {code} {reason}: {message}")]
    Api {
        /// The verb of the call.
        verb: &'static str,
        /// The resource of the call.
        resource: &'static str,
        /// HTTP status code.
        code: u16,
        /// The `reason` of the returned `Status`.
        reason: String,
        /// The API server's own message.
        message: String,
    },

    /// The API server could not be reached, or answered with something unreadable.
    #[error("\"{verb}\" \"{resource}\" failed: {source}")]
    Transport {
        /// The verb of the call.
        verb: &'static str,
        /// The resource of the call.
        resource: &'static str,
        /// What the client reported.
        #[source]
        source: kube::Error,
    },
}
