//! The profile space a ladder is searched in: [`Candidate`] encoding profiles and the
//! [`Bounds`] that say which ones are allowed for one source.
//!
//! - **Heights** are the steps [`HEIGHT_STEPS`] up to the source height, plus the source height
//!   itself; a mobile target stops at 720 (the source height is then left out when it is larger).
//!   A source lower than 144 lines has its own height only. The width keeps the source aspect,
//!   rounded to the nearest even number ([`width_for_height`]).
//! - **Quantiser** (`crf_or_qp`): CRF for encoders with a constant-quality mode
//!   ([`EncoderKind::crf_range`]), else QP ([`EncoderKind::qp_range`]); each encoder has a search
//!   window inside its native range (by default 16..=46 on the H.264/HEVC scale, 20..=60 on the
//!   AV1 scale: below is near-lossless, above unwatchable at streaming sizes).
//! - **GOP** in frames, by default 1 s ..= 10 s of the source (within 1..=1000).
//! - **Complexity** (encoder effort) 1..=10.
//! - **Tuning**: each knob has a range (`None`: the knob is not searched and stays at the
//!   encoder's default), and a candidate may only set what its encoder honours
//!   ([`EncoderKind::tuning_support`]).

use std::ops::RangeInclusive;

use bitswarm_core::{
    DeviceClass, EncoderKind, Profile, RateControl, Resolution, Tune, Tuning, VideoInfo,
    AQ_MODE_RANGE, AQ_STRENGTH_RANGE, COMPLEXITY_RANGE, GOP_RANGE, MAX_DIMENSION, MIN_DIMENSION,
    PSY_RD_RANGE, REFS_RANGE,
};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Output heights a ladder may use (besides the source height), lowest first.
pub const HEIGHT_STEPS: [u32; 8] = [144, 234, 288, 360, 432, 540, 720, 1080];

/// Highest output height for a mobile device.
pub const MOBILE_MAX_HEIGHT: u32 = 720;

/// One point of the profile space: what a trial encode needs besides the source.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Candidate {
    pub width: u32,
    pub height: u32,
    pub encoder: EncoderKind,
    /// CRF when the encoder has a constant-quality mode, else QP.
    pub crf_or_qp: u8,
    /// Keyframe interval in frames.
    pub gop: u32,
    /// Encoder effort 1..=10.
    pub complexity: u8,
    #[serde(default, skip_serializing_if = "Tuning::is_default")]
    pub tuning: Tuning,
}

impl Candidate {
    /// `Crf` for encoders with a constant-quality mode, else `Qp`.
    pub fn rate_control(&self) -> RateControl {
        match self.encoder.crf_range() {
            Some(_) => RateControl::Crf {
                crf: self.crf_or_qp,
            },
            None => RateControl::Qp { qp: self.crf_or_qp },
        }
    }

    /// The profile that encodes this candidate: `base` with this candidate's encoder, size,
    /// rate control, GOP, complexity and tuning, named like `360p-x264-crf23` (with the
    /// tuning's [`Tuning::short_name`] after it when set: `360p-x264-crf23-psnr-ref8`).
    pub fn to_profile(&self, base: &Profile) -> Profile {
        let rate = self.rate_control();
        let quantiser = match rate {
            RateControl::Crf { crf } => format!("crf{crf}"),
            _ => format!("qp{}", self.crf_or_qp),
        };
        let mut name = format!("{}p-{}-{quantiser}", self.height, self.encoder);
        let tuning = self.tuning.short_name();
        if !tuning.is_empty() {
            name = format!("{name}-{tuning}");
        }
        Profile {
            name,
            encoder: self.encoder,
            resolution: Resolution::Fixed {
                width: self.width,
                height: self.height,
            },
            rate,
            gop: self.gop,
            complexity: self.complexity,
            tuning: self.tuning,
            ..base.clone()
        }
    }
}

/// The width that keeps the source aspect at `height`: the nearest even number (half rounds
/// up), at least 16 and at most 8192. The source height gives the source width.
pub fn width_for_height(source: &VideoInfo, height: u32) -> u32 {
    let (w, h, target) = (
        u64::from(source.width),
        // A valid source is at least 16 high; never divide by 0 on an invalid one.
        u64::from(source.height.max(1)),
        u64::from(height),
    );
    let half = (w * target + h) / (2 * h);
    u32::try_from(half * 2)
        .unwrap_or(MAX_DIMENSION)
        .clamp(MIN_DIMENSION, MAX_DIMENSION)
}

/// The heights allowed for `source` on `device` (see the module docs), lowest first.
pub fn allowed_heights(source: &VideoInfo, device: DeviceClass) -> Vec<u32> {
    let cap = match device {
        DeviceClass::Mobile => MOBILE_MAX_HEIGHT,
        DeviceClass::Desktop | DeviceClass::Tv | DeviceClass::Vr => u32::MAX,
    };
    let top = source.height.min(cap);
    let mut heights: Vec<u32> = HEIGHT_STEPS.into_iter().filter(|&h| h <= top).collect();
    // Never empty: a source above the cap has the steps up to 720, one at or below it has
    // its own height.
    if source.height <= cap && heights.last() != Some(&source.height) {
        heights.push(source.height);
    }
    heights
}

/// The quantiser window of one encoder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncoderBounds {
    pub encoder: EncoderKind,
    /// Allowed CRF (or QP) values, inside the encoder's native range.
    pub crf_or_qp: RangeInclusive<u8>,
}

impl EncoderBounds {
    /// The default window of `encoder` (module docs).
    pub fn new(encoder: EncoderKind) -> Self {
        let native = native_quantiser_range(encoder);
        let window = if *native.end() > 51 { 20..=60 } else { 16..=46 };
        Self {
            encoder,
            crf_or_qp: (*window.start()).max(*native.start())..=(*window.end()).min(*native.end()),
        }
    }
}

/// CRF range for encoders with a constant-quality mode, else the QP range.
pub(crate) fn native_quantiser_range(encoder: EncoderKind) -> RangeInclusive<u8> {
    encoder.crf_range().unwrap_or_else(|| encoder.qp_range())
}

/// Ranges of the tuning knobs; `None` leaves a knob at the encoder's default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TuningBounds {
    pub aq_mode: Option<RangeInclusive<u8>>,
    pub aq_strength: Option<RangeInclusive<f32>>,
    pub psy_rd: Option<RangeInclusive<f32>>,
    pub refs: Option<RangeInclusive<u8>>,
    /// Tunes the search may set (each still only with an encoder that has it).
    pub tunes: Vec<Tune>,
}

impl Default for TuningBounds {
    /// Every knob over its whole range.
    fn default() -> Self {
        Self {
            aq_mode: Some(AQ_MODE_RANGE),
            aq_strength: Some(AQ_STRENGTH_RANGE),
            psy_rd: Some(PSY_RD_RANGE),
            refs: Some(REFS_RANGE),
            tunes: Tune::ALL.to_vec(),
        }
    }
}

impl TuningBounds {
    /// The `aq_mode` values `encoder` may use here.
    pub(crate) fn aq_modes(&self, encoder: EncoderKind) -> Vec<u8> {
        let support = encoder.tuning_support();
        match &self.aq_mode {
            Some(range) => support
                .aq_modes
                .iter()
                .copied()
                .filter(|m| range.contains(m))
                .collect(),
            None => Vec::new(),
        }
    }

    /// The `aq_strength` range for `encoder` (`None`: not available).
    pub(crate) fn aq_strength_for(&self, encoder: EncoderKind) -> Option<RangeInclusive<f32>> {
        self.aq_strength
            .clone()
            .filter(|_| encoder.tuning_support().aq_strength)
    }

    /// The `psy_rd` range for `encoder` (`None`: not available).
    pub(crate) fn psy_rd_for(&self, encoder: EncoderKind) -> Option<RangeInclusive<f32>> {
        self.psy_rd
            .clone()
            .filter(|_| encoder.tuning_support().psy_rd)
    }

    /// The `refs` range for `encoder` (`None`: not available).
    pub(crate) fn refs_for(&self, encoder: EncoderKind) -> Option<RangeInclusive<u8>> {
        self.refs.clone().filter(|_| encoder.tuning_support().refs)
    }

    /// The tunes `encoder` may use here.
    pub(crate) fn tunes_for(&self, encoder: EncoderKind) -> Vec<Tune> {
        let support = encoder.tuning_support();
        self.tunes
            .iter()
            .copied()
            .filter(|t| support.tunes.contains(t))
            .collect()
    }

    fn contains(&self, encoder: EncoderKind, t: &Tuning) -> bool {
        let within = |v: Option<f32>, range: Option<RangeInclusive<f32>>| match (v, range) {
            (None, _) => true,
            (Some(v), Some(r)) => r.contains(&v),
            (Some(_), None) => false,
        };
        t.aq_mode
            .is_none_or(|m| self.aq_modes(encoder).contains(&m))
            && within(t.aq_strength, self.aq_strength_for(encoder))
            && within(t.psy_rd, self.psy_rd_for(encoder))
            && t.refs.is_none_or(|r| {
                self.refs_for(encoder)
                    .is_some_and(|range| range.contains(&r))
            })
            && t.tune
                .is_none_or(|tune| self.tunes_for(encoder).contains(&tune))
    }

    fn clamp(&self, encoder: EncoderKind, t: &Tuning) -> Tuning {
        let clamp_f32 = |v: Option<f32>, range: Option<RangeInclusive<f32>>| {
            let (v, r) = (v?, range?);
            // NaN is no value: back to the encoder's default.
            (!v.is_nan()).then(|| clamp_to(v, &r))
        };
        let modes = self.aq_modes(encoder);
        Tuning {
            // The allowed mode nearest to the requested one (the lower on a tie).
            aq_mode: t.aq_mode.and_then(|m| {
                modes
                    .iter()
                    .copied()
                    .min_by_key(|&allowed| (allowed.abs_diff(m), allowed))
            }),
            aq_strength: clamp_f32(t.aq_strength, self.aq_strength_for(encoder)),
            psy_rd: clamp_f32(t.psy_rd, self.psy_rd_for(encoder)),
            refs: t
                .refs
                .zip(self.refs_for(encoder))
                .map(|(r, range)| clamp_to(r, &range)),
            tune: t.tune.filter(|tune| self.tunes_for(encoder).contains(tune)),
        }
    }

    fn validate(&self) -> Result<()> {
        check_sub_range("aq_mode bounds", self.aq_mode.as_ref(), &AQ_MODE_RANGE)?;
        check_sub_range(
            "aq_strength bounds",
            self.aq_strength.as_ref(),
            &AQ_STRENGTH_RANGE,
        )?;
        check_sub_range("psy_rd bounds", self.psy_rd.as_ref(), &PSY_RD_RANGE)?;
        check_sub_range("refs bounds", self.refs.as_ref(), &REFS_RANGE)
    }
}

/// `v` moved into `r` (never panics, even on an empty range).
pub(crate) fn clamp_to<T: PartialOrd + Copy>(v: T, r: &RangeInclusive<T>) -> T {
    if v < *r.start() {
        *r.start()
    } else if v > *r.end() {
        *r.end()
    } else {
        v
    }
}

/// `range` (when set) is non-empty and inside `within`.
fn check_sub_range<T: PartialOrd + std::fmt::Display>(
    what: &str,
    range: Option<&RangeInclusive<T>>,
    within: &RangeInclusive<T>,
) -> Result<()> {
    match range {
        Some(r)
            if !(r.start() <= r.end()
                && within.contains(r.start())
                && within.contains(r.end())) =>
        {
            Err(Error::invalid(
                what,
                format!("{}..={}", r.start(), r.end()),
                &format!(
                    "a non-empty range inside {}..={}",
                    within.start(),
                    within.end()
                ),
            ))
        }
        _ => Ok(()),
    }
}

/// The part of the profile space a search may use for one source and device class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bounds {
    pub source: VideoInfo,
    pub device: DeviceClass,
    /// Allowed output heights, strictly increasing.
    pub heights: Vec<u32>,
    /// Allowed encoders with their quantiser windows (the first is the preferred one).
    pub encoders: Vec<EncoderBounds>,
    /// Allowed keyframe intervals, frames.
    pub gop: RangeInclusive<u32>,
    /// Allowed encoder effort levels.
    pub complexity: RangeInclusive<u8>,
    pub tuning: TuningBounds,
}

impl Bounds {
    /// The default bounds for `source` on `device` with these encoders (module docs).
    pub fn new(source: VideoInfo, encoders: &[EncoderKind], device: DeviceClass) -> Result<Self> {
        VideoInfo::new(source.width, source.height, source.fps)?;
        let fps = source.fps.as_f64();
        let frames = |seconds: f64| {
            // Clamped into 1..=1000 before the cast, so it cannot wrap.
            (fps * seconds)
                .round()
                .clamp(f64::from(*GOP_RANGE.start()), f64::from(*GOP_RANGE.end()))
                as u32
        };
        let bounds = Self {
            source,
            device,
            heights: allowed_heights(&source, device),
            encoders: encoders.iter().map(|&e| EncoderBounds::new(e)).collect(),
            gop: frames(1.0)..=frames(10.0),
            complexity: COMPLEXITY_RANGE,
            tuning: TuningBounds::default(),
        };
        bounds.validate()?;
        Ok(bounds)
    }

    /// Checks that the bounds are non-empty and inside what the source, the device and the
    /// encoders allow.
    pub fn validate(&self) -> Result<()> {
        let source = VideoInfo::new(self.source.width, self.source.height, self.source.fps)?;
        let allowed = allowed_heights(&source, self.device);
        let heights_ok = !self.heights.is_empty()
            && self.heights.windows(2).all(|w| w[0] < w[1])
            && self.heights.iter().all(|h| allowed.contains(h));
        if !heights_ok {
            return Err(Error::invalid(
                "heights",
                format!("{:?}", self.heights),
                &format!(
                    "a non-empty increasing subset of {allowed:?} for a {}x{} source on {:?}",
                    source.width, source.height, self.device
                ),
            ));
        }
        if self.encoders.is_empty() {
            return Err(Error::invalid(
                "encoders",
                "[]".into(),
                "at least one encoder",
            ));
        }
        for (i, e) in self.encoders.iter().enumerate() {
            if self.encoders[..i].iter().any(|o| o.encoder == e.encoder) {
                return Err(Error::invalid(
                    "encoders",
                    format!("{} twice", e.encoder),
                    "each encoder once",
                ));
            }
            let what = format!("{} crf_or_qp bounds", e.encoder);
            check_sub_range(
                &what,
                Some(&e.crf_or_qp),
                &native_quantiser_range(e.encoder),
            )?;
        }
        check_sub_range("gop bounds", Some(&self.gop), &GOP_RANGE)?;
        check_sub_range(
            "complexity bounds",
            Some(&self.complexity),
            &COMPLEXITY_RANGE,
        )?;
        self.tuning.validate()
    }

    /// The quantiser window of `encoder`, if it is allowed.
    pub fn encoder(&self, encoder: EncoderKind) -> Option<&EncoderBounds> {
        self.encoders.iter().find(|e| e.encoder == encoder)
    }

    /// The candidate at `height` (its width follows from the source aspect).
    pub fn width_for(&self, height: u32) -> u32 {
        width_for_height(&self.source, height)
    }

    /// True when every field of `c` is allowed.
    pub fn contains(&self, c: &Candidate) -> bool {
        let Some(e) = self.encoder(c.encoder) else {
            return false;
        };
        self.heights.contains(&c.height)
            && c.width == self.width_for(c.height)
            && e.crf_or_qp.contains(&c.crf_or_qp)
            && self.gop.contains(&c.gop)
            && self.complexity.contains(&c.complexity)
            && self.tuning.contains(c.encoder, &c.tuning)
    }

    /// The nearest allowed candidate: an unknown encoder becomes the first allowed one (its
    /// quantiser moved to the same relative place in the window), the height the nearest allowed
    /// one (the lower on a tie), the width follows the height, numbers are clamped into their
    /// ranges and tuning the encoder does not honour goes back to its default. A candidate
    /// inside the bounds is returned unchanged. (On bounds that do not validate the result is
    /// not specified, but nothing panics.)
    pub fn clamp(&self, c: &Candidate) -> Candidate {
        let (encoder, crf_or_qp) = match (self.encoder(c.encoder), self.encoders.first()) {
            (Some(e), _) => (e.encoder, clamp_to(c.crf_or_qp, &e.crf_or_qp)),
            (None, Some(target)) => {
                let from = native_quantiser_range(c.encoder);
                let mapped = map_quantiser(c.crf_or_qp, &from, &target.crf_or_qp);
                (target.encoder, mapped)
            }
            (None, None) => (c.encoder, c.crf_or_qp),
        };
        let height = self.nearest_height(c.height);
        Candidate {
            width: self.width_for(height),
            height,
            encoder,
            crf_or_qp,
            gop: clamp_to(c.gop, &self.gop),
            complexity: clamp_to(c.complexity, &self.complexity),
            tuning: self.tuning.clamp(encoder, &c.tuning),
        }
    }

    /// Index in [`Bounds::heights`] of the height nearest to `height` (the lower on a tie).
    pub(crate) fn nearest_height_index(&self, height: u32) -> usize {
        (0..self.heights.len())
            .min_by_key(|&i| self.heights[i].abs_diff(height))
            .unwrap_or(0)
    }

    fn nearest_height(&self, height: u32) -> u32 {
        self.heights
            .get(self.nearest_height_index(height))
            .copied()
            .unwrap_or(self.source.height)
    }
}

/// `q` moved from the range `from` to the same relative place in `to` (rounded).
pub(crate) fn map_quantiser(q: u8, from: &RangeInclusive<u8>, to: &RangeInclusive<u8>) -> u8 {
    let span_from = f64::from(from.end().saturating_sub(*from.start()));
    let span_to = f64::from(to.end().saturating_sub(*to.start()));
    let share = if span_from > 0.0 {
        (f64::from(q.saturating_sub(*from.start())) / span_from).clamp(0.0, 1.0)
    } else {
        0.0
    };
    // A share in 0..=1 of a span between two u8 values stays inside the u8 range.
    (f64::from(*to.start()) + (share * span_to).round()) as u8
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitswarm_core::Rational;

    fn info(width: u32, height: u32, fps: u32) -> VideoInfo {
        VideoInfo::new(width, height, Rational::new(fps, 1).unwrap()).unwrap()
    }

    fn x264_bounds(width: u32, height: u32, device: DeviceClass) -> Bounds {
        Bounds::new(info(width, height, 25), &[EncoderKind::X264], device).unwrap()
    }

    fn candidate(bounds: &Bounds, height: u32) -> Candidate {
        Candidate {
            width: bounds.width_for(height),
            height,
            encoder: EncoderKind::X264,
            crf_or_qp: 23,
            gop: 50,
            complexity: 5,
            tuning: Tuning::default(),
        }
    }

    #[test]
    fn heights_follow_source_and_device() {
        let src = info(1920, 1080, 25);
        assert_eq!(
            allowed_heights(&src, DeviceClass::Desktop),
            HEIGHT_STEPS.to_vec()
        );
        assert_eq!(
            allowed_heights(&src, DeviceClass::Mobile),
            [144, 234, 288, 360, 432, 540, 720]
        );
        let odd = info(640, 272, 25);
        assert_eq!(allowed_heights(&odd, DeviceClass::Tv), [144, 234, 272]);
        assert_eq!(allowed_heights(&info(128, 96, 25), DeviceClass::Vr), [96]);
        assert_eq!(
            allowed_heights(&info(3840, 2160, 25), DeviceClass::Vr).last(),
            Some(&2160)
        );
    }

    #[test]
    fn widths_keep_the_aspect_and_are_even() {
        let hd = info(1920, 1080, 25);
        let widths: Vec<u32> = HEIGHT_STEPS
            .iter()
            .map(|&h| width_for_height(&hd, h))
            .collect();
        assert_eq!(widths, [256, 416, 512, 640, 768, 960, 1280, 1920]);
        // 352x288 at 234 lines: 352 x 234 / 288 = 286.
        assert_eq!(width_for_height(&info(352, 288, 25), 234), 286);
        // 640x272 at 144: 338.8 -> 338 (nearest even), at 234: 550.6 -> 550.
        assert_eq!(width_for_height(&info(640, 272, 25), 144), 338);
        assert_eq!(width_for_height(&info(640, 272, 25), 234), 550);
        // Never below 16.
        assert_eq!(width_for_height(&info(16, 1000, 25), 144), 16);
    }

    #[test]
    fn default_bounds() {
        let b = Bounds::new(
            info(1280, 720, 30),
            &[
                EncoderKind::X264,
                EncoderKind::SvtAv1,
                EncoderKind::OpenH264,
            ],
            DeviceClass::Desktop,
        )
        .unwrap();
        assert_eq!(b.heights, [144, 234, 288, 360, 432, 540, 720]);
        assert_eq!(b.gop, 30..=300);
        assert_eq!(b.complexity, 1..=10);
        let windows: Vec<_> = b.encoders.iter().map(|e| e.crf_or_qp.clone()).collect();
        assert_eq!(windows, [16..=46, 20..=60, 16..=46]);
        assert_eq!(
            Bounds::new(info(640, 360, 25), &[], DeviceClass::Tv)
                .unwrap_err()
                .to_string(),
            "invalid encoders [] (expected at least one encoder)"
        );
    }

    #[test]
    fn validate_names_the_bad_field() {
        let mut b = x264_bounds(640, 360, DeviceClass::Mobile);
        b.heights = vec![360, 234];
        assert_eq!(
            b.validate().unwrap_err().to_string(),
            "invalid heights [360, 234] (expected a non-empty increasing subset of [144, 234, \
             288, 360] for a 640x360 source on Mobile)"
        );
        let mut b = x264_bounds(640, 360, DeviceClass::Mobile);
        b.encoders[0].crf_or_qp = 10..=60;
        assert_eq!(
            b.validate().unwrap_err().to_string(),
            "invalid x264 crf_or_qp bounds 10..=60 (expected a non-empty range inside 0..=51)"
        );
        let mut b = x264_bounds(640, 360, DeviceClass::Mobile);
        b.tuning.psy_rd = Some(2.0..=1.0);
        assert_eq!(
            b.validate().unwrap_err().to_string(),
            "invalid psy_rd bounds 2..=1 (expected a non-empty range inside 0..=5)"
        );
    }

    #[test]
    fn contains_and_clamp_agree() {
        let b = x264_bounds(1920, 1080, DeviceClass::Mobile);
        let ok = candidate(&b, 540);
        assert!(b.contains(&ok));
        assert_eq!(b.clamp(&ok), ok);

        // 1080 is above the mobile cap: the nearest allowed height is 720.
        let tall = candidate(&b, 1080);
        assert!(!b.contains(&tall));
        let clamped = b.clamp(&tall);
        assert_eq!((clamped.width, clamped.height), (1280, 720));
        assert!(b.contains(&clamped));

        let wild = Candidate {
            width: 7,
            height: 300,
            crf_or_qp: 51,
            gop: 5000,
            complexity: 0,
            tuning: Tuning {
                aq_strength: Some(f32::NAN),
                psy_rd: Some(9.0),
                refs: Some(0),
                ..Tuning::default()
            },
            ..ok
        };
        let c = b.clamp(&wild);
        assert!(b.contains(&c));
        assert_eq!(
            (c.width, c.height, c.crf_or_qp, c.gop, c.complexity),
            (512, 288, 46, 250, 1)
        );
        assert_eq!(
            c.tuning,
            Tuning {
                psy_rd: Some(5.0),
                refs: Some(1),
                ..Tuning::default()
            }
        );
    }

    #[test]
    fn tuning_follows_the_encoder() {
        let b = Bounds::new(
            info(640, 360, 25),
            &[EncoderKind::SvtAv1, EncoderKind::X264],
            DeviceClass::Desktop,
        )
        .unwrap();
        let tuned = Candidate {
            tuning: Tuning {
                aq_mode: Some(1),
                psy_rd: Some(1.0),
                tune: Some(Tune::Animation),
                ..Tuning::default()
            },
            crf_or_qp: 30,
            ..candidate(&b, 360)
        };
        assert!(b.contains(&tuned));
        let svt = Candidate {
            encoder: EncoderKind::SvtAv1,
            ..tuned
        };
        assert!(!b.contains(&svt));
        // SVT-AV1 has aq-mode 0 or 2 (1 is equally near both: the lower), no psy-rd, no
        // animation tune.
        let c = b.clamp(&svt);
        assert_eq!(
            c.tuning,
            Tuning {
                aq_mode: Some(0),
                ..Tuning::default()
            }
        );
        assert!(b.contains(&c));
        // An encoder outside the bounds becomes the first one, its quantiser mapped from the
        // native range 0..=51 onto SVT-AV1's window 20..=60: 30/51 of the way = 43.5 -> 44.
        let x265 = Candidate {
            encoder: EncoderKind::X265,
            ..tuned
        };
        let c = b.clamp(&x265);
        assert_eq!((c.encoder, c.crf_or_qp), (EncoderKind::SvtAv1, 44));
    }

    #[test]
    fn candidates_become_profiles() {
        let b = Bounds::new(
            info(640, 360, 25),
            &[EncoderKind::X264, EncoderKind::OpenH264],
            DeviceClass::Desktop,
        )
        .unwrap();
        let base = Profile {
            redundancy: 2,
            ..Profile::default()
        };
        let x264 = candidate(&b, 234).to_profile(&base);
        assert_eq!(x264.name, "234p-x264-crf23");
        assert_eq!(x264.rate, RateControl::Crf { crf: 23 });
        assert_eq!(
            x264.resolution,
            Resolution::Fixed {
                width: 416,
                height: 234
            }
        );
        assert_eq!((x264.gop, x264.complexity, x264.redundancy), (50, 5, 2));
        x264.validate().unwrap();
        let openh264 = Candidate {
            encoder: EncoderKind::OpenH264,
            ..candidate(&b, 360)
        }
        .to_profile(&base);
        assert_eq!(openh264.rate, RateControl::Qp { qp: 23 });
        assert_eq!(openh264.name, "360p-openh264-qp23");
        openh264.validate().unwrap();
        // Two candidates that differ only in tuning have different names.
        let tuned = Candidate {
            tuning: Tuning {
                tune: Some(Tune::Psnr),
                aq_mode: Some(0),
                aq_strength: Some(0.8),
                psy_rd: Some(1.5),
                refs: Some(8),
            },
            ..candidate(&b, 234)
        }
        .to_profile(&base);
        assert_eq!(tuned.name, "234p-x264-crf23-psnr-aq0-aqs0.8-psy1.5-ref8");
        tuned.validate().unwrap();
    }

    #[test]
    fn candidate_json_round_trip() {
        let b = x264_bounds(640, 360, DeviceClass::Desktop);
        let c = Candidate {
            tuning: Tuning {
                tune: Some(Tune::StillImage),
                aq_strength: Some(0.8),
                ..Tuning::default()
            },
            ..candidate(&b, 360)
        };
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(
            json,
            r#"{"width":640,"height":360,"encoder":"x264","crf_or_qp":23,"gop":50,"complexity":5,"tuning":{"aq_strength":0.8,"tune":"still_image"}}"#
        );
        assert_eq!(serde_json::from_str::<Candidate>(&json).unwrap(), c);
    }
}
