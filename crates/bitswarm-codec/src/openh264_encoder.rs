//! Cisco OpenH264 (built from source, in-process) behind [`Encoder`].
//!
//! The `openh264` crate's wrapper does not expose the parameters that make chunks concatenate
//! and compare byte for byte (reference count, entropy coding, scene-change IDRs, frame
//! skipping), so this backend fills `SEncParamExt` itself through the raw bindings.

use std::collections::VecDeque;
use std::os::raw::{c_int, c_void};
use std::ptr::null_mut;

use bitswarm_core::{EncoderKind, Frame, RateControl, VideoInfo};
use openh264_sys2::{
    videoFormatI420, videoFrameTypeIDR, videoFrameTypeSkip, DynamicAPI, ELevelIdc, ISVCEncoder,
    ISVCEncoderVtbl, SEncParamExt, SFrameBSInfo, SSourcePicture, API, CAMERA_VIDEO_REAL_TIME,
    CONSTANT_ID, ECOMPLEXITY_MODE, ENCODER_OPTION, ENCODER_OPTION_DATAFORMAT,
    ENCODER_OPTION_TRACE_LEVEL, HIGH_COMPLEXITY, LEVEL_5_2, LEVEL_UNKNOWN, LOW_COMPLEXITY,
    MEDIUM_COMPLEXITY, PRO_MAIN, RC_BITRATE_MODE, RC_OFF_MODE, SM_SINGLE_SLICE,
    UNSPECIFIED_BIT_RATE, WELS_LOG_QUIET,
};

use crate::encoder::{Encoder, EncoderConfig, FrameInput, GopCheck, Packet};
use crate::{Error, Result};

/// Largest picture OpenH264 encodes (its README: 3840x2160 in either orientation).
const MAX_LONG_SIDE: u32 = 3840;
const MAX_SHORT_SIDE: u32 = 2160;
/// OpenH264's rate control clamps the frame rate to this range (`MIN_FRAME_RATE`, `MAX_FRAME_RATE`).
const RC_FPS_RANGE: (f64, f64) = (1.0, 60.0);

/// H.264 levels (`level_idc`) with their Main-profile MaxBR in kbit/s (Table A-1).
const LEVEL_MAX_BR: [(ELevelIdc, u32); 16] = [
    (10, 64),
    (11, 192),
    (12, 384),
    (13, 768),
    (20, 2_000),
    (21, 4_000),
    (22, 4_000),
    (30, 10_000),
    (31, 14_000),
    (32, 20_000),
    (40, 20_000),
    (41, 50_000),
    (42, 50_000),
    (50, 135_000),
    (51, 240_000),
    (52, 240_000),
];
/// Bits per pixel a constant-QP stream is assumed to stay under when its level is chosen.
const QP_MODE_BITS_PER_PIXEL: f64 = 0.5;

/// The lowest level whose MaxBR covers `QP_MODE_BITS_PER_PIXEL` at this size and rate.
/// OpenH264 raises it further if frame size or macroblock rate need more; on its own it would
/// ignore the bitrate of a constant-QP stream and signal e.g. level 1.3 for CIF at 2 Mbit/s.
fn qp_mode_level(output: &VideoInfo, fps: f64) -> ELevelIdc {
    let kbps = output.width as f64 * output.height as f64 * fps * QP_MODE_BITS_PER_PIXEL / 1000.0;
    LEVEL_MAX_BR
        .iter()
        .find(|&&(_, max_br)| f64::from(max_br) >= kbps)
        .map_or(LEVEL_5_2, |&(level, _)| level)
}

/// The encoder effort settings one complexity level stands for (table in docs/CODEC.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Effort {
    mode: ECOMPLEXITY_MODE,
    background_detection: bool,
}

/// Maps `profile.complexity` (1..=10, validated) to OpenH264 effort settings.
fn effort(complexity: u8) -> Effort {
    let (mode, background_detection) = match complexity {
        0..=3 => (LOW_COMPLEXITY, true),
        4..=6 => (LOW_COMPLEXITY, false),
        7..=8 => (MEDIUM_COMPLEXITY, false),
        _ => (HIGH_COMPLEXITY, false),
    };
    Effort {
        mode,
        background_detection,
    }
}

/// Owns one `ISVCEncoder` instance; uninitialises and destroys it on drop.
struct RawEncoder {
    api: DynamicAPI,
    ptr: *mut ISVCEncoder,
    initialized: bool,
}

// SAFETY: the encoder instance is only reached through `&mut self` (or `Drop`), never shared;
// OpenH264 keeps no thread-affine state in it.
unsafe impl Send for RawEncoder {}

impl RawEncoder {
    fn create() -> Result<Self> {
        let api = DynamicAPI::from_source();
        let mut ptr: *mut ISVCEncoder = null_mut();
        // SAFETY: `ptr` is a valid out-pointer; a non-zero return or null means no encoder.
        let rc = unsafe { api.WelsCreateSVCEncoder(&mut ptr) };
        if rc != 0 || ptr.is_null() {
            return Err(Error::OpenH264 {
                call: "WelsCreateSVCEncoder",
                code: i64::from(rc),
            });
        }
        Ok(Self {
            api,
            ptr,
            initialized: false,
        })
    }

    fn vtbl(&self) -> &ISVCEncoderVtbl {
        // SAFETY: `ptr` was returned non-null by `WelsCreateSVCEncoder` and lives until drop;
        // it points at the instance, whose first field is the vtable pointer.
        unsafe { &**self.ptr }
    }

    fn check(call: &'static str, rc: c_int) -> Result<()> {
        if rc == 0 {
            Ok(())
        } else {
            Err(Error::OpenH264 {
                call,
                code: i64::from(rc),
            })
        }
    }

    fn default_params(&self) -> Result<SEncParamExt> {
        let f = self
            .vtbl()
            .GetDefaultParams
            .ok_or(Error::MissingFunction("GetDefaultParams"))?;
        let mut params = SEncParamExt::default();
        // SAFETY: valid instance and out-pointer to a properly sized struct.
        Self::check("GetDefaultParams", unsafe { f(self.ptr, &mut params) })?;
        Ok(params)
    }

    fn set_option(&mut self, option: ENCODER_OPTION, value: &mut c_int) -> Result<()> {
        let f = self
            .vtbl()
            .SetOption
            .ok_or(Error::MissingFunction("SetOption"))?;
        // SAFETY: both options used here read one `int` through the pointer.
        Self::check("SetOption", unsafe {
            f(self.ptr, option, (value as *mut c_int).cast::<c_void>())
        })
    }

    fn initialize(&mut self, params: &SEncParamExt) -> Result<()> {
        let f = self
            .vtbl()
            .InitializeExt
            .ok_or(Error::MissingFunction("InitializeExt"))?;
        // SAFETY: valid instance; OpenH264 copies the parameters.
        Self::check("InitializeExt", unsafe { f(self.ptr, params) })?;
        self.initialized = true;
        Ok(())
    }

    /// Encodes one I420 picture; the NAL units stay valid in `info` until the next call.
    fn encode(&mut self, pic: &SSourcePicture, info: &mut SFrameBSInfo) -> Result<()> {
        let f = self
            .vtbl()
            .EncodeFrame
            .ok_or(Error::MissingFunction("EncodeFrame"))?;
        // SAFETY: `pic` points at planes of the size and strides it declares (the caller builds
        // it from a checked `Frame`); OpenH264 only reads them.
        Self::check("EncodeFrame", unsafe { f(self.ptr, pic, info) })
    }
}

impl Drop for RawEncoder {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from `WelsCreateSVCEncoder` and is destroyed exactly once here.
        unsafe {
            if self.initialized {
                if let Some(uninitialize) = (**self.ptr).Uninitialize {
                    uninitialize(self.ptr);
                }
            }
            self.api.WelsDestroySVCEncoder(self.ptr);
        }
    }
}

/// The OpenH264 backend of [`Encoder`]: one IDR every `gop` frames, closed GOPs, no B-frames,
/// so every packet is ready as soon as its frame is sent.
pub(crate) struct OpenH264Encoder {
    raw: RawEncoder,
    input: FrameInput,
    gop: GopCheck,
    /// Frame rate given to OpenH264's rate control, and the matching timestamp step.
    rc_fps: f64,
    frames_sent: u64,
    ready: VecDeque<Packet>,
}

impl OpenH264Encoder {
    pub(crate) fn new(cfg: &EncoderConfig) -> Result<Self> {
        let input = FrameInput::new(cfg)?;
        let output = input.output;
        let (long, short) = (
            output.width.max(output.height),
            output.width.min(output.height),
        );
        if long > MAX_LONG_SIDE || short > MAX_SHORT_SIDE {
            return Err(Error::Unsupported(format!(
                "OpenH264 output {}x{} (it encodes up to {MAX_LONG_SIDE}x{MAX_SHORT_SIDE} or \
                 {MAX_SHORT_SIDE}x{MAX_LONG_SIDE})",
                output.width, output.height
            )));
        }
        let fps = input.source.fps.as_f64();
        let rc_fps = fps.clamp(RC_FPS_RANGE.0, RC_FPS_RANGE.1);
        let mut raw = RawEncoder::create()?;
        let params = encoder_params(&raw.default_params()?, cfg, &output, fps, rc_fps)?;
        let mut quiet = WELS_LOG_QUIET as c_int;
        raw.set_option(ENCODER_OPTION_TRACE_LEVEL, &mut quiet)?;
        raw.initialize(&params)?;
        raw.set_option(ENCODER_OPTION_TRACE_LEVEL, &mut quiet)?;
        let mut format = videoFormatI420 as c_int;
        raw.set_option(ENCODER_OPTION_DATAFORMAT, &mut format)?;
        tracing::debug!(
            threads_allowed = cfg.threads,
            threads_used = 1,
            width = output.width,
            height = output.height,
            complexity = cfg.profile.complexity,
            gop = cfg.profile.gop,
            "openh264 encoder ready"
        );
        Ok(Self {
            raw,
            input,
            gop: GopCheck::new(EncoderKind::OpenH264, cfg.profile.gop),
            rc_fps,
            frames_sent: 0,
            ready: VecDeque::new(),
        })
    }

    fn encode(&mut self, frame: &Frame) -> Result<Packet> {
        let (w, h) = (self.input.output.width, self.input.output.height);
        let chroma_stride = (w / 2) as c_int;
        let pic = SSourcePicture {
            iColorFormat: videoFormatI420 as c_int,
            iStride: [w as c_int, chroma_stride, chroma_stride, 0],
            pData: [
                frame.y.as_ptr().cast_mut(),
                frame.u.as_ptr().cast_mut(),
                frame.v.as_ptr().cast_mut(),
                null_mut(),
            ],
            iPicWidth: w as c_int,
            iPicHeight: h as c_int,
            uiTimeStamp: (self.frames_sent as f64 * 1000.0 / self.rc_fps).round() as i64,
            bPsnrY: false,
            bPsnrU: false,
            bPsnrV: false,
        };
        let mut info = SFrameBSInfo::default();
        self.raw.encode(&pic, &mut info)?;
        let index = self.frames_sent;
        if info.eFrameType == videoFrameTypeSkip {
            return Err(Error::Encoder(format!(
                "OpenH264 skipped frame {index} of the chunk (every frame must be coded)"
            )));
        }
        let keyframe = info.eFrameType == videoFrameTypeIDR;
        self.gop.next(keyframe)?;
        let mut data = Vec::with_capacity(usize::try_from(info.iFrameSizeInBytes).unwrap_or(0));
        let layers = usize::try_from(info.iLayerNum)
            .unwrap_or(0)
            .min(info.sLayerInfo.len());
        for layer in &info.sLayerInfo[..layers] {
            let nals = usize::try_from(layer.iNalCount).unwrap_or(0);
            if nals == 0 || layer.pNalLengthInByte.is_null() || layer.pBsBuf.is_null() {
                continue;
            }
            // SAFETY: OpenH264 fills `iNalCount` lengths and a buffer holding exactly those
            // NAL units back to back; both stay valid until the next EncodeFrame call.
            let lengths = unsafe { std::slice::from_raw_parts(layer.pNalLengthInByte, nals) };
            let total: usize = lengths
                .iter()
                .map(|&l| usize::try_from(l).unwrap_or(0))
                .sum();
            let bytes = unsafe { std::slice::from_raw_parts(layer.pBsBuf, total) };
            data.extend_from_slice(bytes);
        }
        self.frames_sent += 1;
        Ok(Packet { data, keyframe })
    }
}

/// The full OpenH264 parameter set for one chunk encoder.
fn encoder_params(
    defaults: &SEncParamExt,
    cfg: &EncoderConfig,
    output: &VideoInfo,
    fps: f64,
    rc_fps: f64,
) -> Result<SEncParamExt> {
    let effort = effort(cfg.profile.complexity);
    let mut p = *defaults;
    // OpenH264 accepts only the real-time usages in InitializeExt; camera is the one for video.
    p.iUsageType = CAMERA_VIDEO_REAL_TIME;
    p.iPicWidth = output.width as c_int;
    p.iPicHeight = output.height as c_int;
    p.fMaxFrameRate = rc_fps as f32;
    p.iTemporalLayerNum = 1;
    p.iSpatialLayerNum = 1;
    p.iComplexityMode = effort.mode;
    p.uiIntraPeriod = cfg.profile.gop;
    p.iNumRefFrame = 1;
    p.eSpsPpsIdStrategy = CONSTANT_ID;
    p.bPrefixNalAddingCtrl = false;
    p.bEnableSSEI = false;
    p.bSimulcastAVC = false;
    p.iPaddingFlag = 0;
    p.iEntropyCodingModeFlag = 1;
    p.bEnableFrameSkip = false;
    p.iMaxBitrate = UNSPECIFIED_BIT_RATE as c_int;
    p.bEnableLongTermReference = false;
    p.iMultipleThreadIdc = 1;
    p.bUseLoadBalancing = false;
    p.iLoopFilterDisableIdc = 0;
    p.bEnableDenoise = false;
    p.bEnableBackgroundDetection = effort.background_detection;
    p.bEnableAdaptiveQuant = false;
    p.bEnableFrameCroppingFlag = true;
    p.bEnableSceneChangeDetect = false;
    let layer = &mut p.sSpatialLayers[0];
    layer.iVideoWidth = output.width as c_int;
    layer.iVideoHeight = output.height as c_int;
    layer.fFrameRate = rc_fps as f32;
    layer.uiProfileIdc = PRO_MAIN;
    layer.uiLevelIdc = LEVEL_UNKNOWN;
    layer.sSliceArgument.uiSliceMode = SM_SINGLE_SLICE;
    layer.sSliceArgument.uiSliceNum = 1;
    layer.iMaxSpatialBitrate = UNSPECIFIED_BIT_RATE as c_int;
    match cfg.profile.rate {
        RateControl::Qp { qp } => {
            p.iRCMode = RC_OFF_MODE;
            p.iTargetBitrate = UNSPECIFIED_BIT_RATE as c_int;
            p.iMinQp = c_int::from(qp);
            p.iMaxQp = c_int::from(qp);
            layer.iDLayerQp = c_int::from(qp);
            layer.iSpatialBitrate = UNSPECIFIED_BIT_RATE as c_int;
            layer.uiLevelIdc = qp_mode_level(output, fps);
        }
        RateControl::Bitrate { kbps } => {
            // OpenH264 budgets `bitrate / fps` bits per frame with fps clamped to 1..=60; scale
            // the target so the per-frame budget matches the real frame rate.
            let bps = (f64::from(kbps) * 1000.0 * rc_fps / fps).round() as c_int;
            p.iRCMode = RC_BITRATE_MODE;
            p.iTargetBitrate = bps;
            layer.iSpatialBitrate = bps;
        }
        RateControl::Crf { .. } => {
            // Profile::validate refuses this already.
            return Err(Error::Unsupported(
                "crf rate control with openh264 (it has qp and bitrate modes)".into(),
            ));
        }
    }
    Ok(p)
}

impl Encoder for OpenH264Encoder {
    fn send_frame(&mut self, frame: &Frame) -> Result<()> {
        let frame = self.input.accept(frame)?;
        let packet = self.encode(&frame)?;
        self.ready.push_back(packet);
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        self.input.finish();
        Ok(())
    }

    fn receive_packet(&mut self) -> Result<Option<Packet>> {
        Ok(self.ready.pop_front())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::annexb::{nal_units, NalType};
    use bitswarm_core::{Profile, Rational, Resolution};

    fn info(width: u32, height: u32, fps: u32) -> VideoInfo {
        VideoInfo::new(width, height, Rational::new(fps, 1).unwrap()).unwrap()
    }

    #[test]
    fn qp_mode_level_covers_half_a_bit_per_pixel() {
        let level = |w, h, fps| qp_mode_level(&info(w, h, fps), f64::from(fps));
        assert_eq!(level(352, 288, 30), 20); // 1.5 Mbit/s <= 2 Mbit/s
        assert_eq!(level(640, 360, 25), 21); // 2.9 Mbit/s; frame size needs 3.0, OpenH264 raises it
        assert_eq!(level(1280, 720, 25), 31); // 11.5 Mbit/s <= 14 Mbit/s
        assert_eq!(level(1920, 1080, 30), 41); // 31 Mbit/s <= 50 Mbit/s
        assert_eq!(level(3840, 2160, 60), LEVEL_5_2);
    }

    /// The `level_idc` byte of the SPS in the first packet of a one-frame encode.
    fn sps_level(source: VideoInfo, rate: RateControl) -> u8 {
        let profile = Profile {
            rate,
            resolution: Resolution::Source,
            ..Profile::default()
        };
        let cfg = EncoderConfig {
            profile,
            source,
            threads: 1,
            ffmpeg: None,
        };
        let mut enc = OpenH264Encoder::new(&cfg).unwrap();
        enc.send_frame(&Frame::filled(&source, 80, 128, 128))
            .unwrap();
        let packet = enc.receive_packet().unwrap().unwrap();
        let sps = nal_units(&packet.data)
            .find(|n| n.nal_type() == NalType::Sps)
            .unwrap();
        // profile_idc, constraint flags, level_idc follow the NAL header.
        assert_eq!(sps.bytes[1], 77, "Main profile");
        sps.bytes[3]
    }

    #[test]
    fn the_sps_signals_the_chosen_level() {
        assert_eq!(
            sps_level(info(1280, 720, 25), RateControl::Qp { qp: 20 }),
            31
        );
        // The bitrate alone asks for 2.1; 920 macroblocks at 25 fps need 3.0.
        assert_eq!(
            sps_level(info(640, 360, 25), RateControl::Qp { qp: 20 }),
            30
        );
        // In bitrate mode OpenH264 picks the level from size, rate and target bitrate.
        assert_eq!(
            sps_level(info(1280, 720, 25), RateControl::Bitrate { kbps: 30_000 }),
            41
        );
    }
}
