//! `report.json`: what a job did, for people and scripts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use bitswarm_analysis::Analysis;
use bitswarm_controller::{Attempt, Probe, SceneDecision, SwarmConfig, TargetConfig};
use bitswarm_core::{Profile, RateControl, VideoInfo};

use crate::journal::JobIdentity;

/// One telemetry sample of a server, as the controller received it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TelemetrySample {
    /// Milliseconds since the job started.
    pub t_ms: u64,
    pub cpu_load: f64,
    pub free: f64,
    pub queue_depth: u32,
    pub fps: f64,
}

/// A server seen during the job.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerReport {
    pub encoders: Vec<String>,
    pub cores: u32,
    pub version: String,
    /// Chunks whose output came from this server.
    pub chunks_won: u32,
    /// How the server left, if it did during the job (`leave`, `lost`, `silent`).
    pub left: Option<String>,
    pub telemetry: Vec<TelemetrySample>,
}

/// One chunk of the output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkReport {
    pub index: u32,
    pub first_frame: u64,
    pub frames: u32,
    pub scene: u32,
    pub config: SwarmConfig,
    /// The server whose copy is in the output (`None` for chunks taken from the journal).
    pub server: Option<String>,
    /// The rate control of the output (with a quality target: the setting the search chose).
    pub rate: RateControl,
    pub bytes: u64,
    /// Every probe encode of a quality-target search, in order: setting, quality, bytes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub probes: Vec<Probe>,
    /// Failed or lost attempts before the chunk was done.
    pub retries: usize,
    pub resumed: bool,
    pub attempts: Vec<Attempt>,
    /// Weighted PSNR of the chunk against its source frames.
    pub psnr: f64,
    /// Mean of every other metric over the chunk's frames, by metric name (`vmaf`, `ssim`).
    pub quality: BTreeMap<String, f64>,
}

/// PSNR of the output against the input, from an in-process decode of every chunk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct PsnrReport {
    /// Means over frames of the per-frame plane PSNRs, in dB (identical planes count as 100).
    pub y: f64,
    pub u: f64,
    pub v: f64,
    /// `(6 Y + U + V) / 8`.
    pub weighted: f64,
    /// The worst frame's luma PSNR.
    pub min_y: f64,
    pub frames: u64,
}

/// How well the chunks met a quality target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetReport {
    pub config: TargetConfig,
    /// Probe encodes per searched chunk (chunks from the journal are not counted).
    pub probes_mean: f64,
    pub probes_total: u32,
    /// Mean and largest |achieved - target| over the searched chunks.
    pub mean_abs_error: f64,
    pub max_abs_error: f64,
    /// Share of searched chunks within twice the tolerance (1 VMAF point by default).
    pub share_within_2x_tolerance: f64,
}

impl TargetReport {
    pub fn new(config: TargetConfig, chunks: &[ChunkReport]) -> Self {
        let name = config.metric.name();
        let errors: Vec<f64> = chunks
            .iter()
            .filter(|c| !c.probes.is_empty())
            .filter_map(|c| c.quality.get(name))
            .map(|q| (q - config.value).abs())
            .collect();
        let probes_total: usize = chunks.iter().map(|c| c.probes.len()).sum();
        let n = errors.len().max(1) as f64;
        let within = 2.0 * config.tolerance();
        Self {
            config,
            probes_mean: probes_total as f64 / n,
            probes_total: probes_total as u32,
            mean_abs_error: errors.iter().sum::<f64>() / n,
            max_abs_error: errors.iter().copied().fold(0.0, f64::max),
            share_within_2x_tolerance: errors.iter().filter(|&&e| e <= within).count() as f64 / n,
        }
    }
}

impl PsnrReport {
    /// Pooled over frames of per-plane PSNR (Y, U, V).
    pub fn of(frames: impl Iterator<Item = [f64; 3]>) -> Self {
        let mut sum = [0.0; 3];
        let mut min_y = f64::INFINITY;
        let mut n = 0u64;
        for p in frames {
            sum.iter_mut().zip(p).for_each(|(s, v)| *s += v);
            min_y = min_y.min(p[0]);
            n += 1;
        }
        let [y, u, v] = sum.map(|s| s / n.max(1) as f64);
        Self {
            y,
            u,
            v,
            weighted: bitswarm_quality::psnr::weighted([y, u, v]),
            min_y,
            frames: n,
        }
    }
}

/// A metric pooled over every frame of the output (definitions in docs/QUALITY.md).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Pooled {
    pub mean: f64,
    /// libvmaf's harmonic mean, `n / sum(1 / (x + 1)) - 1`.
    pub harmonic_mean: f64,
    /// 5th percentile.
    pub p5: f64,
    pub min: f64,
    pub max: f64,
}

impl From<bitswarm_quality::FieldSummary> for Pooled {
    fn from(s: bitswarm_quality::FieldSummary) -> Self {
        Self {
            mean: s.mean,
            harmonic_mean: s.harmonic_mean,
            p5: s.p5,
            min: s.min,
            max: s.max,
        }
    }
}

/// Redundant copies that were compared byte for byte with the winner.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RedundancyReport {
    pub compared: u32,
    pub identical: u32,
    /// `(chunk, attempt, server)` of every copy whose bytes differ from the winner's.
    pub mismatches: Vec<(u32, u32, String)>,
}

/// Paths of the outputs, relative to the output folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outputs {
    /// The elementary stream: `stream.h264` or `stream.hevc` (Annex B), `stream.ivf` (AV1).
    pub stream: String,
    pub mp4: String,
    pub report: String,
}

impl Outputs {
    /// The file names for a stream of `codec`.
    pub fn for_codec(codec: bitswarm_core::Codec) -> Self {
        let extension = match codec {
            bitswarm_core::Codec::H264 => "h264",
            bitswarm_core::Codec::Hevc => "hevc",
            bitswarm_core::Codec::Av1 => "ivf",
        };
        Self {
            stream: format!("stream.{extension}"),
            mp4: "stream.mp4".into(),
            report: "report.json".into(),
        }
    }
}

/// Everything about one job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub job: String,
    pub input: String,
    pub input_format: String,
    /// The input and configuration the output came from, as the job's journal had them.
    pub identity: JobIdentity,
    pub source: VideoInfo,
    pub profile: Profile,
    pub frames: u64,
    pub bytes: u64,
    pub bitrate_kbps: f64,
    pub wall_s: f64,
    /// Frames encoded per second of wall time.
    pub fps: f64,
    pub outputs: Outputs,
    pub psnr: PsnrReport,
    /// Every other metric measured (`[quality] metrics`), by name (`vmaf`, `ssim`, `ms_ssim`).
    pub quality: BTreeMap<String, Pooled>,
    /// The quality target and how well it was met, if the job had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<TargetReport>,
    pub analysis: Analysis,
    /// The swarm configuration chosen for each scene.
    pub scenes: Vec<SceneDecision>,
    pub chunks: Vec<ChunkReport>,
    pub servers: BTreeMap<String, ServerReport>,
    pub redundancy: RedundancyReport,
}

/// The short form printed by `encode --json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub job: String,
    pub input: String,
    pub frames: u64,
    pub bytes: u64,
    pub bitrate_kbps: f64,
    pub wall_s: f64,
    pub fps: f64,
    pub psnr: PsnrReport,
    pub quality: BTreeMap<String, Pooled>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<TargetReport>,
    pub chunks: usize,
    pub retries: usize,
    pub resumed_chunks: usize,
    pub servers: Vec<String>,
    pub scenes: Vec<SceneDecision>,
    pub redundancy: RedundancyReport,
    pub outputs: Outputs,
}

impl Report {
    pub fn summary(&self) -> Summary {
        Summary {
            job: self.job.clone(),
            input: self.input.clone(),
            frames: self.frames,
            bytes: self.bytes,
            bitrate_kbps: self.bitrate_kbps,
            wall_s: self.wall_s,
            fps: self.fps,
            psnr: self.psnr,
            quality: self.quality.clone(),
            target: self.target.clone(),
            chunks: self.chunks.len(),
            retries: self.chunks.iter().map(|c| c.retries).sum(),
            resumed_chunks: self.chunks.iter().filter(|c| c.resumed).count(),
            servers: self.servers.keys().cloned().collect(),
            scenes: self.scenes.clone(),
            redundancy: self.redundancy.clone(),
            outputs: self.outputs.clone(),
        }
    }

    /// A few lines for a terminal.
    pub fn human_summary(&self) -> String {
        let s = self.summary();
        let mut out = format!(
            "{}: {} frames in {} chunks, {:.1} kbit/s, PSNR {:.2} dB (Y {:.2}){}, {:.1} s ({:.0} frames/s), {} servers, {} retries\n",
            self.input,
            s.frames,
            s.chunks,
            s.bitrate_kbps,
            s.psnr.weighted,
            s.psnr.y,
            s.quality
                .iter()
                .map(|(name, q)| format!(", {} {:.4} (5th percentile {:.4})", name.to_uppercase(), q.mean, q.p5))
                .collect::<String>(),
            s.wall_s,
            s.fps,
            s.servers.len(),
            s.retries
        );
        for d in &self.scenes {
            out.push_str(&format!(
                "  scene {} from chunk {}: complexity {}, free {:.0}% -> swarm size {}, level {}, redundancy {}\n",
                d.scene,
                d.first_chunk,
                d.complexity,
                d.free * 100.0,
                d.config.swarm_size,
                d.config.complexity_level,
                d.config.redundancy
            ));
        }
        if let Some(t) = &self.target {
            out.push_str(&format!(
                "  target {} {}: {:.2} probes per chunk ({:?} search), mean |error| {:.3}, {:.0}% of chunks within {}\n",
                t.config.metric.name(),
                t.config.value,
                t.probes_mean,
                t.config.search,
                t.mean_abs_error,
                t.share_within_2x_tolerance * 100.0,
                2.0 * t.config.tolerance()
            ));
        }
        if !self.redundancy.mismatches.is_empty() {
            out.push_str(&format!(
                "  WARNING: {} redundant copies differ from the winner\n",
                self.redundancy.mismatches.len()
            ));
        }
        out.push_str(&format!(
            "  wrote {}, {}, {}",
            s.outputs.stream, s.outputs.mp4, s.outputs.report
        ));
        out
    }
}
