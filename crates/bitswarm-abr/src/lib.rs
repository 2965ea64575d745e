//! Adaptive-bitrate (ABR) decisions for per-client delivery, free of I/O and clocks: a
//! trace-driven streaming simulator with the semantics of Pensieve's, ladders (Pensieve's
//! chunk-size folders and bitswarm's JSON ladder files, with VMAF/SSIM per segment when known),
//! network traces with a latency and loss model, client capability and network-condition
//! vectors, QoE_lin, and the policies behind one trait: buffer-based, rate-based, BOLA,
//! RobustMPC and the mixing-matrix policy. The RL agent lives in `bitswarm-abr-rl`.
//!
//! ```
//! use bitswarm_abr::{
//!     run_session, BufferBased, ClientCaps, Ladder, LadderFile, Rng, Rung, SegmentRow,
//!     SessionConfig, Trace, VideoCodec, LADDER_FORMAT,
//! };
//! let rung = |kbps: f64, h: u32| Rung {
//!     id: format!("{h}p"), bitrate_kbps: kbps, codec: VideoCodec::H264,
//!     width: h * 16 / 9, height: h, fps: 30.0,
//! };
//! let ladder = Ladder::new("two", LadderFile {
//!     format: LADDER_FORMAT.into(),
//!     segment_duration_s: 4.0,
//!     rungs: vec![rung(500.0, 360), rung(2000.0, 720)],
//!     segments: vec![SegmentRow { bytes: vec![250_000, 1_000_000], vmaf: None, ssim: None }; 20],
//! })?;
//! let trace = Trace::parse("steady", "0\t3.0\n1\t3.0\n")?;
//! let result = run_session(
//!     &mut BufferBased::default(), &trace, &ladder, &ClientCaps::default(),
//!     &SessionConfig::default(), Rng::new(1),
//! )?;
//! assert_eq!(result.chunks.len(), 20);
//! assert_eq!(result.rebuffer_s, 0.0);
//! # Ok::<(), bitswarm_abr::Error>(())
//! ```
//!
//! Semantics, formats and the policies: `docs/ABR.md`.

mod client;
mod eval;
pub mod files;
mod ladder;
mod network;
pub mod plot;
mod policy;
mod pool;
mod qoe;
mod rng;
mod session;
mod sim;
mod trace;

pub use client::{
    rung_decode_load, rung_resolution, ClientCaps, CAPABILITY_DIMS, CLIENT_PRESETS, COMPUTE_RANGE,
};
pub use eval::{evaluate, Summary};
pub use ladder::{Ladder, LadderFile, Rung, SegmentRow, VideoCodec, LADDER_FORMAT};
pub use network::{
    bandwidth_unit, goodput_mbps, harmonic_mean_tail, LinkModel, NetworkVector,
    BANDWIDTH_SCALE_MBPS, MSS_BYTES, NETWORK_DIMS,
};
pub use policy::{
    baseline_policy, AbrPolicy, Bola, BufferBased, Choice, MixingConfig, MixingMatrix, RateBased,
    RobustMpc, Selection, BASELINE_POLICIES, DEFAULT_STARTUP_RUNG, MIXING_NETWORK_DIMS,
};
pub use pool::{EnvPool, LinkVariation, PoolConfig};
pub use qoe::{ChunkQoe, QoeConfig, QualityMetric};
pub use rng::Rng;
pub use session::{
    run_session, AbrState, ChunkRecord, Session, SessionConfig, SessionResult, Step,
};
pub use sim::{Download, SimConfig, Simulator};
pub use trace::{Trace, TraceSample};

/// Errors of the ABR crate: bad trace, ladder or client files, bad settings, a policy choice
/// the client cannot take, and (in [`files`] only) file-system errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("trace {name}: {at}{msg}")]
    Trace {
        name: String,
        /// `"line N: "` or empty.
        at: String,
        msg: String,
    },
    #[error("ladder {name}: {msg}")]
    Ladder { name: String, msg: String },
    #[error("invalid {field} {value} (expected {expected})")]
    Config {
        field: &'static str,
        value: String,
        expected: String,
    },
    #[error("policy {policy} chose {msg}")]
    Choice { policy: String, msg: String },
    #[error("the session is over: all {chunks} chunks are downloaded")]
    SessionOver { chunks: usize },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn trace(name: &str, line: Option<usize>, msg: String) -> Error {
        Error::Trace {
            name: name.to_owned(),
            at: line.map(|l| format!("line {l}: ")).unwrap_or_default(),
            msg,
        }
    }

    pub(crate) fn ladder(name: &str, msg: String) -> Error {
        Error::Ladder {
            name: name.to_owned(),
            msg,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
