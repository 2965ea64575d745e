//! The MP4 muxer: encode real frames, mux, read back with our demuxer (and ffprobe when present).

mod common;

use std::io::Cursor;

use bitswarm_codec::annexb::{nal_units, NalType};
use bitswarm_codec::{open_encoder, EncoderConfig, Packet};
use bitswarm_core::{Codec, Frame, Profile, Rational, VideoInfo};
use bitswarm_media::mp4::{write_mp4, Mp4Demuxer, Mp4Muxer};
use bitswarm_media::{open_input, open_stream};
use bitswarm_quality::psnr::psnr;
use common::{clip, native, read_all, tool};

/// The first `n` frames of foreman (352x288, 30000/1001 fps).
fn foreman(n: usize) -> (VideoInfo, Vec<Frame>) {
    let mut source = open_input(clip("foreman_288p.y4m").to_str().unwrap(), &native()).unwrap();
    let frames = (0..n)
        .map(|_| source.next_frame().unwrap().unwrap())
        .collect();
    (source.info(), frames)
}

fn encode(info: &VideoInfo, frames: &[Frame], gop: u32) -> Vec<Packet> {
    let cfg = EncoderConfig {
        profile: Profile {
            gop,
            ..Profile::default()
        },
        source: *info,
        threads: 1,
        ffmpeg: None,
    };
    let mut encoder = open_encoder(&cfg).unwrap();
    for f in frames {
        encoder.send_frame(f).unwrap();
    }
    encoder.flush().unwrap();
    std::iter::from_fn(|| encoder.receive_packet().unwrap()).collect()
}

fn mux(info: &VideoInfo, packets: &[Packet]) -> Vec<u8> {
    let mut muxer = Mp4Muxer::new(Cursor::new(Vec::new()), info).unwrap();
    for p in packets {
        muxer.write_access_unit(&p.data).unwrap();
    }
    assert_eq!(muxer.len(), packets.len());
    muxer.finish().unwrap().into_inner()
}

fn nals(annexb: &[u8]) -> Vec<Vec<u8>> {
    nal_units(annexb).map(|n| n.bytes.to_vec()).collect()
}

fn has_sps(sample_or_au: &[u8], length_prefixed: bool) -> bool {
    if length_prefixed {
        let annexb = bitswarm_codec::annexb::length_prefixed_to_annexb(sample_or_au, 4).unwrap();
        return has_sps(&annexb, false);
    }
    nal_units(sample_or_au).any(|n| n.nal_type() == NalType::Sps)
}

#[test]
fn muxed_access_units_read_back_identically_with_keyframes_and_rate() {
    let (info, frames) = foreman(20);
    let packets = encode(&info, &frames, 8);
    let keyframes: Vec<bool> = packets.iter().map(|p| p.keyframe).collect();
    assert_eq!(keyframes.iter().filter(|&&k| k).count(), 3);
    let bytes = mux(&info, &packets);

    let mut demuxer = Mp4Demuxer::new(Cursor::new(bytes.clone())).unwrap();
    let track = demuxer.track().clone();
    assert_eq!(&track.sample_entry, b"avc1");
    assert_eq!((track.width, track.height), (352, 288));
    assert_eq!(track.timescale, 30000);
    assert!(track.samples.iter().all(|s| s.duration == 1001));
    assert_eq!(track.frame_rate().unwrap(), info.fps);
    let sync: Vec<bool> = track.samples.iter().map(|s| s.sync).collect();
    assert_eq!(sync, keyframes);
    // Parameter sets that never change live in avcC only ...
    for i in 0..packets.len() {
        assert!(
            !has_sps(&demuxer.read_sample(i).unwrap(), true),
            "sample {i}"
        );
    }
    // ... and the demuxer puts them back in front of each keyframe.
    for (i, p) in packets.iter().enumerate() {
        let au = demuxer.next_access_unit().unwrap().unwrap();
        assert_eq!(nals(&au), nals(&p.data), "access unit {i}");
    }
    assert!(demuxer.next_access_unit().unwrap().is_none());

    // Decoding the file gives the encoded pictures back.
    let mut source = open_stream(Cursor::new(bytes.clone()), "mp4", &native()).unwrap();
    assert_eq!(
        source.describe(),
        "MP4 H.264 352x288 30000/1001 fps (OpenH264)"
    );
    let decoded = read_all(&mut *source);
    assert_eq!(decoded.len(), frames.len());
    for (i, (a, b)) in frames.iter().zip(&decoded).enumerate() {
        let p = psnr(a, b).unwrap();
        assert!(p > 30.0, "frame {i}: {p:.1} dB");
    }

    // The one-call form over the concatenated stream writes the same file.
    let annexb: Vec<u8> = packets
        .iter()
        .flat_map(|p| p.data.iter().copied())
        .collect();
    let mut out = Cursor::new(Vec::new());
    write_mp4(&mut out, Codec::H264, &annexb, &info).unwrap();
    assert_eq!(out.into_inner(), bytes);
}

#[test]
fn an_independent_mp4_parser_reads_our_file() {
    let (info, frames) = foreman(10);
    let packets = encode(&info, &frames, 4);
    let bytes = mux(&info, &packets);
    let size = bytes.len() as u64;
    let mut reader = mp4::Mp4Reader::read_header(Cursor::new(bytes), size).unwrap();
    assert_eq!(reader.tracks().len(), 1);
    let track = &reader.tracks()[&1];
    assert_eq!(track.box_type().unwrap().to_string(), "avc1");
    assert_eq!((track.width(), track.height()), (352, 288));
    assert_eq!(track.sample_count(), 10);
    assert_eq!(track.timescale(), 30000);
    assert_eq!(track.duration().as_micros(), 10 * 1001 * 1_000_000 / 30000);
    let first_sps = nal_units(&packets[0].data).next().unwrap().bytes.to_vec();
    assert_eq!(track.sequence_parameter_set().unwrap(), &first_sps[..]);
    for (i, p) in packets.iter().enumerate() {
        let sample = reader.read_sample(1, i as u32 + 1).unwrap().unwrap();
        assert_eq!(sample.is_sync, p.keyframe, "sample {i}");
        assert_eq!(sample.start_time, i as u64 * 1001);
    }
}

#[test]
fn changed_parameter_sets_stay_in_band_as_avc3() {
    let (info, frames) = foreman(6);
    let mut packets = encode(&info, &frames[..3], 3);
    // A second chunk of another size: its SPS differs from the first.
    let small = VideoInfo::new(176, 144, info.fps).unwrap();
    let small_frames: Vec<Frame> = (0..3)
        .map(|i| Frame::filled(&small, 40 * i, 100, 150))
        .collect();
    packets.extend(encode(&small, &small_frames, 3));
    let bytes = mux(&info, &packets);

    let mut demuxer = Mp4Demuxer::new(Cursor::new(bytes.clone())).unwrap();
    assert_eq!(&demuxer.track().sample_entry, b"avc3");
    // The first keyframe's parameter sets equal avcC's (dropped); the second's stay in-band.
    assert!(!has_sps(&demuxer.read_sample(0).unwrap(), true));
    assert!(has_sps(&demuxer.read_sample(3).unwrap(), true));
    for (i, p) in packets.iter().enumerate() {
        let au = demuxer.next_access_unit().unwrap().unwrap();
        assert_eq!(nals(&au), nals(&p.data), "access unit {i}");
    }

    // Our sources give frames of one size: decoding stops with an error at the new size.
    let mut source = open_stream(Cursor::new(bytes), "mp4", &native()).unwrap();
    let mut good = 0;
    let err = loop {
        match source.next_frame() {
            Ok(Some(_)) => good += 1,
            Ok(None) => panic!("no error after {good} frames"),
            Err(e) => break e.to_string(),
        }
    };
    assert!(
        (2..=3).contains(&good),
        "{good} frames before the size change"
    );
    assert_eq!(
        err,
        format!("decoded frame {good} is 176x144, expected 352x288 (one frame size per input)")
    );
}

#[test]
fn muxer_rejects_streams_it_cannot_describe() {
    let (info, frames) = foreman(2);
    let packets = encode(&info, &frames, 8);
    let mut muxer = Mp4Muxer::new(Cursor::new(Vec::new()), &info).unwrap();
    assert_eq!(
        muxer.write_access_unit(&packets[1].data).unwrap_err().to_string(),
        "cannot write MP4: the first access unit has no SPS and PPS (the MP4 sample entry needs them)"
    );
    muxer.write_access_unit(&packets[0].data).unwrap();
    let sei_only = [0, 0, 0, 1, 0x06, 0x05, 0x01, 0x00, 0x80];
    assert_eq!(
        muxer.write_access_unit(&sei_only).unwrap_err().to_string(),
        "cannot write MP4: access unit 1 has no slice (it holds no picture)"
    );
    let empty = Mp4Muxer::new(Cursor::new(Vec::new()), &info).unwrap();
    assert_eq!(
        empty.finish().unwrap_err().to_string(),
        "cannot write MP4: no access units to write"
    );
    let bad = VideoInfo { width: 351, ..info };
    assert_eq!(
        Mp4Muxer::new(Cursor::new(Vec::new()), &bad)
            .err()
            .unwrap()
            .to_string(),
        "invalid width 351 (expected an even number in 16..=8192)"
    );
}

#[test]
fn ffprobe_reads_frame_count_rate_and_keyframes() {
    let Some(ffprobe) = tool("ffprobe") else {
        return;
    };
    let info = VideoInfo::new(64, 48, Rational::new(25, 1).unwrap()).unwrap();
    let frames: Vec<Frame> = (0..12)
        .map(|i| Frame::filled(&info, 20 * i, 128, 128))
        .collect();
    let packets = encode(&info, &frames, 5);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.mp4");
    std::fs::write(&path, mux(&info, &packets)).unwrap();
    let probe = |args: &[&str]| {
        let out = std::process::Command::new(&ffprobe)
            .args(["-v", "error", "-select_streams", "v:0"])
            .args(args)
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let stream = probe(&[
        "-count_frames",
        "-show_entries",
        "stream=codec_name,width,height,r_frame_rate,nb_frames,nb_read_frames",
        "-of",
        "default=noprint_wrappers=1",
    ]);
    for line in [
        "codec_name=h264",
        "width=64",
        "height=48",
        "r_frame_rate=25/1",
        "nb_frames=12",
        "nb_read_frames=12",
    ] {
        assert!(stream.lines().any(|l| l == line), "{line} not in\n{stream}");
    }
    let flags = probe(&["-show_entries", "packet=flags", "-of", "csv=p=0"]);
    let keys: Vec<bool> = flags.lines().map(|l| l.starts_with('K')).collect();
    let expected: Vec<bool> = packets.iter().map(|p| p.keyframe).collect();
    assert_eq!(keys, expected);
}
