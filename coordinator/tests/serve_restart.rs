//! `coordinator serve` as a process: killed (SIGKILL, no chance to clean up) after it
//! published a version, restarted on the same configuration, it serves that version.

mod support;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use common::proto::Message;
use common::rl::artifact::{Algo, TrainConfig};
use common::rl::fleet_model;
use support::{Agent, Pki, dialer, within};

/// Starts `coordinator serve` and returns it with the address it printed.
fn serve(config: &Path) -> (Child, SocketAddr) {
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
    let stdout = child.stdout.take().expect("piped stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read the coordinator's output");
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .parse()
        .expect("an address");
    (child, addr)
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

    let (mut first, addr) = serve(&config);
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

    first.kill().expect("kill the coordinator");
    first.wait().unwrap();
    within("the old connection to end", agent.connection.closed()).await;

    let (mut second, addr) = serve(&config);
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
