//! `bitswarm-bench`: wall time of one in-process encode without MQTT, in two forms - (a0) the
//! encoder alone, (a) the whole job's work (read, analyse, encode each chunk, decode it and
//! compare with its source, as `encode` does) - against (b) `bitswarm encode --workers 1` and
//! (c) `--workers 2`, run side by side in rounds (the machine is shared and noisy: each round
//! runs them back to back and the medians are compared); then the peak memory of a controller
//! encoding a stdin stream N times longer than the clip.
//!
//! `cargo run --release -p bitswarm-bench -- CLIP... [--rounds 5] [--repeat 10]`

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;

use bitswarm_analysis::{AnalysisConfig, Analyzer};
use bitswarm_codec::{open_encoder, EncoderConfig};
use bitswarm_core::{Profile, RateControl};
use bitswarm_media::{open_input, InputOptions};
use bitswarm_swarm::config::QualityConfig;
use bitswarm_swarm::verify::{Neighbours, Verifier};

#[derive(Parser)]
struct Args {
    /// Y4M clips to measure.
    clips: Vec<PathBuf>,
    /// Rounds of (a, b, c).
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Times the clip is repeated in the stdin stream of the memory test (and of the long-stream rounds).
    #[arg(long, default_value_t = 10)]
    repeat: usize,
    /// The `bitswarm` binary [default: next to this one].
    #[arg(long)]
    bitswarm: Option<PathBuf>,
    /// Configuration for the swarm runs (pinned policy).
    #[arg(long, default_value = "benches/pinned.toml")]
    config: PathBuf,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let bin = bitswarm_bench::bitswarm_binary(args.bitswarm.as_deref())?;
    let config_text =
        std::fs::read_to_string(&args.config).with_context(|| args.config.display().to_string())?;
    let gop: u32 = config_text
        .lines()
        .find_map(|l| l.strip_prefix("gop = ").and_then(|v| v.trim().parse().ok()))
        .unwrap_or(25);
    let profile = Profile {
        gop,
        rate: RateControl::Qp { qp: 26 },
        complexity: 5,
        ..Profile::default()
    };
    let tmp = std::env::temp_dir().join(format!("bitswarm-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    println!("| clip | frames | a0: encoder alone (s) | a: job in-process (s) | b: --workers 1 (s) | c: --workers 2 (s) | overhead b/a | b/a0 | scaling b/c |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for clip in &args.clips {
        let long = tmp.join("long.y4m");
        repeat_y4m(clip, args.repeat, &long)?;
        for (label, input) in [
            (clip.display().to_string(), clip.clone()),
            (format!("{} x{}", clip.display(), args.repeat), long.clone()),
        ] {
            let (mut a0, mut a, mut b, mut c) = (vec![], vec![], vec![], vec![]);
            let mut frames = 0;
            for _ in 0..args.rounds {
                let (t, n) = in_process(&input, &profile, false)?;
                a0.push(t);
                frames = n;
                a.push(in_process(&input, &profile, true)?.0);
                b.push(swarm(&bin, &input, &args.config, 1, &tmp)?);
                c.push(swarm(&bin, &input, &args.config, 2, &tmp)?);
            }
            let (a0, a, b, c) = (median(a0), median(a), median(b), median(c));
            println!(
                "| {label} | {frames} | {:.3} | {:.3} | {:.3} | {:.3} | {:.2} | {:.2} | {:.2} |",
                a0.as_secs_f64(),
                a.as_secs_f64(),
                b.as_secs_f64(),
                c.as_secs_f64(),
                b.as_secs_f64() / a.as_secs_f64(),
                b.as_secs_f64() / a0.as_secs_f64(),
                b.as_secs_f64() / c.as_secs_f64()
            );
        }
    }
    println!();
    println!("| clip | stream | controller peak RSS (MiB) |");
    println!("|---|---|---|");
    for clip in &args.clips {
        for repeat in [1, args.repeat] {
            let rss = controller_peak_rss(&bin, clip, repeat, &args.config, &tmp)?;
            println!(
                "| {} | x{repeat} on stdin | {:.1} |",
                clip.display(),
                rss as f64 / 1024.0
            );
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// (a0) and (a): read the clip and encode it with one encoder per GOP-sized chunk, in this
/// process, on one thread; with `job`, also analyse every frame and decode every chunk to
/// compare it with its source, as the controller does.
fn in_process(input: &Path, profile: &Profile, job: bool) -> Result<(Duration, u64)> {
    let started = Instant::now();
    let mut source = open_input(input.to_str().unwrap(), &InputOptions::default())?;
    let info = source.info();
    let cfg = EncoderConfig {
        profile: profile.clone(),
        source: info,
        threads: 1,
        ffmpeg: None,
    };
    let mut analyzer = Analyzer::new(info, AnalysisConfig::default())?;
    // The job's verification: decode and the default metrics, as `encode` does.
    let verifier = match job {
        true => Some(Verifier::new(
            info,
            profile.encoder.codec(),
            None,
            &QualityConfig::default().metric_kinds()?,
        )?),
        false => None,
    };
    let mut frames = 0u64;
    let (mut raw, mut coded, mut count) = (Vec::new(), Vec::new(), 0u32);
    let mut encoder = open_encoder(&cfg)?;
    loop {
        let frame = source.next_frame()?;
        let boundary = frame.is_none() || (frames > 0 && frames % u64::from(profile.gop) == 0);
        if boundary && count > 0 {
            encoder.flush()?;
            drain(encoder.as_mut(), &mut coded)?;
            if let Some(verifier) = &verifier {
                verifier
                    .verify(count, &raw, &coded, Neighbours::default())
                    .map_err(anyhow::Error::msg)?;
            }
            std::hint::black_box(&coded);
            (raw, coded, count) = (Vec::new(), Vec::new(), 0);
            encoder = open_encoder(&cfg)?;
        }
        let Some(frame) = frame else { break };
        if job {
            analyzer.push(&frame)?;
            frame.write_packed(&mut raw);
        }
        encoder.send_frame(&frame)?;
        drain(encoder.as_mut(), &mut coded)?;
        count += 1;
        frames += 1;
    }
    Ok((started.elapsed(), frames))
}

fn drain(encoder: &mut dyn bitswarm_codec::Encoder, out: &mut Vec<u8>) -> Result<()> {
    while let Some(p) = encoder.receive_packet()? {
        out.extend_from_slice(&p.data);
    }
    Ok(())
}

/// (b), (c): the whole `bitswarm encode` process with its embedded broker and local servers.
fn swarm(bin: &Path, input: &Path, config: &Path, workers: usize, tmp: &Path) -> Result<Duration> {
    let out = tmp.join(format!("out-{workers}"));
    let started = Instant::now();
    let status = Command::new(bin)
        .args([
            "encode",
            input.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--workers",
            &workers.to_string(),
            "--json",
        ])
        .arg("--config")
        .arg(config)
        .stdout(Stdio::null())
        .status()?;
    let elapsed = started.elapsed();
    if !status.success() {
        bail!("bitswarm encode failed on {}", input.display());
    }
    Ok(elapsed)
}

/// Writes a Y4M stream of `clip`'s frames repeated `times` times.
fn repeat_y4m(clip: &Path, times: usize, out: &Path) -> Result<()> {
    let data = std::fs::read(clip)?;
    let header_end = data
        .iter()
        .position(|&b| b == b'\n')
        .context("no Y4M header")?
        + 1;
    let mut f = std::io::BufWriter::new(std::fs::File::create(out)?);
    f.write_all(&data[..header_end])?;
    for _ in 0..times {
        f.write_all(&data[header_end..])?;
    }
    f.flush()?;
    Ok(())
}

/// Peak RSS (KiB) of a controller fed `clip` x `repeat` on stdin, with its servers in other
/// processes (a standalone broker and two workers), sampled from /proc while it runs.
fn controller_peak_rss(
    bin: &Path,
    clip: &Path,
    repeat: usize,
    config: &Path,
    tmp: &Path,
) -> Result<u64> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let url = format!("mqtt://127.0.0.1:{port}");
    let mut broker = Command::new(bin)
        .args(["broker", "--listen", &format!("127.0.0.1:{port}")])
        .stderr(Stdio::null())
        .spawn()?;
    std::thread::sleep(Duration::from_millis(300));
    let mut workers: Vec<_> = (0..2)
        .map(|i| {
            Command::new(bin)
                .args(["worker", "--broker", &url, "--id", &format!("bench{i}")])
                .stderr(Stdio::null())
                .spawn()
        })
        .collect::<std::io::Result<_>>()?;
    std::thread::sleep(Duration::from_millis(300));
    let out = tmp.join("out-mem");
    let mut controller = Command::new(bin)
        .args([
            "encode",
            "-",
            "-o",
            out.to_str().unwrap(),
            "--broker",
            &url,
            "--workers",
            "0",
            "--json",
        ])
        .arg("--config")
        .arg(config)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()?;
    let pid = controller.id();
    let mut stdin = controller.stdin.take().unwrap();
    let clip = clip.to_owned();
    let feeder = std::thread::spawn(move || -> Result<()> {
        let data = std::fs::read(&clip)?;
        let header_end = data
            .iter()
            .position(|&b| b == b'\n')
            .context("no Y4M header")?
            + 1;
        stdin.write_all(&data[..header_end])?;
        for _ in 0..repeat {
            stdin.write_all(&data[header_end..])?;
        }
        Ok(())
    });
    let mut peak = 0;
    while controller.try_wait()?.is_none() {
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            if let Some(kb) = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
            {
                peak = peak.max(kb);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    feeder.join().expect("feeder")?;
    for w in &mut workers {
        let _ = w.kill();
        let _ = w.wait();
    }
    let _ = broker.kill();
    let _ = broker.wait();
    Ok(peak)
}
