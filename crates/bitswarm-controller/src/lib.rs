//! The swarm controller's logic, free of I/O and clocks.
//!
//! - [`SwarmPolicy`] turns content complexity and free fleet resources into a [`SwarmConfig`]
//!   (swarm size, complexity level, redundancy); the default is the seed policy.
//! - [`Chunker`] cuts a frame stream into chunks at scene cuts, online.
//! - [`Scheduler`] assigns chunks to servers by their reported load, keeps redundant copies on
//!   distinct servers, reassigns the work of lost servers, and fails a job that has no server
//!   left. Every call takes `now`, so tests and simulations run in virtual time.
//! - [`TargetSearch`] picks per chunk the CRF or QP that meets a VMAF or SSIM target, with
//!   few probe encodes (each one a chunk attempt of the scheduler).
//!
//! ```
//! use std::time::Duration;
//! use bitswarm_controller::{Capabilities, ChunkSpan, Command, Scheduler, SchedulerConfig, SwarmPolicy};
//! use bitswarm_core::{EncoderKind, Profile};
//!
//! let mut s = Scheduler::new(SchedulerConfig::default(), SwarmPolicy::default(), Profile::default());
//! let t0 = Duration::ZERO;
//! s.server_online(t0, "a", Capabilities { encoders: vec![EncoderKind::OpenH264], cores: 2 });
//! s.add_chunk(t0, ChunkSpan { index: 0, first_frame: 0, frames: 50, scene: 0 }, 3);
//! assert!(matches!(s.poll_command(), Some(Command::AssignProfile { .. })));
//! assert!(matches!(s.poll_command(), Some(Command::AssignChunk { chunk: 0, .. })));
//! ```

mod chunker;
mod policy;
mod scheduler;
pub mod target;

pub use chunker::{ChunkSpan, Chunker};
pub use policy::{PolicyRule, SwarmConfig, SwarmPolicy};
pub use scheduler::{
    Attempt, AttemptOutcome, Capabilities, ChunkState, Command, Completion, Load, SceneDecision,
    Scheduler, SchedulerConfig,
};
pub use target::{Probe, SearchMethod, Step, TargetConfig, TargetMetric, TargetSearch};

/// Errors of the controller logic.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid configuration: {0}")]
    Config(String),
}

pub type Result<T> = std::result::Result<T, Error>;
