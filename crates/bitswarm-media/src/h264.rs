//! H.264 inputs (MP4 track or raw Annex B) decoded in-process to frames.

use std::collections::VecDeque;
use std::io::{Read, Seek};

use bitswarm_codec::annexb::access_units;
use bitswarm_codec::Decoder;
use bitswarm_core::{Frame, Rational, VideoInfo};

use crate::mp4::Mp4Demuxer;
use crate::source::FrameSource;
use crate::y4m::read_full;
use crate::{Error, Result};

/// Anything that yields H.264 access units in decoding order, as Annex B.
pub trait AccessUnits: Send {
    fn next_access_unit(&mut self) -> Result<Option<Vec<u8>>>;

    /// Called once the first frame is decoded: the input will not be handed to ffmpeg.
    fn opened(&mut self) {}
}

impl<R: Read + Seek + Send> AccessUnits for Mp4Demuxer<R> {
    fn next_access_unit(&mut self) -> Result<Option<Vec<u8>>> {
        Mp4Demuxer::next_access_unit(self)
    }
}

/// Bytes read per refill of a raw Annex B stream.
const CHUNK: usize = 1 << 20;

/// Splits a raw Annex B byte stream into access units while reading it in chunks.
///
/// The last access unit in the buffer may still grow (more slices, or a NAL unit cut by the
/// chunk boundary), so it is only handed out once the next one starts or the input ends.
pub struct AnnexBReader<R: Read> {
    reader: R,
    /// Bytes read; those before `pos` have been handed out.
    buf: Vec<u8>,
    pos: usize,
    eof: bool,
    /// Bytes per read.
    chunk: usize,
    /// Every byte read so far, while recording (to replay the stream to ffmpeg).
    record: Option<Vec<u8>>,
}

impl<R: Read> AnnexBReader<R> {
    pub fn new(reader: R) -> Self {
        Self {
            reader,
            buf: Vec::new(),
            pos: 0,
            eof: false,
            chunk: CHUNK,
            record: None,
        }
    }

    /// Keeps a copy of everything read from now on, see [`AnnexBReader::into_replay`].
    pub(crate) fn record(&mut self) {
        self.record = Some(Vec::new());
    }

    /// The bytes recorded and the unread rest of the input (recording must have started
    /// before the first read).
    pub(crate) fn into_replay(self) -> (Vec<u8>, R) {
        (self.record.unwrap_or_default(), self.reader)
    }

    /// The next access unit, or `None` at the end of the input.
    pub fn next_access_unit(&mut self) -> Result<Option<Vec<u8>>> {
        loop {
            let rest = &self.buf[self.pos..];
            let mut aus = access_units(rest);
            let first = aus.next();
            let complete = aus.next().is_some() || self.eof;
            match first {
                Some(au) if complete => {
                    self.pos += au.as_ptr() as usize - rest.as_ptr() as usize + au.len();
                    return Ok(Some(au.to_vec()));
                }
                None if self.eof => return Ok(None),
                _ => self.fill()?,
            }
        }
    }

    fn fill(&mut self) -> Result<()> {
        self.buf.drain(..self.pos);
        self.pos = 0;
        let start = self.buf.len();
        self.buf.resize(start + self.chunk, 0);
        let n =
            read_full(&mut self.reader, &mut self.buf[start..]).map_err(|source| Error::Io {
                context: "cannot read H.264 input".into(),
                source,
            })?;
        self.buf.truncate(start + n);
        if let Some(record) = &mut self.record {
            record.extend_from_slice(&self.buf[start..]);
        }
        self.eof = n < self.chunk;
        Ok(())
    }
}

impl<R: Read + Send> AccessUnits for AnnexBReader<R> {
    fn next_access_unit(&mut self) -> Result<Option<Vec<u8>>> {
        AnnexBReader::next_access_unit(self)
    }

    fn opened(&mut self) {
        self.record = None;
    }
}

/// Frames decoded from an H.264 access-unit source.
pub struct H264Source<A: AccessUnits> {
    units: A,
    decoder: Box<dyn Decoder>,
    /// Decoded frames not yet returned, in display order.
    pending: VecDeque<Frame>,
    flushed: bool,
    info: VideoInfo,
    /// Frames returned so far.
    returned: u64,
    describe: String,
}

impl<A: AccessUnits> H264Source<A> {
    /// Decodes until the first frame is out, so that geometry is known and a stream the decoder
    /// cannot handle fails here. `fallback` gives the geometry if the stream has no picture at
    /// all (`None`: that is an error). `label` starts [`FrameSource::describe`].
    pub fn open(
        units: A,
        decoder: Box<dyn Decoder>,
        fps: Rational,
        fallback: Option<(u32, u32)>,
        label: &str,
    ) -> std::result::Result<Self, (Error, A)> {
        let mut source = Self {
            units,
            decoder,
            pending: VecDeque::new(),
            flushed: false,
            info: VideoInfo {
                width: 0,
                height: 0,
                fps,
            },
            returned: 0,
            describe: String::new(),
        };
        let geometry = match source.refill() {
            Ok(()) => source
                .pending
                .front()
                .map(|f| (f.width, f.height))
                .or(fallback)
                .ok_or(Error::NoPicture),
            Err(e) => Err(e),
        };
        let info = geometry.and_then(|(w, h)| Ok(VideoInfo::new(w, h, fps)?));
        match info {
            Ok(info) => {
                source.units.opened();
                source.info = info;
                source.describe = format!("{label} {}x{} {} fps", info.width, info.height, fps);
                Ok(source)
            }
            Err(e) => Err((e, source.units)),
        }
    }

    /// Decodes until a frame is pending or the stream is fully flushed.
    fn refill(&mut self) -> Result<()> {
        while self.pending.is_empty() && !self.flushed {
            match self.units.next_access_unit()? {
                Some(au) => self.pending.extend(self.decoder.decode(&au)?),
                None => {
                    self.pending.extend(self.decoder.flush()?);
                    self.flushed = true;
                }
            }
        }
        Ok(())
    }

    /// Appends a note to [`FrameSource::describe`].
    pub(crate) fn note(&mut self, note: &str) {
        self.describe.push(' ');
        self.describe.push_str(note);
    }
}

impl<A: AccessUnits> FrameSource for H264Source<A> {
    fn info(&self) -> VideoInfo {
        self.info
    }

    fn next_frame(&mut self) -> Result<Option<Frame>> {
        self.refill()?;
        let Some(frame) = self.pending.pop_front() else {
            return Ok(None);
        };
        if (frame.width, frame.height) != (self.info.width, self.info.height) {
            return Err(Error::SizeChange {
                index: self.returned,
                got: format!("{}x{}", frame.width, frame.height),
                expected: format!("{}x{}", self.info.width, self.info.height),
            });
        }
        self.returned += 1;
        Ok(Some(frame))
    }

    fn describe(&self) -> String {
        self.describe.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitswarm_codec::{open_encoder, EncoderConfig};
    use bitswarm_core::{Profile, VideoInfo};

    fn stream() -> Vec<u8> {
        let info = VideoInfo::new(64, 48, Rational::new(25, 1).unwrap()).unwrap();
        let cfg = EncoderConfig {
            profile: Profile {
                gop: 4,
                ..Profile::default()
            },
            source: info,
            threads: 1,
            ffmpeg: None,
        };
        let mut encoder = open_encoder(&cfg).unwrap();
        for i in 0..10 {
            encoder
                .send_frame(&Frame::filled(&info, 25 * i, 90, 160))
                .unwrap();
        }
        encoder.flush().unwrap();
        std::iter::from_fn(|| encoder.receive_packet().unwrap())
            .flat_map(|p| p.data)
            .collect()
    }

    #[test]
    fn access_units_are_whole_whatever_the_chunk_boundaries() {
        let bytes = stream();
        let expected: Vec<&[u8]> = access_units(&bytes).collect();
        assert_eq!(expected.len(), 10);
        for chunk in [1, 3, 7, 64, 1000, CHUNK] {
            let mut reader = AnnexBReader::new(&bytes[..]);
            reader.chunk = chunk;
            let mut got = Vec::new();
            while let Some(au) = reader.next_access_unit().unwrap() {
                got.push(au);
            }
            assert_eq!(got, expected, "chunk {chunk}");
        }
    }

    #[test]
    fn recording_replays_what_was_read_until_opened() {
        let bytes = stream();
        let mut reader = AnnexBReader::new(&bytes[..]);
        reader.chunk = 100;
        reader.record();
        reader.next_access_unit().unwrap().unwrap();
        let (replay, rest) = reader.into_replay();
        assert_eq!([replay, rest.to_vec()].concat(), bytes);

        let mut reader = AnnexBReader::new(&bytes[..]);
        reader.record();
        AccessUnits::opened(&mut reader);
        while reader.next_access_unit().unwrap().is_some() {}
        assert!(reader.into_replay().0.is_empty());
    }
}
