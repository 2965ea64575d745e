//! Finding and running an FFmpeg build with libvmaf, for the cross-check against FFmpeg and
//! the speed benchmark. Shared by `tests/ffmpeg_crosscheck.rs` and `examples/vmaf_bench.rs`.
//!
//! The binary is `$BITSWARM_FFMPEG_VMAF`, else the one the PyPI package `imageio-ffmpeg` ships
//! (`scripts/install-ffmpeg-vmaf.sh` installs it). Every run has a time limit, so a broken or
//! hanging FFmpeg gives an error naming the command, never a hang.

#![allow(dead_code)] // Each user of this module needs a different part of it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Environment variable naming an FFmpeg with the libvmaf filter.
pub const ENV: &str = "BITSWARM_FFMPEG_VMAF";

/// The FFmpeg with libvmaf to use: `$BITSWARM_FFMPEG_VMAF`, else imageio-ffmpeg's binary.
/// `Ok(None)`: neither is there. `Err`: one is there but does not work.
pub fn find() -> Result<Option<PathBuf>, String> {
    let path = match std::env::var_os(ENV) {
        Some(p) => PathBuf::from(p),
        None => match imageio_ffmpeg()? {
            Some(p) => p,
            None => return Ok(None),
        },
    };
    check_libvmaf(&path)?;
    Ok(Some(path))
}

/// The binary of the Python package imageio-ffmpeg, if python3 has it.
fn imageio_ffmpeg() -> Result<Option<PathBuf>, String> {
    let script = "import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())";
    let python = Path::new("python3");
    let out = match run(python, &["-c", script], Duration::from_secs(60)) {
        Ok(out) => out,
        // No python3, or no imageio_ffmpeg in it: nothing installed.
        Err(_) => return Ok(None),
    };
    let path = PathBuf::from(out.stdout.trim());
    if path.is_file() {
        Ok(Some(path))
    } else {
        Err(format!(
            "imageio_ffmpeg names {}, which does not exist",
            path.display()
        ))
    }
}

/// Fails unless `ffmpeg` runs and has the libvmaf filter.
pub fn check_libvmaf(ffmpeg: &Path) -> Result<(), String> {
    let out = run(
        ffmpeg,
        &["-hide_banner", "-h", "filter=libvmaf"],
        Duration::from_secs(30),
    )?;
    if out.stdout.contains("libvmaf AVOptions") {
        Ok(())
    } else {
        Err(format!(
            "{} has no libvmaf filter (install one with scripts/install-ffmpeg-vmaf.sh, or set \
             {ENV})",
            ffmpeg.display()
        ))
    }
}

/// What a finished run printed.
#[derive(Debug)]
pub struct Output {
    pub stdout: String,
    pub stderr: String,
}

/// Runs `program args`, waiting at most `limit`. Fails with a message naming the command if
/// it cannot start, exits unsuccessfully (with the end of its stderr) or runs out of time
/// (it is killed).
pub fn run(program: &Path, args: &[&str], limit: Duration) -> Result<Output, String> {
    let logs = tempfile::tempdir().map_err(|e| format!("cannot make a temp dir: {e}"))?;
    let (out_path, err_path) = (logs.path().join("stdout"), logs.path().join("stderr"));
    let file = |p: &Path| std::fs::File::create(p).map_err(|e| format!("{}: {e}", p.display()));
    let command = format!("{} {}", program.display(), args.join(" "));
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(file(&out_path)?)
        .stderr(file(&err_path)?)
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() > limit => {
                // The child may have just exited; either way it is gone after this.
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{command} did not finish within {} s and was stopped",
                    limit.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(format!("cannot wait for {command}: {e}")),
        }
    };
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    let (stdout, stderr) = (read(&out_path), read(&err_path));
    if !status.success() {
        let tail: String = stderr.lines().rev().take(5).collect::<Vec<_>>().join(" | ");
        return Err(format!("{command} failed ({status}): {tail}"));
    }
    Ok(Output { stdout, stderr })
}
