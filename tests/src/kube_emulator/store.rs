//! The emulated cluster's state: its objects (Deployments, pods, Leases), the revision
//! counter behind every
//! `resourceVersion`, the request log the tests count writes in, and the fault rules.
//! Writes through the API and through the harness both go through here, so the
//! bookkeeping a client can observe (resourceVersion, generation, Deployment status) is
//! the same whoever changed the object.

use std::collections::BTreeMap;
use std::time::Instant;

use axum::http::Method;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;

use super::faults::Faults;
use super::objects;
use super::selector::LabelQuery;

/// `(namespace, name)`.
pub(crate) type Key = (String, String);

/// One request as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    /// The HTTP method.
    pub method: Method,
    /// The path, without the query string.
    pub path: String,
    /// The query string, if any.
    pub query: Option<String>,
    /// The `User-Agent` header, if any: how a test tells apart the agents sharing one
    /// emulator.
    pub user_agent: Option<String>,
    /// When it arrived.
    pub at: Instant,
}

#[derive(Debug, Default)]
pub(crate) struct Store {
    /// The last revision handed out; like etcd's, it orders every change in the cluster.
    revision: u64,
    deployments: BTreeMap<Key, Deployment>,
    pods: BTreeMap<Key, Pod>,
    leases: BTreeMap<Key, Lease>,
    pub(crate) log: Vec<Logged>,
    pub(crate) faults: Faults,
}

impl Store {
    pub(crate) fn revision(&self) -> u64 {
        self.revision
    }

    fn next_revision(&mut self) -> String {
        self.revision += 1;
        self.revision.to_string()
    }

    pub(crate) fn deployment(&self, key: &Key) -> Option<&Deployment> {
        self.deployments.get(key)
    }

    /// Stores a new or changed Deployment: stamps a new resourceVersion, bumps the
    /// generation when its spec changed, and keeps its status in step with its pods.
    pub(crate) fn put_deployment(&mut self, key: Key, mut deployment: Deployment) {
        let old = self.deployments.get(&key);
        let generation = match old {
            None => 1,
            Some(old) if old.spec != deployment.spec => old.metadata.generation.unwrap_or(1) + 1,
            Some(old) => old.metadata.generation.unwrap_or(1),
        };
        let created = old
            .and_then(|o| o.metadata.creation_timestamp.clone())
            .unwrap_or_else(|| objects::time(objects::now_s()));
        let uid = old
            .and_then(|o| o.metadata.uid.clone())
            .unwrap_or_else(|| format!("00000000-0000-4000-8000-{:012}", self.revision + 1));
        let m = &mut deployment.metadata;
        m.name = Some(key.1.clone());
        m.namespace = Some(key.0.clone());
        m.generation = Some(generation);
        m.creation_timestamp = Some(created);
        m.uid = Some(uid);
        m.resource_version = Some(self.next_revision());
        self.deployments.insert(key.clone(), deployment);
        self.refresh_status(&key);
    }

    pub(crate) fn lease(&self, key: &Key) -> Option<&Lease> {
        self.leases.get(key)
    }

    /// Stores a new or replaced Lease under `key`, stamping a new resourceVersion and
    /// keeping the identity (uid, creation time) of the one it replaces.
    pub(crate) fn put_lease(&mut self, key: Key, mut lease: Lease) -> Lease {
        let old = self.leases.get(&key);
        let created = old
            .and_then(|o| o.metadata.creation_timestamp.clone())
            .unwrap_or_else(|| objects::time(objects::now_s()));
        let uid = old
            .and_then(|o| o.metadata.uid.clone())
            .unwrap_or_else(|| format!("00000000-0000-4000-a000-{:012}", self.revision + 1));
        let m = &mut lease.metadata;
        m.name = Some(key.1.clone());
        m.namespace = Some(key.0.clone());
        m.creation_timestamp = Some(created);
        m.uid = Some(uid);
        m.managed_fields = None;
        m.resource_version = Some(self.next_revision());
        self.leases.insert(key, lease.clone());
        lease
    }

    /// The pods in `namespace` selected by `query`, by name.
    pub(crate) fn pods_in(&self, namespace: &str, query: &LabelQuery) -> Vec<Pod> {
        self.pods
            .range((namespace.to_owned(), String::new())..)
            .take_while(|((ns, _), _)| ns == namespace)
            .filter(|(_, p)| query.matches(&objects::labels(p)))
            .map(|(_, p)| p.clone())
            .collect()
    }

    pub(crate) fn pod(&self, key: &Key) -> Option<&Pod> {
        self.pods.get(key)
    }

    /// Replaces the pods selected by the Deployment `key` with `pods`.
    pub(crate) fn replace_pods_of(&mut self, key: &Key, pods: Vec<Pod>) {
        if let Some(query) = self.query_of(key) {
            self.pods
                .retain(|(ns, _), p| ns != &key.0 || !query.matches(&objects::labels(p)));
        }
        for pod in pods {
            self.put_pod(pod);
        }
        self.refresh_status(key);
    }

    /// Stores one pod as given (the harness's way to add unusual ones), stamping its
    /// resourceVersion.
    pub(crate) fn put_pod(&mut self, mut pod: Pod) {
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        pod.metadata.resource_version = Some(self.next_revision());
        if pod.metadata.uid.is_none() {
            pod.metadata.uid = Some(format!("00000000-0000-4000-9000-{:012}", self.revision));
        }
        self.pods.insert((ns.clone(), name), pod);
        let owners: Vec<Key> = self
            .deployments
            .keys()
            .filter(|(dns, _)| *dns == ns)
            .cloned()
            .collect();
        for key in owners {
            self.refresh_status(&key);
        }
    }

    fn query_of(&self, key: &Key) -> Option<LabelQuery> {
        let deployment = self.deployments.get(key)?;
        LabelQuery::parse(&objects::selector_string(deployment)).ok()
    }

    /// Sets the Deployment's replica counts from its pods, as its controller would.
    fn refresh_status(&mut self, key: &Key) {
        let Some(query) = self.query_of(key) else {
            return;
        };
        let pods = self.pods_in(&key.0, &query);
        let live: Vec<&Pod> = pods
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .collect();
        let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
        let ready = count(live.iter().filter(|p| objects::is_ready(p)).count());
        let revision = self.revision + 1;
        let Some(d) = self.deployments.get_mut(key) else {
            return;
        };
        let before = d.status.clone();
        let status = d.status.get_or_insert_with(DeploymentStatus::default);
        status.observed_generation = d.metadata.generation;
        status.replicas = Some(count(live.len()));
        status.ready_replicas = Some(ready);
        status.available_replicas = Some(ready);
        status.unavailable_replicas = Some(count(live.len()) - ready);
        // A status update by the controller is a write like any other.
        if d.status != before {
            d.metadata.resource_version = Some(revision.to_string());
            self.revision = revision;
        }
    }
}
