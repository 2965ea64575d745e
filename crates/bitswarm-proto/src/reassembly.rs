//! Reassembly of one stream of data parts (one chunk attempt): parts may arrive in any order
//! and more than once (MQTT QoS 1 redelivers); the result is released only when every part is
//! there and the whole matches the sender's part count, length and CRC-32.

use std::fmt::Write as _;
use std::ops::Range;

use crate::{checksum, ChunkAttempt, DataKind, DataPart, Error, Result};

/// What the reassembled data must be, from the control message that announces it
/// (`ChunkDone::expected` for encoded data, `ChunkAssignment::expected_source` for frames).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expected {
    /// Number of parts, when the announcer knows it.
    pub parts: Option<u32>,
    pub bytes: u64,
    pub crc32: u32,
}

/// What [`Reassembler::push`] did with a part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Push {
    Added,
    /// An identical copy of a part already held; nothing changed.
    Duplicate,
}

/// Collects the parts of one stream into one buffer, never holding more than `max_bytes` of
/// data (plus one flag per part).
#[derive(Debug)]
pub struct Reassembler {
    kind: DataKind,
    stream: ChunkAttempt,
    max_bytes: u64,
    part_size: Option<u32>,
    data: Vec<u8>,
    received: Vec<bool>,
    parts: u32,
    bytes: u64,
    last: Option<u32>,
}

impl Reassembler {
    /// A reassembler for the `kind` parts of `stream`, refusing any part that would end beyond
    /// `max_bytes` (for source frames: the assignment's `source_bytes()`, or a configured cap
    /// while the assignment has not arrived; for encoded data: a configured cap).
    pub fn new(kind: DataKind, stream: ChunkAttempt, max_bytes: u64) -> Self {
        Self {
            kind,
            stream,
            max_bytes,
            part_size: None,
            data: Vec::new(),
            received: Vec::new(),
            parts: 0,
            bytes: 0,
            last: None,
        }
    }

    pub fn kind(&self) -> DataKind {
        self.kind
    }

    pub fn stream(&self) -> &ChunkAttempt {
        &self.stream
    }

    /// Distinct parts held.
    pub fn received_parts(&self) -> u32 {
        self.parts
    }

    /// Payload bytes held.
    pub fn received_bytes(&self) -> u64 {
        self.bytes
    }

    /// Sequence number of the last part, once it has arrived.
    pub fn last_seq(&self) -> Option<u32> {
        self.last
    }

    /// Adds one part. Rejected parts change nothing: a part of another stream or kind, one
    /// that would end beyond the limit, or one that contradicts the parts held (another part
    /// size, a second last part, a part after the last, different bytes under a held seq).
    pub fn push(&mut self, part: &DataPart) -> Result<Push> {
        if part.kind() != self.kind || part.stream() != &self.stream {
            return Err(Error::ForeignPart {
                expected: format!("{} stream of {}", self.kind, self.stream),
                got: part.to_string(),
            });
        }
        let seq = part.seq();
        let conflict = |reason: String| Err(Error::ConflictingPart { seq, reason });
        let part_size = part.part_size() as u32;
        if let Some(held) = self.part_size.filter(|&held| held != part_size) {
            return conflict(format!("part size {part_size}, earlier parts have {held}"));
        }
        let payload = part.payload();
        let end = part.offset() + payload.len() as u64;
        let (start, end) = match (usize::try_from(part.offset()), usize::try_from(end)) {
            (Ok(start), Ok(end)) if end as u64 <= self.max_bytes => (start, end),
            _ => {
                return Err(Error::ExceedsLimit {
                    seq,
                    end,
                    max: self.max_bytes,
                })
            }
        };
        if let Some(last) = self.last {
            if seq > last {
                return conflict(format!("comes after the last part {last}"));
            }
            if part.is_last() && seq != last {
                return conflict(format!("a second last part (the last is {last})"));
            }
        }
        let highest = self.received.len().checked_sub(1);
        if let Some(highest) = highest.filter(|&h| part.is_last() && h > seq as usize) {
            return conflict(format!("marked last, but part {highest} was received"));
        }
        if self.received.get(seq as usize) == Some(&true) {
            let same = part.is_last() == (self.last == Some(seq))
                && self.data.get(start..end) == Some(payload)
                && (!part.is_last() || self.data.len() == end);
            return if same {
                Ok(Push::Duplicate)
            } else {
                conflict("differs from the part already held under this seq".into())
            };
        }
        if self.data.len() < end {
            self.data.resize(end, 0);
        }
        self.data[start..end].copy_from_slice(payload);
        if self.received.len() <= seq as usize {
            self.received.resize(seq as usize + 1, false);
        }
        self.received[seq as usize] = true;
        self.parts += 1;
        self.bytes += payload.len() as u64;
        self.part_size = Some(part_size);
        if part.is_last() {
            self.last = Some(seq);
        }
        Ok(Push::Added)
    }

    /// Whether the last part and every part before it are held.
    pub fn is_complete(&self) -> bool {
        self.last
            .is_some_and(|last| u64::from(self.parts) == u64::from(last) + 1)
    }

    /// Missing sequence numbers before the last part (or, while the last part is unknown,
    /// before the highest part held), as ranges.
    pub fn gaps(&self) -> Vec<Range<u32>> {
        let mut gaps: Vec<Range<u32>> = Vec::new();
        let missing = self.received.iter().enumerate().filter(|(_, &held)| !held);
        // Indices are seqs, so they fit in u32; a missing seq is below a held one.
        for seq in missing.map(|(seq, _)| seq as u32) {
            match gaps.last_mut() {
                Some(gap) if gap.end == seq => gap.end = seq + 1,
                _ => gaps.push(seq..seq + 1),
            }
        }
        gaps
    }

    /// The data, once complete and equal to `expected` in part count (if given), length and
    /// CRC-32. Call it when [`Reassembler::is_complete`] says so and the announcing control
    /// message has arrived (MQTT does not order messages of different topics).
    pub fn finish(self, expected: &Expected) -> Result<Vec<u8>> {
        if !self.is_complete() {
            return Err(Error::Incomplete(self.describe_missing()));
        }
        if let Some(parts) = expected.parts.filter(|&p| p != self.parts) {
            return Err(Error::Mismatch {
                what: "part count",
                expected: u64::from(parts),
                got: u64::from(self.parts),
            });
        }
        if expected.bytes != self.bytes {
            return Err(Error::Mismatch {
                what: "chunk length",
                expected: expected.bytes,
                got: self.bytes,
            });
        }
        let actual = checksum(&self.data);
        if actual != expected.crc32 {
            return Err(Error::ChunkCrc {
                expected: expected.crc32,
                actual,
            });
        }
        Ok(self.data)
    }

    fn describe_missing(&self) -> String {
        let mut text = format!(
            "{} of {}, {} parts held",
            self.kind, self.stream, self.parts
        );
        let gaps = self.gaps();
        if !gaps.is_empty() {
            text.push_str("; missing seq ");
            for (i, gap) in gaps.iter().enumerate() {
                let sep = if i == 0 { "" } else { ", " };
                if i == 8 {
                    let _ = write!(text, ", ... ({} gaps)", gaps.len());
                    break;
                }
                let _ = if gap.len() == 1 {
                    write!(text, "{sep}{}", gap.start)
                } else {
                    write!(text, "{sep}{}..={}", gap.start, gap.end - 1)
                };
            }
        }
        if self.last.is_none() {
            text.push_str("; last part not received");
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{split_into_parts, JobId};

    fn stream(attempt: u32) -> ChunkAttempt {
        ChunkAttempt {
            job: JobId::new("job-9").unwrap(),
            chunk: 4,
            attempt,
        }
    }

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 253) as u8).collect()
    }

    fn parts(bytes: &[u8], part_size: usize) -> Vec<DataPart> {
        split_into_parts(DataKind::Encoded, &stream(0), bytes, part_size)
            .unwrap()
            .collect()
    }

    fn expected(bytes: &[u8], parts: u32) -> Expected {
        Expected {
            parts: Some(parts),
            bytes: bytes.len() as u64,
            crc32: checksum(bytes),
        }
    }

    #[test]
    fn any_order_with_duplicates_gives_the_data() {
        let bytes = data(1000);
        let p = parts(&bytes, 128);
        assert_eq!(p.len(), 8);
        let mut r = Reassembler::new(DataKind::Encoded, stream(0), 1000);
        let (added, dup) = (Push::Added, Push::Duplicate);
        let order = [7, 3, 3, 0, 5, 1, 7, 6, 2, 4];
        let outcomes = [
            added, added, dup, added, added, added, dup, added, added, added,
        ];
        for (i, outcome) in order.into_iter().zip(outcomes) {
            assert!(!r.is_complete());
            assert_eq!(r.push(&p[i]).unwrap(), outcome, "part {i}");
        }
        assert!(r.is_complete());
        assert_eq!(r.received_bytes(), 1000);
        assert_eq!(r.finish(&expected(&bytes, 8)).unwrap(), bytes);
    }

    #[test]
    fn gaps_are_reported() {
        let bytes = data(1000);
        let p = parts(&bytes, 100);
        let mut r = Reassembler::new(DataKind::Encoded, stream(0), 1 << 20);
        for i in [0, 4, 5, 8] {
            r.push(&p[i]).unwrap();
        }
        assert_eq!(r.gaps(), vec![1..4, 6..8]);
        assert!(!r.is_complete());
        assert_eq!(
            r.finish(&expected(&bytes, 10)).unwrap_err().to_string(),
            "chunk data incomplete: encoded of job job-9 chunk 4 attempt 0, 4 parts held; missing seq 1..=3, 6..=7; last part not received"
        );
        let mut r = Reassembler::new(DataKind::Encoded, stream(0), 1 << 20);
        r.push(&p[9]).unwrap();
        r.push(&p[1]).unwrap();
        assert_eq!(r.last_seq(), Some(9));
        assert_eq!(r.gaps(), vec![0..1, 2..9]);
    }

    #[test]
    fn memory_is_bounded_by_the_limit() {
        let far =
            DataPart::new(DataKind::Encoded, stream(0), u32::MAX, false, 4, vec![1; 4]).unwrap();
        let mut r = Reassembler::new(DataKind::Encoded, stream(0), 1 << 20);
        assert_eq!(
            r.push(&far).unwrap_err().to_string(),
            "part 4294967295 would end at byte 17179869184, beyond the limit of 1048576 bytes for one chunk"
        );
        assert_eq!((r.data.capacity(), r.received.capacity()), (0, 0));
        let edge = DataPart::new(DataKind::Encoded, stream(0), 3, true, 4, vec![1; 4]).unwrap();
        let mut r = Reassembler::new(DataKind::Encoded, stream(0), 16);
        assert_eq!(r.push(&edge).unwrap(), Push::Added);
        let mut r = Reassembler::new(DataKind::Encoded, stream(0), 15);
        assert!(matches!(
            r.push(&edge),
            Err(Error::ExceedsLimit {
                seq: 3,
                end: 16,
                max: 15
            })
        ));
    }

    #[test]
    fn contradictions_are_rejected_and_change_nothing() {
        let bytes = data(1000);
        let p = parts(&bytes, 100);
        let mut r = Reassembler::new(DataKind::Encoded, stream(0), 1 << 20);
        r.push(&p[9]).unwrap();
        r.push(&p[2]).unwrap();
        let reject = |r: &mut Reassembler, part: &DataPart| r.push(part).unwrap_err().to_string();

        let other_size = &parts(&bytes, 50)[3];
        assert_eq!(
            reject(&mut r, other_size),
            "part 3 conflicts with the stream: part size 50, earlier parts have 100"
        );
        let second_last =
            DataPart::new(DataKind::Encoded, stream(0), 5, true, 100, vec![0; 3]).unwrap();
        assert_eq!(
            reject(&mut r, &second_last),
            "part 5 conflicts with the stream: a second last part (the last is 9)"
        );
        let after =
            DataPart::new(DataKind::Encoded, stream(0), 10, false, 100, vec![0; 100]).unwrap();
        assert_eq!(
            reject(&mut r, &after),
            "part 10 conflicts with the stream: comes after the last part 9"
        );
        let mut changed = p[2].payload().to_vec();
        changed[0] ^= 1;
        let changed = DataPart::new(DataKind::Encoded, stream(0), 2, false, 100, changed).unwrap();
        assert_eq!(
            reject(&mut r, &changed),
            "part 2 conflicts with the stream: differs from the part already held under this seq"
        );
        let foreign = &split_into_parts(DataKind::Encoded, &stream(1), &bytes, 100)
            .unwrap()
            .next()
            .unwrap();
        assert_eq!(reject(&mut r, foreign), "encoded part 0 of job job-9 chunk 4 attempt 1 pushed into the reassembler of encoded stream of job job-9 chunk 4 attempt 0");
        let source = &split_into_parts(DataKind::Source, &stream(0), &bytes, 100)
            .unwrap()
            .next()
            .unwrap();
        assert!(matches!(r.push(source), Err(Error::ForeignPart { .. })));

        let mut early = Reassembler::new(DataKind::Encoded, stream(0), 1 << 20);
        early.push(&p[6]).unwrap();
        let short_last =
            DataPart::new(DataKind::Encoded, stream(0), 4, true, 100, vec![0; 10]).unwrap();
        assert_eq!(
            reject(&mut early, &short_last),
            "part 4 conflicts with the stream: marked last, but part 6 was received"
        );

        // The rejected parts left the stream intact.
        for part in &p {
            r.push(part).unwrap();
        }
        assert_eq!(r.finish(&expected(&bytes, 10)).unwrap(), bytes);
    }

    #[test]
    fn finish_checks_the_announced_figures() {
        let bytes = data(300);
        let complete = || {
            let mut r = Reassembler::new(DataKind::Encoded, stream(0), 1 << 20);
            for part in parts(&bytes, 100) {
                r.push(&part).unwrap();
            }
            r
        };
        let good = expected(&bytes, 3);
        let cases = [
            (
                Expected {
                    parts: Some(4),
                    ..good
                },
                "part count mismatch: expected 4, got 3",
            ),
            (
                Expected { bytes: 301, ..good },
                "chunk length mismatch: expected 301, got 300",
            ),
            (
                Expected {
                    crc32: good.crc32 ^ 1,
                    ..good
                },
                &*format!(
                    "chunk checksum mismatch: expected CRC-32 {:08x}, data has {:08x}",
                    good.crc32 ^ 1,
                    good.crc32
                ),
            ),
        ];
        for (wrong, text) in cases {
            assert_eq!(complete().finish(&wrong).unwrap_err().to_string(), text);
        }
        assert_eq!(
            complete()
                .finish(&Expected {
                    parts: None,
                    ..good
                })
                .unwrap(),
            bytes
        );
    }
}
