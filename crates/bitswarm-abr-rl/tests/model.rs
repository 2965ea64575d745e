//! Model save/load round trip, bad model files, the policy's decisions and a short training run.

use bitswarm_abr::{
    AbrPolicy, ClientCaps, Ladder, LadderFile, Rng, Rung, SegmentRow, Session, SessionConfig,
    Trace, VideoCodec, LADDER_FORMAT,
};
use bitswarm_abr_rl::{train, ActorCritic, Phase, RlPolicy, TrainConfig, TrainData};

fn ladder(rungs: usize) -> Ladder {
    let kbps = [300.0, 750.0, 1200.0, 1850.0, 2850.0, 4300.0];
    Ladder::new(
        "six",
        LadderFile {
            format: LADDER_FORMAT.into(),
            segment_duration_s: 4.0,
            rungs: (0..rungs)
                .map(|i| Rung {
                    id: format!("r{i}"),
                    bitrate_kbps: kbps[i],
                    codec: VideoCodec::H264,
                    width: 320 * (i as u32 + 1),
                    height: 180 * (i as u32 + 1),
                    fps: 30.0,
                })
                .collect(),
            segments: vec![
                SegmentRow {
                    bytes: kbps[..rungs].iter().map(|k| (k * 500.0) as u64).collect(),
                    vmaf: None,
                    ssim: None
                };
                12
            ],
        },
    )
    .unwrap()
}

#[test]
fn save_load_round_trip_gives_identical_decisions() {
    let model = ActorCritic::new(6, 32, 5).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    model.save(&path).unwrap();
    let back = ActorCritic::load(&path).unwrap();
    assert_eq!(
        (back.rungs(), back.parameter_count()),
        (6, model.parameter_count())
    );
    let l = ladder(6);
    let trace = Trace::parse("t", "0 2\n1 3\n2 1\n3 2.5\n").unwrap();
    let client = ClientCaps::default();
    let mut session =
        Session::new(&trace, &l, &client, &SessionConfig::default(), Rng::new(1)).unwrap();
    let (a, b) = (RlPolicy::new(model), RlPolicy::new(back));
    for _ in 0..5 {
        let state = session.state();
        assert_eq!(a.weights(&state).unwrap(), b.weights(&state).unwrap());
        session
            .step(bitswarm_abr::Choice::select(state.next_chunk % 6))
            .unwrap();
    }
}

#[test]
fn bad_model_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.safetensors");
    std::fs::write(&path, b"hello").unwrap();
    let err = ActorCritic::load(&path).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!(
            "model {}: not a safetensors model",
            path.display()
        )),
        "{err}"
    );
    let missing = ActorCritic::load(&dir.path().join("none"))
        .unwrap_err()
        .to_string();
    assert!(
        missing.ends_with("No such file or directory (os error 2)"),
        "{missing}"
    );
}

#[test]
fn masks_what_the_client_cannot_decode_and_checks_the_ladder() {
    let l = ladder(6);
    let trace = Trace::parse("t", "0 20\n1 20\n").unwrap();
    let client = ClientCaps {
        max_width: 640,
        max_height: 360,
        ..ClientCaps::default()
    };
    let session =
        Session::new(&trace, &l, &client, &SessionConfig::default(), Rng::new(1)).unwrap();
    let mut policy = RlPolicy::new(ActorCritic::new(6, 16, 3).unwrap());
    let w = policy.weights(&session.state()).unwrap();
    assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-5);
    assert_eq!(&w[2..], &[0.0; 4]);
    assert!(policy.choose(&session.state()).rung < 2);
    let err = policy.check_ladder(&ladder(5)).unwrap_err().to_string();
    assert_eq!(err, "invalid ladder for the RL model six (5 rungs) (expected a ladder of 6 rungs, as the model was trained on)");
}

#[test]
fn a_short_training_run_is_reproducible_from_its_seed() {
    let l = ladder(6);
    let traces: Vec<Trace> = (0..4)
        .map(|i| {
            let text: String = (0..60)
                .map(|t| format!("{t} {}\n", 0.5 + ((t * (i + 2)) % 9) as f64 * 0.5))
                .collect();
            Trace::parse(&format!("t{i}"), &text).unwrap()
        })
        .collect();
    let clients = [ClientCaps::default()];
    let data = TrainData {
        traces: &traces,
        validation: &traces,
        report: None,
        ladder: &l,
        clients: &clients,
    };
    let cfg = TrainConfig {
        imitation_rounds: 2,
        expert_horizon: 3,
        iterations: 4,
        envs: 4,
        steps: 16,
        hidden: 16,
        minibatch: 32,
        epochs: 2,
        eval_every: 2,
        ..TrainConfig::default()
    };
    let run = || {
        let mut calls = 0;
        let out = train(&data, &cfg, &mut |_, _| calls += 1).unwrap();
        (out.curve, out.best_iteration, calls)
    };
    let (curve, best, calls) = run();
    assert_eq!(calls, 6);
    let phases: Vec<(Phase, usize)> = curve.iter().map(|p| (p.phase, p.iteration)).collect();
    assert_eq!(
        phases,
        [(Phase::Imitation, 2), (Phase::Ppo, 4), (Phase::Ppo, 6)]
    );
    assert_eq!(curve[2].env_steps, 6 * 4 * 16);
    assert!(curve.iter().all(|p| p.validation_qoe.is_finite()));
    assert_eq!(run(), (curve, best, calls));
}

/// Plays `chunks` chunks of a constant-throughput trace with the shipped model: the rungs it
/// chose and the stall after the first chunk.
fn shipped_play(mbps: f64, chunks: usize) -> (Vec<usize>, f64) {
    let root = std::env::var_os("BITSWARM_TRACES")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/traces")
        });
    let ladder = bitswarm_abr::files::load_ladder(&root.join("video")).unwrap();
    let trace = Trace::parse("constant", &format!("0 {mbps}\n1 {mbps}\n")).unwrap();
    let client = ClientCaps::default();
    let mut policy = RlPolicy::new(ActorCritic::shipped().unwrap());
    let mut session = Session::new(
        &trace,
        &ladder,
        &client,
        &SessionConfig::default(),
        Rng::new(1),
    )
    .unwrap();
    let mut stall = 0.0;
    let rungs = (0..chunks)
        .map(|_| {
            let choice = policy.choose(&session.state());
            stall += session.step(choice).unwrap().download.rebuffer_s;
            choice.rung
        })
        .collect();
    (rungs, stall)
}

#[test]
fn the_shipped_model_stays_low_on_a_slow_link_and_climbs_on_a_fast_one() {
    // 0.5 Mbit/s (0.475 of payload) sustains only the 300 kbit/s rung; a grown buffer may
    // carry a few 750 kbit/s chunks, but nothing higher and no stall.
    let (slow, stall) = shipped_play(0.5, 30);
    assert!(
        slow.iter().all(|&r| r <= 1) && slow[..10].iter().all(|&r| r == 0),
        "{slow:?}"
    );
    assert_eq!(stall, 0.0, "{slow:?}");
    // 20 Mbit/s sustains the top rung.
    let (fast, stall) = shipped_play(20.0, 30);
    assert!(fast[5..].iter().all(|&r| r == 5), "{fast:?}");
    assert_eq!(stall, 0.0);
}
