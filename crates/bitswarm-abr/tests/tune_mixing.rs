//! How the mixing-matrix policy's defaults were chosen: a grid search of its temperature,
//! bandwidth margin and buffer weight on `traces/train` (never on `dev`), asserting that the
//! shipped defaults are still the grid's best (under a second):
//! `cargo test -p bitswarm-abr --test tune_mixing -- --nocapture`

mod common;

use bitswarm_abr::files::{load_ladder, load_traces};
use bitswarm_abr::{
    evaluate, AbrPolicy, ClientCaps, MixingConfig, MixingMatrix, SessionConfig, Summary,
};

#[test]
fn defaults_are_the_best_of_the_grid_on_train() {
    let root = common::traces_root();
    let traces = load_traces(&root.join("train")).unwrap();
    let ladder = load_ladder(&root.join("video")).unwrap();
    let mut results = Vec::new();
    for temperature in [0.0001, 0.0003, 0.001] {
        for margin in [0.08, 0.1, 0.12, 0.14, 0.16] {
            for buffer_weight in [0.25, 0.3, 0.35, 0.4] {
                let cfg = MixingConfig {
                    temperature,
                    margin,
                    buffer_weight,
                    ..MixingConfig::default()
                };
                let sessions = evaluate(
                    || Ok(Box::new(MixingMatrix::new(cfg)?) as Box<dyn AbrPolicy>),
                    &traces,
                    &ladder,
                    &ClientCaps::default(),
                    &SessionConfig::default(),
                    2,
                )
                .unwrap();
                results.push((Summary::of("mixing", &sessions).mean_qoe, cfg));
            }
        }
    }
    results.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (qoe, c) in results.iter().take(5) {
        println!(
            "train QoE {qoe:.3}: temperature {} margin {} buffer_weight {}",
            c.temperature, c.margin, c.buffer_weight
        );
    }
    assert_eq!(
        results[0].1,
        MixingConfig::default(),
        "the grid's best is not the default"
    );
}
