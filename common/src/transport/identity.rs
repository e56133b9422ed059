//! Which cluster a certificate speaks for.
//!
//! The cluster id lives in a URI subject alternative name,
//! `spiffe://rl-autoscaler/cluster/<id>`, which is what this module reads. SANs are the
//! place X.509 intends for identities a verifier acts on, any PKI can put a URI there
//! (cert-manager's `uris:`, SPIFFE/SPIRE natively), and a URI under our own prefix cannot
//! be confused with a DNS name or with another system's identity issued by the same CA.
//! `coordinator certs` also writes the id as the subject CN, for people reading the
//! certificate with `openssl x509`; the CN is not consulted, so a PKI that sets it to
//! something else still works.

use std::fmt;
use std::str::FromStr;

use rustls::pki_types::CertificateDer;
use x509_parser::extensions::GeneralName;

use super::error::{ClusterIdError, IdentityError};
use crate::proto::Hello;

/// The URI prefix whose remainder is the cluster id.
pub const CLUSTER_URI_PREFIX: &str = "spiffe://rl-autoscaler/cluster/";

/// A cluster's name as the fleet knows it: a DNS label (1–63 lowercase letters, digits and
/// `-`, starting and ending with a letter or digit), like a Kubernetes object name.
///
/// Restricted so the id is safe as a URI path segment, a file name (`<id>.pem`) and a
/// metrics label without escaping, and so two spellings cannot name one cluster.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClusterId(String);

impl ClusterId {
    /// The longest id a DNS label allows.
    pub const MAX_LEN: usize = 63;

    /// Validates `id`.
    pub fn new(id: impl Into<String>) -> Result<Self, ClusterIdError> {
        let id = id.into();
        let reason = if id.is_empty() {
            Some("it is empty")
        } else if id.len() > Self::MAX_LEN {
            Some("it is longer than 63 characters")
        } else if !id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            Some("it contains a character other than a-z, 0-9 and '-'")
        } else if id.starts_with('-') || id.ends_with('-') {
            Some("it starts or ends with '-'")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(ClusterIdError { id, reason }),
            None => Ok(Self(id)),
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The URI SAN a certificate for this cluster carries.
    pub fn spiffe_uri(&self) -> String {
        format!("{CLUSTER_URI_PREFIX}{}", self.0)
    }
}

impl FromStr for ClusterId {
    type Err = ClusterIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl fmt::Display for ClusterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for ClusterId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Who is on the other end of a connection, as its verified certificate says.
///
/// Only obtainable from a certificate, so holding one means the cluster id was read from
/// something the fleet CA signed, never from a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerIdentity {
    cluster_id: ClusterId,
}

impl PeerIdentity {
    /// Reads the cluster id from an agent's end-entity certificate.
    ///
    /// Does not verify the certificate: that is the TLS handshake's job, and this is meant
    /// for certificates that already passed it.
    pub fn from_certificate(cert: &CertificateDer<'_>) -> Result<Self, IdentityError> {
        let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).map_err(|e| {
            IdentityError::Unparsable {
                reason: e.to_string(),
            }
        })?;
        let subject = parsed.subject().to_string();
        let sans = parsed
            .subject_alternative_name()
            .map_err(|e| IdentityError::Unparsable {
                reason: format!("subject alternative names: {e}"),
            })?;
        let mut uris: Vec<&str> = sans
            .iter()
            .flat_map(|ext| ext.value.general_names.iter())
            .filter_map(|name| match name {
                GeneralName::URI(uri) if uri.starts_with(CLUSTER_URI_PREFIX) => Some(*uri),
                _ => None,
            })
            .collect();
        uris.sort_unstable();
        uris.dedup();
        let uri = match uris.as_slice() {
            [] => return Err(IdentityError::NoClusterUri { subject }),
            [uri] => *uri,
            several => {
                return Err(IdentityError::SeveralClusterUris {
                    subject,
                    uris: several.join(", "),
                });
            }
        };
        let cluster_id = ClusterId::new(&uri[CLUSTER_URI_PREFIX.len()..]).map_err(|source| {
            IdentityError::InvalidClusterId {
                uri: uri.to_owned(),
                source,
            }
        })?;
        Ok(Self { cluster_id })
    }

    /// The identity of an established connection's peer, from the first certificate of
    /// the chain it presented.
    pub fn from_connection(connection: &quinn::Connection) -> Result<Self, IdentityError> {
        let chain = connection
            .peer_identity()
            .and_then(|any| any.downcast::<Vec<CertificateDer<'static>>>().ok())
            .ok_or(IdentityError::NoCertificate)?;
        let leaf = chain.first().ok_or(IdentityError::NoCertificate)?;
        Self::from_certificate(leaf)
    }

    /// The cluster the certificate was issued to.
    pub fn cluster_id(&self) -> &ClusterId {
        &self.cluster_id
    }
}

/// Refuses a hello that names another cluster than the agent's certificate.
///
/// The hello's `cluster_id` is the agent's configuration talking; the certificate is the
/// fleet CA's word. An agent that could claim any cluster could contribute updates, and
/// receive models, in another cluster's name, so the coordinator calls this before acting
/// on a hello and uses the certificate's id from then on.
pub fn verify_claimed_cluster(peer: &PeerIdentity, hello: &Hello) -> Result<(), IdentityError> {
    if hello.cluster_id == peer.cluster_id.as_str() {
        Ok(())
    } else {
        Err(IdentityError::ClaimMismatch {
            certified: peer.cluster_id.clone(),
            claimed: hello.cluster_id.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use rcgen::{CertificateParams, DnType, KeyPair, SanType};

    use super::*;
    use crate::proto::{ModelArchitecture, ModelKind};
    use crate::transport::certs::DevCa;

    fn hello(cluster_id: &str) -> Hello {
        Hello {
            cluster_id: cluster_id.into(),
            agent_version: "0.1.0".into(),
            architecture: ModelArchitecture::dense(ModelKind::Dqn, vec![12, 3]),
            workload_tags: vec![],
        }
    }

    /// A self-signed certificate with exactly these URI SANs and CN, for the shapes a
    /// foreign PKI might produce.
    fn cert_with(cn: &str, uris: &[&str]) -> CertificateDer<'static> {
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.subject_alt_names = uris
            .iter()
            .map(|u| SanType::URI((*u).try_into().unwrap()))
            .collect();
        let key = KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().clone()
    }

    #[test]
    fn cluster_ids_are_dns_labels() {
        for good in ["a", "eu-west-1", "0", "a-b-c", &"x".repeat(63)] {
            assert_eq!(ClusterId::new(good).unwrap().as_str(), good);
        }
        for bad in [
            "",
            "-a",
            "a-",
            "A",
            "a_b",
            "a.b",
            "a/b",
            "é",
            " a",
            &"x".repeat(64),
        ] {
            let err = ClusterId::new(bad).unwrap_err();
            assert_eq!(err.id, bad);
            assert!(err.to_string().contains("lowercase letters"), "{err}");
        }
    }

    #[test]
    fn the_cluster_comes_from_the_uri_of_a_minted_client_certificate() {
        let ca = DevCa::generate().unwrap();
        let id = ClusterId::new("eu-west-1").unwrap();
        let issued = ca.issue_client(&id).unwrap();
        let peer = PeerIdentity::from_certificate(issued.cert_der()).unwrap();
        assert_eq!(peer.cluster_id(), &id);
    }

    #[test]
    fn the_uri_decides_not_the_common_name() {
        let cert = cert_with("edge-agent", &["spiffe://rl-autoscaler/cluster/alpha"]);
        let peer = PeerIdentity::from_certificate(&cert).unwrap();
        assert_eq!(peer.cluster_id().as_str(), "alpha");
    }

    #[test]
    fn a_certificate_without_a_cluster_uri_names_no_cluster() {
        // A CN alone, and URIs of other trust domains, are not an identity.
        let cert = cert_with("alpha", &["spiffe://elsewhere/cluster/alpha"]);
        let err = PeerIdentity::from_certificate(&cert).unwrap_err();
        assert!(
            matches!(&err, IdentityError::NoClusterUri { subject } if subject.contains("alpha")),
            "{err:?}"
        );
        assert!(err.to_string().contains(CLUSTER_URI_PREFIX), "{err}");
        // Nor is a server certificate.
        let ca = DevCa::generate().unwrap();
        let server = ca.issue_server(&["coordinator.test".into()]).unwrap();
        assert!(matches!(
            PeerIdentity::from_certificate(server.cert_der()),
            Err(IdentityError::NoClusterUri { .. })
        ));
    }

    #[test]
    fn a_certificate_naming_two_clusters_is_refused() {
        let cert = cert_with(
            "alpha",
            &[
                "spiffe://rl-autoscaler/cluster/alpha",
                "spiffe://rl-autoscaler/cluster/beta",
            ],
        );
        let err = PeerIdentity::from_certificate(&cert).unwrap_err();
        assert!(
            matches!(&err, IdentityError::SeveralClusterUris { uris, .. } if uris.contains("beta")),
            "{err:?}"
        );
    }

    #[test]
    fn a_cluster_uri_with_an_invalid_id_is_refused() {
        for uri in [
            "spiffe://rl-autoscaler/cluster/",
            "spiffe://rl-autoscaler/cluster/Alpha",
            "spiffe://rl-autoscaler/cluster/alpha/extra",
        ] {
            let err = PeerIdentity::from_certificate(&cert_with("x", &[uri])).unwrap_err();
            assert!(
                matches!(&err, IdentityError::InvalidClusterId { uri: u, .. } if u == uri),
                "{uri}: {err:?}"
            );
        }
    }

    #[test]
    fn garbage_is_unparsable_not_a_panic() {
        let err = PeerIdentity::from_certificate(&CertificateDer::from(vec![0x30, 0x03, 1, 2]))
            .unwrap_err();
        assert!(matches!(err, IdentityError::Unparsable { .. }), "{err:?}");
    }

    #[test]
    fn a_hello_must_claim_the_certified_cluster() {
        let peer = PeerIdentity {
            cluster_id: ClusterId::new("alpha").unwrap(),
        };
        assert_eq!(verify_claimed_cluster(&peer, &hello("alpha")), Ok(()));
        for claimed in ["beta", "Alpha", "alpha ", ""] {
            let err = verify_claimed_cluster(&peer, &hello(claimed)).unwrap_err();
            assert_eq!(
                err,
                IdentityError::ClaimMismatch {
                    certified: peer.cluster_id().clone(),
                    claimed: claimed.into()
                }
            );
            let text = err.to_string();
            assert!(
                text.contains("`alpha`") && text.contains(&format!("`{claimed}`")),
                "{text}"
            );
        }
    }
}
