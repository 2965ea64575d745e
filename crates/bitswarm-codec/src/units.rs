//! Codec-independent view of an elementary stream as a sequence of pictures: access units for
//! H.264 and HEVC (Annex B), temporal units for AV1 (low-overhead OBUs). One unit holds one
//! shown picture in every stream bitswarm writes, so unit counts are frame counts.

use bitswarm_core::Codec;

use crate::{annexb, av1, hevc, Result};

/// Start offsets of the units found in `buf`. For AV1, scanning stops at the first malformed
/// (for example still incomplete) OBU.
pub(crate) fn unit_starts(codec: Codec, buf: &[u8]) -> Vec<usize> {
    let offset = |unit: &[u8]| unit.as_ptr() as usize - buf.as_ptr() as usize;
    match codec {
        Codec::H264 => annexb::access_units(buf).map(offset).collect(),
        Codec::Hevc => hevc::access_units(buf).map(offset).collect(),
        Codec::Av1 => av1::temporal_unit_starts(buf),
    }
}

/// Splits a whole elementary stream into its units, each a contiguous slice of `buf`. Fails
/// only for AV1, on a malformed OBU; Annex B splitting accepts anything.
pub fn split_units(codec: Codec, buf: &[u8]) -> Result<Vec<&[u8]>> {
    match codec {
        Codec::H264 => Ok(annexb::access_units(buf).collect()),
        Codec::Hevc => Ok(hevc::access_units(buf).collect()),
        Codec::Av1 => av1::temporal_units(buf),
    }
}

/// True when `unit` starts a closed GOP: an IDR (H.264), an IRAP (HEVC; our encoders only
/// write IDRs there) or a shown key frame (AV1).
pub fn is_keyframe(codec: Codec, unit: &[u8]) -> bool {
    match codec {
        Codec::H264 => annexb::contains_idr(unit),
        Codec::Hevc => hevc::contains_irap(unit),
        Codec::Av1 => av1::is_key_frame(unit),
    }
}
