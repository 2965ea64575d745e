//! OpenH264 encoder: round trips through the decoder, GOP structure, determinism, chunk
//! concatenation, rate control, complexity levels and scaling, on real clips.

mod common;

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::process::Command;

use bitswarm_codec::annexb::{nal_units, NalType};
use bitswarm_codec::{open_encoder, Decoder, Error, OpenH264Decoder};
use bitswarm_core::{scale, Profile, RateControl, Rational, Resolution, VideoInfo};
use common::{concat, config, decode_all, encode, psnrs, read_y4m};

fn qp(qp: u8, gop: u32) -> Profile {
    Profile {
        rate: RateControl::Qp { qp },
        gop,
        ..Profile::default()
    }
}

fn nal_types(data: &[u8]) -> Vec<NalType> {
    nal_units(data).map(|n| n.nal_type()).collect()
}

/// The SPS and PPS NAL units of a packet.
fn parameter_sets(data: &[u8]) -> Vec<Vec<u8>> {
    nal_units(data)
        .filter(|n| matches!(n.nal_type(), NalType::Sps | NalType::Pps))
        .map(|n| n.bytes.to_vec())
        .collect()
}

#[test]
fn qp22_round_trip_is_sharp_with_idr_every_gop_frames() {
    let (info, frames) = read_y4m("foreman_288p.y4m", 20);
    let packets = encode(&config(qp(22, 8), info), &frames);
    assert_eq!(packets.len(), 20);
    for (i, p) in packets.iter().enumerate() {
        assert_eq!(p.keyframe, i % 8 == 0, "frame {i}");
        let expected: &[NalType] = if i % 8 == 0 {
            &[NalType::Sps, NalType::Pps, NalType::Idr]
        } else {
            &[NalType::Slice]
        };
        assert_eq!(nal_types(&p.data), expected, "frame {i}");
    }
    let decoded = decode_all(&concat(&packets));
    assert_eq!(decoded.len(), 20);
    assert!(decoded.iter().all(|f| (f.width, f.height) == (352, 288)));
    let p = psnrs(&frames, &decoded);
    let mean = p.iter().sum::<f64>() / p.len() as f64;
    assert!(p.iter().all(|&x| x > 38.0) && mean > 40.0, "{p:?}");
}

#[test]
fn gop_of_one_makes_every_frame_an_idr() {
    let (info, frames) = read_y4m("foreman_288p.y4m", 4);
    let packets = encode(&config(qp(30, 1), info), &frames);
    assert!(packets.iter().all(|p| p.keyframe && p.data.len() > 100));
    assert_eq!(decode_all(&concat(&packets)).len(), 4);
}

fn stream_hash() -> (u64, usize) {
    let (info, frames) = read_y4m("bikes_272p.y4m", 12);
    let profile = Profile {
        complexity: 7,
        ..qp(27, 5)
    };
    let stream = concat(&encode(&config(profile, info), &frames));
    let mut h = DefaultHasher::new();
    stream.hash(&mut h);
    (h.finish(), stream.len())
}

#[test]
fn same_frames_and_config_give_identical_bytes() {
    let (info, frames) = read_y4m("bbb_360p.y4m", 10);
    for rate in [
        RateControl::Qp { qp: 28 },
        RateControl::Bitrate { kbps: 600 },
    ] {
        let cfg = config(
            Profile {
                rate,
                gop: 4,
                ..Profile::default()
            },
            info,
        );
        let a = encode(&cfg, &frames);
        let b = encode(&cfg, &frames);
        assert!(a == b, "{rate:?}: two encodes differ");
    }
}

/// Encodes in a child process (this test binary, run again for this test only) and compares
/// the stream's hash with an encode in this process.
#[test]
fn identical_bytes_in_another_process() {
    const CHILD: &str = "BITSWARM_CODEC_HASH_CHILD";
    let (hash, len) = stream_hash();
    let ours = format!("STREAM {hash:016x} {len}");
    if std::env::var_os(CHILD).is_some() {
        println!("{ours}");
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "identical_bytes_in_another_process",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    // libtest prints the test name on the same line, before the child's output.
    let theirs = stdout
        .lines()
        .find_map(|l| l.find("STREAM ").map(|at| &l[at..]))
        .unwrap_or_else(|| panic!("child printed no hash: {stdout}"));
    assert_eq!(theirs, ours);
}

#[test]
fn chunks_encoded_separately_concatenate_into_one_stream() {
    // Frames 30..55 of bikes cross the hard cut at frame 37.
    let (info, frames) = read_y4m("bikes_272p.y4m", 55);
    let frames = &frames[30..];
    let cfg = config(qp(24, 5), info);
    let first = encode(&cfg, &frames[..12]);
    let second = encode(&cfg, &frames[12..]);
    assert!(first[0].keyframe && second[0].keyframe && !second[1].keyframe);
    // The first chunk's SPS/PPS serve the second one too.
    assert_eq!(
        parameter_sets(&first[0].data),
        parameter_sets(&second[0].data)
    );
    let mut stream = concat(&first);
    stream.extend(concat(&second));
    let decoded = decode_all(&stream);
    assert_eq!(decoded.len(), frames.len());
    let p = psnrs(frames, &decoded);
    assert!(p.iter().all(|&x| x > 36.0), "{p:?}");
    // Decoding packet by packet gives the same pictures as decoding the whole stream.
    let mut dec = OpenH264Decoder::new().unwrap();
    let mut one_by_one = Vec::new();
    for packet in first.iter().chain(&second) {
        one_by_one.extend(dec.decode(&packet.data).unwrap());
    }
    one_by_one.extend(dec.flush().unwrap());
    assert!(one_by_one == decoded);
}

fn measured_kbps(kbps: u32, fps: Rational) -> f64 {
    let (info, frames) = read_y4m("foreman_288p.y4m", 60);
    let info = VideoInfo { fps, ..info };
    let profile = Profile {
        rate: RateControl::Bitrate { kbps },
        gop: 30,
        ..Profile::default()
    };
    let packets = encode(&config(profile, info), &frames);
    assert_eq!(
        packets.len(),
        frames.len(),
        "rate control must not drop frames"
    );
    let bytes: usize = packets.iter().map(|p| p.data.len()).sum();
    bytes as f64 * 8.0 / (frames.len() as f64 / fps.as_f64()) / 1000.0
}

#[test]
fn bitrate_mode_lands_near_the_target() {
    for (kbps, fps) in [
        (300, Rational::new(30000, 1001)),
        (1200, Rational::new(30000, 1001)),
        (900, Rational::new(120, 1)),
    ] {
        let fps = fps.unwrap();
        let got = measured_kbps(kbps, fps);
        let ratio = got / f64::from(kbps);
        assert!(
            (0.8..1.25).contains(&ratio),
            "{kbps} kbit/s at {fps} fps: got {got:.0}"
        );
    }
}

#[test]
fn every_complexity_level_decodes_with_the_same_parameter_sets() {
    let (info, frames) = read_y4m("city_360p.y4m", 6);
    let mut streams = Vec::new();
    for complexity in 1..=10 {
        let profile = Profile {
            complexity,
            ..qp(26, 3)
        };
        let packets = encode(&config(profile, info), &frames);
        let decoded = decode_all(&concat(&packets));
        let p = psnrs(&frames, &decoded);
        assert_eq!(decoded.len(), 6, "complexity {complexity}");
        assert!(
            p.iter().all(|&x| x > 34.0),
            "complexity {complexity}: {p:?}"
        );
        streams.push((parameter_sets(&packets[0].data), concat(&packets)));
    }
    assert!(
        streams.iter().all(|(ps, _)| *ps == streams[0].0),
        "SPS/PPS differ between levels"
    );
    assert_ne!(
        streams[0].1, streams[9].1,
        "levels 1 and 10 should encode differently"
    );
}

#[test]
fn a_profile_resolution_scales_the_frames_before_encoding() {
    let (info, frames) = read_y4m("bbb_360p.y4m", 5);
    let profile = Profile {
        resolution: Resolution::Fixed {
            width: 320,
            height: 180,
        },
        ..qp(22, 50)
    };
    let decoded = decode_all(&concat(&encode(&config(profile, info), &frames)));
    assert!(decoded.iter().all(|f| (f.width, f.height) == (320, 180)));
    let scaled: Vec<_> = frames.iter().map(|f| scale(f, 320, 180)).collect();
    let p = psnrs(&scaled, &decoded);
    assert!(p.iter().all(|&x| x > 38.0), "{p:?}");
}

#[test]
fn bad_input_is_refused_with_the_reason() {
    let (info, frames) = read_y4m("foreman_288p.y4m", 1);
    let other = VideoInfo::new(176, 144, info.fps).unwrap();
    let mut enc = open_encoder(&config(qp(26, 10), other)).unwrap();
    assert_eq!(
        enc.send_frame(&frames[0]).unwrap_err().to_string(),
        "frame is 352x288 with 152064 bytes, expected 176x144 with 38016 bytes"
    );
    enc.flush().unwrap();
    assert!(matches!(enc.send_frame(&frames[0]), Err(Error::Flushed)));
    assert!(enc.receive_packet().unwrap().is_none());

    let bad = Profile {
        complexity: 0,
        ..qp(26, 10)
    };
    let err = open_encoder(&config(bad, info)).err().unwrap();
    assert_eq!(err.to_string(), "invalid complexity 0 (expected 1..=10)");
    let huge = Profile {
        resolution: Resolution::Fixed {
            width: 4096,
            height: 2160,
        },
        ..qp(26, 10)
    };
    let err = open_encoder(&config(huge, info)).err().unwrap();
    assert_eq!(
        err.to_string(),
        "not supported: OpenH264 output 4096x2160 (it encodes up to 3840x2160 or 2160x3840)"
    );
}
