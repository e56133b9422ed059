//! The HTTP surface: the handful of API paths the actuator and the leader election call,
//! plus `/version`, and in front of them the middleware that logs each request and applies
//! the fault rules.
//! Paths, verbs, content types and error answers follow kube-apiserver.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use k8s_openapi::List;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v1::Scale;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ListMeta;
use k8s_openapi::apimachinery::pkg::version::Info;
use serde_json::{Map, Value};

use super::faults::Fault;
use super::objects;
use super::selector::LabelQuery;
use super::server::ConnectionKill;
use super::status::{ApiError, Target};
use super::store::{Key, Logged, Store};

/// The emulator's state, shared by every connection and every handle.
pub(crate) type Shared = Arc<Mutex<Store>>;

/// A panicking test thread must not take the emulator down with it: the store stays
/// consistent between statements, so a poisoned lock is still usable.
pub(crate) fn lock(shared: &Shared) -> MutexGuard<'_, Store> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The Kubernetes release the emulator claims to be: the oldest the agent's
/// `k8s-openapi` models.
const MAJOR: &str = "1";
const MINOR: &str = "33";

pub(crate) fn router(shared: Shared) -> Router {
    Router::new()
        .route("/version", get(version))
        .route(
            "/apis/apps/v1/namespaces/{ns}/deployments/{name}",
            get(get_deployment).patch(patch_deployment),
        )
        .route(
            "/apis/apps/v1/namespaces/{ns}/deployments/{name}/scale",
            get(get_scale).patch(patch_scale),
        )
        .route("/api/v1/namespaces/{ns}/pods", get(list_pods))
        .route("/api/v1/namespaces/{ns}/pods/{name}", get(get_pod))
        .route(
            "/apis/coordination.k8s.io/v1/namespaces/{ns}/leases",
            post(create_lease),
        )
        .route(
            "/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/{name}",
            get(get_lease).put(replace_lease),
        )
        .fallback(|| async { ApiError::no_such_path() })
        .layer(middleware::from_fn_with_state(
            shared.clone(),
            log_and_inject,
        ))
        .with_state(shared)
}

/// The RBAC verb of a request, as the authorizer derives it.
fn verb(method: &Method, target: &Target) -> &'static str {
    match *method {
        Method::GET if target.name.is_none() => "list",
        Method::GET => "get",
        Method::PATCH => "patch",
        Method::PUT => "update",
        Method::POST => "create",
        Method::DELETE => "delete",
        _ => "unknown",
    }
}

/// What a resource path addresses: `/api/v1/namespaces/{ns}/{resource}[/{name}[/{sub}]]`
/// or the same under `/apis/{group}/{version}`.
fn parse_target(path: &str) -> Option<Target> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, rest) = match segments.as_slice() {
        ["api", "v1", rest @ ..] => ("", rest),
        ["apis", group, _version, rest @ ..] => (*group, rest),
        _ => return None,
    };
    let (namespace, resource, object) = match rest {
        ["namespaces", ns, resource, object @ ..] => (*ns, *resource, object),
        _ => return None,
    };
    let (name, subresource) = match object {
        [] => (None, None),
        [name] => (Some(*name), None),
        [name, sub] => (Some(*name), Some(*sub)),
        _ => return None,
    };
    Some(Target {
        group: group.to_owned(),
        resource: resource.to_owned(),
        subresource: subresource.map(str::to_owned),
        name: name.map(str::to_owned),
        namespace: namespace.to_owned(),
    })
}

async fn log_and_inject(
    State(shared): State<Shared>,
    Extension(kill): Extension<ConnectionKill>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let fault = {
        let mut store = lock(&shared);
        store.log.push(Logged {
            method: method.clone(),
            path: path.clone(),
            query: request.uri().query().map(str::to_owned),
            user_agent: request
                .headers()
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            at: std::time::Instant::now(),
        });
        store.faults.take(&method, &path)
    };
    let target = parse_target(&path);
    match (fault, target) {
        (None, _) => next.run(request).await,
        (Some(Fault::Delay(delay)), _) => {
            tokio::time::sleep(delay).await;
            next.run(request).await
        }
        (Some(Fault::AnswerLate(delay)), _) => {
            let response = next.run(request).await;
            tokio::time::sleep(delay).await;
            response
        }
        (Some(Fault::Drop), _) => {
            kill.kill();
            // The connection task drops this future with the connection.
            std::future::pending().await
        }
        (Some(Fault::Forbidden), Some(target)) => {
            ApiError::forbidden(verb(&method, &target), &target).into_response()
        }
        (Some(Fault::Conflict), Some(target)) => ApiError::conflict(&target).into_response(),
        (Some(Fault::NotFound), Some(target)) => ApiError::not_found(&target).into_response(),
        (Some(Fault::Forbidden | Fault::Conflict | Fault::NotFound), None) => {
            ApiError::no_such_path().into_response()
        }
    }
}

async fn version() -> Json<Info> {
    Json(Info {
        major: MAJOR.to_owned(),
        minor: MINOR.to_owned(),
        git_version: format!("v{MAJOR}.{MINOR}.0"),
        git_commit: "0000000000000000000000000000000000000000".to_owned(),
        git_tree_state: "clean".to_owned(),
        build_date: "2025-04-23T00:00:00Z".to_owned(),
        go_version: "go1.24.2".to_owned(),
        compiler: "gc".to_owned(),
        platform: "linux/amd64".to_owned(),
        ..Info::default()
    })
}

fn deployment_target(key: &Key, subresource: Option<&str>) -> Target {
    Target {
        group: "apps".to_owned(),
        resource: "deployments".to_owned(),
        subresource: subresource.map(str::to_owned),
        name: Some(key.1.clone()),
        namespace: key.0.clone(),
    }
}

fn find_deployment(store: &Store, key: &Key, sub: Option<&str>) -> Result<Deployment, ApiError> {
    store
        .deployment(key)
        .cloned()
        .ok_or_else(|| ApiError::not_found(&deployment_target(key, sub)))
}

async fn get_deployment(
    State(shared): State<Shared>,
    Path(key): Path<Key>,
) -> Result<Json<Deployment>, ApiError> {
    find_deployment(&lock(&shared), &key, None).map(Json)
}

async fn get_scale(
    State(shared): State<Shared>,
    Path(key): Path<Key>,
) -> Result<Json<Scale>, ApiError> {
    let deployment = find_deployment(&lock(&shared), &key, Some("scale"))?;
    Ok(Json(objects::scale_of(&deployment)))
}

/// RFC 7386: objects merge key by key, `null` deletes, anything else replaces.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(target) = target {
        for (key, value) in patch {
            if value.is_null() {
                target.remove(key);
            } else {
                merge_patch(target.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

/// A strategic merge patch without lists or `$` directives means the same as a merge
/// patch; those are all the emulator applies.
fn is_plain(value: &Value) -> bool {
    match value {
        Value::Array(_) => false,
        Value::Object(map) => map.iter().all(|(k, v)| !k.starts_with('$') && is_plain(v)),
        _ => true,
    }
}

/// The patch document, if its content type is one the emulator applies, and the
/// `resourceVersion` precondition it carries.
fn read_patch(headers: &HeaderMap, body: &[u8]) -> Result<(Value, Option<String>), ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let media = content_type.split(';').next().unwrap_or_default().trim();
    let patch: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
    match media {
        "application/merge-patch+json" => {}
        "application/strategic-merge-patch+json" if is_plain(&patch) => {}
        _ => return Err(ApiError::unsupported_media_type(content_type)),
    }
    if !patch.is_object() {
        return Err(ApiError::bad_request(
            "patch is not a JSON object".to_owned(),
        ));
    }
    let precondition = patch
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok((patch, precondition))
}

/// Applies `patch` to `object`'s JSON and reads the result back as `T`.
fn patched<T: serde::Serialize + serde::de::DeserializeOwned>(
    object: &T,
    patch: &Value,
) -> Result<T, ApiError> {
    let mut value = serde_json::to_value(object)
        .map_err(|e| ApiError::bad_request(format!("cannot encode object: {e}")))?;
    merge_patch(&mut value, patch);
    serde_json::from_value(value)
        .map_err(|e| ApiError::bad_request(format!("patched object is invalid: {e}")))
}

fn check_precondition(
    current: &Deployment,
    precondition: Option<&str>,
    target: &Target,
) -> Result<(), ApiError> {
    match precondition {
        Some(rv) if Some(rv) != current.metadata.resource_version.as_deref() => {
            Err(ApiError::conflict(target))
        }
        _ => Ok(()),
    }
}

async fn patch_deployment(
    State(shared): State<Shared>,
    Path(key): Path<Key>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Deployment>, ApiError> {
    let (patch, precondition) = read_patch(&headers, &body)?;
    let target = deployment_target(&key, None);
    let mut store = lock(&shared);
    let current = find_deployment(&store, &key, None)?;
    check_precondition(&current, precondition.as_deref(), &target)?;
    let mut next = patched(&current, &patch)?;
    if objects::spec_replicas(&next) < 0 {
        return Err(ApiError::invalid(
            &target,
            "spec.replicas",
            "must be greater than or equal to 0",
        ));
    }
    // Status is its own subresource: writes to the main resource leave it alone. And a
    // patch that changes nothing is not a write, so it gets no new resourceVersion.
    next.status = current.status.clone();
    next.metadata.resource_version = current.metadata.resource_version.clone();
    next.metadata.generation = current.metadata.generation;
    if next != current {
        store.put_deployment(key.clone(), next);
    }
    find_deployment(&store, &key, None).map(Json)
}

async fn patch_scale(
    State(shared): State<Shared>,
    Path(key): Path<Key>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Scale>, ApiError> {
    let (patch, precondition) = read_patch(&headers, &body)?;
    let target = deployment_target(&key, Some("scale"));
    let mut store = lock(&shared);
    let current = find_deployment(&store, &key, Some("scale"))?;
    check_precondition(&current, precondition.as_deref(), &target)?;
    let scale = patched(&objects::scale_of(&current), &patch)?;
    let replicas = scale.spec.and_then(|s| s.replicas).unwrap_or(0);
    if replicas < 0 {
        return Err(ApiError::invalid(
            &target,
            "spec.replicas",
            "must be greater than or equal to 0",
        ));
    }
    if replicas != objects::spec_replicas(&current) {
        let mut next = current;
        if let Some(spec) = next.spec.as_mut() {
            spec.replicas = Some(replicas);
        }
        store.put_deployment(key.clone(), next);
    }
    let updated = find_deployment(&store, &key, Some("scale"))?;
    Ok(Json(objects::scale_of(&updated)))
}

async fn list_pods(
    State(shared): State<Shared>,
    Path(namespace): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<List<Pod>>, ApiError> {
    let query = match params.get("labelSelector") {
        Some(text) => LabelQuery::parse(text).map_err(|e| ApiError::bad_request(e.to_string()))?,
        None => LabelQuery::default(),
    };
    let store = lock(&shared);
    Ok(Json(List {
        items: store.pods_in(&namespace, &query),
        metadata: ListMeta {
            resource_version: Some(store.revision().to_string()),
            ..ListMeta::default()
        },
    }))
}

async fn get_pod(
    State(shared): State<Shared>,
    Path(key): Path<Key>,
) -> Result<Json<Pod>, ApiError> {
    lock(&shared).pod(&key).cloned().map(Json).ok_or_else(|| {
        ApiError::not_found(&Target {
            group: String::new(),
            resource: "pods".to_owned(),
            subresource: None,
            name: Some(key.1.clone()),
            namespace: key.0.clone(),
        })
    })
}

fn lease_target(key: &Key) -> Target {
    Target {
        group: "coordination.k8s.io".to_owned(),
        resource: "leases".to_owned(),
        subresource: None,
        name: Some(key.1.clone()),
        namespace: key.0.clone(),
    }
}

/// The Lease in a request body, with the checks kube-apiserver makes before storing it:
/// a JSON body of the right kind whose namespace (if given) is the request's.
fn read_lease(body: &[u8], namespace: &str) -> Result<Lease, ApiError> {
    let lease: Lease = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding Lease: {e}")))?;
    if lease
        .metadata
        .namespace
        .as_deref()
        .is_some_and(|ns| ns != namespace)
    {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the \
             request"
                .to_owned(),
        ));
    }
    Ok(lease)
}

async fn get_lease(
    State(shared): State<Shared>,
    Path(key): Path<Key>,
) -> Result<Json<Lease>, ApiError> {
    lock(&shared)
        .lease(&key)
        .cloned()
        .map(Json)
        .ok_or_else(|| ApiError::not_found(&lease_target(&key)))
}

/// POST: creates the Lease the body names; 409 AlreadyExists if there is one.
async fn create_lease(
    State(shared): State<Shared>,
    Path(namespace): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Lease>), ApiError> {
    let lease = read_lease(&body, &namespace)?;
    let name = lease
        .metadata
        .name
        .clone()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            ApiError::invalid_object("Lease", "metadata.name", "name or generateName is required")
        })?;
    let key = (namespace, name);
    if lease.metadata.resource_version.is_some() {
        return Err(ApiError::bad_request(
            "resourceVersion should not be set on objects to be created".to_owned(),
        ));
    }
    let mut store = lock(&shared);
    if store.lease(&key).is_some() {
        return Err(ApiError::already_exists(&lease_target(&key)));
    }
    Ok((StatusCode::CREATED, Json(store.put_lease(key, lease))))
}

/// PUT: replaces the Lease, on condition that the body's resourceVersion (if any) is the
/// stored one, as kube-apiserver's optimistic concurrency does.
async fn replace_lease(
    State(shared): State<Shared>,
    Path(key): Path<Key>,
    body: Bytes,
) -> Result<Json<Lease>, ApiError> {
    let lease = read_lease(&body, &key.0)?;
    let target = lease_target(&key);
    if lease.metadata.name.as_deref().is_some_and(|n| n != key.1) {
        return Err(ApiError::bad_request(
            "the name of the object does not match the name on the URL".to_owned(),
        ));
    }
    let mut store = lock(&shared);
    let current = store
        .lease(&key)
        .ok_or_else(|| ApiError::not_found(&target))?;
    if let Some(rv) = lease.metadata.resource_version.as_deref()
        && Some(rv) != current.metadata.resource_version.as_deref()
    {
        return Err(ApiError::conflict(&target));
    }
    Ok(Json(store.put_lease(key, lease)))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn merge_patch_follows_rfc_7386() {
        let mut doc = json!({"a": "b", "c": {"d": "e", "f": "g"}, "list": [1, 2]});
        merge_patch(
            &mut doc,
            &json!({"a": "z", "c": {"f": null}, "list": [3], "new": {"x": 1}}),
        );
        assert_eq!(
            doc,
            json!({"a": "z", "c": {"d": "e"}, "list": [3], "new": {"x": 1}})
        );
    }

    #[test]
    fn paths_name_their_targets() {
        let scale = parse_target("/apis/apps/v1/namespaces/shop/deployments/web/scale").unwrap();
        assert_eq!(
            (
                scale.group.as_str(),
                scale.resource.as_str(),
                scale.subresource.as_deref(),
                scale.name.as_deref()
            ),
            ("apps", "deployments", Some("scale"), Some("web"))
        );
        assert_eq!(verb(&Method::PATCH, &scale), "patch");
        let pods = parse_target("/api/v1/namespaces/shop/pods").unwrap();
        assert_eq!((pods.group.as_str(), pods.name.as_deref()), ("", None));
        assert_eq!(verb(&Method::GET, &pods), "list");
        assert_eq!(parse_target("/version"), None);
    }
}
