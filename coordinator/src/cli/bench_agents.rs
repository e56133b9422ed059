//! `coordinator bench-agents`: the benchmark's agents, in a process of their own so they
//! do not count toward the coordinator's memory. Each agent has its own certificate,
//! socket and connection, says hello, and answers every offer at once with a delta (in
//! the precision the benchmark was asked for). To
//! leave the machine's CPU to the coordinator being measured, the agents share one
//! encoded update per round and read global models to their end without decoding them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::Args;
use common::proto::{
    DEFAULT_MAX_FRAME_BYTES, Hello, LocalMetrics, Message, ModelPayload, RoundOffer, Update,
    decode, encode,
};
use common::transport::{Credentials, Dialer, FleetCa, TransportSettings, request};

use super::bench::{SERVER_NAME, UpdatePrecision, architecture, cluster_name};

/// Options of `coordinator bench-agents`.
#[derive(Debug, Args)]
pub(crate) struct BenchAgentsArgs {
    /// The coordinator's address.
    #[arg(long)]
    addr: SocketAddr,
    /// How many agents (`bench-0` …).
    #[arg(long)]
    agents: usize,
    /// The model's parameter count.
    #[arg(long)]
    params: u32,
    /// Directory with `ca.pem` and each agent's `bench-N.pem` / `bench-N-key.pem`.
    #[arg(long)]
    certs: PathBuf,
    /// How the deltas travel.
    #[arg(long, value_enum)]
    update_precision: UpdatePrecision,
}

/// The update of the round being answered, encoded once for every agent.
type SharedUpdate = Arc<Mutex<Option<(u64, u64, Bytes)>>>;

pub(crate) fn run(args: &BenchAgentsArgs) -> anyhow::Result<()> {
    let ca = FleetCa::from_pem_file(&args.certs.join("ca.pem"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let shared: SharedUpdate = Arc::new(Mutex::new(None));
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..args.agents {
            let name = cluster_name(i);
            let identity = Credentials::from_pem_files(
                &args.certs.join(format!("{name}.pem")),
                &args.certs.join(format!("{name}-key.pem")),
            )?;
            let dialer = Dialer::bind(
                SocketAddr::from(([127, 0, 0, 1], 0)),
                &ca,
                &identity,
                SERVER_NAME,
                TransportSettings::default(),
            )?;
            tasks.spawn(agent(
                dialer,
                args.addr,
                name,
                (args.params, args.update_precision),
                shared.clone(),
            ));
        }
        while let Some(result) = tasks.join_next().await {
            if let Err(e) = result.context("an agent task failed")? {
                tracing::error!("agent failed: {e:#}");
            }
        }
        Ok(())
    })
}

async fn agent(
    dialer: Dialer,
    addr: SocketAddr,
    cluster_id: String,
    (params, precision): (u32, UpdatePrecision),
    shared: SharedUpdate,
) -> anyhow::Result<()> {
    let connection = dialer.connect(addr).await?;
    let hello = Message::Hello(Hello {
        cluster_id: cluster_id.clone(),
        agent_version: env!("CARGO_PKG_VERSION").to_owned(),
        architecture: architecture(params),
        workload_tags: Vec::new(),
    });
    match request(&connection, &hello, DEFAULT_MAX_FRAME_BYTES).await? {
        Message::GlobalModel(_) => {}
        other => bail!(
            "{cluster_id}: the hello was answered with a {}",
            other.kind()
        ),
    }
    loop {
        match receive(&connection).await {
            Ok(None) => {}
            Ok(Some(Message::RoundOffer(offer))) => {
                let frame = update_frame(&shared, &offer, params, precision)?;
                let mut send = connection.open_uni().await?;
                send.write_chunk(frame).await?;
                send.finish()?;
            }
            Ok(Some(Message::Error(e))) => {
                tracing::warn!(cluster = %cluster_id, "refused: {}", e.message);
            }
            Ok(Some(_)) => {}
            // The coordinator closed the connection: the benchmark is over.
            Err(_) if connection.close_reason().is_some() => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

/// Frames above this size can only be global models, which these agents do not load.
const SMALL_FRAME: usize = 64 * 1024;

/// The next message from the coordinator; `None` for a global model, which is read to
/// its end but not decoded: a real agent would load it, these only answer, so the
/// machine's CPU goes to the coordinator being measured.
async fn receive(connection: &quinn::Connection) -> anyhow::Result<Option<Message>> {
    let mut recv = connection.accept_uni().await?;
    let frame = recv.read_to_end(DEFAULT_MAX_FRAME_BYTES + 4).await?;
    if frame.len() > SMALL_FRAME {
        return Ok(None);
    }
    Ok(Some(decode(&frame, DEFAULT_MAX_FRAME_BYTES)?))
}

/// The encoded answer to `offer`: a small delta on every parameter from one sample.
fn update_frame(
    shared: &SharedUpdate,
    offer: &RoundOffer,
    params: u32,
    precision: UpdatePrecision,
) -> anyhow::Result<Bytes> {
    let mut cached = shared
        .lock()
        .map_err(|_| anyhow::anyhow!("another agent panicked while encoding"))?;
    if let Some((round, base, frame)) = cached.as_ref()
        && (*round, *base) == (offer.round, offer.base_version)
    {
        return Ok(frame.clone());
    }
    let frame = Bytes::from(encode(&Message::Update(Update {
        round: offer.round,
        base_version: offer.base_version,
        sample_count: 1,
        payload: match precision {
            UpdatePrecision::F16 => ModelPayload::compact_delta(vec![1e-3; params as usize]),
            UpdatePrecision::F32 => ModelPayload::Delta(vec![1e-3; params as usize]),
        },
        metrics: LocalMetrics {
            mean_reward: 0.0,
            episodes: 0,
            slo_compliance: 1.0,
            cost: 0.0,
        },
    }))?);
    *cached = Some((offer.round, offer.base_version, frame.clone()));
    Ok(frame)
}
