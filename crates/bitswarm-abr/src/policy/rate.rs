//! Rate-based ABR: the highest rung whose bitrate fits the harmonic mean of the last 5 chunk
//! throughputs (times a safety factor).

use super::{highest_within, AbrPolicy, Choice};
use crate::network::harmonic_mean_tail;
use crate::session::AbrState;

#[derive(Debug, Clone, PartialEq)]
pub struct RateBased {
    /// Throughput samples in the harmonic mean.
    pub window: usize,
    /// The estimate is multiplied by this before choosing.
    pub safety: f64,
}

impl Default for RateBased {
    fn default() -> Self {
        Self {
            window: 5,
            safety: 1.0,
        }
    }
}

impl AbrPolicy for RateBased {
    fn name(&self) -> &str {
        "rate"
    }

    fn reset(&mut self) {}

    fn choose(&mut self, state: &AbrState) -> Choice {
        let estimate =
            harmonic_mean_tail(state.history.iter().map(|d| d.throughput_mbps), self.window)
                .unwrap_or(0.0);
        Choice::select(highest_within(state, estimate * self.safety))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::ClientCaps;
    use crate::policy::testing::{capped_client, Fixture};

    #[test]
    fn picks_the_highest_rung_under_the_harmonic_mean() {
        let mut p = RateBased::default();
        assert_eq!(
            p.choose(&Fixture::new(ClientCaps::default(), 10.0, 0).state(1.0))
                .rung,
            5,
            "high throughput"
        );
        assert_eq!(
            p.choose(&Fixture::new(ClientCaps::default(), 1.3, 5).state(30.0))
                .rung,
            2
        );
        assert_eq!(
            p.choose(&Fixture::new(ClientCaps::default(), 0.1, 3).state(30.0))
                .rung,
            0
        );
        assert_eq!(
            p.choose(&Fixture::new(capped_client(), 10.0, 1).state(30.0))
                .rung,
            1,
            "capability cap"
        );
        // One slow sample dominates a harmonic mean: 5 / (4/10 + 1/0.5) = 2.08 Mbit/s.
        let mut f = Fixture::new(ClientCaps::default(), 10.0, 3);
        f.history[4].throughput_mbps = 0.5;
        assert_eq!(p.choose(&f.state(30.0)).rung, 3);
    }
}
