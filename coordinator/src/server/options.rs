//! What a coordinator is started with.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use common::proto::ModelArchitecture;
use common::transport::TransportSettings;

use crate::aggregate::round::AggregationConfig;
use crate::round::RoundPolicy;

/// Everything [`Coordinator::start`](super::Coordinator::start) needs besides the
/// certificates. `coordinator serve` builds it from its configuration file
/// ([`ServeConfig::options`](crate::config::ServeConfig::options)); in-process users
/// (simulation, benchmark, tests) fill it in directly.
#[derive(Debug, Clone)]
pub struct CoordinatorOptions {
    /// Address to listen on; port 0 picks a free one (see
    /// [`CoordinatorHandle::local_addr`](super::CoordinatorHandle::local_addr)).
    pub listen: SocketAddr,
    /// The model registry directory; created if missing.
    pub registry: PathBuf,
    /// The fleet's model shape: agents with another are refused, and a registry whose
    /// newest fleet version has another is refused at start.
    pub architecture: ModelArchitecture,
    /// The first global model, published as version 1 only if the registry is empty;
    /// otherwise the coordinator resumes from the registry's newest fleet version.
    pub initial_weights: Vec<f32>,
    /// How updates are combined.
    pub aggregation: AggregationConfig,
    /// When rounds open and close.
    pub rounds: RoundPolicy,
    /// Connection timing and frame limit.
    pub transport: TransportSettings,
    /// The server's own resource limits.
    pub limits: ServerLimits,
    /// Seed of participant sampling.
    pub seed: u64,
}

/// Limits of the server itself, beyond what the transport settings cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// How long a new connection may take to send its hello before it is closed, so a
    /// client that connects and stays silent does not hold a task forever. Default 10 s.
    pub hello_timeout: Duration,
    /// Bytes of incoming messages held at once, while they are read and decoded and
    /// until the engine has folded them (each reserves three times its frame: the frame
    /// and its decoded values, which an `f16` delta widens to twice its bytes). Default
    /// 16 MiB: two 1M-parameter `f16` updates or twenty-six of the 100k-parameter DQN,
    /// enough to keep two cores busy decoding. Further messages
    /// wait, and QUIC flow control keeps their bytes at the agents, so coordinator memory
    /// does not grow with the fleet.
    pub receive_budget_bytes: usize,
    /// Unread bytes each agent may send ahead (QUIC flow control, per stream and per
    /// connection). Default 256 KiB: an agent waiting for the receive budget parks at
    /// most this much here (50 agents, 12.5 MiB), while one agent still moves about 5
    /// MB/s over a 50 ms round trip and far more on a LAN.
    pub receive_window_bytes: u32,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            hello_timeout: Duration::from_secs(10),
            receive_budget_bytes: 16 << 20,
            receive_window_bytes: 256 << 10,
        }
    }
}
