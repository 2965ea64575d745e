//! Encoder and decoder backends behind two small traits, plus H.264 Annex B utilities and the
//! PSNR used in reports. Today's backend is Cisco OpenH264, built from source and run
//! in-process. An encoder instance encodes one chunk: it starts with an IDR, places one every
//! `profile.gop` frames, and gives byte-identical output for identical input, so chunks encoded
//! on different servers concatenate into one stream and can be compared byte for byte.
//! See docs/CODEC.md for the complexity and rate-control mapping.
//!
//! ```
//! use bitswarm_codec::{open_encoder, Decoder, EncoderConfig, OpenH264Decoder};
//! use bitswarm_core::{Frame, Profile, Rational, VideoInfo};
//!
//! let source = VideoInfo::new(64, 48, Rational::new(25, 1)?)?;
//! let cfg = EncoderConfig { profile: Profile { gop: 2, ..Profile::default() }, source, threads: 1 };
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
//! let mut decoder = OpenH264Decoder::new()?;
//! let mut frames = decoder.decode(&stream)?;
//! frames.extend(decoder.flush()?);
//! assert_eq!(frames.len(), 3);
//! assert!(bitswarm_codec::psnr::psnr(&Frame::filled(&source, 120, 128, 128), &frames[2])? > 40.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod annexb;
mod decoder;
mod encoder;
mod openh264_decoder;
mod openh264_encoder;
pub mod psnr;

pub use decoder::Decoder;
pub use encoder::{open_encoder, Encoder, EncoderConfig, Packet};
pub use openh264_decoder::OpenH264Decoder;

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
    #[error("not supported: {0}")]
    Unsupported(String),
}

pub type Result<T> = std::result::Result<T, Error>;
