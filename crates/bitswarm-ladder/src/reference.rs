//! The fixed reference ladder swarm ladders are measured against: Apple's HLS authoring ladder
//! for H.264 16:9 content.
//!
//! For a source, the rungs are the Apple rungs at or below the source height; each keeps the
//! source aspect ([`width_for_height`], even width) and its bitrate is scaled by
//! `min(1, fps / 30)` (rounded to whole kbit/s, half up). They are meant for a 1-pass average
//! bitrate encode with `maxrate = 1.1 x bitrate` and `bufsize = 2 x bitrate`.
//!
//! A small source gets few rungs: 352x288 keeps only the 234-line rung, and a single rung is
//! one rate-quality point, on which BD-rate is not defined ([`crate::bd_rate`] says so); a
//! source under 234 lines gets none.

use bitswarm_core::{Profile, RateControl, Resolution, VideoInfo};
use serde::{Deserialize, Serialize};

use crate::{width_for_height, Result};

/// Apple HLS authoring specification, H.264 16:9 ladder: (width, height, kbit/s) at 30 fps.
pub const APPLE_HLS_H264: [(u32, u32, u32); 9] = [
    (416, 234, 145),
    (640, 360, 365),
    (768, 432, 730),
    (768, 432, 1100),
    (960, 540, 2000),
    (1280, 720, 3000),
    (1280, 720, 4500),
    (1920, 1080, 6000),
    (1920, 1080, 7800),
];

/// One rung of the reference ladder for a given source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferenceRung {
    pub width: u32,
    pub height: u32,
    /// Average bitrate, kbit/s.
    pub kbps: u32,
    /// Peak rate of the rate control, kbit/s (1.1 x `kbps`).
    pub maxrate_kbps: u32,
    /// Rate-control buffer, kbit (2 x `kbps`).
    pub bufsize_kbit: u32,
}

impl ReferenceRung {
    /// `base` at this rung's size and average bitrate, named like `ref-360p-365k`. (A
    /// [`Profile`] carries no maxrate or bufsize: an encoder that honours them reads them from
    /// the rung.)
    pub fn to_profile(&self, base: &Profile) -> Profile {
        Profile {
            name: format!("ref-{}p-{}k", self.height, self.kbps),
            resolution: Resolution::Fixed {
                width: self.width,
                height: self.height,
            },
            rate: RateControl::Bitrate { kbps: self.kbps },
            ..base.clone()
        }
    }
}

/// The reference ladder for `source` (module docs), lowest rung first; an error for a source
/// geometry [`VideoInfo::new`] refuses.
pub fn reference_ladder(source: &VideoInfo) -> Result<Vec<ReferenceRung>> {
    VideoInfo::new(source.width, source.height, source.fps)?;
    // Scale = min(1, fps / 30) = num / (30 den) when below 1; integer arithmetic, half up.
    let (num, den) = (u64::from(source.fps.num), u64::from(source.fps.den) * 30);
    let scale = |kbps: u32| -> u32 {
        if num >= den {
            kbps
        } else {
            // Below the original rate, so it fits in u32.
            ((u64::from(kbps) * num * 2 + den) / (den * 2)) as u32
        }
    };
    Ok(APPLE_HLS_H264
        .iter()
        .filter(|&&(_, height, _)| height <= source.height)
        .map(|&(_, height, kbps)| {
            let kbps = scale(kbps);
            ReferenceRung {
                width: width_for_height(source, height),
                height,
                kbps,
                maxrate_kbps: (kbps * 11 + 5) / 10,
                bufsize_kbit: kbps * 2,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{bd_rate, Point};
    use bitswarm_core::Rational;

    fn ladder(width: u32, height: u32, num: u32, den: u32) -> Vec<(u32, u32, u32, u32, u32)> {
        let source = VideoInfo::new(width, height, Rational::new(num, den).unwrap()).unwrap();
        reference_ladder(&source)
            .unwrap()
            .iter()
            .map(|r| (r.width, r.height, r.kbps, r.maxrate_kbps, r.bufsize_kbit))
            .collect()
    }

    #[test]
    fn ladder_for_640x360_at_30() {
        assert_eq!(
            ladder(640, 360, 30, 1),
            [(416, 234, 145, 160, 290), (640, 360, 365, 402, 730)]
        );
    }

    #[test]
    fn ladder_for_352x288_at_25_has_one_rung() {
        // 352 x 234 / 288 = 286; 145 x 25/30 = 120.8 -> 121; maxrate 133.1 -> 133.
        let rungs = ladder(352, 288, 25, 1);
        assert_eq!(rungs, [(286, 234, 121, 133, 242)]);
        // One rung is one point: BD-rate against it is not defined.
        let point = [Point {
            kbps: 121.0,
            quality: 80.0,
            id: 0,
        }];
        let other = [
            Point {
                kbps: 100.0,
                quality: 75.0,
                id: 0,
            },
            Point {
                kbps: 200.0,
                quality: 85.0,
                id: 1,
            },
        ];
        assert_eq!(
            bd_rate(&point, &other).unwrap_err().to_string(),
            "BD-rate not defined: the reference curve has 1 point(s); BD-rate needs at least 2"
        );
    }

    #[test]
    fn ladder_for_720p_at_24() {
        // Bitrates x 0.8: 116, 292, 584, 880, 1600, 2400, 3600.
        assert_eq!(
            ladder(1280, 720, 24, 1),
            [
                (416, 234, 116, 128, 232),
                (640, 360, 292, 321, 584),
                (768, 432, 584, 642, 1168),
                (768, 432, 880, 968, 1760),
                (960, 540, 1600, 1760, 3200),
                (1280, 720, 2400, 2640, 4800),
                (1280, 720, 3600, 3960, 7200),
            ]
        );
    }

    #[test]
    fn fast_and_odd_sources() {
        // 60 fps keeps Apple's rates (the scale stops at 1); 30000/1001 scales by 0.999.
        let hd60 = ladder(1920, 1080, 60, 1);
        assert_eq!(hd60.len(), 9);
        assert_eq!(hd60[8], (1920, 1080, 7800, 8580, 15600));
        let ntsc = ladder(1920, 1080, 30000, 1001);
        assert_eq!(ntsc[0].2, 145); // 144.86 -> 145
        assert_eq!(ntsc[8].2, 7792); // 7792.2 -> 7792
                                     // Under 234 lines there is no rung.
        assert_eq!(ladder(320, 180, 30, 1), []);
        // 4:3 keeps its aspect: 640x480 -> 312x234, 480x360.
        let sd = ladder(640, 480, 30, 1);
        assert_eq!(
            sd.iter().map(|r| (r.0, r.1)).collect::<Vec<_>>(),
            [(312, 234), (480, 360), (576, 432), (576, 432)]
        );
    }

    #[test]
    fn invalid_sources_are_refused() {
        let odd = VideoInfo {
            width: 641,
            height: 360,
            fps: Rational { num: 30, den: 1 },
        };
        assert_eq!(
            reference_ladder(&odd).unwrap_err().to_string(),
            "invalid width 641 (expected an even number in 16..=8192)"
        );
        let still = VideoInfo {
            fps: Rational { num: 0, den: 1 },
            ..odd
        };
        assert!(reference_ladder(&still).is_err());
    }

    #[test]
    fn rungs_become_valid_profiles() {
        let source = VideoInfo::new(640, 360, Rational::new(30, 1).unwrap()).unwrap();
        let profile = reference_ladder(&source).unwrap()[1].to_profile(&Profile::default());
        assert_eq!(profile.name, "ref-360p-365k");
        assert_eq!(profile.rate, RateControl::Bitrate { kbps: 365 });
        assert_eq!(
            profile.resolution,
            Resolution::Fixed {
                width: 640,
                height: 360
            }
        );
        profile.validate().unwrap();
    }
}
