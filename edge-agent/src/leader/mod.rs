//! Leader election, so that of the agents a DaemonSet runs in one cluster exactly one
//! writes the Deployment's scale while the others stand by, still reading and deciding so
//! they can take over with a warm model. The agents hold a `coordination.k8s.io/v1` Lease
//! in their own namespace, with the calls [`crate::api_access`] lists (get, create, and
//! update as a replace guarded by `resourceVersion`).
//!
//! The rules are client-go's, kept apart from the I/O the way the control loop keeps its
//! step pure: [`elector`] decides what to write and until when this agent may act, from
//! monotonic instants the shell passes in; [`task`] runs it against the API every retry
//! period and publishes the term's end; [`gate`] is what the control loop asks right
//! before each write; [`lease`] maps between the API object and the elector's view.
//!
//! Written here rather than taken from a crate: of the crates for kube 5,
//! `kube-lease-manager` judges expiry from the Lease's `renewTime` against the local wall
//! clock (so clock skew between nodes can let two holders act at once), takes the Lease
//! with patches (a verb the agent's Role does not otherwise need) and has no notion of a
//! renew deadline shorter than the lease, nor of leaving a write time to finish before
//! the term ends; `kube-leader-election` is built on kube 4.

pub(crate) mod elector;
pub(crate) mod error;
pub(crate) mod gate;
pub(crate) mod lease;
pub(crate) mod task;

#[cfg(test)]
mod interleaving;
