//! A tiny synthetic clip for golden-value tests: five 192x176 frame pairs, deterministic, with
//! texture, motion between frames and distortions of several strengths (blur, noise, chroma
//! quantisation; frame 3 much worse). Shared by `tests/golden.rs` (our values against the
//! pinned ones, no FFmpeg) and `tests/ffmpeg_crosscheck.rs` (the pinned values against
//! FFmpeg's libvmaf, psnr and ssim filters, so each golden value is cross-checked).

use bitswarm_core::{Frame, Rational, VideoInfo};

pub const WIDTH: u32 = 192;
pub const HEIGHT: u32 = 176;

pub fn info() -> VideoInfo {
    VideoInfo::new(WIDTH, HEIGHT, Rational::new(25, 1).unwrap()).unwrap()
}

/// A small linear congruential generator: the same numbers everywhere.
struct Lcg(u32);

impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self.0.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        self.0 >> 16
    }
}

/// Reference frame `n`: a smooth pattern plus fixed texture, moving 3 pixels right per frame.
fn reference(n: usize) -> Frame {
    let (w, h) = (WIDTH as usize, HEIGHT as usize);
    let mut rng = Lcg(12345);
    let texture: Vec<u32> = (0..(w + 64) * h).map(|_| rng.next() % 48).collect();
    let mut frame = Frame::filled(&info(), 0, 0, 0);
    for y in 0..h {
        for x in 0..w {
            let sx = x + 3 * n;
            let smooth = 60.0 + 50.0 * ((sx as f64 / 9.0).sin() + (y as f64 / 13.0).cos());
            let v = smooth as u32 + texture[y * (w + 64) + sx % (w + 64)];
            frame.y[y * w + x] = v.min(255) as u8;
        }
    }
    for y in 0..h / 2 {
        for x in 0..w / 2 {
            let i = y * (w / 2) + x;
            frame.u[i] = (100 + (x + n) % 40 + y % 17) as u8;
            frame.v[i] = (140 + y % 33 - (x / 3) % 20) as u8;
        }
    }
    frame
}

/// Distorted frame `n`: horizontal blur of the luma, noise, quantised chroma; frame 3 with a
/// wide blur and strong noise.
fn distorted(reference: &Frame, n: usize) -> Frame {
    let (w, h) = (WIDTH as usize, HEIGHT as usize);
    let mut rng = Lcg(777 + n as u32);
    let (radius, noise) = if n == 3 {
        (3, 25)
    } else {
        (1, 5 + 2 * n as u32)
    };
    let mut out = reference.clone();
    for y in 0..h {
        for x in 0..w {
            let lo = x.saturating_sub(radius);
            let hi = (x + radius).min(w - 1);
            let sum: u32 = (lo..=hi).map(|i| u32::from(reference.y[y * w + i])).sum();
            let blurred = sum / (hi - lo + 1) as u32;
            let v = blurred + rng.next() % (2 * noise + 1);
            out.y[y * w + x] = v.saturating_sub(noise).min(255) as u8;
        }
    }
    for p in out.u.iter_mut().chain(out.v.iter_mut()) {
        *p &= 0xfc;
    }
    out
}

/// The five (reference, distorted) pairs.
pub fn frames() -> Vec<(Frame, Frame)> {
    (0..5)
        .map(|n| {
            let r = reference(n);
            let d = distorted(&r, n);
            (r, d)
        })
        .collect()
}

/// The golden fields, in the order of [`GOLDEN`]'s rows.
pub const FIELDS: [&str; 15] = [
    "vmaf",
    "adm2",
    "motion2",
    "vif_scale0",
    "vif_scale1",
    "vif_scale2",
    "vif_scale3",
    "psnr_y",
    "psnr_u",
    "psnr_v",
    "ssim_y",
    "ssim_u",
    "ssim_v",
    "ssim",
    "ms_ssim",
];

/// Per frame, the values of [`FIELDS`] as libvmaf (v0.6.1 model, `float_ms_ssim`) and
/// FFmpeg's `psnr` and `ssim` filters give them for [`frames`] (FFmpeg n9.0.2 with libvmaf
/// 86da14d, from imageio-ffmpeg 0.8.1; `tests/ffmpeg_crosscheck.rs` recomputes them).
#[rustfmt::skip]
pub const GOLDEN: [[f64; 15]; 5] = [
    [76.829198, 0.899483, 0.000000, 0.186956, 0.972944, 0.990426, 0.995074, 26.768915, 42.690125, 42.690125, 0.714634, 0.987751, 0.985401, 0.805281, 0.971461],
    [84.678385, 0.889165, 10.247706, 0.175698, 0.958758, 0.985108, 0.992471, 26.490503, 42.690125, 42.690125, 0.699997, 0.988612, 0.985401, 0.795667, 0.967901],
    [84.008770, 0.888941, 10.247706, 0.165541, 0.942998, 0.978410, 0.988142, 26.188696, 42.690125, 42.690125, 0.687731, 0.988681, 0.985401, 0.787501, 0.964949],
    [59.511899, 0.803030, 10.277541, 0.064570, 0.735380, 0.872247, 0.928896, 22.371237, 42.690125, 42.690125, 0.427942, 0.988611, 0.985401, 0.614297, 0.879180],
    [78.982470, 0.871983, 10.367480, 0.143296, 0.896740, 0.956885, 0.977651, 25.388069, 42.690125, 42.690125, 0.651272, 0.987751, 0.985401, 0.763040, 0.955276],
];

/// VMAF of the first reference frame against itself (one frame: motion 0), as libvmaf gives
/// it: the model's score for a perfect still picture.
pub const IDENTICAL_VMAF: f64 = 97.428797;
