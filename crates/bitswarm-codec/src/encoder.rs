//! The encoder backend trait, the factory that picks a backend for a profile, and the checks
//! every backend shares (input frames, GOP structure).

use bitswarm_core::{scale, EncoderKind, Frame, Profile, VideoInfo};
use std::borrow::Cow;

use crate::ffmpeg::Ffmpeg;
use crate::ffmpeg_encoder::FfmpegEncoder;
use crate::openh264_encoder::OpenH264Encoder;
use crate::rav1e_encoder::Rav1eEncoder;
use crate::{Error, Result};

/// One encoded picture: one access unit (H.264, HEVC) or temporal unit (AV1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// H.264 and HEVC: Annex B NAL units with start codes, every keyframe preceded by its
    /// parameter sets. AV1: OBUs in the low-overhead format (AV1 5.2), starting with a temporal
    /// delimiter, every key frame preceded by a sequence header.
    pub data: Vec<u8>,
    /// True for a keyframe that starts a closed GOP (H.264/HEVC IDR, AV1 shown key frame).
    pub keyframe: bool,
}

/// A push/pull encoder: frames go in with [`Encoder::send_frame`], packets come out of
/// [`Encoder::receive_packet`] in decoding order.
///
/// One instance encodes one chunk: its first frame is a keyframe, then one keyframe every
/// `profile.gop` frames, all GOPs closed, so chunks from different servers concatenate.
pub trait Encoder: Send {
    /// Queues one source frame (the size of [`EncoderConfig::source`]).
    fn send_frame(&mut self, frame: &Frame) -> Result<()>;
    /// Announces that no more frames will come; packets still held become available (the
    /// FFmpeg backends wait here for the encoder to finish).
    fn flush(&mut self) -> Result<()>;
    /// The next finished packet, or `None` if none is ready (after [`Encoder::flush`]: none left).
    fn receive_packet(&mut self) -> Result<Option<Packet>>;
}

/// Everything an encoder needs to start.
#[derive(Debug, Clone, PartialEq)]
pub struct EncoderConfig {
    /// What to produce; `profile.resolution` other than the source's means frames are scaled.
    pub profile: Profile,
    /// Geometry and rate of the frames that will be sent.
    pub source: VideoInfo,
    /// Upper bound on worker threads the backend may use. A backend uses only as many as keep
    /// its output independent of the count (see docs/CODEC.md): one for OpenH264, x264, x265
    /// and libaom, up to this many for SVT-AV1 and rav1e.
    pub threads: u16,
    /// The FFmpeg binary (and its timeout) for the x264, x265, SVT-AV1 and libaom backends;
    /// `None` looks at `$BITSWARM_FFMPEG`, then `PATH` ([`Ffmpeg::locate`]).
    pub ffmpeg: Option<Ffmpeg>,
}

/// Opens the encoder named by `cfg.profile.encoder`, after validating the profile and the
/// source. An FFmpeg backend fails here when no FFmpeg is found or it lacks the encoder.
pub fn open_encoder(cfg: &EncoderConfig) -> Result<Box<dyn Encoder>> {
    match cfg.profile.encoder {
        EncoderKind::OpenH264 => Ok(Box::new(OpenH264Encoder::new(cfg)?)),
        EncoderKind::Rav1e => Ok(Box::new(Rav1eEncoder::new(cfg)?)),
        kind => {
            FrameInput::new(cfg)?; // validate before looking for FFmpeg
            let ffmpeg = match &cfg.ffmpeg {
                Some(ffmpeg) => ffmpeg.clone(),
                None => Ffmpeg::locate(None).ok_or_else(|| Error::Unavailable {
                    encoder: kind,
                    reason: format!("no ffmpeg found ({})", crate::ffmpeg::WHERE_WE_LOOK),
                })?,
            };
            Ok(Box::new(FfmpegEncoder::open(cfg, &ffmpeg)?))
        }
    }
}

/// Input checks every backend shares: validated profile and source, frames of the source
/// size, nothing after flush, scaling to the profile's resolution.
#[derive(Debug)]
pub(crate) struct FrameInput {
    pub(crate) source: VideoInfo,
    pub(crate) output: VideoInfo,
    flushed: bool,
}

impl FrameInput {
    /// Validates the profile (`Profile::validate`) and the source geometry.
    pub(crate) fn new(cfg: &EncoderConfig) -> Result<Self> {
        cfg.profile.validate()?;
        let source = VideoInfo::new(cfg.source.width, cfg.source.height, cfg.source.fps)?;
        Ok(Self {
            source,
            output: cfg.profile.output_info(&source),
            flushed: false,
        })
    }

    /// Checks a frame and scales it to the output size if needed.
    pub(crate) fn accept<'f>(&self, frame: &'f Frame) -> Result<Cow<'f, Frame>> {
        if self.flushed {
            return Err(Error::Flushed);
        }
        let source = &self.source;
        if (frame.width, frame.height) != (source.width, source.height)
            || frame.len() != source.frame_len()
            || frame.y.len() != source.luma_len()
            || frame.u.len() != frame.v.len()
        {
            return Err(Error::FrameMismatch {
                got: format!(
                    "{}x{} with {} bytes",
                    frame.width,
                    frame.height,
                    frame.len()
                ),
                expected: format!(
                    "{}x{} with {} bytes",
                    source.width,
                    source.height,
                    source.frame_len()
                ),
            });
        }
        Ok(if self.output == *source {
            Cow::Borrowed(frame)
        } else {
            Cow::Owned(scale(frame, self.output.width, self.output.height))
        })
    }

    /// No more frames.
    pub(crate) fn finish(&mut self) {
        self.flushed = true;
    }
}

/// Checks that packets come in the GOP structure every backend promises: packet `i` (in
/// decoding order) is a keyframe exactly when `i % gop == 0`. With closed GOPs, decoding order
/// keeps each GOP's packets together, so this holds with B-frames and hidden AV1 frames too.
#[derive(Debug)]
pub(crate) struct GopCheck {
    encoder: EncoderKind,
    gop: u64,
    pub(crate) packets: u64,
}

impl GopCheck {
    pub(crate) fn new(encoder: EncoderKind, gop: u32) -> Self {
        Self {
            encoder,
            gop: u64::from(gop),
            packets: 0,
        }
    }

    /// Accounts for the next packet.
    pub(crate) fn next(&mut self, keyframe: bool) -> Result<()> {
        let index = self.packets;
        let want = index % self.gop == 0;
        if keyframe != want {
            let kind = |key: bool| if key { "a keyframe" } else { "a non-keyframe" };
            return Err(Error::Encoder(format!(
                "{} coded frame {index} of the chunk as {} where the GOP of {} needs {}",
                self.encoder,
                kind(keyframe),
                self.gop,
                kind(want)
            )));
        }
        self.packets += 1;
        Ok(())
    }

    /// Checks at the end of the chunk that every frame gave one packet.
    pub(crate) fn finish(&self, frames: u64) -> Result<()> {
        if self.packets != frames {
            return Err(Error::Encoder(format!(
                "{} gave {} packets for {frames} frames (every frame must give one)",
                self.encoder, self.packets
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gop_check_names_the_misplaced_frame() {
        let mut check = GopCheck::new(EncoderKind::X264, 3);
        for key in [true, false, false, true] {
            check.next(key).unwrap();
        }
        assert_eq!(
            check.next(true).unwrap_err().to_string(),
            "encoder: x264 coded frame 4 of the chunk as a keyframe where the GOP of 3 needs a \
             non-keyframe"
        );
        assert_eq!(
            check.finish(5).unwrap_err().to_string(),
            "encoder: x264 gave 4 packets for 5 frames (every frame must give one)"
        );
        check.finish(4).unwrap();
    }
}
