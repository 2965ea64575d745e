//! The simulator's arithmetic on hand-computed traces, determinism, the training pool and
//! capability enforcement.

use bitswarm_abr::{
    run_session, AbrPolicy, AbrState, Choice, ClientCaps, EnvPool, Ladder, LadderFile, PoolConfig,
    Rng, Rung, SegmentRow, Session, SessionConfig, SimConfig, Simulator, Trace, VideoCodec,
    LADDER_FORMAT,
};

fn ladder(segment_s: f64, kbps: &[f64], bytes: &[u64], segments: usize) -> Ladder {
    let rungs = kbps
        .iter()
        .enumerate()
        .map(|(i, &k)| Rung {
            id: format!("r{i}"),
            bitrate_kbps: k,
            codec: VideoCodec::H264,
            width: 640 * (i as u32 + 1),
            height: 360 * (i as u32 + 1),
            fps: 30.0,
        })
        .collect();
    Ladder::new(
        "hand",
        LadderFile {
            format: LADDER_FORMAT.into(),
            segment_duration_s: segment_s,
            rungs,
            segments: vec![
                SegmentRow {
                    bytes: bytes.to_vec(),
                    vmaf: None,
                    ssim: None
                };
                segments
            ],
        },
    )
    .unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn downloads_follow_the_trace_intervals_and_wrap_around() {
    // Intervals (0,1] at 8 Mbit/s, (1,3] at 4, (3,4] at 16; with the 0.95 payload share that is
    // 950 000, 475 000 and 1 900 000 bytes/s.
    let trace = Trace::parse("hand", "0 99\n1 8\n3 4\n4 16\n").unwrap();
    let l = ladder(4.0, &[1000.0], &[1_425_000], 5);
    let mut sim = Simulator::new(&trace, &l, SimConfig::default(), 3, Rng::new(0)).unwrap();

    // Chunk 1: 950 000 bytes in (0,1], 475 000 more in 1 s of (1,3]: 2 s + 80 ms RTT.
    let d = sim.download(0).unwrap();
    assert!(close(d.download_s, 2.08), "{d:?}");
    assert!(close(d.rebuffer_s, 2.08) && close(d.buffer_s, 4.0));
    assert!(close(d.throughput_mbps, 1_425_000.0 * 8.0 / 1e6 / 2.08));
    // Chunk 2 from t = 2: 475 000 by t = 3, then 950 000 at 1.9 MB/s: 0.5 s. 1.58 s in all.
    let d = sim.download(0).unwrap();
    assert!(close(d.download_s, 1.58) && d.rebuffer_s == 0.0, "{d:?}");
    assert!(close(d.buffer_s, 4.0 - 1.58 + 4.0));
    // Chunk 3 from t = 3.5: 950 000 by t = 4, wrap to (0,1]: 475 000 in 0.5 s.
    let d = sim.download(0).unwrap();
    assert!(close(d.download_s, 1.08), "{d:?}");
    assert!(close(d.buffer_s, 6.42 - 1.08 + 4.0));
    assert!(sim.is_done());
    assert_eq!(
        sim.download(0).unwrap_err().to_string(),
        "the session is over: all 3 chunks are downloaded"
    );
}

#[test]
fn buffer_cap_sleeps_in_half_second_steps_and_trace_time_passes() {
    // 10 s at 8 Mbit/s, then 0.8 Mbit/s. Chunks of 95 000 bytes take 0.1 s of trace time at
    // 8 Mbit/s; 30 s segments fill the buffer past 60 s at the third chunk.
    let trace = Trace::parse("cap", "0 8\n10 8\n100 0.8\n").unwrap();
    let l = ladder(30.0, &[1000.0], &[95_000], 4);
    let mut sim = Simulator::new(&trace, &l, SimConfig::default(), 4, Rng::new(0)).unwrap();
    for expected_buffer in [30.0, 59.82] {
        let d = sim.download(0).unwrap();
        assert!(
            close(d.download_s, 0.18) && close(d.buffer_s, expected_buffer),
            "{d:?}"
        );
        assert_eq!(d.sleep_s, 0.0);
    }
    // 59.82 - 0.18 + 30 = 89.64: 29.64 s over the cap, slept as 60 steps of 0.5 s.
    let d = sim.download(0).unwrap();
    assert!(close(d.sleep_s, 30.0) && close(d.buffer_s, 59.64), "{d:?}");
    // The sleep moved the trace to t = 30.3, into the 0.8 Mbit/s part: 1 s per chunk now.
    // 59.64 - 1.08 + 30 = 88.56 sleeps again: 58 steps.
    let d = sim.download(0).unwrap();
    assert!(close(d.download_s, 1.08) && close(d.sleep_s, 29.0), "{d:?}");
    assert!(close(sim.clock_s(), 0.18 * 3.0 + 30.0 + 1.08 + 29.0));
}

/// Plays a fixed list of rungs.
struct Script(Vec<usize>, usize);

impl AbrPolicy for Script {
    fn name(&self) -> &str {
        "script"
    }
    fn reset(&mut self) {
        self.1 = 0;
    }
    fn choose(&mut self, _state: &AbrState) -> Choice {
        self.1 += 1;
        Choice::select(self.0[self.1 - 1])
    }
    fn startup_rung(&self) -> usize {
        0
    }
}

#[test]
fn qoe_lin_scores_chunks_after_the_first() {
    let trace = Trace::parse("hand", "0 99\n1 8\n3 4\n4 16\n").unwrap();
    // Same bytes for both rungs, so the downloads are those of the first test.
    let l = ladder(4.0, &[1000.0, 3000.0], &[1_425_000, 1_425_000], 3);
    let r = run_session(
        &mut Script(vec![1, 0], 0),
        &trace,
        &l,
        &ClientCaps::default(),
        &SessionConfig::default(),
        Rng::new(0),
    )
    .unwrap();
    let totals: Vec<f64> = r.chunks.iter().map(|c| c.qoe.total).collect();
    // Chunk 1: 1.0 - 4.3 x 2.08 (not scored); chunk 2: 3.0 - |3 - 1|; chunk 3: 1.0 - |1 - 3|.
    assert!(
        close(totals[0], 1.0 - 4.3 * 2.08) && close(totals[1], 1.0) && close(totals[2], -1.0),
        "{totals:?}"
    );
    assert!(close(r.qoe, 0.0));
    assert_eq!(r.switches, 2);
    assert!(close(r.bitrate_kbps, 2000.0) && r.rebuffer_s == 0.0 && close(r.startup_s, 2.08));
}

#[test]
fn capability_limits_are_hard() {
    let trace = Trace::parse("hand", "0 8\n1 8\n").unwrap();
    let l = ladder(4.0, &[1000.0, 3000.0], &[100_000, 300_000], 3);
    let client = ClientCaps {
        max_width: 640,
        max_height: 360,
        ..ClientCaps::default()
    };
    let err = run_session(
        &mut Script(vec![1, 1], 0),
        &trace,
        &l,
        &client,
        &SessionConfig::default(),
        Rng::new(0),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "policy script chose rung 1 (h264 1280x720), which the client cannot decode (decoders [\"h264\", \"hevc\", \"vp9\", \"av1\"], max 640x360)"
    );
    let nothing = ClientCaps {
        decoders: vec![VideoCodec::Av1],
        ..ClientCaps::default()
    };
    let err =
        Session::new(&trace, &l, &nothing, &SessionConfig::default(), Rng::new(0)).unwrap_err();
    assert_eq!(err.to_string(), "invalid client av1 up to 3840x2160 (expected a client that can decode at least one rung of ladder hand)");
}

#[test]
fn random_start_and_noise_are_reproducible_from_the_seed() {
    let text: String = (0..200)
        .map(|i| format!("{i} {}\n", 1.0 + (i % 7) as f64))
        .collect();
    let trace = Trace::parse("saw", &text).unwrap();
    let l = ladder(4.0, &[1000.0], &[500_000], 20);
    let run = |seed| {
        let mut sim =
            Simulator::new(&trace, &l, SimConfig::training(), 20, Rng::new(seed)).unwrap();
        (0..20)
            .map(|_| sim.download(0).unwrap().download_s)
            .collect::<Vec<_>>()
    };
    assert_eq!(run(5), run(5));
    assert_ne!(run(5), run(6));
}

#[test]
fn pool_is_reproducible_whatever_the_threads() {
    let text: String = (0..300)
        .map(|i| format!("{i} {}\n", 0.5 + (i % 11) as f64 * 0.4))
        .collect();
    let traces = vec![
        Trace::parse("a", &text).unwrap(),
        Trace::parse("b", "0 1\n5 3\n9 0.5\n").unwrap(),
    ];
    let l = ladder(
        4.0,
        &[300.0, 1200.0, 4300.0],
        &[150_000, 600_000, 2_150_000],
        12,
    );
    let clients = [ClientCaps::default()];
    let play = |threads| {
        let cfg = PoolConfig {
            envs: 5,
            threads,
            seed: 9,
            ..PoolConfig::default()
        };
        let mut pool = EnvPool::new(&traces, &l, &clients, cfg).unwrap();
        let mut log = Vec::new();
        for step in 0..40 {
            let choices: Vec<Choice> = (0..pool.len())
                .map(|i| Choice::select((i + step) % 3))
                .collect();
            for s in pool.step(&choices).unwrap() {
                log.push((s.download.download_s, s.qoe.total, s.done));
            }
        }
        (log, pool.episodes())
    };
    let (one, episodes) = play(1);
    assert_eq!(
        episodes,
        5 * (40 / 11),
        "each episode is 1 fixed + 11 chosen chunks"
    );
    assert_eq!(play(3), (one, episodes));
}
