//! Two electors against one simulated API server, in virtual time: every call is
//! applied after a random delay and answered after another, some are lost on the way
//! there or back, some land after the client gave up on them, and one elector stops
//! (killed, or shutting down with a release) part-way. Whatever the interleaving, the
//! spans in which each of them believed itself leader never overlap.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::elector::{ElectionConfig, Elector, LeaseRecord, LeaseWrite, WriteOutcome};

const TIMEOUT_MS: u64 = 5_000;
const RUN_MS: u64 = 120_000;

/// One call's fate: delay until the server applies it, delay of the answer, and whether
/// the request (0) or the answer (1) is lost.
type Fate = (u64, u64, u8);

#[derive(Debug, Clone)]
enum Event {
    Round(usize),
    ApplyRead(usize, Fate, u64),
    ApplyWrite(usize, LeaseWrite, Fate, u64),
    ReadAnswer(usize, Option<Option<LeaseRecord>>),
    WriteAnswer(usize, u64, WriteOutcome),
    Stop(usize, bool),
}

#[derive(Debug, Default)]
struct Server {
    lease: Option<LeaseRecord>,
    revision: u32,
}

impl Server {
    fn apply(&mut self, write: &LeaseWrite) -> WriteOutcome {
        let (spec, precondition) = match write {
            LeaseWrite::Create(spec) => {
                if self.lease.is_some() {
                    return WriteOutcome::Conflict;
                }
                (spec, None)
            }
            LeaseWrite::Update {
                spec,
                resource_version,
            } => (spec, Some(resource_version)),
        };
        if let Some(rv) = precondition {
            match &self.lease {
                Some(l) if &l.resource_version == rv => {}
                Some(_) => return WriteOutcome::Conflict,
                None => return WriteOutcome::Failed,
            }
        }
        self.revision += 1;
        let record = LeaseRecord {
            holder: spec.holder.clone(),
            lease_duration_s: Some(spec.lease_duration_s),
            transitions: spec.transitions,
            resource_version: self.revision.to_string(),
        };
        self.lease = Some(record.clone());
        WriteOutcome::Written(record)
    }
}

struct Agent {
    elector: Elector,
    alive: bool,
    round_started: u64,
    /// Spans `[from, to)` in which it believed itself leader.
    spans: Vec<(u64, u64)>,
}

struct Sim {
    base: Instant,
    now: u64,
    queue: BinaryHeap<Reverse<(u64, u64)>>,
    events: Vec<Event>,
    fates: Vec<Fate>,
    next_fate: usize,
    server: Server,
    agents: Vec<Agent>,
    retry_ms: u64,
}

impl Sim {
    fn at(&self, ms: u64) -> Instant {
        self.base + Duration::from_millis(ms)
    }

    fn schedule(&mut self, at: u64, event: Event) {
        self.events.push(event);
        self.queue
            .push(Reverse((at, u64::try_from(self.events.len() - 1).unwrap())));
    }

    fn fate(&mut self) -> Fate {
        let f = self.fates[self.next_fate % self.fates.len()];
        self.next_fate += 1;
        f
    }

    /// Notes the agent's leadership after its elector changed at `self.now`.
    fn note(&mut self, i: usize) {
        let now = self.now;
        let a = &mut self.agents[i];
        if let Some(last) = a.spans.last_mut()
            && last.1 > now
        {
            last.1 = now;
        }
        if a.alive
            && let Some(deadline) = a.elector.acting_deadline()
        {
            let end = u64::try_from(deadline.duration_since(self.base).as_millis()).unwrap();
            if end > now {
                a.spans.push((now, end));
            }
        }
    }

    fn send_read(&mut self, i: usize) {
        let fate = self.fate();
        let sent = self.now;
        if fate.2 == 0 {
            self.schedule(sent + TIMEOUT_MS, Event::ReadAnswer(i, None));
        } else {
            self.schedule(sent + fate.0, Event::ApplyRead(i, fate, sent));
        }
    }

    fn send_write(&mut self, i: usize, write: LeaseWrite) {
        let fate = self.fate();
        let sent = self.now;
        if fate.2 == 0 {
            self.schedule(
                sent + TIMEOUT_MS,
                Event::WriteAnswer(i, sent, WriteOutcome::Failed),
            );
        } else {
            self.schedule(sent + fate.0, Event::ApplyWrite(i, write, fate, sent));
        }
    }

    fn end_round(&mut self, i: usize) {
        let next = (self.agents[i].round_started + self.retry_ms).max(self.now);
        self.schedule(next, Event::Round(i));
    }

    fn run(&mut self) {
        while let Some(Reverse((at, index))) = self.queue.pop() {
            if at > RUN_MS {
                break;
            }
            self.now = at;
            let event = self.events[usize::try_from(index).unwrap()].clone();
            self.handle(event);
        }
    }

    fn handle(&mut self, event: Event) {
        let now = self.now;
        match event {
            Event::Round(i) => {
                if !self.agents[i].alive {
                    return;
                }
                self.agents[i].round_started = now;
                match self.agents[i].elector.renewal(self.at(now)) {
                    Some(write) => self.send_write(i, write),
                    None => self.send_read(i),
                }
            }
            Event::ApplyRead(i, fate, sent) => {
                let snapshot = self.server.lease.clone();
                let answered = now + fate.1;
                if fate.2 == 1 || answered > sent + TIMEOUT_MS {
                    self.schedule(sent + TIMEOUT_MS, Event::ReadAnswer(i, None));
                } else {
                    self.schedule(answered, Event::ReadAnswer(i, Some(snapshot)));
                }
            }
            Event::ApplyWrite(i, write, fate, sent) => {
                let outcome = self.server.apply(&write);
                let answered = now + fate.1;
                let outcome = if fate.2 == 1 || answered > sent + TIMEOUT_MS {
                    (sent + TIMEOUT_MS, WriteOutcome::Failed)
                } else {
                    (answered, outcome)
                };
                self.schedule(outcome.0, Event::WriteAnswer(i, sent, outcome.1));
            }
            Event::ReadAnswer(i, read) => {
                if !self.agents[i].alive {
                    return;
                }
                let Some(read) = read else {
                    self.end_round(i);
                    return;
                };
                let instant = self.at(now);
                let write = self.agents[i].elector.observe(instant, read);
                self.note(i);
                match write {
                    Some(write) => self.send_write(i, write),
                    None => self.end_round(i),
                }
            }
            Event::WriteAnswer(i, sent, outcome) => {
                if !self.agents[i].alive {
                    return;
                }
                let (sent, instant) = (self.at(sent), self.at(now));
                self.agents[i].elector.written(sent, instant, outcome);
                self.note(i);
                self.end_round(i);
            }
            Event::Stop(i, release) => {
                let write = release.then(|| self.agents[i].elector.release()).flatten();
                self.agents[i].alive = false;
                self.note(i);
                if let Some(write) = write {
                    // Sent on the way out; its answer is never read.
                    self.send_write(i, write);
                }
            }
        }
    }
}

fn config(identity: &str) -> ElectionConfig {
    ElectionConfig {
        identity: identity.to_owned(),
        lease_duration: Duration::from_secs(15),
        renew_deadline: Duration::from_secs(10),
        retry_period: Duration::from_secs(2),
    }
}

/// Runs two electors; the first starts at 0, the second at `second_starts_ms`; the first
/// stops at `stop` (`ms`, with a release or killed) if given.
fn simulate(fates: Vec<Fate>, second_starts_ms: u64, stop: Option<(u64, bool)>) -> Vec<Agent> {
    let mut sim = Sim {
        base: Instant::now(),
        now: 0,
        queue: BinaryHeap::new(),
        events: Vec::new(),
        fates,
        next_fate: 0,
        server: Server::default(),
        agents: ["a", "b"]
            .iter()
            .map(|id| Agent {
                elector: Elector::new(config(id)),
                alive: true,
                round_started: 0,
                spans: Vec::new(),
            })
            .collect(),
        retry_ms: 2_000,
    };
    sim.schedule(0, Event::Round(0));
    sim.schedule(second_starts_ms, Event::Round(1));
    if let Some((at, release)) = stop {
        sim.schedule(at, Event::Stop(0, release));
    }
    sim.run();
    sim.agents
}

fn overlap(a: &[(u64, u64)], b: &[(u64, u64)]) -> Option<((u64, u64), (u64, u64))> {
    a.iter()
        .flat_map(|x| b.iter().map(move |y| (*x, *y)))
        .find(|(x, y)| x.0 < y.1 && y.0 < x.1)
}

fn fate() -> impl Strategy<Value = Fate> {
    (0u64..8_000, 0u64..3_000, 0u8..6)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn two_electors_never_lead_at_the_same_time(
        fates in prop::collection::vec(fate(), 1..300),
        second_starts_ms in 0u64..20_000,
        stop in prop::option::of((0u64..100_000, any::<bool>())),
    ) {
        let agents = simulate(fates, second_starts_ms, stop);
        let clash = overlap(&agents[0].spans, &agents[1].spans);
        prop_assert!(clash.is_none(), "a led {:?} while b led {:?}", clash.map(|c| c.0), clash.map(|c| c.1));
    }
}

#[test]
fn with_a_quick_network_one_leads_and_the_other_takes_over_after_a_kill_or_a_release() {
    let quick = vec![(5, 5, 5)];
    let agents = simulate(quick.clone(), 1_000, None);
    assert_eq!(
        agents[0].spans.first().map(|s| s.0),
        Some(20),
        "a creates at once"
    );
    assert!(agents[1].spans.is_empty(), "b never leads while a renews");

    // Killed at 30 s: a's last renewal was sent at 30 s minus at most one retry period; b
    // last saw it change a few ms later and takes over one lease duration after that.
    let killed = simulate(quick.clone(), 1_000, Some((30_000, false)));
    let took_over = killed[1].spans.first().expect("b takes over").0;
    assert!(
        (43_000..=47_100).contains(&took_over),
        "b led from {took_over} ms"
    );

    // Released at 30 s: b takes over at its next read.
    let released = simulate(quick, 1_000, Some((30_000, true)));
    let took_over = released[1].spans.first().expect("b takes over").0;
    assert!(
        (30_000..=32_100).contains(&took_over),
        "b led from {took_over} ms"
    );
}
