//! Variations of the recorded training slice, so a candidate trained on a quiet week has
//! still met a busier one: peaks scaled up, short spikes injected, the day shifted in
//! phase. A recording is one sample of the workload; a policy fitted to exactly it would
//! be caught out by the first busier afternoon. The variations stay close to the recorded
//! shape (the same median, the same daily rhythm) so the candidate still learns *this*
//! workload.
//!
//! Pure and deterministic: the spikes' positions come from the seed, nothing else varies.

use common::traffic::ArrivalSeries;
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};

/// Which variations to make.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AugmentOptions {
    /// The part of every rate above the median is multiplied by this (1 or less: no
    /// scaled copy). Default 1.5.
    pub(crate) peak_scale: f64,
    /// Spikes injected into the spiked copy (0: no spiked copy). Default 3.
    pub(crate) spikes: usize,
    /// A spike's rate as a multiple of the median (of the mean, if the median is zero).
    /// Default 4.
    pub(crate) spike_multiple: f64,
    /// A spike's length, seconds. Default 120: shorter than a pod's start-up plus a couple
    /// of decisions would be invisible, longer is a plateau, not a spike.
    pub(crate) spike_s: u64,
    /// Phase shifts, as fractions of the slice's length; one rotated copy each. Default
    /// one third and two thirds.
    pub(crate) phase_shifts: Vec<f64>,
    /// Seed of the spikes' positions.
    pub(crate) seed: u64,
}

impl Default for AugmentOptions {
    fn default() -> Self {
        Self {
            peak_scale: 1.5,
            spikes: 3,
            spike_multiple: 4.0,
            spike_s: 120,
            phase_shifts: vec![1.0 / 3.0, 2.0 / 3.0],
            seed: 0,
        }
    }
}

/// The series to train on: `original` first, then each variation `opts` asks for.
pub(crate) fn augment(original: &ArrivalSeries, opts: &AugmentOptions) -> Vec<ArrivalSeries> {
    let name = original.name();
    let mut out = vec![original.clone()];
    if opts.peak_scale > 1.0 {
        out.push(ArrivalSeries::new(
            format!("{name}+peaks×{}", opts.peak_scale),
            scale_peaks(original.as_slice(), opts.peak_scale),
        ));
    }
    if opts.spikes > 0 && opts.spike_s > 0 && opts.spike_multiple > 0.0 {
        let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
        out.push(ArrivalSeries::new(
            format!("{name}+spikes"),
            inject_spikes(
                original.as_slice(),
                opts.spikes,
                opts.spike_multiple,
                opts.spike_s,
                &mut rng,
            ),
        ));
    }
    let len = original.as_slice().len();
    for &f in &opts.phase_shifts {
        let shift = (f.rem_euclid(1.0) * len as f64).round() as usize % len.max(1);
        if shift > 0 {
            out.push(ArrivalSeries::new(
                format!("{name}+shift{shift}s"),
                rotate(original.as_slice(), shift),
            ));
        }
    }
    out
}

/// The median rate (the mean of the two middle ones for an even length); 0 when empty.
pub(crate) fn median(rates: &[f32]) -> f32 {
    let mut sorted = rates.to_vec();
    sorted.sort_by(f32::total_cmp);
    let n = sorted.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => sorted[n / 2],
        _ => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// Every rate above the median raised to `median + factor × (rate − median)`; the rest
/// unchanged. Busy hours get busier, quiet ones stay as they were.
pub(crate) fn scale_peaks(rates: &[f32], factor: f64) -> Vec<f32> {
    let m = f64::from(median(rates));
    rates
        .iter()
        .map(|&r| {
            let r = f64::from(r);
            (if r > m { m + factor * (r - m) } else { r }) as f32
        })
        .collect()
}

/// `count` bursts of `length_s` seconds at `multiple` × the median (the mean when the
/// median is zero, as for a mostly idle workload), at seeded positions; a burst never
/// lowers a rate already above it. Bursts may overlap on a short series.
pub(crate) fn inject_spikes(
    rates: &[f32],
    count: usize,
    multiple: f64,
    length_s: u64,
    rng: &mut ChaCha8Rng,
) -> Vec<f32> {
    let mut out = rates.to_vec();
    if out.is_empty() {
        return out;
    }
    let mut base = f64::from(median(rates));
    if base <= 0.0 {
        base = rates.iter().map(|&r| f64::from(r)).sum::<f64>() / rates.len() as f64;
    }
    let height = (multiple * base) as f32;
    let length = (length_s as usize).min(out.len());
    for _ in 0..count {
        let start = rng.random_range(0..=out.len() - length);
        for r in &mut out[start..start + length] {
            *r = r.max(height);
        }
    }
    out
}

/// The series rotated left by `shift_s` seconds: what was at `shift_s` comes first and
/// the start wraps round to the end, so the daily rhythm is kept but falls at other times
/// of the episode.
pub(crate) fn rotate(rates: &[f32], shift_s: usize) -> Vec<f32> {
    let mut out = rates.to_vec();
    if !out.is_empty() {
        let shift = shift_s % out.len();
        out.rotate_left(shift);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small day: quiet, busy, quiet.
    fn day() -> Vec<f32> {
        let mut v = vec![100.0; 600];
        v.extend(vec![300.0; 300]);
        v.extend(vec![100.0; 300]);
        v
    }

    #[test]
    fn the_median_is_the_middle_value() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
        assert_eq!(median(&day()), 100.0);
    }

    #[test]
    fn peaks_are_scaled_above_the_median_only() {
        let scaled = scale_peaks(&day(), 1.5);
        // 100 + 1.5 × (300 − 100) = 400; the quiet parts untouched.
        assert!(scaled[600..900].iter().all(|&r| r == 400.0));
        assert!(scaled[..600].iter().all(|&r| r == 100.0));
        assert!(scaled[900..].iter().all(|&r| r == 100.0));
        assert_eq!(median(&scaled), median(&day()));
    }

    #[test]
    fn spikes_are_short_bursts_at_a_multiple_of_the_median() {
        let rates = day();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let spiked = inject_spikes(&rates, 3, 4.0, 60, &mut rng);
        let raised: Vec<usize> = (0..rates.len())
            .filter(|&i| spiked[i] != rates[i])
            .collect();
        assert!(!raised.is_empty());
        assert!(raised.len() <= 3 * 60, "{} s raised", raised.len());
        assert!(raised.iter().all(|&i| spiked[i] == 400.0), "4 × median 100");
        // Nothing lowered.
        assert!(spiked.iter().zip(&rates).all(|(s, r)| s >= r));
        // Idle workloads spike at a multiple of the mean.
        let mut idle = vec![0.0; 100];
        idle[99] = 100.0;
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let s = inject_spikes(&idle, 1, 4.0, 10, &mut rng);
        assert_eq!(s.iter().filter(|&&r| r == 4.0).count(), 10);
    }

    #[test]
    fn rotation_shifts_the_phase_and_keeps_every_value() {
        let r = rotate(&day(), 600);
        assert!(
            r[..300].iter().all(|&x| x == 300.0),
            "the busy part now comes first"
        );
        assert_eq!(r.len(), 1200);
        let mut a = r.clone();
        let mut b = day();
        a.sort_by(f32::total_cmp);
        b.sort_by(f32::total_cmp);
        assert_eq!(a, b);
        assert_eq!(rotate(&day(), 1200), day());
        assert!(rotate(&[], 5).is_empty());
    }

    #[test]
    fn augment_puts_the_original_first_and_is_deterministic_for_a_seed() {
        let original = ArrivalSeries::new("recorded", day());
        let opts = AugmentOptions::default();
        let out = augment(&original, &opts);
        assert_eq!(out.len(), 5, "original, peaks, spikes, two shifts");
        assert_eq!(out[0], original);
        assert_eq!(out[1].name(), "recorded+peaks×1.5");
        assert_eq!(out[2].name(), "recorded+spikes");
        assert_eq!(out[3].name(), "recorded+shift400s");
        assert!(out.iter().all(|s| s.len_s() == original.len_s()));
        assert_eq!(out, augment(&original, &opts));
        let other = augment(
            &original,
            &AugmentOptions {
                seed: 1,
                ..opts.clone()
            },
        );
        assert_ne!(out[2], other[2], "spikes move with the seed");
        assert_eq!(out[1], other[1]);
        let none = AugmentOptions {
            peak_scale: 1.0,
            spikes: 0,
            phase_shifts: Vec::new(),
            ..opts
        };
        assert_eq!(augment(&original, &none), vec![original]);
    }
}
