//! Training: an optional imitation phase (DAgger with the clairvoyant expert) that gives the
//! actor a good start, then proximal policy optimisation (PPO, clipped objective, GAE) of the
//! actor-critic on the simulator's training pool. Many environments step together with one
//! batched forward pass per step; every `eval_every` updates the greedy policy is scored on the
//! validation traces in test conditions and the best checkpoint is kept.

use bitswarm_abr::{
    evaluate, AbrPolicy, Choice, ClientCaps, EnvPool, Ladder, LinkVariation, PoolConfig, Rng,
    SessionConfig, SimConfig, Summary, Trace,
};
use candle_core::{Device, Tensor, Var, D};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use serde::{Deserialize, Serialize};

use crate::expert::clairvoyant_choice;
use crate::features::{feature_dims, observe};
use crate::model::ActorCritic;
use crate::policy::RlPolicy;
use crate::{Error, Result};

/// Training settings. The defaults produced the shipped model (docs/BENCHMARKS.md).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// DAgger rounds with the clairvoyant expert before PPO (0: PPO from scratch).
    pub imitation_rounds: usize,
    /// Chunks the expert plans ahead.
    pub expert_horizon: usize,
    /// Passes over the aggregated imitation data per round.
    pub imitation_epochs: usize,
    /// PPO updates after the imitation phase.
    pub iterations: usize,
    /// Environments stepped together.
    pub envs: usize,
    /// Steps per environment per update (and per imitation round).
    pub steps: usize,
    /// Units per hidden layer (two layers, actor and critic each).
    pub hidden: usize,
    /// Adam learning rate of the imitation phase.
    pub imitation_learning_rate: f64,
    /// Adam learning rate of PPO at its start (decays linearly to a tenth).
    pub learning_rate: f64,
    pub gamma: f64,
    pub gae_lambda: f64,
    /// PPO ratio clip.
    pub clip: f64,
    /// Passes over each PPO batch.
    pub epochs: usize,
    pub minibatch: usize,
    pub value_coef: f64,
    /// Entropy bonus, decayed linearly from start to end over the PPO updates.
    pub entropy_start: f64,
    pub entropy_end: f64,
    /// Rewards (QoE per chunk) are multiplied by this for learning.
    pub reward_scale: f64,
    pub max_grad_norm: f64,
    /// PPO updates (or imitation rounds) between evaluations and checkpoints.
    pub eval_every: usize,
    /// Share of training episodes on a random latency/loss link.
    pub link_variation: f64,
    /// Threads for evaluation. (The environments step in the trainer's thread: a simulator
    /// step takes well under a microsecond, less than handing it to another thread.)
    pub threads: usize,
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            imitation_rounds: 20,
            expert_horizon: 5,
            imitation_epochs: 4,
            iterations: 2000,
            envs: 32,
            steps: 64,
            hidden: 64,
            imitation_learning_rate: 1e-3,
            learning_rate: 1e-4,
            gamma: 0.99,
            gae_lambda: 0.95,
            clip: 0.2,
            epochs: 4,
            minibatch: 512,
            value_coef: 0.5,
            entropy_start: 0.01,
            entropy_end: 0.0005,
            reward_scale: 0.1,
            max_grad_norm: 0.5,
            eval_every: 25,
            link_variation: 0.2,
            threads: 2,
            seed: 1,
        }
    }
}

/// The phase a curve point belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Imitation,
    Ppo,
}

/// One point of the learning curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    pub phase: Phase,
    /// Imitation round or PPO update, counted from the start of training.
    pub iteration: usize,
    pub env_steps: u64,
    /// Mean QoE of the training episodes that ended since the previous point (noisy
    /// simulator; sampled actions in PPO, expert and learner mixed in imitation).
    pub train_episode_qoe: f64,
    /// Mean QoE of the greedy policy on the validation traces (test conditions).
    pub validation_qoe: f64,
    /// The same on the extra report set, when one is given (not used for selection).
    pub report_qoe: Option<f64>,
    /// Mean entropy of the actor's weights in the last minibatch, nats.
    pub entropy: f64,
}

/// What a training run produced.
#[derive(Debug, Clone)]
pub struct TrainOutcome {
    /// The checkpoint with the best validation QoE.
    pub best: ActorCritic,
    /// Its round or update (see [`CurvePoint::iteration`]).
    pub best_iteration: usize,
    pub curve: Vec<CurvePoint>,
}

/// Where the data of a training run comes from.
pub struct TrainData<'a> {
    /// Episodes are drawn from these.
    pub traces: &'a [Trace],
    /// Checkpoints are chosen by the greedy policy's mean QoE here.
    pub validation: &'a [Trace],
    /// Also scored at every evaluation, for the learning curve only.
    pub report: Option<&'a [Trace]>,
    pub ladder: &'a Ladder,
    /// Drawn per episode.
    pub clients: &'a [ClientCaps],
}

fn validate(cfg: &TrainConfig) -> Result<()> {
    let bad = |what: &str| Err(Error::Model(format!("invalid training settings: {what}")));
    if cfg.imitation_rounds + cfg.iterations == 0 {
        return bad("imitation_rounds + iterations must be positive");
    }
    if [
        cfg.envs,
        cfg.steps,
        cfg.epochs,
        cfg.imitation_epochs,
        cfg.minibatch,
        cfg.eval_every,
        cfg.expert_horizon,
    ]
    .contains(&0)
    {
        return bad("envs, steps, epochs, imitation_epochs, minibatch, eval_every and expert_horizon must be positive");
    }
    if !(cfg.gamma > 0.0 && cfg.gamma <= 1.0 && cfg.gae_lambda >= 0.0 && cfg.gae_lambda <= 1.0) {
        return bad("gamma must be in (0, 1] and gae_lambda in [0, 1]");
    }
    if !(cfg.learning_rate > 0.0
        && cfg.imitation_learning_rate > 0.0
        && cfg.clip > 0.0
        && cfg.max_grad_norm > 0.0)
    {
        return bad("learning rates, clip and max_grad_norm must be positive");
    }
    if !(0.0..=1.0).contains(&cfg.link_variation) {
        return bad("link_variation must be a share in 0..=1");
    }
    Ok(())
}

/// Mean QoE of the greedy policy of `model` over `traces` in test conditions.
pub fn score(
    model: &ActorCritic,
    traces: &[Trace],
    ladder: &Ladder,
    client: &ClientCaps,
    threads: usize,
) -> Result<f64> {
    let sessions = evaluate(
        || Ok(Box::new(RlPolicy::new(model.clone())) as Box<dyn AbrPolicy>),
        traces,
        ladder,
        client,
        &SessionConfig::default(),
        threads,
    )?;
    Ok(Summary::of("rl", &sessions).mean_qoe)
}

/// How the rollout acts.
#[derive(Clone, Copy)]
enum Acting {
    /// Sample from the actor (PPO).
    Sample,
    /// Take the expert's rung with probability `beta`, else the actor's largest weight; label
    /// every state with the expert's rung (DAgger).
    Dagger { beta: f64 },
}

/// One rollout: `steps` steps of every environment, time-major (`t * envs + i`).
#[derive(Default)]
struct Batch {
    obs: Vec<f32>,
    mask: Vec<f32>,
    action: Vec<u32>,
    log_prob: Vec<f32>,
    value: Vec<f32>,
    reward: Vec<f32>,
    done: Vec<bool>,
    expert: Vec<u32>,
    /// Values of the states after the last step.
    last_value: Vec<f32>,
}

/// The trainer's state.
struct Trainer<'a> {
    cfg: TrainConfig,
    data: &'a TrainData<'a>,
    model: ActorCritic,
    vars: Vec<Var>,
    pool: EnvPool<'a>,
    rng: Rng,
    episode_qoe: Vec<f64>,
    finished: Vec<f64>,
    env_steps: u64,
    curve: Vec<CurvePoint>,
    best: Option<(f64, usize, ActorCritic)>,
    last_entropy: f64,
}

impl<'a> Trainer<'a> {
    fn rungs(&self) -> usize {
        self.data.ladder.rung_count()
    }

    fn tensor(&self, data: &[f32], cols: usize) -> Result<Tensor> {
        Ok(Tensor::from_slice(
            data,
            (data.len() / cols, cols),
            &Device::Cpu,
        )?)
    }

    fn observe_all(&self) -> (Vec<f32>, Vec<f32>) {
        let k = self.rungs();
        let mut obs = Vec::with_capacity(self.cfg.envs * feature_dims(k));
        let mut mask = Vec::with_capacity(self.cfg.envs * k);
        for i in 0..self.cfg.envs {
            let state = self.pool.state(i);
            obs.extend(observe(&state));
            mask.extend((0..k).map(|r| f32::from(u8::from(state.allowed.contains(&r)))));
        }
        (obs, mask)
    }

    fn rollout(&mut self, acting: Acting) -> Result<Batch> {
        let (k, d) = (self.rungs(), feature_dims(self.rungs()));
        let mut batch = Batch::default();
        for _ in 0..self.cfg.steps {
            let (obs, mask) = self.observe_all();
            let obs_t = self.tensor(&obs, d)?;
            let log_probs = self
                .model
                .log_probs(&obs_t, &self.tensor(&mask, k)?)?
                .to_vec2::<f32>()?;
            let values = self.model.values(&obs_t)?.to_vec1::<f32>()?;
            let mut actions = Vec::with_capacity(self.cfg.envs);
            for (i, lp) in log_probs.iter().enumerate() {
                let action = match acting {
                    Acting::Sample => self
                        .rng
                        .weighted(&lp.iter().map(|&l| f64::from(l).exp()).collect::<Vec<_>>()),
                    Acting::Dagger { beta } => {
                        let expert =
                            clairvoyant_choice(self.pool.session(i), self.cfg.expert_horizon);
                        batch.expert.push(expert as u32);
                        if self.rng.uniform() < beta {
                            expert
                        } else {
                            (0..k).fold(0, |b, r| if lp[r] > lp[b] { r } else { b })
                        }
                    }
                };
                actions.push(action);
            }
            let choices: Vec<Choice> = actions.iter().map(|&a| Choice::select(a)).collect();
            let steps = self.pool.step(&choices)?;
            for (i, step) in steps.iter().enumerate() {
                self.episode_qoe[i] += if step.scored { step.qoe.total } else { 0.0 };
                if step.done {
                    self.finished.push(self.episode_qoe[i]);
                    self.episode_qoe[i] = 0.0;
                }
                batch.action.push(actions[i] as u32);
                batch.log_prob.push(log_probs[i][actions[i]]);
                batch.value.push(values[i]);
                batch
                    .reward
                    .push((step.qoe.total * self.cfg.reward_scale) as f32);
                batch.done.push(step.done);
            }
            batch.obs.extend(obs);
            batch.mask.extend(mask);
            self.env_steps += self.cfg.envs as u64;
        }
        let (obs, _) = self.observe_all();
        batch.last_value = self
            .model
            .values(&self.tensor(&obs, d)?)?
            .to_vec1::<f32>()?;
        Ok(batch)
    }

    /// Generalised advantage estimates and λ-returns of a batch, per environment, backwards.
    fn advantages(&self, batch: &Batch) -> (Vec<f32>, Vec<f32>) {
        let (envs, steps) = (self.cfg.envs, self.cfg.steps);
        let (gamma, lambda) = (self.cfg.gamma as f32, self.cfg.gae_lambda as f32);
        let mut advantages = vec![0.0f32; envs * steps];
        for i in 0..envs {
            let mut next_value = batch.last_value[i];
            let mut running = 0.0f32;
            for t in (0..steps).rev() {
                let j = t * envs + i;
                let keep = if batch.done[j] { 0.0 } else { 1.0 };
                let delta = batch.reward[j] + gamma * next_value * keep - batch.value[j];
                running = delta + gamma * lambda * keep * running;
                advantages[j] = running;
                next_value = batch.value[j];
            }
        }
        let returns = advantages
            .iter()
            .zip(&batch.value)
            .map(|(a, v)| a + v)
            .collect();
        (advantages, returns)
    }

    /// Shuffled minibatches of `0..n`.
    fn minibatches(&mut self, n: usize) -> Vec<Tensor> {
        let mut order: Vec<u32> = (0..n as u32).collect();
        for i in (1..n).rev() {
            order.swap(i, self.rng.below(0, i + 1));
        }
        order
            .chunks(self.cfg.minibatch)
            .filter_map(|c| Tensor::from_slice(c, c.len(), &Device::Cpu).ok())
            .collect()
    }

    fn apply(&mut self, optimizer: &mut AdamW, loss: &Tensor, entropy: &Tensor) -> Result<()> {
        let mut grads = loss.backward()?;
        clip_gradients(&mut grads, &self.vars, self.cfg.max_grad_norm)?;
        optimizer.step(&grads)?;
        self.last_entropy = f64::from(entropy.to_scalar::<f32>()?);
        Ok(())
    }

    /// Mean entropy of rows of log-probabilities.
    fn entropy(log_probs: &Tensor) -> Result<Tensor> {
        Ok((log_probs.exp()? * log_probs)?
            .sum(D::Minus1)?
            .mean_all()?
            .neg()?)
    }

    /// Cross-entropy of the actor against the expert's labels over the aggregated data, and
    /// regression of the critic on the latest round's returns.
    fn imitate(
        &mut self,
        optimizer: &mut AdamW,
        data: &Dataset,
        latest: &Batch,
        returns: Vec<f32>,
    ) -> Result<()> {
        let (k, d) = (self.rungs(), feature_dims(self.rungs()));
        let obs_all = Tensor::from_slice(&data.obs, (data.labels.len(), d), &Device::Cpu)?;
        let mask_all = Tensor::from_slice(&data.mask, (data.labels.len(), k), &Device::Cpu)?;
        let labels = Tensor::from_slice(&data.labels, data.labels.len(), &Device::Cpu)?;
        let ret_n = returns.len();
        let ret_obs = Tensor::from_slice(&latest.obs, (ret_n, d), &Device::Cpu)?;
        let ret = Tensor::from_vec(returns, ret_n, &Device::Cpu)?;
        for _ in 0..self.cfg.imitation_epochs {
            for idx in self.minibatches(data.labels.len()) {
                let log_probs = self.model.log_probs(
                    &obs_all.index_select(&idx, 0)?,
                    &mask_all.index_select(&idx, 0)?,
                )?;
                let nll = log_probs
                    .gather(&labels.index_select(&idx, 0)?.unsqueeze(1)?, 1)?
                    .mean_all()?
                    .neg()?;
                // A random slice of the latest returns for the critic.
                let pick: Vec<u32> = (0..idx.dims1()?.min(ret_n))
                    .map(|_| self.rng.below(0, ret_n) as u32)
                    .collect();
                let pick = Tensor::from_slice(&pick, pick.len(), &Device::Cpu)?;
                let value_loss = (self.model.values(&ret_obs.index_select(&pick, 0)?)?
                    - ret.index_select(&pick, 0)?)?
                .sqr()?
                .mean_all()?;
                let entropy = Self::entropy(&log_probs)?;
                let loss = (nll + (value_loss * self.cfg.value_coef)?)?;
                self.apply(optimizer, &loss, &entropy)?;
            }
        }
        Ok(())
    }

    fn ppo_update(&mut self, optimizer: &mut AdamW, batch: Batch, entropy_coef: f64) -> Result<()> {
        let (k, d) = (self.rungs(), feature_dims(self.rungs()));
        let (advantages, returns) = self.advantages(&batch);
        let n = advantages.len();
        let mean = advantages.iter().sum::<f32>() / n as f32;
        let std =
            (advantages.iter().map(|a| (a - mean).powi(2)).sum::<f32>() / n as f32).sqrt() + 1e-8;
        let advantages: Vec<f32> = advantages.iter().map(|a| (a - mean) / std).collect();
        let obs_all = Tensor::from_vec(batch.obs, (n, d), &Device::Cpu)?;
        let mask_all = Tensor::from_vec(batch.mask, (n, k), &Device::Cpu)?;
        let action_all = Tensor::from_vec(batch.action, n, &Device::Cpu)?;
        let old_lp_all = Tensor::from_vec(batch.log_prob, n, &Device::Cpu)?;
        let adv_all = Tensor::from_vec(advantages, n, &Device::Cpu)?;
        let ret_all = Tensor::from_vec(returns, n, &Device::Cpu)?;
        for _ in 0..self.cfg.epochs {
            for idx in self.minibatches(n) {
                let obs = obs_all.index_select(&idx, 0)?;
                let log_probs = self
                    .model
                    .log_probs(&obs, &mask_all.index_select(&idx, 0)?)?;
                let taken = log_probs
                    .gather(&action_all.index_select(&idx, 0)?.unsqueeze(1)?, 1)?
                    .squeeze(1)?;
                let ratio = (taken - old_lp_all.index_select(&idx, 0)?)?.exp()?;
                let adv = adv_all.index_select(&idx, 0)?;
                let unclipped = (&ratio * &adv)?;
                let clipped = (ratio.clamp(1.0 - self.cfg.clip, 1.0 + self.cfg.clip)? * &adv)?;
                let policy_loss = unclipped.minimum(&clipped)?.mean_all()?.neg()?;
                let value_loss = (self.model.values(&obs)? - ret_all.index_select(&idx, 0)?)?
                    .sqr()?
                    .mean_all()?;
                let entropy = Self::entropy(&log_probs)?;
                let loss = ((policy_loss + (value_loss * self.cfg.value_coef)?)?
                    - (&entropy * entropy_coef)?)?;
                self.apply(optimizer, &loss, &entropy)?;
            }
        }
        Ok(())
    }

    /// Scores the current model, keeps it if it is the best so far, adds a curve point.
    fn evaluate(&mut self, phase: Phase, iteration: usize) -> Result<CurvePoint> {
        let client = ClientCaps::default();
        let ladder = self.data.ladder;
        let validation_qoe = score(
            &self.model,
            self.data.validation,
            ladder,
            &client,
            self.cfg.threads,
        )?;
        let report_qoe = match self.data.report {
            Some(traces) => Some(score(
                &self.model,
                traces,
                ladder,
                &client,
                self.cfg.threads,
            )?),
            None => None,
        };
        let train_episode_qoe = if self.finished.is_empty() {
            f64::NAN
        } else {
            self.finished.iter().sum::<f64>() / self.finished.len() as f64
        };
        self.finished.clear();
        if self
            .best
            .as_ref()
            .is_none_or(|(q, _, _)| validation_qoe > *q)
        {
            self.best = Some((validation_qoe, iteration, self.model.snapshot()?));
        }
        let point = CurvePoint {
            phase,
            iteration,
            env_steps: self.env_steps,
            train_episode_qoe,
            validation_qoe,
            report_qoe,
            entropy: self.last_entropy,
        };
        self.curve.push(point);
        Ok(point)
    }
}

/// Aggregated imitation data.
#[derive(Default)]
struct Dataset {
    obs: Vec<f32>,
    mask: Vec<f32>,
    labels: Vec<u32>,
}

/// Scales the gradients so that their global norm is at most `max_norm`.
fn clip_gradients(
    grads: &mut candle_core::backprop::GradStore,
    vars: &[Var],
    max_norm: f64,
) -> Result<()> {
    let mut total = 0.0f64;
    for v in vars {
        if let Some(g) = grads.get(v.as_tensor()) {
            total += f64::from(g.sqr()?.sum_all()?.to_scalar::<f32>()?);
        }
    }
    let norm = total.sqrt();
    if norm > max_norm {
        let scale = max_norm / (norm + 1e-6);
        for v in vars {
            if let Some(g) = grads.get(v.as_tensor()) {
                let scaled = (g * scale)?;
                grads.insert(v.as_tensor(), scaled);
            }
        }
    }
    Ok(())
}

/// Trains a fresh model: `imitation_rounds` DAgger rounds, then `iterations` PPO updates.
/// `progress` is called after every round and update with its index (counted over both
/// phases) and the new curve point when there is one.
pub fn train(
    data: &TrainData,
    cfg: &TrainConfig,
    progress: &mut dyn FnMut(usize, Option<&CurvePoint>),
) -> Result<TrainOutcome> {
    validate(cfg)?;
    let ladder = data.ladder;
    let model = ActorCritic::new(ladder.rung_count(), cfg.hidden, cfg.seed)?;
    let vars = model.vars();
    let pool_cfg = PoolConfig {
        envs: cfg.envs,
        session: SessionConfig {
            sim: SimConfig::training(),
            ..SessionConfig::default()
        },
        link_variation: LinkVariation {
            share: cfg.link_variation,
            ..LinkVariation::default()
        },
        threads: 1,
        seed: cfg.seed,
    };
    let mut t = Trainer {
        cfg: *cfg,
        data,
        model,
        vars: vars.clone(),
        pool: EnvPool::new(data.traces, ladder, data.clients, pool_cfg)?,
        rng: Rng::stream(cfg.seed, u64::MAX),
        episode_qoe: vec![0.0; cfg.envs],
        finished: Vec::new(),
        env_steps: 0,
        curve: Vec::new(),
        best: None,
        last_entropy: 0.0,
    };
    let adam = |lr| ParamsAdamW {
        lr,
        weight_decay: 0.0,
        ..ParamsAdamW::default()
    };
    let total = cfg.imitation_rounds + cfg.iterations;

    let mut optimizer = AdamW::new(vars.clone(), adam(cfg.imitation_learning_rate))?;
    let mut dataset = Dataset::default();
    for round in 1..=cfg.imitation_rounds {
        // DAgger: the expert drives the first round, then less and less.
        let beta = 0.5f64.powi(round as i32 - 1);
        let batch = t.rollout(Acting::Dagger { beta })?;
        let (_, returns) = t.advantages(&batch);
        dataset.obs.extend(&batch.obs);
        dataset.mask.extend(&batch.mask);
        dataset.labels.extend(&batch.expert);
        t.imitate(&mut optimizer, &dataset, &batch, returns)?;
        let point = if round % cfg.eval_every.min(5) == 0 || round == cfg.imitation_rounds {
            Some(t.evaluate(Phase::Imitation, round)?)
        } else {
            None
        };
        progress(round, point.as_ref());
    }

    let mut optimizer = AdamW::new(vars, adam(cfg.learning_rate))?;
    for update in 1..=cfg.iterations {
        let share = (update - 1) as f64 / cfg.iterations as f64;
        optimizer.set_learning_rate(cfg.learning_rate * (1.0 - 0.9 * share));
        let entropy_coef = cfg.entropy_start + (cfg.entropy_end - cfg.entropy_start) * share;
        let batch = t.rollout(Acting::Sample)?;
        t.ppo_update(&mut optimizer, batch, entropy_coef)?;
        let iteration = cfg.imitation_rounds + update;
        let point = if update % cfg.eval_every == 0 || update == cfg.iterations {
            Some(t.evaluate(Phase::Ppo, iteration)?)
        } else {
            None
        };
        progress(iteration, point.as_ref());
    }
    debug_assert!(t.curve.last().is_some_and(|p| p.iteration == total));
    let (_, best_iteration, best) = t
        .best
        .ok_or_else(|| Error::Model("training ran no evaluation".into()))?;
    Ok(TrainOutcome {
        best,
        best_iteration,
        curve: t.curve,
    })
}
