//! The complexity score: a prediction of encoding cost, calibrated on OpenH264 (see
//! `docs/ANALYSIS.md` for the measurements).
//!
//! Per frame, the residual energy `E` (mean over the 8x8 blocks of the cheaper of "difference to
//! the previous frame" and "variance of the block", in squared luma levels; the variance alone
//! on the first frame of a scene) predicts the bits per pixel of OpenH264 at a fixed QP 34:
//!
//! `bpp(E) = exp(-6.282) * (E + 0.5)^0.821`
//!
//! A scene (or a stream) costs the mean of its frames' `bpp`, and scores
//!
//! `score = clamp(1 + 1.5 * log2(bpp / 0.004), 1, 10)`
//!
//! so one point is a factor 2^(2/3) (about 1.6) in bits, 1 is a still picture and 10 is 256 times
//! its cost. `complexity` is the score rounded to the nearest integer.

/// `ln` of the bits per pixel at `E = 0.5` (fitted).
const LN_BPP_AT_UNIT: f64 = -6.282;
/// Exponent of the residual energy (fitted).
const ENERGY_EXPONENT: f64 = 0.821;
/// Offset that keeps a perfectly static frame finite.
const ENERGY_OFFSET: f64 = 0.5;
/// Bits per pixel that score 1.
const BPP_AT_SCORE_ONE: f64 = 0.004;
/// Score points per doubling of the bits.
const POINTS_PER_DOUBLING: f64 = 1.5;

/// Predicted bits per pixel (OpenH264, QP 34) of a frame with residual energy `energy`.
pub fn bits_per_pixel(energy: f64) -> f64 {
    (LN_BPP_AT_UNIT + ENERGY_EXPONENT * (energy.max(0.0) + ENERGY_OFFSET).ln()).exp()
}

/// The unrounded score in `1.0..=10.0` of content that costs `bpp` bits per pixel.
pub fn score(bpp: f64) -> f64 {
    let score = 1.0 + POINTS_PER_DOUBLING * (bpp / BPP_AT_SCORE_ONE).log2();
    // bpp = 0 gives -inf, clamped to 1; only a NaN bpp gives NaN.
    if score.is_nan() {
        1.0
    } else {
        score.clamp(1.0, 10.0)
    }
}

/// The complexity level (1..=10) of a score.
pub fn level(score: f64) -> u8 {
    score.round().clamp(1.0, 10.0) as u8
}

/// Running statistics of a run of frames (a scene or a whole stream).
#[derive(Debug, Clone, Default)]
pub(crate) struct Summary {
    pub frames: u64,
    pub si_sum: f64,
    pub si_max: f64,
    pub ti_frames: u64,
    pub ti_sum: f64,
    pub ti_max: f64,
    pub bpp_sum: f64,
}

impl Summary {
    /// Adds one frame; `ti` is `None` where it does not describe the run (its first frame).
    pub(crate) fn add(&mut self, si: f64, ti: Option<f64>, energy: f64) {
        self.frames += 1;
        self.si_sum += si;
        self.si_max = self.si_max.max(si);
        if let Some(ti) = ti {
            self.ti_frames += 1;
            self.ti_sum += ti;
            self.ti_max = self.ti_max.max(ti);
        }
        self.bpp_sum += bits_per_pixel(energy);
    }

    pub(crate) fn si_mean(&self) -> f64 {
        mean(self.si_sum, self.frames)
    }

    pub(crate) fn ti_mean(&self) -> f64 {
        mean(self.ti_sum, self.ti_frames)
    }

    /// Mean predicted bits per pixel (0 for an empty run).
    pub(crate) fn bits_per_pixel(&self) -> f64 {
        mean(self.bpp_sum, self.frames)
    }

    /// The score of the run's mean cost (1 for an empty run).
    pub(crate) fn score(&self) -> f64 {
        score(self.bits_per_pixel())
    }
}

fn mean(sum: f64, n: u64) -> f64 {
    if n == 0 {
        0.0
    } else {
        sum / n as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_model_and_scale_follow_the_documented_formula() {
        // bpp(E) = exp(-6.282) * (E + 0.5)^0.821
        assert_eq!(bits_per_pixel(0.5), (-6.282f64).exp());
        let ratio = bits_per_pixel(99.5) / bits_per_pixel(0.5);
        assert!((ratio - 100f64.powf(0.821)).abs() < 1e-9);
        // One point per factor 2^(2/3); 1 at 0.004 bits per pixel, 10 at 256 times that.
        assert_eq!(score(0.004), 1.0);
        assert!((score(0.004 * 4.0) - 4.0).abs() < 1e-12);
        assert!((score(0.004 * 64.0) - 10.0).abs() < 1e-12);
        assert_eq!(score(1.0), 10.0);
        assert_eq!(score(0.0), 1.0);
        assert_eq!(score(f64::NAN), 1.0);
    }

    #[test]
    fn levels_round_scores_into_one_to_ten() {
        assert_eq!(level(1.0), 1);
        assert_eq!(level(4.49), 4);
        assert_eq!(level(4.5), 5);
        assert_eq!(level(10.0), 10);
        assert_eq!(level(-3.0), 1);
        assert_eq!(level(12.0), 10);
    }

    #[test]
    fn summary_means_skip_frames_without_ti() {
        let mut summary = Summary::default();
        summary.add(10.0, None, 0.0);
        summary.add(30.0, Some(4.0), 99.5);
        summary.add(20.0, Some(2.0), 0.0);
        assert_eq!(summary.si_mean(), 20.0);
        assert_eq!(
            (summary.si_max, summary.ti_mean(), summary.ti_max),
            (30.0, 3.0, 4.0)
        );
        let bpp = (2.0 * bits_per_pixel(0.0) + bits_per_pixel(99.5)) / 3.0;
        assert!((summary.bits_per_pixel() - bpp).abs() < 1e-15);
        assert_eq!(summary.score(), score(bpp));
        assert_eq!(Summary::default().score(), 1.0);
    }
}
