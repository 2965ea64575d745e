//! The shared benchmark pieces on a real clip (foreman, OpenH264 in-process): reading, writing
//! a Y4M back, encoding and measuring rate and VMAF, and the errors they give.

use std::path::PathBuf;

use bitswarm_bench::{clips_dir, encode, kbps, mean_vmaf, measure, pack, read_clip, write_y4m};
use bitswarm_codec::EncoderConfig;
use bitswarm_core::{Codec, Profile, RateControl, Resolution, VideoInfo};
use bitswarm_quality::MetricKind;
use bitswarm_swarm::verify::Verifier;

fn foreman() -> PathBuf {
    let path = clips_dir().join("foreman_288p.y4m");
    assert!(
        path.is_file(),
        "{} is missing: set BITSWARM_CLIPS to the shared clips folder",
        path.display()
    );
    path
}

fn config(info: VideoInfo, resolution: Resolution) -> EncoderConfig {
    EncoderConfig {
        profile: Profile {
            gop: 8,
            rate: RateControl::Qp { qp: 24 },
            resolution,
            ..Profile::default()
        },
        source: info,
        threads: 1,
        ffmpeg: None,
    }
}

#[test]
fn a_clip_read_and_written_back_gives_the_same_frames() {
    let (info, frames) = read_clip(&foreman(), 8).unwrap();
    assert_eq!((info.width, info.height, frames.len()), (352, 288, 8));
    assert_eq!((info.fps.num, info.fps.den), (30000, 1001));
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy.y4m");
    write_y4m(&copy, &info, &frames).unwrap();
    // Asking for more frames than the file has gives all of them.
    let (info2, frames2) = read_clip(&copy, 100).unwrap();
    assert_eq!(info2, info);
    assert_eq!(frames2, frames);
    assert_eq!(pack(&frames2).len(), 8 * info.frame_len());
}

#[test]
fn rate_and_vmaf_are_measured_at_the_source_size() {
    let (info, frames) = read_clip(&foreman(), 8).unwrap();
    let packed = pack(&frames);
    let verifier = Verifier::new(info, Codec::H264, None, &[MetricKind::Vmaf]).unwrap();
    let full = config(info, Resolution::Source);
    let stream = encode(&full, &frames).unwrap();
    let m = measure(&full, &frames, &packed, &verifier).unwrap();
    // OpenH264 is deterministic: the same stream, and its rate over 8 frames at 29.97 fps.
    assert_eq!(m.bytes, stream.len() as u64);
    let seconds = 8.0 * 1001.0 / 30000.0;
    assert!((m.kbps - stream.len() as f64 * 8.0 / seconds / 1000.0).abs() < 1e-9);
    assert_eq!(m.kbps, kbps(m.bytes, 8, info.fps));
    assert_eq!(m.vmaf, mean_vmaf(&verifier, 8, &packed, &stream).unwrap());
    assert!(m.vmaf > 80.0 && m.vmaf <= 100.0, "{m:?}");
    // A quarter of the pixels, scaled back up for VMAF: fewer bits, lower quality.
    let small = measure(
        &config(
            info,
            Resolution::Fixed {
                width: 176,
                height: 144,
            },
        ),
        &frames,
        &packed,
        &verifier,
    )
    .unwrap();
    assert!(small.kbps < m.kbps * 0.6, "{small:?} vs {m:?}");
    assert!(small.vmaf < m.vmaf - 10.0, "{small:?} vs {m:?}");
}

#[test]
fn errors_name_the_file_or_the_missing_metric() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.y4m");
    let (info, frames) = read_clip(&foreman(), 2).unwrap();
    write_y4m(&empty, &info, &[]).unwrap();
    assert_eq!(
        read_clip(&empty, 10).unwrap_err().to_string(),
        format!("{}: no frames (expected at least one)", empty.display())
    );
    let missing = dir.path().join("missing.y4m");
    let err = read_clip(&missing, 10).unwrap_err().to_string();
    assert!(err.contains(&*missing.to_string_lossy()), "{err}");
    let ssim_only = Verifier::new(info, Codec::H264, None, &[MetricKind::Ssim]).unwrap();
    let stream = encode(&config(info, Resolution::Source), &frames).unwrap();
    assert_eq!(
        mean_vmaf(&ssim_only, 2, &pack(&frames), &stream)
            .unwrap_err()
            .to_string(),
        "measuring the stream: the verifier measures [Ssim], not VMAF"
    );
}
