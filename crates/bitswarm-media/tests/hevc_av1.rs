//! Output of the FFmpeg and rav1e backends: MP4 with B-frames (`ctts`), HEVC (`hvc1`/`hev1`)
//! and AV1 (`av01`), and IVF, written from real encodes and checked with our demuxer and, when
//! installed, ffprobe (frame counts, codec, size) and ffmpeg (frames in display order).

mod common;

use std::io::Cursor;
use std::path::Path;
use std::process::Command;

use bitswarm_codec::{annexb::nal_units, av1, hevc, open_encoder, EncoderConfig, Ffmpeg, Packet};
use bitswarm_core::{Codec, EncoderKind, Frame, Profile, RateControl, VideoInfo};
use bitswarm_media::ivf::IvfWriter;
use bitswarm_media::mp4::{write_mp4, Mp4Demuxer, Mp4Muxer};
use bitswarm_media::open_input;
use common::{clip, native, tool};

fn foreman(n: usize) -> (VideoInfo, Vec<Frame>) {
    let mut source = open_input(clip("foreman_288p.y4m").to_str().unwrap(), &native()).unwrap();
    let frames = (0..n)
        .map(|_| source.next_frame().unwrap().unwrap())
        .collect();
    (source.info(), frames)
}

/// One chunk encoded with `encoder` (fastest level, constant quantiser, keyframe every `gop`).
fn encode(encoder: EncoderKind, info: &VideoInfo, frames: &[Frame], gop: u32) -> Vec<Packet> {
    encode_at(encoder, 1, info, frames, gop)
}

fn encode_at(
    encoder: EncoderKind,
    complexity: u8,
    info: &VideoInfo,
    frames: &[Frame],
    gop: u32,
) -> Vec<Packet> {
    let cfg = EncoderConfig {
        profile: Profile {
            encoder,
            gop,
            complexity,
            rate: RateControl::Qp { qp: 30 },
            ..Profile::default()
        },
        source: *info,
        threads: 1,
        ffmpeg: None,
    };
    let mut enc = open_encoder(&cfg).unwrap();
    for f in frames {
        enc.send_frame(f).unwrap();
    }
    enc.flush().unwrap();
    std::iter::from_fn(|| enc.receive_packet().unwrap()).collect()
}

/// x265 needs FFmpeg: `None` (with a note) when there is none.
fn have_ffmpeg() -> bool {
    let found = Ffmpeg::locate(None).is_some();
    if !found {
        assert_ne!(
            std::env::var("BITSWARM_REQUIRE_TOOLS").as_deref(),
            Ok("1"),
            "no ffmpeg found and BITSWARM_REQUIRE_TOOLS=1"
        );
        eprintln!("note: no ffmpeg found, skipping the x265 part");
    }
    found
}

/// `(codec_name, width, height, frames decoded)` as ffprobe sees the file.
fn ffprobe(ffprobe: &Path, bytes: &[u8], ext: &str) -> (String, u32, u32, usize) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("out.{ext}"));
    std::fs::write(&path, bytes).unwrap();
    let out = Command::new(ffprobe)
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args([
            "-show_entries",
            "stream=codec_name,width,height,nb_read_frames",
        ])
        .args(["-of", "csv=p=0"])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "ffprobe: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fields: Vec<&str> = text.trim().split(',').collect();
    assert_eq!(fields.len(), 4, "{text}");
    (
        fields[0].to_owned(),
        fields[1].parse().unwrap(),
        fields[2].parse().unwrap(),
        fields[3].parse().unwrap(),
    )
}

fn mux(codec: Codec, info: &VideoInfo, packets: &[Packet]) -> Vec<u8> {
    let mut muxer = Mp4Muxer::with_codec(Cursor::new(Vec::new()), info, codec).unwrap();
    for p in packets {
        muxer.write_access_unit(&p.data).unwrap();
    }
    muxer.finish().unwrap().into_inner()
}

#[test]
fn av1_goes_into_mp4_and_ivf_with_every_frame() {
    let (info, frames) = foreman(12);
    // Two chunks, as two servers would send them.
    let mut packets = encode(EncoderKind::Rav1e, &info, &frames[..6], 3);
    packets.extend(encode(EncoderKind::Rav1e, &info, &frames[6..], 3));
    let stream: Vec<u8> = packets.iter().flat_map(|p| p.data.clone()).collect();

    let mp4 = mux(Codec::Av1, &info, &packets);
    let mut one_call = Cursor::new(Vec::new());
    write_mp4(&mut one_call, Codec::Av1, &stream, &info).unwrap();
    assert!(one_call.into_inner() == mp4);
    let mut demuxer = Mp4Demuxer::new(Cursor::new(mp4.clone())).unwrap();
    let track = demuxer.track().clone();
    assert_eq!(&track.sample_entry, b"av01");
    assert_eq!((track.width, track.height), (352, 288));
    let syncs: Vec<bool> = track.samples.iter().map(|s| s.sync).collect();
    assert_eq!(syncs, (0..12).map(|i| i % 3 == 0).collect::<Vec<_>>());
    for (i, p) in packets.iter().enumerate() {
        let sample = demuxer.read_sample(i).unwrap();
        let types: Vec<u8> = av1::obus(&sample).map(|o| o.unwrap().obu_type).collect();
        assert!(
            !types.contains(&av1::OBU_TEMPORAL_DELIMITER),
            "sample {i}: {types:?}"
        );
        // The sample is the temporal unit minus its two-byte temporal delimiter.
        assert_eq!(sample, p.data[2..], "sample {i}");
    }

    let mut ivf = IvfWriter::new(Cursor::new(Vec::new()), &info).unwrap();
    for p in &packets {
        ivf.write_frame(&p.data).unwrap();
    }
    let ivf = ivf.finish().unwrap().into_inner();
    assert_eq!(ivf.len(), 32 + 12 * 12 + stream.len());

    if let Some(ffprobe_path) = tool("ffprobe") {
        for (bytes, ext) in [(&mp4, "mp4"), (&ivf, "ivf")] {
            assert_eq!(
                ffprobe(&ffprobe_path, bytes, ext),
                ("av1".to_owned(), 352, 288, 12),
                "{ext}"
            );
        }
    }
}

#[test]
fn hevc_goes_into_mp4_as_hvc1_or_hev1() {
    if !have_ffmpeg() {
        return;
    }
    let (info, frames) = foreman(12);
    let mut packets = encode(EncoderKind::X265, &info, &frames[..6], 6);
    packets.extend(encode(EncoderKind::X265, &info, &frames[6..], 6));
    let mp4 = mux(Codec::Hevc, &info, &packets);
    let mut demuxer = Mp4Demuxer::new(Cursor::new(mp4.clone())).unwrap();
    assert_eq!(&demuxer.track().sample_entry, b"hvc1");
    let syncs: Vec<bool> = demuxer.track().samples.iter().map(|s| s.sync).collect();
    assert_eq!(syncs, (0..12).map(|i| i % 6 == 0).collect::<Vec<_>>());
    // Both chunks' parameter sets equal the hvcC copies: no sample keeps them.
    for i in [0, 6] {
        let sample = demuxer.read_sample(i).unwrap();
        let annexb = bitswarm_codec::annexb::length_prefixed_to_annexb(&sample, 4).unwrap();
        assert!(nal_units(&annexb).all(|n| !hevc::is_parameter_set(hevc::nal_type(&n))));
        assert!(hevc::contains_irap(&annexb));
    }
    if let Some(ffprobe_path) = tool("ffprobe") {
        assert_eq!(
            ffprobe(&ffprobe_path, &mp4, "mp4"),
            ("hevc".to_owned(), 352, 288, 12)
        );
    }

    // A chunk of another size brings other parameter sets: they stay in-band (hev1).
    let small = VideoInfo::new(176, 144, info.fps).unwrap();
    let small_frames: Vec<Frame> = (0..3)
        .map(|i| Frame::filled(&small, 40 * i, 100, 150))
        .collect();
    let mut mixed = packets[..6].to_vec();
    mixed.extend(encode(EncoderKind::X265, &small, &small_frames, 3));
    let mut demuxer = Mp4Demuxer::new(Cursor::new(mux(Codec::Hevc, &info, &mixed))).unwrap();
    assert_eq!(&demuxer.track().sample_entry, b"hev1");
    let sample = demuxer.read_sample(6).unwrap();
    let annexb = bitswarm_codec::annexb::length_prefixed_to_annexb(&sample, 4).unwrap();
    let types: Vec<u8> = nal_units(&annexb).map(|n| hevc::nal_type(&n)).collect();
    assert!(
        types.contains(&hevc::SPS) && types.contains(&hevc::PPS),
        "{types:?}"
    );
}

#[test]
fn the_muxers_refuse_streams_they_cannot_describe() {
    let (info, frames) = foreman(2);
    let av1 = encode(EncoderKind::Rav1e, &info, &frames, 8);
    let mut muxer = Mp4Muxer::with_codec(Cursor::new(Vec::new()), &info, Codec::Av1).unwrap();
    assert_eq!(
        muxer
            .write_access_unit(&av1[1].data)
            .unwrap_err()
            .to_string(),
        "cannot write MP4: the first AV1 temporal unit has no sequence header (the MP4 sample \
         entry needs it)"
    );
    muxer.write_access_unit(&av1[0].data).unwrap();
    assert_eq!(
        muxer
            .write_access_unit(&[0x12, 0x00])
            .unwrap_err()
            .to_string(),
        "cannot write MP4: temporal unit 1 has no frame (it holds no picture)"
    );
    let h264 = encode(EncoderKind::OpenH264, &info, &frames, 8);
    let mut muxer = Mp4Muxer::with_codec(Cursor::new(Vec::new()), &info, Codec::Hevc).unwrap();
    assert_eq!(
        muxer
            .write_access_unit(&h264[0].data)
            .unwrap_err()
            .to_string(),
        "cannot write MP4: the first HEVC access unit lacks its VPS, SPS or PPS (the MP4 sample \
         entry needs them)"
    );
}

/// The frames ffmpeg decodes from a file, in presentation order.
fn ffmpeg_frames(bytes: &[u8], info: &VideoInfo) -> Vec<Frame> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.mp4");
    std::fs::write(&path, bytes).unwrap();
    let ffmpeg = Ffmpeg::locate(None).unwrap();
    let out = Command::new(&ffmpeg.path)
        .args(["-v", "error", "-i"])
        .arg(&path)
        .args(["-f", "rawvideo", "-pix_fmt", "yuv420p", "-"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffmpeg: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
        .chunks(info.frame_len())
        .map(|raw| Frame::from_packed(info, raw).unwrap())
        .collect()
}

#[test]
fn b_frames_are_shown_in_display_order() {
    if !have_ffmpeg() {
        return;
    }
    let (info, frames) = foreman(16);
    for (encoder, codec) in [
        (EncoderKind::X264, Codec::H264),
        (EncoderKind::X265, Codec::Hevc),
    ] {
        // Level 3 (veryfast) uses B-frames in both; two chunks of 8.
        let mut packets = encode_at(encoder, 3, &info, &frames[..8], 8);
        packets.extend(encode_at(encoder, 3, &info, &frames[8..], 8));
        let mp4 = mux(codec, &info, &packets);
        let ctts = mp4.windows(4).any(|w| w == b"ctts");
        assert!(
            ctts,
            "{encoder}: no composition offsets although it uses B-frames"
        );
        let shown = ffmpeg_frames(&mp4, &info);
        assert_eq!(shown.len(), 16, "{encoder}");
        for (i, (want, got)) in frames.iter().zip(&shown).enumerate() {
            // A frame out of place lands far below 30 dB on foreman.
            let p = bitswarm_quality::psnr::psnr(want, got).unwrap();
            assert!(p > 32.0, "{encoder} frame {i}: {p:.1} dB");
        }
    }
}
