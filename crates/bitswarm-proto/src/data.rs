//! Binary data parts: a fixed 96-byte big-endian header followed by at most
//! [`MAX_PART_PAYLOAD`] bytes of payload. Source frames travel to servers and encoded chunks
//! back to the controller in this form, split into parts of one size (the last may be shorter).

use std::fmt;

use crate::{Error, JobId, Result, MAX_ID_LEN, PROTOCOL_VERSION};

/// First four bytes of every data part.
pub const MAGIC: [u8; 4] = *b"BSWP";
/// Bytes of the header in front of the payload.
pub const HEADER_LEN: usize = 96;
/// Largest payload of one part: 256 KiB keeps an MQTT packet well under common broker limits
/// while the header costs under 0.04 % of a full part.
pub const MAX_PART_PAYLOAD: usize = 256 * 1024;

const FLAG_LAST: u8 = 0x01;
const JOB_FIELD: usize = 8;

/// What a data part carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataKind {
    /// Raw 4:2:0 source frames, packed, controller -> server (`servers/{server}/frames`).
    Source = 1,
    /// Encoded chunk bytes, server -> controller (`jobs/{job}/data`).
    Encoded = 2,
}

impl DataKind {
    fn from_byte(byte: u8) -> Result<Self> {
        match byte {
            1 => Ok(Self::Source),
            2 => Ok(Self::Encoded),
            other => Err(Error::UnknownDataKind(other)),
        }
    }
}

impl fmt::Display for DataKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Source => "source",
            Self::Encoded => "encoded",
        })
    }
}

/// One attempt at one chunk of one job: the identity of a stream of data parts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChunkAttempt {
    pub job: JobId,
    pub chunk: u32,
    pub attempt: u32,
}

impl fmt::Display for ChunkAttempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "job {} chunk {} attempt {}",
            self.job, self.chunk, self.attempt
        )
    }
}

/// CRC-32 (IEEE 802.3, the zlib / PNG / `crc32` tool polynomial) of `data`: the checksum of
/// part payloads and of whole chunks.
pub fn checksum(data: &[u8]) -> u32 {
    crc32fast::hash(data)
}

/// One part of a stream. Every part of a stream has the same `part_size`; every part but the
/// last carries exactly `part_size` bytes, the last `0..=part_size`. The payload's CRC-32 is
/// computed by [`DataPart::encode`] and checked by [`DataPart::decode`].
#[derive(Clone, PartialEq, Eq)]
pub struct DataPart {
    kind: DataKind,
    stream: ChunkAttempt,
    seq: u32,
    last: bool,
    part_size: u32,
    payload: Vec<u8>,
}

impl fmt::Debug for DataPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataPart")
            .field("kind", &self.kind)
            .field("stream", &self.stream)
            .field("seq", &self.seq)
            .field("last", &self.last)
            .field("part_size", &self.part_size)
            .field("payload_len", &self.payload.len())
            .finish()
    }
}

impl fmt::Display for DataPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} part {} of {}", self.kind, self.seq, self.stream)
    }
}

fn check_part_size(part_size: usize) -> Result<()> {
    if (1..=MAX_PART_PAYLOAD).contains(&part_size) {
        Ok(())
    } else {
        Err(Error::Invalid {
            field: "part size",
            value: part_size.to_string(),
            expected: format!("1..={MAX_PART_PAYLOAD}"),
        })
    }
}

fn check_shape(part_size: usize, payload_len: usize, last: bool) -> Result<()> {
    check_part_size(part_size)?;
    if payload_len > part_size || (!last && payload_len != part_size) {
        let expected = if last {
            format!("0..={part_size} in the last part")
        } else {
            format!("exactly the part size {part_size} in a part that is not the last")
        };
        return Err(Error::Invalid {
            field: "payload length",
            value: payload_len.to_string(),
            expected,
        });
    }
    Ok(())
}

fn u32_at(bytes: &[u8], offset: usize) -> u32 {
    let mut word = [0; 4];
    word.copy_from_slice(&bytes[offset..offset + 4]);
    u32::from_be_bytes(word)
}

impl DataPart {
    /// A part with a checked shape (see the type's documentation).
    pub fn new(
        kind: DataKind,
        stream: ChunkAttempt,
        seq: u32,
        last: bool,
        part_size: usize,
        payload: Vec<u8>,
    ) -> Result<Self> {
        check_shape(part_size, payload.len(), last)?;
        Ok(Self {
            kind,
            stream,
            seq,
            last,
            // check_shape bounds part_size by MAX_PART_PAYLOAD.
            part_size: part_size as u32,
            payload,
        })
    }

    pub fn kind(&self) -> DataKind {
        self.kind
    }

    pub fn stream(&self) -> &ChunkAttempt {
        &self.stream
    }

    /// Position of the part in its stream, from 0.
    pub fn seq(&self) -> u32 {
        self.seq
    }

    /// Whether this is the stream's last part.
    pub fn is_last(&self) -> bool {
        self.last
    }

    /// The payload size of every part of the stream but the last.
    pub fn part_size(&self) -> usize {
        self.part_size as usize
    }

    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    pub fn into_payload(self) -> Vec<u8> {
        self.payload
    }

    /// Where the payload starts in the stream's data.
    pub fn offset(&self) -> u64 {
        u64::from(self.seq) * u64::from(self.part_size)
    }

    /// Header and payload, ready to publish.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.payload.len());
        out.extend_from_slice(&MAGIC);
        out.push(PROTOCOL_VERSION);
        out.push(self.kind as u8);
        out.push(if self.last { FLAG_LAST } else { 0 });
        let job = self.stream.job.as_str().as_bytes();
        // Job ids are at most MAX_ID_LEN (64) bytes.
        out.push(job.len() as u8);
        out.extend_from_slice(job);
        out.resize(JOB_FIELD + MAX_ID_LEN, 0);
        for word in [
            self.stream.chunk,
            self.stream.attempt,
            self.seq,
            self.part_size,
            // At most part_size <= MAX_PART_PAYLOAD bytes.
            self.payload.len() as u32,
            checksum(&self.payload),
        ] {
            out.extend_from_slice(&word.to_be_bytes());
        }
        out.extend_from_slice(&self.payload);
        out
    }

    /// Parses and verifies one part. The checks run in this order: magic, version (a foreign
    /// version gives [`Error::Version`] whatever follows), size, header fields, payload length,
    /// payload CRC-32.
    pub fn decode(bytes: &[u8]) -> Result<DataPart> {
        let truncated = || Error::Truncated {
            got: bytes.len(),
            need: HEADER_LEN,
        };
        let magic = *bytes.first_chunk::<4>().ok_or_else(truncated)?;
        if magic != MAGIC {
            return Err(Error::BadMagic { got: magic });
        }
        let version = *bytes.get(4).ok_or_else(truncated)?;
        if version != PROTOCOL_VERSION {
            return Err(Error::Version {
                got: u64::from(version),
            });
        }
        if bytes.len() < HEADER_LEN {
            return Err(truncated());
        }
        if bytes.len() > HEADER_LEN + MAX_PART_PAYLOAD {
            return Err(Error::TooLarge {
                what: "data part",
                size: bytes.len(),
                max: HEADER_LEN + MAX_PART_PAYLOAD,
            });
        }
        let kind = DataKind::from_byte(bytes[5])?;
        let flags = bytes[6];
        if flags & !FLAG_LAST != 0 {
            return Err(Error::Invalid {
                field: "data part flags",
                value: format!("{flags:#04x}"),
                expected: "only bit 0 (LAST) set".into(),
            });
        }
        let job_len = usize::from(bytes[7]);
        if job_len > MAX_ID_LEN {
            return Err(Error::Invalid {
                field: "job id length",
                value: job_len.to_string(),
                expected: format!("0..={MAX_ID_LEN}"),
            });
        }
        let (job, padding) = bytes[JOB_FIELD..JOB_FIELD + MAX_ID_LEN].split_at(job_len);
        let job = JobId::new(String::from_utf8_lossy(job))?;
        if padding.iter().any(|&b| b != 0) {
            return Err(Error::Invalid {
                field: "job id padding",
                value: "non-zero bytes".into(),
                expected: "zeros after the job id".into(),
            });
        }
        let at = JOB_FIELD + MAX_ID_LEN;
        let [chunk, attempt, seq, part_size, payload_len, crc] =
            [0, 1, 2, 3, 4, 5].map(|i| u32_at(bytes, at + 4 * i));
        let payload = &bytes[HEADER_LEN..];
        if payload.len() as u64 != u64::from(payload_len) {
            return Err(Error::Mismatch {
                what: "data part payload length",
                expected: u64::from(payload_len),
                got: payload.len() as u64,
            });
        }
        let last = flags & FLAG_LAST != 0;
        check_shape(part_size as usize, payload.len(), last)?;
        let actual = checksum(payload);
        if actual != crc {
            return Err(Error::PartCrc {
                expected: crc,
                actual,
            });
        }
        Ok(DataPart {
            kind,
            stream: ChunkAttempt {
                job,
                chunk,
                attempt,
            },
            seq,
            last,
            part_size,
            payload: payload.to_vec(),
        })
    }
}

fn check_part_count(parts: u64, part_size: usize) -> Result<()> {
    if parts > u64::from(u32::MAX) {
        return Err(Error::Invalid {
            field: "part count",
            value: parts.to_string(),
            expected: format!(
                "at most {} parts (use a part size above {part_size})",
                u32::MAX
            ),
        });
    }
    Ok(())
}

/// Splits `data` into parts of `part_size` bytes (the last may be shorter; empty data gives one
/// empty last part). Fails for a part size outside `1..=MAX_PART_PAYLOAD` or more than
/// `u32::MAX` parts.
pub fn split_into_parts<'a>(
    kind: DataKind,
    stream: &'a ChunkAttempt,
    data: &'a [u8],
    part_size: usize,
) -> Result<impl Iterator<Item = DataPart> + 'a> {
    check_part_size(part_size)?;
    let count = data.len().div_ceil(part_size).max(1);
    check_part_count(count as u64, part_size)?;
    Ok((0..count).map(move |i| {
        let payload = &data[(i * part_size).min(data.len())..((i + 1) * part_size).min(data.len())];
        DataPart {
            kind,
            stream: stream.clone(),
            // count <= u32::MAX was checked above.
            seq: i as u32,
            last: i + 1 == count,
            part_size: part_size as u32,
            payload: payload.to_vec(),
        }
    }))
}

/// What a finished [`PartWriter`] produced: the figures of a `chunk_done` message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamSummary {
    pub parts: u32,
    pub bytes: u64,
    pub crc32: u32,
}

/// Streaming sender: feed it data as it is produced (e.g. encoded frames), publish each full
/// part it returns right away, and [`PartWriter::finish`] to get the last part (possibly empty)
/// and the stream's summary.
#[derive(Debug)]
pub struct PartWriter {
    kind: DataKind,
    stream: ChunkAttempt,
    part_size: usize,
    next_seq: u32,
    pending: Vec<u8>,
    hasher: crc32fast::Hasher,
    bytes: u64,
}

impl PartWriter {
    pub fn new(kind: DataKind, stream: ChunkAttempt, part_size: usize) -> Result<Self> {
        check_part_size(part_size)?;
        Ok(Self {
            kind,
            stream,
            part_size,
            next_seq: 0,
            pending: Vec::with_capacity(part_size),
            hasher: crc32fast::Hasher::new(),
            bytes: 0,
        })
    }

    /// Appends `data`; returns the parts that became full, in order.
    pub fn write(&mut self, mut data: &[u8]) -> Result<Vec<DataPart>> {
        let mut full = Vec::new();
        while !data.is_empty() {
            let take = (self.part_size - self.pending.len()).min(data.len());
            let (head, rest) = data.split_at(take);
            self.pending.extend_from_slice(head);
            self.hasher.update(head);
            self.bytes += take as u64;
            data = rest;
            if self.pending.len() == self.part_size {
                full.push(self.emit(false)?);
            }
        }
        Ok(full)
    }

    /// The last part (with what is pending, maybe nothing) and the summary of the stream.
    pub fn finish(mut self) -> Result<(DataPart, StreamSummary)> {
        let last = self.emit(true)?;
        let summary = StreamSummary {
            parts: self.next_seq,
            bytes: self.bytes,
            crc32: self.hasher.finalize(),
        };
        Ok((last, summary))
    }

    fn emit(&mut self, last: bool) -> Result<DataPart> {
        let seq = self.next_seq;
        check_part_count(u64::from(seq) + 1, self.part_size)?;
        self.next_seq = seq + 1;
        let payload = std::mem::replace(&mut self.pending, Vec::with_capacity(self.part_size));
        Ok(DataPart {
            kind: self.kind,
            stream: self.stream.clone(),
            seq,
            last,
            part_size: self.part_size as u32,
            payload,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream() -> ChunkAttempt {
        ChunkAttempt {
            job: JobId::new("job-1").unwrap(),
            chunk: 0x0102_0304,
            attempt: 5,
        }
    }

    fn sample(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn header_layout_is_as_documented() {
        let part = DataPart::new(DataKind::Encoded, stream(), 9, true, 8, b"abc".to_vec()).unwrap();
        let bytes = part.encode();
        assert_eq!(bytes.len(), HEADER_LEN + 3);
        assert_eq!(&bytes[0..4], b"BSWP");
        assert_eq!(bytes[4], 1, "version");
        assert_eq!(bytes[5], 2, "kind encoded");
        assert_eq!(bytes[6], 1, "LAST flag");
        assert_eq!(bytes[7], 5, "job id length");
        assert_eq!(&bytes[8..13], b"job-1");
        assert!(bytes[13..72].iter().all(|&b| b == 0), "padding");
        assert_eq!(&bytes[72..76], &[1, 2, 3, 4], "chunk, big-endian");
        assert_eq!(&bytes[76..80], &[0, 0, 0, 5], "attempt");
        assert_eq!(&bytes[80..84], &[0, 0, 0, 9], "seq");
        assert_eq!(&bytes[84..88], &[0, 0, 0, 8], "part size");
        assert_eq!(&bytes[88..92], &[0, 0, 0, 3], "payload length");
        // CRC-32 of "abc" (the well-known check value of the zlib polynomial).
        assert_eq!(
            &bytes[92..96],
            &0x3524_41c2_u32.to_be_bytes(),
            "payload crc"
        );
        assert_eq!(&bytes[96..], b"abc");
        assert_eq!(DataPart::decode(&bytes).unwrap(), part);
    }

    #[test]
    fn every_flipped_payload_bit_is_detected() {
        let part = DataPart::new(DataKind::Source, stream(), 0, false, 64, sample(64)).unwrap();
        let bytes = part.encode();
        for bit in 0..64 * 8 {
            let mut bad = bytes.clone();
            bad[HEADER_LEN + bit / 8] ^= 1 << (bit % 8);
            assert!(
                matches!(DataPart::decode(&bad), Err(Error::PartCrc { expected, actual }) if expected == checksum(&sample(64)) && actual != expected),
                "bit {bit}"
            );
        }
    }

    #[test]
    fn header_errors_are_named() {
        let good = DataPart::new(DataKind::Source, stream(), 1, true, 16, sample(10))
            .unwrap()
            .encode();
        let with = |at: usize, byte: u8| {
            let mut b = good.clone();
            b[at] = byte;
            DataPart::decode(&b).unwrap_err().to_string()
        };
        assert_eq!(
            with(0, b'X'),
            "not a bitswarm data part: magic [58, 53, 57, 50] (expected \"BSWP\")"
        );
        assert_eq!(
            with(4, 2),
            "unsupported protocol version 2 (this build speaks version 1)"
        );
        assert_eq!(
            with(5, 7),
            "unknown data part kind 7 (known: 1 = source frames, 2 = encoded data)"
        );
        assert_eq!(
            with(6, 3),
            "invalid data part flags 0x03 (expected only bit 0 (LAST) set)"
        );
        assert_eq!(with(7, 65), "invalid job id length 65 (expected 0..=64)");
        assert_eq!(
            with(7, 0),
            "invalid job id \"\": empty (expected 1..=64 characters from A-Z a-z 0-9 _ . -)"
        );
        assert_eq!(with(9, b'/'), "invalid job id \"j/b-1\": contains '/' (expected 1..=64 characters from A-Z a-z 0-9 _ . -)");
        assert_eq!(
            with(20, 1),
            "invalid job id padding non-zero bytes (expected zeros after the job id)"
        );
        assert_eq!(with(6, 0), "invalid payload length 10 (expected exactly the part size 16 in a part that is not the last)");
        assert_eq!(with(87, 0), "invalid part size 0 (expected 1..=262144)");
        assert_eq!(
            with(91, 11),
            "data part payload length mismatch: expected 11, got 10"
        );
        assert_eq!(
            DataPart::decode(&good[..HEADER_LEN - 1])
                .unwrap_err()
                .to_string(),
            "data part of 95 bytes is shorter than 96 bytes"
        );
        assert_eq!(
            DataPart::decode(b"BS").unwrap_err().to_string(),
            "data part of 2 bytes is shorter than 96 bytes"
        );
        // A foreign version is reported as such even when the rest is short or different.
        assert!(matches!(
            DataPart::decode(b"BSWP\x02"),
            Err(Error::Version { got: 2 })
        ));
        let mut huge = good.clone();
        huge.resize(HEADER_LEN + MAX_PART_PAYLOAD + 1, 0);
        assert_eq!(
            DataPart::decode(&huge).unwrap_err().to_string(),
            "data part of 262241 bytes exceeds the limit of 262240 bytes"
        );
    }

    #[test]
    fn split_covers_the_data_in_order() {
        let data = sample(1000);
        let s = stream();
        let parts: Vec<_> = split_into_parts(DataKind::Encoded, &s, &data, 300)
            .unwrap()
            .collect();
        let lens: Vec<_> = parts.iter().map(|p| p.payload().len()).collect();
        assert_eq!(lens, [300, 300, 300, 100]);
        assert_eq!(
            parts.iter().map(DataPart::seq).collect::<Vec<_>>(),
            [0, 1, 2, 3]
        );
        assert_eq!(parts.iter().filter(|p| p.is_last()).count(), 1);
        assert!(parts[3].is_last());
        assert_eq!(parts[2].offset(), 600);
        let joined: Vec<u8> = parts.iter().flat_map(|p| p.payload().to_vec()).collect();
        assert_eq!(joined, data);

        let exact: Vec<_> = split_into_parts(DataKind::Encoded, &s, &data[..600], 300)
            .unwrap()
            .collect();
        assert_eq!(exact.len(), 2);
        let empty: Vec<_> = split_into_parts(DataKind::Encoded, &s, &[], 300)
            .unwrap()
            .collect();
        assert_eq!(empty.len(), 1);
        assert!(empty[0].is_last() && empty[0].payload().is_empty());

        for bad in [0, MAX_PART_PAYLOAD + 1] {
            assert!(split_into_parts(DataKind::Encoded, &s, &data, bad).is_err());
        }
    }

    #[test]
    fn writer_streams_the_same_bytes_and_summarises_them() {
        let data = sample(1000);
        let mut writer = PartWriter::new(DataKind::Encoded, stream(), 256).unwrap();
        let mut parts = Vec::new();
        for piece in data.chunks(77) {
            parts.extend(writer.write(piece).unwrap());
        }
        assert_eq!(parts.len(), 3, "full parts leave as soon as they fill");
        let (last, summary) = writer.finish().unwrap();
        parts.push(last);
        assert_eq!(
            summary,
            StreamSummary {
                parts: 4,
                bytes: 1000,
                crc32: checksum(&data)
            }
        );
        let joined: Vec<u8> = parts.iter().flat_map(|p| p.payload().to_vec()).collect();
        assert_eq!(joined, data);
        assert!(parts[3].is_last() && parts[3].payload().len() == 1000 - 768);

        // Data ending on a part boundary ends with an empty last part.
        let mut writer = PartWriter::new(DataKind::Encoded, stream(), 10).unwrap();
        assert_eq!(writer.write(&data[..20]).unwrap().len(), 2);
        let (last, summary) = writer.finish().unwrap();
        assert!(last.is_last() && last.payload().is_empty() && last.seq() == 2);
        assert_eq!(summary.parts, 3);
    }
}
