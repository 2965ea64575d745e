//! End-to-end encodes with the real binary: every shared clip through the embedded broker, the
//! same through a real Mosquitto, stdin input, and a worker with no access to the input.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

/// Decodes OUTDIR/stream.h264 and checks it against the source: same frame count, PSNR above a
/// floor that out-of-order or missing chunks cannot reach; ffprobe reads the MP4.
fn check_output(source: &Path, outdir: &Path) -> f64 {
    let reference = source_frames(source);
    let out = decode_h264(&outdir.join("stream.h264"));
    assert_eq!(
        out.len(),
        reference.len(),
        "{}: frame count",
        source.display()
    );
    let psnr = mean_psnr_y(&reference, &out);
    assert!(psnr > 30.0, "{}: luma PSNR {psnr:.2} dB", source.display());
    if let Some(n) = ffprobe_frames(&outdir.join("stream.mp4")) {
        assert_eq!(n, reference.len() as u64, "ffprobe frame count of the MP4");
    }
    psnr
}

#[test]
fn every_clip_encodes_through_the_embedded_broker_with_two_servers() {
    let mut clips: Vec<_> = std::fs::read_dir(clips_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "y4m"))
        .collect();
    clips.sort();
    clips.extend([clip("mp4/bigbuckbunny.mp4"), clip("mp4/bikes.mp4")]);
    assert!(clips.len() >= 8, "{clips:?}");
    for source in clips {
        let out = tempfile::tempdir().unwrap();
        let summary = encode_json(&[
            source.to_str().unwrap(),
            "-o",
            out.path().to_str().unwrap(),
            "--workers",
            "2",
        ]);
        let psnr = check_output(&source, out.path());
        let reported = summary["psnr"]["y"].as_f64().unwrap();
        assert!(
            (reported - psnr).abs() < 0.01,
            "report says {reported:.3} dB, decode says {psnr:.3} dB"
        );
        assert_eq!(summary["servers"].as_array().unwrap().len(), 2);
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.path().join("report.json")).unwrap())
                .unwrap();
        assert_eq!(report["frames"], summary["frames"]);
        assert!(!report["scenes"].as_array().unwrap().is_empty());
        assert!(
            !out.path().join("journal").exists(),
            "the journal is removed after success"
        );
    }
}

#[test]
fn bikes_gets_a_configuration_per_scene() {
    let out = tempfile::tempdir().unwrap();
    let summary = encode_json(&[
        clip("bikes_272p.y4m").to_str().unwrap(),
        "-o",
        out.path().to_str().unwrap(),
        "--workers",
        "2",
    ]);
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("report.json")).unwrap()).unwrap();
    let scene_starts: Vec<u64> = report["analysis"]["scenes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["start"].as_u64().unwrap())
        .collect();
    assert_eq!(scene_starts, vec![0, 37, 87]);
    // every scene got its own decision, and chunks start at the cuts (closed GOPs there)
    assert_eq!(summary["scenes"].as_array().unwrap().len(), 3);
    let chunk_starts: Vec<u64> = report["chunks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["first_frame"].as_u64().unwrap())
        .collect();
    assert!(
        chunk_starts.contains(&37) && chunk_starts.contains(&87),
        "{chunk_starts:?}"
    );
}

#[test]
fn a_real_mosquitto_broker_carries_the_same_job_to_the_same_bytes() {
    let Some(mosquitto) = tool("mosquitto") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let conf = dir.path().join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"),
    )
    .unwrap();
    let mut broker = Command::new(mosquitto)
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let config = pinned_config(dir.path(), 10, 2, 0, "");
    let source = clip("foreman_288p.y4m");
    let via_mosquitto = dir.path().join("mosquitto");
    let url = format!("mqtt://127.0.0.1:{port}");
    let result = std::panic::catch_unwind(|| {
        encode_json(&[
            source.to_str().unwrap(),
            "-o",
            via_mosquitto.to_str().unwrap(),
            "--broker",
            &url,
            "--workers",
            "2",
            "--config",
            config.to_str().unwrap(),
        ])
    });
    let _ = broker.kill();
    let _ = broker.wait();
    let summary = result.unwrap();
    assert_eq!(summary["servers"].as_array().unwrap().len(), 2);
    check_output(&source, &via_mosquitto);
    let embedded = dir.path().join("embedded");
    encode_json(&[
        source.to_str().unwrap(),
        "-o",
        embedded.to_str().unwrap(),
        "--workers",
        "2",
        "--config",
        config.to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read(via_mosquitto.join("stream.h264")).unwrap(),
        std::fs::read(embedded.join("stream.h264")).unwrap(),
        "same chunks, same settings: same bytes whatever the broker"
    );
}

#[test]
fn stdin_input_streams_through() {
    let out = tempfile::tempdir().unwrap();
    let source = clip("friday_360p.y4m");
    let output = Command::new(BIN)
        .args([
            "encode",
            "-",
            "-o",
            out.path().to_str().unwrap(),
            "--workers",
            "2",
            "--json",
        ])
        .stdin(std::fs::File::open(&source).unwrap())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    check_output(&source, out.path());
}

#[test]
fn a_worker_without_access_to_the_input_encodes_from_mqtt_alone() {
    let (_broker, url) = broker();
    // The worker runs in a folder of its own; the input lives in another it never sees.
    let worker_dir = tempfile::tempdir().unwrap();
    let input_dir = tempfile::tempdir().unwrap();
    let input = input_dir.path().join("input.y4m");
    std::fs::copy(clip("screen_gnome_360p.y4m"), &input).unwrap();
    let _w = worker(&url, "remote-1", Some(worker_dir.path()), None);
    let out = tempfile::tempdir().unwrap();
    let summary = encode_json(&[
        input.to_str().unwrap(),
        "-o",
        out.path().to_str().unwrap(),
        "--broker",
        &url,
        "--workers",
        "0",
    ]);
    assert_eq!(summary["servers"], serde_json::json!(["remote-1"]));
    check_output(&input, out.path());
    assert_eq!(
        std::fs::read_dir(worker_dir.path()).unwrap().count(),
        0,
        "the worker wrote nothing locally"
    );
}
