//! One agent connection: handshake, hello, then its streams in both directions.

use std::sync::Arc;

use common::proto::Message;
use common::transport::{
    AgentConnection, CLOSE_PROTOCOL_VIOLATION, CLOSE_SHUTDOWN, PendingAgent, StreamError,
    TransportSettings, write_message,
};
use quinn::{Connection, ConnectionError, SendStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;

use super::engine_task::{Command, HelloReply, Outbound};
use super::options::ServerLimits;
use super::receive::{ReceiveBudget, read_message};
use crate::round::ConnectionId;

/// What every connection task shares.
#[derive(Debug)]
pub(super) struct Shared {
    pub(super) commands: mpsc::Sender<Command>,
    pub(super) budget: ReceiveBudget,
    pub(super) transport: TransportSettings,
    pub(super) limits: ServerLimits,
    /// Writers still running: shutdown waits (briefly) for them to deliver what the engine
    /// sent last, such as the model of a final round, before it closes the connections.
    pub(super) writers: Arc<watch::Sender<usize>>,
}

/// Counts a writer as running while it lives, even if it is aborted.
struct Running(Arc<watch::Sender<usize>>);

impl Running {
    fn new(writers: &Arc<watch::Sender<usize>>) -> Self {
        writers.send_modify(|n| *n += 1);
        Self(Arc::clone(writers))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// Serves one connection attempt until it ends.
pub(super) async fn serve(pending: PendingAgent, id: ConnectionId, shared: Arc<Shared>) {
    let peer = pending.remote_address();
    let agent = match pending.authenticate().await {
        Ok(agent) => agent,
        Err(e) => {
            tracing::warn!(%peer, "refused a connection: {e}");
            return;
        }
    };
    let cluster_id = agent.cluster_id().to_string();
    let hello = tokio::time::timeout(shared.limits.hello_timeout, agent.receive_hello()).await;
    let (hello, reply_stream) = match hello {
        Ok(Ok(hello)) => hello,
        Ok(Err(e)) => {
            tracing::warn!(%peer, cluster = %cluster_id, "refused the hello: {e}");
            return;
        }
        Err(_) => {
            tracing::warn!(%peer, cluster = %cluster_id, "no hello in time; closing");
            agent
                .connection()
                .close(CLOSE_PROTOCOL_VIOLATION, b"no hello in time");
            return;
        }
    };

    let (outbox, outbox_rx) = mpsc::unbounded_channel();
    let (reply, reply_rx) = oneshot::channel();
    let asked = shared
        .commands
        .send(Command::Hello {
            connection: id,
            cluster_id: cluster_id.clone(),
            hello,
            outbox,
            reply,
        })
        .await;
    let Ok(reply) = (match asked {
        Ok(()) => reply_rx.await,
        Err(_) => return,
    }) else {
        // The engine task has stopped: the coordinator is shutting down.
        return;
    };
    match reply {
        HelloReply::Accept(frame) => {
            if let Err(e) = answer(reply_stream, frame).await {
                tracing::info!(cluster = %cluster_id, "cannot answer the hello: {e}");
            }
        }
        HelloReply::Refuse(error) => {
            refuse(&agent, reply_stream, error, &shared.transport).await;
            return;
        }
    }

    let connection = agent.connection().clone();
    let writer = tokio::spawn(write_outbox(
        connection.clone(),
        outbox_rx,
        Running::new(&shared.writers),
    ));
    let end = read_streams(&connection, id, &cluster_id, &shared).await;
    match end {
        ConnectionError::ApplicationClosed(_) | ConnectionError::LocallyClosed => {
            tracing::info!(cluster = %cluster_id, "agent disconnected: {end}");
        }
        other => tracing::warn!(cluster = %cluster_id, "agent connection lost: {other}"),
    }
    writer.abort();
    let _ = shared
        .commands
        .send(Command::Left {
            connection: id,
            cluster_id,
        })
        .await;
}

/// Sends the hello's answer on the hello's own stream.
async fn answer(mut send: SendStream, frame: bytes::Bytes) -> Result<(), StreamError> {
    send.write_chunk(frame).await?;
    send.finish()?;
    Ok(())
}

/// Sends `error` on the hello's stream, waits (at most an idle timeout) until the agent
/// has it, then closes: closing at once could drop the answer.
async fn refuse(
    agent: &AgentConnection,
    mut send: SendStream,
    error: common::proto::ErrorMessage,
    transport: &TransportSettings,
) {
    let reason = error.message.clone();
    if write_message(&mut send, &Message::Error(error))
        .await
        .is_ok()
    {
        let _ = tokio::time::timeout(transport.idle_timeout, send.stopped()).await;
    }
    agent
        .connection()
        .close(CLOSE_PROTOCOL_VIOLATION, reason.as_bytes());
}

/// Reads the agent's unidirectional streams one after another, in the order the agent
/// opened them, until the connection ends; returns why it ended.
async fn read_streams(
    connection: &Connection,
    id: ConnectionId,
    cluster_id: &str,
    shared: &Shared,
) -> ConnectionError {
    loop {
        let mut recv = match connection.accept_uni().await {
            Ok(recv) => recv,
            Err(e) => return e,
        };
        let command =
            match read_message(&mut recv, shared.transport.max_frame_bytes, &shared.budget).await {
                Ok((message, reservation)) => Command::Received {
                    cluster_id: cluster_id.to_owned(),
                    message,
                    reservation,
                },
                Err(StreamError::Codec(e)) => {
                    tracing::warn!(cluster = cluster_id, "refused a malformed message: {e}");
                    Command::Malformed {
                        connection: id,
                        cluster_id: cluster_id.to_owned(),
                        error: e.to_error_message(),
                    }
                }
                Err(e) => {
                    // The stream was reset or the connection lost; the next accept tells which.
                    tracing::debug!(cluster = cluster_id, "stream ended early: {e}");
                    continue;
                }
            };
        if shared.commands.send(command).await.is_err() {
            return ConnectionError::LocallyClosed;
        }
    }
}

/// Sends what the engine queues for this agent, one message per unidirectional stream,
/// until the engine drops the queue (it stopped, or the agent left). Then it waits until
/// the agent has acknowledged every stream it was sent, so that a coordinator shutting
/// down does not close the connection over a model still in flight.
async fn write_outbox(
    connection: Connection,
    mut outbox: mpsc::UnboundedReceiver<Outbound>,
    _running: Running,
) {
    // Streams sent but not yet acknowledged; reaped as they complete.
    let mut in_flight = JoinSet::new();
    loop {
        let outbound = tokio::select! {
            outbound = outbox.recv() => outbound,
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => continue,
        };
        match outbound {
            None => break,
            Some(Outbound::Frame(frame)) => {
                let sent = async {
                    let mut send = connection.open_uni().await?;
                    send.write_chunk(frame).await?;
                    send.finish()?;
                    Ok::<_, StreamError>(send)
                }
                .await;
                match sent {
                    Ok(send) => {
                        in_flight.spawn(async move {
                            let _ = send.stopped().await;
                        });
                    }
                    Err(e) => {
                        tracing::debug!("cannot send to the agent: {e}");
                        return;
                    }
                }
            }
            Some(Outbound::Close(reason)) => {
                connection.close(CLOSE_SHUTDOWN, reason.as_bytes());
                return;
            }
        }
    }
    while in_flight.join_next().await.is_some() {}
}
