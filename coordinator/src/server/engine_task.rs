//! The engine task: owns the registry and the round engine, takes what the connection
//! tasks report, carries out the engine's actions, and wakes the engine when a round's
//! grace or deadline, or the next round's start, comes due.

use std::collections::{HashMap, VecDeque};
use std::time::SystemTime;

use bytes::Bytes;
use common::proto::{ErrorCode, ErrorMessage, Hello, Message, ModelArchitecture};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::Instant;

use super::event::Event;
use super::frames::{self, FleetFrame};
use super::receive::Reservation;
use crate::admin::Observed;
use crate::admin::health::{ENGINE_HEARTBEAT, Task, TaskGuard};
use crate::registry::manifest::{Contributor, rfc3339};
use crate::registry::store::{NewVersion, Registry};
use crate::round::{Action, AgentJoin, ConnectionId, Outgoing, Publication, RoundEngine};

/// What a connection task tells the engine task.
#[derive(Debug)]
pub(super) enum Command {
    /// An authenticated agent said hello; answer through `reply`. Frames for the agent go
    /// to `outbox` from then on.
    Hello {
        connection: ConnectionId,
        cluster_id: String,
        hello: Hello,
        outbox: mpsc::UnboundedSender<Outbound>,
        reply: oneshot::Sender<HelloReply>,
    },
    /// A message arrived on one of the agent's streams.
    Received {
        cluster_id: String,
        message: Message,
        /// Released once the message is handled.
        reservation: Reservation,
    },
    /// A stream carried something that is not a frame; tell the agent.
    Malformed {
        connection: ConnectionId,
        cluster_id: String,
        error: ErrorMessage,
    },
    /// The connection ended.
    Left {
        connection: ConnectionId,
        cluster_id: String,
    },
}

/// The answer to a hello.
#[derive(Debug)]
pub(super) enum HelloReply {
    /// Send this `GlobalModel` frame.
    Accept(Bytes),
    /// Send this error and close.
    Refuse(ErrorMessage),
}

/// What a connection's writer sends.
#[derive(Debug)]
pub(super) enum Outbound {
    /// One frame, on a stream of its own.
    Frame(Bytes),
    /// Close the connection with this reason (e.g. superseded by a newer connection of
    /// the same cluster).
    Close(&'static str),
}

/// Channels the engine task reports through.
#[derive(Debug)]
pub(super) struct Reports {
    pub(super) events: broadcast::Sender<Event>,
    pub(super) version: watch::Sender<u64>,
    pub(super) finished: watch::Sender<bool>,
}

/// The state the engine task owns.
#[derive(Debug)]
pub(super) struct EngineTask {
    pub(super) engine: RoundEngine,
    /// `None` only while a publication runs on a blocking thread.
    pub(super) registry: Option<Registry>,
    pub(super) architecture: ModelArchitecture,
    pub(super) fleet_frame: FleetFrame,
    pub(super) origin: Instant,
    pub(super) reports: Reports,
    pub(super) outboxes: HashMap<String, (ConnectionId, mpsc::UnboundedSender<Outbound>)>,
    /// Metrics and health, updated as things happen.
    pub(super) observed: Observed,
}

impl EngineTask {
    /// Runs until `shutdown` turns true or every connection task and the handle are gone.
    pub(super) async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let _alive = TaskGuard::new(self.observed.health.clone(), Task::Engine);
        // Turns the loop when nothing else does, so liveness can tell an idle engine from
        // a stuck one.
        let mut heartbeat = tokio::time::interval(ENGINE_HEARTBEAT);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            self.observed
                .health
                .engine_turned(std::time::Instant::now());
            let wake = self.engine.next_wakeup().map(|t| self.origin + t);
            let actions = tokio::select! {
                biased;
                _ = shutdown.changed() => break,
                command = commands.recv() => match command {
                    Some(command) => self.handle(command),
                    None => break,
                },
                () = sleep_until(wake) => self.engine.tick(self.now()),
                _ = heartbeat.tick() => Vec::new(),
            };
            self.apply(actions).await;
            self.observed
                .metrics
                .set_connected_agents(self.engine.connected());
        }
        tracing::debug!("engine task stopped");
    }

    fn now(&self) -> std::time::Duration {
        self.origin.elapsed()
    }

    fn handle(&mut self, command: Command) -> Vec<Action> {
        let now = self.now();
        match command {
            Command::Hello {
                connection,
                cluster_id,
                hello,
                outbox,
                reply,
            } => self.hello(now, connection, cluster_id, &hello, outbox, reply),
            Command::Received {
                cluster_id,
                message,
                reservation,
            } => {
                let actions = match &message {
                    Message::Update(update) => self.engine.update(now, &cluster_id, update),
                    Message::Error(error) => self.engine.agent_error(now, &cluster_id, error),
                    other => {
                        tracing::warn!(
                            cluster = %cluster_id,
                            kind = other.kind(),
                            "agent sent a message only the coordinator sends; ignored"
                        );
                        self.send_error(
                            &cluster_id,
                            ErrorMessage::new(
                                ErrorCode::Invalid,
                                format!(
                                    "after the hello an agent sends only updates and errors, not a {}",
                                    other.kind()
                                ),
                            ),
                        );
                        Vec::new()
                    }
                };
                drop(reservation);
                actions
            }
            Command::Malformed {
                connection,
                cluster_id,
                error,
            } => {
                if self.is_current(&cluster_id, connection) {
                    self.send_error(&cluster_id, error);
                }
                Vec::new()
            }
            Command::Left {
                connection,
                cluster_id,
            } => {
                if self.is_current(&cluster_id, connection) {
                    self.outboxes.remove(&cluster_id);
                    let _ = self.reports.events.send(Event::AgentLeft {
                        cluster_id: cluster_id.clone(),
                    });
                }
                self.engine.left(now, &cluster_id, connection)
            }
        }
    }

    fn is_current(&self, cluster_id: &str, connection: ConnectionId) -> bool {
        self.outboxes
            .get(cluster_id)
            .is_some_and(|(c, _)| *c == connection)
    }

    fn hello(
        &mut self,
        now: std::time::Duration,
        connection: ConnectionId,
        cluster_id: String,
        hello: &Hello,
        outbox: mpsc::UnboundedSender<Outbound>,
        reply: oneshot::Sender<HelloReply>,
    ) -> Vec<Action> {
        if let Err(mismatch) = self.architecture.check_compatible(&hello.architecture) {
            let reason = format!("the fleet's model does not fit this agent's: {mismatch}");
            tracing::warn!(cluster = %cluster_id, "refused agent: {reason}");
            let _ = self.reports.events.send(Event::AgentRefused {
                cluster_id,
                reason: reason.clone(),
            });
            let _ = reply.send(HelloReply::Refuse(ErrorMessage::new(
                ErrorCode::IncompatibleArchitecture,
                reason,
            )));
            return Vec::new();
        }
        let (version, frame) = self
            .fine_tune_for(&cluster_id, &hello.workload_tags)
            .unwrap_or_else(|| (self.fleet_frame.version, self.fleet_frame.bytes.clone()));
        if reply.send(HelloReply::Accept(frame)).is_err() {
            // The connection task is gone already; its departure follows.
            return Vec::new();
        }
        if let Some((_, old)) = self
            .outboxes
            .insert(cluster_id.clone(), (connection, outbox))
        {
            let _ = old.send(Outbound::Close(
                "superseded by a newer connection of the same cluster",
            ));
        }
        tracing::info!(
            cluster = %cluster_id,
            agent_version = %hello.agent_version,
            version,
            "agent joined"
        );
        let _ = self.reports.events.send(Event::AgentJoined {
            cluster_id: cluster_id.clone(),
            version,
        });
        self.engine.joined(
            now,
            AgentJoin {
                cluster_id,
                connection,
                holds: Some(version),
                workload_tags: hello.workload_tags.clone(),
            },
        )
    }

    /// The newest fine-tune for one of `tags`, encoded, if there is one this fleet's
    /// agents can load.
    fn fine_tune_for(&self, cluster_id: &str, tags: &[String]) -> Option<(u64, Bytes)> {
        let registry = self.registry.as_ref()?;
        let manifest = registry.latest_for_workload(tags)?;
        if !manifest.architecture.is_compatible(&self.architecture) {
            return None;
        }
        let encoded = registry
            .load_weights(manifest.version)
            .map_err(|e| e.to_string())
            .and_then(|weights| {
                frames::global_model(
                    manifest.version,
                    &manifest.architecture,
                    &weights,
                    &manifest.tags,
                )
                .map_err(|e| e.to_string())
            });
        match encoded {
            Ok(frame) => Some((manifest.version, frame)),
            Err(e) => {
                tracing::error!(
                    cluster = cluster_id,
                    version = manifest.version,
                    "cannot serve the fine-tune for this workload, sending the fleet model instead: {e}"
                );
                None
            }
        }
    }

    fn send_error(&self, cluster_id: &str, error: ErrorMessage) {
        match frames::frame(&Message::Error(error)) {
            Ok(bytes) => self.send(cluster_id, bytes),
            Err(e) => tracing::error!("cannot encode an error message: {e}"),
        }
    }

    fn send(&self, cluster_id: &str, bytes: Bytes) {
        if let Some((_, outbox)) = self.outboxes.get(cluster_id) {
            // A closed outbox means the connection is ending; its departure follows.
            let _ = outbox.send(Outbound::Frame(bytes));
        }
    }

    async fn apply(&mut self, actions: Vec<Action>) {
        let mut queue = VecDeque::from(actions);
        while let Some(action) = queue.pop_front() {
            match action {
                Action::Send {
                    cluster_id,
                    message,
                } => self.deliver(&cluster_id, message),
                Action::RoundOpened {
                    round,
                    base_version,
                    participants,
                } => {
                    self.observed.metrics.set_round(round);
                    let _ = self.reports.events.send(Event::RoundOpened {
                        round,
                        base_version,
                        participants,
                    });
                }
                Action::Publish(publication) => {
                    let outcome = self.publish(publication).await;
                    let now = self.now();
                    let follow_up = match outcome {
                        Ok(version) => self.engine.published(now, version),
                        Err(reason) => self.engine.publish_failed(now, &reason),
                    };
                    for action in follow_up.into_iter().rev() {
                        queue.push_front(action);
                    }
                }
                Action::Accepted { .. } => self.observed.metrics.update_accepted(),
                Action::Rejected {
                    cluster_id,
                    rejection,
                } => {
                    self.observed.metrics.update_rejected(rejection.reason());
                    let _ = self.reports.events.send(Event::UpdateRejected {
                        cluster_id,
                        reason: rejection.reason(),
                        message: rejection.to_string(),
                    });
                }
                Action::RoundClosed(summary) => {
                    self.observed.metrics.round_closed(&summary);
                    let _ = self.reports.events.send(Event::RoundClosed(summary));
                }
                Action::Finished => {
                    let _ = self.reports.events.send(Event::Finished);
                    let _ = self.reports.finished.send(true);
                }
            }
        }
    }

    fn deliver(&self, cluster_id: &str, message: Outgoing) {
        let bytes = match message {
            Outgoing::GlobalModel { version } if version == self.fleet_frame.version => {
                self.fleet_frame.bytes.clone()
            }
            Outgoing::GlobalModel { version } => {
                tracing::error!(
                    version,
                    current = self.fleet_frame.version,
                    "asked to send a version that is not the current fleet model; skipped"
                );
                return;
            }
            Outgoing::Offer(offer) => match frames::frame(&Message::RoundOffer(offer)) {
                Ok(bytes) => bytes,
                Err(e) => {
                    tracing::error!("cannot encode a round offer: {e}");
                    return;
                }
            },
            Outgoing::Error(error) => return self.send_error(cluster_id, error),
        };
        self.send(cluster_id, bytes);
    }

    /// Writes the aggregate as the next fleet version (on a blocking thread: it syncs
    /// files) and encodes its frame; returns the version or why it failed.
    async fn publish(&mut self, publication: Publication) -> Result<u64, String> {
        let Some(mut registry) = self.registry.take() else {
            return Err("the registry is unavailable after an earlier failure".into());
        };
        let new = NewVersion {
            parent: Some(publication.parent),
            round: Some(publication.round),
            architecture: self.architecture.clone(),
            weights: publication.weights.to_vec(),
            contributors: publication
                .contributions
                .iter()
                .map(|c| Contributor {
                    cluster_id: c.cluster_id.clone(),
                    sample_count: c.sample_count,
                    metrics: c.metrics,
                })
                .collect(),
            tags: publication.tags.clone(),
            created_at: rfc3339(SystemTime::now()).unwrap_or_default(),
            fine_tuned_for: None,
        };
        let joined = tokio::task::spawn_blocking(move || {
            let outcome = registry
                .publish(new)
                .map(|m| m.version)
                .map_err(|e| e.to_string());
            (registry, outcome)
        })
        .await;
        let (registry, outcome) = match joined {
            Ok(result) => result,
            Err(e) => return Err(format!("the publishing thread failed: {e}")),
        };
        self.registry = Some(registry);
        let version = outcome?;
        let frame = frames::global_model(
            version,
            &self.architecture,
            &publication.weights,
            &publication.tags,
        )
        .map_err(|e| format!("version {version} was written but cannot be encoded: {e}"))?;
        self.fleet_frame = FleetFrame {
            version,
            bytes: frame,
        };
        let _ = self.reports.version.send(version);
        self.observed.metrics.set_model_version(version);
        Ok(version)
    }
}

/// Sleeps until `at`, or forever when there is nothing to wait for.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
