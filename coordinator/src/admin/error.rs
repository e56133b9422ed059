//! Why the admin port could not be served.

use std::net::SocketAddr;

/// The admin port failed; the message names the address.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The address could not be bound (in use, not local, or a privileged port).
    #[error(
        "cannot listen for /metrics and the probes on {addr}: {source}; set [admin] listen to a free address"
    )]
    Bind {
        /// The configured address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The server stopped with an error while running.
    #[error("the admin port on {addr} failed: {source}")]
    Serve {
        /// The bound address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}
