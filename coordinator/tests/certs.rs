//! `coordinator certs` as an operator runs it: the files it writes, their permissions,
//! its refusals, and that what it writes is enough for an agent and a coordinator to
//! authenticate each other over QUIC.

use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::transport::{
    AcceptError, ConnectError, Credentials, Dialer, FleetCa, Listener, TransportSettings,
};

const LOOPBACK: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 0);

fn certs(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_coordinator"))
        .arg("certs")
        .args(args)
        .output()
        .expect("the coordinator binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn out_arg(dir: &Path) -> String {
    dir.to_str().expect("temp dirs have UTF-8 paths").to_owned()
}

const FILES: [&str; 8] = [
    "ca.pem",
    "ca-key.pem",
    "server.pem",
    "server-key.pem",
    "alpha.pem",
    "alpha-key.pem",
    "beta.pem",
    "beta-key.pem",
];

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("file exists")
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn writes_a_ca_a_server_and_one_client_per_cluster_with_private_keys() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("certs");
    let run = certs(&["--out", &out_arg(&out), "--clusters", "alpha,beta"]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let mut written: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    written.sort();
    let mut expected = FILES.map(String::from).to_vec();
    expected.sort();
    assert_eq!(written, expected);
    for name in FILES {
        let path = out.join(name);
        let contents = std::fs::read_to_string(&path).unwrap();
        if name.ends_with("-key.pem") {
            assert_eq!(mode(&path), 0o600, "{name}");
            assert!(contents.contains("PRIVATE KEY"), "{name}");
        } else {
            assert!(contents.contains("BEGIN CERTIFICATE"), "{name}");
        }
    }
    let stderr = text(&run.stderr);
    assert!(
        stderr.contains("development certificates") && stderr.contains("cert-manager"),
        "{stderr}"
    );
    assert!(
        text(&run.stdout).contains("alpha.pem"),
        "{}",
        text(&run.stdout)
    );
}

#[test]
fn existing_files_are_kept_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let out = out_arg(dir.path());
    assert!(
        certs(&["--out", &out, "--clusters", "alpha"])
            .status
            .success()
    );
    let ca_before = std::fs::read(dir.path().join("ca.pem")).unwrap();

    // A different cluster list still shares ca.pem and server.pem.
    let again = certs(&["--out", &out, "--clusters", "gamma"]);
    assert!(!again.status.success());
    let stderr = text(&again.stderr);
    assert!(
        stderr.contains("refusing to overwrite") && stderr.contains("ca.pem"),
        "{stderr}"
    );
    assert!(stderr.contains("--force"), "{stderr}");
    assert_eq!(std::fs::read(dir.path().join("ca.pem")).unwrap(), ca_before);
    assert!(!dir.path().join("gamma.pem").exists());

    // Forced, everything is new, and a loosened key file is tightened again.
    let key = dir.path().join("alpha-key.pem");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let forced = certs(&["--out", &out, "--clusters", "alpha", "--force"]);
    assert!(forced.status.success(), "{}", text(&forced.stderr));
    assert_ne!(std::fs::read(dir.path().join("ca.pem")).unwrap(), ca_before);
    assert_eq!(mode(&key), 0o600);
}

#[test]
fn invalid_or_colliding_cluster_ids_write_nothing() {
    for (clusters, expected) in [
        ("alpha,Beta", "invalid cluster id `Beta`"),
        ("alpha,alpha", "listed twice"),
        ("ca", "would both write"),
        ("alpha,alpha-key", "would both write"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("certs");
        let run = certs(&["--out", &out_arg(&out), "--clusters", clusters]);
        assert!(!run.status.success(), "{clusters}");
        let stderr = text(&run.stderr);
        assert!(stderr.contains(expected), "{clusters}: {stderr}");
        assert!(!out.exists(), "{clusters}");
    }
}

#[test]
fn an_invalid_server_name_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("certs");
    let run = certs(&[
        "--out",
        &out_arg(&out),
        "--clusters",
        "alpha",
        "--san",
        "not a name",
    ]);
    assert!(!run.status.success());
    assert!(
        text(&run.stderr).contains("`not a name` is not a valid server name"),
        "{}",
        text(&run.stderr)
    );
    assert!(!out.exists());
}

/// The files as a deployment would mount them: the coordinator's three, an agent's three.
#[tokio::test]
async fn the_written_files_let_an_agent_and_the_coordinator_authenticate_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path();
    let run = certs(&[
        "--out",
        &out_arg(out),
        "--clusters",
        "alpha,beta",
        "--san",
        "127.0.0.1",
    ]);
    assert!(run.status.success(), "{}", text(&run.stderr));

    let settings = TransportSettings::default();
    let ca = FleetCa::from_pem_file(&out.join("ca.pem")).unwrap();
    let server =
        Credentials::from_pem_files(&out.join("server.pem"), &out.join("server-key.pem")).unwrap();
    let listener = Listener::bind(LOOPBACK, &ca, &server, settings).unwrap();
    let addr = listener.local_addr().unwrap();

    // Dialled by the default in-cluster name and by the extra IP SAN.
    for (cluster, server_name) in [
        ("alpha", "coordinator.rl-system.svc"),
        ("beta", "127.0.0.1"),
    ] {
        let agent = Credentials::from_pem_files(
            &out.join(format!("{cluster}.pem")),
            &out.join(format!("{cluster}-key.pem")),
        )
        .unwrap();
        let dialer = Dialer::bind(LOOPBACK, &ca, &agent, server_name, settings).unwrap();
        let (connected, accepted) = tokio::time::timeout(Duration::from_secs(10), async {
            tokio::join!(dialer.connect(addr), async {
                listener.accept().await.unwrap().authenticate().await
            })
        })
        .await
        .expect("handshake within 10 s");
        // Kept until the end of the iteration, so the coordinator's side stays open.
        let _connection = connected.map_err(|e: ConnectError| e.to_string()).unwrap();
        let agent_conn = accepted.map_err(|e: AcceptError| e.to_string()).unwrap();
        assert_eq!(agent_conn.cluster_id().as_str(), cluster);
    }
}
