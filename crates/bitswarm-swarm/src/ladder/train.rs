//! Fitting and updating a [`LadderModel`] over a catalog of clips.
//!
//! The samples are the feature vectors of every scene of every clip. [`Gmm::fit_bic`] picks the
//! number of clusters. Each cluster gets:
//!
//! - a **centroid ladder**: [`initial_candidates`] of the cluster's mean features, for the
//!   [`centroid_reference`] source (1920x1080 at 30 fps), so that a model does not depend on the
//!   sizes of its catalog's clips; [`adapt_centroid`] scales it to a clip's height and frame
//!   rate. It is the predicted ladder of the cluster's typical content, which a clip's search
//!   then refines with real encodes.
//! - a **delivery profile**: the training device, and the bit rate the analysis predicts for the
//!   cluster's mean complexity score (`6 x 2^(score - 1)` kbit/s, the inverse of the score's
//!   definition in docs/ANALYSIS.md: one point per doubling).
//! - its **samples**: scenes whose most likely cluster it is.

use std::path::{Path, PathBuf};

use bitswarm_analysis::complexity::KBPS_AT_SCORE_ONE;
use bitswarm_core::{DeviceClass, EncoderKind, Rational, VideoInfo};
use bitswarm_ladder::{
    initial_candidates, Bounds, Candidate, CentroidSettings, ClusterInfo, DeliveryProfile, Gmm,
    GmmConfig, LadderModel, Objective, FEATURE_NAMES,
};

use super::features::{features_from_vector, ClipFeatures};
use super::{ladder_error, DEFAULT_TARGET_VMAF};
use crate::{Error, Result};

/// How a model is fitted.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainOptions {
    /// What the centroid ladders are written for (kept in the model for its updates).
    pub centroid: CentroidSettings,
    pub gmm: GmmConfig,
}

/// The centroid settings of a new model unless told otherwise: OpenH264 (the in-process
/// default encoder), desktop, VMAF 95.
pub const DEFAULT_CENTROID: CentroidSettings = CentroidSettings {
    encoder: EncoderKind::OpenH264,
    device: DeviceClass::Desktop,
    target_vmaf: DEFAULT_TARGET_VMAF,
};

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            centroid: DEFAULT_CENTROID,
            gmm: GmmConfig::default(),
        }
    }
}

/// EM steps of an [`update`].
pub const UPDATE_STEPS: usize = 20;

/// The source centroid ladders are written for: 1920x1080 at 30 fps.
pub const CENTROID_REFERENCE: VideoInfo = VideoInfo {
    width: 1920,
    height: 1080,
    fps: Rational { num: 30, den: 1 },
};

/// A centroid-ladder candidate for `source`: the height scaled by `source.height / 1080`, the
/// GOP by the frame-rate ratio (the search's bounds then clamp both to allowed values).
pub fn adapt_centroid(c: &Candidate, source: &VideoInfo) -> Candidate {
    let reference = CENTROID_REFERENCE;
    let height = f64::from(c.height) * f64::from(source.height) / f64::from(reference.height);
    let gop = f64::from(c.gop) * source.fps.as_f64() / reference.fps.as_f64();
    Candidate {
        // Rounded, and at most the 8192 lines a source may have, before the casts.
        height: height.round().clamp(1.0, 8192.0) as u32,
        gop: gop.round().clamp(1.0, 1000.0) as u32,
        ..*c
    }
}

/// The clips of a catalog folder: its `.y4m` and `.mp4` files (not recursive), sorted by name.
pub fn catalog_inputs(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        Error::Input(bitswarm_media::Error::Open {
            path: dir.display().to_string(),
            reason: format!("cannot list the catalog folder: {e}"),
        })
    })?;
    let mut clips = Vec::new();
    for entry in entries {
        let path = entry?.path();
        let clip = path.is_file()
            && path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e.eq_ignore_ascii_case("y4m") || e.eq_ignore_ascii_case("mp4"));
        if clip {
            clips.push(path);
        }
    }
    if clips.is_empty() {
        return Err(Error::Config(format!(
            "the catalog {} has no clips (expected .y4m or .mp4 files)",
            dir.display()
        )));
    }
    clips.sort();
    Ok(clips)
}

/// Fits a model on the scenes of `clips`.
pub fn train(clips: &[ClipFeatures], opts: &TrainOptions) -> Result<LadderModel> {
    let samples = samples(clips)?;
    let gmm = Gmm::fit_bic(&samples, &opts.gmm).map_err(ladder_error)?;
    let clusters = clusters(&gmm, &samples, &[], &opts.centroid)?;
    let names = FEATURE_NAMES.iter().map(|n| n.to_string()).collect();
    LadderModel::new(names, opts.centroid, gmm, clusters).map_err(ladder_error)
}

/// Adds the scenes of `clips` to `model`: [`UPDATE_STEPS`] of incremental EM, then the
/// clusters' ladders and delivery profiles from the updated means, for the model's
/// [`CentroidSettings`]; sample counts grow by the new scenes.
pub fn update(model: &mut LadderModel, clips: &[ClipFeatures]) -> Result<()> {
    if model.feature_names != FEATURE_NAMES {
        return Err(Error::Config(format!(
            "the model was fitted on features {:?}; this build computes {FEATURE_NAMES:?}",
            model.feature_names
        )));
    }
    let samples = samples(clips)?;
    let mut gmm = model.gmm.clone();
    gmm.update(&samples, UPDATE_STEPS).map_err(ladder_error)?;
    let clusters = clusters(&gmm, &samples, &model.clusters, &model.centroid)?;
    *model = LadderModel::new(model.feature_names.clone(), model.centroid, gmm, clusters)
        .map_err(ladder_error)?;
    Ok(())
}

fn samples(clips: &[ClipFeatures]) -> Result<Vec<Vec<f64>>> {
    let samples: Vec<Vec<f64>> = clips.iter().flat_map(ClipFeatures::scene_vectors).collect();
    if samples.is_empty() {
        return Err(Error::Config("no scenes to fit a model on".into()));
    }
    Ok(samples)
}

/// One [`ClusterInfo`] per component of `gmm`; `previous` (same order) carries sample counts.
fn clusters(
    gmm: &Gmm,
    samples: &[Vec<f64>],
    previous: &[ClusterInfo],
    centroid: &CentroidSettings,
) -> Result<Vec<ClusterInfo>> {
    let mut counts = vec![0u64; gmm.components()];
    for x in samples {
        let p = gmm.predict_proba(x).map_err(ladder_error)?;
        let best = (0..p.len()).max_by(|&a, &b| p[a].total_cmp(&p[b]));
        if let Some(j) = best {
            counts[j] += 1;
        }
    }
    let bounds = Bounds::new(CENTROID_REFERENCE, &[centroid.encoder], centroid.device)
        .map_err(ladder_error)?;
    (0..gmm.components())
        .map(|j| {
            let mean = gmm
                .component_mean(j)
                .ok_or_else(|| Error::Job(format!("the mixture has no component {j}")))?;
            let features = features_from_vector(&mean)?;
            Ok(ClusterInfo {
                centroid_ladder: initial_candidates(
                    &features,
                    centroid.target_vmaf,
                    Objective::Vmaf,
                    &bounds,
                )
                .map_err(ladder_error)?,
                delivery: DeliveryProfile {
                    device: centroid.device,
                    typical_kbps: KBPS_AT_SCORE_ONE * 2f64.powf(features.complexity - 1.0),
                },
                samples: previous.get(j).map_or(0, |c| c.samples) + counts[j],
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clip(name: &str, scenes: &[(f64, f64)]) -> ClipFeatures {
        crate::ladder::synthetic_clip(name, scenes, 2.5)
    }

    #[test]
    fn two_kinds_of_content_give_two_clusters_with_their_own_ladders() {
        let calm = clip("calm", &[(1.0, 2.0), (1.2, 2.1), (0.9, 1.9), (1.1, 2.0)]);
        let busy = clip(
            "busy",
            &[(15.0, 8.0), (16.0, 8.2), (14.0, 7.9), (15.5, 8.1)],
        );
        let opts = TrainOptions {
            centroid: CentroidSettings {
                encoder: EncoderKind::X264,
                ..DEFAULT_CENTROID
            },
            ..TrainOptions::default()
        };
        let model = train(&[calm.clone(), busy.clone()], &opts).unwrap();
        assert_eq!(model.centroid, opts.centroid);
        assert_eq!(model.clusters.len(), 2);
        assert_eq!(model.clusters.iter().map(|c| c.samples).sum::<u64>(), 8);
        let of = |c: &ClipFeatures| model.assign(&c.clip.to_vector()).unwrap()[0].0;
        let (j_calm, j_busy) = (of(&calm), of(&busy));
        assert_ne!(j_calm, j_busy);
        // Busy content costs more: a higher typical rate and lower resolutions for its rungs.
        let (c, b) = (&model.clusters[j_calm], &model.clusters[j_busy]);
        assert!(b.delivery.typical_kbps > 10.0 * c.delivery.typical_kbps);
        assert!(b.centroid_ladder[0].height <= c.centroid_ladder[0].height);
        assert!(b.centroid_ladder[0].crf_or_qp <= c.centroid_ladder[0].crf_or_qp);
        // 6 x 2^(score - 1) for the calm cluster's mean score of 2.0.
        assert!(
            (c.delivery.typical_kbps - 12.0).abs() < 1e-6,
            "{}",
            c.delivery.typical_kbps
        );

        let mut updated = model.clone();
        update(&mut updated, &[busy]).unwrap();
        assert_eq!(updated.gmm.samples(), 12);
        assert_eq!(updated.clusters[j_busy].samples, 8);
        assert_eq!(updated.clusters[j_calm].samples, 4);
        // The rewritten ladders are still for the encoder the model was trained with.
        assert_eq!(updated.centroid, model.centroid);
        for c in &updated.clusters {
            assert!(c
                .centroid_ladder
                .iter()
                .all(|r| r.encoder == EncoderKind::X264));
        }
    }

    #[test]
    fn centroids_scale_to_the_clip() {
        let c = Candidate {
            width: 1280,
            height: 720,
            encoder: EncoderKind::OpenH264,
            crf_or_qp: 30,
            gop: 60,
            complexity: 5,
            tuning: Default::default(),
        };
        let source = VideoInfo::new(640, 360, Rational::new(25, 1).unwrap()).unwrap();
        let a = adapt_centroid(&c, &source);
        assert_eq!((a.height, a.gop, a.crf_or_qp), (240, 50, 30));
    }

    #[test]
    fn a_catalog_without_clips_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notes.txt"), "x").unwrap();
        assert_eq!(
            catalog_inputs(dir.path()).unwrap_err().to_string(),
            format!(
                "invalid configuration: the catalog {} has no clips (expected .y4m or .mp4 files)",
                dir.path().display()
            )
        );
        std::fs::write(dir.path().join("b.Y4M"), "").unwrap();
        std::fs::write(dir.path().join("a.mp4"), "").unwrap();
        let found = catalog_inputs(dir.path()).unwrap();
        assert_eq!(found, [dir.path().join("a.mp4"), dir.path().join("b.Y4M")]);
    }
}
