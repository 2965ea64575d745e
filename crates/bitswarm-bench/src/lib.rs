//! What the benchmark binaries share: read the first frames of a clip, encode them in this
//! process with one encoder on one thread, and measure the stream as the controller does (its
//! rate over the frames' duration; its VMAF after decoding, scaling back to the source size and
//! comparing frame by frame, [`Verifier`]). The binaries print the tables; this crate prints
//! nothing.
//!
//! ```
//! use bitswarm_bench::{encode, kbps};
//! use bitswarm_codec::EncoderConfig;
//! use bitswarm_core::{Frame, Profile, Rational, RateControl, VideoInfo};
//!
//! let info = VideoInfo::new(64, 64, Rational::new(25, 1)?)?;
//! let frames: Vec<Frame> = (0..4u8).map(|i| Frame::filled(&info, 60 + 30 * i, 128, 128)).collect();
//! let cfg = EncoderConfig {
//!     profile: Profile { gop: 4, rate: RateControl::Qp { qp: 30 }, ..Profile::default() },
//!     source: info,
//!     threads: 1,
//!     ffmpeg: None,
//! };
//! let stream = encode(&cfg, &frames)?; // OpenH264, in-process
//! // Four frames at 25 fps last 0.16 s: 8 / 0.16 / 1000 = 0.05 kbit/s per byte.
//! let rate = kbps(stream.len() as u64, frames.len(), info.fps);
//! assert!((rate - stream.len() as f64 * 0.05).abs() < 1e-9);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::{Path, PathBuf};

use bitswarm_codec::{open_encoder, EncoderConfig, Ffmpeg};
use bitswarm_core::{Codec, EncoderKind, Frame, Profile, Rational, VideoInfo};
use bitswarm_media::y4m::Y4mWriter;
use bitswarm_media::{open_input, InputOptions};
use bitswarm_quality::MetricKind;
use bitswarm_swarm::ladder::{segment_gop, LadderOptions};
use bitswarm_swarm::verify::{Neighbours, Verifier};

/// x264 `medium`: complexity level 6 (docs/CODEC.md, "Complexity levels"), the effort of the
/// per-title ladder measurements.
pub const MEDIUM: u8 = 6;

/// Errors of the shared benchmark code: each names the file or the step that failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Media(#[from] bitswarm_media::Error),
    #[error(transparent)]
    Codec(#[from] bitswarm_codec::Error),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {reason}", path.display())]
    Clip { path: PathBuf, reason: String },
    #[error("measuring the stream: {0}")]
    Measure(String),
    #[error("{}: not found; build it first (cargo build --release -p bitswarm-cli)", .0.display())]
    NoBinary(PathBuf),
    #[error(transparent)]
    Swarm(#[from] bitswarm_swarm::Error),
}

/// Result of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// The environment variable that names the shared clips folder.
pub const CLIPS_ENV: &str = "BITSWARM_CLIPS";

/// The shared clips folder: `$BITSWARM_CLIPS`, else `../shared/clips` next to the workspace.
pub fn clips_dir() -> PathBuf {
    match std::env::var_os(CLIPS_ENV).filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/clips"),
    }
}

/// The `bitswarm` binary the benchmarks run: `explicit`, else the one next to the running
/// benchmark (both are built into `target/release`); an error if it is not there.
pub fn bitswarm_binary(explicit: Option<&Path>) -> Result<PathBuf> {
    let bin = match explicit {
        Some(path) => path.to_owned(),
        None => std::env::current_exe()
            .map_err(|source| Error::Io {
                path: "the running benchmark".into(),
                source,
            })?
            .with_file_name("bitswarm"),
    };
    if bin.exists() {
        Ok(bin)
    } else {
        Err(Error::NoBinary(bin))
    }
}

/// The geometry of `path` and its first `max_frames` frames (all of them if it has fewer); an
/// error for a clip without frames.
pub fn read_clip(path: &Path, max_frames: usize) -> Result<(VideoInfo, Vec<Frame>)> {
    let text = path.to_str().ok_or_else(|| Error::Clip {
        path: path.to_owned(),
        reason: "the path is not valid UTF-8".into(),
    })?;
    let mut source = open_input(text, &InputOptions::default())?;
    let info = source.info();
    let mut frames = Vec::with_capacity(max_frames);
    while frames.len() < max_frames {
        match source.next_frame()? {
            Some(f) => frames.push(f),
            None => break,
        }
    }
    if frames.is_empty() {
        return Err(Error::Clip {
            path: path.to_owned(),
            reason: "no frames (expected at least one)".into(),
        });
    }
    Ok((info, frames))
}

/// Writes `frames` as a Y4M file (for commands that read a file).
pub fn write_y4m(path: &Path, info: &VideoInfo, frames: &[Frame]) -> Result<()> {
    let file = std::fs::File::create(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    let mut writer = Y4mWriter::new(std::io::BufWriter::new(file), info)?;
    for f in frames {
        writer.write_frame(f)?;
    }
    writer.finish()?;
    Ok(())
}

/// The frames packed end to end (the source form [`Verifier::verify`] takes).
pub fn pack(frames: &[Frame]) -> Vec<u8> {
    let mut out = Vec::with_capacity(frames.iter().map(Frame::len).sum());
    for f in frames {
        f.write_packed(&mut out);
    }
    out
}

/// Encodes `frames` with one encoder opened from `cfg`: the whole stream.
pub fn encode(cfg: &EncoderConfig, frames: &[Frame]) -> Result<Vec<u8>> {
    let mut encoder = open_encoder(cfg)?;
    let mut stream = Vec::new();
    for f in frames {
        encoder.send_frame(f)?;
        while let Some(p) = encoder.receive_packet()? {
            stream.extend_from_slice(&p.data);
        }
    }
    encoder.flush()?;
    while let Some(p) = encoder.receive_packet()? {
        stream.extend_from_slice(&p.data);
    }
    Ok(stream)
}

/// Kilobits per second of `bytes` spread over `frames` frames at `fps`.
pub fn kbps(bytes: u64, frames: usize, fps: Rational) -> f64 {
    bytes as f64 * 8.0 / (frames as f64 / fps.as_f64()) / 1000.0
}

/// The mean over frames of the VMAF of `stream` (which encodes the `frames` frames of `packed`)
/// against them; `verifier` must measure VMAF.
pub fn mean_vmaf(verifier: &Verifier, frames: usize, packed: &[u8], stream: &[u8]) -> Result<f64> {
    let at = verifier
        .metrics()
        .iter()
        .position(|m| *m == MetricKind::Vmaf)
        .ok_or_else(|| {
            Error::Measure(format!(
                "the verifier measures {:?}, not VMAF",
                verifier.metrics()
            ))
        })?;
    let count = u32::try_from(frames)
        .map_err(|_| Error::Measure(format!("{frames} frames (expected at most {})", u32::MAX)))?;
    let scores = verifier
        .verify(count, packed, stream, Neighbours::default())
        .map_err(Error::Measure)?;
    Ok(scores.iter().map(|q| q.scores[at]).sum::<f64>() / scores.len().max(1) as f64)
}

/// One encode measured: its size, rate and VMAF.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measured {
    pub bytes: u64,
    pub kbps: f64,
    pub vmaf: f64,
}

/// Encodes `frames` (packed: `packed`) with `cfg` and measures the stream.
pub fn measure(
    cfg: &EncoderConfig,
    frames: &[Frame],
    packed: &[u8],
    verifier: &Verifier,
) -> Result<Measured> {
    let stream = encode(cfg, frames)?;
    let bytes = stream.len() as u64;
    Ok(Measured {
        bytes,
        kbps: kbps(bytes, frames.len(), cfg.source.fps),
        vmaf: mean_vmaf(verifier, frames.len(), packed, &stream)?,
    })
}

/// The first frames of one clip and what measuring x264 encodes of them needs (the per-title
/// ladder benchmarks).
pub struct Clip {
    /// The file name.
    pub name: String,
    pub info: VideoInfo,
    pub frames: Vec<Frame>,
    packed: Vec<u8>,
    /// The GOP of the ladder's trials (two per default segment), used by every encode here.
    pub gop: u32,
    verifier: Verifier,
    ffmpeg: Option<Ffmpeg>,
}

impl Clip {
    /// The first `frames` frames of `path`, measured by VMAF; `ffmpeg` runs x264 [default:
    /// `ffmpeg` on PATH].
    pub fn open(path: &Path, frames: usize, ffmpeg: Option<&Path>) -> Result<Self> {
        let (info, frames) = read_clip(path, frames)?;
        let verifier = Verifier::new(info, Codec::H264, ffmpeg, &[MetricKind::Vmaf])?;
        Ok(Self {
            name: path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned(),
            info,
            packed: pack(&frames),
            frames,
            gop: segment_gop(LadderOptions::default().segment_s, &info),
            verifier,
            ffmpeg: Ffmpeg::locate(ffmpeg),
        })
    }

    /// x264 medium with the trials' GOP; the rest comes from the rung or candidate.
    pub fn base_profile(&self) -> Profile {
        Profile {
            encoder: EncoderKind::X264,
            complexity: MEDIUM,
            gop: self.gop,
            ..Profile::default()
        }
    }

    /// Encodes every frame with `profile` in this process, on one thread, and measures the
    /// stream.
    pub fn measure(&self, profile: Profile) -> Result<Measured> {
        let cfg = EncoderConfig {
            profile,
            source: self.info,
            threads: 1,
            ffmpeg: self.ffmpeg.clone(),
        };
        measure(&cfg, &self.frames, &self.packed, &self.verifier)
    }
}
