//! Evaluation of a policy over a set of traces (a test set), on several threads.

use serde::{Deserialize, Serialize};

use crate::client::ClientCaps;
use crate::ladder::Ladder;
use crate::policy::AbrPolicy;
use crate::rng::Rng;
use crate::session::{run_session, SessionConfig, SessionResult};
use crate::trace::Trace;
use crate::{Error, Result};

/// Means over the traces of a set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub policy: String,
    pub traces: usize,
    /// Mean over traces of the session QoE (the figure Pensieve reports).
    pub mean_qoe: f64,
    /// Mean over traces of the mean bitrate of the scored chunks, kbit/s.
    pub mean_bitrate_kbps: f64,
    /// Mean over traces of the stall time, seconds.
    pub mean_rebuffer_s: f64,
    /// Mean over traces of the number of switches.
    pub mean_switches: f64,
}

impl Summary {
    pub fn of(policy: &str, sessions: &[SessionResult]) -> Summary {
        let n = sessions.len().max(1) as f64;
        let mean = |f: &dyn Fn(&SessionResult) -> f64| sessions.iter().map(f).sum::<f64>() / n;
        Summary {
            policy: policy.to_owned(),
            traces: sessions.len(),
            mean_qoe: mean(&|s| s.qoe),
            mean_bitrate_kbps: mean(&|s| s.bitrate_kbps),
            mean_rebuffer_s: mean(&|s| s.rebuffer_s),
            mean_switches: mean(&|s| s.switches as f64),
        }
    }
}

/// Plays every trace with a fresh policy from `make` (one per thread, reset per trace), the
/// trace at index `i` with random stream `i` of `cfg.seed`, so results do not depend on
/// `threads`. Returns the sessions in trace order.
pub fn evaluate<F>(
    make: F,
    traces: &[Trace],
    ladder: &Ladder,
    client: &ClientCaps,
    cfg: &SessionConfig,
    threads: usize,
) -> Result<Vec<SessionResult>>
where
    F: Fn() -> Result<Box<dyn AbrPolicy>> + Sync,
{
    if traces.is_empty() {
        return Err(Error::Config {
            field: "traces",
            value: "[]".into(),
            expected: "at least one trace".into(),
        });
    }
    let threads = threads.clamp(1, traces.len());
    let per_thread = traces.len().div_ceil(threads);
    let run_slice = |offset: usize, slice: &[Trace]| -> Result<Vec<SessionResult>> {
        let mut policy = make()?;
        slice
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let rng = Rng::stream(cfg.seed, (offset + i) as u64);
                run_session(policy.as_mut(), t, ladder, client, cfg, rng)
            })
            .collect()
    };
    let parts: Vec<Result<Vec<SessionResult>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = traces
            .chunks(per_thread)
            .enumerate()
            .map(|(k, slice)| {
                let run_slice = &run_slice;
                scope.spawn(move || run_slice(k * per_thread, slice))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let mut all = Vec::with_capacity(traces.len());
    for part in parts {
        all.extend(part?);
    }
    Ok(all)
}
