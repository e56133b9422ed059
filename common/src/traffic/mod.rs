//! Where requests come from: named synthetic patterns and replayed traces.
//!
//! Every source is materialised up front as a per-second request-rate series. The
//! simulator reads it one second at a time, and the oracle reads ahead in it.

mod noise;
mod pattern;
mod series;
mod trace;

pub use noise::NoiseConfig;
pub use pattern::PatternKind;
pub use series::ArrivalSeries;
pub use trace::{RawTrace, TraceInfo, TraceOptions, load_trace, parse_duration, parse_trace};
