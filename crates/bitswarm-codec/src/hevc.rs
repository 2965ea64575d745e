//! HEVC (H.265) Annex B byte streams: NAL unit types, access units, random access points, and
//! the SPS fields that an MP4 `hvcC` box repeats.
//!
//! The start-code scanning is [`crate::annexb::nal_units`]; only the two-byte NAL header and the
//! access unit rules differ from H.264. Like the H.264 utilities, everything here is total: any
//! input gives a result, never a panic.

use crate::annexb::{access_units_by, nal_units, AccessUnits, Nal, NalRole, RbspBits};

/// Video parameter set (`nal_unit_type` 32).
pub const VPS: u8 = 32;
/// Sequence parameter set (33).
pub const SPS: u8 = 33;
/// Picture parameter set (34).
pub const PPS: u8 = 34;
/// Access unit delimiter (35).
pub const AUD: u8 = 35;
/// Prefix SEI (39).
pub const PREFIX_SEI: u8 = 39;

/// The `nal_unit_type` of an HEVC NAL unit (6 bits of its first header byte).
pub fn nal_type(nal: &Nal<'_>) -> u8 {
    (nal.bytes[0] >> 1) & 0x3f
}

/// True for coded slice segments (types 0..=31).
pub fn is_vcl(nal_type: u8) -> bool {
    nal_type < 32
}

/// True for intra random access points (BLA, IDR, CRA: types 16..=23).
pub fn is_irap(nal_type: u8) -> bool {
    (16..=23).contains(&nal_type)
}

/// True for the parameter sets that `hvcC` can carry (VPS, SPS, PPS).
pub fn is_parameter_set(nal_type: u8) -> bool {
    matches!(nal_type, VPS | SPS | PPS)
}

/// H.265 7.4.2.4.4: an access unit delimiter starts one; parameter sets, prefix SEI and types
/// 41..=44 and 48..=55 after a slice start one; a slice segment with
/// `first_slice_segment_in_pic_flag` starts a new picture.
fn hevc_role(nal: &Nal<'_>) -> NalRole {
    match nal_type(nal) {
        AUD => NalRole::Delimiter,
        VPS | SPS | PPS | PREFIX_SEI | 41..=44 | 48..=55 => NalRole::Prefix,
        t if is_vcl(t) => match nal.bytes.get(2) {
            Some(b) if b & 0x80 != 0 => NalRole::FirstSlice,
            _ => NalRole::Slice,
        },
        _ => NalRole::Other,
    }
}

/// The access units of an HEVC Annex B buffer, each a contiguous slice of `buf`.
pub fn access_units(buf: &[u8]) -> AccessUnits<'_> {
    access_units_by(buf, hevc_role)
}

/// True when `buf` holds an IRAP slice segment (with our closed GOPs: an IDR).
pub fn contains_irap(buf: &[u8]) -> bool {
    nal_units(buf).any(|n| is_irap(nal_type(&n)))
}

/// The fields of an SPS (H.265 7.3.2.2) that the `hvcC` record repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpsInfo {
    pub profile_space: u8,
    pub tier: bool,
    pub profile_idc: u8,
    pub profile_compatibility: u32,
    /// The 48 general constraint indicator flags, in the low bits.
    pub constraint_flags: u64,
    pub level_idc: u8,
    /// `sps_max_sub_layers_minus1 + 1`.
    pub sub_layers: u8,
    pub temporal_id_nesting: bool,
    pub chroma_format_idc: u8,
    pub bit_depth_luma: u8,
    pub bit_depth_chroma: u8,
    /// `sps_seq_parameter_set_id`.
    pub sps_id: u32,
    pub separate_colour_plane: bool,
    /// `log2_max_pic_order_cnt_lsb_minus4 + 4`: bits of `slice_pic_order_cnt_lsb`.
    pub poc_lsb_bits: u32,
}

/// Parses the start of an SPS NAL unit (header included). `None` when it is not an SPS or is
/// cut short.
pub fn parse_sps(nal: &Nal<'_>) -> Option<SpsInfo> {
    if nal_type(nal) != SPS {
        return None;
    }
    let mut r = RbspBits::new(nal.bytes.get(2..)?);
    let _vps_id = r.read_bits(4)?;
    let max_sub_layers_minus1 = r.read_bits(3)? as u8;
    let temporal_id_nesting = r.read_bit()? == 1;
    // profile_tier_level(1, sps_max_sub_layers_minus1), H.265 7.3.3
    let profile_space = r.read_bits(2)? as u8;
    let tier = r.read_bit()? == 1;
    let profile_idc = r.read_bits(5)? as u8;
    let profile_compatibility = r.read_bits(32)? as u32;
    let constraint_flags = r.read_bits(48)?;
    let level_idc = r.read_bits(8)? as u8;
    let mut present = Vec::with_capacity(usize::from(max_sub_layers_minus1));
    for _ in 0..max_sub_layers_minus1 {
        present.push((r.read_bit()? == 1, r.read_bit()? == 1));
    }
    if max_sub_layers_minus1 > 0 {
        r.read_bits(2 * (8 - u32::from(max_sub_layers_minus1)))?;
    }
    for (profile_present, level_present) in present {
        if profile_present {
            r.read_bits(88)?;
        }
        if level_present {
            r.read_bits(8)?;
        }
    }
    let sps_id = r.read_ue()?;
    let chroma_format_idc = u8::try_from(r.read_ue()?).ok()?;
    let separate_colour_plane = chroma_format_idc == 3 && r.read_bit()? == 1;
    let _width = r.read_ue()?;
    let _height = r.read_ue()?;
    if r.read_bit()? == 1 {
        for _ in 0..4 {
            r.read_ue()?; // conformance window offsets
        }
    }
    let bit_depth_luma = u8::try_from(r.read_ue()?.checked_add(8)?).ok()?;
    let bit_depth_chroma = u8::try_from(r.read_ue()?.checked_add(8)?).ok()?;
    let poc_lsb_bits = r.read_ue()?.checked_add(4)?;
    Some(SpsInfo {
        profile_space,
        tier,
        profile_idc,
        profile_compatibility,
        constraint_flags,
        level_idc,
        sub_layers: max_sub_layers_minus1 + 1,
        temporal_id_nesting,
        chroma_format_idc,
        bit_depth_luma,
        bit_depth_chroma,
        sps_id,
        separate_colour_plane,
        poc_lsb_bits,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SPS x265 writes for 352x288 Main profile, level 2 (from `ffmpeg -c:v libx265`).
    const SPS_CIF: [u8; 39] = [
        0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00,
        0x03, 0x00, 0x3c, 0xa0, 0x0b, 0x08, 0x04, 0x85, 0x96, 0x56, 0x69, 0x24, 0xca, 0xe6, 0x80,
        0x80, 0x00, 0x01, 0xf4, 0x80, 0x00, 0x3a, 0x98, 0x04,
    ];

    fn nal(bytes: &[u8]) -> Nal<'_> {
        Nal {
            bytes,
            range: 0..bytes.len(),
        }
    }

    #[test]
    fn sps_fields_are_read_across_emulation_prevention() {
        let info = parse_sps(&nal(&SPS_CIF)).unwrap();
        assert_eq!(
            info,
            SpsInfo {
                profile_space: 0,
                tier: false,
                profile_idc: 1,
                profile_compatibility: 0x6000_0000,
                constraint_flags: 0x9000_0000_0000,
                level_idc: 60,
                sub_layers: 1,
                temporal_id_nesting: true,
                chroma_format_idc: 1,
                bit_depth_luma: 8,
                bit_depth_chroma: 8,
                sps_id: 0,
                separate_colour_plane: false,
                poc_lsb_bits: 8,
            }
        );
        assert_eq!(parse_sps(&nal(&SPS_CIF[..12])), None);
        assert_eq!(parse_sps(&nal(&[0x40, 0x01, 0x0c])), None); // a VPS
    }

    #[test]
    fn access_units_split_at_parameter_sets_and_first_slices() {
        let sc = [0u8, 0, 0, 1];
        let cat = |parts: &[&[u8]]| -> Vec<u8> { parts.concat() };
        // VPS SPS PPS SEI IDR_N_LP(first) IDR_N_LP(second segment)
        let au0 = cat(&[
            &sc,
            &[0x40, 0x01, 0x0c],
            &sc,
            &[0x42, 0x01, 0x01],
            &sc,
            &[0x44, 0x01, 0xc1],
            &sc,
            &[0x4e, 0x01, 0x05],
            &sc,
            &[0x28, 0x01, 0xaf],
            &sc,
            &[0x28, 0x01, 0x2f],
        ]);
        let au1 = cat(&[&sc, &[0x02, 0x01, 0xd0]]); // TRAIL_R, first segment
        let au2 = cat(&[&sc, &[0x46, 0x01, 0x10], &sc, &[0x00, 0x01, 0xe0]]); // AUD, TRAIL_N
        let all = cat(&[&au0, &au1, &au2]);
        let units: Vec<&[u8]> = access_units(&all).collect();
        assert_eq!(units, [&au0[..], &au1[..], &au2[..]]);
        assert!(contains_irap(units[0]) && !contains_irap(units[1]));
    }
}
