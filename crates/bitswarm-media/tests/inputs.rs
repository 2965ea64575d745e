//! Real clips through `open_input` / `open_stream`: frame counts, geometry, frame rates and
//! decoded pixels against the Y4M clips cut from the same sources.

mod common;

use std::fs::File;

use bitswarm_core::{Frame, Rational};
use bitswarm_media::mp4::Mp4Demuxer;
use bitswarm_media::{open_input, open_stream, InputOptions};
use bitswarm_quality::psnr::psnr;
use common::{clip, native, read_all};

fn open_clip(name: &str) -> Box<dyn bitswarm_media::FrameSource> {
    open_input(clip(name).to_str().unwrap(), &native()).unwrap()
}

/// 2x2 box downscale (the Y4M clip of Big Buck Bunny is the MP4 scaled to half size).
fn half(f: &Frame) -> Frame {
    let down = |p: &[u8], w: usize, h: usize| -> Vec<u8> {
        let mut out = Vec::with_capacity(w * h / 4);
        for y in (0..h).step_by(2) {
            for x in (0..w).step_by(2) {
                let sum: u32 = [
                    p[y * w + x],
                    p[y * w + x + 1],
                    p[(y + 1) * w + x],
                    p[(y + 1) * w + x + 1],
                ]
                .iter()
                .map(|&v| u32::from(v))
                .sum();
                out.push(((sum + 2) / 4) as u8);
            }
        }
        out
    };
    let (w, h) = (f.width as usize, f.height as usize);
    Frame {
        width: f.width / 2,
        height: f.height / 2,
        y: down(&f.y, w, h),
        u: down(&f.u, w / 2, h / 2),
        v: down(&f.v, w / 2, h / 2),
    }
}

#[test]
fn y4m_clip_reads_every_frame() {
    let mut source = open_clip("foreman_288p.y4m");
    assert_eq!(source.describe(), "Y4M 352x288 30000/1001 fps");
    assert_eq!(source.info().fps, Rational::new(30000, 1001).unwrap());
    let frames = read_all(&mut *source);
    assert_eq!(frames.len(), 90);
    // The same bytes as a pipe (no seeking) give the same frames.
    let file = File::open(clip("foreman_288p.y4m")).unwrap();
    let mut piped = open_stream(file, "pipe", &native()).unwrap();
    assert_eq!(read_all(&mut *piped), frames);
}

#[test]
fn bikes_mp4_high_profile_with_b_frames_matches_a_reference_decode() {
    let mut source = open_clip("mp4/bikes.mp4");
    assert_eq!(source.describe(), "MP4 H.264 640x272 25 fps (OpenH264)");
    let frames = read_all(&mut *source);
    assert_eq!(frames.len(), 250);
    // bikes_272p.y4m is frames 100..=199 of this file, decoded by another decoder (FFmpeg's).
    // A decode with frames out of order, missing or damaged would be tens of dB off; OpenH264
    // differs from it by at most 3 levels on a few dozen pixels of a few B-frames.
    let reference = read_all(&mut *open_clip("bikes_272p.y4m"));
    assert_eq!(reference.len(), 100);
    let mut exact = 0;
    for (i, r) in reference.iter().enumerate() {
        let p = psnr(r, &frames[100 + i]).unwrap();
        assert!(
            p > 75.0,
            "frame {}: {p:.1} dB against bikes_272p.y4m",
            100 + i
        );
        exact += usize::from(r == &frames[100 + i]);
    }
    assert!(exact >= 85, "only {exact} of 100 frames bit-exact");
}

#[test]
fn bigbuckbunny_mp4_main_profile_decodes_every_sample() {
    let mut source = open_clip("mp4/bigbuckbunny.mp4");
    assert_eq!(source.describe(), "MP4 H.264 1280x720 25 fps (OpenH264)");
    let frames = read_all(&mut *source);
    // The file holds 132 video samples (stsz, stts and the 5.28 s edit list agree).
    assert_eq!(frames.len(), 132);
    // Continuity: no broken or out-of-order frame between neighbours.
    for (i, pair) in frames.windows(2).enumerate() {
        let p = psnr(&pair[0], &pair[1]).unwrap();
        assert!(p > 25.0, "frames {i} and {} only {p:.1} dB apart", i + 1);
    }
    // bbb_360p.y4m is frames 0..=74 scaled to half size (Lanczos): close to a box downscale.
    let reference = read_all(&mut *open_clip("bbb_360p.y4m"));
    for i in [0, 1, 37, 74] {
        let p = psnr(&reference[i], &half(&frames[i])).unwrap();
        assert!(p > 45.0, "frame {i}: {p:.1} dB against bbb_360p.y4m");
    }
}

#[test]
fn annexb_from_file_and_pipe_matches_the_mp4_decode() {
    let mut demuxer = Mp4Demuxer::new(File::open(clip("mp4/bikes.mp4")).unwrap()).unwrap();
    // Cut at the third keyframe, so the cut holds whole GOPs.
    let syncs: Vec<usize> = (0..demuxer.track().samples.len())
        .filter(|&i| demuxer.track().samples[i].sync)
        .collect();
    assert_eq!(syncs, [0, 30, 76, 137, 187, 242]);
    let cut = syncs[2];
    let mut annexb = Vec::new();
    for _ in 0..cut {
        annexb.extend(demuxer.next_access_unit().unwrap().unwrap());
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bikes.h264");
    std::fs::write(&path, &annexb).unwrap();

    let mp4_frames: Vec<Frame> = read_all(&mut *open_clip("mp4/bikes.mp4"));
    let mut source = open_input(path.to_str().unwrap(), &native()).unwrap();
    assert_eq!(
        source.describe(),
        "H.264 Annex B 640x272 25 fps (OpenH264; frame rate assumed, raw H.264 carries none)"
    );
    let frames = read_all(&mut *source);
    // The last B-frames of the cut reference pictures beyond it; the rest match the MP4.
    assert_eq!(frames.len(), cut);
    assert!(
        frames[..] == mp4_frames[..cut],
        "the Annex B decode differs from the MP4 one"
    );

    let opts = InputOptions {
        fps: Some(Rational::new(50, 1).unwrap()),
        ..native()
    };
    let mut piped = open_stream(std::io::Cursor::new(annexb), "pipe", &opts).unwrap();
    assert_eq!(piped.describe(), "H.264 Annex B 640x272 50 fps (OpenH264)");
    assert_eq!(read_all(&mut *piped), frames);
}

#[test]
fn mp4_from_a_pipe_is_read_into_memory() {
    let file = File::open(clip("mp4/bikes.mp4")).unwrap();
    let mut source = open_stream(file, "stdin", &native()).unwrap();
    assert_eq!(source.describe(), "MP4 H.264 640x272 25 fps (OpenH264)");
    let first = source.next_frame().unwrap().unwrap();
    assert_eq!(
        first,
        open_clip("mp4/bikes.mp4").next_frame().unwrap().unwrap()
    );
}
