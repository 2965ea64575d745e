//! The client capability vector: what a player can decode and show. Decoders and the decoder's
//! maximum resolution are hard limits (a rung outside them is never sent); screen size, compute
//! class and device class are soft preferences used by the mixing-matrix policy and the RL agent.

use bitswarm_core::DeviceClass;
use serde::{Deserialize, Serialize};

use crate::ladder::{Ladder, Rung, VideoCodec};
use crate::{Error, Result};

/// Valid compute classes (1 = weakest CPU/GPU, 5 = strongest).
pub const COMPUTE_RANGE: std::ops::RangeInclusive<u8> = 1..=5;

/// Lowest and highest picture heights of the normalised resolution scale (log scale).
const HEIGHT_SCALE: (f64, f64) = (144.0, 2160.0);

/// Length of [`ClientCaps::vector`].
pub const CAPABILITY_DIMS: usize = 8;

/// What a client can decode and display. Plain data; check with [`ClientCaps::validate`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientCaps {
    /// Codecs the client decodes.
    pub decoders: Vec<VideoCodec>,
    /// Largest picture the decoder accepts.
    pub max_width: u32,
    pub max_height: u32,
    /// CPU/GPU class, 1 (weakest) ..= 5.
    pub compute: u8,
    pub screen_width: u32,
    pub screen_height: u32,
    pub device: DeviceClass,
}

impl Default for ClientCaps {
    /// A desktop browser: every codec, up to 2160p, a 1080p screen, middle compute class.
    fn default() -> Self {
        Self {
            decoders: VideoCodec::ALL.to_vec(),
            max_width: 3840,
            max_height: 2160,
            compute: 3,
            screen_width: 1920,
            screen_height: 1080,
            device: DeviceClass::Desktop,
        }
    }
}

/// Names of the built-in client presets, for `--client NAME`.
pub const CLIENT_PRESETS: &[&str] = &["desktop", "phone", "tv", "legacy"];

fn log_height(h: f64) -> f64 {
    ((h / HEIGHT_SCALE.0).ln() / (HEIGHT_SCALE.1 / HEIGHT_SCALE.0).ln()).clamp(0.0, 1.0)
}

impl ClientCaps {
    /// A built-in client: `desktop` (the default), `phone` (H.264/HEVC up to 1080p, 720p
    /// screen, weak CPU), `tv` (every codec, 2160p screen) or `legacy` (H.264 only, up to
    /// 640x360, weakest CPU).
    pub fn preset(name: &str) -> Result<ClientCaps> {
        let d = ClientCaps::default();
        let caps = match name {
            "desktop" => d,
            "phone" => ClientCaps {
                decoders: vec![VideoCodec::H264, VideoCodec::Hevc],
                max_width: 1920,
                max_height: 1080,
                compute: 2,
                screen_width: 1280,
                screen_height: 720,
                device: DeviceClass::Mobile,
            },
            "tv" => ClientCaps {
                compute: 4,
                screen_width: 3840,
                screen_height: 2160,
                device: DeviceClass::Tv,
                ..d
            },
            "legacy" => ClientCaps {
                decoders: vec![VideoCodec::H264],
                max_width: 640,
                max_height: 360,
                compute: 1,
                screen_width: 800,
                screen_height: 480,
                device: DeviceClass::Mobile,
            },
            other => {
                return Err(Error::Config {
                    field: "client",
                    value: format!("{other:?}"),
                    expected: format!("one of {} or a JSON file", CLIENT_PRESETS.join(", ")),
                })
            }
        };
        Ok(caps)
    }

    /// Parses a client from JSON (fields of [`ClientCaps`]; missing ones take the defaults).
    pub fn parse_json(name: &str, text: &str) -> Result<ClientCaps> {
        let caps: ClientCaps = serde_json::from_str(text).map_err(|e| Error::Config {
            field: "client",
            value: name.to_owned(),
            expected: format!("a JSON client description ({e})"),
        })?;
        caps.validate()?;
        Ok(caps)
    }

    pub fn validate(&self) -> Result<()> {
        if self.decoders.is_empty() {
            return Err(Error::Config {
                field: "client decoders",
                value: "[]".into(),
                expected: "at least one of h264, hevc, vp9, av1".into(),
            });
        }
        if !COMPUTE_RANGE.contains(&self.compute) {
            return Err(Error::Config {
                field: "client compute class",
                value: self.compute.to_string(),
                expected: format!("{}..={}", COMPUTE_RANGE.start(), COMPUTE_RANGE.end()),
            });
        }
        for (field, w, h) in [
            ("client max resolution", self.max_width, self.max_height),
            ("client screen", self.screen_width, self.screen_height),
        ] {
            if w == 0 || h == 0 {
                return Err(Error::Config {
                    field,
                    value: format!("{w}x{h}"),
                    expected: "positive width and height".into(),
                });
            }
        }
        Ok(())
    }

    /// Hard limit: the codec is decoded and the picture fits the decoder.
    pub fn can_decode(&self, rung: &Rung) -> bool {
        self.decoders.contains(&rung.codec)
            && rung.width <= self.max_width
            && rung.height <= self.max_height
    }

    /// Indices of the rungs this client can decode, by ascending bitrate.
    pub fn allowed_rungs(&self, ladder: &Ladder) -> Vec<usize> {
        (0..ladder.rung_count())
            .filter(|&i| self.can_decode(&ladder.rungs()[i]))
            .collect()
    }

    /// The normalised capability vector, every entry in [0, 1]:
    /// `[screen, max_resolution, compute, device, h264, hevc, vp9, av1]`. Screen and maximum
    /// resolution are picture heights on a log scale from 144p (0) to 2160p (1); compute is
    /// `(class - 1) / 4`; device is mobile 0, desktop 1/3, TV 2/3, VR 1; the last four are
    /// decoder flags.
    pub fn vector(&self) -> [f64; CAPABILITY_DIMS] {
        let device = match self.device {
            DeviceClass::Mobile => 0.0,
            DeviceClass::Desktop => 1.0 / 3.0,
            DeviceClass::Tv => 2.0 / 3.0,
            DeviceClass::Vr => 1.0,
        };
        let flag = |c: VideoCodec| f64::from(u8::from(self.decoders.contains(&c)));
        [
            log_height(f64::from(self.screen_height)),
            log_height(f64::from(self.max_height)),
            f64::from(self.compute.saturating_sub(1)) / 4.0,
            device,
            flag(VideoCodec::H264),
            flag(VideoCodec::Hevc),
            flag(VideoCodec::Vp9),
            flag(VideoCodec::Av1),
        ]
    }
}

/// A rung's picture height on the same log scale as the client's screen, in [0, 1].
pub fn rung_resolution(rung: &Rung) -> f64 {
    log_height(f64::from(rung.height))
}

/// A rung's decoding load, in [0, 1]: log of pixels x fps x codec cost, from 144p at 24 fps
/// H.264 (0) to 2160p at 60 fps AV1 (1).
pub fn rung_decode_load(rung: &Rung) -> f64 {
    let load = f64::from(rung.width) * f64::from(rung.height) * rung.fps * rung.codec.decode_cost();
    let lo = 256.0 * 144.0 * 24.0;
    let hi = 3840.0 * 2160.0 * 60.0 * VideoCodec::Av1.decode_cost();
    ((load / lo).ln() / (hi / lo).ln()).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_validate_and_vectors_are_normalised() {
        for name in CLIENT_PRESETS {
            let c = ClientCaps::preset(name).unwrap();
            c.validate().unwrap();
            assert!(c.vector().iter().all(|x| (0.0..=1.0).contains(x)), "{name}");
        }
        let tv = ClientCaps::preset("tv").unwrap().vector();
        assert_eq!(tv[0], 1.0);
        assert_eq!(
            ClientCaps::preset("legacy").unwrap().vector()[4..],
            [1.0, 0.0, 0.0, 0.0]
        );
        assert_eq!(
            ClientCaps::preset("watch").unwrap_err().to_string(),
            "invalid client \"watch\" (expected one of desktop, phone, tv, legacy or a JSON file)"
        );
    }

    #[test]
    fn json_client_and_validation() {
        let c = ClientCaps::parse_json(
            "c",
            r#"{"decoders": ["h264"], "max_height": 720, "device": "mobile"}"#,
        )
        .unwrap();
        assert_eq!(
            (c.max_width, c.max_height, c.device),
            (3840, 720, DeviceClass::Mobile)
        );
        let err = ClientCaps::parse_json("c", r#"{"compute": 9}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid client compute class 9 (expected 1..=5)"
        );
        let err = ClientCaps::parse_json("c", r#"{"decoders": []}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid client decoders [] (expected at least one of h264, hevc, vp9, av1)"
        );
    }
}
