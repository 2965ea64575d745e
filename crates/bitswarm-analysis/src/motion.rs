//! Motion statistics of a frame: how much of the picture moves and how far, from a
//! block-matching motion search against the previous frame (docs/ANALYSIS.md, "Motion").
//!
//! 1. Both luma planes are halved (means of 2x2 pixels), which smooths pixel noise and halves
//!    the search distances.
//! 2. Every whole 16x16 block of the half plane (32x32 source pixels) except the outer ring
//!    (whose match may lie beyond the picture's edge) is searched by sum of absolute
//!    differences (SAD) with [`predictive_search`]: the zero vector, the vectors of the
//!    blocks to the left and above and of the same block in the previous frame, a 5x5 grid of
//!    vectors [`GRID_STEP`] apart, then up to [`HALF_ROUNDS`] rounds of one-pixel steps around
//!    the best, within +-[`HALF_RANGE`] half-plane pixels (+-16 source pixels).
//! 3. The vector, doubled, is refined on the source plane over the 32x32 block: a half-plane
//!    vector is within half a half-plane pixel of the motion, so the source vector is within one
//!    pixel of the doubled one on each axis; the 3x3 vectors around it are tried, then
//!    [`SOURCE_ROUNDS`] rounds of one-pixel steps. Lengths are exact to a source pixel.
//! 4. A block moves when its vector is not zero (so at least 1 source pixel long) and explains
//!    the change clearly better than standing still: it leaves at most [`MOVING_RESIDUAL`] of
//!    the block's zero-vector sum of absolute differences, and lowers its mean absolute
//!    difference by at least [`MOVING_GAIN`] luma levels. Every other block counts as still. A
//!    block whose zero-vector mean absolute difference is below [`MOVING_GAIN`] cannot pass and
//!    is not searched.

use crate::measure::{
    absolute_difference, neighbour_predictors, predictive_search, Planes, Vector,
};

/// Side of a search block on the half plane (32 source pixels).
const HALF_BLOCK: usize = 16;
/// Side of a search block on the source plane.
const SOURCE_BLOCK: usize = 2 * HALF_BLOCK;
const SOURCE_BLOCK_PIXELS: u32 = (SOURCE_BLOCK * SOURCE_BLOCK) as u32;
/// Longest vector component searched on the half plane, in half-plane pixels.
const HALF_RANGE: i32 = 8;
/// Rounds of one-pixel steps on the half plane after the predictors (or the coarse grid).
const HALF_ROUNDS: usize = 8;
/// Spacing of the coarse grid of half-plane vectors every search tries: 5x5 vectors over
/// +-[`HALF_RANGE`].
const GRID_STEP: i32 = HALF_RANGE / 2;
/// Rounds of one-pixel steps on the source plane after the 3x3 square around the doubled vector.
const SOURCE_ROUNDS: usize = 1;
/// Least drop of a block's mean absolute difference (luma levels per pixel) against the zero
/// vector for the block to count as moving: above what grain and sensor noise let a wrong
/// vector win by chance.
const MOVING_GAIN: u32 = 1;
/// Largest share of its zero-vector difference a moving block's vector may leave: a vector
/// that removes less than a third of it is a partial match (texture that resembles itself, a
/// block whose match lies beyond the picture's edge: 0.74..0.86 on the synthetic pans of the
/// tests), not motion.
const MOVING_RESIDUAL: f64 = 2.0 / 3.0;

/// Motion measured over a run of blocks (one frame, or the frames of a scene pooled).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct MotionSums {
    /// Blocks measured.
    pub blocks: u64,
    /// Blocks that move.
    pub moving: u64,
    /// Sum and sum of squares of the vector lengths (source pixels) of the moving blocks.
    pub length_sum: f64,
    pub length_sq_sum: f64,
}

impl MotionSums {
    pub(crate) fn add(&mut self, other: &MotionSums) {
        self.blocks += other.blocks;
        self.moving += other.moving;
        self.length_sum += other.length_sum;
        self.length_sq_sum += other.length_sq_sum;
    }

    /// Mean and population standard deviation of the moving blocks' vector lengths (0 and 0
    /// when none moves).
    pub(crate) fn length_mean_std(&self) -> (f64, f64) {
        crate::measure::mean_stddev(self.moving, self.length_sum, self.length_sq_sum)
    }

    /// Share of the blocks that move (0 without blocks).
    pub(crate) fn moving_share(&self) -> f64 {
        if self.blocks == 0 {
            0.0
        } else {
            self.moving as f64 / self.blocks as f64
        }
    }
}

/// Reusable state of the motion measurement of a stream.
#[derive(Debug, Default)]
pub(crate) struct MotionScan {
    /// Half planes of this frame and of the previous one.
    half: Vec<u8>,
    previous_half: Vec<u8>,
    /// Half-plane vectors of this frame's blocks and of the previous frame's (raster order).
    vectors: Vec<Vector>,
    previous_vectors: Vec<Vector>,
}

impl MotionScan {
    /// Measures the motion of `luma` against `previous` (same geometry, `width` and `height`
    /// even); `None` (the first frame) measures no block but keeps the frame for the next call.
    pub(crate) fn scan(
        &mut self,
        luma: &[u8],
        previous: Option<&[u8]>,
        width: usize,
        height: usize,
    ) -> MotionSums {
        std::mem::swap(&mut self.half, &mut self.previous_half);
        std::mem::swap(&mut self.vectors, &mut self.previous_vectors);
        halve(luma, width, height, &mut self.half);
        let (hw, hh) = (width / 2, height / 2);
        let (bw, bh) = (hw / HALF_BLOCK, hh / HALF_BLOCK);
        self.vectors.clear();
        let mut sums = MotionSums::default();
        let Some(previous) = previous else {
            return sums;
        };
        if self.previous_half.len() != self.half.len() {
            return sums;
        }
        let source = Planes {
            current: luma,
            previous,
            width,
            height,
        };
        let half = Planes {
            current: &self.half,
            previous: &self.previous_half,
            width: hw,
            height: hh,
        };
        for by in 0..bh {
            for bx in 0..bw {
                let border = bx == 0 || by == 0 || bx + 1 == bw || by + 1 == bh;
                if border {
                    self.vectors.push((0, 0));
                    continue;
                }
                let predictors =
                    neighbour_predictors(&self.vectors, &self.previous_vectors, bw, (bx, by));
                let (found, moved) = measure_block(&source, &half, predictors, (bx, by));
                sums.blocks += 1;
                if let Some(length) = moved {
                    sums.moving += 1;
                    sums.length_sum += length;
                    sums.length_sq_sum += length * length;
                }
                self.vectors.push(found);
            }
        }
        sums
    }
}

/// Searches block `(bx, by)` (of the half plane's 16x16 grid) from `predictors`; returns its
/// half-plane vector (a predictor for the blocks after it) and, if it moves, the length of its
/// source vector.
fn measure_block(
    source: &Planes<'_>,
    half: &Planes<'_>,
    predictors: [Option<Vector>; 3],
    (bx, by): (usize, usize),
) -> (Vector, Option<f64>) {
    let (sx, sy) = (bx * SOURCE_BLOCK, by * SOURCE_BLOCK);
    let source_cost = |vector, limit| {
        source.block_cost::<SOURCE_BLOCK>(sx, sy, vector, limit, absolute_difference)
    };
    let still = source_cost((0, 0), u32::MAX).unwrap_or(0);
    let gain = MOVING_GAIN * SOURCE_BLOCK_PIXELS;
    if still < gain {
        return ((0, 0), None);
    }
    let (hx, hy) = (bx * HALF_BLOCK, by * HALF_BLOCK);
    let half_cost = |vector: Vector, limit| {
        let in_range = vector.0.abs() <= HALF_RANGE && vector.1.abs() <= HALF_RANGE;
        in_range
            .then(|| half.block_cost::<HALF_BLOCK>(hx, hy, vector, limit, absolute_difference))
            .flatten()
    };
    let half_still = half_cost((0, 0), u32::MAX).unwrap_or(0);
    // The neighbours' vectors, then a coarse grid over the whole range, so that a block whose
    // neighbours do not move the same way (the first moving block, a new motion) still finds
    // its match.
    let grid = (-2..=2).flat_map(|gy| (-2..=2).map(move |gx| (GRID_STEP * gx, GRID_STEP * gy)));
    let found = predictive_search(
        ((0, 0), half_still),
        predictors.into_iter().flatten().chain(grid),
        HALF_ROUNDS,
        half_cost,
    );
    let (dx, dy) = (2 * found.0 .0, 2 * found.0 .1);
    let square = (-1..=1).flat_map(|ey| (-1..=1).map(move |ex| (dx + ex, dy + ey)));
    let (vector, cost) = predictive_search(((0, 0), still), square, SOURCE_ROUNDS, source_cost);
    let moved = vector != (0, 0)
        && still - cost >= gain
        && f64::from(cost) <= MOVING_RESIDUAL * f64::from(still);
    (
        found.0,
        moved.then(|| f64::from(vector.0).hypot(f64::from(vector.1))),
    )
}

/// The means of the 2x2 pixel squares of an even-sized luma plane (rounded half up), into `out`.
fn halve(luma: &[u8], width: usize, height: usize, out: &mut Vec<u8>) {
    out.clear();
    for rows in luma.chunks_exact(2 * width).take(height / 2) {
        let (top, bottom) = rows.split_at(width);
        out.extend(
            top.chunks_exact(2)
                .zip(bottom.chunks_exact(2))
                .map(|(t, b)| {
                    let sum = u16::from(t[0]) + u16::from(t[1]) + u16::from(b[0]) + u16::from(b[1]);
                    ((sum + 2) / 4) as u8
                }),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::{frame, hash, info, scene};
    use bitswarm_core::Frame;

    /// The motion of `current` against `previous` (no temporal predictors).
    fn motion(previous: &Frame, current: &Frame) -> MotionSums {
        let (w, h) = (current.width as usize, current.height as usize);
        let mut scan = MotionScan::default();
        scan.scan(&previous.y, None, w, h);
        scan.scan(&current.y, Some(&previous.y), w, h)
    }

    #[test]
    fn halving_averages_two_by_two_squares() {
        let mut out = Vec::new();
        halve(&[0, 1, 10, 20, 2, 3, 30, 41], 4, 2, &mut out);
        // (0+1+2+3)/4 = 1.5 rounds up to 2; (10+20+30+41)/4 = 25.25 rounds to 25.
        assert_eq!(out, [2, 25]);
    }

    #[test]
    fn a_pan_moves_every_block_by_the_shift() {
        let info = info(640, 360);
        for (dx, dy) in [(3, 0), (0, -5), (6, 4), (-11, 7), (16, -16), (1, 1)] {
            let previous = scene(&info, 1, 0, 0);
            let current = scene(&info, 1, dx, dy);
            let m = motion(&previous, &current);
            // 20x11 blocks, the 18x9 inside the outer ring measured.
            assert_eq!(m.blocks, 18 * 9);
            let (mean, std) = m.length_mean_std();
            let shift = f64::from(dx as i32).hypot(f64::from(dy as i32));
            assert!(
                (mean - shift).abs() < 1e-9,
                "({dx}, {dy}): {mean} vs {shift}"
            );
            assert!(std < 1e-6, "({dx}, {dy}): {std}");
            assert_eq!(m.moving_share(), 1.0, "({dx}, {dy})");
        }
    }

    #[test]
    fn a_static_pair_has_no_motion_even_with_grain() {
        let info = info(640, 360);
        let still = scene(&info, 2, 0, 0);
        let m = motion(&still, &still);
        assert_eq!((m.blocks, m.moving), (162, 0));
        assert_eq!(m.length_mean_std(), (0.0, 0.0));
        assert_eq!(m.moving_share(), 0.0);
        // Fresh grain of +-3 levels on every pixel: every vector is about as wrong as zero.
        let grainy = frame(&info, |x, y| {
            let noise = (hash(9, x.into(), y.into()) % 7) as u8;
            still.y[(y * 640 + x) as usize] + noise - 3
        });
        let m = motion(&still, &grainy);
        assert_eq!((m.moving, m.moving_share()), (0, 0.0));
    }

    #[test]
    fn the_moving_share_is_the_part_of_the_picture_that_moves() {
        // The right half (block columns 10..20) pans by (4, 2); the left half stands still.
        let info = info(640, 360);
        let previous = scene(&info, 3, 0, 0);
        let current = frame(&info, |x, y| {
            let (dx, dy) = if x >= 320 { (4, 2) } else { (0, 0) };
            crate::synthetic::scene_luma(3, i64::from(x) + dx, i64::from(y) + dy)
        });
        let m = motion(&previous, &current);
        let (mean, std) = m.length_mean_std();
        assert!((mean - 20f64.sqrt()).abs() < 1e-9, "{mean}");
        assert!(std < 1e-6, "{std}");
        // Columns 10..=18 of the measured 1..=18.
        assert_eq!(m.moving_share(), 0.5);
    }

    #[test]
    fn the_first_frame_and_tiny_frames_measure_no_block() {
        let mut scan = MotionScan::default();
        let info = info(640, 360);
        let first = scene(&info, 1, 0, 0);
        assert_eq!(scan.scan(&first.y, None, 640, 360), MotionSums::default());
        // 94 pixels wide: two 32-pixel block columns, both on the border.
        let info = crate::synthetic::info(94, 360);
        let (a, b) = (scene(&info, 1, 0, 0), scene(&info, 1, 1, 0));
        assert_eq!(scan.scan(&b.y, Some(&a.y), 94, 360), MotionSums::default());
    }
}
