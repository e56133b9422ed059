//! `coordinator serve` as a process: killed (SIGKILL, no chance to clean up) after it
//! published a version, restarted on the same configuration, it serves that version. Its
//! admin port answers the probes and its metrics follow the agent, the round and the
//! registry across the restart.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::proto::Message;
use common::rl::artifact::{Algo, TrainConfig};
use common::rl::fleet_model;
use support::{Agent, Pki, dialer, within};

/// A started `coordinator serve`: the QUIC and admin addresses it printed.
struct Served {
    child: Child,
    addr: SocketAddr,
    admin: SocketAddr,
}

/// Starts `coordinator serve` and returns it with the addresses it printed.
fn serve(config: &Path) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_coordinator"))
        .arg("serve")
        .arg("--config")
        .arg(config)
        .env_remove("COORDINATOR_CONFIG")
        .env("COORDINATOR_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start coordinator serve");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut address = |prefix: &str| -> SocketAddr {
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .expect("read the coordinator's output");
        line.trim()
            .strip_prefix(prefix)
            .unwrap_or_else(|| panic!("expected {prefix:?}, got {line:?}"))
            .parse()
            .expect("an address")
    };
    let addr = address("listening on ");
    let admin = address("admin listening on ");
    Served { child, addr, admin }
}

/// A GET on the admin port, as a kubelet probe or a Prometheus scrape sends it: the
/// status and the body.
fn get(admin: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(admin).expect("connect to the admin port");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: coordinator\r\nConnection: close\r\n\r\n"
    )
    .expect("send the request");
    let mut response = String::new();
    s.read_to_string(&mut response).expect("read the response");
    let status = response[9..12].parse().expect("a status code");
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// The value of `series` in a `/metrics` body.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
}

/// Scrapes `/metrics` until every series has its value: the engine updates them just after
/// it sends what the agent waits for, so the first scrape may come a moment early.
async fn expect_metrics(admin: SocketAddr, expected: &[(&str, f64)]) {
    let give_up = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = tokio::task::spawn_blocking(move || get(admin, "/metrics"))
            .await
            .expect("the scrape finished");
        assert_eq!(status, 200);
        let wrong: Vec<_> = expected
            .iter()
            .filter(|(series, value)| sample(&body, series) != Some(*value))
            .collect();
        if wrong.is_empty() {
            return;
        }
        assert!(
            Instant::now() < give_up,
            "{wrong:?} not as expected in\n{body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_coordinator_killed_after_publishing_serves_that_version_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    pki.write_server_files(dir.path());
    let config = dir.path().join("serve.toml");
    std::fs::write(
        &config,
        r#"
listen = "127.0.0.1:0"
registry = "registry"
[tls]
ca = "ca.pem"
cert = "server.pem"
key = "server-key.pem"
[model]
algo = "dqn"
initial = "fresh"
[admin]
listen = "127.0.0.1:0"
[rounds]
min_agents = 1
quorum = 1.0
grace = "0s"
deadline = "1m"
interval = "1h"
"#,
    )
    .unwrap();
    let architecture = fleet_model::architecture(Algo::Dqn, &TrainConfig::default());
    let params = architecture.parameter_count as usize;
    let identity = pki.client("alpha");

    let Served {
        child: mut first,
        addr,
        admin,
    } = serve(&config);
    assert_eq!(get(admin, "/readyz"), (200, "ok\n".to_owned()));
    assert_eq!(get(admin, "/healthz"), (200, "ok\n".to_owned()));
    let (_, metrics) = get(admin, "/metrics");
    for name in [
        "rl_coordinator_connected_agents",
        "rl_coordinator_rounds_total",
        "rl_coordinator_round_duration_seconds",
        "rl_coordinator_updates_accepted_total",
        "rl_coordinator_updates_rejected_total",
        "rl_coordinator_model_version",
        "rl_coordinator_round",
    ] {
        assert!(
            metrics.contains(&format!("\n{name}")),
            "{name} in\n{metrics}"
        );
    }
    // The empty registry was seeded with the initial model as version 1.
    expect_metrics(
        admin,
        &[
            ("rl_coordinator_model_version", 1.0),
            ("rl_coordinator_round", 0.0),
            ("rl_coordinator_connected_agents", 0.0),
        ],
    )
    .await;

    let agent = Agent::connect(dialer(&pki, &identity), addr).await;
    let Message::GlobalModel(initial) = agent.hello("alpha", architecture.clone()).await else {
        panic!("no model on hello");
    };
    assert_eq!(initial.version, 1);
    assert_eq!(initial.weights.len(), params);
    let offer = agent.expect_offer().await;
    agent.answer(&offer, vec![0.25; params]).await;
    let published = agent.expect_model().await;
    assert_eq!(published.version, 2);
    let expected: Vec<f32> = initial.weights.iter().map(|w| w + 0.25).collect();
    assert_eq!(published.weights, expected);
    // A second answer to the closed round is refused as a late one.
    agent.answer(&offer, vec![0.5; params]).await;
    agent.expect_error().await;
    expect_metrics(
        admin,
        &[
            ("rl_coordinator_connected_agents", 1.0),
            ("rl_coordinator_round", 1.0),
            ("rl_coordinator_model_version", 2.0),
            ("rl_coordinator_rounds_total{outcome=\"published\"}", 1.0),
            ("rl_coordinator_rounds_total{outcome=\"empty\"}", 0.0),
            ("rl_coordinator_round_duration_seconds_count", 1.0),
            ("rl_coordinator_updates_accepted_total", 1.0),
            (
                "rl_coordinator_updates_rejected_total{reason=\"wrong_round\"}",
                1.0,
            ),
        ],
    )
    .await;

    first.kill().expect("kill the coordinator");
    first.wait().unwrap();
    within("the old connection to end", agent.connection.closed()).await;

    let Served {
        child: mut second,
        addr,
        admin,
    } = serve(&config);
    // Counters start over; the gauges come from the registry.
    expect_metrics(
        admin,
        &[
            ("rl_coordinator_model_version", 2.0),
            ("rl_coordinator_round", 1.0),
            ("rl_coordinator_rounds_total{outcome=\"published\"}", 0.0),
        ],
    )
    .await;
    let agent = Agent::connect(dialer(&pki, &identity), addr).await;
    let Message::GlobalModel(resumed) = agent.hello("alpha", architecture).await else {
        panic!("no model on hello after the restart");
    };
    assert_eq!(resumed.version, 2);
    assert_eq!(resumed.weights, published.weights, "bit for bit");
    // Round numbering continues, on the resumed base, which the agent already holds.
    let offer = agent.expect_offer().await;
    assert_eq!((offer.round, offer.base_version), (2, 2));
    second.kill().unwrap();
    second.wait().unwrap();
}
