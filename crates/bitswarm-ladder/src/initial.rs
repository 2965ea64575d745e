//! Initial candidates of a search, predicted from the content features instead of a blind grid.
//!
//! The heuristics (hypotheses the search then tests with real encodes; the numbers are starting
//! values, not fits):
//!
//! - **Difficulty** `d` in 0..=1: `0.75 x` the probe's bits per pixel on a log scale (0.01 bpp
//!   -> 0, 0.3 bpp -> 1) `+ 0.25 x (complexity - 1) / 9`.
//! - **Quality levels**: the target and 8, 16 and 24 points below it (those above 20), one
//!   candidate each, so the first generation already spans a ladder.
//! - **Height** for level `t`: the source height divided by `2^e`, `e = 1.5 (1 - u) + 0.75 d`,
//!   `u = (t - 60) / 40` clamped to 0..=1; the nearest allowed height on a log scale. Harder
//!   content and lower levels go to lower resolutions (at a given rate, fewer pixels with fewer
//!   coding artefacts win over many pixels with many).
//! - **Quantiser**, on the x264 CRF scale: `23 + (93 - t) / 2.5 + 6 (0.5 - d)`, so harder content
//!   gets a lower CRF for the same level (its artefacts show more at the same CRF); moved to the
//!   same relative place of the encoder's native range (0..=63 for AV1) and clamped into its
//!   window.
//! - **One more candidate** one height step above the target's, 3 CRF steps higher: the search
//!   then sees from the start whether the larger picture is worth it.
//! - **Motion** `m` in 0..=1: `0.5 min(ti_mean / 20, 1) + 0.5 mv_moving_share`. GOP: `2 + 6 (1 -
//!   m)` seconds (static content profits from long GOPs), at most the mean scene length
//!   `1 / cut_rate` (at least 1 s).
//! - **Tuning**: screen-like content (`ti_mean < 4`, `si_mean >= 50`: sharp detail, almost no
//!   change) gets tune `still_image` and 8 reference frames; flat, slow content (`si_mean < 40`,
//!   `m < 0.3`, like cartoons) tune `animation` and 6 references; other slow content (`m < 0.3`)
//!   5 references; the rest the encoder's defaults. Knobs the encoder does not honour are
//!   dropped ([`Bounds::clamp`]).
//! - **Encoder** the first of the bounds, **complexity** the middle of its range (effort is left
//!   to the search).

use bitswarm_core::{Tune, Tuning};

use crate::space::{map_quantiser, native_quantiser_range};
use crate::{Bounds, Candidate, Error, Result, SceneFeatures};

/// The x264 CRF scale the quantiser heuristic is written on.
const AVC_SCALE: std::ops::RangeInclusive<u8> = 0..=51;

/// A handful of candidates for content with `features` aimed at `target_quality` (VMAF scale,
/// 0..=100), all inside `bounds`, distinct, highest quality level first.
pub fn initial_candidates(
    features: &SceneFeatures,
    target_quality: f64,
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
    let d = difficulty(features);
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
        tuning: tuning(features, m),
    };
    let at = |height: u32, crf_avc: f64| {
        // Rounded and clamped into 0..=51 before the cast.
        let crf = crf_avc.round().clamp(0.0, 51.0) as u8;
        bounds.clamp(&Candidate {
            height,
            crf_or_qp: map_quantiser(crf, &AVC_SCALE, &native),
            ..template
        })
    };

    let mut out: Vec<Candidate> = Vec::new();
    let mut push = |c: Candidate| {
        if !out.contains(&c) {
            out.push(c);
        }
    };
    for level in [0.0, 8.0, 16.0, 24.0] {
        let t = target_quality - level;
        if level > 0.0 && t < 20.0 {
            break;
        }
        let index = predicted_height_index(bounds, t, d);
        let crf = 23.0 + (93.0 - t) / 2.5 + 6.0 * (0.5 - d);
        push(at(bounds.heights[index], crf));
        if level == 0.0 {
            if let Some(&higher) = bounds.heights.get(index + 1) {
                push(at(higher, crf + 3.0));
            }
            // The top rung often saturates at the largest allowed size: always try it.
            if let Some(&largest) = bounds.heights.last() {
                push(at(largest, crf + 2.0));
            }
        }
    }
    Ok(out)
}

/// 0 (easy) ..= 1 (hard), from the probe's bits per pixel and the cost score.
fn difficulty(f: &SceneFeatures) -> f64 {
    let bpp = ((f.probe_bits_per_pixel / 0.01).ln() / (0.3f64 / 0.01).ln()).clamp(0.0, 1.0);
    0.75 * bpp + 0.25 * ((f.complexity - 1.0) / 9.0).clamp(0.0, 1.0)
}

/// 0 (static) ..= 1 (everything moves).
fn motion(f: &SceneFeatures) -> f64 {
    0.5 * (f.ti_mean / 20.0).min(1.0) + 0.5 * f.mv_moving_share
}

/// Index of the allowed height nearest (log scale) to the predicted one for level `t`.
fn predicted_height_index(bounds: &Bounds, t: f64, d: f64) -> usize {
    let u = ((t - 60.0) / 40.0).clamp(0.0, 1.0);
    // Small sources have little resolution to give: the steps down shrink with the source's
    // height, from the full amount at 1080p to a third at 144p (a 360p source moves 0.45 as far).
    let size = (f64::from(bounds.source.height) / 144.0).log2() / (1080.0f64 / 144.0).log2();
    let octaves = (1.5 * (1.0 - u) + 0.75 * d) * size.clamp(1.0 / 3.0, 1.0);
    let log_target = f64::from(bounds.source.height).log2() - octaves;
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

fn tuning(f: &SceneFeatures, m: f64) -> Tuning {
    let (tune, refs) = if f.ti_mean < 4.0 && f.si_mean >= 50.0 {
        (Some(Tune::StillImage), Some(8))
    } else if f.si_mean < 40.0 && m < 0.3 {
        (Some(Tune::Animation), Some(6))
    } else if m < 0.3 {
        (None, Some(5))
    } else {
        (None, None)
    };
    Tuning {
        tune,
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
        initial_candidates(features, target, &bounds(EncoderKind::X264)).unwrap()[0]
    }

    #[test]
    fn harder_content_gets_lower_resolution_and_lower_crf() {
        let easy = SceneFeatures {
            probe_bits_per_pixel: 0.02,
            complexity: 4.0,
            ..natural()
        };
        let hard = SceneFeatures {
            probe_bits_per_pixel: 0.25,
            complexity: 8.0,
            ..natural()
        };
        let (e, h) = (top(&easy, 93.0), top(&hard, 93.0));
        // Easy: d = 0.236, 2^-0.44 x 1080 = 796 -> 720, CRF 24.6 -> 25.
        // Hard: d = 0.904, 2^-0.94 x 1080 = 563 -> 540, CRF 20.6 -> 21.
        assert_eq!((e.height, e.crf_or_qp), (720, 25));
        assert_eq!((h.height, h.crf_or_qp), (540, 21));
        // Monotone in between.
        let mut previous = e;
        for bpp in [0.04, 0.08, 0.16, 0.25] {
            let c = top(
                &SceneFeatures {
                    probe_bits_per_pixel: bpp,
                    ..natural()
                },
                93.0,
            );
            assert!(c.height <= previous.height && c.crf_or_qp <= previous.crf_or_qp);
            previous = c;
        }
    }

    #[test]
    fn higher_targets_get_larger_pictures_and_lower_crf() {
        let low = top(&natural(), 70.0);
        let high = top(&natural(), 96.0);
        assert!(high.height > low.height, "{low:?} {high:?}");
        assert!(high.crf_or_qp < low.crf_or_qp, "{low:?} {high:?}");
    }

    #[test]
    fn candidates_span_a_ladder_inside_the_bounds() {
        let b = bounds(EncoderKind::X264);
        let cands = initial_candidates(&natural(), 93.0, &b).unwrap();
        assert_eq!(cands.len(), 6);
        for (i, c) in cands.iter().enumerate() {
            assert!(b.contains(c), "{c:?}");
            assert!(!cands[..i].contains(c));
        }
        // The top level is also tried at the largest size, 2 CRF steps higher.
        assert_eq!(cands[2].height, 1080);
        assert_eq!(cands[2].crf_or_qp, cands[0].crf_or_qp + 2);
        // The levels below the target go down in height and up in CRF.
        let levels = [&cands[0], &cands[3], &cands[4], &cands[5]];
        for w in levels.windows(2) {
            assert!(w[1].height <= w[0].height && w[1].crf_or_qp > w[0].crf_or_qp);
        }
        // The extra candidate: one step up, 3 CRF steps higher.
        assert_eq!(
            b.heights.iter().position(|&h| h == cands[1].height),
            b.heights
                .iter()
                .position(|&h| h == cands[0].height)
                .map(|i| i + 1)
        );
        assert_eq!(cands[1].crf_or_qp, cands[0].crf_or_qp + 3);
    }

    #[test]
    fn screen_content_gets_still_image_more_refs_longer_gop() {
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
        let (s, b) = (top(&screen, 93.0), top(&busy, 93.0));
        assert_eq!(s.tuning.tune, Some(Tune::StillImage));
        assert_eq!(s.tuning.refs, Some(8));
        assert_eq!(b.tuning, Tuning::default());
        // m = 0.09 -> 7.5 s = 187 frames; m = 0.9 -> 2.6 s = 65 frames.
        assert_eq!((s.gop, b.gop), (187, 65));
        let cartoon = SceneFeatures {
            si_mean: 30.0,
            ti_mean: 5.0,
            mv_moving_share: 0.2,
            ..natural()
        };
        assert_eq!(top(&cartoon, 93.0).tuning.tune, Some(Tune::Animation));
        // Frequent cuts cap the GOP at the mean scene length: 0.5 cuts/s -> 2 s = 50 frames.
        let cuts = SceneFeatures {
            cut_rate: 0.5,
            ..screen
        };
        assert_eq!(top(&cuts, 93.0).gop, 50);
    }

    #[test]
    fn other_encoders_get_their_scale_and_their_knobs() {
        let screen = SceneFeatures {
            si_mean: 80.0,
            ti_mean: 2.5,
            ..natural()
        };
        // OpenH264: QP on the same scale, no tune or refs.
        let b = bounds(EncoderKind::OpenH264);
        let c = initial_candidates(&screen, 93.0, &b).unwrap()[0];
        assert_eq!(c.tuning, Tuning::default());
        assert_eq!(c.crf_or_qp, top(&screen, 93.0).crf_or_qp);
        // SVT-AV1: CRF 1..=63, so x264's value moves up by about 63/51.
        let b = bounds(EncoderKind::SvtAv1);
        let av1 = initial_candidates(&natural(), 93.0, &b).unwrap()[0];
        let x264 = top(&natural(), 93.0).crf_or_qp;
        let expected = 1.0 + (f64::from(x264) * 62.0 / 51.0).round();
        assert_eq!(f64::from(av1.crf_or_qp), expected);
    }

    #[test]
    fn bad_input_is_refused() {
        let b = bounds(EncoderKind::X264);
        assert_eq!(
            initial_candidates(&natural(), 120.0, &b)
                .unwrap_err()
                .to_string(),
            "invalid target quality 120 (expected a VMAF score in 0..=100)"
        );
        let bad = SceneFeatures {
            complexity: 0.0,
            ..natural()
        };
        assert_eq!(
            initial_candidates(&bad, 90.0, &b).unwrap_err().to_string(),
            "invalid complexity 0 (expected a score in 1..=10)"
        );
    }
}
