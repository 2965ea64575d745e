//! A clairvoyant expert for imitation learning (as in Comyco, ACM MM 2019): it sees the
//! session's future network (a clone of its simulator) and picks the first step of the best
//! plan of the next chunks under the exact QoE. It cannot play for real; it labels the states
//! the learner visits (DAgger) to give the actor a good start before PPO.

use bitswarm_abr::{Session, Simulator};

/// The expert's rung for the next chunk of `session`, planning `horizon` chunks ahead.
pub fn clairvoyant_choice(session: &Session, horizon: usize) -> usize {
    let state = session.state();
    let qoe = state.qoe;
    let ladder = state.ladder;
    let last = state.history.last().map_or(state.last_rung, |d| d.rung);
    let last_q = qoe.quality(ladder, state.next_chunk.saturating_sub(1), last);
    let mut best = (f64::NEG_INFINITY, state.allowed[0]);
    let search = Search {
        allowed: state.allowed,
        horizon: horizon.max(1),
        qoe,
        ladder,
    };
    search.dfs(
        0,
        session.simulator().clone(),
        0.0,
        last_q,
        state.allowed[0],
        &mut best,
    );
    best.1
}

struct Search<'s> {
    allowed: &'s [usize],
    horizon: usize,
    qoe: &'s bitswarm_abr::QoeConfig,
    ladder: &'s bitswarm_abr::Ladder,
}

impl Search<'_> {
    fn dfs(
        &self,
        depth: usize,
        sim: Simulator,
        reward: f64,
        prev_q: f64,
        first: usize,
        best: &mut (f64, usize),
    ) {
        if depth == self.horizon || sim.is_done() {
            if reward > best.0 {
                *best = (reward, first);
            }
            return;
        }
        for &rung in self.allowed {
            let mut next = sim.clone();
            let Ok(d) = next.download(rung) else { continue };
            let q = self.qoe.quality(self.ladder, d.chunk, rung);
            let r = reward + self.qoe.chunk(q, prev_q, d.rebuffer_s, 0.0).total;
            self.dfs(
                depth + 1,
                next,
                r,
                q,
                if depth == 0 { rung } else { first },
                best,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitswarm_abr::{
        ClientCaps, Ladder, LadderFile, Rng, Rung, SegmentRow, SessionConfig, Trace, VideoCodec,
        LADDER_FORMAT,
    };

    fn ladder() -> Ladder {
        let kbps = [300.0, 1200.0, 4300.0];
        Ladder::new(
            "three",
            LadderFile {
                format: LADDER_FORMAT.into(),
                segment_duration_s: 4.0,
                rungs: (0..3)
                    .map(|i| Rung {
                        id: format!("r{i}"),
                        bitrate_kbps: kbps[i],
                        codec: VideoCodec::H264,
                        width: 640,
                        height: 360,
                        fps: 30.0,
                    })
                    .collect(),
                segments: vec![
                    SegmentRow {
                        bytes: kbps.iter().map(|k| (k * 500.0) as u64).collect(),
                        vmaf: None,
                        ssim: None
                    };
                    10
                ],
            },
        )
        .unwrap()
    }

    #[test]
    fn the_expert_sees_the_coming_drop() {
        let l = ladder();
        let client = ClientCaps::default();
        // Both traces run at 20 Mbit/s for the first second; one keeps it, the other drops to
        // 0.5 Mbit/s. The histories the client has seen are the same; only the expert knows.
        let steady = Trace::parse("steady", "0 20\n1 20\n100 20\n").unwrap();
        let drop = Trace::parse("drop", "0 20\n1 20\n100 0.5\n").unwrap();
        let choice = |t: &Trace| {
            let s = Session::new(
                t,
                &l,
                &client,
                &SessionConfig {
                    first_rung: Some(2),
                    ..SessionConfig::default()
                },
                Rng::new(1),
            )
            .unwrap();
            clairvoyant_choice(&s, 5)
        };
        assert_eq!(choice(&steady), 2);
        assert_eq!(choice(&drop), 0);
    }
}
