//! ABR policies: one trait, each decision takes the state and returns the next choice.

mod bola;
mod buffer;
mod mixing;
mod mpc;
mod rate;

pub use bola::Bola;
pub use buffer::BufferBased;
pub use mixing::{MixingConfig, MixingMatrix, Selection, MIXING_NETWORK_DIMS};
pub use mpc::RobustMpc;
pub use rate::RateBased;

use crate::ladder::Ladder;
use crate::session::AbrState;
use crate::{Error, Result};

/// The decision for the next chunk.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Choice {
    /// Index of the rung (bitstream) to send.
    pub rung: usize,
    /// Cost of blending bitstreams for this chunk, charged `blend_lambda` per unit by QoE
    /// (0 for plain selection; the field exists for later blending levels).
    pub blend_cost: f64,
}

impl Choice {
    /// Plain selection of one rung.
    pub fn select(rung: usize) -> Self {
        Self {
            rung,
            blend_cost: 0.0,
        }
    }
}

/// An ABR policy. Policies know no sockets and no clock: all they know is in the state.
pub trait AbrPolicy: Send {
    fn name(&self) -> &str;
    /// Forgets everything learnt from a previous session.
    fn reset(&mut self);
    /// Chooses the next chunk; must return one of `state.allowed`.
    fn choose(&mut self, state: &AbrState) -> Choice;
    /// The rung of the first chunk, fetched before anything is measured, as an index among the
    /// client's allowed rungs (clamped to the highest). Default 1, Pensieve's `DEFAULT_QUALITY`
    /// (750 kbit/s on its ladder); [`SessionConfig::first_rung`](crate::SessionConfig) overrides it.
    fn startup_rung(&self) -> usize {
        DEFAULT_STARTUP_RUNG
    }
    /// Whether this policy can play `ladder` (a trained model fixes the number of rungs).
    fn check_ladder(&self, _ladder: &Ladder) -> Result<()> {
        Ok(())
    }
}

/// Startup rung of policies that do not choose their own (Pensieve's `DEFAULT_QUALITY`).
pub const DEFAULT_STARTUP_RUNG: usize = 1;

/// Names accepted by [`baseline_policy`].
pub const BASELINE_POLICIES: &[&str] = &["bb", "rate", "bola", "mpc", "mixing"];

/// A policy of this crate with its default settings, by name: `bb` (buffer-based), `rate`,
/// `bola`, `mpc` (RobustMPC) or `mixing` (the mixing-matrix policy).
pub fn baseline_policy(name: &str) -> Result<Box<dyn AbrPolicy>> {
    Ok(match name {
        "bb" => Box::new(BufferBased::default()),
        "rate" => Box::new(RateBased::default()),
        "bola" => Box::new(Bola::default()),
        "mpc" => Box::new(RobustMpc::default()),
        "mixing" => Box::new(MixingMatrix::new(MixingConfig::default())?),
        other => {
            return Err(Error::Config {
                field: "policy",
                value: format!("{other:?}"),
                expected: format!("one of {}", BASELINE_POLICIES.join(", ")),
            })
        }
    })
}

/// The highest allowed rung whose nominal bitrate is at most `mbps` (the lowest allowed one
/// when none is).
pub(crate) fn highest_within(state: &AbrState, mbps: f64) -> usize {
    state
        .allowed
        .iter()
        .rev()
        .copied()
        .find(|&r| state.ladder.mbps(r) <= mbps)
        .unwrap_or(state.allowed[0])
}

#[cfg(test)]
pub(crate) mod testing {
    //! Hand-made states for the policies' unit tests.
    use crate::client::ClientCaps;
    use crate::ladder::{Ladder, LadderFile, Rung, SegmentRow, VideoCodec, LADDER_FORMAT};
    use crate::network::NetworkVector;
    use crate::qoe::QoeConfig;
    use crate::sim::Download;

    /// Pensieve's six bitrates with constant-size 4 s segments (10 of them), 320x180..1920x1080.
    pub fn ladder() -> Ladder {
        let rates = [300.0, 750.0, 1200.0, 1850.0, 2850.0, 4300.0];
        let heights = [180, 360, 432, 576, 720, 1080];
        let rungs = rates
            .iter()
            .zip(heights)
            .enumerate()
            .map(|(i, (&kbps, h))| Rung {
                id: format!("r{i}"),
                bitrate_kbps: kbps,
                codec: VideoCodec::H264,
                width: h * 16 / 9,
                height: h,
                fps: 30.0,
            })
            .collect();
        let bytes: Vec<u64> = rates
            .iter()
            .map(|k| (k * 1000.0 / 8.0 * 4.0) as u64)
            .collect();
        Ladder::new(
            "test",
            LadderFile {
                format: LADDER_FORMAT.into(),
                segment_duration_s: 4.0,
                rungs,
                segments: vec![
                    SegmentRow {
                        bytes,
                        vmaf: None,
                        ssim: None
                    };
                    10
                ],
            },
        )
        .unwrap()
    }

    /// Past downloads at constant throughput `mbps`, all at `rung`.
    pub fn history(mbps: f64, rung: usize, n: usize) -> Vec<Download> {
        (0..n)
            .map(|chunk| Download {
                chunk,
                rung,
                bytes: 1_000_000,
                download_s: 8.0 / mbps,
                rebuffer_s: 0.0,
                buffer_s: 10.0,
                sleep_s: 0.0,
                rtt_ms: 80.0,
                loss: 0.0,
                throughput_mbps: mbps,
            })
            .collect()
    }

    pub struct Fixture {
        pub ladder: Ladder,
        pub client: ClientCaps,
        pub qoe: QoeConfig,
        pub allowed: Vec<usize>,
        pub history: Vec<crate::sim::Download>,
    }

    impl Fixture {
        pub fn new(client: ClientCaps, mbps: f64, last_rung: usize) -> Self {
            let ladder = ladder();
            let allowed = client.allowed_rungs(&ladder);
            Self {
                ladder,
                client,
                qoe: QoeConfig::default(),
                allowed,
                history: history(mbps, last_rung, 5),
            }
        }

        pub fn state(&self, buffer_s: f64) -> crate::session::AbrState<'_> {
            crate::session::AbrState {
                ladder: &self.ladder,
                client: &self.client,
                qoe: &self.qoe,
                allowed: &self.allowed,
                history: &self.history,
                next_chunk: self.history.len(),
                chunks: self.ladder.segment_count(),
                buffer_s,
                last_rung: self.history.last().unwrap().rung,
                network: NetworkVector::measure(&self.history).unwrap(),
            }
        }
    }

    /// A client limited to 640x360.
    pub fn capped_client() -> ClientCaps {
        ClientCaps {
            max_width: 640,
            max_height: 360,
            ..ClientCaps::default()
        }
    }
}
