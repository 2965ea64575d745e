//! Reading trace folders, ladders and clients from disk, and the errors for bad files.

mod common;

use std::fs;

use bitswarm_abr::files::{load_client, load_ladder, load_traces};

#[test]
fn shared_reference_files_load() {
    let root = common::traces_root();
    let ladder = load_ladder(&root.join("video")).unwrap();
    assert_eq!(ladder.rung_count(), 6);
    assert_eq!(
        (ladder.segment_count(), ladder.playable_segments()),
        (49, 48)
    );
    let kbps: Vec<f64> = ladder.rungs().iter().map(|r| r.bitrate_kbps).collect();
    assert_eq!(kbps, [300.0, 750.0, 1200.0, 1850.0, 2850.0, 4300.0]);
    assert_eq!(
        (ladder.rungs()[5].width, ladder.rungs()[5].height),
        (1920, 1080)
    );
    assert_eq!(ladder.bytes(0, 5), 2_354_772);
    let train = load_traces(&root.join("train")).unwrap();
    assert_eq!(train.len(), 127);
}

#[test]
fn bad_trace_folders_name_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let err = load_traces(dir.path()).unwrap_err().to_string();
    assert!(
        err.starts_with("invalid trace folder ")
            && err.ends_with("(expected a folder with trace files (`<time_s> <Mbit/s>` per line))"),
        "{err}"
    );
    fs::write(dir.path().join("a_good"), "0 1\n1 2\n").unwrap();
    fs::write(dir.path().join(".hidden"), "not a trace").unwrap();
    assert_eq!(load_traces(dir.path()).unwrap().len(), 1);
    fs::write(dir.path().join("b_empty"), "").unwrap();
    assert_eq!(
        load_traces(dir.path()).unwrap_err().to_string(),
        "trace b_empty: empty (expected lines `<time_s> <Mbit/s>`)"
    );
    fs::write(dir.path().join("b_empty"), "0 1\n2 1\n1.5 3\n").unwrap();
    assert_eq!(
        load_traces(dir.path()).unwrap_err().to_string(),
        "trace b_empty: line 3: time 1.5 s is not after the previous sample's 2 s (times must increase)"
    );
    let missing = load_traces(&dir.path().join("nope"))
        .unwrap_err()
        .to_string();
    assert!(
        missing.ends_with("nope: No such file or directory (os error 2)"),
        "{missing}"
    );
}

#[test]
fn bad_ladders() {
    let dir = tempfile::tempdir().unwrap();
    let err = load_ladder(dir.path()).unwrap_err().to_string();
    assert!(err.ends_with(": folder has no video_size_0 (expected video_size_0 .. video_size_N and Manifest.mpd, or give a JSON ladder file)"), "{err}");
    fs::write(dir.path().join("video_size_0"), "100\n200\n").unwrap();
    let err = load_ladder(dir.path()).unwrap_err().to_string();
    assert!(err.ends_with(": folder has video_size files but no Manifest.mpd (it gives the bitrates and resolutions)"), "{err}");
    let json = dir.path().join("ladder.json");
    fs::write(&json, "").unwrap();
    assert_eq!(
        load_ladder(&json).unwrap_err().to_string(),
        "ladder ladder.json: empty file (expected a JSON ladder)"
    );
    fs::write(&json, "segments: 3").unwrap();
    let err = load_ladder(&json).unwrap_err().to_string();
    assert!(
        err.starts_with("ladder ladder.json: not a JSON ladder: expected value at line 1"),
        "{err}"
    );
}

#[test]
fn clients_by_preset_or_file() {
    assert_eq!(load_client("legacy").unwrap().max_height, 360);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.json");
    fs::write(&path, r#"{"decoders": ["h264", "av1"], "compute": 5}"#).unwrap();
    let c = load_client(path.to_str().unwrap()).unwrap();
    assert_eq!(c.compute, 5);
    fs::write(&path, r#"{"decoder": ["h264"]}"#).unwrap();
    let err = load_client(path.to_str().unwrap()).unwrap_err().to_string();
    assert!(
        err.starts_with(
            "invalid client c.json (expected a JSON client description (unknown field `decoder`"
        ),
        "{err}"
    );
}
