//! Inputs and containers for bitswarm: a streaming Y4M reader and writer (8-bit 4:2:0), input
//! sniffing with H.264 decoding from MP4 or raw Annex B (OpenH264) and an ffmpeg fallback for
//! everything else, a streaming MP4 muxer for our H.264, HEVC and AV1 output, and an IVF writer
//! for AV1. See docs/MEDIA.md.
//!
//! ```
//! use bitswarm_core::{Frame, Rational, VideoInfo};
//! use bitswarm_media::y4m::{Y4mReader, Y4mWriter};
//!
//! let info = VideoInfo::new(64, 32, Rational::new(25, 1)?)?;
//! let mut writer = Y4mWriter::new(Vec::new(), &info)?;
//! writer.write_frame(&Frame::filled(&info, 16, 128, 128))?;
//! let bytes = writer.finish()?;
//!
//! let mut reader = Y4mReader::new(&bytes[..])?;
//! assert_eq!(reader.info(), info);
//! assert_eq!(reader.next_frame()?.map(|f| f.y[0]), Some(16));
//! assert!(reader.next_frame()?.is_none());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Any input file, by content: `bitswarm_media::open_input("clip.mp4", &InputOptions::default())`
//! gives a [`FrameSource`].

pub mod bmff;
mod ffmpeg;
mod h264;
pub mod ivf;
pub mod mp4;
mod source;
pub mod y4m;

pub use h264::AnnexBReader;
pub use source::{
    open_input, open_stream, sniff, FrameSource, InputFormat, InputOptions, SNIFF_LEN,
};

/// The text of an I/O error without the "(os error N)" suffix.
pub(crate) fn io_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.rfind(" (os error ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// Everything that can go wrong reading or writing media.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot open {path}: {reason}")]
    Open { path: String, reason: String },
    #[error("{0} is empty")]
    EmptyInput(String),
    #[error(
        "unsupported input format: {0} (bitswarm reads Y4M 8-bit 4:2:0, and H.264 in MP4 or \
         Annex B; install ffmpeg for other formats)"
    )]
    UnsupportedInput(String),
    #[error("not a Y4M stream: {0}")]
    NotY4m(String),
    #[error("bad Y4M header: {0}")]
    Y4mHeader(String),
    #[error(
        "unsupported colour space {0} (bitswarm reads 8-bit 4:2:0: C420, C420jpeg, C420paldv, C420mpeg2)"
    )]
    UnsupportedColourSpace(String),
    #[error("unterminated {what} (no line break after {start})")]
    UnterminatedLine { what: String, start: String },
    #[error("bad FRAME line before frame {index}: {line}")]
    BadFrameLine { index: u64, line: String },
    #[error("truncated frame {index}: got {got} of {expected} bytes")]
    TruncatedFrame {
        index: u64,
        got: usize,
        expected: usize,
    },
    #[error("frame is {got}, expected {expected}")]
    FrameMismatch { got: String, expected: String },
    #[error("invalid MP4: {0}")]
    Mp4(String),
    #[error("truncated MP4: {0}")]
    TruncatedMp4(String),
    #[error("cannot write MP4: {0}")]
    Mux(String),
    #[error("cannot write IVF: {0}")]
    Ivf(String),
    #[error("H.264 decoding failed: {0}")]
    Codec(#[from] bitswarm_codec::Error),
    #[error("the H.264 stream holds no picture")]
    NoPicture,
    #[error("decoded frame {index} is {got}, expected {expected} (one frame size per input)")]
    SizeChange {
        index: u64,
        got: String,
        expected: String,
    },
    #[error("cannot run ffmpeg {path}: {reason}")]
    FfmpegSpawn { path: String, reason: String },
    #[error("ffmpeg failed ({status}): {stderr}")]
    Ffmpeg { status: String, stderr: String },
    #[error(transparent)]
    Core(#[from] bitswarm_core::Error),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

pub type Result<T> = std::result::Result<T, Error>;
