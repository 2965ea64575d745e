//! `bitswarm quality REF DIST`: per-frame and pooled VMAF, SSIM, MS-SSIM and PSNR of a
//! distorted video against its reference.
//!
//! Frames stream through: memory does not depend on the length of the videos. Output is a
//! summary table, or with `--json` / `--csv` every frame's scores and the pooled figures.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use bitswarm_core::Frame;
use bitswarm_media::{open_input, FrameSource, InputOptions};
use bitswarm_quality::{MetricKind, QualityMeter, Summary};

#[derive(clap::Args)]
pub struct QualityArgs {
    /// Reference video: Y4M, or H.264 in MP4 / Annex B (other formats through ffmpeg).
    reference: String,
    /// Distorted video: Y4M or any encoded file we can decode, as for REF.
    distorted: String,
    /// Metrics, comma-separated: vmaf, ssim, ms_ssim, psnr.
    #[arg(short, long, default_value = "vmaf,ssim,psnr")]
    metrics: String,
    /// Print every frame's scores and the pooled figures as JSON.
    #[arg(long, conflicts_with = "csv")]
    json: bool,
    /// Print every frame's scores as CSV, then rows `mean`, `harmonic_mean` and `p5`.
    #[arg(long)]
    csv: bool,
    /// When DIST's size differs from REF's, resize DIST to REF's size (bicubic up, as FFmpeg's
    /// default scaler; area average down) instead of stopping with an error.
    #[arg(long)]
    scale: bool,
    /// Score only the first N frame pairs.
    #[arg(long)]
    frames: Option<u64>,
    /// Threads [default: one per core].
    #[arg(long)]
    threads: Option<usize>,
    /// FFmpeg binary for inputs that are not Y4M or H.264 [default: `ffmpeg` on PATH].
    #[arg(long, env = "BITSWARM_FFMPEG")]
    ffmpeg: Option<PathBuf>,
}

/// Streams the frames of both inputs through the meter, writing per-frame rows as they come.
pub fn run(args: QualityArgs) -> Result<()> {
    let kinds = MetricKind::parse_list(&args.metrics)?;
    let opts = InputOptions {
        ffmpeg: args.ffmpeg.clone(),
        ..Default::default()
    };
    let mut reference = open_input(&args.reference, &opts)
        .with_context(|| format!("cannot read the reference {}", args.reference))?;
    let mut distorted = open_input(&args.distorted, &opts)
        .with_context(|| format!("cannot read the distorted video {}", args.distorted))?;
    let (ri, di) = (reference.info(), distorted.info());
    if (ri.width, ri.height) != (di.width, di.height) && !args.scale {
        bail!(
            "{} is {}x{} but the reference {} is {}x{}: pass --scale to resize it to the \
             reference size first (as libvmaf users do with FFmpeg's scale filter)",
            args.distorted,
            di.width,
            di.height,
            args.reference,
            ri.width,
            ri.height
        );
    }
    let mut meter = match args.threads {
        Some(n) => QualityMeter::with_threads(&kinds, ri.width, ri.height, n)?,
        None => QualityMeter::new(&kinds, ri.width, ri.height)?,
    };
    let mut out = Output::new(&args, meter.fields())?;
    let limit = args.frames.unwrap_or(u64::MAX);
    let mut pairs = 0u64;
    while pairs < limit {
        let (Some(r), Some(d)) = (
            next(&mut reference, "reference")?,
            next(&mut distorted, "distorted video")?,
        ) else {
            break;
        };
        let d = if (d.width, d.height) == (r.width, r.height) {
            d
        } else {
            bitswarm_core::scale(&d, r.width, r.height)
        };
        meter.push(&r, &d)?;
        pairs += 1;
        while let Some(scores) = meter.pop() {
            out.frame(scores.frame, &scores.values)?;
        }
    }
    if pairs == 0 {
        bail!(
            "no frames to score: {} or {} is empty",
            args.reference,
            args.distorted
        );
    }
    if pairs < limit
        && (next(&mut reference, "reference")?.is_some()
            || next(&mut distorted, "distorted video")?.is_some())
    {
        tracing::warn!(
            frames = pairs,
            "the inputs differ in length; scored the frames both have"
        );
    }
    let summaries = meter.finish()?;
    while let Some(scores) = meter.pop() {
        out.frame(scores.frame, &scores.values)?;
    }
    out.finish(
        &reference.describe(),
        &distorted.describe(),
        pairs,
        &summaries,
    )
}

fn next(source: &mut Box<dyn FrameSource>, what: &str) -> Result<Option<Frame>> {
    source
        .next_frame()
        .with_context(|| format!("cannot decode the {what}"))
}

/// Where per-frame rows and the summary go.
struct Output {
    format: Format,
    fields: Vec<&'static str>,
    out: BufWriter<std::io::Stdout>,
    rows: u64,
}

#[derive(PartialEq)]
enum Format {
    Table,
    Json,
    Csv,
}

impl Output {
    fn new(args: &QualityArgs, fields: &[&'static str]) -> Result<Self> {
        let format = match (args.json, args.csv) {
            (true, _) => Format::Json,
            (_, true) => Format::Csv,
            _ => Format::Table,
        };
        let mut out = BufWriter::new(std::io::stdout());
        match format {
            Format::Json => write!(out, "{{\"frames\":[")?,
            Format::Csv => writeln!(out, "frame,{}", fields.join(","))?,
            Format::Table => {}
        }
        Ok(Self {
            format,
            fields: fields.to_vec(),
            out,
            rows: 0,
        })
    }

    fn frame(&mut self, frame: u64, values: &[f64]) -> Result<()> {
        match self.format {
            Format::Json => {
                let mut obj = serde_json::Map::new();
                obj.insert("frame".into(), frame.into());
                for (&k, &v) in self.fields.iter().zip(values) {
                    obj.insert(k.into(), v.into());
                }
                let sep = if self.rows == 0 { "" } else { "," };
                write!(self.out, "{sep}\n{}", serde_json::Value::Object(obj))?;
            }
            Format::Csv => {
                let cells: Vec<String> = values.iter().map(|v| format!("{v:.6}")).collect();
                writeln!(self.out, "{frame},{}", cells.join(","))?;
            }
            Format::Table => {}
        }
        self.rows += 1;
        Ok(())
    }

    fn finish(
        mut self,
        reference: &str,
        distorted: &str,
        frames: u64,
        summaries: &[Summary],
    ) -> Result<()> {
        match self.format {
            Format::Json => {
                let pooled: serde_json::Map<String, serde_json::Value> = summaries
                    .iter()
                    .flat_map(|s| &s.fields)
                    .map(|f| {
                        let stats = serde_json::json!({
                            "mean": f.mean, "harmonic_mean": f.harmonic_mean, "p5": f.p5,
                            "min": f.min, "max": f.max,
                        });
                        (f.name.to_owned(), stats)
                    })
                    .collect();
                let aggregates: serde_json::Map<String, serde_json::Value> = summaries
                    .iter()
                    .flat_map(|s| &s.aggregates)
                    .map(|a| (a.name.to_owned(), a.value.into()))
                    .collect();
                let tail = serde_json::json!({
                    "reference": reference, "distorted": distorted, "frame_count": frames,
                    "pooled": pooled, "aggregates": aggregates,
                });
                // The per-frame array is already out; append the rest of the object.
                let tail = tail.to_string();
                write!(self.out, "\n],{}", &tail[1..])?;
                writeln!(self.out)?;
            }
            Format::Csv => {
                type Stat = fn(&bitswarm_quality::FieldSummary) -> f64;
                let stats: [(&str, Stat); 3] = [
                    ("mean", |f| f.mean),
                    ("harmonic_mean", |f| f.harmonic_mean),
                    ("p5", |f| f.p5),
                ];
                for (name, stat) in stats {
                    let cells: Vec<String> = summaries
                        .iter()
                        .flat_map(|s| &s.fields)
                        .map(|f| format!("{:.6}", stat(f)))
                        .collect();
                    writeln!(self.out, "{name},{}", cells.join(","))?;
                }
            }
            Format::Table => {
                writeln!(self.out, "reference: {reference}")?;
                writeln!(self.out, "distorted: {distorted}")?;
                writeln!(self.out, "{frames} frames")?;
                writeln!(
                    self.out,
                    "{:<12} {:>10} {:>10} {:>10} {:>10} {:>10}",
                    "score", "mean", "harmonic", "5th pct", "min", "max"
                )?;
                for f in summaries.iter().flat_map(|s| &s.fields) {
                    writeln!(
                        self.out,
                        "{:<12} {:>10.4} {:>10.4} {:>10.4} {:>10.4} {:>10.4}",
                        f.name, f.mean, f.harmonic_mean, f.p5, f.min, f.max
                    )?;
                }
                for a in summaries.iter().flat_map(|s| &s.aggregates) {
                    writeln!(
                        self.out,
                        "{:<12} {:>10.4}  (PSNR of the mean MSE)",
                        a.name, a.value
                    )?;
                }
            }
        }
        self.out.flush()?;
        Ok(())
    }
}
