//! Metrics from a real Prometheus: one instant query per entry through
//! `prometheus-http-query`, each answer checked to be a single, finite, fresh sample.
//!
//! The HTTP client is built here rather than by the library so the workspace keeps one
//! TLS provider: reqwest is compiled with `rustls-no-provider` and handed a rustls config
//! built on *ring*, with the operating system's trust roots.

use std::sync::Arc;
use std::time::Duration;

use common::policy::ObservedMetrics;
use prometheus_http_query::response::Data;
use rustls_platform_verifier::BuilderVerifierExt;

use super::MetricsSource;
use super::error::{ConfigError, MetricsError};
use super::queries::{Entry, PrometheusConfig, QuerySet, Target};

/// An HTTP(S) client whose TLS runs on *ring*, with `connect_timeout` for connecting.
/// The whole-request deadline is left to the caller, so that [`PrometheusSource`] can
/// tell a hung Prometheus ([`MetricsError::Timeout`]) from a refused query.
///
/// Every reqwest client in a process that links this crate must be built this way (or
/// with another explicit rustls config): reqwest is compiled without a provider of its
/// own, so `reqwest::Client::new()` panics for want of one.
pub fn https_client(connect_timeout: Duration) -> Result<reqwest::Client, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS protocol versions: {e}"))?
        .with_platform_verifier()
        .map_err(|e| format!("TLS trust roots: {e}"))?
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .connect_timeout(connect_timeout)
        .build()
        .map_err(|e| with_causes(&e))
}

/// Reads [`ObservedMetrics`] from Prometheus.
#[derive(Clone)]
pub struct PrometheusSource {
    client: prometheus_http_query::Client,
    queries: QuerySet,
    timeout: Duration,
    max_sample_age_s: u64,
    window_s: u64,
}

impl std::fmt::Debug for PrometheusSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrometheusSource")
            .field("url", &self.client.base_url().as_str())
            .field("timeout", &self.timeout)
            .field("max_sample_age_s", &self.max_sample_age_s)
            .field("window_s", &self.window_s)
            .finish_non_exhaustive()
    }
}

impl PrometheusSource {
    /// A source for `target` with `cfg`'s URL, queries and limits; nothing is sent yet.
    pub fn new(cfg: &PrometheusConfig, target: &Target) -> Result<Self, ConfigError> {
        let queries = QuerySet::resolve(cfg, target)?;
        let timeout = Duration::from_secs_f64(cfg.timeout_s);
        let client_err = |why: String| ConfigError::Client {
            url: cfg.url.clone(),
            why,
        };
        let http = https_client(timeout).map_err(client_err)?;
        let client = prometheus_http_query::Client::from(http, &cfg.url)
            .map_err(|e| client_err(with_causes(&e)))?;
        Ok(Self {
            client,
            queries,
            timeout,
            max_sample_age_s: cfg.max_sample_age_s,
            window_s: cfg.rate_window_s,
        })
    }

    /// The PromQL this source sends.
    pub fn queries(&self) -> &QuerySet {
        &self.queries
    }

    /// Runs `entry`'s query and returns its single value.
    async fn value(&self, entry: Entry) -> Result<f64, MetricsError> {
        let query = self.queries.get(entry);
        let timeout_ms = i64::try_from(self.timeout.as_millis()).unwrap_or(i64::MAX);
        // The server-side timeout stops Prometheus evaluating a query nobody waits for;
        // the local one also covers a Prometheus that accepts the connection and hangs.
        let request = self.client.query(query).timeout(timeout_ms).get();
        let answer = match tokio::time::timeout(self.timeout, request).await {
            Err(_) => {
                return Err(MetricsError::Timeout {
                    entry,
                    query: query.to_owned(),
                    timeout_s: self.timeout.as_secs_f64(),
                });
            }
            Ok(Err(e)) => {
                return Err(MetricsError::Query {
                    entry,
                    query: query.to_owned(),
                    message: with_causes(&e),
                });
            }
            Ok(Ok(answer)) => answer,
        };
        let values: Vec<f64> = match answer.data() {
            Data::Vector(v) => v.iter().map(|s| s.sample().value()).collect(),
            Data::Scalar(s) => vec![s.value()],
            Data::Matrix(_) => {
                return Err(MetricsError::Invalid {
                    entry,
                    query: query.to_owned(),
                    why: "a range vector; an instant query needs an instant vector".into(),
                });
            }
        };
        single_value(entry, query, &values)
    }
}

impl MetricsSource for PrometheusSource {
    async fn read(&mut self, now_s: u64) -> Result<ObservedMetrics, MetricsError> {
        let (rate, cpu, memory, p95, errors, queue, ready, pending, scraped) = tokio::join!(
            self.value(Entry::RequestRate),
            self.value(Entry::CpuUtilization),
            self.value(Entry::MemoryUtilization),
            self.value(Entry::P95Latency),
            self.value(Entry::ErrorRate),
            self.value(Entry::QueueLength),
            self.value(Entry::ReadyPods),
            self.value(Entry::PendingPods),
            self.value(Entry::ScrapeTime),
        );
        let timestamp_s = check_age(
            self.queries.get(Entry::ScrapeTime),
            scraped?,
            now_s,
            self.max_sample_age_s,
        )?;
        Ok(ObservedMetrics {
            timestamp_s,
            window_s: self.window_s,
            request_rate_rps: rate?,
            cpu_utilization: cpu?,
            memory_utilization: memory?,
            p95_latency_s: p95?,
            error_rate: errors?,
            queue_length: queue?,
            ready_pods: pod_count(Entry::ReadyPods, self.queries.get(Entry::ReadyPods), ready?)?,
            pending_pods: pod_count(
                Entry::PendingPods,
                self.queries.get(Entry::PendingPods),
                pending?,
            )?,
        })
    }
}

/// The one value a query must return, checked to be a possible value of `entry`.
pub(crate) fn single_value(entry: Entry, query: &str, values: &[f64]) -> Result<f64, MetricsError> {
    let v = match values {
        [] => {
            return Err(MetricsError::Missing {
                entry,
                query: query.to_owned(),
            });
        }
        [v] => *v,
        many => {
            return Err(MetricsError::Ambiguous {
                entry,
                query: query.to_owned(),
                series: many.len(),
            });
        }
    };
    let invalid = |why: String| MetricsError::Invalid {
        entry,
        query: query.to_owned(),
        why,
    };
    if v.is_nan() {
        return if entry.nan_is_zero() {
            Ok(0.0)
        } else {
            Err(invalid("NaN".into()))
        };
    }
    if v.is_infinite() {
        return Err(invalid(format!("{v} (a division by zero?)")));
    }
    if v < 0.0 {
        return Err(invalid(format!("{v} is negative")));
    }
    Ok(v)
}

/// The scrape time as whole unix seconds, refused if older than `limit_s` at `now_s`.
/// A scrape "in the future" (clocks apart by a little) counts as fresh.
pub(crate) fn check_age(
    query: &str,
    scrape_time_s: f64,
    now_s: u64,
    limit_s: u64,
) -> Result<u64, MetricsError> {
    let t = scrape_time_s.floor() as u64;
    let age_s = now_s.saturating_sub(t);
    if age_s > limit_s {
        return Err(MetricsError::Stale {
            entry: Entry::ScrapeTime,
            query: query.to_owned(),
            age_s,
            limit_s,
        });
    }
    Ok(t)
}

/// A pod count: a whole number that fits a `u32`.
fn pod_count(entry: Entry, query: &str, v: f64) -> Result<u32, MetricsError> {
    let rounded = v.round();
    if (v - rounded).abs() > 1e-6 || rounded > f64::from(u32::MAX) {
        return Err(MetricsError::Invalid {
            entry,
            query: query.to_owned(),
            why: format!("{v} is not a pod count"),
        });
    }
    Ok(rounded as u32)
}

/// An error and its causes on one line: reqwest's own message ("error sending request")
/// hides the part that says what to fix ("Connection refused").
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q: &str = "sum(up)";

    #[test]
    fn zero_series_is_missing_and_names_the_query() {
        let err = single_value(Entry::ReadyPods, Q, &[]).unwrap_err();
        assert!(matches!(
            err,
            MetricsError::Missing {
                entry: Entry::ReadyPods,
                ..
            }
        ));
        let text = err.to_string();
        assert!(text.contains("ready_pods") && text.contains(Q), "{text}");
    }

    #[test]
    fn several_series_are_refused() {
        let err = single_value(Entry::RequestRate, Q, &[1.0, 2.0]).unwrap_err();
        assert!(matches!(err, MetricsError::Ambiguous { series: 2, .. }));
        assert!(err.to_string().contains(Q));
    }

    #[test]
    fn nan_is_zero_for_ratios_and_an_error_for_counts() {
        assert_eq!(
            single_value(Entry::P95Latency, Q, &[f64::NAN]).unwrap(),
            0.0
        );
        assert_eq!(single_value(Entry::ErrorRate, Q, &[f64::NAN]).unwrap(), 0.0);
        assert_eq!(
            single_value(Entry::CpuUtilization, Q, &[f64::NAN]).unwrap(),
            0.0
        );
        for entry in [Entry::RequestRate, Entry::ReadyPods, Entry::ScrapeTime] {
            let err = single_value(entry, Q, &[f64::NAN]).unwrap_err();
            assert!(matches!(err, MetricsError::Invalid { .. }), "{entry}");
        }
    }

    #[test]
    fn infinite_and_negative_values_are_refused() {
        for v in [f64::INFINITY, -1.0] {
            let err = single_value(Entry::MemoryUtilization, Q, &[v]).unwrap_err();
            assert!(matches!(err, MetricsError::Invalid { .. }), "{v}");
        }
        assert_eq!(single_value(Entry::QueueLength, Q, &[12.5]).unwrap(), 12.5);
    }

    #[test]
    fn staleness_is_measured_from_the_read_time() {
        assert_eq!(check_age(Q, 1_000.7, 1_060, 60).unwrap(), 1_000);
        let err = check_age(Q, 1_000.0, 1_061, 60).unwrap_err();
        assert!(
            matches!(
                err,
                MetricsError::Stale {
                    age_s: 61,
                    limit_s: 60,
                    entry: Entry::ScrapeTime,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains(Q));
        // Prometheus's clock a little ahead of ours is not staleness.
        assert_eq!(check_age(Q, 1_005.0, 1_000, 60).unwrap(), 1_005);
    }

    #[test]
    fn pod_counts_must_be_whole() {
        assert_eq!(pod_count(Entry::ReadyPods, Q, 3.0).unwrap(), 3);
        assert!(pod_count(Entry::ReadyPods, Q, 2.5).is_err());
    }

    #[test]
    fn an_https_client_builds_on_ring_without_a_process_default_provider() {
        // No `CryptoProvider::install_default` anywhere in this test binary: the config
        // must carry its provider, or reqwest would panic looking for one.
        let client = https_client(Duration::from_secs(1));
        assert!(client.is_ok(), "{:?}", client.err());
        let cfg = PrometheusConfig {
            url: "https://prometheus.example.invalid:9090".into(),
            ..PrometheusConfig::default()
        };
        let t = Target {
            namespace: "shop".into(),
            deployment: "web".into(),
        };
        let source = PrometheusSource::new(&cfg, &t).unwrap();
        assert_eq!(source.queries().iter().count(), Entry::ALL.len());
    }

    #[tokio::test]
    async fn a_prometheus_that_never_answers_times_out_naming_the_query() {
        // The kernel completes the connection into the listen backlog; nobody ever reads.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let cfg = PrometheusConfig {
            url: format!("http://{}", silent.local_addr().unwrap()),
            timeout_s: 0.5,
            ..PrometheusConfig::default()
        };
        let t = Target {
            namespace: "shop".into(),
            deployment: "web".into(),
        };
        let mut source = PrometheusSource::new(&cfg, &t).unwrap();
        let err = tokio::time::timeout(Duration::from_secs(30), source.read(1_000))
            .await
            .expect("the read hung past its own timeout")
            .unwrap_err();
        assert!(matches!(err, MetricsError::Timeout { .. }), "{err}");
        let entry = err.entry().unwrap();
        assert!(
            err.to_string().contains(source.queries().get(entry)),
            "{err}"
        );
        assert!(err.to_string().contains("0.5 s"), "{err}");
    }

    #[tokio::test]
    async fn an_unreachable_prometheus_is_an_error_naming_the_query() {
        // A port nothing listens on: bind one, note it, free it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cfg = PrometheusConfig {
            url: format!("http://127.0.0.1:{port}"),
            timeout_s: 2.0,
            ..PrometheusConfig::default()
        };
        let t = Target {
            namespace: "shop".into(),
            deployment: "web".into(),
        };
        let mut source = PrometheusSource::new(&cfg, &t).unwrap();
        let err = source.read(1_000).await.unwrap_err();
        let entry = err.entry().unwrap();
        assert!(
            err.to_string().contains(source.queries().get(entry)),
            "{err}"
        );
    }
}
