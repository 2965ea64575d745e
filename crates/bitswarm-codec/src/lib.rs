//! Encoder and decoder backends behind two small traits, bitstream utilities (H.264 and HEVC
//! Annex B, AV1 OBUs). Encoders: OpenH264 and rav1e in-process;
//! x264, x265, SVT-AV1 and libaom through an FFmpeg binary. Decoders: OpenH264 (H.264) and
//! rav1d (AV1) in-process, FFmpeg for HEVC. An encoder instance encodes one chunk: it starts
//! with a keyframe, places one every `profile.gop` frames, closes every GOP and repeats the
//! stream headers at each keyframe, so chunks encoded on different servers concatenate into
//! one stream. [`available_encoders`] tells which encoders this machine can run. See
//! docs/CODEC.md for the complexity and rate-control mappings and per-backend determinism.
//!
//! ```
//! use bitswarm_codec::{decode_stream, open_decoder, open_encoder, EncoderConfig};
//! use bitswarm_core::{Codec, Frame, Profile, Rational, VideoInfo};
//!
//! let source = VideoInfo::new(64, 48, Rational::new(25, 1)?)?;
//! let profile = Profile { gop: 2, ..Profile::default() }; // OpenH264, QP 26
//! let cfg = EncoderConfig { profile, source, threads: 1, ffmpeg: None };
//! let mut encoder = open_encoder(&cfg)?;
//! for shade in [60, 90, 120] {
//!     encoder.send_frame(&Frame::filled(&source, shade, 128, 128))?;
//! }
//! encoder.flush()?;
//! let mut stream = Vec::new();
//! let mut keyframes = Vec::new();
//! while let Some(packet) = encoder.receive_packet()? {
//!     keyframes.push(packet.keyframe);
//!     stream.extend_from_slice(&packet.data);
//! }
//! assert_eq!(keyframes, [true, false, true]);
//!
//! let mut decoder = open_decoder(Codec::H264, None)?;
//! let frames = decode_stream(decoder.as_mut(), &stream)?;
//! assert_eq!(frames.len(), 3);
//! assert!(bitswarm_quality::psnr::psnr(&Frame::filled(&source, 120, 128, 128), &frames[2])? > 40.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod annexb;
pub mod av1;
mod decoder;
mod encoder;
mod ffmpeg;
mod ffmpeg_decoder;
mod ffmpeg_encoder;
pub mod hevc;
mod openh264_decoder;
mod openh264_encoder;
mod pipe;
pub mod poc;
mod rav1d_decoder;
mod rav1e_encoder;
mod registry;
mod units;

use bitswarm_core::EncoderKind;

pub use decoder::{decode_stream, open_decoder, Decoder};
pub use encoder::{open_encoder, Encoder, EncoderConfig, Packet};
pub use ffmpeg::{Ffmpeg, FfmpegProbe, FFMPEG_ENV};
pub use ffmpeg_decoder::FfmpegDecoder;
pub use openh264_decoder::OpenH264Decoder;
pub use rav1d_decoder::Rav1dDecoder;
pub use registry::{available_encoders, EncoderAvailability};
pub use units::{is_keyframe, split_units};

/// Everything that can go wrong encoding, decoding or parsing.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Core(#[from] bitswarm_core::Error),
    #[error("OpenH264 {call} failed with code {code}")]
    OpenH264 { call: &'static str, code: i64 },
    #[error("OpenH264 build lacks the {0} entry point")]
    MissingFunction(&'static str),
    #[error("encoder: {0}")]
    Encoder(String),
    #[error("frame sent after flush (an encoder encodes one chunk; open a new one)")]
    Flushed,
    #[error("frame is {got}, expected {expected}")]
    FrameMismatch { got: String, expected: String },
    #[error("cannot decode access unit {access_unit}: {detail}")]
    Decode { access_unit: u64, detail: String },
    #[error("invalid H.264 stream: {0}")]
    InvalidStream(String),
    #[error("invalid AV1 stream: {0}")]
    InvalidAv1(String),
    #[error("not supported: {0}")]
    Unsupported(String),
    #[error("encoder {encoder} is not available here: {reason}")]
    Unavailable {
        encoder: EncoderKind,
        reason: String,
    },
    #[error("no ffmpeg found for {needed_for} ({})", ffmpeg::WHERE_WE_LOOK)]
    NoFfmpeg { needed_for: String },
    #[error("ffmpeg ({path}): {detail}")]
    Ffmpeg { path: String, detail: String },
}

pub type Result<T> = std::result::Result<T, Error>;
