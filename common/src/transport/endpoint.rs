//! QUIC endpoints: the coordinator's [`Listener`] and the agent's [`Dialer`], and the
//! transport settings both share.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn::{Connection, Endpoint, IdleTimeout, SendStream, VarInt};

use super::error::{
    AcceptError, ConnectError, EndpointError, HelloError, Side, StreamError, TlsError,
    handshake_hint,
};
use super::identity::{ClusterId, PeerIdentity, verify_claimed_cluster};
use super::socket;
use super::stream::{read_message, write_message};
use super::tls::{self, Credentials, FleetCa};
use crate::proto::{DEFAULT_MAX_FRAME_BYTES, ErrorCode, ErrorMessage, Hello, Message};

/// Application close code: orderly shutdown.
pub const CLOSE_SHUTDOWN: VarInt = VarInt::from_u32(0);
/// Application close code: the peer's identity is not allowed to do what it attempted
/// (e.g. its hello claims another cluster than its certificate).
pub const CLOSE_UNAUTHORIZED: VarInt = VarInt::from_u32(1);
/// Application close code: the peer broke the protocol (no hello first, a bad frame).
pub const CLOSE_PROTOCOL_VIOLATION: VarInt = VarInt::from_u32(2);

/// Timing and resource limits of a connection; both ends should use the same values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransportSettings {
    /// How often an otherwise quiet end sends a PING. Default 2 s: three chances per idle
    /// timeout, so one or two lost packets do not kill a healthy connection, for a few
    /// dozen bytes per second per agent.
    pub keep_alive_interval: Duration,
    /// Silence after which a connection is declared dead (QUIC's max idle timeout; the
    /// smaller of the two ends' values applies). Default 6 s: a crashed or partitioned
    /// peer is noticed 6-8 s after its last packet (an end's own next keep-alive restarts
    /// the timer once), well inside the agent's 15 s decision interval, so an agent knows
    /// the coordinator is gone before its next decision and a round does not wait on a
    /// dead agent. It also bounds how long a stalled handshake can occupy the coordinator.
    pub idle_timeout: Duration,
    /// Streams of each kind (bidirectional, unidirectional) the peer may have open at
    /// once. Default 8. Together with `max_frame_bytes` this bounds what one peer can make
    /// the other buffer: about `2 × max_concurrent_streams × max_frame_bytes` in decoders.
    pub max_concurrent_streams: u32,
    /// The largest frame a reader accepts; see [`DEFAULT_MAX_FRAME_BYTES`].
    pub max_frame_bytes: usize,
}

impl Default for TransportSettings {
    fn default() -> Self {
        Self {
            keep_alive_interval: Duration::from_secs(2),
            idle_timeout: Duration::from_secs(6),
            max_concurrent_streams: 8,
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
        }
    }
}

impl TransportSettings {
    fn transport_config(&self) -> Result<quinn::TransportConfig, EndpointError> {
        let invalid = |reason: String| EndpointError::Settings { reason };
        if self.keep_alive_interval.is_zero() || self.keep_alive_interval >= self.idle_timeout {
            return Err(invalid(format!(
                "keep-alive interval {:?} must be positive and shorter than the idle timeout {:?}, or idle connections die between keep-alives",
                self.keep_alive_interval, self.idle_timeout
            )));
        }
        let idle = IdleTimeout::try_from(self.idle_timeout)
            .map_err(|_| invalid(format!("idle timeout {:?} is too long", self.idle_timeout)))?;
        if self.max_concurrent_streams == 0 {
            return Err(invalid(
                "max_concurrent_streams must be at least 1, or no message can be sent".into(),
            ));
        }
        let streams = VarInt::from_u32(self.max_concurrent_streams);
        let mut config = quinn::TransportConfig::default();
        config
            .keep_alive_interval(Some(self.keep_alive_interval))
            .max_idle_timeout(Some(idle))
            .max_concurrent_bidi_streams(streams)
            .max_concurrent_uni_streams(streams);
        Ok(config)
    }
}

/// How many bytes a receiver lets each peer send ahead of what it has read (QUIC flow
/// control). quinn's defaults suit one fast transfer: 1.25 MB per stream and no limit per
/// connection. A coordinator that reads a few agents' updates at a time while the rest
/// wait wants far less, or every waiting agent parks a window's worth of data in its
/// memory: 50 agents × 1.25 MB is 62 MB before a single update is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiveWindows {
    /// Unread bytes per stream.
    pub stream: u32,
    /// Unread bytes per connection, all streams together.
    pub connection: u32,
}

/// A quinn server configuration over `tls` (see [`tls::server_config`]) with `settings`.
pub fn quic_server_config(
    tls: rustls::ServerConfig,
    settings: &TransportSettings,
) -> Result<quinn::ServerConfig, EndpointError> {
    server_config_with(tls, settings.transport_config()?)
}

fn server_config_with(
    tls: rustls::ServerConfig,
    transport: quinn::TransportConfig,
) -> Result<quinn::ServerConfig, EndpointError> {
    let crypto = QuicServerConfig::try_from(tls).map_err(|e| TlsError::Config {
        reason: e.to_string(),
    })?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    config.transport_config(Arc::new(transport));
    Ok(config)
}

/// A quinn client configuration over `tls` (see [`tls::client_config`]) with `settings`.
pub fn quic_client_config(
    tls: rustls::ClientConfig,
    settings: &TransportSettings,
) -> Result<quinn::ClientConfig, EndpointError> {
    let crypto = QuicClientConfig::try_from(tls).map_err(|e| TlsError::Config {
        reason: e.to_string(),
    })?;
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    config.transport_config(Arc::new(settings.transport_config()?));
    Ok(config)
}

/// The coordinator's endpoint: accepts agents whose certificates chain to the fleet CA.
#[derive(Debug)]
pub struct Listener {
    endpoint: Endpoint,
    ca_origin: Arc<str>,
    settings: TransportSettings,
    receive_buffer_bytes: usize,
}

impl Listener {
    /// Listens on `addr` (port 0 picks a free one), presenting `identity`. Needs a running
    /// tokio runtime.
    pub fn bind(
        addr: SocketAddr,
        ca: &FleetCa,
        identity: &Credentials,
        settings: TransportSettings,
    ) -> Result<Self, EndpointError> {
        let config = quic_server_config(tls::server_config(ca, identity)?, &settings)?;
        Self::with_config(addr, ca, config, settings)
    }

    /// [`bind`](Self::bind), granting each agent only `windows` of unread data instead
    /// of quinn's defaults, so the bytes agents can park in this process are bounded by
    /// the number of agents times a small window.
    pub fn bind_with_receive_windows(
        addr: SocketAddr,
        ca: &FleetCa,
        identity: &Credentials,
        settings: TransportSettings,
        windows: ReceiveWindows,
    ) -> Result<Self, EndpointError> {
        if windows.stream == 0 || windows.connection < windows.stream {
            return Err(EndpointError::Settings {
                reason: format!(
                    "receive windows of {} bytes per stream and {} per connection: the stream window must be positive and the connection window at least as large",
                    windows.stream, windows.connection
                ),
            });
        }
        let mut transport = settings.transport_config()?;
        transport
            .stream_receive_window(VarInt::from_u32(windows.stream))
            .receive_window(VarInt::from_u32(windows.connection));
        let config = server_config_with(tls::server_config(ca, identity)?, transport)?;
        Self::with_config(addr, ca, config, settings)
    }

    fn with_config(
        addr: SocketAddr,
        ca: &FleetCa,
        config: quinn::ServerConfig,
        settings: TransportSettings,
    ) -> Result<Self, EndpointError> {
        let (endpoint, receive_buffer_bytes) = socket::endpoint(addr, Some(config))
            .map_err(|source| EndpointError::Bind { addr, source })?;
        Ok(Self {
            endpoint,
            ca_origin: ca.origin().into(),
            settings,
            receive_buffer_bytes,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.endpoint.local_addr()
    }

    /// The UDP receive buffer the kernel granted (see [`socket::RECEIVE_BUFFER_BYTES`]),
    /// as it reports it: Linux counts its bookkeeping too and reports twice what it was
    /// asked for.
    pub fn receive_buffer_bytes(&self) -> usize {
        self.receive_buffer_bytes
    }

    /// The next connection attempt, `None` once the listener is closed.
    ///
    /// Returns before the handshake, which the caller runs with
    /// [`PendingAgent::authenticate`], typically in a task of its own, so a slow or
    /// hostile client cannot hold up everyone else's accept.
    pub async fn accept(&self) -> Option<PendingAgent> {
        let incoming = self.endpoint.accept().await?;
        Some(PendingAgent {
            incoming,
            ca_origin: self.ca_origin.clone(),
            settings: self.settings,
        })
    }

    /// Closes every connection with [`CLOSE_SHUTDOWN`] and waits until the closes have
    /// gone out, so agents reconnect at once instead of waiting out their idle timeout.
    pub async fn shutdown(&self) {
        self.endpoint
            .close(CLOSE_SHUTDOWN, b"coordinator shutting down");
        self.endpoint.wait_idle().await;
    }
}

/// A connection attempt whose handshake has not run yet.
#[derive(Debug)]
pub struct PendingAgent {
    incoming: quinn::Incoming,
    ca_origin: Arc<str>,
    settings: TransportSettings,
}

impl PendingAgent {
    /// Where the attempt comes from.
    pub fn remote_address(&self) -> SocketAddr {
        self.incoming.remote_address()
    }

    /// Runs the handshake (certificate verified against the fleet CA, ALPN checked) and
    /// reads the agent's cluster from its certificate. A certificate that names no valid
    /// cluster closes the connection with [`CLOSE_UNAUTHORIZED`].
    pub async fn authenticate(self) -> Result<AgentConnection, AcceptError> {
        let peer = self.incoming.remote_address();
        let connection = match self.incoming.await {
            Ok(connection) => connection,
            Err(source) => {
                return Err(AcceptError::Handshake {
                    peer,
                    hint: handshake_hint(&source, Side::Coordinator, &self.ca_origin),
                    source,
                });
            }
        };
        match PeerIdentity::from_connection(&connection) {
            Ok(identity) => Ok(AgentConnection {
                connection,
                identity,
                settings: self.settings,
            }),
            Err(source) => {
                connection.close(CLOSE_UNAUTHORIZED, source.to_string().as_bytes());
                Err(AcceptError::Identity { peer, source })
            }
        }
    }
}

/// An authenticated agent connection.
#[derive(Debug)]
pub struct AgentConnection {
    connection: Connection,
    identity: PeerIdentity,
    settings: TransportSettings,
}

impl AgentConnection {
    /// The QUIC connection, for streams beyond the hello.
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    /// Who the certificate says the agent is.
    pub fn identity(&self) -> &PeerIdentity {
        &self.identity
    }

    /// The agent's cluster, from its certificate.
    pub fn cluster_id(&self) -> &ClusterId {
        self.identity.cluster_id()
    }

    /// Waits for the agent's opening stream, which must carry a hello naming the
    /// certificate's cluster ([`verify_claimed_cluster`]). Returns the hello and the
    /// stream's send half for the coordinator's answer.
    ///
    /// Anything else is answered on the same stream with an [`ErrorMessage`] (so the
    /// agent's log says why) and the connection is closed: with [`CLOSE_UNAUTHORIZED`]
    /// for a claim that contradicts the certificate, with [`CLOSE_PROTOCOL_VIOLATION`] for
    /// a missing or malformed hello.
    ///
    /// Has no deadline of its own: an agent that connects and stays silent is only
    /// ended by the caller's timeout (keep-alives keep the connection itself alive).
    pub async fn receive_hello(&self) -> Result<(Hello, SendStream), HelloError> {
        let cluster = self.cluster_id().clone();
        let stream_error = |source: StreamError| HelloError::Stream {
            cluster: cluster.clone(),
            source,
        };
        let (send, mut recv) = self
            .connection
            .accept_bi()
            .await
            .map_err(|e| stream_error(e.into()))?;
        let message = match read_message(&mut recv, self.settings.max_frame_bytes).await {
            Ok(message) => message,
            Err(e) => {
                if let StreamError::Codec(codec) = &e {
                    self.refuse(send, CLOSE_PROTOCOL_VIOLATION, codec.to_error_message())
                        .await;
                } else {
                    self.connection
                        .close(CLOSE_PROTOCOL_VIOLATION, b"cannot read the hello");
                }
                return Err(stream_error(e));
            }
        };
        let hello = match message {
            Message::Hello(hello) => hello,
            other => {
                let error = HelloError::NotHello {
                    cluster,
                    got: other.kind(),
                };
                let text = ErrorMessage::new(ErrorCode::Invalid, error.to_string());
                self.refuse(send, CLOSE_PROTOCOL_VIOLATION, text).await;
                return Err(error);
            }
        };
        if let Err(e) = verify_claimed_cluster(&self.identity, &hello) {
            let text = ErrorMessage::new(ErrorCode::Unauthorized, e.to_string());
            self.refuse(send, CLOSE_UNAUTHORIZED, text).await;
            return Err(HelloError::Claim(e));
        }
        Ok((hello, send))
    }

    /// Answers with `error`, waits (at most one idle timeout) until the agent has
    /// acknowledged it, then closes: closing at once could discard the answer before it
    /// is sent, and the agent would only see a bare close code.
    async fn refuse(&self, mut send: SendStream, code: VarInt, error: ErrorMessage) {
        let reason = error.message.clone();
        if write_message(&mut send, &Message::Error(error))
            .await
            .is_ok()
        {
            // Whatever the outcome (acknowledged, stopped, connection gone, timed out), the
            // next step is the same: close.
            let _ = tokio::time::timeout(self.settings.idle_timeout, send.stopped()).await;
        }
        self.connection.close(code, reason.as_bytes());
    }
}

/// An agent's endpoint: connects to the coordinator, checking its certificate against the
/// fleet CA and `server_name`, and presenting the cluster's client certificate.
#[derive(Debug)]
pub struct Dialer {
    endpoint: Endpoint,
    server_name: String,
    ca_origin: String,
}

impl Dialer {
    /// Binds a local UDP socket (`0.0.0.0:0` for an IPv4 coordinator, `[::]:0` for IPv6).
    /// Needs a running tokio runtime.
    pub fn bind(
        bind: SocketAddr,
        ca: &FleetCa,
        identity: &Credentials,
        server_name: impl Into<String>,
        settings: TransportSettings,
    ) -> Result<Self, EndpointError> {
        let config = quic_client_config(tls::client_config(ca, identity)?, &settings)?;
        Self::with_config(bind, config, server_name, ca.origin())
    }

    /// With a hand-made client configuration (tests of what the coordinator refuses).
    pub(crate) fn with_config(
        bind: SocketAddr,
        config: quinn::ClientConfig,
        server_name: impl Into<String>,
        ca_origin: &str,
    ) -> Result<Self, EndpointError> {
        // A global model arrives as a burst too, so the agent asks for the same buffer.
        let (mut endpoint, _) = socket::endpoint(bind, None)
            .map_err(|source| EndpointError::Bind { addr: bind, source })?;
        endpoint.set_default_client_config(config);
        Ok(Self {
            endpoint,
            server_name: server_name.into(),
            ca_origin: ca_origin.to_owned(),
        })
    }

    /// Connects to the coordinator at `addr`.
    ///
    /// Success means this end accepted the coordinator's certificate; the coordinator
    /// judges the agent's certificate in the same flight, so a refused agent may see its
    /// connection closed right after this returns rather than here.
    pub async fn connect(&self, addr: SocketAddr) -> Result<Connection, ConnectError> {
        let connecting = self
            .endpoint
            .connect(addr, &self.server_name)
            .map_err(|source| ConnectError::Start {
                addr,
                server_name: self.server_name.clone(),
                source,
            })?;
        connecting.await.map_err(|source| ConnectError::Handshake {
            addr,
            hint: handshake_hint(&source, Side::Agent, &self.ca_origin),
            source,
        })
    }

    /// Closes every connection with [`CLOSE_SHUTDOWN`] and waits until the close has gone
    /// out, so the coordinator drops the agent at once instead of after its idle timeout.
    pub async fn shutdown(&self) {
        self.endpoint.close(CLOSE_SHUTDOWN, b"agent shutting down");
        self.endpoint.wait_idle().await;
    }
}
