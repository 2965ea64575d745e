//! The FFmpeg binary behind the x264, x265, SVT-AV1 and libaom backends and the FFmpeg
//! decoder: where it is, what it can do (probed once per path and process), and how long to
//! wait for it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::pipe::PipedChild;
use crate::{Error, Result};

/// Environment variable naming the FFmpeg binary when no explicit path is given.
pub const FFMPEG_ENV: &str = "BITSWARM_FFMPEG";

/// Where bitswarm looks for FFmpeg, for messages.
pub(crate) const WHERE_WE_LOOK: &str =
    "pass --ffmpeg PATH, set BITSWARM_FFMPEG, or put ffmpeg on PATH";

/// Longest wait for `ffmpeg -encoders`.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// An FFmpeg binary and the longest it may stay silent before it counts as stuck.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ffmpeg {
    pub path: PathBuf,
    /// Longest wait for the child to take input, give output or exit; a child stuck for longer
    /// is killed and reported. Slow presets of large pictures need minutes per frame.
    pub timeout: Duration,
}

/// What `ffmpeg -encoders` told about one binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FfmpegProbe {
    /// FFmpeg's version (`5.1.9-0+deb12u1`), or `unknown` when its banner says none.
    pub version: String,
    /// Names of the video encoders it lists (`libx264`, `libsvtav1`, ...).
    pub video_encoders: Vec<String>,
}

impl Ffmpeg {
    /// The default for [`Ffmpeg::timeout`]: ten minutes.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

    /// The binary at `path`, with the default timeout.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            timeout: Self::DEFAULT_TIMEOUT,
        }
    }

    /// The same binary with another timeout.
    pub fn with_timeout(self, timeout: Duration) -> Self {
        Self { timeout, ..self }
    }

    /// The binary to use: `explicit` if given, else `$BITSWARM_FFMPEG` if set, else the first
    /// executable `ffmpeg` on `PATH`. `None` when none of them names one.
    pub fn locate(explicit: Option<&Path>) -> Option<Self> {
        if let Some(path) = explicit {
            return Some(Self::new(path));
        }
        if let Some(path) = std::env::var_os(FFMPEG_ENV).filter(|p| !p.is_empty()) {
            return Some(Self::new(path));
        }
        let paths = std::env::var_os("PATH")?;
        std::env::split_paths(&paths)
            .map(|dir| dir.join("ffmpeg"))
            .find(|candidate| is_executable(candidate))
            .map(Self::new)
    }

    /// A command running this binary without banner and statistics.
    pub(crate) fn command(&self) -> Command {
        let mut cmd = Command::new(&self.path);
        cmd.args(["-hide_banner", "-nostats"]);
        cmd
    }

    /// Starts this binary with `args` and all three pipes.
    pub(crate) fn spawn(&self, cmd: Command) -> Result<PipedChild> {
        PipedChild::spawn(cmd, self.path.display().to_string(), self.timeout)
    }

    /// Runs `ffmpeg -encoders` once per path and process (failures are remembered too) and
    /// returns its version and video encoders.
    pub fn probe(&self) -> Result<Arc<FfmpegProbe>> {
        type Cache = Mutex<HashMap<PathBuf, std::result::Result<Arc<FfmpegProbe>, String>>>;
        static CACHE: OnceLock<Cache> = OnceLock::new();
        let cache = CACHE.get_or_init(Cache::default);
        let cached = cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&self.path)
            .cloned();
        let result = match cached {
            Some(result) => result,
            None => {
                let result = self.run_probe().map(Arc::new).map_err(|e| match e {
                    Error::Ffmpeg { detail, .. } => detail,
                    other => other.to_string(),
                });
                cache
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(self.path.clone(), result.clone());
                result
            }
        };
        result.map_err(|detail| Error::Ffmpeg {
            path: self.path.display().to_string(),
            detail,
        })
    }

    fn run_probe(&self) -> Result<FfmpegProbe> {
        // Without -hide_banner: the banner on stderr carries the version.
        let mut cmd = Command::new(&self.path);
        cmd.args(["-nostdin", "-encoders"]);
        let mut child = PipedChild::spawn(
            cmd,
            self.path.display().to_string(),
            self.timeout.min(PROBE_TIMEOUT),
        )?;
        let listing = child.finish()?;
        let banner = child.stderr_text();
        let probe = parse_probe(&String::from_utf8_lossy(&listing), &banner);
        if probe.video_encoders.is_empty() {
            return Err(Error::Ffmpeg {
                path: self.path.display().to_string(),
                detail: "does not look like ffmpeg: `-encoders` listed no video encoder".into(),
            });
        }
        Ok(probe)
    }
}

/// Reads `ffmpeg -encoders` output (" V....D libx264   libx264 H.264 ...") and the banner
/// ("ffmpeg version 5.1.9-0+deb12u1 Copyright ...").
fn parse_probe(listing: &str, banner: &str) -> FfmpegProbe {
    let video_encoders = listing
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let flags = words.next()?;
            let name = words.next()?;
            (flags.len() == 6 && flags.starts_with('V') && name != "=").then(|| name.to_owned())
        })
        .collect();
    let version = banner
        .lines()
        .find_map(|l| l.trim().strip_prefix("ffmpeg version "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or("unknown")
        .to_owned();
    FfmpegProbe {
        version,
        video_encoders,
    }
}

fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        path.metadata()
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    }
    #[cfg(not(unix))]
    {
        path.is_file()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_output_is_parsed() {
        let listing = "Encoders:\n V..... = Video\n A..... = Audio\n ------\n \
                       V....D libx264              libx264 H.264 / AVC (codec h264)\n \
                       V..... libsvtav1            SVT-AV1 (codec av1)\n \
                       A....D aac                  AAC (Advanced Audio Coding)\n";
        let banner =
            "ffmpeg version 5.1.9-0+deb12u1 Copyright (c) 2000-2026 the FFmpeg developers\n";
        let probe = parse_probe(listing, banner);
        assert_eq!(probe.version, "5.1.9-0+deb12u1");
        assert_eq!(probe.video_encoders, ["libx264", "libsvtav1"]);
        assert_eq!(parse_probe("", "").version, "unknown");
    }

    #[test]
    fn an_explicit_path_wins() {
        let explicit = Path::new("/opt/ffmpeg/bin/ffmpeg");
        assert_eq!(Ffmpeg::locate(Some(explicit)), Some(Ffmpeg::new(explicit)));
    }

    #[test]
    fn something_that_is_not_ffmpeg_is_refused() {
        let err = Ffmpeg::new("/bin/true").probe().unwrap_err();
        assert_eq!(
            err.to_string(),
            "ffmpeg (/bin/true): does not look like ffmpeg: `-encoders` listed no video encoder"
        );
    }
}
