//! IVF output for AV1: a 32-byte file header (`DKIF`, fourcc `AV01`, size, time base, frame
//! count), then each temporal unit behind a 12-byte frame header (size, presentation time).
//! The time base is one frame (`fps.den / fps.num` s), so frame `n` has time `n`.

use std::io::{Seek, SeekFrom, Write};

use bitswarm_codec::av1;
use bitswarm_core::VideoInfo;

use crate::{Error, Result};

/// Size of the IVF file header.
pub const IVF_HEADER_LEN: usize = 32;

/// Writes AV1 temporal units into an IVF file as they come; the frame count in the header is
/// patched by [`IvfWriter::finish`].
pub struct IvfWriter<W: Write + Seek> {
    out: W,
    /// File position of the header.
    start: u64,
    frames: u32,
}

impl<W: Write + Seek> IvfWriter<W> {
    /// Writes the file header at the current position of `out`.
    pub fn new(mut out: W, info: &VideoInfo) -> Result<Self> {
        let info = VideoInfo::new(info.width, info.height, info.fps)?;
        let start = out.stream_position().map_err(write_err)?;
        let (width, height) = (
            u16::try_from(info.width).map_err(|_| too_large(info.width))?,
            u16::try_from(info.height).map_err(|_| too_large(info.height))?,
        );
        let mut header = Vec::with_capacity(IVF_HEADER_LEN);
        header.extend_from_slice(b"DKIF");
        header.extend_from_slice(&0u16.to_le_bytes()); // version
        header.extend_from_slice(&(IVF_HEADER_LEN as u16).to_le_bytes());
        header.extend_from_slice(b"AV01");
        header.extend_from_slice(&width.to_le_bytes());
        header.extend_from_slice(&height.to_le_bytes());
        header.extend_from_slice(&info.fps.num.to_le_bytes()); // time base denominator
        header.extend_from_slice(&info.fps.den.to_le_bytes()); // time base numerator
        header.extend_from_slice(&0u32.to_le_bytes()); // frame count, patched by `finish`
        header.extend_from_slice(&0u32.to_le_bytes());
        out.write_all(&header).map_err(write_err)?;
        Ok(Self {
            out,
            start,
            frames: 0,
        })
    }

    /// Appends one temporal unit (low-overhead OBUs, as the AV1 encoders give them).
    pub fn write_frame(&mut self, temporal_unit: &[u8]) -> Result<()> {
        if let Some(Err(e)) = av1::obus(temporal_unit).find(|o| o.is_err()) {
            return Err(Error::Ivf(format!("frame {}: {e}", self.frames)));
        }
        let size = u32::try_from(temporal_unit.len()).map_err(|_| {
            Error::Ivf(format!(
                "frame {} of {} bytes (at most 4 GiB)",
                self.frames,
                temporal_unit.len()
            ))
        })?;
        let mut header = [0u8; 12];
        header[..4].copy_from_slice(&size.to_le_bytes());
        header[4..].copy_from_slice(&u64::from(self.frames).to_le_bytes());
        self.out.write_all(&header).map_err(write_err)?;
        self.out.write_all(temporal_unit).map_err(write_err)?;
        self.frames = self
            .frames
            .checked_add(1)
            .ok_or_else(|| Error::Ivf("more than 2^32 frames".into()))?;
        Ok(())
    }

    /// Number of frames written.
    pub fn len(&self) -> u32 {
        self.frames
    }

    /// True before the first frame.
    pub fn is_empty(&self) -> bool {
        self.frames == 0
    }

    /// Patches the frame count into the header and returns the output.
    pub fn finish(mut self) -> Result<W> {
        let end = self.out.stream_position().map_err(write_err)?;
        self.out
            .seek(SeekFrom::Start(self.start + 24))
            .map_err(write_err)?;
        self.out
            .write_all(&self.frames.to_le_bytes())
            .map_err(write_err)?;
        self.out.seek(SeekFrom::Start(end)).map_err(write_err)?;
        self.out.flush().map_err(write_err)?;
        Ok(self.out)
    }
}

fn too_large(side: u32) -> Error {
    Error::Ivf(format!("a side of {side} pixels (at most 65535)"))
}

fn write_err(source: std::io::Error) -> Error {
    Error::Io {
        context: "cannot write IVF output".into(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitswarm_core::Rational;
    use std::io::Cursor;

    #[test]
    fn header_and_frames_are_laid_out_as_ivf() {
        let info = VideoInfo::new(352, 288, Rational::new(30000, 1001).unwrap()).unwrap();
        let mut w = IvfWriter::new(Cursor::new(Vec::new()), &info).unwrap();
        w.write_frame(&[0x12, 0x00]).unwrap();
        w.write_frame(&[0x12, 0x00, 0x32, 0x01, 0x10]).unwrap();
        assert_eq!(w.len(), 2);
        let bytes = w.finish().unwrap().into_inner();
        assert_eq!(&bytes[..4], b"DKIF");
        assert_eq!(&bytes[8..12], b"AV01");
        let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
        let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap());
        assert_eq!((u16_at(12), u16_at(14)), (352, 288));
        assert_eq!((u32_at(16), u32_at(20), u32_at(24)), (30000, 1001, 2));
        // second frame: size 5, pts 1
        assert_eq!(u32_at(32 + 12 + 2), 5);
        assert_eq!(bytes[32 + 12 + 2 + 4], 1);
        assert_eq!(bytes.len(), 32 + 12 + 2 + 12 + 5);
    }

    #[test]
    fn malformed_units_are_refused() {
        let info = VideoInfo::new(64, 64, Rational::new(25, 1).unwrap()).unwrap();
        let mut w = IvfWriter::new(Cursor::new(Vec::new()), &info).unwrap();
        assert_eq!(
            w.write_frame(&[0x12, 0x05, 0x00]).unwrap_err().to_string(),
            "cannot write IVF: frame 0: invalid AV1 stream: OBU at byte 0 claims 5 bytes, only \
             1 left"
        );
    }
}
