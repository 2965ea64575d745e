//! The online analyser: frames in, per-frame statistics and scene boundaries out.

use bitswarm_core::{Frame, VideoInfo};
use serde::{Deserialize, Serialize};

use crate::complexity::{bits_per_pixel, kbps, level, score, Summary};
use crate::cut::{change_score, CutDetector};
use crate::measure::{
    spatial_information, temporal_information, BlockScan, SobelScratch, Thumbnail,
};
use crate::motion::MotionScan;
use crate::{AnalysisConfig, Error, Result};

/// What the analyser measured on one frame.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct FrameStats {
    /// 0-based position in the stream.
    pub index: u64,
    /// P.910 spatial information: standard deviation of the Sobel magnitude of the luma plane,
    /// over the interior (the 1-pixel border, where the kernel does not fit, is left out).
    pub si: f64,
    /// P.910 temporal information: standard deviation of the luma difference to the previous
    /// frame (0 for frame 0).
    pub ti: f64,
    /// Residual energy (squared luma levels) the complexity score is computed from: the mean over
    /// 8x8 blocks of the cheaper of "difference to the best block of the previous frame found by
    /// a small motion search" and "block variance"; the variance alone on the first frame of a
    /// scene.
    pub energy: f64,
    /// Mean length in source pixels of the motion vectors of the 32x32 blocks that moved since
    /// the previous frame (0 when none did, and for frame 0); see docs/ANALYSIS.md, "Motion".
    #[serde(default)]
    pub motion_mean: f64,
    /// Population standard deviation of those lengths.
    #[serde(default)]
    pub motion_std: f64,
    /// Share of the whole 32x32 blocks that moved, `0.0..=1.0`.
    #[serde(default)]
    pub moving_share: f64,
    /// Fraction of picture regions that changed since the previous frame (1 for frame 0).
    pub cut_score: f64,
    /// The threshold `cut_score` had to exceed for a cut here.
    pub cut_threshold: f64,
    /// This frame starts a new scene (always true for frame 0).
    pub scene_cut: bool,
}

/// Statistics of one scene: a run of frames from a cut up to the next.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct SceneStats {
    /// Index of the scene's first frame.
    pub start: u64,
    /// Frames in the scene.
    pub frames: u64,
    pub si_mean: f64,
    pub si_max: f64,
    /// Mean and maximum TI over the scene's frames after its first (whose TI measures the cut).
    pub ti_mean: f64,
    pub ti_max: f64,
    /// Mean and standard deviation of the motion vector lengths (source pixels) of the moving
    /// blocks of the scene's frames after its first, pooled, and the share of their blocks that
    /// moved.
    #[serde(default)]
    pub motion_mean: f64,
    #[serde(default)]
    pub motion_std: f64,
    #[serde(default)]
    pub moving_share: f64,
    /// Predicted OpenH264 bits per pixel at QP 34, mean over the scene's frames.
    pub bits_per_pixel: f64,
    /// Predicted OpenH264 bit rate at QP 34 in kbit/s: `bits_per_pixel` at the stream's size and
    /// frame rate.
    pub kbps: f64,
    /// The score rounded, 1..=10.
    pub complexity: u8,
    /// Unrounded complexity, `1.0..=10.0`: one point per doubling of `kbps`.
    pub score: f64,
}

impl SceneStats {
    fn new(start: u64, summary: &Summary, info: &VideoInfo) -> Self {
        let kbps = kbps(summary.bits_per_pixel(), info);
        let score = score(kbps);
        let (motion_mean, motion_std) = summary.motion.length_mean_std();
        Self {
            start,
            frames: summary.frames,
            si_mean: summary.si_mean(),
            si_max: summary.si_max,
            ti_mean: summary.ti_mean(),
            ti_max: summary.ti_max,
            motion_mean,
            motion_std,
            moving_share: summary.motion.moving_share(),
            bits_per_pixel: summary.bits_per_pixel(),
            kbps,
            complexity: level(score),
            score,
        }
    }

    /// One past the index of the scene's last frame.
    pub fn end(&self) -> u64 {
        self.start + self.frames
    }
}

/// The analysis of a whole stream.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Analysis {
    pub info: VideoInfo,
    pub frames: Vec<FrameStats>,
    pub scenes: Vec<SceneStats>,
    /// P.910 SI: the maximum over the frames.
    pub si: f64,
    /// P.910 TI: the maximum over frames 1.. (cut frames included, as P.910 defines it).
    pub ti: f64,
    pub si_mean: f64,
    /// Mean TI over frames 1.. (cut frames included).
    pub ti_mean: f64,
    /// Motion over the frames that do not start a scene, pooled as in [`SceneStats`].
    #[serde(default)]
    pub motion_mean: f64,
    #[serde(default)]
    pub motion_std: f64,
    #[serde(default)]
    pub moving_share: f64,
    /// Predicted OpenH264 bits per pixel at QP 34, mean over all frames.
    pub bits_per_pixel: f64,
    /// Predicted OpenH264 bit rate at QP 34 in kbit/s, over the whole stream.
    pub kbps: f64,
    /// Complexity of the whole stream (its mean bit rate), 1..=10.
    pub complexity: u8,
    /// Unrounded stream complexity, `1.0..=10.0`.
    pub score: f64,
}

impl Analysis {
    /// The scene that contains frame `index`, if the stream has that frame.
    pub fn scene_of(&self, index: u64) -> Option<&SceneStats> {
        let after = self.scenes.partition_point(|s| s.start <= index);
        let scene = self.scenes.get(after.checked_sub(1)?)?;
        (index < scene.end()).then_some(scene)
    }
}

/// Online content analysis of a stream of frames of one geometry; see the crate docs.
#[derive(Debug)]
pub struct Analyzer {
    info: VideoInfo,
    detector: CutDetector,
    sobel: SobelScratch,
    scan: BlockScan,
    /// Motion-vector statistics, when [`AnalysisConfig::motion_statistics`] asks for them.
    motion: Option<MotionScan>,
    /// Luma plane and thumbnail of the previous frame (empty before the first frame).
    previous_luma: Vec<u8>,
    previous_thumbnail: Thumbnail,
    frames: Vec<FrameStats>,
    /// Finished scenes.
    scenes: Vec<SceneStats>,
    scene_start: u64,
    scene: Summary,
    stream: Summary,
}

impl Analyzer {
    /// An analyser for frames of geometry `info`; fails on an invalid geometry or config.
    pub fn new(info: VideoInfo, cfg: AnalysisConfig) -> Result<Self> {
        let info = VideoInfo::new(info.width, info.height, info.fps)?;
        cfg.validate()?;
        Ok(Self {
            info,
            detector: CutDetector::new(&cfg),
            sobel: SobelScratch::default(),
            scan: BlockScan::default(),
            motion: cfg.motion_statistics.then(MotionScan::default),
            previous_luma: Vec::with_capacity(info.luma_len()),
            previous_thumbnail: Thumbnail::default(),
            frames: Vec::new(),
            scenes: Vec::new(),
            scene_start: 0,
            scene: Summary::default(),
            stream: Summary::default(),
        })
    }

    /// Analyses the next frame. The result says whether it starts a new scene, decided from this
    /// frame and the ones before it only (frame 0 always does).
    pub fn push(&mut self, frame: &Frame) -> Result<FrameStats> {
        let index = self.frames.len() as u64;
        let (width, height) = (self.info.width as usize, self.info.height as usize);
        if (frame.width, frame.height) != (self.info.width, self.info.height)
            || frame.y.len() != width * height
        {
            return Err(Error::FrameMismatch {
                index,
                width: frame.width,
                height: frame.height,
                luma: frame.y.len(),
                expected_width: self.info.width,
                expected_height: self.info.height,
                expected_luma: width * height,
            });
        }
        let previous = (index > 0).then_some(self.previous_luma.as_slice());
        let si = spatial_information(&frame.y, width, height, &mut self.sobel);
        let ti = previous.map_or(0.0, |p| temporal_information(&frame.y, p));
        self.scan.scan(&frame.y, previous, width, height);
        let motion = match &mut self.motion {
            Some(scan) => scan.scan(&frame.y, previous, width, height),
            None => Default::default(),
        };
        let cut_score =
            previous.map(|_| change_score(&self.previous_thumbnail, &self.scan.thumbnail));
        let decision = self.detector.decide(cut_score);
        let energy = if decision.cut {
            self.scan.intra_energy
        } else {
            self.scan.residual_energy
        };
        if decision.cut && index > 0 {
            self.scenes
                .push(SceneStats::new(self.scene_start, &self.scene, &self.info));
            self.scene = Summary::default();
            self.scene_start = index;
        }
        let bpp = bits_per_pixel(energy, self.info.luma_len() as u64);
        // A cut frame's vectors point into another scene: its motion describes no run.
        let run_motion = (!decision.cut).then_some(&motion);
        self.scene
            .add(si, (!decision.cut).then_some(ti), run_motion, bpp);
        self.stream
            .add(si, (index > 0).then_some(ti), run_motion, bpp);
        self.previous_luma.clear();
        self.previous_luma.extend_from_slice(&frame.y);
        std::mem::swap(&mut self.previous_thumbnail, &mut self.scan.thumbnail);
        let (motion_mean, motion_std) = motion.length_mean_std();
        let stats = FrameStats {
            index,
            si,
            ti,
            energy,
            motion_mean,
            motion_std,
            moving_share: motion.moving_share(),
            cut_score: cut_score.unwrap_or(1.0),
            cut_threshold: decision.threshold,
            scene_cut: decision.cut,
        };
        self.frames.push(stats.clone());
        Ok(stats)
    }

    /// Statistics of the scene in progress (the frames since the last cut); a scene of 0 frames
    /// and complexity 1 before the first frame.
    pub fn current_scene(&self) -> SceneStats {
        SceneStats::new(self.scene_start, &self.scene, &self.info)
    }

    /// The geometry this analyser accepts.
    pub fn info(&self) -> VideoInfo {
        self.info
    }

    /// Ends the stream: closes the scene in progress and returns the whole analysis.
    pub fn finish(mut self) -> Analysis {
        if self.scene.frames > 0 {
            self.scenes
                .push(SceneStats::new(self.scene_start, &self.scene, &self.info));
        }
        // The whole stream as one run (its TI statistics include the cut frames, as P.910's do).
        let stream = SceneStats::new(0, &self.stream, &self.info);
        Analysis {
            info: self.info,
            frames: self.frames,
            scenes: self.scenes,
            si: stream.si_max,
            ti: stream.ti_max,
            si_mean: stream.si_mean,
            ti_mean: stream.ti_mean,
            motion_mean: stream.motion_mean,
            motion_std: stream.motion_std,
            moving_share: stream.moving_share,
            bits_per_pixel: stream.bits_per_pixel,
            kbps: stream.kbps,
            complexity: stream.complexity,
            score: stream.score,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::{frame, hash, info, scene};

    /// Pushes every frame and returns the analysis.
    fn analyse(info: VideoInfo, cfg: AnalysisConfig, frames: &[Frame]) -> Analysis {
        let mut analyzer = Analyzer::new(info, cfg).unwrap();
        for f in frames {
            analyzer.push(f).unwrap();
        }
        analyzer.finish()
    }

    fn cuts(analysis: &Analysis) -> Vec<u64> {
        let cuts = analysis.frames.iter().filter(|f| f.scene_cut);
        cuts.map(|f| f.index).collect()
    }

    /// Cuts with no minimum scene length: what the detector itself decides.
    fn eager() -> AnalysisConfig {
        AnalysisConfig {
            min_scene_frames: 1,
            ..AnalysisConfig::default()
        }
    }

    /// A camera moving 2 pixels right per frame over scene `seed`.
    fn pan(info: &VideoInfo, seed: u64, frames: std::ops::Range<i64>) -> Vec<Frame> {
        frames.map(|i| scene(info, seed, 2 * i, 0)).collect()
    }

    #[test]
    fn hard_cut_starts_a_scene_with_its_own_statistics() {
        let info = info(320, 176);
        let mut frames = pan(&info, 1, 0..20);
        frames.extend(pan(&info, 2, 0..15));
        let analysis = analyse(info, AnalysisConfig::default(), &frames);
        assert_eq!(cuts(&analysis), [0, 20]);
        assert!(analysis.frames[20].cut_score > 0.8);
        let (first, second) = (&analysis.scenes[0], &analysis.scenes[1]);
        assert_eq!((first.start, first.frames), (0, 20));
        assert_eq!((second.start, second.frames), (20, 15));
        // The cut frame's TI belongs to the stream (P.910) but not to the scene it starts.
        let ti = |range: std::ops::Range<usize>| analysis.frames[range].iter().map(|f| f.ti);
        assert_eq!(second.ti_max, ti(21..35).fold(0.0, f64::max));
        assert_eq!(analysis.ti, ti(1..35).fold(0.0, f64::max));
        assert!(analysis.ti > second.ti_max);
        assert_eq!(analysis.ti_mean, ti(1..35).sum::<f64>() / 34.0);
        assert_eq!(analysis.scene_of(19), Some(first));
        assert_eq!(analysis.scene_of(20), Some(second));
        assert_eq!(analysis.scene_of(34), Some(second));
        assert_eq!(analysis.scene_of(35), None);
    }

    #[test]
    fn slow_fades_and_dissolves_are_not_cuts() {
        let info = info(320, 176);
        let a = scene(&info, 1, 0, 0);
        let b = scene(&info, 2, 0, 0);
        let mix = |wa: f64, wb: f64| {
            frame(&info, |x, y| {
                let i = (y * 320 + x) as usize;
                (16.0 + wa * (f64::from(a.y[i]) - 16.0) + wb * (f64::from(b.y[i]) - 16.0)).round()
                    as u8
            })
        };
        // Fade to black over 25 frames, 5 black frames, fade in the next scene over 25 frames.
        let mut frames: Vec<Frame> = (0..=25)
            .map(|k| mix(1.0 - f64::from(k) / 25.0, 0.0))
            .collect();
        frames.extend((0..5).map(|_| mix(0.0, 0.0)));
        frames.extend((1..=25).map(|k| mix(0.0, f64::from(k) / 25.0)));
        // Then a dissolve back to the first scene over 25 frames.
        frames.extend((1..=25).map(|k| {
            let t = f64::from(k) / 25.0;
            mix(t, 1.0 - t)
        }));
        assert_eq!(cuts(&analyse(info, eager(), &frames)), [0]);
    }

    #[test]
    fn camera_shake_is_not_a_cut() {
        let info = info(320, 176);
        let frames: Vec<Frame> = (0..40)
            .map(|i| {
                let jitter = |axis| (hash(7, i, axis) % 9) as i64 - 4;
                scene(&info, 1, jitter(0), jitter(1))
            })
            .collect();
        assert_eq!(cuts(&analyse(info, eager(), &frames)), [0]);
    }

    #[test]
    fn no_cut_comes_sooner_than_the_minimum_scene_length() {
        let info = info(320, 176);
        let mut frames = pan(&info, 1, 0..20);
        frames.extend(pan(&info, 2, 0..6));
        frames.extend(pan(&info, 3, 0..20));
        let default = analyse(info, AnalysisConfig::default(), &frames);
        assert_eq!(cuts(&default), [0, 20]);
        assert_eq!(cuts(&analyse(info, eager(), &frames)), [0, 20, 26]);
    }

    #[test]
    fn complexity_follows_the_residual() {
        let info = info(320, 176);
        let frames = |luma: &dyn Fn(u64, u32, u32) -> u8| -> Vec<Frame> {
            (0..10)
                .map(|i| frame(&info, |x, y| luma(i, x, y)))
                .collect()
        };
        let still = analyse(
            info,
            AnalysisConfig::default(),
            &vec![scene(&info, 1, 0, 0); 10],
        );
        let pan: Vec<Frame> = (0..10).map(|i| scene(&info, 1, 3 * i, 0)).collect();
        let pan = analyse(info, AnalysisConfig::default(), &pan);
        // The same picture with fresh grain of +-12 levels in every frame: nothing to follow.
        let base = scene(&info, 1, 0, 0);
        let grain = frames(&|i, x, y| {
            let noise = (hash(i, x.into(), y.into()) % 25) as u8;
            base.y[(y * 320 + x) as usize] + noise - 12
        });
        let grain = analyse(info, AnalysisConfig::default(), &grain);
        // The first frame costs its block variance in every case; after it a still picture
        // costs nothing, a pan little (the motion search follows it), grain a lot.
        assert_eq!(still.frames[0].energy, pan.frames[0].energy);
        assert!(still.frames[1..].iter().all(|f| f.energy == 0.0));
        let first = pan.frames[0].energy;
        assert!(pan.frames[1..].iter().all(|f| f.energy < first / 20.0));
        assert!(grain.frames[1..].iter().all(|f| f.energy > 50.0));
        assert!(
            still.score < pan.score && pan.score + 3.0 < grain.score,
            "{} < {} < {}",
            still.score,
            pan.score,
            grain.score
        );
        for analysis in [&still, &pan, &grain] {
            assert_eq!(analysis.complexity, level(analysis.score));
            assert_eq!(analysis.scenes[0].score, analysis.score);
        }
    }

    #[test]
    fn score_is_the_predicted_rate_at_the_stream_size_and_frame_rate() {
        // The same pictures at twice the frame rate cost twice the bit rate: one point more.
        let at = |fps: u32| {
            let info = VideoInfo::new(320, 176, bitswarm_core::Rational::new(fps, 1).unwrap());
            let info = info.unwrap();
            let frames: Vec<Frame> = (0..10).map(|i| scene(&info, 1, 3 * i, 0)).collect();
            analyse(info, AnalysisConfig::default(), &frames)
        };
        let (slow, fast) = (at(25), at(50));
        assert_eq!(slow.bits_per_pixel, fast.bits_per_pixel);
        let expected = slow.bits_per_pixel * 320.0 * 176.0 * 25.0 / 1000.0;
        assert!((slow.kbps - expected).abs() < 1e-9 * expected);
        assert!((fast.kbps - 2.0 * slow.kbps).abs() < 1e-9 * fast.kbps);
        assert!((fast.score - slow.score - 1.0).abs() < 1e-9);
        let energies = slow.frames.iter().map(|f| f.energy);
        let bpp = energies
            .map(|e| crate::complexity::bits_per_pixel(e, 320 * 176))
            .sum::<f64>()
            / 10.0;
        assert!((slow.bits_per_pixel - bpp).abs() < 1e-12);
        assert_eq!(slow.scenes[0].kbps, slow.kbps);
    }

    #[test]
    fn current_scene_tracks_the_frames_since_the_last_cut() {
        let info = info(320, 176);
        let mut analyzer = Analyzer::new(info, AnalysisConfig::default()).unwrap();
        let empty = analyzer.current_scene();
        assert_eq!((empty.frames, empty.complexity, empty.score), (0, 1, 1.0));
        for f in pan(&info, 1, 0..20).iter().chain(&pan(&info, 2, 0..5)) {
            analyzer.push(f).unwrap();
        }
        let current = analyzer.current_scene();
        assert_eq!((current.start, current.frames), (20, 5));
        let analysis = analyzer.finish();
        assert_eq!(analysis.scenes.last(), Some(&current));
        let si = analysis.frames[20..].iter().map(|f| f.si);
        assert_eq!(current.si_max, si.clone().fold(0.0, f64::max));
        assert!((current.si_mean - si.sum::<f64>() / 5.0).abs() < 1e-9);
    }

    #[test]
    fn frames_of_another_geometry_are_refused_without_losing_state() {
        let info = info(320, 176);
        let mut analyzer = Analyzer::new(info, AnalysisConfig::default()).unwrap();
        analyzer.push(&scene(&info, 1, 0, 0)).unwrap();
        let other = scene(&super::super::synthetic::info(320, 180), 1, 0, 0);
        assert_eq!(
            analyzer.push(&other).unwrap_err().to_string(),
            "frame 1 is 320x180 with a 57600-byte luma plane, expected 320x176 with 56320 bytes \
             (one geometry per stream)"
        );
        let mut truncated = scene(&info, 1, 0, 0);
        truncated.y.pop();
        assert!(matches!(
            analyzer.push(&truncated),
            Err(Error::FrameMismatch { luma: 56319, .. })
        ));
        let stats = analyzer.push(&scene(&info, 1, 0, 0)).unwrap();
        assert_eq!((stats.index, stats.ti, stats.scene_cut), (1, 0.0, false));
    }

    #[test]
    fn invalid_geometry_or_config_is_refused() {
        let mut odd = info(320, 176);
        odd.width = 321;
        assert_eq!(
            Analyzer::new(odd, AnalysisConfig::default())
                .unwrap_err()
                .to_string(),
            "invalid width 321 (expected an even number in 16..=8192)"
        );
        let cfg = AnalysisConfig {
            cut_threshold: 0.0,
            ..AnalysisConfig::default()
        };
        assert!(matches!(
            Analyzer::new(info(320, 176), cfg),
            Err(Error::Config {
                field: "cut_threshold",
                ..
            })
        ));
    }

    #[test]
    fn smallest_frames_are_analysed() {
        let info = info(16, 16);
        let frames: Vec<Frame> = (0..3).map(|i| scene(&info, 1, i, 0)).collect();
        let analysis = analyse(info, AnalysisConfig::default(), &frames);
        assert_eq!(analysis.frames.len(), 3);
        assert!(analysis.si > 0.0 && analysis.ti > 0.0);
    }

    #[test]
    fn motion_statistics_follow_the_pan_and_leave_out_cut_frames() {
        // A pan of 2 pixels per frame, then a cut to a still picture.
        let info = info(640, 360);
        let mut frames = pan(&info, 1, 0..14);
        frames.extend((0..14).map(|_| scene(&info, 2, 0, 0)));
        let with_motion = AnalysisConfig {
            motion_statistics: true,
            ..AnalysisConfig::default()
        };
        // Off by default (encode does not use it): the fields stay 0, the rest is the same.
        let without = analyse(info, AnalysisConfig::default(), &frames);
        assert_eq!((without.motion_mean, without.moving_share), (0.0, 0.0));
        let analysis = analyse(info, with_motion, &frames);
        assert_eq!(cuts(&analysis), [0, 14]);
        assert_eq!(without.scenes.len(), analysis.scenes.len());
        let motion = |f: &FrameStats| (f.motion_mean, f.motion_std, f.moving_share);
        assert_eq!(motion(&analysis.frames[0]), (0.0, 0.0, 0.0));
        for f in &analysis.frames[1..14] {
            assert_eq!(motion(f), (2.0, 0.0, 1.0), "frame {}", f.index);
        }
        for f in &analysis.frames[15..] {
            assert_eq!(motion(f), (0.0, 0.0, 0.0), "frame {}", f.index);
        }
        let scene_motion = |s: &SceneStats| (s.motion_mean, s.motion_std, s.moving_share);
        assert_eq!(scene_motion(&analysis.scenes[0]), (2.0, 0.0, 1.0));
        // The cut frame's vectors point into the other scene: not part of the still scene.
        assert_eq!(scene_motion(&analysis.scenes[1]), (0.0, 0.0, 0.0));
        // The stream pools its 26 frames after the first that start no scene: half of them pan.
        let stream = (
            analysis.motion_mean,
            analysis.motion_std,
            analysis.moving_share,
        );
        assert_eq!(stream, (2.0, 0.0, 0.5));
    }

    #[test]
    fn analysis_round_trips_through_json() {
        let info = info(320, 176);
        let mut frames = pan(&info, 1, 0..14);
        frames.extend(pan(&info, 2, 0..3));
        let analysis = analyse(info, AnalysisConfig::default(), &frames);
        let json = serde_json::to_string(&analysis).unwrap();
        assert_eq!(serde_json::from_str::<Analysis>(&json).unwrap(), analysis);
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["scenes"][1]["start"], 14);
        assert_eq!(value["frames"][14]["scene_cut"], true);
        assert_eq!(value["info"]["width"], 320);
        assert_eq!(
            value["frames"][1]["moving_share"],
            analysis.frames[1].moving_share
        );
        // Analyses written before the motion fields existed still read, as no motion.
        let mut old = value.clone();
        for item in old["frames"].as_array_mut().unwrap() {
            for field in ["motion_mean", "motion_std", "moving_share"] {
                item.as_object_mut().unwrap().remove(field);
            }
        }
        let old: Analysis = serde_json::from_value(old).unwrap();
        assert_eq!(old.frames[1].moving_share, 0.0);
        assert_eq!(old.frames[1].si, analysis.frames[1].si);
    }
}
