//! The complexity score: a prediction of the bit rate a stream costs, calibrated on OpenH264
//! (`docs/ANALYSIS.md` has the measurements; `examples/calibrate.rs` repeats them and the fit).
//!
//! Per frame, the residual energy `E` (mean over the 8x8 blocks of the cheaper of "difference to
//! the best block of the previous frame a small motion search finds" and "variance of the
//! block", in squared luma levels; the variance alone on the first frame of a scene) and the
//! picture size `P` (luma pixels) predict the bits per pixel of OpenH264 at a fixed QP 34:
//!
//! `bpp(E, P) = exp(-4.527) * (E + 0.5)^0.830 * P^-0.087`
//!
//! A scene (or a stream) costs the mean of its frames' `bpp`, that is a bit rate of
//! `kbps = bpp * width * height * fps / 1000` kbit/s, and scores
//!
//! `score = clamp(1 + log2(kbps / 6), 1, 10)`
//!
//! so one point is a doubling of the bit rate: 1 is 6 kbit/s (a still picture), 10 is 3 Mbit/s.
//! The score measures cost per second of video, not per pixel: the same content scores higher
//! at a larger size or a higher frame rate, because it needs more of the fleet. `complexity` is
//! the score rounded to the nearest integer.

use bitswarm_core::VideoInfo;

use crate::motion::MotionSums;

/// `ln` of the bits per pixel at `E + 0.5 = 1` and `P = 1` (fitted).
pub const LN_BPP_INTERCEPT: f64 = -4.527;
/// Exponent of the residual energy (fitted).
pub const ENERGY_EXPONENT: f64 = 0.830;
/// Exponent of the picture size in pixels (fitted): larger pictures cost fewer bits per pixel.
pub const PIXELS_EXPONENT: f64 = -0.087;
/// Offset that keeps a perfectly static frame finite.
pub const ENERGY_OFFSET: f64 = 0.5;
/// Bit rate (kbit/s) that scores 1; one point more per doubling. A choice of scale, not a fit: it
/// puts the seed policy's thresholds (level above 4, above 7; docs/PROFILES.md) at 68 and
/// 543 kbit/s, between screen content and dialogue and between street scenes and the city pan.
pub const KBPS_AT_SCORE_ONE: f64 = 6.0;

/// Predicted bits per pixel (OpenH264, QP 34) of a frame of `pixels` luma pixels with residual
/// energy `energy`.
pub fn bits_per_pixel(energy: f64, pixels: u64) -> f64 {
    (LN_BPP_INTERCEPT
        + ENERGY_EXPONENT * (energy.max(0.0) + ENERGY_OFFSET).ln()
        + PIXELS_EXPONENT * (pixels.max(1) as f64).ln())
    .exp()
}

/// The bit rate in kbit/s of frames of geometry and rate `info` that cost `bits_per_pixel`.
pub fn kbps(bits_per_pixel: f64, info: &VideoInfo) -> f64 {
    bits_per_pixel * info.luma_len() as f64 * info.fps.as_f64() / 1000.0
}

/// The unrounded score in `1.0..=10.0` of content that costs `kbps` kbit/s.
pub fn score(kbps: f64) -> f64 {
    let score = 1.0 + (kbps / KBPS_AT_SCORE_ONE).log2();
    // kbps = 0 gives -inf, clamped to 1; only a NaN gives NaN.
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
    /// The motion of the frames that describe the run (not its first), pooled.
    pub motion: MotionSums,
}

impl Summary {
    /// Adds one frame that costs `bpp` bits per pixel; `ti` and `motion` are `None` where they
    /// do not describe the run (its first frame).
    pub(crate) fn add(&mut self, si: f64, ti: Option<f64>, motion: Option<&MotionSums>, bpp: f64) {
        self.frames += 1;
        self.si_sum += si;
        self.si_max = self.si_max.max(si);
        if let Some(ti) = ti {
            self.ti_frames += 1;
            self.ti_sum += ti;
            self.ti_max = self.ti_max.max(ti);
        }
        if let Some(motion) = motion {
            self.motion.add(motion);
        }
        self.bpp_sum += bpp;
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
    use bitswarm_core::Rational;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * b.abs().max(1.0)
    }

    #[test]
    fn cost_model_follows_the_documented_formula() {
        // bpp(E, P) = exp(-4.527) * (E + 0.5)^0.830 * P^-0.087
        assert!(close(bits_per_pixel(0.5, 1), (-4.527f64).exp()));
        let energy_ratio = bits_per_pixel(99.5, 1000) / bits_per_pixel(0.5, 1000);
        assert!(close(energy_ratio, 100f64.powf(0.830)));
        let size_ratio = bits_per_pixel(20.0, 4 * 230_400) / bits_per_pixel(20.0, 230_400);
        assert!(close(size_ratio, 4f64.powf(-0.087)));
        // Negative energy (impossible, but never NaN) counts as none.
        assert_eq!(bits_per_pixel(-3.0, 1000), bits_per_pixel(0.0, 1000));
    }

    #[test]
    fn rate_is_bits_per_pixel_times_pixels_per_second() {
        let cif = VideoInfo::new(352, 288, Rational::new(30000, 1001).unwrap()).unwrap();
        let expected = 0.05 * 352.0 * 288.0 * 30000.0 / 1001.0 / 1000.0;
        assert!(close(kbps(0.05, &cif), expected));
        // Four times the pixels at the same cost per pixel: four times the rate.
        let big = VideoInfo::new(704, 576, cif.fps).unwrap();
        assert!(close(kbps(0.05, &big), 4.0 * expected));
    }

    #[test]
    fn score_is_one_point_per_doubling_of_the_rate() {
        assert_eq!(score(6.0), 1.0);
        assert!(close(score(48.0), 4.0));
        assert!(close(score(6.0 * 512.0), 10.0));
        assert!(close(score(6.0 * 2f64.powf(5.5)), 6.5));
        assert_eq!(score(100_000.0), 10.0);
        assert_eq!(score(1.0), 1.0);
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
        let moving = |moving, length: f64| MotionSums {
            blocks: 10,
            moving,
            length_sum: moving as f64 * length,
            length_sq_sum: moving as f64 * length * length,
        };
        summary.add(10.0, None, None, 0.5);
        summary.add(30.0, Some(4.0), Some(&moving(10, 50.0)), 0.25);
        summary.add(20.0, Some(2.0), Some(&moving(2, 3.0)), 0.0);
        summary.add(25.0, Some(1.0), Some(&moving(6, 1.0)), 0.0);
        assert_eq!(summary.si_mean(), 21.25);
        assert_eq!(
            (summary.si_max, summary.ti_mean(), summary.ti_max),
            (30.0, 7.0 / 3.0, 4.0)
        );
        assert_eq!(summary.bits_per_pixel(), 0.1875);
        // Motion pools the blocks of the frames after the first: 18 of 30 move, lengths 50 x10, 3 x2, 1 x6.
        assert_eq!(summary.motion.moving_share(), 0.6);
        let (mean, std) = summary.motion.length_mean_std();
        let want_mean = (500.0 + 6.0 + 6.0) / 18.0;
        let want_var = (25_000.0 + 18.0 + 6.0) / 18.0 - want_mean * want_mean;
        assert!((mean - want_mean).abs() < 1e-12 && (std - want_var.sqrt()).abs() < 1e-9);
        assert_eq!(Summary::default().bits_per_pixel(), 0.0);
    }
}
