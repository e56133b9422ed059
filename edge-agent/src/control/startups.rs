//! Which pods became ready since the previous decision, and how long each took from
//! creation to Ready: the evidence the digital twin's start-up delay is calibrated from.
//!
//! Pods are told apart by their (creation, Ready) times rather than by comparing Ready
//! times with the agent's clock: the kubelet reports readiness a moment after its probe
//! passed and the list arrives later still, so a pod can appear ready with a Ready time
//! older than the previous decision, and the API server's clock need not agree with the
//! agent's. A pod is news when it is ready now and was not among the ready pods last
//! time, whatever its timestamps say.

use common::policy::PodView;

/// Remembers the ready pods of the previous decision.
#[derive(Debug, Clone, Default)]
pub(crate) struct StartupTracker {
    /// (created, ready) of every ready pod seen last time, sorted; `None` before the first
    /// look, when no pod's readiness is news.
    seen: Option<Vec<(u64, u64)>>,
}

impl StartupTracker {
    /// Seconds from creation to Ready of each pod in `pods` that is ready now and was not
    /// ready (or did not exist) at the previous call. A pod whose readiness flapped comes
    /// back with a later Ready time and counts again, overstating its start-up; that is
    /// rare next to the scale-ups calibration learns from.
    pub(crate) fn observe(&mut self, pods: &[PodView]) -> Vec<u32> {
        let mut now: Vec<(u64, u64)> = pods
            .iter()
            .filter_map(|p| p.ready_at_s.map(|r| (p.created_at_s, r)))
            .collect();
        now.sort_unstable();
        let news = match &self.seen {
            None => Vec::new(),
            Some(before) => {
                // Multiset difference of two sorted lists: pods created and ready in the
                // same seconds are counted, not merged.
                let mut news = Vec::new();
                let mut old = before.iter().peekable();
                for pod in &now {
                    while old.next_if(|o| *o < pod).is_some() {}
                    if old.next_if(|o| *o == pod).is_none() {
                        let took = pod.1.saturating_sub(pod.0);
                        news.push(u32::try_from(took).unwrap_or(u32::MAX));
                    }
                }
                news
            }
        };
        self.seen = Some(now);
        news
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(created_at_s: u64, ready_at_s: Option<u64>) -> PodView {
        PodView {
            created_at_s,
            ready_at_s,
        }
    }

    #[test]
    fn each_pod_counts_once_when_first_seen_ready_whatever_its_timestamps() {
        let mut t = StartupTracker::default();
        // Ready before the first look: not news.
        assert_eq!(
            t.observe(&[pod(0, Some(10)), pod(990, None)]),
            Vec::<u32>::new()
        );
        // Seen ready late, with a Ready time long past: still news, once.
        assert_eq!(
            t.observe(&[pod(0, Some(10)), pod(990, Some(1020))]),
            vec![30]
        );
        assert_eq!(
            t.observe(&[pod(0, Some(10)), pod(990, Some(1020))]),
            Vec::<u32>::new()
        );
        // Two pods created and ready in the same seconds are two start-ups.
        let twins = [
            pod(0, Some(10)),
            pod(990, Some(1020)),
            pod(1000, Some(1031)),
            pod(1000, Some(1031)),
        ];
        assert_eq!(t.observe(&twins), vec![31, 31]);
        // A pod deleted and another ready: only the new one is news.
        assert_eq!(
            t.observe(&[
                pod(0, Some(10)),
                pod(1000, Some(1031)),
                pod(1040, Some(1062))
            ]),
            vec![22]
        );
    }
}
