//! Experience collected on a real cluster: one [`Transition`] per control interval (the
//! observed request rate and the other metrics, the action and what the safety layer made
//! of it; what followed is the next transition), kept on disk as it happens so that a
//! restart (an upgrade, an OOM kill, a node drain) loses none of it. Online learning, the
//! federation round's local training and the digital twin's calibration all start from
//! this record of what the workload did and what the agent decided.
//!
//! The log is a directory of segment files with bounded retention (size and age limits),
//! so an agent that runs for years neither fills its volume nor its memory: the writer
//! keeps a summary per segment, and [`ExperienceReader`] streams the records.

mod disk;
mod error;
mod frame;
mod log;
mod reader;
mod recorder;
mod retention;
mod segment;
mod transition;

pub(crate) use log::ExperienceLog;
pub(crate) use reader::ExperienceReader;
pub(crate) use recorder::Recorder;
pub(crate) use retention::{
    DEFAULT_MAX_AGE_DAYS, DEFAULT_MAX_BYTES, DEFAULT_SEGMENT_BYTES, Retention,
};
pub(crate) use transition::{MetricsRecord, Transition};
