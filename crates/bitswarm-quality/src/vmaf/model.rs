//! VMAF models in libvmaf's JSON format: a libsvm nu-SVR with an RBF kernel over normalised
//! features.
//!
//! Prediction, as libvmaf does it: each feature `x_i` becomes `slopes[i + 1] * x_i +
//! intercepts[i + 1]` (`norm_type: linear_rescale`); the SVR gives
//! `sum_j coef_j exp(-gamma |x - sv_j|^2) - rho`; the result is mapped back with
//! `(y - intercepts[0]) / slopes[0]`, then transformed (only if the model's `score_transform`
//! says `"enabled": true`; libvmaf leaves it off by default, and so does `vmaf_v0.6.1.json`),
//! then clipped to `score_clip`.

use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::Value;

use crate::{Error, Result};

/// libvmaf's default model, shipped in `models/` with its licence (BSD+Patent, Netflix).
const VMAF_V061_JSON: &str = include_str!("../../../../models/vmaf_v0.6.1.json");

/// The features a model can read, as this crate computes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    Adm2,
    Motion2,
    /// VIF at scale 0 to 3.
    Vif(usize),
}

impl Feature {
    fn from_name(name: &str) -> Result<Self> {
        let short = name
            .strip_prefix("VMAF_integer_feature_")
            .and_then(|s| s.strip_suffix("_score"));
        match short {
            Some("adm2") => Ok(Self::Adm2),
            Some("motion2") => Ok(Self::Motion2),
            Some("vif_scale0") => Ok(Self::Vif(0)),
            Some("vif_scale1") => Ok(Self::Vif(1)),
            Some("vif_scale2") => Ok(Self::Vif(2)),
            Some("vif_scale3") => Ok(Self::Vif(3)),
            _ => Err(Error::Model(format!(
                "unsupported feature {name:?} (supported: VMAF_integer_feature_adm2_score, \
                 VMAF_integer_feature_motion2_score, VMAF_integer_feature_vif_scale0_score .. \
                 VMAF_integer_feature_vif_scale3_score)"
            ))),
        }
    }
}

/// The features of one frame, as a model reads them.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Features {
    pub adm2: f64,
    pub motion2: f64,
    pub vif: [f64; 4],
}

impl Features {
    fn get(&self, feature: Feature) -> f64 {
        match feature {
            Feature::Adm2 => self.adm2,
            Feature::Motion2 => self.motion2,
            Feature::Vif(scale) => self.vif[scale],
        }
    }
}

/// Optional polynomial mapping of the score (`p0 + p1 y + p2 y^2`), then rectification.
#[derive(Debug, Clone, PartialEq)]
struct Transform {
    p: [Option<f64>; 3],
    out_gte_in: bool,
    out_lte_in: bool,
}

impl Transform {
    fn apply(&self, y: f64) -> f64 {
        let out = if self.p.iter().any(Option::is_some) {
            self.p
                .iter()
                .zip([1.0, y, y * y])
                .filter_map(|(p, x)| p.map(|p| p * x))
                .sum()
        } else {
            y
        };
        if self.out_lte_in && out > y {
            return y;
        }
        if self.out_gte_in && out < y {
            return y;
        }
        out
    }
}

/// A VMAF model: features, normalisation, support vectors, score transform and clip.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    features: Vec<Feature>,
    /// `(slope, intercept)` of the score, then of each feature; `None`: no normalisation.
    rescale: Option<Vec<(f64, f64)>>,
    gamma: f64,
    rho: f64,
    coefs: Vec<f64>,
    /// Support vectors, `features.len()` values each (absent libsvm entries are zero).
    vectors: Vec<f64>,
    transform: Option<Transform>,
    clip: Option<(f64, f64)>,
}

#[derive(Deserialize)]
struct ModelFile {
    model_dict: ModelDict,
}

#[derive(Deserialize)]
struct ModelDict {
    model_type: String,
    model: String,
    feature_names: Vec<String>,
    norm_type: String,
    #[serde(default)]
    slopes: Vec<f64>,
    #[serde(default)]
    intercepts: Vec<f64>,
    score_clip: Option<(f64, f64)>,
    score_transform: Option<serde_json::Map<String, Value>>,
}

impl Model {
    /// `vmaf_v0.6.1`, libvmaf's default model (parsed once).
    pub fn vmaf_v0_6_1() -> &'static Model {
        static MODEL: OnceLock<Model> = OnceLock::new();
        MODEL.get_or_init(|| {
            Model::from_json(VMAF_V061_JSON)
                .unwrap_or_else(|e| panic!("the embedded vmaf_v0.6.1.json is invalid: {e}"))
        })
    }

    /// Parses a model in libvmaf's JSON format (`model_dict` with a libsvm nu-SVR).
    pub fn from_json(json: &str) -> Result<Model> {
        let file: ModelFile =
            serde_json::from_str(json).map_err(|e| Error::Model(format!("bad JSON: {e}")))?;
        let dict = file.model_dict;
        if dict.model_type != "LIBSVMNUSVR" {
            return Err(Error::Model(format!(
                "model_type {:?} (supported: LIBSVMNUSVR)",
                dict.model_type
            )));
        }
        let features = dict
            .feature_names
            .iter()
            .map(|n| Feature::from_name(n))
            .collect::<Result<Vec<_>>>()?;
        let n = features.len();
        let rescale = match dict.norm_type.as_str() {
            "none" => None,
            "linear_rescale" => {
                if dict.slopes.len() != n + 1 || dict.intercepts.len() != n + 1 {
                    return Err(Error::Model(format!(
                        "linear_rescale needs {} slopes and intercepts (score, then one per \
                         feature), got {} and {}",
                        n + 1,
                        dict.slopes.len(),
                        dict.intercepts.len()
                    )));
                }
                Some(dict.slopes.into_iter().zip(dict.intercepts).collect())
            }
            other => {
                return Err(Error::Model(format!(
                    "norm_type {other:?} (supported: linear_rescale, none)"
                )))
            }
        };
        let svm = parse_libsvm(&dict.model, n)?;
        let transform = dict
            .score_transform
            .map(|t| parse_transform(&t))
            .transpose()?
            .flatten();
        Ok(Model {
            features,
            rescale,
            gamma: svm.gamma,
            rho: svm.rho,
            coefs: svm.coefs,
            vectors: svm.vectors,
            transform,
            clip: dict.score_clip,
        })
    }

    /// The VMAF score of one frame's features.
    pub fn predict(&self, features: &Features) -> f64 {
        let n = self.features.len();
        let x: Vec<f64> = self
            .features
            .iter()
            .enumerate()
            .map(|(i, &f)| {
                let v = features.get(f);
                match &self.rescale {
                    Some(r) => r[i + 1].0 * v + r[i + 1].1,
                    None => v,
                }
            })
            .collect();
        let mut y = 0.0;
        for (coef, sv) in self.coefs.iter().zip(self.vectors.chunks_exact(n)) {
            let d2: f64 = x.iter().zip(sv).map(|(a, b)| (a - b) * (a - b)).sum();
            y += coef * (-self.gamma * d2).exp();
        }
        y -= self.rho;
        if let Some(r) = &self.rescale {
            y = (y - r[0].1) / r[0].0;
        }
        if let Some(t) = &self.transform {
            y = t.apply(y);
        }
        if let Some((lo, hi)) = self.clip {
            y = y.clamp(lo, hi);
        }
        y
    }
}

struct Svm {
    gamma: f64,
    rho: f64,
    coefs: Vec<f64>,
    vectors: Vec<f64>,
}

/// Parses libsvm's model text (`svm_type nu_svr`, `kernel_type rbf`, ..., `SV`, then one line
/// per support vector: `coef index:value ...`).
fn parse_libsvm(text: &str, n: usize) -> Result<Svm> {
    let bad = |what: String| Error::Model(format!("libsvm model: {what}"));
    let mut lines = text.lines();
    let (mut gamma, mut rho, mut total) = (None, None, None);
    for line in lines.by_ref() {
        let mut words = line.split_whitespace();
        let (Some(key), value) = (words.next(), words.next()) else {
            continue;
        };
        let number = |v: Option<&str>| -> Result<f64> {
            v.and_then(|v| v.parse().ok())
                .ok_or_else(|| bad(format!("bad value in {line:?}")))
        };
        match key {
            "SV" => break,
            "svm_type" if !matches!(value, Some("nu_svr" | "epsilon_svr")) => {
                return Err(bad(format!(
                    "svm_type {value:?} (supported: nu_svr, epsilon_svr)"
                )))
            }
            "kernel_type" if value != Some("rbf") => {
                return Err(bad(format!("kernel_type {value:?} (supported: rbf)")))
            }
            "gamma" => gamma = Some(number(value)?),
            "rho" => rho = Some(number(value)?),
            "total_sv" => total = Some(number(value)? as usize),
            _ => {}
        }
    }
    let (Some(gamma), Some(rho)) = (gamma, rho) else {
        return Err(bad("missing gamma or rho".into()));
    };
    let mut coefs = Vec::new();
    let mut vectors = Vec::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let mut words = line.split_whitespace();
        let coef = words
            .next()
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| bad(format!("bad support vector {line:?}")))?;
        let mut sv = vec![0.0; n];
        for word in words {
            let entry = word
                .split_once(':')
                .and_then(|(i, v)| Some((i.parse::<usize>().ok()?, v.parse::<f64>().ok()?)));
            match entry {
                Some((i, v)) if (1..=n).contains(&i) => sv[i - 1] = v,
                _ => {
                    return Err(bad(format!(
                        "bad entry {word:?} (expected index:value with index 1..={n})"
                    )))
                }
            }
        }
        coefs.push(coef);
        vectors.extend(sv);
    }
    if total.is_some_and(|t| t != coefs.len()) || coefs.is_empty() {
        return Err(bad(format!(
            "total_sv {total:?} but {} support vectors",
            coefs.len()
        )));
    }
    Ok(Svm {
        gamma,
        rho,
        coefs,
        vectors,
    })
}

/// Reads `score_transform`; `None` unless it says `"enabled": true`.
fn parse_transform(t: &serde_json::Map<String, Value>) -> Result<Option<Transform>> {
    let flag = |key: &str| match t.get(key) {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if s == "true" || s == "false" => Ok(s == "true"),
        Some(v) => Err(Error::Model(format!(
            "score_transform.{key} is {v} (expected true or false)"
        ))),
    };
    if !flag("enabled")? {
        return Ok(None);
    }
    if t.contains_key("knots") {
        return Err(Error::Model(
            "score_transform.knots is not supported (polynomial p0, p1, p2 only)".into(),
        ));
    }
    let p = ["p0", "p1", "p2"].map(|k| t.get(k).and_then(Value::as_f64));
    Ok(Some(Transform {
        p,
        out_gte_in: flag("out_gte_in")?,
        out_lte_in: flag("out_lte_in")?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_model_reads_six_features_and_211_vectors() {
        let m = Model::vmaf_v0_6_1();
        assert_eq!(
            m.features,
            [
                Feature::Adm2,
                Feature::Motion2,
                Feature::Vif(0),
                Feature::Vif(1),
                Feature::Vif(2),
                Feature::Vif(3)
            ]
        );
        assert_eq!(m.coefs.len(), 211);
        assert_eq!(m.vectors.len(), 211 * 6);
        assert_eq!((m.gamma, m.rho), (0.04, -1.33133));
        assert_eq!(m.clip, Some((0.0, 100.0)));
        // The file has a transform but does not enable it (libvmaf's default).
        assert!(m.transform.is_none());
    }

    #[test]
    fn perfect_and_bad_features_give_high_and_low_scores() {
        let m = Model::vmaf_v0_6_1();
        let perfect = Features {
            adm2: 1.0,
            motion2: 4.0,
            vif: [1.0; 4],
        };
        let bad = Features {
            adm2: 0.4,
            motion2: 4.0,
            vif: [0.05, 0.1, 0.15, 0.2],
        };
        let (hi, lo) = (m.predict(&perfect), m.predict(&bad));
        assert!(hi > 95.0 && hi <= 100.0, "{hi}");
        assert_eq!(lo, 0.0, "clipped at 0");
    }

    #[test]
    fn enabled_transform_is_applied() {
        let json =
            VMAF_V061_JSON.replacen("\"out_gte_in\"", "\"enabled\": true, \"out_gte_in\"", 2);
        let m = Model::from_json(&json).unwrap();
        let f = Features {
            adm2: 0.9,
            motion2: 3.0,
            vif: [0.4, 0.7, 0.8, 0.85],
        };
        let plain = Model::vmaf_v0_6_1().predict(&f);
        // p0 + p1 y + p2 y^2 with the model's coefficients, never below y.
        let expected = (1.70674692 + 1.72643844 * plain - 0.00705305 * plain * plain).max(plain);
        assert!((m.predict(&f) - expected.min(100.0)).abs() < 1e-9);
        assert!(m.predict(&f) > plain);
    }

    #[test]
    fn bad_models_are_refused_with_the_reason() {
        let err = |json: &str| Model::from_json(json).unwrap_err().to_string();
        assert!(err("{").starts_with("invalid VMAF model: bad JSON"));
        let float = VMAF_V061_JSON.replace("VMAF_integer_feature_", "VMAF_feature_");
        assert!(err(&float).contains("unsupported feature \"VMAF_feature_adm2_score\""));
        let poly = VMAF_V061_JSON.replace("kernel_type rbf", "kernel_type poly");
        assert_eq!(
            err(&poly),
            "invalid VMAF model: libsvm model: kernel_type Some(\"poly\") (supported: rbf)"
        );
        let index = VMAF_V061_JSON.replacen(" 6:0.73495824", " 7:0.73495824", 1);
        assert!(err(&index).contains("bad entry \"7:0.73495824\""));
    }
}
