//! Decoder configuration records for HEVC (`hvcC`, ISO/IEC 14496-15 8.3.3) and AV1 (`av1C`,
//! AV1 Codec ISO Media File Format Binding 2.3).

use bitswarm_codec::av1::{self, SequenceHeader};
use bitswarm_codec::hevc::{self, SpsInfo};

use crate::bmff::BoxWriter;
use crate::{Error, Result};

/// The `hvcC` contents: parameter sets and the SPS fields the record repeats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HevcConfig {
    /// Video, sequence and picture parameter set NAL units (header included, no start code).
    pub vps: Vec<Vec<u8>>,
    pub sps: Vec<Vec<u8>>,
    pub pps: Vec<Vec<u8>>,
    /// Profile, tier, level and format from the first SPS.
    pub info: SpsInfo,
}

impl HevcConfig {
    /// A record for these parameter sets; fails when one kind is missing or the first SPS
    /// cannot be read.
    pub fn new(vps: Vec<Vec<u8>>, sps: Vec<Vec<u8>>, pps: Vec<Vec<u8>>) -> Result<Self> {
        if vps.is_empty() || sps.is_empty() || pps.is_empty() {
            return Err(Error::Mux(
                "the first HEVC access unit lacks its VPS, SPS or PPS (the MP4 sample entry \
                 needs them)"
                    .into(),
            ));
        }
        let nal = bitswarm_codec::annexb::Nal {
            bytes: &sps[0],
            range: 0..sps[0].len(),
        };
        let info = hevc::parse_sps(&nal)
            .ok_or_else(|| Error::Mux("the HEVC SPS cannot be read".into()))?;
        Ok(Self {
            vps,
            sps,
            pps,
            info,
        })
    }

    /// Every parameter set of the record.
    pub fn parameter_sets(&self) -> impl Iterator<Item = &Vec<u8>> {
        self.vps.iter().chain(&self.sps).chain(&self.pps)
    }

    /// Writes the `hvcC` box. `complete` (for `hvc1`) says that the record holds every
    /// parameter set the samples use.
    pub fn write(&self, w: &mut BoxWriter, complete: bool) -> Result<()> {
        let i = &self.info;
        let arrays = [
            (hevc::VPS, &self.vps),
            (hevc::SPS, &self.sps),
            (hevc::PPS, &self.pps),
        ];
        for (_, sets) in arrays {
            if sets.len() > 0xffff || sets.iter().any(|s| s.len() > 0xffff) {
                return Err(Error::Mux(
                    "HEVC parameter sets too many or too large for 'hvcC'".into(),
                ));
            }
        }
        w.boxed(*b"hvcC", |w| {
            w.u8(1); // configurationVersion
            w.u8((i.profile_space << 6) | (u8::from(i.tier) << 5) | (i.profile_idc & 0x1f));
            w.u32(i.profile_compatibility);
            w.u16((i.constraint_flags >> 32) as u16);
            w.u32(i.constraint_flags as u32);
            w.u8(i.level_idc);
            w.u16(0xf000); // min_spatial_segmentation_idc 0
            w.u8(0xfc); // parallelismType 0: unknown
            w.u8(0xfc | (i.chroma_format_idc & 0x03));
            w.u8(0xf8 | (i.bit_depth_luma.saturating_sub(8) & 0x07));
            w.u8(0xf8 | (i.bit_depth_chroma.saturating_sub(8) & 0x07));
            w.u16(0); // avgFrameRate: unspecified
                      // constantFrameRate 0, numTemporalLayers, temporalIdNested, lengthSizeMinusOne 3
            w.u8(((i.sub_layers & 0x07) << 3) | (u8::from(i.temporal_id_nesting) << 2) | 0x03);
            w.u8(arrays.len() as u8);
            for (nal_type, sets) in arrays {
                w.u8((u8::from(complete) << 7) | nal_type);
                w.u16(sets.len() as u16); // checked above
                for set in sets {
                    w.u16(set.len() as u16);
                    w.bytes(set);
                }
            }
        });
        Ok(())
    }
}

/// The `av1C` contents: the sequence header OBU and its fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Av1Config {
    /// The whole sequence header OBU (header, size field, payload), stored as `configOBUs`.
    pub sequence_header_obu: Vec<u8>,
    pub header: SequenceHeader,
}

impl Av1Config {
    /// A record from a sequence header OBU (as found in a temporal unit).
    pub fn new(obu: &av1::Obu<'_>, unit: &[u8]) -> Result<Self> {
        let header = av1::parse_sequence_header(obu.payload)
            .ok_or_else(|| Error::Mux("the AV1 sequence header cannot be read".into()))?;
        Ok(Self {
            sequence_header_obu: unit[obu.range.clone()].to_vec(),
            header,
        })
    }

    /// True when `other` needs no other `av1C` (profile, level, tier and format agree).
    pub fn compatible(&self, other: &SequenceHeader) -> bool {
        let key = |h: &SequenceHeader| {
            (
                h.profile,
                h.level_idx,
                h.tier,
                h.high_bitdepth,
                h.twelve_bit,
                h.mono_chrome,
                h.subsampling_x,
                h.subsampling_y,
            )
        };
        key(&self.header) == key(other)
    }

    /// Writes the `av1C` box.
    pub fn write(&self, w: &mut BoxWriter) {
        let h = &self.header;
        w.boxed(*b"av1C", |w| {
            w.u8(0x81); // marker 1, version 1
            w.u8((h.profile << 5) | (h.level_idx & 0x1f));
            w.u8((u8::from(h.tier) << 7)
                | (u8::from(h.high_bitdepth) << 6)
                | (u8::from(h.twelve_bit) << 5)
                | (u8::from(h.mono_chrome) << 4)
                | (u8::from(h.subsampling_x) << 3)
                | (u8::from(h.subsampling_y) << 2)
                | (h.chroma_sample_position & 0x03));
            w.u8(0); // no initial_presentation_delay
            w.bytes(&self.sequence_header_obu);
        });
    }
}
