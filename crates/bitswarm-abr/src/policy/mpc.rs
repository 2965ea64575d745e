//! RobustMPC (Yin et al., SIGCOMM 2015, as in Pensieve's `mpc.py`): the throughput prediction
//! is the harmonic mean of the last 5 chunk throughputs divided by `1 + ` the largest relative
//! error of the last 5 predictions; every rung sequence of the next 5 chunks is simulated
//! (buffer drain, stall, +1 segment) and the first step of the best plan under QoE is taken.

use super::{AbrPolicy, Choice};
use crate::network::harmonic_mean_tail;
use crate::qoe::QualityMetric;
use crate::session::AbrState;

#[derive(Debug, Clone, PartialEq)]
pub struct RobustMpc {
    /// Chunks planned ahead.
    pub horizon: usize,
    /// Throughput samples in the harmonic mean, and prediction errors in the robust maximum.
    pub window: usize,
    estimates: Vec<f64>,
    errors: Vec<f64>,
}

impl Default for RobustMpc {
    fn default() -> Self {
        Self::new(5)
    }
}

/// Precomputed download times and qualities of the plan's chunks, for the exhaustive search.
/// Qualities are kept in `unit`s that make bitrates integers (kbit/s), and the quality and
/// smoothness sums are combined only at the end of a plan, as Pensieve's `mpc.py` does: plans
/// with the same sums then tie exactly and the tie-break is the one of the reference.
struct Plan<'s> {
    rungs: &'s [usize],
    download_s: Vec<Vec<f64>>,
    quality: Vec<Vec<f64>>,
    unit: f64,
    segment_s: f64,
    rebuffer_penalty: f64,
    smooth_penalty: f64,
}

/// A partial plan: buffer, stall and sums so far.
#[derive(Clone, Copy)]
struct Partial {
    buffer: f64,
    rebuffer: f64,
    quality: f64,
    smoothness: f64,
    prev_q: f64,
    first: usize,
}

impl Plan<'_> {
    /// Depth-first over every sequence in lexicographic order; a later sequence wins ties
    /// (as Pensieve's `>=`). Updates `best` with the QoE and the index (into `rungs`) of the
    /// best first step.
    fn search(&self, pos: usize, p: Partial, best: &mut (f64, usize)) {
        if pos == self.download_s.len() {
            let reward = p.quality / self.unit
                - self.rebuffer_penalty * p.rebuffer
                - self.smooth_penalty * p.smoothness / self.unit;
            if reward >= best.0 {
                *best = (reward, p.first);
            }
            return;
        }
        for k in 0..self.rungs.len() {
            let dt = self.download_s[pos][k];
            let q = self.quality[pos][k];
            let next = Partial {
                buffer: (p.buffer - dt).max(0.0) + self.segment_s,
                rebuffer: p.rebuffer + (dt - p.buffer).max(0.0),
                quality: p.quality + q,
                smoothness: p.smoothness + (q - p.prev_q).abs(),
                prev_q: q,
                first: if pos == 0 { k } else { p.first },
            };
            self.search(pos + 1, next, best);
        }
    }
}

impl RobustMpc {
    /// RobustMPC planning `horizon` chunks ahead (at least 1).
    pub fn new(horizon: usize) -> Self {
        Self {
            horizon: horizon.max(1),
            window: 5,
            estimates: Vec::new(),
            errors: Vec::new(),
        }
    }

    /// The robust throughput prediction after the latest download, Mbit/s (updates the
    /// prediction-error history: call once per decision).
    fn predict(&mut self, state: &AbrState) -> f64 {
        let latest = state.history.last().map_or(0.0, |d| d.throughput_mbps);
        let error = self
            .estimates
            .last()
            .map_or(0.0, |&e| (e - latest).abs() / latest);
        self.errors.push(error);
        let mean = harmonic_mean_tail(state.history.iter().map(|d| d.throughput_mbps), self.window)
            .unwrap_or(latest);
        let worst = self.errors[self.errors.len().saturating_sub(self.window)..]
            .iter()
            .fold(0.0f64, |m, &e| m.max(e));
        self.estimates.push(mean);
        mean / (1.0 + worst)
    }
}

impl AbrPolicy for RobustMpc {
    fn name(&self) -> &str {
        "mpc"
    }

    fn reset(&mut self) {
        self.estimates.clear();
        self.errors.clear();
    }

    /// Pensieve's `mpc.py` starts at the lowest level (its other scripts at level 1); with it
    /// the simulator reproduces the reference RobustMPC figure.
    fn startup_rung(&self) -> usize {
        0
    }

    fn choose(&mut self, state: &AbrState) -> Choice {
        let predicted = self.predict(state);
        let steps = self.horizon.min(state.chunks_left());
        let download_s = (0..steps)
            .map(|k| {
                state
                    .allowed
                    .iter()
                    .map(|&r| state.bytes_ahead(k, r).unwrap_or(0) as f64 * 8.0 / 1e6 / predicted)
                    .collect()
            })
            .collect();
        let unit = match state.qoe.quality {
            QualityMetric::Bitrate => 1000.0,
            QualityMetric::Vmaf => 1.0,
        };
        let quality = (0..steps)
            .map(|k| {
                state
                    .allowed
                    .iter()
                    .map(|&r| state.quality_ahead(k, r) * unit)
                    .collect()
            })
            .collect();
        let plan = Plan {
            rungs: state.allowed,
            download_s,
            quality,
            unit,
            segment_s: state.ladder.segment_s(),
            rebuffer_penalty: state.qoe.rebuffer_penalty,
            smooth_penalty: state.qoe.smooth_penalty,
        };
        let last = state.history.last().map_or(state.last_rung, |d| d.rung);
        let last_q = state
            .qoe
            .quality(state.ladder, state.next_chunk.saturating_sub(1), last);
        let start = Partial {
            buffer: state.buffer_s,
            rebuffer: 0.0,
            quality: 0.0,
            smoothness: 0.0,
            prev_q: last_q * unit,
            first: 0,
        };
        let mut best = (f64::NEG_INFINITY, 0);
        plan.search(0, start, &mut best);
        Choice::select(state.allowed[best.1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::ClientCaps;
    use crate::policy::testing::{capped_client, Fixture};

    #[test]
    fn low_buffer_and_low_throughput_stay_low() {
        let f = Fixture::new(ClientCaps::default(), 0.5, 0);
        assert_eq!(
            RobustMpc::default().choose(&f.state(1.0)).rung,
            0,
            "low buffer"
        );
    }

    #[test]
    fn high_throughput_goes_to_the_top() {
        let f = Fixture::new(ClientCaps::default(), 50.0, 5);
        assert_eq!(RobustMpc::default().choose(&f.state(20.0)).rung, 5);
    }

    #[test]
    fn plan_trades_quality_against_stalls() {
        // 2 Mbit/s steady, 4 s segments of b x 4 s: rung 3 (1.85) downloads in 3.7 s, rung 4
        // (2.85) in 5.7 s, rung 5 (4.3) in 8.6 s.
        let f = Fixture::new(ClientCaps::default(), 2.0, 3);
        let pick = |buffer| RobustMpc::default().choose(&f.state(buffer)).rung;
        // 4 s of buffer: anything above rung 3 stalls within the horizon.
        assert_eq!(pick(4.0), 3);
        // 20 s: the best plan is 3,4,5,5,5 (QoE 15.15; it ends with 0.8 s of buffer), so the
        // first step stays at 3.
        assert_eq!(pick(20.0), 3);
        // 40 s absorbs five chunks at the top rung (17 s left at the end).
        assert_eq!(pick(40.0), 5);
    }

    #[test]
    fn prediction_errors_make_it_cautious() {
        let mut f = Fixture::new(ClientCaps::default(), 2.0, 3);
        let mut p = RobustMpc::default();
        assert_eq!(p.choose(&f.state(4.0)).rung, 3);
        // The next chunk came in at half the predicted throughput: error 100%, prediction halves.
        f.history
            .push(crate::policy::testing::history(1.0, 3, 1)[0]);
        assert_eq!(
            p.predict(&f.state(4.0)),
            harmonic_mean_tail([2.0, 2.0, 2.0, 2.0, 1.0].into_iter(), 5).unwrap() / 2.0
        );
    }

    #[test]
    fn capability_cap() {
        let f = Fixture::new(capped_client(), 50.0, 1);
        assert_eq!(RobustMpc::default().choose(&f.state(20.0)).rung, 1);
    }
}
