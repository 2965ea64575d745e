//! Tuning of the scene-cut detector (plain data, then [`AnalysisConfig::validate`]).

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Scene-cut settings; a section of the bitswarm TOML config. Every field has a default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnalysisConfig {
    /// Lowest cut score (the fraction of picture regions that changed, `0 < x < 1`) that can
    /// start a new scene.
    pub cut_threshold: f64,
    /// Frames of recent history (non-cut frames) behind the adaptive part of the threshold.
    pub cut_history_frames: u32,
    /// In busy content the threshold rises to this multiple of the mean recent cut score
    /// (`0` turns the adaptive part off).
    pub cut_history_factor: f64,
    /// Fewest frames in a scene: no cut is reported sooner than this after the previous one.
    pub min_scene_frames: u32,
    /// Measure motion-vector statistics (`motion_mean`, `motion_std`, `moving_share`; about
    /// 0.3 ms per 640x360 frame). Off for `encode`, which does not use them; `bitswarm analyze`
    /// and `bitswarm ladder` turn them on. Off, the fields are 0.
    pub motion_statistics: bool,
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        Self {
            cut_threshold: 0.7,
            cut_history_frames: 12,
            cut_history_factor: 2.0,
            min_scene_frames: 12,
            motion_statistics: false,
        }
    }
}

impl AnalysisConfig {
    /// Checks every field against its valid range, naming the first one outside it.
    pub fn validate(&self) -> Result<()> {
        let invalid = |field: &'static str, value: String, expected: &'static str| {
            Err(Error::Config {
                field,
                value,
                expected,
            })
        };
        if !(self.cut_threshold > 0.0 && self.cut_threshold < 1.0) {
            return invalid(
                "cut_threshold",
                self.cut_threshold.to_string(),
                "a fraction, 0 < x < 1",
            );
        }
        if !(1..=1000).contains(&self.cut_history_frames) {
            return invalid(
                "cut_history_frames",
                self.cut_history_frames.to_string(),
                "1..=1000",
            );
        }
        if !(0.0..=10.0).contains(&self.cut_history_factor) {
            return invalid(
                "cut_history_factor",
                self.cut_history_factor.to_string(),
                "0.0..=10.0",
            );
        }
        if self.min_scene_frames == 0 {
            return invalid("min_scene_frames", "0".to_owned(), "at least 1");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_each_bad_field_is_named() {
        AnalysisConfig::default().validate().unwrap();
        let cases: [(AnalysisConfig, &str); 5] = [
            (
                AnalysisConfig {
                    cut_threshold: 1.0,
                    ..Default::default()
                },
                "invalid cut_threshold 1 (expected a fraction, 0 < x < 1)",
            ),
            (
                AnalysisConfig {
                    cut_threshold: f64::NAN,
                    ..Default::default()
                },
                "invalid cut_threshold NaN (expected a fraction, 0 < x < 1)",
            ),
            (
                AnalysisConfig {
                    cut_history_frames: 0,
                    ..Default::default()
                },
                "invalid cut_history_frames 0 (expected 1..=1000)",
            ),
            (
                AnalysisConfig {
                    cut_history_factor: -1.0,
                    ..Default::default()
                },
                "invalid cut_history_factor -1 (expected 0.0..=10.0)",
            ),
            (
                AnalysisConfig {
                    min_scene_frames: 0,
                    ..Default::default()
                },
                "invalid min_scene_frames 0 (expected at least 1)",
            ),
        ];
        for (cfg, message) in cases {
            assert_eq!(cfg.validate().unwrap_err().to_string(), message);
        }
    }

    #[test]
    fn toml_section_round_trips_and_fills_defaults() {
        let cfg: AnalysisConfig = toml::from_str("min_scene_frames = 25").unwrap();
        assert_eq!(
            cfg,
            AnalysisConfig {
                min_scene_frames: 25,
                ..Default::default()
            }
        );
        let text = toml::to_string(&cfg).unwrap();
        assert_eq!(toml::from_str::<AnalysisConfig>(&text).unwrap(), cfg);
        let err = toml::from_str::<AnalysisConfig>("cut_treshold = 0.4").unwrap_err();
        assert!(
            err.to_string().contains("unknown field `cut_treshold`"),
            "{err}"
        );
    }
}
