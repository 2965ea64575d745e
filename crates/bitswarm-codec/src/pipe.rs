//! A child process fed on stdin and read on stdout, with one thread per pipe so that neither
//! side can block the other, and a time limit on every wait so that a stuck child gives an
//! error instead of a hang. Used for the FFmpeg encoders and decoder.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::{Error, Result};

/// Buffers queued for the writer thread at most (each is one frame or one access unit).
const QUEUE_LIMIT: usize = 4;
/// Bytes of the child's stderr kept for error messages (the end of it).
const STDERR_KEEP: usize = 16 * 1024;
/// Characters of stderr quoted in an error.
const STDERR_QUOTE: usize = 1200;

/// Buffers waiting for the writer thread.
#[derive(Default)]
struct Feed {
    queue: VecDeque<Vec<u8>>,
    /// No more buffers will come: the writer closes stdin once the queue is empty.
    closed: bool,
    /// The writer could not write (the child closed its stdin or exited).
    broken: Option<String>,
}

type SharedFeed = Arc<(Mutex<Feed>, Condvar)>;

fn lock(feed: &SharedFeed) -> std::sync::MutexGuard<'_, Feed> {
    // A poisoned lock means a writer thread panicked; the data is still consistent.
    feed.0.lock().unwrap_or_else(|p| p.into_inner())
}

/// A running child with piped stdin, stdout and stderr. Dropping it kills the child.
pub(crate) struct PipedChild {
    /// What the child is, for messages (`ffmpeg /usr/bin/ffmpeg`).
    name: String,
    child: Child,
    timeout: Duration,
    feed: SharedFeed,
    output: Receiver<Vec<u8>>,
    /// True once stdout reached end of file.
    output_done: bool,
    /// True once we killed the child.
    killed: bool,
    stderr: Arc<Mutex<Vec<u8>>>,
    /// Disconnects when the stderr thread has seen end of file.
    stderr_done: Receiver<()>,
}

impl PipedChild {
    /// Starts `cmd` with all three pipes. `timeout` bounds every later wait for the child.
    pub(crate) fn spawn(mut cmd: Command, name: String, timeout: Duration) -> Result<Self> {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| Error::Ffmpeg {
            path: name.clone(),
            detail: format!("cannot start it: {}", io_reason(&e)),
        })?;
        let (Some(stdin), Some(mut stdout), Some(mut stderr_pipe)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error::Ffmpeg {
                path: name,
                detail: "its pipes could not be opened".into(),
            });
        };
        let feed: SharedFeed = Arc::default();
        {
            let feed = Arc::clone(&feed);
            std::thread::spawn(move || write_loop(stdin, &feed));
        }
        let (tx, output) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match stdout.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if tx.send(buf[..n].to_vec()).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (stderr_tx, stderr_done) = mpsc::channel::<()>();
        {
            let stderr = Arc::clone(&stderr);
            std::thread::spawn(move || {
                let _done = stderr_tx; // dropped at end of file
                let mut buf = [0u8; 4096];
                while let Ok(n) = stderr_pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let mut kept = stderr.lock().unwrap_or_else(|p| p.into_inner());
                    kept.extend_from_slice(&buf[..n]);
                    if kept.len() > STDERR_KEEP {
                        let cut = kept.len() - STDERR_KEEP;
                        kept.drain(..cut);
                    }
                }
            });
        }
        Ok(Self {
            name,
            child,
            timeout,
            feed,
            output,
            output_done: false,
            killed: false,
            stderr,
            stderr_done,
        })
    }

    /// Queues `data` for the child's stdin. Waits while the queue is full, at most `timeout`
    /// in all: a child that reads nothing for that long is killed and reported.
    pub(crate) fn write(&mut self, data: Vec<u8>) -> Result<()> {
        let deadline = Instant::now() + self.timeout;
        let mut feed = lock(&self.feed);
        loop {
            if let Some(reason) = feed.broken.take() {
                drop(feed);
                return Err(self.failure(Some(&format!("stopped reading its input ({reason})"))));
            }
            if feed.queue.len() < QUEUE_LIMIT {
                feed.queue.push_back(data);
                self.feed.1.notify_all();
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                drop(feed);
                self.kill();
                return Err(self.failure(Some(&format!(
                    "read no input for {} (killed)",
                    seconds(self.timeout)
                ))));
            }
            feed = self
                .feed
                .1
                .wait_timeout(feed, deadline - now)
                .map(|(guard, _)| guard)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }

    /// Output that has arrived so far, without waiting.
    pub(crate) fn try_read(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        while let Ok(chunk) = self.output.try_recv() {
            out.extend(chunk);
        }
        out
    }

    /// Closes the child's stdin, reads its output to the end and waits for it to exit. Fails
    /// when the child exits unsuccessfully or stays silent for `timeout`.
    pub(crate) fn finish(&mut self) -> Result<Vec<u8>> {
        {
            let mut feed = lock(&self.feed);
            feed.closed = true;
            self.feed.1.notify_all();
        }
        let mut out = Vec::new();
        while !self.output_done {
            match self.output.recv_timeout(self.timeout) {
                Ok(chunk) => out.extend(chunk),
                Err(RecvTimeoutError::Disconnected) => self.output_done = true,
                Err(RecvTimeoutError::Timeout) => {
                    self.kill();
                    return Err(self.failure(Some(&format!(
                        "gave no output for {} after its input ended (killed)",
                        seconds(self.timeout)
                    ))));
                }
            }
        }
        let status = self.wait_exit()?;
        if !status.success() {
            return Err(self.failure(None));
        }
        let broken = lock(&self.feed).broken.take();
        if let Some(reason) = broken {
            return Err(self.failure(Some(&format!("stopped reading its input ({reason})"))));
        }
        Ok(out)
    }

    /// What the child wrote on stderr (the last 16 KiB). Waits a moment for the end of it
    /// (a grandchild may hold the pipe open longer).
    pub(crate) fn stderr_text(&mut self) -> String {
        let _ = self.stderr_done.recv_timeout(Duration::from_secs(1));
        let kept = self.stderr.lock().unwrap_or_else(|p| p.into_inner());
        String::from_utf8_lossy(&kept).into_owned()
    }

    /// Waits for the child to exit, at most `timeout` (then kills it).
    fn wait_exit(&mut self) -> Result<ExitStatus> {
        let deadline = Instant::now() + self.timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Ok(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Ok(None) => {
                    self.kill();
                    return Err(self.failure(Some(&format!(
                        "closed its output but did not exit within {} (killed)",
                        seconds(self.timeout)
                    ))));
                }
                Err(e) => {
                    return Err(Error::Ffmpeg {
                        path: self.name.clone(),
                        detail: format!("cannot wait for it: {}", io_reason(&e)),
                    })
                }
            }
        }
    }

    /// Stops the child for good (it counts as stopped by us in messages).
    fn kill(&mut self) {
        self.killed = true;
        let _ = self.child.kill();
    }

    /// An error naming what went wrong, how the child ended (unless we stopped it) and the end
    /// of its stderr. Makes sure the child is gone first, so that stderr is complete.
    fn failure(&mut self, what: Option<&str>) -> Error {
        let deadline = Instant::now() + Duration::from_millis(500);
        // Give a child that is exiting anyway a moment to say why, then stop it.
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                _ => {
                    self.kill();
                    let _ = self.child.wait();
                    break None;
                }
            }
        };
        let ended = status
            .filter(|s| !s.success() && !self.killed)
            .map(|s| match s.code() {
                Some(code) => format!("exited with code {code}"),
                None => format!("was stopped ({s})"),
            });
        let mut detail = match (what, ended) {
            (Some(what), Some(ended)) => format!("{what}, then {ended}"),
            (Some(what), None) => what.to_owned(),
            (None, Some(ended)) => ended,
            (None, None) => "failed".to_owned(),
        };
        let quoted = quote_tail(&self.stderr_text());
        if quoted.is_empty() {
            detail.push_str(" (no message on stderr)");
        } else {
            detail = format!("{detail}: {quoted}");
        }
        Error::Ffmpeg {
            path: self.name.clone(),
            detail,
        }
    }
}

impl Drop for PipedChild {
    fn drop(&mut self) {
        if !matches!(self.child.try_wait(), Ok(Some(_))) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        let mut feed = lock(&self.feed);
        feed.closed = true;
        feed.queue.clear();
        self.feed.1.notify_all();
    }
}

/// The writer thread: writes queued buffers until the feed is closed and empty, then drops
/// stdin (end of file for the child).
fn write_loop(mut stdin: ChildStdin, feed: &SharedFeed) {
    loop {
        let data = {
            let mut guard = lock(feed);
            loop {
                if let Some(data) = guard.queue.pop_front() {
                    feed.1.notify_all();
                    break data;
                }
                if guard.closed {
                    return;
                }
                guard = feed.1.wait(guard).unwrap_or_else(|p| p.into_inner());
            }
        };
        if let Err(e) = stdin.write_all(&data) {
            let mut guard = lock(feed);
            guard.broken = Some(io_reason(&e));
            guard.queue.clear();
            feed.1.notify_all();
            return;
        }
    }
}

/// `d` for messages: "600 s", "0.3 s".
fn seconds(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// The last lines of a child's stderr, joined with " | ", at most [`STDERR_QUOTE`] characters.
fn quote_tail(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let mut quoted = String::new();
    for line in lines.iter().rev() {
        if quoted.len() + line.len() > STDERR_QUOTE && !quoted.is_empty() {
            break;
        }
        quoted = if quoted.is_empty() {
            (*line).to_owned()
        } else {
            format!("{line} | {quoted}")
        };
    }
    if quoted.len() > STDERR_QUOTE {
        let cut = quoted
            .char_indices()
            .map(|(i, _)| i)
            .find(|&i| i >= quoted.len() - STDERR_QUOTE)
            .unwrap_or(0);
        quoted = format!("...{}", &quoted[cut..]);
    }
    quoted
}

/// The text of an I/O error without the "(os error N)" suffix.
pub(crate) fn io_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.rfind(" (os error ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str, timeout_ms: u64) -> PipedChild {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", script]);
        PipedChild::spawn(cmd, "sh".into(), Duration::from_millis(timeout_ms)).unwrap()
    }

    #[test]
    fn data_goes_through_and_comes_back() {
        let mut child = sh("tr a-z A-Z", 5000);
        for part in ["hello ", "pipe"] {
            child.write(part.as_bytes().to_vec()).unwrap();
        }
        let mut out = child.try_read();
        out.extend(child.finish().unwrap());
        assert_eq!(out, b"HELLO PIPE");
    }

    #[test]
    fn a_failing_child_is_reported_with_its_stderr() {
        let mut child = sh(
            "echo 'first line' >&2; echo 'Unknown encoder' >&2; exit 3",
            5000,
        );
        let err = child.finish().unwrap_err().to_string();
        assert_eq!(
            err,
            "ffmpeg (sh): exited with code 3: first line | Unknown encoder"
        );
    }

    #[test]
    fn a_child_that_reads_nothing_times_out() {
        let started = Instant::now();
        let mut child = sh("sleep 30", 300);
        let big = vec![0u8; 1 << 20];
        let err = (0..2 * QUEUE_LIMIT)
            .find_map(|_| child.write(big.clone()).err())
            .unwrap();
        assert_eq!(
            err.to_string(),
            "ffmpeg (sh): read no input for 0.3 s (killed) (no message on stderr)"
        );
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn a_child_that_never_answers_times_out_at_the_end() {
        let mut child = sh("exec sleep 30", 300);
        let err = child.finish().unwrap_err().to_string();
        assert!(err.contains("gave no output for 0.3 s"), "{err}");
    }

    #[test]
    fn a_missing_program_is_named() {
        let cmd = Command::new("/nonexistent/ffmpeg");
        let err = PipedChild::spawn(cmd, "/nonexistent/ffmpeg".into(), Duration::from_secs(1))
            .err()
            .unwrap();
        assert_eq!(
            err.to_string(),
            "ffmpeg (/nonexistent/ffmpeg): cannot start it: No such file or directory"
        );
    }
}
