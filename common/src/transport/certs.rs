//! A development fleet CA and the certificates the transport expects, minted in memory
//! with rcgen: a server certificate for the coordinator and one client certificate per
//! cluster. `coordinator certs` writes them to disk; tests use them directly.
//!
//! Development only. The CA key sits in a file next to the certificates and nothing
//! revokes a leaked certificate; production fleets should issue from their own PKI (e.g.
//! cert-manager), with the same shapes: clientAuth certificates carrying the cluster's
//! URI SAN ([`ClusterId::spiffe_uri`]), a serverAuth certificate naming the address agents
//! dial.

use std::fmt;
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use time::OffsetDateTime;

use super::identity::ClusterId;
use super::tls::{Credentials, FleetCa};

/// How long minted certificates are valid: a year, long enough for a development fleet
/// not to expire mid-experiment, short enough that forgotten ones do.
pub const VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);

/// How far into the past validity starts, so a peer whose clock is a little behind the
/// minting machine's does not see a not-yet-valid certificate.
const BACKDATE: Duration = Duration::from_secs(3600);

const CA_COMMON_NAME: &str = "rl-autoscaler development fleet CA";
const ORGANIZATION: &str = "rl-autoscaler (development)";

/// A certificate could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// rcgen failed.
    #[error("cannot generate the {what}: {source}")]
    Generate {
        /// Which certificate.
        what: String,
        /// rcgen's reason.
        source: rcgen::Error,
    },
    /// A server name is neither a DNS name nor an IP address, so no client could ever
    /// match it.
    #[error(
        "`{name}` is not a valid server name: use a DNS name (e.g. coordinator.rl-system.svc) or an IP address"
    )]
    InvalidServerName {
        /// The refused name.
        name: String,
    },
}

/// A freshly generated CA that can issue the fleet's certificates.
pub struct DevCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl fmt::Debug for DevCa {
    /// Never prints the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevCa").finish_non_exhaustive()
    }
}

impl DevCa {
    /// A new CA with a new P-256 key. Its basic constraints allow it to sign end-entity
    /// certificates only, so a leaked leaf key cannot be used to mint more certificates.
    pub fn generate() -> Result<Self, CertError> {
        let what = "development CA";
        let err = |source| CertError::Generate {
            what: what.into(),
            source,
        };
        let mut params = base_params(CA_COMMON_NAME);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().map_err(err)?;
        let issuer = CertifiedIssuer::self_signed(params, key).map_err(err)?;
        Ok(Self { issuer })
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> String {
        self.issuer.pem()
    }

    /// The CA's private key, PEM (PKCS#8).
    pub fn key_pem(&self) -> String {
        self.issuer.key().serialize_pem()
    }

    /// The CA certificate, DER.
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        self.issuer.der()
    }

    /// The CA as a trust anchor.
    pub fn fleet_ca(&self) -> FleetCa {
        FleetCa::from_der([self.cert_der().clone()], "the in-memory development CA")
            .expect("a CA rcgen just generated is a valid trust anchor")
    }

    /// The coordinator's certificate, valid for each of `names` (DNS names or IP
    /// addresses, as agents dial it).
    pub fn issue_server(&self, names: &[String]) -> Result<IssuedCert, CertError> {
        if let Some(bad) = names
            .iter()
            .find(|n| ServerName::try_from(n.as_str()).is_err())
        {
            return Err(CertError::InvalidServerName { name: bad.clone() });
        }
        let what = format!("server certificate for {}", names.join(", "));
        let err = |source| CertError::Generate {
            what: what.clone(),
            source,
        };
        // `new` sorts the names into IP and DNS SANs; the rest of its defaults are not ours.
        let sans = CertificateParams::new(names.to_vec())
            .map_err(err)?
            .subject_alt_names;
        let mut params = base_params(names.first().map_or("coordinator", String::as_str));
        params.subject_alt_names = sans;
        set_leaf(&mut params, ExtendedKeyUsagePurpose::ServerAuth);
        self.issue(params, what)
    }

    /// The certificate of `cluster`'s agent: the id as CN and as the URI SAN the
    /// coordinator reads ([`PeerIdentity`](super::PeerIdentity)).
    pub fn issue_client(&self, cluster: &ClusterId) -> Result<IssuedCert, CertError> {
        let what = format!("client certificate for cluster `{cluster}`");
        let err = |source| CertError::Generate {
            what: what.clone(),
            source,
        };
        let mut params = base_params(cluster.as_str());
        params.subject_alt_names =
            vec![SanType::URI(cluster.spiffe_uri().try_into().map_err(err)?)];
        set_leaf(&mut params, ExtendedKeyUsagePurpose::ClientAuth);
        self.issue(params, what)
    }

    fn issue(&self, params: CertificateParams, what: String) -> Result<IssuedCert, CertError> {
        let sign = || -> Result<_, rcgen::Error> {
            let key = KeyPair::generate()?;
            let cert = params.signed_by(&key, &self.issuer)?;
            Ok((cert, key))
        };
        match sign() {
            Ok((cert, key)) => Ok(IssuedCert {
                cert: cert.der().clone(),
                pem: cert.pem(),
                key,
                what,
            }),
            Err(source) => Err(CertError::Generate { what, source }),
        }
    }
}

/// An end-entity certificate and its key.
pub struct IssuedCert {
    cert: CertificateDer<'static>,
    pem: String,
    key: KeyPair,
    what: String,
}

impl fmt::Debug for IssuedCert {
    /// Never prints the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedCert")
            .field("what", &self.what)
            .finish_non_exhaustive()
    }
}

impl IssuedCert {
    /// The certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.pem
    }

    /// The private key, PEM (PKCS#8).
    pub fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }

    /// The certificate, DER.
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert
    }

    /// Certificate and key as TLS credentials, without a round trip through files.
    pub fn credentials(&self) -> Credentials {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.serialize_der()));
        Credentials::from_der(vec![self.cert.clone()], key, self.what.clone())
            .expect("a chain of one certificate is not empty")
    }
}

/// Validity and subject every minted certificate shares.
fn base_params(common_name: &str) -> CertificateParams {
    let now = OffsetDateTime::from(SystemTime::now());
    let mut params = CertificateParams::default();
    params.not_before = now - BACKDATE;
    params.not_after = now + VALIDITY;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::OrganizationName, ORGANIZATION);
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params
}

/// An end-entity certificate usable for exactly one side of TLS, so a stolen agent
/// certificate cannot impersonate the coordinator and the server certificate cannot
/// stand in for an agent.
fn set_leaf(params: &mut CertificateParams, purpose: ExtendedKeyUsagePurpose) {
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![purpose];
    params.use_authority_key_identifier_extension = true;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_must_be_dns_names_or_ip_addresses() {
        let ca = DevCa::generate().unwrap();
        let names = ["coordinator.rl-system.svc", "localhost", "127.0.0.1", "::1"];
        ca.issue_server(&names.map(String::from)).unwrap();
        for bad in ["", "has space", "*.example.com", "a..b", "-lead.example"] {
            let err = ca.issue_server(&[bad.to_string()]).unwrap_err();
            assert!(
                matches!(&err, CertError::InvalidServerName { name } if name == bad),
                "{bad}: {err:?}"
            );
        }
    }
}
