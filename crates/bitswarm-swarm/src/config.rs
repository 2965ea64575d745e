//! The TOML configuration of a job and of encoding servers: one file serves both.
//!
//! `bitswarm config default` prints [`Config::default`]; every section and field may be left out.

use std::path::Path;

use serde::{Deserialize, Serialize};

use bitswarm_analysis::AnalysisConfig;
use bitswarm_controller::{SchedulerConfig, SwarmPolicy, TargetConfig};
use bitswarm_core::Profile;
use bitswarm_quality::MetricKind;

use crate::{Error, Result};

/// How the stream is cut into chunks and how many are held in memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChunkingConfig {
    /// Chunk length in GOPs (of `profile.gop` frames); chunks also start at every scene cut.
    pub gops_per_chunk: u32,
    /// Chunks waiting for or being encoded, at most; with the chunks being verified, at most
    /// twice this many hold source frames in memory.
    /// 0 = twice the slots of the servers online, at least 4.
    pub window: u32,
}

impl Default for ChunkingConfig {
    fn default() -> Self {
        Self {
            gops_per_chunk: 1,
            window: 0,
        }
    }
}

/// MQTT transport settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TransportConfig {
    /// Root of the topic tree.
    pub topic_root: String,
    /// Payload bytes per data part (source frames and encoded data).
    pub part_bytes: u32,
    /// How long `encode` waits for the first encoding server (seconds).
    pub startup_wait_s: f64,
    /// Telemetry period of encoding servers (milliseconds).
    pub telemetry_ms: u64,
}

impl Default for TransportConfig {
    fn default() -> Self {
        Self {
            topic_root: "bitswarm/v1".into(),
            part_bytes: 256 * 1024,
            startup_wait_s: 30.0,
            telemetry_ms: 1000,
        }
    }
}

/// What every encode measures besides PSNR (always measured: it checks every decode).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QualityConfig {
    /// Metrics reported per chunk and pooled over the output: any of `vmaf`, `ssim`, `ms_ssim`
    /// (empty: PSNR only, the cheapest).
    pub metrics: Vec<String>,
}

impl Default for QualityConfig {
    fn default() -> Self {
        Self {
            metrics: vec!["vmaf".into(), "ssim".into()],
        }
    }
}

impl QualityConfig {
    /// The metrics, parsed (PSNR is always measured, so naming it changes nothing).
    pub fn metric_kinds(&self) -> Result<Vec<MetricKind>> {
        if self.metrics.is_empty() {
            return Ok(Vec::new());
        }
        MetricKind::parse_list(&self.metrics.join(","))
            .map_err(|e| Error::Config(format!("quality: {e}")))
    }
}

/// Everything a job or server can be configured with.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The job's encoding profile; the policy sets its complexity level and redundancy per scene.
    pub profile: Profile,
    /// Swarm policy: (complexity, free resources) -> (swarm size, complexity level, redundancy).
    pub policy: SwarmPolicy,
    pub chunking: ChunkingConfig,
    pub scheduler: SchedulerConfig,
    pub analysis: AnalysisConfig,
    pub transport: TransportConfig,
    pub quality: QualityConfig,
    /// A quality target per chunk (`encode --target-vmaf`); none by default: the profile's rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<TargetConfig>,
}

impl Config {
    /// Reads and validates a TOML file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Config(format!("cannot read {}: {e}", path.display())))?;
        Self::parse(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))
    }

    /// Parses and validates TOML text.
    pub fn parse(text: &str) -> Result<Self> {
        let config: Config = toml::from_str(text).map_err(|e| Error::Config(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<()> {
        self.profile
            .validate()
            .map_err(|e| Error::Config(format!("profile: {e}")))?;
        self.policy.validate()?;
        self.scheduler.validate()?;
        if !(1..=100).contains(&self.chunking.gops_per_chunk) {
            return Err(Error::Config(format!(
                "chunking: invalid gops_per_chunk {} (expected 1..=100)",
                self.chunking.gops_per_chunk
            )));
        }
        let part = self.transport.part_bytes as usize;
        if !(1024..=bitswarm_proto::MAX_PART_PAYLOAD).contains(&part) {
            return Err(Error::Config(format!(
                "transport: invalid part_bytes {part} (expected 1024..={})",
                bitswarm_proto::MAX_PART_PAYLOAD
            )));
        }
        self.quality.metric_kinds()?;
        if let Some(target) = &self.target {
            target.validate()?;
            if matches!(
                self.profile.rate,
                bitswarm_core::RateControl::Bitrate { .. }
            ) {
                // The search varies CRF or QP; the profile's bitrate would be ignored.
                return Err(Error::Config(
                    "target: a quality target sets CRF or QP per chunk; the profile's rate must be crf or qp, not bitrate".into(),
                ));
            }
        }
        let wait = self.transport.startup_wait_s;
        if wait.is_nan() || wait <= 0.0 {
            return Err(Error::Config(
                "transport: startup_wait_s must be > 0".into(),
            ));
        }
        Ok(())
    }

    /// The default configuration as commented TOML.
    pub fn default_toml() -> String {
        let body = toml::to_string_pretty(&Config::default()).expect("default config serialises");
        format!(
            "# bitswarm configuration (TOML). Every field may be left out; these are the defaults.\n\
             # [profile]: the job's encoding profile (complexity and redundancy are set per scene by [policy]).\n\
             # [policy]: rules tried in order: complexity (1-10) > complexity_above and free resources (0-1) > free_above\n\
             #   gives the rule's swarm_size, complexity_level and redundancy; otherwise [policy.fallback].\n\
             # [scheduler]: timeouts and limits; [chunking]: chunk length and in-memory window;\n\
             # [analysis]: scene-cut detection; [transport]: MQTT topic root, part size, telemetry period;\n\
             # [quality]: metrics every encode reports besides PSNR (vmaf, ssim, ms_ssim).\n\
             # [target] (absent by default): metric = \"vmaf\" or \"ssim\", value = 93.0, tolerance, search = \"interpolate\"\n\
             #   or \"bisect\", max_probes = 8: per chunk, the CRF (or QP) whose quality is closest to the target.\n\n{body}"
        )
    }

    /// Fingerprint of the settings that change the output bytes (for the resume journal).
    pub fn output_fingerprint(&self) -> u32 {
        let relevant = (
            &self.profile,
            &self.policy,
            &self.chunking.gops_per_chunk,
            &self.analysis,
            &self.target,
        );
        crc32fast::hash(
            serde_json::to_string(&relevant)
                .expect("config serialises")
                .as_bytes(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_config_round_trips_through_its_toml() {
        let text = Config::default_toml();
        assert_eq!(Config::parse(&text).unwrap(), Config::default());
        assert!(text.contains("complexity_above = 7"), "{text}");
    }

    #[test]
    fn partial_configs_and_clear_errors() {
        let c =
            Config::parse("[profile]\ngop = 25\n[scheduler]\nverify_redundant = true\n").unwrap();
        assert_eq!(c.profile.gop, 25);
        assert!(c.scheduler.verify_redundant);
        let err = Config::parse("[profile]\ncomplexity = 0\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "invalid configuration: profile: invalid complexity 0 (expected 1..=10)"
        );
        let err = Config::parse("[profle]\n").unwrap_err().to_string();
        assert!(err.contains("unknown field `profle`"), "{err}");
    }
}
