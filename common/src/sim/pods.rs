//! The Deployment's pods: created, starting, ready, and which go first on scale-down.

use crate::policy::PodView;

/// Pods that exist, split by readiness.
///
/// On scale-down the ReplicaSet controller deletes not-ready pods before ready ones and,
/// among ready pods, the ones ready for the shortest time first
/// (`pkg/controller/replicaset` `ActivePodsWithRanks`); this keeps the same order.
#[derive(Debug, Clone, Default)]
pub(crate) struct PodSet {
    /// Ready pods in the order they became ready.
    ready: Vec<PodView>,
    /// Starting pods in creation order; `ready_at_s` holds when each will be ready.
    starting: Vec<PodView>,
    /// Earliest `ready_at_s` among starting pods, to skip the scan on most ticks.
    next_ready_s: u64,
    /// Every pod, ready first, as policies see them; rebuilt on every change.
    view: Vec<PodView>,
}

impl PodSet {
    /// `n` pods ready at time zero.
    pub(crate) fn with_ready(n: u32) -> Self {
        let ready = vec![
            PodView {
                created_at_s: 0,
                ready_at_s: Some(0),
            };
            n as usize
        ];
        let mut s = Self {
            ready,
            next_ready_s: u64::MAX,
            ..Self::default()
        };
        s.refresh_view();
        s
    }

    /// Ready pods.
    pub(crate) fn ready(&self) -> u32 {
        self.ready.len() as u32
    }

    /// Pods created but not ready yet.
    pub(crate) fn starting(&self) -> u32 {
        self.starting.len() as u32
    }

    /// All pods.
    pub(crate) fn total(&self) -> u32 {
        self.ready() + self.starting()
    }

    /// Marks pods whose start-up has finished by `now_s` as ready.
    #[inline]
    pub(crate) fn promote(&mut self, now_s: u64) {
        if now_s < self.next_ready_s {
            return;
        }
        let mut next = u64::MAX;
        let mut i = 0;
        while i < self.starting.len() {
            let due = self.starting[i].ready_at_s.unwrap_or(u64::MAX);
            if due <= now_s {
                let pod = self.starting.remove(i);
                self.ready.push(pod);
            } else {
                next = next.min(due);
                i += 1;
            }
        }
        self.next_ready_s = next;
        self.refresh_view();
    }

    /// Creates a pod at `now_s` that will be ready at `ready_at_s`.
    pub(crate) fn create(&mut self, now_s: u64, ready_at_s: u64) {
        self.starting.push(PodView {
            created_at_s: now_s,
            ready_at_s: Some(ready_at_s),
        });
        self.next_ready_s = self.next_ready_s.min(ready_at_s);
        self.refresh_view();
    }

    /// Deletes `n` pods: the newest starting pods first, then the most recently ready.
    pub(crate) fn delete(&mut self, mut n: u32) {
        while n > 0 {
            if self.starting.pop().is_none() && self.ready.pop().is_none() {
                break;
            }
            n -= 1;
        }
        self.next_ready_s = self
            .starting
            .iter()
            .filter_map(|p| p.ready_at_s)
            .min()
            .unwrap_or(u64::MAX);
        self.refresh_view();
    }

    /// Pods as the API shows them: starting pods have no Ready time yet.
    pub(crate) fn views(&self) -> &[PodView] {
        &self.view
    }

    fn refresh_view(&mut self) {
        self.view.clear();
        self.view.extend_from_slice(&self.ready);
        self.view.extend(self.starting.iter().map(|p| PodView {
            created_at_s: p.created_at_s,
            ready_at_s: None,
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_become_ready_when_due_and_deletion_prefers_starting_then_newest() {
        let mut p = PodSet::with_ready(2);
        p.create(10, 40);
        p.create(11, 35);
        p.promote(34);
        assert_eq!((p.ready(), p.starting()), (2, 2));
        p.promote(35);
        assert_eq!((p.ready(), p.starting()), (3, 1));
        p.delete(1); // the pod still starting goes first
        assert_eq!((p.ready(), p.starting()), (3, 0));
        p.promote(100); // nothing left to promote
        assert_eq!(p.ready(), 3);
        p.delete(1); // then the most recently ready (created at 11)
        let views = p.views().to_vec();
        assert_eq!(views.len(), 2);
        assert!(views.iter().all(|v| v.created_at_s == 0));
        p.delete(10);
        assert_eq!(p.total(), 0);
    }

    #[test]
    fn views_hide_future_ready_times() {
        let mut p = PodSet::with_ready(1);
        p.create(5, 50);
        let v = p.views();
        assert_eq!(v[1].ready_at_s, None);
        assert_eq!(v[0].ready_at_s, Some(0));
    }
}
