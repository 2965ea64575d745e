//! MP4/MOV demuxer for the first video track: sample table in memory, samples read on demand.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};

use bitswarm_codec::annexb::{length_prefixed_to_annexb, nal_units, NalType};
use bitswarm_core::Rational;

use super::AvcConfig;
use crate::bmff::{self, fourcc_str, ByteReader, FourCc};
use crate::{Error, Result};

/// Largest `moov` box we load (a two-hour film's sample table is a few MiB).
const MAX_MOOV: u64 = 256 << 20;

/// One sample (for video, one access unit) of a track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleInfo {
    /// Byte offset in the file.
    pub offset: u64,
    pub size: u32,
    /// Duration in the track's timescale.
    pub duration: u32,
    /// A random-access point (listed in `stss`, or every sample when there is no `stss`).
    pub sync: bool,
}

/// The video track of an MP4 file.
#[derive(Debug, Clone)]
pub struct VideoTrack {
    /// Sample-entry type: `avc1`, `avc3`, `hvc1`, `mp4v`, ...
    pub sample_entry: FourCc,
    /// Size from the sample entry (the decoder's output may be cropped differently).
    pub width: u16,
    pub height: u16,
    /// Ticks per second of sample durations.
    pub timescale: u32,
    /// H.264 decoder configuration (`avcC`), for `avc1`/`avc3` tracks.
    pub avc: Option<AvcConfig>,
    /// Every sample in decoding order.
    pub samples: Vec<SampleInfo>,
}

impl VideoTrack {
    /// True for H.264 (`avc1` or `avc3` with an `avcC` box).
    pub fn is_h264(&self) -> bool {
        matches!(&self.sample_entry, b"avc1" | b"avc3") && self.avc.is_some()
    }

    /// The frame rate: the timescale over the most common sample duration (so one odd last
    /// sample, as B-frame streams often have, does not skew it).
    pub fn frame_rate(&self) -> Result<Rational> {
        let mut counts: HashMap<u32, usize> = HashMap::new();
        for s in &self.samples {
            *counts.entry(s.duration).or_default() += 1;
        }
        let duration = counts
            .into_iter()
            .max_by_key(|&(duration, count)| (count, duration))
            .map(|(duration, _)| duration)
            .unwrap_or(0);
        let g = gcd(self.timescale, duration);
        Rational::new(self.timescale / g.max(1), duration / g.max(1)).map_err(|_| {
            Error::Mp4(format!(
                "cannot derive a frame rate from timescale {} and sample duration {duration}",
                self.timescale
            ))
        })
    }
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Reads the first video track of an MP4/MOV file, one access unit at a time.
pub struct Mp4Demuxer<R: Read + Seek> {
    reader: R,
    track: VideoTrack,
    next: usize,
}

impl<R: Read + Seek> Mp4Demuxer<R> {
    /// Finds the `moov` box, parses the first video track and checks every sample lies inside
    /// the input (a truncated file fails here, not halfway through decoding).
    pub fn new(mut reader: R) -> Result<Self> {
        let len = reader.seek(SeekFrom::End(0)).map_err(mp4_io)?;
        let moov = read_moov(&mut reader, len)?;
        let track = parse_moov(&moov)?;
        let n = track.samples.len();
        for (i, s) in track.samples.iter().enumerate() {
            let end = s.offset.saturating_add(u64::from(s.size));
            if end > len {
                return Err(Error::TruncatedMp4(format!(
                    "sample {i} of {n} ends at byte {end} but the input has {len} bytes"
                )));
            }
        }
        Ok(Self {
            reader,
            track,
            next: 0,
        })
    }

    pub fn track(&self) -> &VideoTrack {
        &self.track
    }

    /// The input, given back.
    pub fn into_inner(self) -> R {
        self.reader
    }

    /// The raw bytes of sample `index` (length-prefixed NAL units for H.264).
    pub fn read_sample(&mut self, index: usize) -> Result<Vec<u8>> {
        let s = self.track.samples.get(index).ok_or_else(|| {
            Error::Mp4(format!(
                "no sample {index} (the track has {})",
                self.track.samples.len()
            ))
        })?;
        read_at(&mut self.reader, s)
    }

    /// The next access unit in decoding order as Annex B, with the `avcC` parameter sets put in
    /// front of sync samples that carry none of their own. `None` after the last sample.
    pub fn next_access_unit(&mut self) -> Result<Option<Vec<u8>>> {
        let index = self.next;
        let Some(info) = self.track.samples.get(index) else {
            return Ok(None);
        };
        let avc = self.track.avc.as_ref().ok_or_else(|| {
            Error::Mp4(format!(
                "the video track is '{}', not H.264",
                fourcc_str(self.track.sample_entry)
            ))
        })?;
        let sample = read_at(&mut self.reader, info)?;
        let nals = length_prefixed_to_annexb(&sample, usize::from(avc.nal_length_size))
            .map_err(|e| Error::Mp4(format!("sample {index}: {e}")))?;
        let has_sps = nal_units(&nals).any(|n| n.nal_type() == NalType::Sps);
        let au = if info.sync && !has_sps {
            let mut au = Vec::with_capacity(nals.len() + 64);
            for ps in avc.sps.iter().chain(&avc.pps) {
                au.extend_from_slice(&[0, 0, 0, 1]);
                au.extend_from_slice(ps);
            }
            au.extend_from_slice(&nals);
            au
        } else {
            nals
        };
        self.next += 1;
        Ok(Some(au))
    }
}

fn read_at<R: Read + Seek>(reader: &mut R, s: &SampleInfo) -> Result<Vec<u8>> {
    let mut data = vec![0; s.size as usize];
    reader.seek(SeekFrom::Start(s.offset)).map_err(mp4_io)?;
    reader.read_exact(&mut data).map_err(mp4_io)?;
    Ok(data)
}

fn mp4_io(source: std::io::Error) -> Error {
    Error::Io {
        context: "cannot read MP4 input".into(),
        source,
    }
}

/// Walks the top-level boxes and returns the payload of `moov`.
fn read_moov<R: Read + Seek>(reader: &mut R, len: u64) -> Result<Vec<u8>> {
    let mut pos = 0u64;
    while pos < len {
        reader.seek(SeekFrom::Start(pos)).map_err(mp4_io)?;
        let mut head = [0u8; 16];
        let want = (len - pos).min(16) as usize;
        reader.read_exact(&mut head[..want]).map_err(mp4_io)?;
        let header = bmff::parse_header(&head[..want], len - pos)
            .map_err(|e| Error::TruncatedMp4(format!("at byte {pos}: {e}")))?;
        if header.size > len - pos {
            return Err(Error::TruncatedMp4(format!(
                "the '{}' box at byte {pos} declares {} bytes but only {} remain{}",
                fourcc_str(header.kind),
                header.size,
                len - pos,
                if header.kind == *b"moov" {
                    ""
                } else {
                    " (and no 'moov' box came before it)"
                }
            )));
        }
        if header.kind == *b"moov" {
            if header.size > MAX_MOOV {
                return Err(Error::Mp4(format!(
                    "'moov' box of {} bytes is larger than the {MAX_MOOV} we read",
                    header.size
                )));
            }
            let mut moov = vec![0; (header.size - header.header_len as u64) as usize];
            reader
                .seek(SeekFrom::Start(pos + header.header_len as u64))
                .map_err(mp4_io)?;
            reader.read_exact(&mut moov).map_err(mp4_io)?;
            return Ok(moov);
        }
        pos += header.size;
    }
    Err(Error::Mp4("no 'moov' box".into()))
}

/// Parses the first video track of a `moov` payload.
fn parse_moov(moov: &[u8]) -> Result<VideoTrack> {
    if bmff::find_child(moov, *b"mvex")?.is_some() {
        return Err(Error::Mp4(
            "fragmented MP4 (samples in 'moof' fragments) is not supported".into(),
        ));
    }
    for (kind, trak) in bmff::child_boxes(moov)? {
        if kind != *b"trak" {
            continue;
        }
        let mdia = bmff::require_child(trak, *b"mdia", *b"trak")?;
        let hdlr = bmff::require_child(mdia, *b"hdlr", *b"mdia")?;
        let mut r = ByteReader::new(hdlr, *b"hdlr");
        r.skip(8)?; // version, flags, pre_defined
        if r.bytes(4)? != b"vide" {
            continue;
        }
        return parse_video_mdia(mdia);
    }
    Err(Error::Mp4("no video track".into()))
}

fn parse_video_mdia(mdia: &[u8]) -> Result<VideoTrack> {
    let mdhd = bmff::require_child(mdia, *b"mdhd", *b"mdia")?;
    let mut r = ByteReader::new(mdhd, *b"mdhd");
    let (version, _) = r.version_flags()?;
    r.skip(if version == 1 { 16 } else { 8 })?; // creation and modification times
    let timescale = r.u32()?;
    let minf = bmff::require_child(mdia, *b"minf", *b"mdia")?;
    let stbl = bmff::require_child(minf, *b"stbl", *b"minf")?;

    let stsd = bmff::require_child(stbl, *b"stsd", *b"stbl")?;
    let mut r = ByteReader::new(stsd, *b"stsd");
    r.version_flags()?;
    r.entry_count(8)?;
    let entries = bmff::child_boxes(r.rest())?;
    let (sample_entry, entry) = *entries
        .first()
        .ok_or_else(|| Error::Mp4("'stsd' box has no sample entry".into()))?;
    // VisualSampleEntry: 6 reserved, data_reference_index, 16 pre-defined/reserved, width, height,
    // then 50 bytes (resolution, frame count, compressor name, depth, pre-defined) and child boxes.
    let mut r = ByteReader::new(entry, sample_entry);
    r.skip(24)?;
    let width = r.u16()?;
    let height = r.u16()?;
    r.skip(50)?;
    let avc = match bmff::find_child(r.rest(), *b"avcC")? {
        Some(avcc) if matches!(&sample_entry, b"avc1" | b"avc3") => Some(AvcConfig::parse(avcc)?),
        _ => None,
    };

    let samples = sample_table(stbl)?;
    Ok(VideoTrack {
        sample_entry,
        width,
        height,
        timescale,
        avc,
        samples,
    })
}

/// Expands `stsz`, `stsc`, `stco`/`co64`, `stts` and `stss` into one entry per sample.
fn sample_table(stbl: &[u8]) -> Result<Vec<SampleInfo>> {
    let stsz = bmff::require_child(stbl, *b"stsz", *b"stbl")?;
    let mut r = ByteReader::new(stsz, *b"stsz");
    r.version_flags()?;
    let uniform = r.u32()?;
    let sizes: Vec<u32> = if uniform == 0 {
        let n = r.entry_count(4)?;
        (0..n).map(|_| r.u32()).collect::<Result<_>>()?
    } else {
        // A constant size: the count is not backed by table bytes, so bound it by hand.
        let n = r.u32()? as usize;
        if n > 1 << 28 {
            return Err(Error::Mp4(format!("'stsz' box lists {n} samples")));
        }
        vec![uniform; n]
    };
    let n = sizes.len();

    let chunk_offsets: Vec<u64> = if let Some(stco) = bmff::find_child(stbl, *b"stco")? {
        let mut r = ByteReader::new(stco, *b"stco");
        r.version_flags()?;
        let count = r.entry_count(4)?;
        (0..count)
            .map(|_| r.u32().map(u64::from))
            .collect::<Result<_>>()?
    } else {
        let co64 = bmff::require_child(stbl, *b"co64", *b"stbl")?;
        let mut r = ByteReader::new(co64, *b"co64");
        r.version_flags()?;
        let count = r.entry_count(8)?;
        (0..count).map(|_| r.u64()).collect::<Result<_>>()?
    };

    let stsc = bmff::require_child(stbl, *b"stsc", *b"stbl")?;
    let mut r = ByteReader::new(stsc, *b"stsc");
    r.version_flags()?;
    let runs = r.entry_count(12)?;
    let mut stsc_entries = Vec::with_capacity(runs);
    for _ in 0..runs {
        let first_chunk = r.u32()?;
        let per_chunk = r.u32()?;
        r.u32()?; // sample description index
        stsc_entries.push((first_chunk, per_chunk));
    }

    let mut samples = Vec::with_capacity(n);
    for (i, &(first_chunk, per_chunk)) in stsc_entries.iter().enumerate() {
        let last_chunk = stsc_entries
            .get(i + 1)
            .map_or(chunk_offsets.len() as u64, |&(next, _)| {
                u64::from(next).saturating_sub(1)
            });
        if first_chunk == 0 || u64::from(first_chunk) > last_chunk + 1 {
            return Err(Error::Mp4(format!(
                "'stsc' run {i} starts at chunk {first_chunk}, out of order"
            )));
        }
        for chunk in u64::from(first_chunk)..=last_chunk {
            let mut offset = *chunk_offsets.get(chunk as usize - 1).ok_or_else(|| {
                Error::Mp4(format!(
                    "'stsc' refers to chunk {chunk} but the chunk offset table has {}",
                    chunk_offsets.len()
                ))
            })?;
            for _ in 0..per_chunk {
                let Some(&size) = sizes.get(samples.len()) else {
                    return Err(sample_count_mismatch("stsc", samples.len() + 1, n));
                };
                samples.push(SampleInfo {
                    offset,
                    size,
                    duration: 0,
                    sync: true,
                });
                offset = offset.saturating_add(u64::from(size));
            }
        }
    }
    if samples.len() != n {
        return Err(sample_count_mismatch("stsc", samples.len(), n));
    }

    let stts = bmff::require_child(stbl, *b"stts", *b"stbl")?;
    let mut r = ByteReader::new(stts, *b"stts");
    r.version_flags()?;
    let runs = r.entry_count(8)?;
    let mut index = 0usize;
    for _ in 0..runs {
        let count = r.u32()? as usize;
        let delta = r.u32()?;
        for s in samples.iter_mut().skip(index).take(count) {
            s.duration = delta;
        }
        index = index.saturating_add(count);
    }
    if index != n {
        return Err(sample_count_mismatch("stts", index, n));
    }

    if let Some(stss) = bmff::find_child(stbl, *b"stss")? {
        let mut r = ByteReader::new(stss, *b"stss");
        r.version_flags()?;
        let count = r.entry_count(4)?;
        samples.iter_mut().for_each(|s| s.sync = false);
        for _ in 0..count {
            let number = r.u32()? as usize;
            let s = number
                .checked_sub(1)
                .and_then(|i| samples.get_mut(i))
                .ok_or_else(|| Error::Mp4(format!("'stss' lists sample {number} of {n}")))?;
            s.sync = true;
        }
    }
    Ok(samples)
}

fn sample_count_mismatch(table: &str, got: usize, expected: usize) -> Error {
    Error::Mp4(format!(
        "'{table}' describes {got} samples but 'stsz' lists {expected}"
    ))
}
