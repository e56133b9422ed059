//! Every Kubernetes API request the agent makes, as RBAC names it: the one list the
//! actuator and the leader election draw their calls from, the deployment manifests'
//! Roles are checked against (`tests/tests/deploy_manifests.rs`), and errors quote when
//! they say what to grant. A call that is not here cannot be made, so a Role that covers
//! this list covers the agent.

/// Which namespace a call is made in, and so which Role must grant it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// The namespace of the autoscaled Deployment (`target.namespace`).
    Workload,
    /// The namespace the agent's pods run in, where its leader-election Lease lives.
    Agent,
}

/// One kind of request: API group, resource (with its subresource), verb and namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ApiCall {
    /// The API group; `""` is the core group.
    pub group: &'static str,
    /// The resource, `resource/subresource` for a subresource.
    pub resource: &'static str,
    /// The RBAC verb.
    pub verb: &'static str,
    /// Where it is made.
    pub scope: Scope,
}

/// Reads the Deployment once, for its selector (it is immutable in apps/v1).
pub const GET_DEPLOYMENT: ApiCall = ApiCall {
    group: "apps",
    resource: "deployments",
    verb: "get",
    scope: Scope::Workload,
};
/// Reads desired and current replicas.
pub const GET_SCALE: ApiCall = ApiCall {
    group: "apps",
    resource: "deployments/scale",
    verb: "get",
    scope: Scope::Workload,
};
/// Writes desired replicas (a merge patch of the scale subresource, as the HPA does).
pub const PATCH_SCALE: ApiCall = ApiCall {
    group: "apps",
    resource: "deployments/scale",
    verb: "patch",
    scope: Scope::Workload,
};
/// Counts ready and starting pods by the Deployment's selector.
pub const LIST_PODS: ApiCall = ApiCall {
    group: "",
    resource: "pods",
    verb: "list",
    scope: Scope::Workload,
};
/// Reads the leader-election Lease.
pub const GET_LEASE: ApiCall = ApiCall {
    group: "coordination.k8s.io",
    resource: "leases",
    verb: "get",
    scope: Scope::Agent,
};
/// Creates the Lease when no agent has held it yet.
pub const CREATE_LEASE: ApiCall = ApiCall {
    group: "coordination.k8s.io",
    resource: "leases",
    verb: "create",
    scope: Scope::Agent,
};
/// Renews or takes over the Lease (a replace guarded by its resourceVersion).
pub const UPDATE_LEASE: ApiCall = ApiCall {
    group: "coordination.k8s.io",
    resource: "leases",
    verb: "update",
    scope: Scope::Agent,
};

/// Every call the agent makes.
pub const ALL: &[ApiCall] = &[
    GET_DEPLOYMENT,
    GET_SCALE,
    PATCH_SCALE,
    LIST_PODS,
    GET_LEASE,
    CREATE_LEASE,
    UPDATE_LEASE,
];

/// A request seen on the wire, named as RBAC names it (see [`ApiCall::of_request`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// API group, `""` for core.
    pub group: String,
    /// Resource, `resource/subresource` for a subresource.
    pub resource: String,
    /// RBAC verb.
    pub verb: String,
    /// Namespace it was made in.
    pub namespace: String,
}

impl Request {
    /// Whether `call` is this kind of request (any namespace).
    pub fn is(&self, call: &ApiCall) -> bool {
        self.group == call.group && self.resource == call.resource && self.verb == call.verb
    }
}

impl ApiCall {
    /// The call an HTTP request is, by the API server's own mapping of method and path to
    /// verb and resource; `None` for paths that are not namespaced resource requests (such
    /// as `/version`). For checking what a client really sent against [`ALL`].
    pub fn of_request(method: &str, path: &str) -> Option<Request> {
        let path = path.split('?').next().unwrap_or(path);
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        let (group, rest) = match parts.as_slice() {
            ["api", "v1", rest @ ..] => ("", rest),
            ["apis", group, _version, rest @ ..] => (*group, rest),
            _ => return None,
        };
        let ["namespaces", namespace, resource, rest @ ..] = rest else {
            return None;
        };
        let (resource, named) = match rest {
            [] => ((*resource).to_owned(), false),
            [_name] => ((*resource).to_owned(), true),
            [_name, sub] => (format!("{resource}/{sub}"), true),
            _ => return None,
        };
        let verb = match (method, named) {
            ("GET", false) => "list",
            ("GET", true) => "get",
            ("POST", _) => "create",
            ("PUT", _) => "update",
            ("PATCH", _) => "patch",
            ("DELETE", true) => "delete",
            ("DELETE", false) => "deletecollection",
            _ => return None,
        };
        Some(Request {
            group: group.to_owned(),
            resource,
            verb: verb.to_owned(),
            namespace: (*namespace).to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_map_to_the_verbs_and_resources_rbac_checks() {
        let cases = [
            (
                "GET",
                "/apis/apps/v1/namespaces/shop/deployments/web",
                "apps",
                "deployments",
                "get",
            ),
            (
                "PATCH",
                "/apis/apps/v1/namespaces/shop/deployments/web/scale",
                "apps",
                "deployments/scale",
                "patch",
            ),
            (
                "GET",
                "/api/v1/namespaces/shop/pods?labelSelector=app%3Dweb",
                "",
                "pods",
                "list",
            ),
            (
                "PUT",
                "/apis/coordination.k8s.io/v1/namespaces/rl-system/leases/web",
                "coordination.k8s.io",
                "leases",
                "update",
            ),
            (
                "POST",
                "/apis/coordination.k8s.io/v1/namespaces/rl-system/leases",
                "coordination.k8s.io",
                "leases",
                "create",
            ),
        ];
        for (method, path, group, resource, verb) in cases {
            let request = ApiCall::of_request(method, path).unwrap();
            assert_eq!(
                (
                    request.group.as_str(),
                    request.resource.as_str(),
                    request.verb.as_str()
                ),
                (group, resource, verb),
                "{method} {path}"
            );
        }
        assert_eq!(ApiCall::of_request("GET", "/version"), None);
    }

    #[test]
    fn every_call_is_listed_once() {
        for (i, a) in ALL.iter().enumerate() {
            assert!(!ALL[i + 1..].contains(a), "{a:?} listed twice");
        }
    }
}
