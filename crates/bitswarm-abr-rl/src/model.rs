//! The actor-critic network: two small MLPs (tanh hidden layers) over the observation; the
//! actor's masked softmax over the rungs is the diagonal of the mixing matrix, the critic
//! estimates the return. Parameters are initialised from a seed (no global RNG) and stored as
//! safetensors.

use std::collections::HashMap;
use std::path::Path;

use bitswarm_abr::Rng;
use candle_core::{DType, Device, Tensor, Var, D};

use crate::features::{feature_dims, FEATURE_VERSION};
use crate::{Error, Result};

/// The model that ships with bitswarm (`models/abr-rl.safetensors` of this crate), trained on
/// `traces/train` for Pensieve's six-rung ladder; how it was made: docs/BENCHMARKS.md.
pub const SHIPPED_MODEL: &[u8] = include_bytes!("../models/abr-rl.safetensors");

/// Logit added to rungs the client cannot decode.
const MASKED: f32 = -1e9;

/// A multi-layer perceptron with tanh between layers and a linear output.
#[derive(Debug, Clone)]
struct Mlp {
    /// (weight [out, in], bias [out]) per layer.
    layers: Vec<(Var, Var)>,
}

impl Mlp {
    fn new(sizes: &[usize], rng: &mut Rng, out_gain: f64) -> Result<Mlp> {
        let mut layers = Vec::new();
        for (i, pair) in sizes.windows(2).enumerate() {
            let (n_in, n_out) = (pair[0], pair[1]);
            let last = i + 2 == sizes.len();
            // Uniform with the variance of Glorot/Xavier; the output layer scaled down.
            let gain = if last { out_gain } else { 1.0 };
            let bound = gain * (6.0 / (n_in + n_out) as f64).sqrt();
            let w: Vec<f32> = (0..n_in * n_out)
                .map(|_| rng.range(-bound, bound) as f32)
                .collect();
            let weight = Var::from_tensor(&Tensor::from_vec(w, (n_out, n_in), &Device::Cpu)?)?;
            let bias = Var::from_tensor(&Tensor::zeros(n_out, DType::F32, &Device::Cpu)?)?;
            layers.push((weight, bias));
        }
        Ok(Mlp { layers })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = x.clone();
        for (i, (w, b)) in self.layers.iter().enumerate() {
            h = h
                .matmul(&w.as_tensor().t()?)?
                .broadcast_add(b.as_tensor())?;
            if i + 1 < self.layers.len() {
                h = h.tanh()?;
            }
        }
        Ok(h)
    }

    fn vars(&self) -> Vec<Var> {
        self.layers
            .iter()
            .flat_map(|(w, b)| [w.clone(), b.clone()])
            .collect()
    }

    fn export(&self, prefix: &str, out: &mut HashMap<String, Tensor>) {
        for (i, (w, b)) in self.layers.iter().enumerate() {
            out.insert(format!("{prefix}.{i}.weight"), w.as_tensor().clone());
            out.insert(format!("{prefix}.{i}.bias"), b.as_tensor().clone());
        }
    }

    fn import(prefix: &str, tensors: &HashMap<String, Tensor>, what: &str) -> Result<Mlp> {
        let mut layers = Vec::new();
        while let Some(w) = tensors.get(&format!("{prefix}.{}.weight", layers.len())) {
            let b = tensors
                .get(&format!("{prefix}.{}.bias", layers.len()))
                .ok_or_else(|| {
                    Error::Model(format!(
                        "{what}: {prefix} layer {} has no bias",
                        layers.len()
                    ))
                })?;
            let (n_out, n_in) = w.dims2()?;
            if b.dims1()? != n_out {
                return Err(Error::Model(format!(
                    "{what}: {prefix} layer {}: bias of {} for {n_out} outputs",
                    layers.len(),
                    b.dims1()?
                )));
            }
            if let Some((prev, _)) = layers.last() {
                let prev: &Var = prev;
                if prev.as_tensor().dims2()?.0 != n_in {
                    return Err(Error::Model(format!("{what}: {prefix} layer {} takes {n_in} inputs but the layer before gives {}", layers.len(), prev.as_tensor().dims2()?.0)));
                }
            }
            layers.push((
                Var::from_tensor(&w.to_dtype(DType::F32)?)?,
                Var::from_tensor(&b.to_dtype(DType::F32)?)?,
            ));
        }
        if layers.is_empty() {
            return Err(Error::Model(format!("{what}: no {prefix} layers")));
        }
        Ok(Mlp { layers })
    }

    fn dims(&self) -> Result<(usize, usize)> {
        let first = self.layers[0].0.as_tensor().dims2()?.1;
        let last = self.layers[self.layers.len() - 1].0.as_tensor().dims2()?.0;
        Ok((first, last))
    }
}

/// The agent's networks for a ladder of a fixed number of rungs.
#[derive(Debug, Clone)]
pub struct ActorCritic {
    actor: Mlp,
    critic: Mlp,
    rungs: usize,
}

impl ActorCritic {
    /// Fresh networks with `hidden` units in each of two hidden layers, initialised from `seed`.
    pub fn new(rungs: usize, hidden: usize, seed: u64) -> Result<ActorCritic> {
        if rungs == 0 || hidden == 0 {
            return Err(Error::Model(format!(
                "cannot build a network for {rungs} rungs and {hidden} hidden units"
            )));
        }
        let mut rng = Rng::new(seed);
        let d = feature_dims(rungs);
        Ok(ActorCritic {
            actor: Mlp::new(&[d, hidden, hidden, rungs], &mut rng, 0.01)?,
            critic: Mlp::new(&[d, hidden, hidden, 1], &mut rng, 1.0)?,
            rungs,
        })
    }

    /// Rungs of the ladders this model plays.
    pub fn rungs(&self) -> usize {
        self.rungs
    }

    /// Trainable parameters, actor's then critic's.
    pub fn vars(&self) -> Vec<Var> {
        let mut v = self.actor.vars();
        v.extend(self.critic.vars());
        v
    }

    /// Number of parameters.
    pub fn parameter_count(&self) -> usize {
        self.vars().iter().map(|v| v.as_tensor().elem_count()).sum()
    }

    /// Masked log-probabilities of the rungs, `[batch, rungs]`, for observations `[batch, d]`
    /// and masks `[batch, rungs]` (1 = allowed).
    pub fn log_probs(&self, obs: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let logits = self.actor.forward(obs)?;
        let blocked = ((mask.ones_like()? - mask)? * f64::from(MASKED))?;
        Ok(candle_nn::ops::log_softmax(
            &(logits + blocked)?,
            D::Minus1,
        )?)
    }

    /// State values `[batch]`.
    pub fn values(&self, obs: &Tensor) -> Result<Tensor> {
        Ok(self.critic.forward(obs)?.squeeze(D::Minus1)?)
    }

    /// The model as safetensors: `actor.{i}.weight/bias`, `critic.{i}.weight/bias` and
    /// `meta.feature_version`.
    fn tensors(&self) -> Result<HashMap<String, Tensor>> {
        let mut out = HashMap::new();
        self.actor.export("actor", &mut out);
        self.critic.export("critic", &mut out);
        out.insert(
            "meta.feature_version".into(),
            Tensor::new(&[FEATURE_VERSION], &Device::Cpu)?,
        );
        Ok(out)
    }

    /// Writes the model to a safetensors file.
    pub fn save(&self, path: &Path) -> Result<()> {
        candle_core::safetensors::save(&self.tensors()?, path).map_err(|e| Error::Io {
            path: path.display().to_string(),
            msg: e.to_string(),
        })
    }

    /// Reads a model written by [`ActorCritic::save`].
    pub fn load(path: &Path) -> Result<ActorCritic> {
        let bytes = std::fs::read(path).map_err(|e| Error::Io {
            path: path.display().to_string(),
            msg: e.to_string(),
        })?;
        ActorCritic::from_bytes(&path.display().to_string(), &bytes)
    }

    /// The shipped model ([`SHIPPED_MODEL`]).
    pub fn shipped() -> Result<ActorCritic> {
        ActorCritic::from_bytes("shipped abr-rl.safetensors", SHIPPED_MODEL)
    }

    /// Reads a model from safetensors bytes; `what` names it in errors.
    pub fn from_bytes(what: &str, bytes: &[u8]) -> Result<ActorCritic> {
        let tensors = candle_core::safetensors::load_buffer(bytes, &Device::Cpu)
            .map_err(|e| Error::Model(format!("{what}: not a safetensors model ({e})")))?;
        let version = tensors
            .get("meta.feature_version")
            .ok_or_else(|| {
                Error::Model(format!(
                    "{what}: no meta.feature_version (not a bitswarm ABR model)"
                ))
            })?
            .flatten_all()?
            .to_vec1::<u32>()?;
        if version != [FEATURE_VERSION] {
            return Err(Error::Model(format!(
                "{what}: feature version {version:?}, this build reads {FEATURE_VERSION}"
            )));
        }
        let actor = Mlp::import("actor", &tensors, what)?;
        let critic = Mlp::import("critic", &tensors, what)?;
        let (d, rungs) = actor.dims()?;
        if d != feature_dims(rungs) || critic.dims()? != (d, 1) {
            return Err(Error::Model(format!(
                "{what}: networks take {d} inputs and give {rungs} rungs; expected {} inputs for {rungs} rungs and a critic with 1 output",
                feature_dims(rungs)
            )));
        }
        Ok(ActorCritic {
            actor,
            critic,
            rungs,
        })
    }

    /// Copies of the parameters (a checkpoint).
    pub fn snapshot(&self) -> Result<ActorCritic> {
        let copy = |m: &Mlp| -> Result<Mlp> {
            Ok(Mlp {
                layers: m
                    .layers
                    .iter()
                    .map(|(w, b)| {
                        Ok((
                            Var::from_tensor(&w.as_tensor().copy()?)?,
                            Var::from_tensor(&b.as_tensor().copy()?)?,
                        ))
                    })
                    .collect::<Result<_>>()?,
            })
        };
        Ok(ActorCritic {
            actor: copy(&self.actor)?,
            critic: copy(&self.critic)?,
            rungs: self.rungs,
        })
    }
}
