//! AV1 in the low-overhead bitstream format (AV1 specification 5.2 and 7.5): OBUs that all carry
//! a size field, grouped into temporal units that start with a temporal delimiter. Key frame
//! detection, and the sequence header fields that an MP4 `av1C` box repeats.
//!
//! Every function here is total: malformed input gives an error or `None`, never a panic.

use std::ops::Range;

use crate::{Error, Result};

/// `obu_type` of a sequence header.
pub const OBU_SEQUENCE_HEADER: u8 = 1;
/// `obu_type` of a temporal delimiter.
pub const OBU_TEMPORAL_DELIMITER: u8 = 2;
/// `obu_type` of a frame header.
pub const OBU_FRAME_HEADER: u8 = 3;
/// `obu_type` of a frame (frame header and tile group).
pub const OBU_FRAME: u8 = 6;
/// `obu_type` of padding.
pub const OBU_PADDING: u8 = 15;

/// One OBU inside a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Obu<'a> {
    /// `obu_type` (1..=15).
    pub obu_type: u8,
    /// The OBU payload, after its header and size field.
    pub payload: &'a [u8],
    /// Where the whole OBU (header, size field, payload) lies in the scanned buffer.
    pub range: Range<usize>,
}

/// Iterator over the OBUs of a buffer, see [`obus`].
#[derive(Debug, Clone)]
pub struct Obus<'a> {
    buf: &'a [u8],
    pos: usize,
    failed: bool,
}

/// The OBUs of a low-overhead AV1 stream, in order. Yields an error (and then stops) at an OBU
/// without a size field, with the forbidden bit set, or running past the end of `buf`.
pub fn obus(buf: &[u8]) -> Obus<'_> {
    Obus {
        buf,
        pos: 0,
        failed: false,
    }
}

impl<'a> Iterator for Obus<'a> {
    type Item = Result<Obu<'a>>;

    fn next(&mut self) -> Option<Result<Obu<'a>>> {
        if self.failed || self.pos >= self.buf.len() {
            return None;
        }
        let parsed = parse_obu(self.buf, self.pos);
        match &parsed {
            Ok(obu) => self.pos = obu.range.end,
            Err(_) => self.failed = true,
        }
        Some(parsed)
    }
}

fn invalid(detail: String) -> Error {
    Error::InvalidAv1(detail)
}

/// Reads the OBU starting at `start` (AV1 5.3.1 and 5.3.2).
fn parse_obu(buf: &[u8], start: usize) -> Result<Obu<'_>> {
    let header = buf[start];
    if header & 0x80 != 0 {
        return Err(invalid(format!(
            "OBU at byte {start} has the forbidden bit set (not an AV1 OBU stream?)"
        )));
    }
    if header & 0x02 == 0 {
        return Err(invalid(format!(
            "OBU at byte {start} has no size field (expected the low-overhead format, AV1 5.2)"
        )));
    }
    let extension = usize::from(header & 0x04 != 0);
    let mut pos = start + 1 + extension;
    // leb128(): at most 8 bytes, value below 2^32.
    let mut size: u64 = 0;
    for i in 0..8 {
        let Some(&byte) = buf.get(pos) else {
            return Err(invalid(format!(
                "OBU at byte {start} is cut off in its size field"
            )));
        };
        pos += 1;
        size |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            break;
        }
        if i == 7 {
            return Err(invalid(format!(
                "OBU at byte {start} has an over-long size field"
            )));
        }
    }
    let left = buf.len() - pos;
    let Some(size) = usize::try_from(size).ok().filter(|&s| s <= left) else {
        return Err(invalid(format!(
            "OBU at byte {start} claims {size} bytes, only {left} left"
        )));
    };
    Ok(Obu {
        obu_type: (header >> 3) & 0x0f,
        payload: &buf[pos..pos + size],
        range: start..pos + size,
    })
}

/// Start offsets of the temporal units in `buf`: 0, then every temporal delimiter after the
/// first OBU. Scanning stops silently at the first malformed OBU (for streams still arriving).
pub(crate) fn temporal_unit_starts(buf: &[u8]) -> Vec<usize> {
    let mut starts = Vec::new();
    for obu in obus(buf).map_while(|o| o.ok()) {
        if starts.is_empty() || obu.obu_type == OBU_TEMPORAL_DELIMITER {
            starts.push(obu.range.start);
        }
    }
    starts
}

/// Splits a whole low-overhead stream into temporal units (each from one temporal delimiter to
/// the next); fails on the first malformed OBU.
pub fn temporal_units(buf: &[u8]) -> Result<Vec<&[u8]>> {
    if let Some(err) = obus(buf).find_map(|o| o.err()) {
        return Err(err);
    }
    let starts = temporal_unit_starts(buf);
    let ends = starts.iter().skip(1).copied().chain([buf.len()]);
    Ok(starts.iter().zip(ends).map(|(&s, e)| &buf[s..e]).collect())
}

/// True when the temporal unit shows a key frame (`frame_type == KEY_FRAME`, `show_frame`, not
/// `show_existing_frame`): a random access point when a sequence header comes with it.
pub fn is_key_frame(temporal_unit: &[u8]) -> bool {
    let mut reduced_still_picture = false;
    for obu in obus(temporal_unit).map_while(|o| o.ok()) {
        match obu.obu_type {
            OBU_SEQUENCE_HEADER => {
                reduced_still_picture = parse_sequence_header(obu.payload)
                    .is_some_and(|s| s.reduced_still_picture_header);
            }
            OBU_FRAME | OBU_FRAME_HEADER => {
                if reduced_still_picture {
                    return true; // such streams hold one key frame and no frame type field
                }
                let Some(&first) = obu.payload.first() else {
                    return false;
                };
                let show_existing_frame = first & 0x80 != 0;
                let frame_type = (first >> 5) & 0x03;
                let show_frame = first & 0x10 != 0;
                return !show_existing_frame && frame_type == 0 && show_frame;
            }
            _ => {}
        }
    }
    false
}

/// True when the temporal unit holds a sequence header OBU.
pub fn has_sequence_header(temporal_unit: &[u8]) -> bool {
    obus(temporal_unit)
        .map_while(|o| o.ok())
        .any(|o| o.obu_type == OBU_SEQUENCE_HEADER)
}

/// The sequence header fields that MP4 `av1C` repeats (AV1 5.5 and ISO/IEC AV1-ISOBMFF 2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SequenceHeader {
    pub profile: u8,
    pub still_picture: bool,
    pub reduced_still_picture_header: bool,
    /// `seq_level_idx[0]`.
    pub level_idx: u8,
    /// `seq_tier[0]`.
    pub tier: bool,
    pub high_bitdepth: bool,
    pub twelve_bit: bool,
    pub mono_chrome: bool,
    pub subsampling_x: bool,
    pub subsampling_y: bool,
    pub chroma_sample_position: u8,
    pub max_width: u32,
    pub max_height: u32,
}

/// A plain MSB-first bit reader (AV1 has no emulation prevention).
struct Bits<'a> {
    bytes: &'a [u8],
    bit: usize,
}

impl Bits<'_> {
    fn f(&mut self, n: u32) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..n {
            let byte = self.bytes.get(self.bit / 8)?;
            v = (v << 1) | u32::from((byte >> (7 - self.bit % 8)) & 1);
            self.bit += 1;
        }
        Some(v)
    }

    fn flag(&mut self) -> Option<bool> {
        self.f(1).map(|b| b == 1)
    }

    /// `uvlc()` (AV1 4.10.3); values of 32 leading zeros or more are refused.
    fn uvlc(&mut self) -> Option<u32> {
        let mut leading = 0;
        while !self.flag()? {
            leading += 1;
            if leading >= 32 {
                return None;
            }
        }
        Some(self.f(leading)? + ((1u32 << leading) - 1))
    }
}

/// Parses a sequence header OBU payload up to its colour configuration. `None` when cut short.
pub fn parse_sequence_header(payload: &[u8]) -> Option<SequenceHeader> {
    let mut r = Bits {
        bytes: payload,
        bit: 0,
    };
    let profile = r.f(3)? as u8;
    let still_picture = r.flag()?;
    let reduced = r.flag()?;
    let (level_idx, tier);
    if reduced {
        level_idx = r.f(5)? as u8;
        tier = false;
    } else {
        let mut buffer_delay_bits = 0;
        let mut decoder_model_info = false;
        if r.flag()? {
            // timing_info()
            r.f(32)?;
            r.f(32)?;
            if r.flag()? {
                r.uvlc()?;
            }
            decoder_model_info = r.flag()?;
            if decoder_model_info {
                buffer_delay_bits = r.f(5)? + 1;
                r.f(32)?;
                r.f(10)?; // buffer_removal_time_length_minus_1, frame_presentation_time_length_minus_1
            }
        }
        let initial_display_delay = r.flag()?;
        let operating_points = r.f(5)? + 1;
        let mut first = None;
        for _ in 0..operating_points {
            r.f(12)?; // operating_point_idc
            let level = r.f(5)? as u8;
            let op_tier = level > 7 && r.flag()?;
            if decoder_model_info && r.flag()? {
                r.f(buffer_delay_bits)?;
                r.f(buffer_delay_bits)?;
                r.f(1)?;
            }
            if initial_display_delay && r.flag()? {
                r.f(4)?;
            }
            first.get_or_insert((level, op_tier));
        }
        (level_idx, tier) = first?;
    }
    let width_bits = r.f(4)? + 1;
    let height_bits = r.f(4)? + 1;
    let max_width = r.f(width_bits)? + 1;
    let max_height = r.f(height_bits)? + 1;
    if !reduced && r.flag()? {
        r.f(7)?; // frame id lengths
    }
    r.f(3)?; // 128x128 superblocks, filter intra, intra edge filter
    if !reduced {
        r.f(4)?; // interintra, masked compound, warped motion, dual filter
        let order_hint = r.flag()?;
        if order_hint {
            r.f(2)?; // jnt_comp, ref_frame_mvs
        }
        let force_screen_content_tools = if r.flag()? { 2 } else { r.f(1)? };
        if force_screen_content_tools > 0 && !r.flag()? {
            r.f(1)?; // seq_force_integer_mv
        }
        if order_hint {
            r.f(3)?;
        }
    }
    r.f(3)?; // superres, cdef, restoration
             // color_config()
    let high_bitdepth = r.flag()?;
    let twelve_bit = profile == 2 && high_bitdepth && r.flag()?;
    let mono_chrome = profile != 1 && r.flag()?;
    let (mut primaries, mut transfer, mut matrix) = (2, 2, 2);
    if r.flag()? {
        primaries = r.f(8)?;
        transfer = r.f(8)?;
        matrix = r.f(8)?;
    }
    let (subsampling_x, subsampling_y, mut chroma_sample_position) = if mono_chrome {
        (true, true, 0)
    } else if (primaries, transfer, matrix) == (1, 13, 0) {
        (false, false, 0) // sRGB: 4:4:4
    } else {
        r.f(1)?; // color_range
        match profile {
            0 => (true, true, 0),
            1 => (false, false, 0),
            _ if twelve_bit => {
                let x = r.flag()?;
                (x, x && r.flag()?, 0)
            }
            _ => (true, false, 0),
        }
    };
    if !mono_chrome && subsampling_x && subsampling_y {
        chroma_sample_position = r.f(2)? as u8;
    }
    Some(SequenceHeader {
        profile,
        still_picture,
        reduced_still_picture_header: reduced,
        level_idx,
        tier,
        high_bitdepth,
        twelve_bit,
        mono_chrome,
        subsampling_x,
        subsampling_y,
        chroma_sample_position,
        max_width,
        max_height,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A temporal unit like the first of a 352x288 libaom stream: temporal delimiter, sequence
    /// header, then a (shortened) key frame OBU.
    fn key_unit() -> Vec<u8> {
        let mut tu = vec![0x12, 0x00];
        tu.extend([0x0a, SEQ_HEADER.len() as u8]);
        tu.extend(SEQ_HEADER);
        tu.extend([0x32, 0x03, 0x10, 0x00, 0x00]); // OBU_FRAME: KEY_FRAME, show_frame
        tu
    }

    /// libaom's sequence header for 352x288 8-bit 4:2:0 (ffprobe: profile Main, level 0).
    const SEQ_HEADER: [u8; 11] = [
        0x00, 0x00, 0x00, 0x04, 0x45, 0x7e, 0x3e, 0x6d, 0x7c, 0x80, 0x20,
    ];

    #[test]
    fn obus_and_temporal_units() {
        let key = key_unit();
        let inter = [0x12, 0x00, 0x32, 0x02, 0x30, 0x00]; // TD, OBU_FRAME: INTER_FRAME shown
        let stream = [key.as_slice(), &inter].concat();
        let types: Vec<u8> = obus(&stream).map(|o| o.unwrap().obu_type).collect();
        assert_eq!(types, [2, 1, 6, 2, 6]);
        let units = temporal_units(&stream).unwrap();
        assert_eq!(units, [key.as_slice(), &inter]);
        assert!(is_key_frame(units[0]) && has_sequence_header(units[0]));
        assert!(!is_key_frame(units[1]) && !has_sequence_header(units[1]));
        assert_eq!(
            temporal_unit_starts(&stream[..stream.len() - 1]),
            [0, key.len()]
        );
    }

    #[test]
    fn malformed_obus_are_errors() {
        let err = |buf: &[u8]| temporal_units(buf).unwrap_err().to_string();
        assert_eq!(
            err(&[0x12, 0x00, 0x32, 0x05, 0x10]),
            "invalid AV1 stream: OBU at byte 2 claims 5 bytes, only 1 left"
        );
        assert_eq!(
            err(&[0x30, 0x10]),
            "invalid AV1 stream: OBU at byte 0 has no size field (expected the \
             low-overhead format, AV1 5.2)"
        );
        assert_eq!(
            err(&[0x92, 0x00]),
            "invalid AV1 stream: OBU at byte 0 has the forbidden bit set (not an AV1 \
             OBU stream?)"
        );
        assert_eq!(
            err(&[0x12, 0x80]),
            "invalid AV1 stream: OBU at byte 0 is cut off in its size field"
        );
    }

    #[test]
    fn sequence_header_fields() {
        let seq = parse_sequence_header(&SEQ_HEADER).unwrap();
        assert_eq!((seq.max_width, seq.max_height), (352, 288));
        assert_eq!((seq.profile, seq.level_idx, seq.tier), (0, 0, false));
        assert!(seq.subsampling_x && seq.subsampling_y && !seq.high_bitdepth && !seq.mono_chrome);
        assert_eq!(parse_sequence_header(&SEQ_HEADER[..5]), None);
    }
}
