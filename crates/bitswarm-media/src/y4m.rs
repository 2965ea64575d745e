//! Streaming YUV4MPEG2 (Y4M) reader and writer, 8-bit 4:2:0 only.
//!
//! The reader parses the stream header once, then reads one frame per call, so a file of any
//! length costs one frame of memory. Frame numbers in errors count from 0.

use std::io::{self, BufRead, BufReader, Read, Write};

use bitswarm_core::{Frame, Rational, VideoInfo};

use crate::{Error, Result};

/// First bytes of every Y4M stream (followed by a space and the header tags).
pub const MAGIC: &[u8] = b"YUV4MPEG2";

/// Colour-space tags we read: all 8-bit 4:2:0, differing only in chroma siting.
const SUPPORTED_COLOUR_SPACES: [&str; 4] = ["420", "420jpeg", "420paldv", "420mpeg2"];

/// Longest header or `FRAME` line we accept, so garbage input cannot make us buffer without end.
const MAX_LINE: usize = 64 * 1024;

/// Reads a Y4M stream frame by frame.
pub struct Y4mReader<R: Read> {
    reader: BufReader<R>,
    info: VideoInfo,
    /// Index of the next frame [`Y4mReader::next_frame`] returns.
    frame_index: u64,
}

impl<R: Read> Y4mReader<R> {
    /// Reads and validates the stream header.
    pub fn new(reader: R) -> Result<Self> {
        let mut reader = BufReader::new(reader);
        let header = read_line(&mut reader, "Y4M header")?;
        let Some(header) = header else {
            return Err(Error::NotY4m("empty input".into()));
        };
        let info = parse_header(&header)?;
        Ok(Self {
            reader,
            info,
            frame_index: 0,
        })
    }

    /// Geometry and frame rate from the header.
    pub fn info(&self) -> VideoInfo {
        self.info
    }

    /// The next frame, or `None` at a clean end of stream (end of input right after a frame).
    pub fn next_frame(&mut self) -> Result<Option<Frame>> {
        let index = self.frame_index;
        let Some(line) = read_line(&mut self.reader, "Y4M FRAME line")? else {
            return Ok(None);
        };
        // `FRAME` may carry per-frame parameters after a space; we use none of them.
        if line != b"FRAME" && !line.starts_with(b"FRAME ") {
            return Err(Error::BadFrameLine {
                index,
                line: printable(&line),
            });
        }
        let mut frame = Frame::filled(&self.info, 0, 0, 0);
        let expected = frame.len();
        let mut got = 0;
        for plane in [&mut frame.y, &mut frame.u, &mut frame.v] {
            let n = read_full(&mut self.reader, plane).map_err(|source| Error::Io {
                context: format!("cannot read Y4M frame {index}"),
                source,
            })?;
            got += n;
            if n < plane.len() {
                return Err(Error::TruncatedFrame {
                    index,
                    got,
                    expected,
                });
            }
        }
        self.frame_index += 1;
        Ok(Some(frame))
    }
}

/// Writes a Y4M stream: the header on creation, then one frame per call.
pub struct Y4mWriter<W: Write> {
    writer: W,
    info: VideoInfo,
}

impl<W: Write> Y4mWriter<W> {
    /// Writes the stream header (`C420jpeg`, progressive, square pixels).
    pub fn new(mut writer: W, info: &VideoInfo) -> Result<Self> {
        let info = VideoInfo::new(info.width, info.height, info.fps)?;
        writeln!(
            writer,
            "YUV4MPEG2 W{} H{} F{}:{} Ip A1:1 C420jpeg",
            info.width, info.height, info.fps.num, info.fps.den
        )
        .map_err(|source| Error::Io {
            context: "cannot write Y4M header".into(),
            source,
        })?;
        Ok(Self { writer, info })
    }

    /// Appends one frame; its size must match the header.
    pub fn write_frame(&mut self, frame: &Frame) -> Result<()> {
        if frame.width != self.info.width
            || frame.height != self.info.height
            || frame.len() != self.info.frame_len()
        {
            return Err(Error::FrameMismatch {
                got: format!("{}x{} ({} bytes)", frame.width, frame.height, frame.len()),
                expected: format!(
                    "{}x{} ({} bytes)",
                    self.info.width,
                    self.info.height,
                    self.info.frame_len()
                ),
            });
        }
        let io = |source| Error::Io {
            context: "cannot write Y4M frame".into(),
            source,
        };
        self.writer.write_all(b"FRAME\n").map_err(io)?;
        for plane in [&frame.y, &frame.u, &frame.v] {
            self.writer.write_all(plane).map_err(io)?;
        }
        Ok(())
    }

    /// Flushes and returns the inner writer.
    pub fn finish(mut self) -> Result<W> {
        self.writer.flush().map_err(|source| Error::Io {
            context: "cannot flush Y4M output".into(),
            source,
        })?;
        Ok(self.writer)
    }
}

/// Parses a header line (without its newline) into validated geometry.
fn parse_header(line: &[u8]) -> Result<VideoInfo> {
    let Some(rest) = line.strip_prefix(MAGIC) else {
        return Err(Error::NotY4m(format!(
            "starts with {} instead of \"YUV4MPEG2\"",
            printable(&line[..line.len().min(MAGIC.len())])
        )));
    };
    if !rest.is_empty() && rest[0] != b' ' {
        return Err(Error::NotY4m(format!(
            "magic followed by {} instead of a space",
            printable(&rest[..1])
        )));
    }
    let text = std::str::from_utf8(rest)
        .map_err(|_| Error::Y4mHeader("header is not ASCII text".into()))?;
    let (mut width, mut height, mut fps) = (None, None, None);
    for tag in text.split(' ').filter(|t| !t.is_empty()) {
        let mut chars = tag.chars();
        let key = chars.next();
        let value = chars.as_str();
        match key {
            Some('W') => width = Some(parse_number(value, "width (W)")?),
            Some('H') => height = Some(parse_number(value, "height (H)")?),
            Some('F') => {
                let (num, den) = value.split_once(':').ok_or_else(|| {
                    Error::Y4mHeader(format!("bad frame rate F{value} (expected F<num>:<den>)"))
                })?;
                let num = parse_number(num, "frame-rate numerator (F)")?;
                let den = parse_number(den, "frame-rate denominator (F)")?;
                fps = Some(Rational::new(num, den)?);
            }
            Some('C') => {
                if !SUPPORTED_COLOUR_SPACES.contains(&value) {
                    return Err(Error::UnsupportedColourSpace(tag.to_owned()));
                }
            }
            // Interlacing, pixel aspect ratio and extensions do not change the sample layout.
            Some('I' | 'A' | 'X') => {}
            _ => tracing::debug!(tag, "ignoring unknown Y4M header tag"),
        }
    }
    let missing = |what: &str| Error::Y4mHeader(format!("missing {what}"));
    let width = width.ok_or_else(|| missing("width (W tag)"))?;
    let height = height.ok_or_else(|| missing("height (H tag)"))?;
    let fps = fps.ok_or_else(|| missing("frame rate (F tag)"))?;
    Ok(VideoInfo::new(width, height, fps)?)
}

fn parse_number(value: &str, what: &str) -> Result<u32> {
    value
        .parse()
        .map_err(|_| Error::Y4mHeader(format!("bad {what} {value:?} (expected an integer)")))
}

/// Reads up to a `\n` (not included). `None` at end of input before any byte.
fn read_line<R: Read>(reader: &mut BufReader<R>, what: &str) -> Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    let io = |source| Error::Io {
        context: format!("cannot read {what}"),
        source,
    };
    loop {
        let buf = reader.fill_buf().map_err(io)?;
        if buf.is_empty() {
            if line.is_empty() {
                return Ok(None);
            }
            return Err(Error::UnterminatedLine {
                what: what.to_owned(),
                start: printable(&line[..line.len().min(32)]),
            });
        }
        let (chunk, found) = match buf.iter().position(|&b| b == b'\n') {
            Some(pos) => (&buf[..pos], true),
            None => (buf, false),
        };
        line.extend_from_slice(chunk);
        let consumed = chunk.len() + usize::from(found);
        reader.consume(consumed);
        if line.len() > MAX_LINE {
            // Only a stream without a line break in the first bytes gets here: say what it starts with.
            return Err(if what == "Y4M header" && !line.starts_with(MAGIC) {
                Error::NotY4m(format!(
                    "starts with {} instead of \"YUV4MPEG2\"",
                    printable(&line[..MAGIC.len()])
                ))
            } else {
                Error::UnterminatedLine {
                    what: what.to_owned(),
                    start: printable(&line[..32]),
                }
            });
        }
        if found {
            return Ok(Some(line));
        }
    }
}

/// Fills `buf` as far as the input allows; returns the bytes read (short only at end of input).
pub(crate) fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Bytes as a quoted string with non-printable bytes escaped, for error messages.
pub(crate) fn printable(bytes: &[u8]) -> String {
    format!("\"{}\"", bytes.escape_ascii())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> VideoInfo {
        VideoInfo::new(32, 16, Rational::new(30000, 1001).unwrap()).unwrap()
    }

    fn pattern_frame(info: &VideoInfo, seed: u8) -> Frame {
        let data: Vec<u8> = (0..info.frame_len())
            .map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed))
            .collect();
        Frame::from_packed(info, &data).unwrap()
    }

    fn read_all(bytes: &[u8]) -> Result<(VideoInfo, Vec<Frame>)> {
        let mut reader = Y4mReader::new(bytes)?;
        let mut frames = Vec::new();
        while let Some(frame) = reader.next_frame()? {
            frames.push(frame);
        }
        Ok((reader.info(), frames))
    }

    fn header_error(header: &str) -> String {
        let bytes = format!("{header}\nFRAME\n");
        match Y4mReader::new(bytes.as_bytes()) {
            Ok(_) => panic!("header {header:?} was accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn writer_output_reads_back_frame_for_frame() {
        let info = info();
        let frames: Vec<Frame> = (0..3).map(|s| pattern_frame(&info, s * 50)).collect();
        let mut writer = Y4mWriter::new(Vec::new(), &info).unwrap();
        for f in &frames {
            writer.write_frame(f).unwrap();
        }
        let bytes = writer.finish().unwrap();
        assert!(bytes.starts_with(b"YUV4MPEG2 W32 H16 F30000:1001 Ip A1:1 C420jpeg\nFRAME\n"));
        let (back_info, back) = read_all(&bytes).unwrap();
        assert_eq!(back_info, info);
        assert_eq!(back, frames);
    }

    #[test]
    fn every_420_tag_and_no_tag_is_accepted_and_extensions_ignored() {
        let info = info();
        let frame = pattern_frame(&info, 3);
        for c in ["", " C420", " C420jpeg", " C420paldv", " C420mpeg2"] {
            let mut bytes =
                format!("YUV4MPEG2 W32 H16 F30000:1001 It A10:11 XYSCSS=420JPEG{c} Zfuture\n")
                    .into_bytes();
            bytes.extend_from_slice(b"FRAME Ixyz\n");
            frame.write_packed(&mut bytes);
            let (got_info, frames) = read_all(&bytes).unwrap();
            assert_eq!(got_info, info, "{c}");
            assert_eq!(frames, vec![frame.clone()], "{c}");
        }
    }

    #[test]
    fn header_errors_name_the_problem() {
        assert_eq!(
            header_error("RIFF1234 W32"),
            "not a Y4M stream: starts with \"RIFF1234 \" instead of \"YUV4MPEG2\""
        );
        assert_eq!(
            header_error("YUV4MPEG2X W32"),
            "not a Y4M stream: magic followed by \"X\" instead of a space"
        );
        assert_eq!(
            header_error("YUV4MPEG2 H16 F25:1"),
            "bad Y4M header: missing width (W tag)"
        );
        assert_eq!(
            header_error("YUV4MPEG2 W32 F25:1"),
            "bad Y4M header: missing height (H tag)"
        );
        assert_eq!(
            header_error("YUV4MPEG2 W32 H16"),
            "bad Y4M header: missing frame rate (F tag)"
        );
        assert_eq!(
            header_error("YUV4MPEG2 Wabc H16 F25:1"),
            "bad Y4M header: bad width (W) \"abc\" (expected an integer)"
        );
        assert_eq!(
            header_error("YUV4MPEG2 W32 H16 F25"),
            "bad Y4M header: bad frame rate F25 (expected F<num>:<den>)"
        );
        let supported = "(bitswarm reads 8-bit 4:2:0: C420, C420jpeg, C420paldv, C420mpeg2)";
        for c in ["C444", "C422", "C420p10", "Cmono"] {
            assert_eq!(
                header_error(&format!("YUV4MPEG2 W32 H16 F25:1 {c}")),
                format!("unsupported colour space {c} {supported}")
            );
        }
        assert_eq!(
            header_error("YUV4MPEG2 W33 H16 F25:1"),
            "invalid width 33 (expected an even number in 16..=8192)"
        );
        assert_eq!(
            header_error("YUV4MPEG2 W32 H8194 F25:1"),
            "invalid height 8194 (expected an even number in 16..=8192)"
        );
        assert_eq!(
            header_error("YUV4MPEG2 W32 H16 F0:1"),
            "invalid frame rate 0/1 (expected a positive fraction)"
        );
        assert_eq!(
            header_error("YUV4MPEG2 W32 H16 F25:0"),
            "invalid frame rate 25/0 (expected a positive fraction)"
        );
    }

    #[test]
    fn empty_unterminated_and_binary_inputs_are_rejected() {
        let err = |bytes: &[u8]| Y4mReader::new(bytes).err().unwrap().to_string();
        assert_eq!(err(b""), "not a Y4M stream: empty input");
        assert_eq!(
            err(b"YUV4MPEG2 W32 H16"),
            "unterminated Y4M header (no line break after \"YUV4MPEG2 W32 H16\")"
        );
        let garbage = vec![0xffu8; MAX_LINE + 10];
        assert_eq!(
            err(&garbage),
            "not a Y4M stream: starts with \"\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\" instead of \"YUV4MPEG2\""
        );
    }

    #[test]
    fn header_only_stream_has_zero_frames() {
        let (_, frames) = read_all(b"YUV4MPEG2 W32 H16 F25:1\n").unwrap();
        assert!(frames.is_empty());
    }

    #[test]
    fn truncated_frame_names_its_index_and_sizes() {
        let info = info();
        let mut bytes = b"YUV4MPEG2 W32 H16 F25:1\n".to_vec();
        for seed in 0..2 {
            bytes.extend_from_slice(b"FRAME\n");
            pattern_frame(&info, seed).write_packed(&mut bytes);
        }
        bytes.extend_from_slice(b"FRAME\n");
        bytes.extend_from_slice(&[9; 700]);
        let mut reader = Y4mReader::new(&bytes[..]).unwrap();
        assert!(reader.next_frame().unwrap().is_some());
        assert!(reader.next_frame().unwrap().is_some());
        assert_eq!(
            reader.next_frame().unwrap_err().to_string(),
            "truncated frame 2: got 700 of 768 bytes"
        );
    }

    #[test]
    fn bad_frame_line_is_reported() {
        let info = info();
        let mut bytes = b"YUV4MPEG2 W32 H16 F25:1\nFRAME\n".to_vec();
        pattern_frame(&info, 1).write_packed(&mut bytes);
        bytes.extend_from_slice(b"FRAMX\n");
        let mut reader = Y4mReader::new(&bytes[..]).unwrap();
        reader.next_frame().unwrap();
        assert_eq!(
            reader.next_frame().unwrap_err().to_string(),
            "bad FRAME line before frame 1: \"FRAMX\""
        );
        let mut reader = Y4mReader::new(&b"YUV4MPEG2 W32 H16 F25:1\nFRA"[..]).unwrap();
        assert_eq!(
            reader.next_frame().unwrap_err().to_string(),
            "unterminated Y4M FRAME line (no line break after \"FRA\")"
        );
    }

    #[test]
    fn writer_rejects_a_frame_of_another_size() {
        let info = info();
        let other = VideoInfo::new(16, 16, info.fps).unwrap();
        let mut writer = Y4mWriter::new(Vec::new(), &info).unwrap();
        assert_eq!(
            writer
                .write_frame(&Frame::filled(&other, 1, 2, 3))
                .unwrap_err()
                .to_string(),
            "frame is 16x16 (384 bytes), expected 32x16 (768 bytes)"
        );
    }
}
