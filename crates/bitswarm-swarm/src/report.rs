//! `report.json`: what a job did, for people and scripts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use bitswarm_analysis::Analysis;
use bitswarm_controller::{Attempt, SceneDecision, SwarmConfig};
use bitswarm_core::{Profile, VideoInfo};

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
    pub bytes: u64,
    /// Failed or lost attempts before the chunk was done.
    pub retries: usize,
    pub resumed: bool,
    pub attempts: Vec<Attempt>,
    /// Weighted PSNR of the chunk against its source frames.
    pub psnr: f64,
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
    pub h264: String,
    pub mp4: String,
    pub report: String,
}

/// Everything about one job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub job: String,
    pub input: String,
    pub input_format: String,
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
            "{}: {} frames in {} chunks, {:.1} kbit/s, PSNR {:.2} dB (Y {:.2}), {:.1} s ({:.0} frames/s), {} servers, {} retries\n",
            self.input,
            s.frames,
            s.chunks,
            s.bitrate_kbps,
            s.psnr.weighted,
            s.psnr.y,
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
        if !self.redundancy.mismatches.is_empty() {
            out.push_str(&format!(
                "  WARNING: {} redundant copies differ from the winner\n",
                self.redundancy.mismatches.len()
            ));
        }
        out.push_str(&format!(
            "  wrote {}, {}, {}",
            s.outputs.h264, s.outputs.mp4, s.outputs.report
        ));
        out
    }
}
