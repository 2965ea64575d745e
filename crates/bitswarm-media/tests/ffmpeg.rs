//! The ffmpeg fallback, driven by stand-in `ffmpeg` scripts (so it runs everywhere), and checked
//! against a real ffmpeg when one is installed.
#![cfg(unix)]

mod common;

use std::io::Cursor;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use bitswarm_media::{open_input, open_stream, InputOptions};
use bitswarm_quality::psnr::psnr;
use common::{clip, damaged_mp4, native, open_error, read_all, tool};

/// Writes an executable shell script standing in for ffmpeg.
fn fake_ffmpeg(dir: &Path, body: &str) -> InputOptions {
    let path = dir.join("ffmpeg");
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    InputOptions {
        ffmpeg: Some(path),
        ..InputOptions::default()
    }
}

fn unknown_file(dir: &Path) -> String {
    let path = dir.join("clip.webm");
    std::fs::write(&path, b"\x1aE\xdf\xa3 not really webm").unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn unknown_formats_go_through_ffmpeg_with_the_expected_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let y4m = clip("foreman_288p.y4m");
    let args = dir.path().join("args");
    let opts = fake_ffmpeg(
        dir.path(),
        &format!(
            "printf '%s\\n' \"$@\" > {}\nexec cat {}",
            args.display(),
            y4m.display()
        ),
    );
    let input = unknown_file(dir.path());
    let mut source = open_input(&input, &opts).unwrap();
    let ffmpeg = opts.ffmpeg.as_ref().unwrap().display();
    assert_eq!(
        source.describe(),
        format!(
            "352x288 30000/1001 fps via ffmpeg ({ffmpeg}; input starts with \"\\x1aE\\xdf\\xa3 not really \")"
        )
    );
    let frames = read_all(&mut *source);
    let native_frames = read_all(&mut *open_input(y4m.to_str().unwrap(), &native()).unwrap());
    assert_eq!(frames, native_frames);
    let args = std::fs::read_to_string(args).unwrap();
    let expected = format!(
        "-hide_banner\n-nostats\n-v\nerror\n-nostdin\n-i\n{input}\n-an\n-sn\n-f\nyuv4mpegpipe\n-pix_fmt\nyuv420p\n-\n"
    );
    assert_eq!(args, expected);
}

#[test]
fn piped_input_reaches_ffmpeg_whole() {
    let dir = tempfile::tempdir().unwrap();
    let received = dir.path().join("received");
    let y4m = clip("foreman_288p.y4m");
    let opts = fake_ffmpeg(
        dir.path(),
        &format!("cat > {}\nexec cat {}", received.display(), y4m.display()),
    );
    // Longer than the sniffed head, so both the head and the rest must arrive, in order.
    let input: Vec<u8> = b"\x1aE\xdf\xa3"
        .iter()
        .copied()
        .chain((0..10_000u32).map(|i| (i % 253) as u8))
        .collect();
    let mut source = open_stream(Cursor::new(input.clone()), "stdin", &opts).unwrap();
    assert_eq!(read_all(&mut *source).len(), 90);
    assert_eq!(std::fs::read(received).unwrap(), input);
}

#[test]
fn ffmpeg_failures_carry_its_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let input = unknown_file(dir.path());
    let opts = fake_ffmpeg(
        dir.path(),
        "echo 'clip.webm: Invalid data found when processing input' >&2\nexit 1",
    );
    assert_eq!(
        open_error(&input, &opts),
        "ffmpeg failed (exit status: 1): clip.webm: Invalid data found when processing input"
    );

    // Failing after one frame: the exit status wins over the truncated Y4M it leaves behind.
    let y4m = clip("foreman_288p.y4m");
    let one_and_a_half = 100 + 352 * 288 * 3 / 2 * 3 / 2;
    let opts = fake_ffmpeg(
        dir.path(),
        &format!(
            "head -c {one_and_a_half} {}\necho 'decode error at frame 1' >&2\nexit 69",
            y4m.display()
        ),
    );
    let mut source = open_input(&input, &opts).unwrap();
    assert!(source.next_frame().unwrap().is_some());
    assert_eq!(
        source.next_frame().unwrap_err().to_string(),
        "ffmpeg failed (exit status: 69): decode error at frame 1"
    );

    // Output we reject while ffmpeg is still running: our reason, and ffmpeg is stopped.
    let opts = fake_ffmpeg(
        dir.path(),
        "printf 'YUV4MPEG2 W641 H360 F25:1\\n'\nexec sleep 600",
    );
    assert_eq!(
        open_error(&input, &opts),
        "invalid width 641 (expected an even number in 16..=8192)"
    );

    let missing = InputOptions {
        ffmpeg: Some(PathBuf::from("/nonexistent/ffmpeg")),
        ..InputOptions::default()
    };
    assert_eq!(
        open_error(&input, &missing),
        "cannot run ffmpeg /nonexistent/ffmpeg: No such file or directory"
    );
}

#[test]
fn dropping_the_source_kills_ffmpeg() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let y4m = clip("foreman_288p.y4m");
    // Writes one frame, then hangs (as ffmpeg on a stalled network input would).
    let opts = fake_ffmpeg(
        dir.path(),
        &format!(
            "echo $$ > {}\nhead -c 200000 {}\nexec sleep 600",
            pid_file.display(),
            y4m.display()
        ),
    );
    let input = unknown_file(dir.path());
    let mut source = open_input(&input, &opts).unwrap();
    assert!(source.next_frame().unwrap().is_some());
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let proc_dir = PathBuf::from(format!("/proc/{}", pid.trim()));
    assert!(proc_dir.exists());
    drop(source);
    assert!(
        !proc_dir.exists(),
        "ffmpeg (pid {}) still running",
        pid.trim()
    );
}

#[test]
fn undecodable_mp4_falls_back_to_ffmpeg() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("damaged.mp4");
    std::fs::write(&path, damaged_mp4()).unwrap();
    let y4m = clip("bikes_272p.y4m");
    let opts = fake_ffmpeg(dir.path(), &format!("exec cat {}", y4m.display()));
    let source = open_input(path.to_str().unwrap(), &opts).unwrap();
    let describe = source.describe();
    let prefix = format!(
        "640x272 25 fps via ffmpeg ({}; OpenH264 failed: H.264 decoding failed: cannot decode access unit 0: ",
        opts.ffmpeg.as_ref().unwrap().display()
    );
    assert!(describe.starts_with(&prefix), "{describe}");
}

#[test]
fn our_decode_matches_a_real_ffmpeg() {
    let Some(ffmpeg) = tool("ffmpeg") else {
        return;
    };
    let path = clip("mp4/bikes.mp4");
    let ours = read_all(&mut *open_input(path.to_str().unwrap(), &native()).unwrap());
    let mut child = std::process::Command::new(ffmpeg)
        .args(["-v", "error", "-i"])
        .arg(&path)
        .args(["-f", "yuv4mpegpipe", "-pix_fmt", "yuv420p", "-"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let theirs = read_all(&mut *open_stream(stdout, "ffmpeg", &native()).unwrap());
    assert!(child.wait().unwrap().success());
    assert_eq!(ours.len(), theirs.len());
    for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        let p = psnr(b, a).unwrap();
        assert!(p > 75.0, "frame {i}: {p:.1} dB against ffmpeg");
    }
}

#[test]
fn a_real_ffmpeg_reads_what_we_cannot() {
    let Some(ffmpeg) = tool("ffmpeg") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let y4m = clip("foreman_288p.y4m");
    let mpeg4 = dir.path().join("foreman_mpeg4.mp4");
    let status = std::process::Command::new(&ffmpeg)
        .args(["-v", "error", "-i"])
        .arg(&y4m)
        .args(["-frames:v", "10", "-c:v", "mpeg4", "-q:v", "2"])
        .arg(&mpeg4)
        .status()
        .unwrap();
    assert!(status.success());
    let opts = InputOptions {
        ffmpeg: Some(ffmpeg.clone()),
        ..InputOptions::default()
    };
    let mut source = open_input(mpeg4.to_str().unwrap(), &opts).unwrap();
    assert_eq!(
        source.describe(),
        format!(
            "352x288 30000/1001 fps via ffmpeg ({}; MP4 with 'mp4v' video)",
            ffmpeg.display()
        )
    );
    let frames = read_all(&mut *source);
    let reference = read_all(&mut *open_input(y4m.to_str().unwrap(), &native()).unwrap());
    assert_eq!(frames.len(), 10);
    for (i, (a, b)) in reference.iter().zip(&frames).enumerate() {
        let p = psnr(a, b).unwrap();
        assert!(p > 30.0, "frame {i}: {p:.1} dB");
    }
    // Without ffmpeg, the same file is named as unsupported.
    assert!(open_error(mpeg4.to_str().unwrap(), &native())
        .starts_with("unsupported input format: MP4 with 'mp4v' video"));
}
