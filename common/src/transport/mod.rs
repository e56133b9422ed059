//! The federation transport: QUIC (quinn) with mutual TLS (rustls), carrying the frames of
//! [`proto`](crate::proto) one message per stream. Both ends authenticate: the agent
//! checks the coordinator's certificate against the fleet CA and its server name, the
//! coordinator requires a client certificate chaining to the same CA and takes the agent's
//! cluster from it ([`PeerIdentity`]), never from what the agent says about itself; a
//! hello whose cluster differs from the certificate's is refused
//! ([`verify_claimed_cluster`]). ALPN carries the protocol version, so builds that would
//! misread each other fail the handshake, and keep-alives plus a short idle timeout
//! ([`TransportSettings`]) make a silent peer an error within seconds rather than a
//! connection that looks alive forever.
//!
//! Everything that touches certificates uses one crypto provider, *ring*, passed
//! explicitly to every config (see [`tls`]), so no other crate in the build can change
//! which one is used, or make rustls refuse to choose.
//!
//! With the `dev-certs` feature, `certs` mints a development CA and its certificates in
//! memory; `coordinator certs` writes them to disk and the tests use them directly.

#[cfg(any(test, feature = "dev-certs"))]
pub mod certs;
mod endpoint;
mod error;
mod identity;
pub mod socket;
mod stream;
#[cfg(test)]
mod tests;
pub mod tls;

pub use endpoint::{
    AgentConnection, CLOSE_PROTOCOL_VIOLATION, CLOSE_SHUTDOWN, CLOSE_UNAUTHORIZED, Dialer,
    Listener, PendingAgent, ReceiveWindows, TransportSettings, quic_client_config,
    quic_server_config,
};
pub use error::{
    AcceptError, ClusterIdError, ConnectError, EndpointError, HelloError, IdentityError,
    StreamError, TlsError,
};
pub use identity::{CLUSTER_URI_PREFIX, ClusterId, PeerIdentity, verify_claimed_cluster};
pub use stream::{STREAM_REFUSED, read_message, receive_uni, request, send_uni, write_message};
pub use tls::{Credentials, FleetCa};
