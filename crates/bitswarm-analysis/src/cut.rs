//! Online hard-cut detection on 1/8-scale thumbnails.
//!
//! Flat bars along the edges that are the same in both frames (letterbox, pillarbox) are cut
//! off, and the rest of the thumbnail is split into a grid of regions (up to 16 x 9, each at
//! least 4 x 4 blocks). A region is *flat* in a frame when the standard deviation of its block
//! means is at most `TEXTURE` luma levels, and it has *changed* between two frames when
//! - it has structure in both and the two are poorly correlated (Pearson correlation below
//!   `MIN_CORRELATION`) or differ in contrast more than `STRUCTURE_RATIO` times;
//! - it is flat in one frame and has strong structure (above `STRUCTURE` levels) in the other;
//! - it is flat in both and its mean moved by more than `FLAT_STEP` levels.
//!
//! Regions flat in both frames at about the same level say nothing and are left out; the cut
//! score of a frame is the share of changed regions among the rest. Correlation ignores
//! brightness and contrast, so fades and lighting changes score low (faint structure may come
//! and go, as at the dark end of a fade); regions are large, so camera shake and pans keep their
//! correlation; film grain averages out in 8x8 block means. A new scene changes every part of
//! the picture at once; a window opening on a screencast changes only part of it.

use std::collections::VecDeque;

use crate::measure::Thumbnail;
use crate::AnalysisConfig;

/// Largest spread of block means (luma levels) along a flat bar at the picture's edge, and
/// largest change of its level between the frames.
const BAR_SPREAD: u8 = 4;
/// Most regions across the thumbnail.
const REGION_COLUMNS: usize = 16;
/// Most regions down the thumbnail.
const REGION_ROWS: usize = 9;
/// Fewest blocks along each side of a region (fewer regions on small pictures).
const REGION_MIN_BLOCKS: usize = 4;
/// Standard deviation of block means (luma levels) above which a region has structure.
const TEXTURE: f64 = 2.0;
/// Standard deviation (luma levels) of structure that cannot fade in or out in one frame.
const STRUCTURE: f64 = 8.0;
/// Contrast change (ratio of standard deviations) that no slow fade makes in one frame.
const STRUCTURE_RATIO: f64 = 4.0;
/// Correlation below which a structured region counts as changed.
const MIN_CORRELATION: f64 = 0.6;
/// Mean change (luma levels) above which a flat region counts as changed.
const FLAT_STEP: f64 = 16.0;

/// Fraction (0..=1) of the regions of `current` that changed from `previous` (same geometry).
pub(crate) fn change_score(previous: &Thumbnail, current: &Thumbnail) -> f64 {
    debug_assert_eq!(
        (previous.width, previous.height),
        (current.width, current.height)
    );
    let w = current.width;
    let Some((left, top, aw, ah)) = active_area(previous, current) else {
        return 0.0;
    };
    let grid = |blocks: usize, most: usize| (blocks / REGION_MIN_BLOCKS).clamp(1, most);
    let (columns, rows) = (grid(aw, REGION_COLUMNS), grid(ah, REGION_ROWS));
    let (mut changed, mut informative) = (0usize, 0usize);
    for ry in 0..rows {
        for rx in 0..columns {
            let (x0, x1) = (left + rx * aw / columns, left + (rx + 1) * aw / columns);
            let (y0, y1) = (top + ry * ah / rows, top + (ry + 1) * ah / rows);
            let mut sums = RegionSums::default();
            for y in y0..y1 {
                let line = y * w + x0..y * w + x1;
                for (&a, &b) in previous.sums[line.clone()].iter().zip(&current.sums[line]) {
                    sums.add(a, b);
                }
            }
            match sums.change() {
                Change::Changed => changed += 1,
                Change::Unchanged => informative += 1,
                Change::FlatUnchanged => {}
            }
        }
    }
    informative += changed;
    if informative == 0 {
        0.0
    } else {
        changed as f64 / informative as f64
    }
}

/// The thumbnail without the bars on its edges that are flat and equal in both frames
/// (letterbox, pillarbox, a flat sky band): `(left, top, width, height)`, `None` if nothing else
/// is left.
fn active_area(previous: &Thumbnail, current: &Thumbnail) -> Option<(usize, usize, usize, usize)> {
    let w = current.width;
    let is_bar = |indices: &mut dyn Iterator<Item = usize>| {
        let (mut low, mut high) = ([u32::MAX; 2], [0u32; 2]);
        for i in indices {
            for (k, t) in [previous, current].into_iter().enumerate() {
                low[k] = low[k].min(t.sums[i]);
                high[k] = high[k].max(t.sums[i]);
            }
        }
        let spread = u32::from(BAR_SPREAD) * 64;
        high[0].saturating_sub(low[0]) <= spread
            && high[1].saturating_sub(low[1]) <= spread
            && low[0].abs_diff(low[1]) <= spread
    };
    let (mut x0, mut x1, mut y0, mut y1) = (0, w, 0, current.height);
    while y0 < y1 && is_bar(&mut (y0 * w + x0..y0 * w + x1)) {
        y0 += 1;
    }
    while y1 > y0 && is_bar(&mut ((y1 - 1) * w + x0..(y1 - 1) * w + x1)) {
        y1 -= 1;
    }
    while x0 < x1 && is_bar(&mut (y0..y1).map(|y| y * w + x0)) {
        x0 += 1;
    }
    while x1 > x0 && is_bar(&mut (y0..y1).map(|y| y * w + x1 - 1)) {
        x1 -= 1;
    }
    // The line next to a bar is usually part bar (bars need not end on a block boundary).
    let (y0, y1) = (
        y0 + usize::from(y0 > 0),
        y1 - usize::from(y1 < current.height),
    );
    let (x0, x1) = (x0 + usize::from(x0 > 0), x1 - usize::from(x1 < w));
    (x0 < x1 && y0 < y1).then(|| (x0, y0, x1 - x0, y1 - y0))
}

/// How one region compares between two frames.
enum Change {
    Changed,
    Unchanged,
    /// Flat in both frames at about the same level (sky, a wall, letterbox bars): says nothing
    /// about a cut, so it is left out of the score.
    FlatUnchanged,
}

/// Exact sums over the paired block sums of one region.
#[derive(Default)]
struct RegionSums {
    n: u64,
    a: u64,
    b: u64,
    aa: u64,
    bb: u64,
    ab: u64,
}

impl RegionSums {
    fn add(&mut self, a: u32, b: u32) {
        let (a, b) = (u64::from(a), u64::from(b));
        self.n += 1;
        self.a += a;
        self.b += b;
        self.aa += a * a;
        self.bb += b * b;
        self.ab += a * b;
    }

    fn change(&self) -> Change {
        let n = self.n as f64;
        // n^2 times the (co)variances of the block sums; block sums are 64 times block means.
        let var_a = n * self.aa as f64 - (self.a as f64).powi(2);
        let var_b = n * self.bb as f64 - (self.b as f64).powi(2);
        let cov = n * self.ab as f64 - self.a as f64 * self.b as f64;
        let to_levels = |v: f64| v.max(0.0).sqrt() / (n * 64.0);
        let (sd_a, sd_b) = (to_levels(var_a), to_levels(var_b));
        let (low, high) = (sd_a.min(sd_b), sd_a.max(sd_b));
        let step = (self.a as f64 - self.b as f64).abs() / (n * 64.0);
        if high <= TEXTURE && step <= FLAT_STEP {
            return Change::FlatUnchanged;
        }
        let changed = if low > TEXTURE {
            low * STRUCTURE_RATIO < high || cov < MIN_CORRELATION * (var_a * var_b).sqrt()
        } else {
            // Flat in one frame: strong structure appeared or vanished; flat in both: a jump.
            high > STRUCTURE || high <= TEXTURE
        };
        if changed {
            Change::Changed
        } else {
            Change::Unchanged
        }
    }
}

/// The online decision: a cut score above an adaptive threshold, at least the minimum scene
/// length after the previous cut.
#[derive(Debug)]
pub(crate) struct CutDetector {
    min_score: f64,
    history_factor: f64,
    history_len: usize,
    min_scene_frames: u64,
    /// Scores of the latest frames that were not cuts.
    history: VecDeque<f64>,
    /// Frames since the current scene started (including its first).
    scene_frames: u64,
}

/// What the detector decided for one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct CutDecision {
    pub threshold: f64,
    pub cut: bool,
}

impl CutDetector {
    pub(crate) fn new(cfg: &AnalysisConfig) -> Self {
        Self {
            min_score: cfg.cut_threshold,
            history_factor: cfg.cut_history_factor,
            history_len: cfg.cut_history_frames as usize,
            min_scene_frames: u64::from(cfg.min_scene_frames),
            history: VecDeque::with_capacity(cfg.cut_history_frames as usize),
            scene_frames: 0,
        }
    }

    /// The threshold a score must exceed now: the configured minimum, raised to
    /// `history_factor` times the mean score of the recent frames in busy content.
    fn threshold(&self) -> f64 {
        if self.history.is_empty() {
            return self.min_score;
        }
        let mean = self.history.iter().sum::<f64>() / self.history.len() as f64;
        self.min_score.max(self.history_factor * mean)
    }

    /// Decides for the next frame; `score` is `None` for the first frame of the stream.
    pub(crate) fn decide(&mut self, score: Option<f64>) -> CutDecision {
        let threshold = self.threshold();
        let cut = match score {
            None => true,
            Some(score) => score > threshold && self.scene_frames >= self.min_scene_frames,
        };
        if cut {
            self.scene_frames = 1;
        } else {
            self.scene_frames += 1;
        }
        if let (Some(score), false) = (score, cut) {
            if self.history.len() == self.history_len {
                self.history.pop_front();
            }
            self.history.push_back(score);
        }
        CutDecision { threshold, cut }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::BlockScan;
    use crate::synthetic::{frame, info, scene};
    use bitswarm_core::Frame;

    fn thumbnail(frame: &Frame) -> Thumbnail {
        let mut scan = BlockScan::default();
        let (w, h) = (frame.width as usize, frame.height as usize);
        scan.scan(&frame.y, None, w, h);
        scan.thumbnail
    }

    #[test]
    fn scores_measure_how_much_of_the_picture_changed() {
        let info = info(640, 360);
        let a = thumbnail(&scene(&info, 1, 0, 0));
        assert_eq!(change_score(&a, &a), 0.0);
        // Another scene: every region has new structure (smooth structure may correlate by
        // chance in some of the 144 regions).
        let b = thumbnail(&scene(&info, 2, 0, 0));
        assert!(change_score(&a, &b) > 0.8, "{}", change_score(&a, &b));
        // Brightness and contrast do not matter (fades, lighting).
        let (one, two) = (scene(&info, 1, 0, 0), scene(&info, 2, 0, 0));
        let at = |frame: &Frame, x: u32, y: u32| frame.y[(y * 640 + x) as usize];
        let dim = frame(&info, |x, y| {
            (16 + (u32::from(at(&one, x, y)) - 16) / 3) as u8
        });
        assert_eq!(change_score(&a, &thumbnail(&dim)), 0.0);
        // The left half replaced: half of the regions changed.
        let half = frame(&info, |x, y| at(if x < 320 { &two } else { &one }, x, y));
        let score = change_score(&a, &thumbnail(&half));
        assert!((0.4..=0.5).contains(&score), "{score}");
    }

    #[test]
    fn flat_regions_count_only_when_their_level_jumps() {
        let info = info(640, 360);
        let black = thumbnail(&frame(&info, |_, _| 16));
        let grey = thumbnail(&frame(&info, |_, _| 30));
        let white = thumbnail(&frame(&info, |_, _| 235));
        assert_eq!(change_score(&black, &grey), 0.0);
        assert_eq!(change_score(&black, &white), 1.0);
        // Letterbox bars (flat and unchanged) do not dilute a cut between the bars.
        let boxed = |seed| {
            let picture = scene(&info, seed, 0, 0);
            thumbnail(&frame(&info, |x, y| match y {
                44..316 => picture.y[(y * 640 + x) as usize],
                _ => 16,
            }))
        };
        let score = change_score(&boxed(1), &boxed(2));
        assert!(score > 0.8, "{score}");
        assert_eq!(change_score(&boxed(1), &boxed(1)), 0.0);
    }

    #[test]
    fn threshold_adapts_to_busy_content_and_scenes_have_a_minimum_length() {
        let cfg = AnalysisConfig {
            min_scene_frames: 3,
            ..AnalysisConfig::default()
        };
        let mut detector = CutDetector::new(&cfg);
        assert!(detector.decide(None).cut);
        // Too soon after the first frame, however high the score.
        assert!(!detector.decide(Some(0.95)).cut);
        let decision = detector.decide(Some(0.1));
        assert!(!decision.cut);
        // History is 0.95 and 0.1: twice the mean raises the threshold from 0.7 to 1.05.
        let busy = detector.decide(Some(0.9));
        assert_eq!(
            busy,
            CutDecision {
                threshold: 1.05,
                cut: false
            }
        );
        for _ in 0..cfg.cut_history_frames {
            detector.decide(Some(0.0));
        }
        assert_eq!(
            detector.decide(Some(0.9)),
            CutDecision {
                threshold: 0.7,
                cut: true
            }
        );
    }
}
