//! The PromQL behind each observation entry, configurable because every cluster's
//! exporters and labels differ. The defaults fit a standard MicroK8s observability stack
//! (kubelet cAdvisor, kube-state-metrics, the ingress-nginx controller) serving one
//! Deployment behind an Ingress whose backend Service is named like the Deployment.
//!
//! Templates may use three placeholders, substituted once at load: `{namespace}` and
//! `{deployment}` (the target) and `{window}` (the `rate()` range, e.g. `60s`). Pods of
//! the Deployment are matched by name, `{deployment}-<replicaset hash>-<suffix>`, which is
//! how the Deployment controller names them; no pod join on owner labels is needed.
//!
//! Each query must return exactly one series (aggregate with `sum`), evaluated as an
//! instant query. When Prometheus scrapes through a `ServiceMonitor` whose relabelling
//! sets `namespace`, ingress-nginx's own `namespace` label becomes `exported_namespace`;
//! change the request queries accordingly.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::error::ConfigError;

/// One value the source reads: the fields of `ObservedMetrics`, plus the scrape time
/// behind them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Entry {
    /// Arriving requests per second.
    RequestRate,
    /// CPU of ready pods over their requests.
    CpuUtilization,
    /// Memory of ready pods over their limits.
    MemoryUtilization,
    /// p95 latency, seconds.
    P95Latency,
    /// 5xx responses over all responses.
    ErrorRate,
    /// Requests waiting.
    QueueLength,
    /// Ready pods.
    ReadyPods,
    /// Pods created but not ready.
    PendingPods,
    /// Unix time of the oldest of the newest scrapes behind the other entries.
    ScrapeTime,
}

impl Entry {
    /// Every entry, in the order they are queried.
    pub const ALL: [Entry; 9] = [
        Entry::RequestRate,
        Entry::CpuUtilization,
        Entry::MemoryUtilization,
        Entry::P95Latency,
        Entry::ErrorRate,
        Entry::QueueLength,
        Entry::ReadyPods,
        Entry::PendingPods,
        Entry::ScrapeTime,
    ];

    /// The entry's name in the configuration file.
    pub fn name(self) -> &'static str {
        match self {
            Entry::RequestRate => "request_rate",
            Entry::CpuUtilization => "cpu_utilization",
            Entry::MemoryUtilization => "memory_utilization",
            Entry::P95Latency => "p95_latency",
            Entry::ErrorRate => "error_rate",
            Entry::QueueLength => "queue_length",
            Entry::ReadyPods => "ready_pods",
            Entry::PendingPods => "pending_pods",
            Entry::ScrapeTime => "scrape_time",
        }
    }

    /// Whether NaN means "nothing to divide by" and reads as zero. Ratios and quantiles
    /// are NaN when the window saw no traffic or no ready pod (0/0, or a
    /// `histogram_quantile` over empty buckets); zero is what the simulator reports then,
    /// and an idle workload is not a broken one. Counts and times have no such excuse.
    pub(crate) fn nan_is_zero(self) -> bool {
        matches!(
            self,
            Entry::CpuUtilization | Entry::MemoryUtilization | Entry::P95Latency | Entry::ErrorRate
        )
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Label matchers for the target Deployment's pods, shared by the default templates.
macro_rules! pods {
    () => {
        r#"namespace="{namespace}", pod=~"{deployment}-[a-z0-9]+-[a-z0-9]+""#
    };
}

/// Only ready pods count towards utilisation, as in `ObservedMetrics`: multiplying by the
/// ready condition (1 or 0) drops starting pods from both numerator and denominator.
macro_rules! ready {
    () => {
        concat!(
            r#" * on (namespace, pod) group_left () kube_pod_status_ready{"#,
            pods!(),
            r#", condition="true"}"#
        )
    };
}

/// The ingress-nginx request counter for the target's backend Service.
macro_rules! requests {
    () => {
        r#"nginx_ingress_controller_requests{namespace="{namespace}", service="{deployment}""#
    };
}

/// One PromQL template per entry. Every field is optional in the file; an absent field
/// keeps its default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueryTemplates {
    /// Default: `sum(rate(nginx_ingress_controller_requests{namespace, service}[{window}]))`,
    /// every response the ingress counted. Refused requests (503) count too, so this is
    /// the arrival rate the workload faced.
    pub request_rate: String,
    /// Default: the `rate()` of cAdvisor's `container_cpu_usage_seconds_total` over
    /// kube-state-metrics' `kube_pod_container_resource_requests{resource="cpu"}`, both
    /// summed over ready pods of the Deployment (the pause container excluded).
    pub cpu_utilization: String,
    /// Default: cAdvisor's `container_memory_working_set_bytes` over
    /// `kube_pod_container_resource_limits{resource="memory"}`, both summed over ready pods.
    pub memory_utilization: String,
    /// Default: `histogram_quantile(0.95, sum by (le) (rate(
    /// nginx_ingress_controller_request_duration_seconds_bucket{...}[{window}])))`.
    /// With no request in the window the quantile is NaN, read as 0 s. The resolution is
    /// that of the histogram's buckets (ingress-nginx's defaults are coarse: 5 ms to 10 s).
    pub p95_latency: String,
    /// Default: the `rate()` of 5xx responses over all responses. The 5xx series only
    /// exists once a 5xx happened, hence `or vector(0)`; no traffic gives NaN, read as 0.
    pub error_rate: String,
    /// Default: `sum(nginx_ingress_controller_nginx_process_connections{state="active"})`:
    /// connections the controller holds, requests being served or waiting. ingress-nginx
    /// has no per-backend queue gauge, so this is controller-wide; point it at the
    /// workload's own queue metric where one exists.
    pub queue_length: String,
    /// Default: kube-state-metrics' `kube_deployment_status_replicas_available`: pods ready
    /// for the Deployment's `minReadySeconds` (ready, with the default of 0).
    pub ready_pods: String,
    /// Default: `kube_deployment_status_replicas_unavailable`: pods the Deployment wants
    /// that are not available yet, i.e. starting.
    pub pending_pods: String,
    /// Default: the oldest `timestamp()` among the raw series of the three exporters.
    /// Needed because Prometheus stamps every instant-query result with the evaluation
    /// time, not the scrape time, so only `timestamp()` of unaggregated series reveals a
    /// Prometheus (or exporter) that stopped scraping while its old samples are still
    /// within the 5-minute lookback.
    pub scrape_time: String,
}

impl Default for QueryTemplates {
    fn default() -> Self {
        Self {
            request_rate: concat!("sum(rate(", requests!(), "}[{window}]))").to_owned(),
            cpu_utilization: concat!(
                r#"sum(rate(container_cpu_usage_seconds_total{"#,
                pods!(),
                r#", container!="", container!="POD"}[{window}])"#,
                ready!(),
                r#") / sum(kube_pod_container_resource_requests{"#,
                pods!(),
                r#", resource="cpu"}"#,
                ready!(),
                ")"
            )
            .to_owned(),
            memory_utilization: concat!(
                r#"sum(container_memory_working_set_bytes{"#,
                pods!(),
                r#", container!="", container!="POD"}"#,
                ready!(),
                r#") / sum(kube_pod_container_resource_limits{"#,
                pods!(),
                r#", resource="memory"}"#,
                ready!(),
                ")"
            )
            .to_owned(),
            p95_latency: concat!(
                "histogram_quantile(0.95, sum by (le) (rate(",
                r#"nginx_ingress_controller_request_duration_seconds_bucket{namespace="{namespace}", service="{deployment}"}[{window}])))"#
            )
            .to_owned(),
            error_rate: concat!(
                "(sum(rate(",
                requests!(),
                r#", status=~"5.."}[{window}])) or vector(0)) / sum(rate("#,
                requests!(),
                "}[{window}]))"
            )
            .to_owned(),
            queue_length: r#"sum(nginx_ingress_controller_nginx_process_connections{state="active"})"#
                .to_owned(),
            ready_pods: r#"sum(kube_deployment_status_replicas_available{namespace="{namespace}", deployment="{deployment}"})"#
                .to_owned(),
            pending_pods: r#"sum(kube_deployment_status_replicas_unavailable{namespace="{namespace}", deployment="{deployment}"})"#
                .to_owned(),
            scrape_time: concat!(
                r#"min(timestamp(kube_deployment_status_replicas_available{namespace="{namespace}", deployment="{deployment}"})"#,
                r#" or timestamp(container_memory_working_set_bytes{"#,
                pods!(),
                r#", container!="", container!="POD"})"#,
                " or timestamp(",
                requests!(),
                "}))"
            )
            .to_owned(),
        }
    }
}

impl QueryTemplates {
    /// The template for `entry`.
    pub fn get(&self, entry: Entry) -> &str {
        match entry {
            Entry::RequestRate => &self.request_rate,
            Entry::CpuUtilization => &self.cpu_utilization,
            Entry::MemoryUtilization => &self.memory_utilization,
            Entry::P95Latency => &self.p95_latency,
            Entry::ErrorRate => &self.error_rate,
            Entry::QueueLength => &self.queue_length,
            Entry::ReadyPods => &self.ready_pods,
            Entry::PendingPods => &self.pending_pods,
            Entry::ScrapeTime => &self.scrape_time,
        }
    }

    /// The template for `entry`, to replace.
    pub fn get_mut(&mut self, entry: Entry) -> &mut String {
        match entry {
            Entry::RequestRate => &mut self.request_rate,
            Entry::CpuUtilization => &mut self.cpu_utilization,
            Entry::MemoryUtilization => &mut self.memory_utilization,
            Entry::P95Latency => &mut self.p95_latency,
            Entry::ErrorRate => &mut self.error_rate,
            Entry::QueueLength => &mut self.queue_length,
            Entry::ReadyPods => &mut self.ready_pods,
            Entry::PendingPods => &mut self.pending_pods,
            Entry::ScrapeTime => &mut self.scrape_time,
        }
    }
}

/// How the agent talks to Prometheus. Every field is optional in the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrometheusConfig {
    /// Base URL of the Prometheus HTTP API. Default `http://localhost:9090`, what
    /// `microk8s kubectl port-forward` to the observability stack's Prometheus gives.
    pub url: String,
    /// Seconds one query may take, connection included, before the read fails.
    /// Default 5: well inside a 15 s decision interval, so a hung Prometheus costs one
    /// decision, not the loop.
    pub timeout_s: f64,
    /// Oldest acceptable scrape behind the metrics, seconds before the read time.
    /// Default 60: four missed 15 s scrapes.
    pub max_sample_age_s: u64,
    /// The `rate()` range substituted for `{window}`, seconds. Default 60, the seed's
    /// `rate(...[1m])`; at least four scrape intervals keeps `rate()` defined through a
    /// missed scrape.
    pub rate_window_s: u64,
    /// The query per entry.
    pub queries: QueryTemplates,
}

impl Default for PrometheusConfig {
    fn default() -> Self {
        Self {
            url: "http://localhost:9090".to_owned(),
            timeout_s: 5.0,
            max_sample_age_s: 60,
            rate_window_s: 60,
            queries: QueryTemplates::default(),
        }
    }
}

impl PrometheusConfig {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return Err(ConfigError::invalid(
                "url",
                format!("{:?} must start with http:// or https://", self.url),
            ));
        }
        if !(self.timeout_s.is_finite() && self.timeout_s > 0.0) {
            return Err(ConfigError::invalid(
                "timeout_s",
                "must be a positive number of seconds",
            ));
        }
        if self.max_sample_age_s == 0 {
            return Err(ConfigError::invalid(
                "max_sample_age_s",
                "must be at least 1 second",
            ));
        }
        if self.rate_window_s == 0 {
            return Err(ConfigError::invalid(
                "rate_window_s",
                "must be at least 1 second",
            ));
        }
        for entry in Entry::ALL {
            if self.queries.get(entry).trim().is_empty() {
                return Err(ConfigError::invalid(
                    format!("queries.{entry}"),
                    "must not be empty",
                ));
            }
        }
        Ok(())
    }
}

/// The workload whose metrics are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Its namespace.
    pub namespace: String,
    /// Its Deployment's name (and, for the default queries, its Service's).
    pub deployment: String,
}

/// The templates with the placeholders substituted: the PromQL actually sent.
#[derive(Debug, Clone, PartialEq)]
pub struct QuerySet {
    queries: Vec<(Entry, String)>,
}

impl QuerySet {
    /// Validates `cfg`, then substitutes `target` and the window into every template.
    ///
    /// The names are checked against Kubernetes' naming rules first: they are pasted into
    /// PromQL string literals, so a quote in one would change the query's meaning.
    pub fn resolve(cfg: &PrometheusConfig, target: &Target) -> Result<Self, ConfigError> {
        cfg.validate()?;
        check_name("namespace", &target.namespace)?;
        check_name("deployment", &target.deployment)?;
        let window = format!("{}s", cfg.rate_window_s);
        let mut queries = Vec::with_capacity(Entry::ALL.len());
        for entry in Entry::ALL {
            let query = substitute(cfg.queries.get(entry), target, &window)
                .map_err(|why| ConfigError::invalid(format!("queries.{entry}"), why))?;
            queries.push((entry, query));
        }
        Ok(Self { queries })
    }

    /// The PromQL for `entry`.
    pub fn get(&self, entry: Entry) -> &str {
        self.queries
            .iter()
            .find(|(e, _)| *e == entry)
            .map_or("", |(_, q)| q.as_str())
    }

    /// Every entry and its PromQL, in [`Entry::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (Entry, &str)> {
        self.queries.iter().map(|(e, q)| (*e, q.as_str()))
    }
}

/// Replaces the placeholders; a leftover `{word}` is a misspelt placeholder (PromQL's own
/// braces always hold a matcher with an operator, never a bare word).
fn substitute(template: &str, target: &Target, window: &str) -> Result<String, String> {
    let out = template
        .replace("{namespace}", &target.namespace)
        .replace("{deployment}", &target.deployment)
        .replace("{window}", window);
    let mut rest = out.as_str();
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let word_len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        if word_len > 0 && after[word_len..].starts_with('}') {
            return Err(format!(
                "unknown placeholder {{{}}}: use {{namespace}}, {{deployment}} or {{window}}",
                &after[..word_len]
            ));
        }
        rest = after;
    }
    Ok(out)
}

/// Kubernetes object names: lowercase alphanumerics, '-' and '.', starting and ending
/// alphanumeric, at most 253 characters.
fn check_name(field: &str, name: &str) -> Result<(), ConfigError> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    let ok_ends = name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if name.is_empty() || name.len() > 253 || !ok_chars || !ok_ends {
        return Err(ConfigError::invalid(
            field,
            format!(
                "{name:?} is not a Kubernetes name (lowercase letters, digits, '-' and '.', \
                 starting and ending with a letter or digit)"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target {
            namespace: "shop".into(),
            deployment: "web".into(),
        }
    }

    #[test]
    fn defaults_resolve_with_every_placeholder_substituted() {
        let set = QuerySet::resolve(&PrometheusConfig::default(), &target()).unwrap();
        for (entry, q) in set.iter() {
            assert!(
                !q.contains("{namespace}") && !q.contains("{deployment}"),
                "{entry}: {q}"
            );
            assert!(!q.contains("{window}"), "{entry}: {q}");
        }
        assert_eq!(
            set.get(Entry::RequestRate),
            r#"sum(rate(nginx_ingress_controller_requests{namespace="shop", service="web"}[60s]))"#
        );
        assert!(
            set.get(Entry::CpuUtilization)
                .contains(r#"pod=~"web-[a-z0-9]+-[a-z0-9]+""#)
        );
        assert_eq!(set.iter().count(), Entry::ALL.len());
    }

    #[test]
    fn window_follows_the_configuration() {
        let cfg = PrometheusConfig {
            rate_window_s: 30,
            ..PrometheusConfig::default()
        };
        let set = QuerySet::resolve(&cfg, &target()).unwrap();
        assert!(set.get(Entry::P95Latency).contains("[30s]"));
        assert!(!set.get(Entry::P95Latency).contains("[60s]"));
    }

    #[test]
    fn a_misspelt_placeholder_names_the_field() {
        let mut cfg = PrometheusConfig::default();
        cfg.queries.ready_pods =
            r#"sum(kube_deployment_status_replicas_available{namespace="{namespce}"})"#.into();
        let err = QuerySet::resolve(&cfg, &target()).unwrap_err().to_string();
        assert!(err.contains("queries.ready_pods"), "{err}");
        assert!(err.contains("{namespce}"), "{err}");
    }

    #[test]
    fn label_matchers_are_not_mistaken_for_placeholders() {
        let mut cfg = PrometheusConfig::default();
        cfg.queries.queue_length = r#"sum(q{state="active",le=~".+"}) or vector(0)"#.into();
        assert!(QuerySet::resolve(&cfg, &target()).is_ok());
    }

    #[test]
    fn invalid_settings_name_their_field() {
        type Break = fn(&mut PrometheusConfig);
        let cases: [(Break, &str); 5] = [
            (|c| c.timeout_s = 0.0, "prometheus.timeout_s"),
            (|c| c.timeout_s = f64::NAN, "prometheus.timeout_s"),
            (|c| c.max_sample_age_s = 0, "prometheus.max_sample_age_s"),
            (|c| c.url = "localhost:9090".into(), "prometheus.url"),
            (
                |c| c.queries.error_rate = "  ".into(),
                "prometheus.queries.error_rate",
            ),
        ];
        for (break_it, field) in cases {
            let mut cfg = PrometheusConfig::default();
            break_it(&mut cfg);
            let err = cfg.validate().unwrap_err().to_string();
            assert!(err.starts_with(field), "{err} should name {field}");
        }
    }

    #[test]
    fn names_that_could_inject_promql_are_refused() {
        for bad in ["web\"} or up{x=\"", "Web", "", "-web", "web-"] {
            let t = Target {
                namespace: "shop".into(),
                deployment: bad.into(),
            };
            let err = QuerySet::resolve(&PrometheusConfig::default(), &t).unwrap_err();
            assert!(
                err.to_string().contains("prometheus.deployment"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn unknown_fields_are_refused_and_absent_ones_default() {
        let cfg: PrometheusConfig =
            toml::from_str("timeout_s = 2.5\n[queries]\nready_pods = \"sum(up)\"\n").unwrap();
        assert_eq!(cfg.timeout_s, 2.5);
        assert_eq!(cfg.queries.ready_pods, "sum(up)");
        assert_eq!(
            cfg.queries.pending_pods,
            QueryTemplates::default().pending_pods
        );
        let err = toml::from_str::<PrometheusConfig>("[queries]\nready = \"sum(up)\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("ready"), "{err}");
    }
}
