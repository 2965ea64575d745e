//! VIF, visual information fidelity (Sheikh and Bovik, "Image information and visual quality",
//! IEEE TIP 2006), at four scales, in the fixed-point arithmetic of libvmaf's `integer_vif`
//! feature (the one its `vmaf_v0.6.1` model reads), so that the scores agree with libvmaf's.
//!
//! Per scale, ref and dist luma are low-passed with a Gaussian (17, 9, 5 and 3 taps, 16-bit
//! weights summing to 65536, mirrored at the edges without repeating the edge sample); local
//! means, variances and the covariance give at each pixel the gain `g = s12 / s1` and the
//! residual `sv = s2 - g s12`. Where the reference has variance (s1 >= 2), the pixel adds
//! `log2(1 + g^2 s1 / (sv + 2))` to the numerator and `log2(1 + s1 / 2)` to the denominator
//! (base-2 logarithms from a 16-bit mantissa table, in 1/2048 units); elsewhere it adds
//! `1 - s2 / 255^2 * 4` and 1. The score of a scale is numerator over denominator. The next
//! scale is the image low-passed with that scale's filter, every other row and column.

use std::sync::OnceLock;

use crate::simd::{dispatch, reflect101};

/// Gaussian filters of the four scales (libvmaf's `vif_filter1d_table`, sum 65536 each).
const F0: [u16; 17] = [
    489, 935, 1640, 2640, 3896, 5274, 6547, 7455, 7784, 7455, 6547, 5274, 3896, 2640, 1640, 935,
    489,
];
const F1: [u16; 9] = [1244, 3663, 7925, 12590, 14692, 12590, 7925, 3663, 1244];
const F2: [u16; 5] = [3571, 16004, 26386, 16004, 3571];
const F3: [u16; 3] = [10904, 43728, 10904];
/// Room for the widest filter's radius on each side of a row buffer.
const PAD: usize = 8;
/// Noise variance 2, in the 16 fractional bits of the variances.
const SIGMA_NSQ: i32 = 2 << 16;
/// libvmaf's default `vif_enhn_gain_limit`.
const GAIN_LIMIT: f64 = 100.0;
const EPS: f64 = 65536.0 * 1.0e-10;

/// `round(log2(i) * 2048)` for `i` in 32768..65536, indexed by `i - 32768`: the mantissa
/// table of the logarithms.
fn log2_table() -> &'static [u32; 32768] {
    static TABLE: OnceLock<Box<[u32; 32768]>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = Box::new([0u32; 32768]);
        for (i, v) in t.iter_mut().enumerate() {
            *v = (((i + 32768) as f32).log2() * 2048.0).round() as u32;
        }
        t
    })
}

/// `log2(x) * 2048` of the leading 16 bits of the integer `x >= 2^16` (held exactly in an
/// `f64`): the table entry of the 16-bit mantissa plus 2048 per bit dropped.
#[inline(always)]
fn log2_2048(table: &[u32; 32768], x: f64) -> i64 {
    let bits = x.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mantissa = ((bits >> 37) & 0x7fff) as usize;
    i64::from(table[mantissa]) + 2048 * (exponent - 15)
}

/// Numerator and denominator sums of one scale.
#[derive(Default)]
struct Sums {
    num_log: i64,
    den_log: i64,
    num_flat: i64,
    den_flat: i64,
}

impl Sums {
    /// The score of the scale, in single precision as libvmaf keeps it.
    fn score(&self) -> f64 {
        let num = self.num_log as f64 / 2048.0
            + (self.den_flat as f64 - (self.num_flat as f64 / 16384.0) / 65025.0);
        let den = self.den_log as f64 / 2048.0 + self.den_flat as f64;
        f64::from(num as f32 / den as f32)
    }
}

/// Samples of a VIF scale: 8-bit pixels at scale 0, 16-bit filtered values (8 fractional bits)
/// above.
trait Sample: Copy {
    /// Rounding and shift of the vertical pass of the downsampling filter.
    const ROUND: u32;
    const SHIFT: u32;
    fn get(self) -> u32;
}

impl Sample for u8 {
    const ROUND: u32 = 1 << 7;
    const SHIFT: u32 = 8;
    #[inline(always)]
    fn get(self) -> u32 {
        u32::from(self)
    }
}

impl Sample for u16 {
    const ROUND: u32 = 1 << 15;
    const SHIFT: u32 = 16;
    #[inline(always)]
    fn get(self) -> u32 {
        u32::from(self)
    }
}

/// Fills the `PAD` samples on both sides of `row[PAD..PAD + w]` by mirroring.
#[inline(always)]
fn pad<T: Copy>(row: &mut [T], w: usize, radius: usize) {
    for f in 1..=radius {
        row[PAD - f] = row[PAD + f];
        row[PAD + w - 1 + f] = row[PAD + w - 1 - f];
    }
}

/// The `N` rows around row `i` of a `w` x `h` plane, mirrored at the edges.
#[inline(always)]
fn window<T, const N: usize>(plane: &[T], w: usize, h: usize, i: usize) -> [&[T]; N] {
    std::array::from_fn(|k| {
        let y = reflect101(i as isize + k as isize - (N / 2) as isize, h);
        &plane[y * w..][..w]
    })
}

/// `(x + 2^15) >> 16` of an integer held exactly in an `f64`.
#[inline(always)]
fn round16(x: f64) -> f64 {
    ((x + 32768.0) * (1.0 / 65536.0)).floor()
}

/// Working rows, sized for the widest scale.
struct Rows {
    /// Vertically filtered means (u32) and second moments (exact integers in f64), padded by
    /// `PAD` on both sides.
    mu1: Vec<u32>,
    mu2: Vec<u32>,
    xx: Vec<f64>,
    yy: Vec<f64>,
    xy: Vec<f64>,
    /// Vertical accumulators of scale 0's second moments.
    acc: [Vec<u32>; 3],
    /// Variances and covariance of the pixels of one row.
    s1: Vec<f64>,
    s2: Vec<f64>,
    s12: Vec<f64>,
    /// Per pixel: the two logarithm arguments of the numerator.
    hi: Vec<f64>,
    lo: Vec<f64>,
}

impl Rows {
    fn new(w: usize) -> Self {
        Self {
            mu1: vec![0; w + 2 * PAD],
            mu2: vec![0; w + 2 * PAD],
            xx: vec![0.0; w + 2 * PAD],
            yy: vec![0.0; w + 2 * PAD],
            xy: vec![0.0; w + 2 * PAD],
            acc: std::array::from_fn(|_| vec![0; w]),
            s1: vec![0.0; w],
            s2: vec![0.0; w],
            s12: vec![0.0; w],
            hi: vec![0.0; w],
            lo: vec![0.0; w],
        }
    }

    /// Vertical pass over 8-bit pixels (scale 0, 17 taps): means rounded to 8 fractional bits,
    /// second moments kept whole (they fit 32 bits). Each inner loop takes two symmetric tap
    /// pairs (the first also the centre tap, the last also the rounding), so it reads a few
    /// streams, vectorises, and the accumulators go through memory only four times.
    #[inline(always)]
    fn vertical_u8(&mut self, r: [&[u8]; 17], d: [&[u8]; 17], w: usize, f: &[u16; 17]) {
        let (mu1, mu2) = (&mut self.mu1[PAD..PAD + w], &mut self.mu2[PAD..PAD + w]);
        let [xx, yy, xy] = &mut self.acc;
        let (xx, yy, xy) = (&mut xx[..w], &mut yy[..w], &mut xy[..w]);
        let rows = |k: usize| [r[k], d[k], r[16 - k], d[16 - k]];
        let pairs = |k: usize| {
            let ([a1, b1, a2, b2], [a3, b3, a4, b4]) = (rows(k), rows(k + 1));
            [a1, b1, a2, b2, a3, b3, a4, b4]
        };
        let coefficients = |k: usize| [u32::from(f[k]), u32::from(f[k + 1])];
        let centre = Some((u32::from(f[8]), [r[8], d[8]]));
        accumulate_pairs::<true, false>(mu1, mu2, xx, yy, xy, centre, pairs(0), coefficients(0));
        accumulate_pairs::<false, false>(mu1, mu2, xx, yy, xy, None, pairs(2), coefficients(2));
        accumulate_pairs::<false, false>(mu1, mu2, xx, yy, xy, None, pairs(4), coefficients(4));
        accumulate_pairs::<false, true>(mu1, mu2, xx, yy, xy, None, pairs(6), coefficients(6));
        for (dst, src) in [
            (&mut self.xx, &*xx),
            (&mut self.yy, &*yy),
            (&mut self.xy, &*xy),
        ] {
            for (o, &v) in dst[PAD..PAD + w].iter_mut().zip(src) {
                *o = f64::from(v);
            }
        }
    }

    /// Vertical pass over 16-bit values (scales 1 to 3): everything rounded by 16 bits. The
    /// second moments stay below 2^53, so double precision holds libvmaf's 64-bit sums exactly.
    #[inline(always)]
    fn vertical_u16<const N: usize>(
        &mut self,
        r: [&[u16]; N],
        d: [&[u16]; N],
        w: usize,
        f: &[u16; N],
    ) {
        let rad = N / 2;
        let (mu1, mu2) = (&mut self.mu1[PAD..PAD + w], &mut self.mu2[PAD..PAD + w]);
        let (xx, yy, xy) = (
            &mut self.xx[PAD..PAD + w],
            &mut self.yy[PAD..PAD + w],
            &mut self.xy[PAD..PAD + w],
        );
        let (a, b) = (&r[rad][..w], &d[rad][..w]);
        let c = f[rad];
        for j in 0..w {
            mu1[j] = u32::from(c) * u32::from(a[j]);
            mu2[j] = u32::from(c) * u32::from(b[j]);
            let (p, q, c) = (f64::from(a[j]), f64::from(b[j]), f64::from(c));
            xx[j] = c * (p * p);
            yy[j] = c * (q * q);
            xy[j] = c * (p * q);
        }
        for k in 0..rad {
            let (a1, b1) = (&r[k][..w], &d[k][..w]);
            let (a2, b2) = (&r[N - 1 - k][..w], &d[N - 1 - k][..w]);
            let c = f[k];
            for j in 0..w {
                let (p1, q1, p2, q2) = (a1[j], b1[j], a2[j], b2[j]);
                mu1[j] += u32::from(c) * (u32::from(p1) + u32::from(p2));
                mu2[j] += u32::from(c) * (u32::from(q1) + u32::from(q2));
                let (p1, q1, p2, q2) = (f64::from(p1), f64::from(q1), f64::from(p2), f64::from(q2));
                let c = f64::from(c);
                xx[j] = c.mul_add(p1 * p1 + p2 * p2, xx[j]);
                yy[j] = c.mul_add(q1 * q1 + q2 * q2, yy[j]);
                xy[j] = c.mul_add(p1 * q1 + p2 * q2, xy[j]);
            }
        }
        for v in mu1.iter_mut().chain(mu2.iter_mut()) {
            *v = (*v + 32768) >> 16;
        }
        for v in xx.iter_mut().chain(yy.iter_mut()).chain(xy.iter_mut()) {
            *v = round16(*v);
        }
    }

    /// Horizontal pass of the vertically filtered row, then the statistics of its pixels.
    #[inline(always)]
    fn horizontal<const N: usize>(
        &mut self,
        w: usize,
        f: &[u16; N],
        table: &[u32; 32768],
        sums: &mut Sums,
    ) {
        let rad = N / 2;
        pad(&mut self.mu1, w, rad);
        pad(&mut self.mu2, w, rad);
        pad(&mut self.xx, w, rad);
        pad(&mut self.yy, w, rad);
        pad(&mut self.xy, w, rad);
        let start = PAD - rad;
        let (mu1, mu2) = (
            &self.mu1[start..start + w + 2 * rad],
            &self.mu2[start..start + w + 2 * rad],
        );
        let (xx, yy, xy) = (
            &self.xx[start..start + w + 2 * rad],
            &self.yy[start..start + w + 2 * rad],
            &self.xy[start..start + w + 2 * rad],
        );
        let (s1s, s2s, s12s) = (&mut self.s1[..w], &mut self.s2[..w], &mut self.s12[..w]);
        let (hi, lo) = (&mut self.hi[..w], &mut self.lo[..w]);
        let nsq = f64::from(SIGMA_NSQ);
        for j in 0..w {
            let c = f[rad];
            let (mut m1, mut m2) = (u32::from(c) * mu1[j + rad], u32::from(c) * mu2[j + rad]);
            let c = f64::from(c);
            let (mut axx, mut ayy, mut axy) = (c * xx[j + rad], c * yy[j + rad], c * xy[j + rad]);
            for (k, &c) in f[..rad].iter().enumerate() {
                let (l, r) = (j + k, j + N - 1 - k);
                m1 = m1.wrapping_add(u32::from(c) * (mu1[l] + mu1[r]));
                m2 = m2.wrapping_add(u32::from(c) * (mu2[l] + mu2[r]));
                let c = f64::from(c);
                axx = c.mul_add(xx[l] + xx[r], axx);
                ayy = c.mul_add(yy[l] + yy[r], ayy);
                axy = c.mul_add(xy[l] + xy[r], axy);
            }
            // Variances and covariance (16 fractional bits), then the gain g = s12 / s1 and
            // the residual sv = s2 - g s12 as libvmaf computes them (double precision,
            // truncated): the numerator's logarithm arguments are `g^2 s1 + sv + 2` and
            // `sv + 2`.
            let square = |a: u32, b: u32| ((u64::from(a) * u64::from(b) + (1 << 31)) >> 32) as f64;
            let s1 = round16(axx) - square(m1, m1);
            let s2 = (round16(ayy) - square(m2, m2)).max(0.0);
            let s12 = round16(axy) - square(m1, m2);
            let g = s12 / (s1 + EPS);
            let sv = (s2 - g * s12).trunc().max(0.0);
            let gc = g.min(GAIN_LIMIT);
            hi[j] = (gc * gc * s1).trunc() + sv + nsq;
            lo[j] = sv + nsq;
            (s1s[j], s2s[j], s12s[j]) = (s1, s2, s12);
        }
        // Pixels where the reference varies (s1 >= 2) add logarithms; flat ones add
        // `1 - s2 * 4 / 255^2` to the numerator and 1 to the denominator.
        let (mut num_log, mut den_log, mut num_flat, mut den_flat) = (0i64, 0i64, 0i64, 0i64);
        for j in 0..w {
            let (s1, s2, s12) = (s1s[j], s2s[j], s12s[j]);
            let varies = s1 >= nsq;
            if varies {
                den_log += log2_2048(table, s1 + nsq) - 2048 * 17;
            }
            if varies && s12 > 0.0 && s2 > 0.0 {
                num_log += log2_2048(table, hi[j]) - log2_2048(table, lo[j]);
            }
            num_flat += if varies { 0 } else { s2 as i64 };
            den_flat += i64::from(!varies);
        }
        sums.num_log += num_log;
        sums.den_log += den_log;
        sums.num_flat += num_flat;
        sums.den_flat += den_flat;
    }
}

/// One pass of [`Rows::vertical_u8`]: adds two symmetric tap pairs (rows `k`, `16 - k`,
/// `k + 1`, `15 - k` of ref and dist, coefficients `[c, c2]`) to the accumulators `mu1, mu2, xx,
/// yy, xy`; `FIRST` starts the sums with the centre tap instead, `LAST` also rounds the means.
/// Every buffer is a separate argument (the compiler knows they do not overlap) and every slice
/// gets the same length (no bounds checks), so the loop vectorises.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn accumulate_pairs<const FIRST: bool, const LAST: bool>(
    mu1: &mut [u32],
    mu2: &mut [u32],
    xx: &mut [u32],
    yy: &mut [u32],
    xy: &mut [u32],
    centre: Option<(u32, [&[u8]; 2])>,
    [a1, b1, a2, b2, a3, b3, a4, b4]: [&[u8]; 8],
    [c, c2]: [u32; 2],
) {
    let w = mu1.len();
    let (c0, [a0, b0]) = centre.unwrap_or((0, [a1, b1]));
    let (mu2, xx, yy, xy) = (&mut mu2[..w], &mut xx[..w], &mut yy[..w], &mut xy[..w]);
    let (a0, b0, a1, b1) = (&a0[..w], &b0[..w], &a1[..w], &b1[..w]);
    let (a2, b2, a3, b3, a4, b4) = (&a2[..w], &b2[..w], &a3[..w], &b3[..w], &a4[..w], &b4[..w]);
    for j in 0..w {
        let (p1, q1, p2, q2) = (
            u32::from(a1[j]),
            u32::from(b1[j]),
            u32::from(a2[j]),
            u32::from(b2[j]),
        );
        let (p3, q3, p4, q4) = (
            u32::from(a3[j]),
            u32::from(b3[j]),
            u32::from(a4[j]),
            u32::from(b4[j]),
        );
        let mut s = [
            c * (p1 + p2) + c2 * (p3 + p4),
            c * (q1 + q2) + c2 * (q3 + q4),
            c * (p1 * p1 + p2 * p2) + c2 * (p3 * p3 + p4 * p4),
            c * (q1 * q1 + q2 * q2) + c2 * (q3 * q3 + q4 * q4),
            c * (p1 * q1 + p2 * q2) + c2 * (p3 * q3 + p4 * q4),
        ];
        if FIRST {
            let (p, q) = (u32::from(a0[j]), u32::from(b0[j]));
            s[0] += c0 * p;
            s[1] += c0 * q;
            s[2] += c0 * p * p;
            s[3] += c0 * q * q;
            s[4] += c0 * p * q;
        } else {
            s[0] += mu1[j];
            s[1] += mu2[j];
            s[2] += xx[j];
            s[3] += yy[j];
            s[4] += xy[j];
        }
        if LAST {
            s[0] = (s[0] + 128) >> 8;
            s[1] = (s[1] + 128) >> 8;
        }
        (mu1[j], mu2[j], xx[j], yy[j], xy[j]) = (s[0], s[1], s[2], s[3], s[4]);
    }
}

/// Low-passes `src` (`w` x `h`) with `f` and keeps every other row and column, as 16-bit
/// values with 8 fractional bits: `out` is `w / 2` x `h / 2`. `row` and `split` are scratch of
/// `w + 2 PAD` values.
#[inline(always)]
fn downsample<T: Sample, const N: usize>(
    src: &[T],
    (w, h): (usize, usize),
    f: &[u16; N],
    row: &mut [u32],
    split: &mut [u32],
    out: &mut Vec<u16>,
) {
    let rad = N / 2;
    let (ow, oh) = (w / 2, h / 2);
    out.clear();
    out.resize(ow * oh, 0);
    for oi in 0..oh {
        let taps: [&[T]; N] = window(src, w, h, 2 * oi);
        let acc = &mut row[PAD..PAD + w];
        let c = u32::from(f[rad]);
        for (a, &s) in acc.iter_mut().zip(&taps[rad][..w]) {
            *a = c * s.get();
        }
        for k in 0..rad {
            let (x, y) = (&taps[k][..w], &taps[N - 1 - k][..w]);
            let c = u32::from(f[k]);
            for ((a, &p), &q) in acc.iter_mut().zip(x).zip(y) {
                *a += c * (p.get() + q.get());
            }
        }
        for a in acc.iter_mut() {
            *a = (*a + T::ROUND) >> T::SHIFT;
        }
        pad(row, w, rad);
        // Output column oj reads padded columns 2 oj + k: for even k from `even`, for odd k
        // from `odd`, both contiguous in oj.
        let padded = &row[PAD - rad..PAD + w + rad];
        let half = split.len() / 2;
        let (even, odd) = split.split_at_mut(half);
        for (m, pair) in padded.chunks_exact(2).enumerate() {
            (even[m], odd[m]) = (pair[0], pair[1]);
        }
        if padded.len() % 2 == 1 {
            even[padded.len() / 2] = padded[padded.len() - 1];
        }
        let (even, odd) = (&even[..ow + rad], &odd[..ow + rad]);
        for (oj, o) in out[oi * ow..oi * ow + ow].iter_mut().enumerate() {
            let mut sum = 0u32;
            for (k, &c) in f.iter().enumerate() {
                let v = if k % 2 == 0 {
                    even[oj + k / 2]
                } else {
                    odd[oj + k / 2]
                };
                sum += u32::from(c) * v;
            }
            *o = ((sum + 32768) >> 16) as u16;
        }
    }
}

/// VIF of one frame size; keeps its working buffers between frames.
pub struct Vif {
    width: usize,
    height: usize,
    rows: Rows,
    scaled: [Vec<u16>; 4],
}

impl Vif {
    pub fn new(width: usize, height: usize) -> Self {
        Self {
            width,
            height,
            rows: Rows::new(width),
            scaled: Default::default(),
        }
    }

    dispatch! {
        /// The VIF of the four scales of two luma planes of the size given to [`Vif::new`].
        pub fn compute(&mut self, reference: &[u8], distorted: &[u8]) -> [f64; 4]
            => compute_inline, compute_avx2, compute_avx512
    }

    #[inline(always)]
    fn compute_inline(&mut self, r: &[u8], d: &[u8]) -> [f64; 4] {
        let table = log2_table();
        let (w, h) = (self.width, self.height);
        let rows = &mut self.rows;
        let mut sums = Sums::default();
        for i in 0..h {
            rows.vertical_u8(window(r, w, h, i), window(d, w, h, i), w, &F0);
            rows.horizontal(w, &F0, table, &mut sums);
        }
        let [sr, sd, nr, nd] = &mut self.scaled;
        let (row, split) = (&mut rows.mu1, &mut rows.mu2);
        downsample(r, (w, h), &F1, row, split, sr);
        downsample(d, (w, h), &F1, row, split, sd);
        let s0 = sums.score();
        let (w, h) = (w / 2, h / 2);
        let s1 = scale_score(rows, sr, sd, w, h, &F1, table);
        let (row, split) = (&mut rows.mu1, &mut rows.mu2);
        downsample(sr, (w, h), &F2, row, split, nr);
        downsample(sd, (w, h), &F2, row, split, nd);
        let (w, h) = (w / 2, h / 2);
        let s2 = scale_score(rows, nr, nd, w, h, &F2, table);
        let (row, split) = (&mut rows.mu1, &mut rows.mu2);
        downsample(nr, (w, h), &F3, row, split, sr);
        downsample(nd, (w, h), &F3, row, split, sd);
        let (w, h) = (w / 2, h / 2);
        let s3 = scale_score(rows, sr, sd, w, h, &F3, table);
        [s0, s1, s2, s3]
    }
}

/// The VIF of one of the 16-bit scales.
#[inline(always)]
fn scale_score<const N: usize>(
    rows: &mut Rows,
    r: &[u16],
    d: &[u16],
    w: usize,
    h: usize,
    f: &[u16; N],
    table: &[u32; 32768],
) -> f64 {
    let mut sums = Sums::default();
    for i in 0..h {
        rows.vertical_u16(window(r, w, h, i), window(d, w, h, i), w, f);
        rows.horizontal(w, f, table, &mut sums);
    }
    sums.score()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planes;

    #[test]
    fn log_table_is_log2_in_2048ths() {
        let t = log2_table();
        assert_eq!(log2_2048(t, f64::from(1 << 18)), 18 * 2048);
        assert_eq!(log2_2048(t, 2f64.powi(40)), 40 * 2048);
        // log2(3 * 2^20) = 21.58496..., times 2048 = 44205.99
        assert_eq!(log2_2048(t, f64::from(3 << 20)), 44206);
        // Only the leading 16 bits count: 2^20 + 15 has the mantissa of 2^20.
        assert_eq!(log2_2048(t, f64::from((1 << 20) + 15)), 20 * 2048);
    }

    #[test]
    fn identical_frames_score_one_and_noise_lowers_the_score() {
        let (w, h) = (64, 48);
        let r = planes::textured(w, h, 1);
        let mut vif = Vif::new(w, h);
        let same = vif.compute(&r, &r);
        for s in same {
            assert!((s - 1.0).abs() < 1e-3, "{same:?}");
        }
        let noisy = vif.compute(&r, &planes::noisy(&r, 22));
        assert!(noisy[0] < 0.9 && noisy[0] > 0.0, "{noisy:?}");
        // Coarse scales lose less of the high-frequency noise.
        assert!(noisy[3] > noisy[0], "{noisy:?}");
    }

    #[test]
    fn every_instruction_set_gives_the_same_scores() {
        for (w, h) in [(70, 50), (35, 41)] {
            let r = planes::textured(w, h, 2);
            let d = planes::noisy(&r, 9);
            let mut vif = Vif::new(w, h);
            let base = vif.compute_inline(&r, &d);
            #[cfg(target_arch = "x86_64")]
            {
                if crate::simd::has_avx2() {
                    // SAFETY: the CPU has AVX2 (checked).
                    assert_eq!(unsafe { vif.compute_avx2(&r, &d) }, base);
                }
                if crate::simd::has_avx512() {
                    // SAFETY: the CPU has AVX-512 (checked).
                    assert_eq!(unsafe { vif.compute_avx512(&r, &d) }, base);
                }
            }
            assert_eq!(vif.compute(&r, &d), base);
        }
    }
}
