//! Per-title encoding ladders: turn one encode into a content-aware swarm of bitstreams and
//! measure what it saves against a fixed industry ladder. Pure logic: no codecs, no clocks, no
//! I/O except reading and writing a [`LadderModel`] file. Trial encodes are done by the caller
//! through the ask/tell interface of [`Search`].
//!
//! - [`Bounds`] and [`Candidate`]: the profile space of one source (heights, encoders and their
//!   CRF/QP windows, GOP, effort, tuning) and its points.
//! - [`Mutation`]: per-parameter mutation rates and steps, always inside the bounds.
//! - [`pareto_front`], [`upper_convex_hull`]: rate-quality hulls; [`bd_rate`]: Bjontegaard delta
//!   rate (PCHIP of log-rate over quality).
//! - [`SceneFeatures`] and [`initial_candidates`]: a first generation predicted from content.
//! - [`Search`]: evolutionary search of the hull; [`Search::rungs`] picks the ladder.
//! - [`Gmm`] and [`LadderModel`]: content clusters with their ladders, learnt over a catalog.
//! - [`reference_ladder`]: Apple's HLS H.264 ladder for a source, the baseline.
//!
//! ```
//! use bitswarm_core::{DeviceClass, EncoderKind, Profile, Rational, VideoInfo};
//! use bitswarm_ladder::{Bounds, Candidate, Mutation, RungTargets, Search, Spread};
//!
//! let source = VideoInfo::new(1280, 720, Rational::new(25, 1)?)?;
//! let bounds = Bounds::new(source, &[EncoderKind::X264], DeviceClass::Desktop)?;
//! let start = bounds.clamp(&Candidate {
//!     width: 640, height: 360, encoder: EncoderKind::X264, crf_or_qp: 28,
//!     gop: 50, complexity: 5, tuning: Default::default(),
//! });
//! // A stand-in for a real trial encode: rate and quality from size and CRF.
//! let encode = |c: &Candidate| {
//!     let crf = f64::from(c.crf_or_qp);
//!     let kbps = f64::from(c.width * c.height).powf(0.8) * 0.05 * 2f64.powf((23.0 - crf) / 6.0);
//!     let quality = 100.0 - 25.0 * (720.0 / f64::from(c.height)).log2() - 0.05 * (crf - 10.0).powi(2);
//!     (kbps, quality)
//! };
//! let mut search = Search::new(bounds, Mutation::default(), vec![start], 40, 1)?;
//! while let Some(batch) = search.ask() {
//!     for c in &batch {
//!         let (kbps, quality) = encode(c);
//!         search.tell(c, kbps, quality)?;
//!     }
//! }
//! assert!(search.proposed() <= 40); // the budget (fewer if the hull stops improving)
//! let ladder = search.rungs(&RungTargets { count: 4, spread: Spread::LogRate, top_quality: Some(95.0) });
//! let profiles: Vec<Profile> =
//!     ladder.iter().map(|rung| rung.candidate.to_profile(&Profile::default())).collect();
//! assert!(!profiles.is_empty() && profiles.iter().all(|p| p.validate().is_ok()));
//! # Ok::<(), bitswarm_ladder::Error>(())
//! ```

mod bdrate;
mod features;
mod gmm;
mod hull;
mod initial;
mod model;
mod mutation;
mod reference;
mod search;
mod space;

pub use bdrate::bd_rate;
pub use features::{SceneFeatures, FEATURE_NAMES};
pub use gmm::{Gmm, GmmConfig};
pub use hull::{pareto_front, upper_convex_hull, Point};
pub use initial::{initial_candidates, Objective};
pub use model::{CentroidSettings, ClusterInfo, DeliveryProfile, LadderModel, MODEL_FORMAT};
pub use mutation::{Mutation, MutationRates, MutationSteps};
pub use reference::{reference_ladder, ReferenceRung, APPLE_HLS_H264};
pub use search::{RungTargets, Search, Spread, Trial, DEFAULT_BATCH_SIZE, DEFAULT_PATIENCE};
pub use space::{
    allowed_heights, width_for_height, Bounds, Candidate, EncoderBounds, TuningBounds,
    HEIGHT_STEPS, MOBILE_MAX_HEIGHT,
};

use std::path::PathBuf;

/// Errors of the ladder crate: each names what is wrong and what is supported.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Core(#[from] bitswarm_core::Error),
    #[error("invalid {what} {value} (expected {expected})")]
    Invalid {
        what: String,
        value: String,
        expected: String,
    },
    #[error("BD-rate not defined: {0}")]
    BdRate(String),
    #[error("Gaussian mixture: {0}")]
    Gmm(String),
    #[error("feature vector has {got} values, expected {expected}")]
    Dimension { expected: usize, got: usize },
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not a usable ladder model: {reason}", path.display())]
    ModelFile { path: PathBuf, reason: String },
}

impl Error {
    fn invalid(what: &str, value: String, expected: &str) -> Self {
        Error::Invalid {
            what: what.to_owned(),
            value,
            expected: expected.to_owned(),
        }
    }
}

/// Result of this crate.
pub type Result<T> = std::result::Result<T, Error>;
