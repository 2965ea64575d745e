//! SSIM as FFmpeg's `ssim` filter computes it (after x264): the plane is cut into 4x4 blocks,
//! each 8x8 window of 2x2 neighbouring blocks (so windows overlap by 4 pixels) gets
//!
//! ```text
//! SSIM = (2 s1 s2 + C1)(2 cov + C2) / ((s1^2 + s2^2 + C1)(var + C2))
//! ```
//!
//! from the integer sums of the window (`s1`, `s2`, sum of squares, cross sum; `C1`, `C2` the
//! usual `(0.01 * 255)^2` and `(0.03 * 255)^2` scaled to sums of 64 samples), and the plane's
//! score is the mean over all windows (pixels right of or below the last whole block are not
//! looked at). Fields per frame: `ssim_y`, `ssim_u`, `ssim_v` and `ssim`, the planes weighted
//! by their size (4:1:1), FFmpeg's `All`. The pooled mean of each field is FFmpeg's summary.
//! This is the fast block approximation of Wang et al. (2004), not the Gaussian-window SSIM;
//! [`crate::ms_ssim`] uses Gaussian windows.

use bitswarm_core::Frame;

use crate::{check_pair, Error, FrameScores, Metric, Result, Scores, Summary};

const FIELDS: &[&str] = &["ssim_y", "ssim_u", "ssim_v", "ssim"];

/// `(0.01 * 255)^2 * 64`, rounded, as in FFmpeg.
const C1: i32 = 416;
/// `(0.03 * 255)^2 * 64 * 63`, rounded, as in FFmpeg.
const C2: i32 = 235_963;

/// Sums of one 4x4 block: reference, distorted, sum of both squares, cross product.
#[derive(Clone, Copy, Default)]
struct BlockSums([i32; 4]);

fn block_row(a: &[u8], b: &[u8], stride: usize, blocks: usize, out: &mut [BlockSums]) {
    for (x, sums) in out.iter_mut().enumerate().take(blocks) {
        let mut s = [0i32; 4];
        for row in 0..4 {
            let off = row * stride + 4 * x;
            for (&p, &q) in a[off..off + 4].iter().zip(&b[off..off + 4]) {
                let (p, q) = (i32::from(p), i32::from(q));
                s[0] += p;
                s[1] += q;
                s[2] += p * p + q * q;
                s[3] += p * q;
            }
        }
        *sums = BlockSums(s);
    }
}

/// SSIM of one 8x8 window from its sums (integer arithmetic, then single precision, as FFmpeg).
fn window_ssim(s: [i32; 4]) -> f32 {
    let [s1, s2, ss, s12] = s;
    let vars = ss * 64 - s1 * s1 - s2 * s2;
    let covar = s12 * 64 - s1 * s2;
    (2 * s1 * s2 + C1) as f32 * (2 * covar + C2) as f32
        / ((s1 * s1 + s2 * s2 + C1) as f32 * (vars + C2) as f32)
}

/// SSIM of one plane (`width` x `height`, tightly packed); both must be at least 8.
fn ssim_plane(a: &[u8], b: &[u8], width: usize, height: usize) -> f32 {
    let (bw, bh) = (width / 4, height / 4);
    let mut above = vec![BlockSums::default(); bw];
    let mut below = vec![BlockSums::default(); bw];
    block_row(a, b, width, bw, &mut above);
    let mut total = 0.0f32;
    for by in 1..bh {
        let off = 4 * by * width;
        block_row(&a[off..], &b[off..], width, bw, &mut below);
        let mut line = 0.0f32;
        for x in 0..bw - 1 {
            let mut s = [0i32; 4];
            for blk in [above[x], above[x + 1], below[x], below[x + 1]] {
                for (acc, v) in s.iter_mut().zip(blk.0) {
                    *acc += v;
                }
            }
            line += window_ssim(s);
        }
        total += line;
        std::mem::swap(&mut above, &mut below);
    }
    total / ((bh - 1) * (bw - 1)) as f32
}

/// Streaming SSIM of frames of one size.
#[derive(Debug)]
pub struct Ssim {
    width: u32,
    height: u32,
    scores: Scores,
}

impl Ssim {
    /// Frames must be at least 16x16 (chroma planes of 8x8: one window).
    pub fn new(width: u32, height: u32) -> Result<Self> {
        if width < 16 || height < 16 {
            return Err(Error::TooSmall {
                metric: "ssim",
                min: "16x16".into(),
                width,
                height,
            });
        }
        Ok(Self {
            width,
            height,
            scores: Scores::new(FIELDS),
        })
    }
}

impl Metric for Ssim {
    fn name(&self) -> &'static str {
        "ssim"
    }

    fn fields(&self) -> &'static [&'static str] {
        FIELDS
    }

    fn push(&mut self, reference: &Frame, distorted: &Frame) -> Result<()> {
        check_pair(self.width, self.height, reference, distorted)?;
        let (w, h) = (self.width as usize, self.height as usize);
        let y = ssim_plane(&reference.y, &distorted.y, w, h);
        let u = ssim_plane(&reference.u, &distorted.u, w / 2, h / 2);
        let v = ssim_plane(&reference.v, &distorted.v, w / 2, h / 2);
        // FFmpeg weighs planes by their share of samples, in single precision.
        let all = (4.0 / 6.0f32) * y + (1.0 / 6.0f32) * u + (1.0 / 6.0f32) * v;
        self.scores
            .emit(vec![y.into(), u.into(), v.into(), all.into()]);
        Ok(())
    }

    fn pop(&mut self) -> Option<FrameScores> {
        self.scores.pop()
    }

    fn finish(&mut self) -> Result<Summary> {
        self.scores.summary("ssim", Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planes;

    #[test]
    fn identical_planes_score_one() {
        let a = planes::textured(32, 24, 3);
        assert_eq!(ssim_plane(&a, &a, 32, 24), 1.0);
    }

    #[test]
    fn one_window_matches_the_formula() {
        // An 8x8 plane is exactly one window: check against the formula in floating point.
        let a = planes::textured(8, 8, 1);
        let b: Vec<u8> = a.iter().map(|&p| p / 2 + 40).collect();
        let n = 64.0;
        let mean = |v: &[u8]| v.iter().map(|&p| f64::from(p)).sum::<f64>() / n;
        let (ma, mb) = (mean(&a), mean(&b));
        let (mut va, mut vb, mut cov) = (0.0, 0.0, 0.0);
        for (&p, &q) in a.iter().zip(&b) {
            let (p, q) = (f64::from(p) - ma, f64::from(q) - mb);
            va += p * p;
            vb += q * q;
            cov += p * q;
        }
        // In FFmpeg's sums, 64 sum(x^2) - sum(x)^2 = 64^2 var (population variance): the
        // window's formula over means and population moments, with C1, C2 divided by 64^2.
        let c1 = 416.0 / (64.0 * 64.0);
        let c2 = 235_963.0 / (64.0 * 64.0);
        let expected = (2.0 * ma * mb + c1) * (2.0 * cov / n + c2)
            / ((ma * ma + mb * mb + c1) * ((va + vb) / n + c2));
        let got = f64::from(ssim_plane(&a, &b, 8, 8));
        assert!((got - expected).abs() < 1e-5, "{got} vs {expected}");
        assert!(got < 0.9);
    }

    #[test]
    fn small_frames_are_refused() {
        assert_eq!(
            Ssim::new(8, 16).unwrap_err().to_string(),
            "ssim needs frames of at least 16x16 pixels (got 8x16)"
        );
    }
}
