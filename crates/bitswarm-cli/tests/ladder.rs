//! `bitswarm ladder`: training the content model on a small catalog, and a whole ladder search
//! of a short clip through the embedded broker and two local servers (OpenH264, no FFmpeg).

mod common;

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};

use bitswarm_abr::Ladder;
use bitswarm_controller::ChunkSpan;
use bitswarm_ladder::LadderModel;
use bitswarm_media::y4m::Y4mWriter;
use bitswarm_swarm::journal::{JobIdentity, Journal};
use serde_json::Value;

use common::*;

/// The first `frames` frames of a shared clip, as a Y4M file at `dest`.
fn write_head(name: &str, frames: usize, dest: &Path) -> PathBuf {
    let opts = bitswarm_media::InputOptions {
        no_ffmpeg: true,
        ..Default::default()
    };
    let mut source = bitswarm_media::open_input(clip(name).to_str().unwrap(), &opts).unwrap();
    let mut writer = Y4mWriter::new(File::create(dest).unwrap(), &source.info()).unwrap();
    for _ in 0..frames {
        writer
            .write_frame(&source.next_frame().unwrap().unwrap())
            .unwrap();
    }
    writer.finish().unwrap();
    dest.to_owned()
}

/// A catalog of two kinds of content: a night city pan and a mostly static screencast.
fn catalog(dir: &Path) -> PathBuf {
    let cat = dir.join("catalog");
    std::fs::create_dir_all(&cat).unwrap();
    write_head("city_360p.y4m", 24, &cat.join("city.y4m"));
    write_head("screen_gnome_360p.y4m", 24, &cat.join("screen.y4m"));
    std::fs::write(cat.join("README.txt"), "not a clip").unwrap();
    cat
}

fn ok_json(args: &[&str]) -> Value {
    let out = run(args);
    assert!(out.status.success(), "{args:?} failed: {}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("JSON summary")
}

fn failure(args: &[&str]) -> String {
    let out = run(args);
    assert!(!out.status.success(), "{args:?} succeeded");
    let err = stderr(&out);
    assert!(!err.contains("panicked"), "{err}");
    err
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// A ladder search of `input` into `outdir` with a budget of 5 trials and `extra` arguments;
/// returns the trials of its `ladder.json`.
fn small_ladder(input: &Path, outdir: &Path, extra: &[&str]) -> Vec<Value> {
    let mut args = vec![
        "ladder",
        input.to_str().unwrap(),
        "-o",
        outdir.to_str().unwrap(),
        "--budget",
        "5",
        "--json",
    ];
    args.extend_from_slice(extra);
    ok_json(&args);
    read_json(&outdir.join("ladder.json"))["trials"]
        .as_array()
        .unwrap()
        .clone()
}

/// What two runs of the same search must share of each trial, in order: candidate, bytes and
/// VMAF.
fn outcome(trials: &[Value]) -> Vec<(String, u64, f64)> {
    trials
        .iter()
        .map(|t| {
            (
                t["candidate"].to_string(),
                t["bytes"].as_u64().unwrap(),
                t["vmaf"].as_f64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn train_fits_a_model_that_loads_and_update_adds_the_new_scenes() {
    let dir = tempfile::tempdir().unwrap();
    let cat = catalog(dir.path());
    let model_path = dir.path().join("model.json");
    let (cat_s, model_s) = (cat.to_str().unwrap(), model_path.to_str().unwrap());

    let summary = ok_json(&[
        "ladder",
        "train",
        cat_s,
        "-o",
        model_s,
        "--encoder",
        "x264",
        "--json",
    ]);
    assert_eq!(summary["centroid"]["encoder"], "x264");
    let clips: Vec<&str> = summary["clips"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(clips.len(), 2, "the README is not a clip: {clips:?}");
    let model = LadderModel::load(&model_path).unwrap();
    assert!(!model.clusters.is_empty());
    let scenes = summary["scenes"].as_u64().unwrap();
    assert!(scenes >= 2, "each clip has at least one scene");
    assert_eq!(model.gmm.samples(), scenes);
    assert_eq!(
        model.clusters.iter().map(|c| c.samples).sum::<u64>(),
        scenes
    );
    for c in &model.clusters {
        assert!(!c.centroid_ladder.is_empty());
        assert!(c.delivery.typical_kbps > 0.0);
    }
    let encoders = |m: &LadderModel| -> BTreeSet<String> {
        m.clusters
            .iter()
            .flat_map(|c| &c.centroid_ladder)
            .map(|r| r.encoder.to_string())
            .collect()
    };
    assert_eq!(encoders(&model), BTreeSet::from(["x264".to_string()]));
    // The screencast costs far less than the city pan: their scenes fall in clusters whose
    // typical rates say so, when the fit separates them.
    if model.clusters.len() >= 2 {
        let rates: BTreeSet<u64> = model
            .clusters
            .iter()
            .map(|c| c.delivery.typical_kbps as u64)
            .collect();
        assert_eq!(rates.len(), model.clusters.len(), "{rates:?}");
    }

    let updated = ok_json(&[
        "ladder", "train", cat_s, "-o", model_s, "--update", "--json",
    ]);
    assert_eq!(updated["updated"], true);
    let model2 = LadderModel::load(&model_path).unwrap();
    assert_eq!(model2.gmm.samples(), 2 * scenes);
    assert_eq!(model2.clusters.len(), model.clusters.len());
    // An update without --encoder keeps the encoder the model was trained for.
    assert_eq!(model2.centroid, model.centroid);
    assert_eq!(encoders(&model2), BTreeSet::from(["x264".to_string()]));

    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let err = failure(&["ladder", "train", empty.to_str().unwrap(), "-o", model_s]);
    assert!(
        err.contains(&format!(
            "the catalog {} has no clips (expected .y4m or .mp4 files)",
            empty.display()
        )),
        "{err}"
    );
    let missing = dir.path().join("missing.json");
    let err = failure(&[
        "ladder",
        "train",
        cat_s,
        "-o",
        missing.to_str().unwrap(),
        "--update",
    ]);
    assert!(
        err.contains(&format!("cannot read {}", missing.display())),
        "{err}"
    );
}

#[test]
fn bad_ladder_arguments_are_refused_before_encoding() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let out_s = out.to_str().unwrap();
    let err = failure(&[
        "ladder",
        "in.y4m",
        "-o",
        out_s,
        "--target",
        "ssim",
        "--target-value",
        "95",
    ]);
    assert!(
        err.contains("ladder: invalid target 95 (expected 0..=1 for ssim)"),
        "{err}"
    );
    let err = failure(&["ladder", "run", "-", "-o", out_s, "--workers", "1"]);
    assert!(err.contains("it cannot be stdin (give a file)"), "{err}");
    let err = failure(&["ladder", "in.y4m", "-o", out_s, "--budget", "0"]);
    assert!(
        err.contains("invalid budget 0 (expected >= 1 trial encode)"),
        "{err}"
    );
    let err = failure(&["ladder", "in.y4m", "-o", out_s, "--learn"]);
    assert!(
        err.contains("the following required arguments were not provided")
            && err.contains("--model"),
        "{err}"
    );
    let err = failure(&["ladder", "in.y4m", "-o", out_s, "--parallel", "0"]);
    assert!(
        err.contains("invalid parallel 0 (expected >= 1 trial encode at once)"),
        "{err}"
    );
}

#[test]
fn trials_in_flight_at_once_do_not_change_the_search() {
    // One generation of trials run one by one and four at a time: the same trials, numbered
    // alike, with the same bytes and scores.
    let dir = tempfile::tempdir().unwrap();
    let input = write_head("foreman_288p.y4m", 24, &dir.path().join("foreman24.y4m"));
    let run = |parallel: &str| {
        let outdir = dir.path().join(format!("out{parallel}"));
        let trials = small_ladder(&input, &outdir, &["--parallel", parallel, "--workers", "2"]);
        for (k, t) in trials.iter().enumerate() {
            assert_eq!(t["id"], k, "trials are numbered in order");
        }
        outcome(&trials)
    };
    let (one, four) = (run("1"), run("4"));
    assert_eq!(one.len(), 5);
    assert_eq!(one, four);
}

#[test]
fn a_stopped_ladder_run_resumes_from_its_finished_trials() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_head("foreman_288p.y4m", 24, &dir.path().join("foreman24.y4m"));
    let outdir = dir.path().join("out");
    let run =
        |extra: &[&str]| small_ladder(&input, &outdir, &[&["--workers", "1"], extra].concat());
    let first = run(&[]);
    assert_eq!(first.len(), 5);
    assert!(first.iter().all(|t| t["reused"] == false));

    // The run stopped: trial 1 never started; trial 2 has no report but the journal of another
    // job; trial 3 had encoded its one chunk into its journal but not written its outputs; a
    // folder of an earlier, longer run is left over.
    let trials = outdir.join("trials");
    let report_of = |id: usize| trials.join(format!("{id:03}/report.json"));
    let reports: Vec<Vec<u8>> = (0..5)
        .map(|id| std::fs::read(report_of(id)).unwrap())
        .collect();
    std::fs::remove_dir_all(trials.join("001")).unwrap();
    std::fs::remove_file(report_of(2)).unwrap();
    std::fs::create_dir_all(trials.join("002/journal")).unwrap();
    std::fs::write(
        trials.join("002/journal/job.json"),
        r#"{"input": "other.y4m", "input_bytes": 1, "config_crc": 0}"#,
    )
    .unwrap();
    let report3 = read_json(&report_of(3));
    let identity: JobIdentity = serde_json::from_value(report3["identity"].clone()).unwrap();
    let chunk = &report3["chunks"].as_array().unwrap()[..];
    assert_eq!(chunk.len(), 1, "24 frames make one chunk");
    let chunk = &chunk[0];
    let mut journal = Journal::open(&trials.join("003"), &identity, false).unwrap();
    journal
        .record(
            serde_json::from_value::<ChunkSpan>(chunk.clone()).unwrap(),
            serde_json::from_value(chunk["config"].clone()).unwrap(),
            serde_json::from_value(chunk["rate"].clone()).unwrap(),
            &std::fs::read(trials.join("003/stream.h264")).unwrap(),
        )
        .unwrap();
    drop(journal);
    std::fs::create_dir_all(trials.join("007")).unwrap();

    let resumed = run(&["--resume"]);
    assert_eq!(
        outcome(&resumed),
        outcome(&first),
        "the same trials, bytes and scores"
    );
    // Finished trials are reused as they are; trial 3 took its chunk from its journal; trials 1
    // and 2 were encoded again.
    let reused: Vec<bool> = resumed.iter().map(|t| t["reused"] == true).collect();
    assert_eq!(reused, [true, false, false, false, true]);
    for (id, before) in reports.iter().enumerate() {
        let after = std::fs::read(report_of(id)).unwrap();
        assert_eq!(after == *before, reused[id], "trial {id}");
    }
    let report3 = read_json(&report_of(3));
    assert_eq!(report3["chunks"][0]["resumed"], true);
    assert!(!trials.join("003/journal").exists());
    assert!(!trials.join("007").exists(), "stale trial folder left");
}

#[test]
fn ladder_searches_a_clip_with_the_swarm_and_writes_every_output() {
    let dir = tempfile::tempdir().unwrap();
    let cat = catalog(dir.path());
    let model = dir.path().join("model.json");
    let trained_samples = ok_json(&[
        "ladder",
        "train",
        cat.to_str().unwrap(),
        "-o",
        model.to_str().unwrap(),
        "--json",
    ])["samples"]
        .as_u64()
        .unwrap();
    // 48 frames of the bikes clip: a hard cut at frame 37, so two segments.
    let input = write_head("bikes_272p.y4m", 48, &dir.path().join("bikes48.y4m"));
    let outdir = dir.path().join("out");
    let summary = ok_json(&[
        "ladder",
        input.to_str().unwrap(),
        "-o",
        outdir.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--budget",
        "6",
        "--workers",
        "2",
        "--learn",
        "--json",
    ]);
    let report = read_json(&outdir.join("ladder.json"));
    // --learn added the title's scenes to the model.
    let scenes = report["features"]["scenes"].as_array().unwrap().len() as u64;
    assert!(scenes >= 2, "the cut at frame 37 makes two scenes");
    assert_eq!(summary["learned"]["scenes"], scenes);
    let learned = LadderModel::load(&model).unwrap();
    assert_eq!(learned.gmm.samples(), trained_samples + scenes);
    assert_eq!(summary["learned"]["samples"], learned.gmm.samples());
    assert_eq!(report["format"], "bitswarm-ladder-run/1");
    assert_eq!(report["frames"], 48);
    assert_eq!(
        summary["trials"],
        report["trials"].as_array().unwrap().len()
    );

    // Every trial: a real encode whose rate matches its stream, with a finite VMAF.
    let trials = report["trials"].as_array().unwrap();
    assert!((1..=6).contains(&trials.len()), "{}", trials.len());
    let duration_s = 48.0 / 25.0;
    for t in trials {
        let (kbps, vmaf) = (t["kbps"].as_f64().unwrap(), t["vmaf"].as_f64().unwrap());
        assert!(kbps.is_finite() && kbps > 0.0, "{t}");
        assert!(vmaf.is_finite() && (0.0..=100.0).contains(&vmaf), "{t}");
        assert_eq!(t["quality"], t["vmaf"], "the target metric is VMAF");
        let stream = outdir.join(t["dir"].as_str().unwrap()).join("stream.h264");
        let bytes = std::fs::metadata(&stream).unwrap().len();
        assert_eq!(bytes, t["bytes"].as_u64().unwrap());
        assert!((kbps - bytes as f64 * 8.0 / duration_s / 1000.0).abs() < 1e-6);
    }
    let trial = |id: &Value| &trials[id.as_u64().unwrap() as usize];

    // The clusters: probabilities of a distribution; the families share the budget.
    let clusters = report["clusters"].as_array().unwrap();
    let total: f64 = clusters
        .iter()
        .map(|c| c["probability"].as_f64().unwrap())
        .sum();
    assert!((total - 1.0).abs() < 1e-9, "{total}");
    let families = report["families"].as_array().unwrap();
    assert!(!families.is_empty());
    assert_eq!(
        families
            .iter()
            .map(|f| f["budget"].as_u64().unwrap())
            .sum::<u64>(),
        6
    );

    // Each family's hull is a Pareto front of its trials, and its rungs are hull vertices.
    let mut rung_count = 0;
    let mut rung_trials = BTreeSet::new();
    for f in families {
        let told: Vec<&Value> = f["trials"].as_array().unwrap().iter().map(trial).collect();
        let hull: Vec<&Value> = f["hull"].as_array().unwrap().iter().map(trial).collect();
        assert!(!hull.is_empty());
        let point = |t: &Value| (t["kbps"].as_f64().unwrap(), t["quality"].as_f64().unwrap());
        for w in hull.windows(2) {
            let ((r0, q0), (r1, q1)) = (point(w[0]), point(w[1]));
            assert!(r1 > r0 && q1 > q0, "hull not increasing: {w:?}");
        }
        for h in &hull {
            let (rh, qh) = point(h);
            for t in &told {
                let (rt, qt) = point(t);
                let dominates = rt <= rh && qt >= qh && (rt < rh || qt > qh);
                assert!(!dominates, "{t} dominates hull vertex {h}");
            }
        }
        for r in f["rungs"].as_array().unwrap() {
            rung_count += 1;
            assert!(f["hull"].as_array().unwrap().contains(&r["trial"]), "{r}");
            rung_trials.insert(r["trial"].as_u64().unwrap());
            // The rung's bitstream decodes to the source's frame count at its size.
            let rung_dir = outdir.join(r["dir"].as_str().unwrap());
            let frames = decode_h264(&rung_dir.join("stream.h264"));
            assert_eq!(frames.len(), 48, "{r}");
            assert_eq!(
                (u64::from(frames[0].width), u64::from(frames[0].height)),
                (
                    r["candidate"]["width"].as_u64().unwrap(),
                    r["candidate"]["height"].as_u64().unwrap()
                )
            );
            if let Some(n) = ffprobe_frames(&rung_dir.join("stream.mp4")) {
                assert_eq!(n, 48, "ffprobe frame count of {}", rung_dir.display());
            }
        }
    }
    assert!(rung_count >= 1);

    // The top rung looks like the source (scaled to its size): no garbage, no shuffled chunks.
    let top = families[0]["rungs"].as_array().unwrap().last().unwrap();
    let decoded = decode_h264(
        &outdir
            .join(top["dir"].as_str().unwrap())
            .join("stream.h264"),
    );
    let reference: Vec<_> = source_frames(&input)
        .iter()
        .map(|f| bitswarm_core::scale(f, decoded[0].width, decoded[0].height))
        .collect();
    let psnr = mean_psnr_y(&reference, &decoded);
    assert!(psnr > 25.0, "top rung luma PSNR {psnr:.2} dB");

    // The ABR ladder: one rung per chosen bitstream, segments = the chunks (cut at frame 37).
    let text = std::fs::read_to_string(outdir.join("abr_ladder.json")).unwrap();
    let abr = Ladder::parse_json("abr_ladder.json", &text).unwrap();
    assert_eq!(abr.rung_count(), rung_trials.len());
    let segments: Vec<(u64, u64)> = report["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["first_frame"].as_u64().unwrap(),
                s["frames"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(segments, [(0, 37), (37, 11)]);
    assert_eq!(abr.segment_count(), 2);
    assert!((abr.segment_s() - duration_s / 2.0).abs() < 1e-9);
    assert!(abr.has_vmaf());
    for (k, rung) in abr.rungs().iter().enumerate() {
        let t = trials
            .iter()
            .find(|t| (t["kbps"].as_f64().unwrap() - rung.bitrate_kbps).abs() < 1e-9)
            .expect("an ABR rung is a trial");
        let bytes: u64 = (0..abr.segment_count()).map(|s| abr.bytes(s, k)).sum();
        assert_eq!(bytes, t["bytes"].as_u64().unwrap(), "{}", rung.id);
    }

    // The plot: every trial, and every rung highlighted.
    let svg = std::fs::read_to_string(outdir.join("rd.svg")).unwrap();
    assert!(svg.starts_with("<svg "));
    assert_eq!(svg.matches(r#"class="trial""#).count(), trials.len());
    assert_eq!(svg.matches(r#"class="rung""#).count(), rung_count);
    assert_eq!(svg.matches(r#"class="hull""#).count(), families.len());
}
