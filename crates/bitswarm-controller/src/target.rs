//! Quality targets: for each chunk, the encoder setting (CRF, or QP for encoders without CRF)
//! whose measured quality (VMAF or SSIM) comes closest to a target, found with few probe
//! encodes. Each probe is a real encode of the chunk by the swarm; the search only proposes
//! settings and reads back what they achieved, so it runs the same in tests and in jobs.
//!
//! Two methods, compared in docs/BENCHMARKS.md:
//! - [`SearchMethod::Interpolate`] (default): starts from a hint (the setting chosen for the
//!   previous chunk of the same scene, else the profile's), steps by a slope (the secant of
//!   the probes so far, else a prior per metric), and once the target is bracketed
//!   interpolates linearly between the two nearest probes on either side.
//! - [`SearchMethod::Bisect`]: plain bisection over the encoder's whole range.
//!
//! Both stop when a probe lands within `tolerance` of the target, when the target is bracketed
//! by adjacent settings, at the end of the range, or after `max_probes`; the result is the
//! probe closest to the target (on a tie, the cheaper one). Quality is assumed to fall as the
//! setting rises, which holds for every encoder's CRF and QP in practice.

use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};

use bitswarm_core::{EncoderKind, RateControl};

/// The metric a target is given in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetMetric {
    /// VMAF v0.6.1, mean over the chunk's frames (0-100).
    Vmaf,
    /// SSIM over all planes, mean over the chunk's frames (0-1).
    Ssim,
}

impl TargetMetric {
    pub fn name(self) -> &'static str {
        match self {
            TargetMetric::Vmaf => "vmaf",
            TargetMetric::Ssim => "ssim",
        }
    }

    /// The default tolerance: half a VMAF point, 0.001 SSIM.
    pub fn default_tolerance(self) -> f64 {
        match self {
            TargetMetric::Vmaf => 0.5,
            TargetMetric::Ssim => 0.001,
        }
    }

    /// Quality lost per step of an H.264 QP, before any probe tells better (a typical value
    /// near VMAF 90 / SSIM 0.97 on our clips).
    fn prior_slope(self) -> f64 {
        match self {
            TargetMetric::Vmaf => 1.5,
            TargetMetric::Ssim => 0.003,
        }
    }

    fn valid(self) -> RangeInclusive<f64> {
        match self {
            TargetMetric::Vmaf => 1.0..=100.0,
            TargetMetric::Ssim => 0.1..=1.0,
        }
    }
}

/// How probes are chosen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchMethod {
    #[default]
    Interpolate,
    Bisect,
}

/// A quality target (`[target]` in the TOML configuration, `encode --target-vmaf`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    pub metric: TargetMetric,
    pub value: f64,
    /// A probe this close to the target ends the search [default: 0.5 VMAF, 0.001 SSIM].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance: Option<f64>,
    #[serde(default)]
    pub search: SearchMethod,
    /// Probe encodes per chunk, at most.
    #[serde(default = "default_max_probes")]
    pub max_probes: u32,
}

fn default_max_probes() -> u32 {
    8
}

impl TargetConfig {
    /// A target of `value` in `metric` with the defaults.
    pub fn new(metric: TargetMetric, value: f64) -> Self {
        Self {
            metric,
            value,
            tolerance: None,
            search: SearchMethod::default(),
            max_probes: default_max_probes(),
        }
    }

    pub fn tolerance(&self) -> f64 {
        self.tolerance
            .unwrap_or_else(|| self.metric.default_tolerance())
    }

    pub fn validate(&self) -> crate::Result<()> {
        let valid = self.metric.valid();
        if !valid.contains(&self.value) {
            return Err(crate::Error::Config(format!(
                "target: invalid {} target {} (expected {}..={})",
                self.metric.name(),
                self.value,
                valid.start(),
                valid.end()
            )));
        }
        let tolerance = self.tolerance();
        if !(tolerance > 0.0 && tolerance <= valid.end() / 10.0) {
            return Err(crate::Error::Config(format!(
                "target: invalid tolerance {tolerance} (expected 0 < tolerance <= {})",
                valid.end() / 10.0
            )));
        }
        if !(1..=32).contains(&self.max_probes) {
            return Err(crate::Error::Config(format!(
                "target: invalid max_probes {} (expected 1..=32)",
                self.max_probes
            )));
        }
        Ok(())
    }
}

/// The setting a search varies for `encoder`: CRF where the encoder has it, else QP; and its
/// valid range.
pub fn search_range(encoder: EncoderKind) -> (fn(u8) -> RateControl, RangeInclusive<u8>) {
    match encoder.crf_range() {
        Some(range) => (|crf| RateControl::Crf { crf }, range),
        None => (|qp| RateControl::Qp { qp }, encoder.qp_range()),
    }
}

/// The CRF or QP of a rate control, if it has one.
pub fn setting_of(rate: RateControl) -> Option<u8> {
    match rate {
        RateControl::Crf { crf } => Some(crf),
        RateControl::Qp { qp } => Some(qp),
        RateControl::Bitrate { .. } => None,
    }
}

/// One probe encode and what it achieved.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    /// The CRF or QP.
    pub setting: u8,
    pub quality: f64,
    pub bytes: u64,
}

/// What to do after a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Encode the chunk again with this setting.
    Probe(u8),
    /// Done: the result is probe number `n` (in the order observed).
    Done(usize),
}

/// The search of one chunk.
#[derive(Debug, Clone)]
pub struct TargetSearch {
    cfg: TargetConfig,
    range: RangeInclusive<u8>,
    /// Quality lost per setting step before any probe tells better.
    prior_slope: f64,
    first: u8,
    probes: Vec<Probe>,
    /// Bisection's interval still open.
    low: u8,
    high: u8,
}

impl TargetSearch {
    /// A search over `range` (from [`search_range`]); `hint` is where the interpolating
    /// search starts (bisection ignores it and starts in the middle).
    pub fn new(cfg: TargetConfig, range: RangeInclusive<u8>, hint: Option<u8>) -> Self {
        let (low, high) = (*range.start(), *range.end());
        let middle = low + (high - low) / 2;
        let first = match cfg.search {
            SearchMethod::Interpolate => hint.map_or(middle, |h| h.clamp(low, high)),
            SearchMethod::Bisect => middle,
        };
        // The prior is per H.264 QP step; AV1's 0..=63 scale has smaller steps.
        let prior_slope = cfg.metric.prior_slope() * 51.0 / f64::from(high - low).max(1.0);
        Self {
            cfg,
            range,
            prior_slope,
            first,
            probes: Vec::new(),
            low,
            high,
        }
    }

    /// The setting of the first probe.
    pub fn first(&self) -> u8 {
        self.first
    }

    /// Every probe observed so far.
    pub fn probes(&self) -> &[Probe] {
        &self.probes
    }

    /// The probe closest to the target; on a tie, the cheaper.
    pub fn best(&self) -> Option<usize> {
        let target = self.cfg.value;
        (0..self.probes.len()).min_by(|&a, &b| {
            let (pa, pb) = (&self.probes[a], &self.probes[b]);
            (pa.quality - target)
                .abs()
                .total_cmp(&(pb.quality - target).abs())
                .then(pa.bytes.cmp(&pb.bytes))
        })
    }

    /// Records what the last proposed probe achieved and says what to do next.
    pub fn observe(&mut self, probe: Probe) -> Step {
        self.probes.push(probe);
        let best = self.best().expect("a probe was just added");
        let target = self.cfg.value;
        if (probe.quality - target).abs() <= self.cfg.tolerance()
            || self.probes.len() >= self.cfg.max_probes as usize
        {
            return Step::Done(best);
        }
        let next = match self.cfg.search {
            SearchMethod::Bisect => self.bisect(probe),
            SearchMethod::Interpolate => self.interpolate(),
        };
        match next {
            Some(setting) if !self.tried(setting) => Step::Probe(setting),
            _ => Step::Done(best),
        }
    }

    fn tried(&self, setting: u8) -> bool {
        self.probes.iter().any(|p| p.setting == setting)
    }

    fn bisect(&mut self, probe: Probe) -> Option<u8> {
        if probe.quality > self.cfg.value {
            self.low = probe.setting.checked_add(1)?;
        } else {
            self.high = probe.setting.checked_sub(1)?;
        }
        (self.low <= self.high).then(|| self.low + (self.high - self.low) / 2)
    }

    fn interpolate(&self) -> Option<u8> {
        let target = self.cfg.value;
        // The nearest probes on the good side (quality above the target: a higher setting
        // would do) and on the bad side.
        let good = self
            .probes
            .iter()
            .filter(|p| p.quality > target)
            .max_by_key(|p| p.setting);
        let bad = self
            .probes
            .iter()
            .filter(|p| p.quality <= target)
            .min_by_key(|p| p.setting);
        let (low, high) = (*self.range.start(), *self.range.end());
        match (good, bad) {
            (Some(g), Some(b)) => {
                if b.setting <= g.setting + 1 {
                    return None;
                }
                let share = (g.quality - target) / (g.quality - b.quality).max(f64::EPSILON);
                let at = f64::from(g.setting) + share * f64::from(b.setting - g.setting);
                Some((at.round() as u8).clamp(g.setting + 1, b.setting - 1))
            }
            (Some(from), None) | (None, Some(from)) => {
                let slope = self.slope();
                let steps = ((from.quality - target) / slope).round().clamp(-16.0, 16.0);
                // At least one step in the direction that moves toward the target.
                let steps = if steps == 0.0 {
                    (from.quality - target).signum()
                } else {
                    steps
                };
                let at = (f64::from(from.setting) + steps).clamp(f64::from(low), f64::from(high));
                Some(at as u8)
            }
            (None, None) => None,
        }
    }

    /// Quality lost per setting step: the secant of the two probes farthest apart, when it
    /// is plausible (quality falling as the setting rises), else the prior.
    fn slope(&self) -> f64 {
        let lowest = self.probes.iter().min_by_key(|p| p.setting);
        let highest = self.probes.iter().max_by_key(|p| p.setting);
        match (lowest, highest) {
            (Some(a), Some(b)) if b.setting > a.setting && a.quality > b.quality => {
                (a.quality - b.quality) / f64::from(b.setting - a.setting)
            }
            _ => self.prior_slope,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A synthetic chunk: VMAF falls by `slope` per QP step from 100 at QP `zero`, and bytes
    /// halve every 6 steps.
    fn chunk(zero: f64, slope: f64) -> impl Fn(u8) -> Probe {
        move |q| Probe {
            setting: q,
            quality: (100.0 - slope * (f64::from(q) - zero).max(0.0)).clamp(0.0, 100.0),
            bytes: (1e6 * 0.5f64.powf(f64::from(q) / 6.0)) as u64,
        }
    }

    fn run(search: &mut TargetSearch, encode: &impl Fn(u8) -> Probe) -> Probe {
        let mut setting = search.first();
        loop {
            match search.observe(encode(setting)) {
                Step::Probe(next) => setting = next,
                Step::Done(i) => return search.probes()[i],
            }
        }
    }

    fn cfg(search: SearchMethod) -> TargetConfig {
        TargetConfig {
            search,
            ..TargetConfig::new(TargetMetric::Vmaf, 93.0)
        }
    }

    #[test]
    fn interpolation_finds_the_target_in_fewer_probes_than_bisection() {
        let (mut probes, mut bisect_probes) = (0, 0);
        for (zero, slope) in [
            (10.0, 0.8),
            (14.0, 1.2),
            (20.0, 1.7),
            (5.0, 0.6),
            (25.0, 2.3),
        ] {
            let encode = chunk(zero, slope);
            // The best any integer setting can do, or the tolerance if that is looser.
            let reachable = (0..=51u8)
                .map(|q| (encode(q).quality - 93.0).abs())
                .fold(f64::INFINITY, f64::min)
                .max(0.5);
            let mut interpolate =
                TargetSearch::new(cfg(SearchMethod::Interpolate), 0..=51, Some(26));
            let mut bisect = TargetSearch::new(cfg(SearchMethod::Bisect), 0..=51, Some(26));
            for (search, name) in [(&mut interpolate, "interpolate"), (&mut bisect, "bisect")] {
                let got = run(search, &encode);
                assert!(
                    (got.quality - 93.0).abs() <= reachable + 1e-9,
                    "{name}, slope {slope}: {got:?}"
                );
            }
            probes += interpolate.probes().len();
            bisect_probes += bisect.probes().len();
        }
        assert!(probes < bisect_probes, "{probes} vs {bisect_probes}");
    }

    #[test]
    fn a_good_hint_needs_one_probe_and_bisection_starts_in_the_middle() {
        let encode = chunk(14.0, 1.0);
        // QP 21 gives exactly 93.
        let mut s = TargetSearch::new(cfg(SearchMethod::Interpolate), 0..=51, Some(21));
        assert_eq!(s.observe(encode(s.first())), Step::Done(0));
        let b = TargetSearch::new(cfg(SearchMethod::Bisect), 0..=51, Some(21));
        assert_eq!(b.first(), 25);
    }

    #[test]
    fn an_unreachable_target_stops_at_the_end_of_the_range() {
        // Never above 90: the best is the lowest setting, and the search stops there.
        let encode = |q: u8| Probe {
            setting: q,
            quality: 90.0 - f64::from(q) * 0.1,
            bytes: 1000 - u64::from(q),
        };
        for method in [SearchMethod::Interpolate, SearchMethod::Bisect] {
            let mut s = TargetSearch::new(cfg(method), 0..=51, Some(30));
            let got = run(&mut s, &encode);
            assert_eq!(got.setting, 0, "{method:?}");
            assert!(s.probes().len() <= 8);
        }
    }

    #[test]
    fn max_probes_bounds_the_search_and_the_closest_probe_wins() {
        let encode = chunk(0.0, 0.1);
        let mut s = TargetSearch::new(
            TargetConfig {
                max_probes: 2,
                ..cfg(SearchMethod::Interpolate)
            },
            0..=51,
            Some(10),
        );
        let got = run(&mut s, &encode);
        assert_eq!(s.probes().len(), 2);
        let closest = s
            .probes()
            .iter()
            .map(|p| (p.quality - 93.0).abs())
            .fold(f64::INFINITY, f64::min);
        assert_eq!((got.quality - 93.0).abs(), closest);
    }

    #[test]
    fn targets_are_validated_with_the_range_in_the_message() {
        let bad = TargetConfig::new(TargetMetric::Ssim, 93.0);
        assert_eq!(
            bad.validate().unwrap_err().to_string(),
            "invalid configuration: target: invalid ssim target 93 (expected 0.1..=1)"
        );
        assert!(TargetConfig::new(TargetMetric::Vmaf, 93.0)
            .validate()
            .is_ok());
        let (rate, range) = search_range(EncoderKind::OpenH264);
        assert_eq!((rate(30), range), (RateControl::Qp { qp: 30 }, 0..=51));
        let (rate, range) = search_range(EncoderKind::SvtAv1);
        assert_eq!((rate(30), range), (RateControl::Crf { crf: 30 }, 1..=63));
    }
}
