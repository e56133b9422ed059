use std::net::SocketAddr;
use std::time::Duration;

use super::*;

#[test]
fn the_printed_default_configuration_is_the_default() {
    assert_eq!(
        ServeConfig::from_toml(DEFAULT_CONFIG).unwrap(),
        ServeConfig::default()
    );
    assert_eq!(ServeConfig::from_toml("").unwrap(), ServeConfig::default());
}

#[test]
fn unknown_keys_are_refused_with_their_name() {
    for (text, key) in [
        ("lisen = \"0.0.0.0:1\"", "lisen"),
        ("[rounds]\nquorom = 0.5", "quorom"),
        ("[transport]\nidle = \"1s\"", "idle"),
        ("[admin]\nport = 9465", "port"),
    ] {
        let err = ServeConfig::from_toml(text).unwrap_err().to_string();
        assert!(err.contains(key), "{text}: {err}");
    }
}

#[test]
fn durations_are_written_like_humans_write_them() {
    let config = ServeConfig::from_toml(
        "[rounds]\ndeadline = \"90s\"\ngrace = \"1500ms\"\ninterval = \"0s\"\nmax_rounds = 3",
    )
    .unwrap();
    assert_eq!(config.rounds.deadline, Duration::from_secs(90));
    assert_eq!(config.rounds.grace, Duration::from_millis(1500));
    assert_eq!(config.rounds.interval, Duration::ZERO);
    assert_eq!(config.rounds.max_rounds, Some(3));
    let err = ServeConfig::from_toml("[rounds]\ndeadline = \"soon\"")
        .unwrap_err()
        .to_string();
    assert!(err.contains("`soon` is not a duration"), "{err}");
}

#[test]
fn out_of_range_values_are_refused_at_load() {
    for (text, needle) in [
        ("[rounds]\nquorum = 0.0", "rounds.quorum"),
        ("[rounds]\nparticipation = 1.5", "rounds.participation"),
        ("[rounds]\nmin_agents = 0", "rounds.min_agents"),
        ("[aggregation]\ntrim = 0.2", "aggregation.trim"),
        (
            "[aggregation]\nstrategy = \"trimmed-mean\"\ntrim = 0.5",
            "trim fraction 0.5",
        ),
        ("[aggregation]\nclip_norm = -1.0", "clip norm -1"),
        ("[aggregation]\nstrategy = \"mean\"", "unknown variant"),
        (
            "[transport]\nkeep_alive_interval = \"10s\"",
            "transport.keep_alive_interval",
        ),
        (
            "[transport]\nreceive_budget_mib = 0",
            "transport.receive_budget_mib",
        ),
        ("[model]\ninitial = \"\"", "initial_model is empty"),
    ] {
        let err = ServeConfig::from_toml(text).unwrap_err().to_string();
        assert!(err.contains(needle), "{text}: {err}");
    }
}

#[test]
fn strategies_map_to_the_aggregator() {
    let strategy = |text: &str| {
        ServeConfig::from_toml(text)
            .unwrap()
            .aggregation
            .to_aggregation()
            .unwrap()
            .strategy
    };
    assert_eq!(strategy(""), Strategy::FedAvg);
    assert_eq!(
        strategy("[aggregation]\nstrategy = \"median\""),
        Strategy::Median
    );
    assert_eq!(
        strategy("[aggregation]\nstrategy = \"trimmed-mean\""),
        Strategy::TrimmedMean { trim_fraction: 0.1 }
    );
    assert_eq!(
        strategy("[aggregation]\nstrategy = \"trimmed-mean\"\ntrim = 0.25"),
        Strategy::TrimmedMean {
            trim_fraction: 0.25
        }
    );
}

#[test]
fn relative_paths_are_relative_to_the_configuration_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("serve.toml");
    std::fs::write(
        &path,
        "registry = \"reg\"\n[tls]\nca = \"/etc/fleet/ca.pem\"\n[model]\ninitial = \"models/x\"",
    )
    .unwrap();
    let config = ServeConfig::load(&path).unwrap();
    assert_eq!(config.registry, dir.path().join("reg"));
    assert_eq!(config.tls.ca, PathBuf::from("/etc/fleet/ca.pem"));
    assert_eq!(config.tls.cert, dir.path().join("certs/server.pem"));
    assert_eq!(
        config.model.initial,
        InitialModel::Dir(dir.path().join("models/x"))
    );
}

#[test]
fn the_fleet_architecture_and_first_weights_follow_the_model_section() {
    let options = ServeConfig::default().options().unwrap();
    let expected = fleet_model::architecture(Algo::Dqn, &TrainConfig::default());
    assert_eq!(options.architecture, expected);
    assert_eq!(
        options.initial_weights.len() as u64,
        expected.parameter_count
    );

    let fresh = |seed| {
        ServeConfig::from_toml(&format!("seed = {seed}\n[model]\ninitial = \"fresh\""))
            .unwrap()
            .options()
            .unwrap()
            .initial_weights
    };
    assert_eq!(fresh(3), fresh(3));
    assert_ne!(fresh(3), fresh(4));

    let ppo = ServeConfig::from_toml("[model]\nalgo = \"ppo\"")
        .unwrap()
        .options()
        .unwrap();
    assert_eq!(ppo.architecture.kind, common::proto::ModelKind::Ppo);
}

#[test]
fn an_initial_model_of_another_shape_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let train = dir.path().join("train.toml");
    std::fs::write(&train, "[dqn]\nhidden = [32, 32]\ndropout = [0.0, 0.0]\n").unwrap();
    let text = format!("[model]\ntrain_config = {:?}", train.display().to_string());
    let err = ServeConfig::from_toml(&text)
        .unwrap()
        .options()
        .unwrap_err()
        .to_string();
    assert!(err.contains("model.initial `default`"), "{err}");
    assert!(err.contains("layers"), "{err}");
    // The same shape from fresh weights is fine.
    let options = ServeConfig::from_toml(&format!("{text}\ninitial = \"fresh\""))
        .unwrap()
        .options()
        .unwrap();
    assert_eq!(options.architecture.layers, [12, 32, 32, 3]);
}

#[test]
fn the_admin_port_is_on_by_default_and_its_address_is_checked() {
    assert_eq!(
        ServeConfig::default().admin.listen,
        "0.0.0.0:9465".parse::<SocketAddr>().unwrap()
    );
    let config = ServeConfig::from_toml("[admin]\nlisten = \"127.0.0.1:9100\"").unwrap();
    assert_eq!(config.admin.listen, "127.0.0.1:9100".parse().unwrap());
    for bad in ["localhost:9465", "9465", "0.0.0.0:70000"] {
        let err = ServeConfig::from_toml(&format!("[admin]\nlisten = {bad:?}"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid socket address"), "{bad}: {err}");
        assert!(err.contains("listen"), "{bad}: {err}");
    }
}

#[test]
fn absolute_paths_fit_a_container_with_mounted_volumes_and_a_tls_secret() {
    // A read-only image: the registry on a volume, the certificates from a Kubernetes
    // TLS Secret (ca.crt, tls.crt, tls.key), the configuration from a ConfigMap.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("serve.toml");
    std::fs::write(
        &path,
        r#"
registry = "/var/lib/rl-coordinator/registry"
[tls]
ca = "/etc/rl-coordinator/tls/ca.crt"
cert = "/etc/rl-coordinator/tls/tls.crt"
key = "/etc/rl-coordinator/tls/tls.key"
"#,
    )
    .unwrap();
    let config = ServeConfig::load(&path).unwrap();
    assert_eq!(
        config.registry,
        PathBuf::from("/var/lib/rl-coordinator/registry")
    );
    assert_eq!(
        config.tls.ca,
        PathBuf::from("/etc/rl-coordinator/tls/ca.crt")
    );
    assert_eq!(
        config.tls.cert,
        PathBuf::from("/etc/rl-coordinator/tls/tls.crt")
    );
    assert_eq!(
        config.tls.key,
        PathBuf::from("/etc/rl-coordinator/tls/tls.key")
    );
}
