//! Shared helpers of the integration tests.

#![allow(dead_code)] // each test binary uses a different subset

use std::path::PathBuf;

use std::io::Cursor;

use bitswarm_codec::{open_encoder, EncoderConfig};
use bitswarm_core::{Frame, Profile, Rational, VideoInfo};
use bitswarm_media::mp4::Mp4Muxer;
use bitswarm_media::{FrameSource, InputOptions};

/// The shared clips: `$BITSWARM_CLIPS`, else `<workspace>/../shared/clips`. Panics if missing.
pub fn clip(name: &str) -> PathBuf {
    let dir = std::env::var_os("BITSWARM_CLIPS").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/clips"),
        PathBuf::from,
    );
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "test clip {} is missing (set BITSWARM_CLIPS to the clips directory)",
        path.display()
    );
    path
}

/// Native readers only, so results do not depend on whether ffmpeg is installed.
pub fn native() -> InputOptions {
    InputOptions {
        no_ffmpeg: true,
        ..InputOptions::default()
    }
}

pub fn read_all(source: &mut dyn FrameSource) -> Vec<Frame> {
    let mut frames = Vec::new();
    while let Some(frame) = source.next_frame().unwrap() {
        frames.push(frame);
    }
    frames
}

/// The error text of opening `path`.
pub fn open_error(path: &str, opts: &InputOptions) -> String {
    match bitswarm_media::open_input(path, opts) {
        Ok(source) => panic!("{path} opened as {}", source.describe()),
        Err(e) => e.to_string(),
    }
}

/// Looks up a tool on PATH; prints a note when it is absent.
pub fn tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        eprintln!("note: {name} not found on PATH, skipping the {name} check (CI runs it)");
    }
    found
}

/// A 10-frame MP4 written by our muxer (moov after mdat).
pub fn small_mp4() -> Vec<u8> {
    let info = VideoInfo::new(64, 48, Rational::new(25, 1).unwrap()).unwrap();
    let cfg = EncoderConfig {
        profile: Profile {
            gop: 5,
            ..Profile::default()
        },
        source: info,
        threads: 1,
        ffmpeg: None,
    };
    let mut encoder = open_encoder(&cfg).unwrap();
    let mut muxer = Mp4Muxer::new(Cursor::new(Vec::new()), &info).unwrap();
    for i in 0..10 {
        encoder
            .send_frame(&Frame::filled(&info, 20 * i, 128, 128))
            .unwrap();
    }
    encoder.flush().unwrap();
    while let Some(packet) = encoder.receive_packet().unwrap() {
        muxer.write_access_unit(&packet.data).unwrap();
    }
    muxer.finish().unwrap().into_inner()
}

/// [`small_mp4`] with its first slice overwritten, so OpenH264 rejects the first access unit.
pub fn damaged_mp4() -> Vec<u8> {
    let mut bytes = small_mp4();
    // The first sample follows ftyp (32 bytes) and the mdat header (16); the muxer keeps
    // parameter sets in avcC, so the sample's first NAL unit is the IDR slice.
    let first = 32 + 16;
    let len = u32::from_be_bytes(bytes[first..first + 4].try_into().unwrap()) as usize;
    assert_eq!(
        bytes[first + 4] & 0x1f,
        5,
        "the first NAL unit is not an IDR slice"
    );
    bytes[first + 5..first + 4 + len].fill(0xff);
    bytes
}
