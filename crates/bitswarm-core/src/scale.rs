//! Resizing of 8-bit 4:2:0 frames.
//!
//! Each axis is resampled separately: area averaging (a box filter with fractional edge
//! weights) where it shrinks, bicubic interpolation where it grows (FFmpeg's default `bicubic`:
//! Keys' kernel with a = -0.6, i.e. B = 0, C = 0.6; edges repeated), a plain copy where it stays.
//! Arithmetic is integer fixed point, so the result is the same on every machine: the encoder
//! scales before encoding and redundant encodes are compared byte for byte. Chroma planes are
//! scaled like luma, with sample centres at pixel centres.

use crate::Frame;

/// Fractional bits of a filter weight; the weights of one output sample sum to `1 << WEIGHT_BITS`.
const WEIGHT_BITS: u32 = 12;
const WEIGHT_ONE: i32 = 1 << WEIGHT_BITS;
/// Fractional bits kept between the horizontal and the vertical pass.
const MID_BITS: u32 = 8;
/// The bicubic kernel's `a` (swscale's `bicubic` with its default parameters B = 0, C = 0.6).
const CUBIC_A: f64 = -0.6;

/// The source taps of one output sample: first source index and one weight per tap (negative
/// for the bicubic kernel's outer lobes).
struct Taps {
    start: usize,
    weights: Vec<i32>,
}

/// Keys' cubic convolution kernel with `a` = [`CUBIC_A`]: 1 at 0, 0 at the other integers,
/// weights of one position summing to 1.
fn cubic(x: f64) -> f64 {
    let (x, a) = (x.abs(), CUBIC_A);
    if x <= 1.0 {
        ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a
    } else {
        0.0
    }
}

/// Filter taps mapping `src` samples onto `dst` samples.
fn taps(src: usize, dst: usize) -> Vec<Taps> {
    if src == 0 {
        return (0..dst)
            .map(|_| Taps {
                start: 0,
                weights: Vec::new(),
            })
            .collect();
    }
    (0..dst)
        .map(|i| {
            let exact: Vec<(usize, f64)> = if dst < src {
                // Output sample i covers source interval [i*src/dst, (i+1)*src/dst).
                let lo = i as f64 * src as f64 / dst as f64;
                let hi = (i + 1) as f64 * src as f64 / dst as f64;
                let first = lo.floor() as usize;
                let last = (hi.ceil() as usize).min(src);
                (first..last)
                    .map(|s| {
                        let overlap = (hi.min((s + 1) as f64) - lo.max(s as f64)).max(0.0);
                        (s, overlap)
                    })
                    .collect()
            } else {
                // Four taps around the sample's position; outside the plane the edge sample
                // repeats, so taps that fall on the same sample add up.
                let pos = (i as f64 + 0.5) * src as f64 / dst as f64 - 0.5;
                let s0 = pos.floor();
                let mut taps: Vec<(usize, f64)> = Vec::with_capacity(4);
                for k in -1..=2 {
                    let s = (s0 + f64::from(k)).clamp(0.0, (src - 1) as f64) as usize;
                    let w = cubic(pos - (s0 + f64::from(k)));
                    match taps.last_mut() {
                        Some((last, sum)) if *last == s => *sum += w,
                        _ => taps.push((s, w)),
                    }
                }
                taps
            };
            normalise(exact)
        })
        .collect()
}

/// Quantises weights to integers that sum to exactly `WEIGHT_ONE` (the largest absorbs the
/// rounding), so flat areas stay exactly flat.
fn normalise(exact: Vec<(usize, f64)>) -> Taps {
    let start = exact.first().map_or(0, |&(s, _)| s);
    let total: f64 = exact.iter().map(|&(_, w)| w).sum();
    let mut weights: Vec<i32> = exact
        .iter()
        // |w / total| <= 1.2 for both kernels, so the cast cannot wrap.
        .map(|&(_, w)| (w / total * WEIGHT_ONE as f64).round() as i32)
        .collect();
    let error = WEIGHT_ONE - weights.iter().sum::<i32>();
    if let Some(max) = (0..weights.len()).max_by_key(|&k| (weights[k], std::cmp::Reverse(k))) {
        weights[max] += error;
    }
    Taps { start, weights }
}

/// Resizes one plane of `sw`x`sh` samples to `dw`x`dh`.
fn scale_plane(src: &[u8], sw: usize, sh: usize, dw: usize, dh: usize) -> Vec<u8> {
    if (sw, sh) == (dw, dh) {
        return src.to_vec();
    }
    let htaps = taps(sw, dw);
    let vtaps = taps(sh, dh);
    // Horizontal pass into 8.8 fixed point (below 0 or above 255 where the bicubic kernel
    // overshoots; clamped only at the end).
    let mut mid = vec![0i32; dw * sh];
    for y in 0..sh {
        let row = &src[y * sw..(y + 1) * sw];
        for (x, t) in htaps.iter().enumerate() {
            let acc: i32 = t
                .weights
                .iter()
                .zip(&row[t.start..])
                .map(|(&w, &p)| w * i32::from(p))
                .sum();
            mid[y * dw + x] =
                (acc + (1 << (WEIGHT_BITS - MID_BITS - 1))) >> (WEIGHT_BITS - MID_BITS);
        }
    }
    // Vertical pass back to 8 bits.
    let shift = WEIGHT_BITS + MID_BITS;
    let mut out = vec![0u8; dw * dh];
    for (y, t) in vtaps.iter().enumerate() {
        for x in 0..dw {
            let acc: i64 = t
                .weights
                .iter()
                .enumerate()
                .map(|(k, &w)| i64::from(w) * i64::from(mid[(t.start + k) * dw + x]))
                .sum();
            // Clamped into 0..=255 before the cast.
            out[y * dw + x] = ((acc + (1 << (shift - 1))) >> shift).clamp(0, 255) as u8;
        }
    }
    out
}

/// `frame` resized to `width`x`height` (even sizes, as every [`crate::VideoInfo`] has; chroma
/// planes are `width/2`x`height/2`). The frame's planes must match its dimensions, as they do
/// for every frame built by [`Frame::filled`] or [`Frame::from_packed`].
pub fn scale(frame: &Frame, width: u32, height: u32) -> Frame {
    let (sw, sh) = (frame.width as usize, frame.height as usize);
    let (dw, dh) = (width as usize, height as usize);
    Frame {
        width,
        height,
        y: scale_plane(&frame.y, sw, sh, dw, dh),
        u: scale_plane(&frame.u, sw / 2, sh / 2, dw / 2, dh / 2),
        v: scale_plane(&frame.v, sw / 2, sh / 2, dw / 2, dh / 2),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Rational, VideoInfo};

    fn info(w: u32, h: u32) -> VideoInfo {
        VideoInfo::new(w, h, Rational::new(25, 1).unwrap()).unwrap()
    }

    /// A frame whose luma rises left to right and top to bottom, chroma likewise.
    fn gradient(w: u32, h: u32) -> Frame {
        let i = info(w, h);
        let mut data = Vec::with_capacity(i.frame_len());
        for (pw, ph) in [(w, h), (w / 2, h / 2), (w / 2, h / 2)] {
            for y in 0..ph {
                for x in 0..pw {
                    data.push(((x * 200 / pw) + (y * 55 / ph)) as u8);
                }
            }
        }
        Frame::from_packed(&i, &data).unwrap()
    }

    fn assert_monotone(plane: &[u8], w: usize, h: usize) {
        for y in 0..h {
            for x in 0..w {
                let p = plane[y * w + x];
                if x + 1 < w {
                    assert!(p <= plane[y * w + x + 1], "row {y} falls at x {x}");
                }
                if y + 1 < h {
                    assert!(p <= plane[(y + 1) * w + x], "column {x} falls at y {y}");
                }
            }
        }
    }

    #[test]
    fn sizes_follow_the_target() {
        let f = gradient(64, 36);
        for (w, h) in [(32, 18), (128, 72), (16, 16), (100, 30), (64, 36)] {
            let s = scale(&f, w, h);
            assert_eq!((s.width, s.height), (w, h));
            assert_eq!(s.len(), info(w, h).frame_len());
            assert_eq!(s.u.len(), (w as usize / 2) * (h as usize / 2));
        }
    }

    #[test]
    fn flat_frames_stay_exactly_flat() {
        for value in [0u8, 1, 16, 127, 235, 255] {
            let f = Frame::filled(&info(48, 30), value, 255 - value, value / 2);
            for (w, h) in [(16, 16), (34, 18), (96, 60), (70, 42), (48, 64)] {
                let s = scale(&f, w, h);
                assert!(s.y.iter().all(|&p| p == value), "{value} to {w}x{h}");
                assert!(s.u.iter().all(|&p| p == 255 - value));
                assert!(s.v.iter().all(|&p| p == value / 2));
            }
        }
    }

    #[test]
    fn gradients_stay_monotone_in_both_directions() {
        let f = gradient(64, 40);
        for (w, h) in [(22, 16), (40, 26), (64, 40), (90, 58), (200, 128), (30, 80)] {
            let s = scale(&f, w, h);
            assert_monotone(&s.y, w as usize, h as usize);
            assert_monotone(&s.u, w as usize / 2, h as usize / 2);
        }
    }

    #[test]
    fn halving_averages_two_by_two_blocks() {
        let i = info(16, 16);
        let mut f = Frame::filled(&i, 0, 128, 128);
        for (k, p) in f.y.iter_mut().enumerate() {
            *p = if (k / 16 + k % 16) % 2 == 0 { 10 } else { 30 };
        }
        let s = scale(&f, 8, 8);
        assert!(s.y.iter().all(|&p| p == 20), "{:?}", &s.y[..8]);
    }

    #[test]
    fn doubling_interpolates_bicubically_with_ffmpegs_ringing() {
        let i = info(16, 16);
        let mut f = Frame::filled(&i, 0, 128, 128);
        for (k, p) in f.y.iter_mut().enumerate() {
            *p = if k % 16 < 8 { 40 } else { 80 };
        }
        let s = scale(&f, 32, 16);
        let row = &s.y[..32];
        assert!(row[..13].iter().all(|&p| p == 40), "{row:?}");
        assert!(row[19..].iter().all(|&p| p == 80), "{row:?}");
        // Around the step, with a = -0.6: output 14 sits at source 6.75, so 40 x (w(1.75) +
        // w(0.75) + w(0.25)) + 80 x w(1.25) = 40 x 1.084375 - 80 x 0.084375 = 36.625; output
        // 15 at 7.25: 40 x 0.7875 + 80 x 0.2125 = 48.5; 13 at 6.25: 38.875. Mirrored above.
        assert_eq!(&row[13..19], &[39, 37, 49, 71, 83, 81]);
        // A position on a source sample takes that sample alone: the kernel is 1 at 0 and 0 at
        // +-1 and +-2 (tripling: output 4 sits at (4 + 0.5) / 3 - 0.5 = source 1).
        let t = &taps(8, 8 * 3)[4];
        assert_eq!(
            (t.start, t.weights.as_slice()),
            (0, &[0, WEIGHT_ONE, 0, 0][..])
        );
    }
}
