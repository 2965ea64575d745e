//! Opening an input: sniff its first bytes, then read it natively or through ffmpeg.

use std::fs::File;
use std::io::{self, Cursor, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use bitswarm_codec::OpenH264Decoder;
use bitswarm_core::{Frame, Rational, VideoInfo};

use crate::ffmpeg::{self, FfmpegInput, FfmpegSource};
use crate::h264::{AccessUnits, AnnexBReader, H264Source};
use crate::mp4::Mp4Demuxer;
use crate::y4m::{self, read_full, Y4mReader};
use crate::{Error, Result};

/// A pull source of raw frames, all of one size.
pub trait FrameSource: Send {
    /// Geometry and frame rate of every frame.
    fn info(&self) -> VideoInfo;
    /// The next frame in display order; `None` at the end.
    fn next_frame(&mut self) -> Result<Option<Frame>>;
    /// What is being read and how, for logs: `"Y4M 640x360 25 fps"`.
    fn describe(&self) -> String;
}

/// How [`open_input`] reads inputs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InputOptions {
    /// The ffmpeg binary for formats bitswarm does not read itself; `None`: `ffmpeg` on `PATH`
    /// if there is one.
    pub ffmpeg: Option<PathBuf>,
    /// Never run ffmpeg, even if there is one (only the native readers).
    pub no_ffmpeg: bool,
    /// Frame rate of raw Annex B H.264 input, which carries none; `None`: 25 fps, with a note in
    /// [`FrameSource::describe`]. Other inputs state their own rate and ignore this.
    pub fps: Option<Rational>,
}

/// What the first bytes of an input say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    Y4m,
    /// ISO base media file (MP4, MOV): starts with an `ftyp` box (or, in old QuickTime files,
    /// `moov`, `mdat`, `wide`, `free` or `skip`).
    Mp4,
    /// Raw H.264: a start code, then an SPS, an access unit delimiter or an SEI.
    AnnexB,
    Unknown,
}

/// Bytes [`sniff`] looks at.
pub const SNIFF_LEN: usize = 64;

/// Classifies an input by its first bytes (up to [`SNIFF_LEN`]).
pub fn sniff(head: &[u8]) -> InputFormat {
    if head.starts_with(y4m::MAGIC) {
        return InputFormat::Y4m;
    }
    if let Some(kind) = head.get(4..8) {
        if [&b"ftyp"[..], b"moov", b"mdat", b"wide", b"free", b"skip"].contains(&kind) {
            return InputFormat::Mp4;
        }
    }
    let zeros = head.iter().take_while(|&&b| b == 0).count();
    if zeros >= 2 && head.get(zeros) == Some(&1) {
        if let Some(&header) = head.get(zeros + 1) {
            let (forbidden, ref_idc, kind) = (header >> 7, (header >> 5) & 3, header & 0x1f);
            // SPS, or AUD/SEI (which never have nal_ref_idc set). This rejects MPEG-1/2 video
            // and program streams (their start-code byte has the top bit set) and HEVC.
            if forbidden == 0 && (kind == 7 || (matches!(kind, 6 | 9) && ref_idc == 0)) {
                return InputFormat::AnnexB;
            }
        }
    }
    InputFormat::Unknown
}

impl<R: Read + Send> FrameSource for Y4mReader<R> {
    fn info(&self) -> VideoInfo {
        Y4mReader::info(self)
    }

    fn next_frame(&mut self) -> Result<Option<Frame>> {
        Y4mReader::next_frame(self)
    }

    fn describe(&self) -> String {
        let info = Y4mReader::info(self);
        format!("Y4M {}x{} {} fps", info.width, info.height, info.fps)
    }
}

/// Opens `path` (`"-"`: standard input) as a frame source, choosing the reader by content:
/// Y4M natively; H.264 in MP4/MOV or raw Annex B through OpenH264; anything else (or H.264
/// that OpenH264 fails on) through ffmpeg when one is available.
pub fn open_input(path: &str, opts: &InputOptions) -> Result<Box<dyn FrameSource>> {
    if path == "-" {
        return open_stream(io::stdin(), "stdin", opts);
    }
    let ffmpeg = find_ffmpeg(opts);
    let ffmpeg = ffmpeg.as_deref();
    let mut file = File::open(path).map_err(|e| Error::Open {
        path: path.to_owned(),
        reason: crate::io_reason(&e),
    })?;
    let read_err = |source| Error::Io {
        context: format!("cannot read {path}"),
        source,
    };
    let mut head = vec![0; SNIFF_LEN];
    let n = read_full(&mut file, &mut head).map_err(read_err)?;
    head.truncate(n);
    file.seek(SeekFrom::Start(0)).map_err(read_err)?;
    let by_path = FfmpegInput::Path(PathBuf::from(path));
    match sniff(&head) {
        _ if head.is_empty() => Err(Error::EmptyInput(path.to_owned())),
        InputFormat::Y4m => Ok(Box::new(Y4mReader::new(file)?)),
        InputFormat::Mp4 => open_mp4(file, ffmpeg, |_| by_path),
        InputFormat::AnnexB => open_annexb(AnnexBReader::new(file), opts, ffmpeg, |_| by_path),
        InputFormat::Unknown => fallback(ffmpeg, by_path, unknown(&head)),
    }
}

fn find_ffmpeg(opts: &InputOptions) -> Option<PathBuf> {
    if opts.no_ffmpeg {
        None
    } else {
        ffmpeg::locate(opts.ffmpeg.as_deref())
    }
}

/// Like [`open_input`] for a stream that cannot seek (a pipe, standard input): the sniffed
/// bytes are chained back in front of it. `name` names it in errors. MP4 is read into memory
/// first (its index may sit at the end).
pub fn open_stream(
    mut stream: impl Read + Send + 'static,
    name: &str,
    opts: &InputOptions,
) -> Result<Box<dyn FrameSource>> {
    let ffmpeg = find_ffmpeg(opts);
    let ffmpeg = ffmpeg.as_deref();
    let read_err = |source| Error::Io {
        context: format!("cannot read {name}"),
        source,
    };
    let mut head = vec![0; SNIFF_LEN];
    let n = read_full(&mut stream, &mut head).map_err(read_err)?;
    head.truncate(n);
    let format = sniff(&head);
    let whole = Cursor::new(head.clone()).chain(stream);
    match format {
        _ if head.is_empty() => Err(Error::EmptyInput(name.to_owned())),
        InputFormat::Y4m => Ok(Box::new(Y4mReader::new(whole)?)),
        InputFormat::Mp4 => {
            let mut data = Vec::new();
            let mut whole = whole;
            whole.read_to_end(&mut data).map_err(read_err)?;
            open_mp4(Cursor::new(data), ffmpeg, |cursor: Cursor<Vec<u8>>| {
                FfmpegInput::Piped {
                    head: cursor.into_inner(),
                    rest: None,
                }
            })
        }
        InputFormat::AnnexB => {
            let mut reader = AnnexBReader::new(whole);
            if ffmpeg.is_some() {
                reader.record();
            }
            open_annexb(reader, opts, ffmpeg, |reader| {
                let (head, rest) = reader.into_replay();
                FfmpegInput::Piped {
                    head,
                    rest: Some(Box::new(rest)),
                }
            })
        }
        InputFormat::Unknown => {
            let why = unknown(&head);
            let (_, stream) = whole.into_inner();
            fallback(
                ffmpeg,
                FfmpegInput::Piped {
                    head,
                    rest: Some(Box::new(stream)),
                },
                why,
            )
        }
    }
}

fn unknown(head: &[u8]) -> String {
    format!(
        "input starts with {}",
        y4m::printable(&head[..head.len().min(16)])
    )
}

/// The ffmpeg source if there is an ffmpeg, else the "unsupported" error saying `why`.
fn fallback(
    ffmpeg: Option<&Path>,
    input: FfmpegInput,
    why: String,
) -> Result<Box<dyn FrameSource>> {
    match ffmpeg {
        Some(binary) => Ok(Box::new(FfmpegSource::spawn(binary, input, &why)?)),
        None => Err(Error::UnsupportedInput(why)),
    }
}

fn open_mp4<R: Read + Seek + Send + 'static>(
    reader: R,
    ffmpeg: Option<&Path>,
    to_ffmpeg: impl FnOnce(R) -> FfmpegInput,
) -> Result<Box<dyn FrameSource>> {
    let demuxer = Mp4Demuxer::new(reader)?;
    let track = demuxer.track();
    if !track.is_h264() {
        let why = format!(
            "MP4 with '{}' video",
            crate::bmff::fourcc_str(track.sample_entry)
        );
        return fallback(ffmpeg, to_ffmpeg(demuxer.into_inner()), why);
    }
    // A track without samples has no durations to take a rate from; it yields no frame anyway.
    let fps = if track.samples.is_empty() {
        Rational { num: 25, den: 1 }
    } else {
        track.frame_rate()?
    };
    let geometry = (u32::from(track.width), u32::from(track.height));
    let label = "MP4 H.264";
    decode_or_fallback(
        demuxer,
        fps,
        Some(geometry),
        label,
        "(OpenH264)",
        ffmpeg,
        |d| to_ffmpeg(d.into_inner()),
    )
}

fn open_annexb<R: Read + Send + 'static>(
    reader: AnnexBReader<R>,
    opts: &InputOptions,
    ffmpeg: Option<&Path>,
    to_ffmpeg: impl FnOnce(AnnexBReader<R>) -> FfmpegInput,
) -> Result<Box<dyn FrameSource>> {
    let fps = opts.fps.unwrap_or(Rational { num: 25, den: 1 });
    let note = if opts.fps.is_some() {
        "(OpenH264)"
    } else {
        "(OpenH264; frame rate assumed, raw H.264 carries none)"
    };
    decode_or_fallback(reader, fps, None, "H.264 Annex B", note, ffmpeg, to_ffmpeg)
}

/// Decodes `units` with OpenH264; if that fails before the first frame and there is an ffmpeg,
/// hands the input to ffmpeg instead.
fn decode_or_fallback<A: AccessUnits + 'static>(
    units: A,
    fps: Rational,
    geometry: Option<(u32, u32)>,
    label: &str,
    note: &str,
    ffmpeg: Option<&Path>,
    to_ffmpeg: impl FnOnce(A) -> FfmpegInput,
) -> Result<Box<dyn FrameSource>> {
    let decoder = Box::new(OpenH264Decoder::new()?);
    match H264Source::open(units, decoder, fps, geometry, label) {
        Ok(mut source) => {
            source.note(note);
            Ok(Box::new(source))
        }
        Err((e, units)) => match ffmpeg {
            Some(binary) => {
                tracing::warn!(%e, input = label, "OpenH264 cannot decode the input, trying ffmpeg");
                let why = format!("OpenH264 failed: {e}");
                Ok(Box::new(FfmpegSource::spawn(
                    binary,
                    to_ffmpeg(units),
                    &why,
                )?))
            }
            None => Err(e),
        },
    }
}
