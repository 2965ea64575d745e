//! Cisco OpenH264's decoder (built from source, in-process) behind [`Decoder`].

use bitswarm_core::Frame;
use openh264::decoder::{DecodedYUV, Decoder as Oh264Decoder, DecoderConfig, Flush};
use openh264::formats::YUVSource;
use openh264::OpenH264API;

use crate::annexb::access_units;
use crate::decoder::{packed_frame, Decoder};
use crate::{Error, Result};

/// Cisco OpenH264's decoder: Baseline, Main and High profile, 8-bit 4:2:0 progressive, CAVLC
/// and CABAC, B-frames reordered to display order. No error concealment. Each [`Decoder::decode`]
/// call must hold whole access units (see docs/CODEC.md).
pub struct OpenH264Decoder {
    inner: Oh264Decoder,
    /// Access units fed so far, to name the one that failed.
    access_units: u64,
}

impl OpenH264Decoder {
    /// A decoder without error concealment: damaged input gives an error, not a patched frame.
    pub fn new() -> Result<Self> {
        let config = DecoderConfig::new().flush_after_decode(Flush::NoFlush);
        let inner =
            Oh264Decoder::with_api_config(OpenH264API::from_source(), config).map_err(|e| {
                Error::OpenH264 {
                    call: "WelsCreateDecoder",
                    code: e.native_code(),
                }
            })?;
        Ok(Self {
            inner,
            access_units: 0,
        })
    }
}

impl Decoder for OpenH264Decoder {
    fn decode(&mut self, annexb: &[u8]) -> Result<Vec<Frame>> {
        let mut frames = Vec::new();
        let mut fed = 0;
        for au in access_units(annexb) {
            let index = self.access_units;
            self.access_units += 1;
            fed += 1;
            match self.inner.decode(au) {
                Ok(Some(yuv)) => frames.push(copy_frame(&yuv)?),
                Ok(None) => {}
                Err(e) => return Err(decode_error(index, e.native_code())),
            }
        }
        if fed == 0 {
            return Err(Error::InvalidStream(format!(
                "no NAL unit in {} bytes (expected Annex B with 00 00 01 start codes)",
                annexb.len()
            )));
        }
        Ok(frames)
    }

    fn flush(&mut self) -> Result<Vec<Frame>> {
        let index = self.access_units;
        let held = self
            .inner
            .flush_remaining()
            .map_err(|e| decode_error(index, e.native_code()))?;
        held.iter().map(copy_frame).collect()
    }
}

/// OpenH264's `DECODING_STATE` bits, in the order of `codec_def.h`.
const STATE_NAMES: [(i64, &str); 11] = [
    (0x01, "frame pending"),
    (0x02, "reference lost"),
    (0x04, "bitstream error"),
    (0x08, "dependency layer lost"),
    (0x10, "no parameter sets"),
    (0x20, "data error concealed"),
    (0x40, "reference list broken"),
    (0x1000, "invalid argument"),
    (0x2000, "decoder not initialised"),
    (0x4000, "out of memory"),
    (0x8000, "output buffer too small"),
];

fn decode_error(access_unit: u64, state: i64) -> Error {
    let names: Vec<&str> = STATE_NAMES
        .iter()
        .filter(|(bit, _)| state & bit != 0)
        .map(|(_, name)| *name)
        .collect();
    let detail = if names.is_empty() {
        format!("state {state:#x}")
    } else {
        format!("{} (state {state:#x})", names.join(", "))
    };
    Error::Decode {
        access_unit,
        detail,
    }
}

/// Copies a decoded picture into a tightly packed [`Frame`].
fn copy_frame(yuv: &DecodedYUV<'_>) -> Result<Frame> {
    let (w, h) = yuv.dimensions();
    let (sy, su, sv) = yuv.strides();
    packed_frame(w, h, [(yuv.y(), sy), (yuv.u(), su), (yuv.v(), sv)])
}
