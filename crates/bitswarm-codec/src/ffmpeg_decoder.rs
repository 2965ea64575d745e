//! Decoding through an FFmpeg child process: the elementary stream goes in on stdin, Y4M 8-bit
//! 4:2:0 comes back on stdout. Used for HEVC, and usable for H.264 and AV1 as a cross-check.

use bitswarm_core::{Codec, Frame, Rational, VideoInfo};

use crate::decoder::Decoder;
use crate::ffmpeg::Ffmpeg;
use crate::ffmpeg_encoder::raw_format;
use crate::pipe::PipedChild;
use crate::units::split_units;
use crate::{Error, Result};

/// Longest Y4M stream header we accept.
const MAX_HEADER: usize = 4096;

/// An FFmpeg decoder process. FFmpeg needs some input before it starts, so frames mostly come
/// out of [`Decoder::flush`]; `flush` checks that every picture fed came back as a frame.
pub struct FfmpegDecoder {
    codec: Codec,
    child: PipedChild,
    y4m: Y4mFrames,
    /// Pictures (access or temporal units) fed.
    units_in: u64,
    frames_out: u64,
}

impl FfmpegDecoder {
    /// Starts `ffmpeg -f FORMAT -i pipe:0 -f yuv4mpegpipe -pix_fmt yuv420p pipe:1`.
    pub fn new(ffmpeg: &Ffmpeg, codec: Codec) -> Result<Self> {
        let mut cmd = ffmpeg.command();
        cmd.args([
            "-loglevel",
            "error",
            "-f",
            raw_format(codec),
            "-i",
            "pipe:0",
        ]);
        cmd.args([
            "-map",
            "0:v",
            "-f",
            "yuv4mpegpipe",
            "-pix_fmt",
            "yuv420p",
            "pipe:1",
        ]);
        Ok(Self {
            codec,
            child: ffmpeg.spawn(cmd)?,
            y4m: Y4mFrames::default(),
            units_in: 0,
            frames_out: 0,
        })
    }

    fn frames(&mut self, bytes: &[u8]) -> Result<Vec<Frame>> {
        let frames = self.y4m.push(bytes)?;
        self.frames_out += frames.len() as u64;
        Ok(frames)
    }
}

impl Decoder for FfmpegDecoder {
    fn decode(&mut self, data: &[u8]) -> Result<Vec<Frame>> {
        let units = split_units(self.codec, data)?.len();
        if units == 0 {
            return Err(Error::Decode {
                access_unit: self.units_in,
                detail: format!("no {} picture in {} bytes", self.codec, data.len()),
            });
        }
        self.units_in += units as u64;
        self.child.write(data.to_vec())?;
        let arrived = self.child.try_read();
        self.frames(&arrived)
    }

    fn flush(&mut self) -> Result<Vec<Frame>> {
        let rest = self.child.finish()?;
        let frames = self.frames(&rest)?;
        if let Some(left) = self.y4m.leftover() {
            return Err(Error::Decode {
                access_unit: self.units_in,
                detail: format!("ffmpeg output ends inside a frame ({left} bytes left over)"),
            });
        }
        if self.frames_out != self.units_in {
            return Err(Error::Decode {
                access_unit: self.units_in,
                detail: format!(
                    "ffmpeg decoded {} frames from {} pictures (damaged stream?)",
                    self.frames_out, self.units_in
                ),
            });
        }
        Ok(frames)
    }
}

/// Incremental reader of the Y4M stream FFmpeg writes (`YUV4MPEG2 W.. H.. ...`, then `FRAME`
/// lines each followed by one I420 picture).
#[derive(Debug, Default)]
struct Y4mFrames {
    buf: Vec<u8>,
    info: Option<VideoInfo>,
}

impl Y4mFrames {
    fn bad(detail: String) -> Error {
        Error::Decode {
            access_unit: 0,
            detail: format!("unexpected ffmpeg output: {detail}"),
        }
    }

    /// The next line (without its newline) starting at `from`, and where the line after it
    /// starts; `None` while incomplete.
    fn line(&self, from: usize, limit: usize) -> Result<Option<(&[u8], usize)>> {
        match self.buf[from..].iter().position(|&b| b == b'\n') {
            Some(n) => Ok(Some((&self.buf[from..from + n], from + n + 1))),
            None if self.buf.len() - from > limit => Err(Self::bad(format!(
                "no line break in the first {limit} bytes"
            ))),
            None => Ok(None),
        }
    }

    fn push(&mut self, data: &[u8]) -> Result<Vec<Frame>> {
        self.buf.extend_from_slice(data);
        let mut frames = Vec::new();
        let mut pos = 0;
        if self.info.is_none() {
            let Some((header, next)) = self.line(0, MAX_HEADER)? else {
                return Ok(frames);
            };
            self.info = Some(parse_header(header)?);
            pos = next;
        }
        let Some(info) = self.info else {
            return Ok(frames);
        };
        while let Some((line, data_start)) = self.line(pos, 256)? {
            if !line.starts_with(b"FRAME") {
                return Err(Self::bad(format!(
                    "expected a FRAME line, got {:?}",
                    String::from_utf8_lossy(&line[..line.len().min(40)])
                )));
            }
            let end = data_start + info.frame_len();
            if self.buf.len() < end {
                break;
            }
            frames.push(Frame::from_packed(&info, &self.buf[data_start..end])?);
            pos = end;
        }
        self.buf.drain(..pos);
        Ok(frames)
    }

    /// Bytes received after the last whole frame, if any.
    fn leftover(&self) -> Option<usize> {
        (!self.buf.is_empty()).then_some(self.buf.len())
    }
}

fn parse_header(header: &[u8]) -> Result<VideoInfo> {
    let text = String::from_utf8_lossy(header);
    let mut words = text.split_ascii_whitespace();
    if words.next() != Some("YUV4MPEG2") {
        return Err(Y4mFrames::bad(format!(
            "not Y4M: {:?}",
            &text[..text.len().min(40)]
        )));
    }
    let (mut width, mut height) = (0, 0);
    for word in words {
        let (tag, value) = word.split_at(1);
        match tag {
            "W" => width = value.parse().unwrap_or(0),
            "H" => height = value.parse().unwrap_or(0),
            "C" if !value.starts_with("420") => {
                return Err(Error::Unsupported(format!(
                    "decoded colour space {value} (bitswarm handles 8-bit 4:2:0)"
                )))
            }
            _ => {}
        }
    }
    // The frame rate does not matter here; the size is checked (even, 16..=8192).
    Ok(VideoInfo::new(width, height, Rational { num: 25, den: 1 })?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn y4m_frames_split_at_any_byte() {
        let mut stream = b"YUV4MPEG2 W16 H16 F25:1 Ip A1:1 C420jpeg\n".to_vec();
        for shade in [10u8, 20] {
            stream.extend(b"FRAME\n");
            stream.extend(std::iter::repeat_n(shade, 16 * 16));
            stream.extend(std::iter::repeat_n(128, 2 * 8 * 8));
        }
        for cut in [1, 30, 41, 47, 200, stream.len() - 1] {
            let mut y4m = Y4mFrames::default();
            let mut frames = y4m.push(&stream[..cut]).unwrap();
            frames.extend(y4m.push(&stream[cut..]).unwrap());
            let shades: Vec<u8> = frames.iter().map(|f| f.y[0]).collect();
            assert_eq!(shades, [10, 20], "cut at {cut}");
            assert_eq!(y4m.leftover(), None);
        }
    }

    #[test]
    fn bad_y4m_is_an_error() {
        let err = |data: &[u8]| Y4mFrames::default().push(data).unwrap_err().to_string();
        assert_eq!(
            err(b"RIFF....\n"),
            "cannot decode access unit 0: unexpected ffmpeg output: not Y4M: \"RIFF....\""
        );
        assert_eq!(
            err(b"YUV4MPEG2 W16 H16 C444\n"),
            "not supported: decoded colour space 444 (bitswarm handles 8-bit 4:2:0)"
        );
        assert_eq!(
            err(b"YUV4MPEG2 W15 H16\n"),
            "invalid width 15 (expected an even number in 16..=8192)"
        );
        assert_eq!(
            err(b"YUV4MPEG2 W16 H16\nJUNK\n"),
            "cannot decode access unit 0: unexpected ffmpeg output: expected a FRAME line, got \
             \"JUNK\""
        );
    }
}
