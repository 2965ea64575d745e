//! rav1e (pure-Rust AV1, with its assembly kernels), in-process, behind [`Encoder`].
//!
//! Key frames exactly every `gop` frames (`min_key_frame_interval = max_key_frame_interval`,
//! scene detection off); AV1 key frames reset every reference, so GOPs are closed, and rav1e
//! writes a sequence header in front of each. Packets are temporal units starting with a
//! temporal delimiter, one per input frame.

use std::collections::VecDeque;

use bitswarm_core::{EncoderKind, Frame, RateControl, Tune};
use rav1e::prelude::{
    ChromaSampling, Config, Context, EncoderConfig as Rav1eConfig, EncoderStatus, FrameType,
    Rational, SceneDetectionSpeed,
};

use crate::encoder::{Encoder, EncoderConfig, FrameInput, GopCheck, Packet};
use crate::{Error, Result};

/// rav1e speed preset per complexity level (10 fastest .. 0 slowest).
pub(crate) const RAV1E_SPEEDS: [u8; 10] = [10, 9, 8, 7, 6, 5, 4, 3, 2, 0];

/// libaom's `quantizer_to_qindex` (av1/encoder/ratectrl): the 0..=63 quantiser scale of
/// `--min-q`/`--max-q` as an AV1 `base_q_idx` 0..=255.
pub(crate) fn qindex(quantizer: u8) -> usize {
    match quantizer {
        0..=61 => usize::from(quantizer) * 4,
        62 => 249,
        _ => 255,
    }
}

/// The rav1e backend of [`Encoder`].
pub(crate) struct Rav1eEncoder {
    context: Context<u8>,
    input: FrameInput,
    gop: GopCheck,
    frames_sent: u64,
    ready: VecDeque<Packet>,
    /// Flushed and drained.
    done: bool,
}

fn failure(what: &str, status: EncoderStatus) -> Error {
    Error::Encoder(format!("rav1e {what}: {status}"))
}

impl Rav1eEncoder {
    pub(crate) fn new(cfg: &EncoderConfig) -> Result<Self> {
        let input = FrameInput::new(cfg)?;
        let profile = &cfg.profile;
        let output = input.output;
        let level = usize::from(profile.complexity.clamp(1, 10)) - 1;
        let mut enc = Rav1eConfig::with_speed_preset(RAV1E_SPEEDS[level]);
        enc.width = output.width as usize;
        enc.height = output.height as usize;
        enc.time_base = Rational::new(u64::from(output.fps.den), u64::from(output.fps.num));
        enc.bit_depth = 8;
        enc.chroma_sampling = ChromaSampling::Cs420;
        enc.min_key_frame_interval = u64::from(profile.gop);
        enc.max_key_frame_interval = u64::from(profile.gop);
        enc.speed_settings.scene_detection_mode = SceneDetectionSpeed::None;
        // Tuning::tune is validated to psnr or unset; rav1e's default is psychovisual.
        if profile.tuning.tune == Some(Tune::Psnr) {
            enc.tune = rav1e::prelude::Tune::Psnr;
        }
        match profile.rate {
            RateControl::Qp { qp } => enc.quantizer = qindex(qp),
            RateControl::Bitrate { kbps } => {
                enc.bitrate = i32::try_from(u64::from(kbps) * 1000).unwrap_or(i32::MAX);
            }
            RateControl::Crf { .. } => {
                // Profile::validate refuses this already; kept for a clear message.
                return Err(Error::Unsupported(
                    "crf rate control with rav1e (it has qp and bitrate modes)".into(),
                ));
            }
        }
        let config = Config::new()
            .with_encoder_config(enc)
            .with_threads(usize::from(cfg.threads.max(1)));
        let context = config
            .new_context()
            .map_err(|e| Error::Encoder(format!("rav1e refused its configuration: {e}")))?;
        Ok(Self {
            context,
            input,
            gop: GopCheck::new(EncoderKind::Rav1e, profile.gop),
            frames_sent: 0,
            ready: VecDeque::new(),
            done: false,
        })
    }

    /// Moves every packet rav1e has finished into `ready`; true once rav1e reports the end
    /// of the stream (after flush).
    fn drain(&mut self) -> Result<bool> {
        loop {
            match self.context.receive_packet() {
                Ok(packet) => {
                    let keyframe = packet.frame_type == FrameType::KEY;
                    self.gop.next(keyframe)?;
                    self.ready.push_back(Packet {
                        data: packet.data,
                        keyframe,
                    });
                }
                Err(EncoderStatus::Encoded) => {}
                Err(EncoderStatus::NeedMoreData) => return Ok(false),
                Err(EncoderStatus::LimitReached) => return Ok(true),
                Err(status) => return Err(failure("failed", status)),
            }
        }
    }
}

impl Encoder for Rav1eEncoder {
    fn send_frame(&mut self, frame: &Frame) -> Result<()> {
        let frame = self.input.accept(frame)?;
        let w = frame.width as usize;
        let mut picture = self.context.new_frame();
        for (plane, (data, stride)) in
            picture
                .planes
                .iter_mut()
                .zip([(&frame.y, w), (&frame.u, w / 2), (&frame.v, w / 2)])
        {
            plane.copy_from_raw_u8(data, stride, 1);
        }
        self.context
            .send_frame(picture)
            .map_err(|status| failure("refused a frame", status))?;
        self.frames_sent += 1;
        self.drain().map(drop)
    }

    fn flush(&mut self) -> Result<()> {
        if self.done {
            return Ok(());
        }
        self.input.finish();
        self.context.flush();
        if !self.drain()? {
            return Err(Error::Encoder(
                "rav1e asked for more frames after the end of the chunk".into(),
            ));
        }
        self.done = true;
        self.gop.finish(self.frames_sent)
    }

    fn receive_packet(&mut self) -> Result<Option<Packet>> {
        Ok(self.ready.pop_front())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantizer_scale_maps_like_libaom() {
        assert_eq!(
            [0, 1, 30, 61, 62, 63].map(qindex),
            [0, 4, 120, 244, 249, 255]
        );
    }
}
