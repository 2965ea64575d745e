//! Pooling per-frame scores into one figure per field: mean, harmonic mean, 5th percentile,
//! minimum and maximum.
//!
//! * `mean`: arithmetic mean over frames.
//! * `harmonic_mean`: libvmaf's definition, `n / sum(1 / (x + 1)) - 1`, which tolerates zeros
//!   and weighs bad frames more than the mean does.
//! * `p5`: 5th percentile, linear interpolation between the two nearest ranks (rank
//!   `0.05 * (n - 1)` of the sorted values, as NumPy's default).
//!
//! The percentile needs every value, so a pool keeps 8 bytes per frame and field; frames
//! themselves are never kept.

use serde::Serialize;

/// Pooled statistics of one field over all frames.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldSummary {
    pub name: &'static str,
    pub mean: f64,
    pub harmonic_mean: f64,
    pub p5: f64,
    pub min: f64,
    pub max: f64,
}

/// A figure pooled in a metric-specific way (PSNR of the mean MSE, as FFmpeg reports).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Aggregate {
    pub name: &'static str,
    pub value: f64,
}

/// What [`crate::Metric::finish`] returns: statistics of every field over every frame.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub metric: &'static str,
    pub frames: u64,
    pub fields: Vec<FieldSummary>,
    /// Extra figures with their own pooling (see each metric); empty for most metrics.
    pub aggregates: Vec<Aggregate>,
}

impl Summary {
    /// The pooled statistics of the field `name`, if this metric has one.
    pub fn field(&self, name: &str) -> Option<&FieldSummary> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The aggregate `name`, if this metric has one.
    pub fn aggregate(&self, name: &str) -> Option<f64> {
        self.aggregates
            .iter()
            .find(|a| a.name == name)
            .map(|a| a.value)
    }
}

/// Running pool of the values of one field.
#[derive(Debug, Clone, Default)]
pub struct Pool {
    values: Vec<f64>,
    sum: f64,
    inverse_sum: f64,
}

impl Pool {
    pub fn add(&mut self, value: f64) {
        self.values.push(value);
        self.sum += value;
        self.inverse_sum += 1.0 / (value + 1.0);
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The statistics so far; `None` before the first value.
    pub fn summary(&self, name: &'static str) -> Option<FieldSummary> {
        if self.values.is_empty() {
            return None;
        }
        let n = self.values.len() as f64;
        let mut sorted = self.values.clone();
        sorted.sort_by(f64::total_cmp);
        Some(FieldSummary {
            name,
            mean: self.sum / n,
            harmonic_mean: n / self.inverse_sum - 1.0,
            p5: percentile(&sorted, 5.0),
            min: sorted[0],
            max: sorted[sorted.len() - 1],
        })
    }
}

/// Percentile `p` (0..=100) of sorted values, interpolating between the nearest ranks.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = p / 100.0 * (sorted.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_of_known_values() {
        let mut pool = Pool::default();
        assert!(pool.summary("x").is_none());
        for v in [3.0, 1.0, 0.0, 2.0, 4.0] {
            pool.add(v);
        }
        let s = pool.summary("x").unwrap();
        assert_eq!(s.mean, 2.0);
        assert_eq!((s.min, s.max), (0.0, 4.0));
        // Rank 0.05 * 4 = 0.2 between 0 and 1.
        assert!((s.p5 - 0.2).abs() < 1e-12);
        // 5 / (1 + 1/2 + 1/3 + 1/4 + 1/5) - 1.
        let expected = 5.0 / (1.0 + 0.5 + 1.0 / 3.0 + 0.25 + 0.2) - 1.0;
        assert!((s.harmonic_mean - expected).abs() < 1e-12);
        assert!(s.harmonic_mean < s.mean);
    }

    #[test]
    fn one_value_is_every_statistic() {
        let mut pool = Pool::default();
        pool.add(87.5);
        let s = pool.summary("vmaf").unwrap();
        assert_eq!([s.mean, s.p5, s.min, s.max], [87.5; 4]);
        assert!((s.harmonic_mean - 87.5).abs() < 1e-9);
    }
}
