//! The job scheduler: a state machine fed with events and the current time, emitting commands.
//!
//! It knows servers (capabilities, reported load), chunks (their swarm configuration and
//! attempts) and decides who encodes what. It never reads a clock: every entry point takes
//! `now`, a [`Duration`] since the job started, so tests run in virtual time.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{ChunkSpan, SwarmConfig, SwarmPolicy};
use bitswarm_core::{EncoderKind, Profile, RateControl};

/// Timeouts and limits of the scheduler.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchedulerConfig {
    /// Chunks a server may hold at once (one encoding, the rest with their frames queued).
    pub slots_per_server: u32,
    /// An attempt that shows no progress for this long is given up and reassigned (seconds).
    pub attempt_timeout_s: f64,
    /// A server silent (no telemetry, no data) for this long is taken as lost (seconds).
    pub server_timeout_s: f64,
    /// With unfinished work and no server online for this long, the job fails (seconds).
    pub no_server_timeout_s: f64,
    /// With servers online but none offering the job's encoder for this long, the job fails:
    /// a short grace for servers that start together to announce themselves (seconds).
    pub encoder_wait_s: f64,
    /// Attempts per chunk before the job fails.
    pub max_attempts: u32,
    /// Let redundant copies finish and compare their bytes with the winner's, instead of
    /// cancelling them as soon as one copy is complete.
    pub verify_redundant: bool,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            slots_per_server: 2,
            attempt_timeout_s: 60.0,
            server_timeout_s: 15.0,
            no_server_timeout_s: 30.0,
            encoder_wait_s: 3.0,
            max_attempts: 6,
            verify_redundant: false,
        }
    }
}

impl SchedulerConfig {
    pub fn validate(&self) -> crate::Result<()> {
        let positive = [
            ("attempt_timeout_s", self.attempt_timeout_s),
            ("server_timeout_s", self.server_timeout_s),
            ("no_server_timeout_s", self.no_server_timeout_s),
            ("encoder_wait_s", self.encoder_wait_s),
        ];
        for (name, v) in positive {
            if !(v > 0.0 && v <= 86_400.0) {
                return Err(crate::Error::Config(format!(
                    "scheduler: invalid {name} {v} (expected 0 < seconds <= 86400)"
                )));
            }
        }
        if !(1..=64).contains(&self.slots_per_server) {
            return Err(crate::Error::Config(format!(
                "scheduler: invalid slots_per_server {} (expected 1..=64)",
                self.slots_per_server
            )));
        }
        if !(1..=100).contains(&self.max_attempts) {
            return Err(crate::Error::Config(format!(
                "scheduler: invalid max_attempts {} (expected 1..=100)",
                self.max_attempts
            )));
        }
        Ok(())
    }
}

/// What a server told us about itself when it joined.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    pub encoders: Vec<EncoderKind>,
    pub cores: u32,
}

/// A server's periodic report of its load.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Load {
    /// Host CPU load, 0..=1.
    pub cpu_load: f64,
    /// Share of the server's capacity that is free, 0..=1.
    pub free: f64,
    /// Chunks queued or encoding on the server, for every job.
    pub queue_depth: u32,
}

/// What the runtime must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Enrol `server` in the job's swarm with this profile (send it before the first chunk).
    AssignProfile {
        server: String,
        profile_id: u32,
        profile: Profile,
    },
    /// Send chunk `chunk` (assignment plus its source frames) to `server` as attempt `attempt`.
    AssignChunk {
        server: String,
        chunk: u32,
        attempt: u32,
        profile_id: u32,
    },
    /// Tell `server` to stop attempt `attempt` of `chunk`.
    Cancel {
        server: String,
        chunk: u32,
        attempt: u32,
    },
}

/// Why an attempt ended without being the winner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome", content = "detail")]
pub enum AttemptOutcome {
    Running,
    /// The first complete, checksum-valid copy.
    Won,
    /// A redundant copy that finished after the winner; `identical` compares the bytes.
    Duplicate {
        identical: bool,
    },
    Cancelled,
    /// The server died, left, or went silent.
    Lost(String),
    Failed(String),
}

/// One try of one chunk on one server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    pub attempt: u32,
    /// The probe of a quality-target search this attempt encodes (0 without a target).
    pub probe: u32,
    pub server: String,
    pub assigned_ms: u64,
    pub finished_ms: Option<u64>,
    pub bytes: u64,
    #[serde(skip)]
    pub checksum: Option<u32>,
    #[serde(skip)]
    last_progress: Duration,
    #[serde(flatten)]
    pub outcome: AttemptOutcome,
}

/// A chunk and its history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkState {
    #[serde(flatten)]
    pub span: ChunkSpan,
    pub config: SwarmConfig,
    /// The rate control of the current probe (the profile's, without a quality target).
    pub rate: RateControl,
    /// The current probe of a quality-target search (0 without a target).
    pub probe: u32,
    pub profile_id: u32,
    /// Whether the chunk came finished from the journal of an earlier run.
    pub resumed: bool,
    pub attempts: Vec<Attempt>,
}

impl ChunkState {
    /// The current probe has its output.
    pub fn done(&self) -> bool {
        self.resumed || self.current().any(|a| a.outcome == AttemptOutcome::Won)
    }

    /// The attempts of the current probe.
    fn current(&self) -> impl DoubleEndedIterator<Item = &Attempt> {
        self.attempts.iter().filter(move |a| a.probe == self.probe)
    }

    fn live(&self) -> usize {
        self.current()
            .filter(|a| a.outcome == AttemptOutcome::Running)
            .count()
    }

    /// Failed or lost attempts: the chunk's retries.
    pub fn retries(&self) -> usize {
        self.attempts
            .iter()
            .filter(|a| {
                matches!(
                    a.outcome,
                    AttemptOutcome::Lost(_) | AttemptOutcome::Failed(_)
                )
            })
            .count()
    }
}

#[derive(Debug, Clone)]
struct Server {
    caps: Capabilities,
    online: bool,
    /// Leaving gracefully: finishes what it runs, takes nothing new.
    draining: bool,
    last_seen: Duration,
    load: Option<Load>,
    profiles: BTreeSet<u32>,
    /// (chunk, attempt) running on this server for this job.
    running: BTreeSet<(u32, u32)>,
}

/// Result of [`Scheduler::chunk_completed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    /// This copy is the chunk's output.
    Winner,
    /// The chunk already had a winner; this copy was compared with it.
    Duplicate { identical: bool },
    /// The copy failed its checksum; the chunk is rescheduled if needed.
    Rejected,
    /// Unknown or already-ended attempt (a late message): ignored.
    Ignored,
}

/// The swarm configuration chosen for a scene, for the report.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SceneDecision {
    pub scene: u32,
    pub first_chunk: u32,
    pub complexity: u8,
    pub free: f64,
    pub config: SwarmConfig,
}

/// The scheduler of one job.
#[derive(Debug, Clone)]
pub struct Scheduler {
    cfg: SchedulerConfig,
    policy: SwarmPolicy,
    base: Profile,
    servers: BTreeMap<String, Server>,
    chunks: BTreeMap<u32, ChunkState>,
    /// Chunks without output yet: what scheduling looks at, however long the job.
    open: BTreeSet<u32>,
    profiles: Vec<Profile>,
    decisions: Vec<SceneDecision>,
    commands: VecDeque<Command>,
    failure: Option<String>,
    idle_since: Option<Duration>,
}

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

impl Scheduler {
    /// `base` is the job's profile; the policy sets its complexity level and redundancy per scene.
    pub fn new(cfg: SchedulerConfig, policy: SwarmPolicy, base: Profile) -> Self {
        Self {
            cfg,
            policy,
            base,
            servers: BTreeMap::new(),
            chunks: BTreeMap::new(),
            open: BTreeSet::new(),
            profiles: Vec::new(),
            decisions: Vec::new(),
            commands: VecDeque::new(),
            failure: None,
            idle_since: None,
        }
    }

    /// A server announced itself (or came back).
    pub fn server_online(&mut self, now: Duration, id: &str, caps: Capabilities) {
        let server = self.servers.entry(id.to_owned()).or_insert_with(|| Server {
            caps: caps.clone(),
            online: true,
            draining: false,
            last_seen: now,
            load: None,
            profiles: BTreeSet::new(),
            running: BTreeSet::new(),
        });
        if !server.online {
            // A restarted server forgot everything it was given.
            server.profiles.clear();
        }
        server.caps = caps;
        server.online = true;
        server.draining = false;
        server.last_seen = now;
        self.schedule(now);
    }

    /// A server's telemetry.
    pub fn server_load(&mut self, now: Duration, id: &str, load: Load) {
        if let Some(s) = self.servers.get_mut(id) {
            s.load = Some(load);
            s.last_seen = now;
        }
    }

    /// A server is leaving gracefully: it finishes its running chunks and gets no new ones.
    pub fn server_draining(&mut self, now: Duration, id: &str) {
        if let Some(s) = self.servers.get_mut(id) {
            s.draining = true;
            s.last_seen = now;
        }
        self.schedule(now);
    }

    /// A server left (gracefully or through its Last Will): its running attempts are lost.
    pub fn server_offline(&mut self, now: Duration, id: &str, reason: &str) {
        let Some(server) = self.servers.get_mut(id) else {
            return;
        };
        if !server.online {
            return;
        }
        server.online = false;
        let running = std::mem::take(&mut server.running);
        for (chunk, attempt) in running {
            self.end_attempt(now, chunk, attempt, AttemptOutcome::Lost(reason.to_owned()));
        }
        self.schedule(now);
    }

    /// Free resources of the fleet for this job (0..=1): the mean over online servers of their
    /// free share plus the share this job already holds.
    pub fn free_resources(&self) -> f64 {
        let online: Vec<_> = self.servers.values().filter(|s| s.online).collect();
        if online.is_empty() {
            return 0.0;
        }
        let slots = f64::from(self.cfg.slots_per_server);
        let sum: f64 = online
            .iter()
            .map(|s| {
                let reported = s.load.map_or(1.0, |l| l.free);
                (reported + s.running.len() as f64 / slots).clamp(0.0, 1.0)
            })
            .sum();
        sum / online.len() as f64
    }

    /// Plans a chunk of content with `complexity` (1..=10, the scene's so far). The first chunk
    /// of each scene re-evaluates the policy; later chunks of the scene keep its decision.
    pub fn add_chunk(&mut self, now: Duration, span: ChunkSpan, complexity: u8) -> SwarmConfig {
        self.add_chunk_with_rate(now, span, complexity, self.base.rate)
    }

    /// As [`Scheduler::add_chunk`], encoding with `rate` instead of the profile's (the first
    /// probe of a quality-target search).
    pub fn add_chunk_with_rate(
        &mut self,
        now: Duration,
        span: ChunkSpan,
        complexity: u8,
        rate: RateControl,
    ) -> SwarmConfig {
        let config = match self.decisions.last() {
            Some(d) if d.scene == span.scene => d.config,
            _ => {
                let free = self.free_resources();
                let config = self.policy.decide(complexity, free);
                tracing::info!(
                    scene = span.scene,
                    complexity,
                    free,
                    swarm_size = config.swarm_size,
                    level = config.complexity_level,
                    redundancy = config.redundancy,
                    "swarm configuration"
                );
                self.decisions.push(SceneDecision {
                    scene: span.scene,
                    first_chunk: span.index,
                    complexity,
                    free,
                    config,
                });
                config
            }
        };
        self.insert_chunk(span, config, rate, false);
        self.schedule(now);
        config
    }

    /// Registers a chunk already finished by an earlier run (from the journal).
    pub fn add_resumed_chunk(&mut self, span: ChunkSpan, config: SwarmConfig, rate: RateControl) {
        self.insert_chunk(span, config, rate, true);
    }

    /// Quality-target search: encode `chunk` again with `rate`, as its next probe. The
    /// earlier probes' outputs stay with the caller; the chunk is open until this probe wins.
    pub fn reprobe(&mut self, now: Duration, chunk: u32, rate: RateControl) {
        let Some(config) = self
            .chunks
            .get(&chunk)
            .filter(|c| !c.resumed)
            .map(|c| c.config)
        else {
            return;
        };
        let profile_id = self.profile_for(config, rate);
        let state = self.chunks.get_mut(&chunk).expect("checked above");
        state.rate = rate;
        state.probe += 1;
        state.profile_id = profile_id;
        self.open.insert(chunk);
        self.schedule(now);
    }

    fn insert_chunk(
        &mut self,
        span: ChunkSpan,
        config: SwarmConfig,
        rate: RateControl,
        resumed: bool,
    ) {
        let profile_id = self.profile_for(config, rate);
        if !resumed {
            self.open.insert(span.index);
        }
        self.chunks.insert(
            span.index,
            ChunkState {
                span,
                config,
                rate,
                probe: 0,
                profile_id,
                resumed,
                attempts: Vec::new(),
            },
        );
    }

    fn profile_for(&mut self, config: SwarmConfig, rate: RateControl) -> u32 {
        let profile = Profile {
            complexity: config.complexity_level,
            redundancy: config.redundancy,
            rate,
            ..self.base.clone()
        };
        match self.profiles.iter().position(|p| *p == profile) {
            Some(i) => i as u32,
            None => {
                self.profiles.push(profile);
                (self.profiles.len() - 1) as u32
            }
        }
    }

    /// Encoded data arrived for an attempt: it is making progress.
    pub fn progress(&mut self, now: Duration, server: &str, chunk: u32, attempt: u32) {
        if let Some(s) = self.servers.get_mut(server) {
            s.last_seen = now;
        }
        if let Some(a) = self.attempt_mut(chunk, attempt) {
            a.last_progress = now;
        }
    }

    fn attempt_mut(&mut self, chunk: u32, attempt: u32) -> Option<&mut Attempt> {
        self.chunks
            .get_mut(&chunk)?
            .attempts
            .iter_mut()
            .find(|a| a.attempt == attempt)
    }

    /// An attempt delivered its whole chunk; `valid` says whether every checksum matched.
    pub fn chunk_completed(
        &mut self,
        now: Duration,
        chunk: u32,
        attempt: u32,
        bytes: u64,
        checksum: u32,
        valid: bool,
    ) -> Completion {
        let Some(state) = self.chunks.get(&chunk) else {
            return Completion::Ignored;
        };
        let Some(a) = state.attempts.iter().find(|a| a.attempt == attempt) else {
            return Completion::Ignored;
        };
        // Copies are compared with the winner of the same probe.
        let winner = state
            .attempts
            .iter()
            .find(|w| w.probe == a.probe && w.outcome == AttemptOutcome::Won)
            .and_then(|w| w.checksum);
        if a.outcome != AttemptOutcome::Running && a.outcome != AttemptOutcome::Cancelled {
            return Completion::Ignored;
        }
        if !valid {
            self.end_attempt(
                now,
                chunk,
                attempt,
                AttemptOutcome::Failed("checksum mismatch".into()),
            );
            self.schedule(now);
            return Completion::Rejected;
        }
        let (outcome, completion) = match winner {
            Some(w) => {
                let identical = w == checksum;
                (
                    AttemptOutcome::Duplicate { identical },
                    Completion::Duplicate { identical },
                )
            }
            None if state.resumed => (
                AttemptOutcome::Duplicate { identical: true },
                Completion::Ignored,
            ),
            None => (AttemptOutcome::Won, Completion::Winner),
        };
        if let Some(a) = self.attempt_mut(chunk, attempt) {
            a.bytes = bytes;
            a.checksum = Some(checksum);
        }
        self.end_attempt(now, chunk, attempt, outcome);
        if completion == Completion::Winner {
            self.open.remove(&chunk);
        }
        if completion == Completion::Winner && !self.cfg.verify_redundant {
            let others: Vec<_> = self.chunks[&chunk]
                .attempts
                .iter()
                .filter(|a| a.outcome == AttemptOutcome::Running)
                .map(|a| (a.server.clone(), a.attempt))
                .collect();
            for (server, other) in others {
                self.commands.push_back(Command::Cancel {
                    server,
                    chunk,
                    attempt: other,
                });
                self.end_attempt(now, chunk, other, AttemptOutcome::Cancelled);
            }
        }
        self.schedule(now);
        completion
    }

    /// A server reported that an attempt failed.
    pub fn attempt_failed(&mut self, now: Duration, chunk: u32, attempt: u32, error: &str) {
        self.end_attempt(
            now,
            chunk,
            attempt,
            AttemptOutcome::Failed(error.to_owned()),
        );
        self.schedule(now);
    }

    fn end_attempt(&mut self, now: Duration, chunk: u32, attempt: u32, outcome: AttemptOutcome) {
        let Some(a) = self.attempt_mut(chunk, attempt) else {
            return;
        };
        if a.outcome != AttemptOutcome::Running {
            // A cancelled copy that still completes is compared, nothing else changes state.
            if !(a.outcome == AttemptOutcome::Cancelled
                && matches!(outcome, AttemptOutcome::Duplicate { .. }))
            {
                return;
            }
        }
        a.outcome = outcome;
        a.finished_ms = Some(ms(now));
        let server = a.server.clone();
        if let Some(s) = self.servers.get_mut(&server) {
            s.running.remove(&(chunk, attempt));
        }
    }

    /// Time passes: timeouts fire, and work is (re)assigned.
    pub fn tick(&mut self, now: Duration) {
        let server_timeout = Duration::from_secs_f64(self.cfg.server_timeout_s);
        let silent: Vec<_> = self
            .servers
            .iter()
            .filter(|(_, s)| s.online && now.saturating_sub(s.last_seen) > server_timeout)
            .map(|(id, _)| id.clone())
            .collect();
        for id in silent {
            tracing::warn!(server = %id, "server silent, taking it as lost");
            self.server_offline(now, &id, "silent");
        }
        let attempt_timeout = Duration::from_secs_f64(self.cfg.attempt_timeout_s);
        let stalled: Vec<_> = self
            .servers
            .iter()
            .flat_map(|(id, s)| {
                s.running
                    .iter()
                    .map(move |&(chunk, attempt)| (chunk, attempt, id))
            })
            .filter(|&(chunk, attempt, _)| {
                self.chunks[&chunk].attempts.iter().any(|a| {
                    a.attempt == attempt && now.saturating_sub(a.last_progress) > attempt_timeout
                })
            })
            .map(|(chunk, attempt, id)| (chunk, attempt, id.clone()))
            .collect();
        for (chunk, attempt, server) in stalled {
            tracing::warn!(chunk, attempt, server = %server, "attempt stalled, reassigning");
            self.commands.push_back(Command::Cancel {
                server,
                chunk,
                attempt,
            });
            self.end_attempt(
                now,
                chunk,
                attempt,
                AttemptOutcome::Lost("no progress".into()),
            );
        }
        self.schedule(now);
    }

    fn online_capable(&self) -> impl Iterator<Item = (&String, &Server)> {
        let encoder = self.base.encoder;
        self.servers
            .iter()
            .filter(move |(_, s)| s.online && s.caps.encoders.contains(&encoder))
    }

    fn schedule(&mut self, now: Duration) {
        if self.failure.is_some() {
            return;
        }
        let unfinished = !self.open.is_empty();
        if unfinished && self.online_capable().next().is_none() {
            let since = *self.idle_since.get_or_insert(now);
            let online: Vec<&Server> = self.servers.values().filter(|s| s.online).collect();
            let limit = Duration::from_secs_f64(if online.is_empty() {
                self.cfg.no_server_timeout_s
            } else {
                self.cfg.encoder_wait_s.min(self.cfg.no_server_timeout_s)
            });
            if now.saturating_sub(since) >= limit {
                self.failure = Some(if !online.is_empty() {
                    let offered: BTreeSet<&str> = online
                        .iter()
                        .flat_map(|s| s.caps.encoders.iter().map(|e| e.name()))
                        .collect();
                    format!(
                        "no server offers encoder {} (the {} server(s) online offer: {}); \
                         run `bitswarm encoders` on a server to see why, or choose another encoder",
                        self.base.encoder,
                        online.len(),
                        offered.into_iter().collect::<Vec<_>>().join(", ")
                    )
                } else {
                    format!(
                        "no encoding server left: the job waited {:.0} s for one (finished chunks are in the journal; run again with --resume)",
                        limit.as_secs_f64()
                    )
                });
            }
            return;
        }
        self.idle_since = None;
        let slots = self.cfg.slots_per_server as usize;
        let mut free_slots: usize = self
            .online_capable()
            .filter(|(_, s)| !s.draining)
            .map(|(_, s)| slots.saturating_sub(s.running.len()))
            .sum();
        // A chunk with no copy running that finds no server tells the same for every other
        // such chunk of its configuration: don't ask again in this pass.
        let mut unplaceable: Vec<SwarmConfig> = Vec::new();
        let pending: Vec<u32> = self.open.iter().copied().collect();
        for chunk in pending {
            loop {
                if free_slots == 0 {
                    return;
                }
                let state = &self.chunks[&chunk];
                if state.done() {
                    break;
                }
                // A copy per redundancy level, all on distinct servers; a lost copy is only
                // replaced when no other copy is still running.
                let copies = usize::from(state.config.redundancy) + 1;
                let tried = state.current().count();
                let wanted = if tried < copies { copies } else { 1 };
                if state.live() >= wanted {
                    break;
                }
                if tried >= self.cfg.max_attempts as usize {
                    if state.live() == 0 {
                        let last = state
                            .current()
                            .rev()
                            .find_map(|a| match &a.outcome {
                                AttemptOutcome::Failed(e) | AttemptOutcome::Lost(e) => {
                                    Some(e.clone())
                                }
                                _ => None,
                            })
                            .unwrap_or_default();
                        self.failure =
                            Some(format!("chunk {chunk} failed {tried} times (last: {last})"));
                    }
                    return;
                }
                let fresh = state.live() == 0;
                if fresh && unplaceable.contains(&state.config) {
                    break;
                }
                let Some(server) = self.pick_server(chunk) else {
                    if fresh {
                        unplaceable.push(self.chunks[&chunk].config);
                    }
                    break;
                };
                self.assign(now, chunk, &server);
                free_slots -= 1;
            }
        }
    }

    /// The least loaded server that may take `chunk`, if any.
    fn pick_server(&self, chunk: u32) -> Option<String> {
        let state = &self.chunks[&chunk];
        let holders: BTreeSet<&str> = state
            .current()
            .filter(|a| a.outcome == AttemptOutcome::Running)
            .map(|a| a.server.as_str())
            .collect();
        let width = state
            .config
            .swarm_size
            .max(u32::from(state.config.redundancy) + 1) as usize;
        let busy_for_job = self
            .servers
            .values()
            .filter(|s| !s.running.is_empty())
            .count();
        self.online_capable()
            .filter(|(id, s)| {
                !s.draining
                    && !holders.contains(id.as_str())
                    && (s.running.len() as u32) < self.cfg.slots_per_server
                    && (!s.running.is_empty() || busy_for_job < width)
            })
            .min_by(|(a_id, a), (b_id, b)| {
                Self::load_key(a)
                    .partial_cmp(&Self::load_key(b))
                    .unwrap_or(std::cmp::Ordering::Equal)
                    .then_with(|| a_id.cmp(b_id))
            })
            .map(|(id, _)| id.clone())
    }

    /// Smaller is less loaded: chunks we gave it (or its reported queue, if larger), then its
    /// reported CPU load.
    fn load_key(s: &Server) -> (u32, f64) {
        let reported = s.load.map_or(0, |l| l.queue_depth);
        let queue = (s.running.len() as u32).max(reported);
        (queue, s.load.map_or(0.0, |l| l.cpu_load))
    }

    fn assign(&mut self, now: Duration, chunk: u32, server_id: &str) {
        let state = self.chunks.get_mut(&chunk).expect("pending chunk exists");
        let attempt = state.attempts.len() as u32;
        let profile_id = state.profile_id;
        state.attempts.push(Attempt {
            attempt,
            probe: state.probe,
            server: server_id.to_owned(),
            assigned_ms: ms(now),
            finished_ms: None,
            bytes: 0,
            checksum: None,
            last_progress: now,
            outcome: AttemptOutcome::Running,
        });
        let server = self
            .servers
            .get_mut(server_id)
            .expect("picked server exists");
        server.running.insert((chunk, attempt));
        if server.profiles.insert(profile_id) {
            self.commands.push_back(Command::AssignProfile {
                server: server_id.to_owned(),
                profile_id,
                profile: self.profiles[profile_id as usize].clone(),
            });
        }
        self.commands.push_back(Command::AssignChunk {
            server: server_id.to_owned(),
            chunk,
            attempt,
            profile_id,
        });
    }

    /// The next command for the runtime.
    pub fn poll_command(&mut self) -> Option<Command> {
        self.commands.pop_front()
    }

    /// Why the job failed, if it did.
    pub fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    /// Chunks planned so far that have no output yet.
    pub fn unfinished(&self) -> usize {
        self.open.len()
    }

    pub fn chunk(&self, index: u32) -> Option<&ChunkState> {
        self.chunks.get(&index)
    }

    pub fn chunks(&self) -> impl Iterator<Item = &ChunkState> {
        self.chunks.values()
    }

    pub fn decisions(&self) -> &[SceneDecision] {
        &self.decisions
    }

    pub fn profile(&self, id: u32) -> Option<&Profile> {
        self.profiles.get(id as usize)
    }

    /// Servers currently working on this job.
    pub fn busy_servers(&self) -> usize {
        self.servers
            .values()
            .filter(|s| !s.running.is_empty())
            .count()
    }

    /// Servers online.
    pub fn online_servers(&self) -> usize {
        self.servers.values().filter(|s| s.online).count()
    }

    /// Every server seen, in id order, for the report.
    pub fn server_ids(&self) -> impl Iterator<Item = &String> {
        self.servers.keys()
    }
}
