//! Domain types shared by every bitswarm layer: raw 8-bit 4:2:0 frames, stream geometry and
//! encoding profiles. No I/O, no clocks, no codec code.
//!
//! ```
//! use bitswarm_core::{Profile, Rational, VideoInfo};
//! let info = VideoInfo::new(640, 360, Rational::new(25, 1)?)?;
//! let profile = Profile::default();
//! profile.validate()?;
//! assert_eq!(profile.output_info(&info).width, 640);
//! # Ok::<(), bitswarm_core::Error>(())
//! ```

mod frame;
mod profile;
mod scale;

pub use frame::{Frame, Rational, VideoInfo, MAX_DIMENSION, MIN_DIMENSION};
pub use profile::{
    Codec, DeviceClass, EncoderKind, Profile, RateControl, Resolution, Tune, Tuning, TuningSupport,
    AQ_MODE_RANGE, AQ_STRENGTH_RANGE, BITRATE_RANGE, COMPLEXITY_RANGE, ERROR_CORRECTION_RANGE,
    GOP_RANGE, PSY_RD_RANGE, QP_RANGE, REDUNDANCY_RANGE, REFS_RANGE,
};
pub use scale::scale;

/// Errors of the domain types: always name the field, the value and the valid range.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("invalid {what} {value} (expected an even number in 16..=8192)")]
    InvalidDimension { what: &'static str, value: u32 },
    #[error("invalid frame rate {num}/{den} (expected a positive fraction)")]
    InvalidFrameRate { num: u32, den: u32 },
    #[error("frame has {got} bytes, expected {expected}")]
    FrameSize { expected: usize, got: usize },
    #[error("invalid {field} {value} (expected {expected})")]
    OutOfRange {
        field: &'static str,
        value: String,
        expected: String,
    },
    #[error("unknown encoder {0:?} (known: {known})", known = profile::encoder_names())]
    UnknownEncoder(String),
    #[error("not supported: {0}")]
    Unsupported(String),
}

pub type Result<T> = std::result::Result<T, Error>;
