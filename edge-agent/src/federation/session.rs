//! One connection's conversation with the coordinator, as fixed in the design: a hello on
//! a bidirectional stream answered by the current global model, then one message per
//! unidirectional stream in each direction, the coordinator's processed strictly one after
//! another. A global model becomes the current model; an offer is trained on the blocking
//! pool and answered with an update if it is ready before the offer's deadline; an error
//! is logged.
//!
//! Training blocks the reading of further messages, on purpose: the coordinator's messages
//! are processed in the order they were sent, and a model pushed during a round takes
//! effect after it. A deadline or a shutdown raises the trainer's cancellation flag, so
//! neither waits for a long budget to run out.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::proto::{ErrorCode, ErrorMessage, GlobalModel, Hello, Message, RoundOffer, Update};
use common::transport::{
    CLOSE_PROTOCOL_VIOLATION, CLOSE_SHUTDOWN, Dialer, StreamError, receive_uni, request, send_uni,
};
use quinn::Connection;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, sleep, sleep_until};

use super::client::ClientStats;
use super::models::HeldModels;
use super::trainer::{LocalTrainer, LocalUpdate, TrainError};

/// How a connection (or the attempt at one) ended.
#[derive(Debug)]
pub(super) enum SessionEnd {
    /// Shutdown was requested.
    Shutdown,
    /// No conversation came about: address, handshake or hello failed.
    Unreachable {
        /// Why, for the log.
        reason: String,
    },
    /// An established conversation broke off.
    Lost {
        /// Why, for the log.
        reason: String,
        /// When the connection was established, for the backoff's reset rule.
        since: Instant,
    },
    /// The training task panicked: the trainer is gone and the agent cannot go on.
    TrainerLost(String),
}

/// What the agent carries from one connection to the next.
#[derive(Debug)]
pub(super) struct Session {
    pub(super) held: HeldModels,
    /// `None` only while a round trains on the blocking pool.
    pub(super) trainer: Option<LocalTrainer>,
    pub(super) hello: Hello,
    pub(super) max_frame_bytes: usize,
    pub(super) model: watch::Sender<Option<Arc<GlobalModel>>>,
    pub(super) stats: watch::Sender<ClientStats>,
    pub(super) stop: watch::Receiver<bool>,
    /// Trainers that replace `trainer` from the next round on (a recalibrated twin).
    pub(super) replacements: Option<mpsc::Receiver<LocalTrainer>>,
}

/// Completes once shutdown is requested (or whoever could request it is gone).
async fn stop_requested(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// The trainer back from the blocking pool with what it produced; boxed because a
/// trainer, environment included, is several kilobytes.
type Trained = Box<(LocalTrainer, Result<LocalUpdate, TrainError>)>;

/// Why a round's training stopped waiting.
enum Finish {
    Trained(Result<Trained, tokio::task::JoinError>),
    DeadlinePassed,
    Stopping,
}

impl Session {
    /// Takes the newest replacement trainer, if one came, for the round about to start.
    /// One for another network is refused: the fleet's models would not fit it.
    fn adopt_replacement(&mut self) {
        let Some(replacements) = &mut self.replacements else {
            return;
        };
        while let Ok(next) = replacements.try_recv() {
            if self
                .hello
                .architecture
                .check_compatible(next.architecture())
                .is_ok()
            {
                tracing::info!("rounds now train with the replacement trainer");
                self.trainer = Some(next);
            } else {
                tracing::warn!(
                    "refused a replacement trainer for another network; rounds train as before"
                );
            }
        }
    }

    pub(super) fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// Waits `delay`; true if shutdown was requested meanwhile.
    pub(super) async fn sleep_or_stop(&mut self, delay: std::time::Duration) -> bool {
        tokio::select! {
            _ = sleep(delay) => false,
            _ = stop_requested(&mut self.stop) => true,
        }
    }

    /// Connects to `addr` and converses until the connection ends or shutdown.
    pub(super) async fn converse(&mut self, dialer: &Dialer, addr: SocketAddr) -> SessionEnd {
        let connection = tokio::select! {
            _ = stop_requested(&mut self.stop) => return SessionEnd::Shutdown,
            connected = dialer.connect(addr) => match connected {
                Ok(connection) => connection,
                Err(e) => return SessionEnd::Unreachable { reason: e.to_string() },
            },
        };
        let since = Instant::now();
        let hello = Message::Hello(self.hello.clone());
        let reply = tokio::select! {
            _ = stop_requested(&mut self.stop) => {
                connection.close(CLOSE_SHUTDOWN, b"agent shutting down");
                return SessionEnd::Shutdown;
            }
            reply = request(&connection, &hello, self.max_frame_bytes) => reply,
        };
        match reply {
            Ok(Message::GlobalModel(model)) => self.consider(model, "hello reply"),
            Ok(Message::Error(error)) => {
                self.stats.send_modify(|s| s.coordinator_errors += 1);
                tracing::error!(
                    code = ?error.code,
                    "the coordinator refused this agent's hello: {}",
                    error.message
                );
                return SessionEnd::Unreachable {
                    reason: format!("hello refused ({:?}): {}", error.code, error.message),
                };
            }
            Ok(other) => {
                connection.close(
                    CLOSE_PROTOCOL_VIOLATION,
                    b"expected a global model or an error",
                );
                return SessionEnd::Unreachable {
                    reason: format!(
                        "the coordinator answered the hello with a {}; it runs an incompatible build",
                        other.kind()
                    ),
                };
            }
            Err(e) => {
                return SessionEnd::Unreachable {
                    reason: format!("hello failed: {}", lost_reason(&connection, &e)),
                };
            }
        }
        self.stats.send_modify(|s| {
            s.connections += 1;
            s.connected = true;
        });
        tracing::info!(
            %addr,
            model_version = ?self.held.current().map(|m| m.version),
            "connected to the coordinator"
        );
        loop {
            let received = tokio::select! {
                _ = stop_requested(&mut self.stop) => {
                    connection.close(CLOSE_SHUTDOWN, b"agent shutting down");
                    return SessionEnd::Shutdown;
                }
                received = receive_uni(&connection, self.max_frame_bytes) => received,
            };
            match received {
                Ok(message) => {
                    if let Some(end) = self.handle(&connection, message, since).await {
                        return end;
                    }
                }
                Err(e) if connection.close_reason().is_some() || is_connection_loss(&e) => {
                    return SessionEnd::Lost {
                        reason: lost_reason(&connection, &e),
                        since,
                    };
                }
                // One bad stream (oversized, malformed): it was refused, the rest is fine.
                Err(e) => tracing::warn!("refused a message from the coordinator: {e}"),
            }
        }
    }

    async fn handle(
        &mut self,
        connection: &Connection,
        message: Message,
        since: Instant,
    ) -> Option<SessionEnd> {
        match message {
            Message::GlobalModel(model) => {
                self.consider(model, "push");
                None
            }
            Message::RoundOffer(offer) => self.join(connection, offer, since).await,
            Message::Error(error) => {
                self.stats.send_modify(|s| s.coordinator_errors += 1);
                tracing::warn!(code = ?error.code, "the coordinator reports: {}", error.message);
                None
            }
            other @ (Message::Hello(_) | Message::Update(_)) => {
                tracing::warn!(
                    "ignoring a {} from the coordinator, which only agents send",
                    other.kind()
                );
                None
            }
        }
    }

    /// Makes `model` the current model, or refuses it and keeps the current one.
    fn consider(&mut self, model: GlobalModel, how: &str) {
        let version = model.version;
        match self.held.accept(model) {
            Ok(model) => {
                tracing::info!(version, how, "global model accepted");
                self.model.send_replace(Some(model));
                self.stats.send_modify(|s| {
                    s.models_accepted += 1;
                    s.model_version = Some(version);
                });
            }
            Err(refusal) => {
                self.stats.send_modify(|s| s.models_refused += 1);
                tracing::error!(
                    version,
                    how,
                    current = ?self.held.current().map(|m| m.version),
                    "refusing global model v{version}: {refusal}; this agent runs {:?} {:?} and keeps its current model",
                    self.hello.architecture.kind,
                    self.hello.architecture.layers,
                );
            }
        }
    }

    /// Trains the offered round and answers it, unless its deadline passes first.
    async fn join(
        &mut self,
        connection: &Connection,
        offer: RoundOffer,
        since: Instant,
    ) -> Option<SessionEnd> {
        let deadline = Instant::now() + offer.deadline();
        let RoundOffer {
            round,
            base_version,
            budget,
            deadline_ms,
        } = offer;
        let Some(base) = self.held.get(base_version).cloned() else {
            tracing::warn!(
                round,
                base_version,
                "offer for a base model this agent does not hold"
            );
            let reason = format!(
                "round {round}: this agent does not hold base version {base_version} (current: {:?})",
                self.held.current().map(|m| m.version)
            );
            return self.decline(connection, reason, since).await;
        };
        self.adopt_replacement();
        let Some(mut trainer) = self.trainer.take() else {
            return Some(SessionEnd::TrainerLost("the trainer is missing".into()));
        };
        self.stats.send_modify(|s| s.rounds_joined += 1);
        tracing::info!(
            round,
            base_version,
            steps = budget.env_steps,
            deadline_ms,
            "joining round"
        );
        let cancel = Arc::new(AtomicBool::new(false));
        let flag = cancel.clone();
        let mut task = tokio::task::spawn_blocking(move || {
            let outcome = trainer.train_round(&base.weights, budget.env_steps, &flag);
            Box::new((trainer, outcome))
        });
        let finish = tokio::select! {
            joined = &mut task => Finish::Trained(joined),
            _ = sleep_until(deadline) => Finish::DeadlinePassed,
            _ = stop_requested(&mut self.stop) => Finish::Stopping,
        };
        let joined = match finish {
            Finish::Trained(joined) => joined,
            Finish::DeadlinePassed | Finish::Stopping => {
                cancel.store(true, Ordering::Relaxed);
                task.await
            }
        };
        let (trainer, outcome) = match joined {
            Ok(done) => *done,
            Err(e) => return Some(SessionEnd::TrainerLost(e.to_string())),
        };
        self.trainer = Some(trainer);
        if self.stopping() {
            connection.close(CLOSE_SHUTDOWN, b"agent shutting down");
            return Some(SessionEnd::Shutdown);
        }
        match outcome {
            Ok(update) if Instant::now() <= deadline => {
                let sample_count = update.sample_count;
                let message = Message::Update(Update {
                    round,
                    base_version,
                    sample_count,
                    payload: update.payload,
                    metrics: update.metrics,
                });
                if let Err(e) = send_uni(connection, &message).await {
                    return Some(SessionEnd::Lost {
                        reason: format!("cannot send the update: {}", lost_reason(connection, &e)),
                        since,
                    });
                }
                self.stats.send_modify(|s| s.updates_sent += 1);
                tracing::info!(
                    round,
                    base_version,
                    sample_count,
                    mean_reward = update.metrics.mean_reward,
                    slo_compliance = update.metrics.slo_compliance,
                    "update sent"
                );
                None
            }
            Ok(_) | Err(TrainError::Cancelled { .. }) => {
                self.stats.send_modify(|s| s.rounds_missed += 1);
                tracing::warn!(
                    round,
                    deadline_ms,
                    steps = budget.env_steps,
                    "the round's deadline passed before local training finished; no update sent (offer smaller budgets or longer deadlines)"
                );
                None
            }
            Err(e) => {
                tracing::error!(round, "local training failed: {e}");
                self.decline(connection, format!("round {round}: {e}"), since)
                    .await
            }
        }
    }

    /// Tells the coordinator this agent cannot train the offered round.
    async fn decline(
        &mut self,
        connection: &Connection,
        reason: String,
        since: Instant,
    ) -> Option<SessionEnd> {
        self.stats.send_modify(|s| s.rounds_declined += 1);
        let message = Message::Error(ErrorMessage::new(ErrorCode::Internal, reason));
        match send_uni(connection, &message).await {
            Ok(()) => None,
            Err(e) => Some(SessionEnd::Lost {
                reason: format!("cannot answer the offer: {}", lost_reason(connection, &e)),
                since,
            }),
        }
    }
}

fn is_connection_loss(error: &StreamError) -> bool {
    matches!(
        error,
        StreamError::Connection(_)
            | StreamError::Read(quinn::ReadError::ConnectionLost(_))
            | StreamError::Write(quinn::WriteError::ConnectionLost(_))
    )
}

/// The connection's own close reason if it has one (it names the peer's close code), else
/// the stream error.
fn lost_reason(connection: &Connection, error: &StreamError) -> String {
    connection
        .close_reason()
        .map_or_else(|| error.to_string(), |reason| reason.to_string())
}
