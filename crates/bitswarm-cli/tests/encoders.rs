//! Every encoder backend through the swarm: the outputs for its codec, the VMAF/SSIM/PSNR its
//! report gives checked against an independent measurement of the written file, and a job for
//! an encoder that no server has failing at once.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use bitswarm_media::y4m::Y4mWriter;
use bitswarm_media::{open_input, InputOptions};
use common::*;

/// The first `frames` frames of a shared clip, as a Y4M file in `dir`.
fn short_clip(dir: &Path, name: &str, frames: usize) -> PathBuf {
    let mut source = open_input(clip(name).to_str().unwrap(), &InputOptions::default()).unwrap();
    let path = dir.join(format!("short-{name}"));
    let mut writer = Y4mWriter::new(std::fs::File::create(&path).unwrap(), &source.info()).unwrap();
    for _ in 0..frames {
        writer
            .write_frame(&source.next_frame().unwrap().unwrap())
            .unwrap();
    }
    path
}

/// `bitswarm quality REF DIST --json` (DIST decoded through FFmpeg for HEVC and AV1 MP4s).
fn measure(reference: &Path, distorted: &Path) -> serde_json::Value {
    let out = run(&[
        "quality",
        reference.to_str().unwrap(),
        distorted.to_str().unwrap(),
        "--metrics",
        "vmaf,ssim,psnr",
        "--json",
    ]);
    assert!(out.status.success(), "quality: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Mean VMAF of `distorted` against `reference` by FFmpeg's libvmaf, when an FFmpeg with
/// libvmaf is installed (`scripts/install-ffmpeg-vmaf.sh`; required in CI).
fn libvmaf_mean(reference: &Path, distorted: &Path) -> Option<f64> {
    let ffmpeg = std::env::var_os("BITSWARM_FFMPEG_VMAF").map(PathBuf::from);
    let Some(ffmpeg) = ffmpeg.filter(|p| p.exists()) else {
        assert!(
            std::env::var_os("BITSWARM_REQUIRE_TOOLS").is_none(),
            "BITSWARM_FFMPEG_VMAF must name an FFmpeg with libvmaf"
        );
        return None;
    };
    let log = tempfile::NamedTempFile::new().unwrap();
    let out = Command::new(ffmpeg)
        .args(["-v", "error", "-i"])
        .arg(distorted)
        .arg("-i")
        .arg(reference)
        .arg("-lavfi")
        .arg(format!(
            "[0:v]settb=1/1000,setpts=N*40[d];[1:v]settb=1/1000,setpts=N*40[r];[d][r]libvmaf=log_fmt=json:n_threads=1:log_path={}",
            log.path().display()
        ))
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "libvmaf: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(log.path()).unwrap()).unwrap();
    json["pooled_metrics"]["vmaf"]["mean"].as_f64()
}

#[test]
fn every_encoder_writes_its_codec_and_reports_the_quality_of_what_it_wrote() {
    let dir = tempfile::tempdir().unwrap();
    // 20 frames in two chunks of one GOP each: VMAF's motion crosses the chunk boundary.
    let source = short_clip(dir.path(), "foreman_288p.y4m", 20);
    let config = pinned_config(dir.path(), 10, 2, 0, "");
    for (encoder, stream) in [
        ("openh264", "stream.h264"),
        ("x264", "stream.h264"),
        ("x265", "stream.hevc"),
        ("svtav1", "stream.ivf"),
        ("aom", "stream.ivf"),
        ("rav1e", "stream.ivf"),
    ] {
        if encoder != "openh264" && encoder != "rav1e" && tool("ffmpeg").is_none() {
            continue;
        }
        let out = dir.path().join(encoder);
        let summary = encode_with_two_servers(&source, &out, &config, &["--encoder", encoder]);
        assert_eq!(summary["outputs"]["stream"], stream, "{encoder}");
        assert_eq!(summary["chunks"], 2, "{encoder}");
        for file in [stream, "stream.mp4"] {
            if let Some(n) = ffprobe_frames(&out.join(file)) {
                assert_eq!(n, 20, "{encoder}: ffprobe frames of {file}");
            }
        }
        // What the controller measured chunk by chunk equals a whole-file measurement of the
        // MP4, decoded by another decoder (FFmpeg's for HEVC and AV1).
        let independent = measure(&source, &out.join("stream.mp4"));
        for (metric, field) in [("vmaf", "vmaf"), ("ssim", "ssim")] {
            let reported = summary["quality"][metric]["mean"].as_f64().unwrap();
            let measured = independent["pooled"][field]["mean"].as_f64().unwrap();
            assert!(
                (reported - measured).abs() < 1e-6,
                "{encoder} {metric}: report {reported}, file {measured}"
            );
        }
        let vmaf = summary["quality"]["vmaf"]["mean"].as_f64().unwrap();
        assert!(vmaf > 60.0 && vmaf < 100.0, "{encoder}: VMAF {vmaf}");
        if let Some(libvmaf) = libvmaf_mean(&source, &out.join("stream.mp4")) {
            assert!(
                (libvmaf - vmaf).abs() < 0.5,
                "{encoder}: libvmaf {libvmaf}, report {vmaf}"
            );
        }
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
        for chunk in report["chunks"].as_array().unwrap() {
            assert!(chunk["quality"]["vmaf"].as_f64().unwrap() > 50.0);
        }
    }
}

#[test]
fn a_job_for_an_encoder_no_server_has_fails_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let source = short_clip(dir.path(), "foreman_288p.y4m", 4);
    // Without FFmpeg the local servers offer only the in-process encoders.
    let started = Instant::now();
    let out = run(&[
        "encode",
        source.to_str().unwrap(),
        "-o",
        dir.path().join("out").to_str().unwrap(),
        "--workers",
        "2",
        "--encoder",
        "svtav1",
        "--ffmpeg",
        "/nonexistent/ffmpeg",
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(
            "no server offers encoder svtav1 (the 2 server(s) online offer: openh264, rav1e)"
        ),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    // The default no-server timeout is 30 s; the grace for a missing encoder is 3 s.
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_vmaf_target_is_met_per_chunk_with_probes_and_bisection_needs_more() {
    let dir = tempfile::tempdir().unwrap();
    // 30 frames of foreman in three chunks of one GOP.
    let source = short_clip(dir.path(), "foreman_288p.y4m", 30);
    let config = pinned_config(dir.path(), 10, 2, 0, "");
    let mut probes = Vec::new();
    for search in ["interpolate", "bisect"] {
        let out = dir.path().join(search);
        let summary = encode_with_two_servers(
            &source,
            &out,
            &config,
            &["--target-vmaf", "90", "--search", search],
        );
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
        let chunks = report["chunks"].as_array().unwrap();
        assert_eq!(chunks.len(), 3);
        for chunk in chunks {
            let tried = chunk["probes"].as_array().unwrap();
            assert!(!tried.is_empty(), "{chunk}");
            let achieved = chunk["quality"]["vmaf"].as_f64().unwrap();
            // The output is the probe closest to the target, and its QP is in the report.
            let closest = tried
                .iter()
                .min_by(|a, b| {
                    let d = |p: &serde_json::Value| (p["quality"].as_f64().unwrap() - 90.0).abs();
                    d(a).total_cmp(&d(b))
                })
                .unwrap();
            assert!((closest["quality"].as_f64().unwrap() - achieved).abs() < 1e-9);
            assert_eq!(chunk["rate"]["qp"], closest["setting"], "{chunk}");
            assert_eq!(chunk["bytes"], closest["bytes"]);
            assert!((achieved - 90.0).abs() < 2.0, "{search}: {achieved}");
        }
        let target = &summary["target"];
        assert_eq!(target["config"]["search"], search);
        probes.push(target["probes_total"].as_u64().unwrap());
        // The written stream is the chosen probes, end to end.
        let measured = measure(&source, &out.join("stream.mp4"));
        let reported = summary["quality"]["vmaf"]["mean"].as_f64().unwrap();
        let file = measured["pooled"]["vmaf"]["mean"].as_f64().unwrap();
        assert!((reported - file).abs() < 1e-6, "{reported} vs {file}");
        assert_eq!(ffprobe_frames(&out.join("stream.mp4")).unwrap_or(30), 30);
    }
    assert!(
        probes[0] < probes[1],
        "interpolation {} probes, bisection {}",
        probes[0],
        probes[1]
    );
}
