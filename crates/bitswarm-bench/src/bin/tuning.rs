//! What x264's tuning knobs are worth in VMAF, the evidence behind the per-title ladder's
//! initial tuning (docs/LADDER.md, "Initial candidates"): on the first `--frames` frames of
//! each clip, at the source size, x264 `medium` with the trials' GOP (2 s) at CRF 24, 28, ...,
//! 44, once with the encoder's defaults and once per variant; the BD-rate (VMAF,
//! `bitswarm_ladder::bd_rate` on the Pareto fronts) of each variant against the defaults.
//! Negative saves bits. Encodes run in this process, one at a time on one thread; VMAF is the
//! controller's. Reading: docs/BENCHMARKS.md, "Per-title ladders".
//!
//! `cargo run --release -p bitswarm-bench --bin tuning -- [CLIP...] [--frames 60]`

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;

use bitswarm_bench::{clips_dir, Clip};
use bitswarm_core::{Profile, RateControl, Tune, Tuning};
use bitswarm_ladder::{bd_rate, pareto_front, Point};

const CRFS: [u8; 6] = [24, 28, 32, 36, 40, 44];
/// The clips measured without arguments: the 360p ones of the shared clips folder.
const DEFAULT_CLIPS: [&str; 4] = [
    "bbb_360p.y4m",
    "city_360p.y4m",
    "friday_360p.y4m",
    "screen_gnome_360p.y4m",
];

#[derive(Parser)]
struct Args {
    /// Clips [default: the four 360p Y4M clips of $BITSWARM_CLIPS or ../shared/clips].
    clips: Vec<PathBuf>,
    /// Frames from the start of each clip.
    #[arg(long, default_value_t = 60)]
    frames: usize,
    /// FFmpeg for x264 [default: `ffmpeg` on PATH].
    #[arg(long)]
    ffmpeg: Option<PathBuf>,
}

/// The variants measured against the defaults, by name.
fn variants() -> Vec<(&'static str, Tuning)> {
    let tune = |t| Tuning {
        tune: Some(t),
        ..Tuning::default()
    };
    vec![
        ("tune psnr", tune(Tune::Psnr)),
        ("tune ssim", tune(Tune::Ssim)),
        (
            "psy-rd 0",
            Tuning {
                psy_rd: Some(0.0),
                ..Tuning::default()
            },
        ),
        (
            "aq-mode 2",
            Tuning {
                aq_mode: Some(2),
                ..Tuning::default()
            },
        ),
        (
            "aq-mode 3",
            Tuning {
                aq_mode: Some(3),
                ..Tuning::default()
            },
        ),
        (
            "tune psnr, 8 refs",
            Tuning {
                refs: Some(8),
                ..tune(Tune::Psnr)
            },
        ),
    ]
}

fn main() -> Result<()> {
    let args = Args::parse();
    let clips = if args.clips.is_empty() {
        DEFAULT_CLIPS.iter().map(|c| clips_dir().join(c)).collect()
    } else {
        args.clips.clone()
    };
    let variants = variants();
    println!(
        "x264 medium at the source size, CRF {CRFS:?}, first {} frames; BD-rate (VMAF) against x264's defaults\n",
        args.frames
    );
    print!("| clip |");
    for (name, _) in &variants {
        print!(" {name} |");
    }
    println!("\n|---|{}", "---|".repeat(variants.len()));
    for path in &clips {
        let clip = Clip::open(path, args.frames, args.ffmpeg.as_deref())?;
        let curve = |tuning: Tuning| -> Result<Vec<Point>> {
            CRFS.iter()
                .enumerate()
                .map(|(id, &crf)| {
                    let profile = Profile {
                        rate: RateControl::Crf { crf },
                        tuning,
                        ..clip.base_profile()
                    };
                    let m = clip
                        .measure(profile)
                        .with_context(|| format!("{}: CRF {crf}", clip.name))?;
                    Ok(Point {
                        kbps: m.kbps,
                        quality: m.vmaf,
                        id,
                    })
                })
                .collect()
        };
        let defaults = pareto_front(&curve(Tuning::default())?);
        eprintln!("{}: defaults measured", clip.name);
        print!("| {} |", clip.name);
        for (_, tuning) in &variants {
            let bd = bd_rate(&defaults, &pareto_front(&curve(*tuning)?))?;
            print!(" {bd:+.1}% |");
        }
        println!();
    }
    Ok(())
}
