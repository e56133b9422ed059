//! Where requests come from: named synthetic patterns and replayed traces.
//!
//! Every source is materialised up front as a per-second request-rate series. The
//! simulator reads it one second at a time, and the oracle reads ahead in it.

mod series;

pub use series::ArrivalSeries;
mod pattern;

pub use pattern::PatternKind;
