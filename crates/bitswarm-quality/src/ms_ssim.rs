//! MS-SSIM (Wang, Simoncelli and Bovik, "Multi-scale structural similarity for image quality
//! assessment", 2003) of the luma plane, as libvmaf's `float_ms_ssim` feature computes it.
//!
//! Five scales; each coarser scale is the previous one low-passed with the 9/7 biorthogonal
//! wavelet's analysis filter (edges mirrored with the edge sample repeated) and subsampled by
//! two. At each scale an 11x11 Gaussian window (sigma 1.5), applied where it fits inside the
//! image, gives the mean luminance, contrast and structure terms `l`, `c`, `s` (constants
//! `(0.01 * 255)^2`, `(0.03 * 255)^2` and half the latter). The score is
//! `l5^0.1333 * prod_i c_i^b_i * s_i^b_i` with Wang's exponents
//! `b = 0.0448, 0.2856, 0.3001, 0.2363, 0.1333`. Field per frame: `ms_ssim`.

use bitswarm_core::Frame;

use crate::simd::dispatch;
use crate::{check_pair, Error, FrameScores, Metric, Result, Scores, Summary};

const FIELDS: &[&str] = &["ms_ssim"];
const SCALES: usize = 5;
/// Wang's exponents of the contrast and structure terms; luminance only at the last scale.
const EXPONENTS: [f64; SCALES] = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333];
/// 11-tap Gaussian, sigma 1.5, normalised (libvmaf's rounding).
const GAUSSIAN: [f32; 11] = [
    0.001028, 0.007599, 0.036001, 0.109361, 0.213006, 0.266012, 0.213006, 0.109361, 0.036001,
    0.007599, 0.001028,
];
/// Low-pass analysis filter of the 9/7 biorthogonal wavelet (libvmaf's rounding).
const LOW_PASS: [f32; 9] = [
    0.026727, -0.016828, -0.078201, 0.266846, 0.602914, 0.266846, -0.078201, -0.016828, 0.026727,
];
const C1: f32 = (0.01 * 255.0) * (0.01 * 255.0);
const C2: f32 = (0.03 * 255.0) * (0.03 * 255.0);

/// A single-precision image.
struct Image {
    w: usize,
    h: usize,
    px: Vec<f32>,
}

/// Mirror with the edge sample repeated: -1 -> 0, n -> n - 1.
#[inline(always)]
fn symmetric(i: isize, n: usize) -> usize {
    let n = n as isize;
    let m = if i < 0 {
        -1 - i
    } else if i >= n {
        2 * n - i - 1
    } else {
        i
    };
    m as usize
}

/// Low-pass and keep every other sample in both directions: `ceil(w/2)` x `ceil(h/2)`.
#[inline(always)]
fn downsample(img: &Image) -> Image {
    let (w, h) = (img.w, img.h);
    let (ow, oh) = (w.div_ceil(2), h.div_ceil(2));
    let r = (LOW_PASS.len() / 2) as isize;
    // Horizontal pass at even columns, every row.
    let mut tmp = vec![0f32; ow * h];
    for y in 0..h {
        let row = &img.px[y * w..y * w + w];
        for ox in 0..ow {
            let x = 2 * ox as isize;
            let sum: f64 = LOW_PASS
                .iter()
                .enumerate()
                .map(|(k, &f)| f64::from(row[symmetric(x + k as isize - r, w)] * f))
                .sum();
            tmp[y * ow + ox] = sum as f32;
        }
    }
    let mut px = vec![0f32; ow * oh];
    for oy in 0..oh {
        let y = 2 * oy as isize;
        let mut acc = vec![0f64; ow];
        for (k, &f) in LOW_PASS.iter().enumerate() {
            let src = &tmp[symmetric(y + k as isize - r, h) * ow..][..ow];
            for (a, &s) in acc.iter_mut().zip(src) {
                *a += f64::from(s * f);
            }
        }
        for (p, a) in px[oy * ow..oy * ow + ow].iter_mut().zip(acc) {
            *p = a as f32;
        }
    }
    Image { w: ow, h: oh, px }
}

/// Gaussian-windowed mean of `src` where the window fits: `(w - 10)` x `(h - 10)`.
#[inline(always)]
fn window_mean(src: &[f32], w: usize, h: usize, tmp: &mut Vec<f32>, out: &mut Vec<f32>) {
    let (ow, oh) = (w - 10, h - 10);
    tmp.clear();
    tmp.resize(ow * h, 0.0);
    for y in 0..h {
        let row = &src[y * w..y * w + w];
        let dst = &mut tmp[y * ow..y * ow + ow];
        let mut acc = vec![0f64; ow];
        for (k, &g) in GAUSSIAN.iter().enumerate() {
            for (a, &s) in acc.iter_mut().zip(&row[k..k + ow]) {
                *a += f64::from(s * g);
            }
        }
        for (d, a) in dst.iter_mut().zip(acc) {
            *d = a as f32;
        }
    }
    out.clear();
    out.resize(ow * oh, 0.0);
    let mut acc = vec![0f64; ow];
    for y in 0..oh {
        acc.fill(0.0);
        for (k, &g) in GAUSSIAN.iter().enumerate() {
            for (a, &s) in acc.iter_mut().zip(&tmp[(y + k) * ow..(y + k) * ow + ow]) {
                *a += f64::from(s * g);
            }
        }
        for (d, &a) in out[y * ow..y * ow + ow].iter_mut().zip(&acc) {
            *d = a as f32;
        }
    }
}

/// Mean luminance, contrast and structure terms of one scale.
#[inline(always)]
fn lcs(a: &Image, b: &Image) -> [f64; 3] {
    let (w, h) = (a.w, a.h);
    let mut tmp = Vec::new();
    let mut maps: [Vec<f32>; 5] = Default::default();
    let products: [Vec<f32>; 3] = [
        a.px.iter().map(|&x| x * x).collect(),
        b.px.iter().map(|&x| x * x).collect(),
        a.px.iter().zip(&b.px).map(|(&x, &y)| x * y).collect(),
    ];
    let sources = [&a.px, &b.px, &products[0], &products[1], &products[2]];
    for (map, src) in maps.iter_mut().zip(sources) {
        window_mean(src, w, h, &mut tmp, map);
    }
    let [mu1, mu2, xx, yy, xy] = &maps;
    let mut sums = [0f64; 3];
    for i in 0..mu1.len() {
        let (m1, m2) = (mu1[i], mu2[i]);
        let s1 = (xx[i] - m1 * m1).max(0.0);
        let s2 = (yy[i] - m2 * m2).max(0.0);
        let s12 = xy[i] - m1 * m2;
        let root = (s1 * s2).sqrt();
        // A negative covariance where a variance is zero is rounding noise: libvmaf zeroes it.
        let s12 = if s12 < 0.0 && root <= 0.0 { 0.0 } else { s12 };
        sums[0] += (2.0 * f64::from(m1) * f64::from(m2) + f64::from(C1))
            / f64::from(m1 * m1 + m2 * m2 + C1);
        sums[1] += (2.0 * f64::from(root) + f64::from(C2)) / f64::from(s1 + s2 + C2);
        sums[2] += f64::from((s12 + C2 / 2.0) / (root + C2 / 2.0));
    }
    let n = mu1.len() as f64;
    sums.map(|s| f64::from((s / n) as f32))
}

/// Streaming MS-SSIM of frames of one size.
#[derive(Debug)]
pub struct MsSsim {
    width: u32,
    height: u32,
    scores: Scores,
}

impl MsSsim {
    /// Frames must be at least 176x176: the coarsest scale (1/16) needs the 11-pixel window.
    pub fn new(width: u32, height: u32) -> Result<Self> {
        if width < 176 || height < 176 {
            return Err(Error::TooSmall {
                metric: "ms_ssim",
                min: "176x176".into(),
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

    dispatch! {
        /// MS-SSIM of two luma planes of the metric's size.
        fn luma(&mut self, reference: &[u8], distorted: &[u8]) -> f64 => luma_inline, luma_avx2, luma_avx512
    }

    #[inline(always)]
    fn luma_inline(&mut self, reference: &[u8], distorted: &[u8]) -> f64 {
        let (w, h) = (self.width as usize, self.height as usize);
        let to_image = |p: &[u8]| Image {
            w,
            h,
            px: p.iter().map(|&v| f32::from(v)).collect(),
        };
        let (mut a, mut b) = (to_image(reference), to_image(distorted));
        let mut score = 1.0f64;
        for (scale, &e) in EXPONENTS.iter().enumerate() {
            let [l, c, s] = lcs(&a, &b);
            let l_term = if scale == SCALES - 1 { l.powf(e) } else { 1.0 };
            score *= l_term * c.powf(e) * s.powf(e);
            if scale < SCALES - 1 {
                a = downsample(&a);
                b = downsample(&b);
            }
        }
        score
    }
}

impl Metric for MsSsim {
    fn name(&self) -> &'static str {
        "ms_ssim"
    }

    fn fields(&self) -> &'static [&'static str] {
        FIELDS
    }

    fn push(&mut self, reference: &Frame, distorted: &Frame) -> Result<()> {
        check_pair(self.width, self.height, reference, distorted)?;
        let score = self.luma(&reference.y, &distorted.y);
        self.scores.emit(vec![score]);
        Ok(())
    }

    fn pop(&mut self) -> Option<FrameScores> {
        self.scores.pop()
    }

    fn finish(&mut self) -> Result<Summary> {
        self.scores.summary("ms_ssim", Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planes;

    #[test]
    fn identical_planes_score_one_and_noise_lowers_it() {
        let (w, h) = (192, 176);
        let a = planes::textured(w, h, 7);
        let mut m = MsSsim::new(w as u32, h as u32).unwrap();
        assert!((m.luma(&a, &a) - 1.0).abs() < 1e-6);
        let noisy = m.luma(&a, &planes::noisy(&a, 60));
        assert!(noisy < 0.99 && noisy > 0.5, "{noisy}");
    }

    #[test]
    fn every_instruction_set_gives_the_same_scores() {
        let (w, h) = (177, 181);
        let a = planes::textured(w, h, 8);
        let b = planes::noisy(&a, 30);
        let mut m = MsSsim::new(w as u32, h as u32).unwrap();
        let base = m.luma_inline(&a, &b);
        #[cfg(target_arch = "x86_64")]
        {
            if crate::simd::has_avx2() {
                // SAFETY: the CPU has AVX2 (checked).
                assert_eq!(unsafe { m.luma_avx2(&a, &b) }, base);
            }
            if crate::simd::has_avx512() {
                // SAFETY: the CPU has AVX-512 (checked).
                assert_eq!(unsafe { m.luma_avx512(&a, &b) }, base);
            }
        }
    }

    #[test]
    fn downsampling_keeps_a_constant_and_rounds_sizes_up() {
        let img = Image {
            w: 13,
            h: 8,
            px: vec![50.0; 13 * 8],
        };
        let half = downsample(&img);
        assert_eq!((half.w, half.h), (7, 4));
        // The taps sum to 1 (to the rounding of the constants).
        assert!(half.px.iter().all(|&p| (p - 50.0).abs() < 1e-3));
    }

    #[test]
    fn small_frames_are_refused() {
        assert_eq!(
            MsSsim::new(160, 240).unwrap_err().to_string(),
            "ms_ssim needs frames of at least 176x176 pixels (got 160x240)"
        );
    }
}
