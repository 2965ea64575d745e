//! Buffer-based ABR (BBA, Huang et al. SIGCOMM 2014, as in Pensieve's `bb.py`): the lowest rung
//! below the reservoir, the highest above reservoir + cushion, linear in between.

use super::{AbrPolicy, Choice};
use crate::session::AbrState;

#[derive(Debug, Clone, PartialEq)]
pub struct BufferBased {
    pub reservoir_s: f64,
    pub cushion_s: f64,
}

impl Default for BufferBased {
    /// Reservoir 5 s, cushion 10 s (Pensieve's settings).
    fn default() -> Self {
        Self {
            reservoir_s: 5.0,
            cushion_s: 10.0,
        }
    }
}

impl AbrPolicy for BufferBased {
    fn name(&self) -> &str {
        "bb"
    }

    fn reset(&mut self) {}

    fn choose(&mut self, state: &AbrState) -> Choice {
        let top = state.allowed.len() - 1;
        let b = state.buffer_s;
        let index = if b < self.reservoir_s {
            0
        } else if b >= self.reservoir_s + self.cushion_s {
            top
        } else {
            // Truncation, as Pensieve's int(): the rung rises once the buffer passes each step.
            ((top as f64) * (b - self.reservoir_s) / self.cushion_s) as usize
        };
        Choice::select(state.allowed[index.min(top)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::ClientCaps;
    use crate::policy::testing::{capped_client, Fixture};

    #[test]
    fn reservoir_cushion_and_linear_map() {
        let f = Fixture::new(ClientCaps::default(), 3.0, 2);
        let mut bb = BufferBased::default();
        let pick = |bb: &mut BufferBased, b| bb.choose(&f.state(b)).rung;
        assert_eq!(pick(&mut bb, 0.5), 0, "low buffer");
        assert_eq!(pick(&mut bb, 4.99), 0);
        assert_eq!(pick(&mut bb, 5.0), 0);
        assert_eq!(pick(&mut bb, 7.0), 1); // 5 * 2/10 = 1.0
        assert_eq!(pick(&mut bb, 10.9), 2); // 5 * 5.9/10 = 2.95
        assert_eq!(pick(&mut bb, 15.0), 5);
        assert_eq!(pick(&mut bb, 40.0), 5);
    }

    #[test]
    fn capability_cap_limits_the_top() {
        let f = Fixture::new(capped_client(), 3.0, 1);
        assert_eq!(f.allowed, vec![0, 1]);
        let mut bb = BufferBased::default();
        assert_eq!(bb.choose(&f.state(30.0)).rung, 1);
        assert_eq!(bb.choose(&f.state(9.0)).rung, 0); // 1 * 4/10 truncates to 0
    }
}
