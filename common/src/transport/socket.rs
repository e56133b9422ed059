//! The UDP socket under an endpoint, with a receive buffer sized for a fleet.
//!
//! Every agent answers a round at the same moment, and all of their packets land in the
//! one socket the coordinator listens on. With the kernel's default buffer (208 KiB on
//! Linux) a round of 50 agents × 100k parameters overflowed it: about one datagram in ten
//! was dropped (`RcvbufErrors` in `/proc/net/snmp`), and each agent whose last packets
//! were among them waited for QUIC's loss timers (tens of milliseconds) with its
//! congestion window cut, which made the round's tail. A larger buffer absorbs the burst.
//! Agents ask for the same, as a global model reaches them in one burst too.

use std::io;
use std::net::{SocketAddr, UdpSocket};

/// The receive buffer asked for. Linux grants at most `net.core.rmem_max` and reports
/// twice what it granted, so a reported size of at least this much means at least 4 MiB
/// granted: the `rmem_max` of the machine the README's round times were measured on.
/// Raise that sysctl on a coordinator serving a large fleet if less is reported.
pub const RECEIVE_BUFFER_BYTES: usize = 8 << 20;

/// A quinn endpoint on `addr` (a server if `server` is given) over [`bind`]'s socket,
/// with the receive buffer granted.
pub(crate) fn endpoint(
    addr: SocketAddr,
    server: Option<quinn::ServerConfig>,
) -> io::Result<(quinn::Endpoint, usize)> {
    let (socket, granted) = bind(addr)?;
    let runtime = quinn::default_runtime()
        .ok_or_else(|| io::Error::other("no async runtime to drive the endpoint"))?;
    let endpoint = quinn::Endpoint::new(quinn::EndpointConfig::default(), server, socket, runtime)?;
    Ok((endpoint, granted))
}

/// Binds `addr` and asks for [`RECEIVE_BUFFER_BYTES`] of receive buffer; returns the
/// socket with the size granted. A refused size is not an error: the socket still works,
/// with the kernel's default.
fn bind(addr: SocketAddr) -> io::Result<(UdpSocket, usize)> {
    let socket = UdpSocket::bind(addr)?;
    let sock = socket2::SockRef::from(&socket);
    let _ = sock.set_recv_buffer_size(RECEIVE_BUFFER_BYTES);
    let granted = sock.recv_buffer_size()?;
    Ok((socket, granted))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_buffer_grows_past_the_kernel_default() {
        let (_socket, granted) = bind(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
        let default = UdpSocket::bind("127.0.0.1:0").unwrap();
        let default = socket2::SockRef::from(&default).recv_buffer_size().unwrap();
        let rmem_max = std::fs::read_to_string("/proc/sys/net/core/rmem_max")
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok());
        // Only a kernel that allows more than its default can grant more.
        if rmem_max.is_some_and(|max| max * 2 > default) {
            assert!(granted > default, "granted {granted}, default {default}");
        }
    }
}
