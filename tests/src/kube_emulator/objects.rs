//! The API objects the emulator serves, built from `k8s-openapi` types so their JSON is
//! exactly what a real API server sends: Deployments as `kubectl create deployment` makes
//! them, their `autoscaling/v1` Scale, and pods in the states the ReplicaSet controller
//! and kubelet put them in.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use common::policy::PodView;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStatus};
use k8s_openapi::api::autoscaling::v1::{Scale, ScaleSpec, ScaleStatus};
use k8s_openapi::api::core::v1::{
    Container, Pod, PodCondition, PodSpec, PodStatus, PodTemplateSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;

/// The label the ReplicaSet controller adds to every pod it creates.
const POD_TEMPLATE_HASH: &str = "pod-template-hash";

/// Unix seconds as an API timestamp; out-of-range values (never produced by the
/// emulator's callers) saturate.
pub(crate) fn time(unix_s: u64) -> Time {
    let s = i64::try_from(unix_s).unwrap_or(i64::MAX);
    Time(Timestamp::from_second(s).unwrap_or(Timestamp::MAX))
}

/// Now, for objects the harness creates "now".
pub(crate) fn now_s() -> u64 {
    u64::try_from(Timestamp::now().as_second()).unwrap_or(0)
}

/// A Deployment of an nginx container with the given pod labels as its selector.
pub(crate) fn deployment(
    namespace: &str,
    name: &str,
    replicas: u32,
    labels: &[(&str, &str)],
) -> Deployment {
    let labels: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Deployment {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(namespace.to_owned()),
            labels: Some(labels.clone()),
            ..ObjectMeta::default()
        },
        spec: Some(DeploymentSpec {
            replicas: Some(i32::try_from(replicas).unwrap_or(i32::MAX)),
            selector: LabelSelector {
                match_labels: Some(labels.clone()),
                match_expressions: None,
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![Container {
                        name: "nginx".to_owned(),
                        image: Some("nginx:1.27".to_owned()),
                        ..Container::default()
                    }],
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        }),
        status: Some(DeploymentStatus::default()),
    }
}

/// The Deployment's `spec.replicas`; absent means zero, as the API omits zeros.
pub(crate) fn spec_replicas(deployment: &Deployment) -> i32 {
    deployment
        .spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(0)
}

/// The Deployment's selector as the scale subresource reports it (`status.selector`).
pub(crate) fn selector_string(deployment: &Deployment) -> String {
    deployment
        .spec
        .as_ref()
        .and_then(|s| kube::core::Selector::try_from(s.selector.clone()).ok())
        .map(|s| s.to_string())
        .unwrap_or_default()
}

/// The `autoscaling/v1` Scale of a Deployment: same name, uid and resourceVersion.
pub(crate) fn scale_of(deployment: &Deployment) -> Scale {
    let m = &deployment.metadata;
    Scale {
        metadata: ObjectMeta {
            name: m.name.clone(),
            namespace: m.namespace.clone(),
            uid: m.uid.clone(),
            resource_version: m.resource_version.clone(),
            creation_timestamp: m.creation_timestamp.clone(),
            ..ObjectMeta::default()
        },
        spec: Some(ScaleSpec {
            replicas: Some(spec_replicas(deployment)),
        }),
        status: Some(ScaleStatus {
            replicas: deployment
                .status
                .as_ref()
                .and_then(|s| s.replicas)
                .unwrap_or(0),
            selector: Some(selector_string(deployment)),
        }),
    }
}

/// A pod of `deployment`, named and labelled as its ReplicaSet would, created at
/// `created_at_s` and, if `ready_at_s` is set, Ready since then (Unix seconds).
pub(crate) fn pod(
    deployment: &Deployment,
    index: usize,
    created_at_s: u64,
    ready_at_s: Option<u64>,
) -> Pod {
    let name = deployment.metadata.name.as_deref().unwrap_or("workload");
    let mut labels = deployment
        .spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let hash = template_hash(&labels);
    labels.insert(POD_TEMPLATE_HASH.to_owned(), hash.clone());
    let created = time(created_at_s);
    let condition = |type_: &str, status: bool, at: Time| PodCondition {
        type_: type_.to_owned(),
        status: if status { "True" } else { "False" }.to_owned(),
        last_transition_time: Some(at),
        ..PodCondition::default()
    };
    let (ready, ready_since) = match ready_at_s {
        Some(at) => (true, time(at)),
        None => (false, created.clone()),
    };
    Pod {
        metadata: ObjectMeta {
            name: Some(format!("{name}-{hash}-{index:05}")),
            namespace: deployment.metadata.namespace.clone(),
            labels: Some(labels),
            creation_timestamp: Some(created.clone()),
            ..ObjectMeta::default()
        },
        spec: deployment
            .spec
            .as_ref()
            .and_then(|s| s.template.spec.clone()),
        status: Some(PodStatus {
            phase: Some(if ready { "Running" } else { "Pending" }.to_owned()),
            start_time: Some(created.clone()),
            conditions: Some(vec![
                condition("PodScheduled", true, created.clone()),
                condition("Initialized", true, created.clone()),
                condition("ContainersReady", ready, ready_since.clone()),
                condition("Ready", ready, ready_since),
            ]),
            ..PodStatus::default()
        }),
    }
}

/// Like the ReplicaSet controller's `pod-template-hash`, different for different pod
/// templates (here: their labels), so pods of a replaced template get new names.
fn template_hash(labels: &BTreeMap<String, String>) -> String {
    let mut hasher = DefaultHasher::new();
    labels.hash(&mut hasher);
    let hex = format!("{:016x}", hasher.finish());
    hex[..10].to_owned()
}

/// Pods for a Deployment from the simulator's view of them; simulated second 0 is Unix
/// second `epoch_s`.
pub(crate) fn pods_from_views(
    deployment: &Deployment,
    views: &[PodView],
    epoch_s: u64,
) -> Vec<Pod> {
    views
        .iter()
        .enumerate()
        .map(|(i, v)| {
            pod(
                deployment,
                i,
                epoch_s.saturating_add(v.created_at_s),
                v.ready_at_s.map(|r| epoch_s.saturating_add(r)),
            )
        })
        .collect()
}

/// The pod's labels, for selector matching.
pub(crate) fn labels(pod: &Pod) -> BTreeMap<String, String> {
    pod.metadata.labels.clone().unwrap_or_default()
}

/// Whether the pod counts as ready for the Deployment's status.
pub(crate) fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}
