//! Many independent training environments stepped together: each plays episodes on traces
//! drawn at random (Pensieve's training set-up: random trace, random start, download-time
//! noise), optionally with a random latency/loss link and a random client, and restarts when
//! an episode ends. Every environment has its own random stream of the pool's seed, so a run
//! is reproducible whatever the number of threads.

use crate::client::ClientCaps;
use crate::ladder::Ladder;
use crate::network::LinkModel;
use crate::policy::Choice;
use crate::rng::Rng;
use crate::session::{AbrState, Session, SessionConfig, Step};
use crate::sim::SimConfig;
use crate::trace::Trace;
use crate::{Error, Result};

/// Episodes on a random link instead of the configured one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkVariation {
    /// Share of episodes with a random link, 0..=1.
    pub share: f64,
    /// RTT range, ms (drawn uniformly).
    pub rtt_ms: (f64, f64),
    /// Loss range (drawn log-uniformly; half of the varied episodes have no loss).
    pub loss: (f64, f64),
}

impl Default for LinkVariation {
    fn default() -> Self {
        Self {
            share: 0.0,
            rtt_ms: (20.0, 300.0),
            loss: (1e-4, 0.02),
        }
    }
}

/// Settings of an [`EnvPool`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PoolConfig {
    pub envs: usize,
    /// Session settings of every episode (the default has Pensieve's training simulator).
    pub session: SessionConfig,
    pub link_variation: LinkVariation,
    /// Threads that step the environments (1 steps them in the caller's thread).
    pub threads: usize,
    pub seed: u64,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            envs: 16,
            session: SessionConfig {
                sim: SimConfig::training(),
                ..SessionConfig::default()
            },
            link_variation: LinkVariation::default(),
            threads: 1,
            seed: 1,
        }
    }
}

struct Env<'a> {
    session: Session<'a>,
    rng: Rng,
    episodes: u64,
}

/// A pool of training environments.
pub struct EnvPool<'a> {
    traces: &'a [Trace],
    ladder: &'a Ladder,
    clients: &'a [ClientCaps],
    cfg: PoolConfig,
    envs: Vec<Env<'a>>,
}

fn start_episode<'a>(
    traces: &'a [Trace],
    ladder: &'a Ladder,
    clients: &'a [ClientCaps],
    cfg: &PoolConfig,
    rng: &mut Rng,
) -> Result<Session<'a>> {
    let trace = &traces[rng.below(0, traces.len())];
    let client = &clients[rng.below(0, clients.len())];
    let mut session = cfg.session;
    let v = &cfg.link_variation;
    if v.share > 0.0 && rng.uniform() < v.share {
        let loss = if rng.uniform() < 0.5 {
            0.0
        } else {
            (rng.range(v.loss.0.ln(), v.loss.1.ln())).exp()
        };
        session.sim.link = LinkModel {
            rtt_ms: rng.range(v.rtt_ms.0, v.rtt_ms.1),
            loss,
        };
    }
    let episode_rng = Rng::new(rng.next_u64());
    Session::new(trace, ladder, client, &session, episode_rng)
}

impl<'a> EnvPool<'a> {
    /// Starts `cfg.envs` episodes; `clients` are drawn per episode (give one for a fixed client).
    pub fn new(
        traces: &'a [Trace],
        ladder: &'a Ladder,
        clients: &'a [ClientCaps],
        cfg: PoolConfig,
    ) -> Result<Self> {
        if traces.is_empty() || clients.is_empty() || cfg.envs == 0 {
            return Err(Error::Config {
                field: "training pool",
                value: format!(
                    "{} traces, {} clients, {} environments",
                    traces.len(),
                    clients.len(),
                    cfg.envs
                ),
                expected: "at least one of each".into(),
            });
        }
        let v = &cfg.link_variation;
        let valid = (0.0..=1.0).contains(&v.share)
            && v.loss.0 > 0.0
            && v.loss.1 >= v.loss.0
            && v.loss.1 < 1.0
            && v.rtt_ms.0 >= 0.0
            && v.rtt_ms.1 >= v.rtt_ms.0;
        if !valid {
            return Err(Error::Config {
                field: "link variation",
                value: format!("{v:?}"),
                expected: "share in 0..=1, 0 <= rtt low <= high, 0 < loss low <= high < 1".into(),
            });
        }
        let envs = (0..cfg.envs)
            .map(|i| {
                let mut rng = Rng::stream(cfg.seed, i as u64);
                let session = start_episode(traces, ladder, clients, &cfg, &mut rng)?;
                Ok(Env {
                    session,
                    rng,
                    episodes: 0,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            traces,
            ladder,
            clients,
            cfg,
            envs,
        })
    }

    pub fn len(&self) -> usize {
        self.envs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.envs.is_empty()
    }

    /// The state of environment `i`.
    pub fn state(&self, i: usize) -> AbrState<'_> {
        self.envs[i].session.state()
    }

    /// The session of environment `i`.
    pub fn session(&self, i: usize) -> &Session<'a> {
        &self.envs[i].session
    }

    /// Finished episodes so far, over all environments.
    pub fn episodes(&self) -> u64 {
        self.envs.iter().map(|e| e.episodes).sum()
    }

    /// Applies one choice per environment. An environment whose episode ends starts the next
    /// one (its returned step has `done`; its next state is the new episode's).
    pub fn step(&mut self, choices: &[Choice]) -> Result<Vec<Step>> {
        if choices.len() != self.envs.len() {
            return Err(Error::Config {
                field: "choices",
                value: choices.len().to_string(),
                expected: format!("one per environment ({})", self.envs.len()),
            });
        }
        let (traces, ladder, clients, cfg) = (self.traces, self.ladder, self.clients, self.cfg);
        let step_one = move |env: &mut Env<'a>, choice: Choice| -> Result<Step> {
            let step = env.session.step(choice)?;
            if step.done {
                env.episodes += 1;
                env.session = start_episode(traces, ladder, clients, &cfg, &mut env.rng)?;
            }
            Ok(step)
        };
        let threads = self.cfg.threads.clamp(1, self.envs.len());
        if threads == 1 {
            return self
                .envs
                .iter_mut()
                .zip(choices)
                .map(|(e, &c)| step_one(e, c))
                .collect();
        }
        let per = self.envs.len().div_ceil(threads);
        let parts: Vec<Result<Vec<Step>>> = std::thread::scope(|scope| {
            let handles: Vec<_> = self
                .envs
                .chunks_mut(per)
                .zip(choices.chunks(per))
                .map(|(envs, cs)| {
                    scope.spawn(move || {
                        envs.iter_mut()
                            .zip(cs)
                            .map(|(e, &c)| step_one(e, c))
                            .collect()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        });
        let mut steps = Vec::with_capacity(choices.len());
        for p in parts {
            steps.extend(p?);
        }
        Ok(steps)
    }
}
