//! Video quality metrics on raw 8-bit 4:2:0 frames: PSNR, SSIM (as FFmpeg's `ssim` filter),
//! MS-SSIM (as libvmaf's `float_ms_ssim`) and VMAF v0.6.1 (libvmaf's integer VIF, ADM and motion
//! features and its SVM model, read from `models/vmaf_v0.6.1.json`). This crate knows frames,
//! not files or codecs. Every metric streams: push a pair of (reference, distorted) frames, pop
//! the per-frame scores, finish for scores pooled over the whole clip. Frames are never kept
//! (VMAF keeps one previous reference luma plane), so memory does not grow with video length
//! apart from 8 bytes per frame and score for the exact 5th percentile. See docs/QUALITY.md.
//!
//! ```
//! use bitswarm_core::{Frame, Rational, VideoInfo};
//! use bitswarm_quality::{MetricKind, QualityMeter};
//!
//! let info = VideoInfo::new(64, 48, Rational::new(25, 1)?)?;
//! let mut meter = QualityMeter::new(&[MetricKind::Vmaf, MetricKind::Psnr], 64, 48)?;
//! let reference = Frame::filled(&info, 100, 128, 128);
//! let mut distorted = reference.clone();
//! distorted.y[0] = 110;
//! for _ in 0..3 {
//!     meter.push(&reference, &distorted)?;
//! }
//! let summaries = meter.finish()?;
//! let psnr_y = summaries[1].field("psnr_y").map(|f| f.mean);
//! assert!(psnr_y.is_some_and(|p| p > 50.0));
//! let mut frames = 0;
//! while let Some(scores) = meter.pop() {
//!     assert_eq!(scores.values.len(), meter.fields().len());
//!     frames += 1;
//! }
//! assert_eq!(frames, 3);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod meter;
pub mod ms_ssim;
pub mod pool;
pub mod psnr;
mod simd;
pub mod ssim;
pub mod vmaf;

use std::collections::VecDeque;

use bitswarm_core::Frame;

pub use meter::{MetricKind, QualityMeter};
pub use pool::{Aggregate, FieldSummary, Summary};

/// Everything that can go wrong measuring quality.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Error {
    #[error("frame is {got}, expected {expected}")]
    FrameMismatch { got: String, expected: String },
    #[error("{metric} needs frames of at least {min} pixels (got {width}x{height})")]
    TooSmall {
        metric: &'static str,
        min: String,
        width: u32,
        height: u32,
    },
    #[error("invalid VMAF model: {0}")]
    Model(String),
    #[error("unknown metric {0:?} (known: psnr, ssim, ms_ssim, vmaf)")]
    UnknownMetric(String),
    #[error("no metric chosen (known: psnr, ssim, ms_ssim, vmaf)")]
    NoMetrics,
    #[error("no frames to score")]
    NoFrames,
    #[error("segment context out of order: {0}")]
    Segment(&'static str),
    #[error("cannot start {0} worker threads: {1}")]
    Threads(usize, String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// The scores of one frame: `values[i]` belongs to field `fields()[i]` of the metric.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameScores {
    /// Index of the frame in the stream, from 0.
    pub frame: u64,
    pub values: Vec<f64>,
}

/// A full-reference quality metric over a stream of frame pairs.
///
/// Push/pull: [`Metric::push`] each (reference, distorted) pair in display order,
/// [`Metric::pop`] the frames whose scores are final, [`Metric::finish`] at the end of the
/// stream. Most metrics score a frame as it is pushed; VMAF holds one frame back, because the
/// motion feature of frame n looks at frame n + 1.
pub trait Metric: Send {
    /// Lower-case name: `psnr`, `ssim`, `ms_ssim` or `vmaf`.
    fn name(&self) -> &'static str;
    /// Names of the values every frame gets, in the order of [`FrameScores::values`].
    fn fields(&self) -> &'static [&'static str];
    /// Scores the next frame pair. Both frames must have the size the metric was made for.
    fn push(&mut self, reference: &Frame, distorted: &Frame) -> Result<()>;
    /// The next frame whose scores are final, in frame order.
    fn pop(&mut self) -> Option<FrameScores>;
    /// Ends the stream: every frame becomes poppable, and the statistics of all frames are
    /// returned. Fails with [`Error::NoFrames`] if nothing was pushed.
    fn finish(&mut self) -> Result<Summary>;

    /// Scoring one segment of a longer stream (a chunk): the reference frame just before the
    /// segment, given before the first [`Metric::push`]. A metric with temporal features (VMAF's
    /// motion) then scores the segment's frames exactly as it would inside the whole stream;
    /// the others ignore it.
    fn reference_before(&mut self, reference: &Frame) -> Result<()> {
        let _ = reference;
        Ok(())
    }

    /// The reference frame just after the segment, given after its last [`Metric::push`] and
    /// before [`Metric::finish`] (see [`Metric::reference_before`]).
    fn reference_after(&mut self, reference: &Frame) -> Result<()> {
        let _ = reference;
        Ok(())
    }
}

/// The scored frames of a metric not yet popped, and the pools of all frames scored so far.
#[derive(Debug)]
struct Scores {
    fields: &'static [&'static str],
    ready: VecDeque<FrameScores>,
    pools: Vec<pool::Pool>,
}

impl Scores {
    fn new(fields: &'static [&'static str]) -> Self {
        Self {
            fields,
            ready: VecDeque::new(),
            pools: vec![pool::Pool::default(); fields.len()],
        }
    }

    /// Records the final values of the next frame.
    fn emit(&mut self, values: Vec<f64>) {
        debug_assert_eq!(values.len(), self.fields.len());
        for (pool, &v) in self.pools.iter_mut().zip(&values) {
            pool.add(v);
        }
        let frame = self.pools[0].len() as u64 - 1;
        self.ready.push_back(FrameScores { frame, values });
    }

    fn pop(&mut self) -> Option<FrameScores> {
        self.ready.pop_front()
    }

    fn frames(&self) -> u64 {
        self.pools[0].len() as u64
    }

    fn summary(&self, metric: &'static str, aggregates: Vec<Aggregate>) -> Result<Summary> {
        let fields = self
            .fields
            .iter()
            .zip(&self.pools)
            .map(|(&name, pool)| pool.summary(name).ok_or(Error::NoFrames))
            .collect::<Result<Vec<_>>>()?;
        Ok(Summary {
            metric,
            frames: self.frames(),
            fields,
            aggregates,
        })
    }
}

/// Checks that both frames are `width` x `height` with planes of matching lengths.
fn check_pair(width: u32, height: u32, reference: &Frame, distorted: &Frame) -> Result<()> {
    let luma = width as usize * height as usize;
    let chroma = (width as usize / 2) * (height as usize / 2);
    for frame in [reference, distorted] {
        if (frame.width, frame.height) != (width, height) {
            return Err(Error::FrameMismatch {
                got: format!("{}x{}", frame.width, frame.height),
                expected: format!("{width}x{height}"),
            });
        }
        let lens = [frame.y.len(), frame.u.len(), frame.v.len()];
        if lens != [luma, chroma, chroma] {
            return Err(Error::FrameMismatch {
                got: format!("{width}x{height} with planes of {lens:?} bytes"),
                expected: format!("planes of [{luma}, {chroma}, {chroma}] bytes"),
            });
        }
    }
    Ok(())
}

/// Synthetic planes for the unit tests.
#[cfg(test)]
pub(crate) mod planes {
    /// A `w` x `h` plane: smooth waves plus pseudo-random texture (`seed` varies it).
    pub fn textured(w: usize, h: usize, seed: usize) -> Vec<u8> {
        (0..w * h)
            .map(|i| {
                let (x, y) = ((i % w) as f64, (i / w) as f64);
                let wave = 110.0 + 50.0 * ((x / 7.0).sin() * (y / 11.0).cos());
                (wave as usize + (i * 7919 + seed * 104_729) % 41) as u8
            })
            .collect()
    }

    /// `plane` with pseudo-random noise of amplitude up to `amount` added.
    pub fn noisy(plane: &[u8], amount: usize) -> Vec<u8> {
        plane
            .iter()
            .enumerate()
            .map(|(i, &p)| p.saturating_add(((i * 2_654_435_761) % (amount + 1)) as u8))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitswarm_core::{Rational, VideoInfo};

    #[test]
    fn pairs_are_checked_with_sizes_in_the_message() {
        let info = VideoInfo::new(32, 16, Rational::new(25, 1).unwrap()).unwrap();
        let a = Frame::filled(&info, 0, 0, 0);
        assert_eq!(check_pair(32, 16, &a, &a), Ok(()));
        assert_eq!(
            check_pair(64, 16, &a, &a).unwrap_err().to_string(),
            "frame is 32x16, expected 64x16"
        );
        let mut b = a.clone();
        b.u.pop();
        assert_eq!(
            check_pair(32, 16, &a, &b).unwrap_err().to_string(),
            "frame is 32x16 with planes of [512, 127, 128] bytes, expected planes of \
             [512, 128, 128] bytes"
        );
    }
}
