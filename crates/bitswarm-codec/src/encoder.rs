//! The encoder backend trait and the factory that picks a backend for a profile.

use bitswarm_core::{EncoderKind, Frame, Profile, VideoInfo};

use crate::openh264_encoder::OpenH264Encoder;
use crate::Result;

/// One encoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// Annex B NAL units with start codes; every IDR packet starts with its SPS and PPS.
    pub data: Vec<u8>,
    /// True for an IDR frame (a closed-GOP random access point).
    pub keyframe: bool,
}

/// A push/pull encoder: frames go in with [`Encoder::send_frame`], packets come out of
/// [`Encoder::receive_packet`] in decoding order.
///
/// One instance encodes one chunk: its first frame is an IDR, then one IDR every `profile.gop`
/// frames. The same frames and the same [`EncoderConfig`] give byte-identical packets.
pub trait Encoder: Send {
    /// Queues one source frame (the size of [`EncoderConfig::source`]).
    fn send_frame(&mut self, frame: &Frame) -> Result<()>;
    /// Announces that no more frames will come; packets still held become available.
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
    /// its output independent of the count: OpenH264 always uses one (see docs/CODEC.md).
    pub threads: u16,
}

/// Opens the encoder named by `cfg.profile.encoder`, after validating the profile and the source.
pub fn open_encoder(cfg: &EncoderConfig) -> Result<Box<dyn Encoder>> {
    match cfg.profile.encoder {
        EncoderKind::OpenH264 => Ok(Box::new(OpenH264Encoder::new(cfg)?)),
    }
}
