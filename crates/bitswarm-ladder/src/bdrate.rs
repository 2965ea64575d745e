//! Bjontegaard delta rate (BD-rate): the mean rate difference of two rate-quality curves at
//! equal quality.
//!
//! Each curve is interpolated as log10(rate) against quality with a PCHIP (the monotone
//! piecewise cubic Hermite interpolant of Fritsch and Carlson, with the derivative formula of
//! Fritsch and Butland that MATLAB's and SciPy's `pchip` use), both are integrated exactly over
//! the quality interval where they overlap, and the mean difference of the logs gives the rate
//! ratio: `BD-rate = (10^(mean(log10 test - log10 reference)) - 1) x 100 %`. Negative means the
//! test curve needs fewer bits for the same quality.
//!
//! Callers pass the Pareto front (or the upper hull) of real encodes ([`crate::pareto_front`]):
//! rate must grow with quality along a curve, otherwise log-rate is not a function of quality.

use crate::{Error, Point, Result};

/// BD-rate of `test` against `reference`, in percent (negative: `test` saves bits).
///
/// Defined only when each curve has at least two points with distinct qualities and the two
/// quality intervals overlap in more than one value; every rate must be positive and finite.
pub fn bd_rate(reference: &[Point], test: &[Point]) -> Result<f64> {
    let reference = LogRateCurve::new("reference", reference)?;
    let test = LogRateCurve::new("test", test)?;
    let lo = reference.min_quality().max(test.min_quality());
    let hi = reference.max_quality().min(test.max_quality());
    if lo >= hi {
        return Err(Error::BdRate(format!(
            "the quality ranges do not overlap (reference {:.3}..{:.3}, test {:.3}..{:.3})",
            reference.min_quality(),
            reference.max_quality(),
            test.min_quality(),
            test.max_quality()
        )));
    }
    let mean_diff = (test.pchip.integral(lo, hi) - reference.pchip.integral(lo, hi)) / (hi - lo);
    Ok((10f64.powf(mean_diff) - 1.0) * 100.0)
}

/// log10(rate) as a function of quality.
struct LogRateCurve {
    pchip: Pchip,
}

impl LogRateCurve {
    fn new(name: &str, points: &[Point]) -> Result<Self> {
        if points.len() < 2 {
            return Err(Error::BdRate(format!(
                "the {name} curve has {} point(s); BD-rate needs at least 2",
                points.len()
            )));
        }
        if let Some(p) = points
            .iter()
            .find(|p| !(p.kbps > 0.0 && p.kbps.is_finite() && p.quality.is_finite()))
        {
            return Err(Error::BdRate(format!(
                "the {name} curve has point {} at {} kbit/s, quality {} (expected a positive \
                 finite rate and a finite quality)",
                p.id, p.kbps, p.quality
            )));
        }
        let mut sorted = points.to_vec();
        sorted.sort_by(|a, b| a.quality.total_cmp(&b.quality));
        if let Some(w) = sorted.windows(2).find(|w| w[0].quality == w[1].quality) {
            return Err(Error::BdRate(format!(
                "the {name} curve has two points at quality {} (points {} and {}; pass the \
                 Pareto front)",
                w[0].quality, w[0].id, w[1].id
            )));
        }
        let xs = sorted.iter().map(|p| p.quality).collect();
        let ys = sorted.iter().map(|p| p.kbps.log10()).collect();
        Ok(Self {
            pchip: Pchip::new(xs, ys),
        })
    }

    fn min_quality(&self) -> f64 {
        self.pchip.xs[0]
    }

    fn max_quality(&self) -> f64 {
        self.pchip.xs[self.pchip.xs.len() - 1]
    }
}

/// A monotone piecewise cubic Hermite interpolant through at least two points with strictly
/// increasing `xs` (the caller checks both).
struct Pchip {
    xs: Vec<f64>,
    ys: Vec<f64>,
    /// dy/dx at each knot.
    ds: Vec<f64>,
}

impl Pchip {
    fn new(xs: Vec<f64>, ys: Vec<f64>) -> Self {
        let n = xs.len();
        let h: Vec<f64> = xs.windows(2).map(|w| w[1] - w[0]).collect();
        let delta: Vec<f64> = (0..n - 1).map(|k| (ys[k + 1] - ys[k]) / h[k]).collect();
        let mut ds = vec![0.0; n];
        if n == 2 {
            // Two points: the straight line.
            ds = vec![delta[0]; 2];
        } else {
            for k in 1..n - 1 {
                // Zero slope at a local extremum or flat piece; otherwise the weighted harmonic
                // mean of the neighbouring secants (Fritsch-Butland), which keeps the
                // interpolant monotone between monotone data.
                if delta[k - 1] * delta[k] > 0.0 {
                    let w1 = 2.0 * h[k] + h[k - 1];
                    let w2 = h[k] + 2.0 * h[k - 1];
                    ds[k] = (w1 + w2) / (w1 / delta[k - 1] + w2 / delta[k]);
                }
            }
            ds[0] = end_slope(h[0], h[1], delta[0], delta[1]);
            ds[n - 1] = end_slope(h[n - 2], h[n - 3], delta[n - 2], delta[n - 3]);
        }
        Self { xs, ys, ds }
    }

    /// Index of the interval `[xs[k], xs[k+1]]` that holds `x` (clamped to the ends).
    fn segment(&self, x: f64) -> usize {
        let upper = self.xs.partition_point(|&knot| knot <= x);
        upper.saturating_sub(1).min(self.xs.len() - 2)
    }

    #[cfg(test)]
    fn eval(&self, x: f64) -> f64 {
        let k = self.segment(x);
        let h = self.xs[k + 1] - self.xs[k];
        let t = (x - self.xs[k]) / h;
        let (t2, t3) = (t * t, t * t * t);
        (2.0 * t3 - 3.0 * t2 + 1.0) * self.ys[k]
            + (t3 - 2.0 * t2 + t) * h * self.ds[k]
            + (-2.0 * t3 + 3.0 * t2) * self.ys[k + 1]
            + (t3 - t2) * h * self.ds[k + 1]
    }

    /// Integral of the Hermite cubic of segment `k` from its start to `x` (inside the segment).
    fn segment_integral(&self, k: usize, x: f64) -> f64 {
        let h = self.xs[k + 1] - self.xs[k];
        let t = (x - self.xs[k]) / h;
        let (t2, t3, t4) = (t * t, t * t * t, t * t * t * t);
        // Antiderivatives of the Hermite basis h00, h10, h01, h11 in t.
        let a00 = t4 / 2.0 - t3 + t;
        let a10 = t4 / 4.0 - 2.0 * t3 / 3.0 + t2 / 2.0;
        let a01 = -t4 / 2.0 + t3;
        let a11 = t4 / 4.0 - t3 / 3.0;
        h * (a00 * self.ys[k]
            + a10 * h * self.ds[k]
            + a01 * self.ys[k + 1]
            + a11 * h * self.ds[k + 1])
    }

    /// Exact integral over `[a, b]`, `xs[0] <= a <= b <= xs[n-1]`.
    fn integral(&self, a: f64, b: f64) -> f64 {
        let (ka, kb) = (self.segment(a), self.segment(b));
        let mut total = -self.segment_integral(ka, a);
        for k in ka..kb {
            total += self.segment_integral(k, self.xs[k + 1]);
        }
        total + self.segment_integral(kb, b)
    }
}

/// Slope at an end knot: the one-sided three-point estimate, set to zero when its sign differs
/// from the first secant's and limited to three times that secant when the data turn, so that
/// the end segment neither overshoots nor changes direction.
fn end_slope(h0: f64, h1: f64, delta0: f64, delta1: f64) -> f64 {
    let d = ((2.0 * h0 + h1) * delta0 - h0 * delta1) / (h0 + h1);
    if d * delta0 <= 0.0 {
        0.0
    } else if delta0 * delta1 <= 0.0 && d.abs() > 3.0 * delta0.abs() {
        3.0 * delta0
    } else {
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curve(list: &[(f64, f64)]) -> Vec<Point> {
        list.iter()
            .enumerate()
            .map(|(id, &(kbps, quality))| Point { kbps, quality, id })
            .collect()
    }

    const REFERENCE: [(f64, f64); 4] =
        [(400.0, 70.0), (800.0, 80.0), (1600.0, 88.0), (3000.0, 93.0)];

    #[test]
    fn identical_curves_give_zero() {
        let r = curve(&REFERENCE);
        assert_eq!(bd_rate(&r, &r).unwrap(), 0.0);
    }

    #[test]
    fn scaled_rates_give_the_scale() {
        let r = curve(&REFERENCE);
        let t: Vec<Point> = r
            .iter()
            .map(|p| Point {
                kbps: p.kbps * 0.8,
                ..*p
            })
            .collect();
        let bd = bd_rate(&r, &t).unwrap();
        assert!((bd + 20.0).abs() < 1e-9, "{bd}");
        let back = bd_rate(&t, &r).unwrap();
        assert!((back - 25.0).abs() < 1e-9, "{back}");
    }

    #[test]
    fn two_point_curves_are_linear_in_log_rate() {
        // Reference (1000 kbit/s, 30), (4000, 40); test (800, 32), (2000, 42). Overlap: 32..40.
        // Both are straight lines in log10(rate) against quality, so their mean over 32..40 is
        // their value at the midpoint 36:
        //   reference: log10(1000) + (36 - 30)/10 x log10(4000/1000) = 3 + 0.6 log10 4
        //   test:      log10(800)  + (36 - 32)/10 x log10(2000/800)  = log10 800 + 0.4 log10 2.5
        // ratio = 10^(test - reference) = 0.8 x 2.5^0.4 / 4^0.6 = 0.50238...; BD-rate -49.76 %.
        let r = curve(&[(1000.0, 30.0), (4000.0, 40.0)]);
        let t = curve(&[(800.0, 32.0), (2000.0, 42.0)]);
        let expected = (0.8 * 2.5f64.powf(0.4) / 4f64.powf(0.6) - 1.0) * 100.0;
        let bd = bd_rate(&r, &t).unwrap();
        assert!((bd - expected).abs() < 1e-9, "{bd} vs {expected}");
        assert!((bd + 49.762).abs() < 1e-3, "{bd}");
    }

    #[test]
    fn point_order_does_not_matter() {
        let r = curve(&REFERENCE);
        let t = curve(&[(1400.0, 87.0), (350.0, 71.0), (2500.0, 92.0), (700.0, 79.0)]);
        let mut shuffled = t.clone();
        shuffled.reverse();
        let bd = bd_rate(&r, &t).unwrap();
        assert_eq!(bd, bd_rate(&r, &shuffled).unwrap());
        assert!(bd < 0.0, "the test curve is cheaper everywhere: {bd}");
    }

    #[test]
    fn undefined_cases_say_why() {
        let r = curve(&REFERENCE);
        let err = |a: &[Point], b: &[Point]| bd_rate(a, b).unwrap_err().to_string();
        assert_eq!(
            err(&r, &curve(&[(500.0, 75.0)])),
            "BD-rate not defined: the test curve has 1 point(s); BD-rate needs at least 2"
        );
        assert_eq!(
            err(&r, &curve(&[(100.0, 40.0), (200.0, 50.0)])),
            "BD-rate not defined: the quality ranges do not overlap (reference 70.000..93.000, \
             test 40.000..50.000)"
        );
        assert_eq!(
            err(&curve(&[(100.0, 40.0), (200.0, 40.0)]), &r),
            "BD-rate not defined: the reference curve has two points at quality 40 (points 0 \
             and 1; pass the Pareto front)"
        );
        assert_eq!(
            err(&r, &curve(&[(0.0, 70.0), (200.0, 80.0)])),
            "BD-rate not defined: the test curve has point 0 at 0 kbit/s, quality 70 (expected \
             a positive finite rate and a finite quality)"
        );
    }

    #[test]
    fn pchip_does_not_overshoot_a_step() {
        let xs = vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0];
        let ys = vec![0.0, 0.0, 0.0, 1.0, 1.0, 1.0];
        let p = Pchip::new(xs, ys);
        let mut previous = f64::NEG_INFINITY;
        for i in 0..=500 {
            let y = p.eval(f64::from(i) / 100.0);
            assert!((0.0..=1.0).contains(&y), "overshoot {y} at {i}");
            assert!(y >= previous, "not monotone at {i}");
            previous = y;
        }
        // Flat pieces stay exactly flat.
        assert_eq!(p.eval(1.5), 0.0);
        assert_eq!(p.eval(4.5), 1.0);
        assert!((p.integral(0.0, 5.0) - 2.5).abs() < 1e-12);
    }

    #[test]
    fn pchip_slopes_by_hand() {
        // xs 0, 1, 3, 4; ys 0, 1, 2, 4: h = 1, 2, 1; secants 1, 0.5, 2.
        // Inner knots (weighted harmonic mean, w1 = 2h_k + h_k-1, w2 = h_k + 2h_k-1):
        //   d1 = (5 + 4) / (5/1 + 4/0.5) = 9/13;  d2 = (4 + 5) / (4/0.5 + 5/2) = 6/7.
        // Ends (three-point formula, same sign as the secant, data do not turn):
        //   d0 = ((2 + 2) 1 - 0.5) / 3 = 7/6;     d3 = ((2 + 2) 2 - 0.5) / 3 = 5/2.
        let p = Pchip::new(vec![0.0, 1.0, 3.0, 4.0], vec![0.0, 1.0, 2.0, 4.0]);
        let expected = [7.0 / 6.0, 9.0 / 13.0, 6.0 / 7.0, 2.5];
        for (d, e) in p.ds.iter().zip(expected) {
            assert!((d - e).abs() < 1e-15, "{:?}", p.ds);
        }
        // Midpoint of the first segment: (y0 + y1)/2 + h (d0 - d1)/8.
        let mid = 0.5 + (7.0 / 6.0 - 9.0 / 13.0) / 8.0;
        assert!((p.eval(0.5) - mid).abs() < 1e-15);
        // Where the data turn, the end slope is limited to three times its secant: secants 1
        // then -1 with h 1, 0.1 give (2.1 + 1) / 1.1 = 2.82, below 3, kept; secants 1, -5 with
        // h 1, 1 give (3 + 5) / 2 = 4, limited to 3.
        assert!((end_slope(1.0, 0.1, 1.0, -1.0) - 3.1 / 1.1).abs() < 1e-15);
        assert_eq!(end_slope(1.0, 1.0, 1.0, -5.0), 3.0);
        // Opposite sign to the first secant -> 0: (2 x 1 + 1) x 1 - 1 x 4 = -1 < 0.
        assert_eq!(end_slope(1.0, 1.0, 1.0, 4.0), 0.0);
    }

    #[test]
    fn integral_of_parts_adds_up() {
        let p = Pchip::new(vec![0.0, 1.0, 3.0, 4.0], vec![0.0, 1.0, 2.0, 4.0]);
        let whole = p.integral(0.0, 4.0);
        let parts = p.integral(0.0, 0.7) + p.integral(0.7, 2.2) + p.integral(2.2, 4.0);
        assert!((whole - parts).abs() < 1e-12);
        // Against a fine midpoint rule.
        let n = 100_000;
        let step = 4.0 / f64::from(n);
        let numeric: f64 = (0..n)
            .map(|i| p.eval((f64::from(i) + 0.5) * step) * step)
            .sum();
        assert!((whole - numeric).abs() < 1e-8, "{whole} vs {numeric}");
    }
}
