//! rustls configurations for both ends of the federation, built from PEM files or from
//! certificates in memory.
//!
//! Every configuration here is built with an explicit crypto provider, *ring*, through
//! `builder_with_provider`, never through rustls' process-wide default. The default is
//! only chosen automatically when exactly one provider is compiled in; as soon as a second
//! arrives (prometheus-http-query, which the agent will use for metrics, brings reqwest
//! and with it aws-lc-rs), `ServerConfig::builder()` panics at the first call unless
//! someone installed a default first. Passing the provider makes the transport immune to
//! whatever the rest of the dependency tree enables, and nothing here installs a process
//! default that could surprise another library.
//!
//! Only TLS 1.3 is offered, as QUIC requires, and the ALPN list is exactly
//! [`ALPN`].

use std::fmt;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;

use super::error::TlsError;
use crate::proto::ALPN;

/// The one provider all transport configs use.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// The fleet CA: the trust anchor both ends verify the other's certificate against.
#[derive(Clone)]
pub struct FleetCa {
    roots: Arc<RootCertStore>,
    origin: String,
}

impl fmt::Debug for FleetCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FleetCa")
            .field("origin", &self.origin)
            .field("anchors", &self.roots.len())
            .finish()
    }
}

impl FleetCa {
    /// Every certificate in a PEM file (usually one; several during a CA rotation).
    pub fn from_pem_file(path: &Path) -> Result<Self, TlsError> {
        let certs = read_certs(path, "fleet CA certificate")?;
        Self::from_der(certs, path.display().to_string())
    }

    /// Certificates already in memory; `origin` names them in error messages.
    pub fn from_der(
        certs: impl IntoIterator<Item = CertificateDer<'static>>,
        origin: impl Into<String>,
    ) -> Result<Self, TlsError> {
        let origin = origin.into();
        let mut roots = RootCertStore::empty();
        for cert in certs {
            roots.add(cert).map_err(|e| TlsError::BadCa {
                origin: origin.clone(),
                reason: e.to_string(),
            })?;
        }
        if roots.is_empty() {
            return Err(TlsError::NoCertificate {
                what: "fleet CA certificate",
                origin,
            });
        }
        Ok(Self {
            roots: Arc::new(roots),
            origin,
        })
    }

    /// Where the CA came from, for error messages.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    pub(crate) fn roots(&self) -> Arc<RootCertStore> {
        self.roots.clone()
    }
}

/// A certificate chain and its private key: what one end presents.
pub struct Credentials {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    origin: String,
}

impl fmt::Debug for Credentials {
    /// Never prints the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("origin", &self.origin)
            .field("chain_len", &self.chain.len())
            .finish_non_exhaustive()
    }
}

impl Clone for Credentials {
    fn clone(&self) -> Self {
        Self {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
            origin: self.origin.clone(),
        }
    }
}

impl Credentials {
    /// The certificate chain (leaf first) and key from two PEM files.
    pub fn from_pem_files(cert_path: &Path, key_path: &Path) -> Result<Self, TlsError> {
        let chain = read_certs(cert_path, "certificate")?;
        let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| match e {
            rustls::pki_types::pem::Error::NoItemsFound => TlsError::NoPrivateKey {
                what: "certificate",
                path: key_path.to_owned(),
            },
            source => TlsError::Pem {
                what: "private key",
                path: key_path.to_owned(),
                source,
            },
        })?;
        Ok(Self {
            chain,
            key,
            origin: format!("{} and {}", cert_path.display(), key_path.display()),
        })
    }

    /// A chain (leaf first) and key already in memory; `origin` names them in errors.
    pub fn from_der(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        origin: impl Into<String>,
    ) -> Result<Self, TlsError> {
        let origin = origin.into();
        if chain.is_empty() {
            return Err(TlsError::NoCertificate {
                what: "certificate chain",
                origin,
            });
        }
        Ok(Self { chain, key, origin })
    }

    /// The leaf certificate.
    pub fn leaf(&self) -> &CertificateDer<'static> {
        &self.chain[0]
    }

    /// Where the credentials came from, for error messages.
    pub fn origin(&self) -> &str {
        &self.origin
    }
}

/// The coordinator's configuration: presents `identity` and requires every client to
/// present a certificate chaining to `ca`. Which cluster the client is, is decided after
/// the handshake from that certificate ([`PeerIdentity`](super::PeerIdentity)).
pub fn server_config(
    ca: &FleetCa,
    identity: &Credentials,
) -> Result<rustls::ServerConfig, TlsError> {
    let provider = crypto_provider();
    // The builder's default is to require a certificate; anonymous clients are refused.
    let verifier = WebPkiClientVerifier::builder_with_provider(ca.roots(), provider.clone())
        .build()
        .map_err(|e| TlsError::BadCa {
            origin: ca.origin.clone(),
            reason: e.to_string(),
        })?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(config_error)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(identity.chain.clone(), identity.key.clone_key())
        .map_err(|e| TlsError::BadIdentity {
            what: "server certificate",
            origin: identity.origin.clone(),
            reason: e.to_string(),
        })?;
    config.alpn_protocols = vec![ALPN.to_vec()];
    Ok(config)
}

/// An agent's configuration: trusts only `ca` for the coordinator's certificate and
/// presents `identity`, the certificate issued to the agent's cluster.
pub fn client_config(
    ca: &FleetCa,
    identity: &Credentials,
) -> Result<rustls::ClientConfig, TlsError> {
    let mut config = rustls::ClientConfig::builder_with_provider(crypto_provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(config_error)?
        .with_root_certificates(ca.roots())
        .with_client_auth_cert(identity.chain.clone(), identity.key.clone_key())
        .map_err(|e| TlsError::BadIdentity {
            what: "client certificate",
            origin: identity.origin.clone(),
            reason: e.to_string(),
        })?;
    config.alpn_protocols = vec![ALPN.to_vec()];
    Ok(config)
}

fn config_error(e: rustls::Error) -> TlsError {
    TlsError::Config {
        reason: e.to_string(),
    }
}

fn read_certs(path: &Path, what: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem_error = |source| TlsError::Pem {
        what,
        path: path.to_owned(),
        source,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(pem_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_error)?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            what,
            origin: path.display().to_string(),
        });
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::certs::DevCa;
    use crate::transport::{ClusterId, quic_client_config, quic_server_config};

    fn suite_names(provider: &CryptoProvider) -> Vec<String> {
        provider
            .cipher_suites
            .iter()
            .map(|s| format!("{:?}", s.suite()))
            .collect()
    }

    /// Whatever else the build links (a second provider would make rustls' automatic
    /// default panic), both configs come out on *ring* without a process default.
    #[test]
    fn both_configs_build_on_ring_in_one_process() {
        let ca = DevCa::generate().unwrap();
        let server = ca.issue_server(&["coordinator.test".into()]).unwrap();
        let client = ca.issue_client(&ClusterId::new("alpha").unwrap()).unwrap();
        let server_cfg = server_config(&ca.fleet_ca(), &server.credentials()).unwrap();
        let client_cfg = client_config(&ca.fleet_ca(), &client.credentials()).unwrap();
        let ring = rustls::crypto::ring::default_provider();
        assert_eq!(
            suite_names(server_cfg.crypto_provider()),
            suite_names(&ring)
        );
        assert_eq!(
            suite_names(client_cfg.crypto_provider()),
            suite_names(&ring)
        );
        assert_eq!(server_cfg.alpn_protocols, vec![ALPN.to_vec()]);
        assert_eq!(client_cfg.alpn_protocols, vec![ALPN.to_vec()]);
        // And quinn accepts them (it needs TLS 1.3 and the QUIC initial suite).
        let settings = crate::transport::TransportSettings::default();
        quic_server_config(server_cfg, &settings).unwrap();
        quic_client_config(client_cfg, &settings).unwrap();
    }

    #[test]
    fn pem_files_round_trip_into_configs() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        let ca = DevCa::generate().unwrap();
        let client = ca.issue_client(&ClusterId::new("alpha").unwrap()).unwrap();
        let ca_path = dir.join("ca.pem");
        let cert_path = dir.join("alpha.pem");
        let key_path = dir.join("alpha-key.pem");
        std::fs::write(&ca_path, ca.cert_pem()).unwrap();
        std::fs::write(&cert_path, client.cert_pem()).unwrap();
        std::fs::write(&key_path, client.key_pem()).unwrap();
        let fleet = FleetCa::from_pem_file(&ca_path).unwrap();
        let creds = Credentials::from_pem_files(&cert_path, &key_path).unwrap();
        assert_eq!(creds.leaf(), client.cert_der());
        client_config(&fleet, &creds).unwrap();
    }

    #[test]
    fn unreadable_or_empty_files_are_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        let missing = dir.join("missing.pem");
        let err = FleetCa::from_pem_file(&missing).unwrap_err();
        assert!(
            matches!(&err, TlsError::Pem { path, .. } if path == &missing),
            "{err:?}"
        );
        assert!(err.to_string().contains("missing.pem"), "{err}");

        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let err = FleetCa::from_pem_file(&empty).unwrap_err();
        assert!(matches!(err, TlsError::NoCertificate { .. }), "{err:?}");
        assert!(err.to_string().contains("empty.pem"), "{err}");

        // A certificate where the key should be.
        let ca = DevCa::generate().unwrap();
        let cert = dir.join("cert.pem");
        std::fs::write(&cert, ca.cert_pem()).unwrap();
        let err = Credentials::from_pem_files(&cert, &cert).unwrap_err();
        assert!(matches!(err, TlsError::NoPrivateKey { .. }), "{err:?}");
        assert!(err.to_string().contains("cert.pem"), "{err}");
    }

    #[test]
    fn a_key_that_does_not_belong_to_the_certificate_is_refused() {
        let ca = DevCa::generate().unwrap();
        let alpha = ca.issue_client(&ClusterId::new("alpha").unwrap()).unwrap();
        let beta = ca.issue_client(&ClusterId::new("beta").unwrap()).unwrap();
        let mixed = Credentials::from_der(
            vec![alpha.cert_der().clone()],
            beta.credentials().key.clone_key(),
            "mixed",
        )
        .unwrap();
        let err = client_config(&ca.fleet_ca(), &mixed).unwrap_err();
        assert!(matches!(err, TlsError::BadIdentity { .. }), "{err:?}");
        assert!(err.to_string().contains("key belongs"), "{err}");
    }

    #[test]
    fn the_key_never_appears_in_debug_output() {
        let ca = DevCa::generate().unwrap();
        let alpha = ca.issue_client(&ClusterId::new("alpha").unwrap()).unwrap();
        let text = format!("{:?}", alpha.credentials());
        assert!(!text.contains("key:"), "{text}");
    }
}
