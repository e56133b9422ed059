//! The agent's Prometheus metrics source against a real Prometheus (Debian's package)
//! scraping the simulator-driven workload exporter, all on loopback: the default queries
//! must read back what the simulator itself observed, and every failure — a query with
//! no series, a bad query, a stopped Prometheus — must come back as an error that names
//! the query, promptly.
//!
//! These tests need `/usr/bin/prometheus` (`apt-get install -y prometheus`, or
//! `PROMETHEUS_BIN`); without it they fail and say so.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::policy::ObservedMetrics;
use common::sim::SimConfig;
use common::traffic::ArrivalSeries;
use edge_agent::metrics::{
    Entry, MetricsError, MetricsSource, PrometheusConfig, PrometheusSource, Target,
};
use rl_autoscaler_tests::prometheus::PrometheusServer;
use rl_autoscaler_tests::workload_exporter::{Workload, WorkloadExporter};

const NAMESPACE: &str = "shop";
const DEPLOYMENT: &str = "web";
/// The `rate()` window of both the queries and the simulator, seconds.
const WINDOW_S: u64 = 30;
/// Steady arrivals, requests/s: 62.5 % of 4 pods at 100 rps, below the SLO knee.
const RATE_RPS: f32 = 250.0;
const REPLICAS: u32 = 4;

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

fn target() -> Target {
    Target {
        namespace: NAMESPACE.into(),
        deployment: DEPLOYMENT.into(),
    }
}

/// A steady workload already running for two simulated minutes (pods ready, memory
/// settled), advanced in real time.
async fn exporter() -> WorkloadExporter {
    exporter_at(RATE_RPS).await
}

/// [`exporter`] with `rate_rps` arrivals.
async fn exporter_at(rate_rps: f32) -> WorkloadExporter {
    let mut cfg = SimConfig::default();
    cfg.replicas.initial = Some(REPLICAS);
    cfg.metrics.rate_window_s = WINDOW_S as u32;
    let arrivals = ArrivalSeries::new("steady", vec![rate_rps; 7200]);
    let mut workload = Workload::new(cfg, arrivals, 11, NAMESPACE, DEPLOYMENT).expect("workload");
    workload.advance(120);
    WorkloadExporter::start(workload, 1)
        .await
        .expect("exporter")
}

async fn prometheus(exporter: &WorkloadExporter) -> PrometheusServer {
    match PrometheusServer::start(&[exporter.addr()]).await {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    }
}

/// Waits until the series are older than the rate window, so Prometheus's rate() and the
/// simulator's cover the same stretch of steady traffic: in a window only partly covered,
/// rate() extrapolates at most half a scrape interval past the first sample and reads low
/// (seen: -8 % with 28 of 30 scrapes).
async fn full_window(prom: &PrometheusServer) {
    prom.wait_for(
        &format!(
            "count_over_time(kube_deployment_status_replicas_available[{}s])",
            WINDOW_S + 15
        ),
        WINDOW_S as f64 + 10.0,
        Duration::from_secs(180),
    )
    .await
    .expect("a full window of scrapes");
}

fn config(url: String) -> PrometheusConfig {
    PrometheusConfig {
        url,
        rate_window_s: WINDOW_S,
        ..PrometheusConfig::default()
    }
}

/// Reads until a read succeeds, or panics with the last error after `deadline`.
async fn read_until_ok(source: &mut PrometheusSource, deadline: Duration) -> ObservedMetrics {
    let until = std::time::Instant::now() + deadline;
    loop {
        match source.read(unix_now()).await {
            Ok(m) => return m,
            Err(e) if std::time::Instant::now() > until => {
                panic!("no good read in {deadline:?}: {e}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

fn assert_close(what: &str, got: f64, want: f64, rel: f64) {
    assert!(
        (got - want).abs() <= rel * want.abs(),
        "{what}: Prometheus says {got}, the simulator {want} (tolerance {:.0} %)",
        rel * 100.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_queries_read_back_what_the_simulator_observed() {
    let exporter = exporter().await;
    let prom = prometheus(&exporter).await;
    full_window(&prom).await;

    let mut source = PrometheusSource::new(&config(prom.url()), &target()).expect("source");
    let read_at = unix_now();
    let got = read_until_ok(&mut source, Duration::from_secs(30)).await;
    let want = exporter
        .handle()
        .state()
        .observed
        .expect("the simulator has scraped");
    println!("Prometheus: {got:?}\nsimulator:  {want:?}");

    // Counters advance once a second and Prometheus scrapes once a second, so a window
    // of 30 scrapes can hold one advance more or less than 30: ±3.4 %.
    assert_close(
        "request rate",
        got.request_rate_rps,
        want.request_rate_rps,
        0.05,
    );
    assert_close(
        "CPU utilisation",
        got.cpu_utilization,
        want.cpu_utilization,
        0.05,
    );
    assert_close(
        "memory utilisation",
        got.memory_utilization,
        want.memory_utilization,
        0.02,
    );
    // Same buckets on both sides; allow one bucket width (2^(1/8) ≈ 9 %).
    assert_close("p95 latency", got.p95_latency_s, want.p95_latency_s, 0.0905);
    assert_eq!(got.ready_pods, REPLICAS);
    assert_eq!(got.ready_pods, want.ready_pods);
    assert_eq!(got.pending_pods, want.pending_pods);
    assert!(
        got.error_rate.abs() < 1e-3 && want.error_rate.abs() < 1e-3,
        "{got:?} {want:?}"
    );
    assert!(got.queue_length.abs() < 1e-6, "{got:?}");
    assert_eq!(got.window_s, WINDOW_S);
    // The newest scrape is a second or two old, never in the future by much.
    assert!(
        got.timestamp_s + 10 >= read_at && got.timestamp_s <= read_at + 5,
        "{got:?} at {read_at}"
    );
    assert!(
        got.p95_latency_s > 0.02 && got.p95_latency_s < 0.2,
        "{got:?}"
    );

    // A query that matches nothing is `Missing`, naming the entry and the PromQL.
    let mut cfg = config(prom.url());
    cfg.queries.queue_length = r#"sum(no_such_queue_metric{namespace="{namespace}"})"#.into();
    let mut source = PrometheusSource::new(&cfg, &target()).expect("source");
    let err = source.read(unix_now()).await.expect_err("no such series");
    assert!(
        matches!(
            err,
            MetricsError::Missing {
                entry: Entry::QueueLength,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains(r#"sum(no_such_queue_metric{namespace="shop"})"#),
        "{err}"
    );

    // PromQL that does not parse: Prometheus's complaint, with the entry and the query.
    let mut cfg = config(prom.url());
    cfg.queries.error_rate = "sum(rate(nginx_ingress_controller_requests[{window}])".into();
    let mut source = PrometheusSource::new(&cfg, &target()).expect("source");
    let err = source.read(unix_now()).await.expect_err("bad PromQL");
    assert!(
        matches!(
            err,
            MetricsError::Query {
                entry: Entry::ErrorRate,
                ..
            }
        ),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("sum(rate(nginx_ingress_controller_requests[30s])"),
        "{text}"
    );
    assert!(text.contains("bad_data"), "{text}");

    // A query returning one series per pod is refused rather than summed behind the
    // user's back.
    let mut cfg = config(prom.url());
    cfg.queries.ready_pods =
        r#"kube_pod_status_ready{namespace="{namespace}", condition="true"}"#.into();
    let mut source = PrometheusSource::new(&cfg, &target()).expect("source");
    let err = source
        .read(unix_now())
        .await
        .expect_err("one series per pod");
    assert!(
        matches!(
            err,
            MetricsError::Ambiguous {
                entry: Entry::ReadyPods,
                series: 4,
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overloaded_workload_reads_back_its_errors_queue_and_latency() {
    // 500 rps at 4 pods × 100 rps: the backlog fills to its bound, the surplus fails.
    let exporter = exporter_at(500.0).await;
    let prom = prometheus(&exporter).await;
    full_window(&prom).await;
    let mut source = PrometheusSource::new(&config(prom.url()), &target()).expect("source");
    let got = read_until_ok(&mut source, Duration::from_secs(30)).await;
    let want = exporter
        .handle()
        .state()
        .observed
        .expect("the simulator has scraped");
    println!("Prometheus: {got:?}\nsimulator:  {want:?}");
    assert!(
        want.error_rate > 0.1 && want.queue_length > 0.0,
        "not overloaded: {want:?}"
    );
    assert_close(
        "request rate",
        got.request_rate_rps,
        want.request_rate_rps,
        0.05,
    );
    assert_close("error rate", got.error_rate, want.error_rate, 0.05);
    assert_close("queue length", got.queue_length, want.queue_length, 0.01);
    assert_close(
        "CPU utilisation",
        got.cpu_utilization,
        want.cpu_utilization,
        0.05,
    );
    assert_close("p95 latency", got.p95_latency_s, want.p95_latency_s, 0.0905);
    assert!(
        got.p95_latency_s > 0.2,
        "an overloaded workload misses the SLO: {got:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_prometheus_is_an_error_naming_the_query_and_reads_resume_after_restart() {
    let exporter = exporter().await;
    let mut prom = prometheus(&exporter).await;
    let mut source = PrometheusSource::new(&config(prom.url()), &target()).expect("source");
    let before = read_until_ok(&mut source, Duration::from_secs(60)).await;
    assert_eq!(before.ready_pods, REPLICAS);

    prom.stop();
    assert!(!prom.is_running());
    // The read must come back on its own (connection refused, or the 5 s timeout), not
    // hang; the outer deadline only turns a hang into a failure.
    let err = tokio::time::timeout(Duration::from_secs(60), source.read(unix_now()))
        .await
        .expect("a read against a stopped Prometheus hung")
        .expect_err("Prometheus is stopped");
    let entry = err.entry().expect("the error names an entry");
    assert!(
        matches!(
            err,
            MetricsError::Query { .. } | MetricsError::Timeout { .. }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains(source.queries().get(entry)),
        "{err}"
    );

    // The scale changes while Prometheus is away; once it is back, reads resume and see it.
    exporter.handle().set_replicas(REPLICAS + 2);
    prom.restart().await.expect("restart");
    let until = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        match source.read(unix_now()).await {
            Ok(m) if m.ready_pods + m.pending_pods == REPLICAS + 2 => break,
            Ok(_) | Err(_) if std::time::Instant::now() < until => {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            other => panic!("no read seeing the new scale after the restart: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exporter_serves_exactly_the_names_the_default_queries_read() {
    let exporter = exporter().await;
    let body = edge_agent::metrics::https_client(Duration::from_secs(5))
        .expect("client")
        .get(format!("http://{}/metrics", exporter.addr()))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("body");
    for series in [
        r#"container_cpu_usage_seconds_total{namespace="shop",pod="web-"#,
        r#"container_memory_working_set_bytes{namespace="shop",pod="web-"#,
        r#"kube_pod_status_ready{namespace="shop",pod="web-"#,
        r#"kube_pod_container_resource_requests{namespace="shop",pod="web-"#,
        r#"kube_pod_container_resource_limits{namespace="shop",pod="web-"#,
        r#"kube_deployment_status_replicas_available{namespace="shop",deployment="web"} 4"#,
        r#"kube_deployment_status_replicas_unavailable{namespace="shop",deployment="web"} 0"#,
        r#"nginx_ingress_controller_requests{namespace="shop",service="web",status="200"}"#,
        r#"nginx_ingress_controller_request_duration_seconds_bucket{namespace="shop",service="web",le="+Inf"}"#,
        r#"nginx_ingress_controller_nginx_process_connections{state="active"}"#,
    ] {
        assert!(
            body.lines().any(|l| l.starts_with(series)),
            "no line starting with {series} in:\n{body}"
        );
    }
    // Every default query names only metrics that are served.
    let defaults = edge_agent::metrics::QueryTemplates::default();
    for entry in Entry::ALL {
        let q = defaults.get(entry);
        for name in q
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| {
                w.starts_with("container_") || w.starts_with("kube_") || w.starts_with("nginx_")
            })
        {
            let served = if let Some(base) = name.strip_suffix("_bucket") {
                body.contains(&format!("# TYPE {base} histogram"))
            } else {
                body.lines().any(|l| l.starts_with(&format!("{name}{{")))
            };
            assert!(
                served,
                "{entry} reads {name}, which the exporter does not serve"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_samples_served_after_a_restart_without_scrapes_are_stale() {
    let exporter = exporter().await;
    let mut prom = prometheus(&exporter).await;
    let mut cfg = config(prom.url());
    cfg.max_sample_age_s = 3;
    let mut source = PrometheusSource::new(&cfg, &target()).expect("source");
    read_until_ok(&mut source, Duration::from_secs(60)).await;

    // Prometheus dies (no stale markers written), the workload's exporters go away, and
    // Prometheus comes back: its first scrapes fail, but with no memory of the old
    // targets it marks nothing stale, so instant queries keep returning the old samples
    // for the 5-minute lookback, stamped with the evaluation time. Only their scrape time
    // shows they are old.
    prom.stop();
    drop(exporter);
    prom.restart().await.expect("restart");
    let until = std::time::Instant::now() + Duration::from_secs(60);
    let err = loop {
        match source.read(unix_now()).await {
            Err(e @ MetricsError::Stale { .. }) => break e,
            other if std::time::Instant::now() > until => {
                panic!("never reported stale: {other:?}")
            }
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    };
    match &err {
        MetricsError::Stale {
            entry,
            age_s,
            limit_s,
            query,
        } => {
            assert_eq!(*entry, Entry::ScrapeTime);
            assert!(*age_s > 3 && *limit_s == 3, "{err}");
            assert_eq!(query, source.queries().get(Entry::ScrapeTime));
        }
        other => panic!("{other}"),
    }
    // The gauges are still there to be (mis)read: the staleness check is what stops it.
    let ready = prom
        .query_value(r#"sum(kube_deployment_status_replicas_available{namespace="shop"})"#)
        .await;
    assert_eq!(ready, Some(f64::from(REPLICAS)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_driver_compresses_time() {
    let arrivals = ArrivalSeries::new("steady", vec![RATE_RPS; 7200]);
    let workload =
        Workload::new(SimConfig::default(), arrivals, 5, NAMESPACE, DEPLOYMENT).expect("workload");
    let exporter = WorkloadExporter::start(workload, 20)
        .await
        .expect("exporter");
    let handle = exporter.handle();
    let until = std::time::Instant::now() + Duration::from_secs(60);
    // 20 simulated seconds per real second: 100 simulated seconds take about 5 s.
    while handle.state().now_s < 100 {
        assert!(
            std::time::Instant::now() < until,
            "the driver is not advancing"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Scaling through the handle reaches the simulator the driver steps.
    assert_eq!(handle.set_replicas(7), 7);
    assert_eq!(handle.state().spec_replicas, 7);
}
