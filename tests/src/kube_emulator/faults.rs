//! Fault injection: rules that make the emulator misbehave the way a real API server or
//! the network between can, for requests matching a method and path. The first matching
//! rule with answers left wins, so a test can stack "drop the next one" on "always slow".

use std::time::Duration;

use axum::http::Method;

/// What to do instead of (or before) answering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// 403 with the RBAC authorizer's message for the request's verb and resource.
    Forbidden,
    /// 409: the object was modified since the client read it.
    Conflict,
    /// 404 for the addressed object, as if it had just been deleted.
    NotFound,
    /// Answer normally, but only after this long. A client that gives up first closes
    /// the connection, and the request is then never carried out (a real API server may
    /// still carry out a write it already received: see [`Fault::AnswerLate`]).
    Delay(Duration),
    /// Carry the request out at once but hold the answer back this long: the write that
    /// took effect although the client saw a timeout.
    AnswerLate(Duration),
    /// Close the connection without answering.
    Drop,
}

/// A fault for requests with one method to one path (without the query string).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRule {
    method: Method,
    path: String,
    fault: Fault,
    /// Requests still to be hit; `None` for every one.
    remaining: Option<u32>,
}

impl FaultRule {
    /// `fault` for every `method` request to `path` until cleared.
    pub fn always(method: Method, path: impl Into<String>, fault: Fault) -> Self {
        Self {
            method,
            path: path.into(),
            fault,
            remaining: None,
        }
    }

    /// `fault` for the next `n` matching requests only.
    pub fn times(method: Method, path: impl Into<String>, fault: Fault, n: u32) -> Self {
        Self {
            remaining: Some(n),
            ..Self::always(method, path, fault)
        }
    }
}

/// The rules in force.
#[derive(Debug, Default)]
pub(crate) struct Faults(Vec<FaultRule>);

impl Faults {
    pub(crate) fn add(&mut self, rule: FaultRule) {
        self.0.push(rule);
    }

    pub(crate) fn clear(&mut self) {
        self.0.clear();
    }

    /// The fault for this request, if any, using up one of its rule's answers.
    pub(crate) fn take(&mut self, method: &Method, path: &str) -> Option<Fault> {
        let index = self.0.iter().position(|r| {
            r.method == *method && r.path == path && r.remaining.is_none_or(|n| n > 0)
        })?;
        let rule = &mut self.0[index];
        let fault = rule.fault.clone();
        if let Some(n) = &mut rule.remaining {
            *n -= 1;
            if *n == 0 {
                self.0.remove(index);
            }
        }
        Some(fault)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_rules_run_out_and_always_rules_do_not() {
        let path = "/apis/apps/v1/namespaces/shop/deployments/web/scale";
        let mut faults = Faults::default();
        faults.add(FaultRule::times(Method::PATCH, path, Fault::Drop, 2));
        faults.add(FaultRule::always(Method::PATCH, path, Fault::Conflict));
        assert_eq!(faults.take(&Method::GET, path), None);
        assert_eq!(faults.take(&Method::PATCH, "/other"), None);
        assert_eq!(faults.take(&Method::PATCH, path), Some(Fault::Drop));
        assert_eq!(faults.take(&Method::PATCH, path), Some(Fault::Drop));
        for _ in 0..3 {
            assert_eq!(faults.take(&Method::PATCH, path), Some(Fault::Conflict));
        }
        faults.clear();
        assert_eq!(faults.take(&Method::PATCH, path), None);
    }
}
