//! Content analysis of raw video, online and without I/O: per-frame ITU-T P.910 spatial and
//! temporal information (SI, TI), motion statistics (how much of the picture moves and how
//! far), hard scene cuts decided as frames arrive, and a complexity score 1..=10 per scene and
//! per stream that predicts encoding cost. The swarm controller feeds
//! an [`Analyzer`] while it reads a stream and cuts chunks at the scene boundaries it reports.
//!
//! ```
//! use bitswarm_analysis::{AnalysisConfig, Analyzer};
//! use bitswarm_core::{Frame, Rational, VideoInfo};
//!
//! let info = VideoInfo::new(64, 48, Rational::new(25, 1)?)?;
//! let mut analyzer = Analyzer::new(info, AnalysisConfig::default())?;
//! // 20 dark frames, then 20 bright ones: a hard cut at frame 20.
//! for index in 0..40 {
//!     let luma = if index < 20 { 30 } else { 200 };
//!     let stats = analyzer.push(&Frame::filled(&info, luma, 128, 128))?;
//!     assert_eq!(stats.scene_cut, index == 0 || index == 20);
//! }
//! let analysis = analyzer.finish();
//! assert_eq!(analysis.scenes.len(), 2);
//! assert_eq!(analysis.scene_of(25).map(|s| s.start), Some(20));
//! assert_eq!(analysis.si, 0.0); // flat frames have no gradients
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Method, thresholds, the motion search and the calibration of the complexity score:
//! `docs/ANALYSIS.md`.

mod analyzer;
pub mod complexity;
mod config;
mod cut;
mod measure;
mod motion;
#[cfg(test)]
mod synthetic;

pub use analyzer::{Analysis, Analyzer, FrameStats, SceneStats};
pub use config::AnalysisConfig;

/// Errors of the analysis: invalid settings or a frame that does not fit the stream.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Error {
    #[error(transparent)]
    Core(#[from] bitswarm_core::Error),
    #[error("invalid {field} {value} (expected {expected})")]
    Config {
        field: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error(
        "frame {index} is {width}x{height} with a {luma}-byte luma plane, expected \
         {expected_width}x{expected_height} with {expected_luma} bytes (one geometry per stream)"
    )]
    FrameMismatch {
        index: u64,
        width: u32,
        height: u32,
        luma: usize,
        expected_width: u32,
        expected_height: u32,
        expected_luma: usize,
    },
}

pub type Result<T> = std::result::Result<T, Error>;
