//! Why a connection could not be set up, authenticated or used. The texts say which file,
//! certificate or peer is at fault and what to change, because the people who read them
//! operate one end and often cannot see the other.

use std::net::SocketAddr;
use std::path::PathBuf;

use quinn::ConnectionError;
use rustls::AlertDescription;

use super::identity::{CLUSTER_URI_PREFIX, ClusterId};
use crate::proto::CodecError;

/// A string is not a valid cluster id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid cluster id `{id}`: {reason}; use 1-63 lowercase letters, digits and '-', starting and ending with a letter or digit (like a Kubernetes name)"
)]
pub struct ClusterIdError {
    /// The refused text.
    pub id: String,
    /// Which rule it breaks.
    pub reason: &'static str,
}

/// A peer's certificate does not establish which cluster it speaks for, or the peer
/// claims another cluster than its certificate names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// The connection carries no certificate; with the verifier of this module that means
    /// it is not an agent connection at all.
    #[error(
        "the peer presented no certificate; agents must connect with the client certificate issued to their cluster"
    )]
    NoCertificate,
    /// The certificate is not valid DER X.509.
    #[error("cannot parse the peer's certificate: {reason}; reissue it")]
    Unparsable {
        /// What the parser tripped over.
        reason: String,
    },
    /// No URI SAN under [`CLUSTER_URI_PREFIX`].
    #[error(
        "the certificate of `{subject}` names no cluster: it needs a URI subject alternative name `{CLUSTER_URI_PREFIX}<cluster-id>`; reissue it (`coordinator certs`, or `uris:` in a cert-manager Certificate)"
    )]
    NoClusterUri {
        /// The certificate's subject, to find it.
        subject: String,
    },
    /// Several different cluster URIs: the certificate would speak for all of them.
    #[error(
        "the certificate of `{subject}` names several clusters ({uris}); issue one certificate per cluster"
    )]
    SeveralClusterUris {
        /// The certificate's subject.
        subject: String,
        /// The URIs, comma-separated.
        uris: String,
    },
    /// The URI's remainder is not a valid cluster id.
    #[error("the certificate's cluster URI `{uri}` is unusable: {source}")]
    InvalidClusterId {
        /// The URI SAN.
        uri: String,
        /// Why the id is invalid.
        source: ClusterIdError,
    },
    /// The hello names another cluster than the certificate.
    #[error(
        "the agent claims cluster `{claimed}` but its certificate is issued to cluster `{certified}`; set the agent's cluster id to `{certified}` or give it the certificate issued to `{claimed}`"
    )]
    ClaimMismatch {
        /// The certificate's cluster.
        certified: ClusterId,
        /// The hello's `cluster_id`.
        claimed: String,
    },
}

/// Certificates, keys or the CA could not be loaded or combined into a TLS configuration.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or is not PEM.
    #[error("cannot read the {what} from {path}: {source}")]
    Pem {
        /// What the file should hold, e.g. "fleet CA certificate".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: rustls::pki_types::pem::Error,
    },
    /// A certificate file holds no `CERTIFICATE` block.
    #[error("no certificate in {origin}: expected a PEM `CERTIFICATE` block ({what})")]
    NoCertificate {
        /// What the certificate is for.
        what: &'static str,
        /// Where it should have been.
        origin: String,
    },
    /// A key file holds no private key.
    #[error(
        "no private key in {path}: expected a PEM `PRIVATE KEY` block (PKCS#8, SEC1 or PKCS#1) for the {what}"
    )]
    NoPrivateKey {
        /// What the key is for.
        what: &'static str,
        /// The file.
        path: PathBuf,
    },
    /// A CA certificate is not usable as a trust anchor.
    #[error("the fleet CA certificate in {origin} is not a usable trust anchor: {reason}")]
    BadCa {
        /// Where the CA came from.
        origin: String,
        /// rustls' or webpki's reason.
        reason: String,
    },
    /// The certificate and key do not make a working TLS identity.
    #[error(
        "the {what} from {origin} is unusable: {reason}; check that the key belongs to the certificate"
    )]
    BadIdentity {
        /// Server or client identity.
        what: &'static str,
        /// Where certificate and key came from.
        origin: String,
        /// rustls' reason.
        reason: String,
    },
    /// rustls refused the configuration itself (not the certificates).
    #[error("cannot build the TLS configuration: {reason}")]
    Config {
        /// rustls' reason.
        reason: String,
    },
}

/// A listening or dialling endpoint could not be created.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    /// See [`TlsError`].
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The UDP socket could not be bound.
    #[error(
        "cannot bind UDP {addr}: {source}; check that the address is local and the port is free"
    )]
    Bind {
        /// The requested address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The settings contradict each other.
    #[error("invalid transport settings: {reason}")]
    Settings {
        /// What is wrong.
        reason: String,
    },
}

/// The coordinator could not accept an agent.
#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    /// The QUIC or TLS handshake failed.
    #[error("handshake with {peer} failed: {source}; {hint}")]
    Handshake {
        /// The agent's address.
        peer: SocketAddr,
        /// What quinn reported.
        source: ConnectionError,
        /// What probably went wrong, from the coordinator's point of view.
        hint: String,
    },
    /// The handshake succeeded but the certificate names no usable cluster.
    #[error("agent at {peer} refused: {source}")]
    Identity {
        /// The agent's address.
        peer: SocketAddr,
        /// Why its identity is unusable.
        source: IdentityError,
    },
}

/// An agent could not connect to the coordinator.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// quinn refused to start the attempt (e.g. the server name is not a valid DNS name).
    #[error("cannot connect to {addr} as `{server_name}`: {source}")]
    Start {
        /// The coordinator's address.
        addr: SocketAddr,
        /// The name its certificate must carry.
        server_name: String,
        /// quinn's reason.
        source: quinn::ConnectError,
    },
    /// The QUIC or TLS handshake failed.
    #[error("handshake with the coordinator at {addr} failed: {source}; {hint}")]
    Handshake {
        /// The coordinator's address.
        addr: SocketAddr,
        /// What quinn reported.
        source: ConnectionError,
        /// What probably went wrong, from the agent's point of view.
        hint: String,
    },
}

/// The opening hello of an agent connection was missing or refused. The connection has
/// been closed when this is returned.
#[derive(Debug, thiserror::Error)]
pub enum HelloError {
    /// The hello could not be read.
    #[error("cannot read the hello of agent `{cluster}`: {source}")]
    Stream {
        /// The certificate's cluster.
        cluster: ClusterId,
        /// Why.
        source: StreamError,
    },
    /// The first message was something else.
    #[error(
        "agent `{cluster}` opened with a {got} instead of a hello; it runs an incompatible build"
    )]
    NotHello {
        /// The certificate's cluster.
        cluster: ClusterId,
        /// What it sent.
        got: &'static str,
    },
    /// The hello claims another cluster than the certificate.
    #[error(transparent)]
    Claim(IdentityError),
}

/// A message could not be sent or received on a stream.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// The bytes on the stream are not one acceptable frame.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// Writing failed: the peer stopped the stream (e.g. refused the frame as too large)
    /// or the connection was lost.
    #[error("cannot send: {0}")]
    Write(#[from] quinn::WriteError),
    /// Reading failed: the peer reset the stream or the connection was lost.
    #[error("cannot receive: {0}")]
    Read(#[from] quinn::ReadError),
    /// The stream was already finished or stopped locally.
    #[error("stream already closed: {0}")]
    Closed(#[from] quinn::ClosedStream),
    /// A stream could not be opened or accepted because the connection is gone.
    #[error("connection lost: {0}")]
    Connection(#[from] ConnectionError),
}

/// Which end of a handshake is explaining its failure.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Side {
    /// The coordinator, judging an agent's certificate.
    Coordinator,
    /// An agent, judging the coordinator's certificate (and being judged).
    Agent,
}

/// A guess at the cause of a failed handshake, for operators: the TLS alert says what the
/// judging side disliked, and whether the error arose here or was reported by the peer
/// says whose certificate it was about.
pub(crate) fn handshake_hint(error: &ConnectionError, side: Side, ca_origin: &str) -> String {
    let (code, local) = match error {
        ConnectionError::TransportError(e) => (u64::from(e.code), true),
        ConnectionError::ConnectionClosed(c) => (u64::from(c.error_code), false),
        ConnectionError::TimedOut => {
            return "no answer within the idle timeout; check the address and port, that the coordinator runs, and that UDP passes the firewalls on the way".into();
        }
        ConnectionError::ApplicationClosed(c) => {
            return format!(
                "the peer closed the connection with code {} ({})",
                c.error_code,
                String::from_utf8_lossy(&c.reason)
            );
        }
        _ => return "see the error above".into(),
    };
    // TLS alerts arrive as QUIC crypto errors, 0x100 + the alert.
    let Some(alert) = code
        .checked_sub(0x100)
        .and_then(|a| u8::try_from(a).ok())
        .map(AlertDescription::from)
    else {
        return "a QUIC protocol error; check that both ends run compatible builds".into();
    };
    // Whose certificate the alert is about: the judging side raises it locally.
    let about_agent = matches!(
        (side, local),
        (Side::Coordinator, true) | (Side::Agent, false)
    );
    match alert {
        AlertDescription::UnknownCA
        | AlertDescription::BadCertificate
        | AlertDescription::DecryptError
        | AlertDescription::CertificateUnknown => {
            if about_agent {
                format!(
                    "the agent's client certificate is not signed by the fleet CA at {ca_origin}; issue the agent's certificate from that CA"
                )
            } else {
                format!(
                    "the coordinator's certificate is not signed by the fleet CA at {ca_origin} or does not carry the server name the agent dialled; check both ends use the same CA and the name is one of the server certificate's SANs"
                )
            }
        }
        AlertDescription::UnsupportedCertificate => {
            if about_agent {
                "the agent's certificate is not meant for TLS clients (extended key usage); issue it with clientAuth".into()
            } else {
                "the coordinator's certificate is not meant for TLS servers (extended key usage); issue it with serverAuth".into()
            }
        }
        AlertDescription::CertificateRequired | AlertDescription::NoCertificate => {
            "the agent presented no client certificate; configure the certificate and key issued to its cluster".into()
        }
        AlertDescription::CertificateExpired => {
            "a certificate has expired or is not yet valid; renew it, and check both clocks".into()
        }
        AlertDescription::NoApplicationProtocol => format!(
            "the two ends speak different protocol versions (this build offers ALPN `{}`); upgrade the older side",
            String::from_utf8_lossy(crate::proto::ALPN)
        ),
        other => format!("the TLS handshake failed with alert {other:?}"),
    }
}
