//! `bitswarm abr`: evaluation table and JSON, the CDF plot, a tiny training run, bad inputs.

use std::path::PathBuf;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_bitswarm");

fn traces() -> PathBuf {
    let root = std::env::var_os("BITSWARM_TRACES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/traces")
        });
    assert!(
        root.join("dev").is_dir(),
        "traces not found at {} (set BITSWARM_TRACES)",
        root.display()
    );
    root
}

fn run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN).args(args).output().expect("run bitswarm");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn eval_json_reproduces_the_calibration_and_writes_the_cdf() {
    let root = traces();
    let dir = tempfile::tempdir().unwrap();
    let plot = dir.path().join("cdf.svg");
    let (ok, stdout, stderr) = run(&[
        "abr",
        "eval",
        "--policy",
        "bb,mpc,rl",
        "--traces",
        root.join("dev").to_str().unwrap(),
        "--ladder",
        root.join("video").to_str().unwrap(),
        "--json",
        "--plot",
        plot.to_str().unwrap(),
    ]);
    assert!(ok, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let mean = |i: usize| report["summaries"][i]["mean_qoe"].as_f64().unwrap();
    assert_eq!(report["summaries"][1]["policy"], "mpc");
    assert!(
        (mean(0) - 36.2).abs() < 0.362 && (mean(1) - 49.2).abs() < 0.492,
        "{stdout}"
    );
    assert_eq!(report["per_trace_qoe"]["rl"].as_array().unwrap().len(), 100);
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert_eq!(svg.matches("<polyline").count(), 3);
}

#[test]
fn eval_table_and_errors() {
    let root = traces();
    let dev = root.join("dev");
    let video = root.join("video");
    let (ok, stdout, stderr) = run(&[
        "abr",
        "eval",
        "--policy",
        "rate",
        "--traces",
        dev.to_str().unwrap(),
        "--ladder",
        video.to_str().unwrap(),
        "--client",
        "legacy",
        "--no-plot",
    ]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("client legacy") && stdout.lines().any(|l| l.starts_with("rate ")),
        "{stdout}"
    );
    let (ok, _, stderr) = run(&[
        "abr",
        "eval",
        "--policy",
        "magic",
        "--traces",
        dev.to_str().unwrap(),
        "--ladder",
        video.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(
        stderr.contains("unknown policy \"magic\" (known: bb, rate, bola, mpc, mixing, rl, all)"),
        "{stderr}"
    );
    let (ok, _, stderr) = run(&[
        "abr",
        "eval",
        "--policy",
        "bb",
        "--traces",
        video.to_str().unwrap(),
        "--ladder",
        video.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(
        stderr.contains(
            "error: trace Manifest.mpd: line 1: time \"<?xml\" is not a number (expected `<time_s> <Mbit/s> [<rtt_ms> [<loss>]]`)"
        ),
        "{stderr}"
    );
}

#[test]
fn a_tiny_training_run_writes_model_and_curves() {
    let root = traces();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tiny.json");
    std::fs::write(
        &config,
        r#"{"imitation_rounds": 1, "expert_horizon": 2, "iterations": 2, "envs": 2, "steps": 8, "hidden": 8, "minibatch": 16, "epochs": 1, "eval_every": 1}"#,
    )
    .unwrap();
    let model = dir.path().join("m.safetensors");
    let (ok, stdout, stderr) = run(&[
        "abr",
        "train",
        "--traces",
        root.join("dev").to_str().unwrap(),
        "--ladder",
        root.join("video").to_str().unwrap(),
        "-o",
        model.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("trained 1 imitation rounds + 2 PPO updates (48 env steps)"),
        "{stdout}"
    );
    let curve: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("m.curve.json")).unwrap())
            .unwrap();
    assert_eq!(curve["curve"].as_array().unwrap().len(), 3);
    assert!(std::fs::read_to_string(dir.path().join("m.curve.svg"))
        .unwrap()
        .contains("<polyline"));
    let (ok, stdout, stderr) = run(&[
        "abr",
        "eval",
        "--policy",
        "rl",
        "--model",
        model.to_str().unwrap(),
        "--traces",
        root.join("dev").to_str().unwrap(),
        "--ladder",
        root.join("video").to_str().unwrap(),
        "--no-plot",
    ]);
    assert!(
        ok && stdout.lines().any(|l| l.starts_with("rl ")),
        "{stdout}{stderr}"
    );
}
