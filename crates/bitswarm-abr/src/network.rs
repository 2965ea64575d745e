//! The latency and packet-loss model that sits beside a throughput trace, and the normalised
//! network-condition vector (bandwidth, latency, loss) a client measures.
//!
//! A trace sample's throughput is the link's capacity. With loss rate `p` and round-trip time
//! `rtt`, a TCP-like transfer gets at most the Mathis et al. rate `MSS / rtt * sqrt(3 / (2p))`
//! and loses a share `p` of what it sends to retransmissions:
//! `goodput = min(capacity, mathis) * (1 - p)`; every chunk request also waits one `rtt`.
//! With `p = 0` and `rtt = 80 ms` this is exactly Pensieve's download model.

use serde::{Deserialize, Serialize};

use crate::sim::Download;
use crate::{Error, Result};

/// Segment size the loss model assumes, bytes (Pensieve's packet size).
pub const MSS_BYTES: f64 = 1500.0;

/// Latency and loss of a link when the trace does not record them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LinkModel {
    /// Round-trip time added to every chunk download, ms.
    pub rtt_ms: f64,
    /// Packet loss rate, a fraction in [0, 1).
    pub loss: f64,
}

impl Default for LinkModel {
    /// Pensieve's link: 80 ms RTT, no loss.
    fn default() -> Self {
        Self {
            rtt_ms: 80.0,
            loss: 0.0,
        }
    }
}

impl LinkModel {
    pub fn validate(&self) -> Result<()> {
        if !(self.rtt_ms.is_finite() && self.rtt_ms >= 0.0) {
            return Err(Error::Config {
                field: "link rtt_ms",
                value: self.rtt_ms.to_string(),
                expected: "a non-negative number of milliseconds".into(),
            });
        }
        if !(0.0..1.0).contains(&self.loss) {
            return Err(Error::Config {
                field: "link loss",
                value: self.loss.to_string(),
                expected: "a fraction in [0, 1)".into(),
            });
        }
        Ok(())
    }
}

/// Goodput in Mbit/s of a link of `capacity_mbps` with this RTT and loss (before the payload
/// share): the capacity when `loss` is 0.
pub fn goodput_mbps(capacity_mbps: f64, rtt_ms: f64, loss: f64) -> f64 {
    if loss <= 0.0 {
        return capacity_mbps;
    }
    let rtt_s = (rtt_ms / 1000.0).max(1e-3);
    let mathis = MSS_BYTES * 8.0 / 1e6 / rtt_s * (1.5 / loss).sqrt();
    capacity_mbps.min(mathis) * (1.0 - loss)
}

/// Length of [`NetworkVector::normalised`].
pub const NETWORK_DIMS: usize = 3;

/// Network conditions as a client measures them after a download.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NetworkVector {
    /// Throughput estimate: harmonic mean of the last (up to) 5 chunk throughputs, Mbit/s.
    pub bandwidth_mbps: f64,
    /// Round-trip time of the last request, ms.
    pub rtt_ms: f64,
    /// Loss rate seen during the last download.
    pub loss: f64,
}

/// Scale of the normalised bandwidth: log from 0.1 Mbit/s (0) to 100 Mbit/s (1).
pub const BANDWIDTH_SCALE_MBPS: (f64, f64) = (0.1, 100.0);
const RTT_SCALE_MS: (f64, f64) = (10.0, 1000.0);
const LOSS_SCALE: (f64, f64) = (1e-4, 0.1);

fn log_unit(x: f64, (lo, hi): (f64, f64)) -> f64 {
    if x <= lo {
        return 0.0;
    }
    ((x / lo).ln() / (hi / lo).ln()).min(1.0)
}

/// A bitrate or bandwidth in Mbit/s on the normalised bandwidth scale (0..1, log).
pub fn bandwidth_unit(mbps: f64) -> f64 {
    log_unit(mbps, BANDWIDTH_SCALE_MBPS)
}

/// Harmonic mean of the last `window` values of `xs` (all of them when fewer).
pub fn harmonic_mean_tail(xs: impl DoubleEndedIterator<Item = f64>, window: usize) -> Option<f64> {
    let (n, inv) = xs
        .rev()
        .take(window)
        .fold((0usize, 0.0), |(n, s), x| (n + 1, s + 1.0 / x));
    (n > 0).then(|| n as f64 / inv)
}

impl NetworkVector {
    /// The conditions measured over `history` (None before the first download).
    pub fn measure(history: &[Download]) -> Option<NetworkVector> {
        let last = history.last()?;
        Some(NetworkVector {
            bandwidth_mbps: harmonic_mean_tail(history.iter().map(|d| d.throughput_mbps), 5)?,
            rtt_ms: last.rtt_ms,
            loss: last.loss,
        })
    }

    /// `[bandwidth, latency, loss]`, each in [0, 1] on a log scale: bandwidth 0.1..100 Mbit/s,
    /// RTT 10..1000 ms, loss 1e-4..0.1 (0 below).
    pub fn normalised(&self) -> [f64; NETWORK_DIMS] {
        [
            bandwidth_unit(self.bandwidth_mbps),
            log_unit(self.rtt_ms, RTT_SCALE_MS),
            log_unit(self.loss, LOSS_SCALE),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goodput_without_loss_is_the_capacity_and_loss_caps_it() {
        assert_eq!(goodput_mbps(3.0, 80.0, 0.0), 3.0);
        // Mathis at 1% loss and 80 ms: 1500*8/0.08 * sqrt(150) = 1.837 Mbit/s, then x 0.99.
        let g = goodput_mbps(10.0, 80.0, 0.01);
        assert!(
            (g - 0.012 / 0.08 * 150f64.sqrt() * 0.99).abs() < 1e-9,
            "{g}"
        );
        assert_eq!(goodput_mbps(1.0, 80.0, 0.01), 0.99);
    }

    #[test]
    fn normalisation_and_harmonic_mean() {
        let v = NetworkVector {
            bandwidth_mbps: 100.0,
            rtt_ms: 5.0,
            loss: 0.0,
        };
        assert_eq!(v.normalised(), [1.0, 0.0, 0.0]);
        let v = NetworkVector {
            bandwidth_mbps: 1.0,
            rtt_ms: 100.0,
            loss: 0.1,
        };
        let n = v.normalised();
        assert!((n[0] - 1.0 / 3.0).abs() < 1e-12 && (n[1] - 0.5).abs() < 1e-12 && n[2] == 1.0);
        let hm = harmonic_mean_tail([9.0, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0].into_iter(), 5).unwrap();
        assert!((hm - 5.0 / (0.5 + 1.0)).abs() < 1e-12, "{hm}");
        assert_eq!(harmonic_mean_tail(std::iter::empty(), 5), None);
        assert_eq!(
            LinkModel {
                rtt_ms: 10.0,
                loss: 1.0
            }
            .validate()
            .unwrap_err()
            .to_string(),
            "invalid link loss 1 (expected a fraction in [0, 1))"
        );
    }
}
