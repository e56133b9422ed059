//! Encodes the workload as the three exporters of a MicroK8s observability stack would
//! publish it, under exactly the names and labels `edge-agent`'s default queries read:
//!
//! | exporter | series |
//! |---|---|
//! | kubelet cAdvisor | `container_cpu_usage_seconds_total`, `container_memory_working_set_bytes` `{namespace, pod, container}` |
//! | kube-state-metrics | `kube_pod_status_ready{namespace, pod, condition}`, `kube_pod_container_resource_requests{resource="cpu", unit="core"}`, `kube_pod_container_resource_limits{resource="memory", unit="byte"}`, `kube_deployment_status_replicas_available` / `_unavailable{namespace, deployment}` |
//! | ingress-nginx | `nginx_ingress_controller_requests{namespace, service, status}`, `nginx_ingress_controller_request_duration_seconds_bucket{namespace, service, le}`, `nginx_ingress_controller_nginx_process_connections{state}` |
//!
//! Encoded with `prometheus-client` in the classic text format (0.0.4), the format those
//! exporters serve. `nginx_ingress_controller_requests` is declared `untyped`: ingress-nginx
//! declares it a counter without the `_total` suffix, which `prometheus-client` always
//! appends to counters; `rate()` does not look at the declared type.
//! Failed requests are counted as status 503; the latency histogram holds served requests
//! only, as the simulator's p95 does (ingress-nginx would also time the 503s).

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;

use super::workload::Workload;

/// Reads the shared workload on every scrape.
#[derive(Debug)]
pub(crate) struct WorkloadCollector(pub(crate) Arc<Mutex<Workload>>);

type Labels<'a> = Vec<(&'static str, &'a str)>;

/// Labels of a cAdvisor or kube-state-metrics container series.
fn container<'a>(namespace: &'a str, pod: &'a str) -> Labels<'a> {
    vec![("namespace", namespace), ("pod", pod), ("container", "app")]
}

/// Labels of an ingress-nginx request series.
fn service<'a>(namespace: &'a str, service: &'a str, status: &'a str) -> Labels<'a> {
    vec![
        ("namespace", namespace),
        ("service", service),
        ("status", status),
    ]
}

/// One series' value, by how it is encoded.
#[derive(Debug, Clone, Copy)]
enum Value {
    Counter(f64),
    Gauge(f64),
}

/// Writes one metric family.
fn family(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    kind: MetricType,
    series: &[(Labels<'_>, Value)],
) -> fmt::Result {
    let mut m = encoder.encode_descriptor(name, help, None, kind)?;
    for (labels, value) in series {
        let mut s = m.encode_family(labels)?;
        match *value {
            Value::Counter(v) => s.encode_counter::<NoLabelSet, f64, f64>(&v, None)?,
            Value::Gauge(v) => s.encode_gauge(&v)?,
        }
    }
    Ok(())
}

impl Collector for WorkloadCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let mut w = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let buckets = w.latency_buckets();
        let ns = w.namespace().to_owned();
        let dep = w.deployment().to_owned();
        let pod_cfg = w.simulator().config().pod.clone();
        let totals = w.simulator().totals().clone();
        let state = w.state();
        let pods = w.pods().to_vec();
        drop(w);

        // kubelet cAdvisor.
        family(
            &mut encoder,
            "container_cpu_usage_seconds",
            "Cumulative CPU time consumed, seconds.",
            MetricType::Counter,
            &pods
                .iter()
                .map(|p| (container(&ns, &p.name), Value::Counter(p.cpu_seconds)))
                .collect::<Vec<_>>(),
        )?;
        family(
            &mut encoder,
            "container_memory_working_set_bytes",
            "Current working set, bytes.",
            MetricType::Gauge,
            &pods
                .iter()
                .map(|p| (container(&ns, &p.name), Value::Gauge(p.memory_bytes)))
                .collect::<Vec<_>>(),
        )?;

        // kube-state-metrics.
        let mut ready_series: Vec<(Labels<'_>, Value)> = Vec::new();
        for p in &pods {
            for (condition, value) in [("true", p.ready), ("false", !p.ready)] {
                ready_series.push((
                    vec![
                        ("namespace", ns.as_str()),
                        ("pod", p.name.as_str()),
                        ("condition", condition),
                    ],
                    Value::Gauge(if value { 1.0 } else { 0.0 }),
                ));
            }
        }
        family(
            &mut encoder,
            "kube_pod_status_ready",
            "Whether the pod is ready to serve requests.",
            MetricType::Gauge,
            &ready_series,
        )?;
        let cpu_cores = f64::from(pod_cfg.cpu_request_millicores) / 1000.0;
        family(
            &mut encoder,
            "kube_pod_container_resource_requests",
            "Resources requested by a container.",
            MetricType::Gauge,
            &pods
                .iter()
                .map(|p| {
                    let mut l = container(&ns, &p.name);
                    l.extend([("resource", "cpu"), ("unit", "core")]);
                    (l, Value::Gauge(cpu_cores))
                })
                .collect::<Vec<_>>(),
        )?;
        let limit_bytes = pod_cfg.memory_limit_mib * 1024.0 * 1024.0;
        family(
            &mut encoder,
            "kube_pod_container_resource_limits",
            "Resource limits of a container.",
            MetricType::Gauge,
            &pods
                .iter()
                .map(|p| {
                    let mut l = container(&ns, &p.name);
                    l.extend([("resource", "memory"), ("unit", "byte")]);
                    (l, Value::Gauge(limit_bytes))
                })
                .collect::<Vec<_>>(),
        )?;
        let deployment: Labels<'_> = vec![("namespace", ns.as_str()), ("deployment", dep.as_str())];
        family(
            &mut encoder,
            "kube_deployment_status_replicas_available",
            "Available replicas per deployment.",
            MetricType::Gauge,
            &[(
                deployment.clone(),
                Value::Gauge(f64::from(state.ready_pods)),
            )],
        )?;
        family(
            &mut encoder,
            "kube_deployment_status_replicas_unavailable",
            "Unavailable replicas per deployment.",
            MetricType::Gauge,
            &[(deployment, Value::Gauge(f64::from(state.starting_pods)))],
        )?;

        // ingress-nginx.
        family(
            &mut encoder,
            "nginx_ingress_controller_requests",
            "The total number of client requests.",
            MetricType::Unknown,
            &[
                (
                    service(&ns, &dep, "200"),
                    Value::Gauge(totals.served.floor()),
                ),
                (
                    service(&ns, &dep, "503"),
                    Value::Gauge(totals.failed.floor()),
                ),
            ],
        )?;
        family(
            &mut encoder,
            "nginx_ingress_controller_nginx_process_connections",
            "Current number of client connections by state.",
            MetricType::Gauge,
            &[(vec![("state", "active")], Value::Gauge(state.backlog))],
        )?;

        let count = buckets
            .last()
            .map_or(0, |&(_, c)| c)
            .max(totals.latency.total().floor() as u64);
        // The encoder wants per-bucket counts; it accumulates them again.
        let mut below = 0;
        let mut per_bucket = Vec::with_capacity(buckets.len());
        let mut sum = 0.0;
        let mut lower = 0.0;
        for &(bound, cumulative) in &buckets {
            let n = cumulative - below;
            per_bucket.push((bound, n));
            // The simulator keeps no latency sum; bucket midpoints estimate it (no default
            // query reads `_sum`).
            sum += n as f64 * 0.5 * (lower + bound);
            below = cumulative;
            lower = bound;
        }
        let mut m = encoder.encode_descriptor(
            "nginx_ingress_controller_request_duration_seconds",
            "The request processing time in seconds.",
            None,
            MetricType::Histogram,
        )?;
        let labels: Labels<'_> = vec![("namespace", ns.as_str()), ("service", dep.as_str())];
        m.encode_family(&labels)?
            .encode_histogram::<NoLabelSet>(sum, count, &per_bucket, None)
    }
}
