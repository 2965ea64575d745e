//! BOLA (Spiteri et al., INFOCOM 2016) as dash.js runs it: utilities `u_i = ln(b_i / b_0) + 1`,
//! buffer target `max(18 s, 10 s + 2 s x levels)`, `gp = (u_max - 1) / (target / 10 - 1)`,
//! `Vp = 10 / gp`, and the level maximising `(Vp (u_i - 1 + gp) - Q) / b_i` for a buffer of
//! `Q` seconds. Like dash.js's BOLA-O, it does not switch up past what the throughput estimate
//! (dash.js: the lower of two download-time-weighted EWMAs with half-lives 3 s and 8 s, times
//! 0.9) sustains, unless it is already there.

use super::{highest_within, AbrPolicy, Choice};
use crate::session::AbrState;

const MINIMUM_BUFFER_S: f64 = 10.0;
const BUFFER_PER_LEVEL_S: f64 = 2.0;
const STABLE_BUFFER_S: f64 = 18.0;

#[derive(Debug, Clone, PartialEq)]
pub struct Bola {
    /// Apply the dash.js throughput limit on up-switches (BOLA-O).
    pub throughput_guard: bool,
    /// Half-lives of the fast and slow throughput EWMAs, seconds of download time.
    pub half_lives_s: (f64, f64),
    /// The estimate is multiplied by this.
    pub safety: f64,
}

impl Default for Bola {
    fn default() -> Self {
        Self {
            throughput_guard: true,
            half_lives_s: (3.0, 8.0),
            safety: 0.9,
        }
    }
}

/// dash.js's throughput estimate over the history: min of a fast and a slow EWMA of chunk
/// throughputs, weighted by download time, with zero-bias correction.
fn ewma_estimate(state: &AbrState, half_lives: (f64, f64)) -> f64 {
    let estimate = |half_life: f64| {
        let (mut value, mut total) = (0.0, 0.0);
        for d in state.history {
            let alpha = 0.5f64.powf(d.download_s / half_life);
            value = alpha * value + (1.0 - alpha) * d.throughput_mbps;
            total += d.download_s;
        }
        value / (1.0 - 0.5f64.powf(total / half_life))
    };
    estimate(half_lives.0).min(estimate(half_lives.1))
}

impl AbrPolicy for Bola {
    fn name(&self) -> &str {
        "bola"
    }

    fn reset(&mut self) {}

    fn choose(&mut self, state: &AbrState) -> Choice {
        let rungs = state.allowed;
        if rungs.len() == 1 {
            return Choice::select(rungs[0]);
        }
        let b0 = state.ladder.mbps(rungs[0]);
        let utility = |r: usize| (state.ladder.mbps(r) / b0).ln() + 1.0;
        let target =
            STABLE_BUFFER_S.max(MINIMUM_BUFFER_S + BUFFER_PER_LEVEL_S * rungs.len() as f64);
        let u_max = utility(rungs[rungs.len() - 1]);
        let gp = (u_max - 1.0) / (target / MINIMUM_BUFFER_S - 1.0);
        let vp = MINIMUM_BUFFER_S / gp;
        let score =
            |r: usize| (vp * (utility(r) - 1.0 + gp) - state.buffer_s) / state.ladder.mbps(r);
        let mut best = rungs[0];
        for &r in &rungs[1..] {
            if score(r) > score(best) {
                best = r;
            }
        }
        if self.throughput_guard && best > state.last_rung {
            let sustainable =
                highest_within(state, ewma_estimate(state, self.half_lives_s) * self.safety);
            if best > sustainable {
                best = sustainable.max(state.last_rung);
            }
        }
        Choice::select(best)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::ClientCaps;
    use crate::policy::testing::{capped_client, Fixture};

    fn unguarded() -> Bola {
        Bola {
            throughput_guard: false,
            ..Bola::default()
        }
    }

    #[test]
    fn buffer_levels_map_to_rungs() {
        // Six levels: target 22 s, u_max = ln(4300/300) + 1 = 3.6627, gp = 2.2189, Vp = 4.5068.
        // At Q = 8 s: scores (Vp (u_i - 1 + gp) - Q) / b_i = 6.67, 8.17, 6.87, ... -> rung 1.
        let f = Fixture::new(ClientCaps::default(), 100.0, 0);
        let mut p = unguarded();
        let picks: Vec<usize> = [0.0, 6.0, 8.0, 12.0, 14.0, 16.0, 18.0, 60.0]
            .iter()
            .map(|&q| p.choose(&f.state(q)).rung)
            .collect();
        assert_eq!(picks, [0, 0, 1, 2, 3, 4, 5, 5]);
    }

    #[test]
    fn throughput_guard_holds_up_switches() {
        // At 1.3 Mbit/s the EWMA x 0.9 = 1.17 sustains rung 1 only.
        let f = Fixture::new(ClientCaps::default(), 1.3, 0);
        assert_eq!(unguarded().choose(&f.state(20.0)).rung, 5);
        assert_eq!(Bola::default().choose(&f.state(20.0)).rung, 1);
        // Already above the sustainable rung: stay, do not drop to it.
        let f = Fixture::new(ClientCaps::default(), 1.3, 3);
        assert_eq!(Bola::default().choose(&f.state(20.0)).rung, 3);
        let f = Fixture::new(ClientCaps::default(), 100.0, 0);
        assert_eq!(
            Bola::default().choose(&f.state(20.0)).rung,
            5,
            "high throughput"
        );
    }

    #[test]
    fn capability_cap() {
        let f = Fixture::new(capped_client(), 100.0, 1);
        assert_eq!(Bola::default().choose(&f.state(50.0)).rung, 1);
    }
}
