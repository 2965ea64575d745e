//! One streaming session: a [`Simulator`] plus what a player knows (its capability limits, the
//! download history, the QoE it is scored by). A policy sees an [`AbrState`] before each chunk
//! and answers with a [`Choice`]; the session downloads it and scores it.

use serde::{Deserialize, Serialize};

use crate::client::ClientCaps;
use crate::ladder::Ladder;
use crate::network::NetworkVector;
use crate::policy::{AbrPolicy, Choice, DEFAULT_STARTUP_RUNG};
use crate::qoe::{ChunkQoe, QoeConfig};
use crate::rng::Rng;
use crate::sim::{Download, SimConfig, Simulator};
use crate::trace::Trace;
use crate::{Error, Result};

/// Settings of a session; the default reproduces Pensieve's test runs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    pub sim: SimConfig,
    pub qoe: QoeConfig,
    /// Chunks per session; `None` plays the ladder's playable segments
    /// ([`Ladder::playable_segments`]).
    pub chunks: Option<usize>,
    /// The first chunk is fetched before any policy decides, at this index among the client's
    /// allowed rungs (clamped to the highest); `None`: the policy's
    /// [`AbrPolicy::startup_rung`] ([`DEFAULT_STARTUP_RUNG`] in [`Session::new`]).
    pub first_rung: Option<usize>,
    /// Seed of the random start, noise and random policies.
    pub seed: u64,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            sim: SimConfig::default(),
            qoe: QoeConfig::default(),
            chunks: None,
            first_rung: None,
            seed: 42,
        }
    }
}

impl SessionConfig {
    /// The number of chunks a session of `ladder` plays.
    pub fn chunks_for(&self, ladder: &Ladder) -> usize {
        self.chunks.unwrap_or(ladder.playable_segments())
    }
}

/// What a policy sees before choosing the next chunk (at least one chunk has been downloaded).
#[derive(Debug, Clone, Copy)]
pub struct AbrState<'a> {
    pub ladder: &'a Ladder,
    pub client: &'a ClientCaps,
    pub qoe: &'a QoeConfig,
    /// Rungs the client can decode, by ascending bitrate (never empty).
    pub allowed: &'a [usize],
    /// Every download so far, oldest first (never empty).
    pub history: &'a [Download],
    /// Index of the chunk to choose.
    pub next_chunk: usize,
    /// Chunks in the session.
    pub chunks: usize,
    pub buffer_s: f64,
    /// Rung of the previous chunk.
    pub last_rung: usize,
    /// Measured network conditions.
    pub network: NetworkVector,
}

impl AbrState<'_> {
    /// Chunks still to download, this one included.
    pub fn chunks_left(&self) -> usize {
        self.chunks - self.next_chunk
    }

    /// Bytes of chunk `next_chunk + ahead` at `rung`, when the ladder has that segment.
    pub fn bytes_ahead(&self, ahead: usize, rung: usize) -> Option<u64> {
        let segment = self.next_chunk + ahead;
        (segment < self.ladder.segment_count()).then(|| self.ladder.bytes(segment, rung))
    }

    /// QoE quality term of chunk `next_chunk + ahead` at `rung` (the last segment's when past
    /// the end).
    pub fn quality_ahead(&self, ahead: usize, rung: usize) -> f64 {
        let segment = (self.next_chunk + ahead).min(self.ladder.segment_count() - 1);
        self.qoe.quality(self.ladder, segment, rung)
    }

    /// Throughputs of the last `n` downloads (fewer at the start), oldest first, Mbit/s.
    pub fn recent_throughputs(&self, n: usize) -> impl Iterator<Item = f64> + '_ {
        let start = self.history.len().saturating_sub(n);
        self.history[start..].iter().map(|d| d.throughput_mbps)
    }
}

/// One chunk of a finished session.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ChunkRecord {
    pub download: Download,
    pub qoe: ChunkQoe,
}

/// A finished session and its scores (over the scored chunks, see [`QoeConfig::score_from`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionResult {
    pub trace: String,
    pub policy: String,
    pub chunks: Vec<ChunkRecord>,
    /// Sum of the scored chunks' QoE.
    pub qoe: f64,
    /// Mean nominal bitrate of the scored chunks, kbit/s.
    pub bitrate_kbps: f64,
    /// Stall time of the scored chunks, seconds.
    pub rebuffer_s: f64,
    /// Scored chunks whose rung differs from the previous chunk's.
    pub switches: usize,
    /// Download time of the first chunk (startup delay), seconds.
    pub startup_s: f64,
}

/// A session in progress.
#[derive(Debug, Clone)]
pub struct Session<'a> {
    sim: Simulator<'a>,
    client: &'a ClientCaps,
    qoe: QoeConfig,
    allowed: Vec<usize>,
    downloads: Vec<Download>,
    scores: Vec<ChunkQoe>,
    last_quality: f64,
}

/// A step of a session.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    pub download: Download,
    pub qoe: ChunkQoe,
    /// Whether this chunk counts towards the session's score.
    pub scored: bool,
    /// Whether the session has ended.
    pub done: bool,
}

impl<'a> Session<'a> {
    /// Starts a session and downloads its first chunk at the configured first rung.
    pub fn new(
        trace: &'a Trace,
        ladder: &'a Ladder,
        client: &'a ClientCaps,
        cfg: &SessionConfig,
        rng: Rng,
    ) -> Result<Self> {
        client.validate()?;
        cfg.qoe.validate(ladder)?;
        let allowed = client.allowed_rungs(ladder);
        let Some(&highest) = allowed.last() else {
            let codecs: Vec<_> = client.decoders.iter().map(|c| c.name()).collect();
            return Err(Error::Config {
                field: "client",
                value: format!(
                    "{} up to {}x{}",
                    codecs.join("/"),
                    client.max_width,
                    client.max_height
                ),
                expected: format!(
                    "a client that can decode at least one rung of ladder {}",
                    ladder.name()
                ),
            });
        };
        let sim = Simulator::new(trace, ladder, cfg.sim, cfg.chunks_for(ladder), rng)?;
        let first = allowed
            .get(cfg.first_rung.unwrap_or(DEFAULT_STARTUP_RUNG))
            .copied()
            .unwrap_or(highest);
        let mut session = Session {
            sim,
            client,
            qoe: cfg.qoe,
            allowed,
            downloads: Vec::new(),
            scores: Vec::new(),
            last_quality: cfg.qoe.quality(ladder, 0, first),
        };
        session.step(Choice::select(first))?;
        Ok(session)
    }

    /// Why `rung` may not be sent to this client, if it may not.
    fn refusal(&self, rung: usize) -> Option<String> {
        let ladder = self.sim.ladder();
        match ladder.rungs().get(rung) {
            None => Some(format!(
                "rung {rung}, but ladder {} has {} rungs",
                ladder.name(),
                ladder.rung_count()
            )),
            Some(r) if !self.allowed.contains(&rung) => {
                Some(format!(
                "rung {rung} ({} {}x{}), which the client cannot decode (decoders {:?}, max {}x{})",
                r.codec.name(),
                r.width,
                r.height,
                self.client.decoders.iter().map(|c| c.name()).collect::<Vec<_>>(),
                self.client.max_width,
                self.client.max_height
            ))
            }
            Some(_) => None,
        }
    }

    /// The state a policy decides the next chunk from.
    pub fn state(&self) -> AbrState<'_> {
        AbrState {
            ladder: self.sim.ladder(),
            client: self.client,
            qoe: &self.qoe,
            allowed: &self.allowed,
            history: &self.downloads,
            next_chunk: self.sim.next_chunk(),
            chunks: self.sim.chunks(),
            buffer_s: self.sim.buffer_s(),
            last_rung: self.downloads.last().map_or(self.allowed[0], |d| d.rung),
            network: NetworkVector::measure(&self.downloads).unwrap_or(NetworkVector {
                bandwidth_mbps: 0.0,
                rtt_ms: 0.0,
                loss: 0.0,
            }),
        }
    }

    /// Downloads the next chunk as chosen and scores it.
    pub fn step(&mut self, choice: Choice) -> Result<Step> {
        if let Some(why) = self.refusal(choice.rung) {
            return Err(Error::Choice {
                policy: "the caller".into(),
                msg: why,
            });
        }
        let download = self.sim.download(choice.rung)?;
        let quality = self
            .qoe
            .quality(self.sim.ladder(), download.chunk, choice.rung);
        let qoe = self.qoe.chunk(
            quality,
            self.last_quality,
            download.rebuffer_s,
            choice.blend_cost,
        );
        self.last_quality = quality;
        self.downloads.push(download);
        self.scores.push(qoe);
        Ok(Step {
            download,
            qoe,
            scored: download.chunk >= self.qoe.score_from,
            done: self.sim.is_done(),
        })
    }

    pub fn is_done(&self) -> bool {
        self.sim.is_done()
    }

    /// The session's simulator: clone it to look into the future (a clairvoyant expert for
    /// imitation learning does; a policy never sees it).
    pub fn simulator(&self) -> &Simulator<'a> {
        &self.sim
    }

    /// Scores of the session so far.
    pub fn result(&self, policy: &str) -> SessionResult {
        let from = self.qoe.score_from.min(self.downloads.len());
        let scored = &self.downloads[from..];
        let ladder = self.sim.ladder();
        let switches = (from.max(1)..self.downloads.len())
            .filter(|&i| self.downloads[i].rung != self.downloads[i - 1].rung)
            .count();
        SessionResult {
            trace: self.sim.trace().name().to_owned(),
            policy: policy.to_owned(),
            chunks: self
                .downloads
                .iter()
                .zip(&self.scores)
                .map(|(&download, &qoe)| ChunkRecord { download, qoe })
                .collect(),
            qoe: self.scores[from..].iter().map(|q| q.total).sum(),
            bitrate_kbps: if scored.is_empty() {
                0.0
            } else {
                scored
                    .iter()
                    .map(|d| ladder.rungs()[d.rung].bitrate_kbps)
                    .sum::<f64>()
                    / scored.len() as f64
            },
            rebuffer_s: scored.iter().map(|d| d.rebuffer_s).sum(),
            switches,
            startup_s: self.downloads.first().map_or(0.0, |d| d.download_s),
        }
    }
}

/// Plays `trace` to the end with `policy` (reset first) and returns the scored session.
pub fn run_session(
    policy: &mut dyn AbrPolicy,
    trace: &Trace,
    ladder: &Ladder,
    client: &ClientCaps,
    cfg: &SessionConfig,
    rng: Rng,
) -> Result<SessionResult> {
    policy.check_ladder(ladder)?;
    policy.reset();
    let cfg = SessionConfig {
        first_rung: Some(cfg.first_rung.unwrap_or(policy.startup_rung())),
        ..*cfg
    };
    let mut session = Session::new(trace, ladder, client, &cfg, rng)?;
    while !session.is_done() {
        let choice = policy.choose(&session.state());
        if let Some(msg) = session.refusal(choice.rung) {
            return Err(Error::Choice {
                policy: policy.name().to_owned(),
                msg,
            });
        }
        session.step(choice)?;
    }
    Ok(session.result(policy.name()))
}
