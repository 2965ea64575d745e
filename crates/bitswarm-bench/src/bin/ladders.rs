//! Per-title ladders against the fixed reference ladder (issue 5), on the first `--frames`
//! frames of each clip (default 60: the grid is expensive), x264 `medium` (complexity 6,
//! docs/CODEC.md) on every side:
//!
//! - (a) the fixed ladder: the rungs of `reference_ladder` (Apple HLS derived), 1-pass ABR with
//!   VBV (maxrate 1.1x, bufsize 2x), real kbit/s and VMAF;
//! - (b) the exhaustive grid: every allowed height (the steps up to the source and the source
//!   height, `allowed_heights`) x CRF 16, 20, ..., 48, and its Pareto front;
//! - (c) our ladder: `bitswarm ladder` on the same frames with a budget of 30% of the grid's
//!   encodes (`--budget-percent`); its trials and rungs from `ladder.json`;
//! - (d) BD-rate (VMAF) of the grid's front and of ours (front of every trial, and the rungs)
//!   against the fixed ladder, where it has two rungs or more;
//! - (e) the top rung: our cheapest trial reaching the target (VMAF 95) against the fixed top
//!   rung, where that rung is above the target;
//! - (f) ABR: mean QoE (VMAF-based) of both ladders on the dev traces; each rung is one
//!   (kbit/s, VMAF) point over the measured frames, repeated as 48 segments of 4 s;
//! - (g) wall time of `bitswarm ladder` with 1 and 2 local servers (`--workers`).
//!
//! The encodes of (a) and (b) run in this process, one at a time on one thread, with the GOP
//! of the ladder's trials (two per 4 s segment); VMAF is the controller's, at the source size.
//! Method and reading: docs/BENCHMARKS.md, "Per-title ladders".
//!
//! `cargo run --release -p bitswarm-bench --bin ladders -- [CLIP...] [--frames 60]
//!   [--workers 1,2] [--policies mpc]`

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Parser;

use bitswarm_abr::files::load_traces;
use bitswarm_abr::{
    baseline_policy, evaluate, ClientCaps, Ladder, LadderFile, QoeConfig, QualityMetric, Rung,
    SegmentRow, SessionConfig, Summary, Trace, VideoCodec, LADDER_FORMAT,
};
use bitswarm_bench::{clips_dir, write_y4m, Clip, MEDIUM};
use bitswarm_core::{DeviceClass, EncoderKind, Profile, VideoInfo};
use bitswarm_ladder::{
    allowed_heights, bd_rate, pareto_front, reference_ladder, width_for_height, Candidate, Point,
    ReferenceRung,
};
use bitswarm_swarm::ladder::{LadderReport, DEFAULT_TARGET_VMAF, LADDER_JSON};

/// The grid's CRFs: 16, 20, ..., 48.
const GRID_CRFS: [u8; 9] = [16, 20, 24, 28, 32, 36, 40, 44, 48];
/// ABR: segments per session and their duration (Pensieve's video: 48 x 4 s).
const ABR_SEGMENTS: usize = 48;
const ABR_SEGMENT_S: f64 = 4.0;
/// The clips measured without arguments, in the shared clips folder.
const DEFAULT_CLIPS: [&str; 7] = [
    "bbb_360p.y4m",
    "bikes_272p.y4m",
    "city_360p.y4m",
    "foreman_288p.y4m",
    "friday_360p.y4m",
    "screen_gnome_360p.y4m",
    "mp4/bigbuckbunny.mp4",
];

#[derive(Parser)]
struct Args {
    /// Clips [default: the six Y4M clips and mp4/bigbuckbunny.mp4 of $BITSWARM_CLIPS or
    /// ../shared/clips].
    clips: Vec<PathBuf>,
    /// Frames from the start of each clip (every encode of the grid covers them all).
    #[arg(long, default_value_t = 60)]
    frames: usize,
    /// Our ladder's trial budget, in percent of the grid's encodes (rounded down, at least 1).
    #[arg(long, default_value_t = 30)]
    budget_percent: usize,
    /// VMAF the top rung aims at.
    #[arg(long, default_value_t = DEFAULT_TARGET_VMAF)]
    target: f64,
    /// Local servers of the timed `bitswarm ladder` runs, one run each; the first run's
    /// ladder is the one measured.
    #[arg(long, default_value = "1,2", value_delimiter = ',')]
    workers: Vec<usize>,
    /// ABR policies (bb, rate, bola, mpc, mixing).
    #[arg(long, default_value = "mpc", value_delimiter = ',')]
    policies: Vec<String>,
    /// Network traces of the ABR runs [default: traces/dev next to the clips folder].
    #[arg(long)]
    traces: Option<PathBuf>,
    /// The `bitswarm` binary [default: next to this one].
    #[arg(long)]
    bitswarm: Option<PathBuf>,
    /// FFmpeg for x264 [default: `ffmpeg` on PATH].
    #[arg(long)]
    ffmpeg: Option<PathBuf>,
    /// Also write every measured point (fixed rungs, grid, our trials and rungs) as JSON here.
    #[arg(long)]
    points: Option<PathBuf>,
}

/// A figure of a table, or why it is not defined ("n/a (...)").
type Cell<T> = std::result::Result<T, String>;

/// One measured bitstream.
#[derive(Debug, Clone, PartialEq)]
struct Encoded {
    name: String,
    width: u32,
    height: u32,
    kbps: f64,
    vmaf: f64,
}

/// Encodes every frame of `clip` with `profile` and measures the stream.
fn encode(clip: &Clip, profile: Profile) -> Result<Encoded> {
    let (width, height) = profile.resolution.resolve(&clip.info);
    let name = profile.name.clone();
    let m = clip
        .measure(profile)
        .with_context(|| format!("{}: {name}", clip.name))?;
    Ok(Encoded {
        name,
        width,
        height,
        kbps: m.kbps,
        vmaf: m.vmaf,
    })
}

/// (a) Every rung of the fixed ladder, encoded at its bitrate.
fn fixed_ladder(clip: &Clip) -> Result<Vec<(ReferenceRung, Encoded)>> {
    reference_ladder(&clip.info)?
        .into_iter()
        .map(|rung| Ok((rung, encode(clip, rung.to_profile(&clip.base_profile()))?)))
        .collect()
}

/// (b) The grid's candidates: every allowed height x every CRF of [`GRID_CRFS`].
fn grid_candidates(info: &VideoInfo, gop: u32) -> Vec<Candidate> {
    allowed_heights(info, DeviceClass::Desktop)
        .into_iter()
        .flat_map(|height| {
            GRID_CRFS.map(|crf| Candidate {
                width: width_for_height(info, height),
                height,
                encoder: EncoderKind::X264,
                crf_or_qp: crf,
                gop,
                complexity: MEDIUM,
                tuning: Default::default(),
            })
        })
        .collect()
}

/// (b) Every grid candidate encoded and measured.
fn grid(clip: &Clip) -> Result<Vec<Encoded>> {
    grid_candidates(&clip.info, clip.gop)
        .iter()
        .map(|c| encode(clip, c.to_profile(&clip.base_profile())))
        .collect()
}

/// Our ladder's trial budget: `percent` of a grid of `grid_encodes` encodes (at least 1).
fn budget(grid_encodes: usize, percent: usize) -> usize {
    (grid_encodes * percent / 100).max(1)
}

/// One timed `bitswarm ladder` run.
struct SwarmRun {
    workers: usize,
    wall_s: f64,
    report: LadderReport,
}

/// What every `bitswarm ladder` run of a clip shares.
struct LadderCommand<'a> {
    bin: &'a Path,
    config: &'a Path,
    ffmpeg: Option<&'a Path>,
}

impl LadderCommand<'_> {
    /// (c), (g): `bitswarm ladder INPUT -o OUTDIR --encoder x264 --budget B --json` with
    /// `workers` local servers; its wall time and `ladder.json`.
    fn run(&self, input: &Path, outdir: &Path, budget: usize, workers: usize) -> Result<SwarmRun> {
        let mut cmd = Command::new(self.bin);
        cmd.arg("ladder")
            .arg(input)
            .arg("-o")
            .arg(outdir)
            .args(["--encoder", "x264", "--budget", &budget.to_string()])
            .args(["--workers", &workers.to_string(), "--json"])
            .arg("--config")
            .arg(self.config);
        if let Some(ffmpeg) = self.ffmpeg {
            cmd.arg("--ffmpeg").arg(ffmpeg);
        }
        let started = Instant::now();
        let out = cmd
            .output()
            .with_context(|| format!("cannot run {}", self.bin.display()))?;
        let wall_s = started.elapsed().as_secs_f64();
        if !out.status.success() {
            bail!(
                "bitswarm ladder {} --workers {workers} failed ({}):\n{}",
                input.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let path = outdir.join(LADDER_JSON);
        let text = std::fs::read(&path).with_context(|| path.display().to_string())?;
        let report: LadderReport =
            serde_json::from_slice(&text).with_context(|| path.display().to_string())?;
        Ok(SwarmRun {
            workers,
            wall_s,
            report,
        })
    }
}

/// Every trial of a ladder run, in order.
fn swarm_trials(report: &LadderReport) -> Vec<Encoded> {
    report
        .trials
        .iter()
        .map(|t| Encoded {
            name: t.profile.clone(),
            width: t.candidate.width,
            height: t.candidate.height,
            kbps: t.kbps,
            vmaf: t.vmaf,
        })
        .collect()
}

/// The chosen rungs of every family of a ladder run, by rate.
fn swarm_rungs(report: &LadderReport) -> Result<Vec<Encoded>> {
    let mut rungs = report
        .families
        .iter()
        .flat_map(|f| &f.rungs)
        .map(|r| {
            let t = report
                .trials
                .iter()
                .find(|t| t.id == r.trial)
                .with_context(|| {
                    format!("rung {} names trial {}, not in the report", r.id, r.trial)
                })?;
            Ok(Encoded {
                name: format!("{} {}", r.id, r.profile),
                width: r.candidate.width,
                height: r.candidate.height,
                kbps: t.kbps,
                vmaf: t.vmaf,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    rungs.sort_by(|a, b| a.kbps.total_cmp(&b.kbps));
    Ok(rungs)
}

fn points(list: &[Encoded]) -> Vec<Point> {
    list.iter()
        .enumerate()
        .map(|(id, e)| Point {
            kbps: e.kbps,
            quality: e.vmaf,
            id,
        })
        .collect()
}

/// (d) BD-rate (VMAF, percent) of the Pareto front of `test` against the fixed ladder's; the
/// reason when it is not defined.
fn bd_vs_fixed(fixed: &[Encoded], test: &[Encoded]) -> Cell<f64> {
    if fixed.len() < 2 {
        let s = if fixed.len() == 1 { "" } else { "s" };
        return Err(format!("n/a ({} rung{s})", fixed.len()));
    }
    bd_rate(&pareto_front(&points(fixed)), &pareto_front(&points(test)))
        .map_err(|e| format!("n/a ({e})"))
}

fn percent(bd: &Cell<f64>) -> String {
    match bd {
        Ok(v) => format!("{v:+.1}%"),
        Err(why) => why.clone(),
    }
}

/// Goal 1: our BD-rate beats the grid front's by at least 5 points, with at most 30% of the
/// grid's encodes.
fn beats_grid(
    grid: &Cell<f64>,
    ours: &Cell<f64>,
    trials: usize,
    grid_encodes: usize,
) -> &'static str {
    match (grid, ours) {
        _ if trials * 10 > grid_encodes * 3 => "not met (over 30% of the encodes)",
        (Ok(g), Ok(o)) if *o <= g - 5.0 => "met",
        (Ok(_), Ok(_)) => "not met",
        _ => "n/a",
    }
}

/// The cheapest of `list` reaching `target` VMAF.
fn cheapest_reaching(list: &[Encoded], target: f64) -> Option<&Encoded> {
    list.iter()
        .filter(|e| e.vmaf >= target)
        .min_by(|a, b| a.kbps.total_cmp(&b.kbps))
}

/// (e) The top rung: our cheapest trial reaching the target against the fixed top rung.
#[derive(Debug, Clone, PartialEq)]
enum TopRung {
    /// The fixed ladder has no rung.
    NoFixed,
    /// The fixed top rung does not overshoot the target: nothing to save.
    FixedAtOrBelow(Encoded),
    /// No trial of ours reaches the target.
    NotReached(Encoded),
    /// Ours reaches the target with `saving` (0..1) fewer bits than the fixed top rung.
    Cheaper {
        fixed: Encoded,
        ours: Encoded,
        saving: f64,
    },
}

fn top_rung(fixed: &[Encoded], ours: &[Encoded], target: f64) -> TopRung {
    // The fixed rungs come lowest first; the top one is the last.
    let Some(top) = fixed.last() else {
        return TopRung::NoFixed;
    };
    if top.vmaf <= target {
        return TopRung::FixedAtOrBelow(top.clone());
    }
    match cheapest_reaching(ours, target) {
        None => TopRung::NotReached(top.clone()),
        Some(o) => TopRung::Cheaper {
            fixed: top.clone(),
            ours: o.clone(),
            saving: 1.0 - o.kbps / top.kbps,
        },
    }
}

/// Bytes of one ABR segment at `kbps` (at least 1).
fn segment_bytes(kbps: f64) -> u64 {
    (kbps * 1000.0 / 8.0 * ABR_SEGMENT_S).round().max(1.0) as u64
}

/// (f) A `bitswarm-ladder/1` ladder of `streams`: each one (kbit/s, VMAF) point repeated over
/// [`ABR_SEGMENTS`] segments of [`ABR_SEGMENT_S`].
fn abr_ladder(name: &str, streams: &[Encoded], fps: f64) -> Result<Ladder> {
    let mut sorted = streams.to_vec();
    sorted.sort_by(|a, b| a.kbps.total_cmp(&b.kbps));
    let row = SegmentRow {
        bytes: sorted.iter().map(|s| segment_bytes(s.kbps)).collect(),
        // VMAF is a mean of frame scores in 0..=100; the clamp only absorbs float rounding.
        vmaf: Some(sorted.iter().map(|s| s.vmaf.clamp(0.0, 100.0)).collect()),
        ssim: None,
    };
    let file = LadderFile {
        format: LADDER_FORMAT.into(),
        segment_duration_s: ABR_SEGMENT_S,
        rungs: sorted
            .iter()
            .map(|s| Rung {
                id: s.name.clone(),
                bitrate_kbps: s.kbps,
                codec: VideoCodec::H264,
                width: s.width,
                height: s.height,
                fps,
            })
            .collect(),
        segments: vec![row; ABR_SEGMENTS],
    };
    Ok(Ladder::new(name, file)?)
}

/// (f) `policy` over `traces` on `ladder`, desktop client, QoE with VMAF: the means.
fn abr_summary(policy: &str, ladder: &Ladder, traces: &[Trace]) -> Result<Summary> {
    let cfg = SessionConfig {
        qoe: QoeConfig {
            quality: QualityMetric::Vmaf,
            ..QoeConfig::default()
        },
        ..SessionConfig::default()
    };
    let sessions = evaluate(
        || baseline_policy(policy),
        traces,
        ladder,
        &ClientCaps::default(),
        &cfg,
        1,
    )?;
    Ok(Summary::of(policy, &sessions))
}

/// Everything measured on one clip.
struct ClipResult {
    name: String,
    frames: usize,
    fixed: Vec<(ReferenceRung, Encoded)>,
    grid: Vec<Encoded>,
    grid_s: f64,
    budget: usize,
    runs: Vec<(usize, f64)>,
    /// Every run found the same trials (rates and scores).
    same_trials: bool,
    trials: Vec<Encoded>,
    rungs: Vec<Encoded>,
    /// Per policy: the ABR summaries of the fixed ladder and of ours.
    abr: Vec<(String, Cell<(Summary, Summary)>)>,
}

impl ClipResult {
    fn fixed(&self) -> Vec<Encoded> {
        streams(&self.fixed)
    }
}

/// The measured bitstreams of the fixed ladder's rungs.
fn streams(fixed: &[(ReferenceRung, Encoded)]) -> Vec<Encoded> {
    fixed.iter().map(|(_, e)| e.clone()).collect()
}

fn run_clip(
    args: &Args,
    path: &Path,
    ladder: &LadderCommand,
    traces: &[Trace],
    tmp: &Path,
) -> Result<ClipResult> {
    let clip = Clip::open(path, args.frames, args.ffmpeg.as_deref())?;
    let frames = clip.frames.len();
    eprintln!("{}: {frames} frames, fixed ladder", clip.name);
    let fixed = fixed_ladder(&clip)?;
    let started = Instant::now();
    let grid_encodes = grid(&clip)?;
    let grid_s = started.elapsed().as_secs_f64();
    let budget = budget(grid_encodes.len(), args.budget_percent);
    eprintln!(
        "{}: grid of {} encodes in {grid_s:.0} s; bitswarm ladder, budget {budget}",
        clip.name,
        grid_encodes.len()
    );
    let stem = Path::new(&clip.name)
        .file_stem()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let input = tmp.join(format!("{stem}-{frames}f.y4m"));
    write_y4m(&input, &clip.info, &clip.frames)?;
    let runs = args
        .workers
        .iter()
        .map(|&w| ladder.run(&input, &tmp.join(format!("{stem}-w{w}")), budget, w))
        .collect::<Result<Vec<_>>>()?;
    let Some(first) = runs.first() else {
        bail!("--workers lists no run");
    };
    let trials = swarm_trials(&first.report);
    let same_trials = runs.iter().all(|r| swarm_trials(&r.report) == trials);
    let rungs = swarm_rungs(&first.report)?;
    let fixed_streams = streams(&fixed);
    let fps = clip.info.fps.as_f64();
    let abr = args
        .policies
        .iter()
        .map(|p| {
            let both = if fixed_streams.is_empty() {
                Err("n/a (no fixed rung)".to_owned())
            } else {
                let fixed_abr = abr_ladder("fixed", &fixed_streams, fps)?;
                let ours_abr = abr_ladder("ours", &rungs, fps)?;
                Ok((
                    abr_summary(p, &fixed_abr, traces)?,
                    abr_summary(p, &ours_abr, traces)?,
                ))
            };
            Ok((p.clone(), both))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(ClipResult {
        name: clip.name,
        frames,
        fixed,
        grid: grid_encodes,
        grid_s,
        budget,
        runs: runs.iter().map(|r| (r.workers, r.wall_s)).collect(),
        same_trials,
        trials,
        rungs,
        abr,
    })
}

fn describe(list: &[Encoded]) -> String {
    list.iter()
        .map(|e| format!("{}p {:.0}k {:.1}", e.height, e.kbps, e.vmaf))
        .collect::<Vec<_>>()
        .join(", ")
}

fn print_ladders(results: &[ClipResult]) {
    println!("\n(a), (c) Ladders: height, kbit/s, VMAF per rung\n");
    println!(
        "| clip | fixed: target kbit/s | fixed: measured | ours (rungs of `bitswarm ladder`) |"
    );
    println!("|---|---|---|---|");
    for r in results {
        let targets: Vec<String> = r
            .fixed
            .iter()
            .map(|(rung, _)| rung.kbps.to_string())
            .collect();
        println!(
            "| {} | {} | {} | {} |",
            r.name,
            targets.join(", "),
            describe(&r.fixed()),
            describe(&r.rungs)
        );
    }
}

fn print_bd(results: &[ClipResult]) {
    println!("\n(b), (d) BD-rate (VMAF) against the fixed ladder; goal 1: ours <= grid - 5 points with <= 30% of the grid's encodes\n");
    println!("| clip | frames | grid encodes | grid front | our trials | ours: front of trials | ours: rungs | goal 1 |");
    println!("|---|---|---|---|---|---|---|---|");
    for r in results {
        let fixed = r.fixed();
        let grid = bd_vs_fixed(&fixed, &r.grid);
        let ours = bd_vs_fixed(&fixed, &r.trials);
        let rungs = bd_vs_fixed(&fixed, &r.rungs);
        println!(
            "| {} | {} | {} | {} | {} (budget {}) | {} | {} | {} |",
            r.name,
            r.frames,
            r.grid.len(),
            percent(&grid),
            r.trials.len(),
            r.budget,
            percent(&ours),
            percent(&rungs),
            beats_grid(&grid, &ours, r.trials.len(), r.grid.len())
        );
    }
}

fn print_top(results: &[ClipResult], target: f64) {
    println!("\n(e) Top rung: our cheapest trial reaching VMAF {target} against the fixed top rung; goal 2: >= 25% fewer bits where the fixed top rung is above {target}\n");
    println!("| clip | fixed top rung | ours: cheapest >= {target} | saving | grid: cheapest >= {target} | goal 2 |");
    println!("|---|---|---|---|---|---|");
    let show = |e: &Encoded| format!("{} ({:.0} kbit/s, {:.2})", e.name, e.kbps, e.vmaf);
    for r in results {
        let grid = cheapest_reaching(&r.grid, target).map_or("none".into(), show);
        let (fixed, ours, saving, goal) = match top_rung(&r.fixed(), &r.trials, target) {
            TopRung::NoFixed => ("none".into(), "-".into(), "-".into(), "n/a"),
            TopRung::FixedAtOrBelow(f) => {
                (show(&f), "-".into(), "-".into(), "n/a (at or below target)")
            }
            TopRung::NotReached(f) => (show(&f), "none".into(), "-".into(), "not met"),
            TopRung::Cheaper {
                fixed,
                ours,
                saving,
            } => (
                show(&fixed),
                show(&ours),
                format!("{:.0}%", saving * 100.0),
                if saving >= 0.25 { "met" } else { "not met" },
            ),
        };
        println!(
            "| {} | {fixed} | {ours} | {saving} | {grid} | {goal} |",
            r.name
        );
    }
}

fn print_abr(results: &[ClipResult], traces: usize) {
    println!("\n(f) ABR: mean QoE (VMAF-based) over {traces} dev traces, desktop client; goal 3: ours > fixed\n");
    println!("| clip | policy | fixed: QoE | kbit/s | stall (s) | ours: QoE | kbit/s | stall (s) | goal 3 |");
    println!("|---|---|---|---|---|---|---|---|---|");
    let cells = |s: &Summary| {
        format!(
            "{:.2} | {:.0} | {:.2}",
            s.mean_qoe, s.mean_bitrate_kbps, s.mean_rebuffer_s
        )
    };
    for r in results {
        for (policy, abr) in &r.abr {
            match abr {
                Ok((fixed, ours)) => println!(
                    "| {} | {policy} | {} | {} | {} |",
                    r.name,
                    cells(fixed),
                    cells(ours),
                    if ours.mean_qoe > fixed.mean_qoe {
                        "met"
                    } else {
                        "not met"
                    }
                ),
                Err(why) => println!("| {} | {policy} | {why} | | | | | | n/a |", r.name),
            }
        }
    }
}

fn print_wall(results: &[ClipResult]) {
    println!("\n(g) Wall time: the grid in this process (one thread) and `bitswarm ladder` per server count\n");
    let workers: Vec<usize> = results
        .first()
        .map_or(Vec::new(), |r| r.runs.iter().map(|&(w, _)| w).collect());
    let heads: Vec<String> = workers
        .iter()
        .map(|w| format!("ladder, {w} server(s) (s)"))
        .collect();
    println!(
        "| clip | grid encodes | grid (s) | {} | same trials |",
        heads.join(" | ")
    );
    println!("|---|---|---|{}---|", "---|".repeat(workers.len()));
    for r in results {
        let walls: Vec<String> = r.runs.iter().map(|&(_, s)| format!("{s:.1}")).collect();
        println!(
            "| {} | {} | {:.1} | {} | {} |",
            r.name,
            r.grid.len(),
            r.grid_s,
            walls.join(" | "),
            if r.same_trials { "yes" } else { "no" }
        );
    }
}

/// Every measured point per clip, for plots and checks (`--points`).
fn points_json(results: &[ClipResult]) -> serde_json::Value {
    let list = |l: &[Encoded]| -> serde_json::Value {
        l.iter()
            .map(|e| {
                serde_json::json!({
                    "name": e.name, "width": e.width, "height": e.height,
                    "kbps": e.kbps, "vmaf": e.vmaf,
                })
            })
            .collect()
    };
    results
        .iter()
        .map(|r| {
            serde_json::json!({
                "clip": r.name,
                "frames": r.frames,
                "fixed": list(&r.fixed()),
                "grid": list(&r.grid),
                "trials": list(&r.trials),
                "rungs": list(&r.rungs),
            })
        })
        .collect()
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.workers.is_empty() || args.workers.contains(&0) {
        bail!(
            "--workers {:?}: expected one or more server counts >= 1",
            args.workers
        );
    }
    for p in &args.policies {
        baseline_policy(p)?;
    }
    let clips: Vec<PathBuf> = if args.clips.is_empty() {
        let dir = clips_dir();
        DEFAULT_CLIPS.iter().map(|c| dir.join(c)).collect()
    } else {
        args.clips.clone()
    };
    if let Some(missing) = clips.iter().find(|c| !c.is_file()) {
        bail!(
            "clip {} not found (set {} to the shared clips folder)",
            missing.display(),
            bitswarm_bench::CLIPS_ENV
        );
    }
    let traces_dir = args
        .traces
        .clone()
        .unwrap_or_else(|| clips_dir().join("../traces/dev"));
    let traces = load_traces(&traces_dir)?;
    let bin = bitswarm_bench::bitswarm_binary(args.bitswarm.as_deref())?;
    let tmp = tempfile::tempdir()?;
    // The trials' effort: x264 medium, as every encode here.
    let config = tmp.path().join("ladder.toml");
    std::fs::write(&config, format!("[profile]\ncomplexity = {MEDIUM}\n"))?;
    let ladder = LadderCommand {
        bin: &bin,
        config: &config,
        ffmpeg: args.ffmpeg.as_deref(),
    };
    let results = clips
        .iter()
        .map(|c| run_clip(&args, c, &ladder, &traces, tmp.path()))
        .collect::<Result<Vec<_>>>()?;
    println!(
        "x264 medium everywhere; first {} frames per clip; top-rung target VMAF {}",
        args.frames, args.target
    );
    print_ladders(&results);
    print_bd(&results);
    print_top(&results, args.target);
    print_abr(&results, traces.len());
    print_wall(&results);
    if let Some(path) = &args.points {
        std::fs::write(path, serde_json::to_string_pretty(&points_json(&results))?)
            .with_context(|| path.display().to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitswarm_core::Rational;

    fn enc(name: &str, height: u32, kbps: f64, vmaf: f64) -> Encoded {
        Encoded {
            name: name.into(),
            width: height * 16 / 9,
            height,
            kbps,
            vmaf,
        }
    }

    #[test]
    fn the_grid_covers_every_allowed_height_at_nine_crfs() {
        let info = VideoInfo::new(640, 272, Rational::new(25, 1).unwrap()).unwrap();
        let grid = grid_candidates(&info, 50);
        assert_eq!(grid.len(), 27);
        let sizes: Vec<(u32, u32)> = grid
            .iter()
            .step_by(9)
            .map(|c| (c.width, c.height))
            .collect();
        assert_eq!(sizes, [(338, 144), (550, 234), (640, 272)]);
        let crfs: Vec<u8> = grid[..9].iter().map(|c| c.crf_or_qp).collect();
        assert_eq!(crfs, GRID_CRFS);
        assert!(grid.iter().all(|c| c.gop == 50 && c.complexity == MEDIUM));
        // Every candidate is a profile x264 accepts, named by size and CRF.
        let base = Profile::default();
        let p = grid[13].to_profile(&base);
        assert_eq!(p.name, "234p-x264-crf32");
        assert!(grid.iter().all(|c| c.to_profile(&base).validate().is_ok()));
        // 720p: seven heights, 63 encodes.
        let hd = VideoInfo::new(1280, 720, Rational::new(25, 1).unwrap()).unwrap();
        assert_eq!(grid_candidates(&hd, 50).len(), 63);
    }

    #[test]
    fn the_budget_is_a_share_of_the_grid_rounded_down() {
        assert_eq!(budget(36, 30), 10);
        assert_eq!(budget(27, 30), 8);
        assert_eq!(budget(63, 30), 18);
        assert_eq!(budget(2, 30), 1);
        assert_eq!(budget(36, 100), 36);
    }

    #[test]
    fn bd_rate_needs_two_fixed_rungs() {
        let fixed = [enc("a", 234, 100.0, 70.0), enc("b", 360, 300.0, 85.0)];
        // The same curve at half the rate: -50%.
        let half: Vec<Encoded> = fixed
            .iter()
            .map(|e| Encoded {
                kbps: e.kbps / 2.0,
                ..e.clone()
            })
            .collect();
        let bd = bd_vs_fixed(&fixed, &half).unwrap();
        assert!((bd + 50.0).abs() < 1e-9, "{bd}");
        assert_eq!(percent(&Ok(bd)), "-50.0%");
        assert_eq!(bd_vs_fixed(&fixed[..1], &half), Err("n/a (1 rung)".into()));
        assert_eq!(bd_vs_fixed(&[], &half), Err("n/a (0 rungs)".into()));
        assert_eq!(beats_grid(&Ok(-10.0), &Ok(-15.0), 10, 36), "met");
        assert_eq!(beats_grid(&Ok(-10.0), &Ok(-14.9), 10, 36), "not met");
        assert_eq!(
            beats_grid(&Ok(-10.0), &Ok(-15.0), 11, 36),
            "not met (over 30% of the encodes)"
        );
        assert_eq!(
            beats_grid(&Err("n/a (1 rung)".into()), &Ok(-20.0), 8, 27),
            "n/a"
        );
    }

    #[test]
    fn top_rung_compares_our_cheapest_trial_reaching_the_target() {
        let fixed = [enc("lo", 234, 145.0, 80.0), enc("hi", 360, 400.0, 97.0)];
        let ours = [
            enc("x", 360, 250.0, 95.5),
            enc("y", 360, 200.0, 94.9),
            enc("z", 288, 280.0, 96.0),
        ];
        assert_eq!(
            top_rung(&fixed, &ours, 95.0),
            TopRung::Cheaper {
                fixed: fixed[1].clone(),
                ours: ours[0].clone(),
                saving: 0.375,
            }
        );
        assert_eq!(
            top_rung(&fixed, &ours[1..2], 95.0),
            TopRung::NotReached(fixed[1].clone())
        );
        assert_eq!(
            top_rung(&fixed[..1], &ours, 95.0),
            TopRung::FixedAtOrBelow(fixed[0].clone())
        );
        assert_eq!(top_rung(&[], &ours, 95.0), TopRung::NoFixed);
    }

    #[test]
    fn abr_ladders_repeat_each_point_over_48_segments() {
        let streams = [enc("hi", 360, 400.0, 90.0), enc("lo", 234, 150.5, 100.4)];
        let ladder = abr_ladder("t", &streams, 25.0).unwrap();
        assert_eq!(ladder.rung_count(), 2);
        assert_eq!(ladder.playable_segments(), ABR_SEGMENTS);
        // Sorted by rate; 150.5 kbit/s x 4 s = 75 250 bytes; VMAF 100.4 clamps to 100.
        let json: serde_json::Value = serde_json::from_str(&ladder.to_json()).unwrap();
        assert_eq!(json["rungs"][0]["id"], "lo");
        assert_eq!(
            json["segments"][47]["bytes"],
            serde_json::json!([75250, 200000])
        );
        assert_eq!(
            json["segments"][0]["vmaf"],
            serde_json::json!([100.0, 90.0])
        );
        // One rung is a ladder too (the fixed ladder of a small source).
        assert_eq!(
            abr_ladder("one", &streams[..1], 25.0).unwrap().rung_count(),
            1
        );
    }

    #[test]
    fn more_vmaf_at_the_same_rates_gives_more_qoe() {
        let traces = vec![Trace::parse("steady", "0\t1.0\n1\t1.0\n").unwrap()];
        let low = [enc("a", 234, 150.0, 70.0), enc("b", 360, 400.0, 85.0)];
        let high: Vec<Encoded> = low
            .iter()
            .map(|e| Encoded {
                vmaf: e.vmaf + 5.0,
                ..e.clone()
            })
            .collect();
        let qoe = |s: &[Encoded]| {
            abr_summary("mpc", &abr_ladder("l", s, 25.0).unwrap(), &traces)
                .unwrap()
                .mean_qoe
        };
        let (q_low, q_high) = (qoe(&low), qoe(&high));
        // 1 Mbit/s sustains the top rung throughout: 47 scored chunks, 0.05 per VMAF point.
        assert!(
            (q_high - q_low - 47.0 * 0.05 * 5.0).abs() < 1e-9,
            "{q_low} {q_high}"
        );
    }
}
