//! Content features of a clip, per scene: the analysis (SI/TI, motion vectors, complexity) and
//! a cheap probe encode (OpenH264 at a fixed QP, at a quarter of the source's pixels).

use std::path::Path;

use serde::{Deserialize, Serialize};

use bitswarm_analysis::{Analysis, AnalysisConfig, Analyzer};
use bitswarm_codec::{open_encoder, Encoder, EncoderConfig};
use bitswarm_core::{
    EncoderKind, Frame, Profile, RateControl, Resolution, VideoInfo, GOP_RANGE, MIN_DIMENSION,
};
use bitswarm_ladder::{SceneFeatures, FEATURE_NAMES};
use bitswarm_media::{open_input, InputOptions};

use crate::{Error, Result};

/// QP of the probe encode.
pub const PROBE_QP: u8 = 30;
/// Encoder effort of the probe encode (the cheapest).
pub const PROBE_COMPLEXITY: u8 = 1;

/// The features of one scene.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SceneFeatureRow {
    /// Index of the scene's first frame.
    pub start: u64,
    pub frames: u64,
    pub features: SceneFeatures,
}

/// The features of a clip: one row per scene, and the clip's vector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClipFeatures {
    pub input: String,
    pub source: VideoInfo,
    pub frames: u64,
    /// Width and height of the probe encode.
    pub probe_size: (u32, u32),
    pub scenes: Vec<SceneFeatureRow>,
    /// Mean of the scenes' features weighted by their frames. For `cut_rate` that is exactly
    /// the clip's scenes per second.
    pub clip: SceneFeatures,
}

impl ClipFeatures {
    /// The scenes' feature vectors (the samples a model is fitted on).
    pub fn scene_vectors(&self) -> Vec<Vec<f64>> {
        self.scenes.iter().map(|s| s.features.to_vector()).collect()
    }
}

/// The probe's picture: half the source's width and height (a quarter of its pixels), even,
/// at least 16.
pub fn probe_size(source: &VideoInfo) -> (u32, u32) {
    let half = |v: u32| (v / 4 * 2).max(MIN_DIMENSION);
    (half(source.width), half(source.height))
}

/// A `SceneFeatures` from a vector in [`FEATURE_NAMES`] order. Shares and scores are clamped
/// into their ranges first, which only absorbs the rounding of a mean of valid vectors.
pub fn features_from_vector(v: &[f64]) -> Result<SceneFeatures> {
    let [si_mean, si_std, ti_mean, ti_std, mv_mean_len, mv_std_len, share, complexity, bpp, cut_rate] =
        <[f64; 10]>::try_from(v).map_err(|_| {
            Error::Job(format!(
                "a feature vector has {} values, expected {} ({})",
                v.len(),
                FEATURE_NAMES.len(),
                FEATURE_NAMES.join(", ")
            ))
        })?;
    let features = SceneFeatures {
        si_mean,
        si_std,
        ti_mean,
        ti_std,
        mv_mean_len,
        mv_std_len,
        mv_moving_share: share.clamp(0.0, 1.0),
        complexity: complexity.clamp(1.0, 10.0),
        probe_bits_per_pixel: bpp,
        cut_rate,
    };
    features
        .validate()
        .map_err(|e| Error::Job(format!("feature vector: {e}")))?;
    Ok(features)
}

/// The mean of `rows`' features weighted by their frames.
pub fn weighted_mean(rows: &[SceneFeatureRow]) -> Result<SceneFeatures> {
    let total: u64 = rows.iter().map(|r| r.frames).sum();
    if total == 0 {
        return Err(Error::Job("no frames to average features over".into()));
    }
    let mut sum = vec![0.0; FEATURE_NAMES.len()];
    for row in rows {
        let w = row.frames as f64 / total as f64;
        sum.iter_mut()
            .zip(row.features.to_vector())
            .for_each(|(s, v)| *s += w * v);
    }
    features_from_vector(&sum)
}

/// Reads `input` once: analyses every frame and probe-encodes every scene.
pub fn extract(
    input: &str,
    analysis: &AnalysisConfig,
    ffmpeg: Option<&Path>,
) -> Result<ClipFeatures> {
    let opts = InputOptions {
        ffmpeg: ffmpeg.map(Path::to_path_buf),
        ..InputOptions::default()
    };
    let mut source = open_input(input, &opts)?;
    let info = source.info();
    let analysis = AnalysisConfig {
        motion_statistics: true,
        ..analysis.clone()
    };
    let mut analyzer = Analyzer::new(info, analysis).map_err(analysis_error)?;
    let mut probe = ProbeEncode::new(info);
    while let Some(frame) = source.next_frame()? {
        let stats = analyzer.push(&frame).map_err(analysis_error)?;
        probe.push(&frame, stats.scene_cut)?;
    }
    let scene_bytes = probe.finish()?;
    let analysis = analyzer.finish();
    if analysis.frames.is_empty() {
        return Err(Error::Job(format!("{input}: the input has no frames")));
    }
    let scenes = scene_rows(&analysis, &scene_bytes, probe.size)?;
    Ok(ClipFeatures {
        input: input.to_owned(),
        source: info,
        frames: analysis.frames.len() as u64,
        probe_size: probe.size,
        clip: weighted_mean(&scenes)?,
        scenes,
    })
}

fn analysis_error(e: bitswarm_analysis::Error) -> Error {
    Error::Output(format!("analysis: {e}"))
}

/// Population standard deviation.
fn std_dev(values: impl Iterator<Item = f64> + Clone) -> f64 {
    let n = values.clone().count();
    if n == 0 {
        return 0.0;
    }
    let mean = values.clone().sum::<f64>() / n as f64;
    (values.map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64).sqrt()
}

/// One feature row per scene of `analysis`, with the probe's bytes of each scene.
fn scene_rows(
    analysis: &Analysis,
    scene_bytes: &[u64],
    probe: (u32, u32),
) -> Result<Vec<SceneFeatureRow>> {
    if scene_bytes.len() != analysis.scenes.len() {
        return Err(Error::Job(format!(
            "the probe encode saw {} scenes, the analysis {}",
            scene_bytes.len(),
            analysis.scenes.len()
        )));
    }
    let fps = analysis.info.fps.as_f64();
    let probe_pixels = f64::from(probe.0) * f64::from(probe.1);
    analysis
        .scenes
        .iter()
        .zip(scene_bytes)
        .map(|(scene, &bytes)| {
            let frames = &analysis.frames[scene.start as usize..scene.end() as usize];
            let features = SceneFeatures {
                si_mean: scene.si_mean,
                si_std: std_dev(frames.iter().map(|f| f.si)),
                ti_mean: scene.ti_mean,
                // As the scene's TI mean: over the frames after its first (whose TI is the cut).
                ti_std: std_dev(frames.iter().skip(1).map(|f| f.ti)),
                mv_mean_len: scene.motion_mean,
                mv_std_len: scene.motion_std,
                mv_moving_share: scene.moving_share,
                complexity: scene.score,
                probe_bits_per_pixel: bytes as f64 * 8.0 / (scene.frames as f64 * probe_pixels),
                cut_rate: fps / scene.frames as f64,
            };
            features.validate().map_err(|e| {
                Error::Job(format!(
                    "features of the scene at frame {}: {e}",
                    scene.start
                ))
            })?;
            Ok(SceneFeatureRow {
                start: scene.start,
                frames: scene.frames,
                features,
            })
        })
        .collect()
}

/// The probe encode: one OpenH264 encoder per scene (a scene starts with a keyframe, as the
/// swarm's chunks do), counting the bytes of each scene.
struct ProbeEncode {
    source: VideoInfo,
    size: (u32, u32),
    encoder: Option<Box<dyn Encoder>>,
    scene_bytes: Vec<u64>,
}

impl ProbeEncode {
    fn new(source: VideoInfo) -> Self {
        Self {
            source,
            size: probe_size(&source),
            encoder: None,
            scene_bytes: Vec::new(),
        }
    }

    fn push(&mut self, frame: &Frame, scene_cut: bool) -> Result<()> {
        if scene_cut || self.encoder.is_none() {
            self.close_scene()?;
            let (width, height) = self.size;
            let profile = Profile {
                name: "probe".into(),
                encoder: EncoderKind::OpenH264,
                resolution: Resolution::Fixed { width, height },
                rate: RateControl::Qp { qp: PROBE_QP },
                gop: *GOP_RANGE.end(),
                complexity: PROBE_COMPLEXITY,
                ..Profile::default()
            };
            self.encoder = Some(open_encoder(&EncoderConfig {
                profile,
                source: self.source,
                threads: 1,
                ffmpeg: None,
            })?);
            self.scene_bytes.push(0);
        }
        if let Some(encoder) = self.encoder.as_mut() {
            encoder.send_frame(frame)?;
            let bytes = drain(encoder.as_mut())?;
            if let Some(last) = self.scene_bytes.last_mut() {
                *last += bytes;
            }
        }
        Ok(())
    }

    fn close_scene(&mut self) -> Result<()> {
        if let Some(mut encoder) = self.encoder.take() {
            encoder.flush()?;
            let bytes = drain(encoder.as_mut())?;
            if let Some(last) = self.scene_bytes.last_mut() {
                *last += bytes;
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<Vec<u64>> {
        self.close_scene()?;
        Ok(std::mem::take(&mut self.scene_bytes))
    }
}

/// Bytes of the packets the encoder has ready.
fn drain(encoder: &mut dyn Encoder) -> Result<u64> {
    let mut bytes = 0;
    while let Some(packet) = encoder.receive_packet()? {
        bytes += packet.data.len() as u64;
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitswarm_core::Rational;

    fn row(frames: u64, share: f64, cut_rate: f64) -> SceneFeatureRow {
        SceneFeatureRow {
            start: 0,
            frames,
            features: SceneFeatures {
                si_mean: 50.0,
                si_std: 1.0,
                ti_mean: 4.0,
                ti_std: 1.0,
                mv_mean_len: 2.0,
                mv_std_len: 1.0,
                mv_moving_share: share,
                complexity: 3.0,
                probe_bits_per_pixel: 0.1,
                cut_rate,
            },
        }
    }

    #[test]
    fn probe_size_is_half_each_side_even_and_at_least_16() {
        let info = |w, h| VideoInfo::new(w, h, Rational::new(25, 1).unwrap()).unwrap();
        assert_eq!(probe_size(&info(640, 360)), (320, 180));
        assert_eq!(probe_size(&info(352, 288)), (176, 144));
        assert_eq!(probe_size(&info(70, 22)), (34, 16));
    }

    #[test]
    fn the_frame_weighted_mean_of_cut_rates_is_scenes_per_second() {
        // 25 fps: scenes of 37, 50 and 13 frames; each scene's cut rate is fps / its frames.
        let rows: Vec<_> = [37u64, 50, 13]
            .iter()
            .map(|&n| row(n, 1.0, 25.0 / n as f64))
            .collect();
        let mean = weighted_mean(&rows).unwrap();
        assert!(
            (mean.cut_rate - 3.0 / 4.0).abs() < 1e-12,
            "{}",
            mean.cut_rate
        );
        // A mean of shares of 1 may round above 1; it is clamped back.
        let share = mean.mv_moving_share;
        assert!(share <= 1.0 && share > 1.0 - 1e-12, "{share}");
    }

    #[test]
    fn vectors_of_the_wrong_size_or_out_of_range_are_refused() {
        assert_eq!(
            features_from_vector(&[1.0; 3]).unwrap_err().to_string(),
            "job failed: a feature vector has 3 values, expected 10 (si_mean, si_std, ti_mean, \
             ti_std, mv_mean_len, mv_std_len, mv_moving_share, complexity, probe_bits_per_pixel, \
             cut_rate)"
        );
        let mut v = row(1, 0.5, 1.0).features.to_vector();
        v[8] = 0.0;
        assert_eq!(
            features_from_vector(&v).unwrap_err().to_string(),
            "job failed: feature vector: invalid probe_bits_per_pixel 0 (expected a finite number > 0)"
        );
        assert!(weighted_mean(&[]).is_err());
    }
}
