//! The actuator for a real cluster: one Deployment, read and scaled through the Kubernetes
//! API. Replicas are read and written through the `scale` subresource, the same narrow
//! surface the HPA uses, so the agent's Role needs no write access to the Deployment
//! itself; pods are listed with the Deployment's own selector so that the ready and
//! pending counts are exactly the pods the Deployment manages.
//!
//! Every request runs under its own timeout: the control loop must keep its pace (and its
//! circuit breaker must see a failure) even when the API server hangs.

use std::path::Path;
use std::time::Duration;

use axum::http::HeaderValue;
use axum::http::header::USER_AGENT;
use common::policy::PodView;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, Time};
use kube::api::{ListParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::Selector;
use kube::{Api, Client, Config};

use super::error::{ActuatorError, ClientError};
use super::{Actuator, ScaleState};
use crate::api_access::{ApiCall as Call, GET_DEPLOYMENT, GET_SCALE, LIST_PODS, PATCH_SCALE};

/// The per-request timeout when none is configured: well under a decision interval, well
/// over an API server's normal answer time.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Scales one Deployment through the Kubernetes API.
#[derive(Clone)]
pub struct KubeActuator {
    deployments: Api<Deployment>,
    pods: Api<Pod>,
    namespace: String,
    deployment: String,
    timeout: Duration,
    /// The Deployment's selector as a query string. An apps/v1 selector is immutable, so
    /// it is read once, and again only after the Deployment went missing (it may have been
    /// recreated with another one).
    selector: Option<String>,
}

impl std::fmt::Debug for KubeActuator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeActuator")
            .field("namespace", &self.namespace)
            .field("deployment", &self.deployment)
            .field("timeout", &self.timeout)
            .field("selector", &self.selector)
            .finish_non_exhaustive()
    }
}

impl KubeActuator {
    /// The actuator for Deployment `deployment` in `namespace`; each API request fails
    /// with [`ActuatorError::Timeout`] after `timeout`.
    pub fn new(
        client: Client,
        namespace: impl Into<String>,
        deployment: impl Into<String>,
        timeout: Duration,
    ) -> Self {
        let namespace = namespace.into();
        Self {
            deployments: Api::namespaced(client.clone(), &namespace),
            pods: Api::namespaced(client, &namespace),
            namespace,
            deployment: deployment.into(),
            timeout,
            selector: None,
        }
    }

    /// The target namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The target Deployment.
    pub fn deployment(&self) -> &str {
        &self.deployment
    }

    /// Runs one request under the timeout and turns its failure into an error that names
    /// the call and the target.
    async fn call<T>(
        &self,
        call: Call,
        request: impl Future<Output = Result<T, kube::Error>>,
    ) -> Result<T, ActuatorError> {
        match tokio::time::timeout(self.timeout, request).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(map_error(err, call, &self.namespace, &self.deployment)),
            Err(_elapsed) => Err(ActuatorError::Timeout {
                verb: call.verb,
                resource: call.resource,
                timeout: self.timeout,
            }),
        }
    }

    async fn selector(&mut self) -> Result<String, ActuatorError> {
        if let Some(selector) = &self.selector {
            return Ok(selector.clone());
        }
        let deployment = self
            .call(GET_DEPLOYMENT, self.deployments.get(&self.deployment))
            .await?;
        let spec = deployment
            .spec
            .ok_or_else(|| malformed(GET_DEPLOYMENT, "no spec"))?;
        let selector = selector_string(spec.selector)
            .map_err(|detail| malformed(GET_DEPLOYMENT, &format!("spec.selector: {detail}")))?;
        self.selector = Some(selector.clone());
        Ok(selector)
    }

    async fn read_state(&mut self) -> Result<ScaleState, ActuatorError> {
        let selector = self.selector().await?;
        let scale = self
            .call(GET_SCALE, self.deployments.get_scale(&self.deployment))
            .await?;
        // `replicas` is omitted when zero, as every zero integer in the API's JSON.
        let replicas = scale.spec.and_then(|s| s.replicas).unwrap_or(0);
        let spec_replicas = u32::try_from(replicas)
            .map_err(|_| malformed(GET_SCALE, &format!("spec.replicas is {replicas}")))?;
        let list = self
            .call(
                LIST_PODS,
                self.pods.list(&ListParams::default().labels(&selector)),
            )
            .await?;
        let mut pods = Vec::with_capacity(list.items.len());
        for pod in &list.items {
            if let Some(view) = classify_pod(pod).map_err(|detail| malformed(LIST_PODS, &detail))? {
                pods.push(view);
            }
        }
        Ok(ScaleState::from_pods(spec_replicas, pods))
    }

    async fn write_scale(&mut self, replicas: u32) -> Result<(), ActuatorError> {
        let replicas =
            i32::try_from(replicas).map_err(|_| ActuatorError::ReplicasOutOfRange(replicas))?;
        let patch = Patch::Merge(serde_json::json!({ "spec": { "replicas": replicas } }));
        self.call(
            PATCH_SCALE,
            self.deployments
                .patch_scale(&self.deployment, &PatchParams::default(), &patch),
        )
        .await?;
        Ok(())
    }

    fn forget_selector_if_missing<T>(&mut self, result: &Result<T, ActuatorError>) {
        if matches!(result, Err(ActuatorError::NotFound { .. })) {
            self.selector = None;
        }
    }
}

impl Actuator for KubeActuator {
    async fn state(&mut self) -> Result<ScaleState, ActuatorError> {
        let result = self.read_state().await;
        self.forget_selector_if_missing(&result);
        result
    }

    async fn scale(&mut self, replicas: u32) -> Result<(), ActuatorError> {
        let result = self.write_scale(replicas).await;
        self.forget_selector_if_missing(&result);
        result
    }
}

/// A client from the environment the agent runs in: the in-cluster service account when
/// running in a pod, otherwise `$KUBECONFIG` or `~/.kube/config`. Every request carries
/// `user_agent` (see [`user_agent`]).
pub async fn infer_client(user_agent: &str) -> Result<Client, ClientError> {
    let config = Config::infer().await.map_err(ClientError::Infer)?;
    client_with(config, user_agent)
}

/// A client from an explicit kubeconfig file, with its current context unless `context`
/// names another (a MicroK8s kubeconfig exported next to others, say). Every request
/// carries `user_agent`.
pub async fn client_from_kubeconfig(
    path: &Path,
    context: Option<&str>,
    user_agent: &str,
) -> Result<Client, ClientError> {
    let kubeconfig_error = |source| ClientError::Kubeconfig {
        path: path.to_path_buf(),
        source,
    };
    let kubeconfig = Kubeconfig::read_from(path).map_err(kubeconfig_error)?;
    let options = KubeConfigOptions {
        context: context.map(str::to_owned),
        ..KubeConfigOptions::default()
    };
    let config = Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(kubeconfig_error)?;
    client_with(config, user_agent)
}

/// The `User-Agent` the agent's requests carry: its name and version, and the identity it
/// holds the leader-election Lease under, if any. The API server's audit log records it
/// for every request, so a write to the Deployment can be traced to the pod that made it
/// (the client sends no `User-Agent` of its own).
pub fn user_agent(identity: Option<&str>) -> String {
    let base = concat!("edge-agent/", env!("CARGO_PKG_VERSION"));
    match identity {
        Some(identity) => format!("{base} ({identity})"),
        None => base.to_owned(),
    }
}

fn client_with(mut config: Config, user_agent: &str) -> Result<Client, ClientError> {
    let value = HeaderValue::from_str(user_agent).map_err(|_| ClientError::UserAgent {
        value: user_agent.to_owned(),
    })?;
    config.headers.push((USER_AGENT, value));
    Client::try_from(config).map_err(ClientError::Build)
}

fn malformed(call: Call, detail: &str) -> ActuatorError {
    ActuatorError::Malformed {
        verb: call.verb,
        resource: call.resource,
        detail: detail.to_owned(),
    }
}

/// Turns a client error into one that says what to do about it. The HTTP code decides;
/// the `reason` is the fallback for a `Status` body that carries none.
fn map_error(err: kube::Error, call: Call, namespace: &str, deployment: &str) -> ActuatorError {
    let status = match err {
        kube::Error::Api(status) => status,
        kube::Error::SerdeError(e) => return malformed(call, &e.to_string()),
        kube::Error::FromUtf8(e) => return malformed(call, &e.to_string()),
        other => {
            return ActuatorError::Transport {
                verb: call.verb,
                resource: call.resource,
                source: other,
            };
        }
    };
    let code = match (status.code, status.reason.as_str()) {
        (0, "Forbidden") => 403,
        (0, "NotFound") => 404,
        (0, "Conflict") => 409,
        (code, _) => code,
    };
    match code {
        403 => ActuatorError::Forbidden {
            verb: call.verb,
            resource: call.resource,
            namespace: namespace.to_owned(),
            message: status.message,
        },
        404 => ActuatorError::NotFound {
            deployment: deployment.to_owned(),
            namespace: namespace.to_owned(),
            verb: call.verb,
            resource: call.resource,
        },
        409 => ActuatorError::Conflict {
            verb: call.verb,
            resource: call.resource,
            deployment: deployment.to_owned(),
            message: status.message,
        },
        code => ActuatorError::Api {
            verb: call.verb,
            resource: call.resource,
            code,
            reason: status.reason,
            message: status.message,
        },
    }
}

/// The selector as the `labelSelector` query parameter wants it. An empty selector would
/// list every pod in the namespace, so it is refused rather than sent (apps/v1 forbids it
/// anyway).
fn selector_string(selector: LabelSelector) -> Result<String, String> {
    let selector = Selector::try_from(selector).map_err(|e| e.to_string())?;
    if selector.selects_all() {
        return Err("empty: it would select every pod in the namespace".to_owned());
    }
    Ok(selector.to_string())
}

/// The pod as the policies see it, or `None` if it does not count toward the workload:
/// it is being deleted, or it has finished (`Succeeded`/`Failed` pods stay listed until
/// garbage-collected but serve nothing and the ReplicaSet has already replaced them).
fn classify_pod(pod: &Pod) -> Result<Option<PodView>, String> {
    if pod.metadata.deletion_timestamp.is_some() {
        return Ok(None);
    }
    let status = pod.status.as_ref();
    if let Some("Succeeded" | "Failed") = status.and_then(|s| s.phase.as_deref()) {
        return Ok(None);
    }
    let name = pod.metadata.name.as_deref().unwrap_or("<unnamed>");
    let created_at_s = pod
        .metadata
        .creation_timestamp
        .as_ref()
        .map(unix_seconds)
        .ok_or_else(|| format!("pod {name} has no metadata.creationTimestamp"))?;
    let ready = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|conditions| conditions.iter().find(|c| c.type_ == "Ready"))
        .filter(|c| c.status == "True");
    // The kubelet always stamps the transition; if a server did not, the pod is still
    // ready, and its creation is the latest moment known to precede readiness.
    let ready_at_s = ready.map(|c| {
        c.last_transition_time
            .as_ref()
            .map_or(created_at_s, unix_seconds)
    });
    Ok(Some(PodView {
        created_at_s,
        ready_at_s,
    }))
}

/// Seconds since the Unix epoch; a timestamp before 1970 (never seen from a real server)
/// counts as the epoch.
fn unix_seconds(time: &Time) -> u64 {
    u64::try_from(time.0.as_second()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::api::core::v1::{PodCondition, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelectorRequirement, ObjectMeta};
    use k8s_openapi::jiff::Timestamp;
    use kube::core::Status;

    use super::*;

    fn time(s: i64) -> Time {
        Time(Timestamp::from_second(s).unwrap())
    }

    fn requirement(key: &str, operator: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: operator.into(),
            values: Some(values.iter().map(|v| (*v).to_owned()).collect()),
        }
    }

    #[test]
    fn selector_joins_labels_and_expressions() {
        let selector = LabelSelector {
            match_labels: Some(BTreeMap::from([
                ("tier".to_owned(), "web".to_owned()),
                ("app".to_owned(), "shop".to_owned()),
            ])),
            match_expressions: Some(vec![
                requirement("track", "In", &["stable", "canary"]),
                requirement("zone", "NotIn", &["b"]),
                LabelSelectorRequirement {
                    key: "owner".into(),
                    operator: "Exists".into(),
                    values: None,
                },
                LabelSelectorRequirement {
                    key: "legacy".into(),
                    operator: "DoesNotExist".into(),
                    values: None,
                },
            ]),
        };
        assert_eq!(
            selector_string(selector).unwrap(),
            "app=shop,tier=web,track in (canary,stable),zone notin (b),owner,!legacy"
        );
    }

    #[test]
    fn empty_or_invalid_selectors_are_refused() {
        let empty = selector_string(LabelSelector::default()).unwrap_err();
        assert!(empty.contains("every pod"), "{empty}");
        let bad = LabelSelector {
            match_labels: None,
            match_expressions: Some(vec![requirement("app", "Matches", &["x"])]),
        };
        assert!(selector_string(bad).is_err());
    }

    fn pod(created: i64, phase: &str, ready: Option<(&str, Option<i64>)>, deleting: bool) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some("web-1".into()),
                creation_timestamp: Some(time(created)),
                deletion_timestamp: deleting.then(|| time(created + 100)),
                ..ObjectMeta::default()
            },
            spec: None,
            status: Some(PodStatus {
                phase: Some(phase.into()),
                conditions: ready.map(|(status, at)| {
                    vec![
                        PodCondition {
                            type_: "PodScheduled".into(),
                            status: "True".into(),
                            last_transition_time: Some(time(created)),
                            ..PodCondition::default()
                        },
                        PodCondition {
                            type_: "Ready".into(),
                            status: status.into(),
                            last_transition_time: at.map(time),
                            ..PodCondition::default()
                        },
                    ]
                }),
                ..PodStatus::default()
            }),
        }
    }

    #[test]
    fn ready_pods_carry_the_time_they_became_ready() {
        let view = classify_pod(&pod(
            1_700_000_000,
            "Running",
            Some(("True", Some(1_700_000_042))),
            false,
        ))
        .unwrap()
        .unwrap();
        assert_eq!(
            view,
            PodView {
                created_at_s: 1_700_000_000,
                ready_at_s: Some(1_700_000_042)
            }
        );
    }

    #[test]
    fn pods_not_ready_are_pending() {
        for p in [
            pod(1_700_000_000, "Pending", None, false),
            pod(
                1_700_000_000,
                "Running",
                Some(("False", Some(1_700_000_005))),
                false,
            ),
            pod(1_700_000_000, "Running", Some(("Unknown", None)), false),
        ] {
            let view = classify_pod(&p).unwrap().unwrap();
            assert_eq!(view.ready_at_s, None, "{p:?}");
            assert_eq!(view.created_at_s, 1_700_000_000);
        }
    }

    #[test]
    fn terminating_and_finished_pods_do_not_count() {
        let ready = Some(("True", Some(1_700_000_010)));
        assert_eq!(
            classify_pod(&pod(1_700_000_000, "Running", ready, true)).unwrap(),
            None
        );
        assert_eq!(
            classify_pod(&pod(1_700_000_000, "Succeeded", None, false)).unwrap(),
            None
        );
        assert_eq!(
            classify_pod(&pod(1_700_000_000, "Failed", ready, false)).unwrap(),
            None
        );
    }

    #[test]
    fn a_pod_without_creation_time_is_reported() {
        let mut p = pod(1_700_000_000, "Running", None, false);
        p.metadata.creation_timestamp = None;
        assert!(classify_pod(&p).unwrap_err().contains("web-1"));
    }

    fn api_error(code: u16, reason: &str, message: &str) -> kube::Error {
        kube::Error::Api(Status::failure(message, reason).with_code(code).boxed())
    }

    #[test]
    fn forbidden_names_the_verb_resource_and_namespace() {
        let err = map_error(
            api_error(403, "Forbidden", "deployments.apps \"web\" is forbidden"),
            PATCH_SCALE,
            "shop",
            "web",
        );
        assert!(matches!(
            err,
            ActuatorError::Forbidden {
                verb: "patch",
                resource: "deployments/scale",
                ..
            }
        ));
        assert!(!err.is_transient());
        let text = err.to_string();
        assert!(
            text.starts_with(
                "forbidden: the agent's ServiceAccount may not \"patch\" \"deployments/scale\" \
                 in namespace \"shop\"; grant it in the agent's Role (deploy/ RBAC)"
            ),
            "{text}"
        );
    }

    #[test]
    fn not_found_names_the_deployment_and_namespace() {
        let err = map_error(
            api_error(404, "NotFound", "not found"),
            GET_SCALE,
            "shop",
            "web",
        );
        let text = err.to_string();
        assert!(matches!(err, ActuatorError::NotFound { .. }));
        assert!(
            text.contains("\"web\"") && text.contains("\"shop\""),
            "{text}"
        );
        assert!(!err.is_transient());
    }

    #[test]
    fn conflict_and_server_errors_are_transient() {
        let conflict = map_error(
            api_error(409, "Conflict", "modified"),
            PATCH_SCALE,
            "shop",
            "web",
        );
        assert!(matches!(conflict, ActuatorError::Conflict { .. }));
        assert!(conflict.is_transient());

        let throttled = map_error(
            api_error(429, "TooManyRequests", "slow down"),
            LIST_PODS,
            "shop",
            "web",
        );
        assert!(matches!(throttled, ActuatorError::Api { code: 429, .. }));
        assert!(throttled.is_transient());

        let invalid = map_error(api_error(422, "Invalid", "bad"), PATCH_SCALE, "shop", "web");
        assert!(
            matches!(invalid, ActuatorError::Api { code: 422, ref reason, .. } if reason == "Invalid")
        );
        assert!(!invalid.is_transient());
    }

    #[test]
    fn a_status_without_code_is_classified_by_reason() {
        let err = map_error(api_error(0, "Forbidden", "no"), LIST_PODS, "shop", "web");
        assert!(matches!(
            err,
            ActuatorError::Forbidden {
                verb: "list",
                resource: "pods",
                ..
            }
        ));
    }
}
