//! `Profile::tuning` reaches the encoders: a tuned encode differs from the default one, carries
//! the asked-for settings, and still decodes to every frame. The x264 case is skipped (with a
//! note) when no FFmpeg is found, unless `BITSWARM_REQUIRE_TOOLS=1`.

mod common;

use bitswarm_codec::{decode_stream, open_decoder, EncoderConfig, Packet};
use bitswarm_core::{EncoderKind, Frame, Profile, RateControl, Tune, Tuning, VideoInfo};
use common::{concat, encode, psnrs, read_y4m, test_ffmpeg};

fn config(profile: Profile, source: VideoInfo) -> EncoderConfig {
    EncoderConfig {
        profile,
        source,
        threads: 1,
        ffmpeg: test_ffmpeg(),
    }
}

/// Encodes `frames` with `profile`, checks the stream decodes to every frame at a sane
/// quality, and returns it.
fn encode_and_check(profile: Profile, info: VideoInfo, frames: &[Frame]) -> Vec<u8> {
    let kind = profile.encoder;
    let packets: Vec<Packet> = encode(&config(profile, info), frames);
    let stream = concat(&packets);
    let mut decoder = open_decoder(kind.codec(), test_ffmpeg().as_ref()).unwrap();
    let decoded = decode_stream(decoder.as_mut(), &stream).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(decoded.len(), frames.len(), "{kind}");
    let p = psnrs(frames, &decoded);
    assert!(p.iter().all(|&x| x > 30.0), "{kind}: {p:.1?}");
    stream
}

#[test]
fn x264_tuning_changes_the_stream_and_is_recorded_in_it() {
    if test_ffmpeg().is_none() {
        return;
    }
    let (info, frames) = read_y4m("foreman_288p.y4m", 10);
    let plain = Profile {
        encoder: EncoderKind::X264,
        complexity: 3,
        gop: 10,
        rate: RateControl::Crf { crf: 23 },
        ..Profile::default()
    };
    let tuned = Profile {
        tuning: Tuning {
            tune: Some(Tune::Animation),
            aq_mode: Some(3),
            refs: Some(4),
            ..Tuning::default()
        },
        ..plain.clone()
    };
    let default_stream = encode_and_check(plain, info, &frames);
    let tuned_stream = encode_and_check(tuned, info, &frames);
    assert_ne!(default_stream, tuned_stream);
    // x264 writes its settings into an SEI: the explicit values win over the tune's
    // (animation doubles the references) and the tune's deblocking 1:1 is there.
    let options = |stream: &[u8]| {
        let text = String::from_utf8_lossy(stream).into_owned();
        let start = text.find("options: ").expect("x264 options SEI");
        let sei = text[start..].split('\0').next().unwrap_or_default();
        sei.split(' ').map(str::to_owned).collect::<Vec<_>>()
    };
    let tuned_options = options(&tuned_stream);
    for want in ["ref=4", "aq=3:0.60", "deblock=1:1:1"] {
        assert!(
            tuned_options.iter().any(|o| o == want),
            "{want} in {tuned_options:?}"
        );
    }
    let default_options = options(&default_stream);
    for want in ["ref=1", "aq=1:1.00", "deblock=1:0:0"] {
        assert!(
            default_options.iter().any(|o| o == want),
            "{want} in {default_options:?}"
        );
    }
}

#[test]
fn rav1e_tuned_for_psnr_differs_from_its_psychovisual_default() {
    let (info, frames) = read_y4m("foreman_288p.y4m", 4);
    let plain = Profile {
        encoder: EncoderKind::Rav1e,
        rate: RateControl::Qp { qp: 32 },
        complexity: 1,
        gop: 4,
        ..Profile::default()
    };
    let tuned = Profile {
        tuning: Tuning {
            tune: Some(Tune::Psnr),
            ..Tuning::default()
        },
        ..plain.clone()
    };
    let default_stream = encode_and_check(plain, info, &frames);
    let tuned_stream = encode_and_check(tuned, info, &frames);
    assert_ne!(default_stream, tuned_stream);
}

#[test]
fn x265_svtav1_and_aom_tuning_changes_the_stream() {
    let Some(_) = test_ffmpeg() else {
        return;
    };
    let (info, frames) = read_y4m("foreman_288p.y4m", 4);
    let t = Tuning::default();
    let cases = [
        (
            EncoderKind::X265,
            26,
            Tuning {
                tune: Some(Tune::Grain),
                aq_mode: Some(3),
                psy_rd: Some(0.5),
                refs: Some(2),
                ..t
            },
        ),
        // SVT-AV1 tunes for PSNR by default and runs its QP mode with aq-mode 0; aq-mode 2
        // lets it vary the quantiser per block.
        (
            EncoderKind::SvtAv1,
            32,
            Tuning {
                aq_mode: Some(2),
                tune: Some(Tune::Psnr),
                ..t
            },
        ),
        (
            EncoderKind::Aom,
            32,
            Tuning {
                aq_mode: Some(1),
                tune: Some(Tune::Ssim),
                ..t
            },
        ),
    ];
    for (encoder, qp, tuning) in cases {
        let plain = Profile {
            encoder,
            rate: RateControl::Qp { qp },
            complexity: 1,
            gop: 4,
            ..Profile::default()
        };
        let tuned = Profile {
            tuning,
            ..plain.clone()
        };
        let default_stream = encode_and_check(plain, info, &frames);
        let tuned_stream = encode_and_check(tuned, info, &frames);
        assert_ne!(
            default_stream, tuned_stream,
            "{encoder}: {tuning:?} changed nothing"
        );
    }
}
