//! How far and how often the replica count may move: bounds, cooldowns and per-minute rate
//! limits, measured over the changes that were actually applied.
//!
//! Cooldowns and rate limits start from the *anchor*: the current count brought inside the
//! bounds. A Deployment scaled outside them by hand therefore always comes back to the
//! nearest bound at once, as the Kubernetes HPA does, and only moves beyond that bound are
//! held back.

use std::collections::VecDeque;

use super::config::SafetyConfig;
use super::decision::{Override, OverrideKind};

/// Length of the sliding window behind `max_added_per_minute` and `max_removed_per_minute`.
pub(crate) const RATE_WINDOW_S: u64 = 60;

/// One applied change of `spec.replicas`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct AppliedChange {
    at_s: u64,
    /// Pods added (positive) or removed (negative).
    delta: i64,
}

/// The changes the layer has seen applied: the latest for cooldowns, the last minute's for
/// rate limits. Only confirmed writes belong here; a decision that was never written (shadow
/// mode, a failed write) must not use up an allowance.
#[derive(Debug, Clone, Default)]
pub(crate) struct ScaleHistory {
    last_change_at_s: Option<u64>,
    recent: VecDeque<AppliedChange>,
}

impl ScaleHistory {
    /// Records that `spec.replicas` went from `from` to `to` at `at_s`.
    pub(crate) fn record(&mut self, at_s: u64, from: u32, to: u32) {
        if from == to {
            return;
        }
        self.last_change_at_s = Some(at_s);
        // Older entries can never count again once a later time has been seen.
        while self
            .recent
            .front()
            .is_some_and(|c| !in_window(c.at_s, at_s))
        {
            self.recent.pop_front();
        }
        self.recent.push_back(AppliedChange {
            at_s,
            delta: i64::from(to) - i64::from(from),
        });
    }

    /// When the last applied change happened, if any.
    pub(crate) fn last_change_at_s(&self) -> Option<u64> {
        self.last_change_at_s
    }

    /// Pods added by changes in the window ending at `now_s`.
    pub(crate) fn added_within(&self, now_s: u64) -> u32 {
        self.sum_within(now_s, |d| d.max(0))
    }

    /// Pods removed by changes in the window ending at `now_s`.
    pub(crate) fn removed_within(&self, now_s: u64) -> u32 {
        self.sum_within(now_s, |d| (-d).max(0))
    }

    fn sum_within(&self, now_s: u64, part: impl Fn(i64) -> i64) -> u32 {
        let total: i64 = self
            .recent
            .iter()
            .filter(|c| in_window(c.at_s, now_s))
            .map(|c| part(c.delta))
            .sum();
        u32::try_from(total).unwrap_or(u32::MAX)
    }
}

/// Whether a change at `at_s` still counts at `now_s`: the window is `(now − 60, now]`, so a
/// change stops counting exactly 60 s later.
fn in_window(at_s: u64, now_s: u64) -> bool {
    at_s.saturating_add(RATE_WINDOW_S) > now_s
}

/// The count the cooldowns and rate limits measure from.
pub(crate) fn anchor(config: &SafetyConfig, current: u32) -> u32 {
    current.clamp(config.min_replicas, config.max_replicas)
}

/// Keeps `target` within `[min_replicas, max_replicas]`.
pub(crate) fn clamp_to_bounds(
    config: &SafetyConfig,
    target: u32,
    overrides: &mut Vec<Override>,
) -> u32 {
    let (min, max) = (config.min_replicas, config.max_replicas);
    if target < min {
        overrides.push(Override::new(
            OverrideKind::MinReplicas,
            format!("{target} raised to min_replicas {min}"),
        ));
        min
    } else if target > max {
        overrides.push(Override::new(
            OverrideKind::MaxReplicas,
            format!("{target} lowered to max_replicas {max}"),
        ));
        max
    } else {
        target
    }
}

/// Holds at `anchor` while the cooldown of the direction `target` moves in is running.
/// The boundary second itself is free: a cooldown of 30 s after a change at 100 allows a
/// scale-up at 130.
pub(crate) fn apply_cooldown(
    config: &SafetyConfig,
    history: &ScaleHistory,
    now_s: u64,
    anchor: u32,
    target: u32,
    overrides: &mut Vec<Override>,
) -> u32 {
    let Some(last) = history.last_change_at_s() else {
        return target;
    };
    let (cooldown_s, kind, direction) = if target > anchor {
        (
            config.scale_up_cooldown_s,
            OverrideKind::ScaleUpCooldown,
            "scale-up",
        )
    } else if target < anchor {
        (
            config.scale_down_cooldown_s,
            OverrideKind::ScaleDownCooldown,
            "scale-down",
        )
    } else {
        return target;
    };
    let allowed_from = last.saturating_add(cooldown_s);
    if now_s >= allowed_from {
        return target;
    }
    overrides.push(Override::new(
        kind,
        format!(
            "{direction} {anchor} → {target} held at {anchor}: last change at t={last}, \
             {direction}s allowed from t={allowed_from}"
        ),
    ));
    anchor
}

/// Caps the move from `anchor` to what is left of the direction's per-minute allowance.
pub(crate) fn apply_rate_limit(
    config: &SafetyConfig,
    history: &ScaleHistory,
    now_s: u64,
    anchor: u32,
    target: u32,
    overrides: &mut Vec<Override>,
) -> u32 {
    if target > anchor {
        let limit = config.max_added_per_minute;
        let left = limit.saturating_sub(history.added_within(now_s));
        let capped = anchor.saturating_add(left);
        if target <= capped {
            return target;
        }
        overrides.push(Override::new(
            OverrideKind::ScaleUpRateLimit,
            format!(
                "{anchor} → {target} capped at {capped}: {left} of {limit} pods per \
                 {RATE_WINDOW_S} s left to add"
            ),
        ));
        capped
    } else if target < anchor {
        let limit = config.max_removed_per_minute;
        let left = limit.saturating_sub(history.removed_within(now_s));
        let capped = anchor.saturating_sub(left);
        if target >= capped {
            return target;
        }
        overrides.push(Override::new(
            OverrideKind::ScaleDownRateLimit,
            format!(
                "{anchor} → {target} capped at {capped}: {left} of {limit} pods per \
                 {RATE_WINDOW_S} s left to remove"
            ),
        ));
        capped
    } else {
        target
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds(min: u32, max: u32) -> SafetyConfig {
        SafetyConfig {
            min_replicas: min,
            max_replicas: max,
            ..SafetyConfig::default()
        }
    }

    fn kinds(overrides: &[Override]) -> Vec<OverrideKind> {
        overrides.iter().map(|o| o.kind).collect()
    }

    #[test]
    fn clamp_raises_to_min_and_lowers_to_max() {
        let c = bounds(2, 10);
        let mut o = Vec::new();
        assert_eq!(clamp_to_bounds(&c, 1, &mut o), 2);
        assert_eq!(clamp_to_bounds(&c, 0, &mut o), 2);
        assert_eq!(clamp_to_bounds(&c, 11, &mut o), 10);
        assert_eq!(
            kinds(&o),
            [
                OverrideKind::MinReplicas,
                OverrideKind::MinReplicas,
                OverrideKind::MaxReplicas
            ]
        );
        assert_eq!(o[2].detail, "11 lowered to max_replicas 10");
        // The bounds themselves and anything between pass untouched.
        let mut o = Vec::new();
        for t in [2, 5, 10] {
            assert_eq!(clamp_to_bounds(&c, t, &mut o), t);
        }
        assert!(o.is_empty());
    }

    #[test]
    fn anchor_is_the_current_count_inside_the_bounds() {
        let c = bounds(2, 10);
        assert_eq!(anchor(&c, 0), 2);
        assert_eq!(anchor(&c, 6), 6);
        assert_eq!(anchor(&c, 30), 10);
    }

    #[test]
    fn scale_up_cooldown_blocks_until_exactly_30_s_after_the_last_change() {
        let c = SafetyConfig::default();
        let mut h = ScaleHistory::default();
        let mut o = Vec::new();
        // No change yet: nothing to cool down from.
        assert_eq!(apply_cooldown(&c, &h, 0, 4, 6, &mut o), 6);
        h.record(100, 4, 5);
        assert_eq!(apply_cooldown(&c, &h, 115, 5, 7, &mut o), 5);
        assert_eq!(apply_cooldown(&c, &h, 129, 5, 7, &mut o), 5);
        assert_eq!(apply_cooldown(&c, &h, 130, 5, 7, &mut o), 7);
        assert_eq!(
            kinds(&o),
            [OverrideKind::ScaleUpCooldown, OverrideKind::ScaleUpCooldown]
        );
        assert_eq!(
            o[0].detail,
            "scale-up 5 → 7 held at 5: last change at t=100, scale-ups allowed from t=130"
        );
    }

    #[test]
    fn scale_down_cooldown_blocks_until_exactly_180_s_after_the_last_change() {
        let c = SafetyConfig::default();
        let mut h = ScaleHistory::default();
        let mut o = Vec::new();
        // A scale-up at 100 also starts the scale-down cooldown.
        h.record(100, 4, 8);
        assert_eq!(apply_cooldown(&c, &h, 130, 8, 6, &mut o), 8);
        assert_eq!(apply_cooldown(&c, &h, 279, 8, 6, &mut o), 8);
        assert_eq!(apply_cooldown(&c, &h, 280, 8, 6, &mut o), 6);
        assert_eq!(
            kinds(&o),
            [
                OverrideKind::ScaleDownCooldown,
                OverrideKind::ScaleDownCooldown
            ]
        );
        // Meanwhile a scale-up was free from 130, and a hold is never a cooldown matter.
        let mut o = Vec::new();
        assert_eq!(apply_cooldown(&c, &h, 130, 8, 9, &mut o), 9);
        assert_eq!(apply_cooldown(&c, &h, 101, 8, 8, &mut o), 8);
        assert!(o.is_empty());
    }

    #[test]
    fn scale_up_rate_caps_a_jump_at_5_pods_per_minute() {
        let c = SafetyConfig::default();
        let mut h = ScaleHistory::default();
        let mut o = Vec::new();
        // 2 → 10 wants +8: capped at 2 + 5 = 7.
        assert_eq!(apply_rate_limit(&c, &h, 0, 2, 10, &mut o), 7);
        assert_eq!(
            o[0].detail,
            "2 → 10 capped at 7: 5 of 5 pods per 60 s left to add"
        );
        h.record(0, 2, 7);
        // The +5 at 0 counts until 59: no more pods.
        assert_eq!(apply_rate_limit(&c, &h, 30, 7, 10, &mut o), 7);
        assert_eq!(apply_rate_limit(&c, &h, 59, 7, 10, &mut o), 7);
        assert_eq!(o.len(), 3);
        // At 60 it has slid out: +3 fits in a fresh allowance of 5.
        assert_eq!(apply_rate_limit(&c, &h, 60, 7, 10, &mut o), 10);
        assert_eq!(o.len(), 3);
        assert!(o.iter().all(|x| x.kind == OverrideKind::ScaleUpRateLimit));
    }

    #[test]
    fn the_allowance_is_shared_by_changes_inside_the_window() {
        let c = SafetyConfig::default();
        let mut h = ScaleHistory::default();
        let mut o = Vec::new();
        h.record(0, 2, 4);
        // +2 at 0 leaves 3: 4 → 10 becomes 4 → 7.
        assert_eq!(apply_rate_limit(&c, &h, 30, 4, 10, &mut o), 7);
        h.record(30, 4, 7);
        assert_eq!(h.added_within(59), 5);
        // At 60 only the +3 at 30 counts: 2 left, 7 → 9.
        assert_eq!(h.added_within(60), 3);
        assert_eq!(apply_rate_limit(&c, &h, 60, 7, 12, &mut o), 9);
        // At 90 both slid out.
        assert_eq!(h.added_within(90), 0);
    }

    #[test]
    fn scale_down_rate_caps_a_drop_at_3_pods_per_minute() {
        let c = SafetyConfig::default();
        let mut h = ScaleHistory::default();
        let mut o = Vec::new();
        // 10 → 2 wants −8: capped at 10 − 3 = 7.
        assert_eq!(apply_rate_limit(&c, &h, 500, 10, 2, &mut o), 7);
        h.record(500, 10, 7);
        assert_eq!(apply_rate_limit(&c, &h, 559, 7, 2, &mut o), 7);
        // At 560 the −3 slid out: 7 → 4.
        assert_eq!(apply_rate_limit(&c, &h, 560, 7, 2, &mut o), 4);
        assert_eq!(
            kinds(&o),
            [
                OverrideKind::ScaleDownRateLimit,
                OverrideKind::ScaleDownRateLimit,
                OverrideKind::ScaleDownRateLimit
            ]
        );
        assert_eq!(
            o[1].detail,
            "7 → 2 capped at 7: 0 of 3 pods per 60 s left to remove"
        );
    }

    #[test]
    fn directions_have_separate_allowances_and_small_moves_pass() {
        let c = SafetyConfig::default();
        let mut h = ScaleHistory::default();
        h.record(0, 2, 7);
        assert_eq!(h.removed_within(10), 0);
        let mut o = Vec::new();
        // Removing 3 right after adding 5 is within the removal allowance.
        assert_eq!(apply_rate_limit(&c, &h, 10, 7, 4, &mut o), 4);
        // A move within the allowance is not an override.
        let h = ScaleHistory::default();
        assert_eq!(apply_rate_limit(&c, &h, 10, 7, 12, &mut o), 12);
        assert_eq!(apply_rate_limit(&c, &h, 10, 7, 7, &mut o), 7);
        assert!(o.is_empty());
    }

    #[test]
    fn no_op_changes_are_not_recorded() {
        let mut h = ScaleHistory::default();
        h.record(50, 4, 4);
        assert_eq!(h.last_change_at_s(), None);
        assert_eq!(h.added_within(50), 0);
    }
}
