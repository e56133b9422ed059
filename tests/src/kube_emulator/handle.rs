//! The test's side of the emulator: start it, point a `kube` client at it, put the
//! workload in the state a scenario needs, count what the client wrote, and arm faults.
//! Clones share one emulator, which stops when the last clone is dropped, so a harness
//! that keeps it in step with the simulator can hold its own.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::http::Method;
use common::policy::PodView;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use tokio::task::JoinHandle;

use super::faults::FaultRule;
use super::objects;
use super::routes::{Shared, lock};
use super::server::serve;
use super::store::{Key, Logged, Store};

/// Why the harness could not change the emulated cluster.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// The loopback listener could not be opened.
    #[error("cannot listen on 127.0.0.1: {0}")]
    Listen(#[from] std::io::Error),
    /// The Deployment to act on does not exist.
    #[error("no Deployment {name:?} in namespace {namespace:?}")]
    NoSuchDeployment {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
    /// The listener's address made no URL (it always does).
    #[error("no URL for the emulator: {0}")]
    Url(#[from] axum::http::Error),
    /// The `kube` client could not be built for it.
    #[error("no client for the emulator: {0}")]
    Client(#[from] kube::Error),
    /// An object handed in lacks its name or namespace.
    #[error("the object has no metadata.name or metadata.namespace")]
    Unnamed,
}

/// Aborts the server task when the last handle goes.
#[derive(Debug)]
struct Server(JoinHandle<()>);

impl Drop for Server {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A running emulator. Cheap to clone; all clones see and change the same cluster.
#[derive(Debug, Clone)]
pub struct EmulatorHandle {
    shared: Shared,
    addr: SocketAddr,
    _server: Arc<Server>,
}

impl EmulatorHandle {
    /// Starts an empty cluster on a free loopback port, on the current Tokio runtime.
    pub async fn start() -> Result<Self, EmulatorError> {
        let shared: Shared = Arc::new(Mutex::new(Store::default()));
        let (addr, task) = serve(Arc::clone(&shared)).await?;
        Ok(Self {
            shared,
            addr,
            _server: Arc::new(Server(task)),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its base URL, as a kubeconfig's `server` would give it.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A client configuration for it, with `namespace` as the default namespace and
    /// otherwise `kube`'s defaults (including its retry of 429/503/504 answers).
    pub fn client_config(&self, namespace: &str) -> Result<kube::Config, EmulatorError> {
        let uri = axum::http::Uri::builder()
            .scheme("http")
            .authority(self.addr.to_string())
            .path_and_query("/")
            .build()?;
        let mut config = kube::Config::new(uri);
        config.default_namespace = namespace.to_owned();
        Ok(config)
    }

    /// A `kube` client talking to it.
    pub fn client(&self, namespace: &str) -> Result<kube::Client, EmulatorError> {
        Ok(kube::Client::try_from(self.client_config(namespace)?)?)
    }

    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        lock(&self.shared)
    }

    /// Creates (or replaces) a Deployment of `replicas` nginx pods selected by `labels`.
    pub fn add_deployment(
        &self,
        namespace: &str,
        name: &str,
        replicas: u32,
        labels: &[(&str, &str)],
    ) {
        let key = (namespace.to_owned(), name.to_owned());
        let deployment = objects::deployment(namespace, name, replicas, labels);
        self.store().put_deployment(key, deployment);
    }

    /// Stores a Deployment as given, e.g. one with `matchExpressions` in its selector.
    pub fn put_deployment(&self, deployment: Deployment) -> Result<(), EmulatorError> {
        let key = key_of(&deployment.metadata.namespace, &deployment.metadata.name)?;
        self.store().put_deployment(key, deployment);
        Ok(())
    }

    /// The Deployment as the API would return it now.
    pub fn deployment(&self, namespace: &str, name: &str) -> Option<Deployment> {
        self.store().deployment(&key(namespace, name)).cloned()
    }

    /// Its `spec.replicas`.
    pub fn spec_replicas(&self, namespace: &str, name: &str) -> Option<u32> {
        self.deployment(namespace, name)
            .and_then(|d| u32::try_from(objects::spec_replicas(&d)).ok())
    }

    /// Sets its `spec.replicas` from outside the API, as another writer (a person with
    /// `kubectl scale`) would; not logged as a request.
    pub fn set_spec_replicas(
        &self,
        namespace: &str,
        name: &str,
        replicas: u32,
    ) -> Result<(), EmulatorError> {
        let key = key(namespace, name);
        let mut store = self.store();
        let mut d = store
            .deployment(&key)
            .cloned()
            .ok_or_else(|| no_such(&key))?;
        if let Some(spec) = d.spec.as_mut() {
            spec.replicas = Some(i32::try_from(replicas).unwrap_or(i32::MAX));
        }
        store.put_deployment(key, d);
        Ok(())
    }

    /// Its `metadata.resourceVersion`.
    pub fn resource_version(&self, namespace: &str, name: &str) -> Option<String> {
        self.deployment(namespace, name)
            .and_then(|d| d.metadata.resource_version)
    }

    /// Replaces the Deployment's pods with the simulator's: simulated second 0 is Unix
    /// second `epoch_s`.
    pub fn set_pods_from_views(
        &self,
        namespace: &str,
        deployment: &str,
        views: &[PodView],
        epoch_s: u64,
    ) -> Result<(), EmulatorError> {
        let key = key(namespace, deployment);
        let mut store = self.store();
        let d = store.deployment(&key).ok_or_else(|| no_such(&key))?;
        let pods = objects::pods_from_views(d, views, epoch_s);
        store.replace_pods_of(&key, pods);
        Ok(())
    }

    /// Replaces the Deployment's pods with `ready` pods Ready since a minute ago and
    /// `pending` pods created just now.
    pub fn set_pod_counts(
        &self,
        namespace: &str,
        deployment: &str,
        ready: u32,
        pending: u32,
    ) -> Result<(), EmulatorError> {
        let now = objects::now_s();
        let started = now.saturating_sub(60);
        let views: Vec<PodView> = (0..ready)
            .map(|_| PodView {
                created_at_s: started.saturating_sub(30),
                ready_at_s: Some(started),
            })
            .chain((0..pending).map(|_| PodView {
                created_at_s: now,
                ready_at_s: None,
            }))
            .collect();
        self.set_pods_from_views(namespace, deployment, &views, 0)
    }

    /// A pod of the Deployment in its usual shape, to alter (mark terminating, failed)
    /// and store with [`Self::put_pod`]; `index` makes its name unique.
    pub fn pod_template(
        &self,
        namespace: &str,
        deployment: &str,
        index: usize,
        created_at_s: u64,
        ready_at_s: Option<u64>,
    ) -> Result<Pod, EmulatorError> {
        let key = key(namespace, deployment);
        let store = self.store();
        let d = store.deployment(&key).ok_or_else(|| no_such(&key))?;
        Ok(objects::pod(d, index, created_at_s, ready_at_s))
    }

    /// Stores one pod as given, next to the others.
    pub fn put_pod(&self, pod: Pod) -> Result<(), EmulatorError> {
        key_of(&pod.metadata.namespace, &pod.metadata.name)?;
        self.store().put_pod(pod);
        Ok(())
    }

    /// Write requests received (PATCH, PUT, POST, DELETE), whether or not they succeeded
    /// or a fault answered them: an attempted write is what shadow mode must never make.
    pub fn writes(&self) -> usize {
        self.store()
            .log
            .iter()
            .filter(|r| is_write(&r.method))
            .count()
    }

    /// Write requests received for one path.
    pub fn writes_to(&self, path: &str) -> usize {
        self.store()
            .log
            .iter()
            .filter(|r| is_write(&r.method) && r.path == path)
            .count()
    }

    /// Requests received with `method` for `path`.
    pub fn requests_to(&self, method: &Method, path: &str) -> usize {
        self.store()
            .log
            .iter()
            .filter(|r| r.method == *method && r.path == path)
            .count()
    }

    /// The Lease as the API would return it now.
    pub fn lease(&self, namespace: &str, name: &str) -> Option<Lease> {
        self.store().lease(&key(namespace, name)).cloned()
    }

    /// Its `spec.holderIdentity`, `None` when absent, empty or released.
    pub fn lease_holder(&self, namespace: &str, name: &str) -> Option<String> {
        self.lease(namespace, name)
            .and_then(|l| l.spec)
            .and_then(|s| s.holder_identity)
            .filter(|h| !h.is_empty())
    }

    /// Every request received so far, oldest first, whatever the answer was.
    pub fn request_log(&self) -> Vec<Logged> {
        self.store().log.clone()
    }

    /// Requests received in all.
    pub fn requests(&self) -> usize {
        self.store().log.len()
    }

    /// Arms a fault; earlier rules take precedence.
    pub fn inject(&self, rule: FaultRule) {
        self.store().faults.add(rule);
    }

    /// Disarms every fault.
    pub fn clear_faults(&self) {
        self.store().faults.clear();
    }
}

fn key(namespace: &str, name: &str) -> Key {
    (namespace.to_owned(), name.to_owned())
}

fn key_of(namespace: &Option<String>, name: &Option<String>) -> Result<Key, EmulatorError> {
    match (namespace, name) {
        (Some(ns), Some(name)) => Ok(key(ns, name)),
        _ => Err(EmulatorError::Unnamed),
    }
}

fn no_such(key: &Key) -> EmulatorError {
    EmulatorError::NoSuchDeployment {
        namespace: key.0.clone(),
        name: key.1.clone(),
    }
}

fn is_write(method: &Method) -> bool {
    [Method::PATCH, Method::PUT, Method::POST, Method::DELETE].contains(method)
}
