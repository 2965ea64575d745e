//! `bitswarm ladder`: per-title ladders with the swarm (docs/LADDER.md).
//!
//! - `bitswarm ladder INPUT -o OUTDIR [...]` (or `bitswarm ladder run INPUT ...`): searches the
//!   title's ladder with trial encodes on the swarm and writes the rungs, `ladder.json`,
//!   `abr_ladder.json` and `rd.svg`.
//! - `bitswarm ladder train CATALOG_DIR -o MODEL.json [--update]`: fits (or extends) the content
//!   model whose clusters give the ladder families.

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use bitswarm_controller::TargetMetric;
use bitswarm_core::{DeviceClass, EncoderKind};
use bitswarm_ladder::{CentroidSettings, GmmConfig, LadderModel};
use bitswarm_swarm::ladder::{
    self, catalog_inputs, extract_features, LadderJob, LadderOptions, LadderProgress, TrainOptions,
    DEFAULT_CENTROID, DEFAULT_TARGET_SSIM, DEFAULT_TARGET_VMAF,
};

use crate::local::LocalSwarm;

#[derive(Subcommand)]
#[command(
    after_help = "`bitswarm ladder INPUT -o OUTDIR [OPTIONS]` is short for \
    `bitswarm ladder run INPUT -o OUTDIR [OPTIONS]` (an input named like a subcommand needs \
    the long form or a path such as ./train)."
)]
pub enum LadderCommand {
    /// Fit a content model on a folder of clips (.y4m, .mp4), or extend one with --update.
    Train(TrainArgs),
    /// Search INPUT's ladder with trial encodes on the swarm (same as `bitswarm ladder INPUT`).
    Run(RunArgs),
    /// `bitswarm ladder INPUT ...`: parsed as `run`.
    #[command(external_subcommand)]
    Input(Vec<OsString>),
}

#[derive(clap::Args)]
pub struct TrainArgs {
    /// Folder of clips: every .y4m and .mp4 in it (not recursive).
    catalog: PathBuf,
    /// The model file to write (with --update: to read, extend and write back).
    #[arg(short, long)]
    output: PathBuf,
    /// Add the catalog's scenes to the existing model at --output instead of fitting anew.
    #[arg(long)]
    update: bool,
    /// Encoder of the clusters' centroid ladders [default: openh264; with --update: the
    /// model's].
    #[arg(short, long)]
    encoder: Option<EncoderKind>,
    /// Device class of the clusters' delivery profiles: mobile, desktop, tv, vr [default:
    /// desktop; with --update: the model's].
    #[arg(long, value_parser = parse_device)]
    device: Option<DeviceClass>,
    /// VMAF the centroid ladders' top rungs aim at [default: 95; with --update: the model's].
    #[arg(long)]
    target_vmaf: Option<f64>,
    /// Largest number of clusters tried (the Bayesian information criterion picks).
    #[arg(long, default_value_t = GmmConfig::default().k_max)]
    k_max: usize,
    /// TOML configuration ([analysis] section).
    #[arg(short, long)]
    config: Option<PathBuf>,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    json: bool,
    #[arg(long, env = "BITSWARM_FFMPEG")]
    ffmpeg: Option<PathBuf>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum MetricArg {
    Vmaf,
    Ssim,
}

#[derive(Parser)]
#[command(
    name = "bitswarm ladder",
    about = "Search a title's ladder with the swarm"
)]
pub struct RunArgs {
    /// Input: a Y4M file, or H.264 in MP4 / Annex B (others through ffmpeg). Read once per
    /// trial encode, so not stdin.
    input: String,
    /// Output folder: ladder.json, abr_ladder.json, rd.svg, rungs/, trials/ (both replaced,
    /// except trials/ with --resume).
    #[arg(short, long)]
    output: PathBuf,
    /// A model from `bitswarm ladder train`: one bitstream family per likely cluster.
    #[arg(long)]
    model: Option<PathBuf>,
    /// After the search, add the title's scenes to the --model file (as `ladder train
    /// --update` adds a catalog's), so the model learns from what is encoded. Each run with
    /// --learn adds them again.
    #[arg(long, requires = "model")]
    learn: bool,
    /// The quality the search maximises and the top rung must reach.
    #[arg(long, value_enum, default_value = "vmaf")]
    target: MetricArg,
    /// Quality of the top rung [default: 95 for vmaf, 0.99 for ssim].
    #[arg(long)]
    target_value: Option<f64>,
    /// Trial encodes in all, split over the families by probability.
    #[arg(long, default_value_t = LadderOptions::default().budget)]
    budget: usize,
    /// Rungs per family, at most.
    #[arg(long, default_value_t = LadderOptions::default().rungs)]
    rungs: usize,
    /// Smallest cluster probability that gets a family (the most likely always does).
    #[arg(long, default_value_t = LadderOptions::default().threshold)]
    threshold: f64,
    /// Nominal segment length in seconds (two GOPs; chunks also end at scene cuts).
    #[arg(long, default_value_t = LadderOptions::default().segment_s)]
    segment_seconds: f64,
    /// Seed of the evolutionary search.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Trial encodes in flight at once: the candidates of one search generation run as
    /// parallel swarm jobs, so more servers finish a generation sooner.
    #[arg(long, default_value_t = LadderOptions::default().parallel)]
    parallel: usize,
    /// Encoder, overriding [profile] encoder: openh264, x264, x265, svtav1, aom, rav1e.
    #[arg(short, long)]
    encoder: Option<EncoderKind>,
    #[command(flatten)]
    swarm: crate::local::SwarmArgs,
    /// TOML configuration (see `bitswarm config default`): profile effort and device,
    /// analysis, quality metrics, transport.
    #[arg(short, long)]
    config: Option<PathBuf>,
    /// Print a JSON summary on stdout instead of a progress bar.
    #[arg(long)]
    json: bool,
    #[arg(long, env = "BITSWARM_FFMPEG")]
    ffmpeg: Option<PathBuf>,
    /// Job id prefix of the trial encodes [default: from the input name and the time].
    #[arg(long)]
    job_id: Option<String>,
    /// Continue a ladder run that stopped: keep OUTDIR's trials and encode only what they
    /// lack. Give the same input, options, seed and model file as the stopped run: they make
    /// the search propose the same trials.
    #[arg(long)]
    resume: bool,
}

fn parse_device(text: &str) -> std::result::Result<DeviceClass, String> {
    serde_json::from_value(json!(text.to_ascii_lowercase()))
        .map_err(|_| format!("unknown device {text:?} (expected mobile, desktop, tv or vr)"))
}

pub async fn run(cmd: LadderCommand) -> Result<()> {
    match cmd {
        LadderCommand::Train(args) => tokio::task::spawn_blocking(move || train(args))
            .await
            .context("training task failed")?,
        LadderCommand::Run(args) => search(args).await,
        LadderCommand::Input(words) => {
            let argv = std::iter::once(OsString::from("bitswarm ladder")).chain(words);
            search(RunArgs::try_parse_from(argv).unwrap_or_else(|e| e.exit())).await
        }
    }
}

fn spinner(template: &str, len: u64, quiet: bool) -> Option<ProgressBar> {
    (!quiet && std::io::stderr().is_terminal()).then(|| {
        let bar = ProgressBar::new(len);
        bar.set_style(ProgressStyle::with_template(template).expect("valid template"));
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    })
}

fn train(args: TrainArgs) -> Result<()> {
    let config = crate::load_config(args.config.as_ref())?;
    let previous = if args.update {
        Some(LadderModel::load(&args.output)?)
    } else {
        None
    };
    let base = previous.as_ref().map_or(DEFAULT_CENTROID, |m| m.centroid);
    let centroid = CentroidSettings {
        encoder: args.encoder.unwrap_or(base.encoder),
        device: args.device.unwrap_or(base.device),
        target_vmaf: args.target_vmaf.unwrap_or(base.target_vmaf),
    };
    centroid.validate()?;
    let opts = TrainOptions {
        centroid,
        gmm: GmmConfig {
            k_max: args.k_max,
            ..GmmConfig::default()
        },
    };
    let inputs = catalog_inputs(&args.catalog)?;
    let bar = spinner(
        "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} clips  {msg}",
        inputs.len() as u64,
        args.json,
    );
    let mut clips = Vec::with_capacity(inputs.len());
    for path in &inputs {
        if let Some(bar) = &bar {
            bar.set_message(path.display().to_string());
        }
        let text = path
            .to_str()
            .with_context(|| format!("{}: the path is not valid UTF-8", path.display()))?;
        clips.push(extract_features(
            text,
            &config.analysis,
            args.ffmpeg.as_deref(),
        )?);
        if let Some(bar) = &bar {
            bar.inc(1);
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let model = match previous {
        Some(mut model) => {
            model.centroid = centroid;
            ladder::update(&mut model, &clips)?;
            model
        }
        None => ladder::train(&clips, &opts)?,
    };
    model.save(&args.output)?;
    let scenes: usize = clips.iter().map(|c| c.scenes.len()).sum();
    if args.json {
        let summary = json!({
            "model": args.output,
            "updated": args.update,
            "clips": inputs,
            "scenes": scenes,
            "samples": model.gmm.samples(),
            "centroid": model.centroid,
            "clusters": model.clusters.iter().zip(model.gmm.weights()).map(|(c, w)| json!({
                "weight": w,
                "samples": c.samples,
                "delivery": c.delivery,
                "centroid_ladder": c.centroid_ladder,
            })).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&summary)?);
        return Ok(());
    }
    println!(
        "{} {}: {} clusters from {} scenes of {} clips ({} samples in all)",
        if args.update { "updated" } else { "wrote" },
        args.output.display(),
        model.clusters.len(),
        scenes,
        inputs.len(),
        model.gmm.samples()
    );
    println!(
        "  centroid ladders: {}, {}, VMAF {}",
        centroid.encoder,
        format!("{:?}", centroid.device).to_lowercase(),
        centroid.target_vmaf
    );
    for (j, (c, w)) in model.clusters.iter().zip(model.gmm.weights()).enumerate() {
        let ladder: Vec<String> = c
            .centroid_ladder
            .iter()
            .map(|r| format!("{}p/{}", r.height, r.crf_or_qp))
            .collect();
        println!(
            "  cluster {j}: weight {w:.3}, {} samples, typical {:.0} kbit/s, ladder (1080p reference) {}",
            c.samples,
            c.delivery.typical_kbps,
            ladder.join(" ")
        );
    }
    Ok(())
}

async fn search(args: RunArgs) -> Result<()> {
    let mut config = crate::load_config(args.config.as_ref())?;
    if let Some(encoder) = args.encoder {
        config.profile.encoder = encoder;
    }
    let metric = match args.target {
        MetricArg::Vmaf => TargetMetric::Vmaf,
        MetricArg::Ssim => TargetMetric::Ssim,
    };
    let options = LadderOptions {
        metric,
        target: args.target_value.unwrap_or(match metric {
            TargetMetric::Vmaf => DEFAULT_TARGET_VMAF,
            TargetMetric::Ssim => DEFAULT_TARGET_SSIM,
        }),
        budget: args.budget,
        rungs: args.rungs,
        threshold: args.threshold,
        segment_s: args.segment_seconds,
        seed: args.seed,
        parallel: args.parallel,
    };
    options.validate()?;
    config.validate()?;
    let job_id = args
        .job_id
        .unwrap_or_else(|| bitswarm_swarm::controller::default_job_id(&args.input));
    let swarm = LocalSwarm::start(&args.swarm, &config, args.ffmpeg.clone(), &job_id)?;
    let bar = spinner(
        "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} trials  {msg}",
        options.budget as u64,
        args.json,
    );
    let progress_bar = bar.clone();
    let job = LadderJob {
        input: args.input,
        outdir: args.output.clone(),
        config,
        model: args.model.clone(),
        options,
        ffmpeg: args.ffmpeg,
        job_id,
        resume: args.resume,
        progress: Arc::new(move |p: &LadderProgress| {
            let Some(bar) = &progress_bar else { return };
            match p {
                LadderProgress::Features => bar.set_message("reading the title's features"),
                LadderProgress::Trial {
                    index,
                    family,
                    profile,
                    encode,
                    ..
                } => {
                    bar.set_position(*index as u64);
                    bar.set_message(format!(
                        "{family}: {profile}, frame {}/{}",
                        encode.frames_done,
                        encode
                            .frames_total
                            .map_or_else(|| "?".into(), |n| n.to_string())
                    ));
                }
            }
        }),
    };
    let result = ladder::run(swarm.url.clone(), job).await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    swarm.shutdown().await;
    let report = result?;
    let learned = match (args.learn, &args.model) {
        (true, Some(path)) => {
            let learn = || -> Result<u64> {
                let mut model = LadderModel::load(path)?;
                ladder::update(&mut model, std::slice::from_ref(&report.features))?;
                model.save(path)?;
                Ok(model.gmm.samples())
            };
            let samples = learn().with_context(|| {
                format!(
                    "the ladder is written to {}, but adding its scenes to {} failed",
                    args.output.display(),
                    path.display()
                )
            })?;
            Some((path, samples))
        }
        _ => None,
    };
    if args.json {
        let summary = json!({
            "input": report.input,
            "frames": report.frames,
            "trials": report.trials.len(),
            "clusters": report.clusters,
            "families": report.families.iter().map(|f| json!({
                "name": f.name,
                "probability": f.probability,
                "trials": f.trials.len(),
                "rungs": f.rungs,
            })).collect::<Vec<_>>(),
            "segments": report.segments.len(),
            "outputs": report.outputs,
            "outdir": args.output,
            "wall_s": report.wall_s,
            "learned": learned.map(|(path, samples)| json!({
                "model": path,
                "scenes": report.features.scenes.len(),
                "samples": samples,
            })),
        });
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!("{}", report.human_summary());
        println!("  in {}", args.output.display());
        if let Some((path, samples)) = learned {
            println!(
                "  {}: learned {} scenes ({samples} samples in all)",
                path.display(),
                report.features.scenes.len()
            );
        }
    }
    Ok(())
}
