//! QoE_lin (Pensieve's linear QoE) per chunk:
//! `quality - rebuffer_penalty x rebuffer_s - smooth_penalty x |quality - previous quality|
//! - blend_lambda x blending cost`, where quality is the rung's bitrate in Mbit/s or, when the
//! ladder has it and the configuration asks for it, `vmaf_scale x VMAF` of the segment.

use serde::{Deserialize, Serialize};

use crate::ladder::Ladder;
use crate::{Error, Result};

/// What the quality term of QoE measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QualityMetric {
    /// The rung's nominal bitrate, Mbit/s (QoE_lin).
    Bitrate,
    /// The segment's VMAF times `vmaf_scale`.
    Vmaf,
}

/// QoE weights and the scored range.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QoeConfig {
    pub quality: QualityMetric,
    /// Per second of stall (4.3 = the top Pensieve bitrate in Mbit/s).
    pub rebuffer_penalty: f64,
    /// Per unit of quality change between consecutive chunks.
    pub smooth_penalty: f64,
    /// Per unit of blending cost (0 for plain selection).
    pub blend_lambda: f64,
    /// Quality units per VMAF point (0.05: VMAF 100 counts like 5 Mbit/s).
    pub vmaf_scale: f64,
    /// First scored chunk (0-based): Pensieve scores chunks 2..48, skipping the first, whose
    /// rung is fixed and whose stall is the startup delay.
    pub score_from: usize,
}

impl Default for QoeConfig {
    fn default() -> Self {
        Self {
            quality: QualityMetric::Bitrate,
            rebuffer_penalty: 4.3,
            smooth_penalty: 1.0,
            blend_lambda: 1.0,
            vmaf_scale: 0.05,
            score_from: 1,
        }
    }
}

/// QoE of one chunk, by term.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ChunkQoe {
    pub quality: f64,
    pub rebuffer: f64,
    pub smoothness: f64,
    pub blending: f64,
    /// `quality - rebuffer - smoothness - blending`.
    pub total: f64,
}

impl QoeConfig {
    /// Checks the weights and that the ladder has what the quality metric needs.
    pub fn validate(&self, ladder: &Ladder) -> Result<()> {
        for (field, v) in [
            ("rebuffer_penalty", self.rebuffer_penalty),
            ("smooth_penalty", self.smooth_penalty),
            ("blend_lambda", self.blend_lambda),
            ("vmaf_scale", self.vmaf_scale),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::Config {
                    field,
                    value: v.to_string(),
                    expected: "a non-negative number".into(),
                });
            }
        }
        if self.quality == QualityMetric::Vmaf && !ladder.has_vmaf() {
            return Err(Error::Config {
                field: "quality metric",
                value: "vmaf".into(),
                expected: format!("bitrate: ladder {} has no VMAF per segment", ladder.name()),
            });
        }
        Ok(())
    }

    /// The quality term of segment `segment` at rung `rung`.
    pub fn quality(&self, ladder: &Ladder, segment: usize, rung: usize) -> f64 {
        match self.quality {
            QualityMetric::Bitrate => ladder.mbps(rung),
            QualityMetric::Vmaf => ladder.vmaf(segment, rung).unwrap_or(0.0) * self.vmaf_scale,
        }
    }

    /// QoE of a chunk of quality `quality` after one of `previous`.
    pub fn chunk(&self, quality: f64, previous: f64, rebuffer_s: f64, blend_cost: f64) -> ChunkQoe {
        let rebuffer = self.rebuffer_penalty * rebuffer_s;
        let smoothness = self.smooth_penalty * (quality - previous).abs();
        let blending = self.blend_lambda * blend_cost;
        ChunkQoe {
            quality,
            rebuffer,
            smoothness,
            blending,
            total: quality - rebuffer - smoothness - blending,
        }
    }
}
