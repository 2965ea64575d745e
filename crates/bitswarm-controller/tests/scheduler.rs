//! Scheduler behaviour in virtual time: load-aware assignment, redundancy, failures.

use std::time::Duration;

use bitswarm_controller::{
    AttemptOutcome, Capabilities, ChunkSpan, Command, Completion, Load, Scheduler, SchedulerConfig,
    SwarmConfig, SwarmPolicy,
};
use bitswarm_core::{EncoderKind, Profile, RateControl};

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn caps() -> Capabilities {
    Capabilities {
        encoders: vec![EncoderKind::OpenH264],
        cores: 2,
    }
}

/// A policy that always answers `config`.
fn fixed(swarm_size: u32, redundancy: u8) -> SwarmPolicy {
    SwarmPolicy {
        rules: vec![],
        fallback: SwarmConfig {
            swarm_size,
            complexity_level: 5,
            redundancy,
        },
    }
}

fn span(index: u32, scene: u32) -> ChunkSpan {
    ChunkSpan {
        index,
        first_frame: u64::from(index) * 10,
        frames: 10,
        scene,
    }
}

/// (server, chunk, attempt) of a command.
type Sent = (String, u32, u32);

/// Chunk assignments and cancellations in the command queue; profiles skipped.
fn drain(s: &mut Scheduler) -> (Vec<Sent>, Vec<Sent>) {
    let (mut assigned, mut cancelled) = (vec![], vec![]);
    while let Some(c) = s.poll_command() {
        match c {
            Command::AssignChunk {
                server,
                chunk,
                attempt,
                ..
            } => assigned.push((server, chunk, attempt)),
            Command::Cancel {
                server,
                chunk,
                attempt,
            } => cancelled.push((server, chunk, attempt)),
            Command::AssignProfile { .. } => {}
        }
    }
    (assigned, cancelled)
}

fn scheduler(policy: SwarmPolicy, cfg: SchedulerConfig, servers: &[&str]) -> Scheduler {
    let mut s = Scheduler::new(cfg, policy, Profile::default());
    for id in servers {
        s.server_online(Duration::ZERO, id, caps());
    }
    s
}

#[test]
fn chunks_go_to_the_least_loaded_server_by_telemetry() {
    let mut s = scheduler(fixed(3, 0), SchedulerConfig::default(), &["a", "b", "c"]);
    let load = |cpu, queue| Load {
        cpu_load: cpu,
        free: 1.0 - cpu,
        queue_depth: queue,
    };
    s.server_load(secs(0.1), "a", load(0.9, 1));
    s.server_load(secs(0.1), "b", load(0.2, 0));
    s.server_load(secs(0.1), "c", load(0.1, 1));
    s.add_chunk(secs(0.2), span(0, 0), 5);
    let (assigned, _) = drain(&mut s);
    assert_eq!(
        assigned,
        vec![("b".to_string(), 0, 0)],
        "b has the empty queue"
    );
}

#[test]
fn profile_is_sent_once_per_server_before_its_first_chunk() {
    let mut s = scheduler(fixed(1, 0), SchedulerConfig::default(), &["a"]);
    s.add_chunk(secs(0.0), span(0, 0), 5);
    s.add_chunk(secs(0.0), span(1, 0), 5);
    let cmds: Vec<_> = std::iter::from_fn(|| s.poll_command()).collect();
    assert!(
        matches!(&cmds[0], Command::AssignProfile { server, profile, .. } if server == "a" && profile.complexity == 5)
    );
    assert!(matches!(&cmds[1], Command::AssignChunk { chunk: 0, .. }));
    assert!(matches!(&cmds[2], Command::AssignChunk { chunk: 1, .. }));
    assert_eq!(cmds.len(), 3);
}

#[test]
fn swarm_size_limits_the_servers_a_scene_uses() {
    let cfg = SchedulerConfig {
        slots_per_server: 1,
        ..SchedulerConfig::default()
    };
    let mut s = scheduler(fixed(2, 0), cfg, &["a", "b", "c", "d"]);
    for i in 0..4 {
        s.add_chunk(secs(0.0), span(i, 0), 5);
    }
    let (assigned, _) = drain(&mut s);
    let servers: Vec<_> = assigned.iter().map(|a| a.0.as_str()).collect();
    assert_eq!(servers, vec!["a", "b"], "two servers, one slot each");
    s.chunk_completed(secs(1.0), 0, 0, 100, 7, true);
    let (assigned, _) = drain(&mut s);
    assert_eq!(assigned, vec![("a".to_string(), 2, 0)]);
}

#[test]
fn redundant_copies_run_on_distinct_servers_and_the_loser_is_cancelled() {
    let mut s = scheduler(fixed(1, 1), SchedulerConfig::default(), &["a", "b"]);
    s.add_chunk(secs(0.0), span(0, 0), 5);
    let (assigned, _) = drain(&mut s);
    assert_eq!(assigned, vec![("a".into(), 0, 0), ("b".into(), 0, 1)]);
    assert_eq!(
        s.chunk_completed(secs(1.0), 0, 1, 500, 42, true),
        Completion::Winner
    );
    let (_, cancelled) = drain(&mut s);
    assert_eq!(cancelled, vec![("a".into(), 0, 0)]);
    assert_eq!(s.unfinished(), 0);
}

#[test]
fn verified_redundancy_compares_the_bytes_of_every_copy() {
    let cfg = SchedulerConfig {
        verify_redundant: true,
        ..SchedulerConfig::default()
    };
    let mut s = scheduler(fixed(1, 2), cfg, &["a", "b", "c"]);
    s.add_chunk(secs(0.0), span(0, 0), 5);
    drain(&mut s);
    assert_eq!(
        s.chunk_completed(secs(1.0), 0, 0, 10, 42, true),
        Completion::Winner
    );
    assert_eq!(
        s.chunk_completed(secs(1.1), 0, 1, 10, 42, true),
        Completion::Duplicate { identical: true }
    );
    assert_eq!(
        s.chunk_completed(secs(1.2), 0, 2, 10, 43, true),
        Completion::Duplicate { identical: false }
    );
    let outcomes: Vec<_> = s
        .chunk(0)
        .unwrap()
        .attempts
        .iter()
        .map(|a| a.outcome.clone())
        .collect();
    assert_eq!(
        outcomes,
        vec![
            AttemptOutcome::Won,
            AttemptOutcome::Duplicate { identical: true },
            AttemptOutcome::Duplicate { identical: false }
        ]
    );
}

#[test]
fn a_lost_server_with_redundancy_causes_no_reassignment() {
    let mut s = scheduler(fixed(2, 1), SchedulerConfig::default(), &["a", "b", "c"]);
    s.add_chunk(secs(0.0), span(0, 0), 5);
    drain(&mut s);
    s.server_offline(secs(0.5), "a", "lost");
    let (assigned, _) = drain(&mut s);
    assert!(
        assigned.is_empty(),
        "b's copy is still running: {assigned:?}"
    );
    assert_eq!(
        s.chunk_completed(secs(1.0), 0, 1, 9, 1, true),
        Completion::Winner
    );
    assert_eq!(s.unfinished(), 0);
}

#[test]
fn the_chunks_of_a_lost_server_are_reassigned() {
    let mut s = scheduler(fixed(2, 0), SchedulerConfig::default(), &["a", "b"]);
    s.add_chunk(secs(0.0), span(0, 0), 5);
    s.add_chunk(secs(0.0), span(1, 0), 5);
    let (assigned, _) = drain(&mut s);
    assert_eq!(assigned, vec![("a".into(), 0, 0), ("b".into(), 1, 0)]);
    s.server_offline(secs(0.5), "a", "lost");
    let (assigned, _) = drain(&mut s);
    assert_eq!(assigned, vec![("b".into(), 0, 1)]);
    let lost = &s.chunk(0).unwrap().attempts[0].outcome;
    assert_eq!(lost, &AttemptOutcome::Lost("lost".into()));
    // a late completion of the lost attempt is ignored
    assert_eq!(
        s.chunk_completed(secs(0.6), 0, 0, 1, 1, true),
        Completion::Ignored
    );
}

#[test]
fn silent_servers_and_stalled_attempts_time_out() {
    let cfg = SchedulerConfig {
        server_timeout_s: 5.0,
        attempt_timeout_s: 3.0,
        ..SchedulerConfig::default()
    };
    let mut s = scheduler(fixed(2, 0), cfg, &["a", "b"]);
    s.add_chunk(secs(0.0), span(0, 0), 5);
    drain(&mut s);
    // a keeps reporting telemetry but makes no progress on chunk 0
    for t in 1..=4 {
        s.server_load(
            secs(f64::from(t)),
            "a",
            Load {
                cpu_load: 0.5,
                free: 0.5,
                queue_depth: 1,
            },
        );
        s.server_load(
            secs(f64::from(t)),
            "b",
            Load {
                cpu_load: 0.0,
                free: 1.0,
                queue_depth: 0,
            },
        );
        s.tick(secs(f64::from(t)));
    }
    let (assigned, cancelled) = drain(&mut s);
    assert_eq!(cancelled, vec![("a".into(), 0, 0)]);
    assert_eq!(assigned, vec![("b".into(), 0, 1)]);
    // b goes silent: after 5 s it is taken as lost and a gets the chunk back
    for t in 5..=10 {
        s.server_load(
            secs(f64::from(t)),
            "a",
            Load {
                cpu_load: 0.0,
                free: 1.0,
                queue_depth: 0,
            },
        );
        s.tick(secs(f64::from(t)));
    }
    let (assigned, _) = drain(&mut s);
    assert_eq!(assigned, vec![("a".into(), 0, 2)]);
}

#[test]
fn the_job_fails_after_the_timeout_when_every_server_is_gone() {
    let cfg = SchedulerConfig {
        no_server_timeout_s: 10.0,
        ..SchedulerConfig::default()
    };
    let mut s = scheduler(fixed(1, 0), cfg, &["a"]);
    s.add_chunk(secs(0.0), span(0, 0), 5);
    s.server_offline(secs(1.0), "a", "lost");
    s.tick(secs(10.0));
    assert!(
        s.failure().is_none(),
        "9 s without a server is within the timeout"
    );
    s.tick(secs(11.5));
    let failure = s.failure().expect("job failed");
    assert!(failure.contains("no encoding server left"), "{failure}");
    assert!(failure.contains("--resume"), "{failure}");
}

#[test]
fn a_server_without_the_encoder_gets_nothing_and_the_job_fails_after_the_grace() {
    // The default no-server timeout (30 s) does not apply: servers are online, just unable.
    let mut s = Scheduler::new(
        SchedulerConfig::default(),
        fixed(1, 0),
        Profile {
            encoder: EncoderKind::X265,
            ..Profile::default()
        },
    );
    s.server_online(
        secs(0.0),
        "a",
        Capabilities {
            encoders: vec![EncoderKind::OpenH264, EncoderKind::Rav1e],
            cores: 4,
        },
    );
    s.add_chunk(secs(0.0), span(0, 0), 5);
    s.tick(secs(2.9));
    assert!(drain(&mut s).0.is_empty());
    assert_eq!(s.failure(), None);
    // A capable server that joins within the grace takes the chunk.
    let mut late = s.clone();
    late.server_online(
        secs(1.0),
        "b",
        Capabilities {
            encoders: vec![EncoderKind::X265],
            cores: 4,
        },
    );
    late.tick(secs(3.5));
    assert_eq!(late.failure(), None);
    s.tick(secs(3.0));
    assert_eq!(
        s.failure(),
        Some(
            "no server offers encoder x265 (the 1 server(s) online offer: openh264, rav1e); \
             run `bitswarm encoders` on a server to see why, or choose another encoder"
        )
    );
}

#[test]
fn the_policy_is_re_evaluated_per_scene() {
    let policy = SwarmPolicy::default();
    let mut s = scheduler(policy, SchedulerConfig::default(), &["a", "b", "c"]);
    let hard = s.add_chunk(secs(0.0), span(0, 0), 9);
    assert_eq!(
        (hard.swarm_size, hard.complexity_level, hard.redundancy),
        (3, 9, 2)
    );
    // same scene, easier chunk: the scene keeps its decision
    assert_eq!(s.add_chunk(secs(0.0), span(1, 0), 2), hard);
    // a new scene of easy content gets the fallback
    let easy = s.add_chunk(secs(0.0), span(2, 1), 2);
    assert_eq!(
        (easy.swarm_size, easy.complexity_level, easy.redundancy),
        (1, 5, 0)
    );
    let scenes: Vec<_> = s
        .decisions()
        .iter()
        .map(|d| (d.scene, d.first_chunk, d.complexity))
        .collect();
    assert_eq!(scenes, vec![(0, 0, 9), (1, 2, 2)]);
    assert_ne!(
        s.chunk(0).unwrap().profile_id,
        s.chunk(2).unwrap().profile_id
    );
    assert_eq!(
        s.profile(s.chunk(2).unwrap().profile_id)
            .unwrap()
            .complexity,
        5
    );
}

#[test]
fn free_resources_count_this_jobs_own_share_as_available() {
    let mut s = scheduler(fixed(2, 0), SchedulerConfig::default(), &["a", "b"]);
    let busy = Load {
        cpu_load: 1.0,
        free: 0.0,
        queue_depth: 2,
    };
    s.server_load(secs(0.0), "a", busy);
    s.server_load(secs(0.0), "b", busy);
    assert_eq!(s.free_resources(), 0.0, "both full with other work");
    s.add_chunk(secs(0.0), span(0, 0), 5);
    assert_eq!(drain(&mut s).0.len(), 1);
    // one of a's two slots is ours: (0 + 1/2 + 0) / 2 servers
    assert_eq!(s.free_resources(), 0.25);
}

#[test]
fn a_draining_server_finishes_its_chunk_but_gets_no_new_one() {
    let cfg = SchedulerConfig {
        slots_per_server: 1,
        ..SchedulerConfig::default()
    };
    let mut s = scheduler(fixed(2, 0), cfg, &["a", "b"]);
    s.add_chunk(secs(0.0), span(0, 0), 5);
    s.add_chunk(secs(0.0), span(1, 0), 5);
    s.add_chunk(secs(0.0), span(2, 0), 5);
    drain(&mut s);
    s.server_draining(secs(0.5), "a");
    assert_eq!(
        s.chunk_completed(secs(1.0), 0, 0, 5, 5, true),
        Completion::Winner
    );
    assert!(drain(&mut s).0.is_empty(), "a is leaving, b is full");
    s.chunk_completed(secs(1.5), 1, 0, 5, 5, true);
    assert_eq!(drain(&mut s).0, vec![("b".to_string(), 2, 0)]);
}

/// A fleet-scale run in virtual time: 300 servers, 3000 chunks, servers dying and joining,
/// redundancy on hard scenes. Every chunk ends with exactly one winner on a server that was
/// online when it was assigned, and no server ever holds more than its slots.
#[test]
fn hundreds_of_servers_and_thousands_of_chunks() {
    let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let cfg = SchedulerConfig {
        slots_per_server: 2,
        ..SchedulerConfig::default()
    };
    let mut s = Scheduler::new(cfg, SwarmPolicy::default(), Profile::default());
    let mut online: Vec<String> = (0..300).map(|i| format!("s{i}")).collect();
    for id in &online {
        s.server_online(secs(0.0), id, caps());
    }
    for i in 0..3000u32 {
        s.add_chunk(secs(0.0), span(i, i / 25), (i % 10) as u8 + 1);
    }
    let mut running: Vec<(String, u32, u32)> = Vec::new();
    let mut t = 0.0;
    for _ in 0..200_000 {
        while let Some(c) = s.poll_command() {
            match c {
                Command::AssignChunk {
                    server,
                    chunk,
                    attempt,
                    ..
                } => {
                    assert!(online.contains(&server), "assigned to offline {server}");
                    running.push((server, chunk, attempt));
                }
                Command::Cancel {
                    server,
                    chunk,
                    attempt,
                } => running.retain(|r| *r != (server.clone(), chunk, attempt)),
                Command::AssignProfile { .. } => {}
            }
        }
        if s.unfinished() == 0 {
            break;
        }
        t += 0.01;
        let roll = next() % 1000;
        if roll < 3 && online.len() > 50 {
            // a server dies
            let victim = online.remove((next() % online.len() as u64) as usize);
            running.retain(|r| r.0 != victim);
            s.server_offline(secs(t), &victim, "lost");
        } else if roll < 6 {
            let id = format!("new{}", next() % 100_000);
            if !online.contains(&id) {
                online.push(id.clone());
                s.server_online(secs(t), &id, caps());
            }
        } else if !running.is_empty() {
            let (_, chunk, attempt) = running.swap_remove((next() % running.len() as u64) as usize);
            s.chunk_completed(secs(t), chunk, attempt, 100, 7, true);
        }
        let mut per_server = std::collections::HashMap::new();
        for r in &running {
            *per_server.entry(r.0.clone()).or_insert(0) += 1;
        }
        assert!(
            per_server.values().all(|&n| n <= 2),
            "a server holds more than its slots"
        );
    }
    assert_eq!(s.unfinished(), 0, "all chunks done");
    assert!(s.failure().is_none());
    for c in s.chunks() {
        let winners = c
            .attempts
            .iter()
            .filter(|a| a.outcome == AttemptOutcome::Won)
            .count();
        assert_eq!(winners, 1, "chunk {} has {winners} winners", c.span.index);
    }
}

#[test]
fn a_probe_is_a_new_round_of_attempts_with_its_own_profile() {
    let mut s = scheduler(fixed(2, 1), SchedulerConfig::default(), &["a", "b"]);
    s.add_chunk_with_rate(secs(0.0), span(0, 0), 5, RateControl::Qp { qp: 30 });
    let mut profiles = Vec::new();
    let mut assigned = Vec::new();
    let poll =
        |s: &mut Scheduler, profiles: &mut Vec<Profile>, assigned: &mut Vec<(String, u32)>| {
            while let Some(c) = s.poll_command() {
                match c {
                    Command::AssignProfile { profile, .. } => profiles.push(profile),
                    Command::AssignChunk {
                        server, attempt, ..
                    } => assigned.push((server, attempt)),
                    Command::Cancel { .. } => {}
                }
            }
        };
    poll(&mut s, &mut profiles, &mut assigned);
    // Redundancy 1: two copies of probe 0, on both servers, with QP 30.
    assert_eq!(assigned.len(), 2);
    assert!(profiles
        .iter()
        .all(|p| p.rate == RateControl::Qp { qp: 30 }));
    assert_eq!(
        s.chunk_completed(secs(1.0), 0, 0, 100, 7, true),
        Completion::Winner
    );
    assert!(s.chunk(0).unwrap().done());
    assert_eq!(s.unfinished(), 0);

    // The search asks for QP 24: a new profile goes out, and two fresh copies.
    s.reprobe(secs(1.5), 0, RateControl::Qp { qp: 24 });
    assert!(!s.chunk(0).unwrap().done());
    profiles.clear();
    assigned.clear();
    poll(&mut s, &mut profiles, &mut assigned);
    assert_eq!(profiles.len(), 2);
    assert!(profiles
        .iter()
        .all(|p| p.rate == RateControl::Qp { qp: 24 }));
    let attempts: Vec<u32> = assigned.iter().map(|(_, a)| *a).collect();
    assert_eq!(attempts, [2, 3]);
    // A late copy of probe 0 is compared with probe 0's winner, not taken for probe 1.
    assert_eq!(
        s.chunk_completed(secs(2.0), 0, 1, 100, 7, true),
        Completion::Duplicate { identical: true }
    );
    assert!(!s.chunk(0).unwrap().done());
    assert_eq!(
        s.chunk_completed(secs(2.5), 0, 3, 140, 9, true),
        Completion::Winner
    );
    let chunk = s.chunk(0).unwrap();
    assert!(chunk.done());
    assert_eq!(chunk.rate, RateControl::Qp { qp: 24 });
    let won: Vec<(u32, u32)> = chunk
        .attempts
        .iter()
        .filter(|a| a.outcome == AttemptOutcome::Won)
        .map(|a| (a.probe, a.attempt))
        .collect();
    assert_eq!(won, [(0, 0), (1, 3)]);
}
