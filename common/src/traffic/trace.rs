//! Replaying a recorded request-count trace (`timestamp_or_index,count` CSV).
//!
//! Real traces are bucketed per second or per minute, have holes where logging stopped,
//! and carry their own absolute load. The simulator needs one rate per second at a load
//! that fits the simulated cluster, and policies only ever see the load averaged over a
//! decision interval. So a trace is parsed once into its rows ([`parse_trace`], no I/O,
//! so tests and embedders can feed strings), then cut to a window, averaged per decision
//! interval, held constant within each interval and rescaled to a chosen peak
//! ([`RawTrace::replay`]). [`load_trace`] does both for a file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime};

use super::series::ArrivalSeries;
use crate::error::TrafficError;

/// Longest series a trace may expand to. A stray timestamp years away would otherwise
/// turn into a multi-gigabyte zero-filled series instead of an error.
const MAX_SERIES_S: u64 = 366 * 86_400;

/// The naive timestamp form; such timestamps are read as UTC.
const NAIVE_FORMAT: &str = "%Y-%m-%dT%H:%M:%S";

/// What to replay and how.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceOptions {
    /// The CSV file.
    pub path: PathBuf,
    /// Rate (req/s) the busiest decision interval of the window is scaled to, so the
    /// trace exercises the simulated cluster whatever the original site's size was.
    pub peak_rps: f64,
    /// Where the window starts, seconds after the first row's time. Unset: at the start.
    pub start_s: Option<u64>,
    /// How long the window lasts. Unset: to the end of the trace.
    pub duration_s: Option<u64>,
    /// Bucket length in seconds, overriding the inferred one; needed for traces bucketed
    /// at something other than 1 s or 60 s.
    pub step_s: Option<u64>,
    /// Seconds each rate is averaged over: the decision interval, because a policy sees
    /// no finer detail, and per-minute buckets hold none to begin with.
    pub interval_s: u32,
}

impl TraceOptions {
    /// The whole trace at the simulator's default decision interval.
    pub fn new(path: impl Into<PathBuf>, peak_rps: f64) -> Self {
        Self {
            path: path.into(),
            peak_rps,
            start_s: None,
            duration_s: None,
            step_s: None,
            interval_s: crate::sim::SimConfig::default().decision_interval_s,
        }
    }
}

/// What a replay found in the trace, for reports and sanity checks.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceInfo {
    /// Data rows in the file (header and blank lines excluded).
    pub rows: usize,
    /// Bucket length in seconds, inferred or given.
    pub step_s: u64,
    /// Buckets between the first and last row with no row of their own, zero-filled.
    pub gap_buckets: u64,
    /// Length of the whole trace, seconds, from the first bucket's start to the last one's end.
    pub length_s: u64,
    /// Requests in the whole trace.
    pub total_requests: f64,
    /// Requests inside the window.
    pub window_requests: f64,
    /// Highest rate of the window, req/s averaged over a decision interval, before
    /// rescaling; the value that was mapped to the requested peak.
    pub original_peak_rps: f64,
    /// Factor every rate was multiplied by.
    pub scale: f64,
    /// Start of the window, seconds after the first row's time.
    pub start_s: u64,
    /// Length of the window and of the series, seconds.
    pub duration_s: u64,
}

/// How column 1 positions a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    /// A bucket number; each row is one bucket. `per_minute` comes from the header.
    Index { per_minute: bool },
    /// Seconds since the Unix epoch.
    Timestamp,
}

/// A parsed trace: its rows, not yet bucketed, windowed or rescaled.
#[derive(Debug, Clone, PartialEq)]
pub struct RawTrace {
    path: PathBuf,
    column: Column,
    /// Strictly increasing: bucket indices or Unix seconds, depending on `column`.
    keys: Vec<i64>,
    counts: Vec<f64>,
}

/// Parses the text of a trace. `path` only names the source in errors and in the series name.
///
/// A first line whose second field is not a number is a header; blank lines are skipped.
/// Column 1 is an integer bucket index or a timestamp (RFC 3339 with offset, or
/// `YYYY-MM-DDTHH:MM:SS` read as UTC), decided by the first data row; it must increase
/// strictly. Column 2 is a non-negative count.
pub fn parse_trace(text: &str, path: &Path) -> Result<RawTrace, TrafficError> {
    let malformed = |line: usize, reason: String| TrafficError::Malformed {
        path: path.to_owned(),
        line,
        reason,
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut column: Option<Column> = None;
    let mut per_minute_header = false;
    let mut seen_first_line = false;
    let mut keys = Vec::new();
    let mut counts = Vec::new();

    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let mut fields = line.split(',').map(str::trim);
        let (Some(first), Some(second), None) = (fields.next(), fields.next(), fields.next())
        else {
            return Err(malformed(
                line_no,
                format!(
                    "expected 2 fields `timestamp_or_index,count`, found {}",
                    line.split(',').count()
                ),
            ));
        };
        if !seen_first_line {
            seen_first_line = true;
            if second.parse::<f64>().is_err() {
                per_minute_header = first.to_ascii_lowercase().contains("minute");
                continue;
            }
        }

        let column = *column.get_or_insert_with(|| {
            if first.parse::<i64>().is_ok() {
                Column::Index {
                    per_minute: per_minute_header,
                }
            } else {
                Column::Timestamp
            }
        });
        let key = match column {
            Column::Index { .. } => first.parse::<i64>().map_err(|_| {
                malformed(
                    line_no,
                    format!(
                        "bad index `{first}`: expected an integer bucket index like the first row"
                    ),
                )
            })?,
            Column::Timestamp => parse_timestamp(first).ok_or_else(|| {
                malformed(
                    line_no,
                    format!(
                        "bad timestamp `{first}`: expected an integer index, RFC 3339 \
                         (e.g. 1995-07-01T00:00:00-04:00) or YYYY-MM-DDTHH:MM:SS"
                    ),
                )
            })?,
        };
        if let Some(&prev) = keys.last()
            && key <= prev
        {
            let what = match column {
                Column::Index { .. } => "index",
                Column::Timestamp => "timestamp",
            };
            return Err(malformed(
                line_no,
                format!("{what} `{first}` is not after the previous row's; rows must increase"),
            ));
        }
        let count = second
            .parse::<f64>()
            .map_err(|_| malformed(line_no, format!("bad count `{second}`: not a number")))?;
        if !count.is_finite() {
            return Err(malformed(
                line_no,
                format!("bad count `{second}`: not a finite number"),
            ));
        }
        if count < 0.0 {
            return Err(malformed(line_no, format!("negative count `{second}`")));
        }
        keys.push(key);
        counts.push(count);
    }

    let Some(column) = column else {
        return Err(TrafficError::Empty(format!(
            "{}: the trace has no data rows",
            path.display()
        )));
    };
    Ok(RawTrace {
        path: path.to_owned(),
        column,
        keys,
        counts,
    })
}

fn parse_timestamp(s: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp())
        .or_else(|_| {
            NaiveDateTime::parse_from_str(s, NAIVE_FORMAT).map(|t| t.and_utc().timestamp())
        })
        .ok()
}

/// Reads, parses and replays a trace file.
pub fn load_trace(opts: &TraceOptions) -> Result<(ArrivalSeries, TraceInfo), TrafficError> {
    let text = std::fs::read_to_string(&opts.path).map_err(|source| TrafficError::Io {
        path: opts.path.clone(),
        source,
    })?;
    parse_trace(&text, &opts.path)?.replay(opts)
}

/// Parses a duration such as `45s`, `90m`, `6h`, `2d` or `1h30m` into whole seconds, for
/// trace windows given on the command line.
pub fn parse_duration(s: &str) -> Result<u64, TrafficError> {
    let d = humantime::parse_duration(s.trim()).map_err(|e| {
        TrafficError::Invalid(format!(
            "invalid duration `{s}`: {e}; expected e.g. 45s, 90m, 6h, 2d or 1h30m"
        ))
    })?;
    if d.subsec_nanos() != 0 {
        return Err(TrafficError::Invalid(format!(
            "invalid duration `{s}`: must be a whole number of seconds"
        )));
    }
    Ok(d.as_secs())
}

/// Readable form of a length in seconds for error messages, e.g. `62days (5356800 s)`.
fn human(seconds: u64) -> String {
    format!(
        "{} ({seconds} s)",
        humantime::format_duration(Duration::from_secs(seconds))
    )
}

impl RawTrace {
    /// Data rows parsed.
    pub fn rows(&self) -> usize {
        self.keys.len()
    }

    /// Requests over the whole trace.
    pub fn total_requests(&self) -> f64 {
        self.counts.iter().sum()
    }

    /// Whether column 1 holds bucket indices rather than timestamps.
    pub fn is_indexed(&self) -> bool {
        matches!(self.column, Column::Index { .. })
    }

    /// The bucket length: `explicit` if given; for an index column 60 s when the header's
    /// first field mentions "minute", else 1 s; for timestamps the most common difference
    /// between consecutive rows, which must be 1 s or 60 s since anything else more likely
    /// means a misread file than a deliberate bucketing.
    pub fn step_s(&self, explicit: Option<u64>) -> Result<u64, TrafficError> {
        match (explicit, self.column) {
            (Some(0), _) => Err(TrafficError::Invalid(
                "trace step must be at least 1 second".to_owned(),
            )),
            (Some(step), _) => Ok(step),
            (None, Column::Index { per_minute }) => Ok(if per_minute { 60 } else { 1 }),
            (None, Column::Timestamp) => {
                let mut freq: HashMap<u64, usize> = HashMap::new();
                for w in self.keys.windows(2) {
                    *freq.entry(w[1].abs_diff(w[0])).or_default() += 1;
                }
                // Ties go to the smaller difference so the result does not depend on hash order.
                let mode = freq
                    .into_iter()
                    .max_by_key(|&(diff, n)| (n, std::cmp::Reverse(diff)))
                    .map(|(diff, _)| diff);
                match mode {
                    Some(step @ (1 | 60)) => Ok(step),
                    Some(other) => Err(TrafficError::Invalid(format!(
                        "{}: the most common difference between consecutive timestamps is \
                         {other} s, but only 1 s or 60 s buckets are inferred; give the step \
                         explicitly",
                        self.path.display()
                    ))),
                    None => Err(TrafficError::Invalid(format!(
                        "{}: a single timestamped row does not tell the bucket step; give \
                         the step explicitly",
                        self.path.display()
                    ))),
                }
            }
        }
    }

    /// Bucket number of row `i`, counted from the first row's bucket.
    fn bucket(&self, i: usize, step_s: u64) -> u64 {
        self.bucket_of_key(self.keys[i], step_s)
    }

    fn bucket_of_key(&self, key: i64, step_s: u64) -> u64 {
        let offset = key.abs_diff(self.keys[0]);
        match self.column {
            Column::Index { .. } => offset,
            Column::Timestamp => offset / step_s,
        }
    }

    /// Buckets from the first row's to the last row's, inclusive.
    fn bucket_count(&self, step_s: u64) -> u64 {
        self.bucket(self.keys.len() - 1, step_s) + 1
    }

    /// Buckets in the trace's span without a row of their own.
    fn gap_buckets(&self, step_s: u64) -> u64 {
        // Rows are sorted, so distinct buckets are the changes along the rows.
        let mut occupied = 1;
        for i in 1..self.keys.len() {
            if self.bucket(i, step_s) != self.bucket(i - 1, step_s) {
                occupied += 1;
            }
        }
        self.bucket_count(step_s) - occupied
    }

    /// Cuts the window given in `opts`, averages it per decision interval, holds each
    /// interval's rate for its seconds and rescales so the busiest interval runs at
    /// `opts.peak_rps`. `opts.path` is not read: the series is named after the path the
    /// text was parsed under.
    pub fn replay(&self, opts: &TraceOptions) -> Result<(ArrivalSeries, TraceInfo), TrafficError> {
        if !(opts.peak_rps.is_finite() && opts.peak_rps > 0.0) {
            return Err(TrafficError::Invalid(format!(
                "trace peak must be a positive rate, got {}",
                opts.peak_rps
            )));
        }
        if opts.interval_s == 0 {
            return Err(TrafficError::Invalid(
                "decision interval must be at least 1 second".to_owned(),
            ));
        }
        let step = self.step_s(opts.step_s)?;
        let path = self.path.display();
        let length = self.bucket_count(step).checked_mul(step).ok_or_else(|| {
            TrafficError::Invalid(format!(
                "{path}: the trace spans more seconds than fit in 64 bits"
            ))
        })?;
        let start = opts.start_s.unwrap_or(0);
        if start >= length {
            return Err(TrafficError::Empty(format!(
                "{path}: the window starts at {} but the trace is only {} long",
                human(start),
                human(length)
            )));
        }
        let duration = opts.duration_s.unwrap_or(length - start);
        if duration == 0 {
            return Err(TrafficError::Empty(format!(
                "{path}: the window is empty (duration 0); the trace is {} long",
                human(length)
            )));
        }
        if duration > length - start {
            return Err(TrafficError::Empty(format!(
                "{path}: the window {} + {} ends past the end of the trace, which is {} long",
                human(start),
                human(duration),
                human(length)
            )));
        }
        if duration > MAX_SERIES_S {
            return Err(TrafficError::Invalid(format!(
                "{path}: a window of {} is longer than the {} a replay may cover; choose a \
                 shorter duration",
                human(duration),
                human(MAX_SERIES_S)
            )));
        }

        let interval = u64::from(opts.interval_s);
        let rates = self.interval_rates(step, start, duration, interval);
        let window_requests: f64 = rates
            .iter()
            .enumerate()
            .map(|(k, r)| r * interval_len(k, interval, duration) as f64)
            .sum();
        let original_peak = rates.iter().copied().fold(0.0, f64::max);
        if original_peak <= 0.0 {
            return Err(TrafficError::Empty(format!(
                "{path}: the window {} + {} holds no requests, so it cannot be scaled to a peak",
                human(start),
                human(duration)
            )));
        }
        let scale = opts.peak_rps / original_peak;

        let mut per_second = Vec::with_capacity(usize::try_from(duration).unwrap_or(0));
        for (k, &r) in rates.iter().enumerate() {
            // The busiest interval gets the requested peak exactly, not up to a rounding error.
            let v = if r == original_peak {
                opts.peak_rps
            } else {
                r * scale
            };
            let len = usize::try_from(interval_len(k, interval, duration)).unwrap_or(0);
            per_second.extend(std::iter::repeat_n(v as f32, len));
        }

        let file = self.path.file_name().map_or_else(
            || self.path.display().to_string(),
            |f| f.to_string_lossy().into_owned(),
        );
        let info = TraceInfo {
            rows: self.rows(),
            step_s: step,
            gap_buckets: self.gap_buckets(step),
            length_s: length,
            total_requests: self.total_requests(),
            window_requests,
            original_peak_rps: original_peak,
            scale,
            start_s: start,
            duration_s: duration,
        };
        Ok((
            ArrivalSeries::new(format!("trace:{file}"), per_second),
            info,
        ))
    }

    /// Mean rate of each decision interval of the window `[start, start + duration)`.
    /// A bucket's count is spread evenly over its seconds, so a per-minute count feeds
    /// each of the minute's intervals in proportion and per-second counts simply add up.
    fn interval_rates(&self, step: u64, start: u64, duration: u64, interval: u64) -> Vec<f64> {
        let end = start + duration;
        let n = usize::try_from(duration.div_ceil(interval)).unwrap_or(0);
        let mut requests = vec![0.0f64; n];
        let first = self
            .keys
            .partition_point(|&key| (self.bucket_of_key(key, step) + 1) * step <= start);
        for i in first..self.keys.len() {
            let bucket_start = self.bucket(i, step) * step;
            if bucket_start >= end {
                break;
            }
            let lo = bucket_start.max(start);
            let hi = (bucket_start + step).min(end);
            let per_second = self.counts[i] / step as f64;
            let mut k = (lo - start) / interval;
            loop {
                let interval_start = start + k * interval;
                if interval_start >= hi {
                    break;
                }
                let overlap = hi.min(interval_start + interval) - lo.max(interval_start);
                requests[k as usize] += per_second * overlap as f64;
                k += 1;
            }
        }
        requests
            .iter()
            .enumerate()
            .map(|(k, r)| r / interval_len(k, interval, duration) as f64)
            .collect()
    }
}

/// Seconds in interval `k` of a window of `duration`: the last one may be cut short.
fn interval_len(k: usize, interval: u64, duration: u64) -> u64 {
    interval.min(duration - k as u64 * interval)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RawTrace, TrafficError> {
        parse_trace(text, Path::new("test.csv"))
    }

    fn opts(peak_rps: f64) -> TraceOptions {
        TraceOptions {
            interval_s: 15,
            ..TraceOptions::new("ignored.csv", peak_rps)
        }
    }

    /// Rates per decision interval before rescaling, for the whole trace.
    fn rates(raw: &RawTrace, interval: u64) -> Vec<f64> {
        let step = raw.step_s(None).unwrap();
        let length = raw.bucket_count(step) * step;
        raw.interval_rates(step, 0, length, interval)
    }

    fn malformed_line(text: &str) -> (usize, String) {
        match parse(text).unwrap_err() {
            TrafficError::Malformed { line, reason, .. } => (line, reason),
            other => panic!("expected Malformed, got {other:?}"),
        }
    }

    #[test]
    fn per_minute_counts_spread_over_the_minute() {
        let raw = parse(
            "minute_start,requests\n\
             2024-01-01T00:00:00Z,60\n\
             2024-01-01T00:01:00Z,120\n",
        )
        .unwrap();
        assert_eq!(raw.rows(), 2);
        assert!(!raw.is_indexed());
        assert_eq!(raw.step_s(None).unwrap(), 60);
        assert_eq!(rates(&raw, 15), [1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0]);

        let (series, info) = raw.replay(&opts(4.0)).unwrap();
        assert_eq!(series.name(), "trace:test.csv");
        assert_eq!(series.len_s(), 120);
        assert_eq!(series.rate_at(0), 2.0);
        assert_eq!(series.rate_at(59), 2.0);
        assert_eq!(series.rate_at(60), 4.0);
        assert_eq!(series.rate_at(119), 4.0);
        assert_eq!(info.original_peak_rps, 2.0);
        assert_eq!(info.scale, 2.0);
        assert_eq!(info.total_requests, 180.0);
        assert_eq!(info.window_requests, 180.0);
        assert_eq!((info.step_s, info.gap_buckets, info.length_s), (60, 0, 120));
    }

    #[test]
    fn per_second_counts_add_up_within_an_interval() {
        // No header; an index column defaults to 1 s buckets; count i in second i.
        let text: String = (0..30).map(|i| format!("{i},{i}\n")).collect();
        let raw = parse(&text).unwrap();
        assert!(raw.is_indexed());
        assert_eq!(raw.step_s(None).unwrap(), 1);
        // Seconds 0..14 hold 105 requests, 15..29 hold 330.
        assert_eq!(rates(&raw, 15), [7.0, 22.0]);
        let (series, info) = raw.replay(&opts(44.0)).unwrap();
        assert_eq!(series.rate_at(14), 14.0);
        assert_eq!(series.rate_at(15), 44.0);
        assert_eq!(info.original_peak_rps, 22.0);
    }

    #[test]
    fn a_partial_last_interval_is_averaged_over_its_own_length() {
        let raw = parse("0,10\n1,10\n2,10\n3,10\n4,10\n5,10\n6,10\n7,10\n8,10\n9,10\n").unwrap();
        assert_eq!(rates(&raw, 15), [10.0]);
        assert_eq!(rates(&raw, 4), [10.0, 10.0, 10.0]);
    }

    #[test]
    fn index_header_mentioning_minute_means_60_s_buckets() {
        let raw = parse("Minute,count\n0,60\n1,120\n").unwrap();
        assert!(raw.is_indexed());
        assert_eq!(raw.step_s(None).unwrap(), 60);
        assert_eq!(rates(&raw, 15), [1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0]);
        let raw = parse("second,count\n0,60\n1,120\n").unwrap();
        assert_eq!(raw.step_s(None).unwrap(), 1);
        assert_eq!(raw.step_s(Some(60)).unwrap(), 60);
    }

    #[test]
    fn naive_and_offset_timestamps_and_crlf() {
        let raw = parse(
            "\u{feff}second_start,requests\r\n\
             2023-11-16T18:15:46,1\r\n\
             \r\n\
             2023-11-16T18:15:47,2.5\r\n\
             2023-11-16T14:15:48-04:00,0\r\n",
        )
        .unwrap();
        assert_eq!(raw.rows(), 3);
        assert_eq!(raw.total_requests(), 3.5);
        assert_eq!(raw.step_s(None).unwrap(), 1);
        assert_eq!(raw.gap_buckets(1), 0);
    }

    #[test]
    fn gaps_are_zero_filled_and_counted() {
        let raw = parse(
            "t,n\n\
             2024-01-01T00:00:00Z,4\n\
             2024-01-01T00:00:01Z,4\n\
             2024-01-01T00:00:02Z,4\n\
             2024-01-01T00:00:06Z,8\n\
             2024-01-01T00:00:07Z,8\n",
        )
        .unwrap();
        assert_eq!(raw.step_s(None).unwrap(), 1);
        assert_eq!(raw.gap_buckets(1), 3);
        assert_eq!(rates(&raw, 1), [4.0, 4.0, 4.0, 0.0, 0.0, 0.0, 8.0, 8.0]);
        let (series, info) = raw
            .replay(&TraceOptions {
                interval_s: 1,
                ..opts(8.0)
            })
            .unwrap();
        assert_eq!(info.gap_buckets, 3);
        assert_eq!(series.as_slice(), [4.0, 4.0, 4.0, 0.0, 0.0, 0.0, 8.0, 8.0]);

        let raw = parse("0,5\n3,5\n").unwrap();
        assert_eq!(raw.gap_buckets(1), 2);
    }

    #[test]
    fn malformed_lines_name_their_line() {
        let (line, reason) = malformed_line("t,count\n0,1\n1,abc\n");
        assert_eq!(line, 3);
        assert!(reason.contains("bad count `abc`"), "{reason}");

        let (line, reason) = malformed_line("0,1\n1,-2\n");
        assert_eq!(line, 2);
        assert!(reason.contains("negative count"), "{reason}");

        let (line, reason) = malformed_line("0,1\n\n1,2,3\n");
        assert_eq!(line, 3);
        assert!(reason.contains("found 3"), "{reason}");

        let (line, reason) = malformed_line("t,count\n0,1\n7\n");
        assert_eq!(line, 3);
        assert!(reason.contains("expected 2 fields"), "{reason}");

        let (line, reason) = malformed_line(
            "t,count\n2024-01-01T00:00:01Z,1\n2024-01-01T00:00:02Z,1\n2024-01-01T00:00:00Z,1\n",
        );
        assert_eq!(line, 4);
        assert!(reason.contains("not after the previous row"), "{reason}");

        let (line, _) = malformed_line("0,1\n0,1\n");
        assert_eq!(line, 2);

        let (line, reason) =
            malformed_line("t,count\n2024-01-01T00:00:00Z,1\n2024-13-01T00:00:00Z,1\n");
        assert_eq!(line, 3);
        assert!(reason.contains("bad timestamp"), "{reason}");

        let (line, reason) = malformed_line("0,1\n2024-01-01T00:00:00Z,1\n");
        assert_eq!(line, 2);
        assert!(reason.contains("bad index"), "{reason}");

        let (line, reason) = malformed_line("yesterday,1\n");
        assert_eq!(line, 1);
        assert!(reason.contains("bad timestamp"), "{reason}");

        let (line, reason) = malformed_line("0,NaN\n");
        assert_eq!(line, 1);
        assert!(reason.contains("finite"), "{reason}");

        let e = parse_trace("t,n\n0,x\n", Path::new("dir/f.csv")).unwrap_err();
        assert_eq!(e.to_string(), "dir/f.csv:2: bad count `x`: not a number");
    }

    #[test]
    fn a_trace_without_rows_is_empty() {
        assert!(matches!(parse("t,count\n\n"), Err(TrafficError::Empty(_))));
        assert!(matches!(parse(""), Err(TrafficError::Empty(_))));
    }

    #[test]
    fn odd_timestamp_steps_need_an_explicit_step() {
        let text = "t,n\n\
                    2024-01-01T00:00:00Z,300\n\
                    2024-01-01T00:05:00Z,600\n\
                    2024-01-01T00:10:00Z,300\n";
        let raw = parse(text).unwrap();
        let e = raw.step_s(None).unwrap_err().to_string();
        assert!(e.contains("300 s") && e.contains("1 s or 60 s"), "{e}");
        assert!(raw.replay(&opts(10.0)).is_err());
        let (series, info) = raw
            .replay(&TraceOptions {
                step_s: Some(300),
                ..opts(2.0)
            })
            .unwrap();
        assert_eq!(info.step_s, 300);
        assert_eq!(series.len_s(), 900);
        assert_eq!(series.rate_at(0), 1.0);
        assert_eq!(series.rate_at(300), 2.0);

        let single = parse("2024-01-01T00:00:00Z,5\n").unwrap();
        assert!(single.step_s(None).is_err());
        assert_eq!(single.step_s(Some(60)).unwrap(), 60);
        assert!(single.step_s(Some(0)).is_err());
    }

    #[test]
    fn the_most_common_difference_wins_over_a_few_gaps() {
        let raw = parse(
            "t,n\n\
             2024-01-01T00:00:00Z,1\n\
             2024-01-01T00:01:00Z,1\n\
             2024-01-01T00:02:00Z,1\n\
             2024-01-01T00:10:00Z,1\n",
        )
        .unwrap();
        assert_eq!(raw.step_s(None).unwrap(), 60);
        assert_eq!(raw.gap_buckets(60), 7);
    }

    #[test]
    fn window_selects_its_seconds() {
        // 120 one-second buckets, count i in second i.
        let text: String = (0..120).map(|i| format!("{i},{i}\n")).collect();
        let raw = parse(&text).unwrap();
        let (series, info) = raw
            .replay(&TraceOptions {
                start_s: Some(30),
                duration_s: Some(30),
                ..opts(52.0)
            })
            .unwrap();
        assert_eq!(series.len_s(), 30);
        assert_eq!(series.rate_at(0), 37.0); // mean of seconds 30..44
        assert_eq!(series.rate_at(15), 52.0); // mean of seconds 45..59
        assert_eq!(
            (info.start_s, info.duration_s, info.length_s),
            (30, 30, 120)
        );
        assert_eq!(info.window_requests, (30..60).sum::<u32>() as f64);

        // Without a duration the window runs to the end.
        let (series, _) = raw
            .replay(&TraceOptions {
                start_s: Some(100),
                ..opts(1.0)
            })
            .unwrap();
        assert_eq!(series.len_s(), 20);
    }

    #[test]
    fn a_window_may_start_inside_a_minute() {
        let raw = parse("minute,n\n0,60\n1,120\n").unwrap();
        let (series, _) = raw
            .replay(&TraceOptions {
                start_s: Some(30),
                ..opts(2.0)
            })
            .unwrap();
        assert_eq!(series.len_s(), 90);
        assert_eq!(series.rate_at(0), 1.0);
        assert_eq!(series.rate_at(29), 1.0);
        assert_eq!(series.rate_at(30), 2.0);
    }

    #[test]
    fn bad_windows_say_how_long_the_trace_is() {
        let text: String = (0..120).map(|i| format!("{i},1\n")).collect();
        let raw = parse(&text).unwrap();
        let window = |start_s, duration_s| {
            raw.replay(&TraceOptions {
                start_s,
                duration_s,
                ..opts(1.0)
            })
            .unwrap_err()
            .to_string()
        };
        for e in [
            window(Some(120), None),
            window(Some(500), Some(10)),
            window(Some(100), Some(30)),
            window(None, Some(0)),
        ] {
            assert!(e.contains("2m (120 s)"), "{e}");
        }

        let zeros = parse("0,0\n1,0\n2,5\n").unwrap();
        let e = zeros
            .replay(&TraceOptions {
                duration_s: Some(2),
                ..opts(1.0)
            })
            .unwrap_err();
        assert!(e.to_string().contains("no requests"), "{e}");
    }

    #[test]
    fn bad_parameters_are_rejected() {
        let raw = parse("0,1\n").unwrap();
        assert!(raw.replay(&opts(0.0)).is_err());
        assert!(raw.replay(&opts(f64::NAN)).is_err());
        let e = raw
            .replay(&TraceOptions {
                interval_s: 0,
                ..opts(1.0)
            })
            .unwrap_err();
        assert!(e.to_string().contains("interval"), "{e}");
        // A stray timestamp years later must not expand into a huge series.
        let stray =
            parse("t,n\n2024-01-01T00:00:00,1\n2024-01-01T00:00:01,1\n2034-01-01T00:00:00,1\n")
                .unwrap();
        assert!(stray.replay(&opts(1.0)).is_err());
    }

    #[test]
    fn rescaling_keeps_the_shape_and_hits_the_peak() {
        let raw = parse("0,3\n1,7\n2,10\n3,1\n").unwrap();
        let (series, info) = raw
            .replay(&TraceOptions {
                interval_s: 1,
                ..opts(500.0)
            })
            .unwrap();
        assert_eq!(series.peak(), 500.0);
        assert_eq!(series.as_slice(), [150.0, 350.0, 500.0, 50.0]);
        assert_eq!(info.scale, 50.0);
    }

    #[test]
    fn parse_duration_accepts_the_usual_forms() {
        assert_eq!(parse_duration("45s").unwrap(), 45);
        assert_eq!(parse_duration("90m").unwrap(), 5400);
        assert_eq!(parse_duration("6h").unwrap(), 21_600);
        assert_eq!(parse_duration("2d").unwrap(), 172_800);
        assert_eq!(parse_duration("1h30m").unwrap(), 5400);
        assert_eq!(parse_duration(" 1h 30m ").unwrap(), 5400);
        for bad in ["", "90", "soon", "1.5s", "-5m"] {
            let e = parse_duration(bad).unwrap_err().to_string();
            assert!(e.contains("invalid duration"), "{bad}: {e}");
        }
    }

    fn shared_trace(name: &str) -> PathBuf {
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/traces")).join(name)
    }

    #[test]
    fn nasa_trace_replays_with_its_logging_gap() {
        let path = shared_trace("nasa_http_1995_per_minute.csv");
        let t0 = std::time::Instant::now();
        let (series, info) = load_trace(&TraceOptions::new(&path, 500.0)).unwrap();
        eprintln!("NASA trace loaded in {:?}", t0.elapsed());
        assert_eq!(info.rows, 84_333);
        assert_eq!(info.step_s, 60);
        assert_eq!(info.total_requests, 3_461_610.0);
        assert_eq!(info.window_requests, 3_461_610.0);
        // No rows from 1995-07-28 13:33 through 1995-07-31 23:59: 4,947 minutes.
        assert_eq!(info.gap_buckets, 4947);
        assert_eq!(info.length_s, 62 * 86_400);
        assert_eq!(series.len_s(), 62 * 86_400);
        assert_eq!(series.name(), "trace:nasa_http_1995_per_minute.csv");
        assert_eq!(series.peak(), 500.0);
        let gap_start = (27 * 86_400 + 13 * 3600 + 33 * 60) as usize;
        let gap_end = 31 * 86_400;
        assert!(
            series.as_slice()[gap_start..gap_end]
                .iter()
                .all(|&r| r == 0.0)
        );
        assert!(
            series.as_slice()[gap_start - 3600..gap_start]
                .iter()
                .any(|&r| r > 0.0)
        );
        assert!(
            series.as_slice()[gap_end..gap_end + 3600]
                .iter()
                .any(|&r| r > 0.0)
        );

        let (day2, info) = load_trace(&TraceOptions {
            start_s: Some(parse_duration("1d").unwrap()),
            duration_s: Some(parse_duration("6h").unwrap()),
            ..TraceOptions::new(&path, 500.0)
        })
        .unwrap();
        assert_eq!(day2.len_s(), 21_600);
        assert_eq!(day2.peak(), 500.0);
        assert_eq!((info.start_s, info.duration_s), (86_400, 21_600));
    }

    #[test]
    fn azure_trace_replays_per_second() {
        let path = shared_trace("azure_llm_inference_2023_conv_per_second.csv");
        let (series, info) = load_trace(&TraceOptions::new(&path, 500.0)).unwrap();
        assert_eq!(info.rows, 3503);
        assert_eq!(info.step_s, 1);
        assert_eq!(info.gap_buckets, 0);
        assert_eq!(info.total_requests, 19_366.0);
        assert_eq!(series.len_s(), 3503);
        assert_eq!(series.peak(), 500.0);
        // Rescaling preserves the request count up to the scale factor.
        let rescaled = series.total() / info.scale;
        assert!((rescaled - 19_366.0).abs() < 1.0, "{rescaled}");
    }

    #[test]
    fn a_missing_file_is_an_io_error() {
        let e = load_trace(&TraceOptions::new("/nonexistent/trace.csv", 1.0)).unwrap_err();
        assert!(matches!(e, TrafficError::Io { .. }), "{e:?}");
        assert!(e.to_string().contains("/nonexistent/trace.csv"), "{e}");
    }
}
