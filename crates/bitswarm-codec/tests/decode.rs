//! OpenH264 decoder on real-world H.264 (x264 Main and High profile with B-frames, from MP4)
//! and on damaged input.

mod common;

use bitswarm_codec::annexb::access_units;
use bitswarm_codec::{Decoder, Error, OpenH264Decoder};
use bitswarm_core::{scale, Frame, Profile, RateControl};
use common::{concat, config, encode, mp4_access_units, read_y4m};

/// Decodes access unit by access unit, then flushes.
fn decode_units(units: &[Vec<u8>]) -> Vec<Frame> {
    let mut dec = OpenH264Decoder::new().unwrap();
    let mut frames = Vec::new();
    for (i, au) in units.iter().enumerate() {
        frames.extend(
            dec.decode(au)
                .unwrap_or_else(|e| panic!("access unit {i}: {e}")),
        );
    }
    frames.extend(dec.flush().unwrap());
    frames
}

fn psnr(a: &Frame, b: &Frame) -> f64 {
    bitswarm_quality::psnr::psnr(a, b).unwrap()
}

#[test]
fn high_profile_with_b_frames_decodes_in_display_order() {
    // bikes.mp4: x264 High profile, CABAC, 8x8 transform, B-frames, weighted prediction.
    // bikes_272p.y4m holds its frames 100..=199, decoded by FFmpeg.
    let frames = decode_units(&mp4_access_units("bikes.mp4"));
    assert_eq!(frames.len(), 250);
    assert!(frames.iter().all(|f| (f.width, f.height) == (640, 272)));
    let (_, reference) = read_y4m("bikes_272p.y4m", 100);
    let mut exact = 0;
    for (i, (want, got)) in reference.iter().zip(&frames[100..]).enumerate() {
        let p = psnr(want, got);
        // A frame out of order or badly decoded lands far below 60 dB.
        assert!(p > 60.0, "frame {}: {p:.1} dB", 100 + i);
        exact += usize::from(want == got);
    }
    assert!(exact >= 80, "only {exact} of 100 frames bit-exact");
}

#[test]
fn main_profile_720p_decodes_every_sample() {
    // bigbuckbunny.mp4: x264 Main profile 1280x720; bbb_360p.y4m is its frames 0..75 scaled.
    let units = mp4_access_units("bigbuckbunny.mp4");
    let frames = decode_units(&units);
    assert_eq!(frames.len(), units.len());
    assert_eq!(frames.len(), 132);
    assert!(frames.iter().all(|f| (f.width, f.height) == (1280, 720)));
    let (_, reference) = read_y4m("bbb_360p.y4m", 75);
    for (i, (want, got)) in reference.iter().zip(&frames).enumerate() {
        // Each frame matches its own scaled source at about 50 dB, its neighbours at about 30
        // (apart from repeated source frames), so this also checks the output order.
        let p = psnr(want, &scale(got, 640, 360));
        assert!(p > 45.0, "frame {i}: {p:.1} dB");
    }
}

/// Pseudo-random bytes (a fixed LCG, so failures reproduce).
fn noise(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed;
    (0..len)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 24) as u8
        })
        .collect()
}

fn decode_err(data: &[u8]) -> Error {
    let mut dec = OpenH264Decoder::new().unwrap();
    match dec.decode(data) {
        Ok(frames) => panic!("decoded {} frames from damaged input", frames.len()),
        Err(e) => e,
    }
}

#[test]
fn garbage_is_an_error() {
    let garbage = noise(5000, 7);
    assert_eq!(
        decode_err(&garbage).to_string(),
        "invalid H.264 stream: no NAL unit in 5000 bytes (expected Annex B with 00 00 01 start codes)"
    );
    let mut slice = vec![0, 0, 0, 1, 0x65];
    slice.extend(&garbage[..400]);
    assert_eq!(
        decode_err(&slice).to_string(),
        "cannot decode access unit 0: no parameter sets (state 0x10)"
    );
    // Start codes every 50 bytes: NAL units of every type with random payloads.
    let mut chopped = Vec::new();
    for part in garbage.chunks(50) {
        chopped.extend([0, 0, 1]);
        chopped.extend(part);
    }
    assert!(matches!(decode_err(&chopped), Error::Decode { .. }));
}

fn small_stream() -> (Vec<u8>, usize) {
    let (info, frames) = read_y4m("foreman_288p.y4m", 6);
    let profile = Profile {
        rate: RateControl::Qp { qp: 26 },
        gop: 3,
        ..Profile::default()
    };
    let packets = encode(&config(profile, info), &frames);
    (concat(&packets), packets[0].data.len())
}

#[test]
fn truncated_streams_are_errors() {
    let (stream, idr_len) = small_stream();
    for cut in [idr_len / 2, idr_len - 5, stream.len() - 7] {
        let err = decode_err(&stream[..cut]);
        assert!(
            err.to_string().contains("bitstream error"),
            "cut at {cut}: {err}"
        );
    }
    // A stream that starts after its IDR (and its SPS/PPS) has nothing to start from.
    assert_eq!(
        decode_err(&stream[idr_len..]).to_string(),
        "cannot decode access unit 0: no parameter sets (state 0x10)"
    );
    // The undamaged stream decodes completely, unit by unit as well as at once.
    let units: Vec<Vec<u8>> = access_units(&stream).map(<[u8]>::to_vec).collect();
    assert_eq!(units.len(), 6);
    assert_eq!(decode_units(&units), common::decode_all(&stream));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
    /// Flipped bytes anywhere in a valid stream give well-formed frames or an error, never a
    /// crash (a damaged SPS may change the picture size, so sizes are not checked).
    #[test]
    fn damaged_streams_never_crash(flips in proptest::collection::vec((0.0..1.0f64, 1u8..=255), 1..8)) {
        let (mut stream, _) = small_stream();
        let len = stream.len();
        for (at, mask) in flips {
            stream[((at * len as f64) as usize).min(len - 1)] ^= mask;
        }
        let mut dec = OpenH264Decoder::new().unwrap();
        for au in access_units(&stream) {
            if let Ok(frames) = dec.decode(au) {
                for f in frames {
                    let (w, h) = (f.width as usize, f.height as usize);
                    proptest::prop_assert_eq!(f.y.len(), w * h);
                    proptest::prop_assert_eq!((f.u.len(), f.v.len()), (w / 2 * (h / 2), w / 2 * (h / 2)));
                }
            }
        }
        let _ = dec.flush();
    }
}
