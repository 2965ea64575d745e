//! Helpers shared by the integration tests: the shared clips, a minimal Y4M reader, MP4 samples
//! as Annex B, and encode/decode loops.
#![allow(dead_code)] // each test binary uses its own subset

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use bitswarm_codec::annexb::length_prefixed_to_annexb;
use bitswarm_codec::{open_encoder, Decoder, EncoderConfig, Ffmpeg, OpenH264Decoder, Packet};
use bitswarm_core::{Frame, Profile, Rational, VideoInfo};

/// The shared clips: `$BITSWARM_CLIPS`, else `<workspace>/../shared/clips`.
pub fn clips_dir() -> PathBuf {
    let dir = std::env::var_os("BITSWARM_CLIPS").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/clips"),
        PathBuf::from,
    );
    assert!(
        dir.join("SOURCES.md").is_file(),
        "test clips not found in {} (set BITSWARM_CLIPS)",
        dir.display()
    );
    dir
}

/// The first `count` frames of a Y4M clip (8-bit 4:2:0 only, as all shared clips are).
pub fn read_y4m(name: &str, count: usize) -> (VideoInfo, Vec<Frame>) {
    let path = clips_dir().join(name);
    let mut r =
        BufReader::new(File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())));
    let mut header = String::new();
    r.read_line(&mut header).unwrap();
    assert!(header.starts_with("YUV4MPEG2 "), "{name} is not Y4M");
    let (mut w, mut h, mut fps) = (0, 0, Rational::new(25, 1).unwrap());
    for tag in header.split_whitespace().skip(1) {
        let (key, value) = tag.split_at(1);
        match key {
            "W" => w = value.parse().unwrap(),
            "H" => h = value.parse().unwrap(),
            "F" => {
                let (n, d) = value.split_once(':').unwrap();
                fps = Rational::new(n.parse().unwrap(), d.parse().unwrap()).unwrap();
            }
            "C" => assert!(value.starts_with("420"), "{name}: colour space {value}"),
            _ => {}
        }
    }
    let info = VideoInfo::new(w, h, fps).unwrap();
    let mut frames = Vec::with_capacity(count);
    let mut line = String::new();
    let mut data = vec![0; info.frame_len()];
    while frames.len() < count {
        line.clear();
        if r.read_line(&mut line).unwrap() == 0 {
            break;
        }
        assert!(line.starts_with("FRAME"), "{name}: bad frame line {line:?}");
        r.read_exact(&mut data).unwrap();
        frames.push(Frame::from_packed(&info, &data).unwrap());
    }
    (info, frames)
}

/// The video samples of an MP4 clip as Annex B access units, SPS and PPS prepended to the first.
pub fn mp4_access_units(name: &str) -> Vec<Vec<u8>> {
    let path = clips_dir().join("mp4").join(name);
    let file = File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let size = file.metadata().unwrap().len();
    let mut mp4 = mp4::Mp4Reader::read_header(BufReader::new(file), size).unwrap();
    let track = mp4
        .tracks()
        .values()
        .find(|t| {
            t.media_type()
                .map(|m| m == mp4::MediaType::H264)
                .unwrap_or(false)
        })
        .expect("an H.264 track");
    let id = track.track_id();
    let mut params = Vec::new();
    for ps in [
        track.sequence_parameter_set().unwrap(),
        track.picture_parameter_set().unwrap(),
    ] {
        params.extend_from_slice(&[0, 0, 0, 1]);
        params.extend_from_slice(ps);
    }
    let count = mp4.sample_count(id).unwrap();
    let mut aus = Vec::with_capacity(count as usize);
    for sample_id in 1..=count {
        let sample = mp4.read_sample(id, sample_id).unwrap().expect("sample");
        let mut au = if sample_id == 1 {
            params.clone()
        } else {
            Vec::new()
        };
        au.extend(length_prefixed_to_annexb(&sample.bytes, 4).unwrap());
        aus.push(au);
    }
    aus
}

pub fn config(profile: Profile, source: VideoInfo) -> EncoderConfig {
    EncoderConfig {
        profile,
        source,
        threads: 1,
        ffmpeg: None,
    }
}

/// Encodes `frames` with one encoder (one chunk) and returns its packets.
pub fn encode(cfg: &EncoderConfig, frames: &[Frame]) -> Vec<Packet> {
    let mut enc = open_encoder(cfg).unwrap();
    let mut packets = Vec::new();
    for f in frames {
        enc.send_frame(f).unwrap();
        while let Some(p) = enc.receive_packet().unwrap() {
            packets.push(p);
        }
    }
    enc.flush().unwrap();
    while let Some(p) = enc.receive_packet().unwrap() {
        packets.push(p);
    }
    packets
}

pub fn concat(packets: &[Packet]) -> Vec<u8> {
    packets
        .iter()
        .flat_map(|p| p.data.iter().copied())
        .collect()
}

/// Decodes a whole Annex B stream (fed in one call) and flushes.
pub fn decode_all(stream: &[u8]) -> Vec<Frame> {
    let mut dec = OpenH264Decoder::new().unwrap();
    let mut frames = dec.decode(stream).unwrap();
    frames.extend(dec.flush().unwrap());
    frames
}

/// Weighted PSNR of each decoded frame against its source frame.
pub fn psnrs(source: &[Frame], decoded: &[Frame]) -> Vec<f64> {
    source
        .iter()
        .zip(decoded)
        .map(|(a, b)| bitswarm_quality::psnr::psnr(a, b).unwrap())
        .collect()
}

/// The FFmpeg the tests use: `$BITSWARM_FFMPEG`, else the static build of the PyPI package
/// `imageio-ffmpeg` (scripts/install-ffmpeg-vmaf.sh), else `ffmpeg` on `PATH`. `None`, with a
/// note, when there is none, unless `BITSWARM_REQUIRE_TOOLS=1` (then the test fails).
pub fn test_ffmpeg() -> Option<Ffmpeg> {
    static FOUND: OnceLock<Option<PathBuf>> = OnceLock::new();
    let found = FOUND.get_or_init(|| {
        if let Some(path) = std::env::var_os("BITSWARM_FFMPEG").filter(|p| !p.is_empty()) {
            return Some(PathBuf::from(path));
        }
        let imageio = Command::new("python3")
            .args([
                "-c",
                "import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())",
            ])
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
            .filter(|path| path.is_file());
        imageio.or_else(|| Ffmpeg::locate(None).map(|f| f.path))
    });
    match found {
        Some(path) => Some(Ffmpeg::new(path)),
        None if std::env::var("BITSWARM_REQUIRE_TOOLS").as_deref() == Ok("1") => {
            panic!(
                "no ffmpeg found and BITSWARM_REQUIRE_TOOLS=1 (run scripts/install-ffmpeg-vmaf.sh)"
            )
        }
        None => {
            eprintln!("note: no ffmpeg found; skipping the FFmpeg backends");
            None
        }
    }
}

/// A shell script standing in for ffmpeg (to test broken installations), in a temporary dir.
pub fn fake_ffmpeg(dir: &Path, script: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("ffmpeg");
    std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}
