//! H.264 Annex B byte streams: NAL units behind `00 00 01` / `00 00 00 01` start codes.
//!
//! Everything here works on borrowed bytes and never panics, whatever the input: bytes before
//! the first start code are skipped, empty NAL units are dropped, and fields that cannot be read
//! come back as `None`.
//!
//! Access units are split as in H.264 7.4.1.2.3: a new access unit starts at an access unit
//! delimiter, or at an SEI, SPS, PPS or NAL type 14..=18 that follows a VCL NAL unit of the current
//! access unit, or at a VCL NAL unit with `first_mb_in_slice == 0` that follows one.

use std::ops::Range;

/// The H.264 NAL unit types that bitswarm looks at (Table 7-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NalType {
    /// Coded slice of a non-IDR picture (1).
    Slice,
    /// Coded slice data partitions A, B, C (2, 3, 4; Extended profile only).
    SlicePartition(u8),
    /// Coded slice of an IDR picture (5).
    Idr,
    /// Supplemental enhancement information (6).
    Sei,
    /// Sequence parameter set (7).
    Sps,
    /// Picture parameter set (8).
    Pps,
    /// Access unit delimiter (9).
    Aud,
    /// End of sequence (10).
    EndOfSequence,
    /// End of stream (11).
    EndOfStream,
    /// Filler data (12).
    Filler,
    /// Any other type (13..=31 and 0), with its number.
    Other(u8),
}

impl NalType {
    /// The type of the NAL unit whose first (header) byte is `header`.
    pub fn from_header(header: u8) -> Self {
        match header & 0x1f {
            1 => NalType::Slice,
            t @ 2..=4 => NalType::SlicePartition(t),
            5 => NalType::Idr,
            6 => NalType::Sei,
            7 => NalType::Sps,
            8 => NalType::Pps,
            9 => NalType::Aud,
            10 => NalType::EndOfSequence,
            11 => NalType::EndOfStream,
            12 => NalType::Filler,
            t => NalType::Other(t),
        }
    }

    /// The `nal_unit_type` number.
    pub fn number(self) -> u8 {
        match self {
            NalType::Slice => 1,
            NalType::SlicePartition(t) | NalType::Other(t) => t,
            NalType::Idr => 5,
            NalType::Sei => 6,
            NalType::Sps => 7,
            NalType::Pps => 8,
            NalType::Aud => 9,
            NalType::EndOfSequence => 10,
            NalType::EndOfStream => 11,
            NalType::Filler => 12,
        }
    }

    /// True for the video coding layer types 1..=5 (slices and slice data partitions).
    pub fn is_vcl(self) -> bool {
        (1..=5).contains(&self.number())
    }
}

/// One NAL unit inside a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nal<'a> {
    /// The NAL unit: header byte and payload (still with emulation prevention bytes), without
    /// start code and without trailing zero bytes.
    pub bytes: &'a [u8],
    /// Where the NAL unit lies in the scanned buffer, from the first byte of its start code
    /// (the leading zero of a 4-byte start code included) to the end of [`Nal::bytes`].
    pub range: Range<usize>,
}

impl Nal<'_> {
    /// The NAL unit type (the header byte is always present: empty NAL units are never yielded).
    pub fn nal_type(&self) -> NalType {
        NalType::from_header(self.bytes[0])
    }

    /// `nal_ref_idc` (0 = not used for reference).
    pub fn ref_idc(&self) -> u8 {
        (self.bytes[0] >> 5) & 0x03
    }

    /// `first_mb_in_slice` of a slice NAL unit (types 1 and 5; `None` for other types or when the
    /// slice header is cut short).
    pub fn first_mb_in_slice(&self) -> Option<u32> {
        match self.nal_type() {
            NalType::Slice | NalType::Idr => RbspBits::new(&self.bytes[1..]).read_ue(),
            _ => None,
        }
    }
}

/// Iterator over the NAL units of an Annex B buffer, see [`nal_units`].
#[derive(Debug, Clone)]
pub struct NalUnits<'a> {
    buf: &'a [u8],
    /// Position of the next start code (its first zero byte), if any.
    next: Option<(usize, usize)>,
}

/// The NAL units of `buf`, in order. Accepts 3- and 4-byte start codes (and longer runs of
/// zeros); bytes before the first start code are skipped.
pub fn nal_units(buf: &[u8]) -> NalUnits<'_> {
    NalUnits {
        buf,
        next: find_start_code(buf, 0),
    }
}

/// Finds the first start code at or after `from`: returns (start of the code including a
/// leading zero byte if there is one, first byte after the code).
fn find_start_code(buf: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut i = from;
    while i + 3 <= buf.len() {
        if buf[i + 2] > 1 {
            i += 3;
        } else if buf[i] == 0 && buf[i + 1] == 0 && buf[i + 2] == 1 {
            let start = if i > from && buf[i - 1] == 0 {
                i - 1
            } else {
                i
            };
            return Some((start, i + 3));
        } else {
            i += 1;
        }
    }
    None
}

impl<'a> Iterator for NalUnits<'a> {
    type Item = Nal<'a>;

    fn next(&mut self) -> Option<Nal<'a>> {
        loop {
            let (start, payload) = self.next?;
            self.next = find_start_code(self.buf, payload);
            let mut end = self.next.map_or(self.buf.len(), |(s, _)| s);
            while end > payload && self.buf[end - 1] == 0 {
                end -= 1;
            }
            if end > payload {
                return Some(Nal {
                    bytes: &self.buf[payload..end],
                    range: start..end,
                });
            }
        }
    }
}

/// Where a NAL unit stands relative to the access unit being collected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NalRole {
    /// A VCL NAL unit that starts a new picture once the current access unit has one.
    FirstSlice,
    /// A VCL NAL unit continuing the current picture.
    Slice,
    /// A NAL unit that may only precede the slices of its access unit (parameter sets, SEI,
    /// ...): it starts a new access unit when it follows a slice.
    Prefix,
    /// A delimiter: always starts a new access unit.
    Delimiter,
    /// Anything else: stays in the current access unit.
    Other,
}

/// Iterator over the access units of an Annex B buffer, see [`access_units`] and
/// [`crate::hevc::access_units`].
#[derive(Debug, Clone)]
pub struct AccessUnits<'a> {
    buf: &'a [u8],
    nals: std::iter::Peekable<NalUnits<'a>>,
    role: fn(&Nal<'_>) -> NalRole,
}

/// The access units of `buf`: each item is the contiguous part of `buf` holding one access
/// unit's NAL units with their start codes. A buffer without start codes has none.
pub fn access_units(buf: &[u8]) -> AccessUnits<'_> {
    access_units_by(buf, h264_role)
}

/// Access units of a stream whose NAL units `role` classifies (H.264 or HEVC).
pub(crate) fn access_units_by(buf: &[u8], role: fn(&Nal<'_>) -> NalRole) -> AccessUnits<'_> {
    AccessUnits {
        buf,
        nals: nal_units(buf).peekable(),
        role,
    }
}

/// H.264 7.4.1.2.3, without the `frame_num`/POC comparisons (only needed for arbitrary slice
/// order).
fn h264_role(nal: &Nal<'_>) -> NalRole {
    match nal.nal_type().number() {
        9 => NalRole::Delimiter,
        6..=8 | 14..=18 => NalRole::Prefix,
        1..=5 if nal.first_mb_in_slice() == Some(0) => NalRole::FirstSlice,
        1..=5 => NalRole::Slice,
        _ => NalRole::Other,
    }
}

impl<'a> Iterator for AccessUnits<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let first = self.nals.next()?;
        let mut end = first.range.end;
        let is_vcl = |role| matches!(role, NalRole::FirstSlice | NalRole::Slice);
        let mut seen_vcl = is_vcl((self.role)(&first));
        while let Some(nal) = self.nals.peek() {
            let role = (self.role)(nal);
            let starts_new = match role {
                NalRole::Delimiter => true,
                NalRole::Prefix | NalRole::FirstSlice => seen_vcl,
                NalRole::Slice | NalRole::Other => false,
            };
            if starts_new {
                break;
            }
            seen_vcl |= is_vcl(role);
            end = nal.range.end;
            self.nals.next();
        }
        Some(&self.buf[first.range.start..end])
    }
}

/// True when `buf` holds an IDR slice (an access unit or packet that starts a closed GOP).
pub fn contains_idr(buf: &[u8]) -> bool {
    nal_units(buf).any(|n| n.nal_type() == NalType::Idr)
}

/// Converts Annex B to length-prefixed NAL units with 4-byte big-endian lengths (the MP4 `avc1`
/// sample format, `lengthSizeMinusOne = 3`).
pub fn annexb_to_length_prefixed(buf: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(buf.len() + 16);
    for nal in nal_units(buf) {
        // A NAL unit longer than 4 GiB cannot be stored in an MP4 sample either; the buffer
        // itself would have to exceed that, which `Vec` sizes on 64-bit hosts allow in theory.
        let len = u32::try_from(nal.bytes.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(nal.bytes);
    }
    out
}

/// Converts length-prefixed NAL units (`length_size` = 1, 2 or 4 bytes, as in an MP4 `avcC`)
/// to Annex B with 4-byte start codes. Fails on a length that runs past the end of `buf`.
pub fn length_prefixed_to_annexb(buf: &[u8], length_size: usize) -> crate::Result<Vec<u8>> {
    if !matches!(length_size, 1 | 2 | 4) {
        return Err(crate::Error::InvalidStream(format!(
            "NAL length size {length_size} (expected 1, 2 or 4)"
        )));
    }
    let mut out = Vec::with_capacity(buf.len() + 16);
    let mut pos = 0;
    while pos < buf.len() {
        let Some(len_bytes) = buf.get(pos..pos + length_size) else {
            return Err(crate::Error::InvalidStream(format!(
                "NAL length field at byte {pos} cut off ({} bytes left, {length_size} needed)",
                buf.len() - pos
            )));
        };
        let len = len_bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        pos += length_size;
        let Some(nal) = buf.get(pos..pos.saturating_add(len)) else {
            return Err(crate::Error::InvalidStream(format!(
                "NAL unit at byte {pos} claims {len} bytes, only {} left",
                buf.len() - pos
            )));
        };
        out.extend_from_slice(&[0, 0, 0, 1]);
        out.extend_from_slice(nal);
        pos += len;
    }
    Ok(out)
}

/// A bit reader over NAL payload bytes that drops emulation prevention bytes (`00 00 03`).
pub(crate) struct RbspBits<'a> {
    bytes: &'a [u8],
    pos: usize,
    zeros: usize,
    current: u8,
    bits_left: u8,
}

impl<'a> RbspBits<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            pos: 0,
            zeros: 0,
            current: 0,
            bits_left: 0,
        }
    }

    pub(crate) fn read_bit(&mut self) -> Option<u32> {
        if self.bits_left == 0 {
            let mut byte = *self.bytes.get(self.pos)?;
            self.pos += 1;
            if self.zeros >= 2 && byte == 3 {
                byte = *self.bytes.get(self.pos)?;
                self.pos += 1;
                self.zeros = 0;
            }
            self.zeros = if byte == 0 { self.zeros + 1 } else { 0 };
            self.current = byte;
            self.bits_left = 8;
        }
        self.bits_left -= 1;
        Some(u32::from((self.current >> self.bits_left) & 1))
    }

    /// `n` bits (at most 64), most significant first.
    pub(crate) fn read_bits(&mut self, n: u32) -> Option<u64> {
        (0..n).try_fold(0u64, |acc, _| {
            Some((acc << 1) | u64::from(self.read_bit()?))
        })
    }

    /// Unsigned Exp-Golomb `ue(v)`; `None` when cut short or longer than 32 bits.
    pub(crate) fn read_ue(&mut self) -> Option<u32> {
        let mut leading = 0;
        while self.read_bit()? == 0 {
            leading += 1;
            if leading > 31 {
                return None;
            }
        }
        let mut suffix = 0u32;
        for _ in 0..leading {
            suffix = (suffix << 1) | self.read_bit()?;
        }
        Some(((1u64 << leading) - 1 + u64::from(suffix)) as u32)
    }

    /// Signed Exp-Golomb `se(v)`.
    pub(crate) fn read_se(&mut self) -> Option<i64> {
        let k = i64::from(self.read_ue()?);
        Some(if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// IDR slice with first_mb_in_slice 0 (`ue` "1"), then a second slice of the same picture
    /// with first_mb_in_slice 5 (`ue` "00110").
    const IDR_MB0: [u8; 2] = [0x65, 0x88];
    const IDR_MB5: [u8; 2] = [0x65, 0x30];

    fn stream(parts: &[&[u8]]) -> Vec<u8> {
        parts.iter().flat_map(|p| p.iter().copied()).collect()
    }

    #[test]
    fn nal_units_handle_both_start_codes_and_trailing_zeros() {
        let buf = stream(&[
            &[0xff, 0x00],                // garbage before the first start code
            &[0, 0, 0, 1, 0x67, 0x42],    // SPS, 4-byte start code
            &[0, 0, 1, 0x68, 0xce, 0, 0], // PPS, 3-byte start code, trailing zeros
            &[0, 0, 0, 1],                // empty NAL unit
            &[0, 0, 1, 0x65, 0x88, 0x84],
        ]);
        let nals: Vec<_> = nal_units(&buf).collect();
        let types: Vec<_> = nals.iter().map(|n| n.nal_type()).collect();
        assert_eq!(types, [NalType::Sps, NalType::Pps, NalType::Idr]);
        assert_eq!(nals[0].bytes, [0x67, 0x42]);
        assert_eq!(nals[0].range, 2..8);
        assert_eq!(nals[1].bytes, [0x68, 0xce]);
        assert_eq!(nals[1].range, 8..13);
        assert_eq!(nals[2].bytes, [0x65, 0x88, 0x84]);
        assert_eq!(nals[2].ref_idc(), 3);
        assert_eq!(&buf[nals[2].range.clone()], [0, 0, 1, 0x65, 0x88, 0x84]);
        assert_eq!(nal_units(&[0xff, 0, 0, 2, 1]).count(), 0);
    }

    #[test]
    fn first_mb_in_slice_reads_exp_golomb_across_emulation_prevention() {
        fn nal(bytes: &[u8]) -> Nal<'_> {
            Nal {
                bytes,
                range: 0..bytes.len(),
            }
        }
        assert_eq!(nal(&IDR_MB0).first_mb_in_slice(), Some(0));
        assert_eq!(nal(&IDR_MB5).first_mb_in_slice(), Some(5));
        // 23 leading zero bits, a one, then 23 suffix bits: the bytes 00 00 contain the
        // emulation prevention byte 03 that must be skipped.
        let long = [0x41, 0x00, 0x00, 0x03, 0x01, 0xff, 0xff, 0xfe];
        assert_eq!(nal(&long).first_mb_in_slice(), Some((1 << 24) - 2));
        assert_eq!(nal(&[0x41, 0x00]).first_mb_in_slice(), None);
        assert_eq!(nal(&[0x67, 0x80]).first_mb_in_slice(), None);
    }

    #[test]
    fn access_units_split_at_parameter_sets_and_new_pictures() {
        let sc = [0u8, 0, 0, 1];
        let au0 = stream(&[
            &sc,
            &[0x09, 0xf0],
            &sc,
            &[0x67, 1],
            &sc,
            &[0x68, 2],
            &sc,
            &IDR_MB0,
            &sc,
            &IDR_MB5,
        ]);
        let au1 = stream(&[&sc, &[0x41, 0x9a]]); // P slice, first_mb 0
        let au2 = stream(&[&sc, &[0x06, 5], &sc, &[0x41, 0x9a], &sc, &[0x41, 0x30]]);
        let au3 = stream(&[&sc, &[0x67, 1], &sc, &[0x68, 2], &sc, &IDR_MB0]);
        let all = stream(&[&au0, &au1, &au2, &au3]);
        let aus: Vec<&[u8]> = access_units(&all).collect();
        assert_eq!(aus, [&au0[..], &au1[..], &au2[..], &au3[..]]);
        assert!(contains_idr(aus[0]) && !contains_idr(aus[1]) && contains_idr(aus[3]));
    }

    #[test]
    fn length_prefixed_round_trip_and_errors() {
        let annexb = stream(&[&[0, 0, 0, 1, 0x67, 1, 2], &[0, 0, 0, 1, 0x65, 0x88]]);
        let avcc = annexb_to_length_prefixed(&annexb);
        assert_eq!(avcc, [0, 0, 0, 3, 0x67, 1, 2, 0, 0, 0, 2, 0x65, 0x88]);
        assert_eq!(length_prefixed_to_annexb(&avcc, 4).unwrap(), annexb);
        assert_eq!(
            length_prefixed_to_annexb(&avcc[..12], 4)
                .unwrap_err()
                .to_string(),
            "invalid H.264 stream: NAL unit at byte 11 claims 2 bytes, only 1 left"
        );
        assert_eq!(
            length_prefixed_to_annexb(&avcc, 3).unwrap_err().to_string(),
            "invalid H.264 stream: NAL length size 3 (expected 1, 2 or 4)"
        );
        assert_eq!(
            length_prefixed_to_annexb(&[2, 0x09, 0xf0], 1).unwrap(),
            [0, 0, 0, 1, 0x09, 0xf0]
        );
    }

    proptest! {
        #[test]
        fn splitting_arbitrary_bytes_never_panics_and_covers_every_nal(
            buf in proptest::collection::vec(prop_oneof![Just(0u8), Just(1u8), Just(3u8), any::<u8>()], 0..400)
        ) {
            let nal_count = nal_units(&buf).count();
            let mut nals_in_aus = 0;
            for au in access_units(&buf) {
                prop_assert!(!au.is_empty());
                nals_in_aus += nal_units(au).count();
            }
            prop_assert_eq!(nals_in_aus, nal_count);
            let back = length_prefixed_to_annexb(&annexb_to_length_prefixed(&buf), 4).unwrap();
            prop_assert_eq!(nal_units(&back).count(), nal_count);
        }
    }
}
