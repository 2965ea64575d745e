//! The ladder model: a Gaussian mixture over content features whose components are content
//! clusters, each with the ladder that served its titles best, saved as one JSON file.
//!
//! ```json
//! {
//!   "format": "bitswarm-ladder-model/2",
//!   "feature_names": ["si_mean", "si_std", ...],
//!   "centroid": { "encoder": "x264", "device": "desktop", "target_vmaf": 95.0 },
//!   "gmm": { "feature_mean": [...], "feature_std": [...], "weights": [...], "means": [[...]],
//!            "variances": [[...]], "var_floor": 0.001, "samples": 120 },
//!   "clusters": [ { "centroid_ladder": [ { "width": 640, "height": 360, "encoder": "x264",
//!                   "crf_or_qp": 27, "gop": 100, "complexity": 6 }, ... ],
//!                   "delivery": { "device": "desktop", "typical_kbps": 1800.0 },
//!                   "samples": 40 }, ... ]
//! }
//! ```
//!
//! Cluster `j` belongs to mixture component `j`. A title is assigned to clusters by the
//! mixture's soft assignment; its swarm is every cluster above a probability threshold (at least
//! the most likely one), so a title between two kinds of content gets both ladders.
//!
//! `centroid` says what the centroid ladders are written for, so that an update (which moves
//! the means and so rewrites the ladders) keeps the encoder, device and target the model was
//! trained with.

use std::path::Path;

use bitswarm_core::{DeviceClass, EncoderKind};
use serde::{Deserialize, Serialize};

use crate::{Candidate, Error, Gmm, Result};

/// The format tag of the current model files.
pub const MODEL_FORMAT: &str = "bitswarm-ladder-model/2";

/// What a model's centroid ladders are written for.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CentroidSettings {
    pub encoder: EncoderKind,
    /// Device class of the delivery profiles (and so of the ladders' largest height).
    pub device: DeviceClass,
    /// VMAF the ladders' top rungs aim at.
    pub target_vmaf: f64,
}

impl CentroidSettings {
    /// Checks the target is a VMAF in (0, 100].
    pub fn validate(&self) -> Result<()> {
        let target = self.target_vmaf;
        if !(target > 0.0 && target <= 100.0) {
            return Err(Error::invalid(
                "centroid target_vmaf",
                target.to_string(),
                "a VMAF in (0, 100]",
            ));
        }
        Ok(())
    }
}

/// How the bitstreams of a cluster are delivered.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryProfile {
    pub device: DeviceClass,
    /// The rate clients of this cluster typically stream at, kbit/s.
    pub typical_kbps: f64,
}

/// One content cluster: its ladder and how many titles it was learnt from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterInfo {
    /// The encoding profiles of the cluster's ladder, lowest rung first.
    pub centroid_ladder: Vec<Candidate>,
    pub delivery: DeliveryProfile,
    pub samples: u64,
}

/// Feature mixture plus one ladder per component.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LadderModel {
    /// Always [`MODEL_FORMAT`].
    pub format: String,
    /// Names of the feature vector's entries (e.g. [`crate::FEATURE_NAMES`]).
    pub feature_names: Vec<String>,
    pub centroid: CentroidSettings,
    pub gmm: Gmm,
    /// One per mixture component, in component order.
    pub clusters: Vec<ClusterInfo>,
}

impl LadderModel {
    /// A model of `gmm` with one cluster per component.
    pub fn new(
        feature_names: Vec<String>,
        centroid: CentroidSettings,
        gmm: Gmm,
        clusters: Vec<ClusterInfo>,
    ) -> Result<Self> {
        let model = Self {
            format: MODEL_FORMAT.into(),
            feature_names,
            centroid,
            gmm,
            clusters,
        };
        model.validate()?;
        Ok(model)
    }

    /// Checks the format tag, the centroid target, that names, mixture and clusters fit
    /// together, and every delivery rate.
    pub fn validate(&self) -> Result<()> {
        if self.format != MODEL_FORMAT {
            return Err(Error::invalid(
                "model format",
                format!("{:?}", self.format),
                &format!("{MODEL_FORMAT:?}"),
            ));
        }
        self.centroid.validate()?;
        self.gmm.validate()?;
        if self.feature_names.len() != self.gmm.dim() {
            return Err(Error::invalid(
                "number of feature_names",
                self.feature_names.len().to_string(),
                &format!("one per feature of the mixture: {}", self.gmm.dim()),
            ));
        }
        if self.clusters.len() != self.gmm.components() {
            return Err(Error::invalid(
                "number of clusters",
                self.clusters.len().to_string(),
                &format!("one per mixture component: {}", self.gmm.components()),
            ));
        }
        for (j, c) in self.clusters.iter().enumerate() {
            let kbps = c.delivery.typical_kbps;
            if !(kbps.is_finite() && kbps > 0.0) {
                return Err(Error::invalid(
                    &format!("typical_kbps of cluster {j}"),
                    kbps.to_string(),
                    "a finite rate > 0",
                ));
            }
        }
        Ok(())
    }

    /// Writes the model as pretty-printed JSON (after [`LadderModel::validate`]: an invalid
    /// model is not written). The file is replaced at once (written beside it, then renamed),
    /// so a reader or a crash never sees half a model.
    pub fn save(&self, path: &Path) -> Result<()> {
        self.validate()?;
        let json = serde_json::to_string_pretty(self).map_err(|e| Error::ModelFile {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = std::path::PathBuf::from(tmp);
        std::fs::write(&tmp, json)
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|source| Error::Io {
                action: "write",
                path: path.to_owned(),
                source,
            })
    }

    /// Reads and validates a model file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            action: "read",
            path: path.to_owned(),
            source,
        })?;
        let bad = |reason: String| Error::ModelFile {
            path: path.to_owned(),
            reason,
        };
        // The tag first, so that a file of another format gets a clear error.
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| bad(format!("not valid JSON: {e}")))?;
        match value.get("format") {
            Some(serde_json::Value::String(tag)) if tag == MODEL_FORMAT => {}
            Some(other) => {
                return Err(bad(format!(
                    "format {other}, this build reads {MODEL_FORMAT:?}"
                )))
            }
            None => {
                return Err(bad(format!(
                    "no \"format\" field (expected {MODEL_FORMAT:?})"
                )))
            }
        }
        let model: LadderModel = serde_json::from_value(value).map_err(|e| bad(e.to_string()))?;
        model.validate().map_err(|e| bad(e.to_string()))?;
        Ok(model)
    }

    /// Every cluster with its probability for a title with these features, most likely first.
    pub fn assign(&self, features: &[f64]) -> Result<Vec<(usize, f64)>> {
        let mut ranked: Vec<(usize, f64)> = self
            .gmm
            .predict_proba(features)?
            .into_iter()
            .enumerate()
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        Ok(ranked)
    }

    /// The clusters whose probability is at least `threshold`, most likely first; always at
    /// least the most likely one.
    pub fn swarm(&self, features: &[f64], threshold: f64) -> Result<Vec<(usize, f64)>> {
        let ranked = self.assign(features)?;
        let keep = ranked
            .iter()
            .skip(1)
            .take_while(|(_, p)| *p >= threshold)
            .count();
        Ok(ranked.into_iter().take(keep + 1).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GmmConfig;
    use bitswarm_core::{EncoderKind, Tuning};

    fn rung(height: u32, crf: u8) -> Candidate {
        Candidate {
            width: height * 16 / 9,
            height,
            encoder: EncoderKind::X264,
            crf_or_qp: crf,
            gop: 100,
            complexity: 6,
            tuning: Tuning::default(),
        }
    }

    const CENTROID: CentroidSettings = CentroidSettings {
        encoder: EncoderKind::X264,
        device: DeviceClass::Desktop,
        target_vmaf: 95.0,
    };

    /// Two clusters of 2-feature titles around (0, 0) and (10, 10).
    fn model() -> LadderModel {
        let mut samples = Vec::new();
        for i in 0..10 {
            let e = f64::from(i) * 0.1;
            samples.push(vec![e, 1.0 - e]);
            samples.push(vec![10.0 + e, 10.0 - e]);
        }
        let gmm = Gmm::fit(&samples, 2, &GmmConfig::default()).unwrap();
        let cluster = |kbps: f64, ladder| ClusterInfo {
            centroid_ladder: ladder,
            delivery: DeliveryProfile {
                device: DeviceClass::Desktop,
                typical_kbps: kbps,
            },
            samples: 10,
        };
        LadderModel::new(
            vec!["a".into(), "b".into()],
            CENTROID,
            gmm,
            vec![
                cluster(800.0, vec![rung(360, 28), rung(720, 24)]),
                cluster(2500.0, vec![rung(540, 26)]),
            ],
        )
        .unwrap()
    }

    #[test]
    fn save_and_load_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.json");
        let m = model();
        m.save(&path).unwrap();
        assert_eq!(LadderModel::load(&path).unwrap(), m);
    }

    #[test]
    fn load_says_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.json");
        let shown = path.display().to_string();
        let load_err = |text: &str| {
            std::fs::write(&path, text).unwrap();
            LadderModel::load(&path).unwrap_err().to_string()
        };
        assert_eq!(
            load_err(r#"{"format": "bitswarm-ladder-model/1"}"#),
            format!(
                "{shown} is not a usable ladder model: format \"bitswarm-ladder-model/1\", this \
                 build reads \"bitswarm-ladder-model/2\""
            )
        );
        assert_eq!(
            load_err("{}"),
            format!(
                "{shown} is not a usable ladder model: no \"format\" field (expected \
                 \"bitswarm-ladder-model/2\")"
            )
        );
        assert_eq!(
            load_err(r#"{"format": 1}"#),
            format!(
                "{shown} is not a usable ladder model: format 1, this build reads \
                 \"bitswarm-ladder-model/2\""
            )
        );
        assert!(load_err("{\"format\": ").starts_with(&format!(
            "{shown} is not a usable ladder model: not valid JSON: "
        )));
        // A valid file with one cluster dropped.
        let mut m = model();
        m.clusters.pop();
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(
            load_err(&json),
            format!(
                "{shown} is not a usable ladder model: invalid number of clusters 1 (expected one \
                 per mixture component: 2)"
            )
        );
        let missing = dir.path().join("missing.json");
        assert!(LadderModel::load(&missing)
            .unwrap_err()
            .to_string()
            .starts_with(&format!("cannot read {}: ", missing.display())));
    }

    #[test]
    fn assign_and_swarm() {
        let m = model();
        let near_second = m.assign(&[10.5, 9.5]).unwrap();
        assert_eq!(near_second.len(), 2);
        let total: f64 = near_second.iter().map(|(_, p)| p).sum();
        assert!((total - 1.0).abs() < 1e-12);
        let best = near_second[0].0;
        assert!(near_second[0].1 > 0.999);
        // The cluster of the (10, 10) titles has the 540p ladder.
        assert_eq!(m.clusters[best].centroid_ladder, [rung(540, 26)]);
        // A high threshold keeps only the most likely cluster...
        assert_eq!(m.swarm(&[10.5, 9.5], 0.5).unwrap(), near_second[..1]);
        // ... a threshold of 0 keeps both.
        assert_eq!(m.swarm(&[10.5, 9.5], 0.0).unwrap(), near_second);
        assert!(m.assign(&[1.0]).is_err());
    }

    #[test]
    fn new_checks_the_parts_fit() {
        let m = model();
        assert_eq!(
            LadderModel::new(
                vec!["a".into()],
                CENTROID,
                m.gmm.clone(),
                m.clusters.clone()
            )
            .unwrap_err()
            .to_string(),
            "invalid number of feature_names 1 (expected one per feature of the mixture: 2)"
        );
        let mut clusters = m.clusters.clone();
        clusters[1].delivery.typical_kbps = -1.0;
        assert_eq!(
            LadderModel::new(m.feature_names.clone(), CENTROID, m.gmm.clone(), clusters)
                .unwrap_err()
                .to_string(),
            "invalid typical_kbps of cluster 1 -1 (expected a finite rate > 0)"
        );
        for target in [0.0, 101.0, f64::NAN] {
            let centroid = CentroidSettings {
                target_vmaf: target,
                ..CENTROID
            };
            assert_eq!(
                LadderModel::new(
                    m.feature_names.clone(),
                    centroid,
                    m.gmm.clone(),
                    m.clusters.clone()
                )
                .unwrap_err()
                .to_string(),
                format!("invalid centroid target_vmaf {target} (expected a VMAF in (0, 100])")
            );
        }
    }
}
