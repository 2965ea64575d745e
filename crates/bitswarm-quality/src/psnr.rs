//! PSNR per plane and weighted, per frame; pooled both as the mean of per-frame PSNR and, as
//! FFmpeg's `psnr` filter reports its summary, as the PSNR of the mean MSE.
//!
//! Per plane: `PSNR = 10 log10(255^2 / MSE)` over all samples of the plane, capped at
//! [`MAX_PSNR`] (identical planes give the cap, where FFmpeg prints `inf`). The single figure
//! `psnr` is the weighted `(6 Y + U + V) / 8` of the plane PSNRs. [`psnr_planes`] and [`psnr`]
//! give the figures of one frame pair without a [`Psnr`] meter (reports and tests use them).
//!
//! Fields per frame: `psnr_y`, `psnr_u`, `psnr_v`, `psnr`. Aggregates of [`crate::Summary`]:
//! `psnr_y_mse`, `psnr_u_mse`, `psnr_v_mse` (PSNR of the plane's MSE averaged over frames) and
//! `psnr_avg_mse` (PSNR of the MSE of all samples averaged over frames, the planes weighted by
//! their size 4:1:1): these are FFmpeg's summary `y`, `u`, `v` and `average`.

use bitswarm_core::Frame;

use crate::{check_pair, Aggregate, FrameScores, Metric, Result, Scores, Summary};

/// The PSNR of identical planes, in dB (instead of infinity).
pub const MAX_PSNR: f64 = 100.0;

const FIELDS: &[&str] = &["psnr_y", "psnr_u", "psnr_v", "psnr"];

/// Mean squared difference of two planes of equal length.
pub fn mse(a: &[u8], b: &[u8]) -> f64 {
    debug_assert_eq!(a.len(), b.len());
    let sse: u64 = a
        .chunks(4096)
        .zip(b.chunks(4096))
        .map(|(a, b)| {
            // A chunk of 4096 squares of at most 255^2 fits in u32.
            a.iter()
                .zip(b)
                .map(|(&x, &y)| {
                    let d = u32::from(x.abs_diff(y));
                    d * d
                })
                .sum::<u32>() as u64
        })
        .sum();
    sse as f64 / a.len() as f64
}

/// PSNR of an 8-bit MSE, capped at [`MAX_PSNR`].
pub fn psnr_from_mse(mse: f64) -> f64 {
    if mse <= 0.0 {
        return MAX_PSNR;
    }
    (10.0 * (255.0 * 255.0 / mse).log10()).min(MAX_PSNR)
}

/// The weighted PSNR `(6 Y + U + V) / 8`.
pub fn weighted(planes: [f64; 3]) -> f64 {
    (6.0 * planes[0] + planes[1] + planes[2]) / 8.0
}

/// MSE of the Y, U and V planes of two frames of one size (already checked).
fn plane_mse(reference: &Frame, distorted: &Frame) -> [f64; 3] {
    [
        mse(&reference.y, &distorted.y),
        mse(&reference.u, &distorted.u),
        mse(&reference.v, &distorted.v),
    ]
}

/// PSNR of the Y, U and V planes of `distorted` against `reference`, in dB; fails when the
/// frames differ in size or a plane does not match its frame's dimensions.
pub fn psnr_planes(reference: &Frame, distorted: &Frame) -> Result<[f64; 3]> {
    check_pair(reference.width, reference.height, reference, distorted)?;
    Ok(plane_mse(reference, distorted).map(psnr_from_mse))
}

/// The weighted PSNR `(6 Y + U + V) / 8` of one frame pair.
pub fn psnr(reference: &Frame, distorted: &Frame) -> Result<f64> {
    psnr_planes(reference, distorted).map(weighted)
}

/// Streaming PSNR of frames of one size.
#[derive(Debug)]
pub struct Psnr {
    width: u32,
    height: u32,
    scores: Scores,
    /// Per plane, then all samples (4:1:1), the sum of per-frame MSE.
    mse_sums: [f64; 4],
}

impl Psnr {
    pub fn new(width: u32, height: u32) -> Self {
        Self {
            width,
            height,
            scores: Scores::new(FIELDS),
            mse_sums: [0.0; 4],
        }
    }
}

impl Metric for Psnr {
    fn name(&self) -> &'static str {
        "psnr"
    }

    fn fields(&self) -> &'static [&'static str] {
        FIELDS
    }

    fn push(&mut self, reference: &Frame, distorted: &Frame) -> Result<()> {
        check_pair(self.width, self.height, reference, distorted)?;
        let mse = plane_mse(reference, distorted);
        let all = (4.0 * mse[0] + mse[1] + mse[2]) / 6.0;
        for (sum, m) in self.mse_sums.iter_mut().zip(mse.iter().chain([&all])) {
            *sum += m;
        }
        let planes = mse.map(psnr_from_mse);
        self.scores
            .emit(vec![planes[0], planes[1], planes[2], weighted(planes)]);
        Ok(())
    }

    fn pop(&mut self) -> Option<FrameScores> {
        self.scores.pop()
    }

    fn finish(&mut self) -> Result<Summary> {
        let n = self.scores.frames() as f64;
        let names = ["psnr_y_mse", "psnr_u_mse", "psnr_v_mse", "psnr_avg_mse"];
        let aggregates = names
            .iter()
            .zip(self.mse_sums)
            .map(|(&name, sum)| Aggregate {
                name,
                value: psnr_from_mse(sum / n),
            })
            .collect();
        self.scores.summary("psnr", aggregates)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitswarm_core::{Rational, VideoInfo};

    fn info() -> VideoInfo {
        VideoInfo::new(16, 16, Rational::new(25, 1).unwrap()).unwrap()
    }

    #[test]
    fn known_mse_gives_known_psnr() {
        let a = Frame::filled(&info(), 100, 128, 128);
        let mut b = a.clone();
        // Luma off by 5 everywhere: MSE 25, PSNR = 10 log10(65025 / 25) = 34.1514 dB.
        b.y.iter_mut().for_each(|p| *p += 5);
        // One chroma sample off by 8 of 64: MSE 1, 48.1308 dB.
        b.u[0] += 8;
        let mut psnr = Psnr::new(16, 16);
        psnr.push(&a, &b).unwrap();
        let v = psnr.pop().unwrap().values;
        assert!((v[0] - 34.1514).abs() < 1e-4, "{v:?}");
        assert!((v[1] - 48.1308).abs() < 1e-4, "{v:?}");
        assert_eq!(v[2], MAX_PSNR);
        assert!((v[3] - (6.0 * v[0] + v[1] + 100.0) / 8.0).abs() < 1e-12);
    }

    #[test]
    fn summary_pools_both_ways() {
        let a = Frame::filled(&info(), 100, 128, 128);
        let mut b = a.clone();
        b.y.iter_mut().for_each(|p| *p += 2); // MSE 4
        let mut c = a.clone();
        c.y.iter_mut().for_each(|p| *p += 4); // MSE 16
        let mut psnr = Psnr::new(16, 16);
        psnr.push(&a, &b).unwrap();
        psnr.push(&a, &c).unwrap();
        let s = psnr.finish().unwrap();
        assert_eq!(s.frames, 2);
        let mean_of_psnr = (psnr_from_mse(4.0) + psnr_from_mse(16.0)) / 2.0;
        assert!((s.field("psnr_y").unwrap().mean - mean_of_psnr).abs() < 1e-12);
        // FFmpeg's summary: PSNR of the mean MSE (10), lower than the mean of the PSNRs.
        let y = s.aggregate("psnr_y_mse").unwrap();
        assert!((y - psnr_from_mse(10.0)).abs() < 1e-12);
        assert!(y < mean_of_psnr);
        // All samples: (4 * 10 + 0 + 0) / 6.
        let avg = s.aggregate("psnr_avg_mse").unwrap();
        assert!((avg - psnr_from_mse(40.0 / 6.0)).abs() < 1e-12);
        assert_eq!(psnr.pop().unwrap().frame, 0);
        assert_eq!(psnr.pop().unwrap().frame, 1);
        assert!(psnr.pop().is_none());
    }

    #[test]
    fn wrong_sizes_and_empty_streams_are_errors() {
        let mut psnr = Psnr::new(32, 16);
        let a = Frame::filled(&info(), 0, 0, 0);
        assert_eq!(
            psnr.push(&a, &a).unwrap_err().to_string(),
            "frame is 16x16, expected 32x16"
        );
        assert_eq!(psnr.finish().unwrap_err(), crate::Error::NoFrames);
    }

    #[test]
    fn one_frame_pair_without_a_meter() {
        let a = Frame::filled(&info(), 100, 128, 128);
        assert_eq!(psnr_planes(&a, &a).unwrap(), [MAX_PSNR; 3]);
        assert_eq!(psnr(&a, &a).unwrap(), MAX_PSNR);
        let mut b = a.clone();
        b.y.iter_mut().for_each(|p| *p += 5);
        b.u[0] += 8;
        let p = psnr_planes(&a, &b).unwrap();
        assert!((p[0] - 34.1514).abs() < 1e-3, "{p:?}");
        assert!((p[1] - 48.1308).abs() < 1e-3, "{p:?}");
        assert_eq!(p[2], MAX_PSNR);
        assert!((psnr(&a, &b).unwrap() - (6.0 * p[0] + p[1] + 100.0) / 8.0).abs() < 1e-12);
        let other = VideoInfo::new(32, 16, Rational::new(25, 1).unwrap()).unwrap();
        assert_eq!(
            psnr_planes(&a, &Frame::filled(&other, 0, 0, 0))
                .unwrap_err()
                .to_string(),
            "frame is 32x16, expected 16x16"
        );
        let mut c = a.clone();
        c.v.pop();
        assert_eq!(
            psnr_planes(&a, &c).unwrap_err().to_string(),
            "frame is 16x16 with planes of [256, 64, 63] bytes, expected planes of [256, 64, 64] bytes"
        );
    }
}
