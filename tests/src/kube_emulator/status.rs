//! Error answers as the API server words them: a `meta.k8s.io/v1` `Status` with the
//! HTTP code, the machine-readable `reason` and the `details` clients inspect, and the
//! message formats of kube-apiserver, so code that reads them (the actuator's error
//! mapping) is exercised on realistic text.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ListMeta, Status, StatusDetails};

/// The ServiceAccount the emulated agent runs as; it appears in Forbidden messages.
pub const AGENT_USER: &str = "system:serviceaccount:rl-system:edge-agent";

/// What a request addressed, as authorization and error messages name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// API group, empty for core.
    pub(crate) group: String,
    /// Plural resource, e.g. `deployments`.
    pub(crate) resource: String,
    /// Subresource, e.g. `scale`.
    pub(crate) subresource: Option<String>,
    /// Object name; `None` for a collection.
    pub(crate) name: Option<String>,
    /// Namespace.
    pub(crate) namespace: String,
}

impl Target {
    /// `deployments.apps` or `pods`: how messages qualify the resource.
    fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.resource.clone()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }

    fn details(&self) -> StatusDetails {
        StatusDetails {
            name: self.name.clone(),
            group: Some(self.group.clone()).filter(|g| !g.is_empty()),
            kind: Some(self.resource.clone()),
            ..StatusDetails::default()
        }
    }
}

/// An error answer, ready to send.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    code: StatusCode,
    /// Boxed: handlers pass errors around in `Result`s, and a `Status` is large.
    status: Box<Status>,
}

impl ApiError {
    fn new(
        code: StatusCode,
        reason: &str,
        message: String,
        details: Option<StatusDetails>,
    ) -> Self {
        Self {
            code,
            status: Box::new(Status {
                code: Some(i32::from(code.as_u16())),
                details,
                message: Some(message),
                metadata: ListMeta::default(),
                reason: Some(reason.to_owned()),
                status: Some("Failure".to_owned()),
            }),
        }
    }

    /// 403, as the RBAC authorizer words it for `verb` on `target`.
    pub(crate) fn forbidden(verb: &str, target: &Target) -> Self {
        let resource = match &target.subresource {
            Some(sub) => format!("{}/{sub}", target.resource),
            None => target.resource.clone(),
        };
        let subject = match &target.name {
            Some(name) => format!("{} {name:?}", target.qualified()),
            None => target.qualified(),
        };
        let message = format!(
            "{subject} is forbidden: User {AGENT_USER:?} cannot {verb} resource {resource:?} in \
             API group {:?} in the namespace {:?}",
            target.group, target.namespace
        );
        Self::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            message,
            Some(target.details()),
        )
    }

    /// 404 for a named object.
    pub(crate) fn not_found(target: &Target) -> Self {
        let message = format!(
            "{} {:?} not found",
            target.qualified(),
            target.name.as_deref().unwrap_or_default()
        );
        Self::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            message,
            Some(target.details()),
        )
    }

    /// 404 for a path no API serves.
    pub(crate) fn no_such_path() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource".to_owned(),
            None,
        )
    }

    /// 409 for a write based on an outdated `resourceVersion`.
    pub(crate) fn conflict(target: &Target) -> Self {
        let message = format!(
            "Operation cannot be fulfilled on {} {:?}: the object has been modified; please \
             apply your changes to the latest version and try again",
            target.qualified(),
            target.name.as_deref().unwrap_or_default()
        );
        Self::new(
            StatusCode::CONFLICT,
            "Conflict",
            message,
            Some(target.details()),
        )
    }

    /// 409 for a create of an object that exists.
    pub(crate) fn already_exists(target: &Target) -> Self {
        let message = format!(
            "{} {:?} already exists",
            target.qualified(),
            target.name.as_deref().unwrap_or_default()
        );
        Self::new(
            StatusCode::CONFLICT,
            "AlreadyExists",
            message,
            Some(target.details()),
        )
    }

    /// 422 for an object without a required field, before it has a name to quote.
    pub(crate) fn invalid_object(kind: &str, field: &str, why: &str) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            format!("{kind} \"\" is invalid: {field}: Required value: {why}"),
            None,
        )
    }

    /// 400, e.g. for an unparsable label selector or patch body.
    pub(crate) fn bad_request(message: String) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadRequest", message, None)
    }

    /// 415 for a patch type the emulator does not apply.
    pub(crate) fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/merge-patch+json, application/strategic-merge-patch+json (got {content_type:?})"
            ),
            None,
        )
    }

    /// 422 for an object that fails validation.
    pub(crate) fn invalid(target: &Target, field: &str, why: &str) -> Self {
        let message = format!(
            "{} {:?} is invalid: {field}: {why}",
            target.qualified(),
            target.name.as_deref().unwrap_or_default()
        );
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            message,
            Some(target.details()),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.code, Json(self.status)).into_response()
    }
}
