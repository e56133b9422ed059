//! What can go wrong reading metrics or loading their queries. Every read error names the
//! observation entry and the PromQL text behind it, because the person fixing a broken
//! query on a real cluster needs to paste that text into the Prometheus UI.

use super::queries::Entry;

/// A read that produced no usable metrics.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// Prometheus could not be reached, refused the query, or failed evaluating it.
    #[error("query for {entry} failed: {message}; query: {query}")]
    Query {
        /// The entry being read.
        entry: Entry,
        /// The PromQL sent.
        query: String,
        /// What the client or Prometheus said.
        message: String,
    },
    /// No answer within the configured timeout (a hung or overloaded Prometheus).
    #[error("query for {entry} timed out after {timeout_s} s; query: {query}")]
    Timeout {
        /// The entry being read.
        entry: Entry,
        /// The PromQL sent.
        query: String,
        /// The timeout in force, seconds.
        timeout_s: f64,
    },
    /// The query matched no series: a wrong label, a missing exporter, or a workload
    /// that is not being scraped.
    #[error(
        "no series for {entry}: check the exporter is scraped and the labels match; query: {query}"
    )]
    Missing {
        /// The entry being read.
        entry: Entry,
        /// The PromQL sent.
        query: String,
    },
    /// The query matched several series; it must aggregate to one.
    #[error(
        "{series} series for {entry}, expected one: aggregate it (e.g. sum(...)); query: {query}"
    )]
    Ambiguous {
        /// The entry being read.
        entry: Entry,
        /// The PromQL sent.
        query: String,
        /// How many series came back.
        series: usize,
    },
    /// The newest scrape behind the metrics is too old to act on.
    #[error("{entry} is stale: newest sample is {age_s} s old (limit {limit_s} s); query: {query}")]
    Stale {
        /// The entry being read.
        entry: Entry,
        /// The PromQL sent.
        query: String,
        /// Age of the sample relative to the read time, seconds.
        age_s: u64,
        /// The configured limit, seconds.
        limit_s: u64,
    },
    /// The value cannot be an instance of its entry (infinite, negative, a range vector).
    #[error("unusable value for {entry}: {why}; query: {query}")]
    Invalid {
        /// The entry being read.
        entry: Entry,
        /// The PromQL sent.
        query: String,
        /// What is wrong with it.
        why: String,
    },
    /// The simulator has not completed its first scrape yet.
    #[error("the simulated cluster has no completed scrape yet")]
    NotYetScraped,
}

impl MetricsError {
    /// The entry that failed, if the error is about one.
    pub fn entry(&self) -> Option<Entry> {
        match self {
            Self::Query { entry, .. }
            | Self::Timeout { entry, .. }
            | Self::Missing { entry, .. }
            | Self::Ambiguous { entry, .. }
            | Self::Stale { entry, .. }
            | Self::Invalid { entry, .. } => Some(*entry),
            Self::NotYetScraped => None,
        }
    }
}

/// A Prometheus configuration that cannot work; the message names the field.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A field holds a value outside its domain.
    #[error("prometheus.{field}: {why}")]
    Invalid {
        /// Dotted path of the field.
        field: String,
        /// What is wrong and what is allowed.
        why: String,
    },
    /// The HTTP client could not be built (TLS set-up, a malformed URL).
    #[error("prometheus client for {url}: {why}")]
    Client {
        /// The configured URL.
        url: String,
        /// What failed.
        why: String,
    },
}

impl ConfigError {
    pub(crate) fn invalid(field: impl Into<String>, why: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            why: why.into(),
        }
    }
}
