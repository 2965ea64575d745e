//! A reinforcement-learning ABR agent for bitswarm: an actor-critic trained on the trace-driven
//! simulator of `bitswarm-abr`, on candle (CPU only): imitation of a clairvoyant expert (DAgger)
//! for a start, then PPO. Its action is the mixing
//! weights over the swarm's bitstreams (a masked softmax: never a bitstream the client cannot
//! decode); its reward is QoE per chunk (quality - 4.3 x stall - smoothness - blending cost).
//! Models are small safetensors files; [`RlPolicy`] plays one as an [`bitswarm_abr::AbrPolicy`].
//!
//! ```
//! use bitswarm_abr::{baseline_policy, AbrPolicy};
//! use bitswarm_abr_rl::{ActorCritic, RlPolicy};
//!
//! let model = ActorCritic::new(6, 16, 7)?; // untrained, 6 rungs
//! let policy = RlPolicy::new(model);
//! assert_eq!(policy.name(), "rl");
//! assert_eq!(policy.model().rungs(), 6);
//! # Ok::<(), bitswarm_abr_rl::Error>(())
//! ```
//!
//! State, action, reward and training: `docs/ABR.md`; results: `docs/BENCHMARKS.md`.

mod expert;
mod features;
mod model;
mod policy;
mod ppo;

pub use expert::clairvoyant_choice;
pub use features::{feature_dims, observe, FEATURE_VERSION, HISTORY};
pub use model::{ActorCritic, SHIPPED_MODEL};
pub use policy::RlPolicy;
pub use ppo::{score, train, CurvePoint, Phase, TrainConfig, TrainData, TrainOutcome};

/// Errors of the RL agent.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Abr(#[from] bitswarm_abr::Error),
    #[error("neural network: {0}")]
    Candle(#[from] candle_core::Error),
    #[error("model {0}")]
    Model(String),
    #[error("{path}: {msg}")]
    Io { path: String, msg: String },
}

pub type Result<T> = std::result::Result<T, Error>;
