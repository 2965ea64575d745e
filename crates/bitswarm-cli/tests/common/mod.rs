//! Helpers for the end-to-end tests: processes of the real `bitswarm` binary, brokers on free
//! ports, and an independent check of outputs (decode, count, PSNR against the source).

#![allow(dead_code)] // each test file uses a different subset

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bitswarm_codec::{Decoder, OpenH264Decoder};
use bitswarm_core::Frame;

pub const BIN: &str = env!("CARGO_BIN_EXE_bitswarm");

pub fn clips_dir() -> PathBuf {
    let dir = std::env::var_os("BITSWARM_CLIPS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/clips"));
    assert!(
        dir.is_dir(),
        "clips folder {} is missing (set BITSWARM_CLIPS)",
        dir.display()
    );
    dir
}

pub fn clip(name: &str) -> PathBuf {
    clips_dir().join(name)
}

/// Tools the CI installs must be there when `BITSWARM_REQUIRE_TOOLS=1`; elsewhere a test that
/// needs a missing tool says so and skips that check.
pub fn tool(name: &str) -> Option<PathBuf> {
    let found = ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/bin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists());
    if found.is_none() {
        assert!(
            std::env::var("BITSWARM_REQUIRE_TOOLS").as_deref() != Ok("1"),
            "{name} is required (run scripts/setup.sh)"
        );
        eprintln!("note: {name} not installed, skipping that check");
    }
    found
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed when dropped, with its stderr lines forwarded to a channel.
pub struct Proc {
    pub child: Child,
    pub lines: mpsc::Receiver<String>,
}

impl Proc {
    pub fn spawn(args: &[&str], cwd: Option<&Path>, env: &[(&str, &str)]) -> Proc {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(dir) = cwd {
            cmd.current_dir(dir);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn bitswarm");
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Proc { child, lines }
    }

    /// Waits for a stderr line containing `needle`.
    pub fn wait_for(&self, needle: &str, timeout: Duration) -> String {
        self.wait_until(&format!("a line with {needle:?}"), timeout, |line| {
            line.contains(needle)
        })
    }

    /// Reads stderr lines until `done` says so for one, and returns that line.
    pub fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        mut done: impl FnMut(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if done(&line) => return line,
                Ok(_) => {}
                Err(e) => panic!("no {what} within {timeout:?}: {e}"),
            }
        }
    }

    pub fn kill9(&mut self) {
        let _ = Command::new("kill")
            .args(["-9", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }

    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().unwrap()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `bitswarm broker` on a free loopback port; returns the process and its URL.
pub fn broker() -> (Proc, String) {
    let port = free_port();
    let p = Proc::spawn(
        &["broker", "--listen", &format!("127.0.0.1:{port}")],
        None,
        &[],
    );
    p.wait_for("listening", Duration::from_secs(10));
    (p, format!("mqtt://127.0.0.1:{port}"))
}

/// A worker process that has joined `url`.
pub fn worker(url: &str, id: &str, cwd: Option<&Path>, config: Option<&Path>) -> Proc {
    let mut args = vec!["worker", "--broker", url, "--id", id];
    let config_str;
    if let Some(c) = config {
        config_str = c.display().to_string();
        args.extend(["--config", &config_str]);
    }
    let p = Proc::spawn(&args, cwd, &[("RUST_LOG", "bitswarm_swarm=debug")]);
    p.wait_for("joined", Duration::from_secs(10));
    p
}

/// Runs `bitswarm` to the end.
pub fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run bitswarm")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs `encode ... --json` and returns the parsed summary, failing with its stderr.
pub fn encode_json(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["encode"];
    all.extend_from_slice(args);
    all.push("--json");
    let out = run(&all);
    assert!(
        out.status.success(),
        "encode {args:?} failed: {}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("JSON summary")
}

/// `bitswarm encode SOURCE -o OUT --workers 2 --config CONFIG EXTRA... --json`: the summary.
pub fn encode_with_two_servers(
    source: &Path,
    out: &Path,
    config: &Path,
    extra: &[&str],
) -> serde_json::Value {
    let mut args = vec![
        source.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--workers",
        "2",
        "--config",
        config.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    encode_json(&args)
}

/// A config file with a policy pinned to one outcome, so outputs are reproducible.
pub fn pinned_config(
    dir: &Path,
    gop: u32,
    swarm_size: u32,
    redundancy: u8,
    extra: &str,
) -> PathBuf {
    let path = dir.join("pinned.toml");
    std::fs::write(
        &path,
        format!(
            "[profile]\ngop = {gop}\n\n[policy]\nrules = []\n[policy.fallback]\nswarm_size = {swarm_size}\ncomplexity_level = 5\nredundancy = {redundancy}\n\n{extra}\n"
        ),
    )
    .unwrap();
    path
}

/// Every frame of a media file, decoded by our input path (Y4M or MP4).
pub fn source_frames(path: &Path) -> Vec<Frame> {
    let opts = bitswarm_media::InputOptions {
        no_ffmpeg: true,
        ..Default::default()
    };
    let mut src = bitswarm_media::open_input(path.to_str().unwrap(), &opts).unwrap();
    std::iter::from_fn(|| src.next_frame().unwrap()).collect()
}

/// Every frame of an Annex B file, decoded in-process.
pub fn decode_h264(path: &Path) -> Vec<Frame> {
    let data = std::fs::read(path).unwrap();
    let mut decoder = OpenH264Decoder::new().unwrap();
    let mut frames = Vec::new();
    for au in bitswarm_codec::annexb::access_units(&data) {
        frames.extend(decoder.decode(au).unwrap());
    }
    frames.extend(decoder.flush().unwrap());
    frames
}

/// Mean luma PSNR of `out` against `reference`, frame by frame (counts must match).
pub fn mean_psnr_y(reference: &[Frame], out: &[Frame]) -> f64 {
    assert_eq!(reference.len(), out.len(), "frame count");
    let sum: f64 = reference
        .iter()
        .zip(out)
        .map(|(a, b)| bitswarm_quality::psnr::psnr_planes(a, b).unwrap()[0])
        .sum();
    sum / reference.len() as f64
}

/// Frames ffprobe counts in a file.
pub fn ffprobe_frames(path: &Path) -> Option<u64> {
    let ffprobe = tool("ffprobe")?;
    let out = Command::new(ffprobe)
        .args([
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_frames",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffprobe failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).trim().parse().unwrap())
}
