//! Deterministic synthetic frames for the unit tests.

use bitswarm_core::{Frame, Rational, VideoInfo};

pub(crate) fn info(width: u32, height: u32) -> VideoInfo {
    VideoInfo::new(width, height, Rational::new(25, 1).unwrap()).unwrap()
}

/// A frame whose luma is `luma(x, y)`; grey chroma.
pub(crate) fn frame(info: &VideoInfo, luma: impl Fn(u32, u32) -> u8) -> Frame {
    let mut frame = Frame::filled(info, 0, 128, 128);
    for (i, p) in frame.y.iter_mut().enumerate() {
        let i = i as u32;
        *p = luma(i % info.width, i / info.width);
    }
    frame
}

/// A well-mixed hash of three integers (splitmix64 finaliser).
pub(crate) fn hash(a: u64, b: u64, c: u64) -> u64 {
    let mut z = a
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(b.wrapping_mul(0xBF58_476D_1CE4_E5B9))
        .wrapping_add(c.wrapping_mul(0x94D0_49BB_1331_11EB));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Luma of a "scene" (`seed`) at `(x, y)`: smooth value noise over octaves of 64, 32, 16 and 8
/// pixels plus pixel detail, levels 40..=216, so that structure spans several scales as in
/// real pictures.
pub(crate) fn scene_luma(seed: u64, x: i64, y: i64) -> u8 {
    let octave = |size: i64, levels: f64| {
        let lattice = |gx: i64, gy: i64| {
            let h = hash(seed, size as u64, (gx as u64) ^ ((gy as u64) << 32));
            (h % 1024) as f64 / 1023.0
        };
        let (gx, gy) = (x.div_euclid(size), y.div_euclid(size));
        let fx = x.rem_euclid(size) as f64 / size as f64;
        let fy = y.rem_euclid(size) as f64 / size as f64;
        let top = lattice(gx, gy) * (1.0 - fx) + lattice(gx + 1, gy) * fx;
        let bottom = lattice(gx, gy + 1) * (1.0 - fx) + lattice(gx + 1, gy + 1) * fx;
        levels * (top * (1.0 - fy) + bottom * fy)
    };
    let smooth = octave(64, 64.0) + octave(32, 48.0) + octave(16, 32.0) + octave(8, 16.0);
    (40.0 + smooth + (hash(seed, 1, (x as u64) ^ ((y as u64) << 32)) % 17) as f64) as u8
}

/// A frame of scene `seed`, seen with the camera moved by `(dx, dy)` pixels.
pub(crate) fn scene(info: &VideoInfo, seed: u64, dx: i64, dy: i64) -> Frame {
    frame(info, |x, y| {
        scene_luma(seed, i64::from(x) + dx, i64::from(y) + dy)
    })
}
