//! The motion feature of VMAF, in libvmaf's `integer_motion` arithmetic: the mean absolute
//! difference between consecutive reference luma frames after a 5-tap Gaussian blur
//! (weights 3571, 16004, 26386, 16004, 3571 over 65536; edges mirrored without repeating the
//! edge sample), in 8-bit units. The blur is linear, so libvmaf blurs the difference of the
//! two frames, rounding after the vertical pass to 8 fractional bits and after the horizontal
//! pass to whole units; so do we.
//!
//! `motion2` of frame n is `min(motion(n-1, n), motion(n, n+1))`: 0 for the first frame,
//! `motion(n-1, n)` for the last. [`crate::vmaf::Vmaf`] holds each frame back until the next
//! one arrives.

use crate::simd::{dispatch, reflect101};

const FILTER: [i32; 5] = [3571, 16004, 26386, 16004, 3571];
const RADIUS: usize = 2;

/// Motion of one frame size: keeps the previous reference luma plane.
pub struct Motion {
    width: usize,
    height: usize,
    previous: Option<Vec<u8>>,
    row: Vec<i32>,
}

impl Motion {
    pub fn new(width: usize, height: usize) -> Self {
        Self {
            width,
            height,
            previous: None,
            row: vec![0; width],
        }
    }

    dispatch! {
        /// The motion score of `luma` against the previous call's plane (0 for the first call).
        pub fn push(&mut self, luma: &[u8]) -> f64 => push_inline, push_avx2, push_avx512
    }

    #[inline(always)]
    fn push_inline(&mut self, luma: &[u8]) -> f64 {
        let (w, h) = (self.width, self.height);
        let score = match &self.previous {
            None => 0.0,
            Some(prev) => sad(prev, luma, w, h, &mut self.row) as f64 / 256.0 / (w * h) as f64,
        };
        match &mut self.previous {
            Some(prev) => prev.copy_from_slice(luma),
            None => self.previous = Some(luma.to_vec()),
        }
        score
    }
}

/// Sum of absolute values of the blurred difference `prev - cur`, in 1/256 units.
#[inline(always)]
fn sad(prev: &[u8], cur: &[u8], w: usize, h: usize, row: &mut [i32]) -> u64 {
    let row = &mut row[..w];
    let mut total = 0u64;
    for i in 0..h {
        row.fill(0);
        for (k, &f) in FILTER.iter().enumerate() {
            let y = reflect101(i as isize + k as isize - RADIUS as isize, h);
            let (p, c) = (&prev[y * w..y * w + w], &cur[y * w..y * w + w]);
            for ((acc, &a), &b) in row.iter_mut().zip(p).zip(c) {
                *acc += f * (i32::from(a) - i32::from(b));
            }
        }
        let mut any = 0;
        for v in row.iter_mut() {
            *v = (*v + 128) >> 8;
            any |= *v;
        }
        if any == 0 {
            continue;
        }
        let at = |j: isize| i64::from(row[reflect101(j, w)]);
        let mut row_sad = 0u64;
        for j in 0..RADIUS.min(w) {
            row_sad += blurred(|k| at(j as isize + k as isize - RADIUS as isize));
        }
        for j in RADIUS..w.saturating_sub(RADIUS) {
            let win = &row[j - RADIUS..j + RADIUS + 1];
            row_sad += blurred(|k| i64::from(win[k]));
        }
        for j in w.saturating_sub(RADIUS).max(RADIUS)..w {
            row_sad += blurred(|k| at(j as isize + k as isize - RADIUS as isize));
        }
        total += row_sad;
    }
    total
}

/// `|round(sum_k FILTER[k] * tap(k) / 65536)|`.
#[inline(always)]
fn blurred(tap: impl Fn(usize) -> i64) -> u64 {
    let acc: i64 = (0..5).map(|k| i64::from(FILTER[k]) * tap(k)).sum();
    ((acc + 32768) >> 16).unsigned_abs()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planes;

    #[test]
    fn first_frame_and_still_frames_have_no_motion() {
        let plane: Vec<u8> = (0..64 * 32).map(|i| (i * 13 % 256) as u8).collect();
        let mut m = Motion::new(64, 32);
        assert_eq!(m.push(&plane), 0.0);
        assert_eq!(m.push(&plane), 0.0);
    }

    #[test]
    fn a_uniform_step_moves_by_its_size() {
        // Every pixel brighter by 10: the blur of a constant is the constant.
        let a = vec![100u8; 48 * 40];
        let b = vec![110u8; 48 * 40];
        let mut m = Motion::new(48, 40);
        m.push(&a);
        assert_eq!(m.push(&b), 10.0);
        assert_eq!(m.push(&a), 10.0);
    }

    #[test]
    fn every_instruction_set_gives_the_same_scores() {
        let (w, h) = (37, 29);
        let (a, b) = (planes::textured(w, h, 5), planes::textured(w, h, 6));
        let mut m = Motion::new(w, h);
        m.push_inline(&a);
        let base = m.push_inline(&b);
        assert!(base > 1.0, "{base}");
        #[cfg(target_arch = "x86_64")]
        {
            if crate::simd::has_avx2() {
                m.push_inline(&a);
                // SAFETY: the CPU has AVX2 (checked).
                assert_eq!(unsafe { m.push_avx2(&b) }, base);
            }
            if crate::simd::has_avx512() {
                m.push_inline(&a);
                // SAFETY: the CPU has AVX-512 (checked).
                assert_eq!(unsafe { m.push_avx512(&b) }, base);
            }
        }
    }
}
