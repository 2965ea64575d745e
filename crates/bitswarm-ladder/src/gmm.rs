//! A Gaussian mixture with diagonal covariances over standardised feature vectors, fitted by
//! expectation-maximisation (EM).
//!
//! - **Standardisation.** [`Gmm::fit`] stores each feature's mean and population standard
//!   deviation over the catalog and works on `(x - mean) / std`; a feature that does not vary
//!   (std 0) gets std 1. The scale is fixed from then on ([`Gmm::update`] keeps it).
//! - **Initialisation.** k-means++ seeding (first centre uniform, each next one drawn with
//!   probability proportional to the squared distance to the nearest centre chosen) from a
//!   seeded ChaCha8 generator, so a fit is reproducible; samples are assigned to their nearest
//!   centre and one M-step gives the starting model.
//! - **Degenerate catalogs.** A catalog with fewer distinct samples than the requested number of
//!   components (one sample, identical samples, `n < k`) is fitted with as many components as it
//!   has distinct samples. Every variance is at least `var_floor` (in standardised units), so a
//!   component holding one sample, or identical ones, is a narrow but valid Gaussian. A
//!   component whose responsibility vanishes keeps its mean and variance with weight 0.
//! - **Probabilities.** Soft assignments are computed in the log domain with log-sum-exp, so they
//!   sum to 1 even far from every component.
//! - **Choice of k.** [`Gmm::fit_bic`] fits k = 1..=k_max and keeps the lowest Bayesian
//!   information criterion `BIC = -2 ln L + p ln n`, `p = 2kd + k - 1` free parameters.
//! - **Incremental update.** [`Gmm::update`] runs a few EM steps over the new samples, warm-started
//!   from the current model, in which the data seen before are represented by the sufficient
//!   statistics the current model implies for them: component `j` holds `n_old w_j` samples with
//!   mean `mu_j` and variance `var_j`. Each M-step pools those fixed statistics with the new
//!   samples' responsibilities, so old data weigh by their count. With one component this is
//!   exactly a refit on all the data (same mean and variance); with more it is the incremental EM
//!   of Neal and Hinton with the old responsibilities frozen.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// How a mixture is fitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GmmConfig {
    /// Largest number of components [`Gmm::fit_bic`] tries.
    pub k_max: usize,
    /// EM iterations at most.
    pub max_iter: usize,
    /// Stop when the mean log-likelihood per sample improves by less than this.
    pub tol: f64,
    /// Smallest variance of a component, in standardised units (the catalog's variance is 1).
    pub var_floor: f64,
    /// Seed of the k-means++ initialisation.
    pub seed: u64,
}

impl Default for GmmConfig {
    fn default() -> Self {
        Self {
            k_max: 8,
            max_iter: 200,
            tol: 1e-6,
            var_floor: 1e-3,
            seed: 0,
        }
    }
}

impl GmmConfig {
    /// Checks every field against its range.
    pub fn validate(&self) -> Result<()> {
        let invalid =
            |what: &str, value: String, expected: &str| Err(Error::invalid(what, value, expected));
        if self.k_max == 0 {
            return invalid("k_max", self.k_max.to_string(), ">= 1");
        }
        if self.max_iter == 0 {
            return invalid("max_iter", self.max_iter.to_string(), ">= 1");
        }
        if !(self.tol.is_finite() && self.tol >= 0.0) {
            return invalid("tol", self.tol.to_string(), "a finite number >= 0");
        }
        if !(self.var_floor.is_finite() && self.var_floor > 0.0) {
            return invalid(
                "var_floor",
                self.var_floor.to_string(),
                "a finite number > 0",
            );
        }
        Ok(())
    }
}

/// A fitted mixture. Means and variances are in standardised units; inputs and
/// [`Gmm::component_mean`] are in the caller's units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gmm {
    /// Per-feature mean of the catalog the model was fitted on.
    feature_mean: Vec<f64>,
    /// Per-feature standard deviation of that catalog (1 where it was 0).
    feature_std: Vec<f64>,
    weights: Vec<f64>,
    means: Vec<Vec<f64>>,
    variances: Vec<Vec<f64>>,
    var_floor: f64,
    /// Samples fitted so far (the catalog plus every update).
    samples: u64,
}

/// Sufficient statistics of one component: responsibility mass, and its sums of x and x^2.
#[derive(Clone)]
struct Stats {
    mass: f64,
    sum: Vec<f64>,
    sum_sq: Vec<f64>,
}

impl Stats {
    fn zero(dim: usize) -> Self {
        Self {
            mass: 0.0,
            sum: vec![0.0; dim],
            sum_sq: vec![0.0; dim],
        }
    }

    fn add(&mut self, r: f64, x: &[f64]) {
        self.mass += r;
        for ((s, q), &v) in self.sum.iter_mut().zip(&mut self.sum_sq).zip(x) {
            *s += r * v;
            *q += r * v * v;
        }
    }
}

impl Gmm {
    /// Fits `k` components (fewer when the catalog has fewer distinct samples) by EM.
    pub fn fit(samples: &[Vec<f64>], k: usize, config: &GmmConfig) -> Result<Self> {
        config.validate()?;
        if k == 0 {
            return Err(Error::invalid("number of components", "0".into(), ">= 1"));
        }
        let (feature_mean, feature_std) = standardisation(samples)?;
        let z: Vec<Vec<f64>> = samples
            .iter()
            .map(|x| standardise(x, &feature_mean, &feature_std))
            .collect();
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let centres = kmeans_plus_plus(&z, k, &mut rng);
        let dim = feature_mean.len();
        // Hard assignment to the nearest centre, then one M-step.
        let mut stats = vec![Stats::zero(dim); centres.len()];
        for x in &z {
            let nearest = (0..centres.len())
                .min_by(|&a, &b| sq_dist(x, &centres[a]).total_cmp(&sq_dist(x, &centres[b])))
                .unwrap_or(0);
            stats[nearest].add(1.0, x);
        }
        let mut gmm = Self {
            feature_mean,
            feature_std,
            weights: vec![0.0; centres.len()],
            means: centres,
            variances: vec![vec![1.0; dim]; stats.len()],
            var_floor: config.var_floor,
            samples: samples.len() as u64,
        };
        gmm.m_step(&stats);
        gmm.em(&z, &[], config.max_iter, config.tol)?;
        Ok(gmm)
    }

    /// Fits k = 1..=`config.k_max` components and returns the fit with the lowest BIC (the
    /// smallest k on a tie).
    pub fn fit_bic(samples: &[Vec<f64>], config: &GmmConfig) -> Result<Self> {
        let mut best: Option<(f64, Gmm)> = None;
        for k in 1..=config.k_max {
            let gmm = Self::fit(samples, k, config)?;
            if gmm.components() < k {
                // Fewer distinct samples than k: larger k give the same fit.
                if best.is_none() {
                    best = Some((gmm.bic(samples)?, gmm));
                }
                break;
            }
            let bic = gmm.bic(samples)?;
            if best.as_ref().is_none_or(|(b, _)| bic < *b) {
                best = Some((bic, gmm));
            }
        }
        best.map(|(_, gmm)| gmm)
            .ok_or_else(|| Error::invalid("k_max", "0".into(), ">= 1"))
    }

    /// Warm-started EM over `samples` with the data seen so far kept as the current model's
    /// sufficient statistics (see the module docs): exactly `steps` EM iterations (>= 1). On an
    /// error the model is unchanged.
    pub fn update(&mut self, samples: &[Vec<f64>], steps: usize) -> Result<()> {
        if steps == 0 {
            return Err(Error::invalid("EM steps", "0".into(), ">= 1"));
        }
        if samples.is_empty() {
            return Ok(());
        }
        self.check_samples(samples)?;
        let old: Vec<Stats> = (0..self.components())
            .map(|j| {
                let mass = self.samples as f64 * self.weights[j];
                Stats {
                    mass,
                    sum: self.means[j].iter().map(|m| mass * m).collect(),
                    sum_sq: self.means[j]
                        .iter()
                        .zip(&self.variances[j])
                        .map(|(m, v)| mass * (v + m * m))
                        .collect(),
                }
            })
            .collect();
        let z: Vec<Vec<f64>> = samples
            .iter()
            .map(|x| standardise(x, &self.feature_mean, &self.feature_std))
            .collect();
        let mut updated = self.clone();
        updated.samples += samples.len() as u64;
        updated.em(&z, &old, steps, f64::NEG_INFINITY)?;
        *self = updated;
        Ok(())
    }

    /// Probability of each component for the feature vector `x` (sums to 1).
    pub fn predict_proba(&self, x: &[f64]) -> Result<Vec<f64>> {
        check_vector(x, self.dim(), 0)?;
        let z = standardise(x, &self.feature_mean, &self.feature_std);
        let (log_p, log_total) = self.log_joint(&z)?;
        Ok(log_p.iter().map(|lp| (lp - log_total).exp()).collect())
    }

    /// Total log-likelihood of `samples` under the model (standardised space).
    pub fn log_likelihood(&self, samples: &[Vec<f64>]) -> Result<f64> {
        self.check_samples(samples)?;
        samples
            .iter()
            .map(|x| {
                Ok(self
                    .log_joint(&standardise(x, &self.feature_mean, &self.feature_std))?
                    .1)
            })
            .sum()
    }

    /// Bayesian information criterion on `samples` (lower is better).
    pub fn bic(&self, samples: &[Vec<f64>]) -> Result<f64> {
        let (k, d) = (self.components() as f64, self.dim() as f64);
        let params = 2.0 * k * d + k - 1.0;
        Ok(-2.0 * self.log_likelihood(samples)? + params * (samples.len() as f64).ln())
    }

    /// Number of components.
    pub fn components(&self) -> usize {
        self.weights.len()
    }

    /// Length of a feature vector.
    pub fn dim(&self) -> usize {
        self.feature_mean.len()
    }

    /// Samples the model has seen (catalog plus updates).
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// Mixing weights (sum to 1).
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    /// Mean of component `j` in the caller's units (`None` when there is no such component).
    pub fn component_mean(&self, j: usize) -> Option<Vec<f64>> {
        let mean = self.means.get(j)?;
        Some(unstandardise(mean, &self.feature_mean, &self.feature_std))
    }

    /// Variance of component `j` in the caller's units.
    pub fn component_variance(&self, j: usize) -> Option<Vec<f64>> {
        let var = self.variances.get(j)?;
        Some(
            var.iter()
                .zip(&self.feature_std)
                .map(|(v, s)| v * s * s)
                .collect(),
        )
    }

    /// Checks the shapes and values of a model read from a file.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: &str| Err(Error::Gmm(what.to_owned()));
        let (k, d) = (self.components(), self.dim());
        if k == 0 || d == 0 {
            return bad("a model needs at least one component and one feature");
        }
        if self.feature_std.len() != d
            || self.means.len() != k
            || self.variances.len() != k
            || self
                .means
                .iter()
                .chain(&self.variances)
                .any(|v| v.len() != d)
        {
            return bad("the weights, means, variances and feature scales have mismatched sizes");
        }
        let finite = |v: &[f64]| v.iter().all(|x| x.is_finite());
        let values_ok = finite(&self.feature_mean)
            && self.feature_std.iter().all(|s| s.is_finite() && *s > 0.0)
            && self.means.iter().all(|m| finite(m))
            && self.var_floor.is_finite()
            && self.var_floor > 0.0
            && self
                .variances
                .iter()
                .flatten()
                .all(|v| v.is_finite() && *v >= self.var_floor);
        if !values_ok {
            return bad(
                "feature scales must be positive, variances at least the floor, all finite",
            );
        }
        let total: f64 = self.weights.iter().sum();
        if self.weights.iter().any(|w| !(0.0..=1.0).contains(w)) || (total - 1.0).abs() > 1e-9 {
            return bad("the weights must lie in 0..=1 and sum to 1");
        }
        Ok(())
    }

    fn check_samples(&self, samples: &[Vec<f64>]) -> Result<()> {
        check_vectors(samples, self.dim())
    }

    /// Per component `ln w_j + ln N(z | mu_j, var_j)`, and their log-sum-exp; an error when
    /// every density underflows (a vector astronomically far from the model).
    fn log_joint(&self, z: &[f64]) -> Result<(Vec<f64>, f64)> {
        let log_p: Vec<f64> = (0..self.components())
            .map(|j| {
                let quad: f64 = z
                    .iter()
                    .zip(&self.means[j])
                    .zip(&self.variances[j])
                    .map(|((x, m), v)| (std::f64::consts::TAU * v).ln() + (x - m) * (x - m) / v)
                    .sum();
                self.weights[j].ln() - 0.5 * quad
            })
            .collect();
        let max = log_p.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let total = max + log_p.iter().map(|lp| (lp - max).exp()).sum::<f64>().ln();
        if !total.is_finite() {
            return Err(Error::Gmm(
                "a feature vector lies too far from every component to compare their densities"
                    .into(),
            ));
        }
        Ok((log_p, total))
    }

    /// EM over `z`, with `prior` statistics (possibly empty) added to every M-step.
    fn em(&mut self, z: &[Vec<f64>], prior: &[Stats], max_iter: usize, tol: f64) -> Result<()> {
        let mut previous = f64::NEG_INFINITY;
        for _ in 0..max_iter {
            let mut stats = if prior.is_empty() {
                vec![Stats::zero(self.dim()); self.components()]
            } else {
                prior.to_vec()
            };
            let mut log_likelihood = 0.0;
            for x in z {
                let (log_p, total) = self.log_joint(x)?;
                log_likelihood += total;
                for (s, lp) in stats.iter_mut().zip(&log_p) {
                    s.add((lp - total).exp(), x);
                }
            }
            self.m_step(&stats);
            let mean = log_likelihood / z.len() as f64;
            if mean - previous < tol {
                break;
            }
            previous = mean;
        }
        Ok(())
    }

    fn m_step(&mut self, stats: &[Stats]) {
        let total: f64 = stats.iter().map(|s| s.mass).sum();
        for (j, s) in stats.iter().enumerate() {
            self.weights[j] = s.mass / total;
            if s.mass <= f64::MIN_POSITIVE {
                // No responsibility left: keep the component as it was, with weight 0.
                continue;
            }
            for i in 0..self.dim() {
                let mean = s.sum[i] / s.mass;
                let var = s.sum_sq[i] / s.mass - mean * mean;
                self.means[j][i] = mean;
                self.variances[j][i] = var.max(self.var_floor);
            }
        }
    }
}

/// Every vector has `dim` finite values.
fn check_vectors(samples: &[Vec<f64>], dim: usize) -> Result<()> {
    samples
        .iter()
        .enumerate()
        .try_for_each(|(i, x)| check_vector(x, dim, i))
}

/// `x` (sample number `index`) has `dim` finite values.
fn check_vector(x: &[f64], dim: usize, index: usize) -> Result<()> {
    if x.len() != dim {
        return Err(Error::Dimension {
            expected: dim,
            got: x.len(),
        });
    }
    match x.iter().find(|v| !v.is_finite()) {
        Some(v) => Err(Error::invalid(
            "feature value",
            format!("{v} in sample {index}"),
            "a finite number",
        )),
        None => Ok(()),
    }
}

/// Per-feature mean and population standard deviation (1 where it is 0).
fn standardisation(samples: &[Vec<f64>]) -> Result<(Vec<f64>, Vec<f64>)> {
    let first = samples
        .first()
        .ok_or_else(|| Error::Gmm("cannot fit a catalog without samples".into()))?;
    let dim = first.len();
    if dim == 0 {
        return Err(Error::Gmm("cannot fit feature vectors of length 0".into()));
    }
    check_vectors(samples, dim)?;
    let n = samples.len() as f64;
    let mean: Vec<f64> = (0..dim)
        .map(|i| samples.iter().map(|x| x[i]).sum::<f64>() / n)
        .collect();
    let std = (0..dim)
        .map(|i| {
            let var = samples
                .iter()
                .map(|x| (x[i] - mean[i]).powi(2))
                .sum::<f64>()
                / n;
            let std = var.sqrt();
            if std > 0.0 {
                std
            } else {
                1.0
            }
        })
        .collect();
    Ok((mean, std))
}

fn standardise(x: &[f64], mean: &[f64], std: &[f64]) -> Vec<f64> {
    x.iter()
        .zip(mean)
        .zip(std)
        .map(|((x, m), s)| (x - m) / s)
        .collect()
}

fn unstandardise(z: &[f64], mean: &[f64], std: &[f64]) -> Vec<f64> {
    z.iter()
        .zip(mean)
        .zip(std)
        .map(|((z, m), s)| z * s + m)
        .collect()
}

fn sq_dist(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Up to `k` distinct centres chosen among `z` by k-means++ (fewer when `z` has fewer distinct
/// vectors).
fn kmeans_plus_plus(z: &[Vec<f64>], k: usize, rng: &mut ChaCha8Rng) -> Vec<Vec<f64>> {
    let mut centres = vec![z[rng.gen_range(0..z.len())].clone()];
    let mut d2: Vec<f64> = z.iter().map(|x| sq_dist(x, &centres[0])).collect();
    while centres.len() < k {
        let total: f64 = d2.iter().sum();
        if total <= 0.0 {
            break; // every sample coincides with a centre
        }
        let mut target = rng.gen::<f64>() * total;
        let mut chosen = d2.len() - 1;
        for (i, &d) in d2.iter().enumerate() {
            if d > 0.0 && target < d {
                chosen = i;
                break;
            }
            target -= d;
        }
        // Rounding can run past the last positive weight: take the farthest sample then.
        if d2[chosen] <= 0.0 {
            chosen = (0..d2.len())
                .max_by(|&a, &b| d2[a].total_cmp(&d2[b]))
                .unwrap_or(0);
        }
        let centre = z[chosen].clone();
        for (d, x) in d2.iter_mut().zip(z) {
            *d = d.min(sq_dist(x, &centre));
        }
        centres.push(centre);
    }
    centres
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` points uniform in a square of half-side `spread` around each centre.
    fn blobs(centres: &[[f64; 2]], n: usize, spread: f64, seed: u64) -> Vec<Vec<f64>> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        centres
            .iter()
            .flat_map(|c| {
                (0..n)
                    .map(|_| {
                        vec![
                            c[0] + rng.gen_range(-spread..spread),
                            c[1] + rng.gen_range(-spread..spread),
                        ]
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    const CENTRES: [[f64; 2]; 3] = [[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]];

    fn assert_sums_to_one(p: &[f64]) {
        let total: f64 = p.iter().sum();
        assert!((total - 1.0).abs() < 1e-12, "{p:?}");
        assert!(p.iter().all(|x| x.is_finite() && *x >= 0.0), "{p:?}");
    }

    #[test]
    fn separated_blobs_are_found_and_assigned() {
        let data = blobs(&CENTRES, 40, 1.0, 7);
        let gmm = Gmm::fit_bic(&data, &GmmConfig::default()).unwrap();
        assert_eq!(gmm.components(), 3);
        gmm.validate().unwrap();
        for centre in CENTRES {
            let p = gmm.predict_proba(&centre).unwrap();
            assert_sums_to_one(&p);
            let (best, &prob) = p
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .unwrap();
            assert!(prob > 0.999, "{p:?}");
            let mean = gmm.component_mean(best).unwrap();
            assert!(sq_dist(&mean, &centre) < 0.25, "{mean:?} vs {centre:?}");
            assert!((gmm.weights()[best] - 1.0 / 3.0).abs() < 1e-6);
        }
        // Far from everything the assignment still sums to 1 (log-sum-exp)...
        assert_sums_to_one(&gmm.predict_proba(&[1e6, -1e6]).unwrap());
        // ... until every density underflows.
        assert_eq!(
            gmm.predict_proba(&[1e200, 0.0]).unwrap_err().to_string(),
            "Gaussian mixture: a feature vector lies too far from every component to compare \
             their densities"
        );
    }

    #[test]
    fn fits_are_reproducible_from_the_seed() {
        let data = blobs(&CENTRES, 20, 2.0, 3);
        let config = GmmConfig::default();
        assert_eq!(
            Gmm::fit(&data, 3, &config).unwrap(),
            Gmm::fit(&data, 3, &config).unwrap()
        );
    }

    #[test]
    fn degenerate_catalogs_give_valid_models() {
        let config = GmmConfig::default();
        let single = vec![vec![3.0, -1.0, 0.5]];
        let gmm = Gmm::fit_bic(&single, &config).unwrap();
        assert_eq!(gmm.components(), 1);
        gmm.validate().unwrap();
        assert_eq!(gmm.predict_proba(&[100.0, 0.0, 0.0]).unwrap(), [1.0]);
        assert_eq!(gmm.component_mean(0).unwrap(), [3.0, -1.0, 0.5]);

        let identical = vec![vec![1.0, 2.0]; 5];
        let gmm = Gmm::fit(&identical, 4, &config).unwrap();
        assert_eq!(gmm.components(), 1);
        gmm.validate().unwrap();
        assert_eq!(gmm.component_variance(0).unwrap(), [1e-3, 1e-3]);

        let few = vec![vec![0.0, 0.0], vec![5.0, 1.0], vec![0.0, 0.0]];
        let gmm = Gmm::fit(&few, 5, &config).unwrap();
        assert_eq!(gmm.components(), 2);
        gmm.validate().unwrap();
        let p = gmm.predict_proba(&[5.0, 1.0]).unwrap();
        assert_sums_to_one(&p);
        assert!(p.iter().any(|&x| x > 0.999), "{p:?}");
        assert_eq!(gmm.samples(), 3);
    }

    #[test]
    fn bad_input_is_refused() {
        let config = GmmConfig::default();
        assert_eq!(
            Gmm::fit(&[], 2, &config).unwrap_err().to_string(),
            "Gaussian mixture: cannot fit a catalog without samples"
        );
        let ragged = vec![vec![1.0, 2.0], vec![1.0]];
        assert_eq!(
            Gmm::fit(&ragged, 2, &config).unwrap_err().to_string(),
            "feature vector has 1 values, expected 2"
        );
        let nan = vec![vec![1.0, f64::NAN]];
        assert_eq!(
            Gmm::fit(&nan, 1, &config).unwrap_err().to_string(),
            "invalid feature value NaN in sample 0 (expected a finite number)"
        );
        let gmm = Gmm::fit(&[vec![1.0, 2.0]], 1, &config).unwrap();
        assert!(gmm.predict_proba(&[1.0]).is_err());
        let config = GmmConfig {
            var_floor: 0.0,
            ..GmmConfig::default()
        };
        assert_eq!(
            Gmm::fit(&[vec![1.0]], 1, &config).unwrap_err().to_string(),
            "invalid var_floor 0 (expected a finite number > 0)"
        );
    }

    #[test]
    fn update_of_one_component_equals_a_refit_on_all_data() {
        let config = GmmConfig::default();
        let old = blobs(&[[1.0, 2.0]], 30, 1.0, 1);
        let new = blobs(&[[3.0, 0.0]], 10, 0.5, 2);
        let mut gmm = Gmm::fit(&old, 1, &config).unwrap();
        gmm.update(&new, 1).unwrap();
        assert_eq!(gmm.samples(), 40);
        let all: Vec<Vec<f64>> = old.iter().chain(&new).cloned().collect();
        for i in 0..2 {
            let mean = all.iter().map(|x| x[i]).sum::<f64>() / 40.0;
            let var = all.iter().map(|x| (x[i] - mean).powi(2)).sum::<f64>() / 40.0;
            assert!((gmm.component_mean(0).unwrap()[i] - mean).abs() < 1e-12);
            assert!((gmm.component_variance(0).unwrap()[i] - var).abs() < 1e-12);
        }
    }

    #[test]
    fn update_moves_weight_to_where_new_data_fall() {
        let config = GmmConfig::default();
        let data = blobs(&CENTRES[..2], 30, 1.0, 5);
        let mut gmm = Gmm::fit(&data, 2, &config).unwrap();
        let right = usize::from(gmm.component_mean(1).unwrap()[0] > 5.0);
        let before = gmm.weights()[right];
        gmm.update(&blobs(&CENTRES[1..2], 60, 1.0, 6), 3).unwrap();
        gmm.validate().unwrap();
        // 30 + 60 of 120 samples now belong to the right blob.
        assert!((before - 0.5).abs() < 1e-9);
        assert!(
            (gmm.weights()[right] - 0.75).abs() < 1e-6,
            "{:?}",
            gmm.weights()
        );
        assert!(gmm.update(&[vec![1.0]], 1).is_err());
    }

    #[test]
    fn json_round_trip_is_exact() {
        let gmm = Gmm::fit(&blobs(&CENTRES, 10, 1.5, 9), 3, &GmmConfig::default()).unwrap();
        let json = serde_json::to_string(&gmm).unwrap();
        let back: Gmm = serde_json::from_str(&json).unwrap();
        assert_eq!(back, gmm);
    }

    #[test]
    fn validate_finds_broken_models() {
        let mut gmm = Gmm::fit(&blobs(&CENTRES, 10, 1.5, 9), 3, &GmmConfig::default()).unwrap();
        gmm.weights[0] += 0.5;
        assert_eq!(
            gmm.validate().unwrap_err().to_string(),
            "Gaussian mixture: the weights must lie in 0..=1 and sum to 1"
        );
        gmm.weights.pop();
        assert!(gmm
            .validate()
            .unwrap_err()
            .to_string()
            .contains("mismatched sizes"));
    }
}
