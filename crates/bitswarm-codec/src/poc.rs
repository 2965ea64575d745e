//! Picture order counts of H.264 and HEVC access units, for containers that need each picture's
//! presentation time (x264 and x265 write B-frames, so decoding order is not display order).
//!
//! Parameter sets are remembered by id as they pass; each access unit's first slice header is
//! read up to its `pic_order_cnt_lsb`, and the count is derived as in H.264 8.2.1.1 (type 0;
//! type 2 follows decoding order) and H.265 8.3.1. Field coding and H.264 POC type 1 are refused.

use std::collections::HashMap;

use bitswarm_core::Codec;

use crate::annexb::{nal_units, Nal, NalType, RbspBits};
use crate::hevc;
use crate::{Error, Result};

/// The picture order count of one access unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Poc {
    /// Display rank within the current group: larger is shown later.
    pub value: i64,
    /// True when the access unit starts a new group (an IDR): counts restart, and no picture
    /// of an earlier group is shown after it.
    pub new_group: bool,
}

/// What a sequence parameter set says about picture order.
#[derive(Debug, Clone, Copy)]
struct SpsOrder {
    /// `log2_max_frame_num` (H.264 only).
    frame_num_bits: u32,
    /// H.264 `pic_order_cnt_type` (HEVC: always 0).
    poc_type: u32,
    poc_lsb_bits: u32,
    /// H.264: frames only (no field coding).
    frame_mbs_only: bool,
    separate_colour_plane: bool,
}

/// What a picture parameter set adds for the slice header (HEVC fields; H.264 only the SPS id).
#[derive(Debug, Clone, Copy)]
struct PpsOrder {
    sps_id: u32,
    output_flag_present: bool,
    extra_slice_header_bits: u32,
}

/// Follows an H.264 or HEVC stream access unit by access unit and gives each its picture order
/// count.
#[derive(Debug)]
pub struct PictureOrder {
    codec: Codec,
    sps: HashMap<u32, SpsOrder>,
    pps: HashMap<u32, PpsOrder>,
    /// Access units seen.
    units: u64,
    /// Access units since the last group start (POC type 2: decoding order).
    in_group: i64,
    prev_msb: i64,
    prev_lsb: i64,
}

fn bad(unit: u64, what: &str) -> Error {
    Error::Decode {
        access_unit: unit,
        detail: format!("cannot read the picture order: {what}"),
    }
}

impl PictureOrder {
    /// A tracker for `codec` (H.264 or HEVC; AV1 shows its temporal units in order).
    pub fn new(codec: Codec) -> Result<Self> {
        if codec == Codec::Av1 {
            return Err(Error::Unsupported(
                "picture order counts of AV1 (temporal units are in display order)".into(),
            ));
        }
        Ok(Self {
            codec,
            sps: HashMap::new(),
            pps: HashMap::new(),
            units: 0,
            in_group: 0,
            prev_msb: 0,
            prev_lsb: 0,
        })
    }

    /// The picture order count of the next access unit (which must carry, or follow, the
    /// parameter sets it refers to).
    pub fn next(&mut self, access_unit: &[u8]) -> Result<Poc> {
        let unit = self.units;
        self.units += 1;
        let mut first_slice = None;
        for nal in nal_units(access_unit) {
            match self.codec {
                Codec::H264 => match nal.nal_type() {
                    NalType::Sps => self.h264_sps(&nal, unit)?,
                    NalType::Pps => self.h264_pps(&nal, unit)?,
                    t if t.is_vcl() => {
                        first_slice.get_or_insert(nal);
                    }
                    _ => {}
                },
                _ => match hevc::nal_type(&nal) {
                    hevc::SPS => self.hevc_sps(&nal, unit)?,
                    hevc::PPS => self.hevc_pps(&nal, unit)?,
                    t if hevc::is_vcl(t) => {
                        first_slice.get_or_insert(nal);
                    }
                    _ => {}
                },
            }
        }
        let slice = first_slice.ok_or_else(|| bad(unit, "the access unit has no slice"))?;
        match self.codec {
            Codec::H264 => self.h264_slice(&slice, unit),
            _ => self.hevc_slice(&slice, unit),
        }
    }

    fn h264_sps(&mut self, nal: &Nal<'_>, unit: u64) -> Result<()> {
        let cut = || bad(unit, "SPS cut short");
        let mut r = RbspBits::new(&nal.bytes[1..]);
        let profile = r.read_bits(8).ok_or_else(cut)?;
        r.read_bits(16).ok_or_else(cut)?; // constraint flags, level
        let id = r.read_ue().ok_or_else(cut)?;
        let mut separate_colour_plane = false;
        if matches!(
            profile,
            100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
        ) {
            let chroma = r.read_ue().ok_or_else(cut)?;
            if chroma == 3 {
                separate_colour_plane = r.read_bit().ok_or_else(cut)? == 1;
            }
            r.read_ue().ok_or_else(cut)?; // bit depths
            r.read_ue().ok_or_else(cut)?;
            r.read_bit().ok_or_else(cut)?; // qpprime_y_zero_transform_bypass
            if r.read_bit().ok_or_else(cut)? == 1 {
                let lists = if chroma == 3 { 12 } else { 8 };
                for i in 0..lists {
                    if r.read_bit().ok_or_else(cut)? == 1 {
                        skip_scaling_list(&mut r, if i < 6 { 16 } else { 64 }).ok_or_else(cut)?;
                    }
                }
            }
        }
        let frame_num_bits = r.read_ue().ok_or_else(cut)? + 4;
        let poc_type = r.read_ue().ok_or_else(cut)?;
        let poc_lsb_bits = match poc_type {
            0 => r.read_ue().ok_or_else(cut)? + 4,
            2 => 0,
            _ => return Err(bad(unit, &format!("H.264 pic_order_cnt_type {poc_type}"))),
        };
        r.read_ue().ok_or_else(cut)?; // max_num_ref_frames
        r.read_bit().ok_or_else(cut)?; // gaps_in_frame_num_value_allowed
        r.read_ue().ok_or_else(cut)?; // pic_width_in_mbs_minus1
        r.read_ue().ok_or_else(cut)?; // pic_height_in_map_units_minus1
        let frame_mbs_only = r.read_bit().ok_or_else(cut)? == 1;
        if frame_num_bits > 16 || poc_lsb_bits > 16 {
            return Err(bad(unit, "SPS with out-of-range field sizes"));
        }
        self.sps.insert(
            id,
            SpsOrder {
                frame_num_bits,
                poc_type,
                poc_lsb_bits,
                frame_mbs_only,
                separate_colour_plane,
            },
        );
        Ok(())
    }

    fn h264_pps(&mut self, nal: &Nal<'_>, unit: u64) -> Result<()> {
        let cut = || bad(unit, "PPS cut short");
        let mut r = RbspBits::new(&nal.bytes[1..]);
        let id = r.read_ue().ok_or_else(cut)?;
        let sps_id = r.read_ue().ok_or_else(cut)?;
        self.pps.insert(
            id,
            PpsOrder {
                sps_id,
                output_flag_present: false,
                extra_slice_header_bits: 0,
            },
        );
        Ok(())
    }

    /// Finds the SPS a slice refers to through its PPS.
    fn sps_of(&self, pps_id: u32, unit: u64) -> Result<(PpsOrder, SpsOrder)> {
        let pps = *self
            .pps
            .get(&pps_id)
            .ok_or_else(|| bad(unit, &format!("no PPS {pps_id} before the slice")))?;
        let sps = *self
            .sps
            .get(&pps.sps_id)
            .ok_or_else(|| bad(unit, &format!("no SPS {} before the slice", pps.sps_id)))?;
        Ok((pps, sps))
    }

    fn h264_slice(&mut self, nal: &Nal<'_>, unit: u64) -> Result<Poc> {
        let cut = || bad(unit, "slice header cut short");
        let idr = nal.nal_type() == NalType::Idr;
        let reference = nal.ref_idc() != 0;
        let mut r = RbspBits::new(&nal.bytes[1..]);
        r.read_ue().ok_or_else(cut)?; // first_mb_in_slice
        r.read_ue().ok_or_else(cut)?; // slice_type
        let pps_id = r.read_ue().ok_or_else(cut)?;
        let (_, sps) = self.sps_of(pps_id, unit)?;
        if sps.separate_colour_plane {
            r.read_bits(2).ok_or_else(cut)?;
        }
        r.read_bits(sps.frame_num_bits).ok_or_else(cut)?;
        if !sps.frame_mbs_only && r.read_bit().ok_or_else(cut)? == 1 {
            return Err(bad(unit, "field pictures (interlaced H.264)"));
        }
        if idr {
            r.read_ue().ok_or_else(cut)?; // idr_pic_id
        }
        if sps.poc_type == 2 {
            return Ok(self.in_order(idr));
        }
        let lsb = r.read_bits(sps.poc_lsb_bits).ok_or_else(cut)? as i64;
        Ok(self.count(lsb, sps.poc_lsb_bits, idr, reference))
    }

    fn hevc_sps(&mut self, nal: &Nal<'_>, unit: u64) -> Result<()> {
        let info = hevc::parse_sps(nal).ok_or_else(|| bad(unit, "SPS cut short"))?;
        if info.poc_lsb_bits > 16 {
            return Err(bad(unit, "SPS with out-of-range field sizes"));
        }
        self.sps.insert(
            info.sps_id,
            SpsOrder {
                frame_num_bits: 0,
                poc_type: 0,
                poc_lsb_bits: info.poc_lsb_bits,
                frame_mbs_only: true,
                separate_colour_plane: info.separate_colour_plane,
            },
        );
        Ok(())
    }

    fn hevc_pps(&mut self, nal: &Nal<'_>, unit: u64) -> Result<()> {
        let cut = || bad(unit, "PPS cut short");
        let mut r = RbspBits::new(nal.bytes.get(2..).ok_or_else(cut)?);
        let id = r.read_ue().ok_or_else(cut)?;
        let sps_id = r.read_ue().ok_or_else(cut)?;
        r.read_bit().ok_or_else(cut)?; // dependent_slice_segments_enabled_flag
        let output_flag_present = r.read_bit().ok_or_else(cut)? == 1;
        let extra_slice_header_bits = r.read_bits(3).ok_or_else(cut)? as u32;
        self.pps.insert(
            id,
            PpsOrder {
                sps_id,
                output_flag_present,
                extra_slice_header_bits,
            },
        );
        Ok(())
    }

    fn hevc_slice(&mut self, nal: &Nal<'_>, unit: u64) -> Result<Poc> {
        let cut = || bad(unit, "slice header cut short");
        let nal_type = hevc::nal_type(nal);
        let temporal_id = (nal.bytes.get(1).ok_or_else(cut)? & 0x07).saturating_sub(1);
        let mut r = RbspBits::new(nal.bytes.get(2..).ok_or_else(cut)?);
        if r.read_bit().ok_or_else(cut)? != 1 {
            return Err(bad(
                unit,
                "the access unit does not start with its first slice",
            ));
        }
        if hevc::is_irap(nal_type) {
            r.read_bit().ok_or_else(cut)?; // no_output_of_prior_pics_flag
        }
        let pps_id = r.read_ue().ok_or_else(cut)?;
        let (pps, sps) = self.sps_of(pps_id, unit)?;
        r.read_bits(pps.extra_slice_header_bits).ok_or_else(cut)?;
        r.read_ue().ok_or_else(cut)?; // slice_type
        if pps.output_flag_present {
            r.read_bit().ok_or_else(cut)?;
        }
        if sps.separate_colour_plane {
            r.read_bits(2).ok_or_else(cut)?;
        }
        let idr = matches!(nal_type, 19 | 20);
        let lsb = if idr {
            0
        } else {
            r.read_bits(sps.poc_lsb_bits).ok_or_else(cut)? as i64
        };
        // Only pictures of temporal layer 0 that are neither sub-layer non-reference (even types
        // below 16) nor RADL/RASL anchor the next count (H.265 8.3.1, prevTid0Pic).
        let anchor = temporal_id == 0
            && !(nal_type < 16 && nal_type % 2 == 0)
            && !(6..=9).contains(&nal_type);
        Ok(self.count(lsb, sps.poc_lsb_bits, idr, anchor))
    }

    /// POC type 2 / decoding order.
    fn in_order(&mut self, new_group: bool) -> Poc {
        if new_group {
            self.in_group = 0;
        }
        let value = self.in_group;
        self.in_group += 1;
        Poc { value, new_group }
    }

    /// H.264 8.2.1.1 and H.265 8.3.1: the count from its least significant bits and those of
    /// the previous anchor picture.
    fn count(&mut self, lsb: i64, bits: u32, new_group: bool, anchor: bool) -> Poc {
        if new_group {
            self.prev_msb = 0;
            self.prev_lsb = 0;
        }
        let max = 1i64 << bits;
        let msb = if lsb < self.prev_lsb && self.prev_lsb - lsb >= max / 2 {
            self.prev_msb + max
        } else if lsb > self.prev_lsb && lsb - self.prev_lsb > max / 2 {
            self.prev_msb - max
        } else {
            self.prev_msb
        };
        if anchor || new_group {
            self.prev_msb = msb;
            self.prev_lsb = lsb;
        }
        Poc {
            value: msb + lsb,
            new_group,
        }
    }
}

/// Skips an H.264 `scaling_list()` of `size` entries (7.3.2.1.1.1).
fn skip_scaling_list(r: &mut RbspBits<'_>, size: usize) -> Option<()> {
    let (mut last, mut next) = (8i64, 8i64);
    for _ in 0..size {
        if next != 0 {
            next = (last + r.read_se()? + 256).rem_euclid(256);
        }
        if next != 0 {
            last = next;
        }
    }
    Some(())
}

/// Display positions of a whole stream's access units: entry `i` is where access unit `i`
/// (decoding order) is shown, counting from 0 over the stream.
pub fn display_positions(pocs: &[Poc]) -> Vec<u64> {
    let mut positions = vec![0; pocs.len()];
    let mut start = 0;
    while start < pocs.len() {
        let end = (start + 1..pocs.len())
            .find(|&i| pocs[i].new_group)
            .unwrap_or(pocs.len());
        let mut order: Vec<usize> = (start..end).collect();
        order.sort_by_key(|&i| (pocs[i].value, i));
        for (rank, i) in order.into_iter().enumerate() {
            positions[i] = (start + rank) as u64;
        }
        start = end;
    }
    positions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsb_wraps_into_the_msb() {
        let mut order = PictureOrder::new(Codec::H264).unwrap();
        // 4-bit LSBs: 0, 8, 14, then 2 (wrapped: 18) and 6 (22); a new group restarts at 0.
        let counts: Vec<i64> = [
            (0, true),
            (8, false),
            (14, false),
            (2, false),
            (6, false),
            (0, true),
        ]
        .iter()
        .map(|&(lsb, idr)| order.count(lsb, 4, idr, true).value)
        .collect();
        assert_eq!(counts, [0, 8, 14, 18, 22, 0]);
    }

    #[test]
    fn display_positions_sort_each_group() {
        let poc = |value, new_group| Poc { value, new_group };
        // I0 P8 B4 b2 b6 | I0 P4 B2
        let pocs = [
            poc(0, true),
            poc(8, false),
            poc(4, false),
            poc(2, false),
            poc(6, false),
            poc(0, true),
            poc(4, false),
            poc(2, false),
        ];
        assert_eq!(display_positions(&pocs), [0, 4, 2, 1, 3, 5, 7, 6]);
    }
}
