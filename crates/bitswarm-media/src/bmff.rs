//! ISO base media file format (ISO/IEC 14496-12) building blocks: a box writer and a bounds-checked
//! box parser. The MP4 muxer and demuxer are built on these; a fragmented-MP4 (CMAF) packager can
//! reuse them the same way.

use crate::{Error, Result};

/// A box type code such as `*b"moov"`.
pub type FourCc = [u8; 4];

/// Builds boxes in memory, big-endian, patching each box's size when it is closed.
///
/// ```
/// use bitswarm_media::bmff::BoxWriter;
/// let mut w = BoxWriter::new();
/// w.full_box(*b"mvhd", 0, 0, |w| w.u32(1000));
/// assert_eq!(w.as_bytes(), &[0, 0, 0, 16, b'm', b'v', b'h', b'd', 0, 0, 0, 0, 0, 0, 3, 232]);
/// ```
#[derive(Debug, Default)]
pub struct BoxWriter {
    buf: Vec<u8>,
}

impl BoxWriter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Writes a box whose payload `body` writes; the 32-bit size is patched afterwards.
    ///
    /// In-memory boxes (headers, sample tables, fragments) stay far below 4 GiB; a box that
    /// does not fit in 32 bits is a bug in the caller and panics.
    pub fn boxed(&mut self, kind: FourCc, body: impl FnOnce(&mut Self)) {
        let start = self.buf.len();
        self.u32(0);
        self.bytes(&kind);
        body(self);
        let size = u32::try_from(self.buf.len() - start)
            .expect("an in-memory box larger than 4 GiB (write media data with a streaming mdat)");
        self.buf[start..start + 4].copy_from_slice(&size.to_be_bytes());
    }

    /// A "full box": a box whose payload starts with a version byte and 24 bits of flags.
    pub fn full_box(
        &mut self,
        kind: FourCc,
        version: u8,
        flags: u32,
        body: impl FnOnce(&mut Self),
    ) {
        self.boxed(kind, |w| {
            w.u32(u32::from(version) << 24 | (flags & 0x00ff_ffff));
            body(w);
        });
    }

    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub fn u16(&mut self, v: u16) {
        self.bytes(&v.to_be_bytes());
    }

    pub fn u32(&mut self, v: u32) {
        self.bytes(&v.to_be_bytes());
    }

    pub fn u64(&mut self, v: u64) {
        self.bytes(&v.to_be_bytes());
    }

    pub fn bytes(&mut self, v: &[u8]) {
        self.buf.extend_from_slice(v);
    }

    /// `n` zero bytes (reserved fields).
    pub fn zeros(&mut self, n: usize) {
        self.buf.resize(self.buf.len() + n, 0);
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

/// The identity transformation matrix of `mvhd` and `tkhd` (16.16 and 2.30 fixed point).
pub const UNITY_MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];

/// Reads big-endian fields from one box's payload; running past the end is an error naming the box.
#[derive(Debug, Clone)]
pub struct ByteReader<'a> {
    data: &'a [u8],
    pos: usize,
    what: FourCc,
}

impl<'a> ByteReader<'a> {
    /// A reader over the payload of a box of type `what` (used in error messages).
    pub fn new(data: &'a [u8], what: FourCc) -> Self {
        Self { data, pos: 0, what }
    }

    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(Error::Mp4(format!(
                "'{}' box too short (needs {} more bytes, has {})",
                fourcc_str(self.what),
                n,
                self.remaining()
            )));
        }
        let out = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// The unread rest of the payload.
    pub fn rest(&mut self) -> &'a [u8] {
        let out = &self.data[self.pos..];
        self.pos = self.data.len();
        out
    }

    pub fn skip(&mut self, n: usize) -> Result<()> {
        self.bytes(n).map(|_| ())
    }

    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.bytes(1)?[0])
    }

    pub fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut out = [0; N];
        out.copy_from_slice(self.bytes(N)?);
        Ok(out)
    }

    /// Reads a full-box header: `(version, flags)`.
    pub fn version_flags(&mut self) -> Result<(u8, u32)> {
        let v = self.u32()?;
        Ok(((v >> 24) as u8, v & 0x00ff_ffff))
    }

    /// A count of table entries of `entry_size` bytes each, checked against the bytes left so a
    /// corrupt count cannot trigger a huge allocation.
    pub fn entry_count(&mut self, entry_size: usize) -> Result<usize> {
        let count = self.u32()? as usize;
        if count.saturating_mul(entry_size) > self.remaining() {
            return Err(Error::Mp4(format!(
                "'{}' box lists {count} entries but has room for {}",
                fourcc_str(self.what),
                self.remaining() / entry_size
            )));
        }
        Ok(count)
    }
}

/// Splits a sequence of boxes (a file region or a container's payload) into `(type, payload)`.
pub fn child_boxes(data: &[u8]) -> Result<Vec<(FourCc, &[u8])>> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let header = parse_header(rest, rest.len() as u64)?;
        let size = usize::try_from(header.size).unwrap_or(usize::MAX);
        if size > rest.len() {
            return Err(Error::Mp4(format!(
                "'{}' box declares {} bytes but its parent has {} left",
                fourcc_str(header.kind),
                header.size,
                rest.len()
            )));
        }
        out.push((header.kind, &rest[header.header_len..size]));
        rest = &rest[size..];
    }
    Ok(out)
}

/// The payload of the first child box of type `kind`, if any.
pub fn find_child(data: &[u8], kind: FourCc) -> Result<Option<&[u8]>> {
    Ok(child_boxes(data)?
        .into_iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, payload)| payload))
}

/// Like [`find_child`], but the box must exist.
pub fn require_child(data: &[u8], kind: FourCc, parent: FourCc) -> Result<&[u8]> {
    find_child(data, kind)?.ok_or_else(|| {
        Error::Mp4(format!(
            "'{}' box has no '{}' box",
            fourcc_str(parent),
            fourcc_str(kind)
        ))
    })
}

/// A parsed box header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoxHeader {
    pub kind: FourCc,
    /// Whole box size including the header.
    pub size: u64,
    /// 8, or 16 with a 64-bit size.
    pub header_len: usize,
}

/// Parses a box header from `bytes` (at least 8 bytes, 16 for a 64-bit size); `available` is the
/// size a box of size 0 ("to the end") gets.
pub fn parse_header(bytes: &[u8], available: u64) -> Result<BoxHeader> {
    let mut r = ByteReader::new(bytes, *b"box ");
    let size32 = r.u32().map_err(|_| truncated_header(bytes))?;
    let mut kind = [0; 4];
    kind.copy_from_slice(r.bytes(4).map_err(|_| truncated_header(bytes))?);
    let (size, header_len) = match size32 {
        0 => (available, 8),
        1 => (r.u64().map_err(|_| truncated_header(bytes))?, 16),
        n => (u64::from(n), 8),
    };
    if size < header_len as u64 {
        return Err(Error::Mp4(format!(
            "'{}' box has an invalid size {size}",
            fourcc_str(kind)
        )));
    }
    Ok(BoxHeader {
        kind,
        size,
        header_len,
    })
}

fn truncated_header(bytes: &[u8]) -> Error {
    Error::Mp4(format!(
        "box header cut short ({} bytes: {})",
        bytes.len(),
        crate::y4m::printable(bytes)
    ))
}

/// A box type as text for messages (`moov`, or escaped bytes for non-ASCII codes).
pub fn fourcc_str(kind: FourCc) -> String {
    kind.escape_ascii().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_boxes_round_trip_through_the_parser() {
        let mut w = BoxWriter::new();
        w.boxed(*b"moov", |w| {
            w.full_box(*b"mvhd", 1, 0x00_0102, |w| w.u64(7));
            w.boxed(*b"trak", |w| w.boxed(*b"tkhd", |w| w.u16(9)));
        });
        let bytes = w.into_bytes();
        let top = child_boxes(&bytes).unwrap();
        assert_eq!(top.len(), 1);
        assert_eq!(top[0].0, *b"moov");
        let moov = child_boxes(top[0].1).unwrap();
        assert_eq!(moov.len(), 2);
        let mut mvhd = ByteReader::new(moov[0].1, *b"mvhd");
        assert_eq!(mvhd.version_flags().unwrap(), (1, 0x102));
        assert_eq!(mvhd.u64().unwrap(), 7);
        assert_eq!(mvhd.remaining(), 0);
        let tkhd = require_child(moov[1].1, *b"tkhd", *b"trak").unwrap();
        assert_eq!(tkhd, &[0, 9]);
        assert_eq!(
            require_child(moov[1].1, *b"mdia", *b"trak")
                .unwrap_err()
                .to_string(),
            "invalid MP4: 'trak' box has no 'mdia' box"
        );
    }

    #[test]
    fn malformed_boxes_are_errors_not_panics() {
        assert_eq!(
            child_boxes(&[0, 0, 0, 40, b'f', b'r', b'e', b'e', 1, 2])
                .unwrap_err()
                .to_string(),
            "invalid MP4: 'free' box declares 40 bytes but its parent has 10 left"
        );
        assert_eq!(
            child_boxes(&[0, 0, 0, 4, b'f', b'r', b'e', b'e'])
                .unwrap_err()
                .to_string(),
            "invalid MP4: 'free' box has an invalid size 4"
        );
        assert_eq!(
            child_boxes(&[0, 0, 0]).unwrap_err().to_string(),
            "invalid MP4: box header cut short (3 bytes: \"\\x00\\x00\\x00\")"
        );
        let mut r = ByteReader::new(&[0, 0, 0, 200, 1, 2], *b"stsz");
        assert_eq!(
            r.entry_count(4).unwrap_err().to_string(),
            "invalid MP4: 'stsz' box lists 200 entries but has room for 0"
        );
        // A 64-bit size and a size-0 ("to the end") box.
        let mut bytes = vec![0, 0, 0, 1, b'm', b'd', b'a', b't'];
        bytes.extend_from_slice(&18u64.to_be_bytes());
        bytes.extend_from_slice(&[5, 6]);
        bytes.extend_from_slice(&[0, 0, 0, 0, b'f', b'r', b'e', b'e', 7]);
        let boxes = child_boxes(&bytes).unwrap();
        assert_eq!(
            boxes,
            vec![(*b"mdat", &[5u8, 6][..]), (*b"free", &[7u8][..])]
        );
    }
}
