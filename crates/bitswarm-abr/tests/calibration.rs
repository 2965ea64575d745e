//! Calibration against the reference figures of REFERENCES.md: mean total QoE_lin on
//! `traces/dev` with Pensieve's video, buffer-based 36.2 and RobustMPC 49.2, within 1%.

mod common;

use bitswarm_abr::files::{load_ladder, load_traces};
use bitswarm_abr::{baseline_policy, evaluate, ClientCaps, SessionConfig, Summary};

fn mean_qoe(policy: &str) -> f64 {
    let root = common::traces_root();
    let traces = load_traces(&root.join("dev")).unwrap();
    assert_eq!(traces.len(), 100);
    let ladder = load_ladder(&root.join("video")).unwrap();
    let sessions = evaluate(
        || baseline_policy(policy),
        &traces,
        &ladder,
        &ClientCaps::default(),
        &SessionConfig::default(),
        2,
    )
    .unwrap();
    assert!(sessions.iter().all(|s| s.chunks.len() == 48));
    Summary::of(policy, &sessions).mean_qoe
}

fn assert_within_one_percent(policy: &str, reference: f64) {
    let got = mean_qoe(policy);
    let off = (got - reference).abs() / reference;
    println!(
        "{policy}: mean QoE_lin {got:.3}, reference {reference}, off by {:.2}%",
        off * 100.0
    );
    assert!(
        off <= 0.01,
        "{policy}: {got:.3} is {:.2}% from {reference}",
        off * 100.0
    );
}

#[test]
fn buffer_based_matches_the_reference() {
    assert_within_one_percent("bb", 36.2);
}

#[test]
fn robust_mpc_matches_the_reference() {
    assert_within_one_percent("mpc", 49.2);
}
