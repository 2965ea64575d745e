//! The agent's observation of an [`AbrState`], as Pensieve's state plus bitswarm's vectors:
//! last rung, buffer, the last 8 throughputs and download times, the next chunk's size at every
//! rung, chunks left, the client capability vector, the network-condition vector and the mask
//! of rungs the client can decode.

use bitswarm_abr::{AbrState, CAPABILITY_DIMS, NETWORK_DIMS};

/// Version of the feature layout, stored in model files.
pub const FEATURE_VERSION: u32 = 1;
/// Past downloads the observation covers.
pub const HISTORY: usize = 8;

/// Length of the observation for a ladder of `rungs` rungs.
pub fn feature_dims(rungs: usize) -> usize {
    3 + 2 * HISTORY + CAPABILITY_DIMS + NETWORK_DIMS + 2 * rungs
}

/// The observation, every entry roughly in [0, 1] (Pensieve's scalings: throughput in MB/s,
/// times and buffer in units of 10 s, sizes in MB), oldest history first, zero-padded.
pub fn observe(state: &AbrState) -> Vec<f32> {
    let ladder = state.ladder;
    let rungs = ladder.rung_count();
    let mut x = Vec::with_capacity(feature_dims(rungs));
    x.push((ladder.mbps(state.last_rung) / ladder.mbps(rungs - 1)) as f32);
    x.push((state.buffer_s / 10.0) as f32);
    x.push((state.chunks_left() as f64 / state.chunks as f64) as f32);
    let start = state.history.len().saturating_sub(HISTORY);
    let recent = &state.history[start..];
    let pad = HISTORY - recent.len();
    x.extend(std::iter::repeat_n(0.0, pad));
    x.extend(recent.iter().map(|d| (d.throughput_mbps / 8.0) as f32));
    x.extend(std::iter::repeat_n(0.0, pad));
    x.extend(recent.iter().map(|d| (d.download_s / 10.0) as f32));
    x.extend((0..rungs).map(|r| state.bytes_ahead(0, r).unwrap_or(0) as f32 / 1e6));
    x.extend((0..rungs).map(|r| f32::from(u8::from(state.allowed.contains(&r)))));
    x.extend(state.client.vector().iter().map(|&v| v as f32));
    x.extend(state.network.normalised().iter().map(|&v| v as f32));
    debug_assert_eq!(x.len(), feature_dims(rungs));
    x
}
