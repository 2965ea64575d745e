//! The trained agent as an [`AbrPolicy`]: the actor's masked softmax over the rungs is the
//! diagonal of the mixing matrix; playing takes its largest weight.

use std::path::Path;

use bitswarm_abr::{AbrPolicy, AbrState, Choice, Ladder};
use candle_core::{Device, Tensor};

use crate::features::{feature_dims, observe};
use crate::model::ActorCritic;
use crate::{Error, Result};

/// The RL agent, ready to play.
#[derive(Debug, Clone)]
pub struct RlPolicy {
    model: ActorCritic,
}

impl RlPolicy {
    pub fn new(model: ActorCritic) -> Self {
        Self { model }
    }

    /// Loads a model file written by [`ActorCritic::save`].
    pub fn load(path: &Path) -> Result<Self> {
        Ok(Self::new(ActorCritic::load(path)?))
    }

    pub fn model(&self) -> &ActorCritic {
        &self.model
    }

    /// The mixing weights (one per rung, 0 where the client cannot decode, summing to 1).
    pub fn weights(&self, state: &AbrState) -> Result<Vec<f64>> {
        let k = state.ladder.rung_count();
        if k != self.model.rungs() {
            return Err(Error::Model(format!(
                "the model plays {} rungs, the ladder has {k}",
                self.model.rungs()
            )));
        }
        let obs = Tensor::from_vec(observe(state), (1, feature_dims(k)), &Device::Cpu)?;
        let mask: Vec<f32> = (0..k)
            .map(|r| f32::from(u8::from(state.allowed.contains(&r))))
            .collect();
        let mask = Tensor::from_vec(mask, (1, k), &Device::Cpu)?;
        let log_probs = self
            .model
            .log_probs(&obs, &mask)?
            .squeeze(0)?
            .to_vec1::<f32>()?;
        Ok(log_probs.iter().map(|&l| f64::from(l).exp()).collect())
    }
}

impl AbrPolicy for RlPolicy {
    fn name(&self) -> &str {
        "rl"
    }

    fn reset(&mut self) {}

    fn choose(&mut self, state: &AbrState) -> Choice {
        // `check_ladder` ran before the session, so the shapes match and the forward pass
        // cannot fail; should it anyway, the lowest allowed rung is the safe answer.
        let Ok(weights) = self.weights(state) else {
            return Choice::select(state.allowed[0]);
        };
        let best = state
            .allowed
            .iter()
            .copied()
            .fold(state.allowed[0], |b, r| {
                if weights[r] > weights[b] {
                    r
                } else {
                    b
                }
            });
        Choice::select(best)
    }

    fn check_ladder(&self, ladder: &Ladder) -> bitswarm_abr::Result<()> {
        if ladder.rung_count() == self.model.rungs() {
            return Ok(());
        }
        Err(bitswarm_abr::Error::Config {
            field: "ladder for the RL model",
            value: format!("{} ({} rungs)", ladder.name(), ladder.rung_count()),
            expected: format!(
                "a ladder of {} rungs, as the model was trained on",
                self.model.rungs()
            ),
        })
    }
}
