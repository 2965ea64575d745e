//! Several metrics over one stream of frame pairs, with their per-frame scores merged.

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;

use bitswarm_core::Frame;
use rayon::prelude::*;

use crate::ms_ssim::MsSsim;
use crate::psnr::Psnr;
use crate::ssim::Ssim;
use crate::vmaf::Vmaf;
use crate::{Error, FrameScores, Metric, Result, Summary};

/// The metrics this crate computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricKind {
    Psnr,
    Ssim,
    MsSsim,
    Vmaf,
}

impl MetricKind {
    pub const ALL: [MetricKind; 4] = [Self::Vmaf, Self::Ssim, Self::MsSsim, Self::Psnr];

    /// A fresh metric of this kind for frames of `width` x `height`.
    pub fn create(self, width: u32, height: u32) -> Result<Box<dyn Metric>> {
        Ok(match self {
            Self::Psnr => Box::new(Psnr::new(width, height)),
            Self::Ssim => Box::new(Ssim::new(width, height)?),
            Self::MsSsim => Box::new(MsSsim::new(width, height)?),
            Self::Vmaf => Box::new(Vmaf::new(width, height)?),
        })
    }

    /// The field holding the metric's overall per-frame score: `psnr` (the weighted Y/U/V
    /// PSNR), `ssim` (all planes), `ms_ssim`, `vmaf`.
    pub fn field(self) -> &'static str {
        match self {
            Self::Psnr => "psnr",
            Self::Ssim => "ssim",
            Self::MsSsim => "ms_ssim",
            Self::Vmaf => "vmaf",
        }
    }

    /// Parses a comma-separated list such as `vmaf,ssim,psnr` (duplicates are dropped).
    pub fn parse_list(list: &str) -> Result<Vec<MetricKind>> {
        let mut kinds = Vec::new();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let kind = name.parse()?;
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
        if kinds.is_empty() {
            return Err(Error::NoMetrics);
        }
        Ok(kinds)
    }
}

impl FromStr for MetricKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().replace('-', "_").as_str() {
            "psnr" => Ok(Self::Psnr),
            "ssim" => Ok(Self::Ssim),
            "ms_ssim" | "msssim" => Ok(Self::MsSsim),
            "vmaf" => Ok(Self::Vmaf),
            _ => Err(Error::UnknownMetric(s.to_owned())),
        }
    }
}

impl fmt::Display for MetricKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.field())
    }
}

/// Runs several metrics side by side (on the current rayon pool) and merges their per-frame
/// scores: [`QualityMeter::pop`] returns a frame once every metric has scored it, with the
/// values in the order of [`QualityMeter::fields`].
pub struct QualityMeter {
    metrics: Vec<Box<dyn Metric>>,
    /// Own worker threads ([`QualityMeter::with_threads`]); `None`: the current rayon pool.
    pool: Option<rayon::ThreadPool>,
    fields: Vec<&'static str>,
    /// Per metric, scored frames not yet merged.
    waiting: Vec<VecDeque<FrameScores>>,
}

impl QualityMeter {
    /// A meter of the given metrics for frames of `width` x `height`, computing on the current
    /// rayon pool. Fails if `kinds` is empty or a metric refuses the size.
    pub fn new(kinds: &[MetricKind], width: u32, height: u32) -> Result<Self> {
        if kinds.is_empty() {
            return Err(Error::NoMetrics);
        }
        let metrics = kinds
            .iter()
            .map(|k| k.create(width, height))
            .collect::<Result<Vec<_>>>()?;
        let fields = metrics.iter().flat_map(|m| m.fields()).copied().collect();
        let waiting = vec![VecDeque::new(); metrics.len()];
        Ok(Self {
            metrics,
            pool: None,
            fields,
            waiting,
        })
    }

    /// As [`QualityMeter::new`], computing on `threads` threads of its own.
    pub fn with_threads(
        kinds: &[MetricKind],
        width: u32,
        height: u32,
        threads: usize,
    ) -> Result<Self> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| Error::Threads(threads, e.to_string()))?;
        Ok(Self {
            pool: Some(pool),
            ..Self::new(kinds, width, height)?
        })
    }

    /// All fields of all metrics, metric by metric.
    pub fn fields(&self) -> &[&'static str] {
        &self.fields
    }

    /// Scores the next frame pair with every metric.
    pub fn push(&mut self, reference: &Frame, distorted: &Frame) -> Result<()> {
        let metrics = &mut self.metrics;
        let mut push = || {
            metrics
                .par_iter_mut()
                .map(|m| m.push(reference, distorted))
                .collect::<Result<()>>()
        };
        match &self.pool {
            Some(pool) => pool.install(push),
            None => push(),
        }
    }

    /// The next frame scored by every metric, in frame order.
    pub fn pop(&mut self) -> Option<FrameScores> {
        for (metric, queue) in self.metrics.iter_mut().zip(&mut self.waiting) {
            while let Some(s) = metric.pop() {
                queue.push_back(s);
            }
        }
        if self.waiting.iter().any(VecDeque::is_empty) {
            return None;
        }
        let mut merged = FrameScores {
            frame: 0,
            values: Vec::with_capacity(self.fields.len()),
        };
        for queue in &mut self.waiting {
            let s = queue.pop_front()?;
            merged.frame = s.frame;
            merged.values.extend(s.values);
        }
        Some(merged)
    }

    /// The reference frame just before a segment, for every metric ([`Metric::reference_before`]).
    pub fn reference_before(&mut self, reference: &Frame) -> Result<()> {
        self.metrics
            .iter_mut()
            .try_for_each(|m| m.reference_before(reference))
    }

    /// The reference frame just after a segment, for every metric ([`Metric::reference_after`]).
    pub fn reference_after(&mut self, reference: &Frame) -> Result<()> {
        self.metrics
            .iter_mut()
            .try_for_each(|m| m.reference_after(reference))
    }

    /// Ends the stream; the summaries of the metrics, in the order they were given. Frames
    /// still waiting can be popped afterwards.
    pub fn finish(&mut self) -> Result<Vec<Summary>> {
        self.metrics.iter_mut().map(|m| m.finish()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_lists_parse_with_clear_errors() {
        assert_eq!(
            MetricKind::parse_list("vmaf, SSIM,psnr,vmaf").unwrap(),
            [MetricKind::Vmaf, MetricKind::Ssim, MetricKind::Psnr]
        );
        assert_eq!(
            MetricKind::parse_list("ms-ssim").unwrap(),
            [MetricKind::MsSsim]
        );
        assert_eq!(
            MetricKind::parse_list("vmaf,butteraugli")
                .unwrap_err()
                .to_string(),
            "unknown metric \"butteraugli\" (known: psnr, ssim, ms_ssim, vmaf)"
        );
        assert_eq!(MetricKind::parse_list(" , ").unwrap_err(), Error::NoMetrics);
        assert_eq!(
            QualityMeter::new(&[], 64, 64).err().map(|e| e.to_string()),
            Some("no metric chosen (known: psnr, ssim, ms_ssim, vmaf)".into())
        );
        for k in MetricKind::ALL {
            assert_eq!(k.to_string().parse::<MetricKind>().unwrap(), k);
        }
    }

    #[test]
    fn frames_wait_for_the_slowest_metric_and_threads_do_not_change_values() {
        let (w, h) = (64usize, 48usize);
        let info =
            bitswarm_core::VideoInfo::new(64, 48, bitswarm_core::Rational::new(25, 1).unwrap())
                .unwrap();
        let frame = |seed: usize, noise: usize| {
            let mut f = Frame::filled(&info, 0, 128, 128);
            f.y = crate::planes::noisy(&crate::planes::textured(w, h, seed), noise);
            f
        };
        let pairs = [(frame(1, 0), frame(1, 9)), (frame(2, 0), frame(2, 20))];
        let kinds = [MetricKind::Psnr, MetricKind::Vmaf];
        let run = |mut meter: QualityMeter| {
            assert_eq!(meter.fields().len(), 4 + 7);
            meter.push(&pairs[0].0, &pairs[0].1).unwrap();
            // PSNR has scored frame 0, VMAF waits for frame 1's motion.
            assert!(meter.pop().is_none());
            meter.push(&pairs[1].0, &pairs[1].1).unwrap();
            let first = meter.pop().unwrap();
            assert_eq!((first.frame, first.values.len()), (0, 11));
            assert!(meter.pop().is_none());
            let summaries = meter.finish().unwrap();
            assert_eq!(
                summaries.iter().map(|s| s.metric).collect::<Vec<_>>(),
                ["psnr", "vmaf"]
            );
            let second = meter.pop().unwrap();
            assert_eq!(second.frame, 1);
            assert!(meter.pop().is_none());
            [first.values, second.values]
        };
        let shared = run(QualityMeter::new(&kinds, 64, 48).unwrap());
        let own = run(QualityMeter::with_threads(&kinds, 64, 48, 1).unwrap());
        assert_eq!(shared, own);
        // Noisier frame, lower scores.
        assert!(shared[1][3] < shared[0][3] && shared[1][4] < shared[0][4]);
    }
}
