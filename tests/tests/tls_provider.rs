//! One rustls crypto provider for every TLS client the agent builds. rustls panics at the
//! first config when a binary carries two providers and none is chosen; the workspace
//! compiles only *ring* (reqwest without a provider of its own, kube and quinn on ring),
//! and this test builds each HTTPS client the agent makes in one process, the way
//! `edge-agent run` does at start-up.

#[tokio::test]
async fn the_prometheus_and_kubernetes_https_clients_build_side_by_side() {
    let prometheus = edge_agent::metrics::https_client(std::time::Duration::from_secs(2));
    assert!(prometheus.is_ok(), "{:?}", prometheus.err());

    let config = kube::Config::new("https://127.0.0.1:6443".parse().expect("uri"));
    let kube = kube::Client::try_from(config);
    assert!(kube.is_ok(), "{:?}", kube.err());

    // Whatever rustls settled on for the process is ring, the only provider compiled in.
    if let Some(p) = rustls::crypto::CryptoProvider::get_default() {
        let ring = rustls::crypto::ring::default_provider();
        assert_eq!(
            p.cipher_suites.len(),
            ring.cipher_suites.len(),
            "the process default provider is not ring"
        );
    }
}
