//! The content features of a scene (or title) that ladders are predicted from.
//!
//! SI and TI are ITU-T P.910 values on 8-bit luma (docs/ANALYSIS.md: SI about 40..140, TI about
//! 2..20 on our clips); motion-vector statistics are in pixels per frame; `complexity` is the
//! analysis's 1..=10 cost score; `probe_bits_per_pixel` is what a fixed-QP, low-resolution probe
//! encode spent per luma pixel per frame; `cut_rate` is scene cuts per second.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Names of the entries of [`SceneFeatures::to_vector`], in order.
pub const FEATURE_NAMES: [&str; 10] = [
    "si_mean",
    "si_std",
    "ti_mean",
    "ti_std",
    "mv_mean_len",
    "mv_std_len",
    "mv_moving_share",
    "complexity",
    "probe_bits_per_pixel",
    "cut_rate",
];

/// Content features of one scene or title.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SceneFeatures {
    /// Mean and standard deviation over frames of the P.910 spatial information.
    pub si_mean: f64,
    pub si_std: f64,
    /// Mean and standard deviation over frames of the P.910 temporal information.
    pub ti_mean: f64,
    pub ti_std: f64,
    /// Mean and standard deviation of motion-vector length, pixels per frame.
    pub mv_mean_len: f64,
    pub mv_std_len: f64,
    /// Share of blocks that move, 0..=1.
    pub mv_moving_share: f64,
    /// Cost score 1..=10.
    pub complexity: f64,
    /// Bits per luma pixel of the fixed-QP low-resolution probe encode (> 0).
    pub probe_bits_per_pixel: f64,
    /// Scene cuts per second.
    pub cut_rate: f64,
}

impl SceneFeatures {
    /// The features in the order of [`FEATURE_NAMES`].
    pub fn to_vector(&self) -> Vec<f64> {
        vec![
            self.si_mean,
            self.si_std,
            self.ti_mean,
            self.ti_std,
            self.mv_mean_len,
            self.mv_std_len,
            self.mv_moving_share,
            self.complexity,
            self.probe_bits_per_pixel,
            self.cut_rate,
        ]
    }

    /// Checks every feature: finite and non-negative, `mv_moving_share` in 0..=1, `complexity`
    /// in 1..=10, `probe_bits_per_pixel` above 0.
    pub fn validate(&self) -> Result<()> {
        for (name, value) in FEATURE_NAMES.iter().zip(self.to_vector()) {
            let (ok, expected) = match *name {
                "mv_moving_share" => ((0.0..=1.0).contains(&value), "a share in 0..=1"),
                "complexity" => ((1.0..=10.0).contains(&value), "a score in 1..=10"),
                "probe_bits_per_pixel" => (value > 0.0 && value.is_finite(), "a finite number > 0"),
                _ => (value >= 0.0 && value.is_finite(), "a finite number >= 0"),
            };
            if !ok {
                return Err(Error::invalid(name, value.to_string(), expected));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn features() -> SceneFeatures {
        SceneFeatures {
            si_mean: 1.0,
            si_std: 2.0,
            ti_mean: 3.0,
            ti_std: 4.0,
            mv_mean_len: 5.0,
            mv_std_len: 6.0,
            mv_moving_share: 0.7,
            complexity: 8.0,
            probe_bits_per_pixel: 0.9,
            cut_rate: 10.0,
        }
    }

    #[test]
    fn vector_follows_the_names() {
        let v = features().to_vector();
        assert_eq!(v, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 0.7, 8.0, 0.9, 10.0]);
        assert_eq!(v.len(), FEATURE_NAMES.len());
        let json = serde_json::to_value(features()).unwrap();
        for (name, value) in FEATURE_NAMES.iter().zip(&v) {
            assert_eq!(json[name].as_f64(), Some(*value), "{name}");
        }
    }

    #[test]
    fn validate_names_the_feature() {
        features().validate().unwrap();
        let bad = SceneFeatures {
            mv_moving_share: 1.5,
            ..features()
        };
        assert_eq!(
            bad.validate().unwrap_err().to_string(),
            "invalid mv_moving_share 1.5 (expected a share in 0..=1)"
        );
        let bad = SceneFeatures {
            probe_bits_per_pixel: 0.0,
            ..features()
        };
        assert_eq!(
            bad.validate().unwrap_err().to_string(),
            "invalid probe_bits_per_pixel 0 (expected a finite number > 0)"
        );
        let bad = SceneFeatures {
            ti_std: f64::NAN,
            ..features()
        };
        assert_eq!(
            bad.validate().unwrap_err().to_string(),
            "invalid ti_std NaN (expected a finite number >= 0)"
        );
    }
}
