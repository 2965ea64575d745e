//! Every kind of bad input gives an error naming the problem (and never a panic).

mod common;

use std::io::Cursor;
use std::path::{Path, PathBuf};

use bitswarm_media::mp4::Mp4Demuxer;
use bitswarm_media::{open_input, open_stream};
use common::{clip, damaged_mp4, native, open_error, small_mp4};

const SUPPORTED: &str = "(bitswarm reads Y4M 8-bit 4:2:0, and H.264 in MP4 or Annex B; \
                         install ffmpeg for other formats)";

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path: PathBuf = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_str().unwrap().to_owned()
}

fn y4m(header: &str, frames: usize, extra: usize) -> Vec<u8> {
    let mut bytes = format!("{header}\n").into_bytes();
    for _ in 0..frames {
        bytes.extend_from_slice(b"FRAME\n");
        bytes.extend(std::iter::repeat_n(77, 32 * 16 * 3 / 2));
    }
    if extra > 0 {
        bytes.extend_from_slice(b"FRAME\n");
        bytes.extend(std::iter::repeat_n(77, extra));
    }
    bytes
}

/// Replaces the first occurrence of `from` after `marker` (both must exist) with `to`.
fn patch(bytes: &mut [u8], marker: &[u8], from: &[u8], to: &[u8]) {
    let find = |bytes: &[u8], what: &[u8], start: usize| {
        start
            + bytes[start..]
                .windows(what.len())
                .position(|w| w == what)
                .unwrap_or_else(|| panic!("{what:?} not found"))
    };
    let at = find(bytes, from, find(bytes, marker, 0));
    bytes[at..at + to.len()].copy_from_slice(to);
}

/// Rewrites `ftyp mdat moov` as `ftyp moov mdat` ("fast start"), moving the chunk offset.
fn moov_first(file: &[u8]) -> Vec<u8> {
    let boxes = bitswarm_media::bmff::child_boxes(file).unwrap();
    let whole = |kind: &[u8; 4]| {
        let payload = boxes.iter().find(|(k, _)| k == kind).unwrap().1;
        let start = payload.as_ptr() as usize - file.as_ptr() as usize;
        let header = if kind == b"mdat" { 16 } else { 8 };
        &file[start - header..start + payload.len()]
    };
    let (ftyp, mdat, mut moov) = (whole(b"ftyp"), whole(b"mdat"), whole(b"moov").to_vec());
    let stco = moov.windows(4).position(|w| w == b"stco").unwrap();
    let offset = u32::from_be_bytes(moov[stco + 12..stco + 16].try_into().unwrap());
    let moved = offset + moov.len() as u32;
    moov[stco + 12..stco + 16].copy_from_slice(&moved.to_be_bytes());
    [ftyp, &moov, mdat].concat()
}

#[test]
fn missing_empty_and_unknown_files() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.y4m");
    let missing = missing.to_str().unwrap();
    assert_eq!(
        open_error(missing, &native()),
        format!("cannot open {missing}: No such file or directory")
    );
    let empty = write(dir.path(), "empty.y4m", b"");
    assert_eq!(open_error(&empty, &native()), format!("{empty} is empty"));
    let garbage = write(
        dir.path(),
        "garbage.mkv",
        b"\x1aE\xdf\xa3 matroska-ish bytes",
    );
    assert_eq!(
        open_error(&garbage, &native()),
        format!("unsupported input format: input starts with \"\\x1aE\\xdf\\xa3 matroska-is\" {SUPPORTED}")
    );
    // The same from a pipe.
    let err = open_stream(
        Cursor::new(b"RIFF....WAVEfmt ".to_vec()),
        "stdin",
        &native(),
    )
    .err()
    .unwrap();
    assert_eq!(
        err.to_string(),
        format!("unsupported input format: input starts with \"RIFF....WAVEfmt \" {SUPPORTED}")
    );
    let err = open_stream(Cursor::new(Vec::new()), "stdin", &native())
        .err()
        .unwrap();
    assert_eq!(err.to_string(), "stdin is empty");
}

#[test]
fn bad_y4m_files() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("YUV4MPEG2 W32 H16 F25:1 C444", "unsupported colour space C444 (bitswarm reads 8-bit 4:2:0: C420, C420jpeg, C420paldv, C420mpeg2)"),
        ("YUV4MPEG2 W32 H16 F25:1 C420p10", "unsupported colour space C420p10 (bitswarm reads 8-bit 4:2:0: C420, C420jpeg, C420paldv, C420mpeg2)"),
        ("YUV4MPEG2 W33 H16 F25:1", "invalid width 33 (expected an even number in 16..=8192)"),
        ("YUV4MPEG2 W32 H15 F25:1", "invalid height 15 (expected an even number in 16..=8192)"),
        ("YUV4MPEG2 W32 H16 F0:1", "invalid frame rate 0/1 (expected a positive fraction)"),
        ("YUV4MPEG2 W32 F25:1", "bad Y4M header: missing height (H tag)"),
        ("YUV4MPEG2 W32 H16 Fx:1", "bad Y4M header: bad frame-rate numerator (F) \"x\" (expected an integer)"),
    ];
    for (header, expected) in cases {
        let path = write(dir.path(), "bad.y4m", &y4m(header, 1, 0));
        assert_eq!(open_error(&path, &native()), expected, "{header}");
    }

    let truncated = write(
        dir.path(),
        "truncated.y4m",
        &y4m("YUV4MPEG2 W32 H16 F25:1", 2, 500),
    );
    let mut source = open_input(&truncated, &native()).unwrap();
    assert!(source.next_frame().unwrap().is_some());
    assert!(source.next_frame().unwrap().is_some());
    assert_eq!(
        source.next_frame().unwrap_err().to_string(),
        "truncated frame 2: got 500 of 768 bytes"
    );

    let zero = write(
        dir.path(),
        "zero.y4m",
        &y4m("YUV4MPEG2 W32 H16 F25:1", 0, 0),
    );
    let mut source = open_input(&zero, &native()).unwrap();
    assert_eq!(source.describe(), "Y4M 32x16 25 fps");
    assert!(source.next_frame().unwrap().is_none());
    assert!(source.next_frame().unwrap().is_none());
}

#[test]
fn truncated_mp4_files() {
    let dir = tempfile::tempdir().unwrap();
    let bikes = std::fs::read(clip("mp4/bikes.mp4")).unwrap();
    // moov is at the end: a cut in mdat loses it.
    let half = write(dir.path(), "half.mp4", &bikes[..200_000]);
    assert_eq!(
        open_error(&half, &native()),
        "truncated MP4: the 'mdat' box at byte 40 declares 506101 bytes but only 199960 remain \
         (and no 'moov' box came before it)"
    );
    let cut = bikes.len() - 100;
    let no_tail = write(dir.path(), "tail.mp4", &bikes[..cut]);
    assert_eq!(
        open_error(&no_tail, &native()),
        format!(
            "truncated MP4: the 'moov' box at byte {} declares 3727 bytes but only 3627 remain",
            bikes.len() - 3727
        )
    );

    // moov first: the cut loses samples, found before decoding starts.
    let fast = moov_first(&small_mp4());
    let whole = write(dir.path(), "fast.mp4", &fast);
    let mut source = open_input(&whole, &native()).unwrap();
    assert_eq!(common::read_all(&mut *source).len(), 10);
    let len = fast.len() - 60;
    let cut = write(dir.path(), "fastcut.mp4", &fast[..len]);
    let demuxer = Mp4Demuxer::new(Cursor::new(&fast)).unwrap();
    let samples = &demuxer.track().samples;
    let first_cut = samples
        .iter()
        .position(|s| s.offset + u64::from(s.size) > len as u64)
        .unwrap();
    let end = samples[first_cut].offset + u64::from(samples[first_cut].size);
    assert_eq!(
        open_error(&cut, &native()),
        format!("truncated MP4: sample {first_cut} of 10 ends at byte {end} but the input has {len} bytes")
    );
}

#[test]
fn mp4_we_cannot_decode() {
    let dir = tempfile::tempdir().unwrap();
    let mut hevc = small_mp4();
    patch(&mut hevc, b"stsd", b"avc1", b"hvc1");
    let path = write(dir.path(), "hevc.mp4", &hevc);
    assert_eq!(
        open_error(&path, &native()),
        format!("unsupported input format: MP4 with 'hvc1' video {SUPPORTED}")
    );

    let mut audio = small_mp4();
    patch(&mut audio, b"hdlr", b"vide", b"soun");
    let path = write(dir.path(), "audio.mp4", &audio);
    assert_eq!(open_error(&path, &native()), "invalid MP4: no video track");

    let damaged = damaged_mp4();
    let path = write(dir.path(), "damaged.mp4", &damaged);
    let err = open_error(&path, &native());
    // The decoder's own words follow; which access unit failed is ours to report.
    assert!(
        err.starts_with("H.264 decoding failed: cannot decode access unit 0: "),
        "{err}"
    );
}

/// Sets the 32-bit field `offset` bytes after the first `kind` box type code.
fn set_field(bytes: &mut [u8], kind: &[u8; 4], offset: usize, value: u32) {
    let at = bytes.windows(4).position(|w| w == kind).unwrap() + 4 + offset;
    bytes[at..at + 4].copy_from_slice(&value.to_be_bytes());
}

#[test]
fn mp4_without_samples_has_no_frames() {
    let dir = tempfile::tempdir().unwrap();
    let mut empty = small_mp4();
    set_field(&mut empty, b"stts", 4, 0); // entry count
    set_field(&mut empty, b"stsc", 4, 0); // entry count
    set_field(&mut empty, b"stsz", 8, 0); // sample count
    set_field(&mut empty, b"stss", 4, 0); // entry count
    let path = write(dir.path(), "empty.mp4", &empty);
    let mut source = open_input(&path, &native()).unwrap();
    assert_eq!(source.describe(), "MP4 H.264 64x48 25 fps (OpenH264)");
    assert!(source.next_frame().unwrap().is_none());
}

#[test]
fn annexb_without_a_decodable_picture() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = vec![0, 0, 0, 1, 0x67];
    bytes.extend(std::iter::repeat_n(0xa5, 200));
    let path = write(dir.path(), "junk.h264", &bytes);
    assert_eq!(
        open_error(&path, &native()),
        "the H.264 stream holds no picture"
    );
}
