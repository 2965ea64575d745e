//! Our metrics against FFmpeg's: `libvmaf` (VMAF v0.6.1 and `float_ms_ssim`), `psnr` and
//! `ssim`, on every clip of ../shared/clips, each encoded at four quality levels by two
//! encoders (libx264 CRF 18/26/34/42 in Matroska, libsvtav1 CRF 20/35/50/63 in MP4).
//!
//! Tolerances (issue 3): mean VMAF within 0.5 of libvmaf and every frame within 2.0; PSNR
//! within 0.01 dB and SSIM within 0.001 of FFmpeg's, per frame and pooled. Both sides read the
//! same Y4M files (the reference cut to the first frames, the encode decoded by FFmpeg), and
//! FFmpeg's inputs are re-timed to one frame per tick, so frames pair by index.
//!
//! Runs when an FFmpeg with libvmaf is found (`$BITSWARM_FFMPEG_VMAF`, else imageio-ffmpeg's);
//! with `BITSWARM_REQUIRE_TOOLS=1` a missing one fails the test. `BITSWARM_CROSSCHECK_FRAMES`
//! (default 30) sets the frames per clip. The difference table of docs/QUALITY.md is this
//! test's output:
//!
//! ```text
//! cargo test --release -p bitswarm-quality --test ffmpeg_crosscheck -- --nocapture
//! ```

#[path = "common/ffmpeg.rs"]
mod ffmpeg;
#[path = "common/fixture.rs"]
mod fixture;

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::time::Duration;

use bitswarm_core::{Frame, VideoInfo};
use bitswarm_media::y4m::{Y4mReader, Y4mWriter};
use bitswarm_quality::{MetricKind, QualityMeter, Summary};

const CLIPS: [&str; 6] = [
    "bbb_360p",
    "bikes_272p",
    "city_360p",
    "foreman_288p",
    "friday_360p",
    "screen_gnome_360p",
];

/// An encoder and the value of its quality option at four levels, best first.
struct Encoder {
    name: &'static str,
    args: &'static [&'static str],
    levels: [u32; 4],
    container: &'static str,
}

const ENCODERS: [Encoder; 2] = [
    Encoder {
        name: "libx264",
        args: &["-c:v", "libx264", "-preset", "fast", "-crf"],
        levels: [18, 26, 34, 42],
        container: "mkv",
    },
    Encoder {
        name: "libsvtav1",
        args: &["-c:v", "libsvtav1", "-preset", "12", "-crf"],
        levels: [20, 35, 50, 63],
        container: "mp4",
    },
];

const LIMIT: Duration = Duration::from_secs(300);

fn clips_dir() -> PathBuf {
    match std::env::var_os("BITSWARM_CLIPS") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/clips"),
    }
}

fn frames_per_clip() -> usize {
    std::env::var("BITSWARM_CROSSCHECK_FRAMES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30)
}

fn read_y4m(path: &Path) -> Vec<Frame> {
    let file = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = Y4mReader::new(BufReader::new(file)).unwrap();
    std::iter::from_fn(|| reader.next_frame().unwrap()).collect()
}

/// Writes the first `n` frames of `clip` to `out`; returns them.
fn cut(clip: &Path, n: usize, out: &Path) -> Vec<Frame> {
    let file = File::open(clip).unwrap_or_else(|e| panic!("missing clip {}: {e}", clip.display()));
    let mut reader = Y4mReader::new(BufReader::new(file)).unwrap();
    let info = reader.info();
    let frames: Vec<Frame> = std::iter::from_fn(|| reader.next_frame().unwrap())
        .take(n)
        .collect();
    write_y4m(out, &info, &frames);
    frames
}

fn write_y4m(path: &Path, info: &VideoInfo, frames: &[Frame]) {
    let mut writer = Y4mWriter::new(BufWriter::new(File::create(path).unwrap()), info).unwrap();
    for f in frames {
        writer.write_frame(f).unwrap();
    }
    writer.finish().unwrap();
}

/// The `key=value` lines of FFmpeg's `metadata=mode=print` output, per frame.
fn metadata(path: &Path) -> Vec<HashMap<String, f64>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut frames: Vec<HashMap<String, f64>> = Vec::new();
    for line in text.lines() {
        if line.starts_with("frame:") {
            frames.push(HashMap::new());
        } else if let (Some((k, v)), Some(frame)) = (line.split_once('='), frames.last_mut()) {
            let v = if v.trim() == "inf" {
                f64::INFINITY
            } else {
                v.trim().parse().unwrap()
            };
            frame.insert(k.to_owned(), v);
        }
    }
    frames
}

/// `key:value` pairs of FFmpeg's summary line starting with `tag` (e.g. `PSNR y:31.5 ...`).
fn summary_line(stderr: &str, tag: &str) -> HashMap<String, f64> {
    let line = stderr
        .lines()
        .find_map(|l| l.split_once(&format!("] {tag} ")).map(|(_, rest)| rest))
        .unwrap_or_else(|| panic!("no {tag} summary in FFmpeg's output"));
    line.split_whitespace()
        .filter_map(|w| w.split_once(':'))
        .map(|(k, v)| {
            let v = if v == "inf" {
                f64::INFINITY
            } else {
                v.parse().unwrap()
            };
            (k.to_owned(), v)
        })
        .collect()
}

/// |ours - theirs| with FFmpeg's infinite PSNR of identical planes equal to our cap.
fn psnr_diff(ours: f64, theirs: f64) -> f64 {
    if theirs.is_infinite() && ours >= bitswarm_quality::psnr::MAX_PSNR {
        0.0
    } else {
        (ours - theirs).abs()
    }
}

/// Largest and mean absolute difference of a series.
#[derive(Default, Clone, Copy)]
struct Diff {
    max: f64,
    sum: f64,
    n: usize,
}

impl Diff {
    fn add(&mut self, d: f64) {
        self.max = self.max.max(d);
        self.sum += d;
        self.n += 1;
    }

    fn mean(&self) -> f64 {
        self.sum / self.n as f64
    }
}

/// One encode compared: what the table shows.
struct Row {
    label: String,
    frames: usize,
    vmaf_ours: f64,
    vmaf_theirs: f64,
    vmaf: Diff,
    psnr: Diff,
    psnr_pooled: f64,
    ssim: Diff,
    ssim_pooled: f64,
    ms_ssim: Diff,
}

/// What FFmpeg says of `dir/dist.y4m` against `dir/ref.y4m`: per frame, our field names with
/// FFmpeg's values; and the PSNR and SSIM summaries of its log.
struct Theirs {
    frames: Vec<HashMap<&'static str, f64>>,
    vmaf_mean: f64,
    psnr_summary: HashMap<String, f64>,
    ssim_summary: HashMap<String, f64>,
}

fn ffmpeg_scores(ffmpeg: &Path, dir: &Path) -> Result<Theirs, String> {
    let (log, psnr_log, ssim_log) = (
        dir.join("vmaf.json"),
        dir.join("psnr.txt"),
        dir.join("ssim.txt"),
    );
    let graph = format!(
        "[0:v]settb=1/1000,setpts=N*40,split=3[d0][d1][d2];\
         [1:v]settb=1/1000,setpts=N*40,split=3[r0][r1][r2];\
         [d0][r0]libvmaf=n_threads=2:log_fmt=json:log_path={}:feature=name=float_ms_ssim[o0];\
         [d1][r1]psnr,metadata=mode=print:file={}[o1];\
         [d2][r2]ssim,metadata=mode=print:file={}[o2]",
        log.display(),
        psnr_log.display(),
        ssim_log.display()
    );
    let dist = dir.join("dist.y4m").display().to_string();
    let reference = dir.join("ref.y4m").display().to_string();
    let args = [
        "-hide_banner",
        "-nostats",
        "-v",
        "info",
        "-i",
        &dist,
        "-i",
        &reference,
        "-lavfi",
        &graph,
        "-map",
        "[o0]",
        "-f",
        "null",
        "-",
        "-map",
        "[o1]",
        "-f",
        "null",
        "-",
        "-map",
        "[o2]",
        "-f",
        "null",
        "-",
    ];
    let out = ffmpeg::run(ffmpeg, &args, LIMIT)?;
    let text = std::fs::read_to_string(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    let vmaf_log: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let (psnr, ssim) = (metadata(&psnr_log), metadata(&ssim_log));
    let lv = vmaf_log["frames"]
        .as_array()
        .ok_or("no frames in the libvmaf log")?;
    let mut frames = Vec::new();
    for (i, f) in lv.iter().enumerate() {
        let m = &f["metrics"];
        let lib = |k: &str| m[k].as_f64().unwrap_or(f64::NAN);
        let mut values = HashMap::from([
            ("vmaf", lib("vmaf")),
            ("adm2", lib("integer_adm2")),
            ("motion2", lib("integer_motion2")),
            ("ms_ssim", lib("float_ms_ssim")),
        ]);
        for (k, name) in fixture::FIELDS[3..7].iter().enumerate() {
            values.insert(name, lib(&format!("integer_vif_scale{k}")));
        }
        for (c, name) in [("y", "psnr_y"), ("u", "psnr_u"), ("v", "psnr_v")] {
            values.insert(name, psnr[i][&format!("lavfi.psnr.psnr.{c}")]);
        }
        for (c, name) in [
            ("Y", "ssim_y"),
            ("U", "ssim_u"),
            ("V", "ssim_v"),
            ("All", "ssim"),
        ] {
            values.insert(name, ssim[i][&format!("lavfi.ssim.{c}")]);
        }
        frames.push(values);
    }
    Ok(Theirs {
        frames,
        vmaf_mean: vmaf_log["pooled_metrics"]["vmaf"]["mean"]
            .as_f64()
            .unwrap_or(f64::NAN),
        psnr_summary: summary_line(&out.stderr, "PSNR"),
        ssim_summary: summary_line(&out.stderr, "SSIM"),
    })
}

/// Our per-frame values by field name, and the summaries, of a list of frame pairs.
fn our_scores(pairs: &[(Frame, Frame)]) -> (Vec<HashMap<&'static str, f64>>, Vec<Summary>) {
    let (w, h) = (pairs[0].0.width, pairs[0].0.height);
    let kinds = [
        MetricKind::Vmaf,
        MetricKind::Psnr,
        MetricKind::Ssim,
        MetricKind::MsSsim,
    ];
    let mut meter = QualityMeter::new(&kinds, w, h).unwrap();
    for (r, d) in pairs {
        meter.push(r, d).unwrap();
    }
    let summaries = meter.finish().unwrap();
    let fields = meter.fields().to_vec();
    let frames = std::iter::from_fn(|| meter.pop())
        .map(|s| fields.iter().copied().zip(s.values).collect())
        .collect();
    (frames, summaries)
}

fn compare(ffmpeg: &Path, dir: &Path, reference: Vec<Frame>, label: String) -> Row {
    let distorted = read_y4m(&dir.join("dist.y4m"));
    assert_eq!(
        distorted.len(),
        reference.len(),
        "{label}: frame count of the decode"
    );
    let pairs: Vec<(Frame, Frame)> = reference.into_iter().zip(distorted).collect();
    let (ours, summaries) = our_scores(&pairs);
    let theirs = ffmpeg_scores(ffmpeg, dir).unwrap_or_else(|e| panic!("{label}: {e}"));
    assert_eq!(
        theirs.frames.len(),
        pairs.len(),
        "{label}: frames scored by FFmpeg"
    );

    let mut row = Row {
        label,
        frames: pairs.len(),
        vmaf_ours: summaries[0].field("vmaf").unwrap().mean,
        vmaf_theirs: theirs.vmaf_mean,
        vmaf: Diff::default(),
        psnr: Diff::default(),
        psnr_pooled: 0.0,
        ssim: Diff::default(),
        ssim_pooled: 0.0,
        ms_ssim: Diff::default(),
    };
    for (o, t) in ours.iter().zip(&theirs.frames) {
        row.vmaf.add((o["vmaf"] - t["vmaf"]).abs());
        row.ms_ssim.add((o["ms_ssim"] - t["ms_ssim"]).abs());
        for f in ["psnr_y", "psnr_u", "psnr_v"] {
            row.psnr.add(psnr_diff(o[f], t[f]));
        }
        for f in ["ssim_y", "ssim_u", "ssim_v", "ssim"] {
            row.ssim.add((o[f] - t[f]).abs());
        }
    }
    // Pooled as FFmpeg's summaries pool: PSNR of the mean MSE; SSIM mean.
    for (ours_name, theirs_name) in [
        ("psnr_y_mse", "y"),
        ("psnr_u_mse", "u"),
        ("psnr_v_mse", "v"),
        ("psnr_avg_mse", "average"),
    ] {
        let d = psnr_diff(
            summaries[1].aggregate(ours_name).unwrap(),
            theirs.psnr_summary[theirs_name],
        );
        row.psnr_pooled = row.psnr_pooled.max(d);
    }
    for (ours_name, theirs_name) in [
        ("ssim_y", "Y"),
        ("ssim_u", "U"),
        ("ssim_v", "V"),
        ("ssim", "All"),
    ] {
        let d =
            (summaries[2].field(ours_name).unwrap().mean - theirs.ssim_summary[theirs_name]).abs();
        row.ssim_pooled = row.ssim_pooled.max(d);
    }
    row
}

/// The FFmpeg with libvmaf, or `None` (with a note) when the cross-check should be skipped.
fn ffmpeg_or_skip() -> Option<PathBuf> {
    match ffmpeg::find() {
        Ok(Some(path)) => Some(path),
        Ok(None) if std::env::var("BITSWARM_REQUIRE_TOOLS").as_deref() == Ok("1") => panic!(
            "BITSWARM_REQUIRE_TOOLS=1 but no FFmpeg with libvmaf: set {} or run \
             scripts/install-ffmpeg-vmaf.sh",
            ffmpeg::ENV
        ),
        Ok(None) => {
            eprintln!(
                "skipped: no FFmpeg with libvmaf ({} or imageio-ffmpeg)",
                ffmpeg::ENV
            );
            None
        }
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn golden_values_are_libvmafs_and_ffmpegs() {
    let Some(ffmpeg) = ffmpeg_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (reference, distorted): (Vec<Frame>, Vec<Frame>) = fixture::frames().into_iter().unzip();
    write_y4m(&dir.path().join("ref.y4m"), &fixture::info(), &reference);
    write_y4m(&dir.path().join("dist.y4m"), &fixture::info(), &distorted);
    let theirs = ffmpeg_scores(&ffmpeg, dir.path()).unwrap();
    let table: Vec<String> = theirs
        .frames
        .iter()
        .map(|t| {
            let row: Vec<String> = fixture::FIELDS
                .iter()
                .map(|f| format!("{:.6}", t[f]))
                .collect();
            format!("    [{}],", row.join(", "))
        })
        .collect();
    write_y4m(
        &dir.path().join("dist.y4m"),
        &fixture::info(),
        &reference[..1],
    );
    write_y4m(
        &dir.path().join("ref.y4m"),
        &fixture::info(),
        &reference[..1],
    );
    let identical = ffmpeg_scores(&ffmpeg, dir.path()).unwrap().frames[0]["vmaf"];
    assert!(
        (identical - fixture::IDENTICAL_VMAF).abs() <= 1e-6,
        "identical frames: FFmpeg {identical}, golden {}",
        fixture::IDENTICAL_VMAF
    );
    for (t, golden) in theirs.frames.iter().zip(fixture::GOLDEN) {
        for (f, g) in fixture::FIELDS.iter().zip(golden) {
            assert!(
                (t[f] - g).abs() <= 1e-6,
                "{f}: FFmpeg {} != golden {g}; FFmpeg's table:\n{}",
                t[f],
                table.join("\n")
            );
        }
    }
}

#[test]
fn matches_ffmpeg_on_every_clip() {
    let Some(ffmpeg) = ffmpeg_or_skip() else {
        return;
    };
    let n = frames_per_clip();
    let mut rows = Vec::new();
    for clip in CLIPS {
        let dir = tempfile::tempdir().unwrap();
        let ref_y4m = dir.path().join("ref.y4m");
        let reference = cut(&clips_dir().join(format!("{clip}.y4m")), n, &ref_y4m);
        let ref_arg = ref_y4m.display().to_string();
        for enc in &ENCODERS {
            for level in enc.levels {
                let encoded = dir.path().join(format!("enc.{}", enc.container));
                let (enc_arg, level_arg) = (encoded.display().to_string(), level.to_string());
                let mut args = vec!["-hide_banner", "-v", "error", "-y", "-i", &ref_arg];
                args.extend(enc.args);
                args.extend([level_arg.as_str(), &enc_arg]);
                ffmpeg::run(&ffmpeg, &args, LIMIT).unwrap();
                let dist = dir.path().join("dist.y4m").display().to_string();
                let decode = [
                    "-hide_banner",
                    "-v",
                    "error",
                    "-y",
                    "-i",
                    &enc_arg,
                    "-f",
                    "yuv4mpegpipe",
                    "-pix_fmt",
                    "yuv420p",
                    &dist,
                ];
                ffmpeg::run(&ffmpeg, &decode, LIMIT).unwrap();
                let label = format!("| {clip} | {} | {level} ", enc.name);
                rows.push(compare(&ffmpeg, dir.path(), reference.clone(), label));
            }
        }
    }

    println!(
        "| clip | encoder | level | frames | VMAF ours | VMAF libvmaf | VMAF max Δ | VMAF mean Δ \
         | PSNR max Δ (frame) | PSNR Δ (pooled) | SSIM max Δ (frame) | SSIM Δ (pooled) \
         | MS-SSIM max Δ |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut worst = Diff::default();
    for r in &rows {
        println!(
            "{}| {} | {:.4} | {:.4} | {:.2e} | {:.2e} | {:.2e} | {:.2e} | {:.2e} | {:.2e} | {:.2e} |",
            r.label,
            r.frames,
            r.vmaf_ours,
            r.vmaf_theirs,
            r.vmaf.max,
            r.vmaf.mean(),
            r.psnr.max,
            r.psnr_pooled,
            r.ssim.max,
            r.ssim_pooled,
            r.ms_ssim.max
        );
        worst.add(r.vmaf.max);
    }
    for r in &rows {
        assert!(
            (r.vmaf_ours - r.vmaf_theirs).abs() <= 0.5,
            "{}: mean VMAF",
            r.label
        );
        assert!(
            r.vmaf.max <= 2.0,
            "{}: VMAF of a frame off by {}",
            r.label,
            r.vmaf.max
        );
        assert!(
            r.psnr.max <= 0.01 && r.psnr_pooled <= 0.01,
            "{}: PSNR",
            r.label
        );
        assert!(
            r.ssim.max <= 0.001 && r.ssim_pooled <= 0.001,
            "{}: SSIM",
            r.label
        );
    }
    assert_eq!(rows.len(), CLIPS.len() * 8);
    println!(
        "\nlargest per-frame VMAF difference over {} encodes: {:.2e}",
        rows.len(),
        worst.max
    );
}

#[test]
fn a_missing_or_broken_ffmpeg_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-ffmpeg");
    let err = ffmpeg::check_libvmaf(&missing).unwrap_err();
    assert!(
        err.starts_with(&format!("cannot run {}", missing.display())),
        "{err}"
    );

    let script = |name: &str, body: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        path
    };
    let failing = script("failing", "echo 'libavfilter: cannot load' >&2; exit 3");
    let err = ffmpeg::check_libvmaf(&failing).unwrap_err();
    assert!(
        err.contains("failed (exit status: 3): libavfilter: cannot load"),
        "{err}"
    );

    let plain = script("plain", "echo 'Filter psnr'");
    let err = ffmpeg::check_libvmaf(&plain).unwrap_err();
    assert!(
        err.ends_with(&format!(
            "has no libvmaf filter (install one with scripts/install-ffmpeg-vmaf.sh, or set {})",
            ffmpeg::ENV
        )),
        "{err}"
    );

    let hanging = script("hanging", "sleep 30");
    let start = std::time::Instant::now();
    let err = ffmpeg::run(&hanging, &[], Duration::from_secs(1)).unwrap_err();
    assert!(
        err.ends_with("did not finish within 1 s and was stopped"),
        "{err}"
    );
    assert!(start.elapsed() < Duration::from_secs(10));
}
