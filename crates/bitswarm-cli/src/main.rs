//! `bitswarm`: a swarm of video-encoding servers coordinated over MQTT 5.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use bitswarm_controller::{SearchMethod, TargetConfig, TargetMetric};
use bitswarm_core::EncoderKind;
use bitswarm_swarm::broker::EmbeddedBroker;
use bitswarm_swarm::controller::{EncodeJob, Progress};
use bitswarm_swarm::mqtt::BrokerUrl;
use bitswarm_swarm::worker::WorkerOptions;
use bitswarm_swarm::Config;

mod abr;
mod encoders;
mod ladder;
mod local;
mod quality;

#[derive(Parser)]
#[command(
    name = "bitswarm",
    version,
    about = "Encode video with a swarm of encoding servers that coordinate over MQTT 5",
    long_about = "Encode video with a swarm of encoding servers that coordinate over MQTT 5.\n\n\
        Quick start: `bitswarm encode clip.y4m -o out/` starts an embedded MQTT broker and one \
        encoding server per core, analyses the clip, encodes it in chunks across the servers and \
        writes out/stream.h264, out/stream.mp4 and out/report.json with VMAF, SSIM and PSNR of the \
        result (stream.hevc for x265, stream.ivf for the AV1 encoders).\n\n\
        Across machines: run `bitswarm broker` (or any MQTT 5 broker) on one host, \
        `bitswarm worker --broker mqtt://HOST:1883` on each encoding server, and \
        `bitswarm encode INPUT -o OUT --broker mqtt://HOST:1883 --workers 0` where the input is. \
        Servers need no shared filesystem: frames travel over MQTT.\n\n\
        Logs go to stderr; set RUST_LOG (e.g. RUST_LOG=bitswarm=debug) or use -v for more."
)]
struct Cli {
    /// More log output on stderr (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Encode a video with the swarm (embedded broker and local servers unless --broker is given).
    Encode(EncodeArgs),
    /// Run one encoding server that joins a broker and encodes what it is assigned.
    Worker {
        /// The MQTT 5 broker to join (mqtt://HOST:PORT).
        #[arg(short, long, env = "BITSWARM_BROKER")]
        broker: String,
        /// Server id, unique in the swarm [default: HOSTNAME-PID].
        #[arg(long)]
        id: Option<String>,
        /// TOML configuration (only [transport] matters to a server).
        #[arg(short, long)]
        config: Option<PathBuf>,
        /// FFmpeg binary for x264, x265, SVT-AV1 and libaom [default: `ffmpeg` on PATH].
        #[arg(long, env = "BITSWARM_FFMPEG")]
        ffmpeg: Option<PathBuf>,
    },
    /// Run the embedded MQTT 5 broker on its own, for a swarm across machines.
    Broker {
        /// Address to listen on.
        #[arg(short, long, default_value = "0.0.0.0:1883")]
        listen: SocketAddr,
    },
    /// Analyse a video: SI/TI per frame, scene cuts, complexity per scene.
    Analyze {
        /// Input, as for `encode`.
        input: String,
        /// Print the whole analysis as JSON.
        #[arg(long)]
        json: bool,
        /// TOML configuration ([analysis] section).
        #[arg(short, long)]
        config: Option<PathBuf>,
        #[arg(long, env = "BITSWARM_FFMPEG")]
        ffmpeg: Option<PathBuf>,
    },
    /// List the encoders this machine can use, with versions, and why the others are unavailable.
    Encoders {
        /// Print the list as JSON.
        #[arg(long)]
        json: bool,
        /// FFmpeg binary for x264, x265, SVT-AV1 and libaom [default: `ffmpeg` on PATH].
        #[arg(long, env = "BITSWARM_FFMPEG")]
        ffmpeg: Option<PathBuf>,
    },
    /// Quality of a distorted video against its reference: VMAF, SSIM, MS-SSIM, PSNR.
    Quality(quality::QualityArgs),
    /// Adaptive bitrate: evaluate policies on network traces, train the RL agent.
    Abr {
        #[command(subcommand)]
        cmd: abr::AbrCommand,
    },
    /// Per-title ladders: search a title's bitstream swarm, train the content model.
    Ladder {
        #[command(subcommand)]
        cmd: ladder::LadderCommand,
    },
    /// Configuration helpers.
    Config {
        #[command(subcommand)]
        what: ConfigCommand,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print the default TOML configuration (policy thresholds, chunking, profile, ...).
    Default,
}

fn init_logs(verbose: u8) {
    let default = match verbose {
        0 => "warn,rumqttd=off",
        1 => "info,rumqttd=warn",
        _ => "debug,rumqttd=info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// The error and its causes, leaving out a cause that the message before it already quotes.
fn error_chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
    }
    out
}

fn load_config(path: Option<&PathBuf>) -> Result<Config> {
    Ok(match path {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logs(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<()> {
    match command {
        Command::Encode(args) => encode(args).await,
        Command::Worker {
            broker,
            id,
            config,
            ffmpeg,
        } => {
            let config = load_config(config.as_ref())?;
            let url: BrokerUrl = broker.parse()?;
            let id = id.unwrap_or_else(default_worker_id);
            let opts = WorkerOptions {
                ffmpeg,
                ..WorkerOptions::new(id, &config)
            };
            bitswarm_swarm::worker::run(url, opts, shutdown_signal()).await?;
            Ok(())
        }
        Command::Broker { listen } => {
            let broker = EmbeddedBroker::start(listen)?;
            eprintln!("bitswarm broker (MQTT 5) listening on {}", broker.addr());
            shutdown_signal().await;
            Ok(())
        }
        Command::Analyze {
            input,
            json,
            config,
            ffmpeg,
        } => {
            let config = load_config(config.as_ref())?;
            analyze(&input, json, &config, ffmpeg).await
        }
        Command::Encoders { json, ffmpeg } => {
            tokio::task::spawn_blocking(move || encoders::run(json, ffmpeg))
                .await
                .context("encoders task failed")?
        }
        Command::Quality(args) => tokio::task::spawn_blocking(move || quality::run(args))
            .await
            .context("quality task failed")?,
        Command::Abr { cmd } => tokio::task::spawn_blocking(move || abr::run(cmd))
            .await
            .context("abr task failed")?,
        Command::Ladder { cmd } => ladder::run(cmd).await,
        Command::Config {
            what: ConfigCommand::Default,
        } => {
            print!("{}", Config::default_toml());
            Ok(())
        }
    }
}

fn default_worker_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "server".into());
    let host: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("{host}-{}", std::process::id())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum SearchArg {
    Interpolate,
    Bisect,
}

#[derive(clap::Args)]
struct EncodeArgs {
    /// Input: a Y4M file, `-` for Y4M on stdin, or H.264 in MP4 / Annex B (others through ffmpeg).
    input: String,
    /// Output folder: stream.h264 (stream.hevc, stream.ivf), stream.mp4, report.json (created
    /// if missing).
    #[arg(short, long)]
    output: PathBuf,
    /// Encoder, overriding [profile] encoder: openh264, x264, x265, svtav1, aom, rav1e (see
    /// `bitswarm encoders`).
    #[arg(short, long)]
    encoder: Option<EncoderKind>,
    /// Metrics to report besides PSNR, overriding [quality] metrics: vmaf, ssim, ms_ssim, or
    /// `none` [default: vmaf,ssim].
    #[arg(long)]
    metrics: Option<String>,
    /// Quality target: per chunk, the CRF (QP for OpenH264 and rav1e) whose mean VMAF is
    /// closest to this, found with a few probe encodes spread over the servers.
    #[arg(long, value_name = "VMAF", conflicts_with = "target_ssim")]
    target_vmaf: Option<f64>,
    /// Quality target in SSIM (0-1), as --target-vmaf.
    #[arg(long, value_name = "SSIM")]
    target_ssim: Option<f64>,
    /// How a quality target is searched: interpolate (few probes) or bisect (the baseline).
    #[arg(long, value_enum)]
    search: Option<SearchArg>,
    #[command(flatten)]
    swarm: local::SwarmArgs,
    /// TOML configuration (see `bitswarm config default`).
    #[arg(short, long)]
    config: Option<PathBuf>,
    /// Print a machine-readable JSON summary on stdout instead of a progress bar.
    #[arg(long)]
    json: bool,
    /// Continue a failed job from OUTPUT/journal without re-encoding its finished chunks.
    #[arg(long)]
    resume: bool,
    /// FFmpeg binary for inputs that are not Y4M or H.264, for the x264, x265, SVT-AV1 and
    /// libaom encoders of the local servers, and for decoding HEVC [default: `ffmpeg` on PATH].
    #[arg(long, env = "BITSWARM_FFMPEG")]
    ffmpeg: Option<PathBuf>,
    /// Job id (topic-safe) [default: derived from the input name and the time].
    #[arg(long)]
    job_id: Option<String>,
}

async fn encode(args: EncodeArgs) -> Result<()> {
    let mut config = load_config(args.config.as_ref())?;
    if let Some(encoder) = args.encoder {
        config.profile.encoder = encoder;
    }
    if let Some(metrics) = &args.metrics {
        config.quality.metrics = match metrics.as_str() {
            "none" => Vec::new(),
            list => list.split(',').map(|m| m.trim().to_owned()).collect(),
        };
    }
    let target = match (args.target_vmaf, args.target_ssim) {
        (Some(v), _) => Some((TargetMetric::Vmaf, v)),
        (None, Some(v)) => Some((TargetMetric::Ssim, v)),
        (None, None) => None,
    };
    if let Some((metric, value)) = target {
        config.target = Some(match config.target {
            Some(t) => TargetConfig { metric, value, ..t },
            None => TargetConfig::new(metric, value),
        });
    }
    if let Some(search) = args.search {
        let Some(target) = &mut config.target else {
            bail!("--search needs a quality target: --target-vmaf, --target-ssim or [target]");
        };
        target.search = match search {
            SearchArg::Interpolate => SearchMethod::Interpolate,
            SearchArg::Bisect => SearchMethod::Bisect,
        };
    }
    config.validate()?;
    let job_id = match args.job_id {
        Some(id) => id,
        None => bitswarm_swarm::controller::default_job_id(&args.input),
    };
    let swarm = local::LocalSwarm::start(&args.swarm, &config, args.ffmpeg.clone(), &job_id)?;
    let url = swarm.url.clone();

    let bar = (!args.json && std::io::stderr().is_terminal()).then(|| {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} frames  {msg}",
            )
            .expect("valid template"),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    });
    let progress_bar = bar.clone();
    let job = EncodeJob {
        input: args.input.clone(),
        outdir: args.output.clone(),
        config,
        resume: args.resume,
        ffmpeg: args.ffmpeg,
        job_id,
        progress: Box::new(move |p: &Progress| {
            if let Some(bar) = &progress_bar {
                bar.set_length(p.frames_total.unwrap_or(p.frames_read));
                bar.set_position(p.frames_done);
                bar.set_message(format!(
                    "servers busy {}/{}",
                    p.servers_busy, p.servers_online
                ));
            }
        }),
    };
    let result = bitswarm_swarm::controller::run(url, job).await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    swarm.shutdown().await;
    let report = result?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report.summary())?);
    } else {
        println!("{}", report.human_summary());
    }
    Ok(())
}

async fn analyze(input: &str, json: bool, config: &Config, ffmpeg: Option<PathBuf>) -> Result<()> {
    let input = input.to_owned();
    let cfg = bitswarm_analysis::AnalysisConfig {
        motion_statistics: true,
        ..config.analysis.clone()
    };
    let analysis = tokio::task::spawn_blocking(move || -> Result<_> {
        let opts = bitswarm_media::InputOptions {
            ffmpeg,
            ..Default::default()
        };
        let mut source = bitswarm_media::open_input(&input, &opts)?;
        let mut analyzer = bitswarm_analysis::Analyzer::new(source.info(), cfg)?;
        let mut frames = 0u64;
        while let Some(frame) = source.next_frame()? {
            analyzer.push(&frame)?;
            frames += 1;
        }
        if frames == 0 {
            bail!("{input}: the input has no frames");
        }
        Ok((source.describe(), analyzer.finish()))
    })
    .await
    .context("analysis task failed")??;
    let (description, analysis) = analysis;
    if json {
        println!("{}", serde_json::to_string_pretty(&analysis)?);
        return Ok(());
    }
    println!("{description}: {} frames", analysis.frames.len());
    println!(
        "SI mean {:.1} max {:.1}   TI mean {:.1} max {:.1}   complexity {}",
        analysis.si_mean, analysis.si, analysis.ti_mean, analysis.ti, analysis.complexity
    );
    println!("scene  first frame  frames  SI mean  TI mean  complexity");
    for (i, s) in analysis.scenes.iter().enumerate() {
        println!(
            "{i:>5}  {:>11}  {:>6}  {:>7.1}  {:>7.1}  {:>10}",
            s.start, s.frames, s.si_mean, s.ti_mean, s.complexity
        );
    }
    Ok(())
}
