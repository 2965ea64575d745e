//! The decoder backend trait and the factory that picks a decoder for a codec.

use bitswarm_core::{Codec, Frame};

use crate::ffmpeg::Ffmpeg;
use crate::{Error, FfmpegDecoder, OpenH264Decoder, Rav1dDecoder, Result};

/// A push decoder: bitstream in, frames out in display order.
pub trait Decoder: Send {
    /// Feeds whole pictures of the elementary stream (one access unit or more for H.264 and
    /// HEVC Annex B, one temporal unit or more for AV1 OBUs); returns the frames ready, in
    /// display order.
    fn decode(&mut self, data: &[u8]) -> Result<Vec<Frame>>;
    /// End of stream: frames still held for reordering.
    fn flush(&mut self) -> Result<Vec<Frame>>;
}

/// A decoder for `codec`: OpenH264 for H.264 and rav1d for AV1 (both in-process), FFmpeg for
/// HEVC. `ffmpeg` as for the encoders: `None` looks at `$BITSWARM_FFMPEG`, then `PATH`.
pub fn open_decoder(codec: Codec, ffmpeg: Option<&Ffmpeg>) -> Result<Box<dyn Decoder>> {
    match codec {
        Codec::H264 => Ok(Box::new(OpenH264Decoder::new()?)),
        Codec::Av1 => Ok(Box::new(Rav1dDecoder::new()?)),
        Codec::Hevc => {
            let ffmpeg = match ffmpeg {
                Some(ffmpeg) => ffmpeg.clone(),
                None => Ffmpeg::locate(None).ok_or_else(|| Error::NoFfmpeg {
                    needed_for: "decoding HEVC".into(),
                })?,
            };
            Ok(Box::new(FfmpegDecoder::new(&ffmpeg, codec)?))
        }
    }
}

/// Decodes a whole elementary stream (fed in one call) and flushes.
pub fn decode_stream(decoder: &mut dyn Decoder, data: &[u8]) -> Result<Vec<Frame>> {
    let mut frames = decoder.decode(data)?;
    frames.extend(decoder.flush()?);
    Ok(frames)
}

/// Copies a decoded 8-bit 4:2:0 picture given as three strided planes into a tightly packed
/// [`Frame`]; fails on odd sizes or planes shorter than their strides promise.
pub(crate) fn packed_frame(
    width: usize,
    height: usize,
    planes: [(&[u8], usize); 3],
) -> Result<Frame> {
    let bad = |why: &str| {
        Error::Unsupported(format!(
            "decoded picture {width}x{height} ({why}; bitswarm handles even sizes, 8-bit 4:2:0)"
        ))
    };
    if width == 0 || height == 0 || width % 2 != 0 || height % 2 != 0 {
        return Err(bad("odd or empty size"));
    }
    let mut out = [Vec::new(), Vec::new(), Vec::new()];
    for (i, (data, stride)) in planes.into_iter().enumerate() {
        let (w, h) = if i == 0 {
            (width, height)
        } else {
            (width / 2, height / 2)
        };
        if stride < w {
            return Err(bad("stride shorter than a row"));
        }
        let plane = &mut out[i];
        plane.reserve(w * h);
        for row in 0..h {
            let line = data
                .get(row * stride..row * stride + w)
                .ok_or_else(|| bad("plane shorter than its size"))?;
            plane.extend_from_slice(line);
        }
    }
    let [y, u, v] = out;
    Ok(Frame {
        width: width as u32,
        height: height as u32,
        y,
        u,
        v,
    })
}
