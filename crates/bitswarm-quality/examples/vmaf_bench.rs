//! VMAF speed, ours against libvmaf, on the same clip and machine.
//!
//! ```text
//! cargo run --release -p bitswarm-quality --example vmaf_bench -- REF DIST [FRAMES]
//! ```
//!
//! Loads up to FRAMES (default all) frame pairs of REF and DIST (any input bitswarm reads)
//! into memory and scores them with our VMAF on one thread and on all cores, then with
//! FFmpeg's libvmaf filter (`n_threads=1`) on the same frames written to Y4M. Both sides loop
//! over the clip until about 6e7 pixels have been scored, and each run is repeated three times
//! (best kept). libvmaf's cost is that of the FFmpeg run minus the same run without libvmaf
//! (reading and pairing the two Y4M inputs). Printed: frames per second by wall clock and by
//! CPU time (the fair figure on a busy machine; Linux only), and ours over libvmaf's. The
//! FFmpeg is found as in the cross-check: `$BITSWARM_FFMPEG_VMAF` or imageio-ffmpeg's.

#[path = "../tests/common/ffmpeg.rs"]
mod ffmpeg;

use std::io::BufWriter;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bitswarm_core::Frame;
use bitswarm_media::y4m::Y4mWriter;
use bitswarm_media::{open_input, InputOptions};
use bitswarm_quality::vmaf::Vmaf;
use bitswarm_quality::Metric;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vmaf_bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// CPU time used so far by this process and by its waited-for children, in seconds (from
/// /proc/self/stat; zero where there is none).
fn cpu_times() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<f64> = stat
        .rsplit_once(')')
        .map(|(_, rest)| {
            rest.split_whitespace()
                .filter_map(|f| f.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    // After the command name: state is dropped by the parse; utime, stime, cutime, cstime are
    // fields 14 to 17 of the line, here 10 to 13 (the state letter does not parse).
    let tick = |i: usize| fields.get(i).copied().unwrap_or(0.0) / 100.0;
    (tick(10) + tick(11), tick(12) + tick(13))
}

/// Wall and CPU seconds of `f`, best of three runs (CPU of this process or of its children).
fn timed<T>(
    children: bool,
    mut f: impl FnMut() -> Result<T, String>,
) -> Result<(T, f64, f64), String> {
    let (mut wall, mut cpu, mut last) = (f64::MAX, f64::MAX, None);
    for _ in 0..3 {
        let (c0, start) = (cpu_times(), Instant::now());
        last = Some(f()?);
        let c1 = cpu_times();
        wall = wall.min(start.elapsed().as_secs_f64());
        cpu = cpu.min(if children { c1.1 - c0.1 } else { c1.0 - c0.0 });
    }
    Ok((last.expect("three runs"), wall, cpu))
}

/// Mean VMAF of the frames scored `reps` times over, on the current rayon pool.
fn ours(frames: &[(Frame, Frame)], reps: usize) -> Result<f64, String> {
    let (w, h) = (frames[0].0.width, frames[0].0.height);
    let mut vmaf = Vmaf::new(w, h).map_err(|e| e.to_string())?;
    for _ in 0..reps {
        for (r, d) in frames {
            vmaf.push(r, d).map_err(|e| e.to_string())?;
        }
    }
    let summary = vmaf.finish().map_err(|e| e.to_string())?;
    Ok(summary.field("vmaf").map_or(f64::NAN, |f| f.mean))
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (reference, distorted) = match &args[..] {
        [r, d] | [r, d, _] => (r, d),
        _ => return Err("usage: vmaf_bench REF DIST [FRAMES]".into()),
    };
    let limit = match args.get(2) {
        Some(n) => n.parse().map_err(|_| format!("bad frame count {n:?}"))?,
        None => usize::MAX,
    };
    let opts = InputOptions::default();
    let mut r = open_input(reference, &opts).map_err(|e| e.to_string())?;
    let mut d = open_input(distorted, &opts).map_err(|e| e.to_string())?;
    let info = r.info();
    let mut frames = Vec::new();
    while frames.len() < limit {
        match (r.next_frame(), d.next_frame()) {
            (Ok(Some(a)), Ok(Some(b))) => frames.push((a, b)),
            (Err(e), _) | (_, Err(e)) => return Err(e.to_string()),
            _ => break,
        }
    }
    if frames.is_empty() {
        return Err("no frame pairs".into());
    }
    let (w, h) = (info.width, info.height);
    let reps = (6e7 / (frames.len() as f64 * f64::from(w) * f64::from(h)))
        .ceil()
        .max(1.0) as usize;
    let n = (frames.len() * reps) as f64;
    println!("{} frames of {w}x{h}, looped {reps} times", frames.len());
    let rate = |what: &str, wall: f64, cpu: f64| {
        println!(
            "{what:<22} {:8.1} frames/s wall, {:8.1} frames/s CPU",
            n / wall,
            n / cpu
        );
        (n / wall, n / cpu)
    };

    let single = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .map_err(|e| e.to_string())?;
    let (mean, wall, cpu) = timed(false, || single.install(|| ours(&frames, reps)))?;
    let ours1 = rate("ours, 1 thread:", wall, cpu);
    let (_, wall, cpu) = timed(false, || ours(&frames, reps))?;
    rate(
        &format!("ours, {} threads:", rayon::current_num_threads()),
        wall,
        cpu,
    );
    println!("  (mean VMAF {mean:.6})");

    let Some(ffmpeg) = ffmpeg::find()? else {
        println!(
            "libvmaf: no FFmpeg with libvmaf (set {} or run scripts/install-ffmpeg-vmaf.sh)",
            ffmpeg::ENV
        );
        return Ok(());
    };
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let write = |name: &str, pick: fn(&(Frame, Frame)) -> &Frame| -> Result<String, String> {
        let path = dir.path().join(name);
        let file = std::fs::File::create(&path).map_err(|e| e.to_string())?;
        let mut y4m = Y4mWriter::new(BufWriter::new(file), &info).map_err(|e| e.to_string())?;
        for pair in &frames {
            y4m.write_frame(pick(pair)).map_err(|e| e.to_string())?;
        }
        y4m.finish().map_err(|e| e.to_string())?;
        Ok(path.display().to_string())
    };
    let (ref_y4m, dist_y4m) = (write("ref.y4m", |p| &p.0)?, write("dist.y4m", |p| &p.1)?);
    let log = dir.path().join("vmaf.json").display().to_string();
    let loops = (reps - 1).to_string();
    let run_graph = |graph: &str| -> Result<(), String> {
        let args = [
            "-hide_banner",
            "-nostats",
            "-v",
            "error",
            "-stream_loop",
            &loops,
            "-i",
            &dist_y4m,
            "-stream_loop",
            &loops,
            "-i",
            &ref_y4m,
            "-lavfi",
            graph,
            "-f",
            "null",
            "-",
        ];
        ffmpeg::run(&ffmpeg, &args, Duration::from_secs(1800)).map(|_| ())
    };
    let vmaf_graph = format!("[0:v][1:v]libvmaf=n_threads=1:log_fmt=json:log_path={log}");
    let (_, wall_vmaf, cpu_vmaf) = timed(true, || run_graph(&vmaf_graph))?;
    let (_, wall_read, cpu_read) = timed(true, || run_graph("[0:v][1:v]hstack"))?;
    let logged: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(Path::new(&log)).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    let theirs = rate(
        "libvmaf, 1 thread:",
        wall_vmaf - wall_read,
        cpu_vmaf - cpu_read,
    );
    println!(
        "  (mean VMAF {:.6}; libvmaf logs {:.1} frames/s)",
        logged["pooled_metrics"]["vmaf"]["mean"]
            .as_f64()
            .unwrap_or(f64::NAN),
        logged["fps"].as_f64().unwrap_or(f64::NAN)
    );
    println!(
        "ours/libvmaf, one thread each: {:.2} (wall), {:.2} (CPU)",
        ours1.0 / theirs.0,
        ours1.1 / theirs.1
    );
    Ok(())
}
