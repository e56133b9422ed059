//! Loopback ports for the processes the tests start (agents' `/metrics`, Prometheus).
//!
//! A port the OS hands out for `bind(…:0)` comes from the ephemeral range, which every
//! outgoing connection of every process on the machine also draws from. Between the test
//! choosing such a port and the child binding it, a client socket can take it: an agent
//! then exited with "cannot listen for /metrics on 127.0.0.1:39533: Address already in
//! use" in a full test run. Ports below the ephemeral range are never given to outgoing
//! connections, so the port is drawn at random from there and checked by binding it; only
//! another test drawing the same port at the same moment could still collide.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::{SocketAddr, TcpListener};

/// The lowest port drawn from.
const FIRST: u16 = 20_000;

/// A loopback address no one listens on now, outside the ephemeral port range when the
/// range leaves room below it (else any free port).
pub fn free_loopback_addr() -> io::Result<SocketAddr> {
    let ephemeral_start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32_768);
    if ephemeral_start > FIRST {
        let span = u64::from(ephemeral_start - FIRST);
        for _ in 0..200 {
            let draw = RandomState::new().build_hasher().finish() % span;
            let port = FIRST + u16::try_from(draw).expect("below the ephemeral start");
            if let Ok(listener) = TcpListener::bind(("127.0.0.1", port)) {
                return listener.local_addr();
            }
        }
    }
    TcpListener::bind("127.0.0.1:0")?.local_addr()
}

#[cfg(test)]
mod tests {
    use super::free_loopback_addr;

    #[test]
    fn the_port_is_free_and_below_the_ephemeral_range() {
        let addr = free_loopback_addr().expect("a port");
        assert!(addr.ip().is_loopback());
        std::net::TcpListener::bind(addr).expect("nobody listens on it");
        if let Ok(range) = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range") {
            let start: u16 = range
                .split_whitespace()
                .next()
                .expect("two numbers")
                .parse()
                .expect("a port");
            if start > 20_000 {
                assert!((20_000..start).contains(&addr.port()), "{addr}");
            }
        }
    }
}
