//! Initial candidates of a search, predicted from the content features instead of a blind grid.
//!
//! The heuristics (hypotheses the search then tests with real encodes; the numbers were read
//! off x264 `medium` encodes of the shared 360p clips and bigbuckbunny 720p, docs/LADDER.md):
//!
//! - **Quality levels**: the target, then every 10 points below it down to VMAF 35 (a ladder's
//!   bottom rung), one candidate each, so the first generation already spans a ladder.
//! - **Height** for level `t`: the largest allowed height down to VMAF 70 (50 for screen-like
//!   content, `ti_mean < 4` and `si_mean >= 50`: scaling blurs text and edges); below it
//!   `(70 - t) / 25` octaves lower, times the source's share of the way from 144p to 1080p
//!   (at least a third), the nearest allowed height on a log scale. Lower levels go to smaller
//!   pictures (at a low rate, fewer pixels with fewer coding artefacts win), small sources
//!   have little resolution to give.
//! - **Quantiser**, on the x264 CRF scale: `c95 + ln((100 - t) / 5) / 0.12 - 10 log2(source
//!   height / height)`. `c95 = 21 + 0.09 (si_mean - 50) + 1.5 log2(source height / 360)` is the
//!   CRF that gives VMAF 95 at the source size: detailed and large pictures hide coding noise
//!   (VMAF's masking), so they take a higher CRF for the same score. The distance to VMAF 100
//!   grows about 13% per CRF step, and a smaller picture needs a lower CRF for the same score,
//!   as scaling costs quality. Moved to the same relative place of the encoder's native range
//!   (0..=63 for AV1) and clamped into its window.
//! - **Tuning for the objective**: full-reference metrics reward fidelity, not the texture
//!   that psycho-visual rate-distortion and adaptive quantisation spend bits on, so the
//!   encoder's tune preset for the metric: `psnr` (AQ and psy-rd off) for VMAF, `ssim` for
//!   SSIM. On the shared 360p clips at x264 medium, `psnr` saves 10-15% BD-rate (VMAF) over
//!   the defaults (the `tuning` benchmark). Slow content (motion `m < 0.3`) also gets 5
//!   reference frames, screen-like content 8.
//! - **Motion** `m` in 0..=1: `0.5 min(ti_mean / 20, 1) + 0.5 mv_moving_share`. GOP: `2 + 6 (1 -
//!   m)` seconds (static content profits from long GOPs), at most the mean scene length
//!   `1 / cut_rate` (at least 1 s).
//! - Knobs the encoder does not honour are dropped ([`Bounds::clamp`]). **Encoder** the first
//!   of the bounds, **complexity** the middle of its range (effort is left to the search).

use bitswarm_core::{Tune, Tuning};

use crate::space::{map_quantiser, native_quantiser_range};
use crate::{Bounds, Candidate, Error, Result, SceneFeatures};

/// The x264 CRF scale the quantiser heuristic is written on.
const AVC_SCALE: std::ops::RangeInclusive<u8> = 0..=51;
/// VMAF steps between the initial quality levels.
const LEVEL_STEP: f64 = 10.0;
/// The lowest initial quality level (VMAF): about a ladder's bottom rung.
const LEVEL_FLOOR: f64 = 35.0;
/// Levels at or above this (VMAF) start at the largest allowed height; screen-like content
/// stays there down to [`SCREEN_FULL_SIZE_LEVEL`].
const FULL_SIZE_LEVEL: f64 = 70.0;
const SCREEN_FULL_SIZE_LEVEL: f64 = 50.0;

/// The full-reference metric a search maximises; it picks the initial tuning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Objective {
    Vmaf,
    Ssim,
}

impl Objective {
    /// The tune preset made for this metric.
    fn tune(self) -> Tune {
        match self {
            Objective::Vmaf => Tune::Psnr,
            Objective::Ssim => Tune::Ssim,
        }
    }
}

/// A handful of candidates for content with `features` aimed at `target_quality` (VMAF scale,
/// 0..=100) and tuned for `objective`, all inside `bounds`, distinct, highest quality level
/// first.
pub fn initial_candidates(
    features: &SceneFeatures,
    target_quality: f64,
    objective: Objective,
    bounds: &Bounds,
) -> Result<Vec<Candidate>> {
    features.validate()?;
    bounds.validate()?;
    if !(0.0..=100.0).contains(&target_quality) {
        return Err(Error::invalid(
            "target quality",
            target_quality.to_string(),
            "a VMAF score in 0..=100",
        ));
    }
    let m = motion(features);
    // Validated bounds have at least one encoder.
    let encoder = bounds.encoders[0].encoder;
    let native = native_quantiser_range(encoder);
    let template = Candidate {
        width: 0,
        height: 0,
        encoder,
        crf_or_qp: 0,
        gop: gop_frames(features, m, bounds),
        complexity: midpoint(*bounds.complexity.start(), *bounds.complexity.end()),
        tuning: tuning(features, m, objective),
    };
    let source_octaves = f64::from(bounds.source.height).log2();
    let c95 = 21.0 + 0.09 * (features.si_mean - 50.0) + 1.5 * (source_octaves - 360f64.log2());

    let full_size = if screen_like(features) {
        SCREEN_FULL_SIZE_LEVEL
    } else {
        FULL_SIZE_LEVEL
    };

    let mut out: Vec<Candidate> = Vec::new();
    let mut t = target_quality;
    loop {
        let height = bounds.heights[predicted_height_index(bounds, t, full_size)];
        let scaled = source_octaves - f64::from(height).log2();
        let crf = (c95 + ((100.0 - t).max(0.5) / 5.0).ln() / 0.12 - 10.0 * scaled)
            .round()
            .clamp(0.0, 51.0) as u8; // Rounded and clamped into 0..=51 before the cast.
        let c = bounds.clamp(&Candidate {
            height,
            crf_or_qp: map_quantiser(crf, &AVC_SCALE, &native),
            ..template
        });
        if !out.contains(&c) {
            out.push(c);
        }
        t -= LEVEL_STEP;
        if t < LEVEL_FLOOR {
            break;
        }
    }
    Ok(out)
}

/// 0 (static) ..= 1 (everything moves).
fn motion(f: &SceneFeatures) -> f64 {
    0.5 * (f.ti_mean / 20.0).min(1.0) + 0.5 * f.mv_moving_share
}

/// Sharp detail, almost no change: desktops, slides, text.
fn screen_like(f: &SceneFeatures) -> bool {
    f.ti_mean < 4.0 && f.si_mean >= 50.0
}

/// Index of the allowed height nearest (log scale) to the predicted one for level `t`, which
/// starts below the largest at level `full_size`.
fn predicted_height_index(bounds: &Bounds, t: f64, full_size: f64) -> usize {
    // Small sources have little resolution to give: the steps down shrink with the source's
    // height, from the full amount at 1080p to a third at 144p (a 360p source moves 0.45 as far).
    let size = (f64::from(bounds.source.height) / 144.0).log2() / (1080.0f64 / 144.0).log2();
    let octaves = ((full_size - t) / 25.0).max(0.0) * size.clamp(1.0 / 3.0, 1.0);
    // Validated bounds have at least one height.
    let largest = bounds.heights[bounds.heights.len() - 1];
    let log_target = f64::from(largest).log2() - octaves;
    (0..bounds.heights.len())
        .min_by(|&a, &b| {
            let da = (f64::from(bounds.heights[a]).log2() - log_target).abs();
            let db = (f64::from(bounds.heights[b]).log2() - log_target).abs();
            da.total_cmp(&db)
        })
        .unwrap_or(0)
}

fn gop_frames(f: &SceneFeatures, m: f64, bounds: &Bounds) -> u32 {
    let mut seconds = 2.0 + 6.0 * (1.0 - m);
    if f.cut_rate > 0.0 {
        seconds = seconds.min((1.0 / f.cut_rate).max(1.0));
    }
    // A float-to-int cast saturates; the caller clamps the GOP into the bounds.
    (seconds * bounds.source.fps.as_f64()).round() as u32
}

fn tuning(f: &SceneFeatures, m: f64, objective: Objective) -> Tuning {
    let refs = if screen_like(f) {
        Some(8)
    } else if m < 0.3 {
        Some(5)
    } else {
        None
    };
    Tuning {
        tune: Some(objective.tune()),
        refs,
        ..Tuning::default()
    }
}

fn midpoint(lo: u8, hi: u8) -> u8 {
    lo + hi.saturating_sub(lo) / 2
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitswarm_core::{DeviceClass, EncoderKind, Rational, VideoInfo};

    fn bounds(encoder: EncoderKind) -> Bounds {
        let source = VideoInfo::new(1920, 1080, Rational::new(25, 1).unwrap()).unwrap();
        Bounds::new(source, &[encoder], DeviceClass::Desktop).unwrap()
    }

    /// Natural content of medium difficulty (about bbb_360p's SI and TI).
    fn natural() -> SceneFeatures {
        SceneFeatures {
            si_mean: 56.0,
            si_std: 2.0,
            ti_mean: 9.0,
            ti_std: 3.0,
            mv_mean_len: 2.0,
            mv_std_len: 1.5,
            mv_moving_share: 0.5,
            complexity: 6.0,
            probe_bits_per_pixel: 0.06,
            cut_rate: 0.0,
        }
    }

    fn top(features: &SceneFeatures, target: f64) -> Candidate {
        initial_candidates(
            features,
            target,
            Objective::Vmaf,
            &bounds(EncoderKind::X264),
        )
        .unwrap()[0]
    }

    #[test]
    fn detailed_content_takes_a_higher_crf_at_the_largest_size() {
        let textured = SceneFeatures {
            si_mean: 135.0,
            ..natural()
        };
        let (n, t) = (top(&natural(), 93.0), top(&textured, 93.0));
        // c95 = 21 + 0.09 (56 - 50) + 1.5 log2(1080 / 360) = 23.92, + ln(7 / 5) / 0.12 = 26.7.
        // c95 = 21 + 0.09 (135 - 50) + 2.38 = 31.03, + 2.80 = 33.8.
        assert_eq!((n.height, n.crf_or_qp), (1080, 27));
        assert_eq!((t.height, t.crf_or_qp), (1080, 34));
        // Monotone in between.
        let mut previous = n;
        for si in [70.0, 90.0, 110.0, 135.0] {
            let c = top(
                &SceneFeatures {
                    si_mean: si,
                    ..natural()
                },
                93.0,
            );
            assert!(c.crf_or_qp >= previous.crf_or_qp, "{c:?} {previous:?}");
            previous = c;
        }
        // A higher target, a lower CRF.
        assert!(top(&natural(), 97.0).crf_or_qp < n.crf_or_qp);
    }

    #[test]
    fn levels_span_a_ladder_down_to_smaller_pictures() {
        let b = bounds(EncoderKind::X264);
        let cands = initial_candidates(&natural(), 95.0, Objective::Vmaf, &b).unwrap();
        // VMAF 95, 85, ..., 35.
        assert_eq!(cands.len(), 7);
        for (i, c) in cands.iter().enumerate() {
            assert!(b.contains(c), "{c:?}");
            assert!(!cands[..i].contains(c));
        }
        let heights: Vec<u32> = cands.iter().map(|c| c.height).collect();
        // Down to VMAF 65 at 1080p; 55 is 0.6 octaves lower (720p), 45 1.0 (540p), 35 1.4 (432p).
        assert_eq!(heights, [1080, 1080, 1080, 1080, 720, 540, 432]);
        // At one size, lower levels take higher CRFs; a smaller picture a lower one than the
        // level above it at full size.
        for w in cands.windows(2) {
            if w[0].height == w[1].height {
                assert!(w[1].crf_or_qp > w[0].crf_or_qp, "{w:?}");
            }
        }
        assert!(cands[4].crf_or_qp < cands[3].crf_or_qp);
        // A 360p source has little resolution to give: a third of the octaves.
        let small = VideoInfo::new(640, 360, Rational::new(25, 1).unwrap()).unwrap();
        let b = Bounds::new(small, &[EncoderKind::X264], DeviceClass::Desktop).unwrap();
        let cands = initial_candidates(&natural(), 95.0, Objective::Vmaf, &b).unwrap();
        let heights: Vec<u32> = cands.iter().map(|c| c.height).collect();
        assert_eq!(heights, [360, 360, 360, 360, 288, 288, 234]);
        // A mobile client: the largest size is 720p.
        let mobile = Bounds::new(
            bounds(EncoderKind::X264).source,
            &[EncoderKind::X264],
            DeviceClass::Mobile,
        )
        .unwrap();
        let c = initial_candidates(&natural(), 95.0, Objective::Vmaf, &mobile).unwrap();
        assert_eq!(c[0].height, 720);
    }

    #[test]
    fn tuning_follows_the_objective_and_the_motion() {
        let b = bounds(EncoderKind::X264);
        let first =
            |f: &SceneFeatures, objective| initial_candidates(f, 93.0, objective, &b).unwrap()[0];
        // About screen_gnome_360p: sharp detail, almost nothing moves.
        let screen = SceneFeatures {
            si_mean: 80.0,
            ti_mean: 2.5,
            mv_moving_share: 0.05,
            probe_bits_per_pixel: 0.01,
            complexity: 4.0,
            ..natural()
        };
        let busy = SceneFeatures {
            ti_mean: 18.0,
            mv_moving_share: 0.9,
            ..natural()
        };
        let (s, v) = (
            first(&screen, Objective::Vmaf),
            first(&busy, Objective::Ssim),
        );
        assert_eq!((s.tuning.tune, s.tuning.refs), (Some(Tune::Psnr), Some(8)));
        // Screen content keeps the full size down to VMAF 50: 95 ... 55 at 1080p, 45 0.2
        // octaves lower (still 1080p), 35 0.6 (720p).
        let heights: Vec<u32> = initial_candidates(&screen, 95.0, Objective::Vmaf, &b)
            .unwrap()
            .iter()
            .map(|c| c.height)
            .collect();
        assert_eq!(heights, [1080, 1080, 1080, 1080, 1080, 1080, 720]);
        assert_eq!(
            v.tuning,
            Tuning {
                tune: Some(Tune::Ssim),
                ..Tuning::default()
            }
        );
        let slow = SceneFeatures {
            ti_mean: 5.0,
            mv_moving_share: 0.2,
            ..natural()
        };
        assert_eq!(first(&slow, Objective::Vmaf).tuning.refs, Some(5));
        // m = 0.09 -> 7.5 s = 187 frames; m = 0.9 -> 2.6 s = 65 frames.
        assert_eq!((s.gop, v.gop), (187, 65));
        // Frequent cuts cap the GOP at the mean scene length: 0.5 cuts/s -> 2 s = 50 frames.
        let cuts = SceneFeatures {
            cut_rate: 0.5,
            ..screen
        };
        assert_eq!(top(&cuts, 93.0).gop, 50);
    }

    #[test]
    fn other_encoders_get_their_scale_and_their_knobs() {
        // OpenH264: QP on the same scale, no tune or refs.
        let b = bounds(EncoderKind::OpenH264);
        let c = initial_candidates(&natural(), 93.0, Objective::Vmaf, &b).unwrap()[0];
        assert_eq!(c.tuning, Tuning::default());
        assert_eq!(c.crf_or_qp, top(&natural(), 93.0).crf_or_qp);
        // SVT-AV1: CRF 1..=63, so x264's value moves up by about 63/51; tune psnr it takes.
        let b = bounds(EncoderKind::SvtAv1);
        let av1 = initial_candidates(&natural(), 93.0, Objective::Vmaf, &b).unwrap()[0];
        let x264 = top(&natural(), 93.0).crf_or_qp;
        let expected = 1.0 + (f64::from(x264) * 62.0 / 51.0).round();
        assert_eq!(f64::from(av1.crf_or_qp), expected);
        assert_eq!(av1.tuning.tune, Some(Tune::Psnr));
    }

    #[test]
    fn bad_input_is_refused() {
        let b = bounds(EncoderKind::X264);
        assert_eq!(
            initial_candidates(&natural(), 120.0, Objective::Vmaf, &b)
                .unwrap_err()
                .to_string(),
            "invalid target quality 120 (expected a VMAF score in 0..=100)"
        );
        let bad = SceneFeatures {
            complexity: 0.0,
            ..natural()
        };
        assert_eq!(
            initial_candidates(&bad, 90.0, Objective::Vmaf, &b)
                .unwrap_err()
                .to_string(),
            "invalid complexity 0 (expected a score in 1..=10)"
        );
    }
}
