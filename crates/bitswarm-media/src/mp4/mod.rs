//! MP4: a demuxer for H.264 input files and a streaming muxer for our H.264, HEVC and AV1
//! output.
//!
//! Both work on the first video track only and speak elementary streams to the rest of bitswarm:
//! the demuxer turns length-prefixed samples into Annex B access units, the muxer does the
//! reverse (and takes AV1 temporal units).

mod configs;
mod demux;
mod mux;

pub use configs::{Av1Config, HevcConfig};
pub use demux::{Mp4Demuxer, SampleInfo, VideoTrack};
pub use mux::{write_mp4, Mp4Muxer};

use crate::bmff::{BoxWriter, ByteReader};
use crate::{Error, Result};

/// H.264 decoder configuration record (the `avcC` box, ISO/IEC 14496-15 5.3.3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvcConfig {
    /// Bytes per NAL unit length prefix in samples: 1, 2 or 4.
    pub nal_length_size: u8,
    /// Sequence parameter set NAL units (header byte included, no start code).
    pub sps: Vec<Vec<u8>>,
    /// Picture parameter set NAL units.
    pub pps: Vec<Vec<u8>>,
}

impl AvcConfig {
    /// Parses an `avcC` payload.
    pub fn parse(avcc: &[u8]) -> Result<Self> {
        let mut r = ByteReader::new(avcc, *b"avcC");
        let version = r.u8()?;
        if version != 1 {
            return Err(Error::Mp4(format!("'avcC' version {version} (expected 1)")));
        }
        r.skip(3)?; // profile, compatibility, level: the SPS has them too
        let nal_length_size = (r.u8()? & 0x03) + 1;
        if nal_length_size == 3 {
            return Err(Error::Mp4(
                "'avcC' NAL length size 3 (expected 1, 2 or 4)".into(),
            ));
        }
        let sets = |r: &mut ByteReader, count: u8| -> Result<Vec<Vec<u8>>> {
            (0..count)
                .map(|_| {
                    let len = usize::from(r.u16()?);
                    Ok(r.bytes(len)?.to_vec())
                })
                .collect()
        };
        let sps_count = r.u8()? & 0x1f;
        let sps = sets(&mut r, sps_count)?;
        let pps_count = r.u8()?;
        let pps = sets(&mut r, pps_count)?;
        // High-profile records carry chroma format and bit depths after this; the SPS has them.
        if sps.iter().chain(&pps).any(|ps| ps.is_empty()) {
            return Err(Error::Mp4("'avcC' holds an empty parameter set".into()));
        }
        Ok(Self {
            nal_length_size,
            sps,
            pps,
        })
    }

    /// Writes the `avcC` box. Profile and level come from the first SPS; the high-profile
    /// extension states 8-bit 4:2:0, the only format bitswarm produces.
    pub fn write(&self, w: &mut BoxWriter) -> Result<()> {
        let first = self
            .sps
            .first()
            .filter(|sps| sps.len() >= 4)
            .ok_or_else(|| Error::Mux("no usable SPS for the 'avcC' box".into()))?;
        let (profile, compatibility, level) = (first[1], first[2], first[3]);
        if !matches!(self.nal_length_size, 1 | 2 | 4) {
            return Err(Error::Mux(format!(
                "NAL length size {} (expected 1, 2 or 4)",
                self.nal_length_size
            )));
        }
        let too_many = |what: &str, n: usize, max: usize| {
            Error::Mux(format!(
                "{n} {what} NAL units (an 'avcC' box holds at most {max})"
            ))
        };
        let sps_count = u8::try_from(self.sps.len())
            .ok()
            .filter(|&n| n <= 31)
            .ok_or_else(|| too_many("SPS", self.sps.len(), 31))?;
        let pps_count =
            u8::try_from(self.pps.len()).map_err(|_| too_many("PPS", self.pps.len(), 255))?;
        if let Some(ps) = self
            .sps
            .iter()
            .chain(&self.pps)
            .find(|ps| ps.len() > 0xffff)
        {
            return Err(Error::Mux(format!(
                "parameter set of {} bytes (an 'avcC' box holds at most 65535)",
                ps.len()
            )));
        }
        let sets = |w: &mut BoxWriter, sets: &[Vec<u8>]| {
            for ps in sets {
                w.u16(ps.len() as u16); // checked above
                w.bytes(ps);
            }
        };
        w.boxed(*b"avcC", |w| {
            w.u8(1);
            w.u8(profile);
            w.u8(compatibility);
            w.u8(level);
            w.u8(0xfc | (self.nal_length_size - 1));
            w.u8(0xe0 | sps_count);
            sets(w, &self.sps);
            w.u8(pps_count);
            sets(w, &self.pps);
            if matches!(profile, 100 | 110 | 122 | 144) {
                w.u8(0xfc | 1); // chroma_format_idc 1: 4:2:0
                w.u8(0xf8); // bit_depth_luma_minus8 0
                w.u8(0xf8); // bit_depth_chroma_minus8 0
                w.u8(0); // no SPS extensions
            }
        });
        Ok(())
    }
}
