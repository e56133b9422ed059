//! An emulator of the Kubernetes API, just wide enough for the agent: apps/v1
//! Deployments with their `scale` subresource (GET and merge PATCH), core/v1 pods listed
//! by label selector or read by name, coordination.k8s.io/v1 Leases (GET, POST, and PUT
//! guarded by `resourceVersion`) for its leader election, and `/version`.
//!
//! No real kube-apiserver can run on the machines these tests run on (no etcd, no
//! container runtime, no privileges), so the tests talk to this instead. It is kept
//! faithful where the client can tell: responses are `k8s-openapi` objects serialized as
//! the API server serializes them, errors are `meta.k8s.io/v1` `Status` objects with the
//! real `code`, `reason`, `details` and message formats, `resourceVersion` is a cluster
//! revision that moves on every change and a patch or replace carrying a stale one gets 409, and it
//! is served over real HTTP on loopback so `kube`'s whole client stack runs. What it does
//! not do: authentication, admission, watches, controllers (pods appear only when the
//! harness sets them, see [`EmulatorHandle::set_pods_from_views`]) and any resource not
//! listed above (404, as for a resource the server does not know).
//!
//! Faults ([`Fault`]) make it refuse chosen requests (403, 404, 409), stall before
//! answering, carry a write out but answer too late, or hang up without answering.

mod faults;
mod handle;
mod objects;
mod routes;
mod selector;
mod server;
mod status;
mod store;

pub use faults::{Fault, FaultRule};
pub use handle::{EmulatorError, EmulatorHandle};
pub use selector::{LabelQuery, SelectorError};
pub use status::AGENT_USER;
pub use store::Logged;
