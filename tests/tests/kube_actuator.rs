//! The Kubernetes actuator against the Kubernetes API emulator (no real kube-apiserver can
//! run on these machines; see `rl_autoscaler_tests::kube_emulator`): every call goes
//! through `kube`'s real client and HTTP stack to a loopback server that answers with the
//! API's own JSON shapes, and faults are injected at the HTTP level.

use std::time::Duration;

use axum::http::Method;
use common::policy::PodView;
use edge_agent::actuator::{Actuator, ActuatorError, KubeActuator};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelectorRequirement, Time};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{Patch, PatchParams};
use rl_autoscaler_tests::kube_emulator::{EmulatorHandle, Fault, FaultRule};
use serde_json::json;

const NS: &str = "shop";
const SCALE_PATH: &str = "/apis/apps/v1/namespaces/shop/deployments/web/scale";
const PODS_PATH: &str = "/api/v1/namespaces/shop/pods";
/// A Unix second to anchor pod timestamps on.
const EPOCH: u64 = 1_750_000_000;

async fn emulator() -> EmulatorHandle {
    let emulator = EmulatorHandle::start().await.expect("emulator starts");
    emulator.add_deployment(NS, "web", 3, &[("app", "web")]);
    emulator
}

fn actuator(emulator: &EmulatorHandle, deployment: &str, timeout: Duration) -> KubeActuator {
    KubeActuator::new(
        emulator.client(NS).expect("client"),
        NS,
        deployment,
        timeout,
    )
}

fn views() -> Vec<PodView> {
    vec![
        PodView {
            created_at_s: 0,
            ready_at_s: Some(35),
        },
        PodView {
            created_at_s: 10,
            ready_at_s: Some(41),
        },
        PodView {
            created_at_s: 600,
            ready_at_s: None,
        },
    ]
}

fn time(unix_s: u64) -> Time {
    let s = i64::try_from(unix_s).expect("in range");
    Time(Timestamp::from_second(s).expect("in range"))
}

#[tokio::test]
async fn reads_replicas_and_pods_through_the_scale_subresource_and_the_selector() {
    let emulator = emulator().await;
    emulator
        .set_pods_from_views(NS, "web", &views(), EPOCH)
        .unwrap();
    // Pods the Deployment does not own, or that no longer count.
    emulator.add_deployment(NS, "db", 1, &[("app", "db")]);
    emulator.set_pod_counts(NS, "db", 1, 0).unwrap();
    let mut terminating = emulator
        .pod_template(NS, "web", 10, EPOCH, Some(EPOCH + 20))
        .unwrap();
    terminating.metadata.deletion_timestamp = Some(time(EPOCH + 700));
    emulator.put_pod(terminating).unwrap();
    let mut failed = emulator.pod_template(NS, "web", 11, EPOCH, None).unwrap();
    failed.status.as_mut().unwrap().phase = Some("Failed".into());
    emulator.put_pod(failed).unwrap();

    let mut actuator = actuator(&emulator, "web", Duration::from_secs(5));
    let state = actuator.state().await.unwrap();

    assert_eq!(state.spec_replicas, 3);
    assert_eq!((state.ready, state.pending), (2, 1));
    let mut pods = state.pods.clone();
    pods.sort_by_key(|p| p.created_at_s);
    let expected: Vec<PodView> = views()
        .iter()
        .map(|v| PodView {
            created_at_s: EPOCH + v.created_at_s,
            ready_at_s: v.ready_at_s.map(|r| EPOCH + r),
        })
        .collect();
    assert_eq!(pods, expected);
    assert_eq!(emulator.requests_to(&Method::GET, SCALE_PATH), 1);
    assert_eq!(emulator.requests_to(&Method::GET, PODS_PATH), 1);
    assert_eq!(emulator.writes(), 0, "reading must not write");
}

#[tokio::test]
async fn match_expressions_select_pods_on_the_server() {
    let emulator = EmulatorHandle::start().await.unwrap();
    let mut deployment = emulator_deployment(&emulator);
    let spec = deployment.spec.as_mut().unwrap();
    spec.selector.match_expressions = Some(vec![LabelSelectorRequirement {
        key: "track".into(),
        operator: "In".into(),
        values: Some(vec!["stable".into(), "canary".into()]),
    }]);
    emulator.put_deployment(deployment).unwrap();
    for (index, track) in [(0, "stable"), (1, "beta"), (2, "canary")] {
        let mut pod = emulator
            .pod_template(NS, "web", index, EPOCH, Some(EPOCH + 30))
            .unwrap();
        pod.metadata
            .labels
            .as_mut()
            .unwrap()
            .insert("track".into(), track.into());
        emulator.put_pod(pod).unwrap();
    }

    let state = actuator(&emulator, "web", Duration::from_secs(5))
        .state()
        .await
        .unwrap();
    assert_eq!((state.ready, state.pending), (2, 0), "{state:?}");
}

/// The emulator's own Deployment for `web`, to alter before storing it again.
fn emulator_deployment(emulator: &EmulatorHandle) -> Deployment {
    emulator.add_deployment(NS, "web", 2, &[("app", "web")]);
    emulator.deployment(NS, "web").expect("just added")
}

#[tokio::test]
async fn scaling_is_one_patch_of_the_scale_subresource() {
    let emulator = emulator().await;
    let version_before = emulator.resource_version(NS, "web").unwrap();
    let mut actuator = actuator(&emulator, "web", Duration::from_secs(5));

    actuator.scale(7).await.unwrap();

    assert_eq!(emulator.writes(), 1);
    assert_eq!(emulator.writes_to(SCALE_PATH), 1);
    assert_eq!(emulator.spec_replicas(NS, "web"), Some(7));
    assert_ne!(
        emulator.resource_version(NS, "web").unwrap(),
        version_before
    );
    assert_eq!(actuator.state().await.unwrap().spec_replicas, 7);
}

#[tokio::test]
async fn forbidden_names_the_missing_verb_and_resource() {
    let emulator = emulator().await;
    emulator.inject(FaultRule::always(
        Method::PATCH,
        SCALE_PATH,
        Fault::Forbidden,
    ));
    let mut actuator = actuator(&emulator, "web", Duration::from_secs(5));

    let err = actuator.scale(4).await.unwrap_err();

    let ActuatorError::Forbidden {
        verb,
        resource,
        ref namespace,
        ref message,
    } = err
    else {
        panic!("expected Forbidden, got {err:?}");
    };
    assert_eq!(
        (verb, resource, namespace.as_str()),
        ("patch", "deployments/scale", NS)
    );
    assert_eq!(
        message,
        "deployments.apps \"web\" is forbidden: User \"system:serviceaccount:rl-system:edge-agent\" \
         cannot patch resource \"deployments/scale\" in API group \"apps\" in the namespace \"shop\""
    );
    assert!(
        err.to_string().starts_with(
            "forbidden: the agent's ServiceAccount may not \"patch\" \"deployments/scale\" in \
             namespace \"shop\"; grant it in the agent's Role (deploy/ RBAC)"
        ),
        "{err}"
    );
    assert!(!err.is_transient());
    assert_eq!(emulator.spec_replicas(NS, "web"), Some(3));
}

#[tokio::test]
async fn forbidden_pod_listing_names_list_pods() {
    let emulator = emulator().await;
    emulator.inject(FaultRule::always(Method::GET, PODS_PATH, Fault::Forbidden));
    let err = actuator(&emulator, "web", Duration::from_secs(5))
        .state()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ActuatorError::Forbidden {
                verb: "list",
                resource: "pods",
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_missing_deployment_is_named() {
    let emulator = emulator().await;
    let err = actuator(&emulator, "checkout", Duration::from_secs(5))
        .state()
        .await
        .unwrap_err();
    assert!(matches!(err, ActuatorError::NotFound { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("\"checkout\"") && text.contains("\"shop\""),
        "{text}"
    );

    let err = actuator(&emulator, "checkout", Duration::from_secs(5))
        .scale(2)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ActuatorError::NotFound { verb: "patch", .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_conflict_is_reported_and_transient() {
    let emulator = emulator().await;
    emulator.inject(FaultRule::times(
        Method::PATCH,
        SCALE_PATH,
        Fault::Conflict,
        1,
    ));
    let mut actuator = actuator(&emulator, "web", Duration::from_secs(5));

    let err = actuator.scale(5).await.unwrap_err();
    assert!(matches!(err, ActuatorError::Conflict { .. }), "{err:?}");
    assert!(err.is_transient());
    assert_eq!(emulator.spec_replicas(NS, "web"), Some(3));

    actuator.scale(5).await.unwrap();
    assert_eq!(emulator.spec_replicas(NS, "web"), Some(5));
    assert_eq!(emulator.writes_to(SCALE_PATH), 2);
}

#[tokio::test]
async fn a_stale_resource_version_gets_409_from_the_emulator() {
    let emulator = emulator().await;
    let stale = emulator.resource_version(NS, "web").unwrap();
    let api: Api<Deployment> = Api::namespaced(emulator.client(NS).unwrap(), NS);
    let fresh = api
        .patch_scale(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 4}})),
        )
        .await
        .unwrap();
    assert_ne!(
        fresh.metadata.resource_version.as_deref(),
        Some(stale.as_str())
    );

    let patch = json!({"metadata": {"resourceVersion": stale}, "spec": {"replicas": 6}});
    let err = api
        .patch_scale("web", &PatchParams::default(), &Patch::Merge(patch))
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("expected an API error, got {err:?}");
    };
    assert_eq!((status.code, status.reason.as_str()), (409, "Conflict"));
    assert_eq!(emulator.spec_replicas(NS, "web"), Some(4));

    let current = fresh.metadata.resource_version.unwrap();
    let patch = json!({"metadata": {"resourceVersion": current}, "spec": {"replicas": 6}});
    api.patch_scale("web", &PatchParams::default(), &Patch::Merge(patch))
        .await
        .unwrap();
    assert_eq!(emulator.spec_replicas(NS, "web"), Some(6));
}

#[tokio::test]
async fn a_slow_answer_times_out() {
    let emulator = emulator().await;
    emulator.inject(FaultRule::times(
        Method::GET,
        SCALE_PATH,
        Fault::Delay(Duration::from_secs(60)),
        1,
    ));
    let mut actuator = actuator(&emulator, "web", Duration::from_millis(300));

    let err = actuator.state().await.unwrap_err();
    assert!(
        matches!(
            err,
            ActuatorError::Timeout {
                verb: "get",
                resource: "deployments/scale",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_transient());
    // The next call is answered again.
    assert_eq!(actuator.state().await.unwrap().spec_replicas, 3);
}

#[tokio::test]
async fn a_dropped_connection_is_a_transport_error_not_a_hang() {
    let emulator = emulator().await;
    emulator.inject(FaultRule::times(Method::PATCH, SCALE_PATH, Fault::Drop, 1));
    // Generous: a hang would surface as Timeout, which the assertion rejects.
    let mut actuator = actuator(&emulator, "web", Duration::from_secs(20));

    let err = actuator.scale(6).await.unwrap_err();
    assert!(
        matches!(err, ActuatorError::Transport { verb: "patch", .. }),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert_eq!(emulator.spec_replicas(NS, "web"), Some(3));

    actuator.scale(6).await.unwrap();
    assert_eq!(emulator.spec_replicas(NS, "web"), Some(6));
}

#[tokio::test]
async fn the_emulator_answers_in_the_apis_shapes() {
    let emulator = emulator().await;
    emulator.set_pod_counts(NS, "web", 2, 1).unwrap();
    let client = emulator.client(NS).unwrap();

    let version = client.apiserver_version().await.unwrap();
    assert_eq!(
        (version.major.as_str(), version.minor.as_str()),
        ("1", "33")
    );

    let api: Api<Deployment> = Api::namespaced(client.clone(), NS);
    let scale = api.get_scale("web").await.unwrap();
    let status = scale.status.unwrap();
    assert_eq!(status.selector.as_deref(), Some("app=web"));
    assert_eq!(status.replicas, 3);
    let deployment = api.get("web").await.unwrap();
    let deployment_status = deployment.status.unwrap();
    assert_eq!(deployment_status.ready_replicas, Some(2));

    let text = client
        .request_text(
            axum::http::Request::get(SCALE_PATH)
                .body(Vec::new())
                .unwrap(),
        )
        .await
        .unwrap();
    let raw: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(raw["apiVersion"], "autoscaling/v1");
    assert_eq!(raw["kind"], "Scale");
    assert_eq!(raw["spec"]["replicas"], 3);

    let err = api.get("nope").await.unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("expected an API error, got {err:?}");
    };
    assert_eq!(
        (status.code, status.reason.as_str(), status.message.as_str()),
        (404, "NotFound", "deployments.apps \"nope\" not found")
    );
}

#[tokio::test]
async fn a_client_from_an_explicit_kubeconfig_reaches_the_cluster_it_names() {
    let emulator = emulator().await;
    emulator.set_pod_counts(NS, "web", 3, 0).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    let kubeconfig = format!(
        "apiVersion: v1\n\
         kind: Config\n\
         clusters:\n\
         - name: emulator\n  cluster:\n    server: {url}\n\
         - name: elsewhere\n  cluster:\n    server: http://127.0.0.1:9\n\
         users:\n\
         - name: agent\n  user:\n    token: not-checked\n\
         contexts:\n\
         - name: elsewhere\n  context:\n    cluster: elsewhere\n    user: agent\n\
         - name: emulated\n  context:\n    cluster: emulator\n    user: agent\n    namespace: {NS}\n\
         current-context: elsewhere\n",
        url = emulator.url()
    );
    std::fs::write(&path, kubeconfig).unwrap();

    let client =
        edge_agent::actuator::client_from_kubeconfig(&path, Some("emulated"), "edge-agent-test")
            .await
            .unwrap();
    let state = KubeActuator::new(client, NS, "web", Duration::from_secs(5))
        .state()
        .await
        .unwrap();
    assert_eq!((state.spec_replicas, state.ready), (3, 3));

    let missing = dir.path().join("absent");
    let Err(err) =
        edge_agent::actuator::client_from_kubeconfig(&missing, None, "edge-agent-test").await
    else {
        panic!("a missing kubeconfig must be an error");
    };
    assert!(err.to_string().contains("absent"), "{err}");
}

#[tokio::test]
async fn deployment_patches_keep_the_apis_bookkeeping() {
    let emulator = emulator().await;
    let api: Api<Deployment> = Api::namespaced(emulator.client(NS).unwrap(), NS);
    let before = api.get("web").await.unwrap();

    // Strategic merge, as kubectl sends it, with a label change beside the replicas.
    let patch = json!({"metadata": {"labels": {"tier": "front"}}, "spec": {"replicas": 2}});
    let after = api
        .patch("web", &PatchParams::default(), &Patch::Strategic(patch))
        .await
        .unwrap();
    assert_eq!(after.spec.as_ref().unwrap().replicas, Some(2));
    assert_eq!(after.metadata.labels.as_ref().unwrap()["tier"], "front");
    assert_eq!(
        after.metadata.generation,
        before.metadata.generation.map(|g| g + 1),
        "a spec change is a new generation"
    );
    assert_ne!(
        after.metadata.resource_version,
        before.metadata.resource_version
    );

    // The same patch again changes nothing, so it is no write to the object.
    let again = json!({"metadata": {"labels": {"tier": "front"}}, "spec": {"replicas": 2}});
    let unchanged = api
        .patch("web", &PatchParams::default(), &Patch::Merge(again))
        .await
        .unwrap();
    assert_eq!(
        unchanged.metadata.resource_version,
        after.metadata.resource_version
    );

    assert_eq!(emulator.spec_replicas(NS, "web"), Some(2));
}

#[tokio::test]
async fn the_selector_is_read_once_and_again_after_the_deployment_went_missing() {
    const DEPLOYMENT_PATH: &str = "/apis/apps/v1/namespaces/shop/deployments/web";
    let emulator = emulator().await;
    emulator.set_pod_counts(NS, "web", 3, 0).unwrap();
    let mut actuator = actuator(&emulator, "web", Duration::from_secs(5));

    for _ in 0..3 {
        assert_eq!(actuator.state().await.unwrap().ready, 3);
    }
    // One Deployment read for its (immutable) selector, then only scale and pods; and
    // nothing else, not even discovery or /version.
    assert_eq!(emulator.requests_to(&Method::GET, DEPLOYMENT_PATH), 1);
    assert_eq!(emulator.requests_to(&Method::GET, SCALE_PATH), 3);
    assert_eq!(emulator.requests_to(&Method::GET, PODS_PATH), 3);
    assert_eq!(emulator.requests(), 7);

    // Recreated with another selector while the agent runs: the 404 in between makes
    // the agent read the new one.
    emulator.inject(FaultRule::times(
        Method::GET,
        SCALE_PATH,
        Fault::NotFound,
        1,
    ));
    let err = actuator.state().await.unwrap_err();
    assert!(matches!(err, ActuatorError::NotFound { .. }), "{err:?}");
    emulator.add_deployment(NS, "web", 2, &[("app", "web-v2")]);
    emulator.set_pod_counts(NS, "web", 1, 1).unwrap();
    let state = actuator.state().await.unwrap();
    assert_eq!((state.spec_replicas, state.ready, state.pending), (2, 1, 1));
    assert_eq!(emulator.requests_to(&Method::GET, DEPLOYMENT_PATH), 2);
}

#[tokio::test]
async fn a_write_can_take_effect_although_its_answer_timed_out() {
    let emulator = emulator().await;
    emulator.inject(FaultRule::times(
        Method::PATCH,
        SCALE_PATH,
        Fault::AnswerLate(Duration::from_secs(60)),
        1,
    ));
    let mut actuator = actuator(&emulator, "web", Duration::from_millis(300));

    let err = actuator.scale(8).await.unwrap_err();
    assert!(
        matches!(err, ActuatorError::Timeout { verb: "patch", .. }),
        "{err:?}"
    );
    // The timeout says nothing about the write; reading the state does.
    assert_eq!(actuator.state().await.unwrap().spec_replicas, 8);
}
