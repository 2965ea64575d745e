//! Quality targets: the interpolating search against plain bisection on the same chunks.
//!
//! Runs `bitswarm encode CLIP --target-vmaf T --search interpolate|bisect --json` for every clip
//! and prints, per clip and in total, the probe encodes per chunk, the mean |achieved - target|
//! and the share of chunks within 1 VMAF of the target.
//!
//! `cargo run --release -p bitswarm-bench --bin targets -- CLIP... [--target 93] [--encoder openh264]`

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use clap::Parser;

#[derive(Parser)]
struct Args {
    /// Clips to encode.
    clips: Vec<PathBuf>,
    /// The VMAF target.
    #[arg(long, default_value_t = 93.0)]
    target: f64,
    #[arg(long, default_value = "openh264")]
    encoder: String,
    /// Local encoding servers.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// The `bitswarm` binary [default: next to this one].
    #[arg(long)]
    bitswarm: Option<PathBuf>,
    /// Configuration for the runs (pinned policy).
    #[arg(long, default_value = "benches/pinned.toml")]
    config: PathBuf,
}

/// Per search: probes, |error| per chunk.
#[derive(Default)]
struct Tally {
    chunks: usize,
    probes: u64,
    errors: Vec<f64>,
}

impl Tally {
    fn add(&mut self, report: &serde_json::Value, target: f64) -> Result<()> {
        for chunk in report["chunks"].as_array().context("no chunks")? {
            let probes = chunk["probes"].as_array().context("no probes")?;
            let achieved = chunk["quality"]["vmaf"].as_f64().context("no VMAF")?;
            self.chunks += 1;
            self.probes += probes.len() as u64;
            self.errors.push((achieved - target).abs());
        }
        Ok(())
    }

    fn row(&self) -> String {
        let n = self.chunks.max(1) as f64;
        let within = self.errors.iter().filter(|&&e| e <= 1.0).count() as f64 / n;
        format!(
            "{:.2} | {:.3} | {:.0}%",
            self.probes as f64 / n,
            self.errors.iter().sum::<f64>() / n,
            within * 100.0
        )
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    let bin = bitswarm_bench::bitswarm_binary(args.bitswarm.as_deref())?;
    let tmp = std::env::temp_dir().join(format!("bitswarm-targets-{}", std::process::id()));
    println!(
        "VMAF target {}, encoder {}, {} servers\n",
        args.target, args.encoder, args.workers
    );
    println!("| clip | chunks | interpolate: probes/chunk | mean abs error | within 1 | bisect: probes/chunk | mean abs error | within 1 |");
    println!("|---|---|---|---|---|---|---|---|");
    let (mut all_i, mut all_b) = (Tally::default(), Tally::default());
    for clip in &args.clips {
        let (mut i, mut b) = (Tally::default(), Tally::default());
        for (search, tally) in [("interpolate", &mut i), ("bisect", &mut b)] {
            let report = encode(&bin, &args, clip, search, &tmp)?;
            tally.add(&report, args.target)?;
        }
        println!(
            "| {} | {} | {} | {} |",
            clip.file_name().unwrap_or_default().to_string_lossy(),
            i.chunks,
            i.row(),
            b.row()
        );
        all_i.chunks += i.chunks;
        all_i.probes += i.probes;
        all_i.errors.extend(i.errors);
        all_b.chunks += b.chunks;
        all_b.probes += b.probes;
        all_b.errors.extend(b.errors);
    }
    println!(
        "| all | {} | {} | {} |",
        all_i.chunks,
        all_i.row(),
        all_b.row()
    );
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}

/// One `bitswarm encode` with a VMAF target; its report.
fn encode(
    bin: &Path,
    args: &Args,
    clip: &Path,
    search: &str,
    tmp: &Path,
) -> Result<serde_json::Value> {
    let out = tmp.join(search);
    let status = Command::new(bin)
        .arg("encode")
        .arg(clip)
        .arg("-o")
        .arg(&out)
        .args(["--workers", &args.workers.to_string()])
        .args(["--encoder", &args.encoder])
        .args(["--target-vmaf", &args.target.to_string()])
        .args(["--search", search, "--json"])
        .arg("--config")
        .arg(&args.config)
        .stdout(std::process::Stdio::null())
        .status()?;
    if !status.success() {
        bail!("bitswarm encode failed on {}", clip.display());
    }
    Ok(serde_json::from_slice(&std::fs::read(
        out.join("report.json"),
    )?)?)
}
