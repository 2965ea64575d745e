//! The seed's mixing-matrix policy. Each bitstream of the swarm (a rung, a cluster of encodes)
//! has a capability profile and a network profile; the client has a normalised capability
//! vector and a measured network-condition vector. The relevance of bitstream `i` is
//! `dot(client, profile_i) + dot(network, network_profile_i)`; a softmax over the bitstreams the
//! client can decode gives the diagonal of the mixing matrix (no blending between bitstreams:
//! each chunk is one of them), and the next chunk is dithered (default), drawn or taken as the
//! argmax from those weights. Capability limits are hard: a bitstream the client cannot decode
//! has weight 0.
//!
//! The profiles are built so that each dot product is a peak, not a ramp (derivation in
//! docs/ABR.md): with `beta_i` the bitstream's bitrate on the normalised bandwidth scale,
//! `dot(network, network_profile_i) = 2 beta_i t - beta_i^2 = t^2 - (beta_i - t)^2`, where the
//! target `t = bandwidth - w_lat latency - w_loss loss + w_buf buffer - margin`; likewise the
//! capability term peaks where the bitstream's resolution matches the screen and charges decode
//! load on weak devices.

use super::{AbrPolicy, Choice};
use crate::client::{rung_decode_load, rung_resolution, ClientCaps};
use crate::ladder::Rung;
use crate::network::bandwidth_unit;
use crate::rng::Rng;
use crate::session::AbrState;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// Length of the mixing policy's network vector: `[bandwidth, latency, loss, buffer, 1]`.
pub const MIXING_NETWORK_DIMS: usize = 5;
/// Length of its client vector: `[screen, compute, device, 1]`.
const CLIENT_DIMS: usize = 4;

/// How a chunk follows from the weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Selection {
    /// The largest weight.
    Argmax,
    /// Error diffusion: each bitstream accumulates its weight every chunk and the one with the
    /// largest account is sent and charged 1, so long-run shares follow the weights,
    /// deterministically.
    Dither,
    /// A seeded random draw with the weights as probabilities.
    Draw,
}

/// Weights of the mixing-matrix policy; defaults tuned on `traces/train` (docs/BENCHMARKS.md).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MixingConfig {
    /// Softmax temperature, in relevance units (bandwidth-scale units squared).
    pub temperature: f64,
    /// The bandwidth target sits this far below the measured bandwidth (bandwidth-scale units;
    /// 0.1 is a factor of 2).
    pub margin: f64,
    pub latency_weight: f64,
    pub loss_weight: f64,
    /// Raises the target with the buffer level (buffer measured as a share of the 60 s cap).
    pub buffer_weight: f64,
    /// Strength of the screen-resolution match.
    pub resolution_weight: f64,
    /// Penalty for decode load on weak devices.
    pub compute_weight: f64,
    /// Preference for high resolutions on large devices (TV, VR).
    pub device_weight: f64,
    pub selection: Selection,
    /// Seed of [`Selection::Draw`].
    pub seed: u64,
}

impl Default for MixingConfig {
    fn default() -> Self {
        Self {
            temperature: 0.0001,
            margin: 0.12,
            latency_weight: 0.02,
            loss_weight: 0.05,
            buffer_weight: 0.35,
            resolution_weight: 0.01,
            compute_weight: 0.01,
            device_weight: 0.005,
            selection: Selection::Dither,
            seed: 1,
        }
    }
}

/// The mixing-matrix policy.
#[derive(Debug, Clone)]
pub struct MixingMatrix {
    cfg: MixingConfig,
    account: Vec<f64>,
    rng: Rng,
}

fn dot<const N: usize>(a: &[f64; N], b: &[f64; N]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

impl MixingMatrix {
    pub fn new(cfg: MixingConfig) -> Result<Self> {
        if !(cfg.temperature.is_finite() && cfg.temperature > 0.0) {
            return Err(Error::Config {
                field: "mixing temperature",
                value: cfg.temperature.to_string(),
                expected: "a positive number".into(),
            });
        }
        Ok(Self {
            cfg,
            account: Vec::new(),
            rng: Rng::new(cfg.seed),
        })
    }

    pub fn config(&self) -> &MixingConfig {
        &self.cfg
    }

    /// The client's soft capability vector `[screen, compute, device, 1]` (from
    /// [`ClientCaps::vector`]; decoders and maximum resolution are the hard mask instead).
    pub fn client_vector(client: &ClientCaps) -> [f64; CLIENT_DIMS] {
        let v = client.vector();
        [v[0], v[2], v[3], 1.0]
    }

    /// A bitstream's capability profile, paired with [`MixingMatrix::client_vector`]:
    /// `w_res (2 rho screen - rho^2) + w_cpu load (compute - 1) + w_dev rho device`.
    pub fn cluster_profile(&self, rung: &Rung) -> [f64; CLIENT_DIMS] {
        let rho = rung_resolution(rung);
        let load = rung_decode_load(rung);
        let c = &self.cfg;
        [
            2.0 * c.resolution_weight * rho,
            c.compute_weight * load,
            c.device_weight * rho,
            -c.resolution_weight * rho * rho - c.compute_weight * load,
        ]
    }

    /// The measured network vector `[bandwidth, latency, loss, buffer, 1]`, normalised.
    pub fn network_vector(state: &AbrState) -> [f64; MIXING_NETWORK_DIMS] {
        let n = state.network.normalised();
        let cap = 60.0;
        [n[0], n[1], n[2], (state.buffer_s / cap).min(1.0), 1.0]
    }

    /// A bitstream's network profile, paired with [`MixingMatrix::network_vector`].
    pub fn cluster_network_profile(&self, rung: &Rung) -> [f64; MIXING_NETWORK_DIMS] {
        let beta = bandwidth_unit(rung.bitrate_kbps / 1000.0);
        let c = &self.cfg;
        [
            2.0 * beta,
            -2.0 * c.latency_weight * beta,
            -2.0 * c.loss_weight * beta,
            2.0 * c.buffer_weight * beta,
            -beta * beta - 2.0 * c.margin * beta,
        ]
    }

    /// The diagonal of the mixing matrix: one weight per rung of the ladder, 0 for rungs the
    /// client cannot decode, summing to 1.
    pub fn weights(&self, state: &AbrState) -> Vec<f64> {
        let client = Self::client_vector(state.client);
        let network = Self::network_vector(state);
        let rungs = state.ladder.rungs();
        let relevance: Vec<(usize, f64)> = state
            .allowed
            .iter()
            .map(|&i| {
                let r = &rungs[i];
                (
                    i,
                    dot(&client, &self.cluster_profile(r))
                        + dot(&network, &self.cluster_network_profile(r)),
                )
            })
            .collect();
        let top = relevance
            .iter()
            .fold(f64::NEG_INFINITY, |m, &(_, r)| m.max(r));
        let mut weights = vec![0.0; rungs.len()];
        let mut total = 0.0;
        for &(i, r) in &relevance {
            weights[i] = ((r - top) / self.cfg.temperature).exp();
            total += weights[i];
        }
        weights.iter_mut().for_each(|w| *w /= total);
        weights
    }
}

impl AbrPolicy for MixingMatrix {
    fn name(&self) -> &str {
        "mixing"
    }

    fn reset(&mut self) {
        self.account.clear();
        self.rng = Rng::new(self.cfg.seed);
    }

    fn choose(&mut self, state: &AbrState) -> Choice {
        let weights = self.weights(state);
        let largest = |values: &[f64]| {
            state
                .allowed
                .iter()
                .copied()
                .fold(state.allowed[0], |best, i| {
                    if values[i] > values[best] {
                        i
                    } else {
                        best
                    }
                })
        };
        let rung = match self.cfg.selection {
            Selection::Argmax => largest(&weights),
            Selection::Draw => self.rng.weighted(&weights),
            Selection::Dither => {
                self.account.resize(weights.len(), 0.0);
                for (a, w) in self.account.iter_mut().zip(&weights) {
                    *a += w;
                }
                let pick = largest(&self.account);
                self.account[pick] -= 1.0;
                pick
            }
        };
        Choice::select(rung)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::testing::{capped_client, Fixture};

    fn argmax() -> MixingMatrix {
        MixingMatrix::new(MixingConfig {
            selection: Selection::Argmax,
            ..MixingConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn weights_are_a_distribution_peaked_near_the_bandwidth() {
        let f = Fixture::new(ClientCaps::default(), 1.3, 2);
        let w = argmax().weights(&f.state(0.0));
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        let best = (0..6).max_by(|&a, &b| w[a].total_cmp(&w[b])).unwrap();
        assert!((1..=2).contains(&best), "{w:?}");
    }

    #[test]
    fn low_buffer_high_throughput_and_capability_cap() {
        let mut p = argmax();
        let slow = Fixture::new(ClientCaps::default(), 0.4, 3);
        assert_eq!(
            p.choose(&slow.state(0.5)).rung,
            0,
            "low buffer, low throughput"
        );
        let fast = Fixture::new(ClientCaps::default(), 20.0, 0);
        assert_eq!(p.choose(&fast.state(20.0)).rung, 5, "high throughput");
        let capped = Fixture::new(capped_client(), 20.0, 0);
        let w = p.weights(&capped.state(20.0));
        assert_eq!(&w[2..], &[0.0; 4], "never what the client cannot decode");
        assert_eq!(p.choose(&capped.state(20.0)).rung, 1);
    }

    #[test]
    fn buffer_raises_the_choice() {
        let f = Fixture::new(ClientCaps::default(), 1.5, 2);
        let mut p = argmax();
        assert!(p.choose(&f.state(50.0)).rung > p.choose(&f.state(1.0)).rung);
    }

    #[test]
    fn dither_follows_the_weights_and_draw_is_seeded() {
        let f = Fixture::new(ClientCaps::default(), 1.5, 2);
        let state = f.state(6.0);
        let mut hot = MixingMatrix::new(MixingConfig {
            temperature: 0.05,
            ..MixingConfig::default()
        })
        .unwrap();
        let w = hot.weights(&state);
        let mut counts = [0usize; 6];
        for _ in 0..1000 {
            counts[hot.choose(&state).rung] += 1;
        }
        for i in 0..6 {
            assert!(
                (counts[i] as f64 - 1000.0 * w[i]).abs() <= 1.0 + 1e-9,
                "{counts:?} vs {w:?}"
            );
        }
        let draw = |seed| {
            let mut p = MixingMatrix::new(MixingConfig {
                temperature: 0.05,
                selection: Selection::Draw,
                seed,
                ..MixingConfig::default()
            })
            .unwrap();
            (0..50).map(|_| p.choose(&state).rung).collect::<Vec<_>>()
        };
        assert_eq!(draw(3), draw(3));
        assert_ne!(draw(3), draw(4));
    }

    #[test]
    fn screen_match_breaks_ties_between_equal_bitrates() {
        use crate::ladder::{Ladder, LadderFile, SegmentRow, VideoCodec, LADDER_FORMAT};
        // Two bitstreams at the same bitrate: 1080p and 480p. A phone with a 480p screen prefers
        // the 480p one, a TV the 1080p one.
        let rung = |id: &str, h: u32| Rung {
            id: id.into(),
            bitrate_kbps: 1500.0,
            codec: VideoCodec::H264,
            width: h * 16 / 9,
            height: h,
            fps: 30.0,
        };
        let ladder = Ladder::new(
            "eq",
            LadderFile {
                format: LADDER_FORMAT.into(),
                segment_duration_s: 4.0,
                rungs: vec![rung("1080p", 1080), rung("480p", 480)],
                segments: vec![
                    SegmentRow {
                        bytes: vec![750_000, 750_000],
                        vmaf: None,
                        ssim: None
                    };
                    3
                ],
            },
        )
        .unwrap();
        let p = argmax();
        let pick = |client: ClientCaps| {
            let mut f = Fixture::new(client, 2.0, 0);
            f.ladder = ladder.clone();
            f.allowed = f.client.allowed_rungs(&f.ladder);
            let w = p.weights(&f.state(10.0));
            if w[0] > w[1] {
                "1080p"
            } else {
                "480p"
            }
        };
        let phone = ClientCaps {
            screen_width: 854,
            screen_height: 480,
            device: bitswarm_core::DeviceClass::Mobile,
            ..ClientCaps::default()
        };
        assert_eq!(pick(phone), "480p");
        assert_eq!(pick(ClientCaps::preset("tv").unwrap()), "1080p");
    }
}
