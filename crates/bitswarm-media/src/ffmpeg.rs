//! Fallback for formats we do not read natively: an `ffmpeg` child process converts the input to
//! Y4M 8-bit 4:2:0 on a pipe, read with [`Y4mReader`].

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::thread::JoinHandle;

use bitswarm_core::{Frame, VideoInfo};

use crate::source::FrameSource;
use crate::y4m::Y4mReader;
use crate::{Error, Result};

/// What ffmpeg reads.
pub(crate) enum FfmpegInput {
    /// A file it opens itself.
    Path(PathBuf),
    /// Bytes we already consumed (while sniffing or probing), then the rest of a stream;
    /// fed to ffmpeg's stdin from a thread.
    Piped {
        head: Vec<u8>,
        rest: Option<Box<dyn Read + Send>>,
    },
}

/// The `ffmpeg` binary to use: the explicit one, else the first `ffmpeg` on `PATH`.
pub(crate) fn locate(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(path) = explicit {
        return Some(path.to_owned());
    }
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|dir| dir.join("ffmpeg"))
        .find(|candidate| is_executable(candidate))
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

/// Frames converted by an ffmpeg child process. Dropping it kills the child.
pub struct FfmpegSource {
    child: Child,
    reader: Option<Y4mReader<ChildStdout>>,
    stderr: Option<JoinHandle<Vec<u8>>>,
    info: VideoInfo,
    describe: String,
    binary: PathBuf,
}

impl FfmpegSource {
    /// Starts `ffmpeg -v error -i INPUT -f yuv4mpegpipe -pix_fmt yuv420p -` and reads the
    /// stream header. `why` says why the input is not read natively (for [`FrameSource::describe`]).
    pub(crate) fn spawn(binary: &Path, input: FfmpegInput, why: &str) -> Result<Self> {
        let mut cmd = Command::new(binary);
        cmd.args(["-hide_banner", "-nostats", "-v", "error"]);
        match &input {
            FfmpegInput::Path(path) => {
                cmd.args(["-nostdin", "-i"]).arg(path).stdin(Stdio::null());
            }
            FfmpegInput::Piped { .. } => {
                cmd.args(["-i", "-"]).stdin(Stdio::piped());
            }
        }
        cmd.args([
            "-an",
            "-sn",
            "-f",
            "yuv4mpegpipe",
            "-pix_fmt",
            "yuv420p",
            "-",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        tracing::debug!(ffmpeg = %binary.display(), why, "converting the input with ffmpeg");
        let mut child = cmd.spawn().map_err(|source| Error::FfmpegSpawn {
            path: binary.display().to_string(),
            reason: crate::io_reason(&source),
        })?;
        if let FfmpegInput::Piped { head, rest } = input {
            if let Some(mut stdin) = child.stdin.take() {
                // Not joined: it may sit in a read of our stdin until the process exits. It ends
                // by itself once the data is written or ffmpeg closes its end.
                std::thread::spawn(move || {
                    let _ = stdin.write_all(&head);
                    if let Some(mut rest) = rest {
                        let _ = std::io::copy(&mut rest, &mut stdin);
                    }
                });
            }
        }
        let stderr = child.stderr.take().map(|mut pipe| {
            std::thread::spawn(move || {
                let mut text = Vec::new();
                let _ = pipe.read_to_end(&mut text);
                text
            })
        });
        let stdout = child.stdout.take();
        let mut source = Self {
            child,
            reader: None,
            stderr,
            info: VideoInfo {
                width: 0,
                height: 0,
                fps: bitswarm_core::Rational { num: 25, den: 1 },
            },
            describe: String::new(),
            binary: binary.to_owned(),
        };
        let reader = match stdout.map(Y4mReader::new) {
            Some(Ok(reader)) => reader,
            Some(Err(e)) => return Err(source.failure(e)),
            None => return Err(source.failure(Error::NotY4m("ffmpeg has no output".into()))),
        };
        let info = reader.info();
        source.info = info;
        source.describe = format!(
            "{}x{} {} fps via ffmpeg ({}; {})",
            info.width,
            info.height,
            info.fps,
            binary.display(),
            why
        );
        source.reader = Some(reader);
        Ok(source)
    }

    /// Handles a failure reading ffmpeg's output. If the output ended early (ffmpeg stopped
    /// writing), ffmpeg's own exit status and stderr explain it best; otherwise we rejected
    /// what it wrote (say, an odd width), so it is stopped and `err` stands.
    fn failure(&mut self, err: Error) -> Error {
        self.reader = None; // closes our end of the pipe
        let ended_early = matches!(
            err,
            Error::TruncatedFrame { .. }
                | Error::UnterminatedLine { .. }
                | Error::NotY4m(_)
                | Error::Io { .. }
        );
        if !ended_early {
            let _ = self.child.kill();
        }
        match self.finish() {
            Err(ffmpeg_error) if ended_early => ffmpeg_error,
            _ => err,
        }
    }

    /// Waits for the child; a non-zero exit is an error carrying its stderr.
    fn finish(&mut self) -> Result<()> {
        let status = self.child.wait().map_err(|source| Error::Io {
            context: format!("cannot wait for {}", self.binary.display()),
            source,
        })?;
        let stderr = self
            .stderr
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default();
        if status.success() {
            return Ok(());
        }
        Err(Error::Ffmpeg {
            status: status.to_string(),
            stderr: String::from_utf8_lossy(&stderr).trim().to_owned(),
        })
    }
}

impl FrameSource for FfmpegSource {
    fn info(&self) -> VideoInfo {
        self.info
    }

    fn next_frame(&mut self) -> Result<Option<Frame>> {
        let Some(reader) = &mut self.reader else {
            return Ok(None);
        };
        match reader.next_frame() {
            Ok(Some(frame)) => Ok(Some(frame)),
            Ok(None) => {
                self.reader = None;
                self.finish().map(|()| None)
            }
            Err(e) => Err(self.failure(e)),
        }
    }

    fn describe(&self) -> String {
        self.describe.clone()
    }
}

impl Drop for FfmpegSource {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
