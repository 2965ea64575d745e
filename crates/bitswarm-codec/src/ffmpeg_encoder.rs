//! x264, x265, SVT-AV1 and libaom through an FFmpeg child process: raw I420 frames go in on
//! its stdin, the elementary stream (Annex B or low-overhead OBUs) comes back on its stdout and
//! is cut into one packet per picture. The settings that make chunks concatenate (keyframe
//! interval, closed GOPs, no scene-cut keyframes, headers at every keyframe) and the
//! complexity and rate-control mappings are in docs/CODEC.md.

use std::collections::VecDeque;
use std::sync::Arc;

use bitswarm_core::{Codec, EncoderKind, Frame, Profile, RateControl, Tune, Tuning, VideoInfo};

use crate::encoder::{Encoder, EncoderConfig, FrameInput, GopCheck, Packet};
use crate::ffmpeg::{Ffmpeg, FfmpegProbe};
use crate::pipe::PipedChild;
use crate::units::{is_keyframe, split_units, unit_starts};
use crate::{Error, Result};

/// x264's and x265's presets, fastest first: complexity level `n` is entry `n - 1`.
pub(crate) const X26X_PRESETS: [&str; 10] = [
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
];

/// SVT-AV1 `--preset` per complexity level (13 fastest .. 0 slowest).
pub(crate) const SVT_PRESETS: [u8; 10] = [13, 12, 11, 10, 9, 8, 6, 4, 2, 0];

/// libaom per complexity level: (`--usage realtime`?, `--cpu-used`). Good-quality mode stops
/// at cpu-used 6 (7 and 8 give the same output as 6), so the fastest levels use real-time mode.
pub(crate) const AOM_SPEEDS: [(bool, u8); 10] = [
    (true, 8),
    (true, 7),
    (true, 6),
    (false, 6),
    (false, 5),
    (false, 4),
    (false, 3),
    (false, 2),
    (false, 1),
    (false, 0),
];

/// The FFmpeg encoder name of an encoder kind that runs through FFmpeg.
pub(crate) fn ffmpeg_encoder_name(kind: EncoderKind) -> Option<&'static str> {
    match kind {
        EncoderKind::X264 => Some("libx264"),
        EncoderKind::X265 => Some("libx265"),
        EncoderKind::SvtAv1 => Some("libsvtav1"),
        EncoderKind::Aom => Some("libaom-av1"),
        EncoderKind::OpenH264 | EncoderKind::Rav1e => None,
    }
}

/// FFmpeg's raw output format for a codec.
pub(crate) fn raw_format(codec: Codec) -> &'static str {
    match codec {
        Codec::H264 => "h264",
        Codec::Hevc => "hevc",
        Codec::Av1 => "obu",
    }
}

/// The `-tune` value FFmpeg's x264, x265 and libaom wrappers take for `tune`.
fn ffmpeg_tune(tune: Tune) -> &'static str {
    match tune {
        Tune::StillImage => "stillimage",
        other => other.name(),
    }
}

/// The `:key=value` pairs of `tuning` for x264's and x265's `-x26N-params` (validated, so
/// every set field is one the encoder honours). x264 reads `psy-rd` as `rd,trellis`; a `:`
/// there would end the pair, so the separator is `,`.
fn x26x_tuning_params(kind: EncoderKind, tuning: &Tuning) -> String {
    let mut params = String::new();
    if let Some(mode) = tuning.aq_mode {
        params.push_str(&format!(":aq-mode={mode}"));
    }
    if let Some(strength) = tuning.aq_strength {
        params.push_str(&format!(":aq-strength={strength}"));
    }
    match (kind, tuning.psy_rd) {
        (EncoderKind::X264, Some(psy)) => params.push_str(&format!(":psy-rd={psy},0")),
        (_, Some(psy)) => params.push_str(&format!(":psy-rd={psy}")),
        (_, None) => {}
    }
    if let Some(refs) = tuning.refs {
        params.push_str(&format!(":ref={refs}"));
    }
    params
}

/// The video buffering verifier of a `RateControl::Bitrate` encode with x264 and x265: 1-pass
/// average bitrate with a peak rate of 1.1 x the average and a buffer of 2 x (the constraints
/// of Apple's HLS authoring ladder, docs/CODEC.md "Rate control").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Vbv {
    /// 1.1 x the average, rounded half up, kbit/s.
    maxrate_kbps: u32,
    /// 2 x the average, kbit.
    bufsize_kbit: u32,
}

impl Vbv {
    fn for_kbps(kbps: u32) -> Self {
        // Profile::validate keeps kbps within BITRATE_RANGE; saturate all the same.
        Self {
            maxrate_kbps: kbps.saturating_mul(11).saturating_add(5) / 10,
            bufsize_kbit: kbps.saturating_mul(2),
        }
    }
}

/// The encoder options of one chunk (after `-c:v NAME`); the tuning mapping is the table in
/// docs/CODEC.md.
pub(crate) fn encoder_args(kind: EncoderKind, profile: &Profile, threads: u16) -> Vec<String> {
    let level = usize::from(profile.complexity.clamp(1, 10)) - 1;
    let gop = profile.gop;
    let tuning = &profile.tuning;
    let mut args: Vec<String> = Vec::new();
    let mut push = |items: &[&str]| args.extend(items.iter().map(|s| (*s).to_owned()));
    match kind {
        EncoderKind::X264 => {
            push(&["-preset", X26X_PRESETS[level]]);
            if let Some(tune) = tuning.tune {
                push(&["-tune", ffmpeg_tune(tune)]);
            }
            let params = format!(
                "keyint={gop}:min-keyint={gop}:scenecut=0:open-gop=0:threads=1{}",
                x26x_tuning_params(kind, tuning)
            );
            push(&["-x264-params", &params]);
            match profile.rate {
                RateControl::Qp { qp } => push(&["-qp", &qp.to_string()]),
                RateControl::Crf { crf } => push(&["-crf", &crf.to_string()]),
                RateControl::Bitrate { kbps } => {
                    let vbv = Vbv::for_kbps(kbps);
                    push(&["-b:v", &format!("{kbps}k")]);
                    push(&["-maxrate", &format!("{}k", vbv.maxrate_kbps)]);
                    push(&["-bufsize", &format!("{}k", vbv.bufsize_kbit)]);
                }
            }
        }
        EncoderKind::X265 => {
            push(&["-preset", X26X_PRESETS[level]]);
            if let Some(tune) = tuning.tune {
                push(&["-tune", ffmpeg_tune(tune)]);
            }
            let rate = match profile.rate {
                RateControl::Qp { qp } => format!("qp={qp}"),
                RateControl::Crf { crf } => format!("crf={crf}"),
                RateControl::Bitrate { kbps } => {
                    let vbv = Vbv::for_kbps(kbps);
                    format!(
                        "bitrate={kbps}:vbv-maxrate={}:vbv-bufsize={}",
                        vbv.maxrate_kbps, vbv.bufsize_kbit
                    )
                }
            };
            let params = format!(
                "keyint={gop}:min-keyint={gop}:scenecut=0:open-gop=0:repeat-headers=1:\
                 pools=none:frame-threads=1:log-level=error:{rate}{}",
                x26x_tuning_params(kind, tuning)
            );
            push(&["-x265-params", &params]);
        }
        EncoderKind::SvtAv1 => {
            push(&["-preset", &SVT_PRESETS[level].to_string()]);
            push(&["-g", &gop.to_string()]);
            let lp = threads.max(1);
            let mut params = format!("keyint={gop}:irefresh-type=2:scd=0:lp={lp}");
            if let Some(mode) = tuning.aq_mode {
                params.push_str(&format!(":aq-mode={mode}"));
            }
            // SVT-AV1's tune: 0 = visual quality, 1 = PSNR (the only one validate lets through).
            if tuning.tune == Some(Tune::Psnr) {
                params.push_str(":tune=1");
            }
            push(&["-svtav1-params", &params]);
            match profile.rate {
                RateControl::Qp { qp } => push(&["-qp", &qp.to_string()]),
                RateControl::Crf { crf } => push(&["-crf", &crf.to_string()]),
                RateControl::Bitrate { kbps } => push(&["-b:v", &format!("{kbps}k")]),
            }
        }
        EncoderKind::Aom => {
            let (realtime, cpu_used) = AOM_SPEEDS[level];
            if realtime {
                push(&["-usage", "realtime"]);
            }
            push(&["-cpu-used", &cpu_used.to_string()]);
            push(&["-threads", "1", "-row-mt", "0"]);
            push(&["-g", &gop.to_string(), "-keyint_min", &gop.to_string()]);
            if let Some(mode) = tuning.aq_mode {
                push(&["-aq-mode", &mode.to_string()]);
            }
            if let Some(tune) = tuning.tune {
                push(&["-tune", ffmpeg_tune(tune)]);
            }
            match profile.rate {
                RateControl::Qp { qp } => {
                    let q = qp.to_string();
                    push(&["-crf", &q, "-b:v", "0", "-qmin", &q, "-qmax", &q]);
                }
                RateControl::Crf { crf } => push(&["-crf", &crf.to_string(), "-b:v", "0"]),
                RateControl::Bitrate { kbps } => push(&["-b:v", &format!("{kbps}k")]),
            }
        }
        EncoderKind::OpenH264 | EncoderKind::Rav1e => {}
    }
    args
}

/// Probes `ffmpeg` and checks that it lists the FFmpeg encoder of `kind`; returns that name
/// and the probe.
pub(crate) fn require_encoder(
    kind: EncoderKind,
    ffmpeg: &Ffmpeg,
) -> Result<(&'static str, Arc<FfmpegProbe>)> {
    let name = ffmpeg_encoder_name(kind)
        .ok_or_else(|| Error::Unsupported(format!("{kind} does not run through ffmpeg")))?;
    let probe = ffmpeg.probe()?;
    if !probe.video_encoders.iter().any(|e| e == name) {
        return Err(Error::Unavailable {
            encoder: kind,
            reason: format!(
                "ffmpeg {} at {} has no {name} encoder",
                probe.version,
                ffmpeg.path.display()
            ),
        });
    }
    Ok((name, probe))
}

/// The FFmpeg backend of [`Encoder`].
pub(crate) struct FfmpegEncoder {
    kind: EncoderKind,
    codec: Codec,
    input: FrameInput,
    child: PipedChild,
    /// Stream bytes received and not yet cut into packets.
    pending: Vec<u8>,
    ready: VecDeque<Packet>,
    gop: GopCheck,
    frames_sent: u64,
    /// Set once FFmpeg has finished (after flush).
    finished: bool,
}

impl FfmpegEncoder {
    /// Starts FFmpeg for one chunk, after checking that it has the encoder.
    pub(crate) fn open(cfg: &EncoderConfig, ffmpeg: &Ffmpeg) -> Result<Self> {
        Self::start(cfg, ffmpeg, "error")
    }

    /// [`FfmpegEncoder::open`] with FFmpeg's log level (`verbose` makes some encoders print
    /// their version on stderr).
    pub(crate) fn start(cfg: &EncoderConfig, ffmpeg: &Ffmpeg, loglevel: &str) -> Result<Self> {
        let kind = cfg.profile.encoder;
        let input = FrameInput::new(cfg)?;
        let (name, _) = require_encoder(kind, ffmpeg)?;
        let out = input.output;
        let mut cmd = ffmpeg.command();
        cmd.args(["-loglevel", loglevel]);
        cmd.args(["-f", "rawvideo", "-pix_fmt", "yuv420p"]);
        cmd.arg("-video_size")
            .arg(format!("{}x{}", out.width, out.height));
        cmd.arg("-framerate")
            .arg(format!("{}/{}", out.fps.num, out.fps.den));
        cmd.args(["-i", "pipe:0", "-map", "0:v", "-c:v", name]);
        cmd.args(encoder_args(kind, &cfg.profile, cfg.threads));
        cmd.args(["-f", raw_format(kind.codec()), "pipe:1"]);
        tracing::debug!(encoder = %kind, ?cmd, "starting ffmpeg");
        let child = ffmpeg.spawn(cmd)?;
        Ok(Self {
            kind,
            codec: kind.codec(),
            input,
            child,
            pending: Vec::new(),
            ready: VecDeque::new(),
            gop: GopCheck::new(kind, cfg.profile.gop),
            frames_sent: 0,
            finished: false,
        })
    }

    /// Cuts the pending bytes into packets: every unit followed by the start of another, and
    /// at the end of the stream the last one too.
    fn cut_packets(&mut self, at_end: bool) -> Result<()> {
        let mut starts = unit_starts(self.codec, &self.pending);
        if at_end {
            // Malformed data at the very end (an OBU cut short) must fail, not vanish.
            let last = starts.last().copied().unwrap_or(0);
            split_units(self.codec, &self.pending[last..])?;
            starts.push(self.pending.len());
        }
        if starts.len() < 2 {
            return Ok(());
        }
        for pair in starts.windows(2) {
            let data = self.pending[pair[0]..pair[1]].to_vec();
            let keyframe = is_keyframe(self.codec, &data);
            self.gop.next(keyframe)?;
            self.ready.push_back(Packet { data, keyframe });
        }
        let done = starts[starts.len() - 1];
        self.pending.drain(..done);
        Ok(())
    }

    /// The encoder's stderr after it finished (for version detection).
    pub(crate) fn stderr_text(&mut self) -> String {
        self.child.stderr_text()
    }
}

impl Encoder for FfmpegEncoder {
    fn send_frame(&mut self, frame: &Frame) -> Result<()> {
        let frame = self.input.accept(frame)?;
        let mut packed = Vec::with_capacity(frame.len());
        frame.write_packed(&mut packed);
        self.child.write(packed)?;
        self.frames_sent += 1;
        let arrived = self.child.try_read();
        self.pending.extend(arrived);
        self.cut_packets(false)
    }

    fn flush(&mut self) -> Result<()> {
        if self.finished {
            return Ok(());
        }
        self.input.finish();
        let rest = self.child.finish()?;
        self.finished = true;
        self.pending.extend(rest);
        self.cut_packets(true)?;
        if !self.pending.is_empty() {
            return Err(Error::Encoder(format!(
                "{} output ends with {} bytes that hold no {} picture",
                self.kind,
                self.pending.len(),
                self.codec
            )));
        }
        self.gop.finish(self.frames_sent)
    }

    fn receive_packet(&mut self) -> Result<Option<Packet>> {
        if !self.finished {
            let arrived = self.child.try_read();
            if !arrived.is_empty() {
                self.pending.extend(arrived);
                self.cut_packets(false)?;
            }
        }
        Ok(self.ready.pop_front())
    }
}

/// Encodes two small grey frames with `kind` through `ffmpeg` and returns the encoder's
/// version as found in the stream or on stderr (`None` when it printed none).
pub(crate) fn test_encode(kind: EncoderKind, ffmpeg: &Ffmpeg) -> Result<Option<String>> {
    let source = VideoInfo::new(64, 64, bitswarm_core::Rational { num: 25, den: 1 })?;
    let cfg = EncoderConfig {
        profile: Profile {
            encoder: kind,
            complexity: 1,
            gop: 2,
            ..Profile::default()
        },
        source,
        threads: 1,
        ffmpeg: Some(ffmpeg.clone()),
    };
    let mut encoder = FfmpegEncoder::start(&cfg, ffmpeg, "verbose")?;
    for shade in [100, 140] {
        encoder.send_frame(&Frame::filled(&source, shade, 128, 128))?;
    }
    encoder.flush()?;
    let mut stream = Vec::new();
    while let Some(packet) = encoder.receive_packet()? {
        stream.extend(packet.data);
    }
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&stream),
        encoder.stderr_text()
    );
    Ok(library_version(kind, &text))
}

/// Finds an encoder library's version in its stream (x264 and x265 write it into an SEI) or
/// in FFmpeg's verbose log (SVT-AV1, libaom).
pub(crate) fn library_version(kind: EncoderKind, text: &str) -> Option<String> {
    let after = |marker: &str| text.find(marker).map(|i| &text[i + marker.len()..]);
    let word = |s: &str| -> Option<String> {
        let w: String = s
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || ".+-_".contains(*c))
            .collect();
        (!w.is_empty()).then_some(w)
    };
    match kind {
        EncoderKind::X264 => {
            let rest = after("x264 - core ")?;
            let end = rest.find(" - ")?;
            Some(format!("x264 core {}", &rest[..end]))
        }
        EncoderKind::X265 => {
            let from_sei = after("x265 (build ")
                .and_then(|rest| rest.find(") - ").map(|i| &rest[i + 4..]))
                .and_then(word);
            let from_log = || after("HEVC encoder version ").and_then(word);
            Some(format!("x265 {}", from_sei.or_else(from_log)?))
        }
        EncoderKind::SvtAv1 => Some(format!(
            "SVT-AV1 {}",
            word(after("SVT-AV1 Encoder Lib ")?.trim_start())?
        )),
        EncoderKind::Aom => text.lines().find_map(|line| {
            let rest = line.split_once("[libaom-av1 @ ")?.1.split_once("] ")?.1;
            let version = word(rest.strip_prefix('v')?)?;
            version
                .starts_with(|c: char| c.is_ascii_digit())
                .then(|| format!("libaom {version}"))
        }),
        EncoderKind::OpenH264 | EncoderKind::Rav1e => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_carry_the_gop_preset_and_rate() {
        let profile = |encoder, rate, complexity| Profile {
            encoder,
            rate,
            complexity,
            gop: 48,
            ..Profile::default()
        };
        let joined = |p: &Profile, threads| encoder_args(p.encoder, p, threads).join(" ");
        assert_eq!(
            joined(
                &profile(EncoderKind::X264, RateControl::Crf { crf: 23 }, 6),
                4
            ),
            "-preset medium -x264-params keyint=48:min-keyint=48:scenecut=0:open-gop=0:threads=1 \
             -crf 23"
        );
        assert_eq!(
            joined(
                &profile(EncoderKind::X265, RateControl::Bitrate { kbps: 900 }, 1),
                4
            ),
            "-preset ultrafast -x265-params keyint=48:min-keyint=48:scenecut=0:open-gop=0:\
             repeat-headers=1:pools=none:frame-threads=1:log-level=error:bitrate=900:\
             vbv-maxrate=990:vbv-bufsize=1800"
        );
        // 1-pass ABR with VBV: peak 1.1 x (365 -> 401.5, half up), buffer 2 x.
        assert_eq!(
            joined(
                &profile(EncoderKind::X264, RateControl::Bitrate { kbps: 365 }, 6),
                1
            ),
            "-preset medium -x264-params keyint=48:min-keyint=48:scenecut=0:open-gop=0:threads=1 \
             -b:v 365k -maxrate 402k -bufsize 730k"
        );
        // SVT-AV1 and libaom stay plain VBR (docs/CODEC.md, "Rate control").
        assert_eq!(
            joined(
                &profile(EncoderKind::SvtAv1, RateControl::Bitrate { kbps: 500 }, 6),
                1
            ),
            "-preset 8 -g 48 -svtav1-params keyint=48:irefresh-type=2:scd=0:lp=1 -b:v 500k"
        );
        assert_eq!(
            joined(
                &profile(EncoderKind::Aom, RateControl::Bitrate { kbps: 500 }, 6),
                1
            ),
            "-cpu-used 4 -threads 1 -row-mt 0 -g 48 -keyint_min 48 -b:v 500k"
        );
        assert_eq!(
            joined(
                &profile(EncoderKind::SvtAv1, RateControl::Qp { qp: 40 }, 10),
                2
            ),
            "-preset 0 -g 48 -svtav1-params keyint=48:irefresh-type=2:scd=0:lp=2 -qp 40"
        );
        assert_eq!(
            joined(&profile(EncoderKind::Aom, RateControl::Qp { qp: 40 }, 2), 2),
            "-usage realtime -cpu-used 7 -threads 1 -row-mt 0 -g 48 -keyint_min 48 -crf 40 \
             -b:v 0 -qmin 40 -qmax 40"
        );
        assert_eq!(
            joined(
                &profile(EncoderKind::Aom, RateControl::Crf { crf: 30 }, 5),
                2
            ),
            "-cpu-used 5 -threads 1 -row-mt 0 -g 48 -keyint_min 48 -crf 30 -b:v 0"
        );
        let tuned = |encoder, rate, tuning| Profile {
            tuning,
            ..profile(encoder, rate, 6)
        };
        let full = Tuning {
            aq_mode: Some(3),
            aq_strength: Some(0.8),
            psy_rd: Some(1.5),
            refs: Some(4),
            tune: Some(Tune::StillImage),
        };
        assert_eq!(
            joined(
                &tuned(EncoderKind::X264, RateControl::Crf { crf: 23 }, full),
                1
            ),
            "-preset medium -tune stillimage -x264-params keyint=48:min-keyint=48:scenecut=0:\
             open-gop=0:threads=1:aq-mode=3:aq-strength=0.8:psy-rd=1.5,0:ref=4 -crf 23"
        );
        let x265 = Tuning {
            tune: Some(Tune::Grain),
            ..full
        };
        assert_eq!(
            joined(
                &tuned(EncoderKind::X265, RateControl::Qp { qp: 30 }, x265),
                1
            ),
            "-preset medium -tune grain -x265-params keyint=48:min-keyint=48:scenecut=0:\
             open-gop=0:repeat-headers=1:pools=none:frame-threads=1:log-level=error:qp=30:\
             aq-mode=3:aq-strength=0.8:psy-rd=1.5:ref=4"
        );
        let psnr = Tuning {
            aq_mode: Some(0),
            tune: Some(Tune::Psnr),
            ..Tuning::default()
        };
        assert_eq!(
            joined(
                &tuned(EncoderKind::SvtAv1, RateControl::Qp { qp: 40 }, psnr),
                2
            ),
            "-preset 8 -g 48 -svtav1-params keyint=48:irefresh-type=2:scd=0:lp=2:aq-mode=0:\
             tune=1 -qp 40"
        );
        let ssim = Tuning {
            aq_mode: Some(1),
            tune: Some(Tune::Ssim),
            ..Tuning::default()
        };
        assert_eq!(
            joined(
                &tuned(EncoderKind::Aom, RateControl::Crf { crf: 30 }, ssim),
                2
            ),
            "-cpu-used 4 -threads 1 -row-mt 0 -g 48 -keyint_min 48 -aq-mode 1 -tune ssim \
             -crf 30 -b:v 0"
        );
        // Every tuned profile used here is one validate accepts.
        for (kind, tuning) in [
            (EncoderKind::X264, full),
            (EncoderKind::X265, x265),
            (EncoderKind::SvtAv1, psnr),
            (EncoderKind::Aom, ssim),
        ] {
            tuned(kind, RateControl::Qp { qp: 30 }, tuning)
                .validate()
                .unwrap();
        }
    }

    #[test]
    fn vbv_rounds_the_peak_half_up_and_saturates() {
        let vbv = |kbps| {
            let v = Vbv::for_kbps(kbps);
            (v.maxrate_kbps, v.bufsize_kbit)
        };
        assert_eq!(vbv(145), (160, 290)); // 159.5 -> 160
        assert_eq!(vbv(3000), (3300, 6000));
        assert_eq!(vbv(u32::MAX), (u32::MAX / 10, u32::MAX));
    }

    /// x264 records its rate control in the options SEI of the stream: the bitrate mode is
    /// 1-pass ABR with the VBV of [`Vbv`].
    #[test]
    fn x264_bitrate_mode_writes_its_vbv_into_the_stream() {
        let Some(ffmpeg) = Ffmpeg::locate(None) else {
            eprintln!("note: no ffmpeg found; skipping the x264 VBV check");
            return;
        };
        let source = VideoInfo::new(64, 64, bitswarm_core::Rational { num: 25, den: 1 }).unwrap();
        let cfg = EncoderConfig {
            profile: Profile {
                encoder: EncoderKind::X264,
                rate: RateControl::Bitrate { kbps: 300 },
                complexity: 1,
                gop: 4,
                ..Profile::default()
            },
            source,
            threads: 1,
            ffmpeg: Some(ffmpeg.clone()),
        };
        let mut encoder = FfmpegEncoder::open(&cfg, &ffmpeg).unwrap();
        for shade in [60, 100, 140, 180] {
            encoder
                .send_frame(&Frame::filled(&source, shade, 128, 128))
                .unwrap();
        }
        encoder.flush().unwrap();
        let mut stream = Vec::new();
        while let Some(packet) = encoder.receive_packet().unwrap() {
            stream.extend(packet.data);
        }
        let text = String::from_utf8_lossy(&stream);
        let options: Vec<&str> = text
            .split("options: ")
            .nth(1)
            .and_then(|rest| rest.split('\0').next())
            .unwrap_or_default()
            .split(' ')
            .collect();
        for want in [
            "rc=abr",
            "bitrate=300",
            "vbv_maxrate=330",
            "vbv_bufsize=600",
        ] {
            assert!(options.contains(&want), "{want} in {options:?}");
        }
    }

    #[test]
    fn library_versions_are_found_in_streams_and_logs() {
        let cases = [
            (
                EncoderKind::X264,
                "\u{5}x264 - core 164 r3095 baee400 - H.264/MPEG-4 AVC codec",
                "x264 core 164 r3095 baee400",
            ),
            (
                EncoderKind::X265,
                "x265 (build 199) - 3.5+1-f0c1022b6:[Linux][GCC 12.2.0][64 bit] 8bit",
                "x265 3.5+1-f0c1022b6",
            ),
            (
                EncoderKind::X265,
                "x265 [info]: HEVC encoder version 4.3+49-020d7054\n",
                "x265 4.3+49-020d7054",
            ),
            (
                EncoderKind::SvtAv1,
                "Svt[info]: SVT [version]:\tSVT-AV1 Encoder Lib v1.4.1\n",
                "SVT-AV1 v1.4.1",
            ),
            (
                EncoderKind::Aom,
                "[libaom-av1 @ 0x557dd4970ec0] 3 threads\n[libaom-av1 @ 0x557dd4970ec0] v3.6.0\n",
                "libaom 3.6.0",
            ),
        ];
        for (kind, text, want) in cases {
            assert_eq!(library_version(kind, text).as_deref(), Some(want), "{kind}");
        }
        assert_eq!(library_version(EncoderKind::Aom, "nothing here"), None);
    }
}
