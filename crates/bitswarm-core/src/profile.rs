//! Encoding profiles: codec parameters plus the swarm fields (complexity level, redundancy,
//! error correction, target device class).
//!
//! A profile is plain data with a [`Profile::validate`] that names the valid range of the first
//! field that is out of it; nothing runs on an unvalidated profile.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;

use crate::{Error, Rational, Result, VideoInfo};

/// The video coding standard of a bitstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    /// H.264 / AVC.
    H264,
    /// H.265 / HEVC.
    Hevc,
    /// AV1.
    Av1,
}

impl Codec {
    /// Every codec this build knows.
    pub const ALL: &'static [Codec] = &[Codec::H264, Codec::Hevc, Codec::Av1];

    /// The lowercase name used in JSON, TOML and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Codec::H264 => "h264",
            Codec::Hevc => "hevc",
            Codec::Av1 => "av1",
        }
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The encoder implementation that produces a bitstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EncoderKind {
    /// Cisco's OpenH264, in-process (H.264).
    OpenH264,
    /// x264 through an FFmpeg binary (H.264).
    X264,
    /// x265 through an FFmpeg binary (HEVC).
    X265,
    /// SVT-AV1 through an FFmpeg binary (AV1).
    SvtAv1,
    /// libaom through an FFmpeg binary (AV1).
    Aom,
    /// rav1e, in-process (AV1).
    Rav1e,
}

/// H.264 and HEVC quantisers.
const AVC_QP: RangeInclusive<u8> = 0..=51;
/// The AV1 quantiser scale of aomenc's `--min-q`/`--max-q` and SVT-AV1's `--qp`/`--crf`.
const AV1_QP: RangeInclusive<u8> = 0..=63;
/// SVT-AV1 reads 0 as "not set", so its quantisers start at 1.
const SVT_QP: RangeInclusive<u8> = 1..=63;

impl EncoderKind {
    /// Every encoder this build knows.
    pub const ALL: &'static [EncoderKind] = &[
        EncoderKind::OpenH264,
        EncoderKind::X264,
        EncoderKind::X265,
        EncoderKind::SvtAv1,
        EncoderKind::Aom,
        EncoderKind::Rav1e,
    ];

    /// The standard of the bitstream this encoder writes.
    pub fn codec(self) -> Codec {
        match self {
            EncoderKind::OpenH264 | EncoderKind::X264 => Codec::H264,
            EncoderKind::X265 => Codec::Hevc,
            EncoderKind::SvtAv1 | EncoderKind::Aom | EncoderKind::Rav1e => Codec::Av1,
        }
    }

    /// The lowercase name used in JSON, TOML and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            EncoderKind::OpenH264 => "openh264",
            EncoderKind::X264 => "x264",
            EncoderKind::X265 => "x265",
            EncoderKind::SvtAv1 => "svtav1",
            EncoderKind::Aom => "aom",
            EncoderKind::Rav1e => "rav1e",
        }
    }

    /// True when the encoder runs inside the bitswarm process; the others need an FFmpeg binary.
    pub fn in_process(self) -> bool {
        matches!(self, EncoderKind::OpenH264 | EncoderKind::Rav1e)
    }

    /// Valid [`RateControl::Qp`] values: H.264/HEVC QP for the H.264 and HEVC encoders, the
    /// 0..=63 AV1 quantiser scale for the AV1 encoders (SVT-AV1 from 1).
    pub fn qp_range(self) -> RangeInclusive<u8> {
        match self {
            EncoderKind::OpenH264 | EncoderKind::X264 | EncoderKind::X265 => AVC_QP,
            EncoderKind::SvtAv1 => SVT_QP,
            EncoderKind::Aom | EncoderKind::Rav1e => AV1_QP,
        }
    }

    /// Valid [`RateControl::Crf`] values, or `None` for an encoder without a constant-quality
    /// mode (OpenH264, rav1e).
    pub fn crf_range(self) -> Option<RangeInclusive<u8>> {
        match self {
            EncoderKind::X264 | EncoderKind::X265 => Some(AVC_QP),
            EncoderKind::SvtAv1 => Some(SVT_QP),
            EncoderKind::Aom => Some(AV1_QP),
            EncoderKind::OpenH264 | EncoderKind::Rav1e => None,
        }
    }
}

/// The names of [`EncoderKind::ALL`], comma-separated (for error messages).
pub(crate) fn encoder_names() -> String {
    let names: Vec<&str> = EncoderKind::ALL.iter().map(|e| e.name()).collect();
    names.join(", ")
}

impl fmt::Display for EncoderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for EncoderKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        EncoderKind::ALL
            .iter()
            .copied()
            .find(|e| e.name() == s)
            .ok_or_else(|| Error::UnknownEncoder(s.to_owned()))
    }
}

/// The class of device a profile is made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceClass {
    Mobile,
    Desktop,
    Tv,
    Vr,
}

/// How the encoder spends bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "mode")]
pub enum RateControl {
    /// Average bitrate in kbit/s.
    Bitrate { kbps: u32 },
    /// Constant quantiser: H.264/HEVC QP 0 (best) ..= 51 (worst) for the H.264 and HEVC
    /// encoders, the AV1 quantiser scale 0..=63 for the AV1 encoders
    /// ([`EncoderKind::qp_range`]).
    Qp { qp: u8 },
    /// Constant quality (x264/x265 CRF 0..=51, SVT-AV1 1..=63, libaom 0..=63; lower is better;
    /// [`EncoderKind::crf_range`]).
    Crf { crf: u8 },
}

/// Output resolution of a profile; written `"source"` or `"WIDTHxHEIGHT"` in JSON and TOML.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Resolution {
    /// Keep the source's width and height.
    Source,
    /// Scale to this size.
    Fixed { width: u32, height: u32 },
}

impl Resolution {
    /// The output size for a source of `source` geometry.
    pub fn resolve(self, source: &VideoInfo) -> (u32, u32) {
        match self {
            Resolution::Source => (source.width, source.height),
            Resolution::Fixed { width, height } => (width, height),
        }
    }
}

impl fmt::Display for Resolution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Resolution::Source => f.write_str("source"),
            Resolution::Fixed { width, height } => write!(f, "{width}x{height}"),
        }
    }
}

impl From<Resolution> for String {
    fn from(r: Resolution) -> String {
        r.to_string()
    }
}

impl TryFrom<String> for Resolution {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl FromStr for Resolution {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        if s == "source" {
            return Ok(Resolution::Source);
        }
        let bad = || Error::OutOfRange {
            field: "resolution",
            value: format!("{s:?}"),
            expected: "\"source\" or \"WIDTHxHEIGHT\"".into(),
        };
        let (w, h) = s.split_once('x').ok_or_else(bad)?;
        Ok(Resolution::Fixed {
            width: w.parse().map_err(|_| bad())?,
            height: h.parse().map_err(|_| bad())?,
        })
    }
}

/// Valid range of [`Profile::complexity`].
pub const COMPLEXITY_RANGE: std::ops::RangeInclusive<u8> = 1..=10;
/// Valid range of [`Profile::redundancy`].
pub const REDUNDANCY_RANGE: std::ops::RangeInclusive<u8> = 0..=8;
/// Valid range of [`Profile::error_correction`].
pub const ERROR_CORRECTION_RANGE: std::ops::RangeInclusive<u8> = 0..=3;
/// Valid range of [`Profile::gop`], in frames.
pub const GOP_RANGE: std::ops::RangeInclusive<u32> = 1..=1000;
/// Valid range of a bitrate, kbit/s.
pub const BITRATE_RANGE: std::ops::RangeInclusive<u32> = 16..=200_000;
/// Valid range of an H.264 QP (the QP range of the H.264 and HEVC encoders).
pub const QP_RANGE: std::ops::RangeInclusive<u8> = 0..=51;

/// Valid range of [`Tuning::aq_mode`] (each encoder accepts a part of it:
/// [`TuningSupport::aq_modes`]).
pub const AQ_MODE_RANGE: RangeInclusive<u8> = 0..=3;
/// Valid range of [`Tuning::aq_strength`].
pub const AQ_STRENGTH_RANGE: RangeInclusive<f32> = 0.0..=3.0;
/// Valid range of [`Tuning::psy_rd`].
pub const PSY_RD_RANGE: RangeInclusive<f32> = 0.0..=5.0;
/// Valid range of [`Tuning::refs`], in frames.
pub const REFS_RANGE: RangeInclusive<u8> = 1..=16;

/// A content or metric preset of the encoder (`-tune` of x264, x265 and libaom).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tune {
    Film,
    Animation,
    Grain,
    StillImage,
    Psnr,
    Ssim,
}

impl Tune {
    /// Every tune this build knows.
    pub const ALL: &'static [Tune] = &[
        Tune::Film,
        Tune::Animation,
        Tune::Grain,
        Tune::StillImage,
        Tune::Psnr,
        Tune::Ssim,
    ];

    /// The snake_case name used in JSON, TOML and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Tune::Film => "film",
            Tune::Animation => "animation",
            Tune::Grain => "grain",
            Tune::StillImage => "still_image",
            Tune::Psnr => "psnr",
            Tune::Ssim => "ssim",
        }
    }
}

impl fmt::Display for Tune {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Tune {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Tune::ALL
            .iter()
            .copied()
            .find(|t| t.name() == s)
            .ok_or_else(|| Error::OutOfRange {
                field: "tune",
                value: format!("{s:?}"),
                expected: names(Tune::ALL),
            })
    }
}

/// Comma-separated names of `tunes`, or `none`.
fn names(tunes: &[Tune]) -> String {
    if tunes.is_empty() {
        return "none".into();
    }
    let names: Vec<&str> = tunes.iter().map(|t| t.name()).collect();
    names.join(", ")
}

/// Encoder tuning beyond preset and rate; `None` = the encoder's default.
///
/// Which encoder honours which field is [`EncoderKind::tuning_support`]; the mapping to encoder
/// options is in docs/CODEC.md.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Tuning {
    /// Adaptive quantisation mode, 0 (off) ..= 3; the meaning of each mode is the encoder's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aq_mode: Option<u8>,
    /// Adaptive quantisation strength 0.0 ..= 3.0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aq_strength: Option<f32>,
    /// Psycho-visual rate-distortion strength 0.0 ..= 5.0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub psy_rd: Option<f32>,
    /// Reference frames 1 ..= 16.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refs: Option<u8>,
    /// Content or metric preset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tune: Option<Tune>,
}

impl Tuning {
    /// True when every field is left to the encoder (nothing to serialise).
    pub fn is_default(&self) -> bool {
        *self == Tuning::default()
    }

    /// The set fields in a few characters, `-`-separated, for profile names: `psnr-aq0-ref8`
    /// (tune, `aq` mode, `aqs` strength, `psy` strength, `ref` frames); empty for the default.
    pub fn short_name(&self) -> String {
        let mut parts: Vec<String> = self.tune.iter().map(|t| t.name().to_owned()).collect();
        parts.extend(self.aq_mode.map(|v| format!("aq{v}")));
        parts.extend(self.aq_strength.map(|v| format!("aqs{v}")));
        parts.extend(self.psy_rd.map(|v| format!("psy{v}")));
        parts.extend(self.refs.map(|v| format!("ref{v}")));
        parts.join("-")
    }

    /// Checks every field against its range and against what `encoder` honours.
    pub fn validate(&self, encoder: EncoderKind) -> Result<()> {
        if let Some(v) = self.aq_mode {
            check("aq_mode", v, AQ_MODE_RANGE)?;
        }
        if let Some(v) = self.aq_strength {
            check("aq_strength", v, AQ_STRENGTH_RANGE)?;
        }
        if let Some(v) = self.psy_rd {
            check("psy_rd", v, PSY_RD_RANGE)?;
        }
        if let Some(v) = self.refs {
            check("refs", v, REFS_RANGE)?;
        }
        let support = encoder.tuning_support();
        let refuse = |what: String| {
            Error::Unsupported(format!(
                "{what} with {encoder} (it supports {})",
                support.describe()
            ))
        };
        if let Some(v) = self.aq_mode {
            if support.aq_modes.is_empty() {
                return Err(refuse("aq_mode".into()));
            }
            if !support.aq_modes.contains(&v) {
                return Err(Error::OutOfRange {
                    field: "aq_mode",
                    value: v.to_string(),
                    expected: format!("{} with {encoder}", support.aq_modes_text()),
                });
            }
        }
        if self.aq_strength.is_some() && !support.aq_strength {
            return Err(refuse("aq_strength".into()));
        }
        if self.psy_rd.is_some() && !support.psy_rd {
            return Err(refuse("psy_rd".into()));
        }
        if self.refs.is_some() && !support.refs {
            return Err(refuse("refs".into()));
        }
        match self.tune {
            Some(tune) if !support.tunes.contains(&tune) => Err(refuse(format!("tune={tune}"))),
            _ => Ok(()),
        }
    }
}

/// The [`Tuning`] fields one encoder honours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TuningSupport {
    /// The `aq_mode` values it accepts (empty: no adaptive-quantisation switch).
    pub aq_modes: &'static [u8],
    pub aq_strength: bool,
    pub psy_rd: bool,
    pub refs: bool,
    /// The tunes it accepts (empty: none).
    pub tunes: &'static [Tune],
}

impl TuningSupport {
    /// The accepted `aq_mode` values, `|`-separated (`"0|2"`).
    fn aq_modes_text(&self) -> String {
        let modes: Vec<String> = self.aq_modes.iter().map(u8::to_string).collect();
        modes.join("|")
    }

    /// One line for error messages: `"aq_mode 0|2, tune psnr"`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.aq_modes.is_empty() {
            parts.push(format!("aq_mode {}", self.aq_modes_text()));
        }
        for (field, supported) in [
            ("aq_strength", self.aq_strength),
            ("psy_rd", self.psy_rd),
            ("refs", self.refs),
        ] {
            if supported {
                parts.push(field.to_owned());
            }
        }
        if !self.tunes.is_empty() {
            parts.push(format!("tune {}", names(self.tunes).replace(", ", "|")));
        }
        if parts.is_empty() {
            "no tuning".into()
        } else {
            parts.join(", ")
        }
    }
}

impl EncoderKind {
    /// The [`Tuning`] fields this encoder honours (the option mapping is in docs/CODEC.md).
    ///
    /// SVT-AV1 is held to what its 1.4 series (Debian 12's FFmpeg) honours: `tune` 1 (PSNR)
    /// and `aq-mode` 0 or 2 (1.4 replaces mode 1 by 2); its SSIM tune and variance boost
    /// (2.x) are not offered. OpenH264 honours none: its parameter check switches adaptive
    /// quantisation off whatever is asked, and its camera mode searches one reference frame.
    pub fn tuning_support(self) -> TuningSupport {
        use Tune::{Animation, Film, Grain, Psnr, Ssim, StillImage};
        const ALL_AQ: &[u8] = &[0, 1, 2, 3];
        let none = TuningSupport {
            aq_modes: &[],
            aq_strength: false,
            psy_rd: false,
            refs: false,
            tunes: &[],
        };
        match self {
            EncoderKind::OpenH264 => none,
            EncoderKind::X264 => TuningSupport {
                aq_modes: ALL_AQ,
                aq_strength: true,
                psy_rd: true,
                refs: true,
                tunes: &[Film, Animation, Grain, StillImage, Psnr, Ssim],
            },
            EncoderKind::X265 => TuningSupport {
                aq_modes: ALL_AQ,
                aq_strength: true,
                psy_rd: true,
                refs: true,
                tunes: &[Animation, Grain, Psnr, Ssim],
            },
            EncoderKind::SvtAv1 => TuningSupport {
                aq_modes: &[0, 2],
                tunes: &[Psnr],
                ..none
            },
            EncoderKind::Aom => TuningSupport {
                aq_modes: ALL_AQ,
                tunes: &[Psnr, Ssim],
                ..none
            },
            EncoderKind::Rav1e => TuningSupport {
                tunes: &[Psnr],
                ..none
            },
        }
    }
}

/// One encoding profile. Fields left out of a TOML or JSON profile take their defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Profile {
    /// A short name for reports (`"main"`, `"mobile-360p"`).
    pub name: String,
    pub encoder: EncoderKind,
    pub resolution: Resolution,
    pub rate: RateControl,
    /// Keyframe interval in frames; every chunk starts a closed GOP.
    pub gop: u32,
    /// Output frame rate; `None` keeps the source rate (the only mode the encoder path runs today).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fps: Option<Rational>,
    /// Computational cost 1 (cheapest) ..= 10 (most effort), mapped to encoder effort.
    pub complexity: u8,
    /// Extra servers that encode each chunk in parallel (0 = one copy).
    pub redundancy: u8,
    /// Error-correction level 0 (none) ..= 3, carried to delivery (FEC); see docs/PROFILES.md.
    pub error_correction: u8,
    pub device: DeviceClass,
    /// Encoder tuning; left out of JSON and TOML when every field is the encoder's default.
    #[serde(default, skip_serializing_if = "Tuning::is_default")]
    pub tuning: Tuning,
}

impl Default for Profile {
    fn default() -> Self {
        Self {
            name: "main".into(),
            encoder: EncoderKind::OpenH264,
            resolution: Resolution::Source,
            rate: RateControl::Qp { qp: 26 },
            gop: 50,
            fps: None,
            complexity: 5,
            redundancy: 0,
            error_correction: 0,
            device: DeviceClass::Desktop,
            tuning: Tuning::default(),
        }
    }
}

fn check<T: PartialOrd + Copy + fmt::Display>(
    field: &'static str,
    value: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<()> {
    if range.contains(&value) {
        Ok(())
    } else {
        Err(Error::OutOfRange {
            field,
            value: value.to_string(),
            expected: format!("{}..={}", range.start(), range.end()),
        })
    }
}

impl Profile {
    /// Checks every field against its range.
    pub fn validate(&self) -> Result<()> {
        if self.name.is_empty() || self.name.len() > 64 {
            return Err(Error::OutOfRange {
                field: "name",
                value: format!("{:?}", self.name),
                expected: "1..=64 characters".into(),
            });
        }
        check("complexity", self.complexity, COMPLEXITY_RANGE)?;
        check("redundancy", self.redundancy, REDUNDANCY_RANGE)?;
        check(
            "error_correction",
            self.error_correction,
            ERROR_CORRECTION_RANGE,
        )?;
        check("gop", self.gop, GOP_RANGE)?;
        match self.rate {
            RateControl::Bitrate { kbps } => check("bitrate", kbps, BITRATE_RANGE)?,
            RateControl::Qp { qp } => check("qp", qp, self.encoder.qp_range())?,
            RateControl::Crf { crf } => match self.encoder.crf_range() {
                Some(range) => check("crf", crf, range)?,
                None => {
                    return Err(Error::Unsupported(format!(
                        "crf rate control with {} (it has qp and bitrate modes)",
                        self.encoder
                    )))
                }
            },
        }
        if let Resolution::Fixed { width, height } = self.resolution {
            let fps = Rational { num: 25, den: 1 };
            VideoInfo::new(width, height, fps)?;
        }
        self.tuning.validate(self.encoder)?;
        if let Some(fps) = self.fps {
            return Err(Error::Unsupported(format!(
                "frame-rate conversion to {fps} (profiles keep the source frame rate: leave `fps` out)"
            )));
        }
        Ok(())
    }

    /// Output geometry of this profile for a source.
    pub fn output_info(&self, source: &VideoInfo) -> VideoInfo {
        let (width, height) = self.resolution.resolve(source);
        VideoInfo {
            width,
            height,
            fps: source.fps,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_profile_is_valid() {
        Profile::default().validate().unwrap();
    }

    #[test]
    fn out_of_range_fields_name_the_range() {
        let p = Profile {
            complexity: 11,
            ..Profile::default()
        };
        assert_eq!(
            p.validate().unwrap_err().to_string(),
            "invalid complexity 11 (expected 1..=10)"
        );
        let p = Profile {
            rate: RateControl::Qp { qp: 60 },
            ..Profile::default()
        };
        assert_eq!(
            p.validate().unwrap_err().to_string(),
            "invalid qp 60 (expected 0..=51)"
        );
        let p = Profile {
            resolution: Resolution::Fixed {
                width: 641,
                height: 360,
            },
            ..Profile::default()
        };
        assert!(p.validate().unwrap_err().to_string().contains("641"));
    }

    #[test]
    fn profile_round_trips_through_json() {
        let p = Profile {
            resolution: Resolution::Fixed {
                width: 640,
                height: 360,
            },
            rate: RateControl::Bitrate { kbps: 800 },
            device: DeviceClass::Vr,
            ..Profile::default()
        };
        let json = serde_json::to_string(&p).unwrap();
        assert!(json.contains(r#""device":"vr""#), "{json}");
        let back: Profile = serde_json::from_str(&json).unwrap();
        assert_eq!(back, p);
        assert!(json.contains(r#""resolution":"640x360""#), "{json}");
        assert_eq!("source".parse::<Resolution>().unwrap(), Resolution::Source);
        assert!("640by360".parse::<Resolution>().is_err());
    }

    #[test]
    fn default_tuning_is_left_out_of_json() {
        let json = serde_json::to_string(&Profile::default()).unwrap();
        assert!(!json.contains("tuning"), "{json}");
        let back: Profile = serde_json::from_str(&json).unwrap();
        assert_eq!(back.tuning, Tuning::default());
    }

    #[test]
    fn tuning_round_trips_through_json() {
        let p = Profile {
            encoder: EncoderKind::X264,
            tuning: Tuning {
                aq_mode: Some(3),
                psy_rd: Some(1.5),
                tune: Some(Tune::StillImage),
                ..Tuning::default()
            },
            ..Profile::default()
        };
        p.validate().unwrap();
        let json = serde_json::to_string(&p).unwrap();
        assert!(
            json.contains(r#""tuning":{"aq_mode":3,"psy_rd":1.5,"tune":"still_image"}"#),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<Profile>(&json).unwrap(), p);
        let err = serde_json::from_str::<Profile>(r#"{"tuning":{"aq_mod":1}}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `aq_mod`"), "{err}");
    }

    #[test]
    fn tune_names_parse_and_match_serde() {
        for &tune in Tune::ALL {
            assert_eq!(tune.name().parse::<Tune>().unwrap(), tune);
            let json = serde_json::to_string(&tune).unwrap();
            assert_eq!(json, format!("\"{}\"", tune.name()));
        }
        assert_eq!(
            "fastdecode".parse::<Tune>().unwrap_err().to_string(),
            "invalid tune \"fastdecode\" (expected film, animation, grain, still_image, psnr, ssim)"
        );
    }

    #[test]
    fn tuning_ranges_and_encoder_support_are_checked() {
        use EncoderKind::{Aom, OpenH264, Rav1e, SvtAv1, X264, X265};
        let t = Tuning::default();
        let aq = |v| Tuning {
            aq_mode: Some(v),
            ..t
        };
        let strength = |v| Tuning {
            aq_strength: Some(v),
            ..t
        };
        let psy = |v| Tuning {
            psy_rd: Some(v),
            ..t
        };
        let refs = |v| Tuning { refs: Some(v), ..t };
        let tune = |v| Tuning { tune: Some(v), ..t };
        let full = Tuning {
            aq_mode: Some(1),
            aq_strength: Some(0.8),
            psy_rd: Some(1.0),
            refs: Some(4),
            tune: Some(Tune::Grain),
        };
        let cases: [(EncoderKind, Tuning, &str); 17] = [
            (
                X264,
                strength(3.5),
                "invalid aq_strength 3.5 (expected 0..=3)",
            ),
            (
                X264,
                strength(f32::NAN),
                "invalid aq_strength NaN (expected 0..=3)",
            ),
            (X265, psy(5.5), "invalid psy_rd 5.5 (expected 0..=5)"),
            (X264, refs(0), "invalid refs 0 (expected 1..=16)"),
            (X264, refs(17), "invalid refs 17 (expected 1..=16)"),
            (X264, aq(4), "invalid aq_mode 4 (expected 0..=3)"),
            (
                OpenH264,
                aq(1),
                "not supported: aq_mode with openh264 (it supports no tuning)",
            ),
            (
                SvtAv1,
                aq(1),
                "invalid aq_mode 1 (expected 0|2 with svtav1)",
            ),
            (
                SvtAv1,
                tune(Tune::Animation),
                "not supported: tune=animation with svtav1 (it supports aq_mode 0|2, tune psnr)",
            ),
            (
                X265,
                tune(Tune::Film),
                "not supported: tune=film with x265 (it supports aq_mode 0|1|2|3, aq_strength, \
                 psy_rd, refs, tune animation|grain|psnr|ssim)",
            ),
            (
                Rav1e,
                refs(2),
                "not supported: refs with rav1e (it supports tune psnr)",
            ),
            (
                Aom,
                psy(1.0),
                "not supported: psy_rd with aom (it supports aq_mode 0|1|2|3, tune psnr|ssim)",
            ),
            (
                OpenH264,
                refs(2),
                "not supported: refs with openh264 (it supports no tuning)",
            ),
            (X264, full, ""),
            (X265, full, ""),
            (Rav1e, tune(Tune::Psnr), ""),
            (
                SvtAv1,
                Tuning {
                    aq_mode: Some(0),
                    tune: Some(Tune::Psnr),
                    ..t
                },
                "",
            ),
        ];
        for (encoder, tuning, want) in cases {
            let p = Profile {
                encoder,
                tuning,
                ..Profile::default()
            };
            let got = p
                .validate()
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert_eq!(got, want, "{encoder} {tuning:?}");
        }
    }

    #[test]
    fn encoder_names_parse_and_match_serde() {
        for &kind in EncoderKind::ALL {
            assert_eq!(kind.name().parse::<EncoderKind>().unwrap(), kind);
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.name()));
        }
        assert_eq!(
            "x266".parse::<EncoderKind>().unwrap_err().to_string(),
            "unknown encoder \"x266\" (known: openh264, x264, x265, svtav1, aom, rav1e)"
        );
        let codecs: Vec<Codec> = EncoderKind::ALL.iter().map(|e| e.codec()).collect();
        use Codec::{Av1, Hevc, H264};
        assert_eq!(codecs, [H264, H264, Hevc, Av1, Av1, Av1]);
        assert_eq!(serde_json::to_string(&Codec::Hevc).unwrap(), "\"hevc\"");
    }

    #[test]
    fn rate_control_ranges_depend_on_the_encoder() {
        let with = |encoder, rate| {
            Profile {
                encoder,
                rate,
                ..Profile::default()
            }
            .validate()
            .map_err(|e| e.to_string())
        };
        assert_eq!(with(EncoderKind::Aom, RateControl::Qp { qp: 63 }), Ok(()));
        assert_eq!(
            with(EncoderKind::X265, RateControl::Qp { qp: 63 }),
            Err("invalid qp 63 (expected 0..=51)".into())
        );
        assert_eq!(
            with(EncoderKind::SvtAv1, RateControl::Crf { crf: 0 }),
            Err("invalid crf 0 (expected 1..=63)".into())
        );
        assert_eq!(
            with(EncoderKind::X264, RateControl::Crf { crf: 23 }),
            Ok(())
        );
        assert_eq!(
            with(EncoderKind::Rav1e, RateControl::Crf { crf: 30 }),
            Err("not supported: crf rate control with rav1e (it has qp and bitrate modes)".into())
        );
        let json = serde_json::to_string(&RateControl::Crf { crf: 28 }).unwrap();
        assert_eq!(json, r#"{"mode":"crf","crf":28}"#);
    }
}
