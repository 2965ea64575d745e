//! Raw 8-bit 4:2:0 frames and the geometry that describes a stream of them.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::{Error, Result};

/// A positive rational number, used for frame rates (`30000/1001`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Rational {
    pub num: u32,
    pub den: u32,
}

impl Rational {
    /// A rational `num/den`; `den` must be non-zero.
    pub fn new(num: u32, den: u32) -> Result<Self> {
        if num == 0 || den == 0 {
            return Err(Error::InvalidFrameRate { num, den });
        }
        Ok(Self { num, den })
    }

    pub fn as_f64(self) -> f64 {
        f64::from(self.num) / f64::from(self.den)
    }
}

impl fmt::Display for Rational {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.den == 1 {
            write!(f, "{}", self.num)
        } else {
            write!(f, "{}/{}", self.num, self.den)
        }
    }
}

/// Geometry and timing of a raw 8-bit 4:2:0 video stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VideoInfo {
    pub width: u32,
    pub height: u32,
    pub fps: Rational,
}

/// Smallest width or height any encoder backend accepts.
pub const MIN_DIMENSION: u32 = 16;
/// Largest width or height we accept (8K plus margin).
pub const MAX_DIMENSION: u32 = 8192;

impl VideoInfo {
    /// Validated geometry: even dimensions in `16..=8192`, non-zero frame rate.
    pub fn new(width: u32, height: u32, fps: Rational) -> Result<Self> {
        for (what, value) in [("width", width), ("height", height)] {
            if !(MIN_DIMENSION..=MAX_DIMENSION).contains(&value) || value % 2 != 0 {
                return Err(Error::InvalidDimension { what, value });
            }
        }
        Rational::new(fps.num, fps.den)?;
        Ok(Self { width, height, fps })
    }

    /// Bytes of the luma plane.
    pub fn luma_len(&self) -> usize {
        self.width as usize * self.height as usize
    }

    /// Bytes of one chroma plane.
    pub fn chroma_len(&self) -> usize {
        (self.width as usize / 2) * (self.height as usize / 2)
    }

    /// Bytes of one whole frame (Y, U and V planes, tightly packed).
    pub fn frame_len(&self) -> usize {
        self.luma_len() + 2 * self.chroma_len()
    }
}

/// One raw frame: three tightly packed planes (stride equals width).
#[derive(Clone, PartialEq, Eq)]
pub struct Frame {
    pub width: u32,
    pub height: u32,
    pub y: Vec<u8>,
    pub u: Vec<u8>,
    pub v: Vec<u8>,
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Frame({}x{})", self.width, self.height)
    }
}

impl Frame {
    /// A frame filled with one colour.
    pub fn filled(info: &VideoInfo, y: u8, u: u8, v: u8) -> Self {
        Self {
            width: info.width,
            height: info.height,
            y: vec![y; info.luma_len()],
            u: vec![u; info.chroma_len()],
            v: vec![v; info.chroma_len()],
        }
    }

    /// A frame from its planes laid end to end (`Y` then `U` then `V`), as in Y4M and raw `.yuv`.
    pub fn from_packed(info: &VideoInfo, data: &[u8]) -> Result<Self> {
        if data.len() != info.frame_len() {
            return Err(Error::FrameSize {
                expected: info.frame_len(),
                got: data.len(),
            });
        }
        let (y, rest) = data.split_at(info.luma_len());
        let (u, v) = rest.split_at(info.chroma_len());
        Ok(Self {
            width: info.width,
            height: info.height,
            y: y.to_vec(),
            u: u.to_vec(),
            v: v.to_vec(),
        })
    }

    /// Appends the planes end to end (the inverse of [`Frame::from_packed`]).
    pub fn write_packed(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.y);
        out.extend_from_slice(&self.u);
        out.extend_from_slice(&self.v);
    }

    /// Bytes of the whole frame.
    pub fn len(&self) -> usize {
        self.y.len() + self.u.len() + self.v.len()
    }

    /// True for a frame without pixels (never produced by a validated [`VideoInfo`]).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_is_validated_with_the_range_in_the_message() {
        let fps = Rational::new(25, 1).unwrap();
        let err = VideoInfo::new(641, 360, fps).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid width 641 (expected an even number in 16..=8192)"
        );
        assert!(VideoInfo::new(8, 360, fps).is_err());
        assert!(Rational::new(25, 0).is_err());
        assert_eq!(
            VideoInfo::new(640, 272, fps).unwrap().frame_len(),
            640 * 272 * 3 / 2
        );
    }

    #[test]
    fn packed_round_trip() {
        let info = VideoInfo::new(16, 16, Rational::new(30000, 1001).unwrap()).unwrap();
        let data: Vec<u8> = (0..info.frame_len()).map(|i| (i % 251) as u8).collect();
        let frame = Frame::from_packed(&info, &data).unwrap();
        let mut back = Vec::new();
        frame.write_packed(&mut back);
        assert_eq!(back, data);
        assert!(Frame::from_packed(&info, &data[1..]).is_err());
        assert_eq!(info.fps.to_string(), "30000/1001");
    }
}
