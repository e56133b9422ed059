//! Errors a caller of this crate can act on.

use std::path::PathBuf;

/// A configuration value is out of range or inconsistent with another one.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid configuration: `{field}` {reason}")]
pub struct ConfigError {
    /// The dotted path of the offending field, e.g. `pod.capacity_rps`.
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

impl ConfigError {
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// A traffic source could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TrafficError {
    /// The scenario name is not one of the named patterns.
    #[error("unknown scenario `{0}`; expected one of: {names}, `all`, or `trace:PATH`", names = crate::traffic::PatternKind::NAMES.join(", "))]
    UnknownScenario(String),
    /// The trace file could not be read.
    #[error("cannot read trace {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A line of the trace is not `timestamp_or_index,count`.
    #[error("{path}:{line}: {reason}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with the line.
        reason: String,
    },
    /// The trace or the chosen window holds no usable data.
    #[error("{0}")]
    Empty(String),
    /// A parameter of the traffic source is out of range.
    #[error("invalid traffic parameter: {0}")]
    Invalid(String),
}
