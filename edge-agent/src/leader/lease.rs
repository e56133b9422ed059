//! The `coordination.k8s.io/v1` Lease as the elector sees it: the fields its rules read
//! out of an object the API returned, and the object to send for a write it asked for.
//! Wall-clock times (`acquireTime`, `renewTime`) are written for people and tools that
//! read the Lease; the elector itself never reads them (see [`super::elector`]).

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec as KubeLeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;

use super::elector::{LeaseRecord, LeaseSpec};

/// The fields the elector reads; a negative count (which no API server stores) reads as 0.
pub(crate) fn record_of(lease: &Lease) -> LeaseRecord {
    let spec = lease.spec.as_ref();
    LeaseRecord {
        holder: spec
            .and_then(|s| s.holder_identity.clone())
            .filter(|h| !h.is_empty()),
        lease_duration_s: spec
            .and_then(|s| s.lease_duration_seconds)
            .and_then(|s| u32::try_from(s).ok()),
        transitions: spec
            .and_then(|s| s.lease_transitions)
            .and_then(|t| u32::try_from(t).ok())
            .unwrap_or(0),
        resource_version: lease.metadata.resource_version.clone().unwrap_or_default(),
    }
}

/// The object to write: `previous` (the last version read or written, `None` to create)
/// with `spec` applied at wall-clock time `now`, carrying `resource_version` as the
/// precondition of a replace.
pub(crate) fn lease_to_write(
    namespace: &str,
    name: &str,
    previous: Option<&Lease>,
    spec: &LeaseSpec,
    resource_version: Option<&str>,
    now: Timestamp,
) -> Lease {
    let mut lease = previous.cloned().unwrap_or_else(|| Lease {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(namespace.to_owned()),
            ..ObjectMeta::default()
        },
        spec: None,
    });
    lease.metadata.resource_version = resource_version.map(str::to_owned);
    // Fields the server manages are left to it.
    lease.metadata.managed_fields = None;
    let old = lease.spec.take().unwrap_or_default();
    let acquire_time = if spec.new_term || old.acquire_time.is_none() {
        Some(MicroTime(now))
    } else {
        old.acquire_time
    };
    let clamp = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
    lease.spec = Some(KubeLeaseSpec {
        holder_identity: spec.holder.clone(),
        lease_duration_seconds: Some(clamp(spec.lease_duration_s)),
        lease_transitions: Some(clamp(spec.transitions)),
        acquire_time,
        renew_time: Some(MicroTime(now)),
        ..old
    });
    lease
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(holder: Option<&str>, new_term: bool) -> LeaseSpec {
        LeaseSpec {
            holder: holder.map(str::to_owned),
            lease_duration_s: 15,
            transitions: 2,
            new_term,
        }
    }

    #[test]
    fn a_written_lease_reads_back_as_the_elector_asked() {
        let t = Timestamp::from_second(1_700_000_000).unwrap();
        let mut lease = lease_to_write(
            "rl-system",
            "edge-agent-web",
            None,
            &spec(Some("a"), true),
            None,
            t,
        );
        assert_eq!(lease.metadata.resource_version, None);
        lease.metadata.resource_version = Some("9".into());
        assert_eq!(
            record_of(&lease),
            LeaseRecord {
                holder: Some("a".into()),
                lease_duration_s: Some(15),
                transitions: 2,
                resource_version: "9".into(),
            }
        );
        let s = lease.spec.as_ref().unwrap();
        assert_eq!(s.acquire_time, Some(MicroTime(t)));
        assert_eq!(s.renew_time, Some(MicroTime(t)));
    }

    #[test]
    fn a_renewal_keeps_the_acquire_time_and_carries_the_precondition() {
        let t0 = Timestamp::from_second(1_700_000_000).unwrap();
        let t1 = Timestamp::from_second(1_700_000_002).unwrap();
        let first = lease_to_write("ns", "l", None, &spec(Some("a"), true), None, t0);
        let renewed = lease_to_write(
            "ns",
            "l",
            Some(&first),
            &spec(Some("a"), false),
            Some("4"),
            t1,
        );
        let s = renewed.spec.as_ref().unwrap();
        assert_eq!(s.acquire_time, Some(MicroTime(t0)));
        assert_eq!(s.renew_time, Some(MicroTime(t1)));
        assert_eq!(renewed.metadata.resource_version.as_deref(), Some("4"));
        assert_eq!(renewed.metadata.name.as_deref(), Some("l"));
    }

    #[test]
    fn an_empty_holder_reads_as_released() {
        let t = Timestamp::from_second(1_700_000_000).unwrap();
        let mut lease = lease_to_write("ns", "l", None, &spec(None, false), Some("3"), t);
        assert_eq!(record_of(&lease).holder, None);
        lease.spec.as_mut().unwrap().holder_identity = Some(String::new());
        assert_eq!(record_of(&lease).holder, None);
    }
}
