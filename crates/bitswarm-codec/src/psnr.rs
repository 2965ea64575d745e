//! PSNR, as used in every bitswarm report.
//!
//! Per plane: `PSNR = 10 log10(255^2 / MSE)` over all samples of the plane, capped at
//! [`MAX_PSNR`] (identical planes give the cap, not infinity). The single figure is the
//! weighted `(6 Y + U + V) / 8` of the plane PSNRs, the weighting common in codec comparisons.

use bitswarm_core::Frame;

use crate::{Error, Result};

/// The PSNR of identical planes, in dB (instead of infinity).
pub const MAX_PSNR: f64 = 100.0;

/// PSNR of the Y, U and V planes of `distorted` against `reference`, in dB.
///
/// Fails when the frames differ in size or a plane does not match its frame's dimensions.
pub fn psnr_planes(reference: &Frame, distorted: &Frame) -> Result<[f64; 3]> {
    if (reference.width, reference.height) != (distorted.width, distorted.height) {
        return Err(Error::FrameMismatch {
            got: format!("{}x{}", distorted.width, distorted.height),
            expected: format!("{}x{}", reference.width, reference.height),
        });
    }
    let planes = [
        (&reference.y, &distorted.y),
        (&reference.u, &distorted.u),
        (&reference.v, &distorted.v),
    ];
    let luma = reference.width as usize * reference.height as usize;
    let chroma = (reference.width as usize / 2) * (reference.height as usize / 2);
    let mut out = [0.0; 3];
    for (i, (a, b)) in planes.into_iter().enumerate() {
        let expected = if i == 0 { luma } else { chroma };
        if a.len() != expected || b.len() != expected {
            return Err(Error::FrameMismatch {
                got: format!(
                    "plane {} of {} and {} bytes",
                    "YUV".as_bytes()[i] as char,
                    a.len(),
                    b.len()
                ),
                expected: format!(
                    "{expected} bytes for {}x{}",
                    reference.width, reference.height
                ),
            });
        }
        out[i] = plane_psnr(a, b);
    }
    Ok(out)
}

/// The weighted PSNR `(6 Y + U + V) / 8` of [`psnr_planes`] output.
pub fn weighted(planes: [f64; 3]) -> f64 {
    (6.0 * planes[0] + planes[1] + planes[2]) / 8.0
}

/// Weighted PSNR of `distorted` against `reference` in one call.
pub fn psnr(reference: &Frame, distorted: &Frame) -> Result<f64> {
    psnr_planes(reference, distorted).map(weighted)
}

fn plane_psnr(a: &[u8], b: &[u8]) -> f64 {
    if a.is_empty() {
        return MAX_PSNR;
    }
    let sse: u64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| {
            let d = u64::from(x.abs_diff(y));
            d * d
        })
        .sum();
    if sse == 0 {
        return MAX_PSNR;
    }
    let mse = sse as f64 / a.len() as f64;
    (10.0 * (255.0 * 255.0 / mse).log10()).min(MAX_PSNR)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitswarm_core::{Rational, VideoInfo};

    fn info() -> VideoInfo {
        VideoInfo::new(16, 16, Rational::new(25, 1).unwrap()).unwrap()
    }

    #[test]
    fn identical_frames_are_capped() {
        let f = Frame::filled(&info(), 100, 120, 140);
        assert_eq!(psnr_planes(&f, &f).unwrap(), [MAX_PSNR; 3]);
        assert_eq!(psnr(&f, &f).unwrap(), MAX_PSNR);
    }

    #[test]
    fn known_mse_gives_known_psnr() {
        let a = Frame::filled(&info(), 100, 128, 128);
        let mut b = a.clone();
        // Luma off by 5 everywhere: MSE 25, PSNR = 10 log10(65025 / 25) = 34.1514 dB.
        b.y.iter_mut().for_each(|p| *p += 5);
        // One chroma sample off by 8 of 64: MSE 1.
        b.u[0] += 8;
        let p = psnr_planes(&a, &b).unwrap();
        assert!((p[0] - 34.1514).abs() < 1e-3, "{p:?}");
        assert!((p[1] - 48.1308).abs() < 1e-3, "{p:?}");
        assert_eq!(p[2], MAX_PSNR);
        assert!((weighted(p) - (6.0 * p[0] + p[1] + 100.0) / 8.0).abs() < 1e-12);
    }

    #[test]
    fn mismatched_frames_are_an_error() {
        let a = Frame::filled(&info(), 0, 0, 0);
        let other = VideoInfo::new(32, 16, Rational::new(25, 1).unwrap()).unwrap();
        let b = Frame::filled(&other, 0, 0, 0);
        assert_eq!(
            psnr_planes(&a, &b).unwrap_err().to_string(),
            "frame is 32x16, expected 16x16"
        );
        let mut c = a.clone();
        c.v.pop();
        assert_eq!(
            psnr_planes(&a, &c).unwrap_err().to_string(),
            "frame is plane V of 64 and 63 bytes, expected 64 bytes for 16x16"
        );
    }
}
