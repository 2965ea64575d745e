//! Every encoder backend at several complexity levels: encoding speed (frames/s, one thread)
//! and bits at equal quality (kbit/s at a VMAF target, interpolated between the two probes
//! around it), in-process on the first frames of each clip.
//!
//! The probes come from the same `TargetSearch` that `encode --target-vmaf` uses; the rate at
//! the target is the log-linear interpolation of the two probes that bracket it (or the
//! nearest probe when the search could not bracket it, marked `~`).
//!
//! `cargo run --release -p bitswarm-bench --bin encoders -- CLIP... [--frames 30]
//!   [--levels 1,4,7] [--encoders openh264,x264,x265,svtav1,aom,rav1e] [--target 93]`

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Parser;

use bitswarm_bench::{encode, kbps, mean_vmaf, pack, read_clip};
use bitswarm_codec::{available_encoders, EncoderConfig, Ffmpeg};
use bitswarm_controller::target::search_range;
use bitswarm_controller::{Probe, Step, TargetConfig, TargetMetric, TargetSearch};
use bitswarm_core::{EncoderKind, Frame, Profile, VideoInfo};
use bitswarm_swarm::verify::Verifier;

#[derive(Parser)]
struct Args {
    /// Clips to encode.
    clips: Vec<PathBuf>,
    /// Frames from the start of each clip.
    #[arg(long, default_value_t = 30)]
    frames: usize,
    /// Complexity levels, comma-separated.
    #[arg(long, default_value = "1,4,7")]
    levels: String,
    /// Encoders, comma-separated [default: every one this machine has].
    #[arg(long)]
    encoders: Option<String>,
    /// The VMAF at which bits are compared.
    #[arg(long, default_value_t = 93.0)]
    target: f64,
    /// FFmpeg for x264, x265, SVT-AV1, libaom [default: `ffmpeg` on PATH].
    #[arg(long)]
    ffmpeg: Option<PathBuf>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let levels: Vec<u8> = args
        .levels
        .split(',')
        .map(|l| l.trim().parse().context("levels: numbers 1..=10"))
        .collect::<Result<_>>()?;
    let encoders: Vec<EncoderKind> = match &args.encoders {
        Some(list) => list
            .split(',')
            .map(|e| e.trim().parse().map_err(anyhow::Error::from))
            .collect::<Result<_>>()?,
        None => available_encoders(args.ffmpeg.as_deref())
            .into_iter()
            .filter(|a| a.available)
            .map(|a| a.kind)
            .collect(),
    };
    println!(
        "First {} frames per clip, one thread per encoder, bits at VMAF {}\n",
        args.frames, args.target
    );
    println!(
        "| clip | encoder | level | frames/s | kbit/s at VMAF {} | probes |",
        args.target
    );
    println!("|---|---|---|---|---|---|");
    for clip in &args.clips {
        let (info, frames) = read_clip(clip, args.frames)?;
        let packed = pack(&frames);
        let name = clip.file_name().unwrap_or_default().to_string_lossy();
        for &encoder in &encoders {
            let verifier = Verifier::new(
                info,
                encoder.codec(),
                args.ffmpeg.as_deref(),
                &[bitswarm_quality::MetricKind::Vmaf],
            )?;
            for &level in &levels {
                let m = measure(&args, encoder, level, info, &frames, &packed, &verifier)?;
                println!(
                    "| {name} | {encoder} | {level} | {:.1} | {}{:.0} | {} |",
                    m.fps,
                    if m.bracketed { "" } else { "~" },
                    m.kbps,
                    m.probes
                );
            }
        }
    }
    Ok(())
}

struct Measured {
    fps: f64,
    kbps: f64,
    bracketed: bool,
    probes: usize,
}

fn measure(
    args: &Args,
    encoder: EncoderKind,
    level: u8,
    info: VideoInfo,
    frames: &[Frame],
    packed: &[u8],
    verifier: &Verifier,
) -> Result<Measured> {
    let (rate_of, range) = search_range(encoder);
    let mut search = TargetSearch::new(
        TargetConfig {
            tolerance: Some(0.25),
            ..TargetConfig::new(TargetMetric::Vmaf, args.target)
        },
        range,
        None,
    );
    let (mut busy, mut encoded_frames) = (Duration::ZERO, 0usize);
    let mut setting = search.first();
    loop {
        let profile = Profile {
            encoder,
            complexity: level,
            rate: rate_of(setting),
            gop: frames.len() as u32,
            ..Profile::default()
        };
        let cfg = EncoderConfig {
            profile,
            source: info,
            threads: 1,
            ffmpeg: Ffmpeg::locate(args.ffmpeg.as_deref()),
        };
        let started = Instant::now();
        let data = encode(&cfg, frames)?;
        busy += started.elapsed();
        encoded_frames += frames.len();
        let vmaf = mean_vmaf(verifier, frames.len(), packed, &data)?;
        let probe = Probe {
            setting,
            quality: vmaf,
            bytes: data.len() as u64,
        };
        match search.observe(probe) {
            Step::Probe(next) => setting = next,
            Step::Done(best) => {
                let rate = |p: &Probe| kbps(p.bytes, frames.len(), info.fps);
                let probes = search.probes();
                let above = probes
                    .iter()
                    .filter(|p| p.quality >= args.target)
                    .min_by(|a, b| a.quality.total_cmp(&b.quality));
                let below = probes
                    .iter()
                    .filter(|p| p.quality < args.target)
                    .max_by(|a, b| a.quality.total_cmp(&b.quality));
                let (kbps_at, bracketed) = match (above, below) {
                    (Some(a), Some(b)) => {
                        let t = (args.target - b.quality) / (a.quality - b.quality);
                        let log = rate(b).ln() + t * (rate(a).ln() - rate(b).ln());
                        (log.exp(), true)
                    }
                    _ => (rate(&probes[best]), false),
                };
                return Ok(Measured {
                    fps: encoded_frames as f64 / busy.as_secs_f64(),
                    kbps: kbps_at,
                    bracketed,
                    probes: probes.len(),
                });
            }
        }
    }
}
