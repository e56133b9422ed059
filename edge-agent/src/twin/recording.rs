//! The recorded request rate as traffic the twin can replay: the experience log's samples
//! (one per decision interval) turned into the per-second [`ArrivalSeries`] the simulator
//! plays, then cut into a training slice and a held-back slice that the promotion gate
//! judges on, so no candidate is scored on traffic it trained on.
//!
//! Each sample's rate holds from its metrics timestamp until the next sample, which is
//! what a `rate()[1m]` reading every 15 s says about the seconds between readings.
//! Silences are handled by length:
//! - a gap of at most `max_gap_s` (a missed scrape or two, a restarted agent) is
//!   **bridged**: the last rate holds across it, since the workload did not stop;
//! - a longer gap (the agent down for a night, a deleted segment) **cuts** the recording:
//!   the last rate holds for one interval, the silence is dropped, and the next stretch
//!   follows directly. Holding one rate for hours would invent traffic; dropping it keeps
//!   only what was seen, at the price of one step in the series where the stretches meet
//!   (a load step, which training and the gate handle like any other).
//!
//! "Recorded time" is therefore the length of the joined series, and the held-back slice
//! is its last `held_back_fraction`: the most recent traffic, which is what the promoted
//! model will serve next.

use common::traffic::ArrivalSeries;

use crate::experience::Transition;

/// One request-rate reading.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RateSample {
    /// Unix second the reading is of (the metrics' timestamp).
    pub(crate) at_s: u64,
    /// Requests per second.
    pub(crate) rate_rps: f64,
}

/// The reading a transition carries, if it has one: transitions whose metrics were
/// missing say nothing about the traffic and are skipped (they become a gap).
pub(crate) fn sample_of(t: &Transition) -> Option<RateSample> {
    t.metrics.as_ref().map(|m| RateSample {
        at_s: m.timestamp_s,
        rate_rps: m.request_rate_rps,
    })
}

/// How samples become series.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RecordingOptions {
    /// Seconds between two samples when nothing is missing (the decision interval); the
    /// last sample before a cut, and the very last one, hold this long. Default 15.
    pub(crate) interval_s: u64,
    /// Longest silence bridged by holding the last rate; longer ones cut. Default 60 (four
    /// intervals).
    pub(crate) max_gap_s: u64,
    /// Share of recorded time, at its end, held back for the gate. Default 0.25.
    pub(crate) held_back_fraction: f64,
    /// Least recorded time to retrain on. Default 2 h: the held-back quarter is then
    /// 30 min (120 decisions), about the least that says anything about a policy.
    pub(crate) min_recorded_s: u64,
}

/// The default share of recorded time held back.
pub(crate) const DEFAULT_HELD_BACK_FRACTION: f64 = 0.25;

impl Default for RecordingOptions {
    fn default() -> Self {
        Self {
            interval_s: 15,
            max_gap_s: 60,
            held_back_fraction: DEFAULT_HELD_BACK_FRACTION,
            min_recorded_s: 2 * 3600,
        }
    }
}

/// What went into the series, for the report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub(crate) struct RecordingSummary {
    /// Samples used.
    pub(crate) samples: u64,
    /// Samples skipped because their timestamp did not advance (a stale reading repeated).
    pub(crate) stale_samples: u64,
    /// Seconds of series: the recorded time.
    pub(crate) recorded_s: u64,
    /// Seconds of short gaps bridged by holding the last rate (beyond the normal interval).
    pub(crate) bridged_s: u64,
    /// Long gaps cut out.
    pub(crate) cut_gaps: u64,
    /// Seconds of silence those cuts dropped.
    pub(crate) cut_s: u64,
}

/// The two slices of a recording.
#[derive(Debug, Clone)]
pub(crate) struct Recording {
    /// The older part, to train on.
    pub(crate) training: ArrivalSeries,
    /// The most recent part, for the gate only.
    pub(crate) held_back: ArrivalSeries,
    /// How the series was made.
    pub(crate) summary: RecordingSummary,
}

/// Why a recording cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum RecordingError {
    /// The options contradict each other.
    #[error("{0}")]
    Options(String),
    /// Not enough recorded traffic.
    #[error(
        "the recording holds {} of request-rate readings ({samples} samples) but retraining needs at least {}: \
         let the agent record longer (every `run` interval adds one sample)",
        hours(*recorded_s),
        hours(*needed_s)
    )]
    TooLittle {
        /// Seconds recorded (gaps cut out).
        recorded_s: u64,
        /// Seconds needed.
        needed_s: u64,
        /// Samples read.
        samples: u64,
    },
}

/// `s` seconds as e.g. `1 h 05 min`, for people.
fn hours(s: u64) -> String {
    let m = s / 60;
    if m < 60 {
        format!("{m} min")
    } else {
        format!("{} h {:02} min", m / 60, m % 60)
    }
}

impl RecordingOptions {
    fn validate(&self) -> Result<(), RecordingError> {
        if self.interval_s == 0 {
            return Err(RecordingError::Options(
                "the sample interval must be at least 1 s".into(),
            ));
        }
        if self.max_gap_s < self.interval_s {
            return Err(RecordingError::Options(format!(
                "the longest bridged gap ({} s) is shorter than the sample interval ({} s)",
                self.max_gap_s, self.interval_s
            )));
        }
        let f = self.held_back_fraction;
        if !(f > 0.0 && f < 1.0) {
            return Err(RecordingError::Options(format!(
                "the held-back fraction must be between 0 and 1 (exclusive), got {f}"
            )));
        }
        Ok(())
    }
}

/// The per-second series `samples` (oldest first) describe: each rate held until the next
/// sample, short gaps bridged, long ones cut (see the module documentation).
pub(crate) fn series_of(
    samples: impl IntoIterator<Item = RateSample>,
    opts: &RecordingOptions,
) -> (Vec<f32>, RecordingSummary) {
    let mut per_second: Vec<f32> = Vec::new();
    let mut summary = RecordingSummary::default();
    let hold = |per_second: &mut Vec<f32>, rate: f64, seconds: u64| {
        let rate = if rate.is_finite() && rate > 0.0 {
            rate as f32
        } else {
            0.0
        };
        per_second.extend(std::iter::repeat_n(rate, seconds as usize));
    };
    let mut last: Option<RateSample> = None;
    for s in samples {
        if let Some(prev) = last {
            if s.at_s <= prev.at_s {
                summary.stale_samples += 1;
                continue;
            }
            let gap = s.at_s - prev.at_s;
            if gap <= opts.max_gap_s {
                hold(&mut per_second, prev.rate_rps, gap);
                summary.bridged_s += gap.saturating_sub(opts.interval_s);
            } else {
                hold(&mut per_second, prev.rate_rps, opts.interval_s);
                summary.cut_gaps += 1;
                summary.cut_s += gap - opts.interval_s;
            }
        }
        summary.samples += 1;
        last = Some(s);
    }
    if let Some(prev) = last {
        hold(&mut per_second, prev.rate_rps, opts.interval_s);
    }
    summary.recorded_s = per_second.len() as u64;
    (per_second, summary)
}

/// The training and held-back slices of `samples` (oldest first). The cut falls on a
/// whole interval, so both slices hold whole decisions.
pub(crate) fn split_recording(
    samples: impl IntoIterator<Item = RateSample>,
    opts: &RecordingOptions,
) -> Result<Recording, RecordingError> {
    opts.validate()?;
    let (per_second, summary) = series_of(samples, opts);
    let total = summary.recorded_s;
    // At least two intervals, so each slice gets one.
    let needed_s = opts.min_recorded_s.max(2 * opts.interval_s);
    if total < needed_s {
        return Err(RecordingError::TooLittle {
            recorded_s: total,
            needed_s,
            samples: summary.samples,
        });
    }
    let interval = opts.interval_s as f64;
    let held_intervals = (total as f64 * opts.held_back_fraction / interval).round() as u64;
    let held_s = (held_intervals * opts.interval_s).clamp(opts.interval_s, total - opts.interval_s);
    let cut = (total - held_s) as usize;
    Ok(Recording {
        training: ArrivalSeries::new("recorded", per_second[..cut].to_vec()),
        held_back: ArrivalSeries::new("recorded-held-back", per_second[cut..].to_vec()),
        summary,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::twin::synthetic::recorded_transition;

    fn samples(points: &[(u64, f64)]) -> Vec<RateSample> {
        points
            .iter()
            .map(|&(at_s, rate_rps)| RateSample { at_s, rate_rps })
            .collect()
    }

    fn opts(min_recorded_s: u64) -> RecordingOptions {
        RecordingOptions {
            min_recorded_s,
            ..RecordingOptions::default()
        }
    }

    #[test]
    fn each_rate_holds_until_the_next_sample_and_the_last_for_one_interval() {
        let (s, sum) = series_of(samples(&[(100, 10.0), (115, 20.0), (130, 30.0)]), &opts(0));
        assert_eq!(s.len(), 45);
        assert!(s[..15].iter().all(|&r| r == 10.0));
        assert!(s[15..30].iter().all(|&r| r == 20.0));
        assert!(s[30..].iter().all(|&r| r == 30.0));
        assert_eq!((sum.samples, sum.recorded_s, sum.cut_gaps), (3, 45, 0));
    }

    #[test]
    fn short_gaps_are_bridged_and_long_ones_cut() {
        // 45 s late (bridged: 30 s beyond the interval), then 1 h of silence (cut).
        let (s, sum) = series_of(
            samples(&[(0, 5.0), (45, 6.0), (60, 7.0), (3660, 8.0)]),
            &opts(0),
        );
        assert!(s[..45].iter().all(|&r| r == 5.0));
        assert!(s[45..60].iter().all(|&r| r == 6.0));
        assert!(
            s[60..75].iter().all(|&r| r == 7.0),
            "held one interval before the cut"
        );
        assert!(
            s[75..90].iter().all(|&r| r == 8.0),
            "the next stretch follows at once"
        );
        assert_eq!(s.len(), 90);
        assert_eq!(sum.bridged_s, 30);
        assert_eq!((sum.cut_gaps, sum.cut_s), (1, 3600 - 15));
    }

    #[test]
    fn stale_repeats_are_skipped_and_bad_rates_read_as_zero() {
        let (s, sum) = series_of(
            samples(&[(0, 1.0), (0, 99.0), (15, f64::NAN), (30, -3.0)]),
            &opts(0),
        );
        assert_eq!(sum.stale_samples, 1);
        assert_eq!(s.len(), 45);
        assert!(s[15..].iter().all(|&r| r == 0.0));
    }

    #[test]
    fn the_last_quarter_of_recorded_time_is_held_back() {
        // 4 h at 15 s with the rate = the hour, so the cut is visible in the values.
        let points: Vec<(u64, f64)> = (0..960).map(|i| (i * 15, (i / 240) as f64)).collect();
        let r = split_recording(samples(&points), &opts(2 * 3600)).unwrap();
        assert_eq!(r.training.len_s(), 3 * 3600);
        assert_eq!(r.held_back.len_s(), 3600);
        assert!(r.held_back.as_slice().iter().all(|&v| v == 3.0));
        assert_eq!(r.training.rate_at(3 * 3600 - 1), 2.0);
        let tenth = RecordingOptions {
            held_back_fraction: 0.1,
            ..opts(0)
        };
        let r = split_recording(samples(&points), &tenth).unwrap();
        assert_eq!(
            r.held_back.len_s(),
            1440,
            "0.1 × 4 h = 24 min = 96 intervals"
        );
        assert_eq!(r.held_back.len_s() % 15, 0);
    }

    #[test]
    fn too_little_data_says_how_much_there_is_and_how_much_is_needed() {
        let points: Vec<(u64, f64)> = (0..160).map(|i| (i * 15, 50.0)).collect();
        let err = split_recording(samples(&points), &opts(2 * 3600)).unwrap_err();
        assert_eq!(
            err,
            RecordingError::TooLittle {
                recorded_s: 2400,
                needed_s: 7200,
                samples: 160
            }
        );
        let text = err.to_string();
        assert!(
            text.contains("40 min") && text.contains("2 h 00 min") && text.contains("160 samples"),
            "{text}"
        );
        let empty = split_recording(Vec::new(), &opts(0)).unwrap_err();
        assert!(matches!(
            empty,
            RecordingError::TooLittle { recorded_s: 0, .. }
        ));
    }

    #[test]
    fn contradictory_options_are_refused() {
        for f in [0.0, 1.0, -0.5, f64::NAN] {
            let o = RecordingOptions {
                held_back_fraction: f,
                ..opts(0)
            };
            assert!(matches!(
                split_recording(samples(&[(0, 1.0), (15, 1.0)]), &o),
                Err(RecordingError::Options(_))
            ));
        }
        let o = RecordingOptions {
            max_gap_s: 10,
            ..opts(0)
        };
        assert!(split_recording(Vec::new(), &o).is_err());
    }

    #[test]
    fn transitions_without_metrics_are_gaps() {
        let mut blind = recorded_transition(30, 9.0, 1);
        blind.metrics = None;
        let got: Vec<_> = [recorded_transition(15, 4.0, 1), blind]
            .iter()
            .filter_map(sample_of)
            .collect();
        assert_eq!(
            got,
            vec![RateSample {
                at_s: 15,
                rate_rps: 4.0
            }]
        );
    }
}
