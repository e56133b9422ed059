//! The leader election's decisions, with no clock and no I/O: the shell tells it what it
//! read and what its writes did, with the monotonic instant each happened at, and asks it
//! which write to make and until when this agent may act.
//!
//! The rules keep two agents from ever acting at once as long as their clocks run at the
//! same rate, whatever their wall clocks say:
//!
//! - A follower never reads the Lease's timestamps. It notes, on its own clock, when it
//!   last saw the record change (a new `resourceVersion`) and tries to take over only once
//!   the holder's `leaseDurationSeconds` have passed since then. The moment it notes is
//!   when the answer arrived, which is after the holder's renewal was sent.
//! - The leader counts its term from when it *sent* its last successful create or update,
//!   and acts only until that instant plus the renew deadline, which is shorter than the
//!   lease duration. A follower that saw that renewal therefore waits past the end of the
//!   leader's term; one that did not gets 409 Conflict on its takeover, because every
//!   write is a replace guarded by the `resourceVersion` it read.
//! - A write to the workload must end before the term does, so a write may start only
//!   while at least the actuator's request timeout is left of it (see
//!   [`may_start_write`]). Only a write the API server received but answered after the
//!   client gave up could land later; the lease duration's margin over the renew deadline
//!   is what covers it.
//! - On a conflict the leader stops acting at once: someone else wrote the Lease.
//! - A leader shutting down stops acting first, then clears the holder so a follower
//!   takes over at its next read instead of waiting out the lease.

use std::time::{Duration, Instant};

/// The timing and identity of one candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ElectionConfig {
    /// Written as `holderIdentity`; unique per agent (the pod's name).
    pub(crate) identity: String,
    /// How long followers wait after the last change they saw before taking over.
    pub(crate) lease_duration: Duration,
    /// How long after its last successful renewal the leader keeps acting. Shorter than
    /// `lease_duration`: the difference absorbs a write that lands late.
    pub(crate) renew_deadline: Duration,
    /// Time between two rounds of reading or renewing.
    pub(crate) retry_period: Duration,
}

/// What a read of the Lease showed (only the fields the rules use).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LeaseRecord {
    /// `spec.holderIdentity`; `None` (or empty, which reads as `None`) when released.
    pub(crate) holder: Option<String>,
    /// `spec.leaseDurationSeconds` as the holder declared it.
    pub(crate) lease_duration_s: Option<u32>,
    /// `spec.leaseTransitions`: how often the holder changed.
    pub(crate) transitions: u32,
    /// `metadata.resourceVersion`; changes with every write.
    pub(crate) resource_version: String,
}

/// The Lease's spec as this agent wants to write it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LeaseSpec {
    /// The holder to write; `None` releases.
    pub(crate) holder: Option<String>,
    /// `leaseDurationSeconds`.
    pub(crate) lease_duration_s: u32,
    /// `leaseTransitions`.
    pub(crate) transitions: u32,
    /// Whether this write starts a new term (so `acquireTime` is set to now); a renewal
    /// keeps the old one.
    pub(crate) new_term: bool,
}

/// The write to make next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LeaseWrite {
    /// The Lease does not exist: create it, held by this agent.
    Create(LeaseSpec),
    /// Replace the Lease, on condition that it is still at `resource_version`.
    Update {
        /// The new spec.
        spec: LeaseSpec,
        /// The version it replaces; any other write since makes the update fail with 409.
        resource_version: String,
    },
}

/// How a write turned out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WriteOutcome {
    /// The API server stored it; this is the record it returned.
    Written(LeaseRecord),
    /// 409: another agent wrote (or created) the Lease first.
    Conflict,
    /// Anything else, a timeout included: the write may or may not have been stored.
    Failed,
}

/// One candidate's view of the election.
#[derive(Debug, Clone)]
pub(crate) struct Elector {
    cfg: ElectionConfig,
    /// The last record read or written, and when (on this clock) its version was first
    /// seen.
    observed: Option<(LeaseRecord, Instant)>,
    /// When the request behind the last successful write of a lease this agent holds was
    /// sent; `None` while following.
    term_renewed_at: Option<Instant>,
    /// Whether the record in `observed` is known to be the current one because this agent
    /// just wrote it, so the next renewal can go without a read first.
    own_write_current: bool,
}

impl Elector {
    /// A candidate that has seen nothing yet.
    pub(crate) fn new(cfg: ElectionConfig) -> Self {
        Self {
            cfg,
            observed: None,
            term_renewed_at: None,
            own_write_current: false,
        }
    }

    /// Its configuration.
    pub(crate) fn config(&self) -> &ElectionConfig {
        &self.cfg
    }

    /// Until when this agent may act, if it leads: the send time of its last successful
    /// renewal plus the renew deadline.
    pub(crate) fn acting_deadline(&self) -> Option<Instant> {
        self.term_renewed_at.map(|t| t + self.cfg.renew_deadline)
    }

    /// Whether this agent leads at `now`.
    pub(crate) fn is_leader(&self, now: Instant) -> bool {
        self.acting_deadline().is_some_and(|d| now < d)
    }

    /// Whether a write taking up to `write_timeout` may start at `now` (the control loop
    /// asks the same through [`super::gate::LeaderGate`]).
    #[cfg(test)]
    pub(crate) fn may_act(&self, now: Instant, write_timeout: Duration) -> bool {
        may_start_write(self.acting_deadline(), now, write_timeout)
    }

    /// The renewal to send at `now` without reading first, when this agent leads and its
    /// own write is the last version it knows of. `None` means: read the Lease, then ask
    /// [`Self::observe`].
    pub(crate) fn renewal(&self, now: Instant) -> Option<LeaseWrite> {
        if !self.own_write_current {
            return None;
        }
        let (record, _) = self.observed.as_ref()?;
        if !self.holds(record) {
            return None;
        }
        // Past the lease duration a follower may already be taking over; a read shows it.
        let renewed = self.term_renewed_at?;
        if now.saturating_duration_since(renewed) >= self.cfg.lease_duration {
            return None;
        }
        Some(LeaseWrite::Update {
            spec: self.spec(record, false),
            resource_version: record.resource_version.clone(),
        })
    }

    /// Takes in a read answered at `now` (`None`: there is no Lease) and returns the write
    /// to make, if any.
    pub(crate) fn observe(
        &mut self,
        now: Instant,
        read: Option<LeaseRecord>,
    ) -> Option<LeaseWrite> {
        self.own_write_current = false;
        let Some(record) = read else {
            self.observed = None;
            self.term_renewed_at = None;
            return Some(LeaseWrite::Create(LeaseSpec {
                holder: Some(self.cfg.identity.clone()),
                lease_duration_s: self.lease_duration_s(),
                transitions: 0,
                new_term: true,
            }));
        };
        let changed_at = match &self.observed {
            Some((seen, at)) if seen.resource_version == record.resource_version => *at,
            _ => now,
        };
        if !self.holds(&record) {
            self.term_renewed_at = None;
        }
        let free = record.holder.is_none();
        let expired = now.saturating_duration_since(changed_at) >= self.expiry_of(&record);
        let write = (self.holds(&record) || free || expired).then(|| LeaseWrite::Update {
            spec: self.spec(&record, !self.holds(&record)),
            resource_version: record.resource_version.clone(),
        });
        self.observed = Some((record, changed_at));
        write
    }

    /// Reports how a write sent at `sent_at` turned out, answered at `now`.
    pub(crate) fn written(&mut self, sent_at: Instant, now: Instant, outcome: WriteOutcome) {
        match outcome {
            WriteOutcome::Written(record) => {
                self.term_renewed_at = self.holds(&record).then_some(sent_at);
                self.own_write_current = true;
                self.observed = Some((record, now));
            }
            WriteOutcome::Conflict => {
                self.term_renewed_at = None;
                self.own_write_current = false;
            }
            // Still leading until the deadline if it was; the next round reads first,
            // since the write may have been stored after all.
            WriteOutcome::Failed => self.own_write_current = false,
        }
    }

    /// Stops acting and returns the write that hands the Lease over, if this agent may
    /// hold it. A release that fails is harmless: followers then wait out the lease.
    pub(crate) fn release(&mut self) -> Option<LeaseWrite> {
        self.term_renewed_at = None;
        self.own_write_current = false;
        let (record, _) = self.observed.as_ref()?;
        if !self.holds(record) {
            return None;
        }
        Some(LeaseWrite::Update {
            spec: LeaseSpec {
                holder: None,
                lease_duration_s: 1,
                transitions: record.transitions,
                new_term: false,
            },
            resource_version: record.resource_version.clone(),
        })
    }

    fn holds(&self, record: &LeaseRecord) -> bool {
        record.holder.as_deref() == Some(self.cfg.identity.as_str())
    }

    /// How long a record stays valid after it changed: what its holder declared, or this
    /// agent's own duration when it declared nothing usable.
    fn expiry_of(&self, record: &LeaseRecord) -> Duration {
        record
            .lease_duration_s
            .filter(|s| *s > 0)
            .map_or(self.cfg.lease_duration, |s| {
                Duration::from_secs(u64::from(s))
            })
    }

    fn lease_duration_s(&self) -> u32 {
        // Rounded up: followers must not give up on this agent sooner than it expects.
        let s = self.cfg.lease_duration.as_secs_f64().ceil();
        if s >= f64::from(u32::MAX) {
            u32::MAX
        } else {
            (s as u32).max(1)
        }
    }

    fn spec(&self, record: &LeaseRecord, new_term: bool) -> LeaseSpec {
        LeaseSpec {
            holder: Some(self.cfg.identity.clone()),
            lease_duration_s: self.lease_duration_s(),
            transitions: if new_term {
                record.transitions.saturating_add(1)
            } else {
                record.transitions
            },
            new_term,
        }
    }
}

/// Whether a write that may take `write_timeout` can start at `now` and still end before
/// the term ending at `deadline` (`None`: not leading). The control loop asks this right
/// before every write.
pub(crate) fn may_start_write(
    deadline: Option<Instant>,
    now: Instant,
    write_timeout: Duration,
) -> bool {
    deadline.is_some_and(|d| now + write_timeout <= d)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn cfg(identity: &str) -> ElectionConfig {
        ElectionConfig {
            identity: identity.to_owned(),
            lease_duration: 15 * S,
            renew_deadline: 10 * S,
            retry_period: 2 * S,
        }
    }

    fn record(holder: Option<&str>, rv: u32) -> LeaseRecord {
        LeaseRecord {
            holder: holder.map(str::to_owned),
            lease_duration_s: Some(15),
            transitions: 3,
            resource_version: rv.to_string(),
        }
    }

    /// What the API server would store for `write` as version `rv`.
    fn stored(write: &LeaseWrite, rv: u32) -> LeaseRecord {
        let spec = match write {
            LeaseWrite::Create(spec) | LeaseWrite::Update { spec, .. } => spec,
        };
        LeaseRecord {
            holder: spec.holder.clone(),
            lease_duration_s: Some(spec.lease_duration_s),
            transitions: spec.transitions,
            resource_version: rv.to_string(),
        }
    }

    #[test]
    fn an_absent_lease_is_created_and_the_creator_leads_for_the_renew_deadline() {
        let t0 = Instant::now();
        let mut e = Elector::new(cfg("a"));
        assert!(!e.may_act(t0, Duration::ZERO));
        let write = e.observe(t0, None).unwrap();
        let LeaseWrite::Create(spec) = &write else {
            panic!("{write:?}")
        };
        assert_eq!(spec.holder.as_deref(), Some("a"));
        assert!(spec.new_term);
        assert!(
            !e.may_act(t0, Duration::ZERO),
            "not before the API said yes"
        );

        let sent = t0 + S;
        e.written(sent, sent + S, WriteOutcome::Written(stored(&write, 1)));
        assert_eq!(e.acting_deadline(), Some(sent + 10 * S));
        assert!(e.may_act(sent + 5 * S, 5 * S), "exactly the timeout left");
        assert!(!e.may_act(sent + 5 * S + Duration::from_millis(1), 5 * S));
        assert!(e.is_leader(sent + 9 * S));
        assert!(!e.is_leader(sent + 10 * S));
    }

    #[test]
    fn a_follower_waits_exactly_the_lease_duration_after_the_last_change_it_saw() {
        let t0 = Instant::now();
        let mut e = Elector::new(cfg("b"));
        assert_eq!(e.observe(t0, Some(record(Some("a"), 7))), None);
        // The same version again: nothing changed, the clock keeps running from t0.
        assert_eq!(
            e.observe(t0 + 14 * S, Some(record(Some("a"), 7))),
            None,
            "one second before expiry"
        );
        // A renewal at 14 s restarts the wait.
        let t1 = t0 + 14 * S + Duration::from_millis(500);
        assert_eq!(e.observe(t1, Some(record(Some("a"), 8))), None);
        assert_eq!(
            e.observe(
                t1 + 15 * S - Duration::from_millis(1),
                Some(record(Some("a"), 8))
            ),
            None
        );
        let take = e.observe(t1 + 15 * S, Some(record(Some("a"), 8))).unwrap();
        assert_eq!(
            take,
            LeaseWrite::Update {
                spec: LeaseSpec {
                    holder: Some("b".into()),
                    lease_duration_s: 15,
                    transitions: 4,
                    new_term: true,
                },
                resource_version: "8".into(),
            }
        );
        assert!(!e.may_act(t1 + 15 * S, Duration::ZERO));
    }

    #[test]
    fn a_follower_honours_the_duration_the_holder_declared() {
        let t0 = Instant::now();
        let mut e = Elector::new(cfg("b"));
        let mut long = record(Some("a"), 1);
        long.lease_duration_s = Some(40);
        assert_eq!(e.observe(t0, Some(long.clone())), None);
        assert_eq!(e.observe(t0 + 39 * S, Some(long.clone())), None);
        assert!(e.observe(t0 + 40 * S, Some(long)).is_some());
    }

    #[test]
    fn a_released_lease_is_taken_at_once() {
        let t0 = Instant::now();
        let mut e = Elector::new(cfg("b"));
        assert_eq!(e.observe(t0, Some(record(Some("a"), 1))), None);
        let write = e.observe(t0 + S, Some(record(None, 2))).unwrap();
        assert!(
            matches!(write, LeaseWrite::Update { ref spec, .. } if spec.holder.as_deref() == Some("b"))
        );
    }

    #[test]
    fn the_leader_stops_at_the_renew_deadline_when_renewals_fail() {
        let t0 = Instant::now();
        let mut e = Elector::new(cfg("a"));
        let create = e.observe(t0, None).unwrap();
        e.written(t0, t0, WriteOutcome::Written(stored(&create, 1)));
        let mut now = t0;
        for _ in 0..6 {
            now += 2 * S;
            let renewal = e.renewal(now);
            let write = renewal.or_else(|| e.observe(now, Some(record(Some("a"), 1))));
            assert!(write.is_some(), "keeps trying to renew at {:?}", now - t0);
            e.written(now, now + S, WriteOutcome::Failed);
            assert_eq!(e.is_leader(now), now < t0 + 10 * S, "at {:?}", now - t0);
        }
        assert!(!e.is_leader(t0 + 10 * S));
        assert!(
            !e.may_act(t0 + 9 * S, 2 * S),
            "a write that could outlast the term"
        );
    }

    #[test]
    fn renewals_extend_the_term_from_when_they_were_sent() {
        let t0 = Instant::now();
        let mut e = Elector::new(cfg("a"));
        let create = e.observe(t0, None).unwrap();
        e.written(t0, t0, WriteOutcome::Written(stored(&create, 1)));
        let sent = t0 + 2 * S;
        let renewal = e.renewal(sent).unwrap();
        assert!(
            matches!(&renewal, LeaseWrite::Update { spec, resource_version } if !spec.new_term && resource_version == "1")
        );
        // Answered late: the term still counts from the send.
        e.written(
            sent,
            sent + 4 * S,
            WriteOutcome::Written(stored(&renewal, 2)),
        );
        assert_eq!(e.acting_deadline(), Some(sent + 10 * S));
    }

    #[test]
    fn a_conflict_ends_the_term_at_once() {
        let t0 = Instant::now();
        let mut e = Elector::new(cfg("a"));
        let create = e.observe(t0, None).unwrap();
        e.written(t0, t0, WriteOutcome::Written(stored(&create, 1)));
        let renewal = e.renewal(t0 + 2 * S).unwrap();
        e.written(t0 + 2 * S, t0 + 3 * S, WriteOutcome::Conflict);
        assert!(!e.is_leader(t0 + 3 * S));
        assert_eq!(e.renewal(t0 + 4 * S), None, "reads before writing again");
        drop(renewal);
        assert_eq!(e.observe(t0 + 4 * S, Some(record(Some("b"), 2))), None);
    }

    #[test]
    fn a_restarted_holder_renews_from_a_read_and_acts_only_once_that_succeeded() {
        let t0 = Instant::now();
        let mut e = Elector::new(cfg("a"));
        let write = e.observe(t0, Some(record(Some("a"), 5))).unwrap();
        assert!(
            matches!(&write, LeaseWrite::Update { spec, .. } if !spec.new_term && spec.transitions == 3)
        );
        assert!(!e.may_act(t0, Duration::ZERO));
        e.written(t0, t0 + S, WriteOutcome::Written(stored(&write, 6)));
        assert!(e.may_act(t0 + S, 5 * S));
    }

    #[test]
    fn release_stops_acting_and_clears_the_holder() {
        let t0 = Instant::now();
        let mut e = Elector::new(cfg("a"));
        let create = e.observe(t0, None).unwrap();
        e.written(t0, t0, WriteOutcome::Written(stored(&create, 1)));
        let release = e.release().unwrap();
        assert!(!e.may_act(t0, Duration::ZERO));
        assert_eq!(
            release,
            LeaseWrite::Update {
                spec: LeaseSpec {
                    holder: None,
                    lease_duration_s: 1,
                    transitions: 0,
                    new_term: false,
                },
                resource_version: "1".into(),
            }
        );
        let mut follower = Elector::new(cfg("b"));
        assert!(follower.release().is_none(), "nothing to release");
    }
}
