//! Pixel measurements of one luma plane, or of two consecutive ones: the only code here that
//! touches pixels. Sums are exact integers except the Sobel magnitude's square root, and every
//! buffer is owned by the caller and reused, so no call allocates once the buffers have grown.

/// Side of the square blocks of the thumbnail and of the residual energy.
pub(crate) const BLOCK: usize = 8;
const BLOCK_PIXELS: u64 = (BLOCK * BLOCK) as u64;

/// Mean and population standard deviation from a count, a sum and a sum of squares.
pub(crate) fn mean_stddev(n: u64, sum: f64, sum_sq: f64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 0.0);
    }
    let n = n as f64;
    let mean = sum / n;
    (mean, (sum_sq / n - mean * mean).max(0.0).sqrt())
}

/// Reusable rows for the separable Sobel filter.
#[derive(Debug, Default)]
pub(crate) struct SobelScratch {
    /// `above + 2 * centre + below` per column: the vertical smoothing of the `gx` kernel.
    smooth: Vec<i32>,
    /// `below - above` per column: the vertical difference of the `gy` kernel.
    diff: Vec<i32>,
    /// `gx^2 + gy^2` of the interior columns of one row.
    magnitude_sq: Vec<u32>,
}

/// ITU-T P.910 spatial information of one frame: the population standard deviation of the Sobel
/// gradient magnitude `sqrt(gx^2 + gy^2)` over the pixels where the 3x3 kernels fit, i.e. the
/// luma plane without its 1-pixel border. Needs `width, height >= 3`.
pub(crate) fn spatial_information(
    luma: &[u8],
    width: usize,
    height: usize,
    scratch: &mut SobelScratch,
) -> f64 {
    debug_assert!(width >= 3 && height >= 3 && luma.len() == width * height);
    scratch.smooth.resize(width, 0);
    scratch.diff.resize(width, 0);
    scratch.magnitude_sq.resize(width - 2, 0);
    let mut sum = 0.0f64;
    let mut sum_sq = 0u64;
    for rows in luma.windows(3 * width).step_by(width) {
        let (above, rest) = rows.split_at(width);
        let (centre, below) = rest.split_at(width);
        for (((s, d), (&a, &c)), &b) in scratch
            .smooth
            .iter_mut()
            .zip(scratch.diff.iter_mut())
            .zip(above.iter().zip(centre))
            .zip(below)
        {
            *s = i32::from(a) + 2 * i32::from(c) + i32::from(b);
            *d = i32::from(b) - i32::from(a);
        }
        for ((m2, s), d) in scratch
            .magnitude_sq
            .iter_mut()
            .zip(scratch.smooth.windows(3))
            .zip(scratch.diff.windows(3))
        {
            let gx = s[2] - s[0];
            let gy = d[0] + 2 * d[1] + d[2];
            // |gx|, |gy| <= 1020, so the square sum fits easily.
            *m2 = (gx * gx + gy * gy) as u32;
        }
        // Eight independent lanes let the compiler vectorise the float sum; a lane adds at most
        // 1024 magnitudes (below 1443 each) per row, well inside f32 precision.
        let mut lanes = [0.0f32; 8];
        let chunks = scratch.magnitude_sq.chunks_exact(8);
        let rest = chunks.remainder();
        for chunk in chunks {
            for (lane, &m2) in lanes.iter_mut().zip(chunk) {
                *lane += (m2 as f32).sqrt();
            }
        }
        for (lane, &m2) in lanes.iter_mut().zip(rest) {
            *lane += (m2 as f32).sqrt();
        }
        sum += lanes.iter().map(|&l| f64::from(l)).sum::<f64>();
        sum_sq += scratch
            .magnitude_sq
            .iter()
            .map(|&m2| u64::from(m2))
            .sum::<u64>();
    }
    let n = ((width - 2) * (height - 2)) as u64;
    mean_stddev(n, sum, sum_sq as f64).1
}

/// ITU-T P.910 temporal information between two frames: the population standard deviation of
/// `current - previous` over the whole luma plane.
pub(crate) fn temporal_information(current: &[u8], previous: &[u8]) -> f64 {
    debug_assert_eq!(current.len(), previous.len());
    let mut sum = 0i64;
    let mut sum_sq = 0u64;
    // 4096 squared differences (each <= 255^2) fit in a u32, so the inner loop stays narrow.
    for (c, p) in current.chunks(4096).zip(previous.chunks(4096)) {
        let (mut s, mut s2) = (0i32, 0u32);
        for (&c, &p) in c.iter().zip(p) {
            let d = i32::from(c) - i32::from(p);
            s += d;
            s2 += d.unsigned_abs() * d.unsigned_abs();
        }
        sum += i64::from(s);
        sum_sq += u64::from(s2);
    }
    mean_stddev(current.len() as u64, sum as f64, sum_sq as f64).1
}

/// A 1/8-scale picture: the sum of each whole 8x8 luma block (64 times its mean), row by row.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Thumbnail {
    pub width: usize,
    pub height: usize,
    pub sums: Vec<u32>,
}

/// Mean squared difference (squared luma levels) up to which a block's zero-vector residual is
/// taken as it is, without a motion search: noise that QP 34 quantises away.
const SEARCH_FLOOR: u32 = 16;
/// Rounds of the one-pixel refinement around the best predicted motion vector.
const REFINE_ROUNDS: usize = 2;
/// Most refinement rounds any [`predictive_search`] may take.
pub(crate) const MAX_ROUNDS: usize = 8;
/// Most predicted vectors any [`predictive_search`] may start from.
pub(crate) const MAX_PREDICTORS: usize = 28;

/// A block's displacement into the previous frame, in pixels.
pub(crate) type Vector = (i32, i32);

/// What one pass over the whole 8x8 blocks of a frame measures. A right or bottom remainder
/// narrower than 8 pixels is left out.
#[derive(Debug, Default)]
pub(crate) struct BlockScan {
    pub thumbnail: Thumbnail,
    /// Mean over the blocks of the pixel variance of the block: what coding every block without
    /// a reference leaves to the transform (an intra frame).
    pub intra_energy: f64,
    /// Mean over the blocks of `min(mean squared difference to the best block of the previous
    /// frame found by a small predictive motion search, variance of the block)`: the residual
    /// when every block is coded the cheaper way (a predicted frame).
    pub residual_energy: f64,
    /// Per-pixel-column sums over the 8 rows of one row of blocks: values, squares, squared
    /// differences to the previous frame (kept apart so that the row loop vectorises).
    column_sums: [Vec<u32>; 3],
    /// The motion vector found for every block of this frame and of the previous one (block
    /// rows in raster order; `(0, 0)` where nothing beat staying in place).
    vectors: Vec<Vector>,
    previous_vectors: Vec<Vector>,
}

impl BlockScan {
    /// Measures `luma` and, when given, its differences to `previous` (same geometry); without a
    /// previous frame the residual is the intra energy. Needs `width, height >= 8`.
    pub(crate) fn scan(
        &mut self,
        luma: &[u8],
        previous: Option<&[u8]>,
        width: usize,
        height: usize,
    ) {
        debug_assert!(width >= BLOCK && height >= BLOCK && luma.len() == width * height);
        let (bw, bh) = (width / BLOCK, height / BLOCK);
        self.thumbnail.width = bw;
        self.thumbnail.height = bh;
        self.thumbnail.sums.clear();
        std::mem::swap(&mut self.vectors, &mut self.previous_vectors);
        self.previous_vectors.resize(bw * bh, (0, 0));
        self.vectors.clear();
        let frames = previous.map(|previous| Planes {
            current: luma,
            previous,
            width,
            height,
        });
        let [sums, squares, diffs] = &mut self.column_sums;
        // Both energies are accumulated as 4096 times the per-pixel value, in exact integers.
        let (mut intra, mut residual) = (0u64, 0u64);
        for by in 0..bh {
            for column in [&mut *sums, &mut *squares, &mut *diffs] {
                column.clear();
                column.resize(bw * BLOCK, 0);
            }
            let rows = by * BLOCK * width..(by + 1) * BLOCK * width;
            let previous_rows = previous.map_or(&luma[rows.clone()], |p| &p[rows.clone()]);
            for (row, prev) in luma[rows.clone()]
                .chunks_exact(width)
                .zip(previous_rows.chunks_exact(width))
            {
                for ((((s, q), d), &p), &r) in sums
                    .iter_mut()
                    .zip(squares.iter_mut())
                    .zip(diffs.iter_mut())
                    .zip(row)
                    .zip(prev)
                {
                    let (p, r) = (u32::from(p), u32::from(r));
                    *s += p;
                    *q += p * p;
                    *d += p.abs_diff(r) * p.abs_diff(r);
                }
            }
            let blocks = sums
                .chunks_exact(BLOCK)
                .zip(squares.chunks_exact(BLOCK))
                .zip(diffs.chunks_exact(BLOCK));
            for (bx, ((sum, sq), diff)) in blocks.enumerate() {
                let (sum, sq, diff): (u32, u32, u32) =
                    (sum.iter().sum(), sq.iter().sum(), diff.iter().sum());
                // 64 * sum of squares - sum^2 = 4096 * variance; 64 * diff = 4096 * MSE.
                let variance = BLOCK_PIXELS * u64::from(sq) - u64::from(sum) * u64::from(sum);
                intra += variance;
                // Without a previous frame `diff` is 0 but there is nothing to predict from.
                residual += match &frames {
                    Some(frames) => {
                        let (vector, diff) = motion(
                            frames,
                            &self.vectors,
                            &self.previous_vectors,
                            (bx, by),
                            diff,
                            variance,
                        );
                        self.vectors.push(vector);
                        variance.min(BLOCK_PIXELS * u64::from(diff))
                    }
                    None => {
                        self.vectors.push((0, 0));
                        variance
                    }
                };
                self.thumbnail.sums.push(sum);
            }
        }
        let scale = (BLOCK_PIXELS * BLOCK_PIXELS) as f64 * (bw * bh) as f64;
        self.intra_energy = intra as f64 / scale;
        self.residual_energy = residual as f64 / scale;
    }
}

/// The motion vector of block `(bx, by)` and its sum of squared differences, starting from
/// `diff` at `(0, 0)`: the best of the vectors of the blocks to the left and above (in `vectors`,
/// this frame's so far) and of the same block in the previous frame, then refined by one-pixel
/// steps. A block whose zero-vector mean squared difference or variance (`variance` is 4096
/// times the per-pixel variance) is at most `SEARCH_FLOOR` is not searched: its residual is
/// already negligible.
fn motion(
    frames: &Planes<'_>,
    vectors: &[Vector],
    previous_vectors: &[Vector],
    (bx, by): (usize, usize),
    diff: u32,
    variance: u64,
) -> (Vector, u32) {
    let floor = BLOCK_PIXELS as u32 * SEARCH_FLOOR;
    if diff <= floor || variance <= u64::from(floor) * BLOCK_PIXELS {
        return ((0, 0), diff);
    }
    let (x, y) = (bx * BLOCK, by * BLOCK);
    let predictors =
        neighbour_predictors(vectors, previous_vectors, frames.width / BLOCK, (bx, by));
    predictive_search(
        ((0, 0), diff),
        predictors.into_iter().flatten(),
        REFINE_ROUNDS,
        |vector, limit| frames.block_cost::<BLOCK>(x, y, vector, limit, squared_difference),
    )
}

/// The candidate vectors of block `(bx, by)` in a row of `bw` blocks: those of the blocks to its
/// left and above (in `vectors`, this frame's so far) and of the same block in the previous
/// frame.
pub(crate) fn neighbour_predictors(
    vectors: &[Vector],
    previous_vectors: &[Vector],
    bw: usize,
    (bx, by): (usize, usize),
) -> [Option<Vector>; 3] {
    let left = bx.checked_sub(1).map(|l| vectors[by * bw + l]);
    let above = by.checked_sub(1).map(|a| vectors[a * bw + bx]);
    [left, above, previous_vectors.get(by * bw + bx).copied()]
}

/// A predictive block-matching search: from `start` (a vector and its cost), the cheapest of
/// `predictors` (at most [`MAX_PREDICTORS`]), then up to `rounds` (at most [`MAX_ROUNDS`])
/// rounds of one-pixel steps around the best vector so far, stopping at the first round that
/// finds nothing cheaper. `cost` returns a vector's cost if it is below the limit it is given
/// (the best so far) and the vector is allowed. Every vector is costed at most once.
pub(crate) fn predictive_search(
    start: (Vector, u32),
    predictors: impl IntoIterator<Item = Vector>,
    rounds: usize,
    mut cost: impl FnMut(Vector, u32) -> Option<u32>,
) -> (Vector, u32) {
    let mut best = start;
    let mut tried = [(0, 0); 1 + MAX_PREDICTORS + 4 * MAX_ROUNDS];
    tried[0] = start.0;
    let mut count = 1;
    let mut try_vector = |best: &mut (Vector, u32), vector: Vector| {
        if tried[..count].contains(&vector) {
            return false;
        }
        let Some(slot) = tried.get_mut(count) else {
            return false;
        };
        *slot = vector;
        count += 1;
        match cost(vector, best.1) {
            Some(c) => {
                *best = (vector, c);
                true
            }
            None => false,
        }
    };
    for vector in predictors.into_iter().take(MAX_PREDICTORS) {
        try_vector(&mut best, vector);
    }
    for _ in 0..rounds.min(MAX_ROUNDS) {
        let (dx, dy) = best.0;
        let steps = [(dx + 1, dy), (dx - 1, dy), (dx, dy + 1), (dx, dy - 1)];
        let mut improved = false;
        for vector in steps {
            improved |= try_vector(&mut best, vector);
        }
        if !improved {
            break;
        }
    }
    best
}

/// `(c - p)^2`: the per-pixel cost of a sum of squared differences.
pub(crate) fn squared_difference(c: u8, p: u8) -> u32 {
    u32::from(c.abs_diff(p)) * u32::from(c.abs_diff(p))
}

/// `|c - p|`: the per-pixel cost of a sum of absolute differences.
pub(crate) fn absolute_difference(c: u8, p: u8) -> u32 {
    u32::from(c.abs_diff(p))
}

/// Two luma planes of one geometry that a motion search compares.
pub(crate) struct Planes<'a> {
    pub current: &'a [u8],
    pub previous: &'a [u8],
    pub width: usize,
    pub height: usize,
}

impl Planes<'_> {
    /// The sum of `difference` over the `N`x`N` block at `(x, y)` and the previous plane's
    /// block displaced by `vector`, if that block lies inside the picture and the sum is below
    /// `limit`. `N * N * difference` must fit a `u32` (it does up to 64x64 SSD).
    pub(crate) fn block_cost<const N: usize>(
        &self,
        x: usize,
        y: usize,
        (dx, dy): Vector,
        limit: u32,
        difference: impl Fn(u8, u8) -> u32,
    ) -> Option<u32> {
        let px = x.checked_add_signed(dx as isize)?;
        let py = y.checked_add_signed(dy as isize)?;
        if px + N > self.width || py + N > self.height {
            return None;
        }
        // One lane per column, summed once at the end (so the rows vectorise).
        let mut lanes = [0u32; N];
        for r in 0..N {
            let current = &self.current[(y + r) * self.width + x..][..N];
            let previous = &self.previous[(py + r) * self.width + px..][..N];
            for ((lane, &c), &p) in lanes.iter_mut().zip(current).zip(previous) {
                *lane += difference(c, p);
            }
        }
        let sum = lanes.iter().sum();
        (sum < limit).then_some(sum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::{frame, hash, info, scene};

    fn si(frame: &bitswarm_core::Frame) -> f64 {
        let (w, h) = (frame.width as usize, frame.height as usize);
        spatial_information(&frame.y, w, h, &mut SobelScratch::default())
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-4 * b.abs().max(1.0)
    }

    #[test]
    fn flat_frame_has_no_spatial_information() {
        let info = info(32, 16);
        assert_eq!(si(&frame(&info, |_, _| 77)), 0.0);
    }

    #[test]
    fn vertical_and_horizontal_step_edges_give_the_hand_computed_si() {
        // 0 | 100 between columns 31 and 32: the two columns next to the step see
        // gx = (1 + 2 + 1) * 100 = 400, every other interior pixel 0. A share p = 2/62 of the
        // interior at 400: stddev = 400 * sqrt(p * (1 - p)).
        let p: f64 = 2.0 / 62.0;
        let expected = 400.0 * (p * (1.0 - p)).sqrt();
        let vertical = si(&frame(&info(64, 16), |x, _| if x < 32 { 0 } else { 100 }));
        assert!(close(vertical, expected), "{vertical} vs {expected}");
        // Transposed: the same edge across rows exercises gy.
        let horizontal = si(&frame(&info(16, 64), |_, y| if y < 32 { 0 } else { 100 }));
        assert!(close(horizontal, expected), "{horizontal} vs {expected}");
    }

    #[test]
    fn impulse_gives_the_hand_computed_sobel_magnitudes() {
        // One pixel of 100 in a 32x32 black frame: its 4 edge neighbours see a magnitude of 200
        // (one kernel weight 2), its 4 corner neighbours sqrt(100^2 + 100^2); 30x30 interior.
        let image = frame(
            &info(32, 32),
            |x, y| if (x, y) == (10, 10) { 100 } else { 0 },
        );
        let n = 900.0;
        let mean = (4.0 * 200.0 + 4.0 * 100.0 * 2f64.sqrt()) / n;
        let mean_sq = (4.0 * 200.0 * 200.0 + 4.0 * 20_000.0) / n;
        let expected = (mean_sq - mean * mean).sqrt();
        assert!(close(si(&image), expected), "{} vs {expected}", si(&image));
    }

    #[test]
    fn temporal_information_is_the_stddev_of_the_difference() {
        let info = info(32, 16);
        let stripes = frame(&info, |x, _| if x % 2 == 0 { 0 } else { 100 });
        let shifted = frame(&info, |x, _| if x % 2 == 1 { 0 } else { 100 });
        // Shifting the stripes by one pixel: differences of +100 and -100, half each.
        assert_eq!(temporal_information(&shifted.y, &stripes.y), 100.0);
        // A constant brightness change is no temporal information (stddev, not RMS).
        let brighter = frame(&info, |x, _| if x % 2 == 0 { 20 } else { 120 });
        assert_eq!(temporal_information(&brighter.y, &stripes.y), 0.0);
        // Half of the pixels change by 50: differences 0 and 50, stddev 25.
        let half = frame(&info, |x, y| {
            stripes.y[(y * 32 + x) as usize] + if y < 8 { 50 } else { 0 }
        });
        assert_eq!(temporal_information(&half.y, &stripes.y), 25.0);
    }

    #[test]
    fn block_scan_measures_thumbnail_and_energies() {
        let info = info(20, 16); // 2x2 whole blocks; the 4 right columns are left out
        let checker = frame(&info, |x, y| if (x + y) % 2 == 0 { 0 } else { 100 });
        let mut scan = BlockScan::default();
        scan.scan(&checker.y, None, 20, 16);
        assert_eq!(
            scan.thumbnail,
            Thumbnail {
                width: 2,
                height: 2,
                sums: vec![3200; 4]
            }
        );
        // Pixels of 0 and 100, half each: variance 2500 in every block.
        assert_eq!(scan.intra_energy, 2500.0);
        assert_eq!(scan.residual_energy, 2500.0);
        // Against 0/90 instead of 0/100, half the pixels differ by 10: MSE 50, cheaper than the
        // block's variance.
        let darker = frame(&info, |x, y| if (x + y) % 2 == 0 { 0 } else { 90 });
        scan.scan(&checker.y, Some(&darker.y), 20, 16);
        assert_eq!(scan.residual_energy, 50.0);
        assert_eq!(scan.intra_energy, 2500.0);
        // Against the pattern moved by one pixel every pixel differs by 100 (MSE 10000) in place,
        // but the motion search finds the shift.
        let inverted = frame(&info, |x, y| if (x + y) % 2 == 1 { 0 } else { 100 });
        scan.scan(&checker.y, Some(&inverted.y), 20, 16);
        assert_eq!(scan.residual_energy, 0.0);
        // Against unrelated noise no block matches well: the block variance is cheaper.
        let noise = frame(&info, |x, y| (hash(1, x.into(), y.into()) % 256) as u8);
        scan.scan(&checker.y, Some(&noise.y), 20, 16);
        assert_eq!(scan.residual_energy, 2500.0);
        // A right-hand remainder that differs does not count: only whole blocks do.
        let edge = frame(&info, |x, y| {
            if x >= 16 {
                255
            } else {
                checker.y[(y * 20 + x) as usize]
            }
        });
        scan.scan(&edge.y, Some(&checker.y), 20, 16);
        assert_eq!((scan.residual_energy, scan.thumbnail.sums[1]), (0.0, 3200));
    }

    #[test]
    fn motion_search_follows_a_pan() {
        // The camera moves 3 pixels right per frame: frame 2's block at x matches frame 1's at
        // x + 3. Pixel detail makes every wrong vector about equally bad, so the one-pixel
        // steps need a few blocks to lock on; then the vector propagates from block to block.
        let info = info(320, 176);
        let mut scan = BlockScan::default();
        let frames: Vec<_> = (0..3).map(|i| scene(&info, 1, 3 * i, 0)).collect();
        scan.scan(&frames[0].y, None, 320, 176);
        scan.scan(&frames[1].y, Some(&frames[0].y), 320, 176);
        scan.scan(&frames[2].y, Some(&frames[1].y), 320, 176);
        let bw = 40;
        let first = scan.vectors.iter().position(|&v| v == (3, 0));
        assert!(first.is_some_and(|i| i < 8), "{:?}", &scan.vectors[..bw]);
        // From there on every block whose match lies inside the picture has the pan; the last
        // column, whose match lies beyond the right edge, has not.
        for (i, &vector) in scan.vectors.iter().enumerate().skip(first.unwrap_or(0)) {
            if i % bw == bw - 1 {
                assert_ne!(vector, (3, 0), "block {i}");
            } else {
                assert_eq!(vector, (3, 0), "block {i}");
            }
        }
        // So only those blocks leave a residual, at most their variance.
        assert!(scan.residual_energy > 0.0);
        assert!(
            scan.residual_energy < scan.intra_energy / 20.0,
            "{} vs {}",
            scan.residual_energy,
            scan.intra_energy
        );
        // Without a previous frame nothing is searched.
        scan.scan(&frames[2].y, None, 320, 176);
        assert!(scan.vectors.iter().all(|&v| v == (0, 0)));
        assert_eq!(scan.residual_energy, scan.intra_energy);
    }

    #[test]
    fn small_residuals_are_not_searched() {
        // Every pixel differs by 4 (MSE 16, the search floor): kept as it is.
        let info = info(64, 64);
        let base = scene(&info, 2, 0, 0);
        let brighter = frame(&info, |x, y| base.y[(y * 64 + x) as usize] + 4);
        let mut scan = BlockScan::default();
        scan.scan(&brighter.y, Some(&base.y), 64, 64);
        assert_eq!(scan.residual_energy, 16.0);
        assert!(scan.vectors.iter().all(|&v| v == (0, 0)));
    }
}
