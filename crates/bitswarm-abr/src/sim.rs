//! The trace-driven download simulator, with the semantics of Pensieve's (SIGCOMM 2017):
//! a chunk's bytes arrive at `goodput x payload share` over the trace's intervals, one RTT is
//! added per chunk, the buffer drains while a chunk downloads (a stall when it runs dry) and
//! gains one segment when it arrives, the client sleeps in fixed steps while the buffer is above
//! its cap (trace time passes, nothing downloads), and the trace wraps around at its end.
//! No clock and no I/O: time is the trace's.

use serde::{Deserialize, Serialize};

use crate::ladder::Ladder;
use crate::network::{goodput_mbps, LinkModel};
use crate::rng::Rng;
use crate::trace::Trace;
use crate::{Error, Result};

/// Simulator settings; the default is Pensieve's test environment.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimConfig {
    /// Share of the link's bytes that is payload (headers take the rest).
    pub payload_share: f64,
    /// The client stops requesting while its buffer holds more than this, seconds.
    pub buffer_cap_s: f64,
    /// It then sleeps in steps of this length, seconds.
    pub sleep_step_s: f64,
    /// Latency and loss where the trace has no such columns.
    pub link: LinkModel,
    /// Start at a random sample of the trace (Pensieve's training) instead of its beginning.
    pub random_start: bool,
    /// Multiply each download time by a uniform factor in this range (Pensieve's training
    /// uses 0.9..1.1); `None` for none.
    pub delay_noise: Option<(f64, f64)>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            payload_share: 0.95,
            buffer_cap_s: 60.0,
            sleep_step_s: 0.5,
            link: LinkModel::default(),
            random_start: false,
            delay_noise: None,
        }
    }
}

impl SimConfig {
    /// Pensieve's training environment: random start in the trace, download-time noise 0.9..1.1.
    pub fn training() -> Self {
        Self {
            random_start: true,
            delay_noise: Some((0.9, 1.1)),
            ..Self::default()
        }
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |field: &'static str, value: f64, expected: &str| {
            Err(Error::Config {
                field,
                value: value.to_string(),
                expected: expected.into(),
            })
        };
        if !(self.payload_share > 0.0 && self.payload_share <= 1.0) {
            return bad("payload_share", self.payload_share, "a fraction in (0, 1]");
        }
        if !(self.buffer_cap_s.is_finite() && self.buffer_cap_s > 0.0) {
            return bad(
                "buffer_cap_s",
                self.buffer_cap_s,
                "a positive number of seconds",
            );
        }
        if !(self.sleep_step_s.is_finite() && self.sleep_step_s > 0.0) {
            return bad(
                "sleep_step_s",
                self.sleep_step_s,
                "a positive number of seconds",
            );
        }
        if let Some((lo, hi)) = self.delay_noise {
            if !(lo > 0.0 && hi >= lo && hi.is_finite()) {
                return bad("delay_noise low", lo, "0 < low <= high");
            }
        }
        self.link.validate()
    }
}

/// What one chunk download did.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Download {
    /// Index of the chunk in the video (0-based).
    pub chunk: usize,
    pub rung: usize,
    pub bytes: u64,
    /// From request to last byte, including the RTT, seconds.
    pub download_s: f64,
    /// Stall while this chunk downloaded, seconds.
    pub rebuffer_s: f64,
    /// Buffer once the chunk arrived and any sleep ended, seconds.
    pub buffer_s: f64,
    /// Time slept after this chunk because the buffer was above its cap, seconds.
    pub sleep_s: f64,
    /// Round-trip time of the request, ms.
    pub rtt_ms: f64,
    /// Time-weighted loss rate during the download.
    pub loss: f64,
    /// `bytes / download_s`, Mbit/s: what the client measures.
    pub throughput_mbps: f64,
}

/// One playback of a ladder over a trace.
#[derive(Debug, Clone)]
pub struct Simulator<'a> {
    trace: &'a Trace,
    ladder: &'a Ladder,
    cfg: SimConfig,
    chunks: usize,
    ptr: usize,
    last_time: f64,
    buffer_s: f64,
    next_chunk: usize,
    clock_s: f64,
    rng: Rng,
}

impl<'a> Simulator<'a> {
    /// A playback of the first `chunks` segments of `ladder`; `rng` drives the random start
    /// and the noise when the configuration asks for them.
    pub fn new(
        trace: &'a Trace,
        ladder: &'a Ladder,
        cfg: SimConfig,
        chunks: usize,
        mut rng: Rng,
    ) -> Result<Self> {
        cfg.validate()?;
        if chunks == 0 || chunks > ladder.segment_count() {
            return Err(Error::Config {
                field: "chunks",
                value: chunks.to_string(),
                expected: format!(
                    "1..={} (the segments of ladder {})",
                    ladder.segment_count(),
                    ladder.name()
                ),
            });
        }
        let ptr = if cfg.random_start {
            rng.below(1, trace.len())
        } else {
            1
        };
        Ok(Self {
            trace,
            ladder,
            cfg,
            chunks,
            ptr,
            last_time: trace.time_s(ptr - 1),
            buffer_s: 0.0,
            next_chunk: 0,
            clock_s: 0.0,
            rng,
        })
    }

    /// Moves to the next trace sample, wrapping to the start after the last one.
    fn advance_sample(&mut self) {
        self.last_time = self.trace.time_s(self.ptr);
        self.ptr += 1;
        if self.ptr >= self.trace.len() {
            self.ptr = 1;
            self.last_time = self.trace.time_s(0);
        }
    }

    fn link_at(&self, i: usize) -> (f64, f64) {
        (
            self.trace.rtt_ms(i).unwrap_or(self.cfg.link.rtt_ms),
            self.trace.loss(i).unwrap_or(self.cfg.link.loss),
        )
    }

    /// Downloads the next chunk at `rung`.
    pub fn download(&mut self, rung: usize) -> Result<Download> {
        if self.next_chunk >= self.chunks {
            return Err(Error::SessionOver {
                chunks: self.chunks,
            });
        }
        if rung >= self.ladder.rung_count() {
            return Err(Error::Config {
                field: "rung",
                value: rung.to_string(),
                expected: format!(
                    "0..{} (the rungs of ladder {})",
                    self.ladder.rung_count(),
                    self.ladder.name()
                ),
            });
        }
        let chunk = self.next_chunk;
        let bytes = self.ladder.bytes(chunk, rung);
        let size = bytes as f64;
        let (rtt_ms, _) = self.link_at(self.ptr);
        let mut sent = 0.0;
        let mut elapsed = 0.0;
        let mut loss_time = 0.0;
        loop {
            let (rtt_i, loss_i) = self.link_at(self.ptr);
            let rate = goodput_mbps(self.trace.mbps(self.ptr), rtt_i, loss_i) * 1e6 / 8.0
                * self.cfg.payload_share;
            let duration = self.trace.time_s(self.ptr) - self.last_time;
            let payload = rate * duration;
            if sent + payload > size {
                let fraction = (size - sent) / rate;
                elapsed += fraction;
                loss_time += fraction * loss_i;
                self.last_time += fraction;
                break;
            }
            sent += payload;
            elapsed += duration;
            loss_time += duration * loss_i;
            self.advance_sample();
        }
        let loss = if elapsed > 0.0 {
            loss_time / elapsed
        } else {
            0.0
        };
        let mut download_s = elapsed + rtt_ms / 1000.0;
        if let Some((lo, hi)) = self.cfg.delay_noise {
            download_s *= self.rng.range(lo, hi);
        }
        let rebuffer_s = (download_s - self.buffer_s).max(0.0);
        self.buffer_s = (self.buffer_s - download_s).max(0.0) + self.ladder.segment_s();
        let mut sleep_s = 0.0;
        if self.buffer_s > self.cfg.buffer_cap_s {
            let steps = ((self.buffer_s - self.cfg.buffer_cap_s) / self.cfg.sleep_step_s).ceil();
            sleep_s = steps * self.cfg.sleep_step_s;
            self.buffer_s -= sleep_s;
            self.pass_time(sleep_s);
        }
        self.clock_s += download_s + sleep_s;
        self.next_chunk += 1;
        Ok(Download {
            chunk,
            rung,
            bytes,
            download_s,
            rebuffer_s,
            buffer_s: self.buffer_s,
            sleep_s,
            rtt_ms,
            loss,
            throughput_mbps: size * 8.0 / 1e6 / download_s,
        })
    }

    /// Lets `seconds` of trace time pass without downloading.
    fn pass_time(&mut self, seconds: f64) {
        let mut remaining = seconds;
        loop {
            let duration = self.trace.time_s(self.ptr) - self.last_time;
            if duration > remaining {
                self.last_time += remaining;
                return;
            }
            remaining -= duration;
            self.advance_sample();
        }
    }

    pub fn buffer_s(&self) -> f64 {
        self.buffer_s
    }

    /// Index of the next chunk to download.
    pub fn next_chunk(&self) -> usize {
        self.next_chunk
    }

    /// Chunks in this playback.
    pub fn chunks(&self) -> usize {
        self.chunks
    }

    pub fn is_done(&self) -> bool {
        self.next_chunk >= self.chunks
    }

    /// Virtual time since the first request: downloads plus sleeps, seconds.
    pub fn clock_s(&self) -> f64 {
        self.clock_s
    }

    pub fn ladder(&self) -> &'a Ladder {
        self.ladder
    }

    pub fn trace(&self) -> &'a Trace {
        self.trace
    }
}
